
/*
 * ngx_http_crm_module: one record of any resource: GET, POST, PUT,
 * PATCH and DELETE over the descriptors (the planner writes the SQL).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "stages/crm_stages.h"
#include "handlers/crm_handlers.h"


static void crm_delete_done(crm_pg_req_t *pr, PGresult *res);
static void crm_update_revokes_done(crm_pg_req_t *pr, PGresult *res);


/*
 * The body of POST /metadata/objects/<object>/fields names its object by
 * the path; an "object" in the body must agree
 */

ngx_int_t
crm_create_object(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    json_t     *v;
    ngx_str_t  *name;

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

    ctx->rc = crm_http_field_error(r, "object", "invalid_value",
                                   "must be the object of the path");
    return NGX_ABORT;
}


/* single records */

ngx_int_t
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

    if (crm_id_valid(ctx->route.res, ctx->route.id.data, ctx->route.id.len)
        != NGX_OK)
    {
        return crm_exec_not_found(r, ctx);
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

    return crm_exec(r, ctx, st, crm_exec_row_done);
}


ngx_int_t
crm_create(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ngx_int_t     rc;
    ngx_array_t   values, errors;
    crm_stmt_t   *st;

    if (ctx->route.object != NULL && crm_create_object(r, ctx) != NGX_OK) {
        return ctx->rc;
    }

    if (ctx->custom == NULL
        && crm_validate_needs(ctx->route.res, ctx->body))
    {
        /* the body's rules want custom fields: a campaign's */
        return crm_custom_load(r, ctx, NULL, crm_create);
    }

    if (ngx_array_init(&values, r->pool, 16, sizeof(crm_value_t)) != NGX_OK
        || ngx_array_init(&errors, r->pool, 4, sizeof(crm_field_error_t))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = crm_validate(r->pool, ctx->route.res, ctx->body, 1, ctx->custom,
                      &values, &errors);

    if (rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: %V create: %ui invalid fields",
                      &ctx->route.res->name, errors.nelts);
        return crm_custom_refuse(r, ctx, &errors, 1);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_sql_insert(r->pool, ctx->route.res, &ctx->workspace, &values,
                       CRM_SQL_COLUMNS, st)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_exec(r, ctx, st, crm_exec_row_done);
}


ngx_int_t
crm_update(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ngx_int_t     rc;
    ngx_array_t   values, errors;
    crm_stmt_t   *st;

    if (crm_uuid_valid(ctx->route.id.data, ctx->route.id.len) != NGX_OK) {
        return crm_exec_not_found(r, ctx);
    }

    if (ctx->custom == NULL
        && crm_validate_needs(ctx->route.res, ctx->body))
    {
        /* the handler runs again once they are loaded, If-Match not yet read */
        return crm_custom_load(r, ctx, NULL, crm_update);
    }

    if (crm_exec_if_match(r, ctx) != NGX_OK) {
        return ctx->rc;
    }

    if (ngx_array_init(&values, r->pool, 16, sizeof(crm_value_t)) != NGX_OK
        || ngx_array_init(&errors, r->pool, 4, sizeof(crm_field_error_t))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = crm_validate(r->pool, ctx->route.res, ctx->body, 0, ctx->custom,
                      &values, &errors);

    if (rc == NGX_DECLINED) {
        return crm_custom_refuse(r, ctx, &errors, 0);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_sql_update(r->pool, ctx->route.res, &ctx->workspace,
                       &ctx->route.id, &values, &ctx->match,
                       CRM_SQL_COLUMNS, st)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_exec(r, ctx, st, ctx->route.res->revokes
                                ? crm_update_revokes_done
                                : crm_exec_row_done);
}


/*
 * A user changed (a role taken away, a password changed, which ends the
 * user's sessions: sql/083): the user's sessions leave this host's auth
 * cache at once, as on a delete; other hosts see it within the TTL
 */

static void
crm_update_revokes_done(crm_pg_req_t *pr, PGresult *res)
{
    crm_ctx_t           *ctx;
    ngx_http_request_t  *r;

    if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK
        && PQntuples(res) > 0)
    {
        r = pr->data;
        ctx = ngx_http_get_module_ctx(r, ngx_http_crm_module);
        crm_auth_forget(ctx->mcf, &ctx->route.id);
    }

    crm_exec_row_done(pr, res);
}


ngx_int_t
crm_delete(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    crm_stmt_t  *st;

    if (crm_uuid_valid(ctx->route.id.data, ctx->route.id.len) != NGX_OK) {
        return crm_exec_not_found(r, ctx);
    }

    if (crm_exec_if_match(r, ctx) != NGX_OK) {
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

    return crm_exec(r, ctx, st, crm_delete_done);
}


static void
crm_delete_done(crm_pg_req_t *pr, PGresult *res)
{
    ngx_int_t            rc;
    crm_ctx_t           *ctx;
    ngx_http_request_t  *r;

    r = crm_exec_result(pr, res, 0, &ctx);
    if (r == NULL) {
        return;
    }

    if (PQntuples(res) == 0) {
        rc = crm_exec_missing(r, ctx);

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
