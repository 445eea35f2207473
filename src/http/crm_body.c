
/*
 * ngx_http_crm_module: request bodies.
 *
 * nginx buffers a body as it does for any module: up to the location's
 * client_body_buffer_size in memory, the rest in a temporary file; so a
 * client that sends a large body slowly holds a small buffer, not the
 * whole body.  The body is then parsed from where it is, in chunks, with
 * jansson under a nesting limit.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include <math.h>


#define CRM_JSON_MAX_DEPTH    32


static size_t crm_json_load(void *buffer, size_t size, void *data);
static ngx_int_t crm_json_depth(json_t *j, ngx_uint_t depth);
static const char *crm_json_reason(json_error_t *jerr);
static void crm_json_integers(json_t *j, ngx_uint_t depth);
static json_t *crm_json_exact(json_t *v);
static void crm_json_cleanup(void *data);
static void crm_body_error_cleanup(void *data);


/*
 * NGX_OK: ctx->body holds a JSON object.  NGX_ABORT: the request was
 * answered (ctx->rc).
 */

ngx_int_t
crm_json_body(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    off_t                len;
    json_t              *root, *details;
    ngx_chain_t         *cl;
    json_error_t         jerr;
    crm_body_reader_t    rd;
    ngx_pool_cleanup_t  *cln;
    char                 msg[256];

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        ctx->rc = crm_http_error(r, CRM_E_INVALID_JSON,
                                 "the request body is empty", NULL);
        return NGX_ABORT;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        len += ngx_buf_size(cl->buf);
    }

    if (len == 0) {
        ctx->rc = crm_http_error(r, CRM_E_INVALID_JSON,
                                 "the request body is empty", NULL);
        return NGX_ABORT;
    }

    crm_body_reader_init(&rd, r);

    /*
     * JSON_DECODE_ANY: a scalar ("x", 42, null) is valid JSON, and is 400
     * BAD_REQUEST below as any body that is not an object
     */

    root = json_load_callback(crm_json_load, &rd,
                              JSON_REJECT_DUPLICATES|JSON_DECODE_ANY, &jerr);

    if (root == NULL && json_error_code(&jerr) == json_error_numeric_overflow)
    {
        /*
         * Valid JSON with an integer beyond 64 bits: numbers are read as
         * reals, those that fit go back to integers, and the validation
         * of the fields tells which one is out of range (422)
         */
        crm_body_reader_init(&rd, r);

        root = json_load_callback(crm_json_load, &rd,
                                  JSON_REJECT_DUPLICATES|JSON_DECODE_ANY
                                  |JSON_DECODE_INT_AS_REAL,
                                  &jerr);

        if (root != NULL) {
            crm_json_integers(root, 0);
        }
    }

    if (root == NULL && rd.error) {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    if (root == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: invalid JSON body: %s at line %d column %d",
                      jerr.text, jerr.line, jerr.column);

        details = json_pack("{s:i,s:i,s:i}", "line", jerr.line,
                            "column", jerr.column,
                            "position", jerr.position);

        /* the parser's own words name its flags: the API has its own */

        ngx_snprintf((u_char *) msg, sizeof(msg) - 1,
                     "invalid JSON at line %d, column %d: %s%Z",
                     jerr.line, jerr.column, crm_json_reason(&jerr));
        msg[sizeof(msg) - 1] = '\0';

        ctx->rc = crm_http_error(r, CRM_E_INVALID_JSON, msg, details);
        return NGX_ABORT;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        json_decref(root);
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    cln->handler = crm_json_cleanup;
    cln->data = root;

    if (!json_is_object(root)) {
        ctx->rc = crm_http_error(r, CRM_E_BAD_REQUEST,
                                 "the request body must be a JSON object",
                                 NULL);
        return NGX_ABORT;
    }

    if (crm_json_depth(root, 0) != NGX_OK) {
        ctx->rc = crm_http_error(r, CRM_E_INVALID_JSON,
                                 "the request body is nested too deeply",
                                 NULL);
        return NGX_ABORT;
    }

    ctx->body = root;

    return NGX_OK;
}


/*
 * ctx->on_error while the pipeline reads a body: its refusal (415, 400)
 * waits until the request's credential and rate limit are checked
 * (crm_body_check()), so that a client who is not allowed to ask, or has
 * asked too often, learns that first, and so that a refused body counts
 * against the limit as any request does.  A 413 is answered at once, as
 * nginx answers its own: a body that large is not read.
 */

ngx_int_t
crm_body_defer(ngx_http_request_t *r, crm_ctx_t *ctx, json_t *err)
{
    ngx_pool_cleanup_t  *cln;

    if (crm_http_error_status(err) == NGX_HTTP_REQUEST_ENTITY_TOO_LARGE) {
        return crm_http_error_send(r, ctx, err);
    }

    if (ctx->body_error != NULL) {
        json_decref(err);
        return NGX_OK;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        json_decref(err);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = crm_body_error_cleanup;
    cln->data = ctx;

    ctx->body_error = err;

    return NGX_OK;
}


/* the stage that sends a body's refusal kept by crm_body_defer() */

ngx_int_t
crm_body_check(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    json_t  *err;

    if (ctx->body_error == NULL) {
        return NGX_OK;
    }

    err = ctx->body_error;
    ctx->body_error = NULL;

    ctx->rc = crm_http_error_send(r, ctx, err);

    return NGX_ABORT;
}


/* the body from its start, wherever nginx keeps its parts */

void
crm_body_reader_init(crm_body_reader_t *rd, ngx_http_request_t *r)
{
    rd->cl = (r->request_body != NULL) ? r->request_body->bufs : NULL;
    rd->offset = 0;
    rd->error = 0;
    rd->log = r->connection->log;
}


/*
 * Up to "size" bytes of the body into "dst": 0 at its end, NGX_ERROR when
 * the temporary file cannot be read.  The file was written a moment ago
 * by this worker: its pages are in the page cache.
 */

ssize_t
crm_body_read(crm_body_reader_t *rd, u_char *dst, size_t size)
{
    off_t       avail;
    size_t      n, done;
    ssize_t     got;
    ngx_buf_t  *b;

    done = 0;

    while (rd->cl != NULL && done < size) {
        b = rd->cl->buf;

        if (b->in_file) {
            avail = b->file_last - b->file_pos - rd->offset;

        } else {
            avail = b->last - b->pos - rd->offset;
        }

        if (avail <= 0) {
            rd->cl = rd->cl->next;
            rd->offset = 0;
            continue;
        }

        n = (size_t) ngx_min(avail, (off_t) (size - done));

        if (b->in_file) {
            got = ngx_read_file(b->file, dst + done, n,
                                b->file_pos + rd->offset);

            if (got == NGX_ERROR || got == 0) {
                ngx_log_error(NGX_LOG_ALERT, rd->log, 0,
                              "crm: cannot read the request body from "
                              "\"%V\"", &b->file->name);
                rd->error = 1;
                return NGX_ERROR;
            }

            n = (size_t) got;

        } else {
            ngx_memcpy(dst + done, b->pos + rd->offset, n);
        }

        rd->offset += n;
        done += n;
    }

    return done;
}


static size_t
crm_json_load(void *buffer, size_t size, void *data)
{
    ssize_t  n;

    n = crm_body_read(data, buffer, size);

    return (n == NGX_ERROR) ? (size_t) -1 : (size_t) n;
}


static ngx_int_t
crm_json_depth(json_t *j, ngx_uint_t depth)
{
    size_t       i;
    json_t      *v;
    const char  *key;

    if (depth > CRM_JSON_MAX_DEPTH) {
        return NGX_DECLINED;
    }

    if (json_is_object(j)) {
        json_object_foreach(j, key, v) {
            if (crm_json_depth(v, depth + 1) != NGX_OK) {
                return NGX_DECLINED;
            }
        }

    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v) {
            if (crm_json_depth(v, depth + 1) != NGX_OK) {
                return NGX_DECLINED;
            }
        }
    }

    return NGX_OK;
}


static const char *
crm_json_reason(json_error_t *jerr)
{
    switch (json_error_code(jerr)) {

    case json_error_invalid_utf8:
        return "the text is not valid UTF-8";

    case json_error_premature_end_of_input:
        return "the body ends inside a value";

    case json_error_end_of_input_expected:
        return "more text follows the JSON value";

    case json_error_null_character:
    case json_error_null_byte_in_key:
        return "a string holds a NUL character (\\u0000)";

    case json_error_duplicate_key:
        return "an object has the same key twice";

    case json_error_stack_overflow:
        return "nested too deeply";

    case json_error_numeric_overflow:
        return "a number is out of range";

    case json_error_out_of_memory:
        return "out of memory";

    default:
        return "not valid JSON syntax";
    }
}


/*
 * After a parse with JSON_DECODE_INT_AS_REAL: the reals that are whole
 * numbers within 2^53 (exact in a double) become integers again; larger
 * ones stay reals, which the validation of an integer field refuses as
 * out of range
 */

static void
crm_json_integers(json_t *j, ngx_uint_t depth)
{
    size_t       i;
    json_t      *v, *n;
    const char  *key;

    if (depth > CRM_JSON_MAX_DEPTH) {
        return;
    }

    if (json_is_object(j)) {
        json_object_foreach(j, key, v) {
            n = crm_json_exact(v);

            if (n != NULL) {
                json_object_set_new(j, key, n);

            } else {
                crm_json_integers(v, depth + 1);
            }
        }

    } else if (json_is_array(j)) {
        json_array_foreach(j, i, v) {
            n = crm_json_exact(v);

            if (n != NULL) {
                json_array_set_new(j, i, n);

            } else {
                crm_json_integers(v, depth + 1);
            }
        }
    }
}


/* a real that is a whole number within 2^53, as an integer; or NULL */

static json_t *
crm_json_exact(json_t *v)
{
    double  d;

    if (!json_is_real(v)) {
        return NULL;
    }

    d = json_real_value(v);

    if (d != trunc(d) || d <= -9007199254740992.0
        || d >= 9007199254740992.0)
    {
        return NULL;
    }

    return json_integer((json_int_t) d);
}


static void
crm_json_cleanup(void *data)
{
    json_decref(data);
}


static void
crm_body_error_cleanup(void *data)
{
    crm_ctx_t  *ctx = data;

    json_decref(ctx->body_error);
}
