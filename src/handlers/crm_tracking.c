
/*
 * ngx_http_crm_module: the tracking location (crm_tracking): the open
 * pixel, the click redirect and the unsubscribe page of the emails the
 * delivery job sends, served without credentials, outside the API
 * pipeline.
 *
 *   GET|HEAD  <loc>o/<token>.gif   a 1x1 transparent GIF, not cached
 *   GET|HEAD  <loc>c/<token>       302 to the URL the token carries
 *   GET|HEAD  <loc>u/<token>       a page asking to confirm (changes
 *                                  nothing: link scanners GET)
 *   POST      <loc>u/<token>       unsubscribes (RFC 8058 one-click, or
 *                                  the page's form), then says so
 *
 * The tokens (model/crm_track.c) are signed with crm_tracking_secret
 * and carry the workspace, the email and a click's URL, so that the
 * pixel and the redirect need no database: they are answered first,
 * and the open or click is then queued in the worker's memory, to be
 * recorded with others by one statement (db_email_track_batch(),
 * sql/019_track_batch.sql) that no request waits for: a batch goes when
 * it has CRM_TRACKING_BATCH hits, or within CRM_TRACKING_DELAY ms, at
 * most CRM_TRACKING_FLUSHES at a time per worker.  A batch the database
 * did not get (down, or the pool's wait queue full or timed out) is kept
 * and sent again after the pool's backoff; one that may have run (the
 * connection lost meanwhile) or that failed is dropped: nothing is
 * recorded twice.  Beyond crm_tracking_queue hits held per worker (or
 * CRM_TRACKING_BYTES), new hits are dropped.  What is dropped is counted
 * and summed up in the log, at most a line a second.  A worker that
 * quits gracefully sends what it holds first.  An invalid token is 404,
 * never a redirect.  The responses are HTML or images, not the API's
 * JSON.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "model/crm_track.h"
#include "handlers/crm_handlers.h"


#define CRM_TRACKING_BATCH       500      /* hits a statement, at most */
#define CRM_TRACKING_BATCH_SIZE  (256 * 1024)   /* its bytes, about */
#define CRM_TRACKING_CHUNK       (16 * 1024)    /* a batch's first buffer */
#define CRM_TRACKING_BYTES       (64 * 1024 * 1024)    /* held, at most */
#define CRM_TRACKING_DELAY       100      /* ms a hit waits for others */
#define CRM_TRACKING_FLUSHES     2        /* statements in flight */
#define CRM_TRACKING_SPARE       4        /* empty batches kept */
#define CRM_TRACKING_RETRY_MIN   100      /* ms before a batch the */
#define CRM_TRACKING_RETRY_MAX   2000     /*   database did not get */
#define CRM_TRACKING_EXIT        10000    /* ms a quitting worker sends */

#define crm_tracking_full(b)                                                  \
    ((b)->nhits >= CRM_TRACKING_BATCH                                         \
     || (size_t) ((b)->last - (b)->start) >= CRM_TRACKING_BATCH_SIZE)


typedef struct crm_tracking_batch_s  crm_tracking_batch_t;


/* hits as JSON: "[" hit "," hit "," ..., the last "," made "]" to send */

struct crm_tracking_batch_s {
    crm_tracking_batch_t        *next;
    u_char                      *start;
    u_char                      *last;
    u_char                      *end;
    ngx_uint_t                   nhits;
    unsigned                     closed:1;  /* sent once: no more hits */
};


typedef struct {
    struct crm_tracking_s       *tr;
    crm_tracking_batch_t        *batch;     /* NULL: a free slot */
    ngx_pool_t                  *pool;      /* the statement's */
} crm_tracking_flush_t;


/* a worker's hits to record (mcf->tracking_worker) */

typedef struct crm_tracking_s {
    ngx_http_crm_main_conf_t    *mcf;
    crm_tracking_batch_t        *head;      /* oldest first; the last */
    crm_tracking_batch_t        *tail;      /*   takes the new hits */
    crm_tracking_batch_t        *spare;
    ngx_uint_t                   nspare;
    ngx_uint_t                   nhits;     /* held: queued, in flight */
    size_t                       size;      /* their bytes */
    crm_tracking_flush_t         flushes[CRM_TRACKING_FLUSHES];
    ngx_uint_t                   inflight;
    ngx_event_t                  timer;     /* not cancelable: a quitting
                                               worker waits for it */
    ngx_msec_t                   retry_at;
    ngx_msec_t                   exit_by;
    ngx_uint_t                   retries;   /* batches sent again */
    crm_log_limit_t              retry_log;
    unsigned                     retrying:1;
    unsigned                     exiting:1;
    unsigned                     flushing:1;
} crm_tracking_t;


static ngx_int_t crm_tracking_path(ngx_http_request_t *r, ngx_uint_t *kind,
    ngx_str_t *token);
static ngx_int_t crm_tracking_pixel(ngx_http_request_t *r);
static ngx_int_t crm_tracking_redirect(ngx_http_request_t *r,
    ngx_str_t *url);
static ngx_int_t crm_tracking_unsubscribe(ngx_http_request_t *r,
    ngx_http_crm_main_conf_t *mcf, crm_track_t *t);
static void crm_tracking_unsubscribed(crm_pg_req_t *pr, PGresult *res);
static void crm_tracking_record(ngx_http_request_t *r,
    ngx_http_crm_main_conf_t *mcf, crm_track_t *t);
static crm_tracking_batch_t *crm_tracking_room(crm_tracking_t *tr,
    size_t size);
static crm_tracking_batch_t *crm_tracking_batch(crm_tracking_t *tr,
    size_t size);
static void crm_tracking_free(crm_tracking_t *tr, crm_tracking_batch_t *b);
static void crm_tracking_flush(crm_tracking_t *tr, ngx_uint_t all);
static ngx_int_t crm_tracking_send_batch(crm_tracking_t *tr,
    crm_tracking_flush_t *f, crm_tracking_batch_t *b);
static void crm_tracking_recorded(crm_pg_req_t *pr, PGresult *res);
static void crm_tracking_timer(ngx_event_t *ev);
static void crm_tracking_arm(crm_tracking_t *tr);
static void crm_tracking_drop_all(crm_tracking_t *tr, const char *why);
static void crm_tracking_dropped(ngx_http_crm_main_conf_t *mcf,
    ngx_uint_t n, const char *why, const char *detail);
static ngx_int_t crm_tracking_agent(ngx_http_request_t *r, ngx_pool_t *pool,
    crm_stmt_t *st, ngx_uint_t i);
static ngx_int_t crm_tracking_page(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *page);
static ngx_int_t crm_tracking_send(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, u_char *data, size_t len);
static ngx_int_t crm_tracking_header(ngx_http_request_t *r, const char *name,
    const char *value);
static ngx_int_t crm_tracking_not_allowed(ngx_http_request_t *r,
    const char *allow);


/* a transparent 1x1 GIF (the one of nginx's empty_gif module) */

static u_char  crm_tracking_gif[] = {
    'G', 'I', 'F', '8', '9', 'a',
    0x01, 0x00, 0x01, 0x00,             /* 1x1 */
    0x80, 0x01, 0x00,                   /* a 2-colour table, background 1 */
    0x00, 0x00, 0x00, 0xff, 0xff, 0xff, /* black, white */
    0x21, 0xf9, 0x04, 0x01, 0x00, 0x00, 0x01, 0x00,   /* #1 transparent */
    0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00,
    0x02, 0x02, 0x4c, 0x01, 0x00,       /* the pixel */
    0x3b
};


#define CRM_TRACKING_HEAD                                                    \
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"      \
    "<meta name=\"viewport\" content=\"width=device-width, "                 \
    "initial-scale=1\"><meta name=\"robots\" content=\"noindex\">"           \
    "<title>"
#define CRM_TRACKING_BODY                                                    \
    "</title></head>\n<body style=\"font-family:sans-serif;max-width:"       \
    "32em;margin:3em auto;padding:0 1em\">\n"
#define CRM_TRACKING_END      "\n</body></html>\n"


static ngx_str_t  crm_tracking_confirm = ngx_string(
    CRM_TRACKING_HEAD "Unsubscribe" CRM_TRACKING_BODY
    "<h1>Unsubscribe</h1>\n"
    "<p>Do you want to stop receiving emails like this one?</p>\n"
    "<form method=\"post\">"
    "<input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
    "<button type=\"submit\">Unsubscribe</button></form>"
    CRM_TRACKING_END);

static ngx_str_t  crm_tracking_done = ngx_string(
    CRM_TRACKING_HEAD "Unsubscribed" CRM_TRACKING_BODY
    "<h1>You are unsubscribed</h1>\n"
    "<p>You will not receive emails like this one any more.</p>"
    CRM_TRACKING_END);

static ngx_str_t  crm_tracking_retry = ngx_string(
    CRM_TRACKING_HEAD "Please try again" CRM_TRACKING_BODY
    "<h1>Please try again</h1>\n"
    "<p>Your request could not be recorded just now. Please try again in "
    "a few minutes.</p>"
    CRM_TRACKING_END);

static ngx_str_t  crm_tracking_invalid = ngx_string(
    CRM_TRACKING_HEAD "Not found" CRM_TRACKING_BODY
    "<h1>Not found</h1>\n"
    "<p>This link is not valid.</p>"
    CRM_TRACKING_END);

static ngx_str_t  crm_tracking_method = ngx_string(
    CRM_TRACKING_HEAD "Method not allowed" CRM_TRACKING_BODY
    "<h1>Method not allowed</h1>"
    CRM_TRACKING_END);

static ngx_str_t  crm_tracking_html = ngx_string("text/html; charset=utf-8");
static ngx_str_t  crm_tracking_image = ngx_string("image/gif");


ngx_int_t
crm_tracking_handler(ngx_http_request_t *r)
{
    ngx_int_t                  rc;
    ngx_str_t                  token;
    ngx_uint_t                 kind;
    crm_track_t                t;
    ngx_http_crm_main_conf_t  *mcf;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    mcf = ngx_http_get_module_main_conf(r, ngx_http_crm_module);

    /* without a secret nothing is tracked: there is nothing here */

    if (mcf->tracking_secret.len == 0
        || crm_tracking_path(r, &kind, &token) != NGX_OK)
    {
        return crm_tracking_page(r, NGX_HTTP_NOT_FOUND,
                                 &crm_tracking_invalid);
    }

    if (kind == CRM_TRACK_UNSUBSCRIBE) {
        if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_POST))) {
            return crm_tracking_not_allowed(r, "GET, HEAD, POST");
        }

    } else if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return crm_tracking_not_allowed(r, "GET, HEAD");
    }

    rc = crm_track_verify(r->pool, &mcf->tracking_secret, &token, &t);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* a token of one kind is nothing at another kind's path */

    if (rc != NGX_OK || t.kind != kind) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: tracking: invalid token");
        return crm_tracking_page(r, NGX_HTTP_NOT_FOUND,
                                 &crm_tracking_invalid);
    }

    switch (kind) {

    case CRM_TRACK_OPEN:
        rc = crm_tracking_pixel(r);
        crm_tracking_record(r, mcf, &t);
        return rc;

    case CRM_TRACK_CLICK:
        rc = crm_tracking_redirect(r, &t.url);
        crm_tracking_record(r, mcf, &t);
        return rc;

    default: /* CRM_TRACK_UNSUBSCRIBE */

        if (r->method != NGX_HTTP_POST) {
            return crm_tracking_page(r, NGX_HTTP_OK, &crm_tracking_confirm);
        }

        return crm_tracking_unsubscribe(r, mcf, &t);
    }
}


/* "o/<token>.gif", "c/<token>" or "u/<token>" after the location */

static ngx_int_t
crm_tracking_path(ngx_http_request_t *r, ngx_uint_t *kind, ngx_str_t *token)
{
    ngx_str_t                  path;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    path = r->uri;

    if (path.len < clcf->name.len
        || ngx_strncmp(path.data, clcf->name.data, clcf->name.len) != 0)
    {
        return NGX_DECLINED;
    }

    path.data += clcf->name.len;
    path.len -= clcf->name.len;

    /* a location without its trailing slash: "/t" for /t/o/... */

    if (path.len > 0 && path.data[0] == '/') {
        path.data++;
        path.len--;
    }

    if (path.len < 3 || path.data[1] != '/') {
        return NGX_DECLINED;
    }

    *kind = path.data[0];

    token->data = path.data + 2;
    token->len = path.len - 2;

    switch (*kind) {

    case CRM_TRACK_OPEN:
        if (token->len <= 4
            || ngx_strncmp(token->data + token->len - 4, ".gif", 4) != 0)
        {
            return NGX_DECLINED;
        }

        token->len -= 4;
        return NGX_OK;

    case CRM_TRACK_CLICK:
    case CRM_TRACK_UNSUBSCRIBE:
        return NGX_OK;

    default:
        return NGX_DECLINED;
    }
}


static ngx_int_t
crm_tracking_pixel(ngx_http_request_t *r)
{
    if (crm_tracking_header(r, "Cache-Control",
                            "no-store, no-cache, must-revalidate, max-age=0")
        != NGX_OK
        || crm_tracking_header(r, "Pragma", "no-cache") != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_tracking_send(r, NGX_HTTP_OK, &crm_tracking_image,
                             crm_tracking_gif, sizeof(crm_tracking_gif));
}


static ngx_int_t
crm_tracking_redirect(ngx_http_request_t *r, ngx_str_t *url)
{
    ngx_table_elt_t  *h;

    /* the URL was checked when signed, and again when verified */

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Location");
    h->value = *url;

    r->headers_out.location = h;

    if (crm_tracking_header(r, "Cache-Control", "no-store") != NGX_OK
        || crm_tracking_header(r, "Referrer-Policy", "no-referrer")
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_tracking_send(r, NGX_HTTP_MOVED_TEMPORARILY, NULL, NULL, 0);
}


/*
 * POST u/<token>: db_email_unsubscribe() suppresses the email's
 * recipient in the email's workspace; the page says so once it has.
 */

static ngx_int_t
crm_tracking_unsubscribe(ngx_http_request_t *r,
    ngx_http_crm_main_conf_t *mcf, crm_track_t *t)
{
    crm_stmt_t    *st;
    crm_pg_req_t  *pr;

    if (mcf->pool == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "crm: tracking: an unsubscribe needs crm_postgres");
        return crm_tracking_page(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                 &crm_tracking_retry);
    }

    st = crm_sql_fixed(r->pool,
                       "SELECT db_email_unsubscribe($1::uuid, $2::uuid,"
                       " $3, $4)", 4);

    if (st == NULL
        || crm_sql_set(st, 0, &t->ws) != NGX_OK
        || crm_sql_set(st, 1, &t->email) != NGX_OK
        || crm_sql_set(st, 3, &r->connection->addr_text) != NGX_OK
        || crm_tracking_agent(r, r->pool, st, 2) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    pr = crm_pg_request(mcf->pool, r->pool, r->connection->log);
    if (pr == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->main->count++;

    crm_pg_exec(pr, st, crm_tracking_unsubscribed, r);

    return NGX_DONE;
}


static void
crm_tracking_unsubscribed(crm_pg_req_t *pr, PGresult *res)
{
    ngx_int_t            rc;
    ngx_str_t            retry;
    ngx_msec_t           ms;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = pr->data;
    c = r->connection;

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || PQntuples(res) != 1)
    {
        if (res != NULL) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "crm: tracking: unsubscribe failed: %s",
                          PQresultErrorMessage(res));
        }

        ms = crm_pg_retry_after(pr->pool);

        retry.data = ngx_pnalloc(r->pool, NGX_INT_T_LEN);

        if (retry.data == NULL) {
            rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

        } else {
            retry.len = ngx_sprintf(retry.data, "%M", (ms + 999) / 1000)
                        - retry.data;

            rc = (crm_http_header_out(r, "Retry-After", &retry) == NGX_OK)
                 ? crm_tracking_page(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                     &crm_tracking_retry)
                 : NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

    } else if (PQgetisnull(res, 0, 0)) {
        /* a valid token of an email the workspace does not have */
        rc = crm_tracking_page(r, NGX_HTTP_NOT_FOUND, &crm_tracking_invalid);

    } else {
        rc = crm_tracking_page(r, NGX_HTTP_OK, &crm_tracking_done);
    }

    ngx_http_finalize_request(r, rc);

    crm_http_posted(c);
}


/*
 * The worker's queue of hits: made in init_process when there is a
 * database to record them in and a secret to sign them with.
 */

ngx_int_t
crm_tracking_init_process(ngx_cycle_t *cycle, ngx_http_crm_main_conf_t *mcf)
{
    crm_tracking_t  *tr;

    if (mcf->pool == NULL || mcf->tracking_secret.len == 0) {
        return NGX_OK;
    }

    tr = ngx_pcalloc(cycle->pool, sizeof(crm_tracking_t));
    if (tr == NULL) {
        return NGX_ERROR;
    }

    tr->mcf = mcf;
    tr->timer.handler = crm_tracking_timer;
    tr->timer.data = tr;
    tr->timer.log = cycle->log;

    mcf->tracking_worker = tr;

    return NGX_OK;
}


/*
 * Before the pool: what is still in flight is forgotten (its result is
 * discarded), what is held is freed, and the loss said in one line.
 */

void
crm_tracking_exit_process(ngx_http_crm_main_conf_t *mcf)
{
    ngx_uint_t             i, n;
    crm_tracking_t        *tr;
    crm_tracking_flush_t  *f;
    crm_tracking_batch_t  *b;

    tr = mcf->tracking_worker;

    if (tr == NULL) {
        return;
    }

    mcf->tracking_worker = NULL;

    if (tr->timer.timer_set) {
        ngx_del_timer(&tr->timer);
    }

    n = tr->nhits;

    for (i = 0; i < CRM_TRACKING_FLUSHES; i++) {
        f = &tr->flushes[i];

        if (f->pool != NULL) {
            ngx_destroy_pool(f->pool);
            f->pool = NULL;
        }

        if (f->batch != NULL) {
            f->batch->next = tr->head;
            tr->head = f->batch;
            f->batch = NULL;
        }
    }

    while (tr->head != NULL) {
        b = tr->head;
        tr->head = b->next;
        tr->nspare = CRM_TRACKING_SPARE;    /* no more kept */
        crm_tracking_free(tr, b);
    }

    while (tr->spare != NULL) {
        b = tr->spare;
        tr->spare = b->next;
        ngx_free(b->start);
        ngx_free(b);
    }

    if (n > 0) {
        mcf->tracking_dropped += n;

        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "crm: tracking: %ui opens and clicks were not "
                      "recorded: the worker exited with them; %ui in all "
                      "by this worker", n, mcf->tracking_dropped);
    }
}


/*
 * An open or a click: a JSON object at the end of the worker's last
 * batch, for db_email_track_batch(); copies, the request goes away.
 */

static void
crm_tracking_record(ngx_http_request_t *r, ngx_http_crm_main_conf_t *mcf,
    crm_track_t *t)
{
    u_char                *p, *ua;
    size_t                 size, ualen;
    ngx_str_t             *ip;
    ngx_time_t            *tp;
    crm_tracking_t        *tr;
    ngx_table_elt_t       *h;
    crm_tracking_batch_t  *b;

    tr = mcf->tracking_worker;

    if (tr == NULL) {
        crm_tracking_dropped(mcf, 1, "no crm_postgres", NULL);
        return;
    }

    if (tr->nhits >= (ngx_uint_t) mcf->tracking_queue) {
        crm_tracking_dropped(mcf, 1, "queue full", NULL);
        return;
    }

    ua = NULL;
    ualen = 0;
    h = r->headers_in.user_agent;

    if (h != NULL) {
        ua = ngx_pnalloc(r->pool,
                         ngx_min(h->value.len, 4 * CRM_TRACK_UA_MAX) + 1);
        if (ua == NULL) {
            crm_tracking_dropped(mcf, 1, "no memory", NULL);
            return;
        }

        ualen = crm_track_clean(ua, h->value.data, h->value.len,
                                CRM_TRACK_UA_MAX)
                - ua;
    }

    ip = &r->connection->addr_text;

    size = sizeof("{\"w\":\"\",\"e\":\"\",\"t\":\"clicked\",\"at\":,"
                  "\"ua\":\"\",\"ip\":\"\",\"hd\":true,\"u\":\"\"},")
           + NGX_INT64_LEN
           + t->ws.len + ngx_escape_json(NULL, t->ws.data, t->ws.len)
           + t->email.len
           + ngx_escape_json(NULL, t->email.data, t->email.len)
           + ualen + ngx_escape_json(NULL, ua, ualen)
           + ip->len + ngx_escape_json(NULL, ip->data, ip->len)
           + t->url.len + ngx_escape_json(NULL, t->url.data, t->url.len);

    if (tr->size + size > CRM_TRACKING_BYTES) {
        crm_tracking_dropped(mcf, 1, "queue full", NULL);
        return;
    }

    b = crm_tracking_room(tr, size);
    if (b == NULL) {
        crm_tracking_dropped(mcf, 1, "no memory", NULL);
        return;
    }

    tp = ngx_timeofday();

    p = b->last;

    p = ngx_cpymem(p, "{\"w\":\"", sizeof("{\"w\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, t->ws.data, t->ws.len);
    p = ngx_cpymem(p, "\",\"e\":\"", sizeof("\",\"e\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, t->email.data, t->email.len);
    p = ngx_sprintf(p, "\",\"t\":\"%s\",\"at\":%uL",
                    t->kind == CRM_TRACK_OPEN ? "opened" : "clicked",
                    (uint64_t) tp->sec * 1000 + tp->msec);

    if (ua != NULL) {
        p = ngx_cpymem(p, ",\"ua\":\"", sizeof(",\"ua\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, ua, ualen);
        *p++ = '"';
    }

    p = ngx_cpymem(p, ",\"ip\":\"", sizeof(",\"ip\":\"") - 1);
    p = (u_char *) ngx_escape_json(p, ip->data, ip->len);
    *p++ = '"';

    if (r->method == NGX_HTTP_HEAD) {
        p = ngx_cpymem(p, ",\"hd\":true", sizeof(",\"hd\":true") - 1);
    }

    if (t->kind == CRM_TRACK_CLICK) {
        p = ngx_cpymem(p, ",\"u\":\"", sizeof(",\"u\":\"") - 1);
        p = (u_char *) ngx_escape_json(p, t->url.data, t->url.len);
        *p++ = '"';
    }

    *p++ = '}';
    *p++ = ',';

    tr->size += p - b->last;
    tr->nhits++;

    b->last = p;
    b->nhits++;

    if (crm_tracking_full(b)) {
        crm_tracking_flush(tr, 0);
    }

    crm_tracking_arm(tr);
}


/* the batch a hit of "size" bytes goes to: the last one, or a new one */

static crm_tracking_batch_t *
crm_tracking_room(crm_tracking_t *tr, size_t size)
{
    u_char                *p;
    size_t                 used, n;
    crm_tracking_batch_t  *b;

    b = tr->tail;

    if (b != NULL && !b->closed && !crm_tracking_full(b)) {

        if ((size_t) (b->end - b->last) >= size) {
            return b;
        }

        used = b->last - b->start;
        n = ngx_max(2 * (size_t) (b->end - b->start), used + size);

        p = ngx_alloc(n, ngx_cycle->log);
        if (p == NULL) {
            return NULL;
        }

        ngx_memcpy(p, b->start, used);
        ngx_free(b->start);

        b->start = p;
        b->last = p + used;
        b->end = p + n;

        return b;
    }

    b = crm_tracking_batch(tr, size);
    if (b == NULL) {
        return NULL;
    }

    if (tr->tail != NULL) {
        tr->tail->next = b;

    } else {
        tr->head = b;
    }

    tr->tail = b;

    return b;
}


/* an empty batch, "[" only: a spare one, or new */

static crm_tracking_batch_t *
crm_tracking_batch(crm_tracking_t *tr, size_t size)
{
    size_t                 n;
    crm_tracking_batch_t  *b;

    b = tr->spare;

    if (b != NULL && (size_t) (b->end - b->start) > size) {
        tr->spare = b->next;
        tr->nspare--;

    } else {
        b = ngx_alloc(sizeof(crm_tracking_batch_t), ngx_cycle->log);
        if (b == NULL) {
            return NULL;
        }

        n = ngx_max(CRM_TRACKING_CHUNK, size + 1);

        b->start = ngx_alloc(n, ngx_cycle->log);
        if (b->start == NULL) {
            ngx_free(b);
            return NULL;
        }

        b->end = b->start + n;
    }

    b->next = NULL;
    b->last = b->start;
    *b->last++ = '[';
    b->nhits = 0;
    b->closed = 0;

    tr->size++;

    return b;
}


/* a batch recorded or dropped: kept for another, or freed */

static void
crm_tracking_free(crm_tracking_t *tr, crm_tracking_batch_t *b)
{
    tr->nhits -= b->nhits;
    tr->size -= b->last - b->start;

    if (tr->nspare < CRM_TRACKING_SPARE) {
        b->next = tr->spare;
        tr->spare = b;
        tr->nspare++;
        return;
    }

    ngx_free(b->start);
    ngx_free(b);
}


/*
 * Sends the batches that are full (all: every batch), oldest first,
 * while fewer than CRM_TRACKING_FLUSHES are in flight and no failed
 * batch waits for its retry.
 */

static void
crm_tracking_flush(crm_tracking_t *tr, ngx_uint_t all)
{
    ngx_uint_t             i;
    crm_tracking_flush_t  *f;
    crm_tracking_batch_t  *b;

    if (tr->flushing) {
        return;
    }

    tr->flushing = 1;

    for ( ;; ) {

        if (tr->retrying) {
            if ((ngx_msec_int_t) (tr->retry_at - ngx_current_msec) > 0) {
                break;
            }

            tr->retrying = 0;
        }

        b = tr->head;

        if (b == NULL || tr->inflight >= CRM_TRACKING_FLUSHES
            || (!all && !b->closed && !crm_tracking_full(b)))
        {
            break;
        }

        for (i = 0; i < CRM_TRACKING_FLUSHES; i++) {
            if (tr->flushes[i].batch == NULL) {
                break;
            }
        }

        f = &tr->flushes[i];

        tr->head = b->next;

        if (tr->head == NULL) {
            tr->tail = NULL;
        }

        b->next = NULL;

        if (crm_tracking_send_batch(tr, f, b) != NGX_OK) {
            crm_tracking_dropped(tr->mcf, b->nhits, "no memory", NULL);
            crm_tracking_free(tr, b);
        }
    }

    tr->flushing = 0;
}


static ngx_int_t
crm_tracking_send_batch(crm_tracking_t *tr, crm_tracking_flush_t *f,
    crm_tracking_batch_t *b)
{
    ngx_str_t      v;
    ngx_pool_t    *pool;
    crm_stmt_t    *st;
    crm_pg_req_t  *pr;

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_ERROR;
    }

    st = crm_sql_fixed(pool, "SELECT db_email_track_batch($1::jsonb)", 1);
    pr = crm_pg_request(tr->mcf->pool, pool, ngx_cycle->log);

    if (st == NULL || pr == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    /* "[" hit "," ... hit "," becomes the array; nothing more goes in */

    if (!b->closed) {
        *(b->last - 1) = ']';
        b->closed = 1;
    }

    v.data = b->start;
    v.len = b->last - b->start;
    (void) crm_sql_set(st, 0, &v);

    f->tr = tr;
    f->batch = b;
    f->pool = pool;

    tr->inflight++;

    /* may call crm_tracking_recorded() at once */
    crm_pg_exec(pr, st, crm_tracking_recorded, f);

    return NGX_OK;
}


/*
 * A batch's outcome.  One the database did not get is sent again after
 * the pool's backoff (a quitting worker drops it); one that may have run
 * or that failed is dropped, never sent twice.
 */

static void
crm_tracking_recorded(crm_pg_req_t *pr, PGresult *res)
{
    ngx_msec_t             ms;
    ngx_uint_t             retry;
    ngx_pool_t            *pool;
    const char            *why, *detail;
    crm_tracking_t        *tr;
    crm_tracking_flush_t  *f;
    crm_tracking_batch_t  *b;

    f = pr->data;
    tr = f->tr;
    b = f->batch;
    pool = f->pool;

    f->batch = NULL;
    f->pool = NULL;
    tr->inflight--;

    why = NULL;
    detail = NULL;
    retry = 0;

    if (res == NULL) {
        why = pr->error == CRM_PG_BUSY ? "wait queue full"
              : pr->error == CRM_PG_TIMEOUT ? "wait timed out"
              : pr->error == CRM_PG_DOWN ? "database down"
              : "connection lost";

        retry = (pr->error != CRM_PG_LOST);

    } else if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        why = "statement failed";
        detail = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    }

    if (tr->exiting || ngx_exiting || ngx_quit || ngx_terminate) {
        retry = 0;
    }

    if (why == NULL) {
        crm_tracking_free(tr, b);

    } else if (retry) {
        b->next = tr->head;
        tr->head = b;

        if (tr->tail == NULL) {
            tr->tail = b;
        }

        ms = crm_pg_retry_after(tr->mcf->pool);
        ms = ngx_max(ms, CRM_TRACKING_RETRY_MIN);
        ms = ngx_min(ms, CRM_TRACKING_RETRY_MAX);

        tr->retrying = 1;
        tr->retry_at = ngx_current_msec + ms;
        tr->retries++;

        if (crm_log_limit(&tr->retry_log) >= 0) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "crm: tracking: %ui opens and clicks wait to be "
                          "recorded (%s), sent again in %M ms; %ui batches "
                          "sent again by this worker", tr->nhits, why, ms,
                          tr->retries);
        }

    } else {
        crm_tracking_dropped(tr->mcf, b->nhits, why, detail);
        crm_tracking_free(tr, b);
    }

    ngx_destroy_pool(pool);

    crm_tracking_flush(tr, tr->exiting);
    crm_tracking_arm(tr);
}


/*
 * Every CRM_TRACKING_DELAY ms while hits are held: sends what there is.
 * A quitting worker sends all at once, for CRM_TRACKING_EXIT ms at most.
 */

static void
crm_tracking_timer(ngx_event_t *ev)
{
    crm_tracking_t  *tr;

    tr = ev->data;

    if (!tr->exiting && (ngx_exiting || ngx_quit || ngx_terminate)) {
        tr->exiting = 1;
        tr->exit_by = ngx_current_msec + CRM_TRACKING_EXIT;
        tr->retrying = 0;
    }

    if (tr->exiting
        && (ngx_msec_int_t) (ngx_current_msec - tr->exit_by) >= 0)
    {
        crm_tracking_drop_all(tr, "the worker is exiting");
    }

    crm_tracking_flush(tr, 1);
    crm_tracking_arm(tr);
}


/* the timer runs while anything is held, queued or in flight */

static void
crm_tracking_arm(crm_tracking_t *tr)
{
    ngx_msec_t  ms;

    if (tr->timer.timer_set || (tr->head == NULL && tr->inflight == 0)) {
        return;
    }

    ms = CRM_TRACKING_DELAY;

    if (tr->retrying && !tr->exiting) {
        ms = tr->retry_at - ngx_current_msec;

        if ((ngx_msec_int_t) ms <= 0) {
            ms = 1;
        }
    }

    ngx_add_timer(&tr->timer, ms);
}


static void
crm_tracking_drop_all(crm_tracking_t *tr, const char *why)
{
    ngx_uint_t             n;
    crm_tracking_batch_t  *b;

    n = 0;

    while (tr->head != NULL) {
        b = tr->head;
        tr->head = b->next;
        n += b->nhits;
        crm_tracking_free(tr, b);
    }

    tr->tail = NULL;

    if (n > 0) {
        crm_tracking_dropped(tr->mcf, n, why, NULL);
    }
}


/* counted; in the log at most once a second, with the count since */

static void
crm_tracking_dropped(ngx_http_crm_main_conf_t *mcf, ngx_uint_t n,
    const char *why, const char *detail)
{
    mcf->tracking_dropped += n;

    if (crm_log_limit(&mcf->tracking_log) < 0) {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "crm: tracking: an open or click was not recorded (%s%s%s)"
                  ", %ui since the last such line; %ui in all by this "
                  "worker",
                  why, detail ? ": " : "", detail ? detail : "",
                  mcf->tracking_dropped - mcf->tracking_logged,
                  mcf->tracking_dropped);

    mcf->tracking_logged = mcf->tracking_dropped;
}


/* the User-Agent as valid UTF-8, CRM_TRACK_UA_MAX characters; or NULL */

static ngx_int_t
crm_tracking_agent(ngx_http_request_t *r, ngx_pool_t *pool, crm_stmt_t *st,
    ngx_uint_t i)
{
    u_char           *p, *last;
    ngx_str_t         v;
    ngx_table_elt_t  *ua;

    ua = r->headers_in.user_agent;

    if (ua == NULL) {
        return NGX_OK;
    }

    p = ngx_pnalloc(pool, ngx_min(ua->value.len, 4 * CRM_TRACK_UA_MAX));
    if (p == NULL) {
        return NGX_ERROR;
    }

    last = crm_track_clean(p, ua->value.data, ua->value.len,
                           CRM_TRACK_UA_MAX);

    v.data = p;
    v.len = last - p;

    return crm_sql_set(st, i, &v);
}


static ngx_int_t
crm_tracking_page(ngx_http_request_t *r, ngx_uint_t status, ngx_str_t *page)
{
    if (crm_tracking_header(r, "Cache-Control", "no-store") != NGX_OK
        || crm_tracking_header(r, "Content-Security-Policy",
                               "default-src 'none'; style-src "
                               "'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'")
           != NGX_OK
        || crm_tracking_header(r, "Referrer-Policy", "no-referrer")
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_tracking_send(r, status, &crm_tracking_html, page->data,
                             page->len);
}


static ngx_int_t
crm_tracking_send(ngx_http_request_t *r, ngx_uint_t status, ngx_str_t *type,
    u_char *data, size_t len)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;

    if (type != NULL) {
        r->headers_out.content_type = *type;
        r->headers_out.content_type_len = type->len;
    }

    /* the module's own validators are for the API, nginx's not at all */
    r->disable_not_modified = 1;

    if (len == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = data;
    b->last = data + len;
    b->memory = 1;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
crm_tracking_header(ngx_http_request_t *r, const char *name,
    const char *value)
{
    ngx_str_t  v;

    v.data = (u_char *) value;
    v.len = ngx_strlen(value);

    return crm_http_header_out(r, name, &v);
}


static ngx_int_t
crm_tracking_not_allowed(ngx_http_request_t *r, const char *allow)
{
    if (crm_tracking_header(r, "Allow", allow) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_tracking_page(r, NGX_HTTP_NOT_ALLOWED, &crm_tracking_method);
}
