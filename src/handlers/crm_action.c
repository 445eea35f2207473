
/*
 * ngx_http_crm_module: item actions (POST /leads/:id/convert): descriptor
 * data naming one SQL function, run in one transaction.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "handlers/crm_handlers.h"


typedef struct {
    ngx_uint_t                checked;      /* the audience selects some */
} crm_action_state_t;


static void crm_item_action_done(crm_pg_req_t *pr, PGresult *res);
static ngx_int_t crm_item_action_record(ngx_http_request_t *r,
    crm_ctx_t *ctx);
static ngx_int_t crm_action_audience(ngx_http_request_t *r, crm_ctx_t *ctx);
static void crm_action_audience_read(crm_pg_req_t *pr, PGresult *res);
static ngx_int_t crm_action_audience_check(ngx_http_request_t *r,
    crm_ctx_t *ctx);


/*
 * POST /<resource>/:id/<action>: the action's SQL function, named by the
 * descriptor, gets the workspace, the id and the body, and answers with
 * JSON (NULL: no such record).  One statement: one transaction.
 */

ngx_int_t
crm_item_action(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    char        *dump;
    ngx_int_t    rc;
    ngx_str_t    body;
    crm_stmt_t  *st;
    ngx_array_t  errors;

    if (crm_uuid_valid(ctx->route.id.data, ctx->route.id.len) != NGX_OK) {
        return crm_exec_not_found(r, ctx);
    }

    if (ctx->route.item_action->audience
        && (ctx->state == NULL
            || !((crm_action_state_t *) ctx->state)->checked))
    {
        return crm_action_audience(r, ctx);
    }

    /* an action is a write: If-Match holds it to a version (412) */

    if (crm_exec_if_match(r, ctx) != NGX_OK) {
        return ctx->rc;
    }

    if (ngx_array_init(&errors, r->pool, 4, sizeof(crm_field_error_t))
        != NGX_OK
        || crm_validate_action(r->pool, ctx->route.res,
                               &ctx->route.item_action->name, ctx->body,
                               &errors)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (errors.nelts > 0) {
        return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                     "the request is not valid", &errors);
    }

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* no body (CRM_ROUTE_BODY_OPTIONAL) is an empty one */

    if (ctx->body == NULL) {
        dump = NULL;
        ngx_str_set(&body, "{}");

    } else {
        dump = json_dumps(ctx->body, JSON_COMPACT);
        if (dump == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        body.data = (u_char *) dump;
        body.len = ngx_strlen(dump);
    }

    /* the function's name comes from the descriptor, never from input */

    rc = crm_sql_action(r->pool, ctx->route.res, &ctx->workspace,
                        &ctx->route.id, &body, ctx->route.item_action,
                        &ctx->match, st);
    free(dump);

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_exec(r, ctx, st, crm_item_action_done);
}


static void
crm_item_action_done(crm_pg_req_t *pr, PGresult *res)
{
    ngx_int_t            rc;
    ngx_str_t            row;
    crm_ctx_t           *ctx;
    ngx_http_request_t  *r;

    r = crm_exec_result(pr, res, 1, &ctx);
    if (r == NULL) {
        return;
    }

    if (PQgetisnull(res, 0, 0)) {
        /* not there, or with If-Match in another version (412) */
        rc = crm_exec_missing(r, ctx);

        if (rc == NGX_DONE) {
            return;
        }

    } else if (ctx->route.item_action->record) {

        /* the record as GET renders it, after the action committed */

        rc = crm_item_action_record(r, ctx);

        if (rc == NGX_DONE) {
            return;
        }

    } else if (crm_exec_record(r, pr->stmt, res, 0, &row) != NGX_OK) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

    } else {
        rc = crm_exec_render_row(r, ctx, NGX_HTTP_OK, row.data, row.len);
    }

    crm_http_done(r, rc);
}


static ngx_int_t
crm_item_action_record(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    crm_stmt_t  *st;

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_sql_get(r->pool, ctx->route.res, &ctx->workspace,
                    &ctx->route.id, NULL, st)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_exec(r, ctx, st, crm_exec_row_done);
}


/*
 * An action that starts a campaign (the descriptor's "audience") first
 * reads its status and audience: a draft or scheduled campaign whose
 * filter no longer selects anyone (a custom field deleted since it was
 * written, or a filter of no contact in particular) is 422 on
 * audience.filter with the text the campaign would keep
 * (audienceProblem), where a start would mail nobody.  Any other status
 * is the action's own to refuse (409).  A definition deleted between
 * this check and the runner is still the runner's to say.
 */

static ngx_int_t
crm_action_audience(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    static const char  *names[] = { "audience", "status", NULL };

    if (ctx->state == NULL) {
        ctx->state = ngx_pcalloc(r->pool, sizeof(crm_action_state_t));
        if (ctx->state == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return crm_exec_get_fields(r, ctx, names, crm_action_audience_read);
}


static void
crm_action_audience_read(crm_pg_req_t *pr, PGresult *res)
{
    json_t              *row, *v;
    ngx_int_t            rc;
    ngx_str_t            name;
    const char          *status;
    crm_ctx_t           *ctx;
    crm_resource_t      *contacts;
    ngx_http_request_t  *r;

    r = crm_exec_result(pr, res, 0, &ctx);
    if (r == NULL) {
        return;
    }

    row = crm_exec_fields_json(r, ctx, pr, res);
    if (row == NULL) {
        return;
    }

    status = json_string_value(json_object_get(row, "status"));
    v = json_object_get(json_object_get(row, "audience"), "filter");

    if (status == NULL
        || (ngx_strcmp(status, "draft") != 0
            && ngx_strcmp(status, "scheduled") != 0)
        || !json_is_string(v))
    {
        /* tags and contact ids are not checked: they select what exists */
        json_decref(row);
        ((crm_action_state_t *) ctx->state)->checked = 1;
        rc = crm_item_action(r, ctx);
        goto done;
    }

    /* a copy: the row goes before the definitions come */

    ctx->preset.len = json_string_length(v);
    ctx->preset.data = ngx_pnalloc(r->pool, ctx->preset.len + 1);

    if (ctx->preset.data == NULL) {
        json_decref(row);
        crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(ctx->preset.data, json_string_value(v), ctx->preset.len);
    json_decref(row);

    ngx_str_set(&name, "contacts");
    contacts = crm_schema_find(&name);

    if (contacts == NULL) {
        crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = crm_query_names_custom(&ctx->preset)
         ? crm_custom_load(r, ctx, contacts, crm_action_audience_check)
         : crm_action_audience_check(r, ctx);

done:

    if (rc != NGX_DONE) {
        crm_http_done(r, rc);
    }
}


/* the audience as its runner would take it, with the definitions read */

static ngx_int_t
crm_action_audience_check(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ngx_int_t           rc;
    ngx_str_t           filter, problem, name;
    ngx_uint_t          nextra;
    crm_query_t         q;
    crm_error_t         err;
    ngx_array_t         errors;
    crm_field_t        *extra;
    crm_resource_t     *contacts;
    crm_field_error_t  *fe;

    ngx_str_set(&name, "contacts");
    contacts = crm_schema_find(&name);

    if (contacts == NULL
        || crm_custom_query_fields(r->pool, ctx, contacts, &extra, &nextra)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    filter = ctx->preset;
    ngx_str_null(&ctx->preset);

    rc = crm_campaign_audience_query(r->pool, extra, nextra, &filter,
                                     &ctx->mcf->cursor_secret, &q, &err);

    if (rc == NGX_ERROR
        || crm_campaign_audience_problem(r->pool, rc, &err, &problem)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (problem.len > 0) {
        if (ngx_array_init(&errors, r->pool, 1, sizeof(crm_field_error_t))
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        fe = ngx_array_push(&errors);
        if (fe == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_str_set(&fe->field, "audience.filter");
        ngx_str_set(&fe->code, "invalid_value");
        fe->message = problem;

        return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                     "the campaign would mail nobody",
                                     &errors);
    }

    ((crm_action_state_t *) ctx->state)->checked = 1;

    return crm_item_action(r, ctx);
}

