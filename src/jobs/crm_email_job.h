
/*
 * ngx_http_crm_module: the email delivery job (jobs/crm_email_job.c):
 * claims due emails of the outbox, renders each message once, sends it
 * through the relay (crm_smtp) and records the outcome.
 */


#ifndef _CRM_EMAIL_JOB_H_INCLUDED_
#define _CRM_EMAIL_JOB_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "io/crm_pg.h"
#include "io/crm_curl.h"
#include "jobs/crm_jobs.h"


typedef struct crm_email_conf_s {
    /* crm_smtp */
    ngx_str_t                 url;          /* smtp://host:port */
    ngx_addr_t               *addr;         /* resolved at configuration
                                               time; NULL: a literal */
    ngx_str_t                 from;         /* default sender address */
    ngx_str_t                 from_name;
    ngx_str_t                 user;
    ngx_str_t                 password;
    ngx_str_t                 domain;       /* of Message-IDs */
    ngx_uint_t                starttls;
    ngx_uint_t                connections;  /* at once per worker */
    ngx_uint_t                rate;         /* per second, cluster; 0 */

    /* crm_email_* */
    ngx_uint_t                batch;
    ngx_msec_t                lease;
    ngx_msec_t                retry_base;
    ngx_msec_t                retry_max_age;

    /* tracking (crm_tracking_secret, crm_tracking_url); empty: none */
    ngx_str_t                 track_secret;
    ngx_str_t                 track_base;

    /* per worker */
    ngx_str_t                 owner;        /* "host:pid": the leases' */
    crm_pg_pool_t            *pool;
    crm_curl_t               *curl;
    ngx_uint_t                failed;       /* claims failed in a row */
    unsigned                  relay_failing:1;  /* logged: the relay
                                               fails before any recipient
                                               (this worker's view) */
    crm_metrics_t            *metrics;      /* NULL: no crm_metrics_zone */

    crm_job_kind_t            kind;
} crm_email_conf_t;


/* sets up conf->kind; call once the per-worker fields are set */
void crm_email_job_init(crm_email_conf_t *conf, ngx_msec_t interval);


/* crm_email_conf.c: the directives (the main conf holds a pointer) */

crm_email_conf_t *crm_email_conf_create(ngx_pool_t *pool);
char *crm_email_conf_init(ngx_conf_t *cf, crm_email_conf_t *conf);
/* crm_smtp URL [from=] [from_name=] [starttls=] [user=] [password=]
   [connections=] [rate=] [batch=] [lease=] */
char *crm_email_smtp(ngx_conf_t *cf, crm_email_conf_t *conf);
/* crm_email_retry BASE MAX_AGE */
char *crm_email_retry(ngx_conf_t *cf, crm_email_conf_t *conf);


#endif /* _CRM_EMAIL_JOB_H_INCLUDED_ */
