
/*
 * ngx_http_crm_module: rate limits per principal in shared memory.
 *
 * Two windows per principal (per minute and per hour by default), each
 * enforced with GCRA: a request is admitted when it arrives no earlier
 * than its theoretical arrival time minus the window, so a window of
 * limit L admits a burst of L and then one request every window / L; no
 * fixed-window edge lets 2L through at a boundary.  A request must
 * conform to both windows and is counted in both, atomically, under the
 * zone's mutex, so the limit holds across all workers of the host.
 *
 * The zone is an rbtree of principals plus an LRU queue in a slab pool
 * (as nginx's limit_req); it survives reloads, and when it is full the
 * least recently seen principals are forgotten instead of failing.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "stages/crm_stages.h"


#define CRM_LIMIT_KEY_MAX     48
#define CRM_LIMIT_ADDR_MAX    (sizeof("crm:af:/64") + NGX_SOCKADDR_STRLEN)


typedef struct {
    ngx_str_node_t            sn;           /* key: the principal */
    ngx_queue_t               queue;
    uint64_t                  tat[CRM_LIMIT_WINDOWS];  /* us */
    u_char                    data[1];
} crm_limit_node_t;


typedef struct {
    ngx_rbtree_t              rbtree;
    ngx_rbtree_node_t         sentinel;
    ngx_queue_t               queue;
} crm_limit_sh_t;


struct crm_limit_zone_s {
    crm_limit_sh_t           *sh;
    ngx_slab_pool_t          *shpool;
};


/* a request's rate-limit state (ctx->limit) */

struct crm_limit_state_s {
    ngx_str_t                 key;          /* the principal's */
    ngx_msec_t                wait;
    crm_limit_window_t        win[CRM_LIMIT_WINDOWS];

    struct {                                /* crm_auth_fail_limit */
        ngx_str_t             key;          /* the client's address */
        ngx_uint_t            limit;        /* 0: not evaluated */
        ngx_uint_t            remaining;
        ngx_msec_t            reset;
        unsigned              taken:1;      /* a failure counted ahead */
    } fail;
};


static ngx_int_t crm_limit_init_zone(ngx_shm_zone_t *zone, void *data);
static crm_limit_state_t *crm_limit_state(ngx_http_request_t *r,
    crm_ctx_t *ctx);
static crm_limit_node_t *crm_limit_node(crm_limit_zone_t *lz,
    ngx_str_t *key);
static ngx_int_t crm_limit_local(ngx_http_request_t *r, crm_ctx_t *ctx);
static ngx_uint_t crm_limit_gcra(crm_ctx_t *ctx, crm_limit_window_t *w,
    uint64_t now, uint64_t *tat, ngx_msec_t *wait);
static uint64_t crm_limit_increment(crm_ctx_t *ctx, crm_limit_window_t *w);
static void crm_limit_redis_done(crm_redis_cmd_t *cmd, redisReply *reply,
    void *data);
static ngx_int_t crm_limit_answer(ngx_http_request_t *r, crm_ctx_t *ctx,
    uint64_t now, uint64_t *tat);
static ngx_uint_t crm_limit_budget(crm_limit_window_t *w, uint64_t now,
    uint64_t *tat, ngx_uint_t *remaining, ngx_msec_t *reset);
static ngx_int_t crm_limit_headers(ngx_http_request_t *r, ngx_uint_t limit,
    ngx_uint_t remaining, ngx_msec_t reset);
static ngx_int_t crm_limit_header(ngx_http_request_t *r, const char *name,
    ngx_uint_t value);
static ngx_int_t crm_limit_fail_key(ngx_http_request_t *r, ngx_str_t *key);


/*
 * The same GCRA in Redis, for a limit shared by hosts: Redis' clock, both
 * windows counted only when both conform.  Returns {wait, now, tat...} in
 * microseconds (stored as integer strings: Lua's default number format
 * would round them).
 */

static ngx_str_t  crm_limit_script = ngx_string(
    "local t = redis.call('TIME') "
    "local now = t[1] * 1000000 + t[2] "
    "local v = redis.call('HMGET', KEYS[1], 'a', 'b') "
    "local tat = { tonumber(v[1]) or now, tonumber(v[2]) or now } "
    "local nxt = {} "
    "local wait = 0 "
    "for i = 1, 2 do "
    "  local iv = tonumber(ARGV[2 * i - 1]) "
    "  local p = tonumber(ARGV[2 * i]) "
    "  nxt[i] = math.max(tat[i], now) + iv "
    "  local allow = nxt[i] - p "
    "  if now < allow and allow - now > wait then wait = allow - now end "
    "end "
    "if wait == 0 then "
    "  tat = nxt "
    "  redis.call('HSET', KEYS[1], 'a', string.format('%.0f', nxt[1]),"
    "             'b', string.format('%.0f', nxt[2])) "
    "  redis.call('PEXPIRE', KEYS[1],"
    "             math.floor(math.max(ARGV[2], ARGV[4]) / 1000)) "
    "end "
    "return { wait, now, tat[1], tat[2] }");


char *
crm_limit_conf(ngx_conf_t *cf, crm_limit_conf_t *lcf, ngx_str_t *name,
    size_t size)
{
    crm_limit_zone_t  *lz;

    lz = ngx_pcalloc(cf->pool, sizeof(crm_limit_zone_t));
    if (lz == NULL) {
        return NGX_CONF_ERROR;
    }

    lcf->zone = ngx_shared_memory_add(cf, name, size, &ngx_http_crm_module);
    if (lcf->zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (lcf->zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "zone \"%V\" is already used", name);
        return NGX_CONF_ERROR;
    }

    lcf->zone->init = crm_limit_init_zone;
    lcf->zone->data = lz;

    return NGX_CONF_OK;
}


static ngx_int_t
crm_limit_init_zone(ngx_shm_zone_t *zone, void *data)
{
    crm_limit_zone_t  *olz = data;

    size_t             len;
    crm_limit_zone_t  *lz;

    lz = zone->data;

    if (olz) {
        /* a reload: the counters go on */
        lz->sh = olz->sh;
        lz->shpool = olz->shpool;
        return NGX_OK;
    }

    lz->shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists) {
        lz->sh = lz->shpool->data;
        return NGX_OK;
    }

    lz->sh = ngx_slab_alloc(lz->shpool, sizeof(crm_limit_sh_t));
    if (lz->sh == NULL) {
        return NGX_ERROR;
    }

    lz->shpool->data = lz->sh;

    ngx_rbtree_init(&lz->sh->rbtree, &lz->sh->sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_queue_init(&lz->sh->queue);

    len = sizeof(" in crm_rate_limit zone \"\"") + zone->shm.name.len;

    lz->shpool->log_ctx = ngx_slab_alloc(lz->shpool, len);
    if (lz->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(lz->shpool->log_ctx, " in crm_rate_limit zone \"%V\"%Z",
                &zone->shm.name);

    lz->shpool->log_nomem = 0;

    return NGX_OK;
}


/*
 * NGX_OK: admitted (headers set); NGX_AGAIN: asking Redis, "next"
 * resumes; NGX_ABORT: answered (429, or an error; ctx->rc).  The key is
 * the principal's kind and id (a static key: its workspace).
 */

ngx_int_t
crm_limit_check(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    u_char              *p;
    ngx_str_t            argv[8];
    ngx_uint_t           i;
    crm_limit_conf_t    *lcf;
    crm_principal_t     *pr;
    crm_limit_window_t  *w;

    lcf = &ctx->mcf->limit;

    if (lcf->zone == NULL) {
        return NGX_OK;
    }

    if (crm_limit_state(r, ctx) == NULL) {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    pr = &ctx->principal;
    w = ctx->limit->win;

    /* the key's own limits, where it has them */

    for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
        w[i] = lcf->window[i];

        if (pr->limit[i] != 0) {
            w[i].limit = pr->limit[i];
            w[i].interval = ngx_max(1, w[i].period / w[i].limit);
        }
    }

    p = ngx_pnalloc(r->pool, CRM_LIMIT_KEY_MAX + 8 * NGX_INT64_LEN);
    if (p == NULL) {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    ctx->limit->key.data = p;
    p = ngx_snprintf(p, CRM_LIMIT_KEY_MAX, "crm:rl:%ui:%V", pr->kind,
                     pr->id.len ? &pr->id : &pr->workspace);
    ctx->limit->key.len = p - ctx->limit->key.data;

    if (lcf->cluster && ctx->mcf->redis != NULL
        && crm_redis_up(ctx->mcf->redis))
    {
        /* one script call: the limit holds across hosts */

        ngx_str_set(&argv[0], "EVAL");
        argv[1] = crm_limit_script;
        ngx_str_set(&argv[2], "1");
        argv[3] = ctx->limit->key;

        for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
            argv[4 + 2 * i].data = p;
            p = ngx_sprintf(p, "%uL", crm_limit_increment(ctx, &w[i]));
            argv[4 + 2 * i].len = p - argv[4 + 2 * i].data;

            argv[5 + 2 * i].data = p;
            p = ngx_sprintf(p, "%uL", w[i].period);
            argv[5 + 2 * i].len = p - argv[5 + 2 * i].data;
        }


        if (crm_http_redis(r, ctx, crm_limit_redis_done, 8, argv)
            != NULL)
        {
            return NGX_AGAIN;
        }
    }

    return crm_limit_local(r, ctx);
}


/* this host's zone: the limit, or the fallback while Redis is away */

static ngx_int_t
crm_limit_local(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    uint64_t             now, tat[CRM_LIMIT_WINDOWS];
    ngx_uint_t           i;
    ngx_time_t          *tp;
    crm_limit_conf_t    *lcf;
    crm_limit_zone_t    *lz;
    crm_limit_node_t    *node;

    lcf = &ctx->mcf->limit;

    if (lcf->cluster && !ctx->mcf->limit_local) {
        /* once per outage and worker */
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "crm: Redis is unreachable: rate limits fall back "
                      "to this host's zone");
        ctx->mcf->limit_local = 1;
    }

    tp = ngx_timeofday();
    now = ((uint64_t) tp->sec * 1000 + tp->msec) * 1000;

    lz = lcf->zone->data;

    ngx_shmtx_lock(&lz->shpool->mutex);

    node = crm_limit_node(lz, &ctx->limit->key);

    if (node == NULL) {
        ngx_shmtx_unlock(&lz->shpool->mutex);

        /* no memory even after eviction: do not fail the request */
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "crm: rate limit zone is out of memory");
        return NGX_OK;
    }

    crm_limit_gcra(ctx, ctx->limit->win, now, node->tat, &ctx->limit->wait);

    for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
        tat[i] = node->tat[i];
    }

    ngx_shmtx_unlock(&lz->shpool->mutex);

    return crm_limit_answer(r, ctx, now, tat);
}


/*
 * GCRA per window, in microseconds (so that limits up to millions per
 * minute stay exact): interval I = period / limit; a request conforms when
 * now >= TAT + I - period; then TAT = max(TAT, now) + I in every window.
 * Returns whether it conforms; *wait: ms until it would.
 */

static ngx_uint_t
crm_limit_gcra(crm_ctx_t *ctx, crm_limit_window_t *w, uint64_t now,
    uint64_t *tat, ngx_msec_t *wait)
{
    uint64_t           t, us, allow, next[CRM_LIMIT_WINDOWS];
    ngx_uint_t         i;
    crm_limit_conf_t  *lcf;

    lcf = &ctx->mcf->limit;
    us = 0;

    for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
        t = ngx_max(tat[i], now);
        next[i] = t + crm_limit_increment(ctx, &w[i]);
        allow = next[i] - w[i].period;

        if (now < allow && allow - now > us) {
            us = allow - now;
        }
    }

    /* microseconds to whole milliseconds, rounded up */
    *wait = (ngx_msec_t) ((us + 999) / 1000);

    if (*wait != 0 && !lcf->dry_run) {
        return 0;
    }

    for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
        if (*wait == 0) {
            tat[i] = next[i];
        }
    }

    return 1;
}


/*
 * What a request adds to a window's TAT: its interval, or, for one that
 * costs n (a bulk request), n intervals; one larger than the window
 * needs all of it
 */

static uint64_t
crm_limit_increment(crm_ctx_t *ctx, crm_limit_window_t *w)
{
    if (ctx->cost <= 1) {
        return w->interval;
    }

    return ngx_min(w->interval * ctx->cost, w->period);
}


static void
crm_limit_redis_done(crm_redis_cmd_t *cmd, redisReply *reply, void *data)
{
    uint64_t             now, tat[CRM_LIMIT_WINDOWS];
    ngx_int_t            rc;
    ngx_uint_t           i;
    crm_ctx_t           *ctx;
    ngx_http_request_t  *r;

    r = data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_crm_module);

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2 + CRM_LIMIT_WINDOWS)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "crm: rate limit script failed: %s",
                      (reply && reply->type == REDIS_REPLY_ERROR)
                      ? reply->str : "no reply");

        /* degrade to this host's zone, never fail because of Redis */
        rc = crm_limit_local(r, ctx);
        goto done;
    }

    if (ctx->mcf->limit_local) {
        ngx_log_error(NGX_LOG_NOTICE, r->connection->log, 0,
                      "crm: rate limits are cluster-wide again");
        ctx->mcf->limit_local = 0;
    }

    ctx->limit->wait = (ngx_msec_t) ((reply->element[0]->integer + 999)
                                    / 1000);
    now = (uint64_t) reply->element[1]->integer;

    for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
        tat[i] = (uint64_t) reply->element[2 + i]->integer;
    }

    rc = crm_limit_answer(r, ctx, now, tat);

done:

    if (rc == NGX_OK) {
        rc = crm_run_next(r, ctx);

    } else {
        rc = ctx->rc;
    }

    if (rc != NGX_DONE) {
        crm_http_done(r, rc);
    }
}


/*
 * The window closest to exhaustion (the budget a client is shown): its
 * index, the requests it has left and the ms until it is whole again
 */

static ngx_uint_t
crm_limit_budget(crm_limit_window_t *w, uint64_t now, uint64_t *tat,
    ngx_uint_t *remaining, ngx_msec_t *reset)
{
    uint64_t    t;
    ngx_uint_t  i, best, rem[CRM_LIMIT_WINDOWS];

    best = 0;

    for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
        t = ngx_max(tat[i], now);
        rem[i] = (t - now >= w[i].period)
                 ? 0 : (ngx_uint_t) ((w[i].period - (t - now))
                                     / w[i].interval);

        if (rem[i] * w[best].limit < rem[best] * w[i].limit) {
            best = i;
        }
    }

    *remaining = ngx_min(rem[best], w[best].limit);
    *reset = (ngx_msec_t) ((ngx_max(tat[best], now) - now + 999) / 1000);

    return best;
}


/* headers for the window closest to exhaustion; 429 when over */

static ngx_int_t
crm_limit_answer(ngx_http_request_t *r, crm_ctx_t *ctx, uint64_t now,
    uint64_t *tat)
{
    ngx_msec_t           wait, reset;
    ngx_uint_t           best, remaining;
    crm_limit_conf_t    *lcf;
    crm_limit_window_t  *w;

    lcf = &ctx->mcf->limit;
    w = ctx->limit->win;
    wait = ctx->limit->wait;

    if (wait != 0 && lcf->dry_run) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "crm: rate limit exceeded for %V (dry run)",
                      &ctx->limit->key);
        wait = 0;
    }

    best = crm_limit_budget(w, now, tat, &remaining, &reset);

    ctx->limit_remaining = remaining;

    if (crm_limit_headers(r, w[best].limit, remaining, reset) != NGX_OK)
    {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    if (wait == 0) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "crm: rate limit exceeded for %V, retry in %M ms",
                  &ctx->limit->key, wait);

    crm_metrics_inc(ctx->mcf->metrics,
                    limited[CRM_METRICS_LIMIT_REQUESTS]);

    ctx->rc = crm_http_retry(r, CRM_E_RATE_LIMITED,
                             "too many requests, retry later", wait, NULL);
    return NGX_ABORT;
}


/* the principal's node, made when new; least recently used ones go */

static crm_limit_node_t *
crm_limit_node(crm_limit_zone_t *lz, ngx_str_t *key)
{
    size_t              n;
    uint32_t            hash;
    ngx_uint_t          tries;
    ngx_queue_t        *q;
    ngx_str_node_t     *sn;
    crm_limit_node_t   *node;

    hash = ngx_crc32_short(key->data, key->len);

    sn = ngx_str_rbtree_lookup(&lz->sh->rbtree, key, hash);

    if (sn != NULL) {
        node = (crm_limit_node_t *) sn;
        ngx_queue_remove(&node->queue);
        ngx_queue_insert_head(&lz->sh->queue, &node->queue);
        return node;
    }

    n = offsetof(crm_limit_node_t, data) + key->len;

    for (tries = 0; ; tries++) {
        node = ngx_slab_alloc_locked(lz->shpool, n);

        if (node != NULL || tries == 8 || ngx_queue_empty(&lz->sh->queue)) {
            break;
        }

        q = ngx_queue_last(&lz->sh->queue);
        ngx_queue_remove(q);

        node = ngx_queue_data(q, crm_limit_node_t, queue);
        ngx_rbtree_delete(&lz->sh->rbtree, &node->sn.node);
        ngx_slab_free_locked(lz->shpool, node);
        node = NULL;
    }

    if (node == NULL) {
        return NULL;
    }

    ngx_memcpy(node->data, key->data, key->len);
    node->sn.str.data = node->data;
    node->sn.str.len = key->len;
    node->sn.node.key = hash;
    ngx_memzero(node->tat, sizeof(node->tat));

    ngx_rbtree_insert(&lz->sh->rbtree, &node->sn.node);
    ngx_queue_insert_head(&lz->sh->queue, &node->queue);

    return node;
}


/* X-RateLimit-Limit, -Remaining, -Reset (seconds until a full budget) */

static ngx_int_t
crm_limit_headers(ngx_http_request_t *r, ngx_uint_t limit,
    ngx_uint_t remaining, ngx_msec_t reset)
{
    if (crm_limit_header(r, "X-RateLimit-Limit", limit) != NGX_OK
        || crm_limit_header(r, "X-RateLimit-Remaining", remaining) != NGX_OK
        || crm_limit_header(r, "X-RateLimit-Reset", (reset + 999) / 1000)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
crm_limit_header(ngx_http_request_t *r, const char *name, ngx_uint_t value)
{
    u_char     *p;
    ngx_str_t   v;

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v.data = p;
    v.len = ngx_sprintf(p, "%ui", value) - p;

    return crm_http_header_out(r, name, &v);
}


/*
 * Failed authentications per client address (crm_auth_fail_limit): the
 * same GCRA in a zone of its own, on this host.  A failure is counted
 * ahead, before a credential is checked (so that concurrent lookups from
 * one address cannot overshoot the limit), and given back by
 * crm_limit_fail_return() when the credential was good or the database
 * did not answer.  NGX_OK: counted, or not limited; NGX_ABORT: the
 * address has no failure left, answered 429 (ctx->rc).
 */

ngx_int_t
crm_limit_fail_take(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    uint64_t             now, us, t, allow, tat[CRM_LIMIT_WINDOWS];
    ngx_msec_t           wait;
    ngx_uint_t           i, best;
    ngx_time_t          *tp;
    crm_limit_conf_t    *lcf;
    crm_limit_zone_t    *lz;
    crm_limit_node_t    *node;
    crm_limit_window_t  *w;

    lcf = &ctx->mcf->fail_limit;

    if (lcf->zone == NULL) {
        return NGX_OK;
    }

    if (crm_limit_state(r, ctx) == NULL) {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    if (ctx->limit->fail.taken) {
        return NGX_OK;
    }

    if (ctx->limit->fail.key.len == 0
        && crm_limit_fail_key(r, &ctx->limit->fail.key) != NGX_OK)
    {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    w = lcf->window;

    tp = ngx_timeofday();
    now = ((uint64_t) tp->sec * 1000 + tp->msec) * 1000;

    lz = lcf->zone->data;

    ngx_shmtx_lock(&lz->shpool->mutex);

    node = crm_limit_node(lz, &ctx->limit->fail.key);

    if (node == NULL) {
        ngx_shmtx_unlock(&lz->shpool->mutex);

        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "crm: auth failure limit zone is out of memory");
        return NGX_OK;
    }

    us = 0;

    for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
        t = ngx_max(node->tat[i], now);
        allow = t + w[i].interval - w[i].period;

        if (now < allow && allow - now > us) {
            us = allow - now;
        }
    }

    if (us == 0) {
        for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
            node->tat[i] = ngx_max(node->tat[i], now) + w[i].interval;
        }

        ctx->limit->fail.taken = 1;
    }

    for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
        tat[i] = node->tat[i];
    }

    ngx_shmtx_unlock(&lz->shpool->mutex);

    /* the budget shown: the window closest to exhaustion */

    best = crm_limit_budget(w, now, tat, &ctx->limit->fail.remaining,
                            &ctx->limit->fail.reset);

    ctx->limit->fail.limit = w[best].limit;

    if (us == 0) {
        return NGX_OK;
    }

    wait = (ngx_msec_t) ((us + 999) / 1000);

    if (lcf->dry_run) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "crm: too many failed authentications from %V "
                      "(dry run)", &ctx->limit->fail.key);
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "crm: too many failed authentications from %V, "
                  "retry in %M ms", &ctx->limit->fail.key, wait);

    if (crm_limit_fail_headers(r, ctx) != NGX_OK) {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    crm_metrics_inc(ctx->mcf->metrics, limited[CRM_METRICS_LIMIT_AUTH]);

    ctx->rc = crm_http_retry(r, CRM_E_RATE_LIMITED,
                             "too many failed authentications from this "
                             "address, retry later", wait, NULL);
    return NGX_ABORT;
}


/* the failure counted ahead was none: the credential was good */

void
crm_limit_fail_return(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    uint32_t            hash;
    ngx_uint_t          i;
    ngx_str_node_t     *sn;
    crm_limit_conf_t   *lcf;
    crm_limit_zone_t   *lz;
    crm_limit_node_t   *node;

    if (ctx->limit == NULL || !ctx->limit->fail.taken) {
        return;
    }

    ctx->limit->fail.taken = 0;
    ctx->limit->fail.limit = 0;

    lcf = &ctx->mcf->fail_limit;
    lz = lcf->zone->data;

    hash = ngx_crc32_short(ctx->limit->fail.key.data,
                           ctx->limit->fail.key.len);

    ngx_shmtx_lock(&lz->shpool->mutex);

    sn = ngx_str_rbtree_lookup(&lz->sh->rbtree, &ctx->limit->fail.key, hash);

    if (sn != NULL) {
        node = (crm_limit_node_t *) sn;

        for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
            if (node->tat[i] >= lcf->window[i].interval) {
                node->tat[i] -= lcf->window[i].interval;
            }
        }
    }

    ngx_shmtx_unlock(&lz->shpool->mutex);
}


/* X-RateLimit-* on a 401 or 429: the address's failures left */

ngx_int_t
crm_limit_fail_headers(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    if (ctx->limit == NULL || ctx->limit->fail.limit == 0) {
        return NGX_OK;
    }

    return crm_limit_headers(r, ctx->limit->fail.limit,
                             ctx->limit->fail.remaining,
                             ctx->limit->fail.reset);
}


/*
 * The client's address as a zone key: an IPv4 address whole, an IPv6
 * address by its /64 (what one subscriber or host usually gets, so that
 * walking a prefix does not buy fresh budgets)
 */

static ngx_int_t
crm_limit_fail_key(ngx_http_request_t *r, ngx_str_t *key)
{
    u_char                *p;
    size_t                 len;
    ngx_connection_t      *c;
#if (NGX_HAVE_INET6)
    u_char                 addr[16];
    struct sockaddr_in6   *sin6;
#endif

    c = r->connection;

    p = ngx_pnalloc(r->pool, CRM_LIMIT_ADDR_MAX);
    if (p == NULL) {
        return NGX_ERROR;
    }

    key->data = p;
    p = ngx_cpymem(p, "crm:af:", sizeof("crm:af:") - 1);

#if (NGX_HAVE_INET6)
    sin6 = (struct sockaddr_in6 *) c->sockaddr;

    if (c->sockaddr->sa_family == AF_INET6
        && !IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
    {
        ngx_memcpy(addr, sin6->sin6_addr.s6_addr, 8);
        ngx_memzero(addr + 8, 8);

        p += ngx_inet6_ntop(addr, p, NGX_INET6_ADDRSTRLEN);
        p = ngx_cpymem(p, "/64", 3);

        key->len = p - key->data;
        return NGX_OK;
    }
#endif

    len = ngx_min(c->addr_text.len, NGX_SOCKADDR_STRLEN);
    p = ngx_cpymem(p, c->addr_text.data, len);

    key->len = p - key->data;

    return NGX_OK;
}


/* the request's rate-limit state, made when a limit first needs it */

static crm_limit_state_t *
crm_limit_state(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    if (ctx->limit == NULL) {
        ctx->limit = ngx_pcalloc(r->pool, sizeof(crm_limit_state_t));
    }

    return ctx->limit;
}
