
/*
 * ngx_http_crm_module: the metrics' pure parts: which bucket, which slot,
 * label escaping, and the Prometheus text exposition format (version
 * 0.0.4) of a crm_metrics_t.  No I/O: the zone and the handlers are in
 * src/handlers/crm_metrics.c, the counting where things happen.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "model/crm.h"
#include "model/crm_metrics.h"


static u_char *crm_metrics_head(u_char *p, u_char *last, const char *name,
    const char *type, const char *help);
static u_char *crm_metrics_single(u_char *p, u_char *last,
    const char *name, const char *type, const char *help,
    ngx_atomic_uint_t value);
static u_char *crm_metrics_route(u_char *p, ngx_uint_t f, ngx_uint_t r);
static u_char *crm_metrics_requests(u_char *p, u_char *last,
    crm_metrics_t *m);
static u_char *crm_metrics_latency(u_char *p, u_char *last,
    crm_metrics_t *m);
static u_char *crm_metrics_pools(u_char *p, u_char *last, crm_metrics_t *m);
static u_char *crm_metrics_redis(u_char *p, u_char *last, crm_metrics_t *m);
static u_char *crm_metrics_queues(u_char *p, u_char *last, crm_metrics_t *m);
static u_char *crm_metrics_counters(u_char *p, u_char *last,
    crm_metrics_t *m);
static u_char *crm_metrics_labelled(u_char *p, u_char *last,
    const char *name, const char *help, const char *label,
    const char **values, crm_metric_t *c, ngx_uint_t n);


/* the route kinds' names (crm_route_kind_e), then the other locations */

static const char  *crm_metrics_families[CRM_METRICS_FAMILIES] = {
    "none", "health", "collection", "item", "link", "action",
    "item_action", "metadata", "bulk", "search", "analytics",
    "tracking", "metrics"
};


static const char  *crm_metrics_methods[CRM_METRICS_METHODS] = {
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "other"
};


/*
 * The status codes counted on their own: the API's and nginx's own; any
 * other is counted in its class ("4xx"), or as "other" outside 100-599
 */

static ngx_uint_t  crm_metrics_codes[] = {
    200, 201, 202, 204, 301, 302, 304,
    400, 401, 403, 404, 405, 408, 409, 411, 412, 413, 414, 415, 422, 424,
    429, 444, 494, 499,
    500, 501, 502, 503, 504, 505
};

#define CRM_METRICS_NCODES                                                   \
    (sizeof(crm_metrics_codes) / sizeof(crm_metrics_codes[0]))

/* the table and the layout agree: the classes and "other" follow it */
typedef char  crm_metrics_codes_fit[
    (CRM_METRICS_NCODES + 6 == CRM_METRICS_CODES) ? 1 : -1];


/* the buckets' upper bounds in milliseconds, and as written (seconds) */

static ngx_msec_int_t  crm_metrics_le_ms[CRM_METRICS_BUCKETS - 1] = {
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000
};

static const char  *crm_metrics_le[CRM_METRICS_BUCKETS] = {
    "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5",
    "5", "10", "+Inf"
};


/* queue="...",state="..." of each of crm_metrics_t's queues[] */
static const char  *crm_metrics_queue_labels[CRM_METRICS_QUEUES] = {
    "queue=\"email\",state=\"waiting\"",
    "queue=\"email\",state=\"sending\"",
    "queue=\"webhook\",state=\"waiting\"",
    "queue=\"webhook\",state=\"sending\""
};

static const char  *crm_metrics_pools_names[CRM_METRICS_POOLS] = {
    "main", "heavy"
};

static const char  *crm_metrics_redis_errors[CRM_METRICS_REDIS_ERRORS] = {
    "connect", "lost", "command"
};

static const char  *crm_metrics_limits[CRM_METRICS_LIMITS] = {
    "requests", "auth_failures", "heavy"
};

static const char  *crm_metrics_auth_hits[2] = {
    "positive", "negative"
};

static const char  *crm_metrics_email[CRM_METRICS_EMAIL_OUTCOMES] = {
    "sent", "bounced", "deferred", "failed"
};

static const char  *crm_metrics_hooks[CRM_METRICS_HOOK_OUTCOMES] = {
    "delivered", "retried", "failed"
};


/* the first bucket whose bound is at least "ms": "le" is inclusive */

ngx_uint_t
crm_metrics_bucket(ngx_msec_int_t ms)
{
    ngx_uint_t  i;

    for (i = 0; i < CRM_METRICS_BUCKETS - 1; i++) {
        if (ms <= crm_metrics_le_ms[i]) {
            return i;
        }
    }

    return CRM_METRICS_BUCKETS - 1;
}


ngx_uint_t
crm_metrics_code(ngx_uint_t status)
{
    ngx_uint_t  i;

    for (i = 0; i < CRM_METRICS_NCODES; i++) {
        if (crm_metrics_codes[i] == status) {
            return i;
        }
    }

    if (status >= 100 && status < 600) {
        return CRM_METRICS_NCODES + status / 100 - 1;
    }

    return CRM_METRICS_CODES - 1;
}


/* by name: a method nginx does not know has none of its bits */

ngx_uint_t
crm_metrics_method(ngx_str_t *name)
{
    ngx_uint_t  i;

    for (i = 0; i < CRM_METRICS_METHODS - 1; i++) {
        if (name->len == ngx_strlen(crm_metrics_methods[i])
            && ngx_strncmp(name->data, crm_metrics_methods[i], name->len)
               == 0)
        {
            return i;
        }
    }

    return CRM_METRICS_METHODS - 1;
}


/* 0 for none, else 1 + the descriptor's place in crm_schema_all() */

ngx_uint_t
crm_metrics_resource(crm_resource_t *res)
{
    ngx_uint_t       n, i;
    crm_resource_t  *all;

    if (res == NULL) {
        return 0;
    }

    all = crm_schema_all(&n);

    if (res < all || res >= all + n) {
        return 0;
    }

    i = res - all + 1;

    return (i < CRM_METRICS_RESOURCES) ? i : 0;
}


/* a request answered: its counter, its bucket and the latencies' sum */

void
crm_metrics_request(crm_metrics_t *m, ngx_uint_t family, ngx_uint_t resource,
    ngx_str_t *method, ngx_uint_t status, ngx_msec_int_t ms)
{
    if (family >= CRM_METRICS_FAMILIES) {
        family = CRM_METRICS_FAMILY_NONE;
    }

    if (resource >= CRM_METRICS_RESOURCES) {
        resource = 0;
    }

    if (ms < 0) {
        ms = 0;
    }

    (void) ngx_atomic_fetch_add(&m->requests[family][resource]
                                    [crm_metrics_method(method)]
                                    [crm_metrics_code(status)], 1);

    (void) ngx_atomic_fetch_add(
        &m->latency[family][resource][crm_metrics_bucket(ms)], 1);

    (void) ngx_atomic_fetch_add(&m->latency_ms[family][resource], ms);
}


/* a zone's first use, or one of another layout */

void
crm_metrics_reset(crm_metrics_t *m)
{
    ngx_memzero(m, sizeof(crm_metrics_t));
    m->magic = CRM_METRICS_MAGIC;
}


/* a label value's escapes: backslash, double quote and line feed */

size_t
crm_metrics_escape_len(u_char *s, size_t len)
{
    size_t  n;

    for (n = len; len; len--, s++) {
        if (*s == '\\' || *s == '"' || *s == '\n') {
            n++;
        }
    }

    return n;
}


u_char *
crm_metrics_escape(u_char *dst, u_char *s, size_t len)
{
    for ( /* void */ ; len; len--, s++) {

        switch (*s) {

        case '\\':
            *dst++ = '\\';
            *dst++ = '\\';
            break;

        case '"':
            *dst++ = '\\';
            *dst++ = '"';
            break;

        case '\n':
            *dst++ = '\\';
            *dst++ = 'n';
            break;

        default:
            *dst++ = *s;
        }
    }

    return dst;
}


/*
 * The whole exposition into [p, last): NULL when it does not fit (the
 * caller tries again with more room).  Values are read once each, while
 * the workers go on counting: a histogram's _count is the sum of the
 * buckets written, so the two always agree within one scrape.
 */

u_char *
crm_metrics_write(u_char *p, u_char *last, crm_metrics_t *m)
{
    p = crm_metrics_requests(p, last, m);

    if (p != NULL) {
        p = crm_metrics_latency(p, last, m);
    }

    if (p != NULL) {
        p = crm_metrics_pools(p, last, m);
    }

    if (p != NULL) {
        p = crm_metrics_redis(p, last, m);
    }

    if (p != NULL) {
        p = crm_metrics_counters(p, last, m);
    }

    if (p != NULL) {
        p = crm_metrics_queues(p, last, m);
    }

    return p;
}


static u_char *
crm_metrics_head(u_char *p, u_char *last, const char *name,
    const char *type, const char *help)
{
    if (last - p < CRM_METRICS_LINE) {
        return NULL;
    }

    return ngx_slprintf(p, last, "# HELP %s %s\n# TYPE %s %s\n",
                        name, help, name, type);
}


/* a metric of one value, without labels; p may be NULL (no room before) */

static u_char *
crm_metrics_single(u_char *p, u_char *last, const char *name,
    const char *type, const char *help, ngx_atomic_uint_t value)
{
    if (p != NULL) {
        p = crm_metrics_head(p, last, name, type, help);
    }

    if (p == NULL || last - p < CRM_METRICS_LINE) {
        return NULL;
    }

    return ngx_sprintf(p, "%s %uA\n", name, value);
}


/* family="...",resource="..." (the resource's name needs no escape, but
   it is a label value: escaped all the same) */

static u_char *
crm_metrics_route(u_char *p, ngx_uint_t f, ngx_uint_t r)
{
    ngx_uint_t       n;
    crm_resource_t  *all;

    p = ngx_sprintf(p, "family=\"%s\",resource=\"", crm_metrics_families[f]);

    if (r > 0) {
        all = crm_schema_all(&n);

        if (r - 1 < n && all[r - 1].name.len < CRM_METRICS_LINE / 4) {
            p = crm_metrics_escape(p, all[r - 1].name.data,
                                   all[r - 1].name.len);
        }
    }

    *p++ = '"';

    return p;
}


static u_char *
crm_metrics_requests(u_char *p, u_char *last, crm_metrics_t *m)
{
    ngx_uint_t         f, r, k, c;
    ngx_atomic_uint_t  v;

    p = crm_metrics_head(p, last, "crm_http_requests_total", "counter",
                         "Requests answered in the module's locations, by "
                         "route family, resource, method and status code.");

    for (f = 0; p != NULL && f < CRM_METRICS_FAMILIES; f++) {
        for (r = 0; r < CRM_METRICS_RESOURCES; r++) {
            for (k = 0; k < CRM_METRICS_METHODS; k++) {
                for (c = 0; c < CRM_METRICS_CODES; c++) {

                    v = m->requests[f][r][k][c];
                    if (v == 0) {
                        continue;
                    }

                    if (last - p < CRM_METRICS_LINE) {
                        return NULL;
                    }

                    p = ngx_sprintf(p, "crm_http_requests_total{");
                    p = crm_metrics_route(p, f, r);
                    p = ngx_sprintf(p, ",method=\"%s\",code=\"",
                                    crm_metrics_methods[k]);

                    if (c < CRM_METRICS_NCODES) {
                        p = ngx_sprintf(p, "%ui", crm_metrics_codes[c]);

                    } else if (c < CRM_METRICS_CODES - 1) {
                        p = ngx_sprintf(p, "%uixx",
                                        c - CRM_METRICS_NCODES + 1);

                    } else {
                        p = ngx_sprintf(p, "other");
                    }

                    p = ngx_sprintf(p, "\"} %uA\n", v);
                }
            }
        }
    }

    return p;
}


static u_char *
crm_metrics_latency(u_char *p, u_char *last, crm_metrics_t *m)
{
    ngx_uint_t         f, r, b, seen;
    ngx_atomic_uint_t  sum, ms, n[CRM_METRICS_BUCKETS];

    p = crm_metrics_head(p, last, "crm_http_request_duration_seconds",
                         "histogram",
                         "Time from the request's first byte to its log "
                         "phase, by route family and resource.");

    for (f = 0; p != NULL && f < CRM_METRICS_FAMILIES; f++) {
        for (r = 0; r < CRM_METRICS_RESOURCES; r++) {

            seen = 0;

            for (b = 0; b < CRM_METRICS_BUCKETS; b++) {
                n[b] = m->latency[f][r][b];
                seen |= (n[b] != 0);
            }

            if (!seen) {
                continue;
            }

            ms = m->latency_ms[f][r];
            sum = 0;

            for (b = 0; b < CRM_METRICS_BUCKETS; b++) {

                if (last - p < CRM_METRICS_LINE) {
                    return NULL;
                }

                sum += n[b];

                p = ngx_sprintf(p, "crm_http_request_duration_seconds_bucket{");
                p = crm_metrics_route(p, f, r);
                p = ngx_sprintf(p, ",le=\"%s\"} %uA\n", crm_metrics_le[b],
                                sum);
            }

            if (last - p < 2 * CRM_METRICS_LINE) {
                return NULL;
            }

            p = ngx_sprintf(p, "crm_http_request_duration_seconds_sum{");
            p = crm_metrics_route(p, f, r);
            p = ngx_sprintf(p, "} %uA.%03uA\n", ms / 1000, ms % 1000);

            p = ngx_sprintf(p, "crm_http_request_duration_seconds_count{");
            p = crm_metrics_route(p, f, r);
            p = ngx_sprintf(p, "} %uA\n", sum);
        }
    }

    return p;
}


/*
 * The pools: gauges by worker slot (the slots whose worker runs), the
 * counters summed over every slot (a slot's counts stay when its worker
 * goes)
 */

static u_char *
crm_metrics_pools(u_char *p, u_char *last, crm_metrics_t *m)
{
    size_t                 off;
    ngx_uint_t             i, k, w;
    ngx_atomic_uint_t      v;
    crm_metrics_worker_t  *wk;

    static const struct {
        const char  *name;
        const char  *type;
        const char  *help;
        size_t       off;
    } pg[] = {
        { "crm_pg_connections_open", "gauge",
          "Connections of the worker's PostgreSQL pool that are open.",
          offsetof(crm_metrics_pg_t, open) },
        { "crm_pg_connections_busy", "gauge",
          "Connections of the worker's pool running a statement.",
          offsetof(crm_metrics_pg_t, busy) },
        { "crm_pg_queue_length", "gauge",
          "Requests waiting in the worker's pool queue for a connection.",
          offsetof(crm_metrics_pg_t, waiting) },
        { "crm_pg_queue_timeouts_total", "counter",
          "Requests that waited crm_postgres_queue_timeout for a "
          "connection in vain (503).",
          offsetof(crm_metrics_pg_t, timeouts) },
        { "crm_pg_queue_full_total", "counter",
          "Requests refused because the pool queue was full (503).",
          offsetof(crm_metrics_pg_t, full) },
        { "crm_pg_reconnects_total", "counter",
          "Connections opened to replace one that was closed (lost, "
          "timed out, broken).",
          offsetof(crm_metrics_pg_t, reconnects) },
        { "crm_pg_connect_failures_total", "counter",
          "Connection attempts that failed.",
          offsetof(crm_metrics_pg_t, connect_failures) }
    };

    for (i = 0; i < sizeof(pg) / sizeof(pg[0]); i++) {

        p = crm_metrics_head(p, last, pg[i].name, pg[i].type, pg[i].help);
        if (p == NULL) {
            return NULL;
        }

        off = pg[i].off;

        for (k = 0; k < CRM_METRICS_POOLS; k++) {

            if (pg[i].type[0] == 'c') {
                v = 0;

                for (w = 0; w < CRM_METRICS_WORKERS; w++) {
                    v += *(crm_metric_t *) ((u_char *) &m->workers[w].pg[k]
                                            + off);
                }

                if (last - p < CRM_METRICS_LINE) {
                    return NULL;
                }

                p = ngx_sprintf(p, "%s{pool=\"%s\"} %uA\n", pg[i].name,
                                crm_metrics_pools_names[k], v);
                continue;
            }

            for (w = 0; w < CRM_METRICS_WORKERS; w++) {
                wk = &m->workers[w];

                if (wk->pid == 0) {
                    continue;
                }

                if (last - p < CRM_METRICS_LINE) {
                    return NULL;
                }

                v = *(crm_metric_t *) ((u_char *) &wk->pg[k] + off);

                p = ngx_sprintf(p, "%s{pool=\"%s\",worker=\"%ui\"} %uA\n",
                                pg[i].name, crm_metrics_pools_names[k], w, v);
            }
        }
    }

    return p;
}


static u_char *
crm_metrics_redis(u_char *p, u_char *last, crm_metrics_t *m)
{
    ngx_uint_t  w;

    p = crm_metrics_head(p, last, "crm_redis_up", "gauge",
                         "1 while the worker's Redis connection is ready, "
                         "0 while it is down or not configured.");

    for (w = 0; p != NULL && w < CRM_METRICS_WORKERS; w++) {

        if (m->workers[w].pid == 0) {
            continue;
        }

        if (last - p < CRM_METRICS_LINE) {
            return NULL;
        }

        p = ngx_sprintf(p, "crm_redis_up{worker=\"%ui\"} %uA\n", w,
                        m->workers[w].redis_up);
    }

    if (p == NULL) {
        return NULL;
    }

    return crm_metrics_labelled(p, last, "crm_redis_errors_total",
                                "Redis failures: connects that failed, "
                                "connections lost, commands without a "
                                "reply.",
                                "error", crm_metrics_redis_errors,
                                m->redis_errors, CRM_METRICS_REDIS_ERRORS);
}


static u_char *
crm_metrics_counters(u_char *p, u_char *last, crm_metrics_t *m)
{
    p = crm_metrics_labelled(p, last, "crm_rate_limit_rejections_total",
                             "Requests refused with 429 by crm_rate_limit "
                             "(requests), crm_auth_fail_limit "
                             "(auth_failures) or the workspace share of "
                             "crm_postgres_heavy (heavy).",
                             "limit", crm_metrics_limits, m->limited,
                             CRM_METRICS_LIMITS);

    if (p == NULL) {
        return NULL;
    }

    p = crm_metrics_single(p, last, "crm_idempotency_replays_total",
                           "counter",
                           "Responses replayed for a repeated "
                           "Idempotency-Key.",
                           m->idempotency_replays);

    if (p == NULL) {
        return NULL;
    }

    p = crm_metrics_labelled(p, last, "crm_auth_cache_hits_total",
                             "Credentials found in the auth cache: known "
                             "(positive) or known to be unknown "
                             "(negative).",
                             "kind", crm_metrics_auth_hits, m->auth_cache,
                             2);

    if (p == NULL) {
        return NULL;
    }

    p = crm_metrics_single(p, last, "crm_auth_cache_misses_total",
                           "counter",
                           "Credentials looked up in PostgreSQL: not in "
                           "the auth cache, or stale there.",
                           m->auth_cache[CRM_METRICS_AUTH_MISS]);

    if (p == NULL) {
        return NULL;
    }

    p = crm_metrics_labelled(p, last, "crm_email_deliveries_total",
                             "Delivery attempts of queued emails, by the "
                             "outcome recorded.",
                             "outcome", crm_metrics_email, m->email,
                             CRM_METRICS_EMAIL_OUTCOMES);

    if (p == NULL) {
        return NULL;
    }

    return crm_metrics_labelled(p, last, "crm_webhook_deliveries_total",
                                "Webhook delivery attempts, by the outcome "
                                "recorded.",
                                "outcome", crm_metrics_hooks, m->webhook,
                                CRM_METRICS_HOOK_OUTCOMES);
}


/* a counter with one label of fixed values, each written, 0 or not */

static u_char *
crm_metrics_labelled(u_char *p, u_char *last, const char *name,
    const char *help, const char *label, const char **values,
    crm_metric_t *c, ngx_uint_t n)
{
    ngx_uint_t  i;

    p = crm_metrics_head(p, last, name, "counter", help);

    for (i = 0; p != NULL && i < n; i++) {

        if (last - p < CRM_METRICS_LINE) {
            return NULL;
        }

        p = ngx_sprintf(p, "%s{%s=\"%s\"} %uA\n", name, label, values[i],
                        c[i]);
    }

    return p;
}


/*
 * The outboxes' depths, once a job has read them (none before: a gauge
 * that was never read is not written as 0)
 */

static u_char *
crm_metrics_queues(u_char *p, u_char *last, crm_metrics_t *m)
{
    ngx_uint_t  i;

    if (m->queues_read == 0) {
        return p;
    }

    p = crm_metrics_head(p, last, "crm_queue_depth", "gauge",
                         "Emails and webhook deliveries in the outboxes of "
                         "the whole cluster, waiting or being sent, as "
                         "PostgreSQL counted them last (up to "
                         "crm_queue_depth_limit).");

    for (i = 0; p != NULL && i < CRM_METRICS_QUEUES; i++) {

        if (last - p < CRM_METRICS_LINE) {
            return NULL;
        }

        p = ngx_sprintf(p, "crm_queue_depth{%s} %uA\n",
                        crm_metrics_queue_labels[i], m->queues[i]);
    }

    p = crm_metrics_single(p, last, "crm_queue_depth_limit", "gauge",
                           "The most crm_queue_depth counts: a depth this "
                           "high means at least this many.",
                           CRM_METRICS_QUEUE_LIMIT);

    return crm_metrics_single(p, last, "crm_queue_depth_timestamp_seconds",
                              "gauge",
                              "When crm_queue_depth was read (Unix time).",
                              m->queues_read);
}
