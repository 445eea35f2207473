
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
 * and the open or click is then recorded by a statement of its own
 * (db_email_track(), sql/017_tracking.sql) that no request waits for.
 * One that cannot be recorded is counted and summed up in the log, at
 * most a line a second.  An invalid token is 404, never a redirect.
 * The responses are HTML or images, not the API's JSON.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "model/crm_track.h"
#include "handlers/crm_handlers.h"


/* open and click statements in flight per worker; more are dropped */
#define CRM_TRACKING_INFLIGHT  32


typedef struct {
    ngx_pool_t                  *pool;
    ngx_http_crm_main_conf_t    *mcf;
} crm_tracking_write_t;


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
static void crm_tracking_recorded(crm_pg_req_t *pr, PGresult *res);
static void crm_tracking_dropped(ngx_http_crm_main_conf_t *mcf,
    const char *why, const char *detail);
static crm_stmt_t *crm_tracking_stmt(ngx_pool_t *pool, const char *sql,
    ngx_uint_t n);
static void crm_tracking_param(crm_stmt_t *st, ngx_uint_t i, u_char *p,
    size_t len);
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

    st = crm_tracking_stmt(r->pool,
                           "SELECT db_email_unsubscribe($1::uuid, $2::uuid,"
                           " $3, $4)", 4);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    crm_tracking_param(st, 0, t->ws.data, t->ws.len);
    crm_tracking_param(st, 1, t->email.data, t->email.len);
    crm_tracking_param(st, 3, r->connection->addr_text.data,
                       r->connection->addr_text.len);

    if (crm_tracking_agent(r, r->pool, st, 2) != NGX_OK) {
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
 * An open or a click: db_email_track() on a pool of its own, for a
 * statement that outlives the request, answered already.
 */

static void
crm_tracking_record(ngx_http_request_t *r, ngx_http_crm_main_conf_t *mcf,
    crm_track_t *t)
{
    u_char                *p;
    ngx_pool_t            *pool;
    crm_stmt_t            *st;
    crm_pg_req_t          *pr;
    crm_tracking_write_t  *w;

    if (mcf->pool == NULL) {
        crm_tracking_dropped(mcf, "no crm_postgres", NULL);
        return;
    }

    if (mcf->tracking_inflight >= CRM_TRACKING_INFLIGHT) {
        crm_tracking_dropped(mcf, "too many in flight", NULL);
        return;
    }

    pool = ngx_create_pool(1024, ngx_cycle->log);
    if (pool == NULL) {
        return;
    }

    w = ngx_palloc(pool, sizeof(crm_tracking_write_t));
    p = ngx_pnalloc(pool, t->ws.len + t->email.len + t->url.len
                          + r->connection->addr_text.len);

    st = crm_tracking_stmt(pool,
                           "SELECT db_email_track($1::uuid, $2::uuid, $3,"
                           " $4, $5, $6::boolean, $7)", 7);

    if (w == NULL || p == NULL || st == NULL
        || crm_tracking_agent(r, pool, st, 3) != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return;
    }

    /* copies: the request goes away before the statement ends */

    crm_tracking_param(st, 0, p, t->ws.len);
    p = ngx_cpymem(p, t->ws.data, t->ws.len);

    crm_tracking_param(st, 1, p, t->email.len);
    p = ngx_cpymem(p, t->email.data, t->email.len);

    if (t->kind == CRM_TRACK_OPEN) {
        crm_tracking_param(st, 2, (u_char *) "opened", 6);

    } else {
        crm_tracking_param(st, 2, (u_char *) "clicked", 7);
        crm_tracking_param(st, 6, p, t->url.len);
        p = ngx_cpymem(p, t->url.data, t->url.len);
    }

    crm_tracking_param(st, 4, p, r->connection->addr_text.len);
    ngx_memcpy(p, r->connection->addr_text.data,
               r->connection->addr_text.len);

    if (r->method == NGX_HTTP_HEAD) {
        crm_tracking_param(st, 5, (u_char *) "true", 4);

    } else {
        crm_tracking_param(st, 5, (u_char *) "false", 5);
    }

    pr = crm_pg_request(mcf->pool, pool, ngx_cycle->log);
    if (pr == NULL) {
        ngx_destroy_pool(pool);
        return;
    }

    w->pool = pool;
    w->mcf = mcf;

    mcf->tracking_inflight++;

    crm_pg_exec(pr, st, crm_tracking_recorded, w);
}


static void
crm_tracking_recorded(crm_pg_req_t *pr, PGresult *res)
{
    crm_tracking_write_t  *w;

    w = pr->data;

    w->mcf->tracking_inflight--;

    if (res == NULL) {
        crm_tracking_dropped(w->mcf,
                             pr->error == CRM_PG_BUSY ? "wait queue full"
                             : pr->error == CRM_PG_TIMEOUT ? "wait timed out"
                             : pr->error == CRM_PG_DOWN ? "database down"
                             : "connection lost", NULL);

    } else if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        crm_tracking_dropped(w->mcf, "statement failed",
                             PQresultErrorField(res,
                                                PG_DIAG_MESSAGE_PRIMARY));
    }

    ngx_destroy_pool(w->pool);
}


/* counted; in the log at most once a second, with the count since */

static void
crm_tracking_dropped(ngx_http_crm_main_conf_t *mcf, const char *why,
    const char *detail)
{
    ngx_int_t  n;

    mcf->tracking_dropped++;

    n = crm_log_limit(&mcf->tracking_log);
    if (n < 0) {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "crm: tracking: an open or click was not recorded (%s%s%s)"
                  ", and %i more since the last such line; %ui in all "
                  "by this worker",
                  why, detail ? ": " : "", detail ? detail : "", n,
                  mcf->tracking_dropped);
}


static crm_stmt_t *
crm_tracking_stmt(ngx_pool_t *pool, const char *sql, ngx_uint_t n)
{
    ngx_uint_t    i;
    crm_stmt_t   *st;
    crm_param_t  *param;

    st = ngx_pcalloc(pool, sizeof(crm_stmt_t));
    if (st == NULL
        || ngx_array_init(&st->params, pool, n, sizeof(crm_param_t))
           != NGX_OK)
    {
        return NULL;
    }

    st->sql.data = (u_char *) sql;
    st->sql.len = ngx_strlen(sql);

    for (i = 0; i < n; i++) {
        param = ngx_array_push(&st->params);
        if (param == NULL) {
            return NULL;
        }

        ngx_str_null(&param->value);
        param->null = 1;
    }

    return st;
}


static void
crm_tracking_param(crm_stmt_t *st, ngx_uint_t i, u_char *p, size_t len)
{
    crm_param_t  *param;

    param = st->params.elts;

    param[i].value.data = p;
    param[i].value.len = len;
    param[i].null = 0;
}


/* the User-Agent as valid UTF-8, CRM_TRACK_UA_MAX characters; or NULL */

static ngx_int_t
crm_tracking_agent(ngx_http_request_t *r, ngx_pool_t *pool, crm_stmt_t *st,
    ngx_uint_t i)
{
    u_char           *p, *last;
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

    crm_tracking_param(st, i, p, last - p);

    return NGX_OK;
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
