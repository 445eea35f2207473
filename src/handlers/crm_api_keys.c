
/*
 * ngx_http_crm_module: POST /api-keys.  The key is made by PostgreSQL
 * (db_api_key_create(), sql/002_auth.sql) and its secret shown once; a
 * key may carry only scopes its creator holds.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "handlers/crm_handlers.h"


static void crm_api_key_created(crm_pg_req_t *pr, PGresult *res);
static ngx_int_t crm_api_key_check(json_t *body, ngx_array_t *values,
    ngx_array_t *errors);
static ngx_int_t crm_api_key_error(ngx_array_t *errors, const char *field,
    const char *message);
static ngx_int_t crm_auth_scope_check(ngx_str_t *held, ngx_str_t *scope);
static ngx_int_t crm_api_key_maker(ngx_http_request_t *r, crm_ctx_t *ctx,
    ngx_array_t *values);


/* owners are protected from admins on this resource (crm_permit.c) */
static ngx_str_t  crm_api_key_users = ngx_string("users");


/* a key's own rate limits, per window (crm_principal_t's limit[]) */
static const char  *crm_api_key_limit_fields[CRM_LIMIT_WINDOWS] = {
    "rateLimitPerMinute", "rateLimitPerHour"
};


/* scopes of routes that are not a resource's */
static ngx_str_t  crm_api_key_scopes[] = {
    ngx_string("analytics"),
    ngx_null_string
};


/*
 * POST /api-keys: the key is made by db_api_key_create() in PostgreSQL
 * (the same function bootstraps the first key), returned once, and only
 * its hash is kept.  A credential cannot grant scopes it does not hold.
 */

ngx_int_t
crm_api_key_create(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    char                *msg;
    u_char              *p;
    size_t               i, len;
    json_t              *scopes, *v;
    ngx_str_t            scope;
    ngx_uint_t           n;
    ngx_array_t          values, errors;
    crm_stmt_t          *st;
    crm_param_t         *param;
    crm_value_t         *val, *vp;

    if (ngx_array_init(&values, r->pool, 8, sizeof(crm_value_t)) != NGX_OK
        || ngx_array_init(&errors, r->pool, 4, sizeof(crm_field_error_t))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    switch (crm_validate(r->pool, ctx->route.res, ctx->body, 1, NULL,
                         &values, &errors))
    {
    case NGX_OK:
        break;

    case NGX_DECLINED:
        return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                     "the request is not valid", &errors);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    switch (crm_api_key_check(ctx->body, &values, &errors)) {

    case NGX_OK:
        break;

    case NGX_DECLINED:
        return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                     "the request is not valid", &errors);

    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* every scope well-formed, and held by the creator */

    scopes = json_object_get(ctx->body, "scopes");

    json_array_foreach(scopes, i, v) {
        scope.data = (u_char *) json_string_value(v);
        scope.len = json_string_length(v);

        switch (crm_auth_scope_check(&ctx->principal.scopes, &scope)) {

        case NGX_OK:

            /*
             * a key acts with its scopes, not a role: one that writes
             * users is not bound by the owner protections, so only an
             * owner gives it
             */

            if (ctx->principal.kind == CRM_PRINCIPAL_SESSION
                && ctx->principal.role != CRM_ROLE_OWNER
                && crm_auth_scope(&scope, &crm_api_key_users, 1) == NGX_OK)
            {
                return crm_http_error(r, CRM_E_FORBIDDEN,
                                      "only an owner may give a key write "
                                      "on users",
                                      json_pack("{s:s%}", "scope",
                                                scope.data, scope.len));
            }

            continue;

        case NGX_DECLINED:
            msg = "a scope is \"*\" or \"<resource>:read|write|*\" with a "
                  "known resource (or \"*\")";
            break;

        case NGX_DONE:
            p = ngx_pnalloc(r->pool, 2 * scope.len
                                     + sizeof(" is read-only: \":read\" is "
                                              "its scope"));
            if (p == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            len = scope.len - (sizeof(":write") - 1);

            *ngx_sprintf(p, "%*s is read-only: \"%*s:read\" is its scope",
                         len, scope.data, len, scope.data) = '\0';

            msg = (char *) p;
            break;

        default: /* NGX_ABORT */
            return crm_http_error(r, CRM_E_FORBIDDEN,
                                  "a key cannot be given a scope its "
                                  "creator does not have",
                                  json_pack("{s:s%}", "scope", scope.data,
                                            scope.len));
        }

        if (crm_api_key_error(&errors, "scopes", msg) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                     "the request is not valid", &errors);
    }

    if (crm_api_key_maker(r, ctx, &values) != NGX_OK) {
        return ctx->rc;
    }

    /*
     * a key made by a key expires when its maker does or before: LEAST()
     * takes the maker's expiry, exact, for none given, and keeps the
     * earlier of the two (crm_api_key_maker() refused a later one)
     */

    st = crm_sql_fixed(r->pool,
                       "SELECT id::text, key FROM db_api_key_create($1::uuid,"
                       " $2::text,"
                       " ARRAY(SELECT jsonb_array_elements_text($3::jsonb)),"
                       " LEAST($4::timestamptz, (SELECT expires_at"
                       " FROM api_keys WHERE workspace_id = $1::uuid"
                       " AND id = $6::uuid)), $5::uuid)", 6);

    if (st == NULL
        || crm_sql_set(st, 0, &ctx->workspace) != NGX_OK
        || crm_sql_set(st, 4, ctx->principal.user.len
                              ? &ctx->principal.user : NULL)
           != NGX_OK
        || crm_sql_set(st, 5, ctx->principal.kind == CRM_PRINCIPAL_KEY
                              ? &ctx->principal.id : NULL)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* name and scopes are required (validated), expiresAt NULL if not */

    param = st->params.elts;
    val = values.elts;

    /* the key's values, kept for its row (crm_api_key_created()) */

    ctx->state = ngx_array_create(r->pool, 2, sizeof(crm_value_t));
    if (ctx->state == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (n = 0; n < values.nelts; n++) {
        if (ngx_strcmp(val[n].field->name.data, "name") == 0) {
            param[1] = val[n].param;

        } else if (ngx_strcmp(val[n].field->name.data, "scopes") == 0) {
            param[2] = val[n].param;

        } else if (ngx_strcmp(val[n].field->name.data, "expiresAt") == 0) {
            param[3] = val[n].param;

        } else {
            /*
             * set by the planner once the key exists (a limit the
             * database would refuse, below 1, was refused by
             * crm_validate(): the key never stays without it)
             */

            vp = ngx_array_push((ngx_array_t *) ctx->state);
            if (vp == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            *vp = val[n];
        }
    }

    return crm_exec(r, ctx, st, crm_api_key_created);
}


/*
 * A key made by a key is held to its maker, as to its scopes: each
 * window's rate limit at most the maker's (its own, or the server's
 * crm_rate_limit), and the maker's own when not given, so that a key
 * cannot mint itself a larger budget; and it expires when its maker does
 * or before, so that a key cannot outlive itself.  Sessions (owners and
 * admins) and static keys (the operator's) set any.  NGX_ERROR: answered,
 * ctx->rc.
 */

static ngx_int_t
crm_api_key_maker(ngx_http_request_t *r, crm_ctx_t *ctx,
    ngx_array_t *values)
{
    u_char            *p;
    int64_t            us, last;
    ngx_int_t          n;
    ngx_uint_t         i, k, most;
    crm_value_t       *v, *found;
    crm_limit_conf_t  *lcf;

    if (ctx->principal.kind != CRM_PRINCIPAL_KEY) {
        return NGX_OK;
    }

    lcf = &ctx->mcf->limit;

    for (i = 0; i < CRM_LIMIT_WINDOWS; i++) {
        most = ctx->principal.limit[i];

        if (most == 0 && lcf->zone != NULL) {
            most = lcf->window[i].limit;
        }

        if (most == 0) {
            continue;               /* no limit to hold it to */
        }

        found = NULL;
        v = values->elts;

        for (k = 0; k < values->nelts; k++) {
            if (ngx_strcmp(v[k].field->name.data,
                           crm_api_key_limit_fields[i])
                == 0)
            {
                found = &v[k];
                break;
            }
        }

        if (found != NULL && !found->param.null) {
            n = ngx_atoi(found->param.value.data, found->param.value.len);

            if (n == NGX_ERROR || (ngx_uint_t) n > most) {
                ctx->rc = crm_http_error(r, CRM_E_FORBIDDEN,
                                         "a key cannot be given a rate "
                                         "limit above its creator's",
                                         json_pack("{s:s,s:I}", "field",
                                                   crm_api_key_limit_fields[i],
                                                   "maximum",
                                                   (json_int_t) most));
                return NGX_ERROR;
            }

            continue;
        }

        if (ctx->principal.limit[i] == 0) {
            continue;               /* the server's, as its maker */
        }

        /* not given: the maker's own */

        if (found == NULL) {
            found = ngx_array_push(values);
            if (found == NULL) {
                ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
                return NGX_ERROR;
            }

            ngx_memzero(found, sizeof(crm_value_t));
            found->field = crm_schema_field(ctx->route.res,
                               (u_char *) crm_api_key_limit_fields[i],
                               ngx_strlen(crm_api_key_limit_fields[i]));
        }

        p = ngx_pnalloc(r->pool, NGX_INT_T_LEN);
        if (p == NULL || found->field == NULL) {
            ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
            return NGX_ERROR;
        }

        found->param.value.data = p;
        found->param.value.len = ngx_sprintf(p, "%ui", most) - p;
        found->param.null = 0;
    }

    if (ctx->principal.expires == 0) {
        return NGX_OK;
    }

    /*
     * microseconds since 2000-01-01, as crm_value_time() counts, to the
     * end of the maker's second (its expiry is read in whole seconds);
     * the statement keeps the exact earlier one, and takes the maker's
     * for none given
     */

    last = ((int64_t) ctx->principal.expires - 946684800) * 1000000
           + 999999;

    v = values->elts;

    for (k = 0; k < values->nelts; k++) {
        if (ngx_strcmp(v[k].field->name.data, "expiresAt") == 0
            && !v[k].param.null
            && (crm_value_time(&v[k].param.value, &us) == NGX_DECLINED
                || us > last))
        {
            ctx->rc = crm_http_error(r, CRM_E_FORBIDDEN,
                                     "a key cannot expire after the key "
                                     "that makes it",
                                     json_pack("{s:s}", "field",
                                               "expiresAt"));
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * What the descriptor cannot say: at least one scope, none twice, and an
 * expiry still to come.  NGX_DECLINED: "errors" says why.
 */

static ngx_int_t
crm_api_key_check(json_t *body, ngx_array_t *values, ngx_array_t *errors)
{
    size_t        i, j;
    int64_t       us, now;
    json_t       *scopes;
    ngx_uint_t    n;
    crm_value_t  *v;

    scopes = json_object_get(body, "scopes");

    if (json_array_size(scopes) == 0) {
        if (crm_api_key_error(errors, "scopes",
                              "a key needs at least one scope")
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    for (i = 0; i < json_array_size(scopes); i++) {
        for (j = 0; j < i; j++) {
            if (json_equal(json_array_get(scopes, i),
                           json_array_get(scopes, j)))
            {
                if (crm_api_key_error(errors, "scopes",
                                      "a scope is listed twice")
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

                i = json_array_size(scopes);
                break;
            }
        }
    }

    v = values->elts;

    for (n = 0; n < values->nelts; n++) {
        if (ngx_strcmp(v[n].field->name.data, "expiresAt") != 0
            || v[n].param.null)
        {
            continue;
        }

        /* microseconds since 2000-01-01, as crm_value_time() counts */

        now = ((int64_t) ngx_time() - 946684800) * 1000000;

        if (crm_value_time(&v[n].param.value, &us) != NGX_DECLINED
            && us <= now)
        {
            if (crm_api_key_error(errors, "expiresAt",
                                  "expiresAt is in the past")
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    return errors->nelts ? NGX_DECLINED : NGX_OK;
}


static ngx_int_t
crm_api_key_error(ngx_array_t *errors, const char *field, const char *message)
{
    crm_field_error_t  *fe;

    fe = ngx_array_push(errors);
    if (fe == NULL) {
        return NGX_ERROR;
    }

    fe->field.data = (u_char *) field;
    fe->field.len = ngx_strlen(field);
    ngx_str_set(&fe->code, "invalid_value");
    fe->message.data = (u_char *) message;
    fe->message.len = ngx_strlen(message);

    return NGX_OK;
}


static void
crm_api_key_created(crm_pg_req_t *pr, PGresult *res)
{
    ngx_int_t            rc;
    crm_ctx_t           *ctx;
    crm_stmt_t          *st;
    ngx_array_t         *values;
    ngx_http_request_t  *r;

    r = crm_exec_result(pr, res, 1, &ctx);
    if (r == NULL) {
        return;
    }

    /*
     * The key, kept for the response; the other fields (its rate limits)
     * are set through the planner, which also reads the record back.
     */

    if (crm_exec_field(r->pool, res, 0, &ctx->route.id) != NGX_OK
        || crm_exec_field(r->pool, res, 1, &ctx->secret) != NGX_OK)
    {
        crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    values = ctx->state;

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL
        || crm_sql_update(r->pool, ctx->route.res, &ctx->workspace,
                          &ctx->route.id, values, NULL, CRM_SQL_COLUMNS, st)
           != NGX_OK)
    {
        crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    rc = crm_exec(r, ctx, st, crm_exec_row_done);

    if (rc != NGX_DONE) {
        crm_http_done(r, rc);
    }
}


/*
 * NGX_OK: "scope" is well-formed and "held" covers it; NGX_DECLINED:
 * malformed; NGX_DONE: write on what has nothing to write (analytics, the
 * event feed, a parent's deliveries or recipients); NGX_ABORT: not held.
 */

static ngx_int_t
crm_auth_scope_check(ngx_str_t *held, ngx_str_t *scope)
{
    u_char          *colon;
    ngx_str_t        res, acc;
    ngx_uint_t       i, readonly;
    crm_resource_t  *target;

    if (scope->len == 1 && scope->data[0] == '*') {
        return crm_auth_scope(held, scope, 1) == NGX_OK
               && held->len == 1 ? NGX_OK : NGX_ABORT;
    }

    colon = ngx_strlchr(scope->data, scope->data + scope->len, ':');
    if (colon == NULL) {
        return NGX_DECLINED;
    }

    res.data = scope->data;
    res.len = colon - scope->data;
    acc.data = colon + 1;
    acc.len = scope->data + scope->len - acc.data;

    for (i = 0; crm_api_key_scopes[i].len; i++) {
        if (res.len == crm_api_key_scopes[i].len
            && ngx_strncmp(res.data, crm_api_key_scopes[i].data, res.len)
               == 0)
        {
            break;
        }
    }

    target = NULL;

    if (!(res.len == 1 && res.data[0] == '*')
        && crm_api_key_scopes[i].len == 0)
    {
        target = crm_schema_find(&res);
        if (target == NULL) {
            return NGX_DECLINED;
        }
    }

    /*
     * nothing to write (analytics, the event feed, what is read only
     * under its parent): ":write" is refused, and ":*", every access
     * there is, is read
     */

    readonly = crm_api_key_scopes[i].len > 0
               || (target != NULL && (target->readonly || target->nested));

    if ((acc.len == 4 && ngx_strncmp(acc.data, "read", 4) == 0)
        || (readonly && acc.len == 1 && acc.data[0] == '*'))
    {
        return crm_auth_scope(held, &res, 0) == NGX_OK ? NGX_OK : NGX_ABORT;
    }

    if (readonly && acc.len == 5 && ngx_strncmp(acc.data, "write", 5) == 0) {
        return NGX_DONE;
    }

    if ((acc.len == 5 && ngx_strncmp(acc.data, "write", 5) == 0)
        || (acc.len == 1 && acc.data[0] == '*'))
    {
        return crm_auth_scope(held, &res, 1) == NGX_OK ? NGX_OK : NGX_ABORT;
    }

    return NGX_DECLINED;
}
