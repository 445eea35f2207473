
/*
 * ngx_http_crm_module: the authentication stage.
 *
 * A credential (X-API-Key, or Authorization: Bearer) is a static key
 * (crm_api_key), an API key ("crmk_" + 40 hex digits) or a session token
 * ("crms_" + 40 hex digits).  Stored keys and sessions are looked up by
 * their public prefix in PostgreSQL (db_auth_lookup(), sql/002_auth.sql)
 * and verified by comparing the SHA-256 of the presented token with the
 * stored hash in constant time.  Verified principals, and for a short
 * time what the database did not know, are kept in the shared auth cache
 * (stages/crm_auth_cache.c).
 *
 * Every 401 is counted against the client's address when
 * crm_auth_fail_limit is set (crm_limit_fail_take()); an address that
 * has used its failures gets 429 for anything the module cannot
 * authenticate without the database.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include "http/crm_http.h"
#include "stages/crm_stages.h"


/* the stage's own state (ctx->auth) */

struct crm_auth_state_s {
    ngx_str_t                 token;        /* the credential presented */
    u_char                    hash[SHA256_DIGEST_LENGTH];   /* its SHA-256 */
    ngx_atomic_uint_t         forgets;      /* the cache's, at the lookup */
};


static ngx_int_t crm_auth_fail(ngx_http_request_t *r, crm_ctx_t *ctx,
    ngx_uint_t negative);
static void crm_auth_lookup_done(crm_pg_req_t *pr, PGresult *res);
static ngx_uint_t crm_auth_role(ngx_str_t *role);


static ngx_str_t  crm_roles[] = {
    ngx_null_string,
    ngx_string("owner"),
    ngx_string("admin"),
    ngx_string("member")
};


/*
 * Takes the credential from the request.  NGX_OK: ctx->auth->token holds
 * it;
 * NGX_ABORT: answered 401 (none), or 429 (none, from an address with no
 * failure left).
 */

ngx_int_t
crm_auth_credential(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ngx_table_elt_t  *h;

    ctx->auth = ngx_pcalloc(r->pool, sizeof(crm_auth_state_t));
    if (ctx->auth == NULL) {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    h = crm_http_header_in(r, "X-API-Key", sizeof("X-API-Key") - 1);

    if (crm_credential_parse(h ? &h->value : NULL,
                             r->headers_in.authorization
                             ? &r->headers_in.authorization->value : NULL,
                             &ctx->auth->token)
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
 * Resolves ctx->auth->token to ctx->principal.  NGX_OK: resolved now (a static
 * key or a cached one); NGX_AGAIN: a lookup is under way and "next"
 * resumes the request; NGX_ABORT: answered (ctx->rc).
 *
 * An address with no failure left (crm_auth_fail_limit) gets 429 before
 * any lookup.  It is still served what needs no failure budget: a static
 * key, a credential in the cache, or one verified here before whose entry
 * has gone stale (looked up again without counting).
 */

ngx_int_t
crm_auth_resolve(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ngx_int_t           rc;
    ngx_str_t           prefix, *t;
    ngx_uint_t          i, found, negative;
    crm_stmt_t         *st;
    crm_static_key_t   *k;
    crm_auth_cache_t   *cache;

    t = &ctx->auth->token;

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

    if (crm_sha256(t->data, t->len, ctx->auth->hash) != NGX_OK) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "crm: SHA-256 of a credential failed");
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    rc = NGX_DECLINED;

    if (ctx->mcf->auth_zone != NULL) {
        rc = crm_auth_cache_get(ctx->mcf->auth_zone->data, ctx->auth->hash,
                                r->pool, &ctx->principal, &negative);

        switch (rc) {

        case NGX_OK:
            crm_metrics_inc(ctx->mcf->metrics,
                            auth_cache[CRM_METRICS_AUTH_HIT]);
            ctx->workspace = ctx->principal.workspace;
            return NGX_OK;

        case NGX_DONE:
            crm_metrics_inc(ctx->mcf->metrics,
                            auth_cache[CRM_METRICS_AUTH_NEGATIVE]);
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "crm: negative auth cache hit");
            return crm_auth_fail(r, ctx, negative);

        case NGX_ERROR:
            ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_ABORT;

        default: /* NGX_DECLINED: unknown here; NGX_AGAIN: known, stale */
            crm_metrics_inc(ctx->mcf->metrics,
                            auth_cache[CRM_METRICS_AUTH_MISS]);
            break;
        }
    }

    /* a failure counted ahead, unless the credential is known good */

    if (rc == NGX_DECLINED && crm_limit_fail_take(r, ctx) != NGX_OK) {
        return NGX_ABORT;
    }

    /* look it up by its public prefix */

    st = crm_sql_fixed(r->pool,
                       "SELECT kind, workspace_id::text, id::text,"
                       " user_id::text, secret_hash,"
                       " array_to_string(scopes, ','), role,"
                       " floor(extract(epoch FROM expires_at))::bigint,"
                       " expires_at IS NOT NULL AND expires_at <= now(),"
                       " rate_per_minute, rate_per_hour"
                       " FROM db_auth_lookup($1::text)", 1);

    prefix.data = t->data;
    prefix.len = CRM_TOKEN_PREFIX_LEN;

    if (st == NULL || crm_sql_set(st, 0, &prefix) != NGX_OK) {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    /* a revocation from now on keeps this lookup's answer out of the zone */

    if (ctx->mcf->auth_zone != NULL) {
        cache = ctx->mcf->auth_zone->data;
        ctx->auth->forgets = crm_auth_cache_forgets(cache);
    }

    rc = crm_exec(r, ctx, st, crm_auth_lookup_done);

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

    r = crm_exec_result(pr, res, 0, &ctx);
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
          && CRYPTO_memcmp(hash, ctx->auth->hash, SHA256_DIGEST_LENGTH) == 0);

    PQfreemem(hash);

    if (!rc) {
        goto invalid;
    }

    if (PQgetvalue(res, 0, 8)[0] == 't') {
        if (cache != NULL) {
            crm_auth_cache_put_negative(cache, ctx->auth->hash,
                                        CRM_AUTH_EXPIRED);
        }

        crm_auth_fail(r, ctx, CRM_AUTH_EXPIRED);
        crm_http_done(r, ctx->rc);
        return;
    }

    crm_limit_fail_return(r, ctx);

    p->kind = (PQgetvalue(res, 0, 0)[0] == 's') ? CRM_PRINCIPAL_SESSION
                                                : CRM_PRINCIPAL_KEY;

    if (crm_exec_field(r->pool, res, 1, &p->workspace) != NGX_OK
        || crm_exec_field(r->pool, res, 2, &p->id) != NGX_OK
        || crm_exec_field(r->pool, res, 3, &p->user) != NGX_OK
        || crm_exec_field(r->pool, res, 5, &p->scopes) != NGX_OK
        || crm_exec_field(r->pool, res, 6, &role) != NGX_OK)
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
        crm_auth_cache_put(cache, ctx->auth->hash, p, ctx->auth->forgets);
    }

    rc = crm_run_next(r, ctx);

    if (rc != NGX_DONE) {
        crm_http_done(r, rc);
    }

    return;

invalid:

    if (cache != NULL) {
        crm_auth_cache_put_negative(cache, ctx->auth->hash,
                                    CRM_AUTH_UNKNOWN);
    }

    crm_auth_fail(r, ctx, CRM_AUTH_UNKNOWN);
    crm_http_done(r, ctx->rc);
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
