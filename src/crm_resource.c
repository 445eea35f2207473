
/*
 * ngx_http_crm_module: the request pipeline and generic CRUD over the
 * resource descriptors.
 *
 * route -> body -> authenticate -> plan -> execute -> render.  Every
 * asynchronous step resumes from a PostgreSQL callback; every path ends
 * in exactly one ngx_http_finalize_request() (crm_http_done()).
 */


#include "crm_module.h"
#include <openssl/crypto.h>


static ngx_int_t crm_allowed(ngx_http_request_t *r, crm_ctx_t *ctx);
static ngx_int_t crm_proceed(ngx_http_request_t *r, crm_ctx_t *ctx);
static ngx_int_t crm_authorized(ngx_http_request_t *r, crm_ctx_t *ctx);
static ngx_int_t crm_permitted(ngx_http_request_t *r, crm_ctx_t *ctx);
static ngx_int_t crm_step(ngx_http_request_t *r, crm_ctx_t *ctx,
    ngx_int_t rc, crm_step_pt next);
static ngx_uint_t crm_grants_owner(crm_ctx_t *ctx);
static ngx_int_t crm_permitted_go(ngx_http_request_t *r, crm_ctx_t *ctx);
static crm_field_t *crm_owner_role(crm_resource_t *res);
static ngx_int_t crm_owner_target(ngx_http_request_t *r, crm_ctx_t *ctx);
static void crm_owner_target_done(crm_pg_req_t *pr, PGresult *res);
static ngx_int_t crm_filter_add(ngx_pool_t *pool, crm_query_t *q,
    crm_field_t *f, ngx_str_t *value);
static ngx_int_t crm_body_expected(ngx_http_request_t *r, crm_ctx_t *ctx);
static void crm_body_ready(ngx_http_request_t *r);
static ngx_int_t crm_dispatch(ngx_http_request_t *r, crm_ctx_t *ctx);
static ngx_int_t crm_constraint_field(crm_ctx_t *ctx, crm_db_error_t *e,
    crm_field_error_t *fe);
static ngx_int_t crm_resource_unavailable(ngx_http_request_t *r,
    crm_ctx_t *ctx);
static ngx_int_t crm_not_found(ngx_http_request_t *r, crm_ctx_t *ctx);
static crm_field_t *crm_resource_column(crm_resource_t *res, char *col);
static ngx_int_t crm_valid_id(ngx_str_t *id);
static ngx_int_t crm_if_match(ngx_http_request_t *r, crm_ctx_t *ctx);
static ngx_int_t crm_etag(ngx_http_request_t *r, crm_ctx_t *ctx,
    PGresult *res);
static ngx_int_t crm_missing(ngx_http_request_t *r, crm_ctx_t *ctx);
static void crm_exists_done(crm_pg_req_t *pr, PGresult *res);
static ngx_int_t crm_precondition_failed(ngx_http_request_t *r,
    crm_ctx_t *ctx);
static void crm_discard(ngx_http_request_t *r);

static ngx_int_t crm_list(ngx_http_request_t *r, crm_ctx_t *ctx);
static crm_resource_t *crm_list_target(crm_ctx_t *ctx,
    crm_parent_t **parent);
static ngx_int_t crm_link(ngx_http_request_t *r, crm_ctx_t *ctx);
static ngx_int_t crm_list_key(ngx_http_request_t *r, crm_ctx_t *ctx,
    crm_resource_t *res, crm_parent_t *parent);
static ngx_int_t crm_list_object(ngx_http_request_t *r, crm_ctx_t *ctx,
    crm_resource_t *res);
static ngx_int_t crm_create_object(ngx_http_request_t *r, crm_ctx_t *ctx);
static ngx_int_t crm_list_count(ngx_http_request_t *r, crm_ctx_t *ctx);
static void crm_list_count_done(crm_pg_req_t *pr, PGresult *res);
static ngx_int_t crm_list_page(ngx_http_request_t *r, crm_ctx_t *ctx);
static void crm_list_done(crm_pg_req_t *pr, PGresult *res);
static ngx_int_t crm_list_render(ngx_http_request_t *r, crm_ctx_t *ctx,
    PGresult *res);
static ngx_int_t crm_list_cursor(ngx_http_request_t *r, crm_ctx_t *ctx,
    PGresult *res, int row, ngx_uint_t backward, ngx_str_t *out);

static ngx_int_t crm_get(ngx_http_request_t *r, crm_ctx_t *ctx);
static ngx_int_t crm_create(ngx_http_request_t *r, crm_ctx_t *ctx);
static ngx_int_t crm_update(ngx_http_request_t *r, crm_ctx_t *ctx);
static ngx_int_t crm_delete(ngx_http_request_t *r, crm_ctx_t *ctx);
static void crm_delete_done(crm_pg_req_t *pr, PGresult *res);
static ngx_int_t crm_render_row(ngx_http_request_t *r, crm_ctx_t *ctx,
    ngx_uint_t status, u_char *row, size_t len);
static ngx_int_t crm_location(ngx_http_request_t *r, crm_ctx_t *ctx,
    u_char *row, size_t len);

static ngx_int_t crm_item_action(ngx_http_request_t *r, crm_ctx_t *ctx);
static ngx_int_t crm_metadata(ngx_http_request_t *r, crm_ctx_t *ctx);
static json_t *crm_metadata_object(crm_ctx_t *ctx, crm_resource_t *res);
static void crm_item_action_done(crm_pg_req_t *pr, PGresult *res);
static ngx_int_t crm_health(ngx_http_request_t *r, crm_ctx_t *ctx);
static void crm_health_pg_done(crm_pg_req_t *pr, PGresult *res);
static void crm_health_redis_done(crm_redis_cmd_t *cmd, redisReply *reply,
    void *data);
static ngx_int_t crm_health_render(ngx_http_request_t *r, crm_ctx_t *ctx);
static void crm_resource_resume(crm_pg_req_t *pr, PGresult *res);


static ngx_str_t  crm_owner_name = ngx_string("owner");


#define crm_method_body(m)                                                   \
    ((m) & (NGX_HTTP_POST|NGX_HTTP_PUT|NGX_HTTP_PATCH))


ngx_int_t
crm_resource_handler(ngx_http_request_t *r)
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
        && crm_valid_id(&ctx->route.id) == NGX_OK)
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
        || crm_filter_add(r->pool, q, crm_owner_role(res),
                          &crm_owner_name)
           != NGX_OK
        || crm_filter_add(r->pool, q, &res->fields[0], &ctx->route.id)
           != NGX_OK
        || crm_sql_count(r->pool, res, &ctx->workspace, q, NULL, st)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_resource_exec(r, ctx, st, crm_owner_target_done);
}


static void
crm_owner_target_done(crm_pg_req_t *pr, PGresult *res)
{
    ngx_int_t            rc;
    crm_ctx_t           *ctx;
    ngx_http_request_t  *r;

    r = crm_resource_result(pr, res, 1, &ctx);
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


/* an equality filter of a query built here, not parsed */

static ngx_int_t
crm_filter_add(ngx_pool_t *pool, crm_query_t *q, crm_field_t *f,
    ngx_str_t *value)
{
    ngx_str_t     *v;
    crm_filter_t  *flt;

    if (f == NULL) {
        return NGX_ERROR;
    }

    flt = ngx_array_push(&q->filters);
    if (flt == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(flt, sizeof(crm_filter_t));

    flt->field = f;
    flt->op = CRM_OP_EQ;

    if (ngx_array_init(&flt->values, pool, 1, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    v = ngx_array_push(&flt->values);
    if (v == NULL) {
        return NGX_ERROR;
    }

    *v = *value;

    return NGX_OK;
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


/* sends "st"; "h" resumes the request */

ngx_int_t
crm_resource_exec(ngx_http_request_t *r, crm_ctx_t *ctx, crm_stmt_t *st,
    crm_pg_handler_pt h)
{
    crm_pg_req_t   **pr;
    crm_pg_pool_t   *pool;

    if (ctx->mcf->pool == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "crm: no crm_postgres configured");
        return crm_http_error(r, CRM_E_SERVICE_UNAVAILABLE,
                              "the database is not configured", NULL);
    }

    pool = crm_heavy_pool(r, ctx);
    if (pool == NULL) {
        return ctx->rc;
    }

    pr = (pool == ctx->mcf->pool) ? &ctx->pg : &ctx->pg_heavy;

    if (*pr == NULL) {
        *pr = crm_pg_request(pool, r->pool, r->connection->log);
        if (*pr == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* a read whose client goes away is cancelled (crm_http_wait()) */
        (*pr)->cancel = (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) != 0;
    }

    ctx->pg_handler = h;

    crm_pg_exec(*pr, st, crm_resource_resume, r);

    return NGX_DONE;
}


/* every PostgreSQL callback of a request: then the posted requests */

static void
crm_resource_resume(crm_pg_req_t *pr, PGresult *res)
{
    crm_ctx_t           *ctx;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = pr->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_crm_module);

    ctx->pg_handler(pr, res);

    crm_http_posted(c);
}


/*
 * The start of a PostgreSQL callback: its request and context.  A result
 * that is not rows (an error, the database away), or with "one" not
 * exactly one row, is answered here and NULL returned.
 */

ngx_http_request_t *
crm_resource_result(crm_pg_req_t *pr, PGresult *res, ngx_uint_t one,
    crm_ctx_t **ctx)
{
    ngx_http_request_t  *r;

    r = pr->data;
    *ctx = ngx_http_get_module_ctx(r, ngx_http_crm_module);

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || (one && PQntuples(res) != 1))
    {
        crm_http_done(r, crm_resource_db_error(r, *ctx, pr, res));
        return NULL;
    }

    return r;
}


/*
 * A statement without a usable result: 503 when the database is busy or
 * away, the matching API error for a constraint, 500 otherwise.
 */

ngx_int_t
crm_resource_db_error(ngx_http_request_t *r, crm_ctx_t *ctx, crm_pg_req_t *pr,
    PGresult *res)
{
    crm_db_error_t  e;

    if (res == NULL) {
        /* the pool logs refusals: at once, then a summary a second */
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "crm: database unavailable (%s)",
                       pr->error == CRM_PG_BUSY ? "wait queue full"
                       : pr->error == CRM_PG_TIMEOUT ? "wait timed out"
                       : pr->error == CRM_PG_DOWN ? "unreachable"
                       : "connection lost");
        return crm_resource_unavailable(r, ctx);
    }

    e.state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    e.message = PQresultErrorMessage(res);
    e.primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    e.constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    e.column = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);

    return crm_resource_db_fail(r, ctx, &e);
}


/* the API error for a database error (also one operation's of a bulk) */

ngx_int_t
crm_resource_db_fail(ngx_http_request_t *r, crm_ctx_t *ctx,
    crm_db_error_t *e)
{
    char               *state, *msg;
    crm_field_t        *f;
    ngx_array_t         errors;
    crm_field_error_t  *fe;

    state = e->state ? e->state : "XX000";
    msg = e->message ? e->message : "(no message)";

    if (ngx_strcmp(state, "23505") == 0 || ngx_strcmp(state, "23503") == 0
        || ngx_strcmp(state, "23502") == 0 || ngx_strcmp(state, "23514") == 0)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: constraint violated: %s", msg);

        if (ngx_array_init(&errors, r->pool, 1, sizeof(crm_field_error_t))
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        fe = ngx_array_push(&errors);
        if (fe == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        (void) crm_constraint_field(ctx, e, fe);

        if (state[3] == '0' && state[4] == '5') {
            ngx_str_set(&fe->code, "duplicate");
            ngx_str_set(&fe->message, "the value is already in use");
            return crm_http_field_errors(r, CRM_E_DUPLICATE,
                                         "a record with this value exists",
                                         &errors);
        }

        if (state[4] == '3') {
            ngx_str_set(&fe->code, "not_found");
            ngx_str_set(&fe->message,
                        "the referenced record does not exist");

        } else if (state[4] == '4') {
            ngx_str_set(&fe->code, "invalid_value");
            ngx_str_set(&fe->message, "the value is out of range");

        } else {
            ngx_str_set(&fe->code, "required");
            ngx_str_set(&fe->message, "the field may not be null");
        }

        return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                     "the request is not valid", &errors);
    }

    if (state[0] == '2' && state[1] == '2') {
        /* data exceptions the validator did not catch */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: data exception: %s", msg);

        f = (e->column != NULL && ctx->route.res != NULL)
            ? crm_resource_column(ctx->route.res, e->column) : NULL;

        if (f == NULL) {
            return crm_http_error(r, CRM_E_VALIDATION_FAILED,
                                  "a value is not valid", NULL);
        }

        if (ngx_array_init(&errors, r->pool, 1, sizeof(crm_field_error_t))
            != NGX_OK
            || (fe = ngx_array_push(&errors)) == NULL)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        fe->field = f->name;
        ngx_str_set(&fe->code, "invalid_value");
        fe->message.data = (u_char *) e->primary;
        fe->message.len = fe->message.data
                          ? ngx_strlen(fe->message.data) : 0;

        return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                     "the request is not valid", &errors);
    }

    if (ngx_strcmp(state, "CR422") == 0) {
        /*
         * a rule of the database on a value (sql/010_custom_fields.sql):
         * COLUMN is the field's path, CONSTRAINT the code
         */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: invalid value: %s", msg);

        if (ngx_array_init(&errors, r->pool, 1, sizeof(crm_field_error_t))
            != NGX_OK
            || (fe = ngx_array_push(&errors)) == NULL)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        fe->field.data = (u_char *) (e->column ? e->column : "(record)");
        fe->field.len = ngx_strlen(fe->field.data);
        fe->code.data = (u_char *) (e->constraint ? e->constraint
                                                  : "invalid_value");
        fe->code.len = ngx_strlen(fe->code.data);
        fe->message.data = (u_char *) (e->primary ? e->primary : "");
        fe->message.len = ngx_strlen(fe->message.data);

        return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                     "the request is not valid", &errors);
    }

    if (ngx_strcmp(state, "CR409") == 0) {
        /* a state machine said no (sql/: SQLSTATE CR409) */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: invalid state: %s", msg);
        return crm_http_error(r, CRM_E_INVALID_STATE, e->primary, NULL);
    }

    if (ngx_strcmp(state, "57014") == 0 || ngx_strncmp(state, "08", 2) == 0
        || ngx_strncmp(state, "57P", 3) == 0
        || ngx_strcmp(state, "40001") == 0 || ngx_strcmp(state, "40P01") == 0
        || ngx_strcmp(state, "53300") == 0)
    {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "crm: database unavailable: %s", msg);
        return crm_resource_unavailable(r, ctx);
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "crm: statement failed (%s): %s", state, msg);

    return crm_http_error(r, CRM_E_INTERNAL, "internal error", NULL);
}


/* 503 with Retry-After: the pool's back-off */

static ngx_int_t
crm_resource_unavailable(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ngx_msec_t  ms;

    ms = crm_pg_retry_after(ctx->heavy_slot ? ctx->mcf->heavy_pool
                                            : ctx->mcf->pool);

    return crm_http_retry(r, CRM_E_SERVICE_UNAVAILABLE,
                          "the database is unavailable, retry later", ms,
                          NULL);
}


/*
 * Constraint and index names are "<table>_<column>_<kind>" (sql/): the
 * column, and through it the field, is read back from the name.
 */

static ngx_int_t
crm_constraint_field(crm_ctx_t *ctx, crm_db_error_t *e, crm_field_error_t *fe)
{
    char            *name, *col;
    size_t           len;
    crm_field_t     *f;
    crm_resource_t  *rs;

    ngx_str_set(&fe->field, "(record)");

    if (ctx->route.kind == CRM_ROUTE_LINK) {
        /* the one field of POST /<parent>/:id/<link> */
        ngx_str_set(&fe->field, "id");
        return NGX_OK;
    }

    rs = ctx->route.res;
    name = e->constraint;

    if (name == NULL) {
        name = e->column;
        if (name == NULL) {
            return NGX_DECLINED;
        }

        col = name;
        len = ngx_strlen(name);

    } else {
        len = ngx_strlen(name);

        if (len <= rs->table.len + 1
            || ngx_strncmp(name, rs->table.data, rs->table.len) != 0
            || name[rs->table.len] != '_')
        {
            return NGX_DECLINED;
        }

        /* "<column>_<kind>": strip the kind */

        col = name + rs->table.len + 1;
        len -= rs->table.len + 1;

        while (len > 0 && col[len - 1] != '_') {
            len--;
        }

        if (len < 2) {
            return NGX_DECLINED;
        }

        len--;
    }

    f = crm_schema_field(rs, (u_char *) col, len);
    if (f == NULL) {
        return NGX_DECLINED;
    }

    fe->field = f->name;

    return NGX_OK;
}


/* a field by its column or name, write-only ones included (a password) */

static crm_field_t *
crm_resource_column(crm_resource_t *res, char *col)
{
    ngx_uint_t  i;

    for (i = 0; i < res->nfields; i++) {
        if (ngx_strcmp(res->fields[i].column.data, col) == 0
            || ngx_strcmp(res->fields[i].name.data, col) == 0)
        {
            return &res->fields[i];
        }
    }

    return NULL;
}


static ngx_int_t
crm_not_found(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    return crm_http_error(r, CRM_E_NOT_FOUND, "the record does not exist",
                          NULL);
}


/*
 * If-Match on PUT, PATCH and DELETE of a versioned record: "*", or the
 * ETag "<version>" (a weak W/ prefix is ignored).  Anything else cannot
 * match: 412.
 */

static ngx_int_t
crm_if_match(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    u_char           *p, *last;
    ngx_table_elt_t  *h;

    ngx_str_null(&ctx->match);

    h = crm_http_header_in(r, "If-Match", sizeof("If-Match") - 1);

    if (h == NULL || !ctx->route.res->versioned
        || (h->value.len == 1 && h->value.data[0] == '*'))
    {
        return NGX_OK;
    }

    p = h->value.data;
    last = p + h->value.len;

    if (last - p > 2 && p[0] == 'W' && p[1] == '/') {
        p += 2;
    }

    if (last - p < 3 || *p != '"' || last[-1] != '"' || last - p > 12) {
        goto failed;
    }

    ctx->match.data = ++p;
    ctx->match.len = --last - p;

    for ( /* void */ ; p < last; p++) {
        if (*p < '0' || *p > '9') {
            goto failed;
        }
    }

    return NGX_OK;

failed:

    ctx->rc = crm_http_error(r, CRM_E_PRECONDITION_FAILED,
                             "If-Match does not name this record's version",
                             NULL);
    return NGX_ABORT;
}


/*
 * ETag: "<version>".  A GET whose If-None-Match names it (or "*") is
 * 304 Not Modified.  NGX_OK, NGX_ABORT (answered: ctx->rc), or a status.
 */

static ngx_int_t
crm_etag(ngx_http_request_t *r, crm_ctx_t *ctx, PGresult *res)
{
    u_char           *p;
    ngx_str_t         etag, *inm;
    ngx_table_elt_t  *h;

    etag.len = PQgetlength(res, 0, 1) + 2;
    etag.data = ngx_pnalloc(r->pool, etag.len);
    if (etag.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = etag.data;
    *p++ = '"';
    p = ngx_cpymem(p, PQgetvalue(res, 0, 1), PQgetlength(res, 0, 1));
    *p = '"';

    if (crm_http_header_out(r, "ETag", &etag) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_OK;
    }

    h = crm_http_header_in(r, "If-None-Match", sizeof("If-None-Match") - 1);
    if (h == NULL) {
        return NGX_OK;
    }

    inm = &h->value;

    if ((inm->len == 1 && inm->data[0] == '*')
        || ngx_strlcasestrn(inm->data, inm->data + inm->len, etag.data,
                            etag.len - 1) != NULL)
    {
        ctx->rc = crm_http_send(r, NGX_HTTP_NOT_MODIFIED, NULL, 0);
        return NGX_ABORT;
    }

    return NGX_OK;
}


/*
 * No row was written: the record is not there (404), or, with If-Match,
 * it is there in another version (412).
 */

static ngx_int_t
crm_missing(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    crm_stmt_t  *st;

    if (ctx->match.len == 0) {
        return crm_not_found(r, ctx);
    }

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL
        || crm_sql_exists(r->pool, ctx->route.res, &ctx->workspace,
                          &ctx->route.id, st)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->next = crm_precondition_failed;

    return crm_resource_exec(r, ctx, st, crm_exists_done);
}


/* an existence check: 404 when the record is not there, else ctx->next */

static void
crm_exists_done(crm_pg_req_t *pr, PGresult *res)
{
    ngx_int_t            rc;
    crm_ctx_t           *ctx;
    ngx_http_request_t  *r;

    r = crm_resource_result(pr, res, 0, &ctx);
    if (r == NULL) {
        return;
    }

    if (PQntuples(res) == 0) {
        rc = crm_not_found(r, ctx);

    } else {
        rc = ctx->next(r, ctx);
    }

    if (rc != NGX_DONE) {
        crm_http_done(r, rc);
    }
}


static ngx_int_t
crm_precondition_failed(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    return crm_http_error(r, CRM_E_PRECONDITION_FAILED,
                          "the record has changed since the version "
                          "in If-Match", NULL);
}


/* a request answered before its body was read */

static void
crm_discard(ngx_http_request_t *r)
{
    if (ngx_http_discard_request_body(r) != NGX_OK) {
        r->keepalive = 0;
    }
}


static ngx_int_t
crm_valid_id(ngx_str_t *id)
{
    return crm_uuid_valid(id->data, id->len);
}


/* lists: GET /<resource> and GET /<resource>/<id>/<link> */

static ngx_int_t
crm_list(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ngx_uint_t       nextra;
    crm_error_t      err;
    crm_field_t     *extra;
    crm_stmt_t      *st;
    crm_parent_t    *parent;
    crm_resource_t  *res;

    res = crm_list_target(ctx, &parent);

    if (ctx->custom == NULL && crm_custom_wanted(r, res)) {
        /* customFields.<name> filters and sorts need the definitions */
        return crm_custom_load(r, ctx, res, crm_list);
    }

    if (crm_custom_query_fields(r->pool, ctx, res, &extra, &nextra)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_list_key(r, ctx, res, parent) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    switch (crm_query_parse_ext(r->pool, res, extra, nextra, &r->args,
                                &ctx->cursor_key, &ctx->query, &err))
    {
    case NGX_OK:
        break;

    case NGX_DECLINED:
        return crm_http_param_error(r, &err);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->route.object != NULL
        && crm_list_object(r, ctx, res) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->route.kind != CRM_ROUTE_LINK) {
        return crm_list_count(r, ctx);
    }

    /* the parent must exist in this workspace */

    if (crm_valid_id(&ctx->route.id) != NGX_OK) {
        return crm_not_found(r, ctx);
    }

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_sql_exists(r->pool, ctx->route.res, &ctx->workspace,
                       &ctx->route.id, st)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->next = crm_list_count;

    return crm_resource_exec(r, ctx, st, crm_exists_done);
}


/*
 * The key of this list's cursors: a cursor is good only for the list it
 * was made for ("contacts", "companies/<id>/contacts",
 * "metadata/objects/contacts/fields"), in the workspace it was made in
 */

static ngx_int_t
crm_list_key(ngx_http_request_t *r, crm_ctx_t *ctx, crm_resource_t *res,
    crm_parent_t *parent)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   list, *obj;

    if (parent != NULL) {
        len = parent->res->name.len + parent->id.len
              + parent->link->name.len + 2;

        list.data = ngx_pnalloc(r->pool, len);
        if (list.data == NULL) {
            return NGX_ERROR;
        }

        /* a UUID in either case names one parent */

        p = ngx_cpymem(list.data, parent->res->name.data,
                       parent->res->name.len);
        *p++ = '/';
        ngx_strlow(p, parent->id.data, parent->id.len);
        p += parent->id.len;
        *p++ = '/';
        p = ngx_cpymem(p, parent->link->name.data, parent->link->name.len);

        list.len = p - list.data;

    } else if (ctx->route.object != NULL) {
        obj = &ctx->route.object->name;
        len = sizeof("metadata/objects//fields") - 1 + obj->len;

        list.data = ngx_pnalloc(r->pool, len);
        if (list.data == NULL) {
            return NGX_ERROR;
        }

        list.len = ngx_sprintf(list.data, "metadata/objects/%V/fields", obj)
                   - list.data;

    } else {
        list = res->name;
    }

    return crm_cursor_key(r->pool, &ctx->mcf->cursor_secret,
                          &ctx->workspace, &list, &ctx->cursor_key);
}


/* /metadata/objects/<object>/fields: the custom fields of <object> */

static ngx_int_t
crm_list_object(ngx_http_request_t *r, crm_ctx_t *ctx, crm_resource_t *res)
{
    return crm_filter_add(r->pool, &ctx->query,
                          crm_schema_field(res, (u_char *) "object", 6),
                          &ctx->route.object->name);
}


/*
 * The body of POST /metadata/objects/<object>/fields names its object by
 * the path; an "object" in the body must agree
 */

static ngx_int_t
crm_create_object(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    json_t             *v;
    ngx_str_t          *name;
    ngx_array_t         errors;
    crm_field_error_t  *fe;

    name = &ctx->route.object->name;
    v = json_object_get(ctx->body, "object");

    if (v == NULL) {
        if (json_object_set_new(ctx->body, "object",
                                json_stringn((char *) name->data, name->len))
            != 0)
        {
            ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_ABORT;
        }

        return NGX_OK;
    }

    if (json_is_string(v) && json_string_length(v) == name->len
        && ngx_strncmp(json_string_value(v), name->data, name->len) == 0)
    {
        return NGX_OK;
    }

    if (ngx_array_init(&errors, r->pool, 1, sizeof(crm_field_error_t))
        != NGX_OK
        || (fe = ngx_array_push(&errors)) == NULL)
    {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    ngx_str_set(&fe->field, "object");
    ngx_str_set(&fe->code, "invalid_value");
    ngx_str_set(&fe->message, "must be the object of the path");

    ctx->rc = crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                    "the request is not valid", &errors);
    return NGX_ABORT;
}


/* the resource listed: a sub-collection lists its target by parent */

static crm_resource_t *
crm_list_target(crm_ctx_t *ctx, crm_parent_t **parent)
{
    if (ctx->route.kind == CRM_ROUTE_LINK) {
        ctx->parent.res = ctx->route.res;
        ctx->parent.link = ctx->route.link;
        ctx->parent.id = ctx->route.id;
        *parent = &ctx->parent;
        return ctx->route.target;
    }

    *parent = NULL;

    return ctx->route.res;
}


static ngx_int_t
crm_list_count(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    crm_stmt_t      *st, *count;
    crm_parent_t    *parent;
    crm_resource_t  *res;

    /* a search or an exact count reads many rows: the heavy pool */
    ctx->heavy = (ctx->query.q.len > 0
                  || ctx->query.count == CRM_COUNT_EXACT);

    if (ctx->query.count == CRM_COUNT_NONE) {
        return crm_list_page(r, ctx);
    }

    res = crm_list_target(ctx, &parent);

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_sql_count(r->pool, res, &ctx->workspace, &ctx->query, parent,
                      st)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->query.count == CRM_COUNT_ESTIMATED) {
        /* the planner's estimate of the same rows: no scan */
        count = st;

        st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
        if (st == NULL
            || crm_sql_estimate(r->pool, &ctx->workspace, count, st)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return crm_resource_exec(r, ctx, st, crm_list_count_done);
}


static void
crm_list_count_done(crm_pg_req_t *pr, PGresult *res)
{
    ngx_int_t            rc;
    crm_ctx_t           *ctx;
    ngx_http_request_t  *r;

    r = crm_resource_result(pr, res, 1, &ctx);
    if (r == NULL) {
        return;
    }

    ctx->total = ngx_atoi((u_char *) PQgetvalue(res, 0, 0),
                          PQgetlength(res, 0, 0));
    rc = crm_list_page(r, ctx);

    if (rc != NGX_DONE) {
        crm_http_done(r, rc);
    }
}


static ngx_int_t
crm_list_page(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    crm_stmt_t      *st;
    crm_parent_t    *parent;
    crm_resource_t  *res;

    res = crm_list_target(ctx, &parent);

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_sql_list(r->pool, res, &ctx->workspace, &ctx->query, parent, st)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_resource_exec(r, ctx, st, crm_list_done);
}


static void
crm_list_done(crm_pg_req_t *pr, PGresult *res)
{
    crm_ctx_t           *ctx;
    ngx_http_request_t  *r;

    r = crm_resource_result(pr, res, 0, &ctx);
    if (r == NULL) {
        return;
    }

    crm_http_done(r, crm_list_render(r, ctx, res));
}


/*
 * {"data":[...],"meta":{"requestId":..,"timestamp":..,"limit":N,
 *  "cursor":{"next":..,"previous":..,"hasMore":..}[,"total":N]}}
 *
 * The statement fetched limit + 1 rows: the extra one says whether there
 * is more in the direction of travel.  A backward page came in reverse
 * order and is rendered reversed.
 */

static ngx_int_t
crm_list_render(ngx_http_request_t *r, crm_ctx_t *ctx, PGresult *res)
{
    int           n, rows, i, row;
    u_char       *p, *body, *meta;
    size_t        len, mlen;
    ngx_str_t     next, prev;
    ngx_uint_t    more, backward;
    crm_query_t  *q;

    q = &ctx->query;
    n = PQntuples(res);
    rows = ngx_min(n, (int) q->limit);
    more = (n > (int) q->limit);
    backward = q->has_cursor && q->backward;

    ngx_str_null(&next);
    ngx_str_null(&prev);

    if (rows > 0) {
        /* result rows in display order: first = 0 or rows - 1 */

        if (backward) {
            if (more
                && crm_list_cursor(r, ctx, res, rows - 1, 1, &prev) != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            if (crm_list_cursor(r, ctx, res, 0, 0, &next) != NGX_OK) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            more = 1;

        } else {
            if (more
                && crm_list_cursor(r, ctx, res, rows - 1, 0, &next) != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            if (q->has_cursor
                && crm_list_cursor(r, ctx, res, 0, 1, &prev) != NGX_OK)
            {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }
    }

    if (crm_http_meta(r, ctx, &meta, &mlen) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = sizeof("{\"data\":[],\"meta\":{,\"limit\":,\"cursor\":{\"next\":"
                 "\"\",\"previous\":\"\",\"hasMore\":false},\"total\":}}")
          + mlen + next.len + prev.len + 2 * NGX_INT_T_LEN;

    for (i = 0; i < rows; i++) {
        len += PQgetlength(res, i, 0) + 1;
    }

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body, "{\"data\":[", sizeof("{\"data\":[") - 1);

    for (i = 0; i < rows; i++) {
        row = backward ? rows - 1 - i : i;

        if (i > 0) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, PQgetvalue(res, row, 0), PQgetlength(res, row, 0));
    }

    p = ngx_cpymem(p, "],\"meta\":{", sizeof("],\"meta\":{") - 1);
    p = ngx_cpymem(p, meta, mlen);
    p = ngx_sprintf(p, ",\"limit\":%ui,\"cursor\":{\"next\":", q->limit);

    if (next.len) {
        p = ngx_sprintf(p, "\"%V\"", &next);

    } else {
        p = ngx_cpymem(p, "null", 4);
    }

    p = ngx_cpymem(p, ",\"previous\":", sizeof(",\"previous\":") - 1);

    if (prev.len) {
        p = ngx_sprintf(p, "\"%V\"", &prev);

    } else {
        p = ngx_cpymem(p, "null", 4);
    }

    p = ngx_sprintf(p, ",\"hasMore\":%s}", more ? "true" : "false");

    if (ctx->total >= 0) {
        p = ngx_sprintf(p, ",\"total\":%i", ctx->total);
    }

    *p++ = '}';
    *p++ = '}';

    return crm_http_send_data(r, NGX_HTTP_OK, body, p - body);
}


/* the cursor of result row "row": its sort keys, columns 1..nkeys */

static ngx_int_t
crm_list_cursor(ngx_http_request_t *r, crm_ctx_t *ctx, PGresult *res,
    int row, ngx_uint_t backward, ngx_str_t *out)
{
    ngx_uint_t  i;
    ngx_str_t   keys[CRM_MAX_KEYS];
    u_char      nulls[CRM_MAX_KEYS];

    for (i = 0; i < ctx->query.nsort; i++) {
        nulls[i] = (u_char) PQgetisnull(res, row, (int) i + 1);
        keys[i].data = (u_char *) PQgetvalue(res, row, (int) i + 1);
        keys[i].len = PQgetlength(res, row, (int) i + 1);
    }

    return crm_cursor_encode(r->pool, &ctx->cursor_key, &ctx->query,
                             backward, keys, nulls, out);
}


/* single records */

static ngx_int_t
crm_get(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    crm_error_t   err;
    crm_stmt_t   *st;

    switch (crm_query_parse_fields(r->pool, ctx->route.res, &r->args,
                                   &ctx->query, &err))
    {
    case NGX_OK:
        break;

    case NGX_DECLINED:
        return crm_http_param_error(r, &err);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_valid_id(&ctx->route.id) != NGX_OK) {
        return crm_not_found(r, ctx);
    }

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_sql_get(r->pool, ctx->route.res, &ctx->workspace,
                    &ctx->route.id, ctx->query.select, st)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_resource_exec(r, ctx, st, crm_resource_row_done);
}


static ngx_int_t
crm_create(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ngx_int_t     rc;
    ngx_array_t   values, errors;
    crm_stmt_t   *st;

    if (r->args.len > 0) {
        crm_error_t  err;

        ngx_str_set(&err.param, "(query)");
        ngx_str_set(&err.code, "unknown_parameter");
        ngx_str_set(&err.message, "this route takes no query parameters");

        return crm_http_param_error(r, &err);
    }

    if (ctx->route.object != NULL && crm_create_object(r, ctx) != NGX_OK) {
        return ctx->rc;
    }

    if (ngx_array_init(&values, r->pool, 16, sizeof(crm_value_t)) != NGX_OK
        || ngx_array_init(&errors, r->pool, 4, sizeof(crm_field_error_t))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = crm_validate(r->pool, ctx->route.res, ctx->body, 1, &values,
                      &errors);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: %V create: %ui invalid fields",
                      &ctx->route.res->name, errors.nelts);
        return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                     "the request is not valid", &errors);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_sql_insert(r->pool, ctx->route.res, &ctx->workspace, &values,
                       st)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_resource_exec(r, ctx, st, crm_resource_row_done);
}


static ngx_int_t
crm_update(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ngx_int_t     rc;
    ngx_array_t   values, errors;
    crm_stmt_t   *st;

    if (crm_valid_id(&ctx->route.id) != NGX_OK) {
        return crm_not_found(r, ctx);
    }

    if (crm_if_match(r, ctx) != NGX_OK) {
        return ctx->rc;
    }

    if (ngx_array_init(&values, r->pool, 16, sizeof(crm_value_t)) != NGX_OK
        || ngx_array_init(&errors, r->pool, 4, sizeof(crm_field_error_t))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = crm_validate(r->pool, ctx->route.res, ctx->body, 0, &values,
                      &errors);

    if (rc == NGX_DECLINED) {
        return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                     "the request is not valid", &errors);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_sql_update(r->pool, ctx->route.res, &ctx->workspace,
                       &ctx->route.id, &values, &ctx->match, st)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_resource_exec(r, ctx, st, crm_resource_row_done);
}


static ngx_int_t
crm_delete(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    crm_stmt_t  *st;

    if (crm_valid_id(&ctx->route.id) != NGX_OK) {
        return crm_not_found(r, ctx);
    }

    if (crm_if_match(r, ctx) != NGX_OK) {
        return ctx->rc;
    }

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_sql_delete(r->pool, ctx->route.res, &ctx->workspace,
                       &ctx->route.id, &ctx->match, st)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_resource_exec(r, ctx, st, crm_delete_done);
}


/* get, create, update: one row of JSON or nothing */

void
crm_resource_row_done(crm_pg_req_t *pr, PGresult *res)
{
    ngx_int_t            rc;
    ngx_uint_t           status;
    crm_ctx_t           *ctx;
    ngx_http_request_t  *r;

    r = crm_resource_result(pr, res, 0, &ctx);
    if (r == NULL) {
        return;
    }

    if (PQntuples(res) == 0) {
        rc = crm_missing(r, ctx);

    } else {
        status = NGX_HTTP_OK;

        if (PQnfields(res) > 1) {
            rc = crm_etag(r, ctx, res);

            if (rc != NGX_OK) {
                crm_http_done(r, rc == NGX_ABORT ? ctx->rc : rc);
                return;
            }
        }

        if (r->method == NGX_HTTP_POST
            && ctx->route.kind == CRM_ROUTE_COLLECTION)
        {
            status = NGX_HTTP_CREATED;

            if (crm_location(r, ctx, (u_char *) PQgetvalue(res, 0, 0),
                             PQgetlength(res, 0, 0))
                != NGX_OK)
            {
                crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }
        }

        rc = crm_render_row(r, ctx, status, (u_char *) PQgetvalue(res, 0, 0),
                            PQgetlength(res, 0, 0));
    }

    if (rc != NGX_DONE) {
        crm_http_done(r, rc);
    }
}


static void
crm_delete_done(crm_pg_req_t *pr, PGresult *res)
{
    ngx_int_t            rc;
    crm_ctx_t           *ctx;
    ngx_http_request_t  *r;

    r = crm_resource_result(pr, res, 0, &ctx);
    if (r == NULL) {
        return;
    }

    if (PQntuples(res) == 0) {
        rc = crm_missing(r, ctx);

    } else {
        if (ctx->route.res->revokes) {
            /* revoked: effective at once on this host */
            crm_auth_forget(ctx->mcf, &ctx->route.id);
        }

        rc = crm_http_send(r, NGX_HTTP_NO_CONTENT, NULL, 0);
    }

    if (rc != NGX_DONE) {
        crm_http_done(r, rc);
    }
}


/*
 * POST /<parent>/:id/<link> {"id": <target>} adds a target to a "through"
 * link, DELETE /<parent>/:id/<link>/:target removes it; both answer the
 * parent record (its new version) and take If-Match.  Adding a linked id
 * or removing an absent one is a no-op, not an error.
 */

static ngx_int_t
crm_link(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    json_t             *id;
    ngx_str_t           target;
    crm_stmt_t         *st;
    ngx_array_t         errors;
    crm_field_error_t  *fe;

    if (crm_valid_id(&ctx->route.id) != NGX_OK) {
        return crm_not_found(r, ctx);
    }

    if (r->method == NGX_HTTP_DELETE) {
        target = ctx->route.target_id;

        if (crm_valid_id(&target) != NGX_OK) {
            return crm_http_error(r, CRM_E_NOT_FOUND,
                                  "the linked record was not found", NULL);
        }

    } else {
        id = json_object_get(ctx->body, "id");

        if (ngx_array_init(&errors, r->pool, 1, sizeof(crm_field_error_t))
            != NGX_OK
            || (fe = ngx_array_push(&errors)) == NULL)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_str_set(&fe->field, "id");

        if (json_object_size(ctx->body) != 1 || id == NULL) {
            ngx_str_set(&fe->code, "required");
            ngx_str_set(&fe->message,
                        "the body must be {\"id\": <the record's id>}");
            return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                         "the request is not valid",
                                         &errors);
        }

        target.data = (u_char *) json_string_value(id);
        target.len = target.data ? json_string_length(id) : 0;

        if (target.data == NULL || crm_valid_id(&target) != NGX_OK) {
            ngx_str_set(&fe->code, "invalid_format");
            ngx_str_set(&fe->message, "must be a UUID string");
            return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                         "the request is not valid",
                                         &errors);
        }
    }

    if (crm_if_match(r, ctx) != NGX_OK) {
        return ctx->rc;
    }

    ctx->parent.res = ctx->route.res;
    ctx->parent.link = ctx->route.link;
    ctx->parent.id = ctx->route.id;

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_sql_link(r->pool, &ctx->parent, &ctx->workspace, &target,
                     r->method == NGX_HTTP_POST, &ctx->match, st)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_resource_exec(r, ctx, st, crm_resource_row_done);
}


/* {"data":<row>,"meta":{...}} */

static ngx_int_t
crm_render_row(ngx_http_request_t *r, crm_ctx_t *ctx, ngx_uint_t status,
    u_char *row, size_t len)
{
    u_char  *p, *body, *meta;
    size_t   mlen;

    if (crm_http_meta(r, ctx, &meta, &mlen) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body = ngx_pnalloc(r->pool, sizeof("{\"data\":,\"meta\":{}}") + len
                                + mlen + sizeof("{\"key\" : \"\", ")
                                + ctx->secret.len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body, "{\"data\":", sizeof("{\"data\":") - 1);

    if (ctx->secret.len > 0 && len > 1) {

        /* a new API key: its secret comes first, this once */

        p = ngx_sprintf(p, "{\"key\" : \"%V\", ", &ctx->secret);
        row++;
        len--;
    }

    p = ngx_cpymem(p, row, len);
    p = ngx_cpymem(p, ",\"meta\":{", sizeof(",\"meta\":{") - 1);
    p = ngx_cpymem(p, meta, mlen);
    *p++ = '}';
    *p++ = '}';

    return crm_http_send_data(r, status, body, p - body);
}


/*
 * Location: <mount><resource>/<id>.  The row JSON comes from the planner
 * and always starts with the id: {"id" : "<uuid>", ...
 */

static ngx_int_t
crm_location(ngx_http_request_t *r, crm_ctx_t *ctx, u_char *row, size_t len)
{
    u_char     *p, *last, *id;
    ngx_str_t   loc;

    last = row + len;

    p = ngx_strlcasestrn(row, last, (u_char *) "\"id\"", 4 - 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p += 4;

    while (p < last && *p != '"') {
        p++;
    }

    id = ++p;

    while (p < last && *p != '"') {
        p++;
    }

    if (p >= last || p - id != 36) {
        return NGX_ERROR;
    }

    loc.len = ctx->route.base.len + ctx->route.res->name.len + 1 + 36;
    loc.data = ngx_pnalloc(r->pool, loc.len);
    if (loc.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(loc.data, "%V%V/%*s", &ctx->route.base,
                &ctx->route.res->name, (size_t) 36, id);

    return crm_http_header_out(r, "Location", &loc);
}


/*
 * POST /<resource>/:id/<action>: the action's SQL function, named by the
 * descriptor, gets the workspace, the id and the body, and answers with
 * JSON (NULL: no such record).  One statement: one transaction.
 */

static ngx_int_t
crm_item_action(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    char         *dump;
    u_char       *p;
    size_t        len;
    crm_stmt_t   *st;
    crm_param_t  *param;

    if (crm_valid_id(&ctx->route.id) != NGX_OK) {
        return crm_not_found(r, ctx);
    }

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL
        || ngx_array_init(&st->params, r->pool, 3, sizeof(crm_param_t))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    param = ngx_array_push_n(&st->params, 3);
    if (param == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(param, 3 * sizeof(crm_param_t));

    dump = json_dumps(ctx->body, JSON_COMPACT);
    if (dump == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = ngx_strlen(dump);
    param[2].value.data = ngx_pnalloc(r->pool, len);

    if (param[2].value.data == NULL) {
        free(dump);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(param[2].value.data, dump, len);
    param[2].value.len = len;
    free(dump);

    param[0].value = ctx->workspace;
    param[1].value = ctx->route.id;

    /* the function's name comes from the descriptor, never from input */

    len = sizeof("SELECT (($1::uuid, $2::uuid, $3::jsonb))::text")
          + ctx->route.item_action->function.len;

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->sql.data = p;
    st->sql.len = ngx_sprintf(p, "SELECT %V($1::uuid, $2::uuid, $3::jsonb)"
                              "::text",
                              &ctx->route.item_action->function)
                  - p;

    return crm_resource_exec(r, ctx, st, crm_item_action_done);
}


static void
crm_item_action_done(crm_pg_req_t *pr, PGresult *res)
{
    ngx_int_t            rc;
    crm_ctx_t           *ctx;
    ngx_http_request_t  *r;

    r = crm_resource_result(pr, res, 1, &ctx);
    if (r == NULL) {
        return;
    }

    if (PQgetisnull(res, 0, 0)) {
        rc = crm_not_found(r, ctx);

    } else {
        rc = crm_render_row(r, ctx, NGX_HTTP_OK,
                            (u_char *) PQgetvalue(res, 0, 0),
                            PQgetlength(res, 0, 0));
    }

    crm_http_done(r, rc);
}


/*
 * GET /metadata/objects[/:name]: the resources and their fields, read
 * from the descriptors that drive everything else.
 */

static ngx_int_t
crm_metadata(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    char             *dump;
    u_char           *p;
    size_t            len;
    json_t           *data, *obj;
    ngx_uint_t        i, n;
    crm_resource_t  **all;

    if (ctx->custom == NULL && ctx->mcf->pool != NULL) {
        /* the workspace's custom fields are part of the description */
        return crm_custom_load(r, ctx, ctx->route.res, crm_metadata);
    }

    if (ctx->route.res != NULL) {
        data = crm_metadata_object(ctx, ctx->route.res);

    } else {
        data = json_array();
        all = crm_schema_all(&n);

        for (i = 0; data != NULL && i < n; i++) {
            obj = crm_metadata_object(ctx, all[i]);

            if (obj == NULL || json_array_append_new(data, obj) != 0) {
                json_decref(data);
                data = NULL;
            }
        }
    }

    if (data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    dump = json_dumps(data, JSON_COMPACT);
    json_decref(data);

    if (dump == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = ngx_strlen(dump);
    p = ngx_pnalloc(r->pool, len);

    if (p != NULL) {
        ngx_memcpy(p, dump, len);
    }

    free(dump);

    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_render_row(r, ctx, NGX_HTTP_OK, p, len);
}


static json_t *
crm_metadata_object(crm_ctx_t *ctx, crm_resource_t *res)
{
    json_t       *obj, *fields, *f, *list;
    ngx_uint_t    i;
    crm_field_t  *fd;
    const char  **e;

    static const char  *types[] = {
        "uuid", "text", "email", "enum", "integer", "number", "boolean",
        "timestamp", "date", "array", "object", "password", "list",
        "uuidArray"
    };

    obj = json_object();
    fields = json_array();

    if (obj == NULL || fields == NULL) {
        json_decref(obj);
        json_decref(fields);
        return NULL;
    }

    json_object_set_new(obj, "name", json_stringn((char *) res->name.data,
                                                  res->name.len));
    json_object_set_new(obj, "fields", fields);

    for (i = 0; i < res->nfields; i++) {
        fd = &res->fields[i];

        if (fd->flags & CRM_F_HIDDEN) {
            continue;
        }

        f = json_pack("{s:s%,s:s,s:b,s:b,s:b,s:b,s:b,s:b}",
                      "name", fd->name.data, fd->name.len,
                      "type", types[fd->type],
                      "required", (fd->flags & CRM_F_REQUIRED) != 0,
                      "readOnly", (fd->flags & CRM_F_READONLY) != 0,
                      "writeOnly", (fd->flags & CRM_F_WRITEONLY) != 0,
                      "filterable", (fd->flags & CRM_F_FILTER) != 0,
                      "sortable", (fd->flags & CRM_F_SORT) != 0,
                      "searchable", (fd->flags & CRM_F_SEARCH) != 0);
        if (f == NULL) {
            json_decref(obj);
            return NULL;
        }

        if (fd->max_len != 0) {
            json_object_set_new(f, "maxLength", json_integer(fd->max_len));
        }

        if (fd->ref != NULL) {
            json_object_set_new(f, "references", json_string(fd->ref));
        }

        if (fd->enum_values != NULL) {
            list = json_array();

            for (e = fd->enum_values; list != NULL && *e; e++) {
                json_array_append_new(list, json_string(*e));
            }

            json_object_set_new(f, "values", list);
        }

        json_array_append_new(fields, f);
    }

    list = json_array();

    for (i = 0; list != NULL && i < res->nlinks; i++) {
        json_array_append_new(list,
                              json_stringn((char *) res->links[i].name.data,
                                           res->links[i].name.len));
    }

    json_object_set_new(obj, "links", list);

    /* the links that take POST {"id"} and DELETE .../<link>/<id> */

    list = json_array();

    for (i = 0; list != NULL && i < res->nlinks; i++) {
        if (res->links[i].through.len > 0) {
            json_array_append_new(list,
                                  json_stringn((char *) res->links[i].name.data,
                                               res->links[i].name.len));
        }
    }

    json_object_set_new(obj, "writableLinks", list);

    list = json_array();

    for (i = 0; list != NULL && i < res->nactions; i++) {
        json_array_append_new(list,
                              json_stringn((char *) res->actions[i].name.data,
                                           res->actions[i].name.len));
    }

    json_object_set_new(obj, "actions", list);

    if (crm_custom_object(res)) {
        json_object_set_new(obj, "customFields",
                            crm_custom_metadata(ctx, res));
    }

    return obj;
}


/*
 * GET /health: no authentication.  200 "ok" when PostgreSQL answers and
 * Redis does (or is not configured), 200 "degraded" when only Redis is
 * down (the module degrades without it), 503 "unavailable" when
 * PostgreSQL is down.
 */

static ngx_int_t
crm_health(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    crm_stmt_t  *st;

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&st->sql, "SELECT 1");

    if (ngx_array_init(&st->params, r->pool, 1, sizeof(crm_param_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_resource_exec(r, ctx, st, crm_health_pg_done);
}


static void
crm_health_pg_done(crm_pg_req_t *pr, PGresult *res)
{
    crm_ctx_t           *ctx;
    ngx_str_t            ping;
    ngx_http_request_t  *r;

    r = pr->data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_crm_module);

    ctx->health.pg_up = (res != NULL
                         && PQresultStatus(res) == PGRES_TUPLES_OK);
    ctx->health.pg_ms = ngx_current_msec - ctx->started;

    if (!ctx->health.pg_up) {
        /* the pool logs the outage itself, once */
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "crm: health: postgres is down");
    }

    if (ctx->mcf->redis == NULL) {
        crm_http_done(r, crm_health_render(r, ctx));
        return;
    }

    ngx_str_set(&ping, "PING");
    ctx->health.redis_start = ngx_current_msec;

    if (crm_http_redis(r, ctx, crm_health_redis_done, 1, &ping)
        == NULL)
    {
        crm_http_done(r, crm_health_render(r, ctx));
    }
}


static void
crm_health_redis_done(crm_redis_cmd_t *cmd, redisReply *reply, void *data)
{
    crm_ctx_t           *ctx;
    ngx_http_request_t  *r;

    r = data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_crm_module);

    ctx->health.redis_up = (reply != NULL
                            && reply->type == REDIS_REPLY_STATUS);
    ctx->health.redis_ms = ngx_current_msec - ctx->health.redis_start;

    crm_http_done(r, crm_health_render(r, ctx));
}


static ngx_int_t
crm_health_render(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    u_char      *p, *body, *meta;
    size_t       mlen;
    const char  *status;
    ngx_uint_t   code;

    if (crm_http_meta(r, ctx, &meta, &mlen) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body = ngx_pnalloc(r->pool, 320 + mlen);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    code = NGX_HTTP_OK;
    status = "ok";

    if (!ctx->health.pg_up) {
        code = NGX_HTTP_SERVICE_UNAVAILABLE;
        status = "unavailable";

    } else if (ctx->mcf->redis != NULL && !ctx->health.redis_up) {
        status = "degraded";
    }

    p = ngx_sprintf(body,
                    "{\"data\":{\"status\":\"%s\",\"checks\":{"
                    "\"postgres\":{\"status\":\"%s\",\"latencyMs\":%M},"
                    "\"redis\":{\"status\":\"%s\"",
                    status, ctx->health.pg_up ? "up" : "down",
                    ctx->health.pg_ms,
                    ctx->mcf->redis == NULL ? "disabled"
                    : ctx->health.redis_up ? "up" : "down");

    if (ctx->health.redis_up) {
        p = ngx_sprintf(p, ",\"latencyMs\":%M", ctx->health.redis_ms);
    }

    p = ngx_cpymem(p, "}}},\"meta\":{", sizeof("}}},\"meta\":{") - 1);
    p = ngx_cpymem(p, meta, mlen);
    *p++ = '}';
    *p++ = '}';

    return crm_http_send_data(r, code, body, p - body);
}
