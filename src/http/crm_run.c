
/*
 * ngx_http_crm_module: the stage runner.
 *
 * A request that has its route (and body) runs the stages of its
 * ctx->stages table in order, from ctx->stage: a stage that waits (a
 * lookup, a Redis round trip) returns NGX_AGAIN and its callback resumes
 * the request with crm_run_next(); one that answered returns NGX_ABORT.
 * After the last stage, the route's handler for the method runs.  The
 * runner knows no stage and no handler: both come as data.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"


static ngx_int_t crm_run_handler(ngx_http_request_t *r, crm_ctx_t *ctx);


/*
 * The stages from ctx->stage on, then the handler.  NGX_DONE: something
 * waits and finishes the request later; otherwise the result to finalize
 * the request with.
 */

ngx_int_t
crm_run(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ngx_int_t         rc;
    crm_stage_def_t  *st;

    for ( ;; ) {
        st = &ctx->stages[ctx->stage];

        if (st->run == NULL) {
            return crm_run_handler(r, ctx);
        }

        if (st->skip & ctx->route.flags) {
            ctx->stage++;
            continue;
        }

        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "crm stage: %s", st->name);

        rc = st->run(r, ctx);

        switch (rc) {

        case NGX_OK:
            ctx->stage++;
            continue;

        case NGX_AGAIN:
            return NGX_DONE;

        default: /* NGX_ABORT */
            return ctx->rc;
        }
    }
}


/* the stage that waited is done: the next one */

ngx_int_t
crm_run_next(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ctx->stage++;

    return crm_run(r, ctx);
}


/* the route's handler for the method (crm_route_def_t) */

static ngx_int_t
crm_run_handler(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    crm_step_pt       h;
    crm_route_def_t  *def;

    def = ctx->route.def;

    switch (r->method) {

    case NGX_HTTP_POST:
        h = def->post;
        break;

    case NGX_HTTP_PUT:
    case NGX_HTTP_PATCH:
        h = def->put;
        break;

    case NGX_HTTP_DELETE:
        h = def->delete;
        break;

    default: /* GET, HEAD: the method check let nothing else through */
        h = def->get;
        break;
    }

    if (h == NULL) {
        return crm_http_error(r, CRM_E_NOT_FOUND, "no such route", NULL);
    }

    /*
     * a write or an action takes no query parameter (docs/API.md): one
     * ignored would look applied (the tracking routes, which mail readers
     * fetch, are another location's: crm_tracking.c)
     */

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))
        && crm_http_no_args(r, ctx) != NGX_OK)
    {
        return ctx->rc;
    }

    return h(r, ctx);
}
