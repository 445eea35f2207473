
/*
 * ngx_http_crm_module: the route families' handlers (src/handlers/).
 * Each takes a request that passed the pipeline's stages and answers it,
 * mostly with one statement the planner wrote (crm_exec()).
 */


#ifndef _CRM_HANDLERS_H_INCLUDED_
#define _CRM_HANDLERS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"


/* crm_crud.c: one record */

ngx_int_t crm_get(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_create(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_update(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_delete(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_create_object(ngx_http_request_t *r, crm_ctx_t *ctx);


/* crm_list.c: lists, sub-collections and links */

ngx_int_t crm_list(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_link(ngx_http_request_t *r, crm_ctx_t *ctx);


/* crm_action.c, crm_metadata.c, crm_health.c, crm_search.c */

ngx_int_t crm_item_action(ngx_http_request_t *r, crm_ctx_t *ctx);

/* crm_campaigns.c: GET /campaigns/:id/recipients */
ngx_int_t crm_recipients(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_metadata(ngx_http_request_t *r, crm_ctx_t *ctx);

/* crm_openapi.c: the OpenAPI document, built once per configuration */
json_t *crm_openapi_build(crm_route_def_t *table);
char *crm_openapi_dump(json_t *doc);
ngx_int_t crm_openapi(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_health(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_search(ngx_http_request_t *r, crm_ctx_t *ctx);


/* crm_analytics.c: GET /analytics/emails, /campaigns/:id, /contacts/:id */

ngx_int_t crm_analytics_emails(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_analytics_campaign(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_analytics_contact(ngx_http_request_t *r, crm_ctx_t *ctx);


/* crm_bulk.c */

ngx_int_t crm_bulk(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_uint_t crm_bulk_cost(crm_ctx_t *ctx);


/* crm_custom.c: custom fields */

ngx_uint_t crm_custom_wanted(ngx_http_request_t *r, crm_resource_t *res);
ngx_int_t crm_custom_load(ngx_http_request_t *r, crm_ctx_t *ctx,
    crm_resource_t *object, crm_step_pt next);
ngx_int_t crm_custom_refuse(ngx_http_request_t *r, crm_ctx_t *ctx,
    ngx_array_t *errors, ngx_uint_t create);
ngx_int_t crm_custom_query_fields(ngx_pool_t *pool, crm_ctx_t *ctx,
    crm_resource_t *res, crm_field_t **out, ngx_uint_t *n);
json_t *crm_custom_metadata(crm_ctx_t *ctx, crm_resource_t *res);


/* crm_api_keys.c, crm_sessions.c */

ngx_int_t crm_api_key_create(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_auth_action(ngx_http_request_t *r, crm_ctx_t *ctx);


/* crm_webhooks.c: subscriptions' secrets, tests, a delivery's retry */

ngx_int_t crm_webhook_create(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_webhook_update(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_webhook_delete(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_webhook_rotate(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_webhook_test(ngx_http_request_t *r, crm_ctx_t *ctx);
ngx_int_t crm_webhook_retry(ngx_http_request_t *r, crm_ctx_t *ctx);


/* crm_tracking.c: the content handler of a crm_tracking location */

ngx_int_t crm_tracking_handler(ngx_http_request_t *r);
ngx_int_t crm_tracking_init_process(ngx_cycle_t *cycle,
    ngx_http_crm_main_conf_t *mcf);
void crm_tracking_exit_process(ngx_http_crm_main_conf_t *mcf);


/* crm_metrics.c: the zone, the crm_metrics location, the log phase */

char *crm_metrics_zone(ngx_conf_t *cf, ngx_str_t *name, ssize_t size,
    ngx_shm_zone_t **zone);
size_t crm_metrics_zone_size(void);
ngx_int_t crm_metrics_handler(ngx_http_request_t *r);
ngx_int_t crm_metrics_log(ngx_http_request_t *r);
void crm_metrics_init_process(ngx_http_crm_main_conf_t *mcf);
void crm_metrics_exit_process(ngx_http_crm_main_conf_t *mcf);
/* the job that reads the outboxes' depths into the zone */
ngx_int_t crm_metrics_queues_job(ngx_cycle_t *cycle,
    ngx_http_crm_main_conf_t *mcf);


#endif /* _CRM_HANDLERS_H_INCLUDED_ */
