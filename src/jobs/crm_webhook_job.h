
/*
 * ngx_http_crm_module: the webhook delivery job and the events'
 * retention (jobs/crm_webhook_job.c): claims due deliveries, signs and
 * POSTs each event, records the outcome; deletes old events.
 */


#ifndef _CRM_WEBHOOK_JOB_H_INCLUDED_
#define _CRM_WEBHOOK_JOB_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "io/crm_pg.h"
#include "io/crm_curl.h"
#include "jobs/crm_jobs.h"


typedef struct crm_webhook_conf_s {
    ngx_flag_t                enabled;      /* crm_webhooks */
    ngx_array_t              *retry;        /* ngx_msec_t: crm_webhook_retry;
                                               NULL: the default */
    ngx_msec_t                timeout;      /* crm_webhook_timeout */
    ngx_msec_t                disable_after;  /* crm_webhook_disable_after */
    ngx_msec_t                retention;    /* crm_events_retention */
    ngx_flag_t                https_only;   /* crm_webhook_https_only */
    ngx_uint_t                concurrency;  /* crm_webhook_concurrency:
                                               in flight per subscription,
                                               cluster-wide */
    ngx_uint_t                retention_set;  /* the directive is there */
    ngx_uint_t                batch;
    ngx_msec_t                lease;        /* crm_webhook_lease */
    ngx_str_t                 schedule;     /* "{...}" interval[] literal */
    ngx_resolver_t           *resolver;     /* the http{} block's, for
                                               URLs that name their host;
                                               NULL: none configured */
    ngx_msec_t                resolver_timeout;
    ngx_array_t              *allow;        /* crm_outbound_allow */

    /* per worker */
    ngx_str_t                 owner;
    crm_pg_pool_t            *pool;
    crm_curl_t               *curl;
    ngx_uint_t                failed;       /* statements failed in a row */
    ngx_uint_t                purge_failed;
    crm_metrics_t            *metrics;      /* NULL: no crm_metrics_zone */

    crm_job_kind_t            kind;         /* "webhook" */
    crm_job_kind_t            purge;        /* "events" */
} crm_webhook_conf_t;


crm_webhook_conf_t *crm_webhook_conf_create(ngx_pool_t *pool);
char *crm_webhook_conf_init(ngx_conf_t *cf, crm_webhook_conf_t *conf);
/* crm_webhook_retry TIME ... */
char *crm_webhook_conf_retry(ngx_conf_t *cf, crm_webhook_conf_t *conf);

/* set up the kinds; call once the per-worker fields are set */
void crm_webhook_job_init(crm_webhook_conf_t *conf, ngx_msec_t interval);


#endif /* _CRM_WEBHOOK_JOB_H_INCLUDED_ */
