
/*
 * ngx_http_crm_module: GET /search?q=&types=contacts,companies&limit=
 *
 * The records of several resources that match q (the same match as q= on
 * their lists, sql/009_search.sql), best first:
 *
 *     {"data": [{"type": "contacts", "score": 0.83, "record": {...}}],
 *      "meta": {..., "limit": 20, "types": ["contacts", ...]}}
 *
 * Without types: every searchable resource the credential may read.
 * Naming one it may not read is 403, one that is not searchable 400.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "stages/crm_stages.h"
#include "handlers/crm_handlers.h"


#define CRM_SEARCH_Q_MIN      3         /* characters: a trigram */
#define CRM_SEARCH_Q_MAX      200
#define CRM_SEARCH_TYPES      16


static ngx_int_t crm_search_args(ngx_http_request_t *r, crm_ctx_t *ctx,
    ngx_str_t *q, ngx_str_t *types, ngx_uint_t *limit);
static ngx_int_t crm_search_types(ngx_http_request_t *r, crm_ctx_t *ctx,
    ngx_str_t *types, crm_resource_t **res, ngx_uint_t *n);
static ngx_int_t crm_search_bad(ngx_http_request_t *r, const char *param,
    const char *code, const char *message);
static ngx_uint_t crm_search_readable(crm_ctx_t *ctx, crm_resource_t *res);
static void crm_search_done(crm_pg_req_t *pr, PGresult *res);


ngx_int_t
crm_search(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ngx_int_t        rc;
    ngx_str_t        q, types;
    ngx_uint_t       limit, n;
    crm_stmt_t      *st;
    crm_resource_t  *res[CRM_SEARCH_TYPES];

    rc = crm_search_args(r, ctx, &q, &types, &limit);
    if (rc != NGX_OK) {
        return rc == NGX_ABORT ? ctx->rc : rc;
    }

    rc = crm_search_types(r, ctx, &types, res, &n);
    if (rc != NGX_OK) {
        return rc == NGX_ABORT ? ctx->rc : rc;
    }

    ctx->query.limit = limit;

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_sql_search_all(r->pool, &ctx->workspace, res, n, &q, limit, st)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->heavy = 1;

    return crm_exec(r, ctx, st, crm_search_done);
}


/*
 * q (required), types, limit; anything else is INVALID_PARAMETER.
 * NGX_OK, NGX_ABORT (answered: ctx->rc) or a status.
 */

static ngx_int_t
crm_search_args(ngx_http_request_t *r, crm_ctx_t *ctx, ngx_str_t *q,
    ngx_str_t *types, ngx_uint_t *limit)
{
    u_char     *p, *last, *amp, *eq;
    ngx_int_t   n, rc;
    ngx_str_t   name, value, raw, lim, *seen;

    ngx_str_null(q);
    ngx_str_null(types);
    ngx_str_null(&lim);
    *limit = CRM_LIMIT_DEFAULT;

    p = r->args.data;
    last = p + r->args.len;

    while (p < last) {
        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        eq = ngx_strlchr(p, amp, '=');

        name.data = p;
        name.len = (eq ? eq : amp) - p;
        value.data = eq ? eq + 1 : amp;
        value.len = amp - value.data;

        p = amp + 1;

        if (name.len == 0) {
            continue;
        }

        /* the name and the value, unescaped as a list's are */

        rc = crm_query_unescape(r->pool, name.data, name.len, &name);

        if (rc == NGX_OK) {
            raw = value;
            rc = crm_query_unescape(r->pool, raw.data, raw.len, &value);
        }

        if (rc == NGX_ERROR) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (rc == NGX_DECLINED) {
            ctx->rc = crm_search_bad(r, "(query)", "invalid_encoding",
                                     "a parameter is not valid "
                                     "percent-encoded UTF-8 text");
            return NGX_ABORT;
        }

        if (name.len == 1 && name.data[0] == 'q') {
            seen = q;

        } else if (name.len == 5 && ngx_strncmp(name.data, "types", 5) == 0) {
            seen = types;

        } else if (name.len == 5 && ngx_strncmp(name.data, "limit", 5) == 0) {
            seen = &lim;

        } else {
            ctx->rc = crm_search_bad(r, (char *) name.data,
                                     "unknown_parameter",
                                     "/search takes q, types and limit");
            return NGX_ABORT;
        }

        if (seen->data != NULL) {
            ctx->rc = crm_search_bad(r, (char *) name.data,
                                     "duplicate_parameter",
                                     "/search takes each parameter once");
            return NGX_ABORT;
        }

        *seen = value;
    }

    if (q->data == NULL) {
        ctx->rc = crm_search_bad(r, "q", "required", "q is required");
        return NGX_ABORT;
    }

    /*
     * trimmed; at least three characters (a shorter term has no trigram,
     * so it could only be searched by reading every row), at most 200
     */

    while (q->len > 0 && q->data[0] == ' ') {
        q->data++;
        q->len--;
    }

    while (q->len > 0 && q->data[q->len - 1] == ' ') {
        q->len--;
    }

    n = ngx_utf8_length(q->data, q->len);

    if (n > CRM_SEARCH_Q_MAX || n < CRM_SEARCH_Q_MIN
        || crm_value_check(CRM_FT_TEXT, q) != NGX_OK)
    {
        ctx->rc = crm_search_bad(r, "q", "invalid_value",
                                 "q must be 3 to 200 characters of text");
        return NGX_ABORT;
    }

    if (lim.data != NULL) {
        n = ngx_atoi(lim.data, lim.len);

        /* as a list says it */

        if (n == NGX_ERROR) {
            ctx->rc = crm_search_bad(r, "limit", "invalid_value",
                                     "\"limit\" must be a whole number");
            return NGX_ABORT;
        }

        if (n < 1 || n > CRM_LIMIT_MAX) {
            ctx->rc = crm_search_bad(r, "limit", "out_of_range",
                                     "\"limit\" must be between 1 and 200");
            return NGX_ABORT;
        }

        *limit = n;
    }

    return NGX_OK;
}


/* the resources searched: "types", or all the readable searchable ones */

static ngx_int_t
crm_search_types(ngx_http_request_t *r, crm_ctx_t *ctx, ngx_str_t *types,
    crm_resource_t **res, ngx_uint_t *n)
{
    u_char           *p, *last, *comma;
    ngx_str_t         name;
    ngx_uint_t        i, j, nall;
    crm_resource_t   *all;

    *n = 0;

    if (types->data == NULL) {
        all = crm_schema_all(&nall);

        for (i = 0; i < nall && *n < CRM_SEARCH_TYPES; i++) {
            if (!all[i].admin && crm_sql_searchable(&all[i])
                && crm_search_readable(ctx, &all[i]))
            {
                res[(*n)++] = &all[i];
            }
        }

        if (*n == 0) {
            ctx->rc = crm_http_error(r, CRM_E_FORBIDDEN,
                                     "the credential may read nothing "
                                     "searchable", NULL);
            return NGX_ABORT;
        }

        return NGX_OK;
    }

    p = types->data;
    last = p + types->len;

    while (p <= last) {
        comma = ngx_strlchr(p, last, ',');
        if (comma == NULL) {
            comma = last;
        }

        name.data = p;
        name.len = comma - p;
        p = comma + 1;

        res[*n] = crm_schema_find(&name);

        if (res[*n] == NULL || res[*n]->admin
            || !crm_sql_searchable(res[*n]))
        {
            ctx->rc = crm_search_bad(r, "types", "invalid_value",
                                     "types is a comma list of contacts, "
                                     "companies, pipelines, deals, leads, "
                                     "activities");
            return NGX_ABORT;
        }

        if (!crm_search_readable(ctx, res[*n])) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "crm: credential lacks the scope %V:read",
                          &res[*n]->name);
            ctx->rc = crm_http_error(r, CRM_E_FORBIDDEN,
                                     "the credential does not have the "
                                     "scope this route needs", NULL);
            return NGX_ABORT;
        }

        for (j = 0; j < *n; j++) {
            if (res[j] == res[*n]) {
                break;
            }
        }

        if (j == *n) {
            (*n)++;
        }

        if (*n == CRM_SEARCH_TYPES) {
            break;
        }
    }

    return NGX_OK;
}


static ngx_uint_t
crm_search_readable(crm_ctx_t *ctx, crm_resource_t *res)
{
    return crm_auth_scope(&ctx->principal.scopes, &res->name, 0) == NGX_OK;
}


static ngx_int_t
crm_search_bad(ngx_http_request_t *r, const char *param, const char *code,
    const char *message)
{
    crm_error_t  err;

    err.param.data = (u_char *) param;
    err.param.len = ngx_strlen(param);
    err.code.data = (u_char *) code;
    err.code.len = ngx_strlen(code);
    err.message.data = (u_char *) message;
    err.message.len = ngx_strlen(message);

    return crm_http_param_error(r, &err);
}


/*
 * rows (type, score, the record's columns as text) -> the envelope; each
 * record rendered from its columns by its resource's descriptor
 */

static void
crm_search_done(crm_pg_req_t *pr, PGresult *res)
{
    int                  i, n;
    u_char              *out, *p, *meta;
    size_t               len, mlen;
    ngx_int_t            rc;
    ngx_str_t            name, cols[CRM_MAX_FIELDS];
    crm_ctx_t           *ctx;
    crm_stmt_t          *st;
    crm_resource_t      *rs;
    ngx_http_request_t  *r;

    r = crm_exec_result(pr, res, 0, &ctx);
    if (r == NULL) {
        return;
    }

    st = pr->stmt;

    if (st->ncols > CRM_MAX_FIELDS
        || PQnfields(res) < 2 + (int) st->ncols)
    {
        crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (crm_http_meta(r, ctx, &meta, &mlen) != NGX_OK) {
        crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    n = PQntuples(res);
    len = sizeof("{\"data\":[],\"meta\":{,\"limit\":}}") + mlen
          + NGX_INT_T_LEN;

    for (i = 0; i < n; i++) {
        name.data = (u_char *) PQgetvalue(res, i, 0);
        name.len = PQgetlength(res, i, 0);

        rs = crm_schema_find(&name);
        if (rs == NULL || crm_render_ncols(rs, NULL) > st->ncols) {
            crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        crm_exec_cols(res, i, 2, st->ncols, cols);

        len += sizeof("{\"type\":\"\",\"score\":,\"record\":},")
               + name.len + PQgetlength(res, i, 1)
               + crm_render_size(rs, NULL, cols);
    }

    out = ngx_pnalloc(r->pool, len);
    if (out == NULL) {
        crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* resource names and numbers need no escaping */

    p = ngx_cpymem(out, "{\"data\":[", sizeof("{\"data\":[") - 1);

    for (i = 0; i < n; i++) {
        name.data = (u_char *) PQgetvalue(res, i, 0);
        name.len = PQgetlength(res, i, 0);

        rs = crm_schema_find(&name);

        p = ngx_sprintf(p, "%s{\"type\":\"%V\",\"score\":%*s,\"record\":",
                        i ? "," : "", &name,
                        (size_t) PQgetlength(res, i, 1),
                        PQgetvalue(res, i, 1));

        crm_exec_cols(res, i, 2, st->ncols, cols);

        p = crm_render_row(p, rs, NULL, cols);
        if (p == NULL) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "crm: %V: a column is not in its type's text form",
                          &name);
            crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        *p++ = '}';
    }

    p = ngx_sprintf(p, "],\"meta\":{%*s,\"limit\":%ui}}", mlen, meta,
                    ctx->query.limit);

    rc = crm_http_send_data(r, NGX_HTTP_OK, out, p - out);

    crm_http_done(r, rc);
}
