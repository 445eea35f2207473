
/*
 * ngx_http_crm_module: one PostgreSQL session per worker that LISTENs on
 * a channel and hands each NOTIFY's payload to a callback.  A wake-up
 * hint only: whoever listens also polls on a timer, so a notification
 * lost while the session was down costs a poll interval, nothing more.
 * The session is re-established with back-off after PostgreSQL restarts;
 * the callback then gets an empty payload ("you may have missed some").
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "io/crm_pg_conn.h"
#include "io/crm_pg_listen.h"


#define CRM_LISTEN_BACKOFF_MIN  500


#define CRM_LISTEN_FREE        0
#define CRM_LISTEN_CONNECTING  1
#define CRM_LISTEN_LISTENING   2


struct crm_pg_listen_s {
    crm_pg_conf_t            *conf;
    ngx_log_t                *log;
    PGconn                   *pg;
    ngx_connection_t         *c;
    ngx_event_t               timer;        /* connect timeout, back-off */
    ngx_uint_t                state;
    ngx_msec_t                backoff;
    ngx_str_t                 channel;
    crm_pg_notify_pt          handler;
    void                     *data;
    unsigned                  down:1;       /* outage logged */
    unsigned                  closing:1;
};


static void crm_pg_listen_connect(crm_pg_listen_t *l);
static ngx_int_t crm_pg_listen_wrap(crm_pg_listen_t *l);
static void crm_pg_listen_unwrap(crm_pg_listen_t *l);
static void crm_pg_listen_event(ngx_event_t *ev);
static void crm_pg_listen_poll(crm_pg_listen_t *l);
static void crm_pg_listen_read(crm_pg_listen_t *l);
static void crm_pg_listen_timer(ngx_event_t *ev);
static void crm_pg_listen_fail(crm_pg_listen_t *l, const char *what);
static void crm_pg_listen_close(crm_pg_listen_t *l);
static ngx_int_t crm_pg_listen_level(crm_pg_listen_t *l);


crm_pg_listen_t *
crm_pg_listen_create(ngx_cycle_t *cycle, crm_pg_conf_t *conf,
    ngx_str_t *channel, crm_pg_notify_pt handler, void *data)
{
    ngx_uint_t        i;
    crm_pg_listen_t  *l;

    /* the channel goes into a LISTEN statement: an identifier only */

    if (channel->len == 0 || channel->len > 63) {
        return NULL;
    }

    for (i = 0; i < channel->len; i++) {
        if (!(channel->data[i] == '_'
              || (channel->data[i] >= 'a' && channel->data[i] <= 'z')
              || (i > 0 && channel->data[i] >= '0'
                  && channel->data[i] <= '9')))
        {
            return NULL;
        }
    }

    l = ngx_pcalloc(cycle->pool, sizeof(crm_pg_listen_t));
    if (l == NULL) {
        return NULL;
    }

    l->conf = conf;
    l->log = cycle->log;
    l->channel = *channel;
    l->handler = handler;
    l->data = data;
    l->backoff = CRM_LISTEN_BACKOFF_MIN;

    l->timer.handler = crm_pg_listen_timer;
    l->timer.data = l;
    l->timer.log = cycle->log;
    l->timer.cancelable = 1;

    crm_pg_listen_connect(l);

    return l;
}


void
crm_pg_listen_destroy(crm_pg_listen_t *l)
{
    if (l == NULL) {
        return;
    }

    l->closing = 1;

    if (l->timer.timer_set) {
        ngx_del_timer(&l->timer);
    }

    crm_pg_listen_close(l);
}


static void
crm_pg_listen_connect(crm_pg_listen_t *l)
{
    l->pg = PQconnectStartParams(l->conf->keywords, l->conf->values, 0);
    if (l->pg == NULL) {
        crm_pg_listen_fail(l, "postgres listen connect: out of memory");
        return;
    }

    (void) PQsetNoticeProcessor(l->pg, crm_pg_notice_log, l->log);

    if (PQstatus(l->pg) == CONNECTION_BAD) {
        crm_pg_listen_fail(l, "postgres listen connect failed");
        return;
    }

    l->state = CRM_LISTEN_CONNECTING;

    if (crm_pg_listen_wrap(l) != NGX_OK) {
        crm_pg_listen_fail(l, "postgres listen connect failed");
        return;
    }

    ngx_add_timer(&l->timer, l->conf->connect_timeout);

    crm_pg_listen_poll(l);
}


static ngx_int_t
crm_pg_listen_wrap(crm_pg_listen_t *l)
{
    l->c = crm_pg_socket(l->pg, l->log, crm_pg_listen_event, l);

    return (l->c != NULL) ? NGX_OK : NGX_ERROR;
}


/* the events go, the nginx connection is freed; libpq keeps its fd */

static void
crm_pg_listen_unwrap(crm_pg_listen_t *l)
{
    crm_pg_unsocket(l->c, l->pg);
    l->c = NULL;
}


static void
crm_pg_listen_event(ngx_event_t *ev)
{
    ngx_connection_t  *c;
    crm_pg_listen_t   *l;

    c = ev->data;
    l = c->data;

    if (l->state == CRM_LISTEN_CONNECTING) {
        crm_pg_listen_poll(l);
        return;
    }

    if (l->state == CRM_LISTEN_LISTENING) {
        if (ev->write) {
            switch (PQflush(l->pg)) {

            case 0:
                if (crm_pg_listen_level(l) != NGX_OK) {
                    crm_pg_listen_fail(l, "postgres listen session failed");
                }

                return;

            case 1:
                return;

            default:
                crm_pg_listen_fail(l, "postgres listen session lost");
                return;
            }
        }

        crm_pg_listen_read(l);
    }
}


static void
crm_pg_listen_poll(crm_pg_listen_t *l)
{
    int                        fd;
    u_char                    *p;
    u_char                     sql[sizeof("LISTEN ") + 64];
    PostgresPollingStatusType  st;

    for ( ;; ) {
        st = PQconnectPoll(l->pg);

        fd = PQsocket(l->pg);
        if (l->c != NULL && fd != l->c->fd) {
            crm_pg_listen_unwrap(l);
        }

        if (l->c == NULL && fd != -1 && st != PGRES_POLLING_FAILED) {
            if (crm_pg_listen_wrap(l) != NGX_OK) {
                crm_pg_listen_fail(l, "postgres listen connect failed");
                return;
            }
        }

        switch (st) {

        case PGRES_POLLING_READING:
        case PGRES_POLLING_WRITING:
            return;

        case PGRES_POLLING_OK:
            goto connected;

        case PGRES_POLLING_FAILED:
        default:
            crm_pg_listen_fail(l, "postgres listen connect failed");
            return;
        }
    }

connected:

    if (l->timer.timer_set) {
        ngx_del_timer(&l->timer);
    }

    if (PQsetnonblocking(l->pg, 1) != 0) {
        crm_pg_listen_fail(l, "postgres listen session failed");
        return;
    }

    /* the channel was checked to be a plain identifier */

    p = ngx_sprintf(sql, "LISTEN %V", &l->channel);
    *p = '\0';

    if (PQsendQuery(l->pg, (char *) sql) == 0) {
        crm_pg_listen_fail(l, "postgres listen failed");
        return;
    }

    l->state = CRM_LISTEN_LISTENING;

    switch (PQflush(l->pg)) {

    case 0:
        if (crm_pg_listen_level(l) != NGX_OK) {
            crm_pg_listen_fail(l, "postgres listen failed");
            return;
        }

        break;

    case 1:
        /* the rest goes out on a write event, then crm_pg_listen_level() */
        break;

    default:
        crm_pg_listen_fail(l, "postgres listen failed");
        return;
    }

    l->backoff = CRM_LISTEN_BACKOFF_MIN;

    if (l->down) {
        ngx_log_error(NGX_LOG_NOTICE, l->log, 0,
                      "crm: listening on \"%V\" again", &l->channel);
        l->down = 0;
    }

    /* what was notified while nobody listened is lost: look now */

    l->handler(l->data, NULL);
}


/*
 * Once LISTEN is sent, only reads matter, and they are watched
 * level-triggered: libpq reads what it wants per PQconsumeInput(), not
 * up to EAGAIN, so an edge-triggered session would miss the end of a
 * connection that came with its last message (a server that terminates
 * sessions sends a FATAL notice, then closes) and never reconnect.
 */

static ngx_int_t
crm_pg_listen_level(crm_pg_listen_t *l)
{
    ngx_connection_t  *c;

    c = l->c;

    if (c == NULL) {
        return NGX_OK;
    }

    if (ngx_del_conn) {
        if (ngx_del_conn(c, 0) != NGX_OK) {
            return NGX_ERROR;
        }

    } else {
        if (c->read->active
            && ngx_del_event(c->read, NGX_READ_EVENT, 0) != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (c->write->active
            && ngx_del_event(c->write, NGX_WRITE_EVENT, 0) != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return ngx_add_event(c->read, NGX_READ_EVENT, NGX_LEVEL_EVENT);
}


/* results of LISTEN itself (ignored) and notifications, all of them */

static void
crm_pg_listen_read(crm_pg_listen_t *l)
{
    ngx_str_t   payload;
    PGresult   *res;
    PGnotify   *n;

    if (PQconsumeInput(l->pg) == 0 || PQstatus(l->pg) != CONNECTION_OK) {
        crm_pg_listen_fail(l, "postgres listen session lost");
        return;
    }

    while (PQisBusy(l->pg) == 0) {
        res = PQgetResult(l->pg);
        if (res == NULL) {
            break;
        }

        if (PQresultStatus(res) == PGRES_FATAL_ERROR) {
            crm_pg_log_message(NGX_LOG_ERR, l->log, "postgres listen failed",
                               PQresultErrorMessage(res));
        }

        PQclear(res);
    }

    for ( ;; ) {
        n = PQnotifies(l->pg);
        if (n == NULL) {
            break;
        }

        payload.data = (u_char *) n->extra;
        payload.len = ngx_strlen(n->extra);

        l->handler(l->data, &payload);

        PQfreemem(n);

        if (l->pg == NULL) {
            /* the handler destroyed us */
            return;
        }
    }
}


static void
crm_pg_listen_timer(ngx_event_t *ev)
{
    crm_pg_listen_t  *l;

    l = ev->data;

    if (l->state == CRM_LISTEN_CONNECTING) {
        crm_pg_listen_fail(l, "postgres listen connect timed out");
        return;
    }

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    crm_pg_listen_connect(l);
}


/* logs the first failure of an outage, then retries with back-off */

static void
crm_pg_listen_fail(crm_pg_listen_t *l, const char *what)
{
    u_char  *p;
    u_char   buf[256];

    if (!l->down) {
        /* one line an outage: the jobs poll meanwhile */

        p = ngx_snprintf(buf, sizeof(buf) - 1,
                         "%s; not listening on \"%V\": jobs poll on their "
                         "timers until the session is back",
                         what, &l->channel);
        *p = '\0';

        if (l->pg != NULL) {
            crm_pg_log(NGX_LOG_WARN, l->log, (char *) buf, l->pg);

        } else {
            ngx_log_error(NGX_LOG_WARN, l->log, 0, "crm: %s", buf);
        }

        l->down = 1;
    }

    crm_pg_listen_close(l);

    if (l->closing) {
        return;
    }

    if (l->timer.timer_set) {
        ngx_del_timer(&l->timer);
    }

    ngx_add_timer(&l->timer, l->backoff);
    l->backoff = ngx_min(l->backoff * 2, l->conf->backoff_max);
}


static void
crm_pg_listen_close(crm_pg_listen_t *l)
{
    crm_pg_listen_unwrap(l);

    if (l->pg != NULL) {
        PQfinish(l->pg);
        l->pg = NULL;
    }

    l->state = CRM_LISTEN_FREE;
}
