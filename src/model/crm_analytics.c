
/*
 * ngx_http_crm_module: the query of GET /analytics/emails, pure.
 *
 * The range asked for becomes whole buckets of the interval in UTC (an
 * hour, a day, a week from Monday): from moves back to the start of its
 * bucket, to forward to the end of its own, so that the totals are the
 * sum of the buckets answered.  The answer itself is SQL's
 * (db_analytics_emails(), sql/021_analytics.sql), over the rollups.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "model/crm.h"
#include "model/crm_analytics.h"


#define CRM_ANALYTICS_MIN_TIME    0                 /* 1970-01-01 */
#define CRM_ANALYTICS_MAX_TIME    32503680000LL     /* 3000-01-01 */
#define CRM_ANALYTICS_MONDAY      (4 * 86400)       /* 1970-01-05 */


typedef struct {
    ngx_str_t                 from;
    ngx_str_t                 to;
    ngx_str_t                 interval;
    ngx_str_t                 campaign;
} crm_analytics_args_t;


static ngx_int_t crm_analytics_next(ngx_pool_t *pool, u_char **pp,
    u_char *last, ngx_str_t *name, ngx_str_t *value);
static ngx_int_t crm_analytics_bad(ngx_pool_t *pool, crm_error_t *err,
    ngx_str_t *param, const char *code, const char *message);
static time_t crm_analytics_align(time_t t, ngx_uint_t interval);


ngx_str_t  crm_analytics_intervals[] = {
    ngx_string("hour"),
    ngx_string("day"),
    ngx_string("week"),
    ngx_null_string
};


static time_t  crm_analytics_len[] = { 3600, 86400, 7 * 86400 };

static time_t  crm_analytics_max[] = {
    CRM_ANALYTICS_HOUR_MAX, CRM_ANALYTICS_DAY_MAX, CRM_ANALYTICS_WEEK_MAX
};

/* the range when "from" is not given */
static time_t  crm_analytics_default[] = {
    86400, 30 * 86400, 12 * 7 * 86400
};


ngx_int_t
crm_analytics_range(ngx_pool_t *pool, ngx_str_t *args, time_t now,
    crm_analytics_range_t *rg, crm_error_t *err)
{
    u_char                *p, *last;
    time_t                 from, to;
    ngx_int_t              rc;
    ngx_str_t              name, value, *slot;
    ngx_uint_t             i;
    crm_analytics_args_t   a;

    ngx_memzero(&a, sizeof(crm_analytics_args_t));
    ngx_memzero(rg, sizeof(crm_analytics_range_t));

    p = args->data;
    last = p + args->len;

    for ( ;; ) {
        rc = crm_analytics_next(pool, &p, last, &name, &value);

        if (rc == NGX_DONE) {
            break;
        }

        if (rc != NGX_OK) {
            return NGX_ERROR;
        }

        if (name.len == 4 && ngx_strncmp(name.data, "from", 4) == 0) {
            slot = &a.from;

        } else if (name.len == 2 && ngx_strncmp(name.data, "to", 2) == 0) {
            slot = &a.to;

        } else if (name.len == 8
                   && ngx_strncmp(name.data, "interval", 8) == 0)
        {
            slot = &a.interval;

        } else if ((name.len == 10
                    && ngx_strncmp(name.data, "campaignId", 10) == 0)
                   || (name.len == 11
                       && ngx_strncmp(name.data, "campaign_id", 11) == 0))
        {
            slot = &a.campaign;

        } else {
            return crm_analytics_bad(pool, err, &name, "unknown_parameter",
                                     "unknown query parameter: this route "
                                     "takes from, to, interval and "
                                     "campaignId");
        }

        if (slot->data != NULL) {
            return crm_analytics_bad(pool, err, &name, "duplicate_parameter",
                                     "the parameter is given twice");
        }

        *slot = value;
    }

    rg->interval = CRM_ANALYTICS_DAY;

    if (a.interval.data != NULL) {
        for (i = 0; crm_analytics_intervals[i].len; i++) {
            if (a.interval.len == crm_analytics_intervals[i].len
                && ngx_strncmp(a.interval.data,
                               crm_analytics_intervals[i].data,
                               a.interval.len) == 0)
            {
                break;
            }
        }

        if (crm_analytics_intervals[i].len == 0) {
            ngx_str_set(&name, "interval");
            return crm_analytics_bad(pool, err, &name, "invalid_value",
                                     "interval is hour, day or week");
        }

        rg->interval = i;
    }

    if (a.campaign.data != NULL) {
        if (crm_uuid_valid(a.campaign.data, a.campaign.len) != NGX_OK) {
            ngx_str_set(&name, "campaignId");
            return crm_analytics_bad(pool, err, &name, "invalid_format",
                                     "campaignId is a campaign's id "
                                     "(a uuid)");
        }

        rg->campaign = a.campaign;
    }

    to = now;

    if (a.to.data != NULL
        && crm_analytics_time(a.to.data, a.to.len, 1, &to) != NGX_OK)
    {
        ngx_str_set(&name, "to");
        return crm_analytics_bad(pool, err, &name, "invalid_format",
                                 "to is an ISO 8601 date or timestamp "
                                 "from 1970 to 2999");
    }

    /* a default range does not reach before what a time may be */

    from = ngx_max(to - crm_analytics_default[rg->interval],
                   CRM_ANALYTICS_MIN_TIME);

    if (a.from.data != NULL
        && crm_analytics_time(a.from.data, a.from.len, 0, &from) != NGX_OK)
    {
        ngx_str_set(&name, "from");
        return crm_analytics_bad(pool, err, &name, "invalid_format",
                                 "from is an ISO 8601 date or timestamp "
                                 "from 1970 to 2999");
    }

    if (from >= to) {
        ngx_str_set(&name, "from");
        return crm_analytics_bad(pool, err, &name, "invalid_range",
                                 "from must be before to");
    }

    if (to - from > crm_analytics_max[rg->interval]) {
        ngx_str_set(&name, "from");
        return crm_analytics_bad(pool, err, &name, "range_too_long",
                                 rg->interval == CRM_ANALYTICS_HOUR
                                 ? "an hourly series covers at most 31 days"
                                 : rg->interval == CRM_ANALYTICS_DAY
                                 ? "a daily series covers at most 366 days"
                                 : "a weekly series covers at most 5 years "
                                   "(1827 days)");
    }

    rg->from = crm_analytics_align(from, rg->interval);
    rg->to = crm_analytics_align(to, rg->interval);

    if (rg->to < to) {
        rg->to += crm_analytics_len[rg->interval];
    }

    return NGX_OK;
}


/*
 * The next "name=value" of a query string, the value unescaped into a
 * copy; empty names ("a=1&&b=2") are skipped.  NGX_DONE at the end.
 */

static ngx_int_t
crm_analytics_next(ngx_pool_t *pool, u_char **pp, u_char *last,
    ngx_str_t *name, ngx_str_t *value)
{
    u_char  *p, *amp, *eq, *dst, *src;

    for (p = *pp; p < last; /* void */ ) {
        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        eq = ngx_strlchr(p, amp, '=');

        name->data = p;
        name->len = (eq ? eq : amp) - p;
        value->data = eq ? eq + 1 : amp;
        value->len = amp - value->data;

        p = (amp < last) ? amp + 1 : last;

        if (name->len == 0) {
            continue;
        }

        *pp = p;

        dst = ngx_pnalloc(pool, value->len + 1);
        if (dst == NULL) {
            return NGX_ERROR;
        }

        src = value->data;
        value->data = dst;
        ngx_unescape_uri(&dst, &src, value->len, NGX_UNESCAPE_URI);
        value->len = dst - value->data;

        return NGX_OK;
    }

    *pp = last;

    return NGX_DONE;
}


static ngx_int_t
crm_analytics_bad(ngx_pool_t *pool, crm_error_t *err, ngx_str_t *param,
    const char *code, const char *message)
{
    u_char  *p, c;
    size_t   len, i;

    /* the name as received, for the error's details: printable only */

    len = ngx_min(param->len, 64);

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < len; i++) {
        c = param->data[i];
        p[i] = (c >= 0x20 && c < 0x7f) ? c : '?';
    }

    err->param.data = p;
    err->param.len = len;

    err->code.data = (u_char *) code;
    err->code.len = ngx_strlen(code);
    err->message.data = (u_char *) message;
    err->message.len = ngx_strlen(message);

    return NGX_DECLINED;
}


/*
 * A timestamp crm_value_check() takes (crm_value_time(); no zone: UTC),
 * from 1970 to 2999 as written, in seconds: a fraction of a second is
 * dropped, or with "up" counts as the whole second (a range's end: the
 * instant it names is in the range, and so is its bucket)
 */

ngx_int_t
crm_analytics_time(u_char *p, size_t len, ngx_uint_t up, time_t *t)
{
    time_t      v;
    int64_t     us;
    ngx_int_t   rc;
    ngx_str_t   s;
    ngx_uint_t  y;

    s.data = p;
    s.len = len;

    rc = crm_value_time(&s, &us);

    if (rc != NGX_OK && rc != NGX_DONE) {
        return NGX_DECLINED;
    }

    y = (p[0] - '0') * 1000 + (p[1] - '0') * 100 + (p[2] - '0') * 10
        + (p[3] - '0');

    if (y < 1970 || y > 2999) {
        return NGX_DECLINED;
    }

    /* floor division, and 2000-01-01 is 946684800 */

    v = (time_t) ((us >= 0 ? us : us - 999999) / 1000000) + 946684800;

    if (up && (us % 1000000) != 0) {
        v++;
    }

    if (v < CRM_ANALYTICS_MIN_TIME || v >= CRM_ANALYTICS_MAX_TIME) {
        return NGX_DECLINED;
    }

    *t = v;

    return NGX_OK;
}


/* the start of t's bucket (t >= 0) */

static time_t
crm_analytics_align(time_t t, ngx_uint_t interval)
{
    time_t  len;

    len = crm_analytics_len[interval];

    if (interval != CRM_ANALYTICS_WEEK) {
        return t - t % len;
    }

    t -= CRM_ANALYTICS_MONDAY;

    /* floor division: the first days of 1970 are before that Monday */

    return (t >= 0 ? t / len : (t - len + 1) / len) * len
           + CRM_ANALYTICS_MONDAY;
}
