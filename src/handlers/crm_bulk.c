
/*
 * ngx_http_crm_module: POST /<resource>/bulk.
 *
 *     {"operations": [{"method": "create|update|delete", "id": ...,
 *                      "data": {...}}, ...], "atomic": false}
 *
 * Every operation is checked and planned here exactly as the single-record
 * routes do it (crm_validate(), crm_sql_insert/update/delete()); the
 * statements then run in one database call, db_bulk() (sql/008_bulk.sql),
 * each in its own subtransaction, or all or nothing with "atomic".  The
 * answer has one result per operation, in order: 200 when all succeeded,
 * 207 otherwise.  Errors of an operation are the errors the single route
 * would give, made by the same code: crm_http_error() gives its error
 * object to ctx->on_error, which bulk sets while it plans an operation.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "stages/crm_stages.h"
#include "handlers/crm_handlers.h"


#define CRM_BULK_MAX          200

/*
 * Operations that set a password, at most: each is a bcrypt hash (about
 * 70 ms of PostgreSQL's CPU at cost 10), and the bulk is one statement
 * under crm_postgres_statement_timeout (5 s by default)
 */
#define CRM_BULK_PASSWORDS    25


typedef enum {
    CRM_BULK_CREATE = 0,
    CRM_BULK_UPDATE,
    CRM_BULK_DELETE
} crm_bulk_method_e;


/* one operation */

typedef struct {
    ngx_uint_t                method;       /* crm_bulk_method_e */
    ngx_str_t                 id;           /* update, delete */
    json_t                   *result;       /* its result, once known */
    ngx_str_t                 row;          /* the record's JSON, as
                                               PostgreSQL wrote it */
    unsigned                  planned:1;    /* its statement was sent */
} crm_bulk_op_t;


struct crm_bulk_s {
    crm_bulk_op_t            *ops;
    ngx_uint_t                nops;
    ngx_uint_t                atomic;
    json_t                   *captured;     /* crm_bulk_capture() */
};


static ngx_int_t crm_bulk_body(ngx_http_request_t *r, crm_ctx_t *ctx,
    json_t **ops, ngx_uint_t *atomic);
static ngx_uint_t crm_bulk_passwords(crm_resource_t *res, json_t *ops);
static ngx_int_t crm_bulk_plan(ngx_http_request_t *r, crm_ctx_t *ctx,
    json_t *op, crm_bulk_op_t *bo, json_t *stmts);
static void crm_bulk_done(crm_pg_req_t *pr, PGresult *res);
static ngx_int_t crm_bulk_results(ngx_http_request_t *r, crm_ctx_t *ctx,
    json_t *doc);
static ngx_int_t crm_bulk_error(ngx_http_request_t *r, crm_ctx_t *ctx,
    crm_bulk_op_t *bo, ngx_uint_t error, const char *message);
static ngx_int_t crm_bulk_capture(ngx_http_request_t *r, crm_ctx_t *ctx,
    json_t *err);
static json_t *crm_bulk_take(crm_ctx_t *ctx);
static ngx_int_t crm_bulk_answer(ngx_http_request_t *r, crm_ctx_t *ctx);
static void crm_bulk_cleanup(void *data);


static const char  *crm_bulk_methods[] = { "create", "update", "delete" };


/* the number of operations, for the rate limit; 1 when not a list */

ngx_uint_t
crm_bulk_cost(crm_ctx_t *ctx)
{
    json_t  *ops;

    ops = json_object_get(ctx->body, "operations");

    if (!json_is_array(ops) || json_array_size(ops) == 0) {
        return 1;
    }

    return ngx_min(json_array_size(ops), CRM_BULK_MAX);
}


ngx_int_t
crm_bulk(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    char                *text;
    json_t              *ops, *op, *stmts;
    size_t               i;
    ngx_int_t            rc;
    ngx_str_t            sql;
    ngx_uint_t           atomic, failed;
    crm_bulk_t          *bulk;
    crm_stmt_t          *st;
    ngx_pool_cleanup_t  *cln;

    if (crm_bulk_body(r, ctx, &ops, &atomic) != NGX_OK) {
        return ctx->rc;
    }

    json_array_foreach(ops, i, op) {
        if (ctx->custom == NULL
            && crm_validate_needs(ctx->route.res, json_object_get(op, "data")))
        {
            /* the rules of an operation want custom fields: loaded once */
            return crm_custom_load(r, ctx, NULL, crm_bulk);
        }
    }

    bulk = ngx_pcalloc(r->pool, sizeof(crm_bulk_t));
    if (bulk == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    bulk->nops = json_array_size(ops);
    bulk->atomic = atomic;
    bulk->ops = ngx_pcalloc(r->pool, bulk->nops * sizeof(crm_bulk_op_t));
    if (bulk->ops == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->bulk = bulk;

    /* the results are jansson's: freed with the request, however it ends */

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = crm_bulk_cleanup;
    cln->data = ctx;

    stmts = json_array();
    if (stmts == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    failed = 0;
    ctx->on_error = crm_bulk_capture;

    json_array_foreach(ops, i, op) {
        rc = crm_bulk_plan(r, ctx, op, &bulk->ops[i], stmts);

        if (rc != NGX_OK) {
            ctx->on_error = NULL;
            json_decref(stmts);
            return rc;
        }

        if (!bulk->ops[i].planned) {
            failed++;
        }
    }

    ctx->on_error = NULL;

    ngx_log_debug3(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "crm bulk: %ui operations, %ui invalid, atomic: %ui",
                   bulk->nops, failed, atomic);

    if (json_array_size(stmts) == 0 || (atomic && failed > 0)) {
        /* nothing to run, or an atomic batch that cannot succeed */
        json_decref(stmts);
        return crm_bulk_answer(r, ctx);
    }

    text = json_dumps(stmts, JSON_COMPACT);
    json_decref(stmts);

    if (text == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sql.len = ngx_strlen(text);
    sql.data = ngx_pnalloc(r->pool, sql.len);

    if (sql.data == NULL) {
        free(text);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(sql.data, text, sql.len);
    free(text);

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_sql_bulk(r->pool, &ctx->workspace, &sql, atomic, st) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_exec(r, ctx, st, crm_bulk_done);
}


/*
 * {"operations": [1..200 objects], "atomic": boolean}, nothing else.
 * NGX_OK, or NGX_ABORT when answered (ctx->rc).
 */

static ngx_int_t
crm_bulk_body(ngx_http_request_t *r, crm_ctx_t *ctx, json_t **ops,
    ngx_uint_t *atomic)
{
    json_t             *v;
    const char         *key;
    ngx_array_t         errors;
    crm_field_error_t  *fe;

    ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

    if (ngx_array_init(&errors, r->pool, 2, sizeof(crm_field_error_t))
        != NGX_OK)
    {
        return NGX_ABORT;
    }

    *ops = json_object_get(ctx->body, "operations");
    *atomic = 0;

    json_object_foreach(ctx->body, key, v) {

        if (ngx_strcmp(key, "operations") == 0) {
            continue;
        }

        fe = ngx_array_push(&errors);
        if (fe == NULL) {
            return NGX_ABORT;
        }

        if (ngx_strcmp(key, "atomic") == 0) {
            if (json_is_boolean(v)) {
                *atomic = json_is_true(v);
                errors.nelts--;
                continue;
            }

            ngx_str_set(&fe->field, "atomic");
            ngx_str_set(&fe->code, "invalid_type");
            ngx_str_set(&fe->message, "must be a boolean");
            continue;
        }

        fe->field.data = (u_char *) key;
        fe->field.len = ngx_strlen(key);
        ngx_str_set(&fe->code, "unknown_field");
        ngx_str_set(&fe->message, "takes \"operations\" and \"atomic\"");
    }

    fe = NULL;

    if (*ops == NULL) {
        fe = ngx_array_push(&errors);
        if (fe == NULL) {
            return NGX_ABORT;
        }

        ngx_str_set(&fe->code, "required");
        ngx_str_set(&fe->message, "is required");

    } else if (!json_is_array(*ops)) {
        fe = ngx_array_push(&errors);
        if (fe == NULL) {
            return NGX_ABORT;
        }

        ngx_str_set(&fe->code, "invalid_type");
        ngx_str_set(&fe->message, "must be an array of operations");

    } else if (json_array_size(*ops) == 0
               || json_array_size(*ops) > CRM_BULK_MAX)
    {
        fe = ngx_array_push(&errors);
        if (fe == NULL) {
            return NGX_ABORT;
        }

        if (json_array_size(*ops) == 0) {
            ngx_str_set(&fe->code, "required");

        } else {
            ngx_str_set(&fe->code, "too_long");
        }

        ngx_str_set(&fe->message, "must hold 1 to 200 operations");

    } else if (crm_bulk_passwords(ctx->route.res, *ops) > CRM_BULK_PASSWORDS)
    {
        fe = ngx_array_push(&errors);
        if (fe == NULL) {
            return NGX_ABORT;
        }

        ngx_str_set(&fe->code, "too_long");
        ngx_str_set(&fe->message, "at most 25 operations may set a "
                                  "password (each is a slow hash): send "
                                  "the others in further requests");
    }

    if (fe != NULL) {
        ngx_str_set(&fe->field, "operations");
    }

    if (errors.nelts == 0) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "crm: %V bulk: the request is not valid",
                  &ctx->route.res->name);

    ctx->rc = crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                    "the request is not valid", &errors);
    return NGX_ABORT;
}


/* how many operations set a field of the password type */

static ngx_uint_t
crm_bulk_passwords(crm_resource_t *res, json_t *ops)
{
    size_t        i;
    json_t       *op, *data, *v;
    ngx_uint_t    j, n;
    crm_field_t  *f;

    n = 0;

    for (j = 0; j < res->nfields; j++) {
        f = &res->fields[j];

        if (f->type != CRM_FT_PASSWORD) {
            continue;
        }

        json_array_foreach(ops, i, op) {
            data = json_is_object(op) ? json_object_get(op, "data") : NULL;
            v = json_is_object(data)
                ? json_object_getn(data, (char *) f->name.data, f->name.len)
                : NULL;

            if (json_is_string(v)) {
                n++;
            }
        }
    }

    return n;
}


/*
 * One operation: checked as its own route would check it, then planned
 * (bo->planned) or answered (bo->result).  NGX_OK either way; a status
 * on a failure of ours.
 */

static ngx_int_t
crm_bulk_plan(ngx_http_request_t *r, crm_ctx_t *ctx, json_t *op,
    crm_bulk_op_t *bo, json_t *stmts)
{
    json_t          *method, *jid, *data, *v, *stmt;
    ngx_int_t        rc;
    ngx_str_t        id;
    ngx_uint_t       m, create;
    const char      *key;
    ngx_array_t      values, errors;
    crm_stmt_t       st;
    crm_resource_t  *res;

    res = ctx->route.res;

    if (!json_is_object(op)) {
        return crm_bulk_error(r, ctx, bo, CRM_E_BAD_REQUEST,
                              "an operation is an object");
    }

    json_object_foreach(op, key, v) {
        if (ngx_strcmp(key, "method") != 0 && ngx_strcmp(key, "id") != 0
            && ngx_strcmp(key, "data") != 0)
        {
            return crm_bulk_error(r, ctx, bo, CRM_E_BAD_REQUEST,
                                  "an operation takes \"method\", \"id\" "
                                  "and \"data\"");
        }
    }

    method = json_object_get(op, "method");

    for (m = 0; m < 3; m++) {
        if (json_is_string(method)
            && ngx_strcmp(json_string_value(method), crm_bulk_methods[m])
               == 0)
        {
            break;
        }
    }

    if (m == 3 || (m == CRM_BULK_UPDATE && res->immutable)) {
        return crm_bulk_error(r, ctx, bo, CRM_E_BAD_REQUEST,
                              res->immutable
                              ? "\"method\" must be \"create\" or \"delete\""
                              : "\"method\" must be \"create\", \"update\" "
                                "or \"delete\"");
    }

    bo->method = m;

    jid = json_object_get(op, "id");
    data = json_object_get(op, "data");
    create = (m == CRM_BULK_CREATE);

    if (create ? jid != NULL : jid == NULL) {
        return crm_bulk_error(r, ctx, bo, CRM_E_BAD_REQUEST,
                              create ? "a create takes no \"id\""
                                     : "an update or delete needs \"id\"");
    }

    if (m == CRM_BULK_DELETE ? data != NULL : !json_is_object(data)) {
        return crm_bulk_error(r, ctx, bo, CRM_E_BAD_REQUEST,
                              m == CRM_BULK_DELETE
                              ? "a delete takes no \"data\""
                              : "\"data\" must be an object");
    }

    ngx_str_null(&id);

    if (!create) {
        id.data = (u_char *) json_string_value(jid);
        id.len = id.data ? json_string_length(jid) : 0;

        if (id.data == NULL || crm_uuid_valid(id.data, id.len) != NGX_OK) {
            return crm_bulk_error(r, ctx, bo, CRM_E_NOT_FOUND,
                                  "the record was not found");
        }
    }

    if (ngx_array_init(&values, r->pool, 16, sizeof(crm_value_t)) != NGX_OK
        || ngx_array_init(&errors, r->pool, 4, sizeof(crm_field_error_t))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (m != CRM_BULK_DELETE) {
        rc = crm_validate(r->pool, res, data, create, ctx->custom, &values,
                          &errors);

        if (rc == NGX_DECLINED) {
            rc = crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                       "the operation is not valid",
                                       &errors);
            if (rc != NGX_OK) {
                return rc;
            }

            bo->result = crm_bulk_take(ctx);
            return NGX_OK;
        }

        if (rc != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    switch (m) {

    case CRM_BULK_CREATE:
        rc = crm_sql_insert(r->pool, res, &ctx->workspace, &values,
                            CRM_SQL_JSON, &st);
        break;

    case CRM_BULK_UPDATE:
        rc = crm_sql_update(r->pool, res, &ctx->workspace, &id, &values,
                            NULL, CRM_SQL_JSON, &st);
        break;

    default:
        rc = crm_sql_delete(r->pool, res, &ctx->workspace, &id, NULL, &st);
        break;
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    stmt = crm_sql_json(r->pool, &st);
    if (stmt == NULL || json_array_append_new(stmts, stmt) != 0) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    bo->planned = 1;
    bo->id = id;

    return NGX_OK;
}


static void
crm_bulk_done(crm_pg_req_t *pr, PGresult *res)
{
    json_t              *doc;
    ngx_int_t            rc;
    crm_ctx_t           *ctx;
    json_error_t         err;
    ngx_http_request_t  *r;

    r = crm_exec_result(pr, res, 1, &ctx);
    if (r == NULL) {
        return;
    }

    doc = json_loadb(PQgetvalue(res, 0, 0), PQgetlength(res, 0, 0), 0, &err);

    if (doc == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "crm: bulk: unreadable result: %s", err.text);
        crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = crm_bulk_results(r, ctx, doc);
    json_decref(doc);

    if (rc == NGX_OK) {
        rc = crm_bulk_answer(r, ctx);
    }

    crm_http_done(r, rc);
}


/* db_bulk()'s results, in the order of the planned operations */

static ngx_int_t
crm_bulk_results(ngx_http_request_t *r, crm_ctx_t *ctx, json_t *doc)
{
    json_t          *results, *item, *cols, *row, *e;
    size_t           k;
    ngx_int_t        rc;
    ngx_uint_t       i, status;
    crm_bulk_t      *bulk;
    crm_bulk_op_t   *bo;
    crm_db_error_t   de;

    bulk = ctx->bulk;
    results = json_object_get(doc, "results");
    k = 0;

    ctx->on_error = crm_bulk_capture;

    for (i = 0; i < bulk->nops; i++) {
        bo = &bulk->ops[i];

        if (!bo->planned) {
            continue;
        }

        item = json_array_get(results, k++);

        if (item == NULL) {
            /* an atomic batch stopped before this one */
            continue;
        }

        cols = json_object_get(item, "cols");
        e = json_object_get(item, "error");

        if (json_is_array(cols)) {
            status = (bo->method == CRM_BULK_CREATE) ? NGX_HTTP_CREATED
                     : (bo->method == CRM_BULK_UPDATE) ? NGX_HTTP_OK
                     : NGX_HTTP_NO_CONTENT;

            /*
             * The record goes into the answer as PostgreSQL wrote it
             * (compact), as a single record's does: jansson would refuse
             * a number beyond 64 bits (an amount of 1e20), and round one
             * beyond a double's digits
             */

            if (bo->method != CRM_BULK_DELETE) {
                row = json_array_get(cols, 0);

                if (!json_is_string(row)) {
                    ctx->on_error = NULL;
                    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                                  "crm: %V bulk: operation %ui has no "
                                  "record", &ctx->route.res->name, i);
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }

                bo->row.len = json_string_length(row);
                bo->row.data = ngx_pnalloc(r->pool, bo->row.len);

                if (bo->row.data == NULL) {
                    ctx->on_error = NULL;
                    return NGX_HTTP_INTERNAL_SERVER_ERROR;
                }

                bo->row.len = crm_render_compact(bo->row.data,
                                      (u_char *) json_string_value(row),
                                      bo->row.len)
                              - bo->row.data;
            }

            bo->result = json_pack("{s:i}", "status", (json_int_t) status);

            if (bo->result == NULL) {
                ctx->on_error = NULL;
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            if (bo->method != CRM_BULK_CREATE && ctx->route.res->revokes
                && !json_is_true(json_object_get(doc, "rolledBack")))
            {
                /*
                 * as the single routes: a user deleted or changed (a
                 * role, a password) counts at once on this host
                 */
                crm_auth_forget(ctx->mcf, &bo->id);
            }

            continue;
        }

        if (e == NULL) {
            rc = crm_bulk_error(r, ctx, bo, CRM_E_NOT_FOUND,
                                "the record was not found");

        } else {
            de.state = (char *) json_string_value(json_object_get(e,
                                                                  "state"));
            de.message = (char *) json_string_value(json_object_get(e,
                                                                "message"));
            de.primary = de.message;
            de.constraint = (char *) json_string_value(
                                      json_object_get(e, "constraint"));
            de.column = (char *) json_string_value(json_object_get(e,
                                                                 "column"));
            de.detail = (char *) json_string_value(json_object_get(e,
                                                                 "detail"));

            rc = crm_exec_db_fail(r, ctx, &de);
            if (rc == NGX_OK) {
                bo->result = crm_bulk_take(ctx);
            }
        }

        if (rc != NGX_OK) {
            ctx->on_error = NULL;
            return rc;
        }
    }

    ctx->on_error = NULL;

    if (json_is_true(json_object_get(doc, "rolledBack"))) {
        bulk->atomic = 1;

        /* nothing of the batch stays: what succeeded is not applied */

        for (i = 0; i < bulk->nops; i++) {
            bo = &bulk->ops[i];

            if (bo->result != NULL
                && json_object_get(bo->result, "error") == NULL)
            {
                json_decref(bo->result);
                bo->result = NULL;
            }

            /* nor is its record: it was rolled back */
            ngx_str_null(&bo->row);
        }
    }

    return NGX_OK;
}


/* the operation's error, as its own route would answer it */

static ngx_int_t
crm_bulk_error(ngx_http_request_t *r, crm_ctx_t *ctx, crm_bulk_op_t *bo,
    ngx_uint_t error, const char *message)
{
    ngx_int_t     rc;
    crm_error_pt  saved;

    saved = ctx->on_error;
    ctx->on_error = crm_bulk_capture;

    rc = crm_http_error(r, error, message, NULL);

    ctx->on_error = saved;

    if (rc != NGX_OK) {
        return rc;
    }

    bo->result = crm_bulk_take(ctx);

    return NGX_OK;
}


/*
 * ctx->on_error while an operation is checked and planned: its error
 * object is its result, not the response
 */

static ngx_int_t
crm_bulk_capture(ngx_http_request_t *r, crm_ctx_t *ctx, json_t *err)
{
    json_decref(ctx->bulk->captured);
    ctx->bulk->captured = err;

    return NGX_OK;
}


/* {"status": N, "error": {...}} from the captured error object */

static json_t *
crm_bulk_take(crm_ctx_t *ctx)
{
    json_t  *err, *result;

    err = ctx->bulk->captured;
    ctx->bulk->captured = NULL;

    if (err == NULL) {
        return NULL;
    }

    result = json_pack("{s:O,s:o}", "status", json_object_get(err, "status"),
                       "error", err);

    return result;
}


/*
 * {"data": [{"index": i, "status": N, "data"|"error": ...}, ...],
 *  "meta": {..., "atomic": b, "succeeded": n, "failed": m}}
 * An operation without a result was not applied: the atomic batch failed.
 */

static ngx_int_t
crm_bulk_answer(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    char           *text;
    u_char         *meta, *p, *out;
    size_t          mlen, len, tlen;
    json_t         *item;
    ngx_int_t       rc;
    ngx_str_t      *items;
    ngx_uint_t      i, ok, failed;
    crm_bulk_t     *bulk;
    crm_bulk_op_t  *bo;

    bulk = ctx->bulk;
    ok = 0;
    failed = 0;
    len = 0;

    items = ngx_palloc(r->pool, bulk->nops * sizeof(ngx_str_t));
    if (items == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /*
     * Each item is jansson's text of {"index", "status"|"error"}, with
     * the record's JSON as PostgreSQL wrote it put in as "data"
     */

    for (i = 0; i < bulk->nops; i++) {
        bo = &bulk->ops[i];

        if (bo->result == NULL) {
            rc = crm_bulk_error(r, ctx, bo, CRM_E_NOT_APPLIED,
                                "not applied: another operation of the "
                                "atomic batch failed");
            if (rc != NGX_OK || bo->result == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }
        }

        if (json_object_get(bo->result, "error") != NULL) {
            failed++;

        } else {
            ok++;
        }

        item = json_pack("{s:I}", "index", (json_int_t) i);

        if (item == NULL || json_object_update(item, bo->result) != 0) {
            json_decref(item);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        text = json_dumps(item, JSON_COMPACT|JSON_PRESERVE_ORDER);
        json_decref(item);

        if (text == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* {"index":0,"status":201} -> {"index":0,"status":201,"data":R} */

        tlen = ngx_strlen(text);

        items[i].len = tlen + (bo->row.len ? sizeof(",\"data\":") - 1
                                             + bo->row.len
                                           : 0);
        items[i].data = ngx_pnalloc(r->pool, items[i].len);

        if (items[i].data == NULL) {
            free(text);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        if (bo->row.len) {
            p = ngx_cpymem(items[i].data, text, tlen - 1);
            p = ngx_cpymem(p, ",\"data\":", sizeof(",\"data\":") - 1);
            p = ngx_cpymem(p, bo->row.data, bo->row.len);
            *p = '}';

        } else {
            ngx_memcpy(items[i].data, text, tlen);
        }

        free(text);

        len += items[i].len + 1;
    }

    if (crm_http_meta(r, ctx, &meta, &mlen) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    out = ngx_pnalloc(r->pool, sizeof("{\"data\":[],\"meta\":{,\"atomic\":"
                                      "false,\"succeeded\":,\"failed\":}}")
                               + len + mlen + 2 * NGX_INT_T_LEN);
    if (out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(out, "{\"data\":[", sizeof("{\"data\":[") - 1);

    for (i = 0; i < bulk->nops; i++) {
        if (i > 0) {
            *p++ = ',';
        }

        p = ngx_cpymem(p, items[i].data, items[i].len);
    }

    p = ngx_sprintf(p, "],\"meta\":{%*s,\"atomic\":%s,"
                    "\"succeeded\":%ui,\"failed\":%ui}}",
                    mlen, meta, bulk->atomic ? "true" : "false", ok, failed);

    if (failed > 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: %V bulk: %ui of %ui operations failed%s",
                      &ctx->route.res->name, failed, bulk->nops,
                      bulk->atomic ? ", none applied" : "");
    }

    return crm_http_send_data(r, failed ? 207 : NGX_HTTP_OK, out, p - out);
}


static void
crm_bulk_cleanup(void *data)
{
    crm_ctx_t  *ctx = data;

    ngx_uint_t  i;

    for (i = 0; ctx->bulk != NULL && i < ctx->bulk->nops; i++) {
        json_decref(ctx->bulk->ops[i].result);
        ctx->bulk->ops[i].result = NULL;
    }

    if (ctx->bulk != NULL) {
        json_decref(ctx->bulk->captured);
        ctx->bulk->captured = NULL;
    }
}
