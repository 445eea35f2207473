
/*
 * ngx_http_crm_module: a per-worker PostgreSQL connection pool on the
 * nginx event loop.
 *
 * libpq owns the sockets: each is wrapped with ngx_get_connection() only
 * to receive events, and on teardown the events are removed and the
 * nginx connection freed before PQfinish() closes the fd.  Connections
 * are opened on demand up to pool_size; requests that find none idle
 * wait in a bounded queue with a timeout.  A failed connect puts the
 * pool into a backoff during which requests fail at once (503) instead
 * of hammering a database that is down.
 */


#include "io/crm_pg_conn.h"


#define CRM_PG_BACKOFF_MIN    100


/* a pg_cancel_backend() call for a statement whose request went away */

typedef struct {
    ngx_pool_t               *pool;         /* its own */
    crm_pg_conn_t            *target;
    int                       pid;          /* the target's backend */
} crm_pg_cancel_t;


static ngx_int_t crm_pg_connect(crm_pg_pool_t *pool);
static ngx_int_t crm_pg_wrap(crm_pg_conn_t *pc);
static void crm_pg_unwrap(crm_pg_conn_t *pc);
static void crm_pg_event(ngx_event_t *ev);
static void crm_pg_poll_connect(crm_pg_conn_t *pc);
static void crm_pg_timeout(ngx_event_t *ev);
static void crm_pg_send(crm_pg_conn_t *pc, crm_pg_req_t *pr);
static void crm_pg_flush(crm_pg_conn_t *pc);
static void crm_pg_read(crm_pg_conn_t *pc);
static void crm_pg_complete(crm_pg_conn_t *pc);
static ngx_uint_t crm_pg_drained(crm_pg_conn_t *pc);
static ngx_int_t crm_pg_prepared(crm_pg_conn_t *pc);
static crm_pg_conn_t *crm_pg_pipe(crm_pg_pool_t *pool, crm_pg_req_t *pr);
static void crm_pg_unqueue(crm_pg_req_t *pr);
static void crm_pg_release(crm_pg_conn_t *pc);
static void crm_pg_close(crm_pg_conn_t *pc, ngx_uint_t error);
static void crm_pg_connect_failed(crm_pg_pool_t *pool);
static void crm_pg_dispatch(crm_pg_pool_t *pool);
static void crm_pg_finish(crm_pg_req_t *pr, PGresult *res, ngx_uint_t err);
static void crm_pg_wait_timeout(ngx_event_t *ev);
static void crm_pg_req_cleanup(void *data);
static void crm_pg_cancel(crm_pg_conn_t *pc);
static void crm_pg_cancelled(crm_pg_req_t *pr, PGresult *res);
static void crm_pg_publish(crm_pg_pool_t *pool);


crm_pg_pool_t *
crm_pg_pool_create(ngx_cycle_t *cycle, crm_pg_conf_t *pcf)
{
    ngx_uint_t      i;
    crm_pg_pool_t  *pool;

    pool = ngx_pcalloc(cycle->pool, sizeof(crm_pg_pool_t));
    if (pool == NULL) {
        return NULL;
    }

    pool->conns = ngx_pcalloc(cycle->pool,
                              pcf->pool_size * sizeof(crm_pg_conn_t));
    if (pool->conns == NULL) {
        return NULL;
    }

    pool->conf = pcf;
    pool->log = cycle->log;
    pool->backoff = CRM_PG_BACKOFF_MIN;

    pool->cancel_via = pool;

    pool->summary.handler = crm_pg_summary;
    pool->summary.data = pool;
    pool->summary.log = cycle->log;
    pool->summary.cancelable = 1;

    ngx_queue_init(&pool->free);
    ngx_queue_init(&pool->idle);
    ngx_queue_init(&pool->waiting);

    for (i = 0; i < pcf->pool_size; i++) {
        pool->conns[i].pool = pool;
        pool->conns[i].state = CRM_PG_FREE;
        pool->conns[i].timer.handler = crm_pg_timeout;
        pool->conns[i].timer.data = &pool->conns[i];
        pool->conns[i].timer.log = cycle->log;
        pool->conns[i].timer.cancelable = 1;
        ngx_queue_insert_tail(&pool->free, &pool->conns[i].queue);
    }

    return pool;
}


void
crm_pg_pool_destroy(crm_pg_pool_t *pool)
{
    ngx_uint_t  i;

    if (pool == NULL) {
        return;
    }

    for (i = 0; i < pool->conf->pool_size; i++) {
        if (pool->conns[i].state != CRM_PG_FREE) {
            crm_pg_close(&pool->conns[i], CRM_PG_LOST);
        }
    }

    if (pool->summary.timer_set) {
        ngx_del_timer(&pool->summary);
    }
}


/* the pool whose connections send "pool"'s cancels */

void
crm_pg_cancel_via(crm_pg_pool_t *pool, crm_pg_pool_t *via)
{
    if (pool != NULL && via != NULL) {
        pool->cancel_via = via;
    }
}


/* seconds a client should wait before retrying after a 503 */

ngx_msec_t
crm_pg_retry_after(crm_pg_pool_t *pool)
{
    ngx_msec_t  now;

    now = ngx_current_msec;

    if (pool->nlive == 0 && (ngx_msec_int_t) (pool->down_until - now) > 0) {
        return pool->down_until - now;
    }

    return 1000;
}


/* the pool's gauges and counters go to "w", as pool "kind" */

void
crm_pg_pool_metrics(crm_pg_pool_t *pool, crm_metrics_worker_t *w,
    ngx_uint_t kind)
{
    if (pool == NULL || w == NULL || kind >= CRM_METRICS_POOLS) {
        return;
    }

    pool->metrics_worker = w;
    pool->metrics = &w->pg[kind];

    crm_pg_publish(pool);
}


/*
 * The gauges, stored by the slot's owner only: a worker of the previous
 * generation that still drains has its slot taken by its successor
 */

static void
crm_pg_publish(crm_pg_pool_t *pool)
{
    crm_metrics_pg_t  *m;

    m = pool->metrics;

    if (m == NULL
        || pool->metrics_worker->pid != (ngx_atomic_uint_t) ngx_pid)
    {
        return;
    }

    m->open = pool->nopen;
    m->busy = pool->nbusy;
    m->waiting = pool->nwaiting;
}


crm_pg_req_t *
crm_pg_request(crm_pg_pool_t *pool, ngx_pool_t *p, ngx_log_t *log)
{
    crm_pg_req_t        *pr;
    ngx_pool_cleanup_t  *cln;

    pr = ngx_pcalloc(p, sizeof(crm_pg_req_t));
    if (pr == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(p, 0);
    if (cln == NULL) {
        return NULL;
    }

    cln->handler = crm_pg_req_cleanup;
    cln->data = pr;

    pr->pool = pool;
    pr->log = log;
    pr->wait.handler = crm_pg_wait_timeout;
    pr->wait.data = pr;
    pr->wait.log = log;

    return pr;
}


/*
 * Runs "st" and calls "h" exactly once, after the connection has gone
 * back to the pool, with the statement's result (NULL and pr->error set
 * when there is none).  The result is cleared when "h" returns.  "h" may
 * call crm_pg_exec() again with the same pr.
 */

void
crm_pg_exec(crm_pg_req_t *pr, crm_stmt_t *st, crm_pg_handler_pt h,
    void *data)
{
    ngx_queue_t    *q;
    crm_pg_pool_t  *pool;
    crm_pg_conn_t  *pc;

    pool = pr->pool;

    pr->stmt = st;
    pr->handler = h;
    pr->data = data;
    pr->error = CRM_PG_OK;
    pr->conn = NULL;

    if (!ngx_queue_empty(&pool->idle)) {
        q = ngx_queue_head(&pool->idle);
        ngx_queue_remove(q);
        pc = ngx_queue_data(q, crm_pg_conn_t, queue);
        crm_pg_send(pc, pr);
        return;
    }

    if (pool->nlive < pool->conf->pool_size) {
        if ((ngx_msec_int_t) (pool->down_until - ngx_current_msec) > 0) {

            if (pool->nlive == 0) {
                /* the database is down and we are backing off */
                crm_pg_finish(pr, NULL, CRM_PG_DOWN);
                return;
            }

        } else {
            (void) crm_pg_connect(pool);

            /* a connect may fail at once: nothing is left to wait for */

            if (pool->nlive == 0) {
                crm_pg_finish(pr, NULL, CRM_PG_DOWN);
                return;
            }
        }

        if (!ngx_queue_empty(&pool->idle)) {
            q = ngx_queue_head(&pool->idle);
            ngx_queue_remove(q);
            pc = ngx_queue_data(q, crm_pg_conn_t, queue);
            crm_pg_send(pc, pr);
            return;
        }
    }

    /*
     * Every connection is busy: behind a statement of one with room,
     * unless others wait already (they go first, crm_pg_dispatch())
     */

    pc = (pool->nwaiting > 0) ? NULL : crm_pg_pipe(pool, pr);
    if (pc != NULL) {
        crm_pg_send(pc, pr);
        return;
    }

    if (pool->nwaiting >= pool->conf->queue) {
        crm_pg_finish(pr, NULL, CRM_PG_BUSY);
        return;
    }

    ngx_queue_insert_tail(&pool->waiting, &pr->queue);
    pool->nwaiting++;
    pr->queued = 1;
    ngx_add_timer(&pr->wait, pool->conf->queue_timeout);

    crm_pg_publish(pool);
}


static ngx_int_t
crm_pg_connect(crm_pg_pool_t *pool)
{
    ngx_queue_t    *q;
    crm_pg_conn_t  *pc;

    if (ngx_queue_empty(&pool->free)) {
        return NGX_DECLINED;
    }

    q = ngx_queue_head(&pool->free);
    pc = ngx_queue_data(q, crm_pg_conn_t, queue);

    pc->pg = PQconnectStartParams(pool->conf->keywords, pool->conf->values,
                                  0);
    if (pc->pg == NULL) {
        ngx_log_error(NGX_LOG_ERR, pool->log, 0,
                      "crm: postgres connect: out of memory");
        return NGX_ERROR;
    }

    /* libpq would print the server's notices to stderr: the error log */
    (void) PQsetNoticeProcessor(pc->pg, crm_pg_notice, pool);

    if (PQstatus(pc->pg) == CONNECTION_BAD) {
        if (!pool->down) {
            crm_pg_log(NGX_LOG_ERR, pool->log, "postgres connect failed",
                       pc->pg);
        }

        PQfinish(pc->pg);
        pc->pg = NULL;
        crm_pg_connect_failed(pool);
        return NGX_ERROR;
    }

    ngx_queue_remove(q);
    pc->state = CRM_PG_CONNECTING;
    pool->nlive++;

    if (crm_pg_wrap(pc) != NGX_OK) {
        crm_pg_close(pc, CRM_PG_DOWN);
        return NGX_ERROR;
    }

    pc->timer.cancelable = 1;
    ngx_add_timer(&pc->timer, pool->conf->connect_timeout);

    crm_pg_poll_connect(pc);

    return NGX_OK;
}


/* an nginx connection around libpq's current socket, for events only */

static ngx_int_t
crm_pg_wrap(crm_pg_conn_t *pc)
{
    pc->c = crm_pg_socket(pc->pg, pc->pool->log, crm_pg_event, pc);
    if (pc->c == NULL) {
        return NGX_ERROR;
    }

    pc->c->log->action = "talking to postgres";

    return NGX_OK;
}


static void
crm_pg_unwrap(crm_pg_conn_t *pc)
{
    crm_pg_unsocket(pc->c, pc->pg);
    pc->c = NULL;
}


/*
 * An nginx connection around the current socket of "pg" (the pool's
 * connections, the LISTEN session): both directions armed with the
 * connection's default (edge-triggered) events, "data" its c->data
 */

ngx_connection_t *
crm_pg_socket(PGconn *pg, ngx_log_t *log, ngx_event_handler_pt handler,
    void *data)
{
    int                fd;
    ngx_connection_t  *c;

    fd = PQsocket(pg);
    if (fd == -1) {
        return NULL;
    }

    c = ngx_get_connection(fd, log);
    if (c == NULL) {
        return NULL;
    }

    c->data = data;
    c->read->handler = handler;
    c->write->handler = handler;
    c->read->log = log;
    c->write->log = log;

    if (ngx_add_conn) {
        if (ngx_add_conn(c) == NGX_ERROR) {
            crm_pg_unsocket(c, pg);
            return NULL;
        }

    } else {
        if (ngx_add_event(c->read, NGX_READ_EVENT, 0) != NGX_OK
            || ngx_add_event(c->write, NGX_WRITE_EVENT, 0) != NGX_OK)
        {
            crm_pg_unsocket(c, pg);
            return NULL;
        }
    }

    return c;
}


/* removes the events and frees the nginx connection; libpq keeps the fd */

void
crm_pg_unsocket(ngx_connection_t *c, PGconn *pg)
{
    ngx_uint_t  flags;

    if (c == NULL) {
        return;
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    /*
     * libpq closes its socket itself when it sees the connection fail;
     * the kernel has then dropped the fd from epoll already.
     */

    flags = (pg != NULL && PQsocket(pg) == c->fd) ? 0 : NGX_CLOSE_EVENT;

    if (ngx_del_conn) {
        ngx_del_conn(c, flags);

    } else {
        if (c->read->active) {
            ngx_del_event(c->read, NGX_READ_EVENT, flags);
        }

        if (c->write->active) {
            ngx_del_event(c->write, NGX_WRITE_EVENT, flags);
        }
    }

    c->fd = (ngx_socket_t) -1;
    ngx_free_connection(c);
}


static void
crm_pg_event(ngx_event_t *ev)
{
    ngx_connection_t  *c;
    crm_pg_conn_t     *pc;

    c = ev->data;
    pc = c->data;

    switch (pc->state) {

    case CRM_PG_CONNECTING:
        crm_pg_poll_connect(pc);
        return;

    case CRM_PG_ACTIVE:
        if (ev->write) {
            crm_pg_flush(pc);
            return;
        }

        crm_pg_read(pc);
        return;

    case CRM_PG_IDLE:
        if (ev->write) {
            return;
        }

        /* the server closed the connection or sent a notice */

        if (PQconsumeInput(pc->pg) == 0 || PQstatus(pc->pg) != CONNECTION_OK)
        {
            crm_pg_log(NGX_LOG_WARN, pc->pool->log,
                       "idle postgres connection closed", pc->pg);
            crm_pg_close(pc, CRM_PG_LOST);
            return;
        }

        while (PQisBusy(pc->pg) == 0) {
            PGresult  *res;

            res = PQgetResult(pc->pg);
            if (res == NULL) {
                break;
            }

            PQclear(res);
        }

        return;

    default:
        return;
    }
}


static void
crm_pg_poll_connect(crm_pg_conn_t *pc)
{
    int                    fd;
    crm_pg_pool_t         *pool;
    PostgresPollingStatusType  st;

    pool = pc->pool;

    for ( ;; ) {
        st = PQconnectPoll(pc->pg);

        /* libpq may move to another socket (another host, SSL retry) */

        fd = PQsocket(pc->pg);
        if (pc->c != NULL && fd != pc->c->fd) {
            crm_pg_unwrap(pc);
        }

        if (pc->c == NULL && fd != -1 && st != PGRES_POLLING_FAILED) {
            if (crm_pg_wrap(pc) != NGX_OK) {
                crm_pg_close(pc, CRM_PG_DOWN);
                crm_pg_connect_failed(pool);
                return;
            }
        }

        switch (st) {

        case PGRES_POLLING_READING:
        case PGRES_POLLING_WRITING:
            /* edge-triggered: events were armed for both directions */
            return;

        case PGRES_POLLING_OK:
            goto connected;

        case PGRES_POLLING_FAILED:
        default:
            if (!pool->down) {
                crm_pg_log(NGX_LOG_ERR, pool->log, "postgres connect failed",
                           pc->pg);
            }

            crm_pg_close(pc, CRM_PG_DOWN);
            crm_pg_connect_failed(pool);
            return;
        }
    }

connected:

    /*
     * Pipeline mode from the start: every statement is followed by its
     * Sync, so that an error ends with its own statement, and a busy
     * connection can be given the next one (crm_pg_pipe())
     */

    if (PQsetnonblocking(pc->pg, 1) != 0
        || PQenterPipelineMode(pc->pg) != 1)
    {
        crm_pg_log(NGX_LOG_ERR, pool->log,
                   "postgres set nonblocking or pipeline mode failed",
                   pc->pg);
        crm_pg_close(pc, CRM_PG_DOWN);
        crm_pg_connect_failed(pool);
        return;
    }

    if (pc->timer.timer_set) {
        ngx_del_timer(&pc->timer);
    }

    if (pool->down) {
        ngx_log_error(NGX_LOG_NOTICE, pool->log, 0,
                      "crm: postgres is reachable again");
        pool->down = 0;
    }

    pool->backoff = CRM_PG_BACKOFF_MIN;
    pool->down_until = ngx_current_msec;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pool->log, 0,
                   "crm: postgres connected, %ui live", pool->nlive);

    pc->state = CRM_PG_IDLE;
    ngx_queue_insert_tail(&pool->idle, &pc->queue);
    pool->nopen++;

    if (pool->lost > 0) {
        pool->lost--;
        crm_metrics_inc(pool->metrics, reconnects);
    }

    crm_pg_dispatch(pool);
}


static void
crm_pg_timeout(ngx_event_t *ev)
{
    crm_pg_conn_t  *pc;

    pc = ev->data;

    if (pc->state == CRM_PG_CONNECTING) {
        ngx_log_error(NGX_LOG_ERR, pc->pool->log, 0,
                      "crm: postgres connect timed out");
        crm_pg_close(pc, CRM_PG_DOWN);
        crm_pg_connect_failed(pc->pool);
        return;
    }

    if (pc->state == CRM_PG_ACTIVE) {
        ngx_log_error(NGX_LOG_ERR, pc->pool->log, 0,
                      "crm: postgres statement timed out, "
                      "closing the connection");
        crm_pg_close(pc, CRM_PG_LOST);
        crm_pg_dispatch(pc->pool);
    }
}


static void
crm_pg_send(crm_pg_conn_t *pc, crm_pg_req_t *pr)
{
    int             rc;
    char          **values, name[NGX_INT_T_LEN + 4];
    ngx_uint_t      i, n, add;
    crm_param_t    *params;
    crm_stmt_t     *st;
    crm_pg_pool_t  *pool;
    crm_pg_stmt_t  *ps;

    pool = pc->pool;
    st = pr->stmt;

    if (pc->nreqs == 0) {
        pc->state = CRM_PG_ACTIVE;
        pool->nbusy++;
        pc->res = NULL;
        pc->synced = 0;
        pc->solo = pr->solo;

        crm_pg_publish(pool);
    }

    pc->reqs[pc->nreqs++] = pr;
    pr->conn = pc;

    /*
     * libpq wants NUL-terminated strings; a binary value (crm_param_t)
     * is given with its length and format
     */

    n = st->params.nelts;
    params = st->params.elts;

    values = ngx_palloc(st->params.pool, (n + 1) * sizeof(char *));
    if (values == NULL) {
        goto failed;
    }

    pc->lengths = NULL;
    pc->formats = NULL;

    for (i = 0; i < n; i++) {
        if (params[i].null) {
            values[i] = NULL;
            continue;
        }

        values[i] = crm_pg_strdup(st->params.pool,
                                  (char *) params[i].value.data,
                                  params[i].value.len);
        if (values[i] == NULL) {
            goto failed;
        }

        if (!params[i].binary) {
            continue;
        }

        if (pc->formats == NULL) {
            pc->lengths = ngx_pcalloc(st->params.pool, n * sizeof(int));
            pc->formats = ngx_pcalloc(st->params.pool, n * sizeof(int));

            if (pc->lengths == NULL || pc->formats == NULL) {
                goto failed;
            }
        }

        pc->lengths[i] = (int) params[i].value.len;
        pc->formats[i] = 1;
    }

    pc->values = values;
    pc->nvalues = (int) n;

    ps = crm_pg_stmt(pc, st, &add);

    if (ps != NULL && add && pc->nreqs > 1) {
        /*
         * A Parse waits for a connection with nothing in flight
         * (crm_pg_pipe() picks none that needs it): unnamed meanwhile,
         * prepared the next time it is sent alone
         */
        ps = NULL;
    }

    if (ps != NULL && add) {

        /* Parse first; the statement is executed when that completes */

        ngx_sprintf((u_char *) name, "crm%ui%Z", (ngx_uint_t) (ps - pc->stmts));

        rc = PQsendPrepare(pc->pg, name, (char *) ps->sql, (int) n, NULL);
        pc->preparing = ps;

    } else {
        rc = (int) crm_pg_execute(pc, ps, st);
    }

    if (rc == 0 || PQpipelineSync(pc->pg) == 0) {
        crm_pg_log(NGX_LOG_ERR, pr->log, "postgres send failed", pc->pg);
        crm_pg_close(pc, CRM_PG_LOST);
        crm_pg_dispatch(pool);
        return;
    }

    if (pc->nreqs == 1) {
        /* a statement in flight keeps an exiting worker alive */
        pc->timer.cancelable = 0;
        ngx_add_timer(&pc->timer, pool->conf->statement_timeout + 1000);
    }

    crm_pg_flush(pc);

    return;

failed:

    /* the connection stays usable: nothing was sent */

    pc->reqs[--pc->nreqs] = NULL;
    pr->conn = NULL;

    if (pc->nreqs == 0) {
        crm_pg_release(pc);
    }

    crm_pg_finish(pr, NULL, CRM_PG_LOST);
}


static void
crm_pg_flush(crm_pg_conn_t *pc)
{
    int  rc;

    rc = PQflush(pc->pg);

    if (rc == -1) {
        crm_pg_log(NGX_LOG_ERR, pc->pool->log, "postgres write failed", pc->pg);
        crm_pg_close(pc, CRM_PG_LOST);
        crm_pg_dispatch(pc->pool);
        return;
    }

    /*
     * rc == 1: more to send, the write event calls us again.  rc == 0:
     * all is sent, and the result is read now rather than after the
     * next epoll_wait(): on loopback the server, woken by the send,
     * often answers before this runs (bench/README, "Reading at once").
     * Behind another statement only when an answer may be in already:
     * libpq reads from the socket itself when a send would block, and
     * what it read then is no edge that the read event reports.
     */

    if (rc == 0
        && (pc->nreqs == 1 || !PQisBusy(pc->pg) || !crm_pg_drained(pc)))
    {
        crm_pg_read(pc);
    }
}


static void
crm_pg_read(crm_pg_conn_t *pc)
{
    PGconn    *pg;
    PGresult  *res;

    pg = pc->pg;

    for ( ;; ) {
        if (PQconsumeInput(pg) == 0) {
            crm_pg_log(NGX_LOG_ERR, pc->pool->log, "postgres read failed",
                       pg);
            crm_pg_close(pc, CRM_PG_LOST);
            crm_pg_dispatch(pc->pool);
            return;
        }

        /*
         * In pipeline mode a statement's results end with NULL, then
         * comes its Sync: the statement is complete
         */

        while (pc->nreqs > 0 && !PQisBusy(pg)) {
            res = PQgetResult(pg);

            if (res == NULL) {
                if (pc->synced) {
                    ngx_log_error(NGX_LOG_ALERT, pc->pool->log, 0,
                                  "crm: postgres answered out of step "
                                  "with the statements in flight");
                    crm_pg_close(pc, CRM_PG_LOST);
                    crm_pg_dispatch(pc->pool);
                    return;
                }

                pc->synced = 1;
                continue;
            }

            if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
                PQclear(res);
                pc->synced = 0;

                crm_pg_complete(pc);

                /* its handler may have closed or reused the connection */

                if (pc->pg != pg || pc->state != CRM_PG_ACTIVE) {
                    return;
                }

                continue;
            }

            if (pc->res == NULL) {
                pc->res = res;

            } else {
                PQclear(res);
            }
        }

        if (pc->nreqs == 0) {
            return;
        }

        /*
         * More is to come.  libpq reads what one recv() gives, not up to
         * EAGAIN, and the event was edge-triggered: if the rest of a
         * large result has arrived already, no event will say so.  Read
         * on while the socket has data; stop when it has none.
         */

        if (crm_pg_drained(pc)) {
            return;
        }
    }
}


/*
 * The oldest statement in flight is complete: its result goes to its
 * request, after the connection has gone back to the pool or, with
 * more in flight, the next one's timer has started
 */

static void
crm_pg_complete(crm_pg_conn_t *pc)
{
    PGresult       *res;
    ngx_uint_t      i;
    crm_pg_req_t   *pr;
    crm_pg_pool_t  *pool;

    pool = pc->pool;

    if (pc->preparing != NULL && crm_pg_prepared(pc) != NGX_DECLINED) {
        /* executed after its Parse, or the connection is gone */
        return;
    }

    pr = pc->reqs[0];
    res = pc->res;
    pc->res = NULL;

    if (pr != NULL) {
        /* out of the connection before anything else can run */
        pr->conn = NULL;
    }

    pc->nreqs--;

    for (i = 0; i < pc->nreqs; i++) {
        pc->reqs[i] = pc->reqs[i + 1];
    }

    pc->reqs[pc->nreqs] = NULL;

    if (pc->nreqs > 0) {
        ngx_add_timer(&pc->timer, pool->conf->statement_timeout + 1000);

        /* room for one more */
        crm_pg_dispatch(pool);

    } else {
        if (pc->timer.timer_set) {
            ngx_del_timer(&pc->timer);
        }

        if (pc->cancels > 0) {
            /* see crm_pg_conn_t: its cancel is in flight */
            pc->held = 1;

        } else {
            crm_pg_release(pc);
        }
    }

    if (pr == NULL) {
        /* the request went away meanwhile */
        PQclear(res);
        return;
    }

    crm_pg_finish(pr, res, res ? CRM_PG_OK : CRM_PG_LOST);
    PQclear(res);
}


/* nothing left to read on the connection's socket now (EAGAIN) */

static ngx_uint_t
crm_pg_drained(crm_pg_conn_t *pc)
{
    u_char     c;
    ssize_t    n;
    ngx_err_t  err;

    n = recv(PQsocket(pc->pg), &c, 1, MSG_PEEK|MSG_DONTWAIT);

    if (n > 0) {
        return 0;
    }

    if (n == 0) {
        /* the end: PQconsumeInput() says so */
        return 0;
    }

    err = ngx_socket_errno;

    return (err == NGX_EAGAIN) ? 1 : 0;
}


/*
 * The Parse of a statement completed.  NGX_DECLINED: it failed for a
 * reason that its execution would meet as well (cancelled by the
 * statement timeout while it waited for a lock, a deadlock, no
 * resources): that error is the statement's result, and the statement is
 * prepared again next time; or its request went away.  Otherwise the
 * statement is executed, by name when the Parse succeeded, unnamed when
 * the server refused it, and NGX_OK.
 */

static ngx_int_t
crm_pg_prepared(crm_pg_conn_t *pc)
{
    char           *state;
    crm_pg_req_t   *pr;
    crm_pg_stmt_t  *ps;

    ps = pc->preparing;
    pc->preparing = NULL;

    if (pc->res != NULL && PQresultStatus(pc->res) == PGRES_COMMAND_OK) {
        ps->prepared = 1;

    } else {
        state = (pc->res != NULL)
                ? PQresultErrorField(pc->res, PG_DIAG_SQLSTATE) : NULL;

        if (state != NULL
            && (ngx_strncmp(state, "57", 2) == 0
                || ngx_strncmp(state, "40", 2) == 0
                || ngx_strncmp(state, "53", 2) == 0
                || ngx_strncmp(state, "55", 2) == 0))
        {
            return NGX_DECLINED;
        }

        ps->failed = 1;
    }

    PQclear(pc->res);
    pc->res = NULL;

    /* a Parse is sent alone: its request is the only one in flight */

    pr = pc->reqs[0];

    if (pr == NULL) {
        return NGX_DECLINED;
    }

    if (crm_pg_execute(pc, ps, pr->stmt) == 0
        || PQpipelineSync(pc->pg) == 0)
    {
        crm_pg_log(NGX_LOG_ERR, pr->log, "postgres send failed", pc->pg);
        crm_pg_close(pc, CRM_PG_LOST);
        crm_pg_dispatch(pc->pool);
        return NGX_OK;
    }

    crm_pg_flush(pc);

    /* with its Parse done the connection may take waiters behind it */

    crm_pg_dispatch(pc->pool);

    return NGX_OK;
}


/* back to the idle list, or closed when not reusable; then serve waiters */

static void
crm_pg_release(crm_pg_conn_t *pc)
{
    crm_pg_pool_t  *pool;

    pool = pc->pool;

    if (PQstatus(pc->pg) != CONNECTION_OK
        || PQtransactionStatus(pc->pg) != PQTRANS_IDLE)
    {
        crm_pg_close(pc, CRM_PG_LOST);
        crm_pg_dispatch(pool);
        return;
    }

    pc->state = CRM_PG_IDLE;
    ngx_queue_insert_head(&pool->idle, &pc->queue);
    pool->nbusy--;

    crm_pg_dispatch(pool);
}


static void
crm_pg_close(crm_pg_conn_t *pc, ngx_uint_t error)
{
    ngx_uint_t      i, n;
    crm_pg_req_t   *pr, *reqs[CRM_PG_PIPELINE_MAX];
    crm_pg_pool_t  *pool;

    pool = pc->pool;

    if (pc->state == CRM_PG_FREE) {
        return;
    }

    if (pc->timer.timer_set) {
        ngx_del_timer(&pc->timer);
    }

    if (pc->state == CRM_PG_IDLE) {
        ngx_queue_remove(&pc->queue);
    }

    if (pc->state == CRM_PG_IDLE || pc->state == CRM_PG_ACTIVE) {
        pool->nopen--;
        pool->lost++;

        if (pc->state == CRM_PG_ACTIVE) {
            pool->nbusy--;
        }
    }

    crm_pg_unwrap(pc);

    if (pc->res) {
        PQclear(pc->res);
        pc->res = NULL;
    }

    if (pc->pg) {
        PQfinish(pc->pg);
        pc->pg = NULL;
    }

    /* the prepared statements died with the session */

    if (pc->stmt_pool != NULL) {
        ngx_destroy_pool(pc->stmt_pool);
        pc->stmt_pool = NULL;
    }

    pc->stmts = NULL;
    pc->nstmts = 0;
    pc->preparing = NULL;
    pc->held = 0;
    pc->synced = 0;
    pc->solo = 0;
    pc->cancels = 0;

    pc->state = CRM_PG_FREE;
    ngx_queue_insert_tail(&pool->free, &pc->queue);
    pool->nlive--;

    crm_pg_publish(pool);

    /* what was in flight fails, oldest first */

    n = pc->nreqs;

    for (i = 0; i < n; i++) {
        reqs[i] = pc->reqs[i];
        pc->reqs[i] = NULL;
    }

    pc->nreqs = 0;

    for (i = 0; i < n; i++) {
        pr = reqs[i];

        if (pr != NULL) {
            pr->conn = NULL;
            crm_pg_finish(pr, NULL, error);
        }
    }
}


/*
 * A connect attempt failed.  Back off; when no connection is left, the
 * waiters have nothing to wait for: they fail now.
 */

static void
crm_pg_connect_failed(crm_pg_pool_t *pool)
{
    ngx_queue_t   *q;
    crm_pg_req_t  *pr;

    crm_metrics_inc(pool->metrics, connect_failures);

    pool->down_until = ngx_current_msec + pool->backoff;
    pool->backoff = ngx_min(pool->backoff * 2, pool->conf->backoff_max);

    if (!pool->down) {
        ngx_log_error(NGX_LOG_ERR, pool->log, 0,
                      "crm: postgres is unreachable, retrying with backoff");
        pool->down = 1;
    }

    if (pool->nlive > 0) {
        return;
    }

    while (!ngx_queue_empty(&pool->waiting)) {
        q = ngx_queue_head(&pool->waiting);
        pr = ngx_queue_data(q, crm_pg_req_t, queue);
        crm_pg_finish(pr, NULL, CRM_PG_DOWN);
    }
}


/*
 * Hands idle connections to waiters, then room on busy ones
 * (crm_pg_pipe()); opens more when it may
 */

static void
crm_pg_dispatch(crm_pg_pool_t *pool)
{
    ngx_queue_t    *q;
    crm_pg_req_t   *pr;
    crm_pg_conn_t  *pc;

    while (!ngx_queue_empty(&pool->waiting)) {
        q = ngx_queue_head(&pool->waiting);
        pr = ngx_queue_data(q, crm_pg_req_t, queue);

        if (!ngx_queue_empty(&pool->idle)) {
            q = ngx_queue_head(&pool->idle);
            ngx_queue_remove(q);
            pc = ngx_queue_data(q, crm_pg_conn_t, queue);

        } else {
            pc = crm_pg_pipe(pool, pr);
            if (pc == NULL) {
                break;
            }
        }

        crm_pg_unqueue(pr);
        crm_pg_send(pc, pr);
    }

    if (!ngx_queue_empty(&pool->waiting)
        && pool->nlive < pool->conf->pool_size
        && (ngx_msec_int_t) (pool->down_until - ngx_current_msec) <= 0)
    {
        (void) crm_pg_connect(pool);
    }

    crm_pg_publish(pool);
}


/*
 * The busy connection that can take the statement of "pr" behind what it
 * runs, with the fewest statements in flight, or NULL: "pr" is solo
 * (crm_pg_req_t), none has room (crm_postgres_pipeline), or the statement
 * needs its Parse there, or a cancel, a Parse or a solo statement is in
 * flight on it, or the request of the statement it runs went away: the
 * backend acts on a cancel of that statement (crm_pg_req_cleanup()) at
 * its next check for interrupts, which may come after
 * pg_cancel_backend() returned, in a statement sent behind.  An idle
 * connection is always preferred.
 */

static crm_pg_conn_t *
crm_pg_pipe(crm_pg_pool_t *pool, crm_pg_req_t *pr)
{
    uint32_t        hash;
    ngx_uint_t      i;
    crm_stmt_t     *st;
    crm_pg_conn_t  *pc, *best;

    if (pool->conf->pipeline < 2 || pr->solo) {
        return NULL;
    }

    st = pr->stmt;
    hash = ngx_murmur_hash2(st->sql.data, st->sql.len);
    best = NULL;

    for (i = 0; i < pool->conf->pool_size; i++) {
        pc = &pool->conns[i];

        if (pc->state != CRM_PG_ACTIVE
            || pc->nreqs == 0
            || pc->nreqs >= pool->conf->pipeline
            || (best != NULL && pc->nreqs >= best->nreqs)
            || pc->solo
            || pc->preparing != NULL
            || pc->cancels > 0
            || pc->reqs[0] == NULL
            || !crm_pg_stmt_ready(pc, st, hash))
        {
            continue;
        }

        best = pc;
    }

    return best;
}


/* out of the wait queue, to be sent or to fail */

static void
crm_pg_unqueue(crm_pg_req_t *pr)
{
    if (pr->queued) {
        ngx_queue_remove(&pr->queue);
        pr->pool->nwaiting--;
        pr->queued = 0;
    }

    if (pr->wait.timer_set) {
        ngx_del_timer(&pr->wait);
    }
}


static void
crm_pg_finish(crm_pg_req_t *pr, PGresult *res, ngx_uint_t err)
{
    crm_pg_unqueue(pr);

    if (err == CRM_PG_TIMEOUT) {
        crm_metrics_inc(pr->pool->metrics, timeouts);

    } else if (err == CRM_PG_BUSY) {
        crm_metrics_inc(pr->pool->metrics, full);
    }

    crm_pg_publish(pr->pool);

    if (err != CRM_PG_OK) {
        crm_pg_refused(pr->pool, err);
    }

    pr->error = err;
    pr->handler(pr, res);
}


static void
crm_pg_wait_timeout(ngx_event_t *ev)
{
    crm_pg_req_t  *pr;

    pr = ev->data;

    crm_pg_finish(pr, NULL, CRM_PG_TIMEOUT);
}


/* the request's pool is going away: forget the statement */

static void
crm_pg_req_cleanup(void *data)
{
    crm_pg_req_t *pr = data;

    ngx_uint_t      i, queued;
    crm_pg_conn_t  *pc;

    queued = pr->queued;

    crm_pg_unqueue(pr);

    if (queued) {
        crm_pg_publish(pr->pool);
    }

    pc = pr->conn;

    if (pc != NULL) {
        /* the result is discarded when it arrives */

        for (i = 0; i < pc->nreqs; i++) {
            if (pc->reqs[i] == pr) {
                pc->reqs[i] = NULL;
            }
        }

        /*
         * Cancelled only when alone in flight: a cancel hits what the
         * backend runs when it arrives, which behind or after this one
         * would be another request's statement
         */

        if (pr->cancel && pc->nreqs == 1) {
            crm_pg_cancel(pc);
        }

        pr->conn = NULL;
    }

    pr->gone = 1;
}


/*
 * The request of the statement running on "pc" went away: the statement
 * is cancelled with pg_cancel_backend() over another connection (libpq
 * 15 has no asynchronous cancel), so that it stops holding "pc" and the
 * database.  Until that call returns, "pc" is given no other statement.
 */

static void
crm_pg_cancel(crm_pg_conn_t *pc)
{
    ngx_pool_t       *pool;
    crm_stmt_t       *st;
    crm_pg_req_t     *pr;
    crm_pg_cancel_t  *cc;

    if (pc->state != CRM_PG_ACTIVE || pc->pg == NULL) {
        return;
    }

    pool = ngx_create_pool(1024, pc->pool->log);
    if (pool == NULL) {
        return;
    }

    cc = ngx_pcalloc(pool, sizeof(crm_pg_cancel_t));
    st = crm_sql_fixed(pool, "SELECT pg_cancel_backend($1::int)", 1);
    pr = crm_pg_request(pc->pool->cancel_via, pool, pc->pool->log);

    if (cc == NULL || st == NULL || pr == NULL
        || crm_sql_set_num(st, 0, "%i", (ngx_uint_t) PQbackendPID(pc->pg))
           != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return;
    }

    cc->pool = pool;
    cc->target = pc;
    cc->pid = PQbackendPID(pc->pg);

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, pc->pool->log, 0,
                   "crm: cancelling the statement of backend %d", cc->pid);

    pc->cancels++;

    crm_pg_exec(pr, st, crm_pg_cancelled, cc);
}


static void
crm_pg_cancelled(crm_pg_req_t *pr, PGresult *res)
{
    crm_pg_conn_t    *pc;
    crm_pg_cancel_t  *cc;

    cc = pr->data;
    pc = cc->target;

    /* the same session still (a closed one was reset to 0) */

    if (pc->cancels > 0 && pc->pg != NULL && PQbackendPID(pc->pg) == cc->pid)
    {
        pc->cancels--;

        if (pc->cancels == 0 && pc->held) {
            pc->held = 0;
            crm_pg_release(pc);
        }
    }

    ngx_destroy_pool(cc->pool);
}
