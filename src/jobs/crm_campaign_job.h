
/*
 * ngx_http_crm_module: the campaign runner (jobs/crm_campaign_job.c):
 * starts scheduled campaigns, materialises their recipients, hands them
 * to the email outbox with their merge fields filled, and completes
 * campaigns (sql/020_campaigns.sql, docs/CAMPAIGNS.md).
 */


#ifndef _CRM_CAMPAIGN_JOB_H_INCLUDED_
#define _CRM_CAMPAIGN_JOB_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "io/crm_pg.h"
#include "jobs/crm_jobs.h"


#define CRM_CAMPAIGN_BATCH    200           /* recipients a run queues */
#define CRM_CAMPAIGN_LEASE    15000         /* ms a claim lasts */


typedef struct crm_campaign_conf_s {
    ngx_str_t                 owner;        /* "host:pid:start" */
    ngx_str_t                 cursor_secret;    /* the filters' parser
                                                   wants one */
    crm_pg_pool_t            *pool;
    ngx_uint_t                batch;
    ngx_msec_t                lease;
    ngx_uint_t                failed;       /* steps failed in a row */
    crm_job_kind_t            kind;
} crm_campaign_conf_t;


void crm_campaign_job_init(crm_campaign_conf_t *conf, ngx_msec_t interval);


#endif /* _CRM_CAMPAIGN_JOB_H_INCLUDED_ */
