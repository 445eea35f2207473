
/*
 * ngx_http_crm_module: the outbound client.  SMTP submissions run in an
 * nginx thread pool, HTTP POSTs on libcurl's multi-socket API driven by
 * nginx's event loop.
 *
 * One crm_curl_t per worker, one CURLM in it (HTTP); each transfer is a
 * crm_xfer_t allocated in its owner's pool.  The worker never blocks and
 * nothing resolves a name: a URL names a literal IP, or the caller passes
 * the address it resolved ("addr"), which is pinned with CURLOPT_RESOLVE.
 * Every address is checked by the address policy (src/model/crm_addr.h)
 * when the socket is opened: a refused address fails the transfer with
 * CURLE_COULDNT_CONNECT and x->refused set.
 *
 * Life cycle:
 *
 *   init_process:  c = crm_curl_create(cycle, conf)
 *   anywhere:      x = crm_curl_smtp(c, pool, log, ...) or crm_curl_post()
 *                  (NULL: a bad argument, logged, or no memory);
 *                  crm_curl_start(x, handler, data);
 *                  the handler is called once, from the event loop, with
 *                  x->result, x->status, x->reply, x->response filled in;
 *                  crm_curl_abort(x), or destroying x->pool, cancels x and
 *                  its handler is never called
 *   exit_process:  crm_curl_destroy(c): aborts all, no handler is called
 *
 * A handler may start new transfers and abort others, and may destroy
 * x->pool.  At most conf->max_transfers run at once per worker (SMTP and
 * HTTP together); those started beyond wait in order (their timeouts
 * start when they run).
 *
 * SMTP.  Each message is one curl_easy_perform() in a task of the thread
 * pool conf->thread_pool (crm_outbound_thread_pool), on a connection of
 * its own: one connection per message, closed (QUIT) when it is sent.
 * libcurl blocks in SMTP (the relay's final reply to the message, QUIT),
 * so it runs where blocking costs a thread, not the worker.  The thread
 * touches only memory of the transfer's own (its easy handle, lists, a
 * copy of the message, its buffers), never the caller's pool nor nginx's
 * logs, events or pools; the result is handed over on the event loop.  A
 * running task cannot be cancelled: crm_curl_abort() and the owner's
 * pool cleanup only detach it (the handler is never called, the message
 * may still be delivered), and its memory is freed when the thread is
 * done.
 *
 * While a transfer runs the client keeps a timer that is not cancelable,
 * so a gracefully exiting worker lets running transfers end (each bounded
 * by conf->timeout).  With worker_shutdown_timeout, when it fires, the
 * running HTTP transfers end at once with CURLE_ABORTED_BY_CALLBACK and
 * their handlers are called; running SMTP transfers cannot be cut short
 * and end on their own (conf->timeout at most), with their real outcome.
 */


#ifndef _CRM_CURL_H_INCLUDED_
#define _CRM_CURL_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_thread_pool.h>
#include <curl/curl.h>


#if !(NGX_THREADS)
#error ngx_http_crm_module needs nginx configured --with-threads
#endif


#define CRM_CURL_REPLY_MAX        512     /* bytes of the last SMTP reply */

/* crm_curl_smtp()'s "starttls" */
#define CRM_CURL_TLS_OFF          0       /* plain SMTP (CURLUSESSL_NONE) */
#define CRM_CURL_TLS_REQUIRE      1       /* STARTTLS or fail (_ALL) */
#define CRM_CURL_TLS_TRY          2       /* STARTTLS when offered (_TRY) */

/* x->outcome */
#define CRM_CURL_OK               0       /* transfer done, 2xx (SMTP) */
#define CRM_CURL_TEMPORARY        1       /* try again later */
#define CRM_CURL_PERMANENT        2       /* SMTP 5xx to the recipient or
                                             the message: do not retry */

/* x->stage for SMTP: the last step the client took */
#define CRM_CURL_SMTP_CONNECT     0       /* connect, greeting */
#define CRM_CURL_SMTP_EHLO        1
#define CRM_CURL_SMTP_STARTTLS    2
#define CRM_CURL_SMTP_AUTH        3
#define CRM_CURL_SMTP_MAIL        4       /* MAIL FROM */
#define CRM_CURL_SMTP_RCPT        5       /* RCPT TO */
#define CRM_CURL_SMTP_DATA        6       /* DATA, until 354 */
#define CRM_CURL_SMTP_BODY        7       /* the message, its final reply */


typedef struct crm_curl_s       crm_curl_t;   /* per worker: one CURLM */
typedef struct crm_xfer_s       crm_xfer_t;   /* one transfer */
typedef struct crm_curl_sock_s  crm_curl_sock_t;
typedef struct crm_curl_task_s  crm_curl_task_t;   /* an SMTP thread task */

typedef void (*crm_xfer_handler_pt)(crm_xfer_t *x);


typedef struct {
    ngx_array_t              *allow;        /* ngx_cidr_t: special ranges
                                               let through; NULL */
    ngx_msec_t                connect_timeout;
    ngx_msec_t                timeout;      /* the whole transfer */
    ngx_msec_t                data_timeout; /* SMTP: the wait for the reply
                                               to the message's end */
    size_t                    max_response; /* bytes of a response body
                                               kept */
    ngx_uint_t                max_transfers;    /* at once per worker */
    ngx_thread_pool_t        *thread_pool;  /* SMTP transfers run there */
    ngx_str_t                 trusted;      /* CA certificates (PEM, the
                                               file's bytes) instead of the
                                               system's; empty: none */
} crm_curl_conf_t;


struct crm_xfer_s {
    CURL                     *easy;         /* HTTP: NULL once done or
                                               aborted */
    crm_curl_t               *curl;
    ngx_pool_t               *pool;         /* the owner's; its cleanup
                                               aborts the transfer */
    ngx_log_t                *log;
    crm_xfer_handler_pt       handler;      /* called once when done, not
                                               after an abort */
    void                     *data;

    /* the result, set before the handler is called */
    CURLcode                  result;
    long                      status;       /* HTTP status; SMTP: the
                                               reply code of the failure
                                               (4xx, 5xx) or of the last
                                               reply on success; 0 for a
                                               network, timeout or policy
                                               failure */
    ngx_uint_t                outcome;      /* CRM_CURL_OK, _TEMPORARY,
                                               _PERMANENT (see crm_curl.c) */
    ngx_uint_t                stage;        /* SMTP: CRM_CURL_SMTP_* */
    ngx_str_t                 reply;        /* SMTP: the last reply, its
                                               lines joined ("550 5.1.1
                                               no such user"); may be
                                               empty */
    ngx_str_t                 response;     /* HTTP: the body, at most
                                               max_response bytes */
    unsigned                  truncated:1;  /* the body was longer */
    unsigned                  refused:1;    /* the address policy refused
                                               the address */
    ngx_msec_t                elapsed;      /* the transfer's own time
                                               (CURLINFO_TOTAL_TIME_T),
                                               not the wait for its
                                               turn */
    char                      error[CURL_ERROR_SIZE];  /* curl's message,
                                               or the policy's */

    /* private */
    ngx_queue_t               queue;        /* running or waiting */
    ngx_uint_t                state;
    ngx_msec_t                start;
    crm_curl_task_t          *task;         /* SMTP: NULL once done or
                                               aborted (a running task is
                                               then detached) */
    struct curl_slist        *headers;
    struct curl_slist        *resolve;
    u_char                   *body;         /* max_response bytes */
    size_t                    body_len;
    size_t                    reply_len;
    const char               *refused_reason;
    size_t                    refused_len;
    u_char                    refused_addr[NGX_SOCKADDR_STRLEN];
    unsigned                  smtp:1;
    u_char                    reply_buf[CRM_CURL_REPLY_MAX];
};


crm_curl_t *crm_curl_create(ngx_cycle_t *cycle, crm_curl_conf_t *conf);
void crm_curl_destroy(crm_curl_t *c);

/*
 * One message to one recipient.  url: "smtp://192.0.2.1:587" or
 * "smtps://relay.example.com" (a path names the EHLO domain:
 * "smtp://host/client.example.com"; without one libcurl says
 * "localhost"); addr: the resolved address of the URL's host, pinned,
 * or NULL when the host is an IP literal (required otherwise); starttls:
 * CRM_CURL_TLS_* (ignored for smtps://); user, password: empty or NULL
 * for no AUTH; mail_from, rcpt: bare addresses (libcurl adds <>);
 * message: the whole RFC 5322 message with CRLF line ends, not
 * dot-stuffed (libcurl does it), copied: the caller need not keep it.
 */
crm_xfer_t *crm_curl_smtp(crm_curl_t *c, ngx_pool_t *pool, ngx_log_t *log,
    ngx_str_t *url, ngx_addr_t *addr, ngx_uint_t starttls, ngx_str_t *user,
    ngx_str_t *password, ngx_str_t *mail_from, ngx_str_t *rcpt,
    ngx_str_t *message);

/*
 * An HTTP POST.  url: http:// or https://; addr as for crm_curl_smtp();
 * headers: ngx_str_t "Name: value" or NULL; body: kept by the caller
 * like an SMTP message.  Redirects are not followed (x->status is 3xx).
 */
crm_xfer_t *crm_curl_post(crm_curl_t *c, ngx_pool_t *pool, ngx_log_t *log,
    ngx_str_t *url, ngx_addr_t *addr, ngx_array_t *headers, ngx_str_t *body);

/* NGX_OK, or NGX_ERROR (logged) when the transfer cannot be started */
ngx_int_t crm_curl_start(crm_xfer_t *x, crm_xfer_handler_pt h, void *data);

/* no handler call afterwards; nothing happens for a transfer done */
void crm_curl_abort(crm_xfer_t *x);


#endif /* _CRM_CURL_H_INCLUDED_ */
