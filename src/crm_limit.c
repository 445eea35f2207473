
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


#include "crm_module.h"


#define CRM_LIMIT_KEY_MAX     48


typedef struct {
    ngx_str_node_t            sn;           /* key: the principal */
    ngx_queue_t               queue;
    uint64_t                  tat[CRM_LIMIT_WINDOWS];  /* ms */
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


static ngx_int_t crm_limit_init_zone(ngx_shm_zone_t *zone, void *data);
static crm_limit_node_t *crm_limit_node(crm_limit_zone_t *lz,
    ngx_str_t *key);
static ngx_int_t crm_limit_headers(ngx_http_request_t *r, ngx_uint_t limit,
    ngx_uint_t remaining, ngx_msec_t reset);
static ngx_int_t crm_limit_header(ngx_http_request_t *r, const char *name,
    ngx_uint_t value);


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
 * NGX_OK: admitted (headers set); NGX_ABORT: answered 429 (ctx->rc).
 * The principal's key: its kind and id (a static key: its workspace).
 */

ngx_int_t
crm_limit_check(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    u_char              *p;
    uint64_t             now, tat, allow, next[CRM_LIMIT_WINDOWS];
    ngx_str_t            key, retry;
    ngx_msec_t           wait, reset;
    ngx_uint_t           i, best, over, remaining, rem[CRM_LIMIT_WINDOWS];
    ngx_time_t          *tp;
    crm_limit_conf_t    *lcf;
    crm_limit_zone_t    *lz;
    crm_limit_node_t    *node;
    crm_principal_t     *pr;
    u_char               buf[CRM_LIMIT_KEY_MAX];

    lcf = &ctx->mcf->limit;

    if (lcf->zone == NULL) {
        return NGX_OK;
    }

    lz = lcf->zone->data;
    pr = &ctx->principal;

    p = ngx_snprintf(buf, sizeof(buf), "%ui:%V", pr->kind,
                     pr->id.len ? &pr->id : &pr->workspace);
    key.data = buf;
    key.len = p - buf;

    tp = ngx_timeofday();
    now = (uint64_t) tp->sec * 1000 + tp->msec;

    wait = 0;

    ngx_shmtx_lock(&lz->shpool->mutex);

    node = crm_limit_node(lz, &key);

    if (node == NULL) {
        ngx_shmtx_unlock(&lz->shpool->mutex);

        /* no memory even after eviction: do not fail the request */
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "crm: rate limit zone is out of memory");
        return NGX_OK;
    }

    /*
     * GCRA per window: interval I = period / limit; a request conforms
     * when now >= TAT + I - period; then TAT = max(TAT, now) + I.
     */

    for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
        tat = ngx_max(node->tat[i], now);
        next[i] = tat + lcf->window[i].interval;
        allow = next[i] - lcf->window[i].period;

        if (now < allow && allow - now > wait) {
            wait = (ngx_msec_t) (allow - now);
        }
    }

    over = (wait != 0);

    if (wait == 0) {
        for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
            node->tat[i] = next[i];
        }

    } else if (lcf->dry_run) {
        wait = 0;
    }

    best = 0;

    for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
        tat = ngx_max(node->tat[i], now);
        rem[i] = (tat - now >= lcf->window[i].period)
                 ? 0 : (ngx_uint_t) ((lcf->window[i].period - (tat - now))
                                     / lcf->window[i].interval);

        if (rem[i] * lcf->window[best].limit
            < rem[best] * lcf->window[i].limit)
        {
            best = i;
        }
    }

    tat = ngx_max(node->tat[best], now);

    ngx_shmtx_unlock(&lz->shpool->mutex);

    remaining = ngx_min(rem[best], lcf->window[best].limit);
    reset = (ngx_msec_t) (tat - now);

    ctx->limit_remaining = remaining;

    if (crm_limit_headers(r, lcf->window[best].limit, remaining, reset)
        != NGX_OK)
    {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    if (over && lcf->dry_run) {
        ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                      "crm: rate limit exceeded for %V (dry run)", &key);
    }

    if (wait == 0) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "crm: rate limit exceeded for %V, retry in %M ms",
                  &key, wait);

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
    if (p == NULL) {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    retry.data = p;
    retry.len = ngx_sprintf(p, "%M", (wait + 999) / 1000) - p;

    if (crm_http_header_out(r, "Retry-After", &retry) != NGX_OK) {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    ctx->rc = crm_http_error(r, CRM_E_RATE_LIMITED,
                             "too many requests, retry later",
                             json_pack("{s:i}", "retryAfter",
                                       (int) ((wait + 999) / 1000)));
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
