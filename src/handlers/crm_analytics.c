
/*
 * ngx_http_crm_module: GET /analytics/emails, /analytics/campaigns/:id,
 * /analytics/contacts/:id (docs/ANALYTICS.md).
 *
 * Each is one call of an SQL function of sql/021_analytics.sql that
 * takes the workspace as $1 and answers the data as JSON (NULL: no such
 * campaign or contact in the workspace, 404), read from the rollups the
 * email_events trigger keeps.  The credential needs analytics:read.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "handlers/crm_handlers.h"
#include "model/crm_analytics.h"


static ngx_int_t crm_analytics_permit(ngx_http_request_t *r,
    crm_ctx_t *ctx);
static ngx_int_t crm_analytics_item(ngx_http_request_t *r, crm_ctx_t *ctx,
    const char *sql);
static crm_stmt_t *crm_analytics_stmt(ngx_http_request_t *r,
    const char *sql, ngx_uint_t n);
static void crm_analytics_done(crm_pg_req_t *pr, PGresult *res);


static ngx_str_t  crm_analytics_scope = ngx_string("analytics");


ngx_int_t
crm_analytics_emails(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ngx_int_t               rc;
    crm_stmt_t             *st;
    crm_error_t             err;
    crm_param_t            *param;
    crm_analytics_range_t   rg;

    if (crm_analytics_permit(r, ctx) != NGX_OK) {
        return ctx->rc;
    }

    rc = crm_analytics_range(r->pool, &r->args, ngx_time(), &rg, &err);

    if (rc == NGX_DECLINED) {
        return crm_http_param_error(r, &err);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st = crm_analytics_stmt(r, "SELECT db_analytics_emails($1::uuid, "
                               "to_timestamp($2::bigint), "
                               "to_timestamp($3::bigint), $4::text, "
                               "$5::uuid)", 5);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    param = st->params.elts;

    param[1].value.data = ngx_pnalloc(r->pool, 2 * NGX_TIME_T_LEN);
    if (param[1].value.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    param[1].value.len = ngx_sprintf(param[1].value.data, "%T", rg.from)
                         - param[1].value.data;

    param[2].value.data = param[1].value.data + NGX_TIME_T_LEN;
    param[2].value.len = ngx_sprintf(param[2].value.data, "%T", rg.to)
                         - param[2].value.data;

    param[3].value = crm_analytics_intervals[rg.interval];

    if (rg.campaign.len > 0) {
        param[4].value = rg.campaign;

    } else {
        param[4].null = 1;
    }

    return crm_exec(r, ctx, st, crm_analytics_done);
}


ngx_int_t
crm_analytics_campaign(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    return crm_analytics_item(r, ctx, "SELECT db_analytics_campaign("
                                      "$1::uuid, $2::uuid)");
}


ngx_int_t
crm_analytics_contact(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    return crm_analytics_item(r, ctx, "SELECT db_analytics_contact("
                                      "$1::uuid, $2::uuid)");
}


/* analytics:read (or a scope that covers it), else 403 */

static ngx_int_t
crm_analytics_permit(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    if (crm_auth_scope(&ctx->principal.scopes, &crm_analytics_scope, 0)
        == NGX_OK)
    {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "crm: credential lacks the scope analytics:read");

    ctx->rc = crm_http_error(r, CRM_E_FORBIDDEN,
                             "the credential does not have the scope this "
                             "route needs", NULL);
    return NGX_ABORT;
}


/* /analytics/<kind>/:id: no query parameter; an id that is no uuid: 404 */

static ngx_int_t
crm_analytics_item(ngx_http_request_t *r, crm_ctx_t *ctx, const char *sql)
{
    ngx_int_t     rc;
    crm_stmt_t   *st;
    crm_error_t   err;
    crm_param_t  *param;

    if (crm_analytics_permit(r, ctx) != NGX_OK) {
        return ctx->rc;
    }

    rc = crm_analytics_no_args(r->pool, &r->args, &err);

    if (rc == NGX_DECLINED) {
        return crm_http_param_error(r, &err);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_uuid_valid(ctx->route.id.data, ctx->route.id.len) != NGX_OK) {
        return crm_exec_not_found(r, ctx);
    }

    st = crm_analytics_stmt(r, sql, 2);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    param = st->params.elts;
    param[1].value = ctx->route.id;

    return crm_exec(r, ctx, st, crm_analytics_done);
}


/* a statement of fixed text with "n" parameters, $1 the workspace */

static crm_stmt_t *
crm_analytics_stmt(ngx_http_request_t *r, const char *sql, ngx_uint_t n)
{
    crm_ctx_t    *ctx;
    crm_stmt_t   *st;
    crm_param_t  *param;

    ctx = ngx_http_get_module_ctx(r, ngx_http_crm_module);

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL
        || ngx_array_init(&st->params, r->pool, n, sizeof(crm_param_t))
           != NGX_OK)
    {
        return NULL;
    }

    param = ngx_array_push_n(&st->params, n);
    if (param == NULL) {
        return NULL;
    }

    ngx_memzero(param, n * sizeof(crm_param_t));

    param[0].value = ctx->workspace;

    st->sql.data = (u_char *) sql;
    st->sql.len = ngx_strlen(sql);

    return st;
}


static void
crm_analytics_done(crm_pg_req_t *pr, PGresult *res)
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

    } else {
        rc = crm_exec_render_row(r, ctx, NGX_HTTP_OK,
                                 (u_char *) PQgetvalue(res, 0, 0),
                                 PQgetlength(res, 0, 0));
    }

    crm_http_done(r, rc);
}
