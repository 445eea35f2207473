
/*
 * ngx_http_crm_module: custom fields.
 *
 * Their definitions are records of the "custom-fields" resource (generic
 * CRUD, also at /metadata/objects/:name/fields); their values live in a
 * record's customFields and are checked by the database
 * (sql/010_custom_fields.sql, sql/086: every problem at once).  This file
 * loads a workspace's definitions when a request needs them: a list that
 * filters or sorts on customFields.<name>, a body whose rules want them
 * (a campaign's audience, crm_validate_needs()), and the metadata; the
 * definitions become query fields in crm_schema.c.  It also asks the
 * database for a body's custom-field problems when its other fields are
 * refused, so that all come in one answer.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "stages/crm_stages.h"
#include "handlers/crm_handlers.h"


static void crm_custom_loaded(crm_pg_req_t *pr, PGresult *res);
static void crm_custom_refused(crm_pg_req_t *pr, PGresult *res);
static void crm_custom_cleanup(void *data);


/* a list of "res" whose query names customFields.<name> */

ngx_uint_t
crm_custom_wanted(ngx_http_request_t *r, crm_resource_t *res)
{
    return crm_schema_custom(res) && crm_query_names_custom(&r->args);
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

        if (!json_is_array(defs)) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "crm: unreadable custom-field definitions");
            json_decref(defs);
            crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        /* json_object_set_new() takes "defs", failing too */

        if (json_object_set_new(ctx->custom, PQgetvalue(res, i, 0), defs)
            != 0)
        {
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


/* the loaded custom fields of "res" as fields the query parser knows */

ngx_int_t
crm_custom_query_fields(ngx_pool_t *pool, crm_ctx_t *ctx,
    crm_resource_t *res, crm_field_t **out, ngx_uint_t *n)
{
    return crm_schema_custom_fields(pool,
                                    json_object_get(ctx->custom,
                                                    (char *) res->name.data),
                                    out, n);
}


/* the loaded definitions of "res", for its metadata (a new reference) */

json_t *
crm_custom_metadata(crm_ctx_t *ctx, crm_resource_t *res)
{
    json_t  *defs;

    defs = json_object_get(ctx->custom, (char *) res->name.data);

    return defs ? json_incref(defs) : json_array();
}
