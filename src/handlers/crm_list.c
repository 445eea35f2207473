
/*
 * ngx_http_crm_module: lists of any resource and its sub-collections
 * (filters, sort, cursors, counts), and the links between records.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "stages/crm_stages.h"
#include "handlers/crm_handlers.h"



/* the handler's own state (ctx->state) */

typedef struct {
    crm_parent_t              parent;       /* of a sub-collection */
    ngx_str_t                 cursor_key;   /* the list's, crm_list_key() */
    ngx_str_t                 problem;      /* why a preset selects nobody:
                                               meta.audienceProblem */
} crm_list_state_t;


static ngx_int_t crm_list_key(ngx_http_request_t *r, crm_ctx_t *ctx,
    crm_resource_t *res, crm_parent_t *parent);
static ngx_int_t crm_list_object(ngx_http_request_t *r, crm_ctx_t *ctx,
    crm_resource_t *res);
static crm_list_state_t *crm_list_state(crm_ctx_t *ctx);
static crm_resource_t *crm_list_target(crm_ctx_t *ctx, crm_parent_t **parent);
static ngx_int_t crm_list_preset(ngx_http_request_t *r, crm_ctx_t *ctx,
    crm_resource_t *res, crm_field_t *extra, ngx_uint_t nextra);
static ngx_int_t crm_list_count(ngx_http_request_t *r, crm_ctx_t *ctx);
static void crm_list_count_done(crm_pg_req_t *pr, PGresult *res);
static ngx_int_t crm_list_page(ngx_http_request_t *r, crm_ctx_t *ctx);
static void crm_list_done(crm_pg_req_t *pr, PGresult *res);
static ngx_int_t crm_list_render(ngx_http_request_t *r, crm_ctx_t *ctx,
    crm_stmt_t *st, PGresult *res);
static ngx_uint_t crm_list_binary(crm_ctx_t *ctx, crm_stmt_t *st);
static ngx_int_t crm_list_bin_types(ngx_http_request_t *r, crm_stmt_t *st,
    PGresult *res);
static ngx_int_t crm_list_cursor(ngx_http_request_t *r, crm_ctx_t *ctx,
    crm_stmt_t *st, PGresult *res, int row, ngx_uint_t backward,
    ngx_str_t *out);


/* lists: GET /<resource> and GET /<resource>/<id>/<link> */

ngx_int_t
crm_list(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ngx_uint_t       nextra;
    crm_error_t      err;
    crm_field_t     *extra;
    crm_stmt_t      *st;
    crm_parent_t    *parent;
    crm_resource_t  *res;

    if (ctx->state == NULL) {
        ctx->state = ngx_pcalloc(r->pool, sizeof(crm_list_state_t));
        if (ctx->state == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    res = crm_list_target(ctx, &parent);

    if (ctx->custom == NULL
        && (crm_custom_wanted(r, res)
            || (ctx->preset.len > 0 && crm_schema_custom(res)
                && crm_query_names_custom(&ctx->preset))))
    {
        /* customFields.<name> filters and sorts need the definitions */
        return crm_custom_load(r, ctx, res, crm_list);
    }

    if (crm_custom_query_fields(r->pool, ctx, res, &extra, &nextra)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_list_key(r, ctx, res, parent) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->preset.data != NULL) {
        /* parsed there, with the request's own parameters */

        if (crm_list_preset(r, ctx, res, extra, nextra) != NGX_OK) {
            return ctx->rc;
        }

    } else {
        switch (crm_query_parse_ext(r->pool, res, extra, nextra, &r->args,
                                    &crm_list_state(ctx)->cursor_key,
                                    &ctx->query, &err))
        {
        case NGX_OK:
            break;

        case NGX_DECLINED:
            return crm_http_param_error(r, &err);

        default:
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    if (ctx->route.object != NULL
        && crm_list_object(r, ctx, res) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->route.kind != CRM_ROUTE_LINK) {
        return crm_list_count(r, ctx);
    }

    /* the parent must exist in this workspace */

    if (crm_uuid_valid(ctx->route.id.data, ctx->route.id.len) != NGX_OK) {
        return crm_exec_not_found(r, ctx);
    }

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_sql_exists(r->pool, ctx->route.res, &ctx->workspace,
                       &ctx->route.id, st)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->next = crm_list_count;

    return crm_exec(r, ctx, st, crm_exec_exists_done);
}


/*
 * The key of this list's cursors: a cursor is good only for the list it
 * was made for ("contacts", "companies/<id>/contacts",
 * "metadata/objects/contacts/fields"), in the workspace it was made in
 */

static ngx_int_t
crm_list_key(ngx_http_request_t *r, crm_ctx_t *ctx, crm_resource_t *res,
    crm_parent_t *parent)
{
    u_char     *p;
    size_t      len;
    ngx_str_t   list, *obj;

    if (parent != NULL) {
        len = parent->res->name.len + parent->id.len
              + parent->link->name.len + 2;

        list.data = ngx_pnalloc(r->pool, len);
        if (list.data == NULL) {
            return NGX_ERROR;
        }

        /* a UUID in either case names one parent */

        p = ngx_cpymem(list.data, parent->res->name.data,
                       parent->res->name.len);
        *p++ = '/';
        ngx_strlow(p, parent->id.data, parent->id.len);
        p += parent->id.len;
        *p++ = '/';
        p = ngx_cpymem(p, parent->link->name.data, parent->link->name.len);

        list.len = p - list.data;

    } else if (ctx->route.object != NULL) {
        obj = &ctx->route.object->name;
        len = sizeof("metadata/objects//fields") - 1 + obj->len;

        list.data = ngx_pnalloc(r->pool, len);
        if (list.data == NULL) {
            return NGX_ERROR;
        }

        list.len = ngx_sprintf(list.data, "metadata/objects/%V/fields", obj)
                   - list.data;

    } else {
        list = res->name;
    }

    return crm_cursor_key(r->pool, &ctx->mcf->cursor_secret,
                          &ctx->workspace, &list,
                          &crm_list_state(ctx)->cursor_key);
}


/*
 * A route's filters before the request's own (a campaign's audience, for
 * its preview): parsed alone first, one that no longer parses (a custom
 * field deleted since) or filters nothing in particular selects nobody,
 * as the campaign's runner has it; then both.  When both are refused,
 * the request's own parameters alone say whether the mistake is theirs;
 * a parameter given by both (a second q) is said to be the preset's.
 * r->args becomes both, parsed into ctx->query.  NGX_ABORT: ctx->rc,
 * answered or to answer.
 */

static ngx_int_t
crm_list_preset(ngx_http_request_t *r, crm_ctx_t *ctx, crm_resource_t *res,
    crm_field_t *extra, ngx_uint_t nextra)
{
    u_char       *p;
    ngx_int_t     rc;
    ngx_str_t     preset, both, msg, *key;
    crm_query_t   q;
    crm_error_t   err, own;

    preset = ctx->preset;
    ngx_str_null(&ctx->preset);

    key = &crm_list_state(ctx)->cursor_key;

    /*
     * one no longer valid, or of nothing in particular: nobody, and the
     * page says why, as the campaign will once it runs
     */

    rc = crm_campaign_audience_query(r->pool, extra, nextra, &preset, key,
                                     &ctx->query, &err);

    if (rc == NGX_ERROR
        || crm_campaign_audience_problem(r->pool, rc, &err,
                                         &crm_list_state(ctx)->problem)
           != NGX_OK)
    {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    if (r->args.len == 0) {
        r->args = preset;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, preset.len + 1 + r->args.len);
    if (p == NULL) {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    both.data = p;
    both.len = ngx_sprintf(p, "%V&%V", &preset, &r->args) - p;

    rc = crm_query_parse_ext(r->pool, res, extra, nextra, &both, key,
                             &ctx->query, &err);

    if (rc == NGX_DECLINED) {
        /*
         * the request's own mistake is its own; its cursor is checked
         * with the preset only (it was made for both)
         */

        switch (crm_query_parse_ext(r->pool, res, extra, nextra, &r->args,
                                    key, &q, &own))
        {
        case NGX_OK:
            break;

        case NGX_DECLINED:
            if (own.code.len == sizeof("invalid_cursor") - 1
                && ngx_strncmp(own.code.data, "invalid_cursor",
                               own.code.len)
                   == 0)
            {
                break;
            }

            ctx->rc = crm_http_param_error(r, &own);
            return NGX_ABORT;

        default:
            ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_ABORT;
        }

        /* a parameter given by both: the preset's */

        if ((err.code.len == sizeof("duplicate_parameter") - 1
             && ngx_strncmp(err.code.data, "duplicate_parameter",
                            err.code.len)
                == 0)
            || (err.code.len == sizeof("conflicting_parameters") - 1
                && ngx_strncmp(err.code.data, "conflicting_parameters",
                               err.code.len)
                   == 0))
        {
            msg.data = ngx_pnalloc(r->pool,
                                   err.message.len
                                   + sizeof(" (the campaign's audience "
                                            "gives it already)"));
            if (msg.data == NULL) {
                ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
                return NGX_ABORT;
            }

            msg.len = ngx_sprintf(msg.data, "%V (the campaign's audience "
                                  "gives it already)", &err.message)
                      - msg.data;
            err.message = msg;
        }

        ctx->rc = crm_http_param_error(r, &err);
        return NGX_ABORT;
    }

    if (rc != NGX_OK) {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    r->args = both;

    return NGX_OK;
}


/* /metadata/objects/<object>/fields: the custom fields of <object> */

static ngx_int_t
crm_list_object(ngx_http_request_t *r, crm_ctx_t *ctx, crm_resource_t *res)
{
    return crm_query_filter_eq(r->pool, &ctx->query,
                               crm_schema_field(res, (u_char *) "object", 6),
                               &ctx->route.object->name);
}


/* the resource listed: a sub-collection lists its target by parent */

static crm_resource_t *
crm_list_target(crm_ctx_t *ctx, crm_parent_t **parent)
{
    if (ctx->route.kind == CRM_ROUTE_LINK) {
        crm_list_state(ctx)->parent.res = ctx->route.res;
        crm_list_state(ctx)->parent.link = ctx->route.link;
        crm_list_state(ctx)->parent.id = ctx->route.id;
        *parent = &crm_list_state(ctx)->parent;
        return ctx->route.target;
    }

    *parent = NULL;

    return ctx->route.res;
}


static ngx_int_t
crm_list_count(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    crm_stmt_t      *st, *count;
    crm_parent_t    *parent;
    crm_resource_t  *res;

    /* a search or an exact count reads many rows: the heavy pool */
    ctx->heavy = (ctx->query.q.len > 0
                  || ctx->query.count == CRM_COUNT_EXACT);

    if (ctx->query.count == CRM_COUNT_NONE) {
        return crm_list_page(r, ctx);
    }

    res = crm_list_target(ctx, &parent);

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_sql_count(r->pool, res, &ctx->workspace, &ctx->query, parent,
                      st)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ctx->query.count == CRM_COUNT_ESTIMATED) {
        /* the planner's estimate of the same rows: no scan */
        count = st;

        st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
        if (st == NULL
            || crm_sql_estimate(r->pool, &ctx->workspace, count, st)
               != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return crm_exec(r, ctx, st, crm_list_count_done);
}


static void
crm_list_count_done(crm_pg_req_t *pr, PGresult *res)
{
    ngx_int_t            rc;
    crm_ctx_t           *ctx;
    ngx_http_request_t  *r;

    r = crm_exec_result(pr, res, 1, &ctx);
    if (r == NULL) {
        return;
    }

    ctx->total = ngx_atoi((u_char *) PQgetvalue(res, 0, 0),
                          PQgetlength(res, 0, 0));
    rc = crm_list_page(r, ctx);

    if (rc != NGX_DONE) {
        crm_http_done(r, rc);
    }
}


static ngx_int_t
crm_list_page(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    crm_stmt_t      *st;
    crm_parent_t    *parent;
    crm_resource_t  *res;

    res = crm_list_target(ctx, &parent);

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_sql_list(r->pool, res, &ctx->workspace, &ctx->query, parent, st)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st->binary = crm_list_binary(ctx, st);

    return crm_exec(r, ctx, st, crm_list_done);
}


/*
 * Whether the page is fetched in binary format: every rendered field of
 * a type crm_render_bin_type() takes, and every sort key a rendered
 * column that crm_render_bin_key() can write back into a cursor
 */

static ngx_uint_t
crm_list_binary(crm_ctx_t *ctx, crm_stmt_t *st)
{
    ngx_uint_t       i;
    crm_resource_t  *res;

    res = st->res;

    if (st->ncols == 0 || res == NULL) {
        return 0;
    }

    for (i = 0; i < res->nfields; i++) {
        if (crm_render_field(res, st->select, i)
            && !crm_render_bin_type(&res->fields[i]))
        {
            return 0;
        }
    }

    for (i = 0; i < st->nkeys; i++) {
        if (st->keys[i] >= st->ncols
            || !crm_render_bin_key(ctx->query.sort[i].field))
        {
            return 0;
        }
    }

    return 1;
}


/*
 * A binary page's columns are of the types its fields were rendered
 * from: a column of another type (the schema and the descriptors
 * disagree) would be misread
 */

static ngx_int_t
crm_list_bin_types(ngx_http_request_t *r, crm_stmt_t *st, PGresult *res)
{
    Oid              t;
    ngx_uint_t       i, n;
    crm_field_t     *f;
    crm_resource_t  *rs;

    rs = st->res;

    for (n = 0, i = 0; i < rs->nfields; i++) {
        if (!crm_render_field(rs, st->select, i)) {
            continue;
        }

        f = &rs->fields[i];
        t = PQftype(res, (int) n);

        if (!crm_render_bin_oid(f, (ngx_uint_t) t)
            || PQfformat(res, (int) n) != 1)
        {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "crm: %V.%V: a binary column of type %ud",
                          &rs->name, &f->name, (ngx_uint_t) t);
            return NGX_ERROR;
        }

        n++;
    }

    return NGX_OK;
}


static void
crm_list_done(crm_pg_req_t *pr, PGresult *res)
{
    crm_ctx_t           *ctx;
    ngx_http_request_t  *r;

    r = crm_exec_result(pr, res, 0, &ctx);
    if (r == NULL) {
        return;
    }

    crm_http_done(r, crm_list_render(r, ctx, pr->stmt, res));
}


/*
 * {"data":[...],"meta":{"requestId":..,"timestamp":..,"limit":N,
 *  "cursor":{"next":..,"previous":..,"hasMore":..}[,"total":N]}}
 *
 * The statement fetched limit + 1 rows: the extra one says whether there
 * is more in the direction of travel.  A backward page came in reverse
 * order and is rendered reversed.
 */

static ngx_int_t
crm_list_render(ngx_http_request_t *r, crm_ctx_t *ctx, crm_stmt_t *st,
    PGresult *res)
{
    int           n, rows, i, row;
    u_char       *p, *body, *meta;
    size_t        len, mlen;
    ngx_int_t     rc;
    ngx_str_t     next, prev, *cols, *problem;
    ngx_uint_t    more, backward, k;
    crm_error_t   err;
    crm_query_t  *q;

    for (k = 0; k < st->nkeys; k++) {
        if (st->keys[k] >= (ngx_uint_t) PQnfields(res)) {
            break;
        }
    }

    if (st->ncols == 0 || st->ncols > CRM_MAX_FIELDS
        || PQnfields(res) < (int) st->ncols || k < st->nkeys)
    {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "crm: a list result of %d columns", PQnfields(res));
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    q = &ctx->query;
    n = PQntuples(res);
    rows = ngx_min(n, (int) q->limit);
    more = (n > (int) q->limit);
    backward = q->has_cursor && q->backward;

    ngx_str_null(&next);
    ngx_str_null(&prev);

    rc = NGX_OK;

    if (rows > 0) {
        /* result rows in display order: first = 0 or rows - 1 */

        if (backward) {
            if (more) {
                rc = crm_list_cursor(r, ctx, st, res, rows - 1, 1, &prev);
            }

            if (rc == NGX_OK) {
                rc = crm_list_cursor(r, ctx, st, res, 0, 0, &next);
            }

            more = 1;

        } else {
            if (more) {
                rc = crm_list_cursor(r, ctx, st, res, rows - 1, 0, &next);
            }

            if (rc == NGX_OK && q->has_cursor) {
                rc = crm_list_cursor(r, ctx, st, res, 0, 1, &prev);
            }
        }
    }

    if (rc == NGX_DECLINED && q->has_offset) {
        /*
         * offset paging needs no cursor: the next one, given for a
         * client to switch to cursors, is null when its row's sort keys
         * are too long for one, and hasMore still tells
         */
        ngx_str_null(&next);
        rc = NGX_OK;
    }

    if (rc == NGX_DECLINED) {
        /* a boundary row's sort keys are too long for a cursor */
        ngx_str_set(&err.param, "sort");
        ngx_str_set(&err.code, "sort_key_too_long");
        ngx_str_set(&err.message, "a row at the edge of this page has sort "
                    "values too long for a cursor (more than about 5,000 "
                    "octets): sort by another field, or page with offset");
        return crm_http_param_error(r, &err);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_http_meta(r, ctx, &meta, &mlen) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = sizeof("{\"data\":[],\"meta\":{,\"limit\":,\"cursor\":{\"next\":"
                 "\"\",\"previous\":\"\",\"hasMore\":false},\"total\":}}")
          + mlen + next.len + prev.len + 2 * NGX_INT_T_LEN;

    problem = &crm_list_state(ctx)->problem;

    if (problem->len > 0) {
        /* escaped, each byte at most as \u00xx */
        len += sizeof(",\"audienceProblem\":\"\"") + 6 * problem->len;
    }

    /*
     * The rows are rendered from their columns (crm_render.c), read from
     * the result once for both passes
     */

    cols = ngx_palloc(r->pool, (rows ? rows : 1) * st->ncols
                               * sizeof(ngx_str_t));
    if (cols == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (st->binary && rows > 0 && crm_list_bin_types(r, st, res) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < rows; i++) {
        crm_exec_cols(res, i, 0, st->ncols, &cols[i * st->ncols]);
        len += (st->binary
                ? crm_render_bin_size(st->res, st->select,
                                      &cols[i * st->ncols])
                : crm_render_size(st->res, st->select, &cols[i * st->ncols]))
               + 1;
    }

    body = ngx_pnalloc(r->pool, len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body, "{\"data\":[", sizeof("{\"data\":[") - 1);

    for (i = 0; i < rows; i++) {
        row = backward ? rows - 1 - i : i;

        if (i > 0) {
            *p++ = ',';
        }

        p = st->binary
            ? crm_render_bin_row(p, st->res, st->select,
                                 &cols[row * st->ncols])
            : crm_render_row(p, st->res, st->select, &cols[row * st->ncols]);
        if (p == NULL) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "crm: %V: a column is not in its type's %s form",
                          &st->res->name, st->binary ? "binary" : "text");
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    p = ngx_cpymem(p, "],\"meta\":{", sizeof("],\"meta\":{") - 1);
    p = ngx_cpymem(p, meta, mlen);
    p = ngx_sprintf(p, ",\"limit\":%ui,\"cursor\":{\"next\":", q->limit);

    if (next.len) {
        p = ngx_sprintf(p, "\"%V\"", &next);

    } else {
        p = ngx_cpymem(p, "null", 4);
    }

    p = ngx_cpymem(p, ",\"previous\":", sizeof(",\"previous\":") - 1);

    if (prev.len) {
        p = ngx_sprintf(p, "\"%V\"", &prev);

    } else {
        p = ngx_cpymem(p, "null", 4);
    }

    p = ngx_sprintf(p, ",\"hasMore\":%s}", more ? "true" : "false");

    if (ctx->total >= 0) {
        p = ngx_sprintf(p, ",\"total\":%i", ctx->total);
    }

    if (problem->len > 0) {
        p = ngx_cpymem(p, ",\"audienceProblem\":",
                       sizeof(",\"audienceProblem\":") - 1);
        p = crm_render_string(p, problem->data, problem->len);
    }

    *p++ = '}';
    *p++ = '}';

    return crm_http_send_data(r, NGX_HTTP_OK, body, p - body);
}


/* the cursor of result row "row": its sort keys, after the record */

static ngx_int_t
crm_list_cursor(ngx_http_request_t *r, crm_ctx_t *ctx, crm_stmt_t *st,
    PGresult *res, int row, ngx_uint_t backward, ngx_str_t *out)
{
    int         col;
    u_char     *p;
    ngx_str_t   v, keys[CRM_MAX_KEYS];
    ngx_uint_t  i;
    u_char      nulls[CRM_MAX_KEYS];

    for (i = 0; i < ctx->query.nsort; i++) {
        col = (int) st->keys[i];
        nulls[i] = (u_char) PQgetisnull(res, row, col);
        keys[i].data = (u_char *) PQgetvalue(res, row, col);
        keys[i].len = PQgetlength(res, row, col);

        if (!st->binary || nulls[i]) {
            continue;
        }

        /* a cursor holds its keys as text */

        v = keys[i];

        keys[i].data = ngx_pnalloc(r->pool, crm_render_bin_text_size(&v));
        if (keys[i].data == NULL) {
            return NGX_ERROR;
        }

        p = crm_render_bin_text(keys[i].data, ctx->query.sort[i].field, &v);
        if (p == NULL) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "crm: %V: a sort key is not in its type's "
                          "binary form", &st->res->name);
            return NGX_ERROR;
        }

        keys[i].len = p - keys[i].data;
    }

    return crm_cursor_encode(r->pool, &crm_list_state(ctx)->cursor_key,
                             &ctx->query, backward, keys, nulls, out);
}


/*
 * POST /<parent>/:id/<link> {"id": <target>} adds a target to a "through"
 * link, DELETE /<parent>/:id/<link>/:target removes it; both answer the
 * parent record (its new version) and take If-Match.  Adding a linked id
 * or removing an absent one is a no-op, not an error.
 */

ngx_int_t
crm_link(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    json_t             *id;
    ngx_str_t           target;
    crm_stmt_t         *st;
    ngx_array_t         errors;
    crm_field_error_t  *fe;

    if (crm_uuid_valid(ctx->route.id.data, ctx->route.id.len) != NGX_OK) {
        return crm_exec_not_found(r, ctx);
    }

    ctx->state = ngx_pcalloc(r->pool, sizeof(crm_list_state_t));
    if (ctx->state == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (r->method == NGX_HTTP_DELETE) {
        target = ctx->route.target_id;

        if (crm_uuid_valid(target.data, target.len) != NGX_OK) {
            return crm_http_error(r, CRM_E_NOT_FOUND,
                                  "the linked record was not found", NULL);
        }

    } else {
        id = json_object_get(ctx->body, "id");

        if (ngx_array_init(&errors, r->pool, 1, sizeof(crm_field_error_t))
            != NGX_OK
            || (fe = ngx_array_push(&errors)) == NULL)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_str_set(&fe->field, "id");

        if (json_object_size(ctx->body) != 1 || id == NULL) {
            ngx_str_set(&fe->code, "required");
            ngx_str_set(&fe->message,
                        "the body must be {\"id\": <the record's id>}");
            return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                         "the request is not valid",
                                         &errors);
        }

        target.data = (u_char *) json_string_value(id);
        target.len = target.data ? json_string_length(id) : 0;

        if (target.data == NULL
            || crm_uuid_valid(target.data, target.len) != NGX_OK)
        {
            ngx_str_set(&fe->code, "invalid_format");
            ngx_str_set(&fe->message, "must be a UUID string");
            return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                         "the request is not valid",
                                         &errors);
        }
    }

    if (crm_exec_if_match(r, ctx) != NGX_OK) {
        return ctx->rc;
    }

    crm_list_state(ctx)->parent.res = ctx->route.res;
    crm_list_state(ctx)->parent.link = ctx->route.link;
    crm_list_state(ctx)->parent.id = ctx->route.id;

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_sql_link(r->pool, &crm_list_state(ctx)->parent, &ctx->workspace,
                     &target, r->method == NGX_HTTP_POST, &ctx->match, st)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_exec(r, ctx, st, crm_exec_row_done);
}


static crm_list_state_t *
crm_list_state(crm_ctx_t *ctx)
{
    return ctx->state;
}
