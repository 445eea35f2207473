
/*
 * ngx_http_crm_module: webhook subscriptions' own routes.  POST /webhooks
 * (the secret made here when the body has none, shown once),
 * POST /webhooks/:id/rotate-secret (a new one, shown once; the old one
 * signs alongside for 24 hours, sql/018), POST /webhooks/:id/test (a
 * webhook.test event for this subscription only) and
 * POST /webhooks/:id/deliveries/:deliveryId/retry.  Lists, reads,
 * updates and deletes are the generic ones.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <openssl/rand.h>
#include "http/crm_http.h"
#include "handlers/crm_handlers.h"
#include "jobs/crm_webhook_job.h"
#include "model/crm_addr.h"


#define CRM_WEBHOOK_SECRET_BYTES  24


static ngx_int_t crm_webhook_secret(ngx_http_request_t *r, ngx_str_t *out);
static ngx_int_t crm_webhook_secret_valid(ngx_str_t *secret);
static ngx_int_t crm_webhook_events(ngx_http_request_t *r, crm_ctx_t *ctx,
    json_t *events, ngx_uint_t stored, ngx_int_t *rc);
static ngx_int_t crm_webhook_guard(ngx_http_request_t *r, crm_ctx_t *ctx,
    crm_step_pt next);
static void crm_webhook_guarded(crm_pg_req_t *pr, PGresult *res);
static ngx_int_t crm_webhook_rotate_secret(ngx_http_request_t *r,
    crm_ctx_t *ctx);
static ngx_int_t crm_webhook_url(ngx_http_request_t *r, crm_ctx_t *ctx,
    ngx_int_t *rc);
static crm_stmt_t *crm_webhook_stmt(ngx_http_request_t *r, crm_ctx_t *ctx,
    const char *sql, ngx_uint_t n);
static void crm_webhook_tested(crm_pg_req_t *pr, PGresult *res);
static void crm_webhook_retried(crm_pg_req_t *pr, PGresult *res);
static ngx_int_t crm_webhook_delivery(ngx_http_request_t *r,
    crm_ctx_t *ctx);
static void crm_webhook_accepted(crm_pg_req_t *pr, PGresult *res);


static ngx_str_t  crm_webhook_deliveries = ngx_string("webhook-deliveries");


/* "whsec_" + base64 of 24 random bytes */

static ngx_int_t
crm_webhook_secret(ngx_http_request_t *r, ngx_str_t *out)
{
    u_char     raw[CRM_WEBHOOK_SECRET_BYTES];
    ngx_str_t  src, dst;

    if (RAND_bytes(raw, sizeof(raw)) != 1) {
        ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                      "crm: RAND_bytes() failed");
        return NGX_ERROR;
    }

    out->data = ngx_pnalloc(r->pool, sizeof("whsec_") - 1
                                     + ngx_base64_encoded_length(sizeof(raw))
                                     + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, "whsec_", sizeof("whsec_") - 1);

    src.data = raw;
    src.len = sizeof(raw);
    dst.data = out->data + sizeof("whsec_") - 1;

    ngx_encode_base64(&dst, &src);

    out->len = sizeof("whsec_") - 1 + dst.len;
    out->data[out->len] = '\0';

    ngx_explicit_memzero(raw, sizeof(raw));

    return NGX_OK;
}


/*
 * A body's "url" as this server can deliver to it: https:// under
 * crm_webhook_https_only (code "https_required"); a host name only with
 * a resolver in the http{} block (code "host_name").  NGX_OK, or
 * NGX_DECLINED with the 422 in "rc" (field "url").  The type and the
 * format are the validator's and the table's to check.
 */

static ngx_int_t
crm_webhook_url(ngx_http_request_t *r, crm_ctx_t *ctx, ngx_int_t *rc)
{
    json_t      *v;
    u_char      *lower;
    ngx_int_t    kind;
    ngx_str_t    url, host;
    in_port_t    port;
    const char  *code, *message;

    v = json_object_get(ctx->body, "url");

    if (!json_is_string(v)) {
        return NGX_OK;
    }

    url.data = (u_char *) json_string_value(v);
    url.len = json_string_length(v);

    kind = crm_addr_url_host(&url, &host, &port);

    if (kind == NGX_DECLINED) {
        /* not a URL to request: crm_validate_webhook() says so */
        return NGX_OK;
    }

    if (ctx->mcf->webhook->https_only
        && !(url.len > sizeof("https://") - 1
             && ngx_strncasecmp(url.data, (u_char *) "https://",
                                sizeof("https://") - 1)
                == 0))
    {
        code = "https_required";
        message = "this server delivers webhooks to https:// URLs only "
                  "(crm_webhook_https_only)";

    } else if (ctx->mcf->webhook->resolver == NULL
               && kind == CRM_ADDR_URL_NAME)
    {
        code = "host_name";
        message = "a host name needs a resolver: this server has no "
                  "\"resolver\" directive in its http{} block; use an IP "
                  "address or configure one (docs/WEBHOOKS.md)";

    } else {
        /*
         * a scheme in capitals ("HTTPS://") is the same scheme (RFC
         * 3986): stored in small letters, as the table's check wants
         */

        if (url.data[0] == 'H' || url.data[1] == 'T' || url.data[2] == 'T'
            || url.data[3] == 'P' || url.data[4] == 'S')
        {
            lower = ngx_pnalloc(r->pool, url.len);
            if (lower == NULL) {
                *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
                return NGX_DECLINED;
            }

            ngx_memcpy(lower, url.data, url.len);
            ngx_strlow(lower, lower, (lower[4] == ':') ? 4 : 5);

            if (json_object_set_new(ctx->body, "url",
                                    json_stringn((char *) lower, url.len))
                != 0)
            {
                *rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
                return NGX_DECLINED;
            }
        }

        return NGX_OK;
    }

    *rc = crm_http_field_error(r, "url", code, message);
    return NGX_DECLINED;
}


/*
 * Events carry their records: a pattern subscribes to a kind only for a
 * writer who may read it (403 otherwise; "*": every kind).  A pattern of
 * a kind that has no events is crm_validate_webhook()'s to refuse (422);
 * it carries nothing.  "stored": a subscription's own patterns, read
 * before it is changed (crm_webhook_guard()).
 */

static ngx_int_t
crm_webhook_events(ngx_http_request_t *r, crm_ctx_t *ctx, json_t *events,
    ngx_uint_t stored, ngx_int_t *rc)
{
    size_t           i;
    json_t          *e;
    ngx_int_t        granted;
    const char      *p;
    crm_resource_t  *kind;

    if (!json_is_array(events)) {
        return NGX_OK;
    }

    json_array_foreach(events, i, e) {
        if (!json_is_string(e)) {
            continue;
        }

        p = json_string_value(e);

        if (ngx_strcmp(p, "*") == 0) {
            granted = crm_auth_scope_events(&ctx->principal.scopes);

        } else {
            kind = crm_schema_event_kind((u_char *) p,
                                         json_string_length(e));
            if (kind == NULL) {
                continue;
            }

            granted = crm_auth_scope(&ctx->principal.scopes, &kind->name, 0);
        }

        if (granted != NGX_OK) {
            *rc = crm_http_error(r, CRM_E_FORBIDDEN,
                                 stored
                                 ? "this subscription's events carry "
                                   "records the credential may not read: "
                                   "changing, re-keying or deleting it "
                                   "needs read on every kind it names"
                                 : "events carry their records: "
                                   "subscribing to a kind needs read on it "
                                   "(\"*\": on every kind)", NULL);
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * Before a subscription is changed (PATCH), re-keyed or deleted: a
 * credential that may not read every kind of event (a key with some
 * scopes) may touch only a subscription whose own patterns it could have
 * made.  Otherwise a key with webhooks:write and contacts:read could
 * point the owner's "*" subscription at its own URL, or take its
 * secret, and receive every record.  The stored patterns and version
 * are read first (a statement more, for such credentials only), and the
 * write is held to that version; "next" goes on.
 */

static ngx_int_t
crm_webhook_guard(ngx_http_request_t *r, crm_ctx_t *ctx, crm_step_pt next)
{
    crm_stmt_t  *st;

    if (crm_auth_scope_events(&ctx->principal.scopes) == NGX_OK
        || crm_uuid_valid(ctx->route.id.data, ctx->route.id.len) != NGX_OK)
    {
        return next(r, ctx);
    }

    st = crm_webhook_stmt(r, ctx, "SELECT array_to_json(events)::text, "
                                  "version::text FROM webhooks "
                                  "WHERE workspace_id = $1::uuid "
                                  "AND id = $2::uuid "
                                  "AND deleted_at IS NULL", 2);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->next = next;

    return crm_exec(r, ctx, st, crm_webhook_guarded);
}


static void
crm_webhook_guarded(crm_pg_req_t *pr, PGresult *res)
{
    json_t              *events;
    ngx_int_t            rc;
    crm_ctx_t           *ctx;
    json_error_t         err;
    ngx_http_request_t  *r;

    r = crm_exec_result(pr, res, 0, &ctx);
    if (r == NULL) {
        return;
    }

    /* none: the step answers 404 as for any record not there */

    if (PQntuples(res) == 1) {
        events = json_loads(PQgetvalue(res, 0, 0), 0, &err);

        if (events == NULL) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "crm: a webhook's events are unreadable: %s",
                          err.text);
            crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        if (crm_webhook_events(r, ctx, events, 1, &rc) != NGX_OK) {
            json_decref(events);
            crm_http_done(r, rc);
            return;
        }

        json_decref(events);

        /*
         * the write applies to the version checked (crm_exec_if_match()
         * keeps the pin): patterns widened in between make it 409 (412
         * when If-Match named that version), not a change made unchecked
         */

        ctx->match.len = PQgetlength(res, 0, 1);
        ctx->match.data = ngx_pnalloc(r->pool, ctx->match.len);

        if (ctx->match.data == NULL) {
            crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        ngx_memcpy(ctx->match.data, PQgetvalue(res, 0, 1), ctx->match.len);
    }

    rc = ctx->next(r, ctx);

    if (rc != NGX_DONE) {
        crm_http_done(r, rc);
    }
}


/* PATCH /webhooks/:id: the generic update of a deliverable URL */

ngx_int_t
crm_webhook_update(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    ngx_int_t  rc;

    if (crm_webhook_url(r, ctx, &rc) != NGX_OK
        || crm_webhook_events(r, ctx, json_object_get(ctx->body, "events"),
                              0, &rc)
           != NGX_OK)
    {
        return rc;
    }

    return crm_webhook_guard(r, ctx, crm_update);
}


/* DELETE /webhooks/:id: the generic delete, guarded */

ngx_int_t
crm_webhook_delete(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    return crm_webhook_guard(r, ctx, crm_delete);
}


/*
 * A client's secret: "whsec_" and the padded standard base64 of 24 to 66
 * bytes, as receivers' libraries decode it strictly (the table's check
 * alone took a length that is not a multiple of 4, which no delivery
 * could then sign with)
 */

static ngx_int_t
crm_webhook_secret_valid(ngx_str_t *secret)
{
    u_char  *p, *last;
    size_t   len, pad;

    if (secret->len < sizeof("whsec_") - 1
        || ngx_strncmp(secret->data, "whsec_", sizeof("whsec_") - 1) != 0)
    {
        return NGX_DECLINED;
    }

    p = secret->data + sizeof("whsec_") - 1;
    last = secret->data + secret->len;
    len = last - p;
    pad = 0;

    while (last > p && last[-1] == '=' && pad < 2) {
        last--;
        pad++;
    }

    if (len % 4 != 0 || last - p < 32 || last - p > 88) {
        return NGX_DECLINED;
    }

    for ( /* void */ ; p < last; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z')
              || (*p >= '0' && *p <= '9') || *p == '+' || *p == '/'))
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* POST /webhooks: a secret of the body's, or a new one; shown once */

ngx_int_t
crm_webhook_create(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    json_t     *v;
    ngx_str_t   secret;
    ngx_int_t   rc;

    if (crm_webhook_url(r, ctx, &rc) != NGX_OK
        || crm_webhook_events(r, ctx, json_object_get(ctx->body, "events"),
                              0, &rc)
           != NGX_OK)
    {
        return rc;
    }

    v = json_object_get(ctx->body, "secret");

    if (v == NULL) {
        if (crm_webhook_secret(r, &secret) != NGX_OK
            || json_object_set_new(ctx->body, "secret",
                                   json_stringn((char *) secret.data,
                                                secret.len))
               != 0)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        v = json_object_get(ctx->body, "secret");
    }

    if (json_is_string(v)) {
        ctx->secret.len = json_string_length(v);
        ctx->secret.data = ngx_pnalloc(r->pool, ctx->secret.len);
        if (ctx->secret.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(ctx->secret.data, json_string_value(v), ctx->secret.len);
        ctx->secret_name = "secret";

        if (crm_webhook_secret_valid(&ctx->secret) != NGX_OK) {
            return crm_http_field_error(r, "secret", "invalid_format",
                                        "must be whsec_ and the standard "
                                        "base64, padded, of 24 to 66 bytes "
                                        "(32 to 88 characters)");
        }
    }

    /* a malformed secret is the validator's and the table's to refuse */

    return crm_create(r, ctx);
}


/* POST /webhooks/:id/rotate-secret: If-Match works as on any update */

ngx_int_t
crm_webhook_rotate(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    return crm_webhook_guard(r, ctx, crm_webhook_rotate_secret);
}


static ngx_int_t
crm_webhook_rotate_secret(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    crm_stmt_t   *st;
    crm_field_t  *f;
    ngx_array_t   values;
    crm_value_t  *v;

    if (crm_uuid_valid(ctx->route.id.data, ctx->route.id.len) != NGX_OK) {
        return crm_exec_not_found(r, ctx);
    }

    if (crm_exec_if_match(r, ctx) != NGX_OK) {
        return ctx->rc;
    }

    if (ngx_array_init(&values, r->pool, 1, sizeof(crm_value_t)) != NGX_OK
        || (v = ngx_array_push(&values)) == NULL)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(v, sizeof(crm_value_t));

    for (f = ctx->route.res->fields;
         f < ctx->route.res->fields + ctx->route.res->nfields;
         f++)
    {
        if (ngx_strcmp(f->name.data, "secret") == 0) {
            v->field = f;
        }
    }

    if (v->field == NULL
        || crm_webhook_secret(r, &v->param.value) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->secret = v->param.value;
    ctx->secret_name = "secret";

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (st == NULL
        || crm_sql_update(r->pool, ctx->route.res, &ctx->workspace,
                          &ctx->route.id, &values, &ctx->match,
                          CRM_SQL_COLUMNS, st)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_exec(r, ctx, st, crm_exec_row_done);
}


/* POST /webhooks/:id/test: 202 with the delivery made */

ngx_int_t
crm_webhook_test(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    crm_stmt_t  *st;

    if (crm_uuid_valid(ctx->route.id.data, ctx->route.id.len) != NGX_OK) {
        return crm_exec_not_found(r, ctx);
    }

    st = crm_webhook_stmt(r, ctx, "SELECT db_webhook_test($1::uuid, "
                                  "$2::uuid)", 2);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_exec(r, ctx, st, crm_webhook_tested);
}


/* the delivery made, answered as a retry's is: read back by the planner */

static void
crm_webhook_tested(crm_pg_req_t *pr, PGresult *res)
{
    json_t              *made;
    ngx_int_t            rc;
    crm_ctx_t           *ctx;
    const char          *id;
    json_error_t         err;
    ngx_http_request_t  *r;

    r = crm_exec_result(pr, res, 1, &ctx);
    if (r == NULL) {
        return;
    }

    if (PQgetisnull(res, 0, 0)) {
        crm_http_done(r, crm_exec_not_found(r, ctx));
        return;
    }

    made = json_loads(PQgetvalue(res, 0, 0), 0, &err);
    id = json_string_value(json_object_get(made, "id"));

    if (id == NULL) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "crm: db_webhook_test() answered no delivery id");
        json_decref(made);
        crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ctx->route.target_id.len = ngx_strlen(id);
    ctx->route.target_id.data = ngx_pnalloc(r->pool,
                                            ctx->route.target_id.len);

    if (ctx->route.target_id.data == NULL) {
        json_decref(made);
        crm_http_done(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    ngx_memcpy(ctx->route.target_id.data, id, ctx->route.target_id.len);
    json_decref(made);

    rc = crm_webhook_delivery(r, ctx);

    if (rc != NGX_DONE) {
        crm_http_done(r, rc);
    }
}


/*
 * POST /webhooks/:id/deliveries/:deliveryId/retry: due now (a delivery
 * under way is left to finish); 202 with the delivery, read back by the
 * planner
 */

ngx_int_t
crm_webhook_retry(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    crm_stmt_t  *st;

    if (crm_uuid_valid(ctx->route.id.data, ctx->route.id.len) != NGX_OK
        || crm_uuid_valid(ctx->route.target_id.data,
                          ctx->route.target_id.len)
           != NGX_OK)
    {
        return crm_exec_not_found(r, ctx);
    }

    st = crm_webhook_stmt(r, ctx, "SELECT db_webhook_retry($1::uuid, "
                                  "$2::uuid, $3::uuid)", 3);
    if (st == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_exec(r, ctx, st, crm_webhook_retried);
}


static void
crm_webhook_retried(crm_pg_req_t *pr, PGresult *res)
{
    ngx_int_t            rc;
    crm_ctx_t           *ctx;
    ngx_http_request_t  *r;

    r = crm_exec_result(pr, res, 1, &ctx);
    if (r == NULL) {
        return;
    }

    if (PQgetvalue(res, 0, 0)[0] != 't') {
        crm_http_done(r, crm_exec_not_found(r, ctx));
        return;
    }

    rc = crm_webhook_delivery(r, ctx);

    if (rc != NGX_DONE) {
        crm_http_done(r, rc);
    }
}


/* 202 with the delivery ctx->route.target_id as GET .../deliveries has it */

static ngx_int_t
crm_webhook_delivery(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    crm_stmt_t      *st;
    crm_resource_t  *dr;

    dr = crm_schema_find(&crm_webhook_deliveries);

    st = ngx_pcalloc(r->pool, sizeof(crm_stmt_t));
    if (dr == NULL || st == NULL
        || crm_sql_get(r->pool, dr, &ctx->workspace, &ctx->route.target_id,
                       NULL, st)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_exec(r, ctx, st, crm_webhook_accepted);
}


static void
crm_webhook_accepted(crm_pg_req_t *pr, PGresult *res)
{
    ngx_int_t            rc;
    ngx_str_t            row;
    crm_ctx_t           *ctx;
    ngx_http_request_t  *r;

    r = crm_exec_result(pr, res, 0, &ctx);
    if (r == NULL) {
        return;
    }

    if (PQntuples(res) == 0) {
        rc = crm_exec_not_found(r, ctx);

    } else if (crm_exec_record(r, pr->stmt, res, 0, &row) != NGX_OK) {
        rc = NGX_HTTP_INTERNAL_SERVER_ERROR;

    } else {
        rc = crm_exec_render_row(r, ctx, NGX_HTTP_ACCEPTED, row.data,
                                 row.len);
    }

    crm_http_done(r, rc);
}


/* fixed text; $1 the workspace, $2 the webhook, $3 the delivery */

static crm_stmt_t *
crm_webhook_stmt(ngx_http_request_t *r, crm_ctx_t *ctx, const char *sql,
    ngx_uint_t n)
{
    crm_stmt_t  *st;

    st = crm_sql_fixed(r->pool, sql, n);

    if (st == NULL
        || crm_sql_set(st, 0, &ctx->workspace) != NGX_OK
        || crm_sql_set(st, 1, &ctx->route.id) != NGX_OK
        || (n > 2 && crm_sql_set(st, 2, &ctx->route.target_id) != NGX_OK))
    {
        return NULL;
    }

    return st;
}
