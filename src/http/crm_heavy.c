
/*
 * ngx_http_crm_module: expensive requests (search, q= on a list,
 * count=exact) have a PostgreSQL pool of their own, with its own size,
 * queue and statement timeout, so that they cannot take the connections
 * that cheap requests need; and a workspace may run only so many of them
 * at once in a worker, so that one tenant's searches cannot take all of
 * that pool either.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"


struct crm_heavy_slot_s {
    u_char                    workspace[CRM_HEAVY_WS_LEN];
    size_t                    len;
    ngx_uint_t                running;      /* 0: the slot is free */
};


static void crm_heavy_leave(void *data);


ngx_int_t
crm_heavy_init_process(ngx_cycle_t *cycle, ngx_http_crm_main_conf_t *mcf)
{
    if (!mcf->heavy_enabled || mcf->pg.conninfo.len == 0) {
        return NGX_OK;
    }

    mcf->heavy_pool = crm_pg_pool_create(cycle, &mcf->heavy);
    if (mcf->heavy_pool == NULL) {
        return NGX_ERROR;
    }

    /* its statements are cancelled over the ordinary pool: its own
       connections may all be busy with what is to be cancelled */
    crm_pg_cancel_via(mcf->heavy_pool, mcf->pool);

    /* at most pool_size + queue heavy requests are admitted at once */

    mcf->heavy_nslots = mcf->heavy.pool_size + mcf->heavy.queue;
    mcf->heavy_slots = ngx_pcalloc(cycle->pool, mcf->heavy_nslots
                                                * sizeof(crm_heavy_slot_t));
    if (mcf->heavy_slots == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
crm_heavy_exit_process(ngx_http_crm_main_conf_t *mcf)
{
    crm_pg_pool_destroy(mcf->heavy_pool);
    mcf->heavy_pool = NULL;
}


/*
 * The pool a statement of this request runs on: the heavy pool for an
 * expensive request, once its workspace has a share of it.  NULL: the
 * request was answered (ctx->rc).
 */

crm_pg_pool_t *
crm_heavy_pool(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ngx_uint_t                 i;
    crm_heavy_slot_t          *slot, *free;
    ngx_pool_cleanup_t        *cln;
    ngx_http_crm_main_conf_t  *mcf;

    mcf = ctx->mcf;

    if (!ctx->heavy || mcf->heavy_pool == NULL) {
        return mcf->pool;
    }

    if (ctx->heavy_slot != NULL) {
        return mcf->heavy_pool;
    }

    slot = NULL;
    free = NULL;

    for (i = 0; i < mcf->heavy_nslots; i++) {

        if (mcf->heavy_slots[i].running == 0) {
            if (free == NULL) {
                free = &mcf->heavy_slots[i];
            }

            continue;
        }

        if (mcf->heavy_slots[i].len == ctx->workspace.len
            && ngx_memcmp(mcf->heavy_slots[i].workspace, ctx->workspace.data,
                          ctx->workspace.len)
               == 0)
        {
            slot = &mcf->heavy_slots[i];
            break;
        }
    }

    if (slot != NULL && slot->running >= mcf->heavy_workspace) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: workspace %V runs %ui expensive requests "
                      "already", &ctx->workspace, slot->running);

        crm_metrics_inc(ctx->mcf->metrics,
                        limited[CRM_METRICS_LIMIT_HEAVY]);

        ctx->rc = crm_http_retry(r, CRM_E_RATE_LIMITED,
                                 "too many expensive requests (search, "
                                 "counts) of this workspace at once, "
                                 "retry later", 1000, "concurrency");
        return NULL;
    }

    if (slot == NULL) {
        if (free == NULL || ctx->workspace.len > CRM_HEAVY_WS_LEN) {
            /* as many as the pool and its queue take: it would refuse */
            ctx->rc = crm_http_retry(r, CRM_E_SERVICE_UNAVAILABLE,
                                     "too many expensive requests at "
                                     "once, retry later", 1000,
                                     "concurrency");
            return NULL;
        }

        slot = free;
        slot->len = ctx->workspace.len;
        ngx_memcpy(slot->workspace, ctx->workspace.data, slot->len);
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NULL;
    }

    slot->running++;

    cln->handler = crm_heavy_leave;
    cln->data = slot;
    ctx->heavy_slot = slot;

    return mcf->heavy_pool;
}


static void
crm_heavy_leave(void *data)
{
    crm_heavy_slot_t *slot = data;

    slot->running--;
}
