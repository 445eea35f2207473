/*
 * ngx_http_crm_module: asynchronous Redis client on nginx's event loop.
 *
 * One connection per worker, driven by hiredis 0.14's async API whose
 * event hooks are mapped to nginx events.  Commands are pipelined on that
 * connection; replies come back in order.  Nothing here ever blocks.
 *
 * Life cycle:
 *
 *   configuration:  crm_redis_parse_addr() (no DNS: IP or unix socket);
 *                   the caller sets the timeouts
 *   init_process:   rd = crm_redis_init(cycle, rcf), starts connecting
 *   request:        cmd = crm_redis_command(rd, r->pool, handler, ctx,
 *                   argc, argv); NULL means Redis is down: degrade
 *   exit_process:   crm_redis_done(rd)
 *
 * A handler is called at most once per command: with the reply, or with
 * reply == NULL when the command failed (connection lost, command timeout,
 * connect timeout).  The reply belongs to hiredis and is freed when the
 * handler returns; a Redis error reply arrives as a reply of type
 * REDIS_REPLY_ERROR.  The handler may issue new commands.  Commands that
 * change the connection's mode (SUBSCRIBE, PSUBSCRIBE, MONITOR) and
 * blocking ones (BLPOP, ...) must not be sent on this shared connection.
 *
 * A command is allocated in the pool given to crm_redis_command() and
 * registers a cleanup in it that cancels the command: when the request is
 * finalized first, its handler is never called.  crm_redis_cancel() does
 * the same explicitly.  Handlers are not called from crm_redis_done().
 *
 * While Redis is down (a connect failed, the connection was lost with
 * commands in flight, a command timed out) crm_redis_command() returns
 * NULL at once and the client reconnects in the background with a backoff
 * of backoff_min doubling up to backoff_max.  An outage is logged once at
 * "error" when it starts and once at "warn" when Redis is back.
 */


#ifndef _CRM_REDIS_H_INCLUDED_
#define _CRM_REDIS_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>

#include <hiredis/hiredis.h>
#include "model/crm_metrics.h"


#define CRM_REDIS_DEFAULT_PORT              6379
#define CRM_REDIS_DEFAULT_CONNECT_TIMEOUT   1000    /* ms */
#define CRM_REDIS_DEFAULT_COMMAND_TIMEOUT   500     /* ms */
#define CRM_REDIS_DEFAULT_BACKOFF_MIN       100     /* ms */
#define CRM_REDIS_DEFAULT_BACKOFF_MAX       5000    /* ms */


typedef struct crm_redis_s      crm_redis_t;      /* one per worker */
typedef struct crm_redis_cmd_s  crm_redis_cmd_t;  /* one command in flight */

/* reply NULL: error, timeout or Redis down */
typedef void (*crm_redis_handler_pt)(crm_redis_cmd_t *cmd, redisReply *reply,
    void *data);


typedef struct {
    ngx_str_t                 addr;             /* as configured */

    /*
     * set by the caller from directives; 0 or NGX_CONF_UNSET_MSEC means
     * the CRM_REDIS_DEFAULT_* value
     */
    ngx_msec_t                connect_timeout;  /* connect + first PING */
    ngx_msec_t                command_timeout;  /* per command */
    ngx_msec_t                backoff_min;      /* first reconnect delay */
    ngx_msec_t                backoff_max;

    /* set by crm_redis_parse_addr() */
    char                     *host;             /* numeric IP or socket
                                                   path, NUL-terminated */
    int                       port;             /* 0 for a unix socket */
    unsigned                  unix_socket:1;
} crm_redis_conf_t;


/*
 * "127.0.0.1:6379", "127.0.0.1" (port 6379), "[::1]:6379" or
 * "unix:/path/redis.sock" (a relative path is taken from the prefix).
 * Host names are rejected: nothing is resolved at run time.  Returns
 * NGX_CONF_OK, or NGX_CONF_ERROR after logging why.
 */
char *crm_redis_parse_addr(ngx_conf_t *cf, ngx_str_t *addr,
    crm_redis_conf_t *rcf);

/*
 * init_process: allocates the worker's client from cycle->pool and starts
 * connecting.  "rcf" must outlive the worker (configuration memory does).
 * Returns NULL on allocation failure; every function below accepts a NULL
 * client and then behaves as if Redis were down.
 */
crm_redis_t *crm_redis_init(ngx_cycle_t *cycle, crm_redis_conf_t *rcf);

/* exit_process: closes the connection; no handler is called any more */
void crm_redis_done(crm_redis_t *rd);

/*
 * Sends argv[0..argc-1] (binary safe) as one command.  Returns NULL when
 * the command could not be sent (Redis down, allocation failure): the
 * handler is then never called and the caller degrades at once.
 */
crm_redis_cmd_t *crm_redis_command(crm_redis_t *rd, ngx_pool_t *pool,
    crm_redis_handler_pt h, void *data, ngx_uint_t argc, ngx_str_t *argv);

/* the caller goes away: the handler will never be called */
void crm_redis_cancel(crm_redis_cmd_t *cmd);

/* 1 when crm_redis_command() would accept a command now */
ngx_uint_t crm_redis_up(crm_redis_t *rd);

/* crm_metrics_zone: errors to "m", the up gauge to the worker's slot */
void crm_redis_metrics(crm_redis_t *rd, crm_metrics_t *m,
    crm_metrics_worker_t *w);


#endif /* _CRM_REDIS_H_INCLUDED_ */
