
/*
 * libFuzzer target: request body validation (src/crm_validate.c) against
 * every resource descriptor of src/crm_schema.c, and the SQL planner's
 * INSERT and UPDATE (src/crm_sql.c) fed with what it accepts.  See
 * fuzz/README.
 *
 * The first byte of an input picks the resource, (byte & 0x7f) of
 * crm_schema_all(), and create (byte & 0x80) or update; the rest is the
 * body, parsed as crm_json_body() parses it.
 *
 * A body whose rules want custom-field definitions (crm_validate_needs())
 * is given a fixed set, as the handlers load them.
 *
 * What is checked besides the sanitizers: the return codes; that an
 * accepted body gives one value per field it names, of fields that are
 * writable, in the text form PostgreSQL reads for the field's type (a C
 * string without NUL, valid UTF-8, within the field's limits); that a
 * refused one gives errors with a field, a known code and a message in
 * UTF-8; and that the planner builds a well-formed statement of what is
 * accepted.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>
#include <math.h>
#include "model/crm.h"
#include "model/crm_merge.h"
#include "common.h"


static void fuzz_validate(crm_resource_t *res, json_t *body,
    ngx_uint_t create);
static void fuzz_value(crm_value_t *v, json_t *body, ngx_uint_t create);
static void fuzz_field_error(crm_resource_t *res, crm_field_error_t *e);
static size_t fuzz_chars(ngx_str_t *s);
static void fuzz_numbers(u_char *p, size_t len, json_t *body);
static ngx_uint_t fuzz_has_number(json_t *v);


static const char  *fuzz_codes[] = {
    "required", "invalid_type", "too_long", "too_short", "invalid_format",
    "invalid_value", "unknown_field", "read_only", "out_of_range",
    "invalid_merge_field", "unknown_merge_field", "not_a_filter",
    /* a campaign's audience filter: the list parser's codes */
    "conflicting_parameters", "duplicate_parameter", "invalid_encoding",
    "invalid_operator", "not_filterable", "not_searchable", "not_sortable",
    "too_many_filters", "too_many_sort_keys", "too_many_values",
    "unknown_operator", "unknown_parameter", NULL
};


/* custom-field definitions, as loaded, for the bodies that want them */

static const char  *fuzz_custom_json =
    "{\"contacts\": [{\"name\": \"tier\", \"type\": \"select\", "
    "\"options\": [\"gold\", \"silver\"]}, {\"name\": \"score\", "
    "\"type\": \"number\"}, {\"name\": \"born\", \"type\": \"date\"}, "
    "{\"name\": \"ok\", \"type\": \"boolean\"}, {\"name\": \"note\", "
    "\"type\": \"text\"}], \"companies\": [{\"name\": \"size\", "
    "\"type\": \"number\"}]}";

static json_t  *fuzz_custom;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char           *copy;
    json_t           *body;
    ngx_uint_t        n;
    json_error_t      jerr;
    crm_resource_t   *all;

    if (size == 0) {
        return 0;
    }

    all = crm_schema_all(&n);

    copy = fuzz_copy(data + 1, size - 1);

    body = json_loadb((char *) copy, size - 1, JSON_REJECT_DUPLICATES,
                      &jerr);

    if (body != NULL) {
        fuzz_numbers(copy, size - 1, body);
    }

    fuzz_free(copy, size - 1);

    if (body == NULL) {
        return 0;
    }

    /* crm_json_body() answers anything else 400 */

    if (json_is_object(body)) {
        fuzz_validate(&all[(data[0] & 0x7f) % n], body, data[0] & 0x80);
    }

    json_decref(body);

    return 0;
}


static void
fuzz_validate(crm_resource_t *res, json_t *body, ngx_uint_t create)
{
    u_char              *seen;
    ngx_int_t            rc;
    ngx_str_t            ws, id;
    ngx_uint_t           i, k;
    crm_stmt_t           st;
    ngx_pool_t          *pool;
    ngx_array_t          values, errors;
    crm_value_t         *v;
    crm_field_error_t   *e;

    pool = fuzz_pool();

    if (fuzz_custom == NULL) {
        fuzz_custom = json_loads(fuzz_custom_json, 0, NULL);
        fuzz_check(fuzz_custom != NULL, "the definitions load");
    }

    rc = crm_validate(pool, res, body, create,
                      crm_validate_needs(res, body) ? fuzz_custom : NULL,
                      &values, &errors);

    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED, "return code");

    if (rc == NGX_DECLINED) {
        fuzz_check(errors.nelts > 0, "declined: errors");

        e = errors.elts;

        for (i = 0; i < errors.nelts; i++) {
            fuzz_field_error(res, &e[i]);
        }

        ngx_destroy_pool(pool);
        return;
    }

    fuzz_check(errors.nelts == 0, "accepted: no errors");
    fuzz_check(values.nelts <= json_object_size(body), "one value a name");

    seen = calloc(res->nfields, 1);
    fuzz_check(seen != NULL, "calloc");

    v = values.elts;

    for (i = 0; i < values.nelts; i++) {
        fuzz_check(v[i].field >= res->fields
                   && v[i].field < res->fields + res->nfields,
                   "value: a field of the resource");

        k = crm_schema_field_index(res, v[i].field);
        fuzz_check(k < res->nfields && !seen[k], "value: once a field");
        seen[k] = 1;

        fuzz_value(&v[i], body, create);
    }

    /* what a create lacks is an error, never a missing value */

    for (i = 0; create && i < res->nfields; i++) {
        if ((res->fields[i].flags & CRM_F_REQUIRED)
            && !(res->fields[i].flags & (CRM_F_READONLY|CRM_F_HIDDEN)))
        {
            fuzz_check(seen[i], "create: required field present");
        }
    }

    free(seen);

    ngx_str_set(&ws, "11111111-1111-1111-1111-111111111111");
    ngx_str_set(&id, "22222222-2222-2222-2222-222222222222");

    ngx_memzero(&st, sizeof(crm_stmt_t));

    if (create) {
        fuzz_check(crm_sql_insert(pool, res, &ws, &values,
                                  CRM_SQL_COLUMNS, &st) == NGX_OK,
                   "crm_sql_insert");
        fuzz_check_stmt(&st, "crm_sql_insert");

    } else {
        fuzz_check(crm_sql_update(pool, res, &ws, &id, &values, NULL,
                                  CRM_SQL_JSON, &st)
                   == NGX_OK, "crm_sql_update");
        fuzz_check_stmt(&st, "crm_sql_update");
    }

    ngx_destroy_pool(pool);
}


/* a value as the planner binds it and PostgreSQL reads it */

static void
fuzz_value(crm_value_t *v, json_t *body, ngx_uint_t create)
{
    char          *end;
    json_t        *j, *e;
    size_t         i;
    ngx_str_t     *s;
    ngx_uint_t     ok;
    crm_field_t   *f;
    const char   **ev;
    json_error_t   jerr;

    f = v->field;
    s = &v->param.value;

    fuzz_check(!(f->flags & (CRM_F_READONLY|CRM_F_HIDDEN)),
               "value: writable field");
    fuzz_check(create || !(f->flags & CRM_F_CREATEONLY),
               "value: create-only field on update");

    j = json_object_getn(body, (char *) f->name.data, f->name.len);
    fuzz_check(j != NULL, "value: the body names the field");

    if (v->param.null) {
        fuzz_check(json_is_null(j), "null: null in the body");
        fuzz_check(!(f->flags & (CRM_F_REQUIRED|CRM_F_NOTNULL)),
                   "null: nullable field");
        return;
    }

    fuzz_check(s->data != NULL && s->data[s->len] == '\0'
               && ngx_strlen(s->data) == s->len,
               "value: a C string of its length");
    fuzz_check(fuzz_utf8(s) == NGX_OK || s->len == 0, "value: UTF-8");

    switch (f->type) {

    case CRM_FT_UUID:
        fuzz_check(crm_uuid_valid(s->data, s->len) == NGX_OK, "uuid");
        break;

    case CRM_FT_TEXT:
        fuzz_check(f->max_len == 0 || fuzz_chars(s) <= f->max_len,
                   "text: max_len");
        fuzz_check(s->len > 0 || !(f->flags & CRM_F_REQUIRED),
                   "text: required is not empty");
        break;

    case CRM_FT_EMAIL:
        fuzz_check(s->len <= 254 && ngx_strlchr(s->data, s->data + s->len,
                                                '@') != NULL, "email");
        break;

    case CRM_FT_ENUM:
        for (ev = f->enum_values, ok = 0; ev && *ev; ev++) {
            ok |= (ngx_strcmp(*ev, s->data) == 0);
        }

        fuzz_check(ok, "enum: one of the values");
        break;

    case CRM_FT_INT:
        fuzz_check(crm_value_check(CRM_FT_INT, s) == NGX_OK, "int");
        break;

    case CRM_FT_NUMERIC:
        fuzz_check(s->len > 0 && s->len < 32, "numeric: length");
        (void) strtod((char *) s->data, &end);
        fuzz_check(*end == '\0' && isfinite(strtod((char *) s->data, NULL)),
                   "numeric: a finite number");
        fuzz_check(ngx_strlchr(s->data, s->data + s->len, 'n') == NULL
                   && ngx_strlchr(s->data, s->data + s->len, 'i') == NULL,
                   "numeric: not nan or inf");
        break;

    case CRM_FT_BOOL:
        fuzz_check(crm_value_check(CRM_FT_BOOL, s) == NGX_OK, "bool");
        break;

    case CRM_FT_TIMESTAMP:
    case CRM_FT_DATE:
        fuzz_check(crm_value_check(f->type, s) == NGX_OK,
                   "timestamp or date");
        break;

    case CRM_FT_PASSWORD:
        fuzz_check(s->len <= 72 && fuzz_chars(s) >= 8, "password");
        break;

    case CRM_FT_TEXT_ARRAY:
    case CRM_FT_UUID_ARRAY:
    case CRM_FT_OBJECT:
    case CRM_FT_LIST:
        j = json_loadb((char *) s->data, s->len, 0, &jerr);
        fuzz_check(j != NULL, "JSON value: reads back");

        if (f->type == CRM_FT_OBJECT) {
            fuzz_check(json_is_object(j), "object");
            fuzz_check(f->max_len == 0 || s->len <= f->max_len,
                       "object: max_len");

        } else if (f->type == CRM_FT_LIST) {
            fuzz_check(json_is_array(j), "list");
            fuzz_check(f->max_len == 0 || s->len <= f->max_len,
                       "list: max_len");

        } else {
            fuzz_check(json_is_array(j), "array");
            fuzz_check(f->max_len == 0 || json_array_size(j) <= f->max_len,
                       "array: max_len");

            json_array_foreach(j, i, e) {
                fuzz_check(json_is_string(e), "array: strings");
                fuzz_check(f->type != CRM_FT_UUID_ARRAY
                           || crm_uuid_valid((u_char *) json_string_value(e),
                                             json_string_length(e))
                              == NGX_OK, "array: UUIDs");
            }
        }

        json_decref(j);
        break;

    default:
        fuzz_check(0, "value: a known type");
    }
}


/* an error as crm_http_field_errors() will render it */

static void
fuzz_field_error(crm_resource_t *res, crm_field_error_t *e)
{
    ngx_uint_t    ok;
    const char  **c;

    fuzz_check(e->field.data != NULL || e->field.len == 0, "error: field");
    fuzz_check(fuzz_utf8(&e->field) == NGX_OK, "error: field UTF-8");

    fuzz_check(e->code.data != NULL && e->code.len > 0, "error: code");

    for (c = fuzz_codes, ok = 0; *c; c++) {
        ok |= (ngx_strlen(*c) == e->code.len
               && ngx_strncmp(*c, e->code.data, e->code.len) == 0);
    }

    fuzz_check(ok, "error: a known code");

    fuzz_check(e->message.data != NULL && e->message.len > 0
               && e->message.len <= 1024, "error: message");
    fuzz_check(fuzz_utf8(&e->message) == NGX_OK, "error: message UTF-8");
}


static size_t
fuzz_chars(ngx_str_t *s)
{
    size_t  i, n;

    for (i = 0, n = 0; i < s->len; i++) {
        n += ((s->data[i] & 0xc0) != 0x80);
    }

    return n;
}


/*
 * crm_merge_numbers_as_text() of JSON jansson read (PostgreSQL's has no
 * NUL): JSON again, of the same kind, with no number left in it
 */

static void
fuzz_numbers(u_char *p, size_t len, json_t *body)
{
    json_t      *v;
    ngx_str_t    out;
    ngx_pool_t  *pool;

    /* jansson reads a NUL after a number but not after a string */

    if (memchr(p, '\0', len) != NULL) {
        return;
    }

    pool = fuzz_pool();

    fuzz_check(crm_merge_numbers_as_text(pool, p, len, &out) == NGX_OK
               && out.len <= 3 * len, "numbers as text: within its room");

    v = json_loadb((char *) out.data, out.len, 0, NULL);

    fuzz_check(v != NULL && json_typeof(v) == json_typeof(body),
               "numbers as text: JSON of the same kind");
    fuzz_check(!fuzz_has_number(v), "numbers as text: no number left");

    json_decref(v);
    ngx_destroy_pool(pool);
}


static ngx_uint_t
fuzz_has_number(json_t *v)
{
    size_t       i;
    json_t      *e;
    const char  *key;

    if (json_is_number(v)) {
        return 1;
    }

    if (json_is_array(v)) {
        json_array_foreach(v, i, e) {
            if (fuzz_has_number(e)) {
                return 1;
            }
        }
    }

    if (json_is_object(v)) {
        json_object_foreach(v, key, e) {
            if (fuzz_has_number(e)) {
                return 1;
            }
        }
    }

    return 0;
}
