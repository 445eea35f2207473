
/*
 * ngx_http_crm_module: the per-worker job scheduler (jobs/crm_jobs.c).
 *
 * A job kind runs every "interval" on a cancelable nginx timer, re-armed
 * before it runs, at most "concurrency" runs at once in a worker.  Each
 * run has its own pool.  Work items live in PostgreSQL and are claimed
 * by the kind with a lease (FOR UPDATE SKIP LOCKED), committed before
 * any outbound I/O, so workers on any number of hosts cooperate.
 * NOTIFY crm_jobs, '<kind>' wakes a kind at once; the timer is the
 * fallback.  When the worker exits, runs are told to stop (no new item;
 * what was claimed and not started goes back), and nginx waits for them
 * (a run holds a non-cancelable timer); at exit_process what is left is
 * destroyed, and its items come back when their lease ends.
 */


#ifndef _CRM_JOBS_H_INCLUDED_
#define _CRM_JOBS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "io/crm_pg.h"


typedef struct crm_jobs_s      crm_jobs_t;
typedef struct crm_job_s       crm_job_t;
typedef struct crm_job_run_s   crm_job_run_t;


/*
 * NGX_OK: the run goes on and ends with crm_job_done(); NGX_DECLINED:
 * nothing to do, NGX_ERROR: it failed; both end the run at once
 */
typedef ngx_int_t (*crm_job_start_pt)(crm_job_run_t *run);

/* end early: start nothing new, then crm_job_done() once it is safe */
typedef void (*crm_job_stop_pt)(crm_job_run_t *run);


typedef struct {
    ngx_str_t                 name;         /* the NOTIFY payload */
    ngx_msec_t                interval;
    ngx_uint_t                concurrency;  /* runs at once per worker */
    ngx_msec_t                deadline;     /* a run is told to stop
                                               after this long */
    crm_job_start_pt          start;
    crm_job_stop_pt           stop;
    void                     *data;         /* the kind's configuration */
} crm_job_kind_t;


struct crm_job_run_s {
    ngx_queue_t               queue;
    crm_job_t                *job;
    ngx_pool_t               *pool;         /* the run's, destroyed with
                                               it */
    ngx_log_t                *log;
    void                     *data;         /* kind->data */
    void                     *state;        /* the kind's own */
    ngx_event_t               guard;        /* exit and deadline checks;
                                               keeps a quitting worker
                                               until the run is done */
    ngx_event_t               reap;         /* frees the run, posted by
                                               crm_job_done() */
    ngx_msec_t                started;
    unsigned                  stopping:1;
    unsigned                  done:1;
};


crm_jobs_t *crm_jobs_create(ngx_cycle_t *cycle);
crm_job_t *crm_jobs_add(crm_jobs_t *jobs, crm_job_kind_t *kind);
/* listens for wake-ups on "crm_jobs"; NGX_ERROR only on a bad config */
ngx_int_t crm_jobs_listen(crm_jobs_t *jobs, crm_pg_conf_t *pg);
void crm_jobs_start(crm_jobs_t *jobs);
/* the kind named "name" (NULL: every kind) looks for work now */
void crm_jobs_wake(crm_jobs_t *jobs, ngx_str_t *name);
/*
 * the run ends; "more": it had a full batch, run again soon.  Its pool
 * is destroyed later, from a posted event, so that the run's code may go
 * on to its caller's end after it (a callback that a statement or a
 * transfer calls at once, say) without touching freed memory
 */
void crm_job_done(crm_job_run_t *run, ngx_uint_t more);
/* exit_process: what still runs is destroyed */
void crm_jobs_exit(crm_jobs_t *jobs);


/*
 * Statements of jobs are made with crm_sql_fixed() (model/crm.h);
 * crm_job_value() copies a result's value (NULL: empty) into "pool"
 */
ngx_int_t crm_job_value(ngx_pool_t *pool, PGresult *res, int row, int col,
    ngx_str_t *out);
/*
 * "st" on a connection of "pool", for the run: h(pr, res) with pr->data
 * "data" ends it; NGX_ERROR (no memory): nothing was sent
 */
ngx_int_t crm_job_exec(crm_job_run_t *run, crm_pg_pool_t *pool,
    crm_stmt_t *st, crm_pg_handler_pt h, void *data);

/*
 * A job's statement failed (res NULL: the database was unavailable): the
 * first failure of a series is logged, "crm: <job>: <what> failed: ...",
 * the rest counted in *failed; crm_job_recovered() logs the series' end,
 * "crm: <again> again after N failures", when there was one
 */
void crm_job_failed(ngx_uint_t *failed, ngx_log_t *log, const char *job,
    const char *what, PGresult *res);
void crm_job_recovered(ngx_uint_t *failed, ngx_log_t *log,
    const char *again);


#endif /* _CRM_JOBS_H_INCLUDED_ */
