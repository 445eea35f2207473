
/*
 * ngx_http_crm_module: Idempotency-Key on POST and PATCH, kept in Redis.
 *
 * The first request with a key claims it (one Lua call: the key's value
 * if it exists, otherwise it is set to "in flight" with the request's
 * fingerprint, a SHA-256 of method, URI, principal and body made by
 * crm_idem_fingerprint(), for crm_idempotency_claim_ttl: as long as a
 * request can take).  Its response (status, Location, body) then replaces
 * the claim for crm_idempotency_ttl; a 5xx releases the key so that the
 * client can retry.  Later requests with
 * the same key and principal get the stored response again with
 * "Idempotent-Replayed: true"; while the first is in flight they get 409
 * CONFLICT; with another body, 422 IDEMPOTENCY_KEY_REUSED.
 *
 * Without Redis the request is either processed without the guarantee or
 * refused with 503 (crm_idempotency_without_redis).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "stages/crm_stages.h"


#define CRM_IDEM_KEY_MAX      255


struct crm_idem_s {
    ngx_str_t                 key;          /* in Redis */
    ngx_str_t                 fp;           /* the request's fingerprint */
    unsigned                  claimed:1;    /* the response is stored */
};


static void crm_idem_claimed(crm_redis_cmd_t *cmd, redisReply *reply,
    void *data);
static ngx_int_t crm_idem_answer(ngx_http_request_t *r, crm_ctx_t *ctx,
    u_char *v, size_t len);
static ngx_int_t crm_idem_unavailable(ngx_http_request_t *r, crm_ctx_t *ctx);
static void crm_idem_store(ngx_http_request_t *r, crm_ctx_t *ctx,
    ngx_uint_t status, ngx_chain_t *out);
static void crm_idem_stored(crm_redis_cmd_t *cmd, redisReply *reply,
    void *data);
static void crm_idem_cleanup(void *data);


static ngx_str_t  crm_idem_claim = ngx_string(
    "local v = redis.call('GET', KEYS[1]) "
    "if v then return v end "
    "redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) "
    "return false");


/*
 * NGX_OK: go on (no key, or processing without Redis); NGX_AGAIN: the
 * claim is under way, "next" resumes; NGX_ABORT: answered (ctx->rc).
 */

ngx_int_t
crm_idem_begin(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    u_char           *p;
    ngx_str_t        *key, *subject, argv[6], principal;
    ngx_chain_t      *body;
    ngx_table_elt_t  *h;

    if (!(r->method & (NGX_HTTP_POST|NGX_HTTP_PATCH))
        || !ctx->mcf->idempotency)
    {
        return NGX_OK;
    }

    h = crm_http_header_in(r, "Idempotency-Key",
                           sizeof("Idempotency-Key") - 1);
    if (h == NULL) {
        return NGX_OK;
    }

    if (crm_http_header_in_next(r, "Idempotency-Key",
                                sizeof("Idempotency-Key") - 1, h)
        != NULL)
    {
        /* which one the client meant cannot be told */
        ctx->rc = crm_http_error(r, CRM_E_BAD_REQUEST,
                                 "Idempotency-Key is given twice", NULL);
        return NGX_ABORT;
    }

    key = &h->value;

    for (p = key->data; p < key->data + key->len; p++) {
        if (*p < 0x21 || *p > 0x7e) {
            break;
        }
    }

    if (key->len == 0 || key->len > CRM_IDEM_KEY_MAX
        || p != key->data + key->len)
    {
        ctx->rc = crm_http_error(r, CRM_E_BAD_REQUEST,
                                 "Idempotency-Key must be 1 to 255 "
                                 "printable characters", NULL);
        return NGX_ABORT;
    }

    if (ctx->mcf->redis == NULL || !crm_redis_up(ctx->mcf->redis)) {
        return crm_idem_unavailable(r, ctx);
    }

    /* crm:idem:<principal kind>:<crm_http_subject()>:<key> */

    /*
     * the key, the fingerprint, "i:" and the fingerprint again (the
     * claim's value), the TTL
     */

    ctx->idem = ngx_pcalloc(r->pool, sizeof(crm_idem_t));
    if (ctx->idem == NULL) {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    subject = crm_http_subject(&ctx->principal);

    p = ngx_pnalloc(r->pool, sizeof("crm:idem::") + NGX_INT_T_LEN
                             + subject->len + key->len
                             + CRM_IDEM_FP_LEN
                             + sizeof("i:") + CRM_IDEM_FP_LEN
                             + NGX_INT_T_LEN);
    if (p == NULL) {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    ctx->idem->key.data = p;
    p = ngx_sprintf(p, "crm:idem:%ui:%V:%V", ctx->principal.kind, subject,
                    key);
    ctx->idem->key.len = p - ctx->idem->key.data;

    /*
     * the fingerprint: method, URI with arguments, principal (the key's
     * "<kind>:<subject>"), body (in memory, or past the buffer in its
     * file); not the HTTP version, nor any header
     */

    principal.data = ctx->idem->key.data + sizeof("crm:idem:") - 1;
    principal.len = ctx->idem->key.len - (sizeof("crm:idem:") - 1)
                    - (sizeof(":") - 1) - key->len;

    body = (r->request_body != NULL) ? r->request_body->bufs : NULL;

    if (crm_idem_fingerprint(&r->method_name, &r->unparsed_uri, body,
                             &principal, p)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "crm: SHA-256 of the request failed");
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    ctx->idem->fp.data = p;
    ctx->idem->fp.len = CRM_IDEM_FP_LEN;
    p += CRM_IDEM_FP_LEN;

    argv[4].data = p;
    p = ngx_sprintf(p, "i:%V", &ctx->idem->fp);
    argv[4].len = p - argv[4].data;

    /*
     * the claim lives only as long as the request can take: a worker that
     * dies, or a response that cannot be stored, leaves no key behind for
     * longer than that
     */

    argv[5].data = p;
    p = ngx_sprintf(p, "%M", ctx->mcf->idempotency_claim_ttl);
    argv[5].len = p - argv[5].data;

    ngx_str_set(&argv[0], "EVAL");
    argv[1] = crm_idem_claim;
    ngx_str_set(&argv[2], "1");
    argv[3] = ctx->idem->key;


    if (crm_http_redis(r, ctx, crm_idem_claimed, 6, argv) == NULL)
    {
        ngx_str_null(&ctx->idem->key);
        return crm_idem_unavailable(r, ctx);
    }

    return NGX_AGAIN;
}


static void
crm_idem_claimed(crm_redis_cmd_t *cmd, redisReply *reply, void *data)
{
    ngx_int_t            n, rc;
    crm_ctx_t           *ctx;
    ngx_pool_cleanup_t  *cln;
    ngx_http_request_t  *r;

    r = data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_crm_module);

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        n = crm_log_limit(&ctx->mcf->idem_log);

        if (n >= 0) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "crm: idempotency claim failed: %s "
                          "(%i similar lines left out)",
                          reply ? reply->str : "no reply", n);
        }

        ngx_str_null(&ctx->idem->key);

        rc = crm_idem_unavailable(r, ctx);
        rc = (rc == NGX_OK) ? crm_run_next(r, ctx) : ctx->rc;

    } else if (reply->type == REDIS_REPLY_STRING) {
        rc = crm_idem_answer(r, ctx, (u_char *) reply->str, reply->len);

    } else {
        /* claimed: this request is the first */

        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        cln->handler = crm_idem_cleanup;
        cln->data = r;

        ctx->idem->claimed = 1;
        ctx->on_send = crm_idem_store;
        rc = crm_run_next(r, ctx);
    }

    if (rc != NGX_DONE) {
        crm_http_done(r, rc);
    }
}


/*
 * The key exists: "i:<fp>" (in flight) or
 * "d:<fp>:<status>:<location>[\t<etag>]\n<body>" (done; the ETag since
 * this version, and entries without one still read).
 */

static ngx_int_t
crm_idem_answer(ngx_http_request_t *r, crm_ctx_t *ctx, u_char *v,
    size_t len)
{
    u_char      *p, *last, *body;
    ngx_str_t    loc, etag, yes;
    ngx_int_t    status;

    last = v + len;

    if (len < 2 + CRM_IDEM_FP_LEN
        || ngx_strncmp(v + 2, ctx->idem->fp.data, CRM_IDEM_FP_LEN) != 0)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: idempotency key reused with another request");
        return crm_http_error(r, CRM_E_IDEMPOTENCY_KEY_REUSED,
                              "this Idempotency-Key was used with another "
                              "request", NULL);
    }

    if (v[0] == 'i') {
        return crm_http_error(r, CRM_E_CONFLICT,
                              "a request with this Idempotency-Key is "
                              "still in progress", NULL);
    }

    p = v + 2 + CRM_IDEM_FP_LEN + 1;

    if (p + 4 > last) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    status = ngx_atoi(p, 3);
    p += 4;

    loc.data = p;
    while (p < last && *p != '\n' && *p != '\t') {
        p++;
    }

    loc.len = p - loc.data;
    ngx_str_null(&etag);

    if (p < last && *p == '\t') {
        etag.data = ++p;

        while (p < last && *p != '\n') {
            p++;
        }

        etag.len = p - etag.data;
    }

    if (p == last || status == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p++;

    body = ngx_pnalloc(r->pool, (last - p) + loc.len + etag.len + 1);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(body, p, last - p);

    if (loc.len > 0) {
        loc.data = ngx_cpymem(body + (last - p), loc.data, loc.len)
                   - loc.len;

        if (crm_http_header_out(r, "Location", &loc) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (etag.len > 0) {
        etag.data = ngx_cpymem(body + (last - p) + loc.len, etag.data,
                               etag.len)
                    - etag.len;

        if (crm_http_header_out(r, "ETag", &etag) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    ngx_str_set(&yes, "true");

    crm_metrics_inc(ctx->mcf->metrics, idempotency_replays);

    /*
     * a replay may show a secret again (a key, a webhook's): whether the
     * first answer did is not kept, so no replay is stored by a cache
     */

    if (crm_http_header_out(r, "Idempotent-Replayed", &yes) != NGX_OK
        || crm_http_no_store(r) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_http_send_data(r, status, body, last - p);
}


static ngx_int_t
crm_idem_unavailable(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ngx_int_t  n;

    if (!ctx->mcf->idempotency_reject) {
        n = crm_log_limit(&ctx->mcf->idem_log);

        if (n >= 0) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "crm: Redis is down: Idempotency-Key not "
                          "enforced (%i similar lines left out)", n);
        }

        return NGX_OK;
    }

    ctx->rc = crm_http_error(r, CRM_E_SERVICE_UNAVAILABLE,
                             "idempotency keys are unavailable, retry later",
                             NULL);
    return NGX_ABORT;
}


/*
 * Called with every response sent while a key is claimed: the response
 * replaces the claim (a 5xx releases it).  Fire and forget, in a pool of
 * its own: the request may be gone when Redis answers.
 */

static void
crm_idem_store(ngx_http_request_t *r, crm_ctx_t *ctx, ngx_uint_t status,
    ngx_chain_t *out)
{
    u_char           *p;
    size_t            len;
    ngx_int_t         n;
    ngx_str_t         argv[5], loc, etag;
    ngx_uint_t        i, argc;
    ngx_pool_t       *pool;
    ngx_chain_t      *cl;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    ctx->idem->claimed = 0;
    ctx->on_send = NULL;

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return;
    }

    ngx_str_null(&loc);
    ngx_str_null(&etag);

    part = &r->headers_out.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {
        if (i >= part->nelts) {
            if (part->next == NULL) {
                break;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (h[i].hash != 0 && h[i].key.len == sizeof("Location") - 1
            && ngx_strncasecmp(h[i].key.data, (u_char *) "Location",
                               sizeof("Location") - 1) == 0)
        {
            loc = h[i].value;

        } else if (h[i].hash != 0 && h[i].key.len == sizeof("ETag") - 1
                   && ngx_strncasecmp(h[i].key.data, (u_char *) "ETag",
                                      sizeof("ETag") - 1) == 0)
        {
            etag = h[i].value;
        }
    }

    argv[1].data = ngx_pstrdup(pool, &ctx->idem->key);
    argv[1].len = ctx->idem->key.len;

    if (argv[1].data == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    if (status >= NGX_HTTP_INTERNAL_SERVER_ERROR) {
        ngx_str_set(&argv[0], "DEL");
        argc = 2;
        goto send;
    }

    len = 2 + CRM_IDEM_FP_LEN + 5 + loc.len + 1 + etag.len + 1;

    for (cl = out; cl; cl = cl->next) {
        len += cl->buf->last - cl->buf->pos;
    }

    p = ngx_pnalloc(pool, len + NGX_INT_T_LEN);
    if (p == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    argv[2].data = p;
    p = ngx_sprintf(p, "d:%V:%03ui:%V", &ctx->idem->fp, status, &loc);

    if (etag.len > 0) {
        p = ngx_sprintf(p, "\t%V", &etag);
    }

    *p++ = '\n';

    for (cl = out; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    argv[2].len = p - argv[2].data;

    argv[4].data = p;
    argv[4].len = ngx_sprintf(p, "%M", ctx->mcf->idempotency_ttl) - p;

    ngx_str_set(&argv[0], "SET");
    ngx_str_set(&argv[3], "PX");
    argc = 5;

send:

    if (crm_redis_command(ctx->mcf->redis, pool, crm_idem_stored, pool, argc,
                          argv)
        == NULL)
    {
        n = crm_log_limit(&ctx->mcf->idem_log);

        if (n >= 0) {
            ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                          "crm: could not store the idempotent response "
                          "(%i similar lines left out)", n);
        }

        ngx_destroy_pool(pool);
    }
}


/*
 * The request ends without a response of the module's own (nginx's error
 * page, a client gone): release the claim, so that a retry runs.
 */

static void
crm_idem_cleanup(void *data)
{
    ngx_http_request_t *r = data;

    crm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_crm_module);

    if (ctx != NULL && ctx->idem != NULL && ctx->idem->claimed) {
        crm_idem_store(r, ctx, NGX_HTTP_INTERNAL_SERVER_ERROR, NULL);
    }
}


static void
crm_idem_stored(crm_redis_cmd_t *cmd, redisReply *reply, void *data)
{
    ngx_int_t                  n;
    ngx_http_crm_main_conf_t  *mcf;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        mcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                                  ngx_http_crm_module);
        n = crm_log_limit(&mcf->idem_log);

        if (n >= 0) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "crm: storing an idempotent response failed "
                          "(%i similar lines left out)", n);
        }
    }

    ngx_destroy_pool(data);
}
