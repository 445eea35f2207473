
/*
 * ngx_http_crm_module: a campaign's own rules on a body (pure): its
 * templates' merge fields exist (crm_merge.c), and its audience is one
 * of {"filter": "<the query string of GET /contacts>"}, {"tags": [...]}
 * or {"contactIds": [...]}, the filter parsed by the list's own parser
 * (crm_query.c), so that it is refused for the same reasons.  A
 * template or a filter that names customFields.<name> is checked against
 * the workspace's definitions (crm_campaign_needs()).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>
#include "model/crm.h"
#include "model/crm_merge.h"


#define CRM_AUDIENCE_IDS_MAX  10000
#define CRM_AUDIENCE_TAGS_MAX 50


static ngx_int_t crm_campaign_error(ngx_pool_t *pool, ngx_array_t *errors,
    const char *field, const char *code, ngx_str_t *message);
static ngx_int_t crm_campaign_audience(ngx_pool_t *pool, json_t *a,
    json_t *custom, ngx_array_t *errors);
static ngx_int_t crm_campaign_filter(ngx_pool_t *pool, json_t *v,
    json_t *custom, ngx_array_t *errors);
static ngx_uint_t crm_campaign_same_name(const char *a, u_char *b,
    size_t len);
static ngx_uint_t crm_campaign_names_custom(json_t *v);


/* the fields that are templates */

static const char  *crm_campaign_templates[] = {
    "subject", "text", "html", NULL
};


/* the query parameters of a list that are not filters */

static const char  *crm_campaign_not_filters[] = {
    "limit", "maxSize", "cursor", "offset", "page", "sort", "sort_by",
    "order", "orderBy", "fields", "select", "count", NULL
};


/* "a" and the "len" bytes of "b" alike but for case and "_" */

static ngx_uint_t
crm_campaign_same_name(const char *a, u_char *b, size_t len)
{
    u_char  *last;

    last = b + len;

    for ( ;; ) {
        while (*a == '_') {
            a++;
        }

        while (b < last && *b == '_') {
            b++;
        }

        if (*a == '\0' || b == last) {
            return *a == '\0' && b == last;
        }

        if (ngx_tolower((u_char) *a) != ngx_tolower(*b)) {
            return 0;
        }

        a++;
        b++;
    }
}


ngx_int_t
crm_campaign_check(ngx_pool_t *pool, crm_resource_t *res, void *body,
    void *custom, ngx_array_t *errors)
{
    json_t           *v;
    ngx_str_t         tpl, name, msg;
    ngx_uint_t        i;
    crm_error_t       err;
    crm_resource_t   *contacts, *companies;

    ngx_str_set(&name, "contacts");
    contacts = crm_schema_find(&name);

    ngx_str_set(&name, "companies");
    companies = crm_schema_find(&name);

    if (contacts == NULL || companies == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; crm_campaign_templates[i] != NULL; i++) {
        v = json_object_get(body, crm_campaign_templates[i]);

        if (!json_is_string(v)) {
            continue;
        }

        tpl.data = (u_char *) json_string_value(v);
        tpl.len = json_string_length(v);

        switch (crm_merge_check(pool, &tpl, contacts, companies, custom,
                                &err))
        {

        case NGX_OK:
            break;

        case NGX_DECLINED:
            if (crm_campaign_error(pool, errors, crm_campaign_templates[i],
                                   (char *) err.code.data, &err.message)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            break;

        default:
            return NGX_ERROR;
        }
    }

    /* the sender's name is no template: "{{" in it would go out as is */

    v = json_object_get(body, "fromName");

    if (json_is_string(v)
        && ngx_strlcasestrn((u_char *) json_string_value(v),
                            (u_char *) json_string_value(v)
                            + json_string_length(v),
                            (u_char *) "{{", 2 - 1)
           != NULL)
    {
        ngx_str_set(&msg, "fromName takes no merge fields: it is the same "
                          "for every recipient");

        if (crm_campaign_error(pool, errors, "fromName", "invalid_value",
                               &msg)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    v = json_object_get(body, "audience");

    if (v != NULL && !json_is_null(v)) {
        return crm_campaign_audience(pool, v, custom, errors);
    }

    return NGX_OK;
}


static ngx_int_t
crm_campaign_audience(ngx_pool_t *pool, json_t *a, json_t *custom,
    ngx_array_t *errors)
{
    size_t       i, chars;
    json_t      *v, *e;
    ngx_str_t    msg;
    const char  *key;

    if (!json_is_object(a) || json_object_size(a) != 1) {
        ngx_str_set(&msg, "one of {\"filter\": \"...\"}, {\"tags\": [...]} "
                          "or {\"contactIds\": [...]}");
        return crm_campaign_error(pool, errors, "audience", "invalid_value",
                                  &msg);
    }

    json_object_foreach(a, key, v) {

        if (ngx_strcmp(key, "filter") == 0) {
            return crm_campaign_filter(pool, v, custom, errors);
        }

        if (ngx_strcmp(key, "tags") == 0 || ngx_strcmp(key, "contactIds") == 0)
        {
            if (!json_is_array(v) || json_array_size(v) == 0
                || json_array_size(v) > (key[0] == 't'
                                         ? CRM_AUDIENCE_TAGS_MAX
                                         : CRM_AUDIENCE_IDS_MAX))
            {
                ngx_str_set(&msg, "a non-empty array, not too long");
                return crm_campaign_error(pool, errors,
                                          key[0] == 't' ? "audience.tags"
                                                        : "audience.contactIds",
                                          "invalid_value", &msg);
            }

            json_array_foreach(v, i, e) {

                /* a tag as a contact's: 1 to 255 characters */

                if (!json_is_string(e)
                    || json_string_length(e) == 0
                    || crm_value_utf8((u_char *) json_string_value(e),
                                      json_string_length(e), &chars)
                       != NGX_OK
                    || chars > CRM_ELEM_MAX
                    || (key[0] == 'c'
                        && crm_uuid_valid((u_char *) json_string_value(e),
                                          json_string_length(e))
                           != NGX_OK))
                {
                    if (key[0] == 't') {
                        ngx_str_set(&msg, "tags are strings of 1 to 255 "
                                          "characters");

                    } else {
                        ngx_str_set(&msg, "contact ids are UUIDs");
                    }

                    return crm_campaign_error(pool, errors,
                                              key[0] == 't'
                                              ? "audience.tags"
                                              : "audience.contactIds",
                                              "invalid_value", &msg);
                }
            }

            return NGX_OK;
        }

        ngx_str_set(&msg, "an audience is a filter, tags or contactIds");
        return crm_campaign_error(pool, errors, "audience", "unknown_field",
                                  &msg);
    }

    return NGX_OK;
}


/*
 * The list filter of GET /contacts: the same parser, so the same errors,
 * and the same custom fields, the workspace's definitions of contacts
 * in "custom" (crm_campaign_needs())
 */

static ngx_int_t
crm_campaign_filter(ngx_pool_t *pool, json_t *v, json_t *custom,
    ngx_array_t *errors)
{
    u_char         *p, *last, *s;
    size_t          len;
    ngx_str_t       args, secret, msg, name;
    ngx_uint_t      i, nextra;
    crm_query_t     q;
    crm_error_t     err;
    crm_field_t    *extra;
    crm_resource_t *contacts;

    if (!json_is_string(v) || json_string_length(v) > 4096) {
        ngx_str_set(&msg, "a query string of at most 4096 characters, as "
                          "GET /contacts takes");
        return crm_campaign_error(pool, errors, "audience.filter",
                                  "invalid_value", &msg);
    }

    args.data = (u_char *) json_string_value(v);
    args.len = json_string_length(v);

    /* only filters: no paging, order or fields */

    p = args.data;
    last = args.data + args.len;

    while (p < last) {
        s = p;

        while (p < last && *p != '&') {
            p++;
        }

        len = 0;

        while (s + len < p && s[len] != '=') {
            len++;
        }

        /*
         * the name as the parser reads it: decoded ("l%69mit" is limit),
         * before any "[", in either case form ("sort_by", "orderBy")
         */

        switch (crm_query_unescape(pool, s, len, &name)) {

        case NGX_OK:
            break;

        case NGX_DECLINED:
            p++;
            continue;               /* the parser says what is wrong */

        default:
            return NGX_ERROR;
        }

        s = name.data;
        len = 0;

        while (len < name.len && s[len] != '[') {
            len++;
        }

        for (i = 0; crm_campaign_not_filters[i] != NULL; i++) {
            if (crm_campaign_same_name(crm_campaign_not_filters[i], s, len))
            {
                msg.data = ngx_pnalloc(pool, len + sizeof(" is not a filter"));
                if (msg.data == NULL) {
                    return NGX_ERROR;
                }

                msg.len = ngx_sprintf(msg.data, "%*s is not a filter", len, s)
                          - msg.data;

                return crm_campaign_error(pool, errors, "audience.filter",
                                          "not_a_filter", &msg);
            }
        }

        p++;
    }

    ngx_str_set(&name, "contacts");
    contacts = crm_schema_find(&name);

    if (crm_schema_custom_fields(pool, json_object_get(custom, "contacts"),
                                 &extra, &nextra)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    ngx_str_set(&secret, "audience");

    switch (crm_query_parse_ext(pool, contacts, extra, nextra, &args,
                                &secret, &q, &err))
    {

    case NGX_OK:
        if (crm_campaign_selects(&q)) {
            return NGX_OK;
        }

        ngx_str_set(&msg, "filters no contact in particular (for every "
                          "contact, write id[is]=notnull)");
        return crm_campaign_error(pool, errors, "audience.filter",
                                  "invalid_value", &msg);

    case NGX_DECLINED:
        msg.data = ngx_pnalloc(pool, err.param.len + err.message.len + 3);
        if (msg.data == NULL) {
            return NGX_ERROR;
        }

        msg.len = ngx_sprintf(msg.data, "%V: %V", &err.param, &err.message)
                  - msg.data;

        p = ngx_pnalloc(pool, err.code.len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(p, err.code.data, err.code.len);
        p[err.code.len] = '\0';

        return crm_campaign_error(pool, errors, "audience.filter",
                                  (char *) p, &msg);

    default:
        return NGX_ERROR;
    }
}


ngx_uint_t
crm_campaign_needs(void *body)
{
    json_t      *v;
    ngx_uint_t   i;

    v = json_object_get(json_object_get(body, "audience"), "filter");

    if (crm_campaign_names_custom(v)) {
        return 1;
    }

    for (i = 0; crm_campaign_templates[i] != NULL; i++) {
        v = json_object_get(body, crm_campaign_templates[i]);

        if (crm_campaign_names_custom(v)) {
            return 1;
        }
    }

    return 0;
}


/* a filter or a template that mentions customFields. */

static ngx_uint_t
crm_campaign_names_custom(json_t *v)
{
    ngx_str_t  text;

    if (!json_is_string(v)) {
        return 0;
    }

    text.data = (u_char *) json_string_value(v);
    text.len = json_string_length(v);

    return crm_query_names_custom(&text);
}


ngx_int_t
crm_campaign_audience_query(ngx_pool_t *pool, crm_field_t *extra,
    ngx_uint_t nextra, ngx_str_t *filter, ngx_str_t *secret, crm_query_t *q,
    crm_error_t *err)
{
    ngx_int_t        rc;
    ngx_str_t        name;
    crm_error_t      nobody;
    crm_resource_t  *contacts;

    ngx_str_set(&name, "contacts");

    contacts = crm_schema_find(&name);
    if (contacts == NULL) {
        return NGX_ERROR;
    }

    rc = crm_query_parse_ext(pool, contacts, extra, nextra, filter, secret,
                             q, err);

    if (rc == NGX_OK) {
        if (crm_campaign_selects(q)) {
            return NGX_OK;
        }

        rc = NGX_DONE;

    } else if (rc != NGX_DECLINED) {
        return NGX_ERROR;
    }

    /* no contact has no id */

    ngx_str_set(filter, "id[is]=null");

    if (crm_query_parse(pool, contacts, filter, secret, q, &nobody)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return rc;
}


ngx_int_t
crm_campaign_audience_problem(ngx_pool_t *pool, ngx_int_t rc,
    crm_error_t *err, ngx_str_t *problem)
{
    size_t  chars;

    switch (rc) {

    case NGX_DONE:
        /* stored before such filters were refused */
        ngx_str_set(problem, "the audience filter selects no contact in "
                             "particular");
        return NGX_OK;

    case NGX_DECLINED:
        /* checked when written; a custom field may have been deleted */
        problem->data = ngx_pnalloc(pool,
                                    sizeof("the audience filter is no "
                                           "longer valid (: )")
                                    + err->param.len + err->message.len);
        if (problem->data == NULL) {
            return NGX_ERROR;
        }

        problem->len = ngx_sprintf(problem->data,
                                   "the audience filter is no longer valid "
                                   "(%V: %V)", &err->param, &err->message)
                       - problem->data;

        /* it is stored as text and shown in JSON: a decoded name may not */

        if (crm_value_utf8(problem->data, problem->len, &chars) != NGX_OK) {
            ngx_str_set(problem, "the audience filter is no longer valid");
        }

        return NGX_OK;

    default:
        ngx_str_null(problem);
        return NGX_OK;
    }
}


ngx_uint_t
crm_campaign_selects(crm_query_t *q)
{
    return q->filters.nelts > 0 || q->q.len > 0;
}


static ngx_int_t
crm_campaign_error(ngx_pool_t *pool, ngx_array_t *errors, const char *field,
    const char *code, ngx_str_t *message)
{
    crm_field_error_t  *e;

    e = ngx_array_push(errors);
    if (e == NULL) {
        return NGX_ERROR;
    }

    e->field.data = (u_char *) field;
    e->field.len = ngx_strlen(field);
    e->code.data = (u_char *) code;
    e->code.len = ngx_strlen(code);
    e->message = *message;

    return NGX_OK;
}
