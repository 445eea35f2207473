
/*
 * ngx_http_crm_module: the webhook delivery job, and the events'
 * retention.
 *
 * A "webhook" run claims up to "batch" due deliveries (db_webhook_claim():
 * a lease, committed before any HTTP traffic; the oldest open delivery
 * of a record per subscription only, so that a record's events arrive in
 * commit order), signs each event (Standard Webhooks: webhook-id,
 * webhook-timestamp, webhook-signature with the secret and, for 24 hours
 * after a rotation, the previous one), POSTs it through the outbound
 * client (no redirects, crm_webhook_timeout) and records the outcome with
 * db_webhook_result(): 2xx succeeded, 410 failed and the subscription
 * disabled, anything else retried on the crm_webhook_retry schedule
 * (Retry-After honoured when longer, up to a day).
 *
 * A URL that names its host is resolved first, with the http{} block's
 * resolver (ngx_resolve_name(): never a blocking call); the address
 * policy is applied to every address it gets, the transfer connects to
 * the first one it allows, pinned (the client never resolves; Host and
 * TLS SNI carry the name), and crm_webhook_timeout bounds the whole
 * attempt, resolution included.  A name that does not resolve, or only
 * to refused addresses, is a failed attempt like any other.
 *
 * An "events" run deletes up to a batch of events older than
 * crm_events_retention (and their deliveries), and up to a batch of
 * analytics first engagements of buckets that ended before it
 * (sql/070), and runs again at once while it finds full batches.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "model/crm.h"
#include "model/crm_addr.h"
#include "io/crm_pg.h"
#include "io/crm_curl.h"
#include "jobs/crm_jobs.h"
#include "jobs/crm_webhook_job.h"


#define CRM_WEBHOOK_COLUMNS       8
#define CRM_WEBHOOK_BATCH         50
#define CRM_WEBHOOK_CONCURRENCY   10
#define CRM_EVENTS_PURGE_BATCH    1000
#define CRM_EVENTS_PURGE_INTERVAL 60000


typedef struct crm_webhook_run_s   crm_webhook_run_t;


typedef struct {
    crm_webhook_run_t        *wr;
    ngx_str_t                 ws;
    ngx_str_t                 id;
    ngx_str_t                 url;
    ngx_str_t                 secret;
    ngx_str_t                 previous;     /* while it signs too */
    ngx_str_t                 event;
    ngx_str_t                 body;
    ngx_str_t                 host;         /* a name to resolve */
    ngx_resolver_ctx_t       *resolving;    /* while it is resolved */
    ngx_addr_t                addr;         /* the address pinned */
    ngx_msec_t                started;      /* the attempt's start */
    ngx_msec_t                resolve_time;
    crm_xfer_t               *xfer;
    ngx_int_t                 retry_after;  /* seconds; -1: none */
    ngx_int_t                 status;
    ngx_str_t                 error;
    ngx_str_t                 response;
    ngx_uint_t                truncated;
    ngx_msec_t                elapsed;
} crm_webhook_item_t;


struct crm_webhook_run_s {
    crm_job_run_t            *run;
    crm_webhook_conf_t       *conf;
    crm_webhook_item_t       *items;
    ngx_uint_t                nitems;
    ngx_uint_t                next;         /* the next to start */
    ngx_uint_t                active;       /* started, not recorded */
    ngx_uint_t                full;
    unsigned                  releasing:1;
};


static ngx_int_t crm_webhook_start(crm_job_run_t *run);
static void crm_webhook_stop(crm_job_run_t *run);
static void crm_webhook_claimed(crm_pg_req_t *pr, PGresult *res);
static void crm_webhook_next(crm_webhook_run_t *wr);
static ngx_int_t crm_webhook_send(crm_webhook_item_t *it);
static ngx_int_t crm_webhook_resolve(crm_webhook_item_t *it);
static void crm_webhook_resolved(ngx_resolver_ctx_t *ctx);
static void crm_webhook_resolve_cleanup(void *data);
static void crm_webhook_refused(crm_webhook_item_t *it,
    ngx_resolver_ctx_t *ctx);
static ngx_int_t crm_webhook_post(crm_webhook_item_t *it, ngx_addr_t *addr,
    ngx_msec_t timeout);
static ngx_uint_t crm_webhook_https(ngx_str_t *url);
static size_t crm_webhook_header_cb(char *p, size_t size, size_t n,
    void *data);
static void crm_webhook_sent(crm_xfer_t *x);
static void crm_webhook_record(crm_webhook_item_t *it);
static void crm_webhook_recorded(crm_pg_req_t *pr, PGresult *res);
static void crm_webhook_count(crm_metrics_t *m, char *status);
static void crm_webhook_release(crm_webhook_run_t *wr);
static void crm_webhook_released(crm_pg_req_t *pr, PGresult *res);
static void crm_webhook_finish(crm_webhook_run_t *wr);
static ngx_int_t crm_events_purge_start(crm_job_run_t *run);
static void crm_events_purge_stop(crm_job_run_t *run);
static void crm_events_purged(crm_pg_req_t *pr, PGresult *res);
static void crm_webhook_text(ngx_pool_t *pool, ngx_str_t *in,
    ngx_str_t *out);


/* 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h */

static ngx_msec_t  crm_webhook_default_retry[] = {
    5000, 300000, 1800000, 7200000, 18000000, 36000000, 36000000
};


crm_webhook_conf_t *
crm_webhook_conf_create(ngx_pool_t *pool)
{
    crm_webhook_conf_t  *conf;

    conf = ngx_pcalloc(pool, sizeof(crm_webhook_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->enabled = NGX_CONF_UNSET;
    conf->timeout = NGX_CONF_UNSET_MSEC;
    conf->disable_after = NGX_CONF_UNSET_MSEC;
    conf->retention = NGX_CONF_UNSET_MSEC;
    conf->lease = NGX_CONF_UNSET_MSEC;
    conf->https_only = NGX_CONF_UNSET;
    conf->concurrency = NGX_CONF_UNSET_UINT;

    return conf;
}


char *
crm_webhook_conf_init(ngx_conf_t *cf, crm_webhook_conf_t *conf)
{
    u_char      *p;
    ngx_uint_t   i, n;
    ngx_msec_t  *ms;

    ngx_conf_init_value(conf->enabled, 0);
    ngx_conf_init_msec_value(conf->timeout, 15000);
    ngx_conf_init_msec_value(conf->disable_after,
                             (ngx_msec_t) 5 * 24 * 3600 * 1000);

    conf->retention_set = (conf->retention != NGX_CONF_UNSET_MSEC);
    ngx_conf_init_msec_value(conf->retention,
                             (ngx_msec_t) 30 * 24 * 3600 * 1000);

    ngx_conf_init_value(conf->https_only, 0);
    ngx_conf_init_uint_value(conf->concurrency, CRM_WEBHOOK_CONCURRENCY);

    if (conf->concurrency == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "crm_webhook_concurrency must be at least 1");
        return NGX_CONF_ERROR;
    }

    conf->batch = CRM_WEBHOOK_BATCH;

    /* a transfer's time, recording it, and a margin */
    ngx_conf_init_msec_value(conf->lease, 2 * conf->timeout + 30000);

    if (conf->lease <= conf->timeout) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "crm_webhook_lease must be longer than "
                           "crm_webhook_timeout");
        return NGX_CONF_ERROR;
    }

    if (conf->retry != NULL) {
        ms = conf->retry->elts;
        n = conf->retry->nelts;

    } else {
        ms = crm_webhook_default_retry;
        n = sizeof(crm_webhook_default_retry) / sizeof(ngx_msec_t);
    }

    p = ngx_pnalloc(cf->pool, 2 + n * (NGX_INT_T_LEN + sizeof("\" ms\",")));
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    conf->schedule.data = p;
    *p++ = '{';

    for (i = 0; i < n; i++) {
        p = ngx_sprintf(p, i ? ",\"%M ms\"" : "\"%M ms\"", ms[i]);
    }

    *p++ = '}';
    conf->schedule.len = p - conf->schedule.data;

    return NGX_CONF_OK;
}


/* crm_webhook_retry 5s 5m 30m 2h 5h 10h 10h: the waits before retries */

char *
crm_webhook_conf_retry(ngx_conf_t *cf, crm_webhook_conf_t *conf)
{
    ngx_str_t   *value;
    ngx_uint_t   i;
    ngx_msec_t  *ms;

    if (conf->retry != NULL) {
        return "is duplicate";
    }

    conf->retry = ngx_array_create(cf->pool, cf->args->nelts,
                                   sizeof(ngx_msec_t));
    if (conf->retry == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {
        ms = ngx_array_push(conf->retry);
        if (ms == NULL) {
            return NGX_CONF_ERROR;
        }

        *ms = ngx_parse_time(&value[i], 0);

        if (*ms == (ngx_msec_t) NGX_ERROR || *ms == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "crm_webhook_retry: invalid time \"%V\"",
                               &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


void
crm_webhook_job_init(crm_webhook_conf_t *conf, ngx_msec_t interval)
{
    ngx_str_set(&conf->kind.name, "webhook");
    conf->kind.interval = interval;
    conf->kind.concurrency = 1;
    conf->kind.deadline = conf->lease / 2;
    conf->kind.start = crm_webhook_start;
    conf->kind.stop = crm_webhook_stop;
    conf->kind.data = conf;

    ngx_str_set(&conf->purge.name, "events");
    conf->purge.interval = CRM_EVENTS_PURGE_INTERVAL;
    conf->purge.concurrency = 1;
    conf->purge.deadline = CRM_EVENTS_PURGE_INTERVAL;
    conf->purge.start = crm_events_purge_start;
    conf->purge.stop = crm_events_purge_stop;
    conf->purge.data = conf;
}


static ngx_int_t
crm_webhook_start(crm_job_run_t *run)
{
    crm_stmt_t          *st;
    crm_webhook_run_t   *wr;
    crm_webhook_conf_t  *conf;

    conf = run->data;

    wr = ngx_pcalloc(run->pool, sizeof(crm_webhook_run_t));
    if (wr == NULL) {
        return NGX_ERROR;
    }

    wr->run = run;
    wr->conf = conf;
    run->state = wr;

    st = crm_sql_fixed(run->pool,
             "SELECT workspace_id, id, url, secret, previous_secret, "
             "event_id, body, attempts FROM db_webhook_claim($1::integer, "
             "$2::interval, $3, $4::integer)", 4);
    if (st == NULL) {
        return NGX_ERROR;
    }

    if (crm_sql_set_num(st, 0, "%i", conf->batch) != NGX_OK
        || crm_sql_set_num(st, 1, "%i ms", conf->lease) != NGX_OK
        || crm_sql_set(st, 2, &conf->owner) != NGX_OK
        || crm_sql_set_num(st, 3, "%i", conf->concurrency) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return crm_job_exec(run, conf->pool, st, crm_webhook_claimed, wr);
}


static void
crm_webhook_stop(crm_job_run_t *run)
{
    crm_webhook_run_t  *wr;

    wr = run->state;

    if (wr->items == NULL) {
        return;
    }

    crm_webhook_release(wr);
}


static void
crm_webhook_claimed(crm_pg_req_t *pr, PGresult *res)
{
    int                  n, i;
    ngx_pool_t          *pool;
    crm_webhook_run_t   *wr;
    crm_webhook_conf_t  *conf;
    crm_webhook_item_t  *it;

    wr = pr->data;
    conf = wr->conf;
    pool = wr->run->pool;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQnfields(res) != CRM_WEBHOOK_COLUMNS)
    {
        crm_job_failed(&conf->failed, wr->run->log, "webhooks",
                       "claiming deliveries", res);
        crm_job_done(wr->run, 0);
        return;
    }

    crm_job_recovered(&conf->failed, wr->run->log,
                      "webhook delivery claims work");

    n = PQntuples(res);

    if (n == 0) {
        crm_job_done(wr->run, 0);
        return;
    }

    /*
     * a claim that got work runs again as soon as this one is done: a
     * subscription at its cap (crm_webhook_concurrency) has more
     */
    wr->full = 1;

    wr->items = ngx_pcalloc(pool, n * sizeof(crm_webhook_item_t));
    if (wr->items == NULL) {
        crm_job_done(wr->run, 0);
        return;
    }

    wr->nitems = n;

    for (i = 0; i < n; i++) {
        it = &wr->items[i];
        it->wr = wr;
        it->retry_after = -1;

        if (crm_job_value(pool, res, i, 0, &it->ws) != NGX_OK
            || crm_job_value(pool, res, i, 1, &it->id) != NGX_OK
            || crm_job_value(pool, res, i, 2, &it->url) != NGX_OK
            || crm_job_value(pool, res, i, 3, &it->secret) != NGX_OK
            || crm_job_value(pool, res, i, 4, &it->previous) != NGX_OK
            || crm_job_value(pool, res, i, 5, &it->event) != NGX_OK
            || crm_job_value(pool, res, i, 6, &it->body) != NGX_OK)
        {
            /* out of memory: the leases bring them back */
            crm_job_done(wr->run, 0);
            return;
        }

        /* the payload as the API renders records: compact */

        if (it->body.data != NULL) {
            it->body.len = crm_render_compact(it->body.data, it->body.data,
                                              it->body.len)
                           - it->body.data;
            it->body.data[it->body.len] = '\0';
        }
    }

    ngx_log_debug1(NGX_LOG_DEBUG_CORE, wr->run->log, 0,
                   "crm: webhook delivery claimed %ui", wr->nitems);

    if (wr->run->stopping) {
        crm_webhook_release(wr);
        return;
    }

    crm_webhook_next(wr);
}


/* every claimed delivery at once: the client queues beyond its limit */

static void
crm_webhook_next(crm_webhook_run_t *wr)
{
    crm_webhook_item_t  *it;

    while (!wr->run->stopping && wr->next < wr->nitems) {
        it = &wr->items[wr->next++];
        wr->active++;

        if (crm_webhook_send(it) != NGX_OK) {
            /* recorded as a failed attempt: it is retried */
            crm_webhook_record(it);
        }
    }

    crm_webhook_finish(wr);
}


static ngx_int_t
crm_webhook_send(crm_webhook_item_t *it)
{
    ngx_str_t            host;
    in_port_t            port;
    crm_webhook_conf_t  *conf;

    conf = it->wr->conf;

    it->started = ngx_current_msec;

    ngx_str_set(&it->error, "the request could not be made");

    if (conf->https_only && !crm_webhook_https(&it->url)) {
        /* a subscription made before https only: no packet is sent */
        ngx_str_set(&it->error, "refused: an http:// URL while "
                                "crm_webhook_https_only is on");
        return NGX_ERROR;
    }

    if (crm_addr_url_host(&it->url, &host, &port) == CRM_ADDR_URL_NAME) {
        it->host = host;
        return crm_webhook_resolve(it);
    }

    /* an IP literal: the client checks it when it connects */

    return crm_webhook_post(it, NULL, conf->timeout);
}


/*
 * NGX_OK: crm_webhook_resolved() is called (maybe already, from a cached
 * answer); NGX_ERROR: it->error says why
 */

static ngx_int_t
crm_webhook_resolve(crm_webhook_item_t *it)
{
    u_char              *p;
    ngx_pool_t          *pool;
    ngx_resolver_ctx_t  *ctx;
    ngx_pool_cleanup_t  *cln;
    crm_webhook_conf_t  *conf;

    conf = it->wr->conf;
    pool = it->wr->run->pool;

    ctx = NGX_NO_RESOLVER;

    if (conf->resolver != NULL) {
        ctx = ngx_resolve_start(conf->resolver, NULL);
        if (ctx == NULL) {
            return NGX_ERROR;
        }
    }

    if (ctx == NGX_NO_RESOLVER) {
        /* made on a server that has one, delivered by one that has not */
        ngx_str_set(&it->error, "the URL names a host and this server has "
                                "no resolver (the \"resolver\" directive "
                                "of its http{} block)");
        return NGX_ERROR;
    }

    /* the resolver lowercases the name in place: a copy of the URL's */

    p = ngx_pnalloc(pool, it->host.len);
    cln = ngx_pool_cleanup_add(pool, 0);

    if (p == NULL || cln == NULL) {
        ngx_resolve_name_done(ctx);
        return NGX_ERROR;
    }

    ngx_memcpy(p, it->host.data, it->host.len);

    ctx->name.data = p;
    ctx->name.len = it->host.len;
    ctx->handler = crm_webhook_resolved;
    ctx->data = it;
    ctx->timeout = ngx_min(conf->resolver_timeout, conf->timeout);

    cln->handler = crm_webhook_resolve_cleanup;
    cln->data = it;

    it->resolving = ctx;

    ngx_log_debug1(NGX_LOG_DEBUG_CORE, it->wr->run->log, 0,
                   "crm: webhook delivery resolves \"%V\"", &it->host);

    if (ngx_resolve_name(ctx) != NGX_OK) {
        /* ctx is freed */
        it->resolving = NULL;
        ngx_str_set(&it->error, "the host name could not be resolved: "
                                "the resolver failed");
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
crm_webhook_resolved(ngx_resolver_ctx_t *ctx)
{
    u_char              *p;
    size_t               len;
    ngx_int_t            i;
    ngx_msec_t           left;
    ngx_pool_t          *pool;
    crm_webhook_conf_t  *conf;
    crm_webhook_item_t  *it;

    it = ctx->data;
    it->resolving = NULL;

    conf = it->wr->conf;
    pool = it->wr->run->pool;

    it->resolve_time = ngx_current_msec - it->started;
    it->elapsed = it->resolve_time;

    if (ctx->state != NGX_OK || ctx->naddrs == 0) {
        len = sizeof("could not resolve \"\": ") - 1 + it->host.len
              + 64;

        p = ngx_pnalloc(pool, len);
        if (p != NULL) {
            it->error.data = p;
            it->error.len = ngx_snprintf(p, len,
                                         "could not resolve \"%V\": %s",
                                         &it->host,
                                         ctx->state != NGX_OK
                                         ? ngx_resolver_strerror(ctx->state)
                                         : "no address")
                            - p;
        }

        ngx_log_error(NGX_LOG_INFO, it->wr->run->log, 0,
                      "crm: webhook delivery %V: %V", &it->id, &it->error);

        ngx_resolve_name_done(ctx);
        crm_webhook_record(it);
        return;
    }

    i = crm_addr_pick(ctx->addrs, ctx->naddrs, conf->allow);

    if (i == NGX_DECLINED) {
        crm_webhook_refused(it, ctx);

        ngx_log_error(NGX_LOG_INFO, it->wr->run->log, 0,
                      "crm: webhook delivery %V: %V", &it->id, &it->error);

        ngx_resolve_name_done(ctx);
        crm_webhook_record(it);
        return;
    }

    /* the resolver's memory goes with ctx: a copy */

    it->addr.socklen = ctx->addrs[i].socklen;
    it->addr.sockaddr = ngx_palloc(pool, it->addr.socklen);

    if (it->addr.sockaddr == NULL) {
        ngx_resolve_name_done(ctx);
        crm_webhook_record(it);
        return;
    }

    ngx_memcpy(it->addr.sockaddr, ctx->addrs[i].sockaddr,
               it->addr.socklen);
    ngx_str_null(&it->addr.name);

    ngx_resolve_name_done(ctx);

    if (it->resolve_time >= conf->timeout) {
        ngx_str_set(&it->error, "the attempt timed out while the host "
                                "name was resolved");
        crm_webhook_record(it);
        return;
    }

    left = conf->timeout - it->resolve_time;

    if (crm_webhook_post(it, &it->addr, left) != NGX_OK) {
        crm_webhook_record(it);
    }
}


/* the run's pool goes (the worker exits) while the name is resolved */

static void
crm_webhook_resolve_cleanup(void *data)
{
    crm_webhook_item_t *it = data;

    if (it->resolving != NULL) {
        ngx_resolve_name_done(it->resolving);
        it->resolving = NULL;
    }
}


/*
 * "address refused: <name> resolves only to addresses the outbound
 * address policy refuses (crm_outbound_allow): 127.0.0.2 loopback, ..."
 */

static void
crm_webhook_refused(crm_webhook_item_t *it, ngx_resolver_ctx_t *ctx)
{
    u_char      *p, *last;
    size_t       len;
    ngx_uint_t   i, n;
    const char  *reason;

    n = ngx_min(ctx->naddrs, 4);

    len = sizeof("address refused: \"\" resolves only to addresses the "
                 "outbound address policy refuses (crm_outbound_allow):")
          + it->host.len
          + n * (NGX_SOCKADDR_STRLEN + 32) + sizeof(", ...");

    p = ngx_pnalloc(it->wr->run->pool, len);
    if (p == NULL) {
        ngx_str_set(&it->error, "address refused: the host name resolves "
                                "only to addresses the outbound address "
                                "policy refuses (crm_outbound_allow)");
        return;
    }

    it->error.data = p;
    last = p + len;

    p = ngx_slprintf(p, last, "address refused: \"%V\" resolves only to "
                              "addresses the outbound address policy "
                              "refuses (crm_outbound_allow):", &it->host);

    for (i = 0; i < n; i++) {
        reason = NULL;

        (void) crm_addr_allowed(ctx->addrs[i].sockaddr,
                                ctx->addrs[i].socklen, NULL, &reason);

        p = ngx_slprintf(p, last, i ? ", " : " ");
        p += ngx_sock_ntop(ctx->addrs[i].sockaddr, ctx->addrs[i].socklen,
                           p, last - p, 0);
        p = ngx_slprintf(p, last, " %s", reason ? reason : "refused");
    }

    if (ctx->naddrs > n) {
        p = ngx_slprintf(p, last, ", ...");
    }

    it->error.len = p - it->error.data;
}


/* signs the event and starts its transfer; "addr": a name's, pinned */

static ngx_int_t
crm_webhook_post(crm_webhook_item_t *it, ngx_addr_t *addr,
    ngx_msec_t timeout)
{
    u_char              *p;
    CURLcode             rc;
    ngx_str_t            ts, sig, sig2, *h;
    ngx_pool_t          *pool;
    ngx_array_t         *headers;
    crm_webhook_run_t   *wr;
    crm_webhook_conf_t  *conf;

    wr = it->wr;
    conf = wr->conf;
    pool = wr->run->pool;

    ngx_str_set(&it->error, "the request could not be made");

    ts.data = ngx_pnalloc(pool, NGX_TIME_T_LEN);
    if (ts.data == NULL) {
        return NGX_ERROR;
    }

    ts.len = ngx_sprintf(ts.data, "%T", ngx_time()) - ts.data;

    if (crm_webhook_sign(pool, &it->secret, &it->event, &ts, &it->body,
                         &sig)
        != NGX_OK)
    {
        ngx_str_set(&it->error, "the subscription's secret is malformed");
        return NGX_ERROR;
    }

    ngx_str_null(&sig2);

    if (it->previous.len > 0
        && crm_webhook_sign(pool, &it->previous, &it->event, &ts, &it->body,
                            &sig2)
           != NGX_OK)
    {
        ngx_str_null(&sig2);
    }

    headers = ngx_array_create(pool, 5, sizeof(ngx_str_t));
    if (headers == NULL) {
        return NGX_ERROR;
    }

    h = ngx_array_push_n(headers, 5);
    if (h == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&h[0], "Content-Type: application/json");
    ngx_str_set(&h[1], "User-Agent: ngx_http_crm_module-webhooks");

    p = ngx_pnalloc(pool, sizeof("webhook-id: ") + it->event.len
                          + sizeof("webhook-timestamp: ") + ts.len
                          + sizeof("webhook-signature: ") + sig.len
                          + 1 + sig2.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    h[2].data = p;
    p = ngx_sprintf(p, "webhook-id: %V", &it->event);
    h[2].len = p - h[2].data;

    h[3].data = p;
    p = ngx_sprintf(p, "webhook-timestamp: %V", &ts);
    h[3].len = p - h[3].data;

    h[4].data = p;
    p = ngx_sprintf(p, "webhook-signature: %V", &sig);

    if (sig2.len > 0) {
        p = ngx_sprintf(p, " %V", &sig2);
    }

    h[4].len = p - h[4].data;

    it->xfer = crm_curl_post(conf->curl, pool, wr->run->log, &it->url, addr,
                             headers, &it->body);
    if (it->xfer == NULL) {
        ngx_str_set(&it->error, "the URL cannot be requested");
        return NGX_ERROR;
    }

    /* this kind's own timeout, and the Retry-After of a refusal */

    rc = curl_easy_setopt(it->xfer->easy, CURLOPT_TIMEOUT_MS,
                          (long) timeout);
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(it->xfer->easy, CURLOPT_HEADERFUNCTION,
                              crm_webhook_header_cb);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(it->xfer->easy, CURLOPT_HEADERDATA, it);
    }

    if (rc != CURLE_OK) {
        crm_curl_abort(it->xfer);
        it->xfer = NULL;
        return NGX_ERROR;
    }

    if (crm_curl_start(it->xfer, crm_webhook_sent, it) != NGX_OK) {
        it->xfer = NULL;
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_uint_t
crm_webhook_https(ngx_str_t *url)
{
    return url->len > sizeof("https://") - 1
           && ngx_strncasecmp(url->data, (u_char *) "https://",
                              sizeof("https://") - 1)
              == 0;
}


/* "Retry-After: <seconds>" or an HTTP date */

static size_t
crm_webhook_header_cb(char *p, size_t size, size_t n, void *data)
{
    crm_webhook_item_t *it = data;

    u_char     *v, *last;
    time_t      t;
    size_t      len;
    ngx_int_t   secs;

    len = size * n;

    if (len < sizeof("Retry-After:") - 1
        || ngx_strncasecmp((u_char *) p, (u_char *) "Retry-After:",
                           sizeof("Retry-After:") - 1)
           != 0)
    {
        return len;
    }

    v = (u_char *) p + sizeof("Retry-After:") - 1;
    last = (u_char *) p + len;

    while (v < last && (*v == ' ' || *v == '\t')) {
        v++;
    }

    while (last > v && (last[-1] == '\r' || last[-1] == '\n'
                        || last[-1] == ' '))
    {
        last--;
    }

    secs = ngx_atoi(v, last - v);

    if (secs == NGX_ERROR) {
        t = ngx_parse_http_time(v, last - v);
        secs = (t == NGX_ERROR) ? -1 : ngx_max(t - ngx_time(), 0);
    }

    it->retry_after = secs;

    return len;
}


static void
crm_webhook_sent(crm_xfer_t *x)
{
    size_t               len;
    u_char              *p;
    crm_webhook_item_t  *it;

    it = x->data;
    it->xfer = NULL;

    it->status = x->status;
    it->elapsed = it->resolve_time + x->elapsed;
    it->truncated = x->truncated;

    crm_webhook_text(it->wr->run->pool, &x->response, &it->response);

    ngx_str_null(&it->error);

    if (x->refused) {
        ngx_str_set(&it->error, "the address is refused by the outbound "
                                "address policy (crm_outbound_allow)");

    } else if (x->result == CURLE_FILESIZE_EXCEEDED && x->status > 0) {
        /*
         * the receiver answered, with a body it announced larger than
         * is kept or read (CURLOPT_MAXFILESIZE): its status is the
         * answer, the body is cut to nothing
         */
        it->truncated = 1;

    } else if (x->result != CURLE_OK) {
        len = ngx_strlen(x->error);
        p = (u_char *) x->error;

        if (len == 0) {
            p = (u_char *) curl_easy_strerror(x->result);
            len = ngx_strlen(p);
        }

        it->error.data = ngx_pnalloc(it->wr->run->pool, len);
        if (it->error.data != NULL) {
            ngx_memcpy(it->error.data, p, len);
            it->error.len = len;
        }

    } else if (x->status >= 300 && x->status < 400) {
        ngx_str_set(&it->error, "a redirect: redirects are not followed");

    } else if (x->status < 200 || x->status >= 300) {
        ngx_str_set(&it->error, "the receiver did not answer 2xx");
    }

    crm_webhook_record(it);
}


static void
crm_webhook_record(crm_webhook_item_t *it)
{
    crm_stmt_t          *st;
    crm_webhook_run_t   *wr;
    crm_webhook_conf_t  *conf;

    wr = it->wr;
    conf = wr->conf;

    st = crm_sql_fixed(wr->run->pool,
             "SELECT db_webhook_outcome($1::uuid, $2::uuid, $3, $4::integer, "
             "$5, $6, $7::boolean, $8::integer, $9::integer, "
             "$10::interval[], $11::interval)", 11);
    if (st == NULL) {
        goto failed;
    }

    if (crm_sql_set(st, 0, &it->ws) != NGX_OK
        || crm_sql_set(st, 1, &it->id) != NGX_OK
        || crm_sql_set(st, 2, &conf->owner) != NGX_OK
        || (it->status > 0
            ? crm_sql_set_num(st, 3, "%i", it->status)
            : crm_sql_set(st, 3, NULL))
           != NGX_OK
        || crm_sql_set(st, 4, it->error.len ? &it->error : NULL)
           != NGX_OK
        || crm_sql_set(st, 5, it->status > 0 ? &it->response : NULL)
           != NGX_OK
        || crm_sql_set_num(st, 6, "%i", it->truncated) != NGX_OK
        || crm_sql_set_num(st, 7, "%i", it->elapsed) != NGX_OK
        || (it->retry_after >= 0
            ? crm_sql_set_num(st, 8, "%i", it->retry_after)
            : crm_sql_set(st, 8, NULL))
           != NGX_OK
        || crm_sql_set(st, 9, &conf->schedule) != NGX_OK
        || crm_sql_set_num(st, 10, "%i ms", conf->disable_after)
           != NGX_OK)
    {
        goto failed;
    }

    if (crm_job_exec(wr->run, conf->pool, st, crm_webhook_recorded, it)
        != NGX_OK)
    {
        goto failed;
    }

    return;

failed:

    wr->active--;
    crm_webhook_finish(wr);
}


static void
crm_webhook_recorded(crm_pg_req_t *pr, PGresult *res)
{
    crm_webhook_run_t   *wr;
    crm_webhook_item_t  *it;

    it = pr->data;
    wr = it->wr;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* the lease brings it back: delivered again, same webhook-id */
        crm_job_failed(&wr->conf->failed, wr->run->log, "webhooks",
                       "recording an outcome", res);

    } else if (PQgetisnull(res, 0, 0)) {
        ngx_log_error(NGX_LOG_WARN, wr->run->log, 0,
                      "crm: webhook delivery %V: the lease ran out before "
                      "the outcome was recorded; another worker has it",
                      &it->id);

    } else {
        crm_webhook_count(wr->conf->metrics, PQgetvalue(res, 0, 0));

        ngx_log_debug2(NGX_LOG_DEBUG_CORE, wr->run->log, 0,
                       "crm: webhook delivery %V: %i", &it->id, it->status);
    }

    wr->active--;

    crm_webhook_finish(wr);
}


/* the status db_webhook_outcome() left the delivery in */

static void
crm_webhook_count(crm_metrics_t *m, char *status)
{
    if (ngx_strcmp(status, "succeeded") == 0) {
        crm_metrics_inc(m, webhook[CRM_METRICS_HOOK_DELIVERED]);

    } else if (ngx_strcmp(status, "pending") == 0) {
        crm_metrics_inc(m, webhook[CRM_METRICS_HOOK_RETRIED]);

    } else if (ngx_strcmp(status, "failed") == 0) {
        crm_metrics_inc(m, webhook[CRM_METRICS_HOOK_FAILED]);
    }
}


/* claimed and not started: back, as they were */

static void
crm_webhook_release(crm_webhook_run_t *wr)
{
    u_char        *ws, *ids, *p;
    ngx_str_t      v;
    ngx_uint_t     i;
    crm_stmt_t    *st;

    if (wr->releasing || wr->next >= wr->nitems) {
        crm_webhook_finish(wr);
        return;
    }

    st = crm_sql_fixed(wr->run->pool,
                       "SELECT db_webhook_release($1, $2::uuid[], "
                       "$3::uuid[])", 3);

    ws = ngx_pnalloc(wr->run->pool, 2 + wr->nitems * 37);
    ids = ngx_pnalloc(wr->run->pool, 2 + wr->nitems * 37);

    if (st == NULL || ws == NULL || ids == NULL
        || crm_sql_set(st, 0, &wr->conf->owner) != NGX_OK)
    {
        wr->next = wr->nitems;
        crm_webhook_finish(wr);
        return;
    }

    v.data = ws;
    p = ids;
    *ws++ = '{';
    *p++ = '{';

    for (i = wr->next; i < wr->nitems; i++) {
        if (i > wr->next) {
            *ws++ = ',';
            *p++ = ',';
        }

        ws = ngx_cpymem(ws, wr->items[i].ws.data, wr->items[i].ws.len);
        p = ngx_cpymem(p, wr->items[i].id.data, wr->items[i].id.len);
    }

    *ws++ = '}';
    *p++ = '}';

    v.len = ws - v.data;
    (void) crm_sql_set(st, 1, &v);

    v.data = ids;
    v.len = p - ids;
    (void) crm_sql_set(st, 2, &v);

    ngx_log_error(NGX_LOG_NOTICE, wr->run->log, 0,
                  "crm: webhook delivery stops: %ui claimed deliveries go "
                  "back to the queue", wr->nitems - wr->next);

    wr->next = wr->nitems;
    wr->releasing = 1;

    if (crm_job_exec(wr->run, wr->conf->pool, st, crm_webhook_released, wr)
        != NGX_OK)
    {
        wr->releasing = 0;
        crm_webhook_finish(wr);
    }
}


static void
crm_webhook_released(crm_pg_req_t *pr, PGresult *res)
{
    crm_webhook_run_t  *wr;

    wr = pr->data;
    wr->releasing = 0;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        crm_job_failed(&wr->conf->failed, wr->run->log, "webhooks",
                       "releasing deliveries", res);
    }

    crm_webhook_finish(wr);
}


static void
crm_webhook_finish(crm_webhook_run_t *wr)
{
    if (wr->active > 0 || wr->releasing) {
        return;
    }

    if (wr->next < wr->nitems) {
        if (!wr->run->stopping) {
            return;
        }

        crm_webhook_release(wr);
        return;
    }

    crm_job_done(wr->run, wr->full && !wr->run->stopping);
}


/* retention: a batch of old events, again at once while batches are full */

static ngx_int_t
crm_events_purge_start(crm_job_run_t *run)
{
    crm_stmt_t          *st;
    crm_webhook_conf_t  *conf;

    conf = run->data;

    st = crm_sql_fixed(run->pool, "SELECT db_events_purge($1::interval, "
                                 "$2::integer)", 2);
    if (st == NULL
        || crm_sql_set_num(st, 0, "%i ms", conf->retention) != NGX_OK
        || crm_sql_set_num(st, 1, "%i", CRM_EVENTS_PURGE_BATCH)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return crm_job_exec(run, conf->pool, st, crm_events_purged, run);
}


static void
crm_events_purge_stop(crm_job_run_t *run)
{
    /* the statement in flight ends the run */
}


static void
crm_events_purged(crm_pg_req_t *pr, PGresult *res)
{
    ngx_int_t            n;
    crm_job_run_t       *run;
    crm_webhook_conf_t  *conf;

    run = pr->data;
    conf = run->data;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        crm_job_failed(&conf->purge_failed, run->log, "webhooks",
                       "deleting old events", res);
        crm_job_done(run, 0);
        return;
    }

    conf->purge_failed = 0;

    n = ngx_atoi((u_char *) PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0));

    if (n > 0) {
        ngx_log_error(NGX_LOG_INFO, run->log, 0,
                      "crm: events retention: %i rows deleted (events, "
                      "analytics first engagements)", n);
    }

    crm_job_done(run, n >= CRM_EVENTS_PURGE_BATCH && !run->stopping);
}


/*
 * A response body as text PostgreSQL takes: NUL and bytes that are not
 * UTF-8 become "?"
 */

static void
crm_webhook_text(ngx_pool_t *pool, ngx_str_t *in, ngx_str_t *out)
{
    u_char    *p, *q, *last, *d;
    uint32_t   c;

    ngx_str_null(out);

    if (in->len == 0) {
        ngx_str_set(out, "");
        return;
    }

    out->data = ngx_pnalloc(pool, in->len);
    if (out->data == NULL) {
        return;
    }

    p = in->data;
    last = p + in->len;
    d = out->data;

    while (p < last) {
        if (*p < 0x80) {
            *d++ = (*p == '\0') ? '?' : *p;
            p++;
            continue;
        }

        q = p;
        c = ngx_utf8_decode(&q, last - p);

        if (c > 0x10ffff) {
            *d++ = '?';
            p++;
            continue;
        }

        d = ngx_cpymem(d, p, q - p);
        p = q;
    }

    out->len = d - out->data;
}
