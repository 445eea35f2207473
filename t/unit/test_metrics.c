
/*
 * Unit tests of the metrics' pure parts (src/model/crm_metrics.c), TAP
 * output: the bucket of a latency, the slot of a status code and of a
 * method, label escaping, and the text writer on a crm_metrics_t filled
 * by hand.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "model/crm.h"
#include "model/crm_metrics.h"
#include "tap.h"


static void test_buckets(void);
static void test_codes(void);
static void test_methods(void);
static void test_escape(void);
static void test_writer(void);
static ngx_uint_t has(u_char *text, u_char *last, const char *line);


static ngx_pool_t  *pool;


int
main(void)
{
    ngx_log_t  log;

    ngx_memzero(&log, sizeof(ngx_log_t));

    ngx_pagesize = 4096;

    pool = ngx_create_pool(4096, &log);
    if (pool == NULL) {
        return 1;
    }

    test_buckets();
    test_codes();
    test_methods();
    test_escape();
    test_writer();

    ngx_destroy_pool(pool);

    return done_testing();
}


static void
test_buckets(void)
{
    is_int(crm_metrics_bucket(0), 0, "0 ms: the first bucket");
    is_int(crm_metrics_bucket(5), 0, "5 ms: le=0.005 is inclusive");
    is_int(crm_metrics_bucket(6), 1, "6 ms: le=0.01");
    is_int(crm_metrics_bucket(100), 4, "100 ms: le=0.1");
    is_int(crm_metrics_bucket(101), 5, "101 ms: le=0.25");
    is_int(crm_metrics_bucket(10000), CRM_METRICS_BUCKETS - 2,
           "10 s: the last finite bucket");
    is_int(crm_metrics_bucket(10001), CRM_METRICS_BUCKETS - 1,
           "over 10 s: +Inf");
    is_int(crm_metrics_bucket(-3), 0, "a clock step back: the first");
}


static void
test_codes(void)
{
    ngx_uint_t  c200, c404, c429, c418, c599, c0, c700;

    c200 = crm_metrics_code(200);
    c404 = crm_metrics_code(404);
    c429 = crm_metrics_code(429);
    c418 = crm_metrics_code(418);
    c599 = crm_metrics_code(599);
    c0 = crm_metrics_code(0);
    c700 = crm_metrics_code(700);

    ok(c200 != c404 && c404 != c429 && c200 != c429,
       "200, 404 and 429 have slots of their own");
    ok(c418 != c404 && c418 == crm_metrics_code(450),
       "418 and 450 share the 4xx slot");
    ok(c599 == crm_metrics_code(550) && c599 != c418,
       "599 is in 5xx");
    is_int(c0, CRM_METRICS_CODES - 1, "0 is other");
    is_int(c700, CRM_METRICS_CODES - 1, "700 is other");
    ok(crm_metrics_code(99) == c0, "99 is other");
    ok(c429 < CRM_METRICS_CODES && c418 < CRM_METRICS_CODES,
       "slots are within the layout");
}


static void
test_methods(void)
{
    ngx_str_t  get = ngx_string("GET");
    ngx_str_t  del = ngx_string("DELETE");
    ngx_str_t  trace = ngx_string("TRACE");
    ngx_str_t  lower = ngx_string("get");
    ngx_str_t  ge = ngx_string("GE");

    is_int(crm_metrics_method(&get), 0, "GET");
    is_int(crm_metrics_method(&del), 5, "DELETE");
    is_int(crm_metrics_method(&trace), CRM_METRICS_METHODS - 1,
           "TRACE is other");
    is_int(crm_metrics_method(&lower), CRM_METRICS_METHODS - 1,
           "methods are case-sensitive");
    is_int(crm_metrics_method(&ge), CRM_METRICS_METHODS - 1,
           "a prefix is not a method");
}


static void
test_escape(void)
{
    u_char  buf[64], *p;
    u_char  in[] = "a\\b\"c\nd";

    is_int(crm_metrics_escape_len(in, sizeof(in) - 1), sizeof(in) - 1 + 3,
           "three escapes");

    p = crm_metrics_escape(buf, in, sizeof(in) - 1);
    is_mem(buf, p - buf, "a\\\\b\\\"c\\nd", "backslash, quote, newline");

    p = crm_metrics_escape(buf, (u_char *) "contacts", 8);
    is_mem(buf, p - buf, "contacts", "plain text is left alone");
}


static void
test_writer(void)
{
    u_char          *text, *p;
    ngx_str_t        get = ngx_string("GET");
    ngx_str_t        post = ngx_string("POST");
    ngx_uint_t       n, contacts;
    crm_metrics_t   *m;
    crm_resource_t  *all;

    m = ngx_pcalloc(pool, sizeof(crm_metrics_t));
    text = ngx_pnalloc(pool, 256 * 1024);

    if (m == NULL || text == NULL) {
        ok(0, "allocation");
        return;
    }

    crm_metrics_reset(m);
    ok(m->magic == CRM_METRICS_MAGIC, "reset stamps the layout");

    all = crm_schema_all(&n);
    ok(n + 1 <= CRM_METRICS_RESOURCES, "every resource has a slot (%d)",
       (int) n);

    contacts = crm_metrics_resource(crm_schema_find(&all[0].name));
    is_int(contacts, 1, "the first descriptor is resource 1");
    is_int(crm_metrics_resource(NULL), 0, "no resource is 0");

    /* item/contacts: 3 ms, 7 ms, 12 s; collection/contacts POST 201 */

    crm_metrics_request(m, 3, contacts, &get, 200, 3);
    crm_metrics_request(m, 3, contacts, &get, 404, 7);
    crm_metrics_request(m, 3, contacts, &get, 200, 12000);
    crm_metrics_request(m, 2, contacts, &post, 201, 1);
    crm_metrics_request(m, 99, 99, &get, 418, 0);

    m->workers[1].pid = 42;
    m->workers[1].pg[0].open = 3;
    m->workers[1].redis_up = 1;
    m->workers[5].pg[0].timeouts = 2;
    m->workers[6].pg[0].timeouts = 1;
    m->limited[CRM_METRICS_LIMIT_REQUESTS] = 4;

    ok(crm_metrics_write(text, text + 100, m) == NULL,
       "too little room: NULL");

    p = crm_metrics_write(text, text + 256 * 1024, m);

    if (p == NULL) {
        ok(0, "the writer fits 256k");
        return;
    }

    ok(p[-1] == '\n', "the text ends with a newline");

    ok(has(text, p, "# TYPE crm_http_requests_total counter"),
       "requests: TYPE");
    ok(has(text, p, "crm_http_requests_total{family=\"item\","
                    "resource=\"contacts\",method=\"GET\",code=\"200\"} 2"),
       "requests: item GET 200");
    ok(has(text, p, "crm_http_requests_total{family=\"item\","
                    "resource=\"contacts\",method=\"GET\",code=\"404\"} 1"),
       "requests: item GET 404");
    ok(has(text, p, "crm_http_requests_total{family=\"collection\","
                    "resource=\"contacts\",method=\"POST\",code=\"201\"} 1"),
       "requests: collection POST 201");
    ok(has(text, p, "crm_http_requests_total{family=\"none\","
                    "resource=\"\",method=\"GET\",code=\"4xx\"} 1"),
       "requests: out of range -> none, 418 -> 4xx");
    ok(!has(text, p, "crm_http_requests_total{family=\"item\","
                     "resource=\"contacts\",method=\"POST\""),
       "requests: zeros are left out");

    ok(has(text, p, "crm_http_request_duration_seconds_bucket{"
                    "family=\"item\",resource=\"contacts\",le=\"0.005\"} 1"),
       "histogram: le=0.005");
    ok(has(text, p, "crm_http_request_duration_seconds_bucket{"
                    "family=\"item\",resource=\"contacts\",le=\"0.01\"} 2"),
       "histogram: le=0.01 is cumulative");
    ok(has(text, p, "crm_http_request_duration_seconds_bucket{"
                    "family=\"item\",resource=\"contacts\",le=\"10\"} 2"),
       "histogram: le=10 has not the 12 s one");
    ok(has(text, p, "crm_http_request_duration_seconds_bucket{"
                    "family=\"item\",resource=\"contacts\",le=\"+Inf\"} 3"),
       "histogram: +Inf has all");
    ok(has(text, p, "crm_http_request_duration_seconds_count{"
                    "family=\"item\",resource=\"contacts\"} 3"),
       "histogram: _count");
    ok(has(text, p, "crm_http_request_duration_seconds_sum{"
                    "family=\"item\",resource=\"contacts\"} 12.010"),
       "histogram: _sum in seconds");

    ok(has(text, p, "crm_pg_connections_open{pool=\"main\",worker=\"1\"} 3"),
       "gauge of a live slot");
    ok(!has(text, p, "crm_pg_connections_open{pool=\"main\",worker=\"0\"}"),
       "no gauge of an empty slot");
    ok(has(text, p, "crm_pg_queue_timeouts_total{pool=\"main\"} 3"),
       "pool counters summed over the slots");
    ok(has(text, p, "crm_redis_up{worker=\"1\"} 1"), "redis up");
    ok(has(text, p, "crm_rate_limit_rejections_total{limit=\"requests\"} 4"),
       "a labelled counter");
    ok(has(text, p, "crm_webhook_deliveries_total{outcome=\"failed\"} 0"),
       "a labelled counter at 0 is written");
    ok(has(text, p, "crm_idempotency_replays_total 0"),
       "a counter without labels");
    ok(!has(text, p, "# TYPE crm_queue_depth gauge"),
       "queue depths never read: not written");

    m->queues[CRM_METRICS_QUEUE_EMAIL_WAIT] = 7;
    m->queues[CRM_METRICS_QUEUE_HOOK_SEND] = 2;
    m->queues_read = 1796560000;

    p = crm_metrics_write(text, text + 256 * 1024, m);

    if (p == NULL) {
        ok(0, "the writer fits 256k with the queues");
        return;
    }

    ok(has(text, p, "# TYPE crm_queue_depth gauge"), "queues: TYPE");
    ok(has(text, p, "crm_queue_depth{queue=\"email\",state=\"waiting\"} 7"),
       "queues: emails waiting");
    ok(has(text, p, "crm_queue_depth{queue=\"email\",state=\"sending\"} 0"),
       "queues: emails sending");
    ok(has(text, p, "crm_queue_depth{queue=\"webhook\",state=\"sending\"} "
                    "2"),
       "queues: deliveries sending");
    ok(has(text, p, "crm_queue_depth_limit 100000"), "queues: the limit");
    ok(has(text, p, "crm_queue_depth_timestamp_seconds 1796560000"),
       "queues: when read");
}


/* "line" is a whole line of the text */

static ngx_uint_t
has(u_char *text, u_char *last, const char *line)
{
    size_t   len;
    u_char  *p, *nl;

    len = ngx_strlen(line);

    for (p = text; p < last; p = nl + 1) {
        nl = ngx_strlchr(p, last, '\n');
        if (nl == NULL) {
            return 0;
        }

        if ((size_t) (nl - p) == len && ngx_strncmp(p, line, len) == 0) {
            return 1;
        }
    }

    return 0;
}
