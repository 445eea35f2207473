
/*
 * ngx_http_crm_module: the per-worker job scheduler (see crm_jobs.h).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "model/crm.h"
#include "io/crm_pg_listen.h"
#include "jobs/crm_jobs.h"


#define CRM_JOBS_MAX          8
#define CRM_JOBS_GUARD        250           /* ms between a run's checks */
#define CRM_JOBS_SOON         1             /* ms: "run again now" */


struct crm_job_s {
    crm_jobs_t               *jobs;
    crm_job_kind_t           *kind;
    ngx_event_t               timer;
    ngx_queue_t               runs;
    ngx_uint_t                running;
    unsigned                  woken:1;      /* woken while all ran */
};


struct crm_jobs_s {
    ngx_cycle_t              *cycle;
    ngx_log_t                *log;
    crm_job_t                 job[CRM_JOBS_MAX];
    ngx_uint_t                njobs;
    crm_pg_listen_t          *listen;
    unsigned                  started:1;
    unsigned                  exiting:1;
};


static void crm_jobs_timer(ngx_event_t *ev);
static void crm_jobs_launch(crm_job_t *job);
static void crm_jobs_guard(ngx_event_t *ev);
static void crm_jobs_notified(void *data, ngx_str_t *payload);
static void crm_jobs_arm(crm_job_t *job, ngx_msec_t ms);
static void crm_jobs_reap(ngx_event_t *ev);
static void crm_jobs_free(crm_job_run_t *run);


crm_jobs_t *
crm_jobs_create(ngx_cycle_t *cycle)
{
    crm_jobs_t  *jobs;

    jobs = ngx_pcalloc(cycle->pool, sizeof(crm_jobs_t));
    if (jobs == NULL) {
        return NULL;
    }

    jobs->cycle = cycle;
    jobs->log = cycle->log;

    return jobs;
}


crm_job_t *
crm_jobs_add(crm_jobs_t *jobs, crm_job_kind_t *kind)
{
    crm_job_t  *job;

    if (jobs->njobs == CRM_JOBS_MAX) {
        return NULL;
    }

    job = &jobs->job[jobs->njobs++];

    job->jobs = jobs;
    job->kind = kind;
    ngx_queue_init(&job->runs);

    job->timer.handler = crm_jobs_timer;
    job->timer.data = job;
    job->timer.log = jobs->log;
    job->timer.cancelable = 1;

    return job;
}


ngx_int_t
crm_jobs_listen(crm_jobs_t *jobs, crm_pg_conf_t *pg)
{
    ngx_str_t  channel = ngx_string("crm_jobs");

    jobs->listen = crm_pg_listen_create(jobs->cycle, pg, &channel,
                                        crm_jobs_notified, jobs);

    return jobs->listen != NULL ? NGX_OK : NGX_ERROR;
}


/* first runs spread over an interval, so workers do not poll in step */

void
crm_jobs_start(crm_jobs_t *jobs)
{
    ngx_uint_t   i;
    crm_job_t   *job;

    jobs->started = 1;

    for (i = 0; i < jobs->njobs; i++) {
        job = &jobs->job[i];
        crm_jobs_arm(job, 1 + (ngx_msec_t) ngx_random()
                              % ngx_max(job->kind->interval, 1));
    }
}


void
crm_jobs_wake(crm_jobs_t *jobs, ngx_str_t *name)
{
    ngx_uint_t   i;
    crm_job_t   *job;

    if (!jobs->started || jobs->exiting) {
        return;
    }

    for (i = 0; i < jobs->njobs; i++) {
        job = &jobs->job[i];

        if (name != NULL
            && (name->len != job->kind->name.len
                || ngx_strncmp(name->data, job->kind->name.data, name->len)
                   != 0))
        {
            continue;
        }

        if (job->running >= job->kind->concurrency) {
            /* a run ending looks again */
            job->woken = 1;
            continue;
        }

        crm_jobs_arm(job, CRM_JOBS_SOON);
    }
}


static void
crm_jobs_notified(void *data, ngx_str_t *payload)
{
    crm_jobs_t  *jobs = data;

    ngx_log_debug1(NGX_LOG_DEBUG_CORE, jobs->log, 0,
                   "crm: jobs notified: \"%V\"",
                   payload ? payload : &jobs->job[0].kind->name);

    crm_jobs_wake(jobs, payload);
}


/* re-armed before the run: a run that fails does not stop the job */

static void
crm_jobs_timer(ngx_event_t *ev)
{
    crm_job_t  *job;

    job = ev->data;

    if (ngx_exiting || ngx_quit || ngx_terminate) {
        job->jobs->exiting = 1;
        return;
    }

    ngx_add_timer(&job->timer, job->kind->interval);

    crm_jobs_launch(job);
}


static void
crm_jobs_arm(crm_job_t *job, ngx_msec_t ms)
{
    if (job->timer.timer_set) {
        if (job->timer.timer.key <= ngx_current_msec + ms) {
            return;
        }

        ngx_del_timer(&job->timer);
    }

    ngx_add_timer(&job->timer, ms);
}


static void
crm_jobs_launch(crm_job_t *job)
{
    ngx_int_t       rc;
    ngx_pool_t     *pool;
    crm_job_run_t  *run;

    if (job->running >= job->kind->concurrency) {
        job->woken = 1;
        return;
    }

    pool = ngx_create_pool(4096, job->jobs->log);
    if (pool == NULL) {
        return;
    }

    run = ngx_pcalloc(pool, sizeof(crm_job_run_t));
    if (run == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    run->job = job;
    run->pool = pool;
    run->log = job->jobs->log;
    run->data = job->kind->data;
    run->started = ngx_current_msec;

    run->guard.handler = crm_jobs_guard;
    run->guard.data = run;
    run->guard.log = run->log;

    run->reap.handler = crm_jobs_reap;
    run->reap.data = run;
    run->reap.log = run->log;

    ngx_queue_insert_tail(&job->runs, &run->queue);
    job->running++;
    job->woken = 0;

    ngx_log_debug1(NGX_LOG_DEBUG_CORE, run->log, 0,
                   "crm: job \"%V\" runs", &job->kind->name);

    /* a run may be done before start() returns: crm_job_done() frees
       it from a posted event, so "run" is still valid here */

    rc = job->kind->start(run);

    if (rc == NGX_OK) {
        if (!run->done) {
            ngx_add_timer(&run->guard, CRM_JOBS_GUARD);
        }

        return;
    }

    crm_job_done(run, 0);
}


/*
 * While a run lives a non-cancelable timer ticks: a quitting worker
 * waits for it, and the run learns that it should stop
 */

static void
crm_jobs_guard(ngx_event_t *ev)
{
    crm_job_run_t   *run;
    crm_job_kind_t  *kind;

    run = ev->data;
    kind = run->job->kind;

    if (!run->stopping
        && (ngx_exiting || ngx_quit || ngx_terminate
            || ngx_current_msec - run->started >= kind->deadline))
    {
        if (!(ngx_exiting || ngx_quit || ngx_terminate)) {
            ngx_log_error(NGX_LOG_WARN, run->log, 0,
                          "crm: job \"%V\" ran %M ms: told to stop",
                          &kind->name, ngx_current_msec - run->started);
        }

        run->stopping = 1;
        kind->stop(run);

        if (run->done) {
            return;
        }
    }

    ngx_add_timer(&run->guard, CRM_JOBS_GUARD);
}


void
crm_job_done(crm_job_run_t *run, ngx_uint_t more)
{
    crm_job_t  *job;

    if (run->done) {
        return;
    }

    run->done = 1;
    job = run->job;
    job->running--;

    ngx_log_debug2(NGX_LOG_DEBUG_CORE, run->log, 0,
                   "crm: job \"%V\" run done, more: %ui", &job->kind->name,
                   more);

    if (run->guard.timer_set) {
        ngx_del_timer(&run->guard);
    }

    ngx_post_event(&run->reap, &ngx_posted_events);

    if (job->jobs->exiting || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    if (more || job->woken) {
        job->woken = 0;
        crm_jobs_arm(job, CRM_JOBS_SOON);
    }
}


static void
crm_jobs_reap(ngx_event_t *ev)
{
    crm_jobs_free(ev->data);
}


/* the pool's cleanups abort what the run still had going */

static void
crm_jobs_free(crm_job_run_t *run)
{
    if (run->guard.timer_set) {
        ngx_del_timer(&run->guard);
    }

    if (run->reap.posted) {
        ngx_delete_posted_event(&run->reap);
    }

    if (!run->done) {
        run->done = 1;
        run->job->running--;
    }

    ngx_queue_remove(&run->queue);
    ngx_destroy_pool(run->pool);
}


void
crm_jobs_exit(crm_jobs_t *jobs)
{
    ngx_uint_t      i;
    ngx_queue_t    *q;
    crm_job_t      *job;
    crm_job_run_t  *run;

    if (jobs == NULL) {
        return;
    }

    jobs->exiting = 1;

    crm_pg_listen_destroy(jobs->listen);
    jobs->listen = NULL;

    for (i = 0; i < jobs->njobs; i++) {
        job = &jobs->job[i];

        if (job->timer.timer_set) {
            ngx_del_timer(&job->timer);
        }

        while (!ngx_queue_empty(&job->runs)) {
            q = ngx_queue_head(&job->runs);
            run = ngx_queue_data(q, crm_job_run_t, queue);

            if (!run->done) {
                ngx_log_error(NGX_LOG_NOTICE, run->log, 0,
                              "crm: job \"%V\" ended by the worker's exit; "
                              "its claimed items come back when their "
                              "lease ends", &job->kind->name);
            }

            crm_jobs_free(run);
        }
    }
}


ngx_int_t
crm_job_exec(crm_job_run_t *run, crm_pg_pool_t *pool, crm_stmt_t *st,
    crm_pg_handler_pt h, void *data)
{
    crm_pg_req_t  *pr;

    pr = crm_pg_request(pool, run->pool, run->log);
    if (pr == NULL) {
        return NGX_ERROR;
    }

    /* a batch may run long: no request waits behind it */
    pr->solo = 1;

    crm_pg_exec(pr, st, h, data);

    return NGX_OK;
}


ngx_int_t
crm_job_value(ngx_pool_t *pool, PGresult *res, int row, int col,
    ngx_str_t *out)
{
    int  len;

    if (PQgetisnull(res, row, col)) {
        ngx_str_null(out);
        return NGX_OK;
    }

    len = PQgetlength(res, row, col);

    out->data = ngx_pnalloc(pool, len + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, PQgetvalue(res, row, col), len);
    out->data[len] = '\0';
    out->len = len;

    return NGX_OK;
}


void
crm_job_failed(ngx_uint_t *failed, ngx_log_t *log, const char *job,
    const char *what, PGresult *res)
{
    u_char  *p;
    u_char   buf[NGX_MAX_ERROR_STR / 2];

    if ((*failed)++ > 0) {
        return;
    }

    if (res == NULL) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "crm: %s: %s failed: the database is unavailable; "
                      "retrying on the job's timer", job, what);
        return;
    }

    p = crm_value_line(buf, sizeof(buf), PQresultErrorMessage(res));

    ngx_log_error(NGX_LOG_ERR, log, 0, "crm: %s: %s failed: %*s", job, what,
                  p - buf, buf);
}


void
crm_job_recovered(ngx_uint_t *failed, ngx_log_t *log, const char *again)
{
    if (*failed == 0) {
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, log, 0, "crm: %s again after %ui failures",
                  again, *failed);

    *failed = 0;
}
