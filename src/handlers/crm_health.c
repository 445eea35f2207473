
/*
 * ngx_http_crm_module: GET /health: PostgreSQL and Redis, with their
 * latency; 503 when the database is down, "degraded" without Redis.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "handlers/crm_handlers.h"


struct crm_health_s {
    ngx_msec_t                pg_ms;
    ngx_msec_t                redis_start;
    ngx_msec_t                redis_ms;
    unsigned                  pg_up:1;
    unsigned                  redis_up:1;
};


static void crm_health_pg_done(crm_pg_req_t *pr, PGresult *res);
static void crm_health_redis_done(crm_redis_cmd_t *cmd, redisReply *reply,
    void *data);
static ngx_int_t crm_health_render(ngx_http_request_t *r, crm_ctx_t *ctx);


/*
 * GET /health: no authentication.  200 "ok" when PostgreSQL answers and
 * Redis does (or is not configured), 200 "degraded" when only Redis is
 * down (the module degrades without it), 503 "unavailable" when
 * PostgreSQL is down.
 */

ngx_int_t
crm_health(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    crm_stmt_t  *st;

    ctx->health = ngx_pcalloc(r->pool, sizeof(crm_health_t));
    st = crm_sql_fixed(r->pool, "SELECT 1", 0);

    if (ctx->health == NULL || st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_exec(r, ctx, st, crm_health_pg_done);
}


static void
crm_health_pg_done(crm_pg_req_t *pr, PGresult *res)
{
    crm_ctx_t           *ctx;
    ngx_str_t            ping;
    ngx_http_request_t  *r;

    r = pr->data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_crm_module);

    ctx->health->pg_up = (res != NULL
                         && PQresultStatus(res) == PGRES_TUPLES_OK);
    ctx->health->pg_ms = ngx_current_msec - ctx->started;

    if (!ctx->health->pg_up) {
        /* the pool logs the outage itself, once */
        ngx_log_debug0(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "crm: health: postgres is down");
    }

    if (ctx->mcf->redis == NULL) {
        crm_http_done(r, crm_health_render(r, ctx));
        return;
    }

    ngx_str_set(&ping, "PING");
    ctx->health->redis_start = ngx_current_msec;

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

    ctx->health->redis_up = (reply != NULL
                            && reply->type == REDIS_REPLY_STATUS);
    ctx->health->redis_ms = ngx_current_msec - ctx->health->redis_start;

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

    if (!ctx->health->pg_up) {
        code = NGX_HTTP_SERVICE_UNAVAILABLE;
        status = "unavailable";

    } else if (ctx->mcf->redis != NULL && !ctx->health->redis_up) {
        status = "degraded";
    }

    p = ngx_sprintf(body,
                    "{\"data\":{\"status\":\"%s\",\"checks\":{"
                    "\"postgres\":{\"status\":\"%s\",\"latencyMs\":%M},"
                    "\"redis\":{\"status\":\"%s\"",
                    status, ctx->health->pg_up ? "up" : "down",
                    ctx->health->pg_ms,
                    ctx->mcf->redis == NULL ? "disabled"
                    : ctx->health->redis_up ? "up" : "down");

    if (ctx->health->redis_up) {
        p = ngx_sprintf(p, ",\"latencyMs\":%M", ctx->health->redis_ms);
    }

    p = ngx_cpymem(p, "}}},\"meta\":{", sizeof("}}},\"meta\":{") - 1);
    p = ngx_cpymem(p, meta, mlen);
    *p++ = '}';
    *p++ = '}';

    return crm_http_send_data(r, code, body, p - body);
}
