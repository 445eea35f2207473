
/*
 * ngx_http_crm_module: the response envelope, the error catalog, request
 * ids and output.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include <openssl/rand.h>


typedef struct {
    ngx_uint_t                status;
    const char               *code;
} crm_error_def_t;


/* what nginx itself may answer, as the catalog's errors */

typedef struct {
    ngx_uint_t                status;       /* as nginx meant it */
    ngx_uint_t                error;        /* crm_error_e */
    const char               *message;
} crm_error_page_t;


static ngx_int_t crm_http_random(u_char *buf, size_t len);
static void crm_http_status_line(ngx_http_request_t *r, ngx_uint_t status);
static ngx_int_t crm_http_request_id_valid(ngx_str_t *id);
static u_char *crm_http_timestamp(u_char *p);
static void crm_http_redis_resume(crm_redis_cmd_t *cmd, redisReply *reply,
    void *data);
static json_t *crm_http_error_object(const char *code, ngx_uint_t status,
    const char *message, json_t *details);
static ngx_int_t crm_http_error_render(ngx_http_request_t *r,
    crm_ctx_t *ctx, json_t *err, ngx_str_t *out);


/* indexed by crm_error_e; codes are part of the API: never rename */

static const crm_error_def_t  crm_errors[] = {
    { NGX_HTTP_BAD_REQUEST, "BAD_REQUEST" },
    { NGX_HTTP_BAD_REQUEST, "INVALID_JSON" },
    { NGX_HTTP_BAD_REQUEST, "INVALID_PARAMETER" },
    { NGX_HTTP_UNAUTHORIZED, "UNAUTHENTICATED" },
    { NGX_HTTP_FORBIDDEN, "FORBIDDEN" },
    { NGX_HTTP_NOT_FOUND, "RESOURCE_NOT_FOUND" },
    { NGX_HTTP_NOT_ALLOWED, "METHOD_NOT_ALLOWED" },
    { NGX_HTTP_CONFLICT, "CONFLICT" },
    { NGX_HTTP_CONFLICT, "DUPLICATE" },
    { NGX_HTTP_CONFLICT, "INVALID_STATE" },
    { NGX_HTTP_PRECONDITION_FAILED, "PRECONDITION_FAILED" },
    { NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, "PAYLOAD_TOO_LARGE" },
    { NGX_HTTP_UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE" },
    { 422, "VALIDATION_FAILED" },
    { 422, "IDEMPOTENCY_KEY_REUSED" },
    { 424, "NOT_APPLIED" },
    { 429, "RATE_LIMITED" },
    { NGX_HTTP_INTERNAL_SERVER_ERROR, "INTERNAL" },
    { NGX_HTTP_SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE" },
    { NGX_HTTP_BAD_REQUEST, "REQUEST_HEADER_TOO_LARGE" },
    { NGX_HTTP_REQUEST_URI_TOO_LARGE, "URI_TOO_LONG" },
    { NGX_HTTP_NOT_IMPLEMENTED, "NOT_IMPLEMENTED" },
    { NGX_HTTP_VERSION_NOT_SUPPORTED, "HTTP_VERSION_NOT_SUPPORTED" }
};


/*
 * nginx's own error responses (crm_error_pages.c): 494 is nginx's "request
 * header too large", which it sends as 400.  Any other status is
 * "HTTP_ERROR" with that status.
 */

static const crm_error_page_t  crm_error_pages[] = {
    { NGX_HTTP_BAD_REQUEST, CRM_E_BAD_REQUEST,
      "the request is malformed" },
    { NGX_HTTP_REQUEST_HEADER_TOO_LARGE, CRM_E_REQUEST_HEADER_TOO_LARGE,
      "the request's headers are too large" },
    { NGX_HTTP_UNAUTHORIZED, CRM_E_UNAUTHENTICATED,
      "authentication is required" },
    { NGX_HTTP_FORBIDDEN, CRM_E_FORBIDDEN,
      "access is forbidden" },
    { NGX_HTTP_NOT_FOUND, CRM_E_NOT_FOUND,
      "no such route" },
    { NGX_HTTP_NOT_ALLOWED, CRM_E_METHOD_NOT_ALLOWED,
      "the method is not allowed" },
    { NGX_HTTP_PRECONDITION_FAILED, CRM_E_PRECONDITION_FAILED,
      "a precondition of the request failed" },
    { NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, CRM_E_PAYLOAD_TOO_LARGE,
      "the request body is too large" },
    { NGX_HTTP_REQUEST_URI_TOO_LARGE, CRM_E_URI_TOO_LONG,
      "the request line is too long" },
    { NGX_HTTP_UNSUPPORTED_MEDIA_TYPE, CRM_E_UNSUPPORTED_MEDIA_TYPE,
      "the media type is not supported" },
    { NGX_HTTP_TOO_MANY_REQUESTS, CRM_E_RATE_LIMITED,
      "too many requests" },
    { NGX_HTTP_INTERNAL_SERVER_ERROR, CRM_E_INTERNAL,
      "internal error" },
    { NGX_HTTP_NOT_IMPLEMENTED, CRM_E_NOT_IMPLEMENTED,
      "the request uses a feature the server does not implement" },
    { NGX_HTTP_SERVICE_UNAVAILABLE, CRM_E_SERVICE_UNAVAILABLE,
      "the service is unavailable" },
    { NGX_HTTP_VERSION_NOT_SUPPORTED, CRM_E_HTTP_VERSION_NOT_SUPPORTED,
      "the HTTP version is not supported" }
};


crm_ctx_t *
crm_http_ctx(ngx_http_request_t *r)
{
    crm_ctx_t  *ctx;

    ctx = ngx_pcalloc(r->pool, sizeof(crm_ctx_t));
    if (ctx == NULL) {
        return NULL;
    }

    ctx->request = r;
    ctx->mcf = ngx_http_get_module_main_conf(r, ngx_http_crm_module);
    ctx->total = -1;
    ctx->limit_remaining = -1;
    ctx->started = ngx_current_msec;

    ngx_http_set_ctx(r, ctx, ngx_http_crm_module);

    return ctx;
}


/* keeps a sane incoming X-Request-Id, otherwise makes one */

ngx_int_t
crm_http_request_id(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    u_char           *p;
    ngx_table_elt_t  *h;
    u_char            rnd[12];

    h = crm_http_header_in(r, "X-Request-Id", sizeof("X-Request-Id") - 1);

    if (h != NULL && crm_http_request_id_valid(&h->value) == NGX_OK) {
        ctx->request_id = h->value;

    } else {
        if (crm_http_random(rnd, sizeof(rnd)) != NGX_OK) {
            ngx_memcpy(rnd, &r->start_sec, sizeof(time_t));
            ngx_memcpy(rnd + 4, &ctx->mcf->id_seq, sizeof(uint32_t));
            rnd[8] = (u_char) ngx_pid;
            rnd[9] = (u_char) (ngx_pid >> 8);
            rnd[10] = (u_char) ngx_random();
            rnd[11] = (u_char) r->start_msec;
        }

        ctx->mcf->id_seq++;

        p = ngx_pnalloc(r->pool, sizeof("req_") - 1 + 2 * sizeof(rnd));
        if (p == NULL) {
            return NGX_ERROR;
        }

        ctx->request_id.data = p;
        p = ngx_cpymem(p, "req_", sizeof("req_") - 1);
        p = ngx_hex_dump(p, rnd, sizeof(rnd));
        ctx->request_id.len = p - ctx->request_id.data;
    }

    return crm_http_header_out(r, "X-Request-Id", &ctx->request_id);
}


/*
 * Random bytes for request ids, drawn from OpenSSL a page at a time: a
 * RAND_bytes() call each request cost a getpid() (its fork check) and its
 * lock.  The page belongs to the process that drew it.
 */

static ngx_int_t
crm_http_random(u_char *buf, size_t len)
{
    static u_char      page[4096];
    static size_t      left;
    static ngx_pid_t   pid;

    if (left < len || pid != ngx_pid) {
        if (RAND_bytes(page, sizeof(page)) != 1) {
            left = 0;
            return NGX_ERROR;
        }

        left = sizeof(page);
        pid = ngx_pid;
    }

    left -= len;
    ngx_memcpy(buf, page + left, len);
    ngx_memzero(page + left, len);

    return NGX_OK;
}


static ngx_int_t
crm_http_request_id_valid(ngx_str_t *id)
{
    size_t   i;
    u_char   ch;

    if (id->len == 0 || id->len > CRM_REQUEST_ID_MAX) {
        return NGX_DECLINED;
    }

    for (i = 0; i < id->len; i++) {
        ch = id->data[i];

        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')
            || (ch >= '0' && ch <= '9')
            || ch == '-' || ch == '_' || ch == '.' || ch == ':')
        {
            continue;
        }

        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* "2026-01-15T10:30:00.000Z" */

static u_char *
crm_http_timestamp(u_char *p)
{
    ngx_tm_t    tm;
    ngx_time_t *tp;

    tp = ngx_timeofday();
    ngx_gmtime(tp->sec, &tm);

    return ngx_sprintf(p, "%4d-%02d-%02dT%02d:%02d:%02d.%03MZ",
                       tm.ngx_tm_year, tm.ngx_tm_mon, tm.ngx_tm_mday,
                       tm.ngx_tm_hour, tm.ngx_tm_min, tm.ngx_tm_sec,
                       tp->msec);
}


/*
 * The members every meta object starts with, without braces:
 * "requestId":"...","timestamp":"..."
 */

ngx_int_t
crm_http_meta(ngx_http_request_t *r, crm_ctx_t *ctx, u_char **out,
    size_t *len)
{
    u_char  *p, *start;

    start = ngx_pnalloc(r->pool, sizeof("\"requestId\":\"\",\"timestamp\":\"\"")
                                 + ctx->request_id.len
                                 + sizeof("2026-01-15T10:30:00.000Z"));
    if (start == NULL) {
        return NGX_ERROR;
    }

    /* the request id holds only characters that need no escaping */

    p = ngx_sprintf(start, "\"requestId\":\"%V\",\"timestamp\":\"",
                    &ctx->request_id);
    p = crm_http_timestamp(p);
    *p++ = '"';

    *out = start;
    *len = p - start;

    return NGX_OK;
}


ngx_int_t
crm_http_send(ngx_http_request_t *r, ngx_uint_t status, ngx_chain_t *out,
    size_t len)
{
    ngx_int_t   rc;
    crm_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_crm_module);

    if (ctx != NULL) {
        /* the module's own answer: crm_error_pages.c leaves it alone */
        ctx->answered = 1;

        if (ctx->on_send != NULL) {
            /* before sending: the output filters consume the buffers */
            ctx->on_send(r, ctx, status, out);
        }
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = len;
    crm_http_status_line(r, status);

    if (len > 0) {
        ngx_str_set(&r->headers_out.content_type, "application/json");
        r->headers_out.content_type_len = r->headers_out.content_type.len;
        r->headers_out.content_type_lowcase = NULL;
    }

    if (status == NGX_HTTP_NO_CONTENT || len == 0) {
        r->header_only = 1;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, out);
}


/*
 * The reason phrases of the statuses the module sends that nginx's own
 * table lacks: it would send "HTTP/1.1 422 " (HTTP/2 has none)
 */

static void
crm_http_status_line(ngx_http_request_t *r, ngx_uint_t status)
{
    switch (status) {

    case 207:
        ngx_str_set(&r->headers_out.status_line, "207 Multi-Status");
        break;

    case 422:
        ngx_str_set(&r->headers_out.status_line, "422 Unprocessable Content");
        break;

    default:
        break;
    }
}


ngx_int_t
crm_http_send_data(ngx_http_request_t *r, ngx_uint_t status, u_char *data,
    size_t len)
{
    ngx_buf_t    *b;
    ngx_chain_t   out;

    if (len == 0) {
        return crm_http_send(r, status, NULL, 0);
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

    return crm_http_send(r, status, &out, len);
}


/*
 * The catalog as the OpenAPI document lists it: "HTTP_ERROR" (nginx's
 * other error pages) comes last, with status 0 (any).
 */

const char *
crm_http_error_code(ngx_uint_t i, ngx_uint_t *status)
{
    ngx_uint_t  n;

    n = sizeof(crm_errors) / sizeof(crm_error_def_t);

    if (i < n) {
        *status = crm_errors[i].status;
        return crm_errors[i].code;
    }

    if (i == n) {
        *status = 0;
        return "HTTP_ERROR";
    }

    return NULL;
}


/*
 * {"error":{"code":"...","status":N,"message":"...","details":{...}},
 *  "meta":{...}}
 *
 * "details" is stolen (decref'ed) whatever happens.  While ctx->on_error
 * is set (the bulk handler, for each of its operations; the pipeline,
 * while it reads a body) the error object goes to it instead of the
 * client.
 */

ngx_int_t
crm_http_error(ngx_http_request_t *r, ngx_uint_t error, const char *message,
    json_t *details)
{
    json_t                 *err;
    crm_ctx_t              *ctx;
    const crm_error_def_t  *def;

    def = &crm_errors[error];
    ctx = ngx_http_get_module_ctx(r, ngx_http_crm_module);

    err = crm_http_error_object(def->code, def->status, message, details);
    if (err == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx != NULL && ctx->on_error != NULL) {
        /*
         * one operation of a bulk request: its result, not a response;
         * or a body's refusal, kept for after the stages
         */
        return ctx->on_error(r, ctx, err);
    }

    return crm_http_error_send(r, ctx, err);
}


/* sends an error object of crm_http_error_object(), which it steals */

ngx_int_t
crm_http_error_send(ngx_http_request_t *r, crm_ctx_t *ctx, json_t *err)
{
    ngx_str_t   value;
    ngx_uint_t  status;

    status = crm_http_error_status(err);

    if (crm_http_error_render(r, ctx, err, &value) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (status == NGX_HTTP_UNAUTHORIZED) {
        ngx_str_t  www = ngx_string("Bearer realm=\"crm\"");

        if (crm_http_header_out(r, "WWW-Authenticate", &www) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (status == NGX_HTTP_INTERNAL_SERVER_ERROR) {
        /*
         * a bug: start the client afresh.  A 503 keeps the connection,
         * so that clients retrying through an outage do not reconnect
         * each time
         */
        r->keepalive = 0;
    }

    r->headers_out.content_length_n = value.len;

    return crm_http_send_data(r, status, value.data, value.len);
}


/* the "status" of an error object */

ngx_uint_t
crm_http_error_status(json_t *err)
{
    return (ngx_uint_t) json_integer_value(json_object_get(err, "status"));
}


/*
 * The envelope of a response nginx made itself (an error page), for
 * crm_error_pages.c: only the body, nothing is sent.  "status" is what
 * nginx meant (494 for a header too large); the envelope's status is the
 * one nginx sends.
 */

ngx_int_t
crm_http_error_page(ngx_http_request_t *r, crm_ctx_t *ctx, ngx_uint_t status,
    ngx_str_t *out)
{
    json_t                   *err;
    ngx_uint_t                i;
    const crm_error_def_t    *def;
    const crm_error_page_t   *page;
    u_char                    msg[64];

    page = NULL;

    for (i = 0; i < sizeof(crm_error_pages) / sizeof(crm_error_page_t); i++) {
        if (crm_error_pages[i].status == status) {
            page = &crm_error_pages[i];
            break;
        }
    }

    if (page != NULL) {
        def = &crm_errors[page->error];
        err = crm_http_error_object(def->code, def->status, page->message,
                                    NULL);

    } else {
        ngx_sprintf(msg, "the request failed with status %ui%Z", status);
        err = crm_http_error_object("HTTP_ERROR", status, (char *) msg, NULL);
    }

    if (err == NULL) {
        return NGX_ERROR;
    }

    return crm_http_error_render(r, ctx, err, out);
}


/* {"code":"...","status":N,"message":"...","details":{...}} */

static json_t *
crm_http_error_object(const char *code, ngx_uint_t status,
    const char *message, json_t *details)
{
    json_t  *err, *msg;

    if (details == NULL) {
        details = json_object();
    }

    msg = json_string(message);
    if (msg == NULL) {
        /* echoes client input that is not UTF-8 */
        msg = json_string("the request is malformed");
    }

    err = json_object();

    if (err == NULL || msg == NULL || details == NULL
        || json_object_set_new(err, "code", json_string(code)) != 0
        || json_object_set_new(err, "status", json_integer(status)) != 0)
    {
        json_decref(err);
        json_decref(msg);
        json_decref(details);
        return NULL;
    }

    json_object_set_new(err, "message", msg);
    json_object_set_new(err, "details", details);

    return err;
}


/*
 * {"error":<err>,"meta":{...}} into out (the request's pool); "err" is
 * stolen whatever happens
 */

static ngx_int_t
crm_http_error_render(ngx_http_request_t *r, crm_ctx_t *ctx, json_t *err,
    ngx_str_t *out)
{
    char    *dump;
    u_char  *p, *meta;
    size_t   len, mlen;
    json_t  *body;

    body = json_object();
    if (body == NULL) {
        json_decref(err);
        return NGX_ERROR;
    }

    if (json_object_set_new(body, "error", err) != 0) {
        json_decref(body);
        return NGX_ERROR;
    }

    dump = json_dumps(body, JSON_COMPACT);
    json_decref(body);

    if (dump == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(dump);

    meta = NULL;
    mlen = 0;

    if (ctx != NULL && crm_http_meta(r, ctx, &meta, &mlen) != NGX_OK) {
        free(dump);
        return NGX_ERROR;
    }

    /* dump ends with "}}": splice the meta object in before the last "}" */

    p = ngx_pnalloc(r->pool, len + sizeof(",\"meta\":{}") + mlen);
    if (p == NULL) {
        free(dump);
        return NGX_ERROR;
    }

    out->data = p;
    p = ngx_cpymem(p, dump, len - 1);
    p = ngx_cpymem(p, ",\"meta\":{", sizeof(",\"meta\":{") - 1);
    p = ngx_cpymem(p, meta, mlen);
    *p++ = '}';
    *p++ = '}';
    out->len = p - out->data;

    free(dump);

    return NGX_OK;
}


/* 422 VALIDATION_FAILED naming one field */

ngx_int_t
crm_http_field_error(ngx_http_request_t *r, const char *field,
    const char *code, const char *message)
{
    ngx_array_t         errors;
    crm_field_error_t  *fe;

    if (ngx_array_init(&errors, r->pool, 1, sizeof(crm_field_error_t))
        != NGX_OK
        || (fe = ngx_array_push(&errors)) == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    fe->field.data = (u_char *) field;
    fe->field.len = ngx_strlen(field);
    fe->code.data = (u_char *) code;
    fe->code.len = ngx_strlen(code);
    fe->message.data = (u_char *) message;
    fe->message.len = ngx_strlen(message);

    return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                 "the request is not valid", &errors);
}


/* VALIDATION_FAILED & co: details.fields from crm_field_error_t */

ngx_int_t
crm_http_field_errors(ngx_http_request_t *r, ngx_uint_t error,
    const char *message, ngx_array_t *errors)
{
    json_t             *fields, *details, *item;
    ngx_uint_t          i;
    crm_field_error_t  *fe;

    details = json_object();
    fields = json_array();

    if (details == NULL || fields == NULL) {
        json_decref(details);
        json_decref(fields);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(details, "fields", fields);

    fe = errors->elts;

    for (i = 0; i < errors->nelts; i++) {
        item = json_pack("{s:s%,s:s%,s:s%}",
                         "field", fe[i].field.data, fe[i].field.len,
                         "code", fe[i].code.data, fe[i].code.len,
                         "message", fe[i].message.data, fe[i].message.len);
        if (item == NULL) {
            /* not valid UTF-8 (a field name as sent): say it plainly */
            item = json_pack("{s:s,s:s%,s:s%}",
                             "field", "(invalid)",
                             "code", fe[i].code.data, fe[i].code.len,
                             "message", fe[i].message.data,
                             fe[i].message.len);
        }

        if (item != NULL) {
            json_array_append_new(fields, item);
        }
    }

    return crm_http_error(r, error, message, details);
}


/* INVALID_PARAMETER naming the parameter */

ngx_int_t
crm_http_param_error(ngx_http_request_t *r, crm_error_t *err)
{
    u_char  *msg;
    json_t  *details;

    details = json_pack("{s:s%,s:s%}",
                        "parameter", err->param.data, err->param.len,
                        "code", err->code.data, err->code.len);

    msg = ngx_pnalloc(r->pool, err->message.len + 1);
    if (msg == NULL) {
        json_decref(details);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(msg, err->message.data, err->message.len);
    msg[err->message.len] = '\0';

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "crm: invalid parameter \"%V\": %V",
                  &err->param, &err->message);

    return crm_http_error(r, CRM_E_INVALID_PARAMETER, (char *) msg,
                          details);
}


/*
 * A route that takes no query parameter: NGX_OK when there is none, else
 * NGX_ABORT, answered (ctx->rc) with INVALID_PARAMETER naming the first
 */

ngx_int_t
crm_http_no_args(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ngx_int_t    rc;
    crm_error_t  err;

    if (r->args.len == 0) {
        return NGX_OK;
    }

    rc = crm_query_parse_none(r->pool, &r->args, &err);

    if (rc == NGX_OK) {
        return NGX_OK;
    }

    ctx->rc = (rc == NGX_DECLINED) ? crm_http_param_error(r, &err)
                                   : NGX_HTTP_INTERNAL_SERVER_ERROR;

    return NGX_ABORT;
}


ngx_table_elt_t *
crm_http_header_in(ngx_http_request_t *r, const char *name, size_t len)
{
    return crm_http_header_in_next(r, name, len, NULL);
}


/* the request header "name" after "prev" (NULL: the first), or NULL */

ngx_table_elt_t *
crm_http_header_in_next(ngx_http_request_t *r, const char *name, size_t len,
    ngx_table_elt_t *prev)
{
    ngx_uint_t        i;
    ngx_list_part_t  *part;
    ngx_table_elt_t  *h;

    part = &r->headers_in.headers.part;
    h = part->elts;

    for (i = 0; /* void */ ; i++) {

        if (i >= part->nelts) {
            if (part->next == NULL) {
                return NULL;
            }

            part = part->next;
            h = part->elts;
            i = 0;
        }

        if (prev != NULL) {
            if (&h[i] == prev) {
                prev = NULL;
            }

            continue;
        }

        if (h[i].key.len == len
            && ngx_strncasecmp(h[i].key.data, (u_char *) name, len) == 0)
        {
            return &h[i];
        }
    }
}


/* Cache-Control: no-store, for a response that shows a secret */

ngx_int_t
crm_http_no_store(ngx_http_request_t *r)
{
    static ngx_str_t  v = ngx_string("no-store");

    return crm_http_header_out(r, "Cache-Control", &v);
}


ngx_int_t
crm_http_header_out(ngx_http_request_t *r, const char *name,
    ngx_str_t *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value = *value;

    return NGX_OK;
}


/*
 * A refusal to retry later (429, 503): Retry-After in whole seconds (at
 * least 1), and the same in details.retryAfter, with details.reason when
 * given
 */

ngx_int_t
crm_http_retry(ngx_http_request_t *r, ngx_uint_t error, const char *message,
    ngx_msec_t ms, const char *reason)
{
    u_char     *p;
    json_t     *details;
    ngx_str_t   retry;
    crm_ctx_t  *ctx;
    ngx_uint_t  sec;

    ctx = ngx_http_get_module_ctx(r, ngx_http_crm_module);

    sec = ngx_max((ms + 999) / 1000, 1);

    /* a bulk operation's error (ctx->on_error) has no headers of its own */

    if (ctx == NULL || ctx->on_error == NULL) {
        p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (p == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        retry.data = p;
        retry.len = ngx_sprintf(p, "%ui", sec) - p;

        if (crm_http_header_out(r, "Retry-After", &retry) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (reason != NULL) {
        details = json_pack("{s:i,s:s}", "retryAfter", (int) sec,
                            "reason", reason);

    } else {
        details = json_pack("{s:i}", "retryAfter", (int) sec);
    }

    return crm_http_error(r, error, message, details);
}


/* the one place an asynchronous path ends a request */

void
crm_http_done(ngx_http_request_t *r, ngx_int_t rc)
{
    ngx_http_finalize_request(r, rc);
}


/*
 * -1: leave the line out (one of its kind was written less than a second
 * ago); otherwise write it, saying how many were left out since the last.
 * For what can happen on every request while a dependency is away.
 */

ngx_int_t
crm_log_limit(crm_log_limit_t *ll)
{
    ngx_int_t  n;

    if ((ngx_msec_int_t) (ll->next - ngx_current_msec) > 0) {
        ll->skipped++;
        return -1;
    }

    n = ll->skipped;
    ll->skipped = 0;
    ll->next = ngx_current_msec + 1000;

    return n;
}


/*
 * To be called when a PostgreSQL or Redis callback has resumed or
 * finished a request of connection "c" (captured before the callback: the
 * request may be freed by it).  What nginx posted on the connection
 * meanwhile must run, as nginx's upstream module runs it after every
 * upstream event: above all the termination nginx queues when the write
 * to a client that went away fails; left alone, it never runs and the
 * connection leaks.
 *
 * The posted requests are not run here but from the connection's write
 * event, posted for this cycle of the event loop: a callback may be
 * called synchronously inside the request's own pipeline (a pool that
 * refuses at once), where running the termination would free the request
 * under its callers.  The write event's handler, ngx_http_request_handler(),
 * runs the posted requests; ngx_close_connection() unposts the event.
 */

void
crm_http_posted(ngx_connection_t *c)
{
    ngx_http_request_t  *r;

    /* nginx sets c->destroyed when it frees the request */

    if (c->destroyed) {
        return;
    }

    r = c->data;

    if (r->main->posted_requests != NULL && !c->write->posted) {
        ngx_post_event(c->write, &ngx_posted_events);
    }
}


/*
 * A request is about to wait for PostgreSQL or Redis.  A safe request
 * (GET, HEAD) whose client goes away is finalized at once, as nginx does
 * while it waits for an upstream: its statement's result is then
 * discarded.  A write goes on to its end, so that its response can be
 * kept for an Idempotency-Key retry; the termination nginx queues when
 * that response cannot be written is run by crm_http_posted().
 */

void
crm_http_wait(ngx_http_request_t *r)
{
    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) || r->discard_body) {
        return;
    }

    r->read_event_handler = ngx_http_test_reading;

    /* a close that arrived before this point is seen at once */

    if (r->connection->read->ready) {
        ngx_post_event(r->connection->read, &ngx_posted_events);
    }
}


/*
 * A Redis command for a request: "h" resumes the request (one command in
 * flight per request), and the connection's posted requests run after it.
 * NULL: Redis is down, "h" is never called.
 */

crm_redis_cmd_t *
crm_http_redis(ngx_http_request_t *r, crm_ctx_t *ctx, crm_redis_handler_pt h,
    ngx_uint_t argc, ngx_str_t *argv)
{
    ctx->redis_handler = h;

    return crm_redis_command(ctx->mcf->redis, r->pool, crm_http_redis_resume,
                             r, argc, argv);
}


static void
crm_http_redis_resume(crm_redis_cmd_t *cmd, redisReply *reply, void *data)
{
    ngx_http_request_t *r = data;

    crm_ctx_t         *ctx;
    ngx_connection_t  *c;

    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_crm_module);

    ctx->redis_handler(cmd, reply, r);

    crm_http_posted(c);
}


/*
 * Whom rate limits and Idempotency-Keys count for: a session's user (a
 * new login or a refresh is still that user, not a fresh budget), a
 * key, or a static key's workspace
 */

ngx_str_t *
crm_http_subject(crm_principal_t *pr)
{
    if (pr->kind == CRM_PRINCIPAL_SESSION && pr->user.len > 0) {
        return &pr->user;
    }

    return pr->id.len ? &pr->id : &pr->workspace;
}
