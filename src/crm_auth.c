
/*
 * ngx_http_crm_module: authentication and authorization.
 *
 * A credential (X-API-Key, or Authorization: Bearer) is a static key
 * (crm_api_key), an API key ("crmk_" + 40 hex digits) or a session token
 * ("crms_" + 40 hex digits).  Stored keys and sessions are looked up by
 * their public prefix in PostgreSQL (crm_auth_lookup(), sql/002_auth.sql)
 * and verified by comparing the SHA-256 of the presented token with the
 * stored hash in constant time.  Verified principals are cached in a
 * shared-memory zone (crm_auth_cache) for all workers of the host, keyed
 * by the token's SHA-256, for at most the cache TTL: a revocation made
 * on this host removes the entry at once; other hosts see it within the
 * TTL.  What the database said was unknown or expired is remembered too,
 * for the much shorter negative_ttl, and answered 401 from the zone.
 *
 * The zone is an rbtree + LRU queue in a slab pool, as nginx's limit_req
 * does it; when the zone is full the least recently used entries go.
 * Negative entries have their own queue and go first, are never made
 * room for by evicting a principal, and take at most half the zone, so
 * that junk keys cannot flush the real ones out.
 * API keys' last use is noted in the zone and written to PostgreSQL in
 * one statement per crm_auth_last_used_interval and worker, never per
 * request.
 *
 * Every 401 is counted against the client's address when
 * crm_auth_fail_limit is set (crm_limit_fail_take()); an address that
 * has used its failures gets 429 for anything the module cannot
 * authenticate without the database.
 */


#include "crm_module.h"
#include <openssl/crypto.h>
#include <openssl/sha.h>


#define CRM_TOKEN_PREFIX_LEN  16
#define CRM_AUTH_TOUCH_MAX    256

/* crm_auth_node_t.negative: what the database said */
#define CRM_AUTH_POSITIVE     0
#define CRM_AUTH_UNKNOWN      1         /* no such live credential */
#define CRM_AUTH_EXPIRED      2


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
static ngx_rbtree_node_t *crm_auth_find(crm_auth_cache_t *cache,
    u_char *hash);
static ngx_int_t crm_auth_cache_get(crm_auth_cache_t *cache, u_char *hash,
    ngx_pool_t *pool, crm_principal_t *p, ngx_uint_t *negative);
static void crm_auth_cache_put(crm_auth_cache_t *cache, u_char *hash,
    crm_principal_t *p);
static void crm_auth_cache_put_negative(crm_auth_cache_t *cache,
    u_char *hash, ngx_uint_t negative);
static void crm_auth_cache_evict(crm_auth_cache_t *cache, ngx_queue_t *queue,
    ngx_uint_t n);
static void crm_auth_cache_delete(crm_auth_cache_t *cache,
    ngx_rbtree_node_t *node);
static ngx_int_t crm_auth_fail(ngx_http_request_t *r, crm_ctx_t *ctx,
    ngx_uint_t negative);
static void crm_auth_lookup_done(crm_pg_req_t *pr, PGresult *res);
static ngx_int_t crm_auth_field(ngx_pool_t *pool, PGresult *res, int col,
    ngx_str_t *out);
static ngx_uint_t crm_auth_role(ngx_str_t *role);
static void crm_auth_touch(ngx_event_t *ev);
static void crm_auth_touch_done(crm_pg_req_t *pr, PGresult *res);
static void crm_api_key_created(crm_pg_req_t *pr, PGresult *res);
static ngx_int_t crm_auth_scope_check(ngx_str_t *held, ngx_str_t *scope);
static void crm_auth_session_done(crm_pg_req_t *pr, PGresult *res);


static ngx_str_t  crm_roles[] = {
    ngx_null_string,
    ngx_string("owner"),
    ngx_string("admin"),
    ngx_string("member")
};


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


/*
 * Takes the credential from the request.  NGX_OK: ctx->token holds it;
 * NGX_ABORT: answered 401 (none), or 429 (none, from an address with no
 * failure left).
 */

ngx_int_t
crm_auth_credential(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ngx_table_elt_t  *h;

    h = crm_http_header_in(r, "X-API-Key", sizeof("X-API-Key") - 1);

    if (crm_credential_parse(h ? &h->value : NULL,
                             r->headers_in.authorization
                             ? &r->headers_in.authorization->value : NULL,
                             &ctx->token)
        != NGX_OK)
    {
        if (crm_limit_fail_take(r, ctx) != NGX_OK) {
            return NGX_ABORT;
        }

        if (crm_limit_fail_headers(r, ctx) != NGX_OK) {
            ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_ABORT;
        }

        ctx->rc = crm_http_error(r, CRM_E_UNAUTHENTICATED,
                                 "an API key or a session token is required",
                                 NULL);
        return NGX_ABORT;
    }

    return NGX_OK;
}


/*
 * Resolves ctx->token to ctx->principal.  NGX_OK: resolved now (a static
 * key or a cached one); NGX_AGAIN: a lookup is under way and "next"
 * resumes the request; NGX_ABORT: answered (ctx->rc).
 *
 * An address with no failure left (crm_auth_fail_limit) gets 429 before
 * any lookup.  It is still served what needs no failure budget: a static
 * key, a credential in the cache, or one verified here before whose entry
 * has gone stale (looked up again without counting).
 */

ngx_int_t
crm_auth_resolve(ngx_http_request_t *r, crm_ctx_t *ctx, crm_step_pt next)
{
    ngx_int_t           rc;
    ngx_uint_t          i, found, negative;
    crm_stmt_t         *st;
    crm_param_t        *param;
    crm_static_key_t   *k;
    ngx_str_t          *t;

    t = &ctx->token;

    /* static keys, compared in constant time */

    found = NGX_CONF_UNSET_UINT;

    if (ctx->mcf->keys != NULL) {
        k = ctx->mcf->keys->elts;

        for (i = 0; i < ctx->mcf->keys->nelts; i++) {
            if (k[i].key.len == t->len
                && CRYPTO_memcmp(k[i].key.data, t->data, t->len) == 0)
            {
                found = i;
            }
        }
    }

    if (found != NGX_CONF_UNSET_UINT) {
        k = ctx->mcf->keys->elts;
        ctx->principal.kind = CRM_PRINCIPAL_STATIC;
        ctx->principal.workspace = k[found].workspace;
        ctx->principal.role = CRM_ROLE_OWNER;
        ngx_str_set(&ctx->principal.scopes, "*");
        ctx->workspace = ctx->principal.workspace;
        return NGX_OK;
    }

    /* "crmk_" or "crms_" and 40 lowercase hex digits */

    if (crm_credential_token(t) != NGX_OK) {
        goto invalid;
    }

    SHA256(t->data, t->len, ctx->token_hash);

    rc = NGX_DECLINED;

    if (ctx->mcf->auth_zone != NULL) {
        rc = crm_auth_cache_get(ctx->mcf->auth_zone->data, ctx->token_hash,
                                r->pool, &ctx->principal, &negative);

        switch (rc) {

        case NGX_OK:
            ctx->workspace = ctx->principal.workspace;
            return NGX_OK;

        case NGX_DONE:
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "crm: negative auth cache hit");
            return crm_auth_fail(r, ctx, negative);

        case NGX_ERROR:
            ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_ABORT;

        default: /* NGX_DECLINED: unknown here; NGX_AGAIN: known, stale */
            break;
        }
    }

    /* a failure counted ahead, unless the credential is known good */

    if (rc == NGX_DECLINED && crm_limit_fail_take(r, ctx) != NGX_OK) {
        return NGX_ABORT;
    }

    /* look it up by its public prefix */

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL
        || ngx_array_init(&st->params, r->pool, 1, sizeof(crm_param_t))
           != NGX_OK)
    {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    ngx_str_set(&st->sql,
                "SELECT kind, workspace_id::text, id::text, user_id::text,"
                " secret_hash, array_to_string(scopes, ','), role,"
                " extract(epoch FROM expires_at)::bigint,"
                " expires_at IS NOT NULL AND expires_at <= now(),"
                " rate_per_minute, rate_per_hour"
                " FROM crm_auth_lookup($1::text)");

    param = ngx_array_push(&st->params);
    if (param == NULL) {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    param->value.data = t->data;
    param->value.len = CRM_TOKEN_PREFIX_LEN;
    param->null = 0;

    ctx->next = next;

    rc = crm_resource_exec(r, ctx, st, crm_auth_lookup_done);

    if (rc != NGX_DONE) {
        crm_limit_fail_return(r, ctx);
        ctx->rc = rc;
        return NGX_ABORT;
    }

    return NGX_AGAIN;

invalid:

    return crm_auth_fail(r, ctx, CRM_AUTH_UNKNOWN);
}


/*
 * 401 for a credential that is not valid (counted against the client's
 * address), or 429 when the address has no failure left.  NGX_ABORT.
 */

static ngx_int_t
crm_auth_fail(ngx_http_request_t *r, crm_ctx_t *ctx, ngx_uint_t negative)
{
    if (crm_limit_fail_take(r, ctx) != NGX_OK) {
        return NGX_ABORT;
    }

    if (crm_limit_fail_headers(r, ctx) != NGX_OK) {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    if (negative == CRM_AUTH_EXPIRED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: credential has expired");

        ctx->rc = crm_http_error(r, CRM_E_UNAUTHENTICATED,
                                 "the credential has expired", NULL);
        return NGX_ABORT;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "crm: credential is not a known key or token");

    ctx->rc = crm_http_error(r, CRM_E_UNAUTHENTICATED,
                             "the credential is not valid", NULL);
    return NGX_ABORT;
}


static void
crm_auth_lookup_done(crm_pg_req_t *pr, PGresult *res)
{
    u_char              *hash;
    size_t               len;
    ngx_int_t            rc;
    ngx_str_t            role;
    ngx_uint_t           i;
    crm_ctx_t           *ctx;
    crm_principal_t     *p;
    crm_auth_cache_t    *cache;
    ngx_http_request_t  *r;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        /* no answer is no failure of the client's */
        r = pr->data;
        crm_limit_fail_return(r, ngx_http_get_module_ctx(r,
                                                         ngx_http_crm_module));
    }

    r = crm_resource_result(pr, res, 0, &ctx);
    if (r == NULL) {
        return;
    }

    p = &ctx->principal;
    cache = ctx->mcf->auth_zone ? ctx->mcf->auth_zone->data : NULL;

    if (PQntuples(res) != 1) {
        goto invalid;
    }

    hash = PQunescapeBytea((u_char *) PQgetvalue(res, 0, 4), &len);
    if (hash == NULL) {
        crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = (len == SHA256_DIGEST_LENGTH
          && CRYPTO_memcmp(hash, ctx->token_hash, SHA256_DIGEST_LENGTH) == 0);

    PQfreemem(hash);

    if (!rc) {
        goto invalid;
    }

    if (PQgetvalue(res, 0, 8)[0] == 't') {
        if (cache != NULL) {
            crm_auth_cache_put_negative(cache, ctx->token_hash,
                                        CRM_AUTH_EXPIRED);
        }

        crm_auth_fail(r, ctx, CRM_AUTH_EXPIRED);
        crm_http_done(r, ctx->rc);
        return;
    }

    crm_limit_fail_return(r, ctx);

    p->kind = (PQgetvalue(res, 0, 0)[0] == 's') ? CRM_PRINCIPAL_SESSION
                                                : CRM_PRINCIPAL_KEY;

    if (crm_auth_field(r->pool, res, 1, &p->workspace) != NGX_OK
        || crm_auth_field(r->pool, res, 2, &p->id) != NGX_OK
        || crm_auth_field(r->pool, res, 3, &p->user) != NGX_OK
        || crm_auth_field(r->pool, res, 5, &p->scopes) != NGX_OK
        || crm_auth_field(r->pool, res, 6, &role) != NGX_OK)
    {
        crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    p->role = crm_auth_role(&role);

    for (i = 0; i < 2; i++) {
        p->limit[i] = PQgetisnull(res, 0, 9 + (int) i)
                      ? 0 : (ngx_uint_t) ngx_atoi(
                                (u_char *) PQgetvalue(res, 0, 9 + (int) i),
                                PQgetlength(res, 0, 9 + (int) i));

        if (p->limit[i] == (ngx_uint_t) NGX_ERROR) {
            p->limit[i] = 0;
        }
    }
    p->expires = PQgetisnull(res, 0, 7)
                 ? 0 : ngx_atotm((u_char *) PQgetvalue(res, 0, 7),
                                 PQgetlength(res, 0, 7));

    ctx->workspace = p->workspace;

    if (cache != NULL) {
        crm_auth_cache_put(cache, ctx->token_hash, p);
    }

    rc = ctx->next(r, ctx);

    if (rc != NGX_DONE) {
        crm_http_done(r, rc);
    }

    return;

invalid:

    if (cache != NULL) {
        crm_auth_cache_put_negative(cache, ctx->token_hash,
                                    CRM_AUTH_UNKNOWN);
    }

    crm_auth_fail(r, ctx, CRM_AUTH_UNKNOWN);
    crm_http_done(r, ctx->rc);
}


static ngx_int_t
crm_auth_field(ngx_pool_t *pool, PGresult *res, int col, ngx_str_t *out)
{
    if (PQgetisnull(res, 0, col)) {
        ngx_str_null(out);
        return NGX_OK;
    }

    out->len = PQgetlength(res, 0, col);
    out->data = ngx_pnalloc(pool, out->len + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, PQgetvalue(res, 0, col), out->len);
    out->data[out->len] = '\0';

    return NGX_OK;
}


static ngx_uint_t
crm_auth_role(ngx_str_t *role)
{
    ngx_uint_t  i;

    for (i = 1; i < sizeof(crm_roles) / sizeof(ngx_str_t); i++) {
        if (crm_roles[i].len == role->len
            && ngx_strncmp(crm_roles[i].data, role->data, role->len) == 0)
        {
            return i;
        }
    }

    return CRM_ROLE_NONE;
}


/*
 * Whether the principal's scopes grant "resource:access" (access "read"
 * or "write"; write implies read).  Scopes: "*", "<resource>:*",
 * "<resource>:read", "<resource>:write", "*:read", "*:write".
 */

ngx_int_t
crm_auth_scope(ngx_str_t *scopes, ngx_str_t *resource, ngx_uint_t write)
{
    u_char     *p, *last, *s, *colon;
    ngx_str_t   res, acc;

    p = scopes->data;
    last = p + scopes->len;

    while (p < last) {
        s = p;

        while (p < last && *p != ',' && *p != ' ') {
            p++;
        }

        if (p - s == 1 && *s == '*') {
            return NGX_OK;
        }

        colon = ngx_strlchr(s, p, ':');

        if (colon != NULL) {
            res.data = s;
            res.len = colon - s;
            acc.data = colon + 1;
            acc.len = p - colon - 1;

            if (((res.len == 1 && res.data[0] == '*')
                 || (res.len == resource->len
                     && ngx_strncmp(res.data, resource->data, res.len) == 0))
                && ((acc.len == 1 && acc.data[0] == '*')
                    || (acc.len == 5 && ngx_strncmp(acc.data, "write", 5) == 0)
                    || (!write && acc.len == 4
                        && ngx_strncmp(acc.data, "read", 4) == 0)))
            {
                return NGX_OK;
            }
        }

        while (p < last && (*p == ',' || *p == ' ')) {
            p++;
        }
    }

    return NGX_DECLINED;
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

static ngx_int_t
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


static void
crm_auth_cache_put(crm_auth_cache_t *cache, u_char *hash, crm_principal_t *p)
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

static void
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
    ngx_uint_t                 n;
    ngx_pool_t                *pool;
    ngx_queue_t               *q;
    crm_stmt_t                *st;
    crm_param_t               *param;
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

    st = ngx_pcalloc(pool, sizeof(crm_stmt_t));
    if (st == NULL
        || ngx_array_init(&st->params, pool, 1, sizeof(crm_param_t))
           != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return;
    }

    param = ngx_array_push(&st->params);
    if (param == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    param->value.data = p;
    param->null = 0;
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
    param->value.len = p - param->value.data;

    ngx_str_set(&st->sql, "SELECT crm_api_keys_touch($1::uuid[])");

    pr = crm_pg_request(mcf->pool, pool, ev->log);
    if (pr == NULL) {
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


/*
 * POST /api-keys: the key is made by crm_api_key_create() in PostgreSQL
 * (the same function bootstraps the first key), returned once, and only
 * its hash is kept.  A credential cannot grant scopes it does not hold.
 */

ngx_int_t
crm_api_key_create(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    size_t               i;
    json_t              *scopes, *v;
    ngx_str_t            scope;
    ngx_uint_t           n;
    ngx_array_t          values, errors;
    crm_stmt_t          *st;
    crm_param_t         *param;
    crm_value_t         *val, *vp;
    crm_field_error_t   *fe;

    if (ngx_array_init(&values, r->pool, 8, sizeof(crm_value_t)) != NGX_OK
        || ngx_array_init(&errors, r->pool, 4, sizeof(crm_field_error_t))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    switch (crm_validate(r->pool, ctx->route.res, ctx->body, 1, &values,
                         &errors))
    {
    case NGX_OK:
        break;

    case NGX_DECLINED:
        return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                     "the request is not valid", &errors);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* every scope well-formed, and held by the creator */

    scopes = json_object_get(ctx->body, "scopes");

    json_array_foreach(scopes, i, v) {
        scope.data = (u_char *) json_string_value(v);
        scope.len = json_string_length(v);

        switch (crm_auth_scope_check(&ctx->principal.scopes, &scope)) {

        case NGX_OK:
            continue;

        case NGX_DECLINED:
            fe = ngx_array_push(&errors);
            if (fe == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ngx_str_set(&fe->field, "scopes");
            ngx_str_set(&fe->code, "invalid_value");
            ngx_str_set(&fe->message,
                        "a scope is \"*\" or \"<resource>:read|write|*\" "
                        "with a known resource (or \"*\")");

            return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                         "the request is not valid",
                                         &errors);

        default: /* NGX_ABORT */
            return crm_http_error(r, CRM_E_FORBIDDEN,
                                  "a key cannot be given a scope its "
                                  "creator does not have", NULL);
        }
    }

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL
        || ngx_array_init(&st->params, r->pool, 5, sizeof(crm_param_t))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&st->sql,
                "SELECT id::text, key FROM crm_api_key_create($1::uuid,"
                " $2::text, ARRAY(SELECT jsonb_array_elements_text($3::jsonb)),"
                " $4::timestamptz, $5::uuid)");

    param = ngx_array_push_n(&st->params, 5);
    if (param == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(param, 5 * sizeof(crm_param_t));

    param[0].value = ctx->workspace;
    param[3].null = 1;
    param[4].value = ctx->principal.user;
    param[4].null = (ctx->principal.user.len == 0);

    val = values.elts;

    if (ngx_array_init(&ctx->values, r->pool, 2, sizeof(crm_value_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (n = 0; n < values.nelts; n++) {
        if (ngx_strcmp(val[n].field->name.data, "name") == 0) {
            param[1] = val[n].param;

        } else if (ngx_strcmp(val[n].field->name.data, "scopes") == 0) {
            param[2] = val[n].param;

        } else if (ngx_strcmp(val[n].field->name.data, "expiresAt") == 0) {
            param[3] = val[n].param;

        } else {
            /* set by the planner once the key exists */
            vp = ngx_array_push(&ctx->values);
            if (vp == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            *vp = val[n];
        }
    }

    return crm_resource_exec(r, ctx, st, crm_api_key_created);
}


static void
crm_api_key_created(crm_pg_req_t *pr, PGresult *res)
{
    ngx_int_t            rc;
    crm_ctx_t           *ctx;
    crm_stmt_t          *st;
    ngx_http_request_t  *r;

    r = crm_resource_result(pr, res, 1, &ctx);
    if (r == NULL) {
        return;
    }

    /*
     * The key, kept for the response; the other fields (its rate limits)
     * are set through the planner, which also reads the record back.
     */

    if (crm_auth_field(r->pool, res, 0, &ctx->route.id) != NGX_OK
        || crm_auth_field(r->pool, res, 1, &ctx->secret) != NGX_OK)
    {
        crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL
        || crm_sql_update(r->pool, ctx->route.res, &ctx->workspace,
                          &ctx->route.id, &ctx->values, NULL, st)
           != NGX_OK)
    {
        crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = crm_resource_exec(r, ctx, st, crm_resource_row_done);

    if (rc != NGX_DONE) {
        crm_http_done(r, rc);
    }
}


/*
 * NGX_OK: "scope" is well-formed and "held" covers it; NGX_DECLINED:
 * malformed; NGX_ABORT: not held.
 */

static ngx_int_t
crm_auth_scope_check(ngx_str_t *held, ngx_str_t *scope)
{
    u_char     *colon;
    ngx_str_t   res, acc;

    if (scope->len == 1 && scope->data[0] == '*') {
        return crm_auth_scope(held, scope, 1) == NGX_OK
               && held->len == 1 ? NGX_OK : NGX_ABORT;
    }

    colon = ngx_strlchr(scope->data, scope->data + scope->len, ':');
    if (colon == NULL) {
        return NGX_DECLINED;
    }

    res.data = scope->data;
    res.len = colon - scope->data;
    acc.data = colon + 1;
    acc.len = scope->data + scope->len - acc.data;

    if (!(res.len == 1 && res.data[0] == '*')
        && crm_schema_find(&res) == NULL)
    {
        return NGX_DECLINED;
    }

    if (acc.len == 4 && ngx_strncmp(acc.data, "read", 4) == 0) {
        return crm_auth_scope(held, &res, 0) == NGX_OK ? NGX_OK : NGX_ABORT;
    }

    if ((acc.len == 5 && ngx_strncmp(acc.data, "write", 5) == 0)
        || (acc.len == 1 && acc.data[0] == '*'))
    {
        return crm_auth_scope(held, &res, 1) == NGX_OK ? NGX_OK : NGX_ABORT;
    }

    return NGX_DECLINED;
}


/*
 * POST /auth/login {email, password}: PostgreSQL checks the password
 * (bcrypt, so the worker never hashes) and rate-limits failures per
 * account; POST /auth/refresh and /auth/logout act on the session token
 * presented.
 */

ngx_int_t
crm_auth_action(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    u_char             *p;
    json_t             *v;
    ngx_str_t           ttl;
    crm_stmt_t         *st;
    crm_param_t        *param;
    crm_principal_t    *pr;
    const char         *key;
    ngx_array_t         errors;
    crm_field_error_t  *fe;

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL
        || ngx_array_init(&st->params, r->pool, 3, sizeof(crm_param_t))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    param = ngx_array_push_n(&st->params, 3);
    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN + sizeof(" seconds"));

    if (param == NULL || p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(param, 3 * sizeof(crm_param_t));

    ttl.data = p;
    ttl.len = ngx_sprintf(p, "%T seconds", ctx->mcf->session_ttl) - p;

    if (ctx->route.action != CRM_ACTION_LOGIN) {
        pr = &ctx->principal;

        if (pr->kind != CRM_PRINCIPAL_SESSION) {
            return crm_http_error(r, CRM_E_BAD_REQUEST,
                                  "this needs a session token "
                                  "(from /auth/login)", NULL);
        }

        param[0].value = pr->workspace;
        param[1].value = pr->id;
        param[2].value = ttl;

        if (ctx->route.action == CRM_ACTION_LOGOUT) {
            st->params.nelts = 2;
            ngx_str_set(&st->sql,
                        "SELECT crm_session_revoke($1::uuid, $2::uuid)");

        } else {
            ngx_str_set(&st->sql,
                        "SELECT token, session_id::text, to_char(expires_at"
                        " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS"
                        "\"Z\"'), $1::uuid::text, NULL::text, NULL::int,"
                        " 'ok' FROM crm_session_refresh($1::uuid, $2::uuid,"
                        " $3::interval)");
        }

        return crm_resource_exec(r, ctx, st, crm_auth_session_done);
    }

    /* login: exactly a string email and a string password */

    if (ngx_array_init(&errors, r->pool, 2, sizeof(crm_field_error_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_foreach(ctx->body, key, v) {
        fe = NULL;

        if (ngx_strcmp(key, "email") == 0 || ngx_strcmp(key, "password") == 0)
        {
            if (json_is_string(v) && json_string_length(v) > 0
                && json_string_length(v) <= 254)
            {
                param[key[0] == 'e' ? 0 : 1].value.data =
                    (u_char *) json_string_value(v);
                param[key[0] == 'e' ? 0 : 1].value.len =
                    json_string_length(v);
                continue;
            }

            fe = ngx_array_push(&errors);
            if (fe == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ngx_str_set(&fe->code, "invalid_type");
            ngx_str_set(&fe->message, "must be a non-empty string");

        } else {
            fe = ngx_array_push(&errors);
            if (fe == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ngx_str_set(&fe->code, "unknown_field");
            ngx_str_set(&fe->message, "is not a field of a login");
        }

        fe->field.data = (u_char *) key;
        fe->field.len = ngx_strlen(key);
    }

    if (errors.nelts == 0 && param[0].value.len == 0) {
        fe = ngx_array_push(&errors);
        if (fe == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_str_set(&fe->field, "email");
        ngx_str_set(&fe->code, "required");
        ngx_str_set(&fe->message, "is required");
    }

    if (errors.nelts == 0 && param[1].value.len == 0) {
        fe = ngx_array_push(&errors);
        if (fe == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_str_set(&fe->field, "password");
        ngx_str_set(&fe->code, "required");
        ngx_str_set(&fe->message, "is required");
    }

    if (errors.nelts > 0) {
        return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                     "the request is not valid", &errors);
    }

    param[2].value = ttl;

    ngx_str_set(&st->sql,
                "SELECT token, session_id::text, to_char(expires_at"
                " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
                " workspace_id::text, user_id::text, retry_after, status"
                " FROM crm_login($1::text, $2::text, $3::interval)");

    return crm_resource_exec(r, ctx, st, crm_auth_session_done);
}


/* columns: token, session id, expiry, workspace, user, retry, status */

static void
crm_auth_session_done(crm_pg_req_t *pr, PGresult *res)
{
    u_char              *p, *body, *meta;
    char                *status;
    size_t               mlen, len;
    ngx_int_t            rc;
    ngx_str_t            retry, v[5];
    crm_ctx_t           *ctx;
    ngx_uint_t           i;
    ngx_http_request_t  *r;

    r = crm_resource_result(pr, res, 0, &ctx);
    if (r == NULL) {
        return;
    }

    if (ctx->route.action == CRM_ACTION_LOGOUT) {
        crm_auth_forget(ctx->mcf, &ctx->principal.id);
        crm_http_done(r, crm_http_send(r, NGX_HTTP_NO_CONTENT, NULL, 0));
        return;
    }

    if (PQntuples(res) != 1) {
        /* refresh: the session ended meanwhile */
        crm_http_done(r, crm_http_error(r, CRM_E_UNAUTHENTICATED,
                                        "the session has ended", NULL));
        return;
    }

    status = PQgetvalue(res, 0, 6);

    if (ngx_strcmp(status, "locked") == 0) {
        retry.len = PQgetlength(res, 0, 5);
        retry.data = ngx_pnalloc(r->pool, retry.len);
        if (retry.data == NULL) {
            crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_memcpy(retry.data, PQgetvalue(res, 0, 5), retry.len);

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: login refused: the account is locked");

        if (crm_http_header_out(r, "Retry-After", &retry) != NGX_OK) {
            crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        crm_http_done(r, crm_http_error(r, CRM_E_RATE_LIMITED,
                                        "too many failed logins, "
                                        "retry later", NULL));
        return;
    }

    if (ngx_strcmp(status, "ok") != 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: login failed");
        crm_http_done(r, crm_http_error(r, CRM_E_UNAUTHENTICATED,
                                        "invalid email or password", NULL));
        return;
    }

    if (ctx->route.action == CRM_ACTION_REFRESH) {
        crm_auth_forget(ctx->mcf, &ctx->principal.id);
    }

    len = 0;

    for (i = 0; i < 5; i++) {
        v[i].data = (u_char *) PQgetvalue(res, 0, (int) i);
        v[i].len = PQgetlength(res, 0, (int) i);
        len += v[i].len;
    }

    if (crm_http_meta(r, ctx, &meta, &mlen) != NGX_OK) {
        crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    body = ngx_pnalloc(r->pool, len + mlen + 256);
    if (body == NULL) {
        crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* tokens, uuids and timestamps need no escaping */

    p = ngx_sprintf(body, "{\"data\":{\"token\":\"%V\",\"tokenType\":"
                    "\"Bearer\",\"sessionId\":\"%V\",\"expiresAt\":\"%V\"",
                    &v[0], &v[1], &v[2]);

    if (v[3].len > 0) {
        p = ngx_sprintf(p, ",\"workspaceId\":\"%V\"", &v[3]);
    }

    if (v[4].len > 0) {
        p = ngx_sprintf(p, ",\"userId\":\"%V\"", &v[4]);
    }

    p = ngx_cpymem(p, "},\"meta\":{", sizeof("},\"meta\":{") - 1);
    p = ngx_cpymem(p, meta, mlen);
    *p++ = '}';
    *p++ = '}';

    rc = crm_http_send_data(r, NGX_HTTP_OK, body, p - body);

    crm_http_done(r, rc);
}
