
/*
 * ngx_http_crm_module: the auth cache, shared by the workers of a host.
 *
 * Verified principals are cached in a shared-memory zone (crm_auth_cache)
 * keyed by the token's SHA-256, for at most the cache TTL: a revocation
 * made on this host removes the entry at once; other hosts see it within
 * the TTL.  What the database said was unknown or expired is remembered
 * too, for the much shorter negative_ttl, and answered 401 from the zone.
 *
 * The zone is an rbtree + LRU queue in a slab pool, as nginx's limit_req
 * does it; when the zone is full the least recently used entries go.
 * Negative entries have their own queue and go first, are never made
 * room for by evicting a principal, and take at most half the zone, so
 * that junk keys cannot flush the real ones out.
 *
 * A lookup that was in flight when a key or session was forgotten does
 * not put what it read into the zone: it may have read the row before
 * the revocation was committed (the zone counts its forgets, and a
 * lookup notes the count before it is sent).
 *
 * API keys' last use is noted in the zone and written to PostgreSQL in
 * one statement per crm_auth_last_used_interval and worker, never per
 * request (the zone's flush timer, crm_auth_touch()).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/sha.h>
#include "http/crm_http.h"
#include "stages/crm_stages.h"


#define CRM_AUTH_TOUCH_MAX    256


typedef struct {
    u_char                    color;
    u_char                    kind;
    u_char                    role;
    u_char                    touched;
    u_char                    negative;     /* CRM_AUTH_*; a negative
                                               entry ends at workspace */
    ngx_queue_t               queue;
    time_t                    cached;
    time_t                    expires;      /* 0: never */
    u_char                    hash[SHA256_DIGEST_LENGTH];
    u_char                    workspace[36];
    u_char                    id[36];
    u_char                    user[36];
    u_char                    has_user;
    uint32_t                  limit[2];
    u_short                   scopes_len;
    u_char                    scopes[1];
} crm_auth_node_t;


typedef struct {
    ngx_rbtree_t              rbtree;
    ngx_rbtree_node_t         sentinel;
    ngx_queue_t               queue;
    ngx_queue_t               negative;     /* negative entries, LRU */
    ngx_uint_t                negatives;
    ngx_atomic_t              forgets;      /* crm_auth_forget() calls */
} crm_auth_sh_t;


struct crm_auth_cache_s {
    crm_auth_sh_t            *sh;
    ngx_slab_pool_t          *shpool;
    time_t                    ttl;
    time_t                    negative_ttl; /* 0: none kept */
    ngx_uint_t                negative_max; /* half the zone */
};


static ngx_int_t crm_auth_cache_init(ngx_shm_zone_t *zone, void *data);
static void crm_auth_rbtree_insert(ngx_rbtree_node_t *temp,
    ngx_rbtree_node_t *node, ngx_rbtree_node_t *sentinel);
static ngx_rbtree_node_t *crm_auth_find(crm_auth_cache_t *cache, u_char *hash);
static void crm_auth_cache_evict(crm_auth_cache_t *cache, ngx_queue_t *queue,
    ngx_uint_t n);
static void crm_auth_cache_delete(crm_auth_cache_t *cache,
    ngx_rbtree_node_t *node);
static void crm_auth_touch(ngx_event_t *ev);
static void crm_auth_touch_done(crm_pg_req_t *pr, PGresult *res);


/* configuration: the zone */

char *
crm_auth_cache_conf(ngx_conf_t *cf, ngx_str_t *name, size_t size,
    time_t ttl, time_t negative_ttl, ngx_shm_zone_t **zone)
{
    crm_auth_cache_t  *cache;

    cache = ngx_pcalloc(cf->pool, sizeof(crm_auth_cache_t));
    if (cache == NULL) {
        return NGX_CONF_ERROR;
    }

    cache->ttl = ttl;
    cache->negative_ttl = negative_ttl;

    *zone = ngx_shared_memory_add(cf, name, size, &ngx_http_crm_module);
    if (*zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if ((*zone)->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "crm_auth_cache zone \"%V\" is already used",
                           name);
        return NGX_CONF_ERROR;
    }

    (*zone)->init = crm_auth_cache_init;
    (*zone)->data = cache;

    return NGX_CONF_OK;
}


static ngx_int_t
crm_auth_cache_init(ngx_shm_zone_t *zone, void *data)
{
    crm_auth_cache_t  *octx = data;

    size_t             len, n;
    crm_auth_cache_t  *cache;

    cache = zone->data;

    /* negative entries: at most half the zone, in their slab's size */

    n = offsetof(ngx_rbtree_node_t, color)
        + offsetof(crm_auth_node_t, workspace);

    for (len = 8; len < n; len <<= 1) { /* void */ }

    cache->negative_max = zone->shm.size / 2 / len;

    if (octx) {
        /* a reload: the entries stay valid */
        cache->sh = octx->sh;
        cache->shpool = octx->shpool;
        return NGX_OK;
    }

    cache->shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists) {
        cache->sh = cache->shpool->data;
        return NGX_OK;
    }

    cache->sh = ngx_slab_alloc(cache->shpool, sizeof(crm_auth_sh_t));
    if (cache->sh == NULL) {
        return NGX_ERROR;
    }

    cache->shpool->data = cache->sh;

    ngx_rbtree_init(&cache->sh->rbtree, &cache->sh->sentinel,
                    crm_auth_rbtree_insert);
    ngx_queue_init(&cache->sh->queue);
    ngx_queue_init(&cache->sh->negative);
    cache->sh->negatives = 0;
    cache->sh->forgets = 0;

    len = sizeof(" in crm_auth_cache zone \"\"") + zone->shm.name.len;

    cache->shpool->log_ctx = ngx_slab_alloc(cache->shpool, len);
    if (cache->shpool->log_ctx == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(cache->shpool->log_ctx, " in crm_auth_cache zone \"%V\"%Z",
                &zone->shm.name);

    cache->shpool->log_nomem = 0;

    return NGX_OK;
}


static void
crm_auth_rbtree_insert(ngx_rbtree_node_t *temp, ngx_rbtree_node_t *node,
    ngx_rbtree_node_t *sentinel)
{
    ngx_rbtree_node_t  **p;
    crm_auth_node_t     *an, *ant;

    for ( ;; ) {

        if (node->key < temp->key) {
            p = &temp->left;

        } else if (node->key > temp->key) {
            p = &temp->right;

        } else {
            an = (crm_auth_node_t *) &node->color;
            ant = (crm_auth_node_t *) &temp->color;

            p = (ngx_memcmp(an->hash, ant->hash, SHA256_DIGEST_LENGTH) < 0)
                ? &temp->left : &temp->right;
        }

        if (*p == sentinel) {
            break;
        }

        temp = *p;
    }

    *p = node;
    node->parent = temp;
    node->left = sentinel;
    node->right = sentinel;
    ngx_rbt_red(node);
}


/* per worker: the last-use flush timer */

ngx_int_t
crm_auth_init_process(ngx_cycle_t *cycle, ngx_http_crm_main_conf_t *mcf)
{
    if (mcf->auth_zone == NULL || mcf->pool == NULL) {
        return NGX_OK;
    }

    mcf->touch.handler = crm_auth_touch;
    mcf->touch.data = mcf;
    mcf->touch.log = cycle->log;
    mcf->touch.cancelable = 1;

    ngx_add_timer(&mcf->touch, mcf->last_used_interval);

    return NGX_OK;
}


/* shared-memory cache */

static ngx_rbtree_node_t *
crm_auth_find(crm_auth_cache_t *cache, u_char *hash)
{
    ngx_int_t           rc;
    ngx_rbtree_key_t    key;
    ngx_rbtree_node_t  *node, *sentinel;
    crm_auth_node_t    *an;

    ngx_memcpy(&key, hash, sizeof(ngx_rbtree_key_t));

    node = cache->sh->rbtree.root;
    sentinel = cache->sh->rbtree.sentinel;

    while (node != sentinel) {

        if (key < node->key) {
            node = node->left;
            continue;
        }

        if (key > node->key) {
            node = node->right;
            continue;
        }

        an = (crm_auth_node_t *) &node->color;
        rc = ngx_memcmp(hash, an->hash, SHA256_DIGEST_LENGTH);

        if (rc == 0) {
            return node;
        }

        node = (rc < 0) ? node->left : node->right;
    }

    return NULL;
}


/*
 * NGX_OK: a principal, fresh, copied into *p; NGX_DONE: a negative entry,
 * *negative says what the database said; NGX_AGAIN: a principal whose
 * entry is older than the ttl (known good, but to be looked up again);
 * NGX_DECLINED: not there.
 */

ngx_int_t
crm_auth_cache_get(crm_auth_cache_t *cache, u_char *hash, ngx_pool_t *pool,
    crm_principal_t *p, ngx_uint_t *negative)
{
    u_char             *buf;
    time_t              now;
    ngx_rbtree_node_t  *node;
    crm_auth_node_t    *an;

    now = ngx_time();

    ngx_shmtx_lock(&cache->shpool->mutex);

    node = crm_auth_find(cache, hash);

    if (node == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return NGX_DECLINED;
    }

    an = (crm_auth_node_t *) &node->color;

    if (an->negative != CRM_AUTH_POSITIVE) {

        if (now - an->cached >= cache->negative_ttl) {
            crm_auth_cache_delete(cache, node);
            ngx_shmtx_unlock(&cache->shpool->mutex);
            return NGX_DECLINED;
        }

        *negative = an->negative;

        ngx_queue_remove(&an->queue);
        ngx_queue_insert_head(&cache->sh->negative, &an->queue);

        ngx_shmtx_unlock(&cache->shpool->mutex);
        return NGX_DONE;
    }

    if (an->expires != 0 && an->expires <= now) {
        crm_auth_cache_delete(cache, node);
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return NGX_DECLINED;
    }

    if (now - an->cached >= cache->ttl) {
        /* kept until the lookup replaces it, as good or as negative */
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return NGX_AGAIN;
    }

    buf = ngx_pnalloc(pool, 3 * 36 + an->scopes_len);
    if (buf == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return NGX_ERROR;
    }

    ngx_queue_remove(&an->queue);
    ngx_queue_insert_head(&cache->sh->queue, &an->queue);

    an->touched = 1;

    p->kind = an->kind;
    p->role = an->role;
    p->expires = an->expires;
    p->limit[0] = an->limit[0];
    p->limit[1] = an->limit[1];

    p->workspace.data = ngx_cpymem(buf, an->workspace, 36) - 36;
    p->workspace.len = 36;
    p->id.data = ngx_cpymem(buf + 36, an->id, 36) - 36;
    p->id.len = 36;

    if (an->has_user) {
        p->user.data = ngx_cpymem(buf + 72, an->user, 36) - 36;
        p->user.len = 36;

    } else {
        ngx_str_null(&p->user);
    }

    p->scopes.data = buf + 108;
    p->scopes.len = an->scopes_len;
    ngx_memcpy(p->scopes.data, an->scopes, an->scopes_len);

    ngx_shmtx_unlock(&cache->shpool->mutex);

    return NGX_OK;
}


/*
 * What a lookup notes before it is sent: when the count has changed by
 * the time its answer is put, a key or session may have been revoked in
 * between, and the answer is used once but not kept.
 */

ngx_atomic_uint_t
crm_auth_cache_forgets(crm_auth_cache_t *cache)
{
    return cache->sh->forgets;
}


void
crm_auth_cache_put(crm_auth_cache_t *cache, u_char *hash, crm_principal_t *p,
    ngx_atomic_uint_t forgets)
{
    size_t              n;
    ngx_uint_t          tries;
    ngx_rbtree_node_t  *node;
    crm_auth_node_t    *an;

    if (p->workspace.len != 36 || p->id.len != 36
        || (p->user.len != 0 && p->user.len != 36)
        || p->scopes.len > 1024)
    {
        return;
    }

    n = offsetof(ngx_rbtree_node_t, color)
        + offsetof(crm_auth_node_t, scopes) + p->scopes.len;

    ngx_shmtx_lock(&cache->shpool->mutex);

    if (cache->sh->forgets != forgets) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return;
    }

    node = crm_auth_find(cache, hash);

    if (node != NULL) {
        crm_auth_cache_delete(cache, node);
    }

    for (tries = 0; ; tries++) {
        node = ngx_slab_alloc_locked(cache->shpool, n);

        if (node != NULL || tries == 8) {
            break;
        }

        /* full: negative entries go first, then the least recently used */

        if (!ngx_queue_empty(&cache->sh->negative)) {
            crm_auth_cache_evict(cache, &cache->sh->negative, 64);

        } else {
            crm_auth_cache_evict(cache, &cache->sh->queue, 16);
        }
    }

    if (node == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return;
    }

    ngx_memcpy(&node->key, hash, sizeof(ngx_rbtree_key_t));

    an = (crm_auth_node_t *) &node->color;

    an->kind = (u_char) p->kind;
    an->role = (u_char) p->role;
    an->touched = 1;
    an->negative = CRM_AUTH_POSITIVE;
    an->cached = ngx_time();
    an->expires = p->expires;
    ngx_memcpy(an->hash, hash, SHA256_DIGEST_LENGTH);
    ngx_memcpy(an->workspace, p->workspace.data, 36);
    ngx_memcpy(an->id, p->id.data, 36);
    an->has_user = (p->user.len == 36);
    an->limit[0] = (uint32_t) p->limit[0];
    an->limit[1] = (uint32_t) p->limit[1];

    if (an->has_user) {
        ngx_memcpy(an->user, p->user.data, 36);
    }

    an->scopes_len = (u_short) p->scopes.len;
    ngx_memcpy(an->scopes, p->scopes.data, p->scopes.len);

    ngx_rbtree_insert(&cache->sh->rbtree, node);
    ngx_queue_insert_head(&cache->sh->queue, &an->queue);

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


/*
 * A credential the database does not know (or knows as expired), for
 * negative_ttl.  Room is made only among negative entries, which never
 * take more than half the zone: a flood of junk keys evicts junk keys.
 */

void
crm_auth_cache_put_negative(crm_auth_cache_t *cache, u_char *hash,
    ngx_uint_t negative)
{
    size_t              n;
    ngx_uint_t          tries;
    ngx_rbtree_node_t  *node;
    crm_auth_node_t    *an;

    if (cache->negative_ttl == 0) {
        return;
    }

    n = offsetof(ngx_rbtree_node_t, color)
        + offsetof(crm_auth_node_t, workspace);

    ngx_shmtx_lock(&cache->shpool->mutex);

    node = crm_auth_find(cache, hash);

    if (node != NULL) {
        crm_auth_cache_delete(cache, node);
    }

    if (cache->sh->negatives >= cache->negative_max) {
        crm_auth_cache_evict(cache, &cache->sh->negative, 1);
    }

    for (tries = 0; ; tries++) {
        node = ngx_slab_alloc_locked(cache->shpool, n);

        if (node != NULL || tries == 4
            || ngx_queue_empty(&cache->sh->negative))
        {
            break;
        }

        crm_auth_cache_evict(cache, &cache->sh->negative, 16);
    }

    if (node == NULL) {
        ngx_shmtx_unlock(&cache->shpool->mutex);
        return;
    }

    ngx_memcpy(&node->key, hash, sizeof(ngx_rbtree_key_t));

    an = (crm_auth_node_t *) &node->color;

    an->kind = CRM_PRINCIPAL_NONE;
    an->role = CRM_ROLE_NONE;
    an->touched = 0;
    an->negative = (u_char) negative;
    an->cached = ngx_time();
    an->expires = 0;
    ngx_memcpy(an->hash, hash, SHA256_DIGEST_LENGTH);

    ngx_rbtree_insert(&cache->sh->rbtree, node);
    ngx_queue_insert_head(&cache->sh->negative, &an->queue);
    cache->sh->negatives++;

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


/* the "n" least recently used entries of a queue go */

static void
crm_auth_cache_evict(crm_auth_cache_t *cache, ngx_queue_t *queue,
    ngx_uint_t n)
{
    ngx_queue_t        *q;
    ngx_rbtree_node_t  *node;
    crm_auth_node_t    *an;

    while (n-- > 0 && !ngx_queue_empty(queue)) {
        q = ngx_queue_last(queue);
        an = ngx_queue_data(q, crm_auth_node_t, queue);
        node = (ngx_rbtree_node_t *)
                   ((u_char *) an - offsetof(ngx_rbtree_node_t, color));

        crm_auth_cache_delete(cache, node);
    }
}


/* under the zone's mutex */

static void
crm_auth_cache_delete(crm_auth_cache_t *cache, ngx_rbtree_node_t *node)
{
    crm_auth_node_t  *an;

    an = (crm_auth_node_t *) &node->color;

    if (an->negative != CRM_AUTH_POSITIVE) {
        cache->sh->negatives--;
    }

    ngx_queue_remove(&an->queue);
    ngx_rbtree_delete(&cache->sh->rbtree, node);
    ngx_slab_free_locked(cache->shpool, node);
}


/* a revoked key or session leaves the cache at once */

void
crm_auth_forget(ngx_http_crm_main_conf_t *mcf, ngx_str_t *id)
{
    ngx_queue_t        *q, *next;
    crm_auth_cache_t   *cache;
    ngx_rbtree_node_t  *node;
    crm_auth_node_t    *an;

    if (mcf->auth_zone == NULL || id->len != 36) {
        return;
    }

    cache = mcf->auth_zone->data;

    ngx_shmtx_lock(&cache->shpool->mutex);

    /* before the entries go: a lookup in flight no longer keeps its own */

    cache->sh->forgets++;

    for (q = ngx_queue_head(&cache->sh->queue);
         q != ngx_queue_sentinel(&cache->sh->queue);
         q = next)
    {
        next = ngx_queue_next(q);
        an = ngx_queue_data(q, crm_auth_node_t, queue);

        /* the key or session itself, or every session of a user */

        if (ngx_strncasecmp(an->id, id->data, 36) != 0
            && !(an->has_user && an->kind == CRM_PRINCIPAL_SESSION
                 && ngx_strncasecmp(an->user, id->data, 36) == 0))
        {
            continue;
        }

        node = (ngx_rbtree_node_t *)
                   ((u_char *) an - offsetof(ngx_rbtree_node_t, color));

        crm_auth_cache_delete(cache, node);
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);
}


/*
 * Every crm_auth_last_used_interval: the ids of API keys used since the
 * last flush go to PostgreSQL in one statement.
 */

static void
crm_auth_touch(ngx_event_t *ev)
{
    u_char                    *p;
    ngx_str_t                  ids;
    ngx_uint_t                 n;
    ngx_pool_t                *pool;
    ngx_queue_t               *q;
    crm_stmt_t                *st;
    crm_pg_req_t              *pr;
    crm_auth_node_t           *an;
    crm_auth_cache_t          *cache;
    ngx_http_crm_main_conf_t  *mcf;

    mcf = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_add_timer(ev, mcf->last_used_interval);

    cache = mcf->auth_zone->data;

    pool = ngx_create_pool(4096, ev->log);
    if (pool == NULL) {
        return;
    }

    p = ngx_pnalloc(pool, 2 + CRM_AUTH_TOUCH_MAX * 37);
    if (p == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    st = crm_sql_fixed(pool, "SELECT db_api_keys_touch($1::uuid[])", 1);
    if (st == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    ids.data = p;
    *p++ = '{';
    n = 0;

    ngx_shmtx_lock(&cache->shpool->mutex);

    for (q = ngx_queue_head(&cache->sh->queue);
         q != ngx_queue_sentinel(&cache->sh->queue)
         && n < CRM_AUTH_TOUCH_MAX;
         q = ngx_queue_next(q))
    {
        an = ngx_queue_data(q, crm_auth_node_t, queue);

        if (!an->touched) {
            /* the queue is in order of use: the rest are older */
            break;
        }

        an->touched = 0;

        if (an->kind != CRM_PRINCIPAL_KEY) {
            continue;
        }

        if (n > 0) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, an->id, 36);
        n++;
    }

    ngx_shmtx_unlock(&cache->shpool->mutex);

    if (n == 0) {
        ngx_destroy_pool(pool);
        return;
    }

    *p++ = '}';
    ids.len = p - ids.data;

    pr = crm_pg_request(mcf->pool, pool, ev->log);
    if (pr == NULL || crm_sql_set(st, 0, &ids) != NGX_OK) {
        ngx_destroy_pool(pool);
        return;
    }

    crm_pg_exec(pr, st, crm_auth_touch_done, pool);
}


static void
crm_auth_touch_done(crm_pg_req_t *pr, PGresult *res)
{
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        ngx_log_error(NGX_LOG_WARN, pr->log, 0,
                      "crm: recording API keys' last use failed");
    }

    ngx_destroy_pool(pr->data);
}
