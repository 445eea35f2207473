
/*
 * ngx_http_crm_module: run a statement for a request and answer.
 *
 * crm_exec() sends a statement on the request's pool (the ordinary one,
 * or the heavy pool for an expensive request) and resumes the request
 * in the given callback, then runs what nginx posted on its connection.
 * crm_exec_result() is the start of every such callback; what a failed
 * statement means for the client (503, a constraint as a field error,
 * 404, 412) and the answer with a record (status, ETag, Location) are
 * here, for every handler.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"


/* the most ETags an If-Match list may name */
#define CRM_IF_MATCH_MAX  16


/*
 * What a CHECK constraint's rule is, for the message of its field's
 * error (the code is invalid_value whatever it says); a constraint not
 * here gets a message that claims no more than that the value is not
 * allowed.  The ranges of descriptor flags (CRM_F_MIN0, ...) are not
 * here: crm_validate() refuses those values, with their messages,
 * before any statement, and their constraints are a backstop.
 */

typedef struct {
    const char               *constraint;
    const char               *message;
} crm_exec_rule_t;


static crm_exec_rule_t  crm_exec_rules[] = {
    { "activities_end_at_check", "must not be before startAt" },
    { "activities_related_id_check",
      "relatedType and relatedId are set together, or neither" },
    { "custom_fields_options_check",
      "a select has 1 to 100 distinct options of 1 to 200 characters; "
      "other types have none" },
    { "custom_fields_name_check",
      "a letter, then letters, digits or \"_\", 63 characters at most" },
    { "pipelines_stages_check",
      "an array of {name, probability}: names distinct, of 1 to 100 "
      "characters, not only spaces; probabilities integers from 0 to 100" },
    { NULL, NULL }
};


static void crm_exec_resume(crm_pg_req_t *pr, PGresult *res);
static void crm_exec_rule(char *constraint, ngx_str_t *message);
static ngx_int_t crm_exec_etag_next(ngx_str_t *list, ngx_int_t *version);
static ngx_int_t crm_exec_not_modified(ngx_http_request_t *r,
    ngx_str_t *etag);
static char *crm_exec_flat(ngx_pool_t *pool, char *msg);
static ngx_int_t crm_exec_unavailable(ngx_http_request_t *r,
    crm_ctx_t *ctx);
static ngx_int_t crm_exec_constraint_field(ngx_pool_t *pool, crm_ctx_t *ctx,
    crm_db_error_t *e, crm_field_error_t *fe);
static ngx_uint_t crm_exec_of_table(crm_resource_t *rs, char *name,
    size_t len);
static crm_field_t *crm_exec_column(crm_resource_t *res, char *col);


/* sends "st"; "h" resumes the request */

ngx_int_t
crm_exec(ngx_http_request_t *r, crm_ctx_t *ctx, crm_stmt_t *st,
    crm_pg_handler_pt h)
{
    crm_pg_req_t   **pr;
    crm_pg_pool_t   *pool;

    if (ctx->mcf->pool == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "crm: no crm_postgres configured");
        return crm_http_error(r, CRM_E_SERVICE_UNAVAILABLE,
                              "the database is not configured", NULL);
    }

    pool = crm_heavy_pool(r, ctx);
    if (pool == NULL) {
        return ctx->rc;
    }

    pr = (pool == ctx->mcf->pool) ? &ctx->pg : &ctx->pg_heavy;

    if (*pr == NULL) {
        *pr = crm_pg_request(pool, r->pool, r->connection->log);
        if (*pr == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* a read whose client goes away is cancelled (crm_http_wait()) */
        (*pr)->cancel = (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) != 0;
    }

    /*
     * What may run long is never waited behind (crm_postgres_pipeline):
     * an expensive request when it runs on this pool, a bulk, analytics,
     * an action (a campaign's launch, a merge)
     */

    (*pr)->solo = ctx->heavy
                  || ctx->route.kind == CRM_ROUTE_BULK
                  || ctx->route.kind == CRM_ROUTE_ANALYTICS
                  || ctx->route.kind == CRM_ROUTE_ACTION;

    ctx->pg_handler = h;

    crm_pg_exec(*pr, st, crm_exec_resume, r);

    return NGX_DONE;
}


/* every PostgreSQL callback of a request: then the posted requests */

static void
crm_exec_resume(crm_pg_req_t *pr, PGresult *res)
{
    crm_ctx_t           *ctx;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = pr->data;
    c = r->connection;
    ctx = ngx_http_get_module_ctx(r, ngx_http_crm_module);

    ctx->pg_handler(pr, res);

    crm_http_posted(c);
}


/*
 * The start of a PostgreSQL callback: its request and context.  A result
 * that is not rows (an error, the database away), or with "one" not
 * exactly one row, is answered here and NULL returned.
 */

ngx_http_request_t *
crm_exec_result(crm_pg_req_t *pr, PGresult *res, ngx_uint_t one,
    crm_ctx_t **ctx)
{
    ngx_http_request_t  *r;

    r = pr->data;
    *ctx = ngx_http_get_module_ctx(r, ngx_http_crm_module);

    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK
        || (one && PQntuples(res) != 1))
    {
        crm_http_done(r, crm_exec_db_error(r, *ctx, pr, res));
        return NULL;
    }

    return r;
}


/*
 * A statement without a usable result: 503 when the database is busy or
 * away, the matching API error for a constraint, 500 otherwise.
 */

ngx_int_t
crm_exec_db_error(ngx_http_request_t *r, crm_ctx_t *ctx, crm_pg_req_t *pr,
    PGresult *res)
{
    crm_db_error_t  e;

    if (res == NULL) {
        /* the pool logs refusals: at once, then a summary a second */
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "crm: database unavailable (%s)",
                       pr->error == CRM_PG_BUSY ? "wait queue full"
                       : pr->error == CRM_PG_TIMEOUT ? "wait timed out"
                       : pr->error == CRM_PG_DOWN ? "unreachable"
                       : "connection lost");
        return crm_exec_unavailable(r, ctx);
    }

    e.state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    e.message = crm_exec_flat(r->pool, PQresultErrorMessage(res));
    e.primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    e.constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    e.column = PQresultErrorField(res, PG_DIAG_COLUMN_NAME);
    e.detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);

    return crm_exec_db_fail(r, ctx, &e);
}


/* the API error for a database error (also one operation's of a bulk) */

ngx_int_t
crm_exec_db_fail(ngx_http_request_t *r, crm_ctx_t *ctx,
    crm_db_error_t *e)
{
    char               *state, *msg;
    ngx_int_t           n;
    crm_field_t        *f;
    ngx_array_t         errors;
    crm_field_error_t  *fe;

    state = e->state ? e->state : "XX000";
    msg = e->message ? e->message : "(no message)";

    if (ngx_strcmp(state, "23505") == 0 || ngx_strcmp(state, "23503") == 0
        || ngx_strcmp(state, "23502") == 0 || ngx_strcmp(state, "23514") == 0)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: constraint violated: %s", msg);

        if (ngx_array_init(&errors, r->pool, 1, sizeof(crm_field_error_t))
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        fe = ngx_array_push(&errors);
        if (fe == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        (void) crm_exec_constraint_field(r->pool, ctx, e, fe);

        if (state[3] == '0' && state[4] == '5') {
            ngx_str_set(&fe->code, "duplicate");
            ngx_str_set(&fe->message, "the value is already in use");
            return crm_http_field_errors(r, CRM_E_DUPLICATE,
                                         "a record with this value exists",
                                         &errors);
        }

        if (state[4] == '3') {
            ngx_str_set(&fe->code, "not_found");
            ngx_str_set(&fe->message,
                        "the referenced record does not exist");

        } else if (state[4] == '4') {
            ngx_str_set(&fe->code, "invalid_value");
            crm_exec_rule(e->constraint, &fe->message);

        } else {
            ngx_str_set(&fe->code, "required");
            ngx_str_set(&fe->message, "the field may not be null");
        }

        return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                     "the request is not valid", &errors);
    }

    if (state[0] == '2' && state[1] == '2') {
        /* data exceptions the validator did not catch */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: data exception: %s", msg);

        f = (e->column != NULL && ctx->route.res != NULL)
            ? crm_exec_column(ctx->route.res, e->column) : NULL;

        if (f == NULL) {
            return crm_http_error(r, CRM_E_VALIDATION_FAILED,
                                  "a value is not valid", NULL);
        }

        if (ngx_array_init(&errors, r->pool, 1, sizeof(crm_field_error_t))
            != NGX_OK
            || (fe = ngx_array_push(&errors)) == NULL)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        fe->field = f->name;
        ngx_str_set(&fe->code, "invalid_value");
        fe->message.data = (u_char *) e->primary;
        fe->message.len = fe->message.data
                          ? ngx_strlen(fe->message.data) : 0;

        return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                     "the request is not valid", &errors);
    }

    if (ngx_strcmp(state, "CR422") == 0) {
        /*
         * a rule of the database on a value (sql/010_custom_fields.sql):
         * COLUMN is the field's path, CONSTRAINT the code; the custom
         * fields' check lists every problem in DETAIL (sql/086)
         */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: invalid value: %s", msg);

        if (ngx_array_init(&errors, r->pool, 1, sizeof(crm_field_error_t))
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        switch (crm_exec_problems(r->pool, e->detail, e->column, &errors)) {

        case NGX_OK:
            return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                         "the request is not valid",
                                         &errors);

        case NGX_ERROR:
            return NGX_HTTP_INTERNAL_SERVER_ERROR;

        default: /* NGX_DECLINED: one problem, as the exception says */
            break;
        }

        fe = ngx_array_push(&errors);
        if (fe == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        fe->field.data = (u_char *) (e->column ? e->column : "(record)");
        fe->field.len = ngx_strlen(fe->field.data);
        fe->code.data = (u_char *) (e->constraint ? e->constraint
                                                  : "invalid_value");
        fe->code.len = ngx_strlen(fe->code.data);
        fe->message.data = (u_char *) (e->primary ? e->primary : "");
        fe->message.len = ngx_strlen(fe->message.data);

        return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                     "the request is not valid", &errors);
    }

    if (ngx_strcmp(state, "CR409") == 0) {
        /* a state machine said no (sql/: SQLSTATE CR409) */
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: invalid state: %s", msg);
        return crm_http_error(r, CRM_E_INVALID_STATE, e->primary, NULL);
    }

    if (ngx_strcmp(state, "57014") == 0 || ngx_strncmp(state, "08", 2) == 0
        || ngx_strncmp(state, "57P", 3) == 0
        || ngx_strcmp(state, "40001") == 0 || ngx_strcmp(state, "40P01") == 0
        || ngx_strcmp(state, "53300") == 0)
    {
        /*
         * cancelled (statement timeout), a lost session, a deadlock, too
         * many connections: each request would log it; a line a second
         */
        n = crm_log_limit(&ctx->mcf->db_log);

        if (n >= 0) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "crm: database unavailable (%s): %s "
                          "(%i similar lines left out)", state,
                          e->primary ? e->primary : msg, n);
        }

        return crm_exec_unavailable(r, ctx);
    }

    ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                  "crm: statement failed (%s): %s", state, msg);

    return crm_http_error(r, CRM_E_INTERNAL, "internal error", NULL);
}


/*
 * The problems "detail" lists (sql/086, a CR422's DETAIL or
 * db_custom_problems(): [{"field", "code", "message"}, ...]) added to
 * "errors".  A function that raised the error again under a name of its
 * own (a lead's conversion: "deal." before "customFields.score") kept
 * the DETAIL: the part of "column" (NULL: none) before the first
 * problem's field goes before every field.  NGX_DECLINED: no such list,
 * nothing added.
 */

ngx_int_t
crm_exec_problems(ngx_pool_t *pool, char *detail, char *column,
    ngx_array_t *errors)
{
    size_t              plen, flen, clen, len;
    json_t             *doc, *item;
    u_char             *p;
    ngx_int_t           rc;
    ngx_uint_t          i, nelts;
    const char         *field, *code, *message;
    json_error_t        jerr;
    crm_field_error_t  *fe;

    if (detail == NULL || detail[0] != '[') {
        return NGX_DECLINED;
    }

    doc = json_loads(detail, 0, &jerr);

    if (!json_is_array(doc) || json_array_size(doc) == 0) {
        json_decref(doc);
        return NGX_DECLINED;
    }

    plen = 0;

    field = json_string_value(json_object_get(json_array_get(doc, 0),
                                              "field"));

    if (field != NULL && column != NULL) {
        flen = ngx_strlen(field);
        clen = ngx_strlen(column);

        if (clen > flen && ngx_strcmp(column + clen - flen, field) == 0) {
            plen = clen - flen;
        }
    }

    rc = NGX_OK;
    nelts = errors->nelts;

    json_array_foreach(doc, i, item) {
        field = json_string_value(json_object_get(item, "field"));
        code = json_string_value(json_object_get(item, "code"));
        message = json_string_value(json_object_get(item, "message"));

        if (field == NULL || code == NULL || message == NULL) {
            rc = NGX_DECLINED;
            break;
        }

        fe = ngx_array_push(errors);
        if (fe == NULL) {
            rc = NGX_ERROR;
            break;
        }

        flen = ngx_strlen(field);
        clen = ngx_strlen(code);
        len = ngx_strlen(message);

        p = ngx_pnalloc(pool, plen + flen + clen + len);
        if (p == NULL) {
            rc = NGX_ERROR;
            break;
        }

        fe->field.data = p;
        p = ngx_cpymem(p, column, plen);
        p = ngx_cpymem(p, field, flen);
        fe->field.len = p - fe->field.data;

        fe->code.data = p;
        fe->code.len = clen;
        p = ngx_cpymem(p, code, clen);

        fe->message.data = p;
        fe->message.len = len;
        ngx_memcpy(p, message, len);
    }

    json_decref(doc);

    if (rc == NGX_DECLINED) {
        errors->nelts = nelts;
    }

    return rc;
}


/* 503 with Retry-After: the pool's back-off */

static ngx_int_t
crm_exec_unavailable(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ngx_msec_t  ms;

    ms = crm_pg_retry_after(ctx->heavy_slot ? ctx->mcf->heavy_pool
                                            : ctx->mcf->pool);

    return crm_http_retry(r, CRM_E_SERVICE_UNAVAILABLE,
                          "the database is unavailable, retry later", ms,
                          NULL);
}


/*
 * Constraint and index names are "<table>_<column>_<kind>" (sql/): the
 * column, and through it the field, is read back from the name.
 */

static ngx_int_t
crm_exec_constraint_field(ngx_pool_t *pool, crm_ctx_t *ctx,
    crm_db_error_t *e, crm_field_error_t *fe)
{
    char            *name, *col;
    u_char          *p;
    size_t           len;
    ngx_uint_t       i, n;
    crm_field_t     *f;
    crm_resource_t  *rs, *all, *part;

    ngx_str_set(&fe->field, "(record)");

    part = NULL;

    if (ctx->route.kind == CRM_ROUTE_LINK) {
        /* the one field of POST /<parent>/:id/<link> */
        ngx_str_set(&fe->field, "id");
        return NGX_OK;
    }

    rs = ctx->route.res;
    name = e->constraint;

    if (name == NULL) {
        name = e->column;
        if (name == NULL) {
            return NGX_DECLINED;
        }

        col = name;
        len = ngx_strlen(name);

    } else {
        len = ngx_strlen(name);

        if (ctx->route.kind == CRM_ROUTE_ITEM_ACTION
            && !crm_exec_of_table(rs, name, len))
        {
            /*
             * an action writes records of other resources (a lead's
             * conversion: its contact, company and deal): the field is
             * "<kind>.<field>", as the action's body names it
             */

            all = crm_schema_all(&n);

            for (i = 0; i < n; i++) {
                if (crm_exec_of_table(&all[i], name, len)
                    && (part == NULL || all[i].table.len > part->table.len))
                {
                    part = &all[i];
                }
            }

            if (part == NULL) {
                return NGX_DECLINED;
            }

            rs = part;
        }

        if (!crm_exec_of_table(rs, name, len)) {
            return NGX_DECLINED;
        }

        /* "<column>_<kind>": strip the kind */

        col = name + rs->table.len + 1;
        len -= rs->table.len + 1;

        while (len > 0 && col[len - 1] != '_') {
            len--;
        }

        if (len < 2) {
            return NGX_DECLINED;
        }

        len--;
    }

    f = crm_schema_field(rs, (u_char *) col, len);
    if (f == NULL) {
        return NGX_DECLINED;
    }

    if (part == NULL) {
        fe->field = f->name;
        return NGX_OK;
    }

    p = ngx_pnalloc(pool, part->singular.len + 1 + f->name.len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    fe->field.data = p;
    fe->field.len = ngx_sprintf(p, "%V.%V", &part->singular, &f->name) - p;

    return NGX_OK;
}


/* a constraint's name of the resource's table: "<table>_..." */

static ngx_uint_t
crm_exec_of_table(crm_resource_t *rs, char *name, size_t len)
{
    return len > rs->table.len + 1
           && ngx_strncmp(name, rs->table.data, rs->table.len) == 0
           && name[rs->table.len] == '_';
}


/* a field by its column or name, write-only ones included (a password) */

static crm_field_t *
crm_exec_column(crm_resource_t *res, char *col)
{
    ngx_uint_t  i;

    for (i = 0; i < res->nfields; i++) {
        if (ngx_strcmp(res->fields[i].column.data, col) == 0
            || ngx_strcmp(res->fields[i].name.data, col) == 0)
        {
            return &res->fields[i];
        }
    }

    return NULL;
}


ngx_int_t
crm_exec_not_found(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    return crm_http_error(r, CRM_E_NOT_FOUND, "the record does not exist",
                          NULL);
}


/*
 * If-Match on PUT, PATCH and DELETE: "*", or a list of ETags "<version>"
 * of a versioned record (a weak W/ prefix is ignored), which matches
 * when one of them names the version (nginx refuses a second If-Match
 * header itself).  A list without a version, or with an element that is
 * no tag, cannot match, nor can any tag a record without a version:
 * 412.  ctx->match is one version, or "{v1,v2,...}".
 */

ngx_int_t
crm_exec_if_match(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    u_char           *p;
    ngx_int_t         n, pin;
    ngx_str_t         tag, pinned;
    ngx_uint_t        ntags, found;
    ngx_table_elt_t  *h;
    u_char            list[CRM_IF_MATCH_MAX * (NGX_INT32_LEN + 1) + 2];

    /*
     * a version the handler pinned (the one it checked: a webhook's
     * guard) holds the write to it, and the client's tags must name it
     */

    pinned = ctx->match;
    pin = (pinned.len > 0) ? ngx_atoi(pinned.data, pinned.len) : NGX_ERROR;
    found = 0;

    ngx_str_null(&ctx->match);

    h = crm_http_header_in(r, "If-Match", sizeof("If-Match") - 1);

    if (h == NULL || (h->value.len == 1 && h->value.data[0] == '*')) {
        ctx->match = pinned;
        return NGX_OK;
    }

    /* a record without a version has no ETag: no tag can match it */

    if (!ctx->route.res->versioned) {
        goto failed;
    }

    p = list;
    *p++ = '{';
    ntags = 0;
    tag = h->value;

    while (crm_exec_etag_next(&tag, &n) == NGX_OK) {

        if (n == NGX_DECLINED) {
            /* an empty element, or a tag that names no version */
            continue;
        }

        if (n == NGX_ERROR || ntags == CRM_IF_MATCH_MAX) {
            goto failed;
        }

        p = ngx_sprintf(p, ntags++ ? ",%i" : "%i", n);
        found |= (n == pin);
    }

    if (ntags == 0 || (pinned.len > 0 && !found)) {
        goto failed;
    }

    if (pinned.len > 0) {
        ctx->match = pinned;
        return NGX_OK;
    }

    if (ntags == 1) {
        ctx->match.data = list + 1;
        ctx->match.len = p - list - 1;

    } else {
        *p++ = '}';
        ctx->match.data = list;
        ctx->match.len = p - list;
    }

    ctx->match.data = ngx_pstrdup(r->pool, &ctx->match);
    if (ctx->match.data == NULL) {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ABORT;
    }

    return NGX_OK;

failed:

    ngx_str_null(&ctx->match);

    ctx->rc = crm_http_error(r, CRM_E_PRECONDITION_FAILED,
                             "If-Match does not name this record's version",
                             NULL);
    return NGX_ABORT;
}


/* the message of a CHECK constraint's error (crm_exec_rules) */

static void
crm_exec_rule(char *constraint, ngx_str_t *message)
{
    crm_exec_rule_t  *rule;

    for (rule = crm_exec_rules;
         constraint != NULL && rule->constraint != NULL;
         rule++)
    {
        if (ngx_strcmp(rule->constraint, constraint) == 0) {
            message->data = (u_char *) rule->message;
            message->len = ngx_strlen(rule->message);
            return;
        }
    }

    ngx_str_set(message, "the value is not allowed");
}


/*
 * The next element of an ETag list (consumed from "list"): *version is
 * the version of a tag "<digits>" (a W/ prefix ignored), NGX_DECLINED
 * for an element that matches nothing (empty, or a tag that names no
 * version), NGX_ERROR for one that is no tag.  NGX_DONE at the end.
 */

static ngx_int_t
crm_exec_etag_next(ngx_str_t *list, ngx_int_t *version)
{
    u_char     *p, *last, *q, *end;
    ngx_int_t   n;

    p = list->data;
    last = p + list->len;

    while (p < last && (*p == ' ' || *p == '\t')) {
        p++;
    }

    if (p == last) {
        return NGX_DONE;
    }

    q = ngx_strlchr(p, last, ',');
    end = (q != NULL) ? q : last;

    list->data = (q != NULL) ? q + 1 : last;
    list->len = last - list->data;

    while (end > p && (end[-1] == ' ' || end[-1] == '\t')) {
        end--;
    }

    if (end == p) {
        *version = NGX_DECLINED;
        return NGX_OK;
    }

    if (end - p > 2 && p[0] == 'W' && p[1] == '/') {
        p += 2;
    }

    if (end - p < 2 || *p != '"' || end[-1] != '"') {
        *version = NGX_ERROR;
        return NGX_OK;
    }

    /*
     * a tag that is no version ("abc", "", a number beyond a version's
     * integer) matches nothing, as an element to skip; ngx_atoi() takes
     * digits only, NGX_ERROR beyond NGX_MAX_INT_T_VALUE
     */

    n = ngx_atoi(p + 1, end - p - 2);

    *version = (n == NGX_ERROR || n > NGX_MAX_INT32_VALUE) ? NGX_DECLINED
                                                            : n;

    return NGX_OK;
}


/*
 * ETag: "<version>".  A GET whose If-None-Match names it (or "*") is
 * 304 Not Modified.  NGX_OK, NGX_ABORT (answered: ctx->rc), or a status.
 */

ngx_int_t
crm_exec_etag(ngx_http_request_t *r, crm_ctx_t *ctx, PGresult *res, int col)
{
    u_char     *p;
    ngx_str_t   etag;

    etag.len = PQgetlength(res, 0, col) + 2;
    etag.data = ngx_pnalloc(r->pool, etag.len);
    if (etag.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = etag.data;
    *p++ = '"';
    p = ngx_cpymem(p, PQgetvalue(res, 0, col), PQgetlength(res, 0, col));
    *p = '"';

    if (crm_http_header_out(r, "ETag", &etag) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_exec_not_modified(r, &etag) == NGX_OK) {
        ctx->rc = crm_http_send(r, NGX_HTTP_NOT_MODIFIED, NULL, 0);
        return NGX_ABORT;
    }

    return NGX_OK;
}


/*
 * NGX_OK: a GET's If-None-Match names "etag" (NULL: a record without
 * one) or is "*", and the answer is 304
 */

static ngx_int_t
crm_exec_not_modified(ngx_http_request_t *r, ngx_str_t *etag)
{
    ngx_str_t        *inm;
    ngx_table_elt_t  *h;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return NGX_DECLINED;
    }

    h = crm_http_header_in(r, "If-None-Match", sizeof("If-None-Match") - 1);
    if (h == NULL) {
        return NGX_DECLINED;
    }

    inm = &h->value;

    if ((inm->len == 1 && inm->data[0] == '*')
        || (etag != NULL
            && ngx_strlcasestrn(inm->data, inm->data + inm->len, etag->data,
                                etag->len - 1)
               != NULL))
    {
        return NGX_OK;
    }

    return NGX_DECLINED;
}


/*
 * No row was written: the record is not there (404), or, with If-Match,
 * it is there in another version (412).
 */

ngx_int_t
crm_exec_missing(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    crm_stmt_t  *st;

    if (ctx->match.len == 0) {
        return crm_exec_not_found(r, ctx);
    }

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL
        || crm_sql_exists(r->pool, ctx->route.res, &ctx->workspace,
                          &ctx->route.id, st)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->next = crm_exec_precondition_failed;

    return crm_exec(r, ctx, st, crm_exec_exists_done);
}


/* an existence check: 404 when the record is not there, else ctx->next */

void
crm_exec_exists_done(crm_pg_req_t *pr, PGresult *res)
{
    ngx_int_t            rc;
    crm_ctx_t           *ctx;
    ngx_http_request_t  *r;

    r = crm_exec_result(pr, res, 0, &ctx);
    if (r == NULL) {
        return;
    }

    if (PQntuples(res) == 0) {
        rc = crm_exec_not_found(r, ctx);

    } else {
        rc = ctx->next(r, ctx);
    }

    if (rc != NGX_DONE) {
        crm_http_done(r, rc);
    }
}


/*
 * The version the write was held to is gone: the client's If-Match, or,
 * without one, the version the handler checked (a webhook's guard), which
 * the record left while the request was checked: 409, to send again
 */

ngx_int_t
crm_exec_precondition_failed(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ngx_table_elt_t  *h;

    h = crm_http_header_in(r, "If-Match", sizeof("If-Match") - 1);

    if (h == NULL || (h->value.len == 1 && h->value.data[0] == '*')) {
        return crm_http_error(r, CRM_E_CONFLICT,
                              "the record changed while this request was "
                              "checked: send it again", NULL);
    }

    return crm_http_error(r, CRM_E_PRECONDITION_FAILED,
                          "the record has changed since the version "
                          "in If-Match", NULL);
}


/* get, create, update, link: one record or nothing (crm_exec_record()) */

void
crm_exec_row_done(crm_pg_req_t *pr, PGresult *res)
{
    int                  after;
    ngx_int_t            rc;
    ngx_str_t            row;
    ngx_uint_t           status;
    crm_ctx_t           *ctx;
    ngx_http_request_t  *r;

    r = crm_exec_result(pr, res, 0, &ctx);
    if (r == NULL) {
        return;
    }

    if (PQntuples(res) == 0) {
        rc = crm_exec_missing(r, ctx);

    } else {
        status = NGX_HTTP_OK;
        after = crm_exec_after(pr->stmt);

        if (PQnfields(res) > after) {
            rc = crm_exec_etag(r, ctx, res, after);

            if (rc != NGX_OK) {
                crm_http_done(r, rc == NGX_ABORT ? ctx->rc : rc);
                return;
            }

        } else if (crm_exec_not_modified(r, NULL) == NGX_OK) {
            /* no version, no ETag: "*" matches any record there is */
            crm_http_done(r, crm_http_send(r, NGX_HTTP_NOT_MODIFIED, NULL,
                                           0));
            return;
        }

        if (crm_exec_record(r, pr->stmt, res, 0, &row) != NGX_OK) {
            crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        if (r->method == NGX_HTTP_POST
            && ctx->route.kind == CRM_ROUTE_COLLECTION)
        {
            status = (ctx->route.def->flags & CRM_ROUTE_ACCEPTED)
                     ? NGX_HTTP_ACCEPTED : NGX_HTTP_CREATED;

            if (crm_exec_location(r, ctx, row.data, row.len) != NGX_OK) {
                crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
                return;
            }
        }

        rc = crm_exec_render_row(r, ctx, status, row.data, row.len);
    }

    if (rc != NGX_DONE) {
        crm_http_done(r, rc);
    }
}


void
crm_exec_cols(PGresult *res, int row, int first, ngx_uint_t n,
    ngx_str_t *cols)
{
    int         col;
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        col = first + (int) i;

        cols[i].data = (u_char *) PQgetvalue(res, row, col);
        cols[i].len = PQgetlength(res, row, col);

        /* libpq gives NULL as "": only then does it need asking */

        if (cols[i].len == 0 && PQgetisnull(res, row, col)) {
            cols[i].data = NULL;
        }
    }
}


/*
 * The record of result row "row" as compact JSON: rendered from its
 * columns (crm_render.c), or the JSON PostgreSQL made in column 0 without
 * its white space (json_build_object()'s "k" : v)
 */

ngx_int_t
crm_exec_record(ngx_http_request_t *r, crm_stmt_t *st, PGresult *res,
    int row, ngx_str_t *out)
{
    u_char     *p;
    ngx_str_t   cols[CRM_MAX_FIELDS];

    if (st->ncols == 0) {
        out->data = ngx_pnalloc(r->pool, PQgetlength(res, row, 0));
        if (out->data == NULL) {
            return NGX_ERROR;
        }

        p = crm_render_compact(out->data, (u_char *) PQgetvalue(res, row, 0),
                               PQgetlength(res, row, 0));
        out->len = p - out->data;

        return NGX_OK;
    }

    if (st->ncols > CRM_MAX_FIELDS || PQnfields(res) < (int) st->ncols) {
        return NGX_ERROR;
    }

    crm_exec_cols(res, row, 0, st->ncols, cols);

    out->data = ngx_pnalloc(r->pool,
                            crm_render_size(st->res, st->select, cols));
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = crm_render_row(out->data, st->res, st->select, cols);
    if (p == NULL) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "crm: %V: a column is not in its type's text form",
                      &st->res->name);
        return NGX_ERROR;
    }

    out->len = p - out->data;

    return NGX_OK;
}


int
crm_exec_after(crm_stmt_t *st)
{
    return st->ncols ? (int) st->ncols : 1;
}


/* {"data":<row>,"meta":{...}}; the row is compact JSON (crm_exec_record()) */

ngx_int_t
crm_exec_render_row(ngx_http_request_t *r, crm_ctx_t *ctx, ngx_uint_t status,
    u_char *row, size_t len)
{
    u_char  *p, *body, *meta;
    size_t   mlen;

    if (crm_http_meta(r, ctx, &meta, &mlen) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    body = ngx_pnalloc(r->pool, sizeof("{\"data\":,\"meta\":{}}") + len
                                + mlen + sizeof("{\"secret\":\"\",")
                                + ctx->secret.len);
    if (body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_cpymem(body, "{\"data\":", sizeof("{\"data\":") - 1);

    if (ctx->secret.len > 0 && len > 1) {

        /* a new API key: its secret comes first, this once, stored by
           no cache (RFC 9111) */

        if (crm_http_no_store(r) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_sprintf(p, "{\"%s\":\"%V\",",
                        ctx->secret_name ? ctx->secret_name : "key",
                        &ctx->secret);
        row++;
        len--;
    }

    p = ngx_cpymem(p, row, len);
    p = ngx_cpymem(p, ",\"meta\":{", sizeof(",\"meta\":{") - 1);
    p = ngx_cpymem(p, meta, mlen);
    *p++ = '}';
    *p++ = '}';

    return crm_http_send_data(r, status, body, p - body);
}


/*
 * Location: <mount><resource>/<id>.  The row JSON always starts with the
 * id: {"id":"<uuid>", ... (or {"id" : "<uuid>", from PostgreSQL)
 */

ngx_int_t
crm_exec_location(ngx_http_request_t *r, crm_ctx_t *ctx, u_char *row,
    size_t len)
{
    u_char     *p, *last, *id;
    ngx_str_t   loc;

    last = row + len;

    p = ngx_strlcasestrn(row, last, (u_char *) "\"id\"", 4 - 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p += 4;

    while (p < last && *p != '"') {
        p++;
    }

    id = ++p;

    while (p < last && *p != '"') {
        p++;
    }

    if (p >= last || p - id != 36) {
        return NGX_ERROR;
    }

    loc.len = ctx->route.base.len + ctx->route.res->name.len + 1 + 36;
    loc.data = ngx_pnalloc(r->pool, loc.len);
    if (loc.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(loc.data, "%V%V/%*s", &ctx->route.base,
                &ctx->route.res->name, (size_t) 36, id);

    return crm_http_header_out(r, "Location", &loc);
}


ngx_int_t
crm_exec_field(ngx_pool_t *pool, PGresult *res, int col, ngx_str_t *out)
{
    if (PQgetisnull(res, 0, col)) {
        ngx_str_null(out);
        return NGX_OK;
    }

    out->len = PQgetlength(res, 0, col);
    out->data = ngx_pnalloc(pool, out->len + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, PQgetvalue(res, 0, col), out->len);
    out->data[out->len] = '\0';

    return NGX_OK;
}


/* a libpq message on one line (it ends in, and may hold, newlines) */

static char *
crm_exec_flat(ngx_pool_t *pool, char *msg)
{
    u_char  *p, *last;
    size_t   len;

    if (msg == NULL) {
        return NULL;
    }

    len = ngx_strlen(msg);

    p = ngx_pnalloc(pool, len + 1);
    if (p == NULL) {
        return msg;
    }

    last = crm_value_line(p, len, msg);
    *last = '\0';

    return (char *) p;
}


/*
 * The route's record with the fields "names" alone (JSON names,
 * NULL-terminated): GET's statement, for a handler that reads what it
 * decides by (a campaign's audience and status), then "h"
 */

ngx_int_t
crm_exec_get_fields(ngx_http_request_t *r, crm_ctx_t *ctx,
    const char **names, crm_pg_handler_pt h)
{
    u_char       *select;
    ngx_uint_t    i, k;
    crm_stmt_t   *st;
    crm_field_t  *f;

    select = ngx_pcalloc(r->pool, ctx->route.res->nfields);
    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));

    if (select == NULL || st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i < ctx->route.res->nfields; i++) {
        f = &ctx->route.res->fields[i];

        for (k = 0; names[k] != NULL; k++) {
            if (ngx_strcmp(f->name.data, names[k]) == 0) {
                select[i] = 1;
            }
        }
    }

    if (crm_sql_get(r->pool, ctx->route.res, &ctx->workspace, &ctx->route.id,
                    select, st)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_exec(r, ctx, st, h);
}


/*
 * The row of a crm_exec_get_fields() statement as a JSON object (the
 * caller's to json_decref()); NULL when the request is answered: 404
 * for no row, 500 on an error
 */

json_t *
crm_exec_fields_json(ngx_http_request_t *r, crm_ctx_t *ctx,
    crm_pg_req_t *pr, PGresult *res)
{
    json_t     *row;
    ngx_str_t   json;

    if (PQntuples(res) == 0) {
        crm_http_done(r, crm_exec_not_found(r, ctx));
        return NULL;
    }

    if (crm_exec_record(r, pr->stmt, res, 0, &json) != NGX_OK) {
        crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NULL;
    }

    row = json_loadb((char *) json.data, json.len, 0, NULL);
    if (row == NULL) {
        crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return NULL;
    }

    return row;
}

