
/*
 * ngx_http_crm_module: custom fields.
 *
 * Their definitions are records of the "custom-fields" resource (generic
 * CRUD, also at /metadata/objects/:name/fields); their values live in a
 * record's customFields and are checked by the database
 * (sql/010_custom_fields.sql, sql/086: every problem at once).  This file
 * loads a workspace's definitions when a request needs them: a list that
 * filters or sorts on customFields.<name>, and the metadata; and asks the
 * database for a body's custom-field problems when its other fields are
 * refused, so that all come in one answer.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "stages/crm_stages.h"
#include "handlers/crm_handlers.h"


#define CRM_CUSTOM_NAME_MAX   63


static void crm_custom_loaded(crm_pg_req_t *pr, PGresult *res);
static void crm_custom_refused(crm_pg_req_t *pr, PGresult *res);
static void crm_custom_cleanup(void *data);
static ngx_int_t crm_custom_name_valid(const char *name);
static ngx_int_t crm_custom_field(ngx_pool_t *pool, json_t *def,
    crm_field_t *f);


/* a list of "res" whose query names customFields.<name> */

ngx_uint_t
crm_custom_wanted(ngx_http_request_t *r, crm_resource_t *res)
{
    return crm_schema_custom(res)
           && ngx_strnstr(r->args.data, "customFields.", r->args.len)
              != NULL;
}


/*
 * Loads the workspace's definitions for "object" (NULL: every resource)
 * into ctx->custom, {"<resource>": [definitions]}, then goes on to
 * "next".
 */

ngx_int_t
crm_custom_load(ngx_http_request_t *r, crm_ctx_t *ctx,
    crm_resource_t *object, crm_step_pt next)
{
    crm_stmt_t          *st;
    ngx_pool_cleanup_t  *cln;

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    cln = ngx_pool_cleanup_add(r->pool, 0);

    if (st == NULL || cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = crm_custom_cleanup;
    cln->data = ctx;

    if (crm_sql_custom_fields(r->pool, &ctx->workspace,
                              object ? &object->name : NULL, st)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->next = next;

    return crm_exec(r, ctx, st, crm_custom_loaded);
}


static void
crm_custom_loaded(crm_pg_req_t *pr, PGresult *res)
{
    int                  i;
    json_t              *defs;
    ngx_int_t            rc;
    crm_ctx_t           *ctx;
    json_error_t         err;
    ngx_http_request_t  *r;

    r = crm_exec_result(pr, res, 0, &ctx);
    if (r == NULL) {
        return;
    }

    ctx->custom = json_object();
    if (ctx->custom == NULL) {
        crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    for (i = 0; i < PQntuples(res); i++) {
        defs = json_loadb(PQgetvalue(res, i, 1), PQgetlength(res, i, 1), 0,
                          &err);

        if (!json_is_array(defs)
            || json_object_set_new(ctx->custom, PQgetvalue(res, i, 0), defs)
               != 0)
        {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "crm: unreadable custom-field definitions");
            json_decref(defs);
            crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }
    }

    rc = ctx->next(r, ctx);

    if (rc != NGX_DONE) {
        crm_http_done(r, rc);
    }
}


/*
 * A create (or an update) whose fields crm_validate() refused, "errors":
 * before the 422 is sent, the database checks the body's customFields as
 * it would on a write (db_custom_problems(), sql/086), and their
 * problems join the others.  Not when the refusal is of customFields
 * itself, nor for an update that does not write them.  A database that
 * cannot answer leaves the 422 as it was.
 */

ngx_int_t
crm_custom_refuse(ngx_http_request_t *r, crm_ctx_t *ctx, ngx_array_t *errors,
    ngx_uint_t create)
{
    json_t             *cf;
    ngx_str_t           values;
    ngx_uint_t          i;
    crm_stmt_t         *st;
    crm_field_error_t  *fe;

    cf = json_object_get(ctx->body, "customFields");
    fe = errors->elts;

    for (i = 0; i < errors->nelts; i++) {
        if (fe[i].field.len >= sizeof("customFields") - 1
            && ngx_strncmp(fe[i].field.data, "customFields",
                           sizeof("customFields") - 1)
               == 0)
        {
            cf = NULL;
            create = 0;
            break;
        }
    }

    if (!crm_schema_custom(ctx->route.res)
        || (cf == NULL && !create)
        || (cf != NULL && !json_is_object(cf)))
    {
        return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                     "the request is not valid", errors);
    }

    if (cf == NULL) {
        ngx_str_set(&values, "{}");

    } else if (crm_validate_dump(r->pool, cf, &values) != NGX_OK) {
        /* the text a write would send for it (reals exact) */
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_sql_custom_problems(r->pool, &ctx->workspace,
                                &ctx->route.res->name, &values, st)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* "errors" is the caller's, on its stack: a copy waits for the answer */

    ctx->state = ngx_palloc(r->pool, sizeof(ngx_array_t));
    if (ctx->state == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    *(ngx_array_t *) ctx->state = *errors;

    return crm_exec(r, ctx, st, crm_custom_refused);
}


static void
crm_custom_refused(crm_pg_req_t *pr, PGresult *res)
{
    ngx_int_t            rc;
    crm_ctx_t           *ctx;
    ngx_array_t         *errors;
    ngx_http_request_t  *r;

    r = pr->data;
    ctx = ngx_http_get_module_ctx(r, ngx_http_crm_module);
    errors = ctx->state;

    if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK
        && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
    {
        if (crm_exec_problems(r->pool, PQgetvalue(res, 0, 0), NULL, errors)
            == NGX_ERROR)
        {
            crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

    } else if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: %V: the custom fields of a refused body "
                      "were not checked", &ctx->route.res->name);
    }

    rc = crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                               "the request is not valid", errors);

    crm_http_done(r, rc);
}


static void
crm_custom_cleanup(void *data)
{
    crm_ctx_t  *ctx = data;

    json_decref(ctx->custom);
    ctx->custom = NULL;
}


/*
 * The loaded custom fields of "res" as fields the query parser knows:
 * "customFields.<name>", filterable and sortable, typed, the column an
 * expression on custom_fields.  The name becomes SQL text: it is checked
 * again here against the database's own rule (letters, digits and "_",
 * starting with a letter), and a definition that fails it is left out.
 */

ngx_int_t
crm_custom_query_fields(ngx_pool_t *pool, crm_ctx_t *ctx,
    crm_resource_t *res, crm_field_t **out, ngx_uint_t *n)
{
    size_t        i;
    json_t       *defs, *def;
    crm_field_t  *f;

    *out = NULL;
    *n = 0;

    defs = json_object_get(ctx->custom, (char *) res->name.data);

    if (defs == NULL || json_array_size(defs) == 0) {
        return NGX_OK;
    }

    f = ngx_pcalloc(pool, json_array_size(defs) * sizeof(crm_field_t));
    if (f == NULL) {
        return NGX_ERROR;
    }

    json_array_foreach(defs, i, def) {
        switch (crm_custom_field(pool, def, &f[*n])) {

        case NGX_OK:
            (*n)++;
            break;

        case NGX_DECLINED:
            break;

        default:
            return NGX_ERROR;
        }
    }

    *out = f;

    return NGX_OK;
}


static ngx_int_t
crm_custom_field(ngx_pool_t *pool, json_t *def, crm_field_t *f)
{
    u_char       *p;
    size_t        i, len;
    json_t       *options, *o;
    const char   *name, *type, *expr, **values;

    name = json_string_value(json_object_get(def, "name"));
    type = json_string_value(json_object_get(def, "type"));

    if (name == NULL || type == NULL || crm_custom_name_valid(name) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    /*
     * A typed value is read only when the stored JSON has that type: a
     * definition deleted and made again with another type leaves the
     * old values (strings under a number), which are then NULL, not an
     * error of every filter and sort on the field
     */

    expr = "((custom_fields ->> '%s'))%Z";

    if (ngx_strcmp(type, "number") == 0) {
        f->type = CRM_FT_NUMERIC;
        expr = "(CASE WHEN jsonb_typeof(custom_fields -> '%s') = 'number'"
               " THEN (custom_fields ->> '%s')::numeric END)%Z";

    } else if (ngx_strcmp(type, "boolean") == 0) {
        f->type = CRM_FT_BOOL;
        expr = "(CASE WHEN jsonb_typeof(custom_fields -> '%s') = 'boolean'"
               " THEN (custom_fields ->> '%s')::boolean END)%Z";

    } else if (ngx_strcmp(type, "date") == 0) {
        f->type = CRM_FT_DATE;
        expr = "(CASE WHEN db_custom_date_valid(custom_fields -> '%s')"
               " THEN (custom_fields ->> '%s')::date END)%Z";

    } else if (ngx_strcmp(type, "select") == 0) {
        f->type = CRM_FT_ENUM;

        options = json_object_get(def, "options");

        values = ngx_pcalloc(pool, (json_array_size(options) + 1)
                                   * sizeof(char *));
        if (values == NULL) {
            return NGX_ERROR;
        }

        json_array_foreach(options, i, o) {
            len = json_string_length(o);

            p = ngx_pnalloc(pool, len + 1);
            if (p == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(p, json_string_value(o), len);
            p[len] = '\0';
            values[i] = (char *) p;
        }

        f->enum_values = values;

    } else {
        f->type = CRM_FT_TEXT;
    }

    len = ngx_strlen(name);

    f->name.len = sizeof("customFields.") - 1 + len;
    f->name.data = ngx_pnalloc(pool, f->name.len);

    f->column.data = ngx_pnalloc(pool, ngx_strlen(expr) + 2 * len + 1);

    if (f->name.data == NULL || f->column.data == NULL) {
        return NGX_ERROR;
    }

    ngx_sprintf(f->name.data, "customFields.%s", name);
    f->column.len = ngx_sprintf(f->column.data, expr, name, name)
                    - f->column.data - 1;

    f->flags = CRM_F_FILTER|CRM_F_SORT|CRM_F_EXPR;

    return NGX_OK;
}


static ngx_int_t
crm_custom_name_valid(const char *name)
{
    size_t  i, len;

    len = ngx_strlen(name);

    if (len == 0 || len > CRM_CUSTOM_NAME_MAX
        || !((name[0] >= 'a' && name[0] <= 'z')
             || (name[0] >= 'A' && name[0] <= 'Z')))
    {
        return NGX_DECLINED;
    }

    for (i = 1; i < len; i++) {
        if (!((name[i] >= 'a' && name[i] <= 'z')
              || (name[i] >= 'A' && name[i] <= 'Z')
              || (name[i] >= '0' && name[i] <= '9') || name[i] == '_'))
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* the loaded definitions of "res", for its metadata (a new reference) */

json_t *
crm_custom_metadata(crm_ctx_t *ctx, crm_resource_t *res)
{
    json_t  *defs;

    defs = json_object_get(ctx->custom, (char *) res->name.data);

    return defs ? json_incref(defs) : json_array();
}
