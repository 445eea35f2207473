
/*
 * ngx_http_crm_module: a CRM REST API served from nginx workers.
 *
 * This file holds the directives, the configuration structures and the
 * module hooks; the request pipeline lives in src/.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/rand.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include "http/crm_http.h"
#include "stages/crm_stages.h"
#include "jobs/crm_jobs.h"
#include "jobs/crm_email_job.h"
#include "jobs/crm_campaign_job.h"
#include "jobs/crm_webhook_job.h"
#include "model/crm_mime.h"
#include "handlers/crm_handlers.h"
#include "model/crm_track.h"
#include "crm_pipeline.h"


#define CRM_TRUSTED_MAX       (16 * 1024 * 1024)    /* bytes of the file of
                                   crm_outbound_trusted_certificate */


#define CRM_SECRET_MIN        16


static void *ngx_http_crm_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_crm_init_main_conf(ngx_conf_t *cf, void *conf);
static ngx_int_t ngx_http_crm_init(ngx_conf_t *cf);
static ngx_int_t ngx_http_crm_openapi_init(ngx_conf_t *cf,
    ngx_http_crm_main_conf_t *mcf);
static void ngx_http_crm_openapi_cleanup(void *data);
static void *ngx_http_crm_create_srv_conf(ngx_conf_t *cf);
static void *ngx_http_crm_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_crm_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_http_crm_api(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_crm_postgres(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_crm_postgres_heavy(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_crm_api_key(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_crm_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_crm_auth_cache(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_crm_rate_limit(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_crm_zone(ngx_conf_t *cf, ngx_str_t *value,
    ngx_str_t *name, ssize_t *size);
static ngx_int_t ngx_http_crm_add_variables(ngx_conf_t *cf);
static ngx_int_t ngx_http_crm_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static char *ngx_http_crm_cursor_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_crm_similarity(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_crm_smtp(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_crm_email_retry(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_crm_webhooks(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_crm_webhook_retry(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_crm_webhook_flag(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_crm_webhook_num(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_crm_webhook_msec(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_crm_jobs_init(ngx_cycle_t *cycle,
    ngx_http_crm_main_conf_t *mcf);
static char *ngx_http_crm_outbound_thread_pool(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_crm_outbound_allow(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_crm_outbound_trusted(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_crm_tracking(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_crm_tracking_secret(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_crm_tracking_url(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_crm_metrics(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_crm_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_crm_init_process(ngx_cycle_t *cycle);
static void ngx_http_crm_exit_process(ngx_cycle_t *cycle);


static ngx_conf_num_bounds_t  ngx_http_crm_pool_bounds = {
    ngx_conf_check_num_bounds, 1, 1024
};


static ngx_conf_num_bounds_t  ngx_http_crm_pipeline_bounds = {
    ngx_conf_check_num_bounds, 1, CRM_PG_PIPELINE_MAX
};


static ngx_conf_num_bounds_t  ngx_http_crm_queue_bounds = {
    ngx_conf_check_num_bounds, 0, 65536
};


static ngx_conf_num_bounds_t  ngx_http_crm_transfers_bounds = {
    ngx_conf_check_num_bounds, 1, 65536
};


static ngx_conf_num_bounds_t  ngx_http_crm_tracking_queue_bounds = {
    ngx_conf_check_num_bounds, 1, 1000000
};


/* a cluster limit's sync: 1 ms to a minute, 1 to 10000 requests */

static ngx_conf_num_bounds_t  ngx_http_crm_sync_interval_post = {
    ngx_conf_check_num_bounds, 1, 60000
};


static ngx_conf_num_bounds_t  ngx_http_crm_sync_requests_post = {
    ngx_conf_check_num_bounds, 1, 10000
};


static ngx_conf_enum_t  ngx_http_crm_idem_fallback[] = {
    { ngx_string("process"), 0 },
    { ngx_string("reject"), 1 },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_crm_commands[] = {

    { ngx_string("crm_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_crm_api,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("crm_max_body_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_crm_loc_conf_t, max_body_size),
      NULL },

    { ngx_string("crm_json_errors"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_crm_loc_conf_t, json_errors),
      NULL },

    { ngx_string("crm_postgres"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_crm_postgres,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("crm_postgres_heavy"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_crm_postgres_heavy,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("crm_postgres_pool_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, pg.pool_size),
      &ngx_http_crm_pool_bounds },

    { ngx_string("crm_postgres_pipeline"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, pg.pipeline),
      &ngx_http_crm_pipeline_bounds },

    { ngx_string("crm_postgres_queue"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, pg.queue),
      &ngx_http_crm_queue_bounds },

    { ngx_string("crm_postgres_queue_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, pg.queue_timeout),
      NULL },

    { ngx_string("crm_postgres_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, pg.connect_timeout),
      NULL },

    { ngx_string("crm_postgres_statement_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, pg.statement_timeout),
      NULL },

    { ngx_string("crm_postgres_retry_max"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, pg.backoff_max),
      NULL },

    { ngx_string("crm_search_similarity"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_crm_similarity,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("crm_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_crm_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("crm_redis_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, redis_conf.connect_timeout),
      NULL },

    { ngx_string("crm_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, redis_conf.command_timeout),
      NULL },

    { ngx_string("crm_auth_cache"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE123,
      ngx_http_crm_auth_cache,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("crm_rate_limit"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_crm_rate_limit,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, limit),
      NULL },

    { ngx_string("crm_rate_limit_sync"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, limit_sync_interval),
      &ngx_http_crm_sync_interval_post },

    { ngx_string("crm_rate_limit_sync_requests"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, limit_sync_requests),
      &ngx_http_crm_sync_requests_post },

    { ngx_string("crm_auth_fail_limit"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_crm_rate_limit,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, fail_limit),
      NULL },

    { ngx_string("crm_idempotency"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, idempotency),
      NULL },

    { ngx_string("crm_idempotency_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, idempotency_ttl),
      NULL },

    { ngx_string("crm_idempotency_claim_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, idempotency_claim_ttl),
      NULL },

    { ngx_string("crm_analytics_cache_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, analytics_cache_ttl),
      NULL },

    { ngx_string("crm_idempotency_without_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, idempotency_reject),
      &ngx_http_crm_idem_fallback },

    { ngx_string("crm_auth_last_used_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, last_used_interval),
      NULL },

    { ngx_string("crm_session_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, session_ttl),
      NULL },

    { ngx_string("crm_openapi_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, openapi_file),
      NULL },

    { ngx_string("crm_cursor_secret"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_crm_cursor_secret,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("crm_outbound_allow"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_crm_outbound_allow,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("crm_outbound_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, outbound.connect_timeout),
      NULL },

    { ngx_string("crm_outbound_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, outbound.timeout),
      NULL },

    { ngx_string("crm_smtp_data_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, outbound.data_timeout),
      NULL },

    { ngx_string("crm_outbound_max_response"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, outbound.max_response),
      NULL },

    { ngx_string("crm_outbound_max_transfers"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, outbound.max_transfers),
      &ngx_http_crm_transfers_bounds },

    { ngx_string("crm_outbound_thread_pool"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_crm_outbound_thread_pool,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("crm_outbound_trusted_certificate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_crm_outbound_trusted,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("crm_api_key"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_crm_api_key,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("crm_jobs"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, jobs),
      NULL },

    { ngx_string("crm_jobs_interval"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, jobs_interval),
      NULL },

    { ngx_string("crm_smtp"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_crm_smtp,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("crm_email_retry"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE2,
      ngx_http_crm_email_retry,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("crm_webhooks"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_http_crm_webhooks,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("crm_webhook_retry"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_crm_webhook_retry,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("crm_webhook_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_crm_webhook_msec,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(crm_webhook_conf_t, timeout),
      NULL },

    { ngx_string("crm_webhook_disable_after"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_crm_webhook_msec,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(crm_webhook_conf_t, disable_after),
      NULL },

    { ngx_string("crm_webhook_lease"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_crm_webhook_msec,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(crm_webhook_conf_t, lease),
      NULL },

    { ngx_string("crm_webhook_https_only"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_FLAG,
      ngx_http_crm_webhook_flag,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(crm_webhook_conf_t, https_only),
      NULL },

    { ngx_string("crm_webhook_concurrency"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_crm_webhook_num,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(crm_webhook_conf_t, concurrency),
      NULL },

    { ngx_string("crm_events_retention"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_crm_webhook_msec,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(crm_webhook_conf_t, retention),
      NULL },

    { ngx_string("crm_tracking"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_crm_tracking,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("crm_tracking_secret"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_crm_tracking_secret,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("crm_tracking_url"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_crm_tracking_url,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("crm_tracking_queue"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_crm_main_conf_t, tracking_queue),
      &ngx_http_crm_tracking_queue_bounds },

    { ngx_string("crm_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_crm_metrics,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("crm_metrics_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_crm_metrics_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_crm_module_ctx = {
    ngx_http_crm_add_variables,            /* preconfiguration */
    ngx_http_crm_init,                     /* postconfiguration */

    ngx_http_crm_create_main_conf,         /* create main configuration */
    ngx_http_crm_init_main_conf,           /* init main configuration */

    ngx_http_crm_create_srv_conf,          /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_crm_create_loc_conf,          /* create location configuration */
    ngx_http_crm_merge_loc_conf            /* merge location configuration */
};


ngx_module_t  ngx_http_crm_module = {
    NGX_MODULE_V1,
    &ngx_http_crm_module_ctx,              /* module context */
    ngx_http_crm_commands,                 /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_crm_init_process,             /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_crm_exit_process,             /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_crm_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_crm_main_conf_t  *mcf;

    mcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_crm_main_conf_t));
    if (mcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     mcf->pg.conninfo = { 0, NULL };
     *     mcf->cursor_secret = { 0, NULL };
     *     mcf->tracking_secret = { 0, NULL };
     *     mcf->tracking_url = { 0, NULL };
     *     mcf->keys = NULL;
     *     mcf->pool = NULL;
     *     mcf->outbound.allow = NULL;
     *     mcf->outbound.thread_pool = NULL;
     *     mcf->outbound_used = 0;
     *     mcf->curl = NULL;
     *     mcf->metrics_zone = NULL;
     *     mcf->metrics_used = 0;
     *     mcf->metrics = NULL;
     *     mcf->metrics_worker = NULL;
     */

    mcf->pg.pool_size = NGX_CONF_UNSET_UINT;
    mcf->pg.pipeline = NGX_CONF_UNSET_UINT;
    mcf->pg.queue = NGX_CONF_UNSET_UINT;
    mcf->pg.queue_timeout = NGX_CONF_UNSET_MSEC;
    mcf->pg.connect_timeout = NGX_CONF_UNSET_MSEC;
    mcf->pg.statement_timeout = NGX_CONF_UNSET_MSEC;
    mcf->pg.backoff_max = NGX_CONF_UNSET_MSEC;
    mcf->pg.similarity = NGX_CONF_UNSET_UINT;
    mcf->pg.generic = 1;
    mcf->session_ttl = NGX_CONF_UNSET;
    mcf->last_used_interval = NGX_CONF_UNSET_MSEC;
    mcf->idempotency = NGX_CONF_UNSET;
    mcf->idempotency_reject = NGX_CONF_UNSET_UINT;
    mcf->idempotency_ttl = NGX_CONF_UNSET_MSEC;
    mcf->limit_sync_interval = NGX_CONF_UNSET_MSEC;
    mcf->limit_sync_requests = NGX_CONF_UNSET_UINT;
    mcf->heavy_enabled = NGX_CONF_UNSET;
    mcf->heavy_workspace = NGX_CONF_UNSET_UINT;
    mcf->heavy.pool_size = NGX_CONF_UNSET_UINT;
    mcf->heavy.queue = NGX_CONF_UNSET_UINT;
    mcf->heavy.queue_timeout = NGX_CONF_UNSET_MSEC;
    mcf->heavy.statement_timeout = NGX_CONF_UNSET_MSEC;
    mcf->idempotency_claim_ttl = NGX_CONF_UNSET_MSEC;
    mcf->analytics_cache_ttl = NGX_CONF_UNSET_MSEC;
    mcf->redis_conf.connect_timeout = NGX_CONF_UNSET_MSEC;
    mcf->redis_conf.command_timeout = NGX_CONF_UNSET_MSEC;
    mcf->jobs = NGX_CONF_UNSET;
    mcf->jobs_interval = NGX_CONF_UNSET_MSEC;
    mcf->tracking_queue = NGX_CONF_UNSET;

    mcf->email = crm_email_conf_create(cf->pool);
    if (mcf->email == NULL) {
        return NULL;
    }

    mcf->webhook = crm_webhook_conf_create(cf->pool);
    if (mcf->webhook == NULL) {
        return NULL;
    }
    mcf->outbound.connect_timeout = NGX_CONF_UNSET_MSEC;
    mcf->outbound.timeout = NGX_CONF_UNSET_MSEC;
    mcf->outbound.data_timeout = NGX_CONF_UNSET_MSEC;
    mcf->outbound.max_response = NGX_CONF_UNSET_SIZE;
    mcf->outbound.max_transfers = NGX_CONF_UNSET_UINT;

    return mcf;
}


static char *
ngx_http_crm_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_crm_main_conf_t *mcf = conf;

    ngx_str_t  name;

    ngx_conf_init_uint_value(mcf->pg.pool_size, 8);
    ngx_conf_init_uint_value(mcf->pg.pipeline, 1);
    ngx_conf_init_uint_value(mcf->pg.queue, 128);
    ngx_conf_init_msec_value(mcf->pg.queue_timeout, 2000);
    ngx_conf_init_msec_value(mcf->pg.connect_timeout, 2000);
    ngx_conf_init_msec_value(mcf->pg.statement_timeout, 5000);
    ngx_conf_init_msec_value(mcf->pg.backoff_max, 2000);
    ngx_conf_init_value(mcf->tracking_queue, 10000);
    ngx_conf_init_uint_value(mcf->pg.similarity, 50);
    ngx_conf_init_value(mcf->session_ttl, 24 * 60 * 60);
    ngx_conf_init_msec_value(mcf->last_used_interval, 60000);
    ngx_conf_init_value(mcf->idempotency, 1);
    ngx_conf_init_uint_value(mcf->idempotency_reject, 0);
    ngx_conf_init_msec_value(mcf->idempotency_ttl, 24 * 60 * 60 * 1000);
    ngx_conf_init_msec_value(mcf->limit_sync_interval, 100);
    ngx_conf_init_uint_value(mcf->limit_sync_requests, 8);

    /*
     * what a request can take: a wait for a connection and a statement,
     * twice (the credential's lookup, then the write), and a margin
     */
    ngx_conf_init_msec_value(mcf->idempotency_claim_ttl,
                             2 * (mcf->pg.queue_timeout
                                  + mcf->pg.statement_timeout)
                             + 5000);
    ngx_conf_init_msec_value(mcf->analytics_cache_ttl, 5000);
    ngx_conf_init_msec_value(mcf->redis_conf.connect_timeout,
                             CRM_REDIS_DEFAULT_CONNECT_TIMEOUT);
    ngx_conf_init_msec_value(mcf->redis_conf.command_timeout,
                             CRM_REDIS_DEFAULT_COMMAND_TIMEOUT);
    ngx_conf_init_msec_value(mcf->outbound.connect_timeout, 10000);
    ngx_conf_init_msec_value(mcf->outbound.timeout, 30000);
    /* under crm_smtp's default lease= (5m), with the transfer's 30s */
    ngx_conf_init_msec_value(mcf->outbound.data_timeout, 180000);
    ngx_conf_init_size_value(mcf->outbound.max_response, 20 * 1024);
    ngx_conf_init_uint_value(mcf->outbound.max_transfers, 64);

    if (mcf->cursor_secret.len == 0) {

        /*
         * A random secret: cursors then stay valid only while this
         * configuration is loaded, and only on this host.
         */

        mcf->cursor_secret.data = ngx_pnalloc(cf->pool, 32);
        if (mcf->cursor_secret.data == NULL) {
            return NGX_CONF_ERROR;
        }

        if (RAND_bytes(mcf->cursor_secret.data, 32) != 1) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "crm: cannot make a cursor secret");
            return NGX_CONF_ERROR;
        }

        mcf->cursor_secret.len = 32;
    }

    ngx_conf_init_value(mcf->jobs, 1);
    ngx_conf_init_msec_value(mcf->jobs_interval, 2000);

    if (crm_email_conf_init(cf, mcf->email) != NGX_CONF_OK
        || crm_webhook_conf_init(cf, mcf->webhook) != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    /*
     * SMTP transfers run in a thread pool: nginx's "default" one unless
     * crm_outbound_thread_pool names another; ngx_thread_pool_module
     * checks, once the whole configuration is read, that a pool other
     * than "default" is declared with thread_pool
     */

    if (mcf->outbound_used && mcf->outbound.thread_pool == NULL) {
        mcf->outbound.thread_pool = ngx_thread_pool_add(cf, NULL);
        if (mcf->outbound.thread_pool == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (mcf->tracking_url.len > 0 && mcf->tracking_secret.len == 0) {
        ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                           "crm_tracking_url without crm_tracking_secret: "
                           "emails are sent without tracking");
    }

    /* crm_metrics without crm_metrics_zone: a zone of the size it needs */

    if (mcf->metrics_used && mcf->metrics_zone == NULL) {
        ngx_str_set(&name, "crm_metrics");

        if (crm_metrics_zone(cf, &name,
                             ngx_align(crm_metrics_zone_size(), 64 * 1024),
                             &mcf->metrics_zone)
            != NGX_CONF_OK)
        {
            return NGX_CONF_ERROR;
        }
    }

    ngx_conf_init_value(mcf->heavy_enabled, 1);
    ngx_conf_init_uint_value(mcf->heavy_workspace, 1);
    ngx_conf_init_uint_value(mcf->heavy.pool_size, 2);
    ngx_conf_init_uint_value(mcf->heavy.queue, 16);
    ngx_conf_init_msec_value(mcf->heavy.queue_timeout,
                             mcf->pg.queue_timeout);
    ngx_conf_init_msec_value(mcf->heavy.statement_timeout,
                             mcf->pg.statement_timeout);

    if (mcf->pg.conninfo.len == 0) {
        return NGX_CONF_OK;
    }

    if (crm_pg_conf_finalize(cf, &mcf->pg) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (!mcf->heavy_enabled) {
        return NGX_CONF_OK;
    }

    /* the same database and session, other sizes and statement timeout */

    /*
     * a heavy statement is slow by definition: none waits behind
     * another on its connection
     */

    mcf->heavy.pipeline = 1;
    mcf->heavy.conninfo = mcf->pg.conninfo;
    mcf->heavy.connect_timeout = mcf->pg.connect_timeout;
    mcf->heavy.backoff_max = mcf->pg.backoff_max;
    mcf->heavy.similarity = mcf->pg.similarity;

    return crm_pg_conf_finalize(cf, &mcf->heavy);
}


static ngx_int_t
ngx_http_crm_init(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_crm_main_conf_t   *mcf;
    ngx_http_core_loc_conf_t   *clcf;
    ngx_http_core_main_conf_t  *cmcf;

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_crm_module);

    if (mcf->api_file != NULL && mcf->pg.conninfo.len == 0) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"crm_api\" in %s:%ui needs \"crm_postgres\" in "
                      "the http block", mcf->api_file, mcf->api_line);
        return NGX_ERROR;
    }

    if (mcf->metrics_zone != NULL) {
        /* requests are counted where their status is final */

        cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

        h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
        if (h == NULL) {
            return NGX_ERROR;
        }

        *h = crm_metrics_log;
    }

    /*
     * Webhook URLs that name their host are resolved by the http{}
     * block's resolver (merged by now: without a "resolver" directive
     * nginx gives it a resolver with no server)
     */

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->resolver != NULL && clcf->resolver->connections.nelts > 0) {
        mcf->webhook->resolver = clcf->resolver;
        mcf->webhook->resolver_timeout = clcf->resolver_timeout;
    }

    mcf->webhook->allow = mcf->outbound.allow;

    if (ngx_http_crm_openapi_init(cf, mcf) != NGX_OK) {
        return NGX_ERROR;
    }

    return crm_error_pages_init(cf);
}


/*
 * The OpenAPI document (GET /openapi.json), built once from the route
 * table and the descriptors, and written to crm_openapi_file when set
 * (make openapi: nginx -t with it)
 */

static ngx_int_t
ngx_http_crm_openapi_init(ngx_conf_t *cf, ngx_http_crm_main_conf_t *mcf)
{
    char                *dump;
    size_t               len;
    ssize_t              n;
    ngx_fd_t             fd;
    ngx_str_t            file;
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    mcf->openapi = crm_openapi_build(crm_routes);
    if (mcf->openapi == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "crm: cannot build the OpenAPI document");
        return NGX_ERROR;
    }

    cln->handler = ngx_http_crm_openapi_cleanup;
    cln->data = mcf->openapi;

    dump = crm_openapi_dump(mcf->openapi);
    if (dump == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(dump);
    mcf->openapi_text.data = ngx_pnalloc(cf->pool, len + 1);

    if (mcf->openapi_text.data == NULL) {
        free(dump);
        return NGX_ERROR;
    }

    ngx_memcpy(mcf->openapi_text.data, dump, len);
    mcf->openapi_text.data[len] = '\n';
    mcf->openapi_text.len = len + 1;

    free(dump);

    if (mcf->openapi_file.len == 0) {
        return NGX_OK;
    }

    file = mcf->openapi_file;

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    fd = ngx_open_file(file.data, NGX_FILE_WRONLY, NGX_FILE_TRUNCATE,
                       NGX_FILE_DEFAULT_ACCESS);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &file);
        return NGX_ERROR;
    }

    n = ngx_write_fd(fd, mcf->openapi_text.data, mcf->openapi_text.len);

    if (ngx_close_file(fd) == NGX_FILE_ERROR || n < 0
        || (size_t) n != mcf->openapi_text.len)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "crm: cannot write \"%V\"", &file);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_http_crm_openapi_cleanup(void *data)
{
    json_decref(data);
}


static void *
ngx_http_crm_create_srv_conf(ngx_conf_t *cf)
{
    ngx_http_crm_srv_conf_t  *scf;

    scf = ngx_pcalloc(cf->pool, sizeof(ngx_http_crm_srv_conf_t));
    if (scf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     scf->api = 0;
     */

    return scf;
}


static void *
ngx_http_crm_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_crm_loc_conf_t  *lcf;

    lcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_crm_loc_conf_t));
    if (lcf == NULL) {
        return NULL;
    }

    lcf->enable = NGX_CONF_UNSET;
    lcf->tracking = NGX_CONF_UNSET;
    lcf->metrics = NGX_CONF_UNSET;
    lcf->max_body_size = NGX_CONF_UNSET_SIZE;
    lcf->json_errors = NGX_CONF_UNSET;

    return lcf;
}


static char *
ngx_http_crm_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_crm_loc_conf_t *prev = parent;
    ngx_http_crm_loc_conf_t *conf = child;

    ngx_http_crm_srv_conf_t   *scf;
    ngx_http_core_srv_conf_t  *cscf;
    ngx_http_core_loc_conf_t  *clcf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);
    ngx_conf_merge_size_value(conf->max_body_size, prev->max_body_size,
                              1024 * 1024);

    /*
     * crm_json_errors is inherited only where it is set: its default
     * depends on the level.  nginx's own errors are JSON in a crm_api
     * location, and at the level of a server{} that has one, which is
     * where a request is before nginx has chosen a location (a bad
     * request line or header, TRACE) or when none matches.
     */

    ngx_conf_merge_value(conf->json_errors, prev->json_errors,
                         NGX_CONF_UNSET);

    if (conf->tracking == 1) {
        /* pages and images for mail readers: never JSON */
        conf->error_pages = 0;

    } else if (conf->json_errors != NGX_CONF_UNSET) {
        conf->error_pages = conf->json_errors;

    } else if (conf->enable) {
        conf->error_pages = 1;

    } else {
        cscf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_core_module);
        scf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_crm_module);

        conf->error_pages =
            (scf->api
             && cscf->ctx->loc_conf[ngx_http_crm_module.ctx_index] == conf);
    }

    if (!conf->enable) {
        return NGX_CONF_OK;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /*
     * One limit: nginx's client_max_body_size is crm_max_body_size here,
     * so that nginx refuses a declared length or a chunk over it before
     * the body is read, with the same JSON 413 (crm_error_pages.c).  It
     * wins over any client_max_body_size: the core module has merged
     * already, and an explicit value can no longer be told from an
     * inherited one.
     */

    clcf->client_max_body_size = conf->max_body_size;

    /*
     * Bodies are buffered as nginx buffers them for any module: up to
     * client_body_buffer_size in memory, the rest in a temporary file
     * (crm_json.c reads them from there).  A body held in memory whole
     * would cost crm_max_body_size per connection at once, for as long
     * as a slow client takes to send it.
     */

    return NGX_CONF_OK;
}


static char *
ngx_http_crm_api(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_crm_loc_conf_t *lcf = conf;

    ngx_http_crm_srv_conf_t   *scf;
    ngx_http_crm_main_conf_t  *mcf;
    ngx_http_core_loc_conf_t  *clcf;

    if (lcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    if (lcf->tracking != NGX_CONF_UNSET) {
        return "cannot share a location with crm_tracking";
    }

    if (lcf->metrics != NGX_CONF_UNSET) {
        return "cannot share a location with crm_metrics";
    }

    lcf->enable = 1;

    /* crm_postgres may come after it: checked in postconfiguration */

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_crm_module);

    if (mcf->api_file == NULL) {
        mcf->api_file = cf->conf_file->file.name.data;
        mcf->api_line = cf->conf_file->line;
    }

    /* the server's own errors are JSON too: crm_json_errors */

    scf = ngx_http_conf_get_module_srv_conf(cf, ngx_http_crm_module);
    scf->api = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = crm_pipeline_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_crm_postgres(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_crm_main_conf_t *mcf = conf;

    ngx_str_t  *value;

    if (mcf->pg.conninfo.len > 0) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len == 0) {
        return "takes a non-empty conninfo";
    }

    /* value[1].data is NUL-terminated by the configuration parser */

    mcf->pg.conninfo = value[1];

    return NGX_CONF_OK;
}


/* crm_search_similarity 0.5: a number in (0, 1], two decimals at most */

static char *
ngx_http_crm_similarity(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_crm_main_conf_t *mcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (mcf->pg.similarity != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    n = ngx_atofp(value[1].data, value[1].len, 2);

    if (n <= 0 || n > 100) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid value \"%V\": a similarity is a number "
                           "above 0 and at most 1, e.g. 0.5", &value[1]);
        return NGX_CONF_ERROR;
    }

    mcf->pg.similarity = (ngx_uint_t) n;

    return NGX_CONF_OK;
}


/* crm_outbound_thread_pool name: where SMTP transfers run */

static char *
ngx_http_crm_outbound_thread_pool(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_crm_main_conf_t *mcf = conf;

    ngx_str_t  *value;

    if (mcf->outbound.thread_pool != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    mcf->outbound.thread_pool = ngx_thread_pool_add(cf, &value[1]);
    if (mcf->outbound.thread_pool == NULL) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * crm_outbound_trusted_certificate file: the certificates (PEM) that
 * TLS to relays and webhook receivers trusts, instead of the system's.
 * The file is read here, by the master, and handed to libcurl from
 * memory: workers need no access to it, and nginx -t refuses a file
 * without a certificate or with a damaged one.
 */

static char *
ngx_http_crm_outbound_trusted(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_crm_main_conf_t *mcf = conf;

    BIO              *bio;
    X509             *x;
    off_t             size;
    u_char           *data;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_str_t        *value, file;
    ngx_uint_t        certs;
    unsigned long     err;
    ngx_file_info_t   fi;

    if (mcf->outbound.trusted.data != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;
    file = value[1];

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "cannot open \"%V\"", &file);
        return NGX_CONF_ERROR;
    }

    data = NULL;
    size = 0;

    if (ngx_fd_info(fd, &fi) != NGX_FILE_ERROR) {
        size = ngx_file_size(&fi);
    }

    if (size > 0 && size <= CRM_TRUSTED_MAX) {
        data = ngx_pnalloc(cf->pool, size);
    }

    n = (data != NULL) ? ngx_read_fd(fd, data, size) : -1;

    ngx_close_file(fd);

    if (n != size || size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "cannot read \"%V\" (an empty file, or larger "
                           "than %d bytes)", &file, CRM_TRUSTED_MAX);
        return NGX_CONF_ERROR;
    }

    /* every certificate of it, up to the end; other PEM blocks are skipped */

    bio = BIO_new_mem_buf(data, (int) size);
    if (bio == NULL) {
        return NGX_CONF_ERROR;
    }

    ERR_clear_error();

    for (certs = 0; /* void */ ; certs++) {
        x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (x == NULL) {
            break;
        }

        X509_free(x);
    }

    err = ERR_peek_last_error();

    BIO_free(bio);
    ERR_clear_error();

    if (certs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "no PEM certificate in \"%V\"", &file);
        return NGX_CONF_ERROR;
    }

    if (ERR_GET_LIB(err) != ERR_LIB_PEM
        || ERR_GET_REASON(err) != PEM_R_NO_START_LINE)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "a damaged certificate after the first %ui in "
                           "\"%V\"", certs, &file);
        return NGX_CONF_ERROR;
    }

    mcf->outbound.trusted.data = data;
    mcf->outbound.trusted.len = size;

    return NGX_CONF_OK;
}


/* crm_outbound_allow CIDR ...: ranges the outbound address policy lets
   through although special (loopback for tests, a relay on a private
   network); may be repeated */

static char *
ngx_http_crm_outbound_allow(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_crm_main_conf_t *mcf = conf;

    ngx_int_t    rc;
    ngx_str_t   *value;
    ngx_uint_t   i;
    ngx_cidr_t  *cidr;

    if (mcf->outbound.allow == NULL) {
        mcf->outbound.allow = ngx_array_create(cf->pool, 4,
                                               sizeof(ngx_cidr_t));
        if (mcf->outbound.allow == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        cidr = ngx_array_push(mcf->outbound.allow);
        if (cidr == NULL) {
            return NGX_CONF_ERROR;
        }

        rc = ngx_ptocidr(&value[i], cidr);

        if (rc == NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid address or CIDR \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        if (rc == NGX_DONE) {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "low address bits of %V are meaningless",
                               &value[i]);
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_crm_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_crm_main_conf_t *mcf = conf;

    ngx_str_t  *value;

    if (mcf->redis_conf.addr.len > 0) {
        return "is duplicate";
    }

    value = cf->args->elts;

    return crm_redis_parse_addr(cf, &value[1], &mcf->redis_conf);
}


/* "zone=name:size" of a shared-memory zone, 8 pages at least */

static ngx_int_t
ngx_http_crm_zone(ngx_conf_t *cf, ngx_str_t *value, ngx_str_t *name,
    ssize_t *size)
{
    u_char     *p;
    ngx_str_t   s;

    name->data = value->data + 5;

    p = (u_char *) ngx_strchr(name->data, ':');
    if (p == NULL) {
        goto invalid;
    }

    name->len = p - name->data;

    s.data = p + 1;
    s.len = value->data + value->len - s.data;

    *size = ngx_parse_size(&s);

    if (*size == NGX_ERROR || name->len == 0) {
        goto invalid;
    }

    if (*size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is too small", value);
        return NGX_ERROR;
    }

    return NGX_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid zone \"%V\", expected zone=name:size",
                       value);
    return NGX_ERROR;
}


/*
 * crm_rate_limit zone=name:size [per_minute=N] [per_hour=N] [cluster]
 *     [dry_run];
 * crm_auth_fail_limit zone=name:size [per_minute=N] [per_hour=N]
 *     [dry_run];
 */

static char *
ngx_http_crm_rate_limit(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char            *p;
    ssize_t            size;
    ngx_int_t          n;
    ngx_str_t         *value, name;
    ngx_uint_t         i, w, fail;
    crm_limit_conf_t  *lcf;

    lcf = (crm_limit_conf_t *) ((char *) conf + cmd->offset);
    fail = (cmd->offset == offsetof(ngx_http_crm_main_conf_t, fail_limit));

    if (lcf->zone != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_str_null(&name);
    size = 0;

    /* failed authentications: 30 a minute and 300 an hour by default */

    lcf->window[0].limit = fail ? 30 : 100;
    lcf->window[0].period = 60 * 1000000;
    lcf->window[1].limit = fail ? 300 : 1000;
    lcf->window[1].period = (uint64_t) 60 * 60 * 1000000;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            if (ngx_http_crm_zone(cf, &value[i], &name, &size) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "per_minute=", 11) == 0
            || ngx_strncmp(value[i].data, "per_hour=", 9) == 0)
        {
            w = (value[i].data[4] == 'm') ? 0 : 1;
            p = (u_char *) ngx_strchr(value[i].data, '=') + 1;

            n = ngx_atoi(p, value[i].data + value[i].len - p);
            if (n == NGX_ERROR || n == 0) {
                goto invalid;
            }

            lcf->window[w].limit = n;
            continue;
        }

        if (ngx_strcmp(value[i].data, "dry_run") == 0) {
            lcf->dry_run = 1;
            continue;
        }

        if (!fail && ngx_strcmp(value[i].data, "cluster") == 0) {
            lcf->cluster = 1;
            continue;
        }

        goto invalid;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "%V needs zone=name:size", &cmd->name);
        return NGX_CONF_ERROR;
    }

    for (w = 0; w < CRM_LIMIT_WINDOWS; w++) {
        lcf->window[w].interval = ngx_max(1,
            lcf->window[w].period / lcf->window[w].limit);
    }

    return crm_limit_conf(cf, lcf, &name, size);

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


/* crm_auth_cache zone=name:size [ttl=time] [negative_ttl=time]; */

static char *
ngx_http_crm_auth_cache(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_crm_main_conf_t *mcf = conf;

    time_t       ttl, negative_ttl;
    ssize_t      size;
    ngx_str_t   *value, name, s;
    ngx_uint_t   i;

    if (mcf->auth_zone != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    ngx_str_null(&name);
    size = 0;
    ttl = 30;
    negative_ttl = 5;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "zone=", 5) == 0) {

            if (ngx_http_crm_zone(cf, &value[i], &name, &size) != NGX_OK) {
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "ttl=", 4) == 0) {

            s.data = value[i].data + 4;
            s.len = value[i].len - 4;

            ttl = ngx_parse_time(&s, 1);
            if (ttl == (time_t) NGX_ERROR || ttl == 0) {
                goto invalid;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "negative_ttl=", 13) == 0) {

            s.data = value[i].data + 13;
            s.len = value[i].len - 13;

            /* 0: unknown credentials are not remembered */
            negative_ttl = ngx_parse_time(&s, 1);
            if (negative_ttl == (time_t) NGX_ERROR) {
                goto invalid;
            }

            continue;
        }

        goto invalid;
    }

    if (name.len == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "crm_auth_cache needs zone=name:size");
        return NGX_CONF_ERROR;
    }

    return crm_auth_cache_conf(cf, &name, size, ttl, negative_ttl,
                               &mcf->auth_zone);

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_crm_cursor_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_crm_main_conf_t *mcf = conf;

    ngx_str_t  *value;

    if (mcf->cursor_secret.len > 0) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len < CRM_SECRET_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "crm_cursor_secret must be at least %d "
                           "characters long", CRM_SECRET_MIN);
        return NGX_CONF_ERROR;
    }

    mcf->cursor_secret = value[1];

    return NGX_CONF_OK;
}


/* the tracking location: pixel, click redirect, unsubscribe */

static char *
ngx_http_crm_tracking(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_crm_loc_conf_t *lcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (lcf->tracking != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    if (lcf->enable != NGX_CONF_UNSET) {
        return "cannot share a location with crm_api";
    }

    if (lcf->metrics != NGX_CONF_UNSET) {
        return "cannot share a location with crm_metrics";
    }

    lcf->tracking = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = crm_tracking_handler;

    return NGX_CONF_OK;
}


/* the metrics location: Prometheus' text format, no credential */

static char *
ngx_http_crm_metrics(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_crm_loc_conf_t *lcf = conf;

    ngx_http_core_loc_conf_t  *clcf;
    ngx_http_crm_main_conf_t  *mcf;

    if (lcf->metrics != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    if (lcf->enable != NGX_CONF_UNSET) {
        return "cannot share a location with crm_api";
    }

    if (lcf->tracking != NGX_CONF_UNSET) {
        return "cannot share a location with crm_tracking";
    }

    lcf->metrics = 1;

    /* a zone is made for it unless crm_metrics_zone names one */

    mcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_crm_module);
    mcf->metrics_used = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = crm_metrics_handler;

    return NGX_CONF_OK;
}


/* crm_metrics_zone zone=name:size; */

static char *
ngx_http_crm_metrics_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_crm_main_conf_t *mcf = conf;

    ssize_t     size;
    ngx_str_t  *value, name;

    if (mcf->metrics_zone != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strncmp(value[1].data, "zone=", 5) != 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\", expected "
                           "zone=name:size", &value[1]);
        return NGX_CONF_ERROR;
    }

    if (ngx_http_crm_zone(cf, &value[1], &name, &size) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return crm_metrics_zone(cf, &name, size, &mcf->metrics_zone);
}


static char *
ngx_http_crm_tracking_secret(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_crm_main_conf_t *mcf = conf;

    ngx_str_t  *value;

    if (mcf->tracking_secret.len > 0) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len < CRM_SECRET_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "crm_tracking_secret must be at least %d "
                           "characters long", CRM_SECRET_MIN);
        return NGX_CONF_ERROR;
    }

    mcf->tracking_secret = value[1];

    return NGX_CONF_OK;
}


/* crm_tracking_url https://t.example.com/t/; */

static char *
ngx_http_crm_tracking_url(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_crm_main_conf_t *mcf = conf;

    ngx_str_t  *value;

    if (mcf->tracking_url.len > 0) {
        return "is duplicate";
    }

    value = cf->args->elts;

    /* the token URLs are made of it: <url>o/<token>.gif, ... */

    if (crm_track_url_valid(value[1].data, value[1].len) != NGX_OK
        || value[1].len > 512
        || value[1].data[value[1].len - 1] != '/'
        || ngx_strlchr(value[1].data, value[1].data + value[1].len, '?')
           != NULL
        || ngx_strlchr(value[1].data, value[1].data + value[1].len, '#')
           != NULL)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "crm_tracking_url \"%V\" is not an absolute "
                           "http or https URL ending in \"/\" (without "
                           "query or fragment)", &value[1]);
        return NGX_CONF_ERROR;
    }

    mcf->tracking_url = value[1];

    return NGX_CONF_OK;
}


/*
 * crm_postgres_heavy off | [pool_size=n] [queue=n] [queue_timeout=time]
 *     [statement_timeout=time] [workspace=n];
 */

static char *
ngx_http_crm_postgres_heavy(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_crm_main_conf_t *mcf = conf;

    ngx_int_t    n;
    ngx_str_t   *value, v;
    ngx_msec_t   ms;
    ngx_uint_t   i;

    if (mcf->heavy_enabled != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        mcf->heavy_enabled = 0;
        return NGX_CONF_OK;
    }

    mcf->heavy_enabled = 1;

    for (i = 1; i < cf->args->nelts; i++) {

        v.data = (u_char *) ngx_strchr(value[i].data, '=');
        if (v.data == NULL) {
            goto invalid;
        }

        v.data++;
        v.len = value[i].data + value[i].len - v.data;

        if (ngx_strncmp(value[i].data, "pool_size=", 10) == 0
            || ngx_strncmp(value[i].data, "queue=", 6) == 0
            || ngx_strncmp(value[i].data, "workspace=", 10) == 0)
        {
            n = ngx_atoi(v.data, v.len);
            if (n == NGX_ERROR || (n == 0 && value[i].data[0] != 'q')) {
                goto invalid;
            }

            switch (value[i].data[0]) {
            case 'p':
                mcf->heavy.pool_size = n;
                break;
            case 'q':
                mcf->heavy.queue = n;
                break;
            default:
                mcf->heavy_workspace = n;
                break;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "queue_timeout=", 14) == 0
            || ngx_strncmp(value[i].data, "statement_timeout=", 18) == 0)
        {
            ms = ngx_parse_time(&v, 0);
            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
                goto invalid;
            }

            if (value[i].data[0] == 'q') {
                mcf->heavy.queue_timeout = ms;

            } else {
                mcf->heavy.statement_timeout = ms;
            }

            continue;
        }

        goto invalid;
    }

    return NGX_CONF_OK;

invalid:

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\"", &value[i]);
    return NGX_CONF_ERROR;
}


static char *
ngx_http_crm_api_key(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_crm_main_conf_t *mcf = conf;

    ngx_str_t         *value;
    ngx_uint_t         i;
    crm_static_key_t  *k;

    value = cf->args->elts;

    if (value[1].len < CRM_SECRET_MIN) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "crm_api_key: a key must be at least %d "
                           "characters long", CRM_SECRET_MIN);
        return NGX_CONF_ERROR;
    }

    if (crm_uuid_valid(value[2].data, value[2].len) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "crm_api_key: \"%V\" is not a workspace uuid",
                           &value[2]);
        return NGX_CONF_ERROR;
    }

    if (mcf->keys == NULL) {
        mcf->keys = ngx_array_create(cf->pool, 4, sizeof(crm_static_key_t));
        if (mcf->keys == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    k = mcf->keys->elts;
    for (i = 0; i < mcf->keys->nelts; i++) {
        if (k[i].key.len == value[1].len
            && ngx_strncmp(k[i].key.data, value[1].data, value[1].len) == 0)
        {
            return "names a key twice";
        }
    }

    k = ngx_array_push(mcf->keys);
    if (k == NULL) {
        return NGX_CONF_ERROR;
    }

    k->key = value[1];
    k->workspace = value[2];

    return NGX_CONF_OK;
}


/*
 * $crm_workspace, $crm_principal (kind:id) and $crm_ratelimit_remaining,
 * for access logs
 */

static ngx_http_variable_t  ngx_http_crm_vars[] = {

    { ngx_string("crm_workspace"), NULL, ngx_http_crm_variable, 0,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("crm_principal"), NULL, ngx_http_crm_variable, 1,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("crm_ratelimit_remaining"), NULL, ngx_http_crm_variable, 2,
      NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


static ngx_int_t
ngx_http_crm_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_crm_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_http_crm_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    static const char  *kinds[] = { "none", "static", "key", "session" };

    u_char     *p;
    crm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_crm_module);

    if (ctx == NULL || ctx->principal.kind == CRM_PRINCIPAL_NONE) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, 64 + ctx->principal.id.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;

    switch (data) {

    case 0:
        p = ngx_cpymem(p, ctx->workspace.data, ctx->workspace.len);
        break;

    case 1:
        p = ngx_sprintf(p, "%s:%V", kinds[ctx->principal.kind],
                        &ctx->principal.id);
        break;

    default:
        if (ctx->limit_remaining < 0) {
            v->not_found = 1;
            return NGX_OK;
        }

        p = ngx_sprintf(p, "%i", ctx->limit_remaining);
        break;
    }

    v->len = p - v->data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static char *
ngx_http_crm_smtp(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_crm_main_conf_t *mcf = conf;

    /* the worker's outbound client is made for it */
    mcf->outbound_used = 1;

    return crm_email_smtp(cf, mcf->email);
}


static char *
ngx_http_crm_email_retry(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_crm_main_conf_t *mcf = conf;

    return crm_email_retry(cf, mcf->email);
}


/* crm_webhooks on: this host delivers webhooks (an outbound client) */

static char *
ngx_http_crm_webhooks(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_crm_main_conf_t *mcf = conf;

    char  *rv;

    rv = ngx_conf_set_flag_slot(cf, cmd, mcf->webhook);

    if (rv == NGX_CONF_OK && mcf->webhook->enabled) {
        mcf->outbound_used = 1;
    }

    return rv;
}


static char *
ngx_http_crm_webhook_retry(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_crm_main_conf_t *mcf = conf;

    return crm_webhook_conf_retry(cf, mcf->webhook);
}


/* a flag of the webhook configuration (cmd->offset in it) */

static char *
ngx_http_crm_webhook_flag(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_crm_main_conf_t *mcf = conf;

    return ngx_conf_set_flag_slot(cf, cmd, mcf->webhook);
}


/* a number of the webhook configuration (cmd->offset in it) */

static char *
ngx_http_crm_webhook_num(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_crm_main_conf_t *mcf = conf;

    return ngx_conf_set_num_slot(cf, cmd, mcf->webhook);
}


/* a time of the webhook configuration (cmd->offset in it) */

static char *
ngx_http_crm_webhook_msec(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_crm_main_conf_t *mcf = conf;

    return ngx_conf_set_msec_slot(cf, cmd, mcf->webhook);
}


/*
 * The worker's jobs: the campaign runner; email delivery when a relay is
 * configured; webhook delivery with "crm_webhooks on"; the events'
 * retention where either delivery runs or crm_events_retention is set.
 * Workers only (not the cache processes), and never with "crm_jobs off":
 * such a host serves the API and claims no work.
 */

static ngx_int_t
ngx_http_crm_jobs_init(ngx_cycle_t *cycle, ngx_http_crm_main_conf_t *mcf)
{
    u_char               *p;
    ngx_str_t             owner;
    ngx_uint_t            email, hooks;
    crm_email_conf_t     *ec;
    crm_webhook_conf_t   *wc;
    crm_campaign_conf_t  *cc;

    if (!mcf->jobs || mcf->pool == NULL
        || (ngx_process != NGX_PROCESS_WORKER
            && ngx_process != NGX_PROCESS_SINGLE))
    {
        return NGX_OK;
    }

    ec = mcf->email;
    wc = mcf->webhook;

    email = (ec->url.len > 0 && mcf->curl != NULL);
    hooks = (wc->enabled && mcf->curl != NULL);

    mcf->jobs_worker = crm_jobs_create(cycle);
    if (mcf->jobs_worker == NULL) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(cycle->pool, cycle->hostname.len + 2 * NGX_INT_T_LEN
                                 + 2);
    if (p == NULL) {
        return NGX_ERROR;
    }

    /* the leases' owner: this worker, this start */

    owner.data = p;
    owner.len = ngx_sprintf(p, "%V:%P:%T", &cycle->hostname, ngx_pid,
                            ngx_time())
                - p;

    /* campaigns queue into the outbox: they need no relay */

    cc = ngx_pcalloc(cycle->pool, sizeof(crm_campaign_conf_t));
    if (cc == NULL) {
        return NGX_ERROR;
    }

    cc->owner = owner;
    cc->pool = mcf->pool;
    cc->cursor_secret = mcf->cursor_secret;
    cc->batch = CRM_CAMPAIGN_BATCH;
    cc->lease = CRM_CAMPAIGN_LEASE;

    crm_campaign_job_init(cc, mcf->jobs_interval);

    if (crm_jobs_add(mcf->jobs_worker, &cc->kind) == NULL) {
        return NGX_ERROR;
    }

    if (email) {
        ec->owner = owner;
        ec->pool = mcf->pool;
        ec->track_secret = mcf->tracking_secret;
        ec->track_base = mcf->tracking_url;
        ec->curl = mcf->curl;

        crm_email_job_init(ec, mcf->jobs_interval);

        if (crm_jobs_add(mcf->jobs_worker, &ec->kind) == NULL) {
            return NGX_ERROR;
        }
    }

    wc->owner = owner;
    wc->pool = mcf->pool;
    wc->curl = mcf->curl;

    crm_webhook_job_init(wc, mcf->jobs_interval);

    if (hooks && crm_jobs_add(mcf->jobs_worker, &wc->kind) == NULL) {
        return NGX_ERROR;
    }

    if ((email || hooks || wc->retention_set)
        && crm_jobs_add(mcf->jobs_worker, &wc->purge) == NULL)
    {
        return NGX_ERROR;
    }

    if (crm_metrics_queues_job(cycle, mcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (crm_jobs_listen(mcf->jobs_worker, &mcf->pg) != NGX_OK) {
        return NGX_ERROR;
    }

    crm_jobs_start(mcf->jobs_worker);

    return NGX_OK;
}


static ngx_int_t
ngx_http_crm_init_process(ngx_cycle_t *cycle)
{
    ngx_http_crm_main_conf_t  *mcf;

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_crm_module);

    if (mcf == NULL) {
        return NGX_OK;
    }

    /* GMime's tables, for the messages the delivery job renders; paired
       with crm_mime_done() in exit_process, which runs even when this
       function fails */
    if (crm_mime_init(cycle->log) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the metrics' slot of this worker first: the clients count into it */
    crm_metrics_init_process(mcf);

    if (mcf->pg.conninfo.len > 0) {
        mcf->pool = crm_pg_pool_create(cycle, &mcf->pg);
        if (mcf->pool == NULL) {
            return NGX_ERROR;
        }
    }

    if (crm_heavy_init_process(cycle, mcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (mcf->redis_conf.addr.len > 0) {
        mcf->redis = crm_redis_init(cycle, &mcf->redis_conf);
        if (mcf->redis == NULL) {
            return NGX_ERROR;
        }
    }

    if (mcf->outbound_used) {
        mcf->curl = crm_curl_create(cycle, &mcf->outbound);
        if (mcf->curl == NULL) {
            return NGX_ERROR;
        }
    }

    crm_pg_pool_metrics(mcf->pool, mcf->metrics_worker,
                        CRM_METRICS_POOL_MAIN);
    crm_pg_pool_metrics(mcf->heavy_pool, mcf->metrics_worker,
                        CRM_METRICS_POOL_HEAVY);
    crm_redis_metrics(mcf->redis, mcf->metrics, mcf->metrics_worker);

    mcf->email->metrics = mcf->metrics;
    mcf->webhook->metrics = mcf->metrics;

    if (ngx_http_crm_jobs_init(cycle, mcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (crm_tracking_init_process(cycle, mcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (crm_limit_init_process(cycle, mcf) != NGX_OK) {
        return NGX_ERROR;
    }

    return crm_auth_init_process(cycle, mcf);
}


static void
ngx_http_crm_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_crm_main_conf_t  *mcf;

    mcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_crm_module);

    if (mcf == NULL) {
        return;
    }

    if (mcf->touch.timer_set) {
        ngx_del_timer(&mcf->touch);
    }

    if (mcf->limit_sync.timer_set) {
        ngx_del_timer(&mcf->limit_sync);
    }

    /* the jobs first: their runs hold statements of the pool */

    crm_jobs_exit(mcf->jobs_worker);
    mcf->jobs_worker = NULL;

    mcf->email->curl = NULL;
    mcf->webhook->curl = NULL;

    /* the tracking queue next: its flushes are statements of the pool */

    crm_tracking_exit_process(mcf);

    crm_pg_pool_destroy(mcf->pool);
    mcf->pool = NULL;

    crm_heavy_exit_process(mcf);

    crm_redis_done(mcf->redis);
    mcf->redis = NULL;

    crm_curl_destroy(mcf->curl);
    mcf->curl = NULL;
    crm_mime_done();

    mcf->email->metrics = NULL;
    mcf->webhook->metrics = NULL;
    crm_metrics_exit_process(mcf);
}
