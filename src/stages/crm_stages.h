
/*
 * ngx_http_crm_module: the pipeline's stages (src/stages/): who the
 * client is (authentication and its shared cache), how much it may do
 * (rate limits) and whether it already did (Idempotency-Key).
 */


#ifndef _CRM_STAGES_H_INCLUDED_
#define _CRM_STAGES_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"


#define CRM_TOKEN_PREFIX_LEN  16

/* what the database said of a credential it did not verify */
#define CRM_AUTH_POSITIVE     0
#define CRM_AUTH_UNKNOWN      1         /* no such live credential */
#define CRM_AUTH_EXPIRED      2


/* crm_auth.c: the authentication stage */

ngx_int_t crm_auth_credential(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_auth_resolve(ngx_http_request_t *r, crm_ctx_t *ctx);


/* crm_auth_cache.c: verified and refused credentials, shared per host */

char *crm_auth_cache_conf(ngx_conf_t *cf, ngx_str_t *name, size_t size,
    time_t ttl, time_t negative_ttl, ngx_shm_zone_t **zone);
ngx_int_t crm_auth_init_process(ngx_cycle_t *cycle,
    ngx_http_crm_main_conf_t *mcf);
ngx_int_t crm_auth_cache_get(crm_auth_cache_t *cache, u_char *hash,
    ngx_pool_t *pool, crm_principal_t *p, ngx_uint_t *negative);
ngx_atomic_uint_t crm_auth_cache_forgets(crm_auth_cache_t *cache);
void crm_auth_cache_put(crm_auth_cache_t *cache, u_char *hash,
    crm_principal_t *p, ngx_atomic_uint_t forgets);
void crm_auth_cache_put_negative(crm_auth_cache_t *cache, u_char *hash,
    ngx_uint_t negative);
void crm_auth_forget(ngx_http_crm_main_conf_t *mcf, ngx_str_t *id);


/* crm_limit.c: rate limits per principal, failures per address */

char *crm_limit_conf(ngx_conf_t *cf, crm_limit_conf_t *lcf, ngx_str_t *name,
    size_t size);
ngx_int_t crm_limit_init_process(ngx_cycle_t *cycle,
    ngx_http_crm_main_conf_t *mcf);
ngx_int_t crm_limit_check(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_limit_fail_take(ngx_http_request_t *r, crm_ctx_t *ctx);
void crm_limit_fail_return(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_limit_fail_headers(ngx_http_request_t *r, crm_ctx_t *ctx);


/* crm_idempotency.c: Idempotency-Key */

ngx_int_t crm_idem_begin(ngx_http_request_t *r, crm_ctx_t *ctx);


/* crm_permit.c: scopes and roles */

ngx_int_t crm_permit(ngx_http_request_t *r, crm_ctx_t *ctx);


#endif /* _CRM_STAGES_H_INCLUDED_ */
