
/*
 * ngx_http_crm_module: what the PostgreSQL pool says in the error log:
 * libpq's messages and the server's notices on one line, and refusals
 * (503) counted, not logged one by one: the first of each reason at
 * once, then a summary a second while they go on, then a line when they
 * stop.
 */


#include "io/crm_pg_conn.h"




/* what a refusal says in the error log, by CRM_PG_* reason */

static const char  *crm_pg_reasons[CRM_PG_NREASONS] = {
    "",
    "postgres wait queue is full",
    "timed out waiting for a postgres connection",
    "postgres is unreachable",
    "postgres connection lost"
};


/*
 * A request refused for "reason".  In an outage or under overload every
 * request is refused: the error log gets the first refusal of each reason
 * at once, then one summary line a second while refusals go on, and a
 * line when a second passed without any.
 */

void
crm_pg_refused(crm_pg_pool_t *pool, ngx_uint_t reason)
{
    if (!(pool->seen & (1 << reason))) {
        pool->seen |= 1 << reason;

        if (reason == CRM_PG_BUSY) {
            ngx_log_error(NGX_LOG_WARN, pool->log, 0,
                          "crm: %s (%ui waiting), refusing requests",
                          crm_pg_reasons[reason], pool->nwaiting);

        } else {
            ngx_log_error(NGX_LOG_WARN, pool->log, 0,
                          "crm: %s, refusing requests",
                          crm_pg_reasons[reason]);
        }

    } else {
        pool->refused[reason]++;
    }

    if (!pool->summary.timer_set) {
        ngx_add_timer(&pool->summary, 1000);
    }
}


void
crm_pg_summary(ngx_event_t *ev)
{
    u_char         *p;
    ngx_uint_t      i, n;
    crm_pg_pool_t  *pool;
    u_char          buf[NGX_MAX_ERROR_STR];

    pool = ev->data;

    n = 0;
    p = buf;

    for (i = 1; i < CRM_PG_NREASONS; i++) {
        if (pool->refused[i] == 0) {
            continue;
        }

        p = ngx_slprintf(p, buf + sizeof(buf), "%s%ui %s",
                         n ? ", " : "", pool->refused[i], crm_pg_reasons[i]);
        n += pool->refused[i];
        pool->refused[i] = 0;
    }

    if (n == 0) {
        ngx_log_error(NGX_LOG_NOTICE, pool->log, 0,
                      "crm: postgres serves requests again (no refusal "
                      "in the last second)");
        pool->seen = 0;
        return;
    }

    ngx_log_error(NGX_LOG_WARN, pool->log, 0,
                  "crm: postgres refused %ui more requests in the last "
                  "second: %*s", n, p - buf, buf);

    ngx_add_timer(&pool->summary, 1000);
}


/* "crm: <what>: <libpq's message>", the message on one line */

void
crm_pg_log(ngx_uint_t level, ngx_log_t *log, const char *what, PGconn *pg)
{
    crm_pg_log_message(level, log, what, PQerrorMessage(pg));
}


/* a notice or warning the server sent (a session it terminates, say) */

void
crm_pg_notice(void *arg, const char *message)
{
    crm_pg_pool_t *pool = arg;

    crm_pg_log_message(NGX_LOG_NOTICE, pool->log, "postgres says", message);
}


/* the same for a session outside the pool: "arg" is its log */

void
crm_pg_notice_log(void *arg, const char *message)
{
    crm_pg_log_message(NGX_LOG_NOTICE, arg, "postgres says", message);
}


void
crm_pg_log_message(ngx_uint_t level, ngx_log_t *log, const char *what,
    const char *msg)
{
    u_char  *p;
    u_char   buf[NGX_MAX_ERROR_STR / 2];

    p = crm_value_line(buf, sizeof(buf), msg);

    ngx_log_error(level, log, 0, "crm: %s: %*s", what, p - buf, buf);
}
