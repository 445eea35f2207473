
/*
 * ngx_http_crm_module: the permission stage.  Every route needs
 * "<resource>:read" (GET, HEAD) or "<resource>:write" of the credential's
 * scopes; writes to an admin resource (API keys, users, the workspace)
 * are closed to members' sessions; owners are protected from admins: only
 * an owner makes an owner, changes an owner's record, or changes users
 * in bulk.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "stages/crm_stages.h"


static crm_field_t * crm_owner_role(crm_resource_t *res);
static ngx_int_t crm_owner_target(ngx_http_request_t *r, crm_ctx_t *ctx);
static void crm_owner_target_done(crm_pg_req_t *pr, PGresult *res);
static ngx_uint_t crm_grants_owner(crm_ctx_t *ctx);


static ngx_str_t  crm_owner_name = ngx_string("owner");


/*
 * Within its rate limit.  Every route needs "<resource>:read" (GET,
 * HEAD) or "<resource>:write"; writes to an admin resource (API keys,
 * users, the workspace) are also closed to members' sessions.
 */

ngx_int_t
crm_permit(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ngx_int_t         rc;
    ngx_uint_t        write;
    crm_resource_t   *res;
    crm_principal_t  *p;

    p = &ctx->principal;
    res = ctx->route.res;
    write = !(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD));

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

        ctx->rc = crm_http_error(r, CRM_E_FORBIDDEN,
                                 "the credential does not have the scope "
                                 "this route needs", NULL);
        return NGX_ABORT;
    }

    if (res->feed && crm_auth_scope_events(&p->scopes) != NGX_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: credential lacks read on a kind of event");

        ctx->rc = crm_http_error(r, CRM_E_FORBIDDEN,
                                 "events carry their records: reading them "
                                 "needs read on every kind of record too",
                                 NULL);
        return NGX_ABORT;
    }

    if (res->admin && write && p->kind == CRM_PRINCIPAL_SESSION
        && p->role != CRM_ROLE_OWNER && p->role != CRM_ROLE_ADMIN)
    {
        ctx->rc = crm_http_error(r, CRM_E_FORBIDDEN,
                                 "only owners and admins may do this", NULL);
        return NGX_ABORT;
    }

    if (p->kind == CRM_PRINCIPAL_SESSION && p->role != CRM_ROLE_OWNER
        && crm_grants_owner(ctx))
    {
        ctx->rc = crm_http_error(r, CRM_E_FORBIDDEN,
                                 "only an owner may make an owner", NULL);
        return NGX_ABORT;
    }

    if (p->kind == CRM_PRINCIPAL_SESSION && p->role != CRM_ROLE_OWNER
        && ctx->route.kind == CRM_ROUTE_BULK && crm_owner_role(res) != NULL)
    {
        /* the owner rules are per record: in bulk, owners only */
        ctx->rc = crm_http_error(r, CRM_E_FORBIDDEN,
                                 "only an owner may change users in bulk",
                                 NULL);
        return NGX_ABORT;
    }

    if (write && p->kind == CRM_PRINCIPAL_SESSION
        && p->role != CRM_ROLE_OWNER && ctx->route.kind == CRM_ROUTE_ITEM
        && crm_owner_role(res) != NULL
        && crm_uuid_valid(ctx->route.id.data, ctx->route.id.len) == NGX_OK)
    {
        /* an owner's record is changed by owners only: is it one? */
        rc = crm_owner_target(r, ctx);

        if (rc == NGX_DONE) {
            return NGX_AGAIN;
        }

        ctx->rc = rc;
        return NGX_ABORT;
    }

    return NGX_OK;
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
        rc = crm_run_next(r, ctx);
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
