
/*
 * ngx_http_crm_module: the request pipeline, the content handler of a
 * crm_api location.
 *
 * route (the route table, crm_routes.c) -> method (405 with Allow from
 * the route) -> credential -> body -> the stages (the stage table,
 * crm_stages.c: authentication, rate limit, permission, the body's
 * refusal if any, Idempotency-Key) -> the route's handler.  Every path
 * ends in exactly one ngx_http_finalize_request() (crm_http_done()).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "stages/crm_stages.h"
#include "handlers/crm_handlers.h"
#include "crm_pipeline.h"


#define crm_method_body(m)                                                   \
    ((m) & (NGX_HTTP_POST|NGX_HTTP_PUT|NGX_HTTP_PATCH))


static ngx_int_t crm_allowed(ngx_http_request_t *r, crm_ctx_t *ctx);
static ngx_int_t crm_body_expected(ngx_http_request_t *r, crm_ctx_t *ctx);
static ngx_int_t crm_body_charset(u_char *p, u_char *last);
static ngx_uint_t crm_body_encoded(ngx_http_request_t *r);
static void crm_body_ready(ngx_http_request_t *r);
static ngx_int_t crm_proceed(ngx_http_request_t *r, crm_ctx_t *ctx);
static void crm_discard(ngx_http_request_t *r);


ngx_int_t
crm_pipeline_handler(ngx_http_request_t *r)
{
    ngx_int_t   rc;
    crm_ctx_t  *ctx;

    ctx = crm_http_ctx(r);
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * If-Match and If-None-Match are the module's (against a record's
     * version before a write), not nginx's not-modified filter's
     */
    r->disable_not_modified = 1;

    if (crm_http_request_id(r, ctx) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_route(r, crm_routes, &ctx->route) != NGX_OK) {
        crm_discard(r);
        return crm_http_error(r, CRM_E_NOT_FOUND, "no such route", NULL);
    }

    if (crm_allowed(r, ctx) != NGX_OK) {
        return ctx->rc;
    }

    if ((ctx->route.flags & CRM_ROUTE_ANONYMOUS)
        && r->headers_in.authorization == NULL
        && crm_http_header_in(r, "X-API-Key", sizeof("X-API-Key") - 1)
           == NULL)
    {
        ctx->route.flags |= CRM_ROUTE_PUBLIC;
    }

    if (!(ctx->route.flags & CRM_ROUTE_PUBLIC)
        && crm_auth_credential(r, ctx) != NGX_OK)
    {
        crm_discard(r);
        return ctx->rc;
    }

    if (crm_method_body(r->method)
        && !(ctx->route.def->flags & CRM_ROUTE_NO_BODY)
        && !((ctx->route.def->flags & CRM_ROUTE_BODY_OPTIONAL)
             && r->headers_in.content_length_n <= 0
             && !r->headers_in.chunked))
    {
        ctx->on_error = crm_body_defer;
        rc = crm_body_expected(r, ctx);
        ctx->on_error = NULL;

        if (rc == NGX_OK) {
            rc = ngx_http_read_client_request_body(r, crm_body_ready);
            if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
                return rc;
            }

            return NGX_DONE;
        }

        if (ctx->body_error == NULL) {
            return ctx->rc;
        }

        /* the refusal is sent after the stages: crm_body_check() */
    }

    crm_discard(r);

    r->main->count++;

    crm_http_wait(r);

    rc = crm_proceed(r, ctx);
    if (rc != NGX_DONE) {
        crm_http_done(r, rc);
    }

    return NGX_DONE;
}


/* 405 with Allow for a method the route does not serve */

static ngx_int_t
crm_allowed(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    u_char           *p;
    ngx_str_t         allow;
    ngx_uint_t        mask;
    crm_route_def_t  *def;
    u_char            buf[sizeof("GET, HEAD, POST, PUT, PATCH, DELETE")];

    def = ctx->route.def;

    mask = 0;
    p = buf;

    if (def->get != NULL) {
        mask |= NGX_HTTP_GET|NGX_HTTP_HEAD;
        p = ngx_cpymem(p, ", GET, HEAD", sizeof(", GET, HEAD") - 1);
    }

    if (def->post != NULL) {
        mask |= NGX_HTTP_POST;
        p = ngx_cpymem(p, ", POST", sizeof(", POST") - 1);
    }

    if (def->put != NULL) {
        mask |= NGX_HTTP_PUT|NGX_HTTP_PATCH;
        p = ngx_cpymem(p, ", PUT, PATCH", sizeof(", PUT, PATCH") - 1);
    }

    if (def->delete != NULL) {
        mask |= NGX_HTTP_DELETE;
        p = ngx_cpymem(p, ", DELETE", sizeof(", DELETE") - 1);
    }

    if (r->method & mask) {
        return NGX_OK;
    }

    crm_discard(r);

    /* without the leading ", " */

    allow.len = (p > buf) ? (size_t) (p - buf) - 2 : 0;
    allow.data = ngx_pnalloc(r->pool, allow.len);

    if (allow.data == NULL
        || crm_http_header_out(r, "Allow", &allow) != NGX_OK)
    {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    ngx_memcpy(allow.data, buf + 2, allow.len);

    ctx->rc = crm_http_error(r, CRM_E_METHOD_NOT_ALLOWED,
                             "the method is not allowed on this route", NULL);
    return NGX_ABORT;
}


static ngx_int_t
crm_body_expected(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    u_char                   *p;
    ngx_str_t                *ct;
    ngx_http_crm_loc_conf_t  *lcf;

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_crm_module);

    if (r->headers_in.content_type == NULL) {
        goto unsupported;
    }

    ct = &r->headers_in.content_type->value;

    if (ct->len < sizeof("application/json") - 1
        || ngx_strncasecmp(ct->data, (u_char *) "application/json",
                           sizeof("application/json") - 1) != 0)
    {
        goto unsupported;
    }

    p = ct->data + sizeof("application/json") - 1;

    if (p != ct->data + ct->len && *p != ';' && *p != ' ') {
        goto unsupported;
    }

    /* JSON is UTF-8 (RFC 8259): a body said to be in another is refused */

    if (crm_body_charset(p, ct->data + ct->len) != NGX_OK) {
        crm_discard(r);
        ctx->rc = crm_http_error(r, CRM_E_UNSUPPORTED_MEDIA_TYPE,
                                 "the request body must be JSON in UTF-8 "
                                 "(charset=utf-8 or none)", NULL);
        return NGX_ABORT;
    }

    if (crm_body_encoded(r)) {
        crm_discard(r);
        ctx->rc = crm_http_error(r, CRM_E_UNSUPPORTED_MEDIA_TYPE,
                                 "a request body is taken without a "
                                 "Content-Encoding", NULL);
        return NGX_ABORT;
    }

    if (r->headers_in.content_length_n > (off_t) lcf->max_body_size) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: request body of %O bytes is over the limit",
                      r->headers_in.content_length_n);

        crm_discard(r);
        ctx->rc = crm_http_error(r, CRM_E_PAYLOAD_TOO_LARGE,
                                 "the request body is too large", NULL);
        return NGX_ABORT;
    }

    return NGX_OK;

unsupported:

    crm_discard(r);
    ctx->rc = crm_http_error(r, CRM_E_UNSUPPORTED_MEDIA_TYPE,
                             "the request body must be application/json", NULL);
    return NGX_ABORT;
}


/*
 * The parameters of a Content-Type after its type ("; charset=utf-8"):
 * NGX_OK without a charset or with UTF-8's (quoted or not, any case)
 */

static ngx_int_t
crm_body_charset(u_char *p, u_char *last)
{
    u_char  *v, *end;

    while (p < last) {
        while (p < last && (*p == ';' || *p == ' ' || *p == '\t')) {
            p++;
        }

        end = p;

        while (end < last && *end != ';') {
            end++;
        }

        if (end - p >= (ssize_t) sizeof("charset=") - 1
            && ngx_strncasecmp(p, (u_char *) "charset=",
                               sizeof("charset=") - 1)
               == 0)
        {
            v = p + sizeof("charset=") - 1;

            while (end > v && (end[-1] == ' ' || end[-1] == '\t')) {
                end--;
            }

            if (end - v >= 2 && *v == '"' && end[-1] == '"') {
                v++;
                end--;
            }

            if (!((end - v == 5
                   && ngx_strncasecmp(v, (u_char *) "utf-8", 5) == 0)
                  || (end - v == 4
                      && ngx_strncasecmp(v, (u_char *) "utf8", 4) == 0)))
            {
                return NGX_DECLINED;
            }
        }

        p = end;
    }

    return NGX_OK;
}


/* whether any Content-Encoding header names another than "identity" */

static ngx_uint_t
crm_body_encoded(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    for (h = crm_http_header_in(r, "Content-Encoding",
                                sizeof("Content-Encoding") - 1);
         h != NULL;
         h = crm_http_header_in_next(r, "Content-Encoding",
                                     sizeof("Content-Encoding") - 1, h))
    {
        if (!(h->value.len == sizeof("identity") - 1
              && ngx_strncasecmp(h->value.data, (u_char *) "identity",
                                 sizeof("identity") - 1)
                 == 0))
        {
            return 1;
        }
    }

    return 0;
}


static void
crm_body_ready(ngx_http_request_t *r)
{
    off_t                     len;
    ngx_int_t                 rc;
    ngx_chain_t              *cl;
    crm_ctx_t                *ctx;
    ngx_http_crm_loc_conf_t  *lcf;

    ctx = ngx_http_get_module_ctx(r, ngx_http_crm_module);
    lcf = ngx_http_get_module_loc_conf(r, ngx_http_crm_module);

    len = 0;

    if (r->request_body) {
        for (cl = r->request_body->bufs; cl; cl = cl->next) {
            len += ngx_buf_size(cl->buf);
        }
    }

    if (len > (off_t) lcf->max_body_size) {
        rc = crm_http_error(r, CRM_E_PAYLOAD_TOO_LARGE,
                            "the request body is too large", NULL);
        crm_http_done(r, rc);
        return;
    }

    ctx->on_error = crm_body_defer;
    rc = crm_json_body(r, ctx);
    ctx->on_error = NULL;

    if (rc != NGX_OK && ctx->body_error == NULL) {
        crm_http_done(r, ctx->rc);
        return;
    }

    if (rc == NGX_OK && ctx->route.kind == CRM_ROUTE_BULK) {
        /* a bulk request counts as many requests as it has operations */
        ctx->cost = crm_bulk_cost(ctx);
    }

    crm_http_wait(r);

    rc = crm_proceed(r, ctx);

    if (rc != NGX_DONE) {
        crm_http_done(r, rc);
    }
}


/* the stages, then the route's handler */

static ngx_int_t
crm_proceed(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ctx->stages = crm_stages;
    ctx->stage = 0;

    return crm_run(r, ctx);
}


/* a request answered before its body was read */

static void
crm_discard(ngx_http_request_t *r)
{
    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }
}
