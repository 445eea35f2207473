
/*
 * Unit tests of the query of GET /analytics/emails
 * (src/model/crm_analytics.c), TAP output.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <string.h>
#include "model/crm.h"
#include "model/crm_analytics.h"
#include "tap.h"


static ngx_int_t range(const char *args, crm_analytics_range_t *rg,
    crm_error_t *err);
static void bad(const char *args, const char *param, const char *code);
static void range_is(const char *args, time_t from, time_t to,
    ngx_uint_t interval);
static void time_is(const char *s, time_t want);


static ngx_pool_t  *pool;

/* 2026-12-06T10:21:12Z, a Sunday */
static time_t       now = 1796552472;


int
main(void)
{
    ngx_log_t    log;
    ngx_str_t    args;
    crm_error_t  err;

    ngx_memzero(&log, sizeof(ngx_log_t));

    ngx_pagesize = 4096;

    pool = ngx_create_pool(4096, &log);
    if (pool == NULL) {
        return 1;
    }

    /* timestamps */

    time_is("1970-01-01", 0);
    time_is("2020-01-01", 1577836800);
    time_is("2020-02-29T12:30:00Z", 1582979400);
    time_is("2020-01-01T10:00:00+02:00", 1577865600);
    time_is("2020-01-01T10:00:00.999-01:30", 1577878200);
    time_is("2020-01-01T10:00", 1577872800);
    time_is("2999-12-31T23:59:59Z", 32503679999);
    /* finer than a microsecond, and before 2000: the second, floored */
    time_is("2020-01-01T10:00:00.1234567Z", 1577872800);
    time_is("1999-12-31T23:59:59.5Z", 946684799);

    /* a range's end counts a fraction as its whole second */
    {
        time_t  t;

        ok(crm_analytics_time((u_char *) "2020-01-01T10:00:00.999Z", 24, 1,
                              &t) == NGX_OK && t == 1577872801,
           "to 10:00:00.999: 10:00:01");
        ok(crm_analytics_time((u_char *) "2020-01-01T10:00:00Z", 20, 1, &t)
           == NGX_OK && t == 1577872800,
           "to 10:00:00: itself");
        ok(crm_analytics_time((u_char *) "1999-12-31T23:59:59.5Z", 22, 1,
                              &t) == NGX_OK && t == 946684800,
           "to 1999-12-31T23:59:59.5: 2000-01-01T00:00:00");
    }
    time_is("1970-01-01T00:00:00.5+00:01", -1);
    time_is("1969-12-31", -1);
    time_is("3000-01-01", -1);
    time_is("2021-02-29", -1);
    time_is("yesterday", -1);
    time_is("2020-01-01T25:00:00Z", -1);

    /* ranges: widened to whole buckets */

    range_is("", 1793923200, 1796601600, CRM_ANALYTICS_DAY);
    range_is("interval=hour", 1796464800, 1796554800, CRM_ANALYTICS_HOUR);
    range_is("interval=week", 1788739200, 1796601600, CRM_ANALYTICS_WEEK);
    range_is("from=2020-01-01T10:30:00Z&to=2020-01-01T12:00:01Z"
             "&interval=hour", 1577872800, 1577883600, CRM_ANALYTICS_HOUR);
    range_is("from=2020-01-01&to=2020-01-15&interval=week",
             1577664000, 1579478400, CRM_ANALYTICS_WEEK);
    range_is("from=1970-01-02&to=1970-01-03&interval=week",
             -259200, 345600, CRM_ANALYTICS_WEEK);
    /* a default from does not reach before 1970 */
    range_is("to=1970-01-02", 0, 86400, CRM_ANALYTICS_DAY);
    range_is("from=2020-01-01&to=2020-02-01&interval=hour",
             1577836800, 1580515200, CRM_ANALYTICS_HOUR);
    range_is("to=2020-01-01T00%3A00%3A00%2B01%3A00&&from=2019-12-31",
             1577750400, 1577836800, CRM_ANALYTICS_DAY);

    ngx_str_set(&args, "campaignId=c1950000-0000-4000-8000-00000000c0de");
    ok(crm_analytics_range(pool, &args, now, &(crm_analytics_range_t) {0},
                           &err) == NGX_OK, "campaignId accepted");

    /* what is refused, naming the parameter */

    bad("colour=red", "colour", "unknown_parameter");
    bad("interval=day&interval=day", "interval", "duplicate_parameter");
    bad("campaignId=1&campaign_id=2", "campaign_id", "duplicate_parameter");
    bad("interval=month", "interval", "invalid_value");
    bad("interval=", "interval", "invalid_value");
    bad("campaignId=42", "campaignId", "invalid_format");
    bad("from=2020-13-01", "from", "invalid_format");
    bad("to=", "to", "invalid_format");
    bad("from=2020-01-02&to=2020-01-01", "from", "invalid_range");
    bad("from=2020-01-01&to=2020-01-01", "from", "invalid_range");
    bad("from=2020-01-01&to=2020-02-01T00:00:01Z&interval=hour", "from",
        "range_too_long");
    bad("from=2020-01-01&to=2021-01-02T00:00:01Z", "from", "range_too_long");
    bad("from=2015-01-01&to=2020-01-03&interval=week", "from",
        "range_too_long");
    bad("from=3000-01-01", "from", "invalid_format");
    bad("%01x=1", "%01x", "unknown_parameter");

    ngx_destroy_pool(pool);

    return done_testing();
}


static ngx_int_t
range(const char *args, crm_analytics_range_t *rg, crm_error_t *err)
{
    ngx_str_t  a;

    a.data = (u_char *) args;
    a.len = strlen(args);

    return crm_analytics_range(pool, &a, now, rg, err);
}


static void
bad(const char *args, const char *param, const char *code)
{
    crm_error_t            err;
    crm_analytics_range_t  rg;

    ngx_memzero(&err, sizeof(crm_error_t));

    if (!ok(range(args, &rg, &err) == NGX_DECLINED, "\"%s\" refused", args))
    {
        return;
    }

    is_mem(err.param.data, err.param.len, param, "... names %s", param);
    is_mem(err.code.data, err.code.len, code, "... %s", code);
}


static void
range_is(const char *args, time_t from, time_t to, ngx_uint_t interval)
{
    crm_error_t            err;
    crm_analytics_range_t  rg;

    if (!ok(range(args, &rg, &err) == NGX_OK, "\"%s\" accepted", args)) {
        return;
    }

    is_int(rg.from, from, "... from");
    is_int(rg.to, to, "... to");
    is_int(rg.interval, interval, "... interval");
}


static void
time_is(const char *s, time_t want)
{
    time_t     t;
    ngx_int_t  rc;

    rc = crm_analytics_time((u_char *) s, strlen(s), 0, &t);

    if (want == -1) {
        is_int(rc, NGX_DECLINED, "\"%s\" is no time", s);
        return;
    }

    if (ok(rc == NGX_OK, "\"%s\" is a time", s)) {
        is_int(t, want, "... %lld", (long long) want);
    }
}
