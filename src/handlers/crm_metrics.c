
/*
 * ngx_http_crm_module: metrics in the Prometheus text format.
 *
 * The zone of crm_metrics_zone holds one crm_metrics_t (its layout and
 * the writer are in src/model/crm_metrics.c).  Every request of the
 * module's locations (crm_api, crm_tracking, crm_metrics, and a server
 * whose own errors are JSON) is counted once, in the log phase, where
 * its status is final whoever answered it: a handler, a stage, or nginx
 * itself (crm_error_pages.c).  The other counts are taken where things
 * happen (the pool, Redis, the stages, the jobs) with atomic adds; the
 * per-worker gauges are stored by each worker into its own slot.
 *
 * The outboxes' depths (crm_queue_depth) are the cluster's, read from
 * PostgreSQL every CRM_METRICS_QUEUE_INTERVAL by a job of each worker
 * (the "queues" kind: one cheap statement, counted up to a limit).
 *
 * The zone is reused across reloads as nginx reuses any zone of the same
 * name, size and module: the counts go on.  A zone of another layout
 * (a reload into another build of the module) starts from zero.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "handlers/crm_handlers.h"
#include "jobs/crm_jobs.h"


/* the first buffer of an exposition; doubled until it fits */
#define CRM_METRICS_OUT       (64 * 1024)
#define CRM_METRICS_OUT_MAX   (64 * 1024 * 1024)


typedef struct {
    crm_metrics_t            *sh;
    ngx_slab_pool_t          *shpool;
} crm_metrics_zone_t;


typedef struct {
    crm_job_kind_t            kind;
    crm_pg_pool_t            *pool;
    crm_metrics_t            *metrics;
    ngx_uint_t                failed;       /* reads failed in a row */
} crm_metrics_queues_t;


static ngx_int_t crm_metrics_zone_init(ngx_shm_zone_t *zone, void *data);
static void crm_metrics_gauges_clear(crm_metrics_worker_t *w);
static ngx_int_t crm_metrics_queues_start(crm_job_run_t *run);
static void crm_metrics_queues_stop(crm_job_run_t *run);
static void crm_metrics_queues_read(crm_pg_req_t *pr, PGresult *res);


/* crm_metrics_zone zone=name:size, or the default zone of crm_metrics */

char *
crm_metrics_zone(ngx_conf_t *cf, ngx_str_t *name, ssize_t size,
    ngx_shm_zone_t **zone)
{
    crm_metrics_zone_t  *ctx;

    if ((size_t) size < crm_metrics_zone_size()) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "crm_metrics_zone \"%V\" is too small: it needs "
                           "%uzk at least", name,
                           crm_metrics_zone_size() / 1024 + 1);
        return NGX_CONF_ERROR;
    }

    ctx = ngx_pcalloc(cf->pool, sizeof(crm_metrics_zone_t));
    if (ctx == NULL) {
        return NGX_CONF_ERROR;
    }

    *zone = ngx_shared_memory_add(cf, name, size, &ngx_http_crm_module);
    if (*zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if ((*zone)->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "crm_metrics_zone \"%V\" is already used", name);
        return NGX_CONF_ERROR;
    }

    (*zone)->init = crm_metrics_zone_init;
    (*zone)->data = ctx;

    return NGX_CONF_OK;
}


/* the struct in whole pages, and the slab's own pages and headers */

size_t
crm_metrics_zone_size(void)
{
    return ngx_align(sizeof(crm_metrics_t), ngx_pagesize)
           + 16 * ngx_pagesize;
}


static ngx_int_t
crm_metrics_zone_init(ngx_shm_zone_t *zone, void *data)
{
    crm_metrics_zone_t  *octx = data;

    crm_metrics_zone_t  *ctx;

    ctx = zone->data;

    if (octx != NULL) {
        /* a reload: the same memory, the counts go on */
        ctx->sh = octx->sh;
        ctx->shpool = octx->shpool;

        if (ctx->sh->magic == CRM_METRICS_MAGIC) {
            return NGX_OK;
        }

        /* another build's layout: its struct may be smaller than ours */

        ngx_log_error(NGX_LOG_NOTICE, zone->shm.log, 0,
                      "crm: metrics zone \"%V\" has another layout, the "
                      "counts start from zero", &zone->shm.name);

        ngx_slab_free(ctx->shpool, ctx->sh);
        goto alloc;
    }

    ctx->shpool = (ngx_slab_pool_t *) zone->shm.addr;

    if (zone->shm.exists) {
        ctx->sh = ctx->shpool->data;
        return NGX_OK;
    }

alloc:

    ctx->sh = ngx_slab_alloc(ctx->shpool, sizeof(crm_metrics_t));
    if (ctx->sh == NULL) {
        ngx_log_error(NGX_LOG_EMERG, zone->shm.log, 0,
                      "crm: metrics zone \"%V\" is too small",
                      &zone->shm.name);
        return NGX_ERROR;
    }

    crm_metrics_reset(ctx->sh);
    ctx->shpool->data = ctx->sh;

    return NGX_OK;
}


/*
 * A worker takes the slot of its number for its gauges; the counters of
 * the slot are left as they are (they are summed over all slots).  The
 * helper processes (cache manager, loader) count nothing of their own.
 */

void
crm_metrics_init_process(ngx_http_crm_main_conf_t *mcf)
{
    crm_metrics_zone_t    *ctx;
    crm_metrics_worker_t  *w;

    if (mcf->metrics_zone == NULL) {
        return;
    }

    ctx = mcf->metrics_zone->data;
    mcf->metrics = ctx->sh;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return;
    }

    w = &ctx->sh->workers[(ngx_uint_t) ngx_worker % CRM_METRICS_WORKERS];

    w->pid = (ngx_atomic_uint_t) ngx_pid;
    crm_metrics_gauges_clear(w);

    mcf->metrics_worker = w;
}


/* the slot is left, unless a worker of a newer generation has it */

void
crm_metrics_exit_process(ngx_http_crm_main_conf_t *mcf)
{
    crm_metrics_worker_t  *w;

    w = mcf->metrics_worker;

    if (w == NULL) {
        return;
    }

    if (ngx_atomic_cmp_set(&w->pid, (ngx_atomic_uint_t) ngx_pid, 0)) {
        crm_metrics_gauges_clear(w);
    }

    mcf->metrics_worker = NULL;
    mcf->metrics = NULL;
}


static void
crm_metrics_gauges_clear(crm_metrics_worker_t *w)
{
    ngx_uint_t  k;

    w->redis_up = 0;

    for (k = 0; k < CRM_METRICS_POOLS; k++) {
        w->pg[k].open = 0;
        w->pg[k].busy = 0;
        w->pg[k].waiting = 0;
    }
}


/*
 * The content handler of a crm_metrics location: GET and HEAD, no
 * credential (protect the location with allow and deny)
 */

ngx_int_t
crm_metrics_handler(ngx_http_request_t *r)
{
    u_char                    *p;
    size_t                     size;
    ngx_int_t                  rc;
    ngx_buf_t                 *b;
    ngx_chain_t                out;
    ngx_http_crm_main_conf_t  *mcf;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_HTTP_NOT_ALLOWED;
    }

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_crm_module);

    if (mcf->metrics == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "crm: metrics: no crm_metrics_zone in this process");
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    }

    for (size = CRM_METRICS_OUT; /* void */ ; size *= 2) {

        if (size > CRM_METRICS_OUT_MAX) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "crm: metrics: the exposition is over %uz bytes",
                          (size_t) CRM_METRICS_OUT_MAX);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        b = ngx_create_temp_buf(r->pool, size);
        if (b == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = crm_metrics_write(b->pos, b->end, mcf->metrics);

        if (p != NULL) {
            b->last = p;
            break;
        }
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = b->last - b->pos;
    ngx_str_set(&r->headers_out.content_type,
                "text/plain; version=0.0.4; charset=utf-8");
    r->headers_out.content_type_len = sizeof("text/plain") - 1;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


/*
 * The log phase: a request of the module's locations, once, with its
 * final status (nginx's own error pages included) and its time so far
 */

ngx_int_t
crm_metrics_log(ngx_http_request_t *r)
{
    ngx_uint_t                 family, resource, status;
    crm_ctx_t                 *ctx;
    ngx_time_t                *tp;
    ngx_msec_int_t             ms;
    ngx_http_crm_loc_conf_t   *lcf;
    ngx_http_crm_main_conf_t  *mcf;

    mcf = ngx_http_get_module_main_conf(r, ngx_http_crm_module);

    if (mcf == NULL || mcf->metrics == NULL) {
        return NGX_OK;
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_crm_module);

    family = CRM_METRICS_FAMILY_NONE;
    resource = 0;

    if (lcf->metrics == 1) {
        family = CRM_METRICS_FAMILY_METRICS;

    } else if (lcf->tracking == 1) {
        family = CRM_METRICS_FAMILY_TRACKING;

    } else if (lcf->enable == 1 || lcf->error_pages) {
        ctx = ngx_http_get_module_ctx(r, ngx_http_crm_module);

        if (ctx != NULL && ctx->route.def != NULL) {
            family = ctx->route.kind;
            resource = crm_metrics_resource(ctx->route.res);
        }

    } else {
        return NGX_OK;
    }

    status = r->err_status ? r->err_status : r->headers_out.status;

    tp = ngx_timeofday();
    ms = (ngx_msec_int_t) ((tp->sec - r->start_sec) * 1000
                           + (tp->msec - r->start_msec));

    crm_metrics_request(mcf->metrics, family, resource, &r->method_name,
                        status, ms);

    return NGX_OK;
}


ngx_int_t
crm_metrics_queues_job(ngx_cycle_t *cycle, ngx_http_crm_main_conf_t *mcf)
{
    crm_metrics_queues_t  *q;

    if (mcf->metrics == NULL || mcf->pool == NULL
        || mcf->jobs_worker == NULL)
    {
        return NGX_OK;
    }

    q = ngx_pcalloc(cycle->pool, sizeof(crm_metrics_queues_t));
    if (q == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&q->kind.name, "queues");
    q->kind.interval = CRM_METRICS_QUEUE_INTERVAL;
    q->kind.concurrency = 1;
    q->kind.deadline = CRM_METRICS_QUEUE_INTERVAL;
    q->kind.start = crm_metrics_queues_start;
    q->kind.stop = crm_metrics_queues_stop;
    q->kind.data = q;

    q->pool = mcf->pool;
    q->metrics = mcf->metrics;

    if (crm_jobs_add(mcf->jobs_worker, &q->kind) == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
crm_metrics_queues_start(crm_job_run_t *run)
{
    crm_stmt_t            *st;
    crm_metrics_queues_t  *q;

    q = run->data;

    st = crm_sql_fixed(run->pool, "SELECT * FROM db_queue_depths($1::integer)",
                       1);
    if (st == NULL
        || crm_sql_set_num(st, 0, "%ui", CRM_METRICS_QUEUE_LIMIT)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return crm_job_exec(run, q->pool, st, crm_metrics_queues_read, run);
}


static void
crm_metrics_queues_stop(crm_job_run_t *run)
{
    /* the statement in flight ends the run */
}


static void
crm_metrics_queues_read(crm_pg_req_t *pr, PGresult *res)
{
    ngx_int_t              n;
    ngx_uint_t             i;
    crm_job_run_t         *run;
    crm_metrics_queues_t  *q;

    run = pr->data;
    q = run->data;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQntuples(res) != 1 || PQnfields(res) != CRM_METRICS_QUEUES)
    {
        crm_job_failed(&q->failed, run->log, "metrics",
                       "counting the outboxes", res);
        crm_job_done(run, 0);
        return;
    }

    crm_job_recovered(&q->failed, run->log,
                      "metrics: the outboxes are counted");

    for (i = 0; i < CRM_METRICS_QUEUES; i++) {
        n = ngx_atoi((u_char *) PQgetvalue(res, 0, i),
                     PQgetlength(res, 0, i));

        q->metrics->queues[i] = (n == NGX_ERROR) ? 0 : (ngx_atomic_uint_t) n;
    }

    q->metrics->queues_read = (ngx_atomic_uint_t) ngx_time();

    crm_job_done(run, 0);
}
