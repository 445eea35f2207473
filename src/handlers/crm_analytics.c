
/*
 * ngx_http_crm_module: GET /analytics/emails, /analytics/campaigns/:id,
 * /analytics/contacts/:id (docs/ANALYTICS.md).
 *
 * Each is one call of an SQL function of sql/021_analytics.sql that
 * takes the workspace as $1 and answers the data as JSON (NULL: no such
 * campaign or contact in the workspace, 404), read from the rollups the
 * email_events trigger keeps.  The credential needs analytics:read.
 *
 * With crm_analytics_cache_ttl (and crm_redis) an answer's data is kept
 * in Redis for that long under crm:an:<workspace>:<the normalized query>
 * and served from there ("X-Cache: HIT"; "MISS" when computed).  Redis
 * down, slow or failing: the answer is computed, never an error.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "handlers/crm_handlers.h"
#include "model/crm_analytics.h"


typedef struct {
    crm_stmt_t               *st;
    ngx_str_t                 key;          /* in Redis; len 0: no cache */
} crm_analytics_state_t;


static ngx_int_t crm_analytics_permit(ngx_http_request_t *r,
    crm_ctx_t *ctx);
static ngx_int_t crm_analytics_item(ngx_http_request_t *r, crm_ctx_t *ctx,
    const char *sql, char kind);
static ngx_int_t crm_analytics_run(ngx_http_request_t *r, crm_ctx_t *ctx,
    crm_stmt_t *st, ngx_str_t *query);
static void crm_analytics_cached(crm_redis_cmd_t *cmd, redisReply *reply,
    void *data);
static ngx_int_t crm_analytics_compute(ngx_http_request_t *r,
    crm_ctx_t *ctx);
static ngx_int_t crm_analytics_x_cache(ngx_http_request_t *r,
    const char *v);
static void crm_analytics_store(ngx_http_request_t *r, crm_ctx_t *ctx,
    u_char *data, size_t len);
static void crm_analytics_stored(crm_redis_cmd_t *cmd, redisReply *reply,
    void *data);
static crm_stmt_t *crm_analytics_stmt(ngx_http_request_t *r,
    const char *sql, ngx_uint_t n);
static void crm_analytics_done(crm_pg_req_t *pr, PGresult *res);


static ngx_str_t  crm_analytics_scope = ngx_string("analytics");


ngx_int_t
crm_analytics_emails(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ngx_int_t               rc;
    ngx_str_t               query;
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

    /* e:<from>:<to>:<interval>:<campaign>, the range as widened */

    query.data = ngx_pnalloc(r->pool, sizeof("e::::") + 2 * NGX_TIME_T_LEN
                                      + sizeof("week") + rg.campaign.len);
    if (query.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    query.len = ngx_sprintf(query.data, "e:%T:%T:%V:%V", rg.from, rg.to,
                            &crm_analytics_intervals[rg.interval],
                            &rg.campaign)
                - query.data;

    return crm_analytics_run(r, ctx, st, &query);
}


ngx_int_t
crm_analytics_campaign(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    return crm_analytics_item(r, ctx, "SELECT db_analytics_campaign("
                                      "$1::uuid, $2::uuid)", 'c');
}


ngx_int_t
crm_analytics_contact(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    return crm_analytics_item(r, ctx, "SELECT db_analytics_contact("
                                      "$1::uuid, $2::uuid)", 'k');
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


/*
 * /analytics/<kind>/:id: no query parameter; an id that is no uuid: 404;
 * "kind" names the route in the cache's key
 */

static ngx_int_t
crm_analytics_item(ngx_http_request_t *r, crm_ctx_t *ctx, const char *sql,
    char kind)
{
    ngx_str_t     query;
    crm_stmt_t   *st;
    crm_param_t  *param;

    if (crm_analytics_permit(r, ctx) != NGX_OK) {
        return ctx->rc;
    }

    if (crm_http_no_args(r, ctx) != NGX_OK) {
        return ctx->rc;
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

    /* <kind>:<id> */

    query.data = ngx_pnalloc(r->pool, 2 + ctx->route.id.len);
    if (query.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    query.data[0] = kind;
    query.data[1] = ':';
    ngx_strlow(query.data + 2, ctx->route.id.data, ctx->route.id.len);
    query.len = 2 + ctx->route.id.len;

    return crm_analytics_run(r, ctx, st, &query);
}


/*
 * The statement "st" answers, unless Redis holds the answer to "query"
 * (normalized: uuids in lower case, the range as widened) in the
 * workspace: NGX_DONE, or a status to finalize with.
 */

static ngx_int_t
crm_analytics_run(ngx_http_request_t *r, crm_ctx_t *ctx, crm_stmt_t *st,
    ngx_str_t *query)
{
    u_char                 *p;
    ngx_str_t               argv[2];
    crm_analytics_state_t  *as;

    as = ngx_pcalloc(r->pool, sizeof(crm_analytics_state_t));
    if (as == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    as->st = st;
    ctx->state = as;

    if (ctx->mcf->analytics_cache_ttl == 0 || ctx->mcf->redis == NULL) {
        return crm_exec(r, ctx, st, crm_analytics_done);
    }

    /* crm:an:<workspace>:<query> */

    p = ngx_pnalloc(r->pool, sizeof("crm:an::") + ctx->workspace.len
                             + query->len);
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    as->key.data = p;
    p = ngx_sprintf(p, "crm:an:%V:", &ctx->workspace);
    ngx_strlow(p, query->data, query->len);
    as->key.len = (p + query->len) - as->key.data;

    if (!crm_redis_up(ctx->mcf->redis)) {
        return crm_analytics_compute(r, ctx);
    }

    ngx_str_set(&argv[0], "GET");
    argv[1] = as->key;

    if (crm_http_redis(r, ctx, crm_analytics_cached, 2, argv) == NULL) {
        return crm_analytics_compute(r, ctx);
    }

    return NGX_DONE;
}


/* Redis's answer: the data kept, or nothing (a miss, an error, no reply) */

static void
crm_analytics_cached(crm_redis_cmd_t *cmd, redisReply *reply, void *data)
{
    ngx_int_t            rc;
    crm_ctx_t           *ctx;
    ngx_http_request_t  *r;

    r = data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_crm_module);

    if (reply != NULL && reply->type == REDIS_REPLY_STRING
        && reply->len > 0)
    {
        if (crm_analytics_x_cache(r, "HIT") != NGX_OK) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

        } else {
            rc = crm_exec_render_row(r, ctx, NGX_HTTP_OK,
                                     (u_char *) reply->str, reply->len);
        }

    } else {
        /*
         * Redis down or slow: its client logs the state change; an error
         * reply (say, OOM) would repeat on every request: debug only
         */

        if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                           "crm: analytics cache unavailable: %s",
                           reply->str);
        }

        rc = crm_analytics_compute(r, ctx);
    }

    if (rc != NGX_DONE) {
        crm_http_done(r, rc);
    }
}


/* no answer in the cache: the statement, whose answer is then kept */

static ngx_int_t
crm_analytics_compute(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    crm_analytics_state_t  *as;

    as = ctx->state;

    if (crm_analytics_x_cache(r, "MISS") != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_exec(r, ctx, as->st, crm_analytics_done);
}


static ngx_int_t
crm_analytics_x_cache(ngx_http_request_t *r, const char *v)
{
    ngx_str_t  value;

    value.data = (u_char *) v;
    value.len = ngx_strlen(v);

    return crm_http_header_out(r, "X-Cache", &value);
}


/*
 * SET key data PX ttl, fire and forget in a pool of its own: the request
 * may be gone when Redis answers.  A failure is only logged: the next
 * request computes the answer again.
 */

static void
crm_analytics_store(ngx_http_request_t *r, crm_ctx_t *ctx, u_char *data,
    size_t len)
{
    u_char                 *p;
    ngx_str_t               argv[5];
    ngx_pool_t             *pool;
    crm_analytics_state_t  *as;

    as = ctx->state;

    if (as == NULL || as->key.len == 0 || !crm_redis_up(ctx->mcf->redis)) {
        return;
    }

    pool = ngx_create_pool(512, ngx_cycle->log);
    if (pool == NULL) {
        return;
    }

    p = ngx_pnalloc(pool, as->key.len + len + NGX_INT_T_LEN);
    if (p == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    ngx_str_set(&argv[0], "SET");

    argv[1].data = p;
    argv[1].len = as->key.len;
    p = ngx_cpymem(p, as->key.data, as->key.len);

    argv[2].data = p;
    argv[2].len = len;
    p = ngx_cpymem(p, data, len);

    ngx_str_set(&argv[3], "PX");

    argv[4].data = p;
    argv[4].len = ngx_sprintf(p, "%M", ctx->mcf->analytics_cache_ttl) - p;

    if (crm_redis_command(ctx->mcf->redis, pool, crm_analytics_stored, pool,
                          5, argv)
        == NULL)
    {
        ngx_destroy_pool(pool);
    }
}


static void
crm_analytics_stored(crm_redis_cmd_t *cmd, redisReply *reply, void *data)
{
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "crm: keeping an analytics answer in Redis failed: %s",
                      reply ? reply->str : "no reply");
    }

    ngx_destroy_pool(data);
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
    ngx_str_t            row;
    crm_ctx_t           *ctx;
    ngx_http_request_t  *r;

    r = crm_exec_result(pr, res, 1, &ctx);
    if (r == NULL) {
        return;
    }

    if (PQgetisnull(res, 0, 0)) {
        rc = crm_exec_not_found(r, ctx);

    } else if (crm_exec_record(r, pr->stmt, res, 0, &row) != NGX_OK) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

    } else {
        /* kept compact: a hit is sent as it is */

        crm_analytics_store(r, ctx, row.data, row.len);

        rc = crm_exec_render_row(r, ctx, NGX_HTTP_OK, row.data, row.len);
    }

    crm_http_done(r, rc);
}
