
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
 *
 * With "cluster" the zone still decides every request, with no round
 * trip: a principal's count is the cluster's TAT as Redis last answered
 * plus what this host admitted since.  What a host admits is sent to
 * Redis in one script call per principal (which adds it to the cluster's
 * TAT and answers the result) after crm_rate_limit_sync_requests
 * admissions, or at the latest crm_rate_limit_sync after the first of
 * them: at once from the request that makes it due, otherwise from a
 * per-worker timer that walks the zone's queue of principals with
 * something to send.  The error this allows is in docs/DESIGN.md.  While
 * Redis is away nothing is sent and the zone goes on counting: the
 * fallback to this host's limit.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "stages/crm_stages.h"


#define CRM_LIMIT_KEY_MAX     48
#define CRM_LIMIT_ADDR_MAX    (sizeof("crm:af:/64") + NGX_SOCKADDR_STRLEN)
#define CRM_LIMIT_SYNC_BATCH  64            /* syncs sent per timer run */


typedef struct {
    ngx_str_node_t            sn;           /* key: the principal */
    ngx_queue_t               queue;
    ngx_queue_t               dirty;        /* in sh->dirty */
    crm_limit_count_t         count;
    ngx_uint_t                is_dirty;
    u_char                    data[1];
} crm_limit_node_t;


typedef struct {
    ngx_rbtree_t              rbtree;
    ngx_rbtree_node_t         sentinel;
    ngx_queue_t               queue;
    ngx_queue_t               dirty;        /* admissions to send */
    ngx_uint_t                seq;          /* syncs sent */
} crm_limit_sh_t;


struct crm_limit_zone_s {
    crm_limit_sh_t           *sh;
    ngx_slab_pool_t          *shpool;
};


/* one principal's sync with Redis in flight, in a pool of its own */

typedef struct {
    ngx_pool_t               *pool;
    ngx_http_crm_main_conf_t *mcf;
    ngx_str_t                 key;
    ngx_uint_t                seq;
    uint64_t                  delta[CRM_LIMIT_WINDOWS];
} crm_limit_sync_t;


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
static crm_limit_node_t *crm_limit_lookup(crm_limit_zone_t *lz,
    ngx_str_t *key);
static uint64_t crm_limit_now(void);
static void crm_limit_sync_conf(ngx_http_crm_main_conf_t *mcf,
    crm_limit_sync_conf_t *sc);
static ngx_int_t crm_limit_count(ngx_http_request_t *r, crm_ctx_t *ctx);
static crm_limit_sync_t *crm_limit_sync_take(ngx_http_crm_main_conf_t *mcf,
    crm_limit_zone_t *lz, crm_limit_node_t *node, uint64_t now);
static void crm_limit_sync_send(crm_limit_sync_t *s, ngx_log_t *log);
static void crm_limit_synced(crm_redis_cmd_t *cmd, redisReply *reply,
    void *data);
static void crm_limit_dirty(ngx_http_crm_main_conf_t *mcf,
    crm_limit_zone_t *lz, crm_limit_node_t *node);
static void crm_limit_sync_handler(ngx_event_t *ev);
static void crm_limit_redis_state(ngx_http_crm_main_conf_t *mcf,
    ngx_log_t *log, ngx_uint_t down);
static ngx_int_t crm_limit_answer(ngx_http_request_t *r, crm_ctx_t *ctx,
    uint64_t now, uint64_t *tat);
static ngx_int_t crm_limit_headers(ngx_http_request_t *r, ngx_uint_t limit,
    ngx_uint_t remaining, ngx_msec_t reset);
static ngx_int_t crm_limit_header(ngx_http_request_t *r, const char *name,
    ngx_uint_t value);
static ngx_int_t crm_limit_fail_key(ngx_http_request_t *r, ngx_str_t *key);


/*
 * A host's admissions added to the cluster's TAT (ARGV[1], ARGV[2]: us
 * per window; 0 adds nothing), on Redis' clock: TAT = max(TAT, now) +
 * delta.  Returns {now, tat...} in microseconds (stored as integer
 * strings: Lua's default number format would round them).  The same
 * hash as a per-request GCRA would keep.
 */

static ngx_str_t  crm_limit_script = ngx_string(
    "local t = redis.call('TIME') "
    "local now = t[1] * 1000000 + t[2] "
    "local v = redis.call('HMGET', KEYS[1], 'a', 'b') "
    "local r = { now, 0, 0 } "
    "local add = false "
    "for i = 1, 2 do "
    "  local tat = tonumber(v[i]) or now "
    "  local d = tonumber(ARGV[i]) "
    "  if d > 0 then tat = math.max(tat, now) + d add = true end "
    "  r[i + 1] = tat "
    "end "
    "if add then "
    "  redis.call('HSET', KEYS[1], 'a', string.format('%.0f', r[2]),"
    "             'b', string.format('%.0f', r[3])) "
    "  redis.call('PEXPIRE', KEYS[1], ARGV[3]) "
    "end "
    "return r");


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
    ngx_queue_init(&lz->sh->dirty);
    lz->sh->seq = 0;

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


/* the worker's flush timer of a cluster limit */

ngx_int_t
crm_limit_init_process(ngx_cycle_t *cycle, ngx_http_crm_main_conf_t *mcf)
{
    if (mcf->limit.zone == NULL || !mcf->limit.cluster) {
        return NGX_OK;
    }

    mcf->limit_sync.handler = crm_limit_sync_handler;
    mcf->limit_sync.data = mcf;
    mcf->limit_sync.log = cycle->log;
    mcf->limit_sync.cancelable = 1;

    return NGX_OK;
}


/*
 * NGX_OK: admitted (headers set); NGX_ABORT: answered (429, or an error;
 * ctx->rc).  The key is the principal's kind and crm_http_subject():
 * a key's id, a session's user, a static key's workspace.
 */

ngx_int_t
crm_limit_check(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    u_char              *p;
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

    p = ngx_pnalloc(r->pool, CRM_LIMIT_KEY_MAX);
    if (p == NULL) {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    ctx->limit->key.data = p;
    p = ngx_snprintf(p, CRM_LIMIT_KEY_MAX, "crm:rl:%ui:%V", pr->kind,
                     crm_http_subject(pr));
    ctx->limit->key.len = p - ctx->limit->key.data;

    return crm_limit_count(r, ctx);
}


/*
 * The decision, in this host's zone: the limit of a host, or, with
 * "cluster", the cluster's count as last read plus this host's since
 */

static ngx_int_t
crm_limit_count(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    uint64_t                now, us, inc[CRM_LIMIT_WINDOWS];
    uint64_t                tat[CRM_LIMIT_WINDOWS];
    ngx_uint_t              i, down;
    crm_limit_conf_t       *lcf;
    crm_limit_zone_t       *lz;
    crm_limit_node_t       *node;
    crm_limit_sync_t       *sync;
    crm_limit_window_t     *w;
    crm_limit_sync_conf_t   sc;

    lcf = &ctx->mcf->limit;
    w = ctx->limit->win;
    sync = NULL;
    down = 0;

    for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
        inc[i] = crm_limit_increment(&w[i], ctx->cost);
    }

    now = crm_limit_now();

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

    us = crm_limit_wait(w, inc, now, node->count.tat);

    if (us == 0) {
        crm_limit_take(&node->count, inc, now);
    }

    if (lcf->cluster) {
        crm_limit_sync_conf(ctx->mcf, &sc);

        if (!crm_limit_sync_due(&node->count, &sc, now)) {
            crm_limit_dirty(ctx->mcf, lz, node);

        } else if (crm_redis_up(ctx->mcf->redis)) {
            sync = crm_limit_sync_take(ctx->mcf, lz, node, now);

        } else {
            crm_limit_dirty(ctx->mcf, lz, node);
            down = 1;
        }
    }

    for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
        tat[i] = node->count.tat[i];
    }

    ngx_shmtx_unlock(&lz->shpool->mutex);

    if (down) {
        crm_limit_redis_state(ctx->mcf, r->connection->log, 1);
    }

    if (sync != NULL) {
        crm_limit_sync_send(sync, r->connection->log);
    }

    /* microseconds to whole milliseconds, rounded up */
    ctx->limit->wait = (ngx_msec_t) ((us + 999) / 1000);

    return crm_limit_answer(r, ctx, now, tat);
}


static uint64_t
crm_limit_now(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return ((uint64_t) tp->sec * 1000 + tp->msec) * 1000;
}


static void
crm_limit_sync_conf(ngx_http_crm_main_conf_t *mcf, crm_limit_sync_conf_t *sc)
{
    sc->interval = (uint64_t) mcf->limit_sync_interval * 1000;
    sc->requests = mcf->limit_sync_requests;
}


/*
 * Under the zone's mutex: the node's admissions become a sync to send
 * (NULL: no memory for it; the node waits for the timer)
 */

static crm_limit_sync_t *
crm_limit_sync_take(ngx_http_crm_main_conf_t *mcf, crm_limit_zone_t *lz,
    crm_limit_node_t *node, uint64_t now)
{
    ngx_pool_t        *pool;
    crm_limit_sync_t  *s;

    /* it may outlive the request: the cycle's log, not the request's */

    pool = ngx_create_pool(512, ngx_cycle->log);
    if (pool == NULL) {
        crm_limit_dirty(mcf, lz, node);
        return NULL;
    }

    s = ngx_palloc(pool, sizeof(crm_limit_sync_t));
    if (s == NULL) {
        goto failed;
    }

    s->key.data = ngx_pnalloc(pool, node->sn.str.len);
    if (s->key.data == NULL) {
        goto failed;
    }

    ngx_memcpy(s->key.data, node->sn.str.data, node->sn.str.len);
    s->key.len = node->sn.str.len;
    s->pool = pool;
    s->mcf = mcf;
    s->seq = ++lz->sh->seq;

    crm_limit_sync_start(&node->count, now, s->delta);
    node->count.seq = s->seq;

    if (node->is_dirty) {
        ngx_queue_remove(&node->dirty);
        node->is_dirty = 0;
    }

    return s;

failed:

    ngx_destroy_pool(pool);
    crm_limit_dirty(mcf, lz, node);
    return NULL;
}


/* outside the mutex: one script call, answered in crm_limit_synced() */

static void
crm_limit_sync_send(crm_limit_sync_t *s, ngx_log_t *log)
{
    u_char             *p;
    uint64_t            expire;
    ngx_str_t           argv[7];
    ngx_uint_t          i;
    crm_limit_conf_t   *lcf;
    crm_limit_zone_t   *lz;
    crm_limit_node_t   *node;

    lcf = &s->mcf->limit;

    p = ngx_pnalloc(s->pool, 3 * NGX_INT64_LEN);
    if (p == NULL) {
        goto failed;
    }

    ngx_str_set(&argv[0], "EVAL");
    argv[1] = crm_limit_script;
    ngx_str_set(&argv[2], "1");
    argv[3] = s->key;

    expire = 0;

    for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
        argv[4 + i].data = p;
        p = ngx_sprintf(p, "%uL", s->delta[i]);
        argv[4 + i].len = p - argv[4 + i].data;

        expire = ngx_max(expire, lcf->window[i].period / 1000);
    }

    argv[6].data = p;
    p = ngx_sprintf(p, "%uL", expire);
    argv[6].len = p - argv[6].data;

    if (crm_redis_command(s->mcf->redis, s->pool, crm_limit_synced, s, 7,
                          argv)
        != NULL)
    {
        return;
    }

failed:

    /* not sent: pending again, for the timer */

    lz = lcf->zone->data;

    ngx_shmtx_lock(&lz->shpool->mutex);

    node = crm_limit_lookup(lz, &s->key);

    if (node != NULL && node->count.syncing && node->count.seq == s->seq) {
        crm_limit_sync_failed(&node->count, crm_limit_now());
        crm_limit_dirty(s->mcf, lz, node);
    }

    ngx_shmtx_unlock(&lz->shpool->mutex);

    crm_limit_redis_state(s->mcf, log, 1);

    ngx_destroy_pool(s->pool);
}


static void
crm_limit_synced(crm_redis_cmd_t *cmd, redisReply *reply, void *data)
{
    crm_limit_sync_t  *s = data;

    uint64_t                   now, rnow, rtat[CRM_LIMIT_WINDOWS];
    ngx_uint_t                 i, valid;
    ngx_log_t                 *log;
    crm_limit_zone_t          *lz;
    crm_limit_node_t          *node;
    crm_limit_sync_t          *next;
    crm_limit_sync_conf_t      sc;
    ngx_http_crm_main_conf_t  *mcf;

    mcf = s->mcf;
    log = ngx_cycle->log;
    lz = mcf->limit.zone->data;
    next = NULL;

    valid = (reply != NULL && reply->type == REDIS_REPLY_ARRAY
             && reply->elements == 1 + CRM_LIMIT_WINDOWS);

    for (i = 0; valid && i < 1 + CRM_LIMIT_WINDOWS; i++) {
        if (reply->element[i]->type != REDIS_REPLY_INTEGER
            || reply->element[i]->integer < 0)
        {
            valid = 0;
        }
    }

    if (!valid && reply != NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "crm: rate limit sync failed: %s",
                      (reply->type == REDIS_REPLY_ERROR)
                      ? reply->str : "unexpected reply");
    }

    rnow = 0;

    if (valid) {
        rnow = (uint64_t) reply->element[0]->integer;

        for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
            rtat[i] = (uint64_t) reply->element[1 + i]->integer;
        }
    }

    crm_limit_sync_conf(mcf, &sc);
    now = crm_limit_now();

    ngx_shmtx_lock(&lz->shpool->mutex);

    node = crm_limit_lookup(lz, &s->key);

    /* not the node of this sync when it was forgotten in between */

    if (node != NULL && node->count.syncing && node->count.seq == s->seq) {

        if (valid) {
            crm_limit_sync_done(&node->count, now, rnow, rtat);

            if (crm_limit_sync_due(&node->count, &sc, now)) {
                /* K more came while this one was out */
                next = crm_limit_sync_take(mcf, lz, node, now);
            }

        } else {
            crm_limit_sync_failed(&node->count, now);
        }

        if (next == NULL) {
            crm_limit_dirty(mcf, lz, node);
        }
    }

    ngx_shmtx_unlock(&lz->shpool->mutex);

    crm_limit_redis_state(mcf, log, !valid);

    /* the command lives in this pool: hiredis is done with it */
    ngx_destroy_pool(s->pool);

    if (next != NULL) {
        crm_limit_sync_send(next, log);
    }
}


/*
 * Under the zone's mutex: a node with admissions to send and no sync out
 * joins the queue the timers walk; this worker's timer runs
 */

static void
crm_limit_dirty(ngx_http_crm_main_conf_t *mcf, crm_limit_zone_t *lz,
    crm_limit_node_t *node)
{
    if (node->count.npending == 0 || node->count.syncing || node->is_dirty)
    {
        return;
    }

    ngx_queue_insert_tail(&lz->sh->dirty, &node->dirty);
    node->is_dirty = 1;

    if (!mcf->limit_sync.timer_set && mcf->limit_sync.handler != NULL) {
        ngx_add_timer(&mcf->limit_sync, mcf->limit_sync_interval);
    }
}


/* every worker's timer sends what has waited long enough, in one batch */

static void
crm_limit_sync_handler(ngx_event_t *ev)
{
    ngx_http_crm_main_conf_t  *mcf = ev->data;

    uint64_t                now, left, wake;
    ngx_uint_t              i, n, more, down;
    ngx_queue_t            *q, *nq;
    crm_limit_zone_t       *lz;
    crm_limit_node_t       *node;
    crm_limit_sync_t       *batch[CRM_LIMIT_SYNC_BATCH];
    crm_limit_sync_conf_t   sc;

    lz = mcf->limit.zone->data;

    crm_limit_sync_conf(mcf, &sc);
    now = crm_limit_now();
    down = !crm_redis_up(mcf->redis);
    wake = sc.interval;
    n = 0;

    ngx_shmtx_lock(&lz->shpool->mutex);

    for (q = ngx_queue_head(&lz->sh->dirty);
         !down && q != ngx_queue_sentinel(&lz->sh->dirty)
         && n < CRM_LIMIT_SYNC_BATCH;
         q = nq)
    {
        nq = ngx_queue_next(q);
        node = ngx_queue_data(q, crm_limit_node_t, dirty);

        if (crm_limit_sync_due(&node->count, &sc, now)) {
            batch[n] = crm_limit_sync_take(mcf, lz, node, now);

            if (batch[n] == NULL) {
                break;
            }

            n++;
            continue;
        }

        left = node->count.first + sc.interval - now;
        wake = ngx_min(wake, left);
    }

    more = !ngx_queue_empty(&lz->sh->dirty);

    ngx_shmtx_unlock(&lz->shpool->mutex);

    if (down && more) {
        crm_limit_redis_state(mcf, ev->log, 1);
    }

    for (i = 0; i < n; i++) {
        crm_limit_sync_send(batch[i], ev->log);
    }

    if (more && !ev->timer_set) {
        ngx_add_timer(ev, (n == CRM_LIMIT_SYNC_BATCH)
                          ? 1 : (ngx_msec_t) ((wake + 999) / 1000));
    }
}


/* a change of Redis' state, logged once per outage and worker */

static void
crm_limit_redis_state(ngx_http_crm_main_conf_t *mcf, ngx_log_t *log,
    ngx_uint_t down)
{
    if (down && !mcf->limit_local) {
        ngx_log_error(NGX_LOG_WARN, log, 0,
                      "crm: Redis is unreachable: rate limits fall back "
                      "to this host's zone");
        mcf->limit_local = 1;

    } else if (!down && mcf->limit_local) {
        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "crm: rate limits are cluster-wide again");
        mcf->limit_local = 0;
    }
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

        if (node->is_dirty) {
            /* its admissions are not sent: at most one interval's */
            ngx_queue_remove(&node->dirty);
        }

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
    ngx_memzero(&node->count, sizeof(crm_limit_count_t));
    node->is_dirty = 0;

    ngx_rbtree_insert(&lz->sh->rbtree, &node->sn.node);
    ngx_queue_insert_head(&lz->sh->queue, &node->queue);

    return node;
}


static crm_limit_node_t *
crm_limit_lookup(crm_limit_zone_t *lz, ngx_str_t *key)
{
    uint32_t         hash;
    ngx_str_node_t  *sn;

    hash = ngx_crc32_short(key->data, key->len);

    sn = ngx_str_rbtree_lookup(&lz->sh->rbtree, key, hash);

    return (crm_limit_node_t *) sn;
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
        t = ngx_max(node->count.tat[i], now);
        allow = t + w[i].interval - w[i].period;

        if (now < allow && allow - now > us) {
            us = allow - now;
        }
    }

    if (us == 0) {
        for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
            node->count.tat[i] = ngx_max(node->count.tat[i], now)
                                 + w[i].interval;
        }

        ctx->limit->fail.taken = 1;
    }

    for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
        tat[i] = node->count.tat[i];
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
            if (node->count.tat[i] >= lcf->window[i].interval) {
                node->count.tat[i] -= lcf->window[i].interval;
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
