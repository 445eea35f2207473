
/*
 * ngx_http_crm_module: the query of GET /analytics/emails (model/
 * crm_analytics.c, pure: nginx core only).
 */


#ifndef _CRM_ANALYTICS_H_INCLUDED_
#define _CRM_ANALYTICS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "model/crm.h"


#define CRM_ANALYTICS_HOUR    0
#define CRM_ANALYTICS_DAY     1
#define CRM_ANALYTICS_WEEK    2

/* the longest range a request may ask for, by interval */
#define CRM_ANALYTICS_HOUR_MAX    (31 * 86400)
#define CRM_ANALYTICS_DAY_MAX     (366 * 86400)
#define CRM_ANALYTICS_WEEK_MAX    ((5 * 365 + 2) * 86400)


typedef struct {
    time_t                    from;         /* the first bucket's start */
    time_t                    to;           /* the last bucket's end */
    ngx_uint_t                interval;     /* CRM_ANALYTICS_* */
    ngx_str_t                 campaign;     /* len 0: every email */
} crm_analytics_range_t;


/*
 * The query string of GET /analytics/emails (as received, escaped):
 * from, to (ISO 8601), interval (hour, day, week), campaignId (a uuid),
 * each at most once.  from is moved back to the start of its bucket and
 * to forward to the end of its own (UTC; weeks start on Monday).
 * Defaults: interval day, to now, from to minus 24 hours (hour), 30 days
 * (day) or 12 weeks (week).  NGX_DECLINED with "err" naming the
 * parameter (unknown, repeated, malformed, from not before to, a range
 * longer than the interval's maximum); NGX_ERROR: no memory.
 */
ngx_int_t crm_analytics_range(ngx_pool_t *pool, ngx_str_t *args, time_t now,
    crm_analytics_range_t *rg, crm_error_t *err);

/* an ISO 8601 date or timestamp (crm_value_check()'s) -> seconds */
ngx_int_t crm_analytics_time(u_char *p, size_t len, ngx_uint_t up,
    time_t *t);

/* "hour", "day", "week" */
extern ngx_str_t  crm_analytics_intervals[];


#endif /* _CRM_ANALYTICS_H_INCLUDED_ */
