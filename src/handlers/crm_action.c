
/*
 * ngx_http_crm_module: item actions (POST /leads/:id/convert): descriptor
 * data naming one SQL function, run in one transaction.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "handlers/crm_handlers.h"


static void crm_item_action_done(crm_pg_req_t *pr, PGresult *res);
static ngx_int_t crm_item_action_record(ngx_http_request_t *r,
    crm_ctx_t *ctx);


/*
 * POST /<resource>/:id/<action>: the action's SQL function, named by the
 * descriptor, gets the workspace, the id and the body, and answers with
 * JSON (NULL: no such record).  One statement: one transaction.
 */

ngx_int_t
crm_item_action(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    char        *dump;
    ngx_int_t    rc;
    ngx_str_t    body;
    crm_stmt_t  *st;
    ngx_array_t  errors;

    if (crm_uuid_valid(ctx->route.id.data, ctx->route.id.len) != NGX_OK) {
        return crm_exec_not_found(r, ctx);
    }

    /* an action is a write: If-Match holds it to a version (412) */

    if (crm_exec_if_match(r, ctx) != NGX_OK) {
        return ctx->rc;
    }

    if (ngx_array_init(&errors, r->pool, 4, sizeof(crm_field_error_t))
        != NGX_OK
        || crm_validate_action(r->pool, ctx->route.res,
                               &ctx->route.item_action->name, ctx->body,
                               &errors)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (errors.nelts > 0) {
        return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                     "the request is not valid", &errors);
    }

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* no body (CRM_ROUTE_BODY_OPTIONAL) is an empty one */

    if (ctx->body == NULL) {
        dump = NULL;
        ngx_str_set(&body, "{}");

    } else {
        dump = json_dumps(ctx->body, JSON_COMPACT);
        if (dump == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        body.data = (u_char *) dump;
        body.len = ngx_strlen(dump);
    }

    /* the function's name comes from the descriptor, never from input */

    rc = crm_sql_action(r->pool, ctx->route.res, &ctx->workspace,
                        &ctx->route.id, &body, ctx->route.item_action,
                        &ctx->match, st);
    free(dump);

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_exec(r, ctx, st, crm_item_action_done);
}


static void
crm_item_action_done(crm_pg_req_t *pr, PGresult *res)
{
    ngx_int_t            rc;
    ngx_str_t            row;
    crm_ctx_t           *ctx;
    ngx_http_request_t  *r;

    r = crm_exec_result(pr, res, 1, &ctx);
    if (r == NULL) {
        return;
    }

    if (PQgetisnull(res, 0, 0)) {
        /* not there, or with If-Match in another version (412) */
        rc = crm_exec_missing(r, ctx);

        if (rc == NGX_DONE) {
            return;
        }

    } else if (ctx->route.item_action->record) {

        /* the record as GET renders it, after the action committed */

        rc = crm_item_action_record(r, ctx);

        if (rc == NGX_DONE) {
            return;
        }

    } else if (crm_exec_record(r, pr->stmt, res, 0, &row) != NGX_OK) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

    } else {
        rc = crm_exec_render_row(r, ctx, NGX_HTTP_OK, row.data, row.len);
    }

    crm_http_done(r, rc);
}


static ngx_int_t
crm_item_action_record(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    crm_stmt_t  *st;

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_sql_get(r->pool, ctx->route.res, &ctx->workspace,
                    &ctx->route.id, NULL, st)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_exec(r, ctx, st, crm_exec_row_done);
}
