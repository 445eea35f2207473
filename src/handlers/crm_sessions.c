
/*
 * ngx_http_crm_module: sessions: POST /auth/login, /auth/refresh and
 * /auth/logout.  Passwords are checked by PostgreSQL (bcrypt, the
 * per-account lockout); a wrong one also counts against the client's
 * address (crm_auth_fail_limit); a session ended here leaves this host's
 * auth cache at once.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "stages/crm_stages.h"
#include "handlers/crm_handlers.h"


static void crm_auth_session_done(crm_pg_req_t *pr, PGresult *res);


/*
 * POST /auth/login {email, password}: PostgreSQL checks the password
 * (bcrypt, so the worker never hashes) and rate-limits failures per
 * account; POST /auth/refresh and /auth/logout act on the session token
 * presented.
 */

ngx_int_t
crm_auth_action(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    u_char             *p;
    json_t             *v;
    ngx_str_t           ttl, login[2];
    crm_stmt_t         *st;
    crm_principal_t    *pr;
    const char         *key;
    ngx_array_t         errors;
    crm_field_error_t  *fe;

    p = ngx_pnalloc(r->pool, NGX_TIME_T_LEN + sizeof(" seconds"));
    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ttl.data = p;
    ttl.len = ngx_sprintf(p, "%T seconds", ctx->mcf->session_ttl) - p;

    if (ctx->route.action != CRM_ACTION_LOGIN) {
        pr = &ctx->principal;

        if (pr->kind != CRM_PRINCIPAL_SESSION) {
            return crm_http_error(r, CRM_E_BAD_REQUEST,
                                  "this needs a session token "
                                  "(from /auth/login)", NULL);
        }

        if (ctx->route.action == CRM_ACTION_LOGOUT) {
            st = crm_sql_fixed(r->pool,
                               "SELECT db_session_revoke($1::uuid, $2::uuid)",
                               2);

        } else {
            st = crm_sql_fixed(r->pool,
                        "SELECT token, session_id::text, to_char(expires_at"
                        " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS"
                        "\"Z\"'), $1::uuid::text, NULL::text, NULL::int,"
                        " 'ok' FROM db_session_refresh($1::uuid, $2::uuid,"
                        " $3::interval)", 3);

            if (st != NULL && crm_sql_set(st, 2, &ttl) != NGX_OK) {
                st = NULL;
            }
        }

        if (st == NULL
            || crm_sql_set(st, 0, &pr->workspace) != NGX_OK
            || crm_sql_set(st, 1, &pr->id) != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return crm_exec(r, ctx, st, crm_auth_session_done);
    }

    /* login: exactly a string email and a string password */

    ngx_str_null(&login[0]);
    ngx_str_null(&login[1]);

    if (ngx_array_init(&errors, r->pool, 2, sizeof(crm_field_error_t))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_foreach(ctx->body, key, v) {
        fe = NULL;

        if (ngx_strcmp(key, "email") == 0 || ngx_strcmp(key, "password") == 0)
        {
            if (json_is_string(v) && json_string_length(v) > 0
                && json_string_length(v) <= 254)
            {
                login[key[0] == 'e' ? 0 : 1].data =
                    (u_char *) json_string_value(v);
                login[key[0] == 'e' ? 0 : 1].len = json_string_length(v);
                continue;
            }

            fe = ngx_array_push(&errors);
            if (fe == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ngx_str_set(&fe->code, "invalid_type");
            ngx_str_set(&fe->message, "must be a non-empty string");

        } else {
            fe = ngx_array_push(&errors);
            if (fe == NULL) {
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            ngx_str_set(&fe->code, "unknown_field");
            ngx_str_set(&fe->message, "is not a field of a login");
        }

        fe->field.data = (u_char *) key;
        fe->field.len = ngx_strlen(key);
    }

    if (errors.nelts == 0 && login[0].len == 0) {
        fe = ngx_array_push(&errors);
        if (fe == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_str_set(&fe->field, "email");
        ngx_str_set(&fe->code, "required");
        ngx_str_set(&fe->message, "is required");
    }

    if (errors.nelts == 0 && login[1].len == 0) {
        fe = ngx_array_push(&errors);
        if (fe == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_str_set(&fe->field, "password");
        ngx_str_set(&fe->code, "required");
        ngx_str_set(&fe->message, "is required");
    }

    if (errors.nelts > 0) {
        return crm_http_field_errors(r, CRM_E_VALIDATION_FAILED,
                                     "the request is not valid", &errors);
    }

    /*
     * a wrong password counts against the client's address too
     * (crm_auth_fail_limit): counted ahead, given back on success; an
     * address without failures left gets 429 before any bcrypt
     */

    if (crm_limit_fail_take(r, ctx) != NGX_OK) {
        return ctx->rc;
    }

    st = crm_sql_fixed(r->pool,
                "SELECT token, session_id::text, to_char(expires_at"
                " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
                " workspace_id::text, user_id::text, retry_after, status"
                " FROM db_login($1::text, $2::text, $3::interval)", 3);

    if (st == NULL
        || crm_sql_set(st, 0, &login[0]) != NGX_OK
        || crm_sql_set(st, 1, &login[1]) != NGX_OK
        || crm_sql_set(st, 2, &ttl) != NGX_OK)
    {
        crm_limit_fail_return(r, ctx);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_exec(r, ctx, st, crm_auth_session_done);
}


/* columns: token, session id, expiry, workspace, user, retry, status */

static void
crm_auth_session_done(crm_pg_req_t *pr, PGresult *res)
{
    u_char              *p, *body, *meta;
    char                *status;
    size_t               mlen, len;
    ngx_int_t            rc, sec;
    ngx_str_t            v[5];
    crm_ctx_t           *ctx;
    ngx_uint_t           i;
    ngx_http_request_t  *r;

    r = crm_exec_result(pr, res, 0, &ctx);
    if (r == NULL) {
        return;
    }

    if (ctx->route.action == CRM_ACTION_LOGOUT) {
        crm_auth_forget(ctx->mcf, &ctx->principal.id);
        crm_http_done(r, crm_http_send(r, NGX_HTTP_NO_CONTENT, NULL, 0));
        return;
    }

    if (PQntuples(res) != 1) {
        /* refresh: the session ended meanwhile */
        crm_http_done(r, crm_http_error(r, CRM_E_UNAUTHENTICATED,
                                        "the session has ended", NULL));
        return;
    }

    status = PQgetvalue(res, 0, 6);

    if (ngx_strcmp(status, "locked") == 0) {
        /* Retry-After and details.retryAfter, as every 429 has */

        sec = ngx_atoi((u_char *) PQgetvalue(res, 0, 5),
                       PQgetlength(res, 0, 5));

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: login refused: the account is locked");

        crm_http_done(r, crm_http_retry(r, CRM_E_RATE_LIMITED,
                                        "too many failed logins, "
                                        "retry later",
                                        (ngx_msec_t) ngx_max(sec, 1) * 1000,
                                        "lockout"));
        return;
    }

    if (ngx_strcmp(status, "ok") != 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "crm: login failed");

        if (crm_limit_fail_headers(r, ctx) != NGX_OK) {
            crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        crm_http_done(r, crm_http_error(r, CRM_E_UNAUTHENTICATED,
                                        "invalid email or password", NULL));
        return;
    }

    if (ctx->route.action == CRM_ACTION_LOGIN) {
        /* the failure counted ahead was none */
        crm_limit_fail_return(r, ctx);
    }

    if (ctx->route.action == CRM_ACTION_REFRESH) {
        crm_auth_forget(ctx->mcf, &ctx->principal.id);
    }

    len = 0;

    for (i = 0; i < 5; i++) {
        v[i].data = (u_char *) PQgetvalue(res, 0, (int) i);
        v[i].len = PQgetlength(res, 0, (int) i);
        len += v[i].len;
    }

    if (crm_http_meta(r, ctx, &meta, &mlen) != NGX_OK) {
        crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    body = ngx_pnalloc(r->pool, len + mlen + 256);
    if (body == NULL) {
        crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    /* tokens, uuids and timestamps need no escaping */

    p = ngx_sprintf(body, "{\"data\":{\"token\":\"%V\",\"tokenType\":"
                    "\"Bearer\",\"sessionId\":\"%V\",\"expiresAt\":\"%V\"",
                    &v[0], &v[1], &v[2]);

    if (v[3].len > 0) {
        p = ngx_sprintf(p, ",\"workspaceId\":\"%V\"", &v[3]);
    }

    if (v[4].len > 0) {
        p = ngx_sprintf(p, ",\"userId\":\"%V\"", &v[4]);
    }

    p = ngx_cpymem(p, "},\"meta\":{", sizeof("},\"meta\":{") - 1);
    p = ngx_cpymem(p, meta, mlen);
    *p++ = '}';
    *p++ = '}';

    /* a token: stored by no cache (RFC 6749 5.1) */

    rc = (crm_http_no_store(r) == NGX_OK)
         ? crm_http_send_data(r, NGX_HTTP_OK, body, p - body)
         : NGX_HTTP_INTERNAL_SERVER_ERROR;

    crm_http_done(r, rc);
}
