
/*
 * ngx_http_crm_module: GET /campaigns/:id/recipients.  Once a campaign
 * runs, its recipients and their states (campaign_recipients, a list
 * like every list); before, a preview: the contacts its audience selects
 * now, as GET /contacts lists them (the audience's filter, or its tags
 * or contact ids as filters, and the request's own paging, fields,
 * count and further filters).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "handlers/crm_handlers.h"


#define CRM_PREVIEW_IDS_MAX   CRM_MAX_IN_VALUES


static void crm_recipients_campaign(crm_pg_req_t *pr, PGresult *res);
static ngx_int_t crm_recipients_preview(ngx_http_request_t *r,
    crm_ctx_t *ctx, json_t *audience);
static ngx_int_t crm_recipients_list(ngx_http_request_t *r, crm_ctx_t *ctx,
    json_t *values, const char *param, ngx_str_t *out);


ngx_int_t
crm_recipients(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    static const char  *names[] = { "audience", "recipientsAt", NULL };

    if (crm_uuid_valid(ctx->route.id.data, ctx->route.id.len) != NGX_OK) {
        return crm_exec_not_found(r, ctx);
    }

    /* the campaign's audience and whether its recipients are made */

    return crm_exec_get_fields(r, ctx, names, crm_recipients_campaign);
}


static void
crm_recipients_campaign(crm_pg_req_t *pr, PGresult *res)
{
    json_t              *row, *made;
    ngx_int_t            rc;
    crm_ctx_t           *ctx;
    ngx_http_request_t  *r;

    r = crm_exec_result(pr, res, 0, &ctx);
    if (r == NULL) {
        return;
    }

    row = crm_exec_fields_json(r, ctx, pr, res);
    if (row == NULL) {
        return;
    }

    made = json_object_get(row, "recipientsAt");

    if (made != NULL && !json_is_null(made)) {
        rc = crm_list(r, ctx);

    } else {
        rc = crm_recipients_preview(r, ctx, json_object_get(row, "audience"));
    }

    json_decref(row);

    if (rc != NGX_DONE) {
        crm_http_done(r, rc);
    }
}


/*
 * The list of the contacts the audience selects: GET /contacts with the
 * audience as filters before the request's own parameters (crm_list()
 * checks them, crm_list_preset())
 */

static ngx_int_t
crm_recipients_preview(ngx_http_request_t *r, crm_ctx_t *ctx,
    json_t *audience)
{
    json_t          *v;
    ngx_str_t        filter, name;
    crm_resource_t  *contacts;

    ngx_str_set(&name, "contacts");

    contacts = crm_schema_find(&name);
    if (contacts == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* none: an audience of nothing, which selects nobody */

    ngx_str_set(&filter, "");

    v = json_object_get(audience, "filter");

    if (json_is_string(v)) {
        /* a copy: the campaign's JSON goes before the list is done */

        filter.len = json_string_length(v);
        filter.data = ngx_pnalloc(r->pool, filter.len + 1);
        if (filter.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(filter.data, json_string_value(v), filter.len);

    } else if ((v = json_object_get(audience, "tags")) != NULL) {
        if (crm_recipients_list(r, ctx, v, "tags[in]=", &filter) != NGX_OK) {
            return ctx->rc;
        }

    } else if ((v = json_object_get(audience, "contactIds")) != NULL) {
        if (crm_recipients_list(r, ctx, v, "id[in]=", &filter) != NGX_OK) {
            return ctx->rc;
        }
    }

    ctx->preset = filter;

    ctx->route.kind = CRM_ROUTE_COLLECTION;
    ctx->route.res = contacts;
    ctx->route.link = NULL;
    ctx->route.target = NULL;

    return crm_list(r, ctx);
}


/* "param" and the values as a comma list, each value escaped */

static ngx_int_t
crm_recipients_list(ngx_http_request_t *r, crm_ctx_t *ctx, json_t *values,
    const char *param, ngx_str_t *out)
{
    u_char        c, *p;
    size_t        len, i, k;
    json_t       *e;
    const char   *s;
    static u_char  hex[] = "0123456789ABCDEF";

    if (json_array_size(values) > CRM_PREVIEW_IDS_MAX) {
        /* not a parameter of the request's: its campaign's audience */
        ctx->rc = crm_http_error(r, CRM_E_BAD_REQUEST,
                                 "an audience of more than 100 tags or "
                                 "contact ids has no preview; its "
                                 "recipients are listed once it runs",
                                 NULL);
        return NGX_ERROR;
    }

    len = ngx_strlen(param);

    json_array_foreach(values, i, e) {
        if (!json_is_string(e)) {
            continue;
        }

        len += 3 * json_string_length(e) + 1;
    }

    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        ctx->rc = NGX_HTTP_INTERNAL_SERVER_ERROR;
        return NGX_ERROR;
    }

    out->data = p;
    p = ngx_cpymem(p, param, ngx_strlen(param));

    json_array_foreach(values, i, e) {
        if (!json_is_string(e)) {
            continue;
        }

        if (i > 0) {
            *p++ = ',';
        }

        /* every byte but [A-Za-z0-9._~-] as %XX: a comma in a tag must
           not split it */

        s = json_string_value(e);

        for (k = 0; k < json_string_length(e); k++) {
            c = (u_char) s[k];

            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                || (c >= '0' && c <= '9') || c == '.' || c == '_'
                || c == '~' || c == '-')
            {
                *p++ = c;
                continue;
            }

            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];
        }
    }

    out->len = p - out->data;

    return NGX_OK;
}
