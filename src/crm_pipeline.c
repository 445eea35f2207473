
/*
 * ngx_http_crm_module: the request pipeline.
 *
 * route -> method -> credential -> body -> authenticate -> rate limit ->
 * scopes and roles -> Idempotency-Key -> dispatch to the route's handler.
 * Each step that may wait resumes the next from a callback; every path
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
static void crm_body_ready(ngx_http_request_t *r);
static ngx_int_t crm_proceed(ngx_http_request_t *r, crm_ctx_t *ctx);
static ngx_int_t crm_step(ngx_http_request_t *r, crm_ctx_t *ctx, ngx_int_t rc,
    crm_step_pt next);
static ngx_int_t crm_authorized(ngx_http_request_t *r, crm_ctx_t *ctx);
static ngx_int_t crm_permitted(ngx_http_request_t *r, crm_ctx_t *ctx);
static ngx_int_t crm_permitted_go(ngx_http_request_t *r, crm_ctx_t *ctx);
static crm_field_t *crm_owner_role(crm_resource_t *res);
static ngx_int_t crm_owner_target(ngx_http_request_t *r, crm_ctx_t *ctx);
static void crm_owner_target_done(crm_pg_req_t *pr, PGresult *res);
static ngx_uint_t crm_grants_owner(crm_ctx_t *ctx);
static ngx_int_t crm_dispatch(ngx_http_request_t *r, crm_ctx_t *ctx);
static void crm_discard(ngx_http_request_t *r);


static ngx_str_t  crm_owner_name = ngx_string("owner");


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

    if (crm_route(r, &ctx->route) != NGX_OK) {
        crm_discard(r);
        return crm_http_error(r, CRM_E_NOT_FOUND, "no such route", NULL);
    }

    if (crm_allowed(r, ctx) != NGX_OK) {
        return ctx->rc;
    }

    if (ctx->route.kind != CRM_ROUTE_HEALTH
        && !(ctx->route.kind == CRM_ROUTE_ACTION
             && ctx->route.action == CRM_ACTION_LOGIN)
        && crm_auth_credential(r, ctx) != NGX_OK)
    {
        crm_discard(r);
        return ctx->rc;
    }

    if (crm_method_body(r->method)
        && !(ctx->route.kind == CRM_ROUTE_ACTION
             && ctx->route.action != CRM_ACTION_LOGIN))
    {
        if (crm_body_expected(r, ctx) != NGX_OK) {
            return ctx->rc;
        }

        rc = ngx_http_read_client_request_body(r, crm_body_ready);
        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
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
    ngx_str_t   allow;
    ngx_uint_t  mask;

    switch (ctx->route.kind) {

    case CRM_ROUTE_COLLECTION:
        mask = NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_POST;
        ngx_str_set(&allow, "GET, HEAD, POST");
        break;

    case CRM_ROUTE_ACTION:
    case CRM_ROUTE_ITEM_ACTION:
    case CRM_ROUTE_BULK:
        mask = NGX_HTTP_POST;
        ngx_str_set(&allow, "POST");
        break;

    case CRM_ROUTE_ITEM:
        if (ctx->route.res->singleton) {
            mask = NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_PUT|NGX_HTTP_PATCH;
            ngx_str_set(&allow, "GET, HEAD, PUT, PATCH");
            break;
        }

        if (ctx->route.res->immutable) {
            mask = NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_DELETE;
            ngx_str_set(&allow, "GET, HEAD, DELETE");
            break;
        }

        mask = NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_PUT|NGX_HTTP_PATCH
               |NGX_HTTP_DELETE;
        ngx_str_set(&allow, "GET, HEAD, PUT, PATCH, DELETE");
        break;

    case CRM_ROUTE_LINK:
        if (ctx->route.target_id.len > 0) {
            mask = NGX_HTTP_DELETE;
            ngx_str_set(&allow, "DELETE");
            break;
        }

        if (ctx->route.link->through.len > 0) {
            mask = NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_POST;
            ngx_str_set(&allow, "GET, HEAD, POST");
            break;
        }

        /* fall through */

    default: /* health, links */
        mask = NGX_HTTP_GET|NGX_HTTP_HEAD;
        ngx_str_set(&allow, "GET, HEAD");
        break;
    }

    if (r->method & mask) {
        return NGX_OK;
    }

    crm_discard(r);

    if (crm_http_header_out(r, "Allow", &allow) != NGX_OK) {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

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

    if (crm_json_body(r, ctx) != NGX_OK) {
        crm_http_done(r, ctx->rc);
        return;
    }

    if (ctx->route.kind == CRM_ROUTE_BULK) {
        /* a bulk request counts as many requests as it has operations */
        ctx->cost = crm_bulk_cost(ctx);
    }

    crm_http_wait(r);

    rc = crm_proceed(r, ctx);

    if (rc != NGX_DONE) {
        crm_http_done(r, rc);
    }
}


/* authenticate (perhaps asynchronously), authorize, then serve */

static ngx_int_t
crm_proceed(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    if (ctx->route.kind == CRM_ROUTE_HEALTH
        || (ctx->route.kind == CRM_ROUTE_ACTION
            && ctx->route.action == CRM_ACTION_LOGIN))
    {
        return crm_dispatch(r, ctx);
    }

    return crm_step(r, ctx, crm_auth_resolve(r, ctx, crm_authorized),
                    crm_authorized);
}


/*
 * The result of a step that may wait (auth lookup, rate limit, idempotency
 * claim): NGX_OK goes on to "next" now, NGX_AGAIN means the step resumes
 * "next" itself later, NGX_ABORT means it answered (ctx->rc).
 */

static ngx_int_t
crm_step(ngx_http_request_t *r, crm_ctx_t *ctx, ngx_int_t rc,
    crm_step_pt next)
{
    switch (rc) {

    case NGX_OK:
        return next(r, ctx);

    case NGX_AGAIN:
        return NGX_DONE;

    default:
        return ctx->rc;
    }
}


/* an authenticated principal: first its rate limit */

static ngx_int_t
crm_authorized(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    return crm_step(r, ctx, crm_limit_check(r, ctx, crm_permitted),
                    crm_permitted);
}


/*
 * Within its rate limit.  Every route needs "<resource>:read" (GET,
 * HEAD) or "<resource>:write"; writes to an admin resource (API keys,
 * users, the workspace) are also closed to members' sessions.
 */

static ngx_int_t
crm_permitted(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ngx_uint_t        write;
    crm_resource_t   *res;
    crm_principal_t  *p;

    p = &ctx->principal;
    res = ctx->route.res;
    write = !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD));

    if (ctx->route.kind == CRM_ROUTE_ACTION
        || ctx->route.kind == CRM_ROUTE_METADATA
        || ctx->route.kind == CRM_ROUTE_SEARCH)
    {
        /* refresh and logout act on the session presented; the metadata
           describes the API, not a workspace's data; search checks the
           scope of every resource it reads */
        return crm_dispatch(r, ctx);
    }

    if (res->singleton) {
        ctx->route.id = ctx->workspace;
    }

    if (crm_auth_scope(&p->scopes, &res->name, write) != NGX_OK
        || (ctx->route.kind == CRM_ROUTE_LINK
            && crm_auth_scope(&p->scopes, &ctx->route.target->name, 0)
               != NGX_OK))
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: credential lacks the scope %V:%s",
                      &res->name, write ? "write" : "read");

        return crm_http_error(r, CRM_E_FORBIDDEN,
                              "the credential does not have the scope "
                              "this route needs", NULL);
    }

    if (res->admin && write && p->kind == CRM_PRINCIPAL_SESSION
        && p->role != CRM_ROLE_OWNER && p->role != CRM_ROLE_ADMIN)
    {
        return crm_http_error(r, CRM_E_FORBIDDEN,
                              "only owners and admins may do this", NULL);
    }

    if (p->kind == CRM_PRINCIPAL_SESSION && p->role != CRM_ROLE_OWNER
        && crm_grants_owner(ctx))
    {
        return crm_http_error(r, CRM_E_FORBIDDEN,
                              "only an owner may make an owner", NULL);
    }

    if (p->kind == CRM_PRINCIPAL_SESSION && p->role != CRM_ROLE_OWNER
        && ctx->route.kind == CRM_ROUTE_BULK && crm_owner_role(res) != NULL)
    {
        /* the owner rules are per record: in bulk, owners only */
        return crm_http_error(r, CRM_E_FORBIDDEN,
                              "only an owner may change users in bulk",
                              NULL);
    }

    if (write && p->kind == CRM_PRINCIPAL_SESSION
        && p->role != CRM_ROLE_OWNER && ctx->route.kind == CRM_ROUTE_ITEM
        && crm_owner_role(res) != NULL
        && crm_uuid_valid(ctx->route.id.data, ctx->route.id.len) == NGX_OK)
    {
        /* an owner's record is changed by owners only: is it one? */
        return crm_owner_target(r, ctx);
    }

    return crm_permitted_go(r, ctx);
}


static ngx_int_t
crm_permitted_go(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    return crm_step(r, ctx, crm_idem_begin(r, ctx, crm_dispatch),
                    crm_dispatch);
}


/* the enum field with an "owner" value ("role"), or NULL */

static crm_field_t *
crm_owner_role(crm_resource_t *res)
{
    crm_field_t  *f;

    f = crm_schema_field(res, (u_char *) "role", sizeof("role") - 1);

    return (f != NULL && f->enum_values != NULL) ? f : NULL;
}


/* counts the live record of the route whose role is "owner" */

static ngx_int_t
crm_owner_target(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    crm_stmt_t      *st;
    crm_query_t     *q;
    crm_resource_t  *res;

    res = ctx->route.res;

    q = ngx_pcalloc(r->pool, sizeof(crm_query_t));
    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));

    if (q == NULL || st == NULL
        || ngx_array_init(&q->filters, r->pool, 2, sizeof(crm_filter_t))
           != NGX_OK
        || crm_query_filter_eq(r->pool, q, crm_owner_role(res),
                               &crm_owner_name)
           != NGX_OK
        || crm_query_filter_eq(r->pool, q, &res->fields[0], &ctx->route.id)
           != NGX_OK
        || crm_sql_count(r->pool, res, &ctx->workspace, q, NULL, st)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_exec(r, ctx, st, crm_owner_target_done);
}


static void
crm_owner_target_done(crm_pg_req_t *pr, PGresult *res)
{
    ngx_int_t            rc;
    crm_ctx_t           *ctx;
    ngx_http_request_t  *r;

    r = crm_exec_result(pr, res, 1, &ctx);
    if (r == NULL) {
        return;
    }

    if (ngx_atoi((u_char *) PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0))
        != 0)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: a non-owner tried to change an owner's record");
        rc = crm_http_error(r, CRM_E_FORBIDDEN,
                            "only an owner may change an owner", NULL);

    } else {
        rc = crm_permitted_go(r, ctx);
    }

    if (rc != NGX_DONE) {
        crm_http_done(r, rc);
    }
}


/* a write that would give a user the owner role: only owners may */

static ngx_uint_t
crm_grants_owner(crm_ctx_t *ctx)
{
    json_t       *role;
    crm_field_t  *f;

    if (ctx->body == NULL) {
        return 0;
    }

    f = crm_schema_field(ctx->route.res, (u_char *) "role", 4);
    role = json_object_get(ctx->body, "role");

    return f != NULL && f->enum_values != NULL && json_is_string(role)
           && ngx_strcmp(json_string_value(role), "owner") == 0;
}


static ngx_int_t
crm_dispatch(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    switch (ctx->route.kind) {

    case CRM_ROUTE_HEALTH:
        return crm_health(r, ctx);

    case CRM_ROUTE_COLLECTION:
        if (r->method == NGX_HTTP_POST) {
            if (ctx->route.res->credential) {
                return crm_api_key_create(r, ctx);
            }

            return crm_create(r, ctx);
        }

        return crm_list(r, ctx);

    case CRM_ROUTE_ITEM:
        switch (r->method) {
        case NGX_HTTP_PUT:
        case NGX_HTTP_PATCH:
            return crm_update(r, ctx);
        case NGX_HTTP_DELETE:
            return crm_delete(r, ctx);
        default:
            return crm_get(r, ctx);
        }

    case CRM_ROUTE_LINK:
        if (r->method & (NGX_HTTP_POST|NGX_HTTP_DELETE)) {
            return crm_link(r, ctx);
        }

        return crm_list(r, ctx);

    case CRM_ROUTE_ACTION:
        return crm_auth_action(r, ctx);

    case CRM_ROUTE_ITEM_ACTION:
        return crm_item_action(r, ctx);

    case CRM_ROUTE_METADATA:
        return crm_metadata(r, ctx);

    case CRM_ROUTE_BULK:
        return crm_bulk(r, ctx);

    case CRM_ROUTE_SEARCH:
        return crm_search(r, ctx);

    default:
        return crm_http_error(r, CRM_E_NOT_FOUND, "no such route", NULL);
    }
}


/* a request answered before its body was read */

static void
crm_discard(ngx_http_request_t *r)
{
    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }
}
