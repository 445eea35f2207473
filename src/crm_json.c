
/*
 * ngx_http_crm_module: request bodies.
 *
 * The body is read into memory (the module raises the location's
 * client_body_buffer_size to crm_max_body_size, so that it never goes to
 * a temporary file and no disk read blocks the worker), then parsed with
 * jansson under a nesting limit.
 */


#include "crm_module.h"


#define CRM_JSON_MAX_DEPTH    32


static ngx_int_t crm_json_depth(json_t *j, ngx_uint_t depth);
static void crm_json_cleanup(void *data);


/*
 * NGX_OK: ctx->body holds a JSON object.  NGX_ABORT: the request was
 * answered (ctx->rc).
 */

ngx_int_t
crm_json_body(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    u_char              *p, *buf;
    size_t               len;
    json_t              *root, *details;
    ngx_buf_t           *b;
    ngx_chain_t         *cl;
    json_error_t         jerr;
    ngx_pool_cleanup_t  *cln;
    char                 msg[256];

    if (r->request_body == NULL || r->request_body->bufs == NULL) {
        ctx->rc = crm_http_error(r, CRM_E_INVALID_JSON,
                                 "the request body is empty", NULL);
        return NGX_ABORT;
    }

    len = 0;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            /* crm_max_body_size bounds the buffer, so this is a bug */
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "crm: request body was buffered to a file");
            ctx->rc = crm_http_error(r, CRM_E_PAYLOAD_TOO_LARGE,
                                     "the request body is too large", NULL);
            return NGX_ABORT;
        }

        len += b->last - b->pos;
    }

    if (len == 0) {
        ctx->rc = crm_http_error(r, CRM_E_INVALID_JSON,
                                 "the request body is empty", NULL);
        return NGX_ABORT;
    }

    buf = ngx_pnalloc(r->pool, len);
    if (buf == NULL) {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    p = buf;
    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        p = ngx_cpymem(p, cl->buf->pos, cl->buf->last - cl->buf->pos);
    }

    root = json_loadb((char *) buf, len, JSON_REJECT_DUPLICATES, &jerr);

    if (root == NULL) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: invalid JSON body: %s at line %d column %d",
                      jerr.text, jerr.line, jerr.column);

        details = json_pack("{s:i,s:i,s:i}", "line", jerr.line,
                            "column", jerr.column,
                            "position", jerr.position);

        ngx_snprintf((u_char *) msg, sizeof(msg) - 1, "invalid JSON: %s%Z",
                     jerr.text);
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


static void
crm_json_cleanup(void *data)
{
    json_decref(data);
}
