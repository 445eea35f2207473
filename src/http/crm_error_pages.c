
/*
 * ngx_http_crm_module: nginx's own error responses as the module's JSON
 * errors.
 *
 * Some requests never reach the module's handler, or leave it with a
 * status code instead of an answer: nginx rejects them itself (a body
 * over client_max_body_size, a request line or header too long, a
 * malformed request, TRACE and CONNECT, an HTTP version it does not
 * speak) and ngx_http_special_response_handler() answers with an HTML
 * page.  This header and body filter replaces that page with the error
 * envelope (crm_http_error_page()) and adds X-Request-Id, wherever
 * nginx's own errors are JSON (lcf->error_pages: crm_json_errors, by
 * default on in crm_api locations and at the level of a server{} that
 * has one, which is where nginx is before it has chosen a location).
 *
 * A filter rather than error_page entries installed by the module: those
 * would need a location to redirect to in every server, an internal
 * redirect would run the phases again for a request nginx refused as
 * malformed, and nginx inherits error_page all or nothing (a user's own
 * error_page in a location would drop the module's list there).  The
 * filter changes nothing in how nginx handles the error (discarding the
 * body, closing or keeping the connection), only the bytes of the page.
 * An error_page of the user still wins: it redirects the request
 * elsewhere, and what answers there decides.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"


static ngx_int_t crm_error_pages_header_filter(ngx_http_request_t *r);
static ngx_int_t crm_error_pages_body_filter(ngx_http_request_t *r,
    ngx_chain_t *in);


static ngx_http_output_header_filter_pt  crm_next_header_filter;
static ngx_http_output_body_filter_pt    crm_next_body_filter;


ngx_int_t
crm_error_pages_init(ngx_conf_t *cf)
{
    crm_next_header_filter = ngx_http_top_header_filter;
    ngx_http_top_header_filter = crm_error_pages_header_filter;

    crm_next_body_filter = ngx_http_top_body_filter;
    ngx_http_top_body_filter = crm_error_pages_body_filter;

    return NGX_OK;
}


static ngx_int_t
crm_error_pages_header_filter(ngx_http_request_t *r)
{
    ngx_uint_t                status;
    crm_ctx_t                *ctx;
    ngx_http_crm_loc_conf_t  *lcf;

    /* r->err_status: the response is nginx's special response */

    if (r != r->main || r->err_status < NGX_HTTP_BAD_REQUEST) {
        return crm_next_header_filter(r);
    }

    lcf = ngx_http_get_module_loc_conf(r, ngx_http_crm_module);

    if (!lcf->error_pages) {
        return crm_next_header_filter(r);
    }

    ctx = ngx_http_get_module_ctx(r, ngx_http_crm_module);

    if (ctx != NULL && ctx->answered) {
        /* the module's own answer (say, as an error_page's target) */
        return crm_next_header_filter(r);
    }

    if (ctx == NULL) {
        ctx = crm_http_ctx(r);
        if (ctx == NULL) {
            return NGX_ERROR;
        }
    }

    /* the module's handler made it and added the header already */

    if (ctx->request_id.len == 0 && crm_http_request_id(r, ctx) != NGX_OK) {
        return NGX_ERROR;
    }

    status = r->err_status;

    /*
     * nginx sends its 494 (request header too large) as 400; of the
     * errors sent as 400 only 494 leaves r->lingering_close set (set when
     * the header buffers ran out, reset for a plain 400 by
     * ngx_http_special_response_handler())
     */

    if (status == NGX_HTTP_BAD_REQUEST && r->lingering_close) {
        status = NGX_HTTP_REQUEST_HEADER_TOO_LARGE;
    }

    if (crm_http_error_page(r, ctx, status, &ctx->page) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "crm: nginx's %ui as JSON: \"%V\"", status, &ctx->page);

    r->headers_out.content_length_n = ctx->page.len;

    if (r->headers_out.content_length) {
        r->headers_out.content_length->hash = 0;
        r->headers_out.content_length = NULL;
    }

    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    return crm_next_header_filter(r);
}


/* nginx's page is dropped; the envelope goes in its place, once */

static ngx_int_t
crm_error_pages_body_filter(ngx_http_request_t *r, ngx_chain_t *in)
{
    ngx_buf_t    *b;
    crm_ctx_t    *ctx;
    ngx_chain_t  *cl, out;

    ctx = ngx_http_get_module_ctx(r, ngx_http_crm_module);

    if (ctx == NULL || ctx->page.len == 0 || in == NULL) {
        return crm_next_body_filter(r, in);
    }

    for (cl = in; cl; cl = cl->next) {
        cl->buf->pos = cl->buf->last;
        cl->buf->file_pos = cl->buf->file_last;
    }

    if (ctx->page_sent) {
        return crm_next_body_filter(r, NULL);
    }

    ctx->page_sent = 1;

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_ERROR;
    }

    b->pos = ctx->page.data;
    b->last = ctx->page.data + ctx->page.len;
    b->memory = 1;
    b->last_buf = 1;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return crm_next_body_filter(r, &out);
}
