/*
 * ngx_http_crm_module: asynchronous Redis client on nginx's event loop.
 *
 * hiredis 0.14's async context owns the socket, the output buffer and the
 * reply parser; this file maps its event hooks to an nginx connection that
 * wraps the socket, adds the timeouts hiredis lacks (nginx timers), and
 * reconnects with a backoff.  See crm_redis.h for the contract.
 *
 * Ownership of the socket: hiredis creates and closes it.  The nginx
 * connection only borrows the fd to receive events: the cleanup hook
 * removes the events, frees the connection and sets c->fd to -1, and
 * hiredis closes the fd right after (redisFree()).
 *
 * hiredis calls the reply callback of every command exactly once: with
 * the reply, or with NULL when the context is freed.  Its privdata is a
 * slot allocated from the worker's pool and reused, never the command
 * itself, which lives in a request pool: a cancelled command only clears
 * slot->cmd, and the slot stays with hiredis until its callback runs.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "io/crm_redis.h"


/* read(2) calls of 16 KB per read event before other events get a turn */
#define CRM_REDIS_READS_PER_EVENT  64

/* a connection that stayed up this long reconnects without delay */
#define CRM_REDIS_STABLE           1000

/* command arguments converted on the stack, more are allocated */
#define CRM_REDIS_STACK_ARGS       16
#define CRM_REDIS_MAX_ARGS         (1024 * 1024)


typedef enum {
    CRM_REDIS_IDLE = 0,                 /* no connection */
    CRM_REDIS_CONNECTING,               /* connect(2) and PING under way */
    CRM_REDIS_READY,                    /* PING answered */
    CRM_REDIS_CLOSING                   /* being torn down */
} crm_redis_state_e;


typedef struct {
    ngx_queue_t               queue;        /* in rd->busy or rd->free */
    crm_redis_t              *rd;
    crm_redis_cmd_t          *cmd;          /* NULL: cancelled */
    ngx_event_t               timer;        /* command timeout */
} crm_redis_slot_t;


struct crm_redis_cmd_s {
    crm_redis_slot_t         *slot;         /* NULL: answered or cancelled */
    crm_redis_handler_pt      handler;
    void                     *data;
};


struct crm_redis_s {
    crm_redis_conf_t         *conf;
    ngx_log_t                *log;
    ngx_pool_t               *pool;         /* cycle pool: slots */

    redisAsyncContext        *ac;           /* NULL: no connection */
    ngx_connection_t         *conn;         /* wraps ac->c.fd */
    ngx_uint_t                state;        /* crm_redis_state_e */

    ngx_msec_t                connect_timeout;
    ngx_msec_t                command_timeout;
    ngx_msec_t                backoff_min;
    ngx_msec_t                backoff_max;
    ngx_msec_t                backoff;      /* next reconnect delay */
    ngx_msec_t                ready_at;     /* PING answered */
    ngx_msec_t                outage_at;

    ngx_uint_t                dropped;      /* commands failed by the
                                               teardown of this connection */

    ngx_event_t               reconnect;    /* backoff timer */
    ngx_event_t               connect_timer;
    ngx_event_t               fail;         /* posted from an ev hook */

    ngx_queue_t               busy;         /* slots hiredis holds */
    ngx_queue_t               free;         /* slots to reuse */

    u_char                   *reason;       /* why we closed it, or NULL */
    u_char                    errbuf[256];

    unsigned                  outage:1;     /* logged as down */
    unsigned                  healthy:1;    /* this connection answered */
    unsigned                  writing:1;    /* in the write handler */
    unsigned                  exiting:1;

    crm_metrics_t            *metrics;      /* NULL: no crm_metrics_zone */
    crm_metrics_worker_t     *metrics_worker;
};


static void crm_redis_connect(crm_redis_t *rd);
static void crm_redis_close(crm_redis_t *rd, ngx_err_t err,
    const char *fmt, ...);
static void crm_redis_schedule(crm_redis_t *rd, ngx_uint_t failed,
    ngx_uint_t connecting, const char *reason);
static ngx_msec_t crm_redis_msec(ngx_msec_t v, ngx_msec_t def);
static crm_redis_slot_t *crm_redis_slot_get(crm_redis_t *rd);

static void crm_redis_read_handler(ngx_event_t *rev);
static void crm_redis_write_handler(ngx_event_t *wev);
static void crm_redis_reconnect_handler(ngx_event_t *ev);
static void crm_redis_connect_timeout_handler(ngx_event_t *ev);
static void crm_redis_command_timeout_handler(ngx_event_t *ev);
static void crm_redis_fail_handler(ngx_event_t *ev);
static void crm_redis_cmd_cleanup(void *data);

static void crm_redis_ping_callback(redisAsyncContext *ac, void *r,
    void *privdata);
static void crm_redis_reply_callback(redisAsyncContext *ac, void *r,
    void *privdata);

static void crm_redis_ev_add_read(void *privdata);
static void crm_redis_ev_del_read(void *privdata);
static void crm_redis_ev_add_write(void *privdata);
static void crm_redis_ev_del_write(void *privdata);
static void crm_redis_ev_cleanup(void *privdata);
static void crm_redis_ev_failed(crm_redis_t *rd);
static void crm_redis_publish(crm_redis_t *rd, ngx_uint_t up);


char *
crm_redis_parse_addr(ngx_conf_t *cf, ngx_str_t *addr, crm_redis_conf_t *rcf)
{
    u_char      *p;
    size_t       len;
    in_port_t    port;
    ngx_int_t    rc;
    ngx_str_t    path;
    ngx_addr_t   a;
    u_char       text[NGX_SOCKADDR_STRLEN];

    rcf->addr = *addr;

    if (addr->len >= 5
        && ngx_strncasecmp(addr->data, (u_char *) "unix:", 5) == 0)
    {
#if (NGX_HAVE_UNIX_DOMAIN)
        path.len = addr->len - 5;
        path.data = addr->data + 5;

        if (path.len == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "no socket path in redis address \"%V\"",
                               addr);
            return NGX_CONF_ERROR;
        }

        if (ngx_conf_full_name(cf->cycle, &path, 0) != NGX_OK) {
            return NGX_CONF_ERROR;
        }

        if (path.len >= sizeof(((struct sockaddr_un *) 0)->sun_path)) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "socket path in redis address \"%V\" "
                               "is too long", addr);
            return NGX_CONF_ERROR;
        }

        p = ngx_pnalloc(cf->pool, path.len + 1);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        (void) ngx_cpystrn(p, path.data, path.len + 1);

        rcf->host = (char *) p;
        rcf->port = 0;
        rcf->unix_socket = 1;

        return NGX_CONF_OK;
#else
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "unix sockets are not supported on this "
                           "platform: \"%V\"", addr);
        return NGX_CONF_ERROR;
#endif
    }

    rc = ngx_parse_addr_port(cf->pool, &a, addr->data, addr->len);

    if (rc == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    if (rc == NGX_DECLINED) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid redis address \"%V\": expected "
                           "IP[:port] or unix:/path (host names are not "
                           "resolved)", addr);
        return NGX_CONF_ERROR;
    }

    port = ngx_inet_get_port(a.sockaddr);
    if (port == 0) {
        port = CRM_REDIS_DEFAULT_PORT;
    }

    /* the numeric form: hiredis' getaddrinfo() then never asks DNS */

    len = ngx_sock_ntop(a.sockaddr, a.socklen, text, NGX_SOCKADDR_STRLEN, 0);

    p = ngx_pnalloc(cf->pool, len + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    *ngx_cpymem(p, text, len) = '\0';

    rcf->host = (char *) p;
    rcf->port = port;
    rcf->unix_socket = 0;

    return NGX_CONF_OK;
}


crm_redis_t *
crm_redis_init(ngx_cycle_t *cycle, crm_redis_conf_t *rcf)
{
    crm_redis_t  *rd;

    if (rcf->host == NULL) {
        ngx_log_error(NGX_LOG_ALERT, cycle->log, 0,
                      "crm: redis address \"%V\" was not parsed",
                      &rcf->addr);
        return NULL;
    }

    rd = ngx_pcalloc(cycle->pool, sizeof(crm_redis_t));
    if (rd == NULL) {
        return NULL;
    }

    rd->conf = rcf;
    rd->log = cycle->log;
    rd->pool = cycle->pool;

    rd->connect_timeout = crm_redis_msec(rcf->connect_timeout,
                                         CRM_REDIS_DEFAULT_CONNECT_TIMEOUT);
    rd->command_timeout = crm_redis_msec(rcf->command_timeout,
                                         CRM_REDIS_DEFAULT_COMMAND_TIMEOUT);
    rd->backoff_min = crm_redis_msec(rcf->backoff_min,
                                     CRM_REDIS_DEFAULT_BACKOFF_MIN);
    rd->backoff_max = crm_redis_msec(rcf->backoff_max,
                                     CRM_REDIS_DEFAULT_BACKOFF_MAX);

    if (rd->backoff_max < rd->backoff_min) {
        rd->backoff_max = rd->backoff_min;
    }

    rd->backoff = rd->backoff_min;

    ngx_queue_init(&rd->busy);
    ngx_queue_init(&rd->free);

    /* timers that must not keep an exiting worker alive */

    rd->reconnect.handler = crm_redis_reconnect_handler;
    rd->reconnect.data = rd;
    rd->reconnect.log = rd->log;
    rd->reconnect.cancelable = 1;

    rd->connect_timer.handler = crm_redis_connect_timeout_handler;
    rd->connect_timer.data = rd;
    rd->connect_timer.log = rd->log;
    rd->connect_timer.cancelable = 1;

    rd->fail.handler = crm_redis_fail_handler;
    rd->fail.data = rd;
    rd->fail.log = rd->log;

    crm_redis_connect(rd);

    return rd;
}


void
crm_redis_done(crm_redis_t *rd)
{
    ngx_queue_t       *q;
    crm_redis_slot_t  *slot;

    if (rd == NULL) {
        return;
    }

    rd->exiting = 1;

    if (rd->reconnect.timer_set) {
        ngx_del_timer(&rd->reconnect);
    }

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->fail.posted) {
        ngx_delete_posted_event(&rd->fail);
    }

    if (rd->ac != NULL) {
        /*
         * hiredis calls every pending callback with NULL (the handlers
         * are not called: exiting), then the cleanup hook, then closes
         * the socket and frees its memory
         */
        rd->state = CRM_REDIS_CLOSING;
        redisAsyncFree(rd->ac);
    }

    /* nothing should be left in flight; never leave a timer behind */

    while (!ngx_queue_empty(&rd->busy)) {
        q = ngx_queue_head(&rd->busy);
        ngx_queue_remove(q);

        slot = ngx_queue_data(q, crm_redis_slot_t, queue);

        if (slot->timer.timer_set) {
            ngx_del_timer(&slot->timer);
        }

        if (slot->cmd != NULL) {
            slot->cmd->slot = NULL;
            slot->cmd = NULL;
        }
    }
}


ngx_uint_t
crm_redis_up(crm_redis_t *rd)
{
    if (rd == NULL || rd->ac == NULL || rd->exiting) {
        return 0;
    }

    switch (rd->state) {

    case CRM_REDIS_READY:
        return 1;

    case CRM_REDIS_CONNECTING:
        /* queue behind the PING unless this is a retry during an outage */
        return rd->outage ? 0 : 1;

    default:
        return 0;
    }
}


void
crm_redis_metrics(crm_redis_t *rd, crm_metrics_t *m, crm_metrics_worker_t *w)
{
    if (rd == NULL) {
        return;
    }

    rd->metrics = m;
    rd->metrics_worker = w;

    crm_redis_publish(rd, rd->state == CRM_REDIS_READY);
}


/* the up gauge, stored by the slot's owner only (see crm_pg_publish()) */

static void
crm_redis_publish(crm_redis_t *rd, ngx_uint_t up)
{
    if (rd->metrics_worker != NULL
        && rd->metrics_worker->pid == (ngx_atomic_uint_t) ngx_pid)
    {
        rd->metrics_worker->redis_up = up;
    }
}


crm_redis_cmd_t *
crm_redis_command(crm_redis_t *rd, ngx_pool_t *pool, crm_redis_handler_pt h,
    void *data, ngx_uint_t argc, ngx_str_t *argv)
{
    int                  rc;
    size_t              *lens, stack_lens[CRM_REDIS_STACK_ARGS];
    ngx_uint_t           i;
    const char         **args, *stack_args[CRM_REDIS_STACK_ARGS];
    crm_redis_cmd_t     *cmd;
    crm_redis_slot_t    *slot;
    ngx_pool_cleanup_t  *cln;

    if (!crm_redis_up(rd) || h == NULL || argc == 0
        || argc > CRM_REDIS_MAX_ARGS)
    {
        return NULL;
    }

    cmd = ngx_palloc(pool, sizeof(crm_redis_cmd_t));
    if (cmd == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    /* cln->handler stays NULL (a no-op) unless the command is sent */

    slot = crm_redis_slot_get(rd);
    if (slot == NULL) {
        return NULL;
    }

    if (argc <= CRM_REDIS_STACK_ARGS) {
        args = stack_args;
        lens = stack_lens;

    } else {
        args = ngx_alloc(argc * sizeof(char *), rd->log);
        lens = ngx_alloc(argc * sizeof(size_t), rd->log);

        if (args == NULL || lens == NULL) {
            ngx_free(args);
            ngx_free(lens);
            ngx_queue_insert_head(&rd->free, &slot->queue);
            return NULL;
        }
    }

    for (i = 0; i < argc; i++) {
        args[i] = argv[i].data ? (const char *) argv[i].data : "";
        lens[i] = argv[i].len;
    }

    /* appends to hiredis' output buffer; the write happens in a handler */

    rc = redisAsyncCommandArgv(rd->ac, crm_redis_reply_callback, slot,
                               (int) argc, args, lens);

    if (args != stack_args) {
        ngx_free(args);
        ngx_free(lens);
    }

    if (rc != REDIS_OK) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "crm: redis command to %V could not be queued",
                      &rd->conf->addr);
        ngx_queue_insert_head(&rd->free, &slot->queue);
        return NULL;
    }

    cmd->slot = slot;
    cmd->handler = h;
    cmd->data = data;

    slot->cmd = cmd;
    ngx_queue_insert_tail(&rd->busy, &slot->queue);
    ngx_add_timer(&slot->timer, rd->command_timeout);

    cln->handler = crm_redis_cmd_cleanup;
    cln->data = cmd;

    return cmd;
}


void
crm_redis_cancel(crm_redis_cmd_t *cmd)
{
    crm_redis_slot_t  *slot;

    slot = cmd->slot;

    if (slot == NULL) {
        return;
    }

    cmd->slot = NULL;
    slot->cmd = NULL;

    /*
     * the slot stays with hiredis until the reply (or the teardown) comes;
     * its timer still guards the connection, but no request waits on it
     */
    slot->timer.cancelable = 1;
}


static void
crm_redis_cmd_cleanup(void *data)
{
    crm_redis_cmd_t  *cmd = data;

    crm_redis_cancel(cmd);
}


static ngx_msec_t
crm_redis_msec(ngx_msec_t v, ngx_msec_t def)
{
    return (v == 0 || v == NGX_CONF_UNSET_MSEC) ? def : v;
}


static crm_redis_slot_t *
crm_redis_slot_get(crm_redis_t *rd)
{
    ngx_queue_t       *q;
    crm_redis_slot_t  *slot;

    if (!ngx_queue_empty(&rd->free)) {
        q = ngx_queue_head(&rd->free);
        ngx_queue_remove(q);
        slot = ngx_queue_data(q, crm_redis_slot_t, queue);

    } else {
        slot = ngx_pcalloc(rd->pool, sizeof(crm_redis_slot_t));
        if (slot == NULL) {
            return NULL;
        }

        slot->rd = rd;
        slot->timer.handler = crm_redis_command_timeout_handler;
        slot->timer.data = slot;
        slot->timer.log = rd->log;
    }

    slot->cmd = NULL;
    slot->timer.cancelable = 0;

    return slot;
}


static void
crm_redis_connect(crm_redis_t *rd)
{
    ngx_event_t        *rev, *wev;
    crm_redis_conf_t   *rcf;
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    rcf = rd->conf;

    rd->healthy = 0;
    rd->dropped = 0;
    rd->reason = NULL;

    /*
     * non-blocking connect(2); for TCP, hiredis calls getaddrinfo() on
     * the numeric address from crm_redis_parse_addr(): no DNS query
     */

    if (rcf->unix_socket) {
        ac = redisAsyncConnectUnix(rcf->host);

    } else {
        ac = redisAsyncConnect(rcf->host, rcf->port);
    }

    if (ac == NULL) {
        crm_redis_schedule(rd, 1, 1, "out of memory");
        return;
    }

    if (ac->err) {
        /* failed at once (ECONNREFUSED on a unix socket, EMFILE, ...) */
        crm_redis_schedule(rd, 1, 1, ac->errstr);
        redisAsyncFree(ac);
        return;
    }

    /* an idle connection to a vanished host is noticed within a minute */

    if (!rcf->unix_socket && redisEnableKeepAlive(&ac->c) != REDIS_OK) {
        crm_redis_schedule(rd, 1, 1, ac->c.errstr);
        redisAsyncFree(ac);
        return;
    }

    c = ngx_get_connection(ac->c.fd, rd->log);
    if (c == NULL) {
        crm_redis_schedule(rd, 1, 1, "no free nginx connection");
        redisAsyncFree(ac);
        return;
    }

    rev = c->read;
    wev = c->write;

    c->data = rd;
    c->number = ngx_atomic_fetch_add(ngx_connection_counter, 1);

    rev->handler = crm_redis_read_handler;
    rev->log = rd->log;
    wev->handler = crm_redis_write_handler;
    wev->log = rd->log;

    rd->ac = ac;
    rd->conn = c;
    rd->state = CRM_REDIS_CONNECTING;

    ac->data = rd;
    ac->ev.data = rd;
    ac->ev.addRead = crm_redis_ev_add_read;
    ac->ev.delRead = crm_redis_ev_del_read;
    ac->ev.addWrite = crm_redis_ev_add_write;
    ac->ev.delWrite = crm_redis_ev_del_write;
    ac->ev.cleanup = crm_redis_ev_cleanup;

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "crm: redis connecting to %V, fd:%d",
                   &rcf->addr, c->fd);

    ngx_add_timer(&rd->connect_timer, rd->connect_timeout);

    /*
     * The PING goes first into the output buffer (hiredis writes it once
     * connect(2) completes); its reply marks the connection ready.  This
     * also catches a server that accepts but cannot serve (LOADING).
     */

    if (redisAsyncCommand(ac, crm_redis_ping_callback, rd, "PING")
        != REDIS_OK)
    {
        crm_redis_close(rd, 0, "PING could not be queued");
    }
}


/*
 * Tears the connection down from nginx's side: a timeout or a failure
 * hiredis does not see.  hiredis then calls every pending callback with
 * NULL, then the cleanup hook, which schedules the reconnect.  Inside a
 * hiredis callback the free is deferred by hiredis until it returns.
 */

static void
crm_redis_close(crm_redis_t *rd, ngx_err_t err, const char *fmt, ...)
{
    u_char   *p, *last;
    va_list   args;

    if (rd->ac == NULL || (rd->ac->c.flags & REDIS_FREEING)) {
        return;
    }

    last = rd->errbuf + sizeof(rd->errbuf) - 1;

    va_start(args, fmt);
    p = ngx_vslprintf(rd->errbuf, last, fmt, args);
    va_end(args);

    if (err) {
        p = ngx_log_errno(p, last, err);
    }

    *p = '\0';

    rd->reason = rd->errbuf;
    rd->state = CRM_REDIS_CLOSING;

    redisAsyncFree(rd->ac);
}


/*
 * A connection or an attempt ended.  "failed": an attempt failed, or a
 * connection was lost with commands in flight or by a timeout; a
 * connection that the server closed while idle is not a failure.  An
 * outage is logged at "error" once, the further attempts at "info".
 */

static void
crm_redis_schedule(crm_redis_t *rd, ngx_uint_t failed, ngx_uint_t connecting,
    const char *reason)
{
    ngx_msec_t   delay;
    ngx_uint_t   level;
    ngx_str_t   *addr;

    addr = &rd->conf->addr;

    if (rd->healthy && ngx_current_msec - rd->ready_at >= CRM_REDIS_STABLE) {
        /* it worked for a while: retry at once, then back off afresh */
        rd->backoff = rd->backoff_min;
        delay = 0;

    } else {
        /* never spin: every attempt that did not last waits longer */
        delay = rd->backoff;
        rd->backoff = ngx_min(rd->backoff * 2, rd->backoff_max);
    }

    if (failed) {
        crm_metrics_inc(rd->metrics,
                        redis_errors[connecting ? CRM_METRICS_REDIS_CONNECT
                                                : CRM_METRICS_REDIS_LOST]);
    }

    if (!failed) {
        ngx_log_error(NGX_LOG_INFO, rd->log, 0,
                      "crm: redis connection to %V closed while idle: %s, "
                      "reconnecting", addr, reason);

    } else {
        if (rd->outage) {
            level = NGX_LOG_INFO;

        } else {
            level = NGX_LOG_ERR;
            rd->outage = 1;
            rd->outage_at = ngx_current_msec;
        }

        if (connecting) {
            ngx_log_error(level, rd->log, 0,
                          "crm: redis connect to %V failed: %s; "
                          "commands fail until it is back, retrying in %M ms",
                          addr, reason, delay);

        } else {
            ngx_log_error(level, rd->log, 0,
                          "crm: redis connection to %V lost: %s "
                          "(%ui commands failed); retrying in %M ms",
                          addr, reason, rd->dropped, delay);
        }
    }

    if (!rd->exiting) {
        ngx_add_timer(&rd->reconnect, delay);
    }
}


static void
crm_redis_reconnect_handler(ngx_event_t *ev)
{
    crm_redis_t  *rd = ev->data;

    if (rd->exiting || rd->ac != NULL) {
        return;
    }

    crm_redis_connect(rd);
}


static void
crm_redis_connect_timeout_handler(ngx_event_t *ev)
{
    crm_redis_t  *rd = ev->data;

    crm_redis_close(rd, 0, "timed out after %M ms", rd->connect_timeout);
}


static void
crm_redis_command_timeout_handler(ngx_event_t *ev)
{
    crm_redis_slot_t  *slot = ev->data;

    crm_redis_t  *rd;

    rd = slot->rd;

    /*
     * replies come in order: every later command waits behind this one,
     * so the connection is dropped and all of them fail now
     */

    crm_redis_close(rd, 0, "a command timed out after %M ms",
                    rd->command_timeout);
}


static void
crm_redis_fail_handler(ngx_event_t *ev)
{
    crm_redis_t  *rd = ev->data;

    crm_redis_close(rd, 0, "socket events could not be registered");
}


/*
 * Reading.  hiredis 0.14's redisAsyncHandleRead() makes exactly one
 * read(2) of at most 16 KB (redisBufferRead()), parses, runs the callbacks
 * of the complete replies, and returns; it cannot tell whether more is
 * waiting.  nginx's epoll is edge-triggered: an event comes when new data
 * arrives, not while data remains.  A single call per event would leave
 * the rest of a reply larger than 16 KB (or of a burst of replies) in the
 * socket until Redis happened to send something else, that is forever.
 *
 * So the handler calls redisAsyncHandleRead() again while recv(MSG_PEEK)
 * shows data or EOF waiting, and only on EAGAIN does it clear rev->ready
 * and rely on the next edge (ngx_handle_read_event() keeps the event
 * registered).  After CRM_REDIS_READS_PER_EVENT rounds it posts itself to
 * run again later in this loop iteration, so one huge reply does not
 * starve other connections.  The context may be freed inside any call
 * (EOF, error, a callback): rd->ac is checked after each.  With level-
 * triggered methods (poll, select) the same loop is merely redundant.
 */

static void
crm_redis_read_handler(ngx_event_t *rev)
{
    u_char              buf[1];
    ssize_t             n;
    ngx_err_t           err;
    ngx_uint_t          i;
    crm_redis_t        *rd;
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    c = rev->data;
    rd = c->data;
    ac = rd->ac;

    if (ac == NULL || rd->conn != c) {
        return;
    }

    for (i = 0; i < CRM_REDIS_READS_PER_EVENT; i++) {

        redisAsyncHandleRead(ac);

        if (rd->ac != ac) {
            /* freed: the connection c is gone too */
            return;
        }

        n = recv(c->fd, buf, 1, MSG_PEEK);

        if (n >= 0) {
            /* data left, or EOF that hiredis reports on its next read */
            continue;
        }

        err = ngx_socket_errno;

        if (err == NGX_EINTR) {
            continue;
        }

        if (err == NGX_EAGAIN) {
            rev->ready = 0;

            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                crm_redis_close(rd, 0, "read event could not be added");
            }

            return;
        }

        crm_redis_close(rd, err, "recv() failed");
        return;
    }

    ngx_post_event(rev, &ngx_posted_events);
}


/*
 * Writing.  redisAsyncHandleWrite() completes the connect and makes one
 * write(2).  Loop while it makes progress; when it makes none (EAGAIN, or
 * connect(2) still under way) clear wev->ready and wait for the edge.
 * While wev->ready is set, a new command is written by posting this
 * handler (see crm_redis_ev_add_write()), without waiting for an event.
 */

static void
crm_redis_write_handler(ngx_event_t *wev)
{
    size_t              size, left;
    crm_redis_t        *rd;
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    c = wev->data;
    rd = c->data;
    ac = rd->ac;

    if (ac == NULL || rd->conn != c) {
        return;
    }

    rd->writing = 1;

    for ( ;; ) {
        size = sdslen(ac->c.obuf);

        redisAsyncHandleWrite(ac);

        if (rd->ac != ac) {
            rd->writing = 0;
            return;
        }

        left = sdslen(ac->c.obuf);

        if (left == 0) {
            break;
        }

        if (left == size) {
            wev->ready = 0;

            if (ngx_handle_write_event(wev, 0) != NGX_OK) {
                rd->writing = 0;
                crm_redis_close(rd, 0, "write event could not be added");
                return;
            }

            break;
        }
    }

    rd->writing = 0;
}


static void
crm_redis_ping_callback(redisAsyncContext *ac, void *r, void *privdata)
{
    crm_redis_t  *rd = privdata;
    redisReply   *reply = r;

    if (reply == NULL || rd->exiting) {
        /* torn down: the cleanup hook reports it */
        return;
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        crm_redis_close(rd, 0, "PING answered \"%*s\"",
                        ngx_min(reply->len, (size_t) 128), reply->str);
        return;
    }

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    rd->state = CRM_REDIS_READY;
    rd->healthy = 1;

    crm_redis_publish(rd, 1);
    rd->ready_at = ngx_current_msec;

    if (rd->outage) {
        rd->outage = 0;

        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "crm: redis %V is up again after %M ms",
                      &rd->conf->addr, ngx_current_msec - rd->outage_at);
    }

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, rd->log, 0,
                   "crm: redis connected to %V", &rd->conf->addr);
}


static void
crm_redis_reply_callback(redisAsyncContext *ac, void *r, void *privdata)
{
    crm_redis_slot_t  *slot = privdata;

    crm_redis_t      *rd;
    crm_redis_cmd_t  *cmd;

    rd = slot->rd;
    cmd = slot->cmd;

    if (slot->timer.timer_set) {
        ngx_del_timer(&slot->timer);
    }

    ngx_queue_remove(&slot->queue);
    ngx_queue_insert_head(&rd->free, &slot->queue);
    slot->cmd = NULL;

    if (r == NULL) {
        /* the context is being freed: accept no more commands */
        rd->dropped++;
        rd->state = CRM_REDIS_CLOSING;
    }

    if (cmd == NULL) {
        /* cancelled */
        return;
    }

    /* answered: a cancel from inside the handler is a no-op */
    cmd->slot = NULL;

    if (rd->exiting) {
        return;
    }

    if (r == NULL) {
        crm_metrics_inc(rd->metrics,
                        redis_errors[CRM_METRICS_REDIS_COMMAND]);
    }

    cmd->handler(cmd, r, cmd->data);
}


/*
 * hiredis' event hooks.  They may run inside any hiredis call, including
 * from within crm_redis_command(): they never free the context; a failure
 * is handled by a posted event.
 */

static void
crm_redis_ev_add_read(void *privdata)
{
    crm_redis_t  *rd = privdata;

    if (rd->conn == NULL) {
        return;
    }

    if (ngx_handle_read_event(rd->conn->read, 0) != NGX_OK) {
        crm_redis_ev_failed(rd);
    }
}


static void
crm_redis_ev_del_read(void *privdata)
{
    crm_redis_t  *rd = privdata;

    ngx_uint_t    flags;
    ngx_event_t  *rev;

    if (rd->conn == NULL) {
        return;
    }

    rev = rd->conn->read;

    if (!rev->active) {
        return;
    }

    /* keep the write event edge-triggered when it stays registered */
    flags = (ngx_event_flags & NGX_USE_CLEAR_EVENT) ? NGX_CLEAR_EVENT
                                                    : NGX_LEVEL_EVENT;

    if (ngx_del_event(rev, NGX_READ_EVENT, flags) != NGX_OK) {
        crm_redis_ev_failed(rd);
    }
}


static void
crm_redis_ev_add_write(void *privdata)
{
    crm_redis_t  *rd = privdata;

    ngx_event_t  *wev;

    if (rd->conn == NULL) {
        return;
    }

    wev = rd->conn->write;

    if (wev->ready) {
        /*
         * Writable as far as we know, and an edge-triggered event would
         * not come again: write later in this loop iteration, after the
         * caller returns, together with any command issued meanwhile.
         */

        if (!rd->writing && !wev->posted) {
            ngx_post_event(wev, &ngx_posted_events);
        }

        return;
    }

    if (ngx_handle_write_event(wev, 0) != NGX_OK) {
        crm_redis_ev_failed(rd);
    }
}


static void
crm_redis_ev_del_write(void *privdata)
{
    crm_redis_t  *rd = privdata;

    ngx_event_t  *wev;

    if (rd->conn == NULL) {
        return;
    }

    wev = rd->conn->write;

    /*
     * edge-triggered: leave it registered, it fires only when the socket
     * becomes writable again; level-triggered: remove it or it would
     * fire continuously
     */

    if (!(ngx_event_flags & NGX_USE_CLEAR_EVENT) && wev->active) {
        if (ngx_del_event(wev, NGX_WRITE_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
            crm_redis_ev_failed(rd);
        }
    }
}


/*
 * Called once by hiredis when the context is freed, whatever the reason,
 * after the pending callbacks and before hiredis closes the socket.
 */

static void
crm_redis_ev_cleanup(void *privdata)
{
    crm_redis_t  *rd = privdata;

    const char         *reason;
    ngx_uint_t          failed, connecting;
    ngx_connection_t   *c;
    redisAsyncContext  *ac;

    ac = rd->ac;
    c = rd->conn;

    if (c != NULL) {
        if (c->read->active || c->write->active) {
            /* a real removal: the fd is still open until hiredis closes it */

            if (ngx_del_conn) {
                (void) ngx_del_conn(c, 0);

            } else {
                if (c->read->active) {
                    (void) ngx_del_event(c->read, NGX_READ_EVENT, 0);
                }

                if (c->write->active) {
                    (void) ngx_del_event(c->write, NGX_WRITE_EVENT, 0);
                }
            }
        }

        if (c->read->posted) {
            ngx_delete_posted_event(c->read);
        }

        if (c->write->posted) {
            ngx_delete_posted_event(c->write);
        }

        ngx_free_connection(c);

        /* hiredis closes the socket, never nginx */
        c->fd = (ngx_socket_t) -1;

        rd->conn = NULL;
    }

    if (rd->connect_timer.timer_set) {
        ngx_del_timer(&rd->connect_timer);
    }

    if (rd->fail.posted) {
        ngx_delete_posted_event(&rd->fail);
    }

    connecting = !rd->healthy;
    failed = connecting || rd->dropped || rd->reason != NULL;

    if (rd->reason != NULL) {
        reason = (const char *) rd->reason;

    } else if (ac != NULL && ac->c.err) {
        reason = ac->c.errstr;

    } else {
        reason = "connection closed";
    }

    rd->ac = NULL;
    rd->state = CRM_REDIS_IDLE;

    crm_redis_publish(rd, 0);

    if (!rd->exiting) {
        crm_redis_schedule(rd, failed, connecting, reason);
    }

    rd->reason = NULL;
}


static void
crm_redis_ev_failed(crm_redis_t *rd)
{
    if (!rd->fail.posted) {
        ngx_post_event(&rd->fail, &ngx_posted_events);
    }
}
