
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
    char         *dump;
    u_char       *p;
    size_t        len;
    crm_stmt_t   *st;
    crm_param_t  *param;

    if (crm_uuid_valid(ctx->route.id.data, ctx->route.id.len) != NGX_OK) {
        return crm_exec_not_found(r, ctx);
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

    return crm_exec(r, ctx, st, crm_item_action_done);
}


static void
crm_item_action_done(crm_pg_req_t *pr, PGresult *res)
{
    ngx_int_t            rc;
    crm_ctx_t           *ctx;
    ngx_http_request_t  *r;

    r = crm_exec_result(pr, res, 1, &ctx);
    if (r == NULL) {
        return;
    }

    if (PQgetisnull(res, 0, 0)) {
        rc = crm_exec_not_found(r, ctx);

    } else if (ctx->route.item_action->record) {

        /* the record as GET renders it, after the action committed */

        rc = crm_item_action_record(r, ctx);

        if (rc == NGX_DONE) {
            return;
        }

    } else {
        rc = crm_exec_render_row(r, ctx, NGX_HTTP_OK,
                                 (u_char *) PQgetvalue(res, 0, 0),
                                 PQgetlength(res, 0, 0));
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
