
/*
 * ngx_http_crm_module: a per-worker PostgreSQL connection pool on the
 * nginx event loop (io/crm_pg.c).  It knows statements and results, not
 * HTTP requests: a caller gets a crm_pg_req_t and a callback.
 */


#ifndef _CRM_PG_H_INCLUDED_
#define _CRM_PG_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include <libpq-fe.h>
#include "model/crm.h"
#include "model/crm_metrics.h"


typedef struct crm_pg_pool_s   crm_pg_pool_t;
typedef struct crm_pg_conn_s   crm_pg_conn_t;
typedef struct crm_pg_req_s    crm_pg_req_t;


/* why a statement produced no result */

#define CRM_PG_OK             0
#define CRM_PG_BUSY           1         /* wait queue full */
#define CRM_PG_TIMEOUT        2         /* waited too long for a conn */
#define CRM_PG_DOWN           3         /* database unreachable */
#define CRM_PG_LOST           4         /* connection lost mid-statement */
#define CRM_PG_NREASONS       5

/* statements in flight on one connection, at most (crm_postgres_pipeline) */
#define CRM_PG_PIPELINE_MAX   16


typedef struct {
    ngx_str_t                 conninfo;
    const char              **keywords;     /* NULL-terminated, for */
    const char              **values;       /* PQconnectStartParams */
    ngx_uint_t                pool_size;
    ngx_uint_t                pipeline;     /* statements in flight on a
                                               connection, at most */
    ngx_uint_t                queue;
    ngx_msec_t                queue_timeout;
    ngx_msec_t                connect_timeout;
    ngx_msec_t                statement_timeout;
    ngx_msec_t                backoff_max;
    ngx_uint_t                similarity;   /* search's typo tolerance,
                                               hundredths */
    unsigned                  generic:1;    /* statements planned once:
                                               plan_cache_mode
                                               force_generic_plan */
} crm_pg_conf_t;


typedef void (*crm_pg_handler_pt)(crm_pg_req_t *pr, PGresult *res);


struct crm_pg_req_s {
    ngx_queue_t               queue;        /* in the wait queue */
    ngx_event_t               wait;         /* wait-queue timeout */
    crm_pg_pool_t            *pool;
    crm_pg_conn_t            *conn;
    crm_stmt_t               *stmt;
    crm_pg_handler_pt         handler;
    void                     *data;
    ngx_log_t                *log;
    ngx_uint_t                error;        /* CRM_PG_* */
    unsigned                  queued:1;
    unsigned                  gone:1;       /* owner's pool destroyed */
    unsigned                  cancel:1;     /* a statement in flight is
                                               cancelled when the owner
                                               goes away (reads only) */
    unsigned                  solo:1;       /* it may run long: sent to
                                               an idle connection only,
                                               nothing is sent behind it
                                               (crm_postgres_pipeline) */
};


/* crm_pg.c: per-worker PostgreSQL pool */

char *crm_pg_conf_finalize(ngx_conf_t *cf, crm_pg_conf_t *pcf);
crm_pg_pool_t *crm_pg_pool_create(ngx_cycle_t *cycle, crm_pg_conf_t *pcf);
void crm_pg_pool_destroy(crm_pg_pool_t *pool);
void crm_pg_cancel_via(crm_pg_pool_t *pool, crm_pg_pool_t *via);
crm_pg_req_t *crm_pg_request(crm_pg_pool_t *pool, ngx_pool_t *p,
    ngx_log_t *log);
void crm_pg_exec(crm_pg_req_t *pr, crm_stmt_t *st, crm_pg_handler_pt h,
    void *data);
ngx_msec_t crm_pg_retry_after(crm_pg_pool_t *pool);
void crm_pg_pool_metrics(crm_pg_pool_t *pool, crm_metrics_worker_t *w,
    ngx_uint_t kind);


#endif /* _CRM_PG_H_INCLUDED_ */
