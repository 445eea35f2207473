
/*
 * ngx_http_crm_module: the OpenAPI 3.1 document of the API.
 *
 * Generated from what drives the API itself: every path of the route
 * table (a row is instantiated for every resource, link and action the
 * router gives it), the resource descriptors (schemas, filters, sorts),
 * the query parser's parameters and operators, and the error catalog.
 * The static document is built once per configuration
 * (crm_openapi_build()); GET /openapi.json serves its bytes, and, to a
 * request with a credential, a copy with the workspace's custom fields
 * in the schemas of the resources that have them.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "handlers/crm_handlers.h"


#define CRM_OA_NAME_MAX       64
#define CRM_OA_PATH_MAX       256
#define CRM_OA_SAMPLE_ID      "00000000-0000-4000-8000-000000000000"

#define CRM_OA_GET            0
#define CRM_OA_POST           1
#define CRM_OA_PUT            2
#define CRM_OA_PATCH          3
#define CRM_OA_DELETE         4

#define CRM_OA_CACHE          4       /* documents with custom fields kept
                                         per worker */


typedef struct {
    json_t                   *doc;
    json_t                   *paths;
    json_t                   *schemas;
    json_t                   *params;
    json_t                   *responses;
    json_t                   *tags;
    crm_route_def_t          *table;
    ngx_uint_t                failed;
} crm_oa_t;


/* one instantiated path of a route row */

typedef struct {
    crm_route_def_t          *def;
    crm_route_t               rt;
    char                      path[CRM_OA_PATH_MAX];
    char                      tag[CRM_OA_NAME_MAX];
    char                      target_id[CRM_OA_NAME_MAX];   /* 2nd :id */
    ngx_uint_t                param_name;   /* {name} in the path */
    ngx_uint_t                param_object; /* {object} in the path */
} crm_oa_path_t;


typedef struct {
    const char               *name;
    const char               *schema;       /* JSON */
    const char               *description;
} crm_oa_list_param_t;


typedef struct {
    const char               *name;         /* components/responses */
    ngx_uint_t                status;
    const char               *header;       /* an extra header, or NULL */
} crm_oa_error_t;


/*
 * A document with custom fields, kept by the worker: it depends on the
 * definitions alone (the key: they, compact, keys sorted), whichever
 * workspace has them.  "refs": responses still sending its bytes; an
 * entry is replaced only when none is.
 */

typedef struct {
    ngx_pool_t               *pool;         /* NULL: a free slot */
    ngx_str_t                 key;
    ngx_str_t                 doc;
    ngx_msec_t                used;
    ngx_uint_t                refs;
} crm_oa_cached_t;


static void crm_oa_set(crm_oa_t *oa, json_t *obj, const char *key,
    json_t *value);
static json_t *crm_oa_ref(const char *kind, const char *name);
static void crm_oa_json(crm_oa_t *oa, json_t *obj, const char *text);
static void crm_oa_pascal(char *dst, size_t size, ngx_str_t *s);
static json_t *crm_oa_field(crm_field_t *f, ngx_uint_t request);
static void crm_oa_range(json_t *s, crm_field_t *f);
static json_t *crm_oa_example(crm_resource_t *res);
static void crm_oa_record(crm_oa_t *oa, crm_resource_t *res);
static void crm_oa_input(crm_oa_t *oa, crm_resource_t *res,
    ngx_uint_t create);
static json_t *crm_oa_resource_response(crm_oa_t *oa, crm_resource_t *res,
    const char *which);
static void crm_oa_filters(crm_oa_t *oa, crm_resource_t *res,
    json_t *list);
static void crm_oa_components(crm_oa_t *oa);
static void crm_oa_errors(crm_oa_t *oa);
static json_t *crm_oa_error_codes(ngx_uint_t status);
static void crm_oa_paths(crm_oa_t *oa, crm_route_def_t *table);
static void crm_oa_instantiate(crm_oa_t *oa, crm_route_def_t *def,
    crm_resource_t *res, ngx_uint_t sub);
static void crm_oa_path(crm_oa_t *oa, crm_oa_path_t *p);
static json_t *crm_oa_operation(crm_oa_t *oa, crm_oa_path_t *p,
    ngx_uint_t method);
static json_t *crm_oa_resp(const char *name);
static const char *crm_oa_item_summary(const char *path);
static void crm_oa_add_errors(crm_oa_t *oa, json_t *responses,
    crm_oa_path_t *p, ngx_uint_t method);
static json_t *crm_oa_copy_custom(json_t *doc, json_t *custom);
static ngx_int_t crm_oa_custom_send(ngx_http_request_t *r, crm_ctx_t *ctx);
static crm_oa_cached_t *crm_oa_cache_find(char *key);
static crm_oa_cached_t *crm_oa_cache_add(char *key, char *dump);
static ngx_int_t crm_oa_cache_send(ngx_http_request_t *r,
    crm_oa_cached_t *c);
static void crm_oa_cache_release(void *data);
static json_t *crm_oa_custom_schema(json_t *defs, ngx_uint_t record);
static ngx_int_t crm_openapi_send(ngx_http_request_t *r, u_char *data,
    size_t len);


static crm_oa_cached_t  crm_oa_cache[CRM_OA_CACHE];


static const char  *crm_oa_types[] = {
    "uuid", "text", "email", "enum", "integer", "number", "boolean",
    "timestamp", "date", "array", "object", "password", "list", "uuidArray"
};


static const char  *crm_oa_methods[] = {
    "get", "post", "put", "patch", "delete"
};


/* what the list parameters are; a parameter missing here is a string */

static const crm_oa_list_param_t  crm_oa_list_params[] = {
    { "limit", "{\"type\":\"integer\",\"minimum\":1,\"maximum\":200,"
               "\"default\":20}",
      "Rows per page (1..200, default 20)." },
    { "maxSize", "{\"type\":\"integer\",\"minimum\":1,\"maximum\":200}",
      "An alias of `limit`." },
    { "cursor", "{\"type\":\"string\"}",
      "`meta.cursor.next` or `meta.cursor.previous` of a page: opaque, "
      "signed, good only for the same list, workspace, sort, filters "
      "and q." },
    { "offset", "{\"type\":\"integer\",\"minimum\":0}",
      "Offset paging: rows to skip (not with `cursor`)." },
    { "page", "{\"type\":\"integer\",\"minimum\":1}",
      "Offset paging by pages of `limit` rows, 1-based." },
    { "sort", "{\"type\":\"string\",\"examples\":[\"-createdAt,lastName\"]}",
      "Up to 3 sortable fields, comma-separated, `-` for descending; "
      "`id` is always the final tiebreaker.  Default `-createdAt`." },
    { "sort_by", "{\"type\":\"string\"}",
      "One sortable field (with `order`): an alias of `sort`." },
    { "orderBy", "{\"type\":\"string\"}",
      "One sortable field (with `order`): an alias of `sort`." },
    { "order", "{\"type\":\"string\",\"enum\":[\"asc\",\"desc\"]}",
      "The direction of `sort_by`/`orderBy`; alone it reverses the "
      "default sort." },
    { "fields", "{\"type\":\"string\",\"examples\":[\"id,email\"]}",
      "Fields to return, comma-separated; `id` is always returned." },
    { "select", "{\"type\":\"string\"}", "An alias of `fields`." },
    { "count", "{\"type\":\"string\",\"enum\":[\"exact\",\"estimated\"]}",
      "Adds `meta.total`: an exact count, or the planner's estimate." },
    { "q", "{\"type\":\"string\",\"minLength\":3,\"maxLength\":200}",
      "Search the searchable fields: substring, typo-tolerant word and "
      "full-text match." },
    { NULL, NULL, NULL }
};


/*
 * The static document: everything but the workspace's custom fields.
 * NULL when out of memory.
 */

json_t *
crm_openapi_build(crm_route_def_t *table)
{
    crm_oa_t  oa;

    ngx_memzero(&oa, sizeof(crm_oa_t));

    oa.table = table;

    oa.doc = json_object();
    oa.paths = json_object();
    oa.schemas = json_object();
    oa.params = json_object();
    oa.responses = json_object();

    if (oa.doc == NULL || oa.paths == NULL || oa.schemas == NULL
        || oa.params == NULL || oa.responses == NULL)
    {
        goto failed;
    }

    crm_oa_components(&oa);
    crm_oa_errors(&oa);
    crm_oa_paths(&oa, table);

    crm_oa_set(&oa, oa.doc, "paths", json_incref(oa.paths));

    crm_oa_set(&oa, oa.doc, "components",
               json_pack("{s:O,s:O,s:O,s:o,s:o}",
                         "schemas", oa.schemas,
                         "parameters", oa.params,
                         "responses", oa.responses,
                         "headers", json_pack(
                             "{s:{s:s,s:{s:s}},s:{s:s,s:{s:s}},"
                             "s:{s:s,s:{s:s}},s:{s:s,s:{s:s}},"
                             "s:{s:s,s:{s:s}},s:{s:s,s:{s:s}},"
                             "s:{s:s,s:{s:s}},s:{s:s,s:{s:s}},"
                             "s:{s:s,s:{s:s}}}",
                             "X-Request-Id",
                               "description", "The request's id: a sane "
                               "incoming X-Request-Id, else req_ and 24 "
                               "hex digits.",
                               "schema", "type", "string",
                             "X-RateLimit-Limit",
                               "description", "The budget of the window "
                               "closest to exhaustion.",
                               "schema", "type", "integer",
                             "X-RateLimit-Remaining",
                               "description", "Requests left in that "
                               "window.",
                               "schema", "type", "integer",
                             "X-RateLimit-Reset",
                               "description", "Seconds until the full "
                               "budget is back (not an epoch time).",
                               "schema", "type", "integer",
                             "Retry-After",
                               "description", "Seconds to wait before "
                               "retrying.",
                               "schema", "type", "integer",
                             "Location",
                               "description", "The new record's URL.",
                               "schema", "type", "string",
                             "ETag",
                               "description", "The record's version, "
                               "strong: \"<version>\".",
                               "schema", "type", "string",
                             "Idempotent-Replayed",
                               "description", "true on a response "
                               "replayed for a repeated Idempotency-Key.",
                               "schema", "type", "string",
                             "WWW-Authenticate",
                               "description", "Bearer realm=\"crm\".",
                               "schema", "type", "string"),
                         "securitySchemes", json_pack(
                             "{s:{s:s,s:s,s:s,s:s},s:{s:s,s:s,s:s}}",
                             "ApiKey",
                               "type", "apiKey", "in", "header",
                               "name", "X-API-Key",
                               "description", "An API key: crmk_ and 40 "
                               "hex digits.",
                             "Bearer",
                               "type", "http", "scheme", "bearer",
                               "description", "An API key (crmk_...) or a "
                               "session token (crms_..., from POST "
                               "/auth/login).")));

    json_decref(oa.paths);
    json_decref(oa.schemas);
    json_decref(oa.params);
    json_decref(oa.responses);

    if (oa.failed) {
        json_decref(oa.doc);
        return NULL;
    }

    return oa.doc;

failed:

    json_decref(oa.doc);
    json_decref(oa.paths);
    json_decref(oa.schemas);
    json_decref(oa.params);
    json_decref(oa.responses);

    return NULL;
}


/* the document's text as served and as make openapi writes it */

char *
crm_openapi_dump(json_t *doc)
{
    return json_dumps(doc, JSON_INDENT(2)|JSON_ENSURE_ASCII);
}


/*
 * GET /openapi.json: the static document's bytes, or, with a
 * credential, the document with the workspace's custom fields (a
 * statement each time: the definitions are always current; the
 * document made for them is kept)
 */

ngx_int_t
crm_openapi(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    if (ctx->mcf->openapi == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (crm_http_no_args(r, ctx) != NGX_OK) {
        return ctx->rc;
    }

    if (ctx->principal.kind == CRM_PRINCIPAL_NONE
        || ctx->mcf->pool == NULL)
    {
        return crm_openapi_send(r, ctx->mcf->openapi_text.data,
                                ctx->mcf->openapi_text.len);
    }

    if (ctx->custom == NULL) {
        return crm_custom_load(r, ctx, NULL, crm_openapi);
    }

    /* without custom fields the document is the static one */

    if (json_object_size(ctx->custom) == 0) {
        return crm_openapi_send(r, ctx->mcf->openapi_text.data,
                                ctx->mcf->openapi_text.len);
    }

    return crm_oa_custom_send(r, ctx);
}


/*
 * The document with the definitions of ctx->custom: the worker's copy
 * made for the same definitions, or made now (and kept when a slot is
 * free of responses)
 */

static ngx_int_t
crm_oa_custom_send(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    char             *key, *dump;
    u_char           *p;
    size_t            len;
    json_t           *doc;
    ngx_int_t         rc;
    crm_oa_cached_t  *c;

    key = json_dumps(ctx->custom, JSON_COMPACT|JSON_SORT_KEYS);
    if (key == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    c = crm_oa_cache_find(key);

    if (c != NULL) {
        free(key);
        return crm_oa_cache_send(r, c);
    }

    doc = crm_oa_copy_custom(ctx->mcf->openapi, ctx->custom);
    if (doc == NULL) {
        free(key);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    dump = crm_openapi_dump(doc);
    json_decref(doc);

    if (dump == NULL) {
        free(key);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    c = crm_oa_cache_add(key, dump);

    if (c != NULL) {
        rc = crm_oa_cache_send(r, c);

    } else {
        /* every slot is being sent: this one is the request's alone */

        len = ngx_strlen(dump);
        p = ngx_pnalloc(r->pool, len + 1);

        if (p != NULL) {
            ngx_memcpy(p, dump, len);
            p[len] = '\n';
        }

        rc = (p != NULL) ? crm_openapi_send(r, p, len + 1)
                         : NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    free(key);
    free(dump);

    return rc;
}


static crm_oa_cached_t *
crm_oa_cache_find(char *key)
{
    size_t            len;
    ngx_uint_t        i;
    crm_oa_cached_t  *c;

    len = ngx_strlen(key);

    for (i = 0; i < CRM_OA_CACHE; i++) {
        c = &crm_oa_cache[i];

        if (c->pool != NULL && c->key.len == len
            && ngx_memcmp(c->key.data, key, len) == 0)
        {
            c->used = ngx_current_msec;
            return c;
        }
    }

    return NULL;
}


/* into a free slot, or in place of the least recently used one */

static crm_oa_cached_t *
crm_oa_cache_add(char *key, char *dump)
{
    u_char           *p;
    size_t            klen, dlen;
    ngx_uint_t        i;
    ngx_pool_t       *pool;
    crm_oa_cached_t  *c, *lru;

    lru = NULL;

    for (i = 0; i < CRM_OA_CACHE; i++) {
        c = &crm_oa_cache[i];

        if (c->pool == NULL) {
            lru = c;
            break;
        }

        if (c->refs == 0
            && (lru == NULL
                || (ngx_msec_int_t) (c->used - lru->used) < 0))
        {
            lru = c;
        }
    }

    if (lru == NULL) {
        return NULL;
    }

    klen = ngx_strlen(key);
    dlen = ngx_strlen(dump);

    /* it outlives the request: the cycle's log */

    pool = ngx_create_pool(NGX_DEFAULT_POOL_SIZE, ngx_cycle->log);
    if (pool == NULL) {
        return NULL;
    }

    p = ngx_pnalloc(pool, klen + dlen + 1);
    if (p == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    if (lru->pool != NULL) {
        ngx_destroy_pool(lru->pool);
    }

    lru->pool = pool;
    lru->key.data = p;
    lru->key.len = klen;
    p = ngx_cpymem(p, key, klen);

    lru->doc.data = p;
    lru->doc.len = dlen + 1;
    p = ngx_cpymem(p, dump, dlen);
    *p = '\n';

    lru->used = ngx_current_msec;
    lru->refs = 0;

    return lru;
}


/* the kept bytes, held until the request is done with them */

static ngx_int_t
crm_oa_cache_send(ngx_http_request_t *r, crm_oa_cached_t *c)
{
    ngx_pool_cleanup_t  *cln;

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = crm_oa_cache_release;
    cln->data = c;
    c->refs++;

    return crm_openapi_send(r, c->doc.data, c->doc.len);
}


static void
crm_oa_cache_release(void *data)
{
    crm_oa_cached_t  *c = data;

    c->refs--;
}


static ngx_int_t
crm_openapi_send(ngx_http_request_t *r, u_char *data, size_t len)
{
    ngx_int_t  rc;

    rc = crm_http_send_data(r, NGX_HTTP_OK, data, len);

    return (rc == NGX_ERROR) ? NGX_HTTP_INTERNAL_SERVER_ERROR : rc;
}


/*
 * A shallow copy of the document down to the schemas of the resources
 * with custom fields, whose customFields get the definitions' properties
 */

static json_t *
crm_oa_copy_custom(json_t *doc, json_t *custom)
{
    char             name[CRM_OA_NAME_MAX + 16];
    json_t          *copy, *comp, *schemas, *schema, *props, *defs;
    ngx_uint_t       i, n, k;
    crm_resource_t  *all;

    static const char  *suffix[] = { "", "Create", "Update" };

    copy = json_copy(doc);
    comp = json_copy(json_object_get(doc, "components"));
    schemas = json_copy(json_object_get(json_object_get(doc, "components"),
                                        "schemas"));

    if (copy == NULL || comp == NULL || schemas == NULL
        || json_object_set_new(copy, "components", comp) != 0)
    {
        json_decref(copy);
        json_decref(comp);
        json_decref(schemas);
        return NULL;
    }

    if (json_object_set_new(comp, "schemas", schemas) != 0) {
        json_decref(copy);
        return NULL;
    }

    all = crm_schema_all(&n);

    for (i = 0; i < n; i++) {
        if (!crm_schema_custom(&all[i])) {
            continue;
        }

        defs = json_object_get(custom, (char *) all[i].name.data);
        if (!json_is_array(defs) || json_array_size(defs) == 0) {
            continue;
        }

        for (k = 0; k < 3; k++) {
            crm_oa_pascal(name, CRM_OA_NAME_MAX, &all[i].singular);
            ngx_cpystrn((u_char *) name + ngx_strlen(name),
                        (u_char *) suffix[k], 16);

            schema = json_object_get(schemas, name);
            if (schema == NULL) {
                continue;
            }

            schema = json_deep_copy(schema);
            props = json_object_get(schema, "properties");

            if (schema == NULL || props == NULL
                || json_object_set_new(props, "customFields",
                                       crm_oa_custom_schema(defs, k == 0))
                   != 0
                || json_object_set_new(schemas, name, schema) != 0)
            {
                json_decref(schema);
                json_decref(copy);
                return NULL;
            }
        }
    }

    return copy;
}


/*
 * {"type":"object","properties":{<name>: <its type>}} of definitions.
 * What a write takes is held to them; a record (as read) may hold what
 * they no longer allow: a value kept when a select lost its option, or
 * a definition was deleted (docs/API.md), so its schema names the
 * fields but allows more, and lists a select's options without
 * requiring one of them.
 */

static json_t *
crm_oa_custom_schema(json_t *defs, ngx_uint_t record)
{
    size_t       i;
    json_t      *def, *props, *s, *options, *required;
    const char  *name, *type, *label;

    props = json_object();
    required = json_array();

    if (props == NULL || required == NULL) {
        json_decref(props);
        json_decref(required);
        return NULL;
    }

    json_array_foreach(defs, i, def) {
        name = json_string_value(json_object_get(def, "name"));
        type = json_string_value(json_object_get(def, "type"));
        label = json_string_value(json_object_get(def, "label"));

        if (name == NULL || type == NULL) {
            continue;
        }

        if (ngx_strcmp(type, "number") == 0) {
            s = json_pack("{s:s}", "type", "number");

        } else if (ngx_strcmp(type, "boolean") == 0) {
            s = json_pack("{s:s}", "type", "boolean");

        } else if (ngx_strcmp(type, "date") == 0) {
            s = json_pack("{s:s,s:s}", "type", "string", "format", "date");

        } else if (ngx_strcmp(type, "select") == 0) {
            options = json_object_get(def, "options");
            s = json_pack("{s:s,s:O}", "type", "string",
                          record ? "x-options" : "enum",
                          json_is_array(options) ? options : json_array());

        } else {
            s = json_pack("{s:s,s:i}", "type", "string", "maxLength", 10000);
        }

        if (s != NULL && label != NULL) {
            json_object_set_new(s, "title", json_string(label));
        }

        json_object_set_new(props, name, s);

        if (json_is_true(json_object_get(def, "required"))) {
            json_array_append_new(required, json_string(name));
        }
    }

    return json_pack("{s:s,s:s,s:o,s:o,s:b}",
                     "type", "object",
                     "description", record
                     ? "The workspace's custom fields of this resource, as "
                       "written: a value written before its definition "
                       "changed or was deleted is kept as it was."
                     : "The workspace's custom fields of this resource.",
                     "properties", props,
                     "x-required", required,
                     "additionalProperties", record ? 1 : 0);
}


/* ---- building blocks ----------------------------------------------- */


static void
crm_oa_set(crm_oa_t *oa, json_t *obj, const char *key, json_t *value)
{
    if (value == NULL || obj == NULL
        || json_object_set_new(obj, key, value) != 0)
    {
        oa->failed = 1;
    }
}


/* the members of the JSON "text" into "obj" */

static void
crm_oa_json(crm_oa_t *oa, json_t *obj, const char *text)
{
    json_t        *v;
    json_error_t   err;

    v = json_loads(text, 0, &err);

    if (v == NULL || json_object_update(obj, v) != 0) {
        oa->failed = 1;
    }

    json_decref(v);
}


static json_t *
crm_oa_ref(const char *kind, const char *name)
{
    char  ref[CRM_OA_NAME_MAX * 2 + 32];

    ngx_snprintf((u_char *) ref, sizeof(ref), "#/components/%s/%s%Z",
                 kind, name);

    return json_pack("{s:s}", "$ref", ref);
}


/* "api_key", "webhook-deliveries" -> "ApiKey", "WebhookDeliveries" */

static void
crm_oa_pascal(char *dst, size_t size, ngx_str_t *s)
{
    size_t      i, n;
    ngx_uint_t  up;

    up = 1;
    n = 0;

    for (i = 0; i < s->len && n + 1 < size; i++) {
        if (s->data[i] == '_' || s->data[i] == '-' || s->data[i] == '.') {
            up = 1;
            continue;
        }

        dst[n++] = up ? ngx_toupper(s->data[i]) : s->data[i];
        up = 0;
    }

    dst[n] = '\0';
}


/* a field's schema; "request": with the limits the API enforces */

static json_t *
crm_oa_field(crm_field_t *f, ngx_uint_t request)
{
    json_t       *s, *list;
    const char   *type, *format;
    const char  **e;
    ngx_uint_t    nullable;

    format = NULL;
    list = NULL;

    switch (f->type) {

    case CRM_FT_UUID:
        type = "string";
        format = "uuid";
        break;

    case CRM_FT_INT:
        type = "integer";
        break;

    case CRM_FT_NUMERIC:
        type = "number";
        break;

    case CRM_FT_BOOL:
        type = "boolean";
        break;

    case CRM_FT_TIMESTAMP:
        type = "string";
        format = "date-time";
        break;

    case CRM_FT_DATE:
        type = "string";
        format = "date";
        break;

    case CRM_FT_TEXT_ARRAY:
    case CRM_FT_LIST:
    case CRM_FT_UUID_ARRAY:
        type = "array";
        break;

    case CRM_FT_OBJECT:
        type = "object";
        break;

    default: /* text, email, enum, password */
        type = "string";
        break;
    }

    nullable = !(f->flags & (CRM_F_NOTNULL|CRM_F_REQUIRED));

    s = json_object();
    if (s == NULL) {
        return NULL;
    }

    if (nullable) {
        json_object_set_new(s, "type", json_pack("[s,s]", type, "null"));

    } else {
        json_object_set_new(s, "type", json_string(type));
    }

    if (format != NULL) {
        json_object_set_new(s, "format", json_string(format));
    }

    if (f->type == CRM_FT_EMAIL) {
        json_object_set_new(s, "description", json_string("An email "
                            "address."));
    }

    if (f->type == CRM_FT_TEXT_ARRAY) {
        json_object_set_new(s, "items", json_pack("{s:s,s:i,s:i}", "type",
                                                  "string", "minLength", 1,
                                                  "maxLength", CRM_ELEM_MAX));

    } else if (f->type == CRM_FT_UUID_ARRAY) {
        json_object_set_new(s, "items", json_pack("{s:s,s:s}", "type",
                                                  "string", "format",
                                                  "uuid"));
    }

    if (f->enum_values != NULL) {
        list = json_array();

        for (e = f->enum_values; list != NULL && *e; e++) {
            json_array_append_new(list, json_string(*e));
        }

        if (list != NULL && nullable) {
            json_array_append_new(list, json_null());
        }

        json_object_set_new(s, "enum", list);
    }

    if (f->flags & CRM_F_READONLY) {
        json_object_set_new(s, "readOnly", json_true());
    }

    if (f->flags & CRM_F_WRITEONLY) {
        json_object_set_new(s, "writeOnly", json_true());
    }

    if (f->ref != NULL) {
        json_object_set_new(s, "x-references", json_string(f->ref));
    }

    if (request && f->max_len > 0) {
        if (ngx_strcmp(type, "array") == 0) {
            json_object_set_new(s, "maxItems", json_integer(f->max_len));

        } else if (ngx_strcmp(type, "string") == 0) {
            json_object_set_new(s, "maxLength", json_integer(f->max_len));
        }
    }

    if (request) {
        crm_oa_range(s, f);
    }

    return s;
}


/* what crm_validate() checks of a number's range, and a currency's form */

static void
crm_oa_range(json_t *s, crm_field_t *f)
{
    json_int_t  max;

    if (f->flags & CRM_F_CURRENCY) {
        json_object_set_new(s, "pattern", json_string("^[A-Z]{3}$"));
    }

    if (f->type != CRM_FT_INT && f->type != CRM_FT_NUMERIC) {
        return;
    }

    /* an integer's max_len is its largest: a column of 32 bits */

    max = (f->type == CRM_FT_INT) ? (json_int_t) f->max_len : 0;

    if (f->flags & CRM_F_MIN1) {
        json_object_set_new(s, "minimum", json_integer(1));

    } else if (f->flags & (CRM_F_MIN0|CRM_F_PERCENT)) {
        json_object_set_new(s, "minimum", json_integer(0));

    } else if (max > 0) {
        json_object_set_new(s, "minimum", json_integer(-max - 1));
    }

    if (f->flags & CRM_F_PERCENT) {
        max = 100;
    }

    if (max > 0) {
        json_object_set_new(s, "maximum", json_integer(max));
    }
}


/* an example record of "res", a value of each field's type */

static json_t *
crm_oa_example(crm_resource_t *res)
{
    json_t       *ex;
    ngx_uint_t    i;
    crm_field_t  *f;

    ex = json_object();

    for (i = 0; ex != NULL && i < res->nfields; i++) {
        f = &res->fields[i];

        if (f->flags & (CRM_F_HIDDEN|CRM_F_WRITEONLY)) {
            continue;
        }

        switch (f->type) {

        case CRM_FT_UUID:
            if (i == 0 || f->ref != NULL || (f->flags & CRM_F_NOTNULL)) {
                json_object_set_new(ex, (char *) f->name.data,
                    json_string("6f1c2b8e-3d4a-4c5b-9e7f-0a1b2c3d4e5f"));
            }
            break;

        case CRM_FT_EMAIL:
            json_object_set_new(ex, (char *) f->name.data,
                                json_string("ada@example.com"));
            break;

        case CRM_FT_ENUM:
            json_object_set_new(ex, (char *) f->name.data,
                                json_string(f->enum_values[0]));
            break;

        case CRM_FT_INT:
            json_object_set_new(ex, (char *) f->name.data, json_integer(1));
            break;

        case CRM_FT_NUMERIC:
            json_object_set_new(ex, (char *) f->name.data, json_real(1.5));
            break;

        case CRM_FT_BOOL:
            json_object_set_new(ex, (char *) f->name.data, json_true());
            break;

        case CRM_FT_TIMESTAMP:
            json_object_set_new(ex, (char *) f->name.data,
                                json_string("2026-01-15T10:30:00.000Z"));
            break;

        case CRM_FT_DATE:
            json_object_set_new(ex, (char *) f->name.data,
                                json_string("2026-01-15"));
            break;

        case CRM_FT_TEXT_ARRAY:
        case CRM_FT_LIST:
        case CRM_FT_UUID_ARRAY:
            json_object_set_new(ex, (char *) f->name.data, json_array());
            break;

        case CRM_FT_OBJECT:
            json_object_set_new(ex, (char *) f->name.data, json_object());
            break;

        case CRM_FT_TEXT:
            if (f->flags & (CRM_F_REQUIRED|CRM_F_NOTNULL)) {
                json_object_set_new(ex, (char *) f->name.data,
                                    json_string("x"));
            }
            break;

        default:
            break;
        }
    }

    return ex;
}


/* components/schemas/<Singular>: a record as the API renders it */

static void
crm_oa_record(crm_oa_t *oa, crm_resource_t *res)
{
    char          name[CRM_OA_NAME_MAX];
    json_t       *s, *props;
    ngx_uint_t    i;
    crm_field_t  *f;

    crm_oa_pascal(name, sizeof(name), &res->singular);

    if (json_object_get(oa->schemas, name) != NULL) {
        return;
    }

    props = json_object();

    for (i = 0; props != NULL && i < res->nfields; i++) {
        f = &res->fields[i];

        if (f->flags & (CRM_F_HIDDEN|CRM_F_WRITEONLY)) {
            continue;
        }

        crm_oa_set(oa, props, (char *) f->name.data, crm_oa_field(f, 0));
    }

    s = json_pack("{s:s,s:s%,s:o,s:[s],s:[o]}",
                  "type", "object",
                  "description", res->name.data, res->name.len,
                  "properties", props,
                  "required", "id",
                  "examples", crm_oa_example(res));

    crm_oa_set(oa, oa->schemas, name, s);
}


/* <Singular>Create, <Singular>Update: what a write takes */

static void
crm_oa_input(crm_oa_t *oa, crm_resource_t *res, ngx_uint_t create)
{
    char          name[CRM_OA_NAME_MAX + 8];
    json_t       *s, *props, *required;
    ngx_uint_t    i;
    crm_field_t  *f;

    crm_oa_pascal(name, CRM_OA_NAME_MAX, &res->singular);
    ngx_cpystrn((u_char *) name + ngx_strlen(name),
                (u_char *) (create ? "Create" : "Update"), 8);

    if (json_object_get(oa->schemas, name) != NULL) {
        return;
    }

    props = json_object();
    required = json_array();

    for (i = 0; props != NULL && required != NULL && i < res->nfields; i++) {
        f = &res->fields[i];

        if ((f->flags & (CRM_F_HIDDEN|CRM_F_READONLY))
            || (!create && (f->flags & CRM_F_CREATEONLY)))
        {
            continue;
        }

        crm_oa_set(oa, props, (char *) f->name.data, crm_oa_field(f, 1));

        if (create && (f->flags & CRM_F_REQUIRED)) {
            json_array_append_new(required, json_string((char *)
                                                        f->name.data));
        }
    }

    s = json_pack("{s:s,s:o,s:o,s:b}",
                  "type", "object",
                  "properties", props,
                  "required", required,
                  "additionalProperties", 0);

    crm_oa_set(oa, oa->schemas, name, s);
}


/*
 * components/responses/<Singular><which>: "" (200), "Created" (201),
 * "Accepted" (202), "List" (200, a page), made when an operation names
 * it; returns a reference to it
 */

static json_t *
crm_oa_resource_response(crm_oa_t *oa, crm_resource_t *res,
    const char *which)
{
    char       name[CRM_OA_NAME_MAX], key[CRM_OA_NAME_MAX + 16];
    json_t    *headers, *data, *resp, *schema;
    ngx_str_t  contacts;

    crm_oa_pascal(name, sizeof(name), &res->singular);
    ngx_snprintf((u_char *) key, sizeof(key), "%s%s%Z", name, which);

    if (json_object_get(oa->responses, key) != NULL) {
        return crm_oa_resp(key);
    }

    crm_oa_record(oa, res);

    headers = json_pack("{s:o,s:o,s:o,s:o}",
                        "X-Request-Id", crm_oa_ref("headers", "X-Request-Id"),
                        "X-RateLimit-Limit",
                        crm_oa_ref("headers", "X-RateLimit-Limit"),
                        "X-RateLimit-Remaining",
                        crm_oa_ref("headers", "X-RateLimit-Remaining"),
                        "X-RateLimit-Reset",
                        crm_oa_ref("headers", "X-RateLimit-Reset"));
    if (headers == NULL) {
        oa->failed = 1;
        return NULL;
    }

    if (ngx_strcmp(which, "List") == 0) {
        crm_oa_set(oa, oa->schemas, key,
                   json_pack("{s:s,s:{s:{s:s,s:o},s:o},s:[s,s]}",
                             "type", "object",
                             "properties",
                               "data", "type", "array",
                                 "items", crm_oa_ref("schemas", name),
                               "meta", crm_oa_ref("schemas", "ListMeta"),
                             "required", "data", "meta"));

        if (res->preview) {
            /*
             * before it exists, a preview: the contacts it would have
             * (handlers/crm_campaigns.c)
             */

            ngx_str_set(&contacts, "contacts");

            if (crm_schema_find(&contacts) == NULL) {
                oa->failed = 1;
                json_decref(headers);
                return NULL;
            }

            json_decref(crm_oa_resource_response(oa,
                                                 crm_schema_find(&contacts),
                                                 "List"));

            schema = json_pack("{s:[o,o]}", "anyOf",
                               crm_oa_ref("schemas", key),
                               crm_oa_ref("schemas", "ContactList"));

        } else {
            schema = crm_oa_ref("schemas", key);
        }

        resp = json_pack("{s:s,s:o,s:{s:{s:o}}}",
                         "description", res->preview
                         ? "A page of the list (before it is made: of "
                           "the contacts it would have)."
                         : "A page of the list.",
                         "headers", headers,
                         "content", "application/json", "schema", schema);

        crm_oa_set(oa, oa->responses, key, resp);

        return crm_oa_resp(key);
    }

    if (res->versioned) {
        json_object_set_new(headers, "ETag", crm_oa_ref("headers", "ETag"));
    }

    if (*which != '\0') {
        json_object_set_new(headers, "Idempotent-Replayed",
                            crm_oa_ref("headers", "Idempotent-Replayed"));
    }

    if (ngx_strcmp(which, "Created") == 0) {
        json_object_set_new(headers, "Location",
                            crm_oa_ref("headers", "Location"));
    }

    data = json_pack("{s:s,s:{s:o,s:o},s:[s,s]}",
                     "type", "object",
                     "properties",
                       "data", crm_oa_ref("schemas", name),
                       "meta", crm_oa_ref("schemas", "Meta"),
                     "required", "data", "meta");

    resp = json_pack("{s:s,s:o,s:{s:{s:o,s:{s:{s:{s:o,s:{s:s,s:s}}}}}}}",
                     "description",
                     (*which == '\0') ? "The record."
                     : (which[0] == 'C') ? "Created."
                     : "Accepted: queued, done later.",
                     "headers", headers,
                     "content", "application/json",
                       "schema", data,
                       "examples", "record", "value",
                         "data", crm_oa_example(res),
                         "meta",
                           "requestId", "req_0123456789abcdef01234567",
                           "timestamp", "2026-01-15T10:30:00.000Z");

    crm_oa_set(oa, oa->responses, key, resp);

    return crm_oa_resp(key);
}


/*
 * components/parameters <resource>.<field> and <resource>.<field>.<op>
 * for every filterable field; references to them appended to "list"
 */

static void
crm_oa_filters(crm_oa_t *oa, crm_resource_t *res, json_t *list)
{
    char          key[CRM_OA_NAME_MAX * 3], qname[CRM_OA_NAME_MAX * 2];
    json_t       *schema, *vs;
    ngx_uint_t    i, k, allowed;
    const char   *op;
    crm_field_t  *f;
    const char  **e;

    for (i = 0; i < res->nfields; i++) {
        f = &res->fields[i];

        if (!(f->flags & CRM_F_FILTER)
            || (f->flags & (CRM_F_HIDDEN|CRM_F_WRITEONLY)))
        {
            continue;
        }

        for (k = 0; /* void */; k++) {
            op = crm_query_operator(k, f->type, &allowed);

            if (op == NULL) {
                break;
            }

            if (!allowed) {
                continue;
            }

            if (ngx_strcmp(op, "eq") == 0) {
                ngx_snprintf((u_char *) qname, sizeof(qname), "%V%Z",
                             &f->name);
            } else {
                ngx_snprintf((u_char *) qname, sizeof(qname), "%V[%s]%Z",
                             &f->name, op);
            }

            /* shared by the resources with such a field, but enums */

            if (f->enum_values != NULL) {
                ngx_snprintf((u_char *) key, sizeof(key), "%V.%V.%s%Z",
                             &res->name, &f->name, op);

            } else {
                ngx_snprintf((u_char *) key, sizeof(key), "%V.%s.%s%Z",
                             &f->name, crm_oa_types[f->type], op);
            }

            if (json_object_get(oa->params, key) == NULL) {

                if (ngx_strcmp(op, "is") == 0) {
                    schema = json_pack("{s:s,s:[s,s]}", "type", "string",
                                       "enum", "null", "notnull");

                } else if (ngx_strcmp(op, "in") == 0
                           || ngx_strcmp(op, "nin") == 0)
                {
                    schema = json_pack("{s:s,s:s}", "type", "string",
                                       "description", "comma-separated");

                } else if (f->enum_values != NULL
                           && ngx_strcmp(op, "like") != 0)
                {
                    vs = json_array();

                    for (e = f->enum_values; vs != NULL && *e; e++) {
                        json_array_append_new(vs, json_string(*e));
                    }

                    schema = json_pack("{s:s,s:o}", "type", "string",
                                       "enum", vs);

                } else if (f->type == CRM_FT_INT) {
                    schema = json_pack("{s:s}", "type", "integer");

                } else if (f->type == CRM_FT_NUMERIC) {
                    schema = json_pack("{s:s}", "type", "number");

                } else if (f->type == CRM_FT_BOOL) {
                    schema = json_pack("{s:s}", "type", "boolean");

                } else {
                    schema = json_pack("{s:s}", "type", "string");
                }

                crm_oa_set(oa, oa->params, key,
                           json_pack("{s:s,s:s,s:b,s:s,s:o}",
                                     "name", qname,
                                     "in", "query",
                                     "required", 0,
                                     "description",
                                     (ngx_strcmp(op, "eq") == 0)
                                     ? "Equality (arrays: contains)."
                                     : "A filter with this operator.",
                                     "schema", schema));
            }

            json_array_append_new(list, crm_oa_ref("parameters", key));
        }
    }
}


/* ---- the parts every path uses ------------------------------------- */


static void
crm_oa_components(crm_oa_t *oa)
{
    u_char                     *p, *end;
    json_t                     *schema;
    ngx_uint_t                  k, status;
    const char                 *code;
    json_error_t                err;
    const crm_oa_list_param_t  *lp;
    u_char                      desc[8192];

    /* info, with the error catalog */

    p = desc;
    end = desc + sizeof(desc) - 1;

    p = ngx_slprintf(p, end, "%s",
        "The CRM REST API served by ngx_http_crm_module.  Generated from "
        "the module's route table and resource descriptors: it cannot "
        "drift from what the API does.  JSON in and out; ids are UUIDs; "
        "timestamps are ISO 8601 UTC with milliseconds.  Every response "
        "carries X-Request-Id; authenticated ones the X-RateLimit-* "
        "headers.  POST and PATCH take an Idempotency-Key (24 h).  "
        "Requests with a credential see the workspace's custom fields "
        "in the schemas of this document (GET /openapi.json).\n\n"
        "Errors: `{\"error\": {\"code\", \"status\", \"message\", "
        "\"details\"}, \"meta\"}`, with these codes:\n\n"
        "| code | status |\n|---|---|\n");

    for (k = 0; /* void */; k++) {
        code = crm_http_error_code(k, &status);
        if (code == NULL) {
            break;
        }

        if (status == 0) {
            p = ngx_slprintf(p, end, "| `%s` | any other |\n", code);

        } else {
            p = ngx_slprintf(p, end, "| `%s` | %ui |\n", code, status);
        }
    }

    *p = '\0';

    crm_oa_set(oa, oa->doc, "openapi", json_string("3.1.0"));

    crm_oa_set(oa, oa->doc, "info",
               json_pack("{s:s,s:s,s:s,s:{s:s,s:s}}",
                         "title", "CRM API",
                         "version", "1",
                         "description", (char *) desc,
                         "license", "name", "BSD-2-Clause",
                                    "identifier", "BSD-2-Clause"));

    crm_oa_set(oa, oa->doc, "servers",
               json_pack("[{s:s,s:s},{s:s,s:s}]",
                         "url", "/api/v1",
                         "description", "the canonical mount point "
                         "(nginx.conf.example)",
                         "url", "/v1",
                         "description", "the short mount point"));

    crm_oa_set(oa, oa->doc, "security",
               json_pack("[{s:[]},{s:[]}]", "ApiKey", "Bearer"));

    oa->tags = json_array();
    crm_oa_set(oa, oa->doc, "tags", oa->tags);

    /* envelopes */

    /* the schemas of the envelopes and of the routes of their own */
    crm_oa_json(oa, oa->schemas,
        "{\"Meta\":{\"type\":\"object\",\"properties\":{\"requestId\":{\"type"
        "\":\"string\"},\"timestamp\":{\"type\":\"string\",\"format\":\"date-"
        "time\"}},\"required\":[\"requestId\",\"timestamp\"]},\"ListMeta\":{"
        "\"type\":\"object\",\"properties\":{\"requestId\":{\"type\":\"string"
        "\"},\"timestamp\":{\"type\":\"string\",\"format\":\"date-time\"},\"l"
        "imit\":{\"type\":\"integer\"},\"cursor\":{\"type\":\"object\",\"prop"
        "erties\":{\"next\":{\"type\":[\"string\",\"null\"]},\"previous\":{\""
        "type\":[\"string\",\"null\"]},\"hasMore\":{\"type\":\"boolean\"}}},"
        "\"total\":{\"type\":\"integer\"},\"audienceProblem\":{\"type\":\"s"
        "tring\",\"description\":\"A campaign's preview only: why its audi"
        "ence selects nobody, as the campaign's audienceProblem will say.\"}"
        "},\"required\":[\"requestId\",\"time"
        "stamp\"]},\"Data\":{\"type\":\"object\",\"description\":\"A result o"
        "f its own shape under data.\",\"properties\":{\"data\":{},\"meta\":{"
        "\"$ref\":\"#/components/schemas/Meta\"}},\"required\":[\"data\",\"me"
        "ta\"]},\"BulkRequest\":{\"type\":\"object\",\"properties\":{\"operat"
        "ions\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":200,\"items\""
        ":{\"type\":\"object\",\"properties\":{\"method\":{\"type\":\"string"
        "\",\"enum\":[\"create\",\"update\",\"delete\"]},\"id\":{\"type\":\"s"
        "tring\"},\"data\":{\"type\":\"object\"}},\"required\":[\"method\"],"
        "\"additionalProperties\":false}},\"atomic\":{\"type\":\"boolean\",\""
        "default\":false}},\"required\":[\"operations\"],\"additionalProperti"
        "es\":false},\"BulkResponse\":{\"type\":\"object\",\"properties\":{\""
        "data\":{\"type\":\"array\",\"items\":{\"type\":\"object\",\"properti"
        "es\":{\"index\":{\"type\":\"integer\"},\"status\":{\"type\":\"intege"
        "r\"},\"data\":{\"description\":\"The record (create, update).\"},\"e"
        "rror\":{\"type\":\"object\",\"description\":\"The error object of th"
        "e operation.\"}},\"required\":[\"index\",\"status\"]}},\"meta\":{\"a"
        "llOf\":[{\"$ref\":\"#/components/schemas/Meta\"}],\"type\":\"object"
        "\",\"properties\":{\"atomic\":{\"type\":\"boolean\"},\"succeeded\":{"
        "\"type\":\"integer\"},\"failed\":{\"type\":\"integer\"}}}},\"require"
        "d\":[\"data\",\"meta\"]},\"LinkRequest\":{\"type\":\"object\",\"prop"
        "erties\":{\"id\":{\"type\":\"string\",\"format\":\"uuid\"}},\"requir"
        "ed\":[\"id\"],\"additionalProperties\":false},\"LoginRequest\":{\"ty"
        "pe\":\"object\",\"properties\":{\"email\":{\"type\":\"string\"},\"pa"
        "ssword\":{\"type\":\"string\",\"writeOnly\":true}},\"required\":[\"e"
        "mail\",\"password\"],\"additionalProperties\":false},\"Session\":{\""
        "type\":\"object\",\"properties\":{\"data\":{\"type\":\"object\",\"pr"
        "operties\":{\"token\":{\"type\":\"string\"},\"tokenType\":{\"type\":"
        "\"string\"},\"sessionId\":{\"type\":\"string\"},\"expiresAt\":{\"typ"
        "e\":\"string\",\"format\":\"date-time\"},\"workspaceId\":{\"type\":"
        "\"string\"},\"userId\":{\"type\":\"string\"}},\"required\":[\"token"
        "\"]},\"meta\":{\"$ref\":\"#/components/schemas/Meta\"}},\"required\""
        ":[\"data\",\"meta\"]},\"Health\":{\"type\":\"object\",\"properties\""
        ":{\"data\":{\"type\":\"object\",\"properties\":{\"status\":{\"type\""
        ":\"string\",\"enum\":[\"ok\",\"degraded\",\"unavailable\"]},\"checks"
        "\":{\"type\":\"object\"}},\"required\":[\"status\"]},\"meta\":{\"$re"
        "f\":\"#/components/schemas/Meta\"}},\"required\":[\"data\",\"meta\"]"
        "},\"SearchResults\":{\"type\":\"object\",\"properties\":{\"data\":{"
        "\"type\":\"array\",\"items\":{\"type\":\"object\",\"properties\":{\""
        "type\":{\"type\":\"string\"},\"score\":{\"type\":\"number\",\"minimu"
        "m\":0,\"maximum\":1},\"record\":{\"type\":\"object\"}},\"required\":"
        "[\"type\",\"score\",\"record\"]}},\"meta\":{\"$ref\":\"#/components/"
        "schemas/Meta\"}},\"required\":[\"data\",\"meta\"]},\"OpenAPIDocument"
        "\":{\"type\":\"object\",\"description\":\"This document.\",\"propert"
        "ies\":{\"openapi\":{\"type\":\"string\"},\"info\":{\"type\":\"object"
        "\"},\"paths\":{\"type\":\"object\"}},\"required\":[\"openapi\",\"inf"
        "o\",\"paths\"]}}");

    /* the error envelope, its codes from the catalog */

    crm_oa_json(oa, oa->schemas,
        "{\"Error\":{\"type\":\"object\",\"properties\":{\"error\":"
        "{\"type\":\"object\",\"properties\":{\"code\":{\"type\":"
        "\"string\"},\"status\":{\"type\":\"integer\"},\"message\":"
        "{\"type\":\"string\"},\"details\":{\"type\":\"object\","
        "\"description\":\"Always an object: fields[] (field, code, "
        "message) for 422, parameter and code for INVALID_PARAMETER, "
        "retryAfter for 429 and 503.\"}},\"required\":[\"code\","
        "\"status\",\"message\",\"details\"]},\"meta\":{\"$ref\":"
        "\"#/components/schemas/Meta\"}},\"required\":[\"error\","
        "\"meta\"]}}");

    crm_oa_set(oa,
               json_object_get(json_object_get(json_object_get(
                   json_object_get(json_object_get(oa->schemas, "Error"),
                                   "properties"),
                   "error"), "properties"), "code"),
               "enum", crm_oa_error_codes(NGX_MAX_UINT32_VALUE));

    /* generic responses */

    crm_oa_set(oa, oa->responses, "Data",
               json_pack("{s:s,s:{s:o},s:{s:{s:o}}}",
                         "description", "OK.",
                         "headers",
                           "X-Request-Id",
                           crm_oa_ref("headers", "X-Request-Id"),
                         "content", "application/json",
                           "schema", crm_oa_ref("schemas", "Data")));

    crm_oa_set(oa, oa->responses, "DataAccepted",
               json_pack("{s:s,s:{s:o},s:{s:{s:o}}}",
                         "description", "Accepted: done later.",
                         "headers",
                           "X-Request-Id",
                           crm_oa_ref("headers", "X-Request-Id"),
                         "content", "application/json",
                           "schema", crm_oa_ref("schemas", "Data")));

    crm_oa_set(oa, oa->responses, "NoContent",
               json_pack("{s:s,s:{s:o}}",
                         "description", "Done; no body.",
                         "headers",
                           "X-Request-Id",
                           crm_oa_ref("headers", "X-Request-Id")));

    crm_oa_set(oa, oa->responses, "NotModified",
               json_pack("{s:s,s:{s:o,s:o}}",
                         "description", "If-None-Match named the current "
                         "version; no body.",
                         "headers",
                           "X-Request-Id",
                           crm_oa_ref("headers", "X-Request-Id"),
                           "ETag", crm_oa_ref("headers", "ETag")));

    /* list parameters, from the query parser's own table */

    for (k = 0; /* void */; k++) {
        code = crm_query_parameter(k);
        if (code == NULL) {
            break;
        }

        schema = NULL;

        for (lp = crm_oa_list_params; lp->name != NULL; lp++) {
            if (ngx_strcmp(lp->name, code) == 0) {
                schema = json_loads(lp->schema, 0, &err);
                break;
            }
        }

        if (lp->name == NULL) {
            schema = json_pack("{s:s,s:s}", "type", "string",
                               "format", "date-time");
        }

        crm_oa_set(oa, oa->params, code,
                   json_pack("{s:s,s:s,s:s,s:o}",
                             "name", code,
                             "in", "query",
                             "description", lp->name ? lp->description
                             : "A shorthand filter on createdAt or "
                               "updatedAt (after: gt, before: lt).",
                             "schema", schema));
    }

    crm_oa_set(oa, oa->params, "Idempotency-Key",
               json_pack("{s:s,s:s,s:s,s:{s:s,s:i,s:i}}",
                         "name", "Idempotency-Key",
                         "in", "header",
                         "description", "1..255 printable ASCII: the first "
                         "response is stored for 24 h and replayed for the "
                         "same key (Idempotent-Replayed: true); the same key "
                         "with another request is 422 "
                         "IDEMPOTENCY_KEY_REUSED, and 409 while the first "
                         "runs.",
                         "schema", "type", "string",
                                   "minLength", 1, "maxLength", 255));

    crm_oa_set(oa, oa->params, "If-Match",
               json_pack("{s:s,s:s,s:s,s:{s:s}}",
                         "name", "If-Match",
                         "in", "header",
                         "description", "Write only that version (ETag); "
                         "another is 412 PRECONDITION_FAILED.",
                         "schema", "type", "string"));

    crm_oa_set(oa, oa->params, "If-None-Match",
               json_pack("{s:s,s:s,s:s,s:{s:s}}",
                         "name", "If-None-Match",
                         "in", "header",
                         "description", "The current ETag (or *): 304.",
                         "schema", "type", "string"));

    crm_oa_set(oa, oa->params, "X-Request-Id",
               json_pack("{s:s,s:s,s:s,s:{s:s,s:s}}",
                         "name", "X-Request-Id",
                         "in", "header",
                         "description", "Kept when 1..128 characters of "
                         "[A-Za-z0-9._:-].",
                         "schema", "type", "string",
                                   "pattern", "^[A-Za-z0-9._:-]{1,128}$"));
}


/* components/responses of the errors, by status */

static const crm_oa_error_t  crm_oa_error_responses[] = {
    { "BadRequest", 400, NULL },
    { "Unauthenticated", 401, "WWW-Authenticate" },
    { "Forbidden", 403, NULL },
    { "NotFound", 404, NULL },
    { "Conflict", 409, NULL },
    { "PreconditionFailed", 412, NULL },
    { "PayloadTooLarge", 413, NULL },
    { "UnsupportedMediaType", 415, NULL },
    { "Unprocessable", 422, NULL },
    { "RateLimited", 429, "Retry-After" },
    { "Unavailable", 503, "Retry-After" },
    { "Error", 0, NULL },
    { NULL, 0, NULL }
};


static void
crm_oa_errors(crm_oa_t *oa)
{
    char                   desc[512];
    json_t                *codes, *headers, *examples, *code;
    size_t                 i;
    const crm_oa_error_t  *e;

    for (e = crm_oa_error_responses; e->name != NULL; e++) {
        codes = crm_oa_error_codes(e->status);
        headers = json_pack("{s:o}", "X-Request-Id",
                            crm_oa_ref("headers", "X-Request-Id"));
        examples = json_object();

        if (codes == NULL || headers == NULL || examples == NULL) {
            oa->failed = 1;
            json_decref(codes);
            json_decref(headers);
            json_decref(examples);
            return;
        }

        if (e->header != NULL) {
            json_object_set_new(headers, e->header,
                                crm_oa_ref("headers", e->header));
        }

        if (e->status == 429) {
            json_object_set_new(headers, "X-RateLimit-Limit",
                                crm_oa_ref("headers", "X-RateLimit-Limit"));
            json_object_set_new(headers, "X-RateLimit-Remaining",
                                crm_oa_ref("headers",
                                           "X-RateLimit-Remaining"));
            json_object_set_new(headers, "X-RateLimit-Reset",
                                crm_oa_ref("headers", "X-RateLimit-Reset"));
        }

        json_array_foreach(codes, i, code) {
            json_object_set_new(examples, json_string_value(code),
                json_pack("{s:{s:{s:s,s:i,s:s,s:{}},s:{s:s,s:s}}}",
                          "value",
                            "error",
                              "code", json_string_value(code),
                              "status", e->status ? (int) e->status : 418,
                              "message", "what went wrong, for people",
                              "details",
                            "meta",
                              "requestId", "req_0123456789abcdef01234567",
                              "timestamp", "2026-01-15T10:30:00.000Z"));
        }

        if (e->status == 0) {
            ngx_snprintf((u_char *) desc, sizeof(desc),
                         "An error: any code of the catalog "
                         "(info.description), with its status.%Z");

        } else {
            ngx_snprintf((u_char *) desc, sizeof(desc),
                         "An error with status %ui (codes: see the "
                         "examples).%Z", e->status);
        }

        crm_oa_set(oa, oa->responses, e->name,
                   json_pack("{s:s,s:o,s:{s:{s:o,s:o}}}",
                             "description", desc,
                             "headers", headers,
                             "content", "application/json",
                               "schema", crm_oa_ref("schemas", "Error"),
                               "examples", examples));

        json_decref(codes);
    }
}


/*
 * the catalog's codes of one status; 0: those of any other status
 * (HTTP_ERROR); NGX_MAX_UINT32_VALUE: every code
 */

static json_t *
crm_oa_error_codes(ngx_uint_t status)
{
    json_t      *codes;
    ngx_uint_t   k, st;
    const char  *code;

    codes = json_array();

    for (k = 0; codes != NULL; k++) {
        code = crm_http_error_code(k, &st);
        if (code == NULL) {
            break;
        }

        if (status == NGX_MAX_UINT32_VALUE
            || (status == 0 ? st == 0 : st == status))
        {
            json_array_append_new(codes, json_string(code));
        }
    }

    return codes;
}


/* ---- paths: every row of the route table, instantiated ------------- */


static void
crm_oa_paths(crm_oa_t *oa, crm_route_def_t *table)
{
    ngx_uint_t        i, n, k, nsub;
    crm_resource_t   *all;
    crm_route_def_t  *def;

    all = crm_schema_all(&n);

    for (def = table; def->pattern != NULL; def++) {

        if (def->kind == CRM_ROUTE_NONE) {
            continue;
        }

        if (ngx_strncmp(def->pattern, "/:resource", 10) != 0) {
            crm_oa_instantiate(oa, def, NULL, 0);
            continue;
        }

        for (i = 0; i < n; i++) {
            nsub = 1;

            if (ngx_strstr(def->pattern, ":link") != NULL) {
                nsub = all[i].nlinks;

            } else if (ngx_strstr(def->pattern, ":action") != NULL) {
                nsub = all[i].nactions;
            }

            for (k = 0; k < nsub; k++) {
                crm_oa_instantiate(oa, def, &all[i], k);
            }
        }
    }
}


/*
 * The row's pattern for "res" and its "sub"th link or action: a path,
 * kept when the router gives that path to this very row (the first row
 * that matches is the route)
 */

static void
crm_oa_instantiate(crm_oa_t *oa, crm_route_def_t *def, crm_resource_t *res,
    ngx_uint_t sub)
{
    u_char           *p, *q, *start, *end, *s, *send;
    ngx_str_t         name, seg[CRM_MAX_SEGMENTS], prev, target;
    ngx_uint_t        n, ids, i;
    crm_link_t       *link;
    crm_oa_path_t     path;
    crm_resource_t   *tres;
    u_char            samples[CRM_OA_PATH_MAX];

    ngx_memzero(&path, sizeof(crm_oa_path_t));

    path.def = def;
    q = (u_char *) path.path;
    end = q + CRM_OA_PATH_MAX - 1;
    s = samples;
    send = samples + sizeof(samples);
    n = 0;
    ids = 0;
    ngx_str_null(&prev);

    for (p = (u_char *) def->pattern; *p != '\0'; /* void */) {

        if (*p == '/') {
            p++;
        }

        start = p;

        while (*p != '\0' && *p != '/') {
            p++;
        }

        name.data = start;
        name.len = p - start;

        if (n == CRM_MAX_SEGMENTS - 1) {
            return;
        }

        seg[n].data = s;

        if (name.data[0] != ':') {
            q = ngx_slprintf(q, end, "/%V", &name);
            s = ngx_slprintf(s, send, "%V", &name);

        } else if (ngx_strncmp(name.data, ":resource", name.len) == 0) {

            if (n == 0) {
                q = ngx_slprintf(q, end, "/%V", &res->name);
                s = ngx_slprintf(s, send, "%V", &res->name);

            } else {
                q = ngx_slprintf(q, end, "/{name}");
                s = ngx_slprintf(s, send, "contacts");
                path.param_name = 1;
            }

        } else if (ngx_strncmp(name.data, ":object", name.len) == 0) {
            q = ngx_slprintf(q, end, "/{object}");
            s = ngx_slprintf(s, send, "contacts");
            path.param_object = 1;

        } else if (ngx_strncmp(name.data, ":id", name.len) == 0) {

            if (ids++ == 0) {
                q = ngx_slprintf(q, end, "/{id}");

            } else {
                /* {contactId}: after a link, its target's singular */

                link = (res != NULL) ? crm_schema_link(res, &prev) : NULL;
                tres = NULL;

                if (link != NULL) {
                    target.data = (u_char *) link->target;
                    target.len = ngx_strlen(link->target);
                    tres = crm_schema_find(&target);
                }

                if (tres == NULL) {
                    ngx_cpystrn((u_char *) path.target_id,
                                (u_char *) "targetId", CRM_OA_NAME_MAX);

                } else {
                    crm_oa_pascal(path.target_id, CRM_OA_NAME_MAX - 2,
                                  &tres->singular);
                    path.target_id[0] = ngx_tolower(path.target_id[0]);
                    ngx_cpystrn((u_char *) path.target_id
                                + ngx_strlen(path.target_id),
                                (u_char *) "Id", 3);
                }

                q = ngx_slprintf(q, end, "/{%s}", path.target_id);
            }

            s = ngx_slprintf(s, send, "%s", CRM_OA_SAMPLE_ID);

        } else if (ngx_strncmp(name.data, ":link", name.len) == 0) {
            q = ngx_slprintf(q, end, "/%V", &res->links[sub].name);
            s = ngx_slprintf(s, send, "%V", &res->links[sub].name);

        } else if (ngx_strncmp(name.data, ":action", name.len) == 0) {
            q = ngx_slprintf(q, end, "/%V", &res->actions[sub].name);
            s = ngx_slprintf(s, send, "%V", &res->actions[sub].name);

        } else {
            return;
        }

        seg[n].len = s - seg[n].data;
        prev = seg[n];
        n++;
    }

    *q = '\0';

    if (crm_route_segments(oa->table, seg, n, &path.rt) != NGX_OK
        || path.rt.def != def)
    {
        return;
    }

    /* the tag: the first segment */

    for (i = 1; path.path[i] != '\0' && path.path[i] != '/'
                && i < CRM_OA_NAME_MAX; i++)
    {
        path.tag[i - 1] = path.path[i];
    }

    crm_oa_path(oa, &path);
}


/* paths/<path>: its operations, one per method the row serves */

static void
crm_oa_path(crm_oa_t *oa, crm_oa_path_t *p)
{
    char             desc[256];
    json_t          *item, *tag;
    size_t           i;
    ngx_str_t        name;
    crm_route_def_t *def;
    crm_resource_t  *res;

    def = p->def;

    item = json_object();
    if (item == NULL) {
        oa->failed = 1;
        return;
    }

    if (def->get != NULL) {
        crm_oa_set(oa, item, "get", crm_oa_operation(oa, p, CRM_OA_GET));
    }

    if (def->post != NULL) {
        crm_oa_set(oa, item, "post", crm_oa_operation(oa, p, CRM_OA_POST));
    }

    if (def->put != NULL) {
        crm_oa_set(oa, item, "put", crm_oa_operation(oa, p, CRM_OA_PUT));
        crm_oa_set(oa, item, "patch",
                   crm_oa_operation(oa, p, CRM_OA_PATCH));
    }

    if (def->delete != NULL) {
        crm_oa_set(oa, item, "delete",
                   crm_oa_operation(oa, p, CRM_OA_DELETE));
    }

    crm_oa_set(oa, oa->paths, p->path, item);

    json_array_foreach(oa->tags, i, tag) {
        if (ngx_strcmp(json_string_value(json_object_get(tag, "name")),
                       p->tag)
            == 0)
        {
            return;
        }
    }

    name.data = (u_char *) p->tag;
    name.len = ngx_strlen(p->tag);
    res = crm_schema_find(&name);

    if (res != NULL) {
        ngx_snprintf((u_char *) desc, sizeof(desc),
                     "The %V resource (descriptor: %V).%Z",
                     &res->name, &res->singular);

    } else {
        ngx_snprintf((u_char *) desc, sizeof(desc),
                     "The %s routes.%Z", p->tag);
    }

    json_array_append_new(oa->tags,
                          json_pack("{s:s,s:s}", "name", p->tag,
                                    "description", desc));
}


static json_t *
crm_oa_resp(const char *name)
{
    return crm_oa_ref("responses", name);
}


/* what a literal last segment of an item route does */

static const char *
crm_oa_item_summary(const char *path)
{
    const char  *last;

    last = strrchr(path, '/');

    if (last == NULL) {
        return NULL;
    }

    if (ngx_strcmp(last, "/rotate-secret") == 0) {
        return "Rotate the signing secret (the new one is shown once)";
    }

    if (ngx_strcmp(last, "/test") == 0) {
        return "Send a test event";
    }

    if (ngx_strcmp(last, "/retry") == 0) {
        return "Retry a delivery";
    }

    return NULL;
}


static json_t *
crm_oa_operation(crm_oa_t *oa, crm_oa_path_t *p, ngx_uint_t method)
{
    char             id[CRM_OA_PATH_MAX], summary[CRM_OA_PATH_MAX];
    char             sname[CRM_OA_NAME_MAX], tname[CRM_OA_NAME_MAX];
    char             key[CRM_OA_NAME_MAX + 16];
    char            *d;
    json_t          *op, *params, *responses, *body, *list;
    ngx_uint_t       i, up, write, kind, flags, listing, n;
    const char      *src, *verb;
    crm_resource_t  *res, *target, *all;

    kind = p->def->kind;
    flags = p->def->flags;
    res = p->rt.res;
    target = p->rt.target;
    write = (method != CRM_OA_GET);

    sname[0] = '\0';
    tname[0] = '\0';

    if (res != NULL) {
        crm_oa_pascal(sname, sizeof(sname), &res->singular);
    }

    if (target != NULL) {
        crm_oa_pascal(tname, sizeof(tname), &target->singular);
    }

    /* operationId: the method and the path in camel case */

    d = id;
    d = (char *) ngx_cpystrn((u_char *) d,
                             (u_char *) crm_oa_methods[method], 8);
    up = 1;

    for (src = p->path; *src != '\0' && d < id + sizeof(id) - 4; src++) {
        if (*src == '/' || *src == '-' || *src == '.' || *src == '_') {
            up = 1;
            continue;
        }

        if (*src == '{') {
            d = (char *) ngx_cpymem(d, "By", 2);
            up = 1;
            continue;
        }

        if (*src == '}') {
            continue;
        }

        *d++ = up ? ngx_toupper(*src) : *src;
        up = 0;
    }

    *d = '\0';

    /* summary */

    verb = NULL;
    listing = 0;

    switch (kind) {

    case CRM_ROUTE_COLLECTION:
        if (method == CRM_OA_GET) {
            ngx_snprintf((u_char *) summary, sizeof(summary),
                         "List %V%Z", &res->name);
            listing = 1;

        } else if (flags & CRM_ROUTE_ACCEPTED) {
            ngx_snprintf((u_char *) summary, sizeof(summary),
                         "Queue a new %V (202)%Z", &res->singular);

        } else {
            ngx_snprintf((u_char *) summary, sizeof(summary),
                         "Create a %V%Z", &res->singular);
        }
        break;

    case CRM_ROUTE_ITEM:
        verb = (method == CRM_OA_GET) ? "Get"
               : (method == CRM_OA_DELETE)
                 ? (res->revokes ? "Delete (and revoke)" : "Delete")
               : (method == CRM_OA_PUT) ? "Update (PUT: the fields sent)"
               : (method == CRM_OA_PATCH) ? "Update (the fields sent)"
               : crm_oa_item_summary(p->path);

        ngx_snprintf((u_char *) summary, sizeof(summary), "%s: %V%Z",
                     verb ? verb : "Act on", &res->singular);
        break;

    case CRM_ROUTE_LINK:
        ngx_snprintf((u_char *) summary, sizeof(summary), "%s the %V of a "
                     "%V%Z",
                     (method == CRM_OA_GET) ? "List"
                     : (method == CRM_OA_POST) ? "Add to" : "Remove from",
                     &p->rt.link->name, &res->singular);
        listing = (method == CRM_OA_GET);
        break;

    case CRM_ROUTE_ITEM_ACTION:
        ngx_snprintf((u_char *) summary, sizeof(summary), "%V a %V%Z",
                     &p->rt.item_action->name, &res->singular);
        break;

    case CRM_ROUTE_BULK:
        ngx_snprintf((u_char *) summary, sizeof(summary),
                     "Create, update and delete %V in bulk%Z", &res->name);
        break;

    case CRM_ROUTE_HEALTH:
        ngx_cpystrn((u_char *) summary,
                    (u_char *) "Liveness and dependencies", sizeof(summary));
        break;

    case CRM_ROUTE_SEARCH:
        ngx_cpystrn((u_char *) summary,
                    (u_char *) "Search every searchable resource",
                    sizeof(summary));
        break;

    case CRM_ROUTE_ANALYTICS:
        ngx_snprintf((u_char *) summary, sizeof(summary),
                     "Email analytics: %s%Z", p->path + 11);
        break;

    case CRM_ROUTE_METADATA:
        ngx_cpystrn((u_char *) summary,
                    (u_char *) (res ? "Describe a resource"
                                    : "Describe every resource"),
                    sizeof(summary));
        break;

    case CRM_ROUTE_ACTION:
        ngx_snprintf((u_char *) summary, sizeof(summary), "%s%Z",
                     (p->def->action == CRM_ACTION_LOGIN)
                     ? "Log in: a session token"
                     : (p->def->action == CRM_ACTION_REFRESH)
                       ? "A new session token for this one"
                       : "End this session");
        break;

    case CRM_ROUTE_OPENAPI:
        ngx_cpystrn((u_char *) summary,
                    (u_char *) "This OpenAPI document (with a credential: "
                    "with the workspace's custom fields)", sizeof(summary));
        break;

    default:
        ngx_snprintf((u_char *) summary, sizeof(summary), "%s%Z", p->path);
        break;
    }

    op = json_pack("{s:[s],s:s,s:s}",
                   "tags", p->tag,
                   "summary", summary,
                   "operationId", id);

    params = json_array();
    responses = json_object();

    if (op == NULL || params == NULL || responses == NULL) {
        json_decref(op);
        json_decref(params);
        json_decref(responses);
        return NULL;
    }

    /* security */

    if (flags & CRM_ROUTE_PUBLIC) {
        json_object_set_new(op, "security", json_array());

    } else if (flags & CRM_ROUTE_ANONYMOUS) {
        json_object_set_new(op, "security",
                            json_pack("[{},{s:[]},{s:[]}]",
                                      "ApiKey", "Bearer"));
    }

    /* path parameters */

    if (p->param_name) {
        all = crm_schema_all(&n);
        list = json_array();

        for (i = 0; list != NULL && i < n; i++) {
            if (!all[i].nested) {
                json_array_append_new(list, json_stringn(
                    (char *) all[i].name.data, all[i].name.len));
            }
        }

        json_array_append_new(params,
            json_pack("{s:s,s:s,s:b,s:{s:s,s:o}}",
                      "name", "name", "in", "path", "required", 1,
                      "schema", "type", "string", "enum", list));
    }

    if (p->param_object) {
        all = crm_schema_all(&n);
        list = json_array();

        for (i = 0; list != NULL && i < n; i++) {
            if (crm_schema_custom(&all[i])) {
                json_array_append_new(list, json_stringn(
                    (char *) all[i].name.data, all[i].name.len));
            }
        }

        json_array_append_new(params,
            json_pack("{s:s,s:s,s:b,s:s,s:{s:s,s:o}}",
                      "name", "object", "in", "path", "required", 1,
                      "description", "A resource with custom fields.",
                      "schema", "type", "string", "enum", list));
    }

    if (ngx_strstr(p->path, "{id}") != NULL) {
        json_array_append_new(params,
            json_pack("{s:s,s:s,s:b,s:{s:s}}",
                      "name", "id", "in", "path", "required", 1,
                      "schema", "type", "string"));
    }

    if (p->target_id[0] != '\0') {
        json_array_append_new(params,
            json_pack("{s:s,s:s,s:b,s:{s:s}}",
                      "name", p->target_id, "in", "path", "required", 1,
                      "schema", "type", "string"));
    }

    /* query and header parameters */

    if (listing) {
        for (i = 0; /* void */; i++) {
            src = crm_query_parameter(i);
            if (src == NULL) {
                break;
            }

            if (ngx_strcmp(src, "q") == 0
                && !crm_sql_searchable(target ? target : res))
            {
                /* 400 not_searchable there */
                continue;
            }

            json_array_append_new(params, crm_oa_ref("parameters", src));
        }

        crm_oa_filters(oa, target ? target : res, params);
    }

    if (kind == CRM_ROUTE_ITEM && method == CRM_OA_GET) {
        json_array_append_new(params, crm_oa_ref("parameters", "fields"));

        if (res->versioned) {
            json_array_append_new(params,
                                  crm_oa_ref("parameters", "If-None-Match"));
        }
    }

    if (kind == CRM_ROUTE_SEARCH) {
        json_array_append_new(params,
            json_pack("{s:s,s:s,s:b,s:{s:s,s:i,s:i}}",
                      "name", "q", "in", "query", "required", 1,
                      "schema", "type", "string",
                                "minLength", 3, "maxLength", 200));
        json_array_append_new(params,
            json_pack("{s:s,s:s,s:s,s:{s:s}}",
                      "name", "types", "in", "query",
                      "description", "Resources to search, "
                      "comma-separated (default: every searchable one "
                      "the credential may read).",
                      "schema", "type", "string"));
        json_array_append_new(params, crm_oa_ref("parameters", "limit"));
    }

    if (kind == CRM_ROUTE_ANALYTICS && p->rt.res == NULL
        && ngx_strstr(p->path, "{id}") == NULL)
    {
        json_array_append_new(params,
            json_pack("{s:s,s:s,s:{s:s,s:s}}",
                      "name", "from", "in", "query",
                      "schema", "type", "string", "format", "date-time"));
        json_array_append_new(params,
            json_pack("{s:s,s:s,s:{s:s,s:s}}",
                      "name", "to", "in", "query",
                      "schema", "type", "string", "format", "date-time"));
        json_array_append_new(params,
            json_pack("{s:s,s:s,s:{s:s,s:[s,s,s]}}",
                      "name", "interval", "in", "query",
                      "schema", "type", "string",
                                "enum", "hour", "day", "week"));
        json_array_append_new(params,
            json_pack("{s:s,s:s,s:{s:s,s:s}}",
                      "name", "campaignId", "in", "query",
                      "schema", "type", "string", "format", "uuid"));
    }

    if ((method == CRM_OA_POST || method == CRM_OA_PATCH)
        && !(flags & (CRM_ROUTE_PUBLIC|CRM_ROUTE_NO_PERMIT|
                      CRM_ROUTE_ANONYMOUS)))
    {
        json_array_append_new(params,
                              crm_oa_ref("parameters", "Idempotency-Key"));
    }

    if ((kind == CRM_ROUTE_ITEM || kind == CRM_ROUTE_LINK)
        && write && res != NULL && res->versioned
        && (method != CRM_OA_POST || kind == CRM_ROUTE_LINK))
    {
        json_array_append_new(params, crm_oa_ref("parameters", "If-Match"));
    }

    json_array_append_new(params, crm_oa_ref("parameters", "X-Request-Id"));

    json_object_set_new(op, "parameters", params);

    /* request body and responses */

    body = NULL;

    switch (kind) {

    case CRM_ROUTE_COLLECTION:
        if (method == CRM_OA_GET) {
            json_object_set_new(responses, "200",
                                crm_oa_resource_response(oa, res, "List"));
            break;
        }

        crm_oa_input(oa, res, 1);
        ngx_snprintf((u_char *) key, sizeof(key), "%sCreate%Z", sname);
        body = crm_oa_ref("schemas", key);

        if (flags & CRM_ROUTE_ACCEPTED) {
            json_object_set_new(responses, "202",
                                crm_oa_resource_response(oa, res,
                                                         "Accepted"));

        } else {
            json_object_set_new(responses, "201",
                                crm_oa_resource_response(oa, res,
                                                         "Created"));
        }
        break;

    case CRM_ROUTE_ITEM:
        if (method == CRM_OA_DELETE) {
            json_object_set_new(responses, "204", crm_oa_resp("NoContent"));
            break;
        }

        if (method == CRM_OA_PUT || method == CRM_OA_PATCH) {
            crm_oa_input(oa, res, 0);
            ngx_snprintf((u_char *) key, sizeof(key), "%sUpdate%Z", sname);
            body = crm_oa_ref("schemas", key);
        }

        if (method == CRM_OA_POST && (flags & CRM_ROUTE_ACCEPTED)) {
            json_object_set_new(responses, "202",
                                crm_oa_resp("DataAccepted"));
            break;
        }

        json_object_set_new(responses, "200",
                            crm_oa_resource_response(oa, res, ""));

        if (method == CRM_OA_GET && res->versioned) {
            json_object_set_new(responses, "304",
                                crm_oa_resp("NotModified"));
        }
        break;

    case CRM_ROUTE_LINK:
        if (method == CRM_OA_GET) {
            json_object_set_new(responses, "200",
                                crm_oa_resource_response(oa, target,
                                                         "List"));
            break;
        }

        if (method == CRM_OA_POST) {
            body = crm_oa_ref("schemas", "LinkRequest");
        }

        json_object_set_new(responses, "200",
                            crm_oa_resource_response(oa, res, ""));
        break;

    case CRM_ROUTE_ITEM_ACTION:
        body = json_pack("{s:s,s:s}", "type", "object", "description",
                         "The action's options, if any.");

        if (p->rt.item_action->record) {
            json_object_set_new(responses, "200",
                                crm_oa_resource_response(oa, res, ""));

        } else {
            json_object_set_new(responses, "200", crm_oa_resp("Data"));
        }
        break;

    case CRM_ROUTE_BULK:
        body = crm_oa_ref("schemas", "BulkRequest");
        json_object_set_new(responses, "200",
            json_pack("{s:s,s:{s:{s:o}}}",
                      "description", "Every operation succeeded.",
                      "content", "application/json",
                        "schema", crm_oa_ref("schemas", "BulkResponse")));
        json_object_set_new(responses, "207",
            json_pack("{s:s,s:{s:{s:o}}}",
                      "description", "Some operations failed: each "
                      "result says.",
                      "content", "application/json",
                        "schema", crm_oa_ref("schemas", "BulkResponse")));
        break;

    case CRM_ROUTE_HEALTH:
        json_object_set_new(responses, "200",
            json_pack("{s:s,s:{s:{s:o}}}",
                      "description", "ok or degraded.",
                      "content", "application/json",
                        "schema", crm_oa_ref("schemas", "Health")));
        json_object_set_new(responses, "503",
            json_pack("{s:s,s:{s:{s:o}}}",
                      "description", "PostgreSQL is down.",
                      "content", "application/json",
                        "schema", crm_oa_ref("schemas", "Health")));
        break;

    case CRM_ROUTE_SEARCH:
        json_object_set_new(responses, "200",
            json_pack("{s:s,s:{s:{s:o}}}",
                      "description", "The best matches first.",
                      "content", "application/json",
                        "schema", crm_oa_ref("schemas", "SearchResults")));
        break;

    case CRM_ROUTE_ACTION:
        if (p->def->action == CRM_ACTION_LOGIN) {
            body = crm_oa_ref("schemas", "LoginRequest");
        }

        if (p->def->action == CRM_ACTION_LOGOUT) {
            json_object_set_new(responses, "204", crm_oa_resp("NoContent"));

        } else {
            json_object_set_new(responses, "200",
                json_pack("{s:s,s:{s:{s:o}}}",
                          "description", "A session.",
                          "content", "application/json",
                            "schema", crm_oa_ref("schemas", "Session")));
        }
        break;

    case CRM_ROUTE_OPENAPI:
        json_object_set_new(responses, "200",
            json_pack("{s:s,s:{s:{s:o}}}",
                      "description", "This document.",
                      "content", "application/json",
                        "schema", crm_oa_ref("schemas",
                                             "OpenAPIDocument")));
        break;

    default: /* analytics, metadata */
        json_object_set_new(responses, "200", crm_oa_resp("Data"));
        break;
    }

    if (body != NULL
        && !(flags & CRM_ROUTE_NO_BODY)
        && (method == CRM_OA_POST || method == CRM_OA_PUT
            || method == CRM_OA_PATCH))
    {
        json_object_set_new(op, "requestBody",
            json_pack("{s:b,s:{s:{s:o}}}",
                      "required", kind != CRM_ROUTE_ITEM_ACTION,
                      "content", "application/json", "schema", body));

    } else {
        json_decref(body);
    }

    crm_oa_add_errors(oa, responses, p, method);

    json_object_set_new(op, "responses", responses);

    return op;
}


static void
crm_oa_add_errors(crm_oa_t *oa, json_t *responses, crm_oa_path_t *p,
    ngx_uint_t method)
{
    ngx_uint_t  flags, kind, write, body;

    flags = p->def->flags;
    kind = p->def->kind;
    write = (method != CRM_OA_GET);
    body = write && method != CRM_OA_DELETE && !(flags & CRM_ROUTE_NO_BODY);

    json_object_set_new(responses, "400", crm_oa_resp("BadRequest"));

    if (!(flags & CRM_ROUTE_PUBLIC) || kind == CRM_ROUTE_ACTION) {
        json_object_set_new(responses, "401",
                            crm_oa_resp("Unauthenticated"));
        json_object_set_new(responses, "429", crm_oa_resp("RateLimited"));
    }

    if (!(flags & (CRM_ROUTE_PUBLIC|CRM_ROUTE_ANONYMOUS))) {
        json_object_set_new(responses, "403", crm_oa_resp("Forbidden"));
    }

    if (ngx_strchr(p->path, '{') != NULL) {
        json_object_set_new(responses, "404", crm_oa_resp("NotFound"));
    }

    if (write && kind != CRM_ROUTE_ACTION) {
        json_object_set_new(responses, "409", crm_oa_resp("Conflict"));
    }

    if (write && (kind == CRM_ROUTE_ITEM || kind == CRM_ROUTE_LINK)
        && p->rt.res != NULL && p->rt.res->versioned)
    {
        json_object_set_new(responses, "412",
                            crm_oa_resp("PreconditionFailed"));
    }

    if (body) {
        json_object_set_new(responses, "413",
                            crm_oa_resp("PayloadTooLarge"));
        json_object_set_new(responses, "415",
                            crm_oa_resp("UnsupportedMediaType"));
    }

    if (body || method == CRM_OA_POST || method == CRM_OA_PATCH) {
        json_object_set_new(responses, "422", crm_oa_resp("Unprocessable"));
    }

    if (json_object_get(responses, "503") == NULL) {
        json_object_set_new(responses, "503", crm_oa_resp("Unavailable"));
    }

    json_object_set_new(responses, "default", crm_oa_resp("Error"));
}
