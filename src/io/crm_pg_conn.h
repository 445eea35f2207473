
/*
 * ngx_http_crm_module: the PostgreSQL pool's connections, private to
 * src/io/: crm_pg.c (the pool: connecting, events, statements, waiting
 * requests, cancels) and the leaves it calls: crm_pg_conf.c (the session
 * settings), crm_pg_stmt.c (the prepared statements of a connection),
 * crm_pg_log.c (what the pool says in the error log).
 */


#ifndef _CRM_PG_CONN_H_INCLUDED_
#define _CRM_PG_CONN_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "io/crm_pg.h"


#define CRM_PG_FREE           0
#define CRM_PG_CONNECTING     1
#define CRM_PG_IDLE           2
#define CRM_PG_ACTIVE         3

/* prepared statements kept per connection */
#define CRM_PG_STMT_CACHE     128


typedef struct {
    uint32_t                  hash;
    size_t                    len;
    u_char                   *sql;          /* in the connection's pool */
    unsigned                  prepared:1;
    unsigned                  failed:1;     /* the server refused it */
} crm_pg_stmt_t;


struct crm_pg_conn_s {
    ngx_queue_t               queue;        /* idle or free list */
    crm_pg_pool_t            *pool;
    PGconn                   *pg;
    ngx_connection_t         *c;

    /*
     * Statements in flight, oldest first, each followed by its Sync
     * (libpq's pipeline mode): a connection busy with one statement can
     * be given the next before the first is answered, so that its
     * backend finds it when done instead of sleeping until it is sent
     * (crm_postgres_pipeline).  NULL: that request went away, its result
     * is discarded.
     */
    crm_pg_req_t             *reqs[CRM_PG_PIPELINE_MAX];
    ngx_uint_t                nreqs;
    PGresult                 *res;          /* the oldest's first result */
    ngx_event_t               timer;        /* connect/statement timeout */
    ngx_uint_t                state;

    /*
     * Statements are prepared once per connection under the name
     * "crm<n>" (n: index in stmts) and executed by name afterwards, so
     * PostgreSQL parses and plans each statement shape once.
     */
    ngx_pool_t               *stmt_pool;
    crm_pg_stmt_t            *stmts;
    ngx_uint_t                nstmts;
    crm_pg_stmt_t            *preparing;    /* its Parse is in flight */
    char                    **values;       /* of the statement to run */
    int                      *lengths;      /* NULL: every value text */
    int                      *formats;
    int                       nvalues;

    /*
     * A cancel of its statement is in flight on another connection: the
     * connection is not given to another statement before that is done,
     * or the cancel could hit that statement instead
     */
    ngx_uint_t                cancels;
    unsigned                  held:1;       /* done, waits for cancels */
    unsigned                  synced:1;     /* the oldest's results are
                                               in, its Sync is next */
    unsigned                  solo:1;       /* a solo statement runs:
                                               alone (crm_pg_req_t) */
};


struct crm_pg_pool_s {
    crm_pg_conf_t            *conf;
    ngx_log_t                *log;
    crm_pg_conn_t            *conns;
    ngx_queue_t               free;
    ngx_queue_t               idle;
    ngx_queue_t               waiting;
    ngx_uint_t                nwaiting;
    ngx_uint_t                nlive;        /* connecting, idle, active */
    ngx_msec_t                backoff;
    ngx_msec_t                down_until;
    unsigned                  down:1;       /* outage logged */

    /*
     * Requests refused (503), by CRM_PG_* reason: the first of each
     * reason is logged at once, the rest once a second as a summary
     */
    ngx_uint_t                refused[CRM_PG_NREASONS];
    ngx_uint_t                seen;         /* reasons logged, bits */
    ngx_event_t               summary;

    crm_pg_pool_t            *cancel_via;   /* runs our cancels */

    /* crm_metrics_zone: the worker's slot, this pool's part of it */
    ngx_uint_t                nopen;        /* idle or active */
    ngx_uint_t                nbusy;        /* active */
    ngx_uint_t                lost;         /* closed, not yet replaced */
    crm_metrics_worker_t     *metrics_worker;
    crm_metrics_pg_t         *metrics;
};


/* crm_pg.c: a libpq socket wrapped for events (the pool, LISTEN) */
ngx_connection_t *crm_pg_socket(PGconn *pg, ngx_log_t *log,
    ngx_event_handler_pt handler, void *data);
void crm_pg_unsocket(ngx_connection_t *c, PGconn *pg);


/* crm_pg_conf.c */

char *crm_pg_strdup(ngx_pool_t *pool, const char *s, size_t len);


/* crm_pg_stmt.c */

crm_pg_stmt_t *crm_pg_stmt(crm_pg_conn_t *pc, crm_stmt_t *st,
    ngx_uint_t *add);
ngx_uint_t crm_pg_stmt_ready(crm_pg_conn_t *pc, crm_stmt_t *st,
    uint32_t hash);
ngx_int_t crm_pg_execute(crm_pg_conn_t *pc, crm_pg_stmt_t *ps,
    crm_stmt_t *st);


/* crm_pg_log.c */

void crm_pg_refused(crm_pg_pool_t *pool, ngx_uint_t reason);
void crm_pg_summary(ngx_event_t *ev);
void crm_pg_log(ngx_uint_t level, ngx_log_t *log, const char *what,
    PGconn *pg);
void crm_pg_notice(void *arg, const char *message);
void crm_pg_notice_log(void *arg, const char *message);
void crm_pg_log_message(ngx_uint_t level, ngx_log_t *log, const char *what,
    const char *msg);


#endif /* _CRM_PG_CONN_H_INCLUDED_ */
