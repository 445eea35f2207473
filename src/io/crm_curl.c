
/*
 * ngx_http_crm_module: the outbound client (src/io/crm_curl.h).
 *
 * libcurl's multi-socket API driven by nginx: curl tells which sockets to
 * watch (CURLMOPT_SOCKETFUNCTION) and when to call it back
 * (CURLMOPT_TIMERFUNCTION); nginx events and one nginx timer call
 * curl_multi_socket_action(), then the finished transfers are collected
 * with curl_multi_info_read() and their handlers called.
 *
 * Sockets.  curl opens them through crm_curl_open_socket() (the address
 * policy is applied there) and closes them through crm_curl_close_socket();
 * each is wrapped in an nginx connection (ngx_get_connection) from its
 * creation to its close, so the list of wrapped sockets is the map from
 * fd to connection.  Events are registered level-triggered, which is what
 * curl's socket API expects: nginx's own connections are edge-triggered.
 * A REMOVE for a socket not in the list is ignored, so a late removal
 * never touches an fd number reused by another connection.  The nginx
 * connection goes away before the fd is closed.
 *
 * Re-entrancy.  curl's callbacks here never call curl and never call a
 * transfer's handler; the timer callback only arms, posts or deletes the
 * one nginx timer.  Handlers run after curl_multi_socket_action() has
 * returned, once their easy handle is removed from the multi handle and
 * cleaned up, so a handler may start, abort and free transfers freely.
 *
 * DNS.  libcurl never resolves: a URL names an IP literal, or the caller
 * passes the address to pin with CURLOPT_RESOLVE.  The pins are
 * permanent entries of the multi handle's shared DNS cache, replaced by
 * the next pin of the same host and port (two concurrent transfers to one
 * name with different addresses may each use either; both were resolved
 * from that name, and both are checked by the policy).  Other entries
 * (IP literals) are not kept: CURLOPT_DNS_CACHE_TIMEOUT 0.
 *
 * The multi handle carries HTTP only, and HTTP connections are not kept
 * (CURLOPT_FORBID_REUSE): its connection cache stays empty, so
 * curl_multi_cleanup() has nothing to close.  crm_curl_destroy() still
 * shuts every socket down first.
 *
 * SMTP in threads.  libcurl 7.88 blocks in SMTP, whatever the API: after
 * the message it waits for the relay's final reply ("250 queued") in
 * smtp_done(), and when it drops a live connection it sends QUIT and
 * waits for that reply (smtp_disconnect, smtp_block_statemach).  So an
 * SMTP transfer is one curl_easy_perform() and curl_easy_cleanup() in a
 * task of an nginx thread pool (ngx_thread_task_post), and its result is
 * handed to the caller by the task's completion event, on the event loop.
 * What runs in the thread (crm_curl_task_run() and the callbacks it gives
 * curl: crm_curl_task_socket(), crm_curl_task_close(),
 * crm_curl_task_debug(), crm_curl_task_read()) touches only the task,
 * which lives in a pool of its own (t->pool: the message is copied there,
 * since the caller's pool may go while the thread reads it), plus the
 * configuration's read-only allow list; it calls no nginx function that
 * logs, allocates, or touches connections, events or timers, only pure
 * ones (crm_addr_allowed(), ngx_memcpy(), ngx_strncasecmp()).  The event
 * loop writes t->xfer and t->queue alone, and only the event loop reads
 * them; everything else in the task is handed over through the thread
 * pool's queues, whose locks order the memory.  The pool is created and
 * destroyed on the event loop, before the task is posted and at its
 * completion.  A task that is running when its transfer is aborted is
 * detached (t->xfer = NULL) and freed at completion; at exit_process
 * a task still running is not freed at all (crm_curl_destroy()).
 * curl's QUIT wait is still cut short (crm_curl_task_debug() shuts the
 * socket's read side once QUIT is out) so that a thread is not held by a
 * relay that never answers it.
 *
 * SMTP outcomes (x->outcome): CURLE_OK is CRM_CURL_OK (x->status 250,
 * x->reply the relay's "250 ... queued as ..."); a 5xx reply to RCPT TO,
 * DATA or the message is CRM_CURL_PERMANENT; everything else is
 * CRM_CURL_TEMPORARY: a 4xx anywhere, a 5xx to the greeting, EHLO,
 * STARTTLS, AUTH or MAIL FROM (the relay or our configuration, not the
 * recipient), network errors, timeouts and policy refusals (x->status 0).
 * libcurl 7.88 reports a rejected MAIL, RCPT or DATA as CURLE_SEND_ERROR,
 * a rejected message (after the data) as CURLE_WEIRD_SERVER_REPLY, a
 * failed AUTH as CURLE_LOGIN_DENIED, a missing STARTTLS as
 * CURLE_USE_SSL_FAILED; CURLINFO_RESPONSE_CODE keeps the code of the
 * reply that failed, and x->reply its text.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_event.h>
#include "io/crm_curl.h"
#include "model/crm_addr.h"


#define CRM_CURL_HOLD            60000     /* ms: the exit hold timer */
#define CRM_CURL_TASK_POOL       4096
#define CRM_CURL_DISCARD_MAX     (1024 * 1024)  /* HTTP body beyond the
                                                   kept part */

#define CRM_XFER_NEW             0
#define CRM_XFER_WAITING         1
#define CRM_XFER_RUNNING         2
#define CRM_XFER_DONE            3
#define CRM_XFER_ABORTED         4


struct crm_curl_sock_s {
    ngx_queue_t               queue;        /* in socks or free */
    ngx_connection_t         *conn;
    crm_curl_t               *curl;
    crm_xfer_t               *xfer;         /* the last to poll it */
    curl_socket_t             fd;
};


/*
 * An SMTP transfer in the thread pool.  The event loop's: queue, curl,
 * xfer, pool, task; the thread's while it runs (set up before it is
 * posted, read after its completion): the rest.
 */

struct crm_curl_task_s {
    ngx_queue_t               queue;        /* c->tasks once posted */
    crm_curl_t               *curl;
    crm_xfer_t               *xfer;         /* NULL once detached */
    ngx_pool_t               *pool;         /* its own: holds the task */
    ngx_thread_task_t        *task;

    CURL                     *easy;         /* NULL after the thread */
    struct curl_slist        *rcpt;
    struct curl_slist        *resolve;
    ngx_array_t              *allow;        /* the configuration's */
    u_char                   *message;      /* a copy, in t->pool */
    size_t                    len;
    size_t                    sent;
    curl_socket_t             fd;           /* the one open, or BAD */

    CURLcode                  result;
    long                      status;
    curl_off_t                total;        /* CURLINFO_TOTAL_TIME_T */
    ngx_uint_t                stage;
    ngx_err_t                 sock_err;     /* socket() failed */
    const char               *refused_reason;
    socklen_t                 refused_len;
    ngx_sockaddr_t            refused_addr;
    size_t                    reply_len;
    ngx_msec_t                timeout;      /* the configuration's */
    ngx_msec_t                data_timeout;
    ngx_msec_t                started;      /* crm_curl_task_now() */
    ngx_atomic_t              given;        /* the whole message given to
                                               curl (read by the watch) */
    pthread_mutex_t           fd_lock;      /* t->fd: its shutdown by the
                                               watch against its close */
    ngx_event_t               watch;        /* the event loop's bound */
    unsigned                  refused:1;
    unsigned                  reply_more:1; /* in a multi-line reply */
    unsigned                  quit:1;       /* QUIT was sent */
    unsigned                  timed_out:1;  /* crm_curl_task_progress() */
    unsigned                  fd_lock_ok:1;
    unsigned                  watched:1;    /* the watch waits for the
                                               reply to the message's end */
    unsigned                  cut:1;        /* the watch shut its socket */
    u_char                    reply_buf[CRM_CURL_REPLY_MAX];
    char                      error[CURL_ERROR_SIZE];
};


struct crm_curl_s {
    CURLM                    *multi;
    crm_curl_conf_t          *conf;
    ngx_pool_t               *pool;
    ngx_log_t                *log;
    ngx_event_t               timer;        /* curl's timeout */
    ngx_event_t               wake;         /* starts waiting transfers */
    ngx_event_t               hold;         /* not cancelable: armed while
                                               tasks run */
    ngx_queue_t               socks;
    ngx_queue_t               free;
    ngx_queue_t               running;      /* HTTP, in the multi */
    ngx_queue_t               waiting;
    ngx_queue_t               tasks;        /* SMTP, in threads */
    ngx_uint_t                nrunning;
    ngx_uint_t                ntasks;
    ngx_uint_t                busy;         /* inside curl */
    unsigned                  collecting:1;
    unsigned                  closing:1;    /* no new transfers */
};


static crm_xfer_t *crm_curl_xfer(crm_curl_t *c, ngx_pool_t *pool,
    ngx_log_t *log, ngx_str_t *url, const char *scheme, const char *scheme_s,
    ngx_addr_t *addr);
static ngx_int_t crm_curl_pin(crm_xfer_t *x, CURLU *u, ngx_addr_t *addr,
    ngx_str_t *url);
static char *crm_curl_cstr(ngx_pool_t *pool, ngx_str_t *s);
static void crm_curl_xfer_cleanup(void *data);
static void crm_curl_free_easy(crm_xfer_t *x);
static ngx_int_t crm_curl_add(crm_xfer_t *x);
static void crm_curl_wake(ngx_event_t *ev);
static void crm_curl_action(crm_curl_t *c, curl_socket_t fd, int mask);
static void crm_curl_collect(crm_curl_t *c);
static void crm_curl_finish(crm_xfer_t *x, CURLcode result);
static void crm_curl_outcome(crm_xfer_t *x);
static void crm_curl_fail_all(crm_curl_t *c, const char *why);
static void crm_curl_cancelable(crm_curl_t *c);
static void crm_curl_forget(crm_xfer_t *x);
static ngx_uint_t crm_curl_full(crm_curl_t *c);
static ngx_int_t crm_curl_task_create(crm_xfer_t *x, ngx_str_t *message);
static ngx_int_t crm_curl_task_post(crm_xfer_t *x);
static void crm_curl_task_done(ngx_event_t *ev);
static void crm_curl_task_free(crm_curl_task_t *t);
static void crm_curl_hold(crm_curl_t *c);
static void crm_curl_hold_handler(ngx_event_t *ev);

static int crm_curl_socket_cb(CURL *easy, curl_socket_t s, int what,
    void *userp, void *socketp);
static int crm_curl_timer_cb(CURLM *multi, long timeout_ms, void *userp);
static void crm_curl_timer_handler(ngx_event_t *ev);
static void crm_curl_read_handler(ngx_event_t *ev);
static void crm_curl_write_handler(ngx_event_t *ev);
static void crm_curl_sock_event(ngx_event_t *ev, int mask);
static ngx_int_t crm_curl_sock_events(crm_curl_sock_t *sock, ngx_uint_t rd,
    ngx_uint_t wr);
static crm_curl_sock_t *crm_curl_sock_find(crm_curl_t *c, curl_socket_t fd);
static void crm_curl_sock_free(crm_curl_sock_t *sock);

static curl_socket_t crm_curl_open_socket(void *clientp,
    curlsocktype purpose, struct curl_sockaddr *address);
static int crm_curl_close_socket(void *clientp, curl_socket_t fd);
static size_t crm_curl_write_cb(char *ptr, size_t size, size_t nmemb,
    void *userdata);

/* run in the thread */
static void crm_curl_task_run(void *data, ngx_log_t *log);
static int crm_curl_task_progress(void *clientp, curl_off_t dltotal,
    curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow);
static ngx_msec_t crm_curl_task_now(void);
static void crm_curl_task_watch(ngx_event_t *ev);
static curl_socket_t crm_curl_task_socket(void *clientp,
    curlsocktype purpose, struct curl_sockaddr *address);
static int crm_curl_task_close(void *clientp, curl_socket_t fd);
static int crm_curl_task_debug(CURL *easy, curl_infotype type, char *data,
    size_t size, void *userp);
static void crm_curl_task_reply(crm_curl_task_t *t, u_char *p, size_t n);
static void crm_curl_task_out(crm_curl_task_t *t, u_char *p, size_t n);
static size_t crm_curl_task_read(char *buf, size_t size, size_t nitems,
    void *userdata);


crm_curl_t *
crm_curl_create(ngx_cycle_t *cycle, crm_curl_conf_t *conf)
{
    crm_curl_t  *c;

    c = ngx_pcalloc(cycle->pool, sizeof(crm_curl_t));
    if (c == NULL) {
        return NULL;
    }

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "crm: curl_global_init() failed");
        return NULL;
    }

    c->multi = curl_multi_init();
    if (c->multi == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "crm: curl_multi_init() failed");
        curl_global_cleanup();
        return NULL;
    }

    c->conf = conf;
    c->pool = cycle->pool;
    c->log = cycle->log;

    ngx_queue_init(&c->socks);
    ngx_queue_init(&c->free);
    ngx_queue_init(&c->running);
    ngx_queue_init(&c->waiting);
    ngx_queue_init(&c->tasks);

    c->timer.handler = crm_curl_timer_handler;
    c->timer.data = c;
    c->timer.log = cycle->log;
    c->timer.cancelable = 1;

    c->wake.handler = crm_curl_wake;
    c->wake.data = c;
    c->wake.log = cycle->log;

    c->hold.handler = crm_curl_hold_handler;
    c->hold.data = c;
    c->hold.log = cycle->log;

    /* curl_global_init() above, before any thread uses curl */

    if (curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION,
                          crm_curl_socket_cb) != CURLM_OK
        || curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c) != CURLM_OK
        || curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION,
                             crm_curl_timer_cb) != CURLM_OK
        || curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c) != CURLM_OK
        || curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, 0L) != CURLM_OK)
    {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0,
                      "crm: curl_multi_setopt() failed");
        curl_multi_cleanup(c->multi);
        curl_global_cleanup();
        return NULL;
    }

    return c;
}


void
crm_curl_destroy(crm_curl_t *c)
{
    ngx_queue_t      *q;
    crm_xfer_t       *x;
    crm_curl_sock_t  *sock;
    crm_curl_task_t  *t;

    if (c == NULL || c->multi == NULL) {
        return;
    }

    c->closing = 1;

    /*
     * SMTP tasks whose completion has not been seen (a fast shutdown, or
     * worker_shutdown_timeout): detached, and their memory deliberately
     * never freed.  ngx_thread_pool_module, a core module, comes before
     * this one in the modules' order, so its exit_process has already
     * waited for every queued task and stopped the threads; were it not
     * so, a thread could still be using the task.  The process is
     * exiting: a few kilobytes per task are left behind rather than
     * freed under a thread.
     */

    while (!ngx_queue_empty(&c->tasks)) {
        q = ngx_queue_head(&c->tasks);
        t = ngx_queue_data(q, crm_curl_task_t, queue);
        ngx_queue_remove(q);

        if (t->xfer != NULL) {
            t->xfer->task = NULL;
            t->xfer->state = CRM_XFER_ABORTED;
            t->xfer = NULL;
        }

        c->ntasks--;
    }

    if (c->hold.timer_set) {
        ngx_del_timer(&c->hold);
    }

    /*
     * Sockets shut down first: nothing curl_multi_cleanup() does with
     * them may wait for a peer.
     */

    for (q = ngx_queue_head(&c->socks);
         q != ngx_queue_sentinel(&c->socks);
         q = ngx_queue_next(q))
    {
        sock = ngx_queue_data(q, crm_curl_sock_t, queue);
        (void) shutdown(sock->fd, SHUT_RDWR);
    }

    while (!ngx_queue_empty(&c->running)) {
        q = ngx_queue_head(&c->running);
        x = ngx_queue_data(q, crm_xfer_t, queue);
        crm_curl_abort(x);
    }

    while (!ngx_queue_empty(&c->waiting)) {
        q = ngx_queue_head(&c->waiting);
        x = ngx_queue_data(q, crm_xfer_t, queue);
        crm_curl_abort(x);
    }

    if (c->timer.timer_set) {
        ngx_del_timer(&c->timer);
    }

    if (c->timer.posted) {
        ngx_delete_posted_event(&c->timer);
    }

    if (c->wake.posted) {
        ngx_delete_posted_event(&c->wake);
    }

    c->busy++;
    curl_multi_cleanup(c->multi);
    c->busy--;
    c->multi = NULL;

    /* curl closed its sockets through crm_curl_close_socket() */

    while (!ngx_queue_empty(&c->socks)) {
        q = ngx_queue_head(&c->socks);
        sock = ngx_queue_data(q, crm_curl_sock_t, queue);

        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "crm: curl left socket %d open", (int) sock->fd);

        crm_curl_sock_free(sock);
    }

    if (c->timer.timer_set) {
        ngx_del_timer(&c->timer);
    }

    if (c->timer.posted) {
        ngx_delete_posted_event(&c->timer);
    }

    curl_global_cleanup();
}


crm_xfer_t *
crm_curl_smtp(crm_curl_t *c, ngx_pool_t *pool, ngx_log_t *log,
    ngx_str_t *url, ngx_addr_t *addr, ngx_uint_t starttls, ngx_str_t *user,
    ngx_str_t *password, ngx_str_t *mail_from, ngx_str_t *rcpt,
    ngx_str_t *message)
{
    long              ssl;
    char             *from, *to, *u, *p;
    CURL             *e;
    CURLcode          rc;
    ngx_str_t         empty = ngx_string("");
    crm_xfer_t       *x;
    crm_curl_task_t  *t;

    x = crm_curl_xfer(c, pool, log, url, "smtp", "smtps", addr);
    if (x == NULL) {
        return NULL;
    }

    x->smtp = 1;

    if (c->conf->thread_pool == NULL) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "crm: no thread pool for SMTP transfers");
        goto failed;
    }

    if (crm_curl_task_create(x, message) != NGX_OK) {
        goto failed;
    }

    t = x->task;
    e = t->easy;

    /* curl copies string options: these may live in the caller's pool */

    from = crm_curl_cstr(pool, mail_from);
    to = crm_curl_cstr(pool, rcpt);

    if (from == NULL || to == NULL) {
        goto failed;
    }

    t->rcpt = curl_slist_append(NULL, to);
    if (t->rcpt == NULL) {
        goto failed;
    }

    switch (starttls) {
    case CRM_CURL_TLS_REQUIRE:
        ssl = CURLUSESSL_ALL;
        break;
    case CRM_CURL_TLS_TRY:
        ssl = CURLUSESSL_TRY;
        break;
    default:
        ssl = CURLUSESSL_NONE;
    }

    /* the thread's callbacks, on the task, not on x */

    rc = curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION,
                              crm_curl_task_socket);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION,
                              crm_curl_task_close);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, t);
    }

    /*
     * Time: everything before the message's end within the transfer's
     * timeout, the reply to the message's end within data_timeout (RFC
     * 5321 4.5.3.2.6 gives a relay 10 minutes there: a client that gives
     * up earlier makes the relay's late "250" a second copy, sent again
     * at the retry).  curl has one timeout for every reply, and its
     * reply waits see the transfer's timeout only when the relay sends
     * something.  So the task's progress callback (called about once a
     * second while curl drives the exchange) keeps the transfer's, and
     * the event loop's watch (crm_curl_task_watch()) the reply's, which
     * curl awaits without calling it; a reply that comes is taken.
     * curl's own timeouts are the outer bounds.
     */

    t->timeout = c->conf->timeout;
    t->data_timeout = c->conf->data_timeout;

    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_SERVER_RESPONSE_TIMEOUT,
                              (long) (ngx_max(t->timeout, t->data_timeout)
                                      + 999) / 1000);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                              (long) (t->timeout + t->data_timeout));
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION,
                              crm_curl_task_progress);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_XFERINFODATA, t);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "smtp,smtps");
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_USE_SSL, ssl);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_MAIL_FROM, from);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_MAIL_RCPT, t->rcpt);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_READFUNCTION, crm_curl_task_read);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_READDATA, t);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
                              (curl_off_t) t->len);
    }

    /* the reply texts and the commands sent, through the debug callback */

    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_VERBOSE, 1L);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_DEBUGFUNCTION, crm_curl_task_debug);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_DEBUGDATA, t);
    }

    if (rc == CURLE_OK && user != NULL && user->len > 0) {
        u = crm_curl_cstr(pool, user);
        p = crm_curl_cstr(pool, password != NULL ? password : &empty);
        if (u == NULL || p == NULL) {
            goto failed;
        }

        rc = curl_easy_setopt(e, CURLOPT_USERNAME, u);
        if (rc == CURLE_OK) {
            rc = curl_easy_setopt(e, CURLOPT_PASSWORD, p);
        }
    }

    if (rc != CURLE_OK) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "crm: curl_easy_setopt() failed: %s",
                      curl_easy_strerror(rc));
        goto failed;
    }

    return x;

failed:

    crm_curl_abort(x);
    return NULL;
}


crm_xfer_t *
crm_curl_post(crm_curl_t *c, ngx_pool_t *pool, ngx_log_t *log,
    ngx_str_t *url, ngx_addr_t *addr, ngx_array_t *headers, ngx_str_t *body)
{
    char               *h;
    CURL               *e;
    CURLcode            rc;
    ngx_str_t          *hs;
    ngx_uint_t          i;
    crm_xfer_t         *x;
    struct curl_slist  *l;

    x = crm_curl_xfer(c, pool, log, url, "http", "https", addr);
    if (x == NULL) {
        return NULL;
    }

    e = x->easy;

    /* no "Expect: 100-continue" wait, whatever the size */

    x->headers = curl_slist_append(NULL, "Expect:");
    if (x->headers == NULL) {
        goto failed;
    }

    if (headers != NULL) {
        hs = headers->elts;

        for (i = 0; i < headers->nelts; i++) {
            h = crm_curl_cstr(pool, &hs[i]);
            if (h == NULL) {
                goto failed;
            }

            l = curl_slist_append(x->headers, h);
            if (l == NULL) {
                goto failed;
            }

            x->headers = l;
        }
    }

    rc = curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_POST, 1L);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_POSTFIELDS,
                              body->len ? (char *) body->data : "");
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                              (curl_off_t) body->len);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, crm_curl_write_cb);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
    }

    /* a response that announces more than we keep and discard: refused */

    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE,
                              (curl_off_t) (c->conf->max_response
                                            + CRM_CURL_DISCARD_MAX));
    }

    if (rc != CURLE_OK) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "crm: curl_easy_setopt() failed: %s",
                      curl_easy_strerror(rc));
        goto failed;
    }

    return x;

failed:

    crm_curl_abort(x);
    return NULL;
}


/* the easy handle with what every transfer has */

static crm_xfer_t *
crm_curl_xfer(crm_curl_t *c, ngx_pool_t *pool, ngx_log_t *log,
    ngx_str_t *url, const char *scheme, const char *scheme_s,
    ngx_addr_t *addr)
{
    char                *s, *got;
    CURL                *e;
    CURLU               *u;
    CURLcode             rc;
    CURLUcode            uc;
    crm_xfer_t          *x;
    struct curl_blob     blob;
    ngx_pool_cleanup_t  *cln;

    if (c == NULL || c->closing) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "crm: no outbound client");
        return NULL;
    }

    x = ngx_pcalloc(pool, sizeof(crm_xfer_t));
    if (x == NULL) {
        return NULL;
    }

    cln = ngx_pool_cleanup_add(pool, 0);
    if (cln == NULL) {
        return NULL;
    }

    x->curl = c;
    x->pool = pool;
    x->log = log;
    x->state = CRM_XFER_NEW;

    cln->handler = crm_curl_xfer_cleanup;
    cln->data = x;

    s = crm_curl_cstr(pool, url);
    if (s == NULL) {
        return NULL;
    }

    u = curl_url();
    if (u == NULL) {
        return NULL;
    }

    got = NULL;

    uc = curl_url_set(u, CURLUPART_URL, s, 0);
    if (uc == CURLUE_OK) {
        uc = curl_url_get(u, CURLUPART_SCHEME, &got, 0);
    }

    if (uc != CURLUE_OK) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "crm: bad URL \"%V\": %s",
                      url, curl_url_strerror(uc));
        curl_url_cleanup(u);
        return NULL;
    }

    if (ngx_strcmp(got, scheme) != 0 && ngx_strcmp(got, scheme_s) != 0) {
        ngx_log_error(NGX_LOG_ERR, log, 0,
                      "crm: URL \"%V\" is not %s:// or %s://",
                      url, scheme, scheme_s);
        curl_free(got);
        curl_url_cleanup(u);
        return NULL;
    }

    curl_free(got);

    if (crm_curl_pin(x, u, addr, url) != NGX_OK) {
        curl_url_cleanup(u);
        return NULL;
    }

    curl_url_cleanup(u);

    e = curl_easy_init();
    if (e == NULL) {
        ngx_log_error(NGX_LOG_ALERT, log, 0, "crm: curl_easy_init() failed");
        return NULL;
    }

    x->easy = e;

    rc = curl_easy_setopt(e, CURLOPT_URL, s);
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_PRIVATE, x);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->error);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_PROXY, "");
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                              (long) c->conf->connect_timeout);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                              (long) c->conf->timeout);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_DNS_CACHE_TIMEOUT, 0L);
    }
    if (rc == CURLE_OK && x->resolve != NULL) {
        rc = curl_easy_setopt(e, CURLOPT_RESOLVE, x->resolve);
    }

    /*
     * crm_outbound_trusted_certificate: those certificates alone, from
     * memory (the configuration's, which outlives every transfer); no CA
     * file or path of the system's
     */

    if (rc == CURLE_OK && c->conf->trusted.len > 0) {
        blob.data = c->conf->trusted.data;
        blob.len = c->conf->trusted.len;
        blob.flags = CURL_BLOB_NOCOPY;

        rc = curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
        if (rc == CURLE_OK) {
            rc = curl_easy_setopt(e, CURLOPT_CAINFO, NULL);
        }
        if (rc == CURLE_OK) {
            rc = curl_easy_setopt(e, CURLOPT_CAPATH, NULL);

            if (rc == CURLE_NOT_BUILT_IN) {
                /* a TLS library without CA paths has none to drop */
                rc = CURLE_OK;
            }
        }
    }

    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION,
                              crm_curl_open_socket);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, x);
    }

    /* connections outlive transfers: the close callback gets the client */

    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION,
                              crm_curl_close_socket);
    }
    if (rc == CURLE_OK) {
        rc = curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, c);
    }

    if (rc != CURLE_OK) {
        ngx_log_error(NGX_LOG_ALERT, log, 0,
                      "crm: curl_easy_setopt() failed: %s",
                      curl_easy_strerror(rc));
        crm_curl_free_easy(x);
        return NULL;
    }

    return x;
}


/*
 * An IP literal needs no address; a name needs one, pinned as
 * "host:port:address" in CURLOPT_RESOLVE.  Nothing is ever resolved.
 */

static ngx_int_t
crm_curl_pin(crm_xfer_t *x, CURLU *u, ngx_addr_t *addr, ngx_str_t *url)
{
    char       *host, *port;
    u_char     *p, *last, ip[NGX_SOCKADDR_STRLEN + 1], buf[NGX_MAXHOSTNAMELEN
                                                          + 128];
    size_t      len, n;
    in_addr_t   a4;
    CURLUcode   uc;
#if (NGX_HAVE_INET6)
    u_char      a6[16];
#endif

    host = NULL;
    port = NULL;

    uc = curl_url_get(u, CURLUPART_HOST, &host, 0);
    if (uc == CURLUE_OK) {
        uc = curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
    }

    if (uc != CURLUE_OK) {
        ngx_log_error(NGX_LOG_ERR, x->log, 0, "crm: bad URL \"%V\": %s",
                      url, curl_url_strerror(uc));
        goto failed;
    }

    len = ngx_strlen(host);

    if (len > 2 && host[0] == '[' && host[len - 1] == ']') {
        /* an IPv6 literal, maybe with a zone: no pin */
        curl_free(host);
        curl_free(port);
        return NGX_OK;
    }

    a4 = ngx_inet_addr((u_char *) host, len);
    if (a4 != INADDR_NONE) {
        curl_free(host);
        curl_free(port);
        return NGX_OK;
    }

#if (NGX_HAVE_INET6)
    if (ngx_inet6_addr((u_char *) host, len, a6) == NGX_OK) {
        curl_free(host);
        curl_free(port);
        return NGX_OK;
    }
#endif

    if (addr == NULL) {
        ngx_log_error(NGX_LOG_ERR, x->log, 0,
                      "crm: URL \"%V\" names a host, and no address was "
                      "resolved for it", url);
        goto failed;
    }

    n = ngx_sock_ntop(addr->sockaddr, addr->socklen, ip, NGX_SOCKADDR_STRLEN,
                      0);
    if (n == 0 || len + ngx_strlen(port) + n + 8 > sizeof(buf)) {
        ngx_log_error(NGX_LOG_ERR, x->log, 0,
                      "crm: cannot pin an address for \"%V\"", url);
        goto failed;
    }

    last = buf + sizeof(buf) - 1;

    if (addr->sockaddr->sa_family == AF_INET6) {
        p = ngx_slprintf(buf, last, "%s:%s:[%*s]", host, port, n, ip);

    } else {
        p = ngx_slprintf(buf, last, "%s:%s:%*s", host, port, n, ip);
    }

    *p = '\0';

    x->resolve = curl_slist_append(NULL, (char *) buf);
    if (x->resolve == NULL) {
        goto failed;
    }

    curl_free(host);
    curl_free(port);
    return NGX_OK;

failed:

    curl_free(host);
    curl_free(port);
    return NGX_ERROR;
}


static char *
crm_curl_cstr(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char  *p;

    p = ngx_pnalloc(pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    ngx_memcpy(p, s->data, s->len);
    p[s->len] = '\0';

    return (char *) p;
}


ngx_int_t
crm_curl_start(crm_xfer_t *x, crm_xfer_handler_pt h, void *data)
{
    crm_curl_t  *c;

    c = x->curl;

    if (x->state != CRM_XFER_NEW || (x->easy == NULL && x->task == NULL)) {
        ngx_log_error(NGX_LOG_ALERT, x->log, 0,
                      "crm: outbound transfer started twice");
        return NGX_ERROR;
    }

    if (c->closing) {
        ngx_log_error(NGX_LOG_ERR, x->log, 0,
                      "crm: outbound transfer while the worker exits");
        return NGX_ERROR;
    }

    x->handler = h;
    x->data = data;

    if (crm_curl_full(c) || !ngx_queue_empty(&c->waiting)) {
        x->state = CRM_XFER_WAITING;
        ngx_queue_insert_tail(&c->waiting, &x->queue);

        if (!crm_curl_full(c) && !c->wake.posted) {
            ngx_post_event(&c->wake, &ngx_posted_next_events);
        }

        return NGX_OK;
    }

    return crm_curl_add(x);
}


void
crm_curl_abort(crm_xfer_t *x)
{
    crm_curl_t  *c;

    c = x->curl;

    switch (x->state) {

    case CRM_XFER_RUNNING:
        if (x->task != NULL) {

            /* a thread runs it: detached, freed at its completion */

            x->task->xfer = NULL;
            x->task = NULL;
            break;
        }

        if (c->busy) {
            ngx_log_error(NGX_LOG_ALERT, x->log, 0,
                          "crm: outbound transfer aborted inside curl");
        }

        (void) curl_multi_remove_handle(c->multi, x->easy);
        ngx_queue_remove(&x->queue);
        c->nrunning--;
        crm_curl_cancelable(c);

        if (!ngx_queue_empty(&c->waiting) && !c->closing
            && !c->wake.posted)
        {
            ngx_post_event(&c->wake, &ngx_posted_next_events);
        }

        break;

    case CRM_XFER_WAITING:
        ngx_queue_remove(&x->queue);
        break;

    case CRM_XFER_NEW:
        break;

    default:
        return;
    }

    crm_curl_free_easy(x);
    x->state = CRM_XFER_ABORTED;
}


static void
crm_curl_xfer_cleanup(void *data)
{
    crm_xfer_t  *x = data;

    crm_curl_abort(x);
}


static void
crm_curl_free_easy(crm_xfer_t *x)
{
    crm_curl_forget(x);

    /* a task not posted, or one done: no thread has it */

    if (x->task != NULL) {
        crm_curl_task_free(x->task);
        x->task = NULL;
    }

    if (x->easy != NULL) {
        curl_easy_cleanup(x->easy);
        x->easy = NULL;
    }

    if (x->headers != NULL) {
        curl_slist_free_all(x->headers);
        x->headers = NULL;
    }

    if (x->resolve != NULL) {
        curl_slist_free_all(x->resolve);
        x->resolve = NULL;
    }
}


static ngx_int_t
crm_curl_add(crm_xfer_t *x)
{
    crm_curl_t  *c;
    CURLMcode    rc;

    c = x->curl;

    if (x->task != NULL) {
        return crm_curl_task_post(x);
    }

    x->start = ngx_current_msec;

    rc = curl_multi_add_handle(c->multi, x->easy);
    if (rc != CURLM_OK) {
        ngx_log_error(NGX_LOG_ALERT, x->log, 0,
                      "crm: curl_multi_add_handle() failed: %s",
                      curl_multi_strerror(rc));
        return NGX_ERROR;
    }

    x->state = CRM_XFER_RUNNING;
    ngx_queue_insert_tail(&c->running, &x->queue);
    c->nrunning++;
    crm_curl_cancelable(c);

    /* curl asked for a timeout of 0 ms: the timer event is posted */

    return NGX_OK;
}


/* a posted event: the waiting transfers that fit now */

static void
crm_curl_wake(ngx_event_t *ev)
{
    crm_curl_t  *c = ev->data;

    ngx_queue_t  *q;
    crm_xfer_t   *x;

    while (!c->closing && !crm_curl_full(c)
           && !ngx_queue_empty(&c->waiting))
    {
        q = ngx_queue_head(&c->waiting);
        x = ngx_queue_data(q, crm_xfer_t, queue);
        ngx_queue_remove(q);

        if (crm_curl_add(x) != NGX_OK) {
            crm_curl_free_easy(x);
            x->state = CRM_XFER_DONE;
            x->result = CURLE_FAILED_INIT;
            x->outcome = CRM_CURL_TEMPORARY;
            ngx_cpystrn((u_char *) x->error,
                        (u_char *) "cannot start the transfer",
                        CURL_ERROR_SIZE);
            x->handler(x);
        }
    }
}


static void
crm_curl_action(crm_curl_t *c, curl_socket_t fd, int mask)
{
    int        running;
    CURLMcode  rc;

    if (c->multi == NULL) {
        return;
    }

    c->busy++;
    rc = curl_multi_socket_action(c->multi, fd, mask, &running);
    c->busy--;

    if (rc != CURLM_OK) {
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "crm: curl_multi_socket_action() failed: %s",
                      curl_multi_strerror(rc));
    }

    crm_curl_collect(c);
}


/* the finished transfers, each handler called after curl is done with it */

static void
crm_curl_collect(crm_curl_t *c)
{
    int          left;
    CURL        *e;
    CURLMsg     *msg;
    CURLcode     result;
    crm_xfer_t  *x;

    if (c->collecting) {
        return;
    }

    c->collecting = 1;

    while (c->multi != NULL) {
        msg = curl_multi_info_read(c->multi, &left);
        if (msg == NULL) {
            break;
        }

        if (msg->msg != CURLMSG_DONE) {
            continue;
        }

        e = msg->easy_handle;
        result = msg->data.result;
        x = NULL;

        if (curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **) &x) != CURLE_OK
            || x == NULL || x->easy != e || x->state != CRM_XFER_RUNNING)
        {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "crm: curl finished an unknown transfer");
            (void) curl_multi_remove_handle(c->multi, e);
            continue;
        }

        crm_curl_finish(x, result);
    }

    c->collecting = 0;
}


static void
crm_curl_finish(crm_xfer_t *x, CURLcode result)
{
    long         status;
    crm_curl_t  *c;
    curl_off_t   total;

    c = x->curl;

    status = 0;
    (void) curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &status);

    /* curl's clock: the transfer's own time */

    total = 0;
    (void) curl_easy_getinfo(x->easy, CURLINFO_TOTAL_TIME_T, &total);

    (void) curl_multi_remove_handle(c->multi, x->easy);
    ngx_queue_remove(&x->queue);
    c->nrunning--;
    crm_curl_cancelable(c);

    crm_curl_free_easy(x);

    x->state = CRM_XFER_DONE;
    x->result = result;
    x->status = status;
    x->elapsed = (ngx_msec_t) (total / 1000);

    if (x->body != NULL) {
        x->response.data = x->body;
        x->response.len = x->body_len;
    }

    x->reply.data = x->reply_buf;
    x->reply.len = x->reply_len;

    if (result == CURLE_OK) {
        x->error[0] = '\0';

    } else if (x->refused) {
        ngx_snprintf((u_char *) x->error, CURL_ERROR_SIZE - 1,
                     "address %*s refused: %s%Z",
                     x->refused_len, x->refused_addr, x->refused_reason);
    }

    crm_curl_outcome(x);

    if (!ngx_queue_empty(&c->waiting) && !c->wake.posted) {
        ngx_post_event(&c->wake, &ngx_posted_next_events);
    }

    ngx_log_debug5(NGX_LOG_DEBUG_EVENT, x->log, 0,
                   "crm curl done: %d status:%l outcome:%ui %Mms \"%s\"",
                   (int) result, x->status, x->outcome, x->elapsed,
                   x->error);

    x->handler(x);
}


static void
crm_curl_outcome(crm_xfer_t *x)
{
    if (!x->smtp) {
        x->outcome = (x->result == CURLE_OK) ? CRM_CURL_OK
                                              : CRM_CURL_TEMPORARY;
        if (x->result != CURLE_OK && x->status < 100) {
            x->status = 0;
        }

        return;
    }

    if (x->result == CURLE_OK) {
        x->outcome = CRM_CURL_OK;
        return;
    }

    x->outcome = CRM_CURL_TEMPORARY;

    if (x->status < 400 || x->status > 599) {

        /* a network error, a timeout, a refused address */

        x->status = 0;
        return;
    }

    if (x->status >= 500
        && (x->stage == CRM_CURL_SMTP_RCPT
            || x->stage == CRM_CURL_SMTP_DATA
            || x->stage == CRM_CURL_SMTP_BODY))
    {
        x->outcome = CRM_CURL_PERMANENT;
    }
}


/* worker_shutdown_timeout: the running transfers end now */

static void
crm_curl_fail_all(crm_curl_t *c, const char *why)
{
    ngx_queue_t  *q;
    crm_xfer_t   *x;

    c->closing = 1;

    /* each handler may abort others: the queues are read again each time */

    for ( ;; ) {
        if (!ngx_queue_empty(&c->running)) {
            q = ngx_queue_head(&c->running);
            x = ngx_queue_data(q, crm_xfer_t, queue);

            (void) curl_multi_remove_handle(c->multi, x->easy);
            c->nrunning--;

        } else if (!ngx_queue_empty(&c->waiting)) {
            q = ngx_queue_head(&c->waiting);
            x = ngx_queue_data(q, crm_xfer_t, queue);
            x->start = ngx_current_msec;

        } else {
            break;
        }

        ngx_queue_remove(q);
        crm_curl_free_easy(x);
        crm_curl_cancelable(c);

        x->state = CRM_XFER_DONE;
        x->result = CURLE_ABORTED_BY_CALLBACK;
        x->status = 0;
        x->outcome = CRM_CURL_TEMPORARY;
        x->elapsed = ngx_current_msec - x->start;
        x->reply.data = x->reply_buf;
        x->reply.len = x->reply_len;
        ngx_cpystrn((u_char *) x->error, (u_char *) why, CURL_ERROR_SIZE);

        x->handler(x);
    }
}


/*
 * A gracefully exiting worker waits for the timers that are not
 * cancelable: the running transfers' timer is one.
 */

static void
crm_curl_cancelable(crm_curl_t *c)
{
    c->timer.cancelable = (c->nrunning == 0);
}


/* no socket names x as its user any more: x's memory may be reused */

static void
crm_curl_forget(crm_xfer_t *x)
{
    ngx_queue_t      *q;
    crm_curl_sock_t  *sock;

    for (q = ngx_queue_head(&x->curl->socks);
         q != ngx_queue_sentinel(&x->curl->socks);
         q = ngx_queue_next(q))
    {
        sock = ngx_queue_data(q, crm_curl_sock_t, queue);

        if (sock->xfer == x) {
            sock->xfer = NULL;
        }
    }
}


static int
crm_curl_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp,
    void *socketp)
{
    crm_curl_t  *c = userp;

    crm_xfer_t       *x;
    crm_curl_sock_t  *sock;

    sock = crm_curl_sock_find(c, s);

    if (sock == NULL) {
        if (what != CURL_POLL_REMOVE) {
            ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                          "crm: curl polls socket %d it did not open here",
                          (int) s);
        }

        /* a socket not ours: never touch its fd number */

        return 0;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_EVENT, c->log, 0,
                   "crm curl socket %d: %d", (int) s, what);

    if (what == CURL_POLL_REMOVE) {
        sock->xfer = NULL;
        (void) crm_curl_sock_events(sock, 0, 0);
        return 0;
    }

    x = NULL;

    if (curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **) &x) == CURLE_OK
        && x != NULL && x->easy == easy)
    {
        sock->xfer = x;
    }

    if (crm_curl_sock_events(sock, what & CURL_POLL_IN, what & CURL_POLL_OUT)
        != NGX_OK)
    {
        /* the transfer times out: failing the callback kills the multi */
        ngx_log_error(NGX_LOG_ALERT, c->log, 0,
                      "crm: cannot watch curl's socket %d", (int) s);
    }

    return 0;
}


static ngx_int_t
crm_curl_sock_events(crm_curl_sock_t *sock, ngx_uint_t rd, ngx_uint_t wr)
{
    ngx_event_t       *rev, *wev;
    ngx_connection_t  *c;

    c = sock->conn;
    rev = c->read;
    wev = c->write;

    /* level-triggered, as curl expects, unlike nginx's own connections */

    if (rd && !rev->active) {
        if (ngx_add_event(rev, NGX_READ_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (!rd && rev->active) {
        if (ngx_del_event(rev, NGX_READ_EVENT, 0) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    if (wr && !wev->active) {
        if (ngx_add_event(wev, NGX_WRITE_EVENT, NGX_LEVEL_EVENT) != NGX_OK) {
            return NGX_ERROR;
        }

    } else if (!wr && wev->active) {
        if (ngx_del_event(wev, NGX_WRITE_EVENT, 0) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static int
crm_curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    crm_curl_t  *c = userp;

    ngx_event_t  *ev;

    ev = &c->timer;

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, c->log, 0,
                   "crm curl timer: %l", timeout_ms);

    if (timeout_ms < 0 || c->multi == NULL) {
        if (ev->timer_set) {
            ngx_del_timer(ev);
        }

        if (ev->posted) {
            ngx_delete_posted_event(ev);
        }

        return 0;
    }

    if (timeout_ms == 0) {

        /*
         * "now": not from here, but at once after the current handler.
         * ngx_posted_next_events, not ngx_posted_events: nginx waits for
         * I/O without a timeout when only the latter has events, so a
         * transfer started outside an event handler (init_process)
         * would not begin until some other event came.
         */

        if (ev->timer_set) {
            ngx_del_timer(ev);
        }

        if (!ev->posted) {
            ngx_post_event(ev, &ngx_posted_next_events);
        }

        return 0;
    }

    if (ev->posted) {
        ngx_delete_posted_event(ev);
    }

    /* exactly when asked: ngx_add_timer() alone keeps a timer set within
       NGX_TIMER_LAZY_DELAY of the new one */

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    ngx_add_timer(ev, (ngx_msec_t) timeout_ms);

    return 0;
}


static void
crm_curl_timer_handler(ngx_event_t *ev)
{
    crm_curl_t  *c = ev->data;

    crm_curl_action(c, CURL_SOCKET_TIMEOUT, 0);
}


static void
crm_curl_read_handler(ngx_event_t *ev)
{
    crm_curl_sock_event(ev, CURL_CSELECT_IN);
}


static void
crm_curl_write_handler(ngx_event_t *ev)
{
    crm_curl_sock_event(ev, CURL_CSELECT_OUT);
}


static void
crm_curl_sock_event(ngx_event_t *ev, int mask)
{
    crm_curl_t        *curl;
    curl_socket_t      fd;
    crm_curl_sock_t   *sock;
    ngx_connection_t  *c;

    c = ev->data;
    sock = c->data;
    curl = sock->curl;
    fd = sock->fd;

    if (c->close) {

        /* worker_shutdown_timeout: nginx closes what is left */

        c->close = 0;
        crm_curl_fail_all(curl, "the worker is exiting");
        return;
    }

    /* the connection may be gone when this returns: c, sock not used */

    crm_curl_action(curl, fd, mask);
}


static crm_curl_sock_t *
crm_curl_sock_find(crm_curl_t *c, curl_socket_t fd)
{
    ngx_queue_t      *q;
    crm_curl_sock_t  *sock;

    for (q = ngx_queue_head(&c->socks);
         q != ngx_queue_sentinel(&c->socks);
         q = ngx_queue_next(q))
    {
        sock = ngx_queue_data(q, crm_curl_sock_t, queue);

        if (sock->fd == fd) {
            return sock;
        }
    }

    return NULL;
}


/* removes the events and frees the nginx connection; the fd stays open */

static void
crm_curl_sock_free(crm_curl_sock_t *sock)
{
    ngx_connection_t  *c;

    c = sock->conn;

    if (c->read->active || c->write->active) {
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
    c->fd = (ngx_socket_t) -1;

    ngx_queue_remove(&sock->queue);
    ngx_queue_insert_head(&sock->curl->free, &sock->queue);

    sock->conn = NULL;
    sock->xfer = NULL;
    sock->fd = CURL_SOCKET_BAD;
}


/*
 * CURLOPT_OPENSOCKETFUNCTION: the address policy, then the socket and
 * its nginx connection.  curl makes it non-blocking.
 */

static curl_socket_t
crm_curl_open_socket(void *clientp, curlsocktype purpose,
    struct curl_sockaddr *address)
{
    crm_xfer_t  *x = clientp;

    int                type;
    size_t             n;
    u_char             text[NGX_SOCKADDR_STRLEN];
    crm_curl_t        *c;
    const char        *reason;
    ngx_queue_t       *q;
    curl_socket_t      fd;
    crm_curl_sock_t   *sock;
    ngx_connection_t  *conn;

    c = x->curl;

    if (purpose != CURLSOCKTYPE_IPCXN) {
        return CURL_SOCKET_BAD;
    }

    if (crm_addr_allowed(&address->addr, address->addrlen, c->conf->allow,
                         &reason)
        != NGX_OK)
    {
        n = ngx_sock_ntop(&address->addr, address->addrlen, text,
                          NGX_SOCKADDR_STRLEN, 0);

        x->refused = 1;
        x->refused_reason = reason;
        x->refused_len = ngx_cpymem(x->refused_addr, text, n)
                         - x->refused_addr;

        ngx_log_error(NGX_LOG_WARN, x->log, 0,
                      "crm: outbound address %*s refused: %s "
                      "(crm_outbound_allow)", n, text, reason);

        return CURL_SOCKET_BAD;
    }

    type = address->socktype;
#ifdef SOCK_CLOEXEC
    type |= SOCK_CLOEXEC;
#endif

    fd = socket(address->family, type, address->protocol);
    if (fd == CURL_SOCKET_BAD) {
        ngx_log_error(NGX_LOG_ERR, x->log, ngx_socket_errno,
                      "crm: socket() for an outbound transfer failed");
        return CURL_SOCKET_BAD;
    }

    if (!ngx_queue_empty(&c->free)) {
        q = ngx_queue_head(&c->free);
        ngx_queue_remove(q);
        sock = ngx_queue_data(q, crm_curl_sock_t, queue);

    } else {
        sock = ngx_pcalloc(c->pool, sizeof(crm_curl_sock_t));
        if (sock == NULL) {
            (void) close(fd);
            return CURL_SOCKET_BAD;
        }
    }

    conn = ngx_get_connection(fd, c->log);
    if (conn == NULL) {
        ngx_queue_insert_head(&c->free, &sock->queue);
        (void) close(fd);
        ngx_cpystrn((u_char *) x->error,
                    (u_char *) "no free nginx connection (worker_connections)",
                    CURL_ERROR_SIZE);
        return CURL_SOCKET_BAD;
    }

    conn->data = sock;
    conn->read->handler = crm_curl_read_handler;
    conn->write->handler = crm_curl_write_handler;
    conn->read->log = c->log;
    conn->write->log = c->log;

    sock->conn = conn;
    sock->curl = c;
    sock->xfer = x;
    sock->fd = fd;

    ngx_queue_insert_tail(&c->socks, &sock->queue);

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, c->log, 0,
                   "crm curl socket %d opened", (int) fd);

    return fd;
}


/* CURLOPT_CLOSESOCKETFUNCTION: the nginx connection first, then the fd */

static int
crm_curl_close_socket(void *clientp, curl_socket_t fd)
{
    crm_curl_t  *c = clientp;

    crm_curl_sock_t  *sock;

    ngx_log_debug1(NGX_LOG_DEBUG_EVENT, c->log, 0,
                   "crm curl socket %d closed", (int) fd);

    sock = crm_curl_sock_find(c, fd);
    if (sock != NULL) {
        crm_curl_sock_free(sock);
    }

    return close(fd);
}


/* HTTP: the body kept up to max_response, the rest read and dropped */

static size_t
crm_curl_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    crm_xfer_t  *x = userdata;

    size_t  n, room, max;

    n = size * nmemb;
    max = x->curl->conf->max_response;

    if (x->body == NULL && max > 0) {
        x->body = ngx_pnalloc(x->pool, max);
        if (x->body == NULL) {
            return 0;
        }
    }

    room = max - x->body_len;

    if (n > room) {
        x->truncated = 1;
    }

    if (room > 0) {
        ngx_memcpy(x->body + x->body_len, ptr, ngx_min(n, room));
        x->body_len += ngx_min(n, room);
    }

    return n;
}


/* the transfers running, in the multi and in threads, against the cap */

static ngx_uint_t
crm_curl_full(crm_curl_t *c)
{
    return c->nrunning + c->ntasks >= c->conf->max_transfers;
}


/*
 * The task of an SMTP transfer, in a pool of its own: the easy handle
 * and the pin move there from x, the message is copied there.  The
 * pool is nginx's, created and destroyed on the event loop; the thread
 * only reads and writes memory allocated before it was posted.
 */

static ngx_int_t
crm_curl_task_create(crm_xfer_t *x, ngx_str_t *message)
{
    ngx_pool_t         *pool;
    crm_curl_task_t    *t;
    ngx_thread_task_t  *task;

    pool = ngx_create_pool(CRM_CURL_TASK_POOL, x->curl->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    task = ngx_thread_task_alloc(pool, sizeof(crm_curl_task_t));
    if (task == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    t = task->ctx;

    t->message = ngx_pnalloc(pool, ngx_max(message->len, 1));
    if (t->message == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    ngx_memcpy(t->message, message->data, message->len);
    t->len = message->len;

    t->curl = x->curl;
    t->xfer = x;
    t->pool = pool;
    t->task = task;
    t->allow = x->curl->conf->allow;
    t->fd = CURL_SOCKET_BAD;

    if (pthread_mutex_init(&t->fd_lock, NULL) != 0) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    t->fd_lock_ok = 1;

    t->easy = x->easy;
    x->easy = NULL;
    t->resolve = x->resolve;
    x->resolve = NULL;

    x->task = t;

    return NGX_OK;
}


static ngx_int_t
crm_curl_task_post(crm_xfer_t *x)
{
    crm_curl_t         *c;
    crm_curl_task_t    *t;
    ngx_thread_task_t  *task;

    c = x->curl;
    t = x->task;
    task = t->task;

    task->handler = crm_curl_task_run;
    task->event.handler = crm_curl_task_done;
    task->event.data = t;
    task->event.log = c->log;

    x->start = ngx_current_msec;

    if (ngx_thread_task_post(c->conf->thread_pool, task) != NGX_OK) {
        ngx_log_error(NGX_LOG_ERR, x->log, 0,
                      "crm: an SMTP transfer cannot be given to the thread "
                      "pool (crm_outbound_thread_pool)");
        return NGX_ERROR;
    }

    x->state = CRM_XFER_RUNNING;
    ngx_queue_insert_tail(&c->tasks, &t->queue);

    /* curl's waits for a reply see their timeouts only when data comes */

    t->watch.handler = crm_curl_task_watch;
    t->watch.data = t;
    t->watch.log = c->log;
    t->watch.cancelable = 1;

    ngx_add_timer(&t->watch, t->timeout + 1000);
    c->ntasks++;
    crm_curl_hold(c);

    return NGX_OK;
}


/* the task's completion event, on the event loop: the thread is done */

static void
crm_curl_task_done(ngx_event_t *ev)
{
    crm_curl_task_t  *t = ev->data;

    size_t       n;
    u_char       text[NGX_SOCKADDR_STRLEN];
    crm_xfer_t  *x;
    crm_curl_t  *c;

    c = t->curl;
    x = t->xfer;

    if (t->watch.timer_set) {
        ngx_del_timer(&t->watch);
    }

    ngx_queue_remove(&t->queue);
    c->ntasks--;
    crm_curl_hold(c);

    if (!ngx_queue_empty(&c->waiting) && !c->closing && !c->wake.posted) {
        ngx_post_event(&c->wake, &ngx_posted_next_events);
    }

    if (x == NULL) {

        /* aborted while it ran */

        ngx_log_debug1(NGX_LOG_DEBUG_EVENT, c->log, 0,
                       "crm curl task done, detached: %d", (int) t->result);

        crm_curl_task_free(t);
        return;
    }

    x->task = NULL;
    x->state = CRM_XFER_DONE;
    x->result = t->result;
    x->status = t->status;
    x->stage = t->stage;
    x->elapsed = (ngx_msec_t) (t->total / 1000);

    x->reply_len = t->reply_len;
    ngx_memcpy(x->reply_buf, t->reply_buf, t->reply_len);
    x->reply.data = x->reply_buf;
    x->reply.len = x->reply_len;

    ngx_memcpy(x->error, t->error, CURL_ERROR_SIZE);
    x->error[CURL_ERROR_SIZE - 1] = '\0';

    if (t->timed_out || t->cut) {
        ngx_cpystrn((u_char *) x->error,
                    (u_char *) (t->given ? "no reply to the message's end "
                                               "in time"
                                             : "server response timeout"),
                    CURL_ERROR_SIZE);
    }

    if (t->sock_err) {
        ngx_log_error(NGX_LOG_ERR, x->log, t->sock_err,
                      "crm: socket() for an outbound transfer failed");
    }

    if (t->refused) {
        n = ngx_sock_ntop(&t->refused_addr.sockaddr, t->refused_len, text,
                          NGX_SOCKADDR_STRLEN, 0);

        x->refused = 1;
        x->refused_reason = t->refused_reason;
        x->refused_len = ngx_cpymem(x->refused_addr, text, n)
                         - x->refused_addr;

        ngx_log_error(NGX_LOG_WARN, x->log, 0,
                      "crm: outbound address %*s refused: %s "
                      "(crm_outbound_allow)", n, text, t->refused_reason);
    }

    crm_curl_task_free(t);

    if (x->result == CURLE_OK) {
        x->error[0] = '\0';

    } else if (x->refused) {
        ngx_snprintf((u_char *) x->error, CURL_ERROR_SIZE - 1,
                     "address %*s refused: %s%Z",
                     x->refused_len, x->refused_addr, x->refused_reason);
    }

    crm_curl_outcome(x);

    ngx_log_debug5(NGX_LOG_DEBUG_EVENT, x->log, 0,
                   "crm curl done: %d status:%l outcome:%ui %Mms \"%s\"",
                   (int) x->result, x->status, x->outcome, x->elapsed,
                   x->error);

    x->handler(x);
}


/* a task no thread has: never posted, or done */

static void
crm_curl_task_free(crm_curl_task_t *t)
{
    /* a handle that never ran has no connection: nothing blocks */

    if (t->easy != NULL) {
        curl_easy_cleanup(t->easy);
        t->easy = NULL;
    }

    if (t->rcpt != NULL) {
        curl_slist_free_all(t->rcpt);
        t->rcpt = NULL;
    }

    if (t->resolve != NULL) {
        curl_slist_free_all(t->resolve);
        t->resolve = NULL;
    }

    if (t->watch.timer_set) {
        ngx_del_timer(&t->watch);
    }

    if (t->fd_lock_ok) {
        (void) pthread_mutex_destroy(&t->fd_lock);
    }

    ngx_destroy_pool(t->pool);
}


/*
 * A gracefully exiting worker waits for the timers that are not
 * cancelable: this one is armed while tasks run, so that their
 * completions are seen (and their outcomes recorded) before it exits.
 */

static void
crm_curl_hold(crm_curl_t *c)
{
    if (c->ntasks > 0) {
        if (!c->hold.timer_set) {
            ngx_add_timer(&c->hold, CRM_CURL_HOLD);
        }

        return;
    }

    if (c->hold.timer_set) {
        ngx_del_timer(&c->hold);
    }
}


static void
crm_curl_hold_handler(ngx_event_t *ev)
{
    crm_curl_hold(ev->data);
}


/*
 * The thread: the transfer, then the handle's cleanup, which closes the
 * connection (QUIT) and may block too.  Nothing of nginx is used here.
 */

static void
crm_curl_task_run(void *data, ngx_log_t *log)
{
    crm_curl_task_t  *t = data;

    t->started = crm_curl_task_now();

    t->result = curl_easy_perform(t->easy);

    (void) curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &t->status);
    (void) curl_easy_getinfo(t->easy, CURLINFO_TOTAL_TIME_T, &t->total);

    curl_easy_cleanup(t->easy);
    t->easy = NULL;

    curl_slist_free_all(t->rcpt);
    t->rcpt = NULL;

    curl_slist_free_all(t->resolve);
    t->resolve = NULL;
}


/*
 * CURLOPT_OPENSOCKETFUNCTION, in the thread: the address policy (pure),
 * then a plain socket; curl makes it non-blocking.  A refusal or an
 * error is noted in the task and logged at completion.
 */

static curl_socket_t
crm_curl_task_socket(void *clientp, curlsocktype purpose,
    struct curl_sockaddr *address)
{
    crm_curl_task_t  *t = clientp;

    int             type;
    const char     *reason;
    curl_socket_t   fd;

    if (purpose != CURLSOCKTYPE_IPCXN) {
        return CURL_SOCKET_BAD;
    }

    if (crm_addr_allowed(&address->addr, address->addrlen, t->allow,
                         &reason)
        != NGX_OK)
    {
        t->refused = 1;
        t->refused_reason = reason;
        t->refused_len = ngx_min(address->addrlen, sizeof(ngx_sockaddr_t));
        ngx_memcpy(&t->refused_addr, &address->addr, t->refused_len);

        return CURL_SOCKET_BAD;
    }

    type = address->socktype;
#ifdef SOCK_CLOEXEC
    type |= SOCK_CLOEXEC;
#endif

    (void) pthread_mutex_lock(&t->fd_lock);

    fd = socket(address->family, type, address->protocol);
    if (fd == CURL_SOCKET_BAD) {
        t->sock_err = ngx_socket_errno;

    } else {
        t->fd = fd;
    }

    (void) pthread_mutex_unlock(&t->fd_lock);

    return fd;
}


/* CURLOPT_CLOSESOCKETFUNCTION, in the thread */

static int
crm_curl_task_close(void *clientp, curl_socket_t fd)
{
    crm_curl_task_t  *t = clientp;

    int  rc;

    /* under the lock: the watch never shuts a number reused meanwhile */

    (void) pthread_mutex_lock(&t->fd_lock);

    if (t->fd == fd) {
        t->fd = CURL_SOCKET_BAD;
    }

    rc = close(fd);

    (void) pthread_mutex_unlock(&t->fd_lock);

    return rc;
}


/*
 * The event loop's bound on a task (curl's waits for a reply see their
 * timeouts only when the relay sends something): at the transfer's
 * timeout, a task that has given the whole message is given
 * data_timeout more for the reply to its end; one that has not, or is
 * still waiting after that, has its socket shut, which ends curl's wait
 * (a temporary failure, said as a timeout at completion).
 */

static void
crm_curl_task_watch(ngx_event_t *ev)
{
    crm_curl_task_t  *t = ev->data;

    if (!t->watched && t->given) {
        t->watched = 1;
        ngx_add_timer(ev, t->data_timeout);
        return;
    }

    (void) pthread_mutex_lock(&t->fd_lock);

    if (t->fd != CURL_SOCKET_BAD) {
        t->cut = 1;
        (void) shutdown(t->fd, SHUT_RDWR);
    }

    (void) pthread_mutex_unlock(&t->fd_lock);
}


/*
 * CURLOPT_DEBUGFUNCTION, in the thread: the server's reply lines, the
 * commands sent (the stage, and QUIT).  Nothing is logged: the commands
 * carry credentials.
 */

static int
crm_curl_task_debug(CURL *easy, curl_infotype type, char *data, size_t size,
    void *userp)
{
    crm_curl_task_t  *t = userp;

    switch (type) {

    case CURLINFO_HEADER_IN:
        if (!t->quit) {
            crm_curl_task_reply(t, (u_char *) data, size);
        }
        break;

    case CURLINFO_HEADER_OUT:
        crm_curl_task_out(t, (u_char *) data, size);
        break;

    default:
        break;
    }

    return 0;
}


/* "250-first\r\n", "250 last\r\n": one reply, kept as "250 first last" */

static void
crm_curl_task_reply(crm_curl_task_t *t, u_char *p, size_t n)
{
    size_t  room;

    while (n > 0 && (p[n - 1] == '\n' || p[n - 1] == '\r')) {
        n--;
    }

    if (n < 3) {
        return;
    }

    if (!t->reply_more) {

        /* a new reply */

        t->reply_more = (n > 3 && p[3] == '-');

        n = ngx_min(n, CRM_CURL_REPLY_MAX);
        ngx_memcpy(t->reply_buf, p, n);

        if (n > 3) {
            t->reply_buf[3] = ' ';
        }

        t->reply_len = n;
        return;
    }

    t->reply_more = (n > 3 && p[3] == '-');

    /* the code again: dropped */

    p += ngx_min(n, 4);
    n -= ngx_min(n, 4);

    room = CRM_CURL_REPLY_MAX - t->reply_len;

    if (n == 0 || room < 2) {
        return;
    }

    t->reply_buf[t->reply_len++] = ' ';
    room--;

    n = ngx_min(n, room);
    ngx_memcpy(t->reply_buf + t->reply_len, p, n);
    t->reply_len += n;
}


static void
crm_curl_task_out(crm_curl_task_t *t, u_char *p, size_t n)
{
#define crm_curl_is(cmd)                                                     \
    (n >= sizeof(cmd) - 1 && ngx_strncasecmp(p, (u_char *) cmd,              \
                                             sizeof(cmd) - 1) == 0)

    if (crm_curl_is("EHLO") || crm_curl_is("HELO")) {
        t->stage = CRM_CURL_SMTP_EHLO;

    } else if (crm_curl_is("STARTTLS")) {
        t->stage = CRM_CURL_SMTP_STARTTLS;

    } else if (crm_curl_is("AUTH")) {
        t->stage = CRM_CURL_SMTP_AUTH;

    } else if (crm_curl_is("MAIL FROM:")) {
        t->stage = CRM_CURL_SMTP_MAIL;

    } else if (crm_curl_is("RCPT TO:")) {
        t->stage = CRM_CURL_SMTP_RCPT;

    } else if (crm_curl_is("DATA")) {
        t->stage = CRM_CURL_SMTP_DATA;

    } else if (crm_curl_is("QUIT")) {

        /*
         * curl 7.88 waits for the reply, blocking, up to the server
         * response timeout: the socket's read side is shut so that the
         * wait ends at once and the thread is free
         */

        t->quit = 1;

        if (t->fd != CURL_SOCKET_BAD) {
            (void) shutdown(t->fd, SHUT_RD);
        }
    }

#undef crm_curl_is
}


/* SMTP: the message, from the task's copy */

static size_t
crm_curl_task_read(char *buf, size_t size, size_t nitems, void *userdata)
{
    crm_curl_task_t  *t = userdata;

    size_t  n;

    t->stage = CRM_CURL_SMTP_BODY;

    n = ngx_min(size * nitems, t->len - t->sent);

    ngx_memcpy(buf, t->message + t->sent, n);
    t->sent += n;

    /* all given: what is left to wait for is the reply to its end */

    if (t->sent == t->len) {
        t->given = 1;
    }

    return n;
}


/*
 * CURLOPT_XFERINFOFUNCTION, in the thread: non-zero ends the transfer
 * (CURLE_ABORTED_BY_CALLBACK, a temporary failure)
 */

static int
crm_curl_task_progress(void *clientp, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
    crm_curl_task_t  *t = clientp;

    ngx_msec_t  now;

    now = crm_curl_task_now();

    if (!t->given && now - t->started >= t->timeout) {
        t->timed_out = 1;
        return 1;
    }

    return 0;
}


/* milliseconds of CLOCK_MONOTONIC, in the thread (not nginx's time) */

static ngx_msec_t
crm_curl_task_now(void)
{
    struct timespec  ts;

    (void) clock_gettime(CLOCK_MONOTONIC, &ts);

    return (ngx_msec_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
