
/*
 * ngx_http_crm_module: request body validation.
 *
 * A JSON object (jansson) checked against a resource descriptor ->
 * the text form of every value (crm_value_t), or every field error
 * (crm_field_error_t), all of them, not only the first.  Pure: no I/O.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include "model/crm.h"
#include "model/crm_addr.h"


#define CRM_VALIDATE_MSG_LEN      256
#define CRM_VALIDATE_EMAIL_MAX    254
#define CRM_VALIDATE_NVALUES      16
#define CRM_VALIDATE_COPIES_MAX   50        /* cc and bcc together */
#define CRM_VALIDATE_REAL_LEN     32        /* "%.17g" of any double */
#define CRM_VALIDATE_DEPTH        256       /* reals deeper: 17 digits */

/* fields that reject JSON null (CRM_F_NOTNULL: when crm.h has it) */
#ifdef CRM_F_NOTNULL
#define CRM_VALIDATE_NOTNULL      (CRM_F_REQUIRED|CRM_F_NOTNULL)
#else
#define CRM_VALIDATE_NOTNULL      CRM_F_REQUIRED
#endif

/* 2^63: the bounds of a bigint, as doubles */
#define CRM_VALIDATE_INT_LIMIT    9223372036854775808.0


typedef struct {
    ngx_pool_t               *pool;
    crm_resource_t           *res;
    ngx_array_t              *errors;
} crm_validate_t;


/*
 * Checks one non-null value of a field.  NGX_OK: "out" is its text
 * form; NGX_DECLINED: an error was recorded; NGX_ERROR: no memory.
 */

typedef ngx_int_t (*crm_validate_pt)(crm_validate_t *ctx, crm_field_t *f,
    ngx_str_t *name, json_t *v, ngx_str_t *out);


typedef struct {
    crm_validate_pt           check;
    const char               *expected;     /* "must be <expected>" */
} crm_validate_type_t;


static crm_field_t *crm_validate_field(crm_resource_t *res, ngx_str_t *name);
static ngx_int_t crm_validate_bounds(crm_validate_t *ctx, crm_field_t *f,
    ngx_str_t *name, double d);
static ngx_int_t crm_validate_range(crm_validate_t *ctx, crm_field_t *f,
    ngx_str_t *name, json_t *v, ngx_str_t *text);


typedef struct {
    ngx_str_t                 name;         /* the resource */
    crm_own_pt                check;
    crm_needs_pt              needs;        /* or NULL */
} crm_validate_own_t;


static crm_validate_own_t *crm_validate_own_find(crm_resource_t *res);
static ngx_int_t crm_validate_own(ngx_pool_t *pool, crm_resource_t *res,
    void *body, void *custom, ngx_array_t *errors);
static ngx_int_t crm_validate_email_send(ngx_pool_t *pool,
    crm_resource_t *res, void *body, void *custom, ngx_array_t *errors);
static ngx_int_t crm_validate_webhook(ngx_pool_t *pool, crm_resource_t *res,
    void *body, void *custom, ngx_array_t *errors);
static ngx_int_t crm_validate_add(ngx_pool_t *pool, ngx_array_t *errors,
    const char *part, const char *field, size_t len, ngx_str_t *code,
    ngx_str_t *message);
static ngx_int_t crm_validate_error(crm_validate_t *ctx, ngx_str_t *name,
    const char *code, const char *fmt, ...);
static ngx_int_t crm_validate_invalid_type(crm_validate_t *ctx,
    crm_field_t *f, ngx_str_t *name);
static ngx_int_t crm_validate_string(crm_validate_t *ctx, crm_field_t *f,
    ngx_str_t *name, json_t *v, ngx_str_t *out);
static ngx_int_t crm_validate_uuid(crm_validate_t *ctx, crm_field_t *f,
    ngx_str_t *name, json_t *v, ngx_str_t *out);
static ngx_int_t crm_validate_text(crm_validate_t *ctx, crm_field_t *f,
    ngx_str_t *name, json_t *v, ngx_str_t *out);
static ngx_int_t crm_validate_email(crm_validate_t *ctx, crm_field_t *f,
    ngx_str_t *name, json_t *v, ngx_str_t *out);
static ngx_int_t crm_validate_enum(crm_validate_t *ctx, crm_field_t *f,
    ngx_str_t *name, json_t *v, ngx_str_t *out);
static ngx_int_t crm_validate_int(crm_validate_t *ctx, crm_field_t *f,
    ngx_str_t *name, json_t *v, ngx_str_t *out);
static ngx_int_t crm_validate_numeric(crm_validate_t *ctx, crm_field_t *f,
    ngx_str_t *name, json_t *v, ngx_str_t *out);
static ngx_int_t crm_validate_bool(crm_validate_t *ctx, crm_field_t *f,
    ngx_str_t *name, json_t *v, ngx_str_t *out);
static ngx_int_t crm_validate_timestamp(crm_validate_t *ctx, crm_field_t *f,
    ngx_str_t *name, json_t *v, ngx_str_t *out);
static ngx_int_t crm_validate_date(crm_validate_t *ctx, crm_field_t *f,
    ngx_str_t *name, json_t *v, ngx_str_t *out);
static ngx_int_t crm_validate_array(crm_validate_t *ctx, crm_field_t *f,
    ngx_str_t *name, json_t *v, ngx_str_t *out);
static ngx_int_t crm_validate_object(crm_validate_t *ctx, crm_field_t *f,
    ngx_str_t *name, json_t *v, ngx_str_t *out);
static ngx_int_t crm_validate_password(crm_validate_t *ctx, crm_field_t *f,
    ngx_str_t *name, json_t *v, ngx_str_t *out);
static ngx_int_t crm_validate_integer_text(ngx_pool_t *pool, json_int_t n,
    ngx_str_t *out);
static int crm_validate_real(double d, char *buf, size_t size);
static int crm_validate_precision(json_t *v, ngx_uint_t depth);
static ngx_int_t crm_validate_copy(ngx_pool_t *pool, const char *s,
    size_t len, ngx_str_t *out);
static size_t crm_validate_utf8_len(const u_char *p, size_t len);
static ngx_int_t crm_validate_email_format(const u_char *p, size_t len);


/* indexed by crm_field_type_e */

static crm_validate_type_t  crm_validate_types[] = {
    { crm_validate_uuid,      "a UUID string" },
    { crm_validate_text,      "a string" },
    { crm_validate_email,     "a string (an e-mail address)" },
    { crm_validate_enum,      "a string" },
    { crm_validate_int,       "an integer" },
    { crm_validate_numeric,   "a number" },
    { crm_validate_bool,      "a boolean" },
    { crm_validate_timestamp, "an ISO 8601 timestamp string" },
    { crm_validate_date,      "a date string (YYYY-MM-DD)" },
    { crm_validate_array,     "an array of strings" },
    { crm_validate_object,    "an object" },
    { crm_validate_password,  "a string of 8 characters to 72 bytes" },
    { crm_validate_object,    "an array" },
    { crm_validate_array,     "an array of UUID strings" }
};


ngx_int_t
crm_validate(ngx_pool_t *pool, crm_resource_t *res, void *body,
    ngx_uint_t create, void *custom, ngx_array_t *values, ngx_array_t *errors)
{
    size_t                len;
    u_char               *seen;
    json_t               *obj, *v;
    ngx_int_t             rc;
    ngx_str_t             name, text;
    ngx_uint_t            i, k, n, kept;
    const char           *key;
    crm_field_t          *f;
    crm_value_t          *value;
    crm_validate_t        ctx;
    crm_field_error_t    *fe;
    crm_validate_type_t  *t;

    obj = body;

    if (ngx_array_init(values, pool, CRM_VALIDATE_NVALUES,
                       sizeof(crm_value_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_array_init(errors, pool, 4, sizeof(crm_field_error_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    seen = ngx_pcalloc(pool, res->nfields);
    if (seen == NULL) {
        return NGX_ERROR;
    }

    ctx.pool = pool;
    ctx.res = res;
    ctx.errors = errors;

    json_object_keylen_foreach(obj, key, len, v) {

        /* the name as the client wrote it, for the error details */

        if (crm_validate_copy(pool, key, len, &name) != NGX_OK) {
            return NGX_ERROR;
        }

        f = crm_validate_field(res, &name);

        if (f == NULL) {
            rc = crm_validate_error(&ctx, &name, "unknown_field",
                                    "is not a field of %V", &res->name);
            if (rc == NGX_ERROR) {
                return NGX_ERROR;
            }

            continue;
        }

        seen[crm_schema_field_index(res, f)] = 1;

        if ((f->flags & CRM_F_READONLY)
            || (!create && (f->flags & CRM_F_CREATEONLY)))
        {
            rc = crm_validate_error(&ctx, &name, "read_only",
                                    (f->flags & CRM_F_READONLY)
                                    ? "is read-only"
                                    : "is set at creation only");
            if (rc == NGX_ERROR) {
                return NGX_ERROR;
            }

            continue;
        }

        if (json_is_null(v)) {

            if (f->flags & CRM_VALIDATE_NOTNULL) {
                rc = crm_validate_error(&ctx, &name, "required",
                                        "is required and cannot be null");
                if (rc == NGX_ERROR) {
                    return NGX_ERROR;
                }

                continue;
            }

            ngx_str_null(&text);

        } else {

            if (f->type >= sizeof(crm_validate_types)
                           / sizeof(crm_validate_type_t))
            {
                return NGX_ERROR;
            }

            t = &crm_validate_types[f->type];

            rc = t->check(&ctx, f, &name, v, &text);

            if (rc == NGX_OK) {
                rc = crm_validate_range(&ctx, f, &name, v, &text);
            }

            if (rc == NGX_ERROR) {
                return NGX_ERROR;
            }

            if (rc == NGX_DECLINED) {
                continue;
            }
        }

        value = ngx_array_push(values);
        if (value == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(value, sizeof(crm_value_t));

        value->field = f;
        value->param.value = text;
        value->param.null = json_is_null(v) ? 1 : 0;
    }

    if (create) {
        for (i = 0; i < res->nfields; i++) {
            f = &res->fields[i];

            if ((f->flags & CRM_F_REQUIRED) == 0
                || (f->flags & (CRM_F_READONLY|CRM_F_HIDDEN))
                || seen[i])
            {
                continue;
            }

            if (crm_validate_error(&ctx, &f->name, "required", "is required")
                == NGX_ERROR)
            {
                return NGX_ERROR;
            }
        }
    }

    /*
     * the resource's own rules, with the fields' errors, so that all come
     * in one answer; a field already refused is not named again by them
     * (a template too long is not checked for merge fields too)
     */

    n = errors->nelts;

    if (crm_validate_own(pool, res, body, custom, errors) != NGX_OK) {
        return NGX_ERROR;
    }

    fe = errors->elts;
    kept = n;

    for (k = n; k < errors->nelts; k++) {
        for (i = 0; i < n; i++) {
            if (fe[k].field.len >= fe[i].field.len
                && ngx_strncmp(fe[k].field.data, fe[i].field.data,
                               fe[i].field.len)
                   == 0
                && (fe[k].field.len == fe[i].field.len
                    || fe[k].field.data[fe[i].field.len] == '.'))
            {
                break;
            }
        }

        if (i == n) {
            fe[kept++] = fe[k];
        }
    }

    errors->nelts = kept;

    return (errors->nelts > 0) ? NGX_DECLINED : NGX_OK;
}


/*
 * A resource's own rules, after its fields' (a table here rather than a
 * pointer in the descriptor: the rules use the descriptors of others)
 */

static crm_validate_own_t  crm_validate_owns[] = {
    { ngx_string("campaigns"), crm_campaign_check, crm_campaign_needs },
    { ngx_string("emails"), crm_validate_email_send, NULL },
    { ngx_string("webhooks"), crm_validate_webhook, NULL }
};


/*
 * A subscription's url can be requested (crm_addr_url_host(): http or
 * https, an IP address or a host name, a port from 1 to 65535, no user
 * info, no IPv4 part in octal) and its events' patterns name kinds that
 * have events: "contacts.created" (the path's plural), "zzz.created" or
 * "user.created" would match nothing.  What the server's configuration
 * or the credential allows is the handler's (crm_webhooks.c).
 */

static ngx_int_t
crm_validate_webhook(ngx_pool_t *pool, crm_resource_t *res, void *body,
    void *custom, ngx_array_t *errors)
{
    size_t       i, k;
    json_t      *v, *e;
    ngx_str_t    url, host, code, message;
    in_port_t    port;
    const char  *p;

    v = json_object_get(body, "url");

    if (json_is_string(v)) {
        url.data = (u_char *) json_string_value(v);
        url.len = json_string_length(v);

        if (crm_addr_url_host(&url, &host, &port) == NGX_DECLINED) {
            ngx_str_set(&code, "invalid_format");
            ngx_str_set(&message,
                        "not a URL that can be requested: http:// or "
                        "https://, an IP address or a host name, a port "
                        "from 1 to 65535, no user info");

            if (crm_validate_add(pool, errors, NULL, "url",
                                 sizeof("url") - 1, &code, &message)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    v = json_object_get(body, "events");

    json_array_foreach(v, i, e) {
        if (!json_is_string(e)) {
            continue;
        }

        p = json_string_value(e);

        /* a pattern listed twice is a mistake, as a scope listed twice */

        for (k = 0; k < i; k++) {
            if (json_equal(json_array_get(v, k), e)) {
                ngx_str_set(&code, "invalid_value");
                ngx_str_set(&message, "a pattern is listed twice");

                return crm_validate_add(pool, errors, NULL, "events",
                                        sizeof("events") - 1, &code,
                                        &message);
            }
        }

        if (ngx_strcmp(p, "*") == 0
            || crm_schema_event_kind((u_char *) p, json_string_length(e))
               != NULL)
        {
            continue;
        }

        ngx_str_set(&code, "invalid_value");
        ngx_str_set(&message,
                    "a pattern names a kind of record that has no events: "
                    "<kind>.<verb> with a kind in the singular (contact, "
                    "deal, email, ...), <kind>.* or *");

        return crm_validate_add(pool, errors, NULL, "events",
                                sizeof("events") - 1, &code, &message);
    }

    return NGX_OK;
}


/*
 * POST /emails/send: what the table's trigger checks of the addresses
 * (db_email_before_insert(), sql/073), checked here with the body's
 * other fields so that every problem comes in one answer: "to" an
 * address that can be mailed or a contact's id (the contact itself is
 * the trigger's to find), each of cc and bcc, from and replyTo
 * mailable, text or html given; and cc and bcc at most
 * CRM_VALIDATE_COPIES_MAX addresses together (each list alone is held
 * to it by its descriptor).  A value of the wrong type is the field's
 * own check's to refuse.
 */

static ngx_int_t
crm_validate_email_send(ngx_pool_t *pool, crm_resource_t *res, void *body,
    void *custom, ngx_array_t *errors)
{
    size_t       i, k, cc, bcc;
    json_t      *v, *a;
    ngx_str_t    code, message;
    const char  *s;
    static const char  *one[] = { "to", "from", "replyTo" };
    static const char  *lists[] = { "cc", "bcc" };

    ngx_str_set(&code, "invalid_format");

    for (i = 0; i < 3; i++) {
        v = json_object_get(body, one[i]);

        if (!json_is_string(v)) {
            continue;
        }

        s = json_string_value(v);

        if ((i == 0 && crm_uuid_valid((u_char *) s, json_string_length(v))
                       == NGX_OK)
            || crm_validate_mailable((u_char *) s, json_string_length(v))
               == NGX_OK)
        {
            continue;
        }

        if (i == 0) {
            ngx_str_set(&message,
                        "an email address or a contact id is expected");

        } else {
            ngx_str_set(&message, "not an email address");
        }

        if (crm_validate_add(pool, errors, NULL, one[i],
                             ngx_strlen(one[i]), &code, &message)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    for (i = 0; i < 2; i++) {
        a = json_object_get(body, lists[i]);

        json_array_foreach(a, k, v) {
            if (!json_is_string(v)
                || crm_validate_mailable((u_char *) json_string_value(v),
                                         json_string_length(v))
                   == NGX_OK)
            {
                continue;
            }

            /* the first of a list, as the trigger names it */

            message.data = ngx_pnalloc(pool, CRM_VALIDATE_MSG_LEN);
            if (message.data == NULL) {
                return NGX_ERROR;
            }

            message.len = ngx_snprintf(message.data, CRM_VALIDATE_MSG_LEN,
                                       "\"%*s\" is not an email address",
                                       crm_value_utf8_cut(
                                           (u_char *) json_string_value(v),
                                           json_string_length(v), 40),
                                       json_string_value(v))
                          - message.data;

            if (crm_validate_add(pool, errors, NULL, lists[i],
                                 ngx_strlen(lists[i]), &code, &message)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            break;
        }
    }

    v = json_object_get(body, "text");
    a = json_object_get(body, "html");

    if (!(json_is_string(v) && json_string_length(v) > 0)
        && !(json_is_string(a) && json_string_length(a) > 0)
        && !(v != NULL && !json_is_string(v) && !json_is_null(v))
        && !(a != NULL && !json_is_string(a) && !json_is_null(a)))
    {
        ngx_str_set(&code, "required");
        ngx_str_set(&message, "text or html is required");

        if (crm_validate_add(pool, errors, NULL, "text", sizeof("text") - 1,
                             &code, &message)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    cc = json_array_size(json_object_get(body, "cc"));
    bcc = json_array_size(json_object_get(body, "bcc"));

    if (cc + bcc <= CRM_VALIDATE_COPIES_MAX
        || cc > CRM_VALIDATE_COPIES_MAX || bcc > CRM_VALIDATE_COPIES_MAX)
    {
        return NGX_OK;
    }

    ngx_str_set(&code, "too_long");
    ngx_str_set(&message, "cc and bcc hold at most 50 addresses together");

    return crm_validate_add(pool, errors, NULL, "bcc", sizeof("bcc") - 1,
                            &code, &message);
}


/*
 * An address an email can be sent to, as db_email_address_valid()
 * (sql/016) has it: an ASCII dot-atom of at most 64 characters, "@",
 * host name labels of letters, digits and inner "-" (at most 63 each);
 * 254 characters in all
 */

ngx_int_t
crm_validate_mailable(u_char *p, size_t len)
{
    u_char  *last, *label;

    if (len > CRM_VALIDATE_EMAIL_MAX) {
        return NGX_DECLINED;
    }

    last = p + len;

    /* the local part: atoms of atext, joined by single dots */

    for ( ;; ) {
        label = p;

        while (p < last
               && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                   || (*p >= '0' && *p <= '9')
                   || ngx_strchr("!#$%&'*+/=?^_`{|}~-", *p) != NULL)
               && *p != '\0')
        {
            p++;
        }

        if (p == last || p == label) {
            return NGX_DECLINED;
        }

        if (*p == '@') {
            break;
        }

        if (*p != '.') {
            return NGX_DECLINED;
        }

        p++;
    }

    if (p - (last - len) > 64) {
        return NGX_DECLINED;
    }

    p++;                        /* "@" */

    /* the host: labels of letters and digits, "-" inside */

    for ( ;; ) {
        label = p;

        while (p < last
               && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                   || (*p >= '0' && *p <= '9') || *p == '-'))
        {
            p++;
        }

        if (p == label || p - label > 63 || *label == '-' || p[-1] == '-') {
            return NGX_DECLINED;
        }

        if (p == last) {
            return NGX_OK;
        }

        if (*p != '.') {
            return NGX_DECLINED;
        }

        p++;
    }
}


static crm_validate_own_t *
crm_validate_own_find(crm_resource_t *res)
{
    ngx_uint_t  i;

    for (i = 0; i < sizeof(crm_validate_owns) / sizeof(crm_validate_own_t);
         i++)
    {
        if (crm_validate_owns[i].name.len == res->name.len
            && ngx_strncmp(crm_validate_owns[i].name.data, res->name.data,
                           res->name.len)
               == 0)
        {
            return &crm_validate_owns[i];
        }
    }

    return NULL;
}


static ngx_int_t
crm_validate_own(ngx_pool_t *pool, crm_resource_t *res, void *body,
    void *custom, ngx_array_t *errors)
{
    crm_validate_own_t  *own;

    own = crm_validate_own_find(res);

    return own ? own->check(pool, res, body, custom, errors) : NGX_OK;
}


/*
 * Whether the rules of "res" want the workspace's custom-field
 * definitions for "body" (a campaign whose templates or audience name
 * customFields.<name>): the caller loads them and passes them to
 * crm_validate()
 */

ngx_uint_t
crm_validate_needs(crm_resource_t *res, void *body)
{
    crm_validate_own_t  *own;

    own = crm_validate_own_find(res);

    return (own && own->needs) ? own->needs(body) : 0;
}


/* JSON bodies name fields in camelCase only */

static crm_field_t *
crm_validate_field(crm_resource_t *res, ngx_str_t *name)
{
    ngx_uint_t    i;
    crm_field_t  *f;

    for (i = 0; i < res->nfields; i++) {
        f = &res->fields[i];

        if (f->flags & CRM_F_HIDDEN) {
            continue;
        }

        if (f->name.len == name->len
            && ngx_strncmp(f->name.data, name->data, name->len) == 0)
        {
            return f;
        }
    }

    return NULL;
}


/*
 * The bounds a field's flags set (not negative, 1 or more, a percent):
 * NGX_DECLINED, reported, when "d" is out of them
 */

static ngx_int_t
crm_validate_bounds(crm_validate_t *ctx, crm_field_t *f, ngx_str_t *name,
    double d)
{
    if ((f->flags & CRM_F_MIN0) && d < 0) {
        return crm_validate_error(ctx, name, "invalid_value",
                                  "must not be negative");
    }

    if ((f->flags & CRM_F_MIN1) && d < 1) {
        return crm_validate_error(ctx, name, "invalid_value",
                                  "must be 1 or more");
    }

    if ((f->flags & CRM_F_PERCENT) && (d < 0 || d > 100)) {
        return crm_validate_error(ctx, name, "invalid_value",
                                  "must be between 0 and 100");
    }

    return NGX_OK;
}


/*
 * The ranges a field's flags set, checked here so that they are reported
 * with every other field's error (the database's constraints stay, and
 * would name one at a time); a value the type check took
 */

static ngx_int_t
crm_validate_range(crm_validate_t *ctx, crm_field_t *f, ngx_str_t *name,
    json_t *v, ngx_str_t *text)
{
    ngx_int_t  rc;

    rc = crm_validate_bounds(ctx, f, name, json_number_value(v));
    if (rc != NGX_OK) {
        return rc;
    }

    if ((f->flags & CRM_F_CURRENCY)
        && (text->len != 3
            || text->data[0] < 'A' || text->data[0] > 'Z'
            || text->data[1] < 'A' || text->data[1] > 'Z'
            || text->data[2] < 'A' || text->data[2] > 'Z'))
    {
        return crm_validate_error(ctx, name, "invalid_value",
                                  "must be an ISO 4217 code: three capital "
                                  "letters");
    }

    return NGX_OK;
}


/* records an error; returns NGX_DECLINED, or NGX_ERROR without memory */

static ngx_int_t
crm_validate_error(crm_validate_t *ctx, ngx_str_t *name, const char *code,
    const char *fmt, ...)
{
    u_char             *p;
    va_list             args;
    crm_field_error_t  *e;

    e = ngx_array_push(ctx->errors);
    if (e == NULL) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(ctx->pool, CRM_VALIDATE_MSG_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    va_start(args, fmt);
    e->message.len = ngx_vslprintf(p, p + CRM_VALIDATE_MSG_LEN, fmt, args)
                     - p;
    va_end(args);

    e->message.data = p;
    e->field = *name;
    e->code.data = (u_char *) code;
    e->code.len = ngx_strlen(code);

    return NGX_DECLINED;
}


static ngx_int_t
crm_validate_invalid_type(crm_validate_t *ctx, crm_field_t *f,
    ngx_str_t *name)
{
    return crm_validate_error(ctx, name, "invalid_type", "must be %s",
                              crm_validate_types[f->type].expected);
}


/*
 * The checks shared by TEXT, EMAIL, ENUM, UUID, TIMESTAMP and DATE: a
 * string without NUL, not empty when required, at most max_len
 * characters; "out" is a NUL-terminated copy in the pool.
 */

static ngx_int_t
crm_validate_string(crm_validate_t *ctx, crm_field_t *f, ngx_str_t *name,
    json_t *v, ngx_str_t *out)
{
    size_t       len;
    const char  *s;

    if (!json_is_string(v)) {
        return crm_validate_invalid_type(ctx, f, name);
    }

    s = json_string_value(v);
    len = json_string_length(v);

    if (len != ngx_strlen(s)) {
        return crm_validate_error(ctx, name, "invalid_format",
                                  "must not contain NUL characters");
    }

    if (len == 0 && (f->flags & CRM_F_REQUIRED)) {
        return crm_validate_error(ctx, name, "required",
                                  "is required and cannot be empty");
    }

    if (f->max_len != 0
        && crm_validate_utf8_len((const u_char *) s, len) > f->max_len)
    {
        return crm_validate_error(ctx, name, "too_long",
                                  "must be at most %uz characters",
                                  f->max_len);
    }

    return crm_validate_copy(ctx->pool, s, len, out);
}


static ngx_int_t
crm_validate_uuid(crm_validate_t *ctx, crm_field_t *f, ngx_str_t *name,
    json_t *v, ngx_str_t *out)
{
    ngx_int_t  rc;

    rc = crm_validate_string(ctx, f, name, v, out);
    if (rc != NGX_OK) {
        return rc;
    }

    if (crm_uuid_valid(out->data, out->len) != NGX_OK) {
        return crm_validate_error(ctx, name, "invalid_format",
                                  "must be a UUID "
                                  "(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)");
    }

    return NGX_OK;
}


static ngx_int_t
crm_validate_text(crm_validate_t *ctx, crm_field_t *f, ngx_str_t *name,
    json_t *v, ngx_str_t *out)
{
    return crm_validate_string(ctx, f, name, v, out);
}


/* 8 characters at least, 72 bytes at most (bcrypt's limit) */

static ngx_int_t
crm_validate_password(crm_validate_t *ctx, crm_field_t *f, ngx_str_t *name,
    json_t *v, ngx_str_t *out)
{
    ngx_int_t  rc;

    rc = crm_validate_string(ctx, f, name, v, out);
    if (rc != NGX_OK) {
        return rc;
    }

    if (crm_validate_utf8_len(out->data, out->len) < 8) {
        return crm_validate_error(ctx, name, "too_short",
                                  "must have at least 8 characters");
    }

    if (out->len > 72) {
        return crm_validate_error(ctx, name, "too_long",
                                  "must have at most 72 bytes");
    }

    return NGX_OK;
}


static ngx_int_t
crm_validate_email(crm_validate_t *ctx, crm_field_t *f, ngx_str_t *name,
    json_t *v, ngx_str_t *out)
{
    ngx_int_t  rc;

    rc = crm_validate_string(ctx, f, name, v, out);
    if (rc != NGX_OK) {
        return rc;
    }

    if (crm_validate_email_format(out->data, out->len) != NGX_OK) {
        return crm_validate_error(ctx, name, "invalid_format",
                                  "must be a valid e-mail address");
    }

    return NGX_OK;
}


static ngx_int_t
crm_validate_enum(crm_validate_t *ctx, crm_field_t *f, ngx_str_t *name,
    json_t *v, ngx_str_t *out)
{
    size_t              len;
    u_char             *p;
    ngx_int_t           rc;
    ngx_uint_t          i;
    const char        **e;
    crm_field_error_t  *err;

    rc = crm_validate_string(ctx, f, name, v, out);
    if (rc != NGX_OK) {
        return rc;
    }

    e = f->enum_values;

    for (i = 0; e != NULL && e[i] != NULL; i++) {
        if (ngx_strlen(e[i]) == out->len
            && ngx_strncmp(e[i], out->data, out->len) == 0)
        {
            return NGX_OK;
        }
    }

    /* "must be one of: a, b, c", as long as the list is */

    len = sizeof("must be one of: ") - 1;

    for (i = 0; e != NULL && e[i] != NULL; i++) {
        len += ngx_strlen(e[i]) + 2;
    }

    p = ngx_pnalloc(ctx->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    err = ngx_array_push(ctx->errors);
    if (err == NULL) {
        return NGX_ERROR;
    }

    err->field = *name;
    ngx_str_set(&err->code, "invalid_value");
    err->message.data = p;

    p = ngx_cpymem(p, "must be one of: ", sizeof("must be one of: ") - 1);

    for (i = 0; e != NULL && e[i] != NULL; i++) {
        if (i > 0) {
            *p++ = ',';
            *p++ = ' ';
        }

        p = ngx_cpymem(p, e[i], ngx_strlen(e[i]));
    }

    err->message.len = p - err->message.data;

    return NGX_DECLINED;
}


/* a JSON integer, or a real without a fraction, within bigint */

static ngx_int_t
crm_validate_int(crm_validate_t *ctx, crm_field_t *f, ngx_str_t *name,
    json_t *v, ngx_str_t *out)
{
    double      d;
    ngx_int_t   rc;
    json_int_t  n, lo, hi;

    if (json_is_integer(v)) {
        n = json_integer_value(v);

    } else {
        if (!json_is_real(v)) {
            return crm_validate_invalid_type(ctx, f, name);
        }

        d = json_real_value(v);

        if (!isfinite(d) || d != trunc(d)) {
            return crm_validate_invalid_type(ctx, f, name);
        }

        if (d >= -CRM_VALIDATE_INT_LIMIT && d < CRM_VALIDATE_INT_LIMIT) {
            n = (json_int_t) d;

        } else if (f->max_len == 0) {
            return crm_validate_error(ctx, name, "out_of_range",
                                      "must be an integer between "
                                      "-9223372036854775808 and "
                                      "9223372036854775807");

        } else {
            /* beyond 64 bits: the field's own range says so below */
            n = (d < 0) ? -(json_int_t) f->max_len - 2
                        : (json_int_t) f->max_len + 1;
        }
    }

    /* max_len: the largest of a column of 32 bits, as PostgreSQL's */

    if (f->max_len > 0
        && (n > (json_int_t) f->max_len || n < -(json_int_t) f->max_len - 1))
    {
        /*
         * out of the field's own bounds too (a negative one of 1 or
         * more, a percent): said as any value out of them is; else the
         * column's range, from the field's least
         */

        rc = crm_validate_bounds(ctx, f, name, (double) n);
        if (rc != NGX_OK) {
            return rc;
        }

        lo = -(json_int_t) f->max_len - 1;
        hi = (json_int_t) f->max_len;

        if (f->flags & CRM_F_MIN1) {
            lo = 1;

        } else if (f->flags & CRM_F_MIN0) {
            lo = 0;
        }

        return crm_validate_error(ctx, name, "out_of_range",
                                  "must be an integer between %L and %L",
                                  (int64_t) lo, (int64_t) hi);
    }

    return crm_validate_integer_text(ctx->pool, n, out);
}


/* a JSON number; a real in its shortest form that reads back the same */

static ngx_int_t
crm_validate_numeric(crm_validate_t *ctx, crm_field_t *f, ngx_str_t *name,
    json_t *v, ngx_str_t *out)
{
    char    buf[CRM_VALIDATE_REAL_LEN];
    double  d;

    if (json_is_integer(v)) {
        return crm_validate_integer_text(ctx->pool, json_integer_value(v),
                                         out);
    }

    if (!json_is_real(v)) {
        return crm_validate_invalid_type(ctx, f, name);
    }

    d = json_real_value(v);

    if (!isfinite(d)) {
        return crm_validate_error(ctx, name, "invalid_type",
                                  "must be a finite number");
    }

    (void) crm_validate_real(d, buf, sizeof(buf));

    return crm_validate_copy(ctx->pool, buf, ngx_strlen(buf), out);
}


static ngx_int_t
crm_validate_bool(crm_validate_t *ctx, crm_field_t *f, ngx_str_t *name,
    json_t *v, ngx_str_t *out)
{
    if (!json_is_boolean(v)) {
        return crm_validate_invalid_type(ctx, f, name);
    }

    if (json_is_true(v)) {
        ngx_str_set(out, "true");

    } else {
        ngx_str_set(out, "false");
    }

    return NGX_OK;
}


static ngx_int_t
crm_validate_timestamp(crm_validate_t *ctx, crm_field_t *f, ngx_str_t *name,
    json_t *v, ngx_str_t *out)
{
    ngx_int_t  rc;

    rc = crm_validate_string(ctx, f, name, v, out);
    if (rc != NGX_OK) {
        return rc;
    }

    /* the syntax of filter values: one set of rules */

    if (crm_value_check(CRM_FT_TIMESTAMP, out) != NGX_OK) {
        return crm_validate_error(ctx, name, "invalid_format",
                                  "must be an ISO 8601 timestamp "
                                  "(2026-01-15T10:30:00.000Z)");
    }

    return NGX_OK;
}


static ngx_int_t
crm_validate_date(crm_validate_t *ctx, crm_field_t *f, ngx_str_t *name,
    json_t *v, ngx_str_t *out)
{
    ngx_int_t  rc;

    rc = crm_validate_string(ctx, f, name, v, out);
    if (rc != NGX_OK) {
        return rc;
    }

    if (crm_value_check(CRM_FT_DATE, out) != NGX_OK) {
        return crm_validate_error(ctx, name, "invalid_format",
                                  "must be a date (YYYY-MM-DD)");
    }

    return NGX_OK;
}


/*
 * An array of at most max_len strings of at most 255 characters, or of
 * UUIDs
 */

static ngx_int_t
crm_validate_array(crm_validate_t *ctx, crm_field_t *f, ngx_str_t *name,
    json_t *v, ngx_str_t *out)
{
    size_t       i, len;
    json_t      *e;
    const char  *s;

    if (!json_is_array(v)) {
        return crm_validate_invalid_type(ctx, f, name);
    }

    if (f->max_len != 0 && json_array_size(v) > f->max_len) {
        return crm_validate_error(ctx, name, "too_long",
                                  "must have at most %uz elements",
                                  f->max_len);
    }

    json_array_foreach(v, i, e) {

        if (!json_is_string(e)) {
            return crm_validate_error(ctx, name, "invalid_type",
                                      "must be an array of strings "
                                      "(element %uz is not a string)", i);
        }

        s = json_string_value(e);
        len = json_string_length(e);

        if (len != ngx_strlen(s)) {
            return crm_validate_error(ctx, name, "invalid_format",
                                      "element %uz must not contain NUL "
                                      "characters", i);
        }

        if (f->type == CRM_FT_UUID_ARRAY) {
            if (crm_uuid_valid((u_char *) s, len) != NGX_OK) {
                return crm_validate_error(ctx, name, "invalid_format",
                                          "element %uz must be a UUID", i);
            }

            continue;
        }

        /* an empty tag, scope or event names nothing */

        if (len == 0) {
            return crm_validate_error(ctx, name, "invalid_value",
                                      "element %uz must not be empty", i);
        }

        if (crm_validate_utf8_len((const u_char *) s, len)
            > CRM_ELEM_MAX)
        {
            return crm_validate_error(ctx, name, "too_long",
                                      "element %uz must be at most %d "
                                      "characters", i,
                                      CRM_ELEM_MAX);
        }
    }

    return crm_validate_dump(ctx->pool, v, out);
}


/* an object whose compact serialization is at most max_len bytes */

static ngx_int_t
crm_validate_object(crm_validate_t *ctx, crm_field_t *f, ngx_str_t *name,
    json_t *v, ngx_str_t *out)
{
    ngx_int_t  rc;

    if (f->type == CRM_FT_LIST ? !json_is_array(v) : !json_is_object(v)) {
        return crm_validate_invalid_type(ctx, f, name);
    }

    rc = crm_validate_dump(ctx->pool, v, out);
    if (rc != NGX_OK) {
        return rc;
    }

    if (f->max_len != 0 && out->len > f->max_len) {
        return crm_validate_error(ctx, name, "too_long",
                                  "must be at most %uz bytes as JSON",
                                  f->max_len);
    }

    return NGX_OK;
}


static ngx_int_t
crm_validate_integer_text(ngx_pool_t *pool, json_int_t n, ngx_str_t *out)
{
    u_char  *p;

    p = ngx_pnalloc(pool, NGX_INT64_LEN + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    /* ngx_sprintf() negates a negative "%L", which -2^63 overflows */

    if (n < 0) {
        *p++ = '-';
        p = ngx_sprintf(p, "%uL", (uint64_t) 0 - (uint64_t) n);

    } else {
        p = ngx_sprintf(p, "%uL", (uint64_t) n);
    }

    *p = '\0';
    out->len = p - out->data;

    return NGX_OK;
}


/*
 * Compact JSON text, copied to the pool; jansson's copy is freed.  Reals
 * are printed with the fewest digits (15 to 17) that keep every one of
 * them exact, so that 0.1 stays 0.1.
 */

ngx_int_t
crm_validate_dump(ngx_pool_t *pool, void *v, ngx_str_t *out)
{
    int         precision;
    char       *s;
    ngx_int_t   rc;

    precision = crm_validate_precision(v, CRM_VALIDATE_DEPTH);

    s = json_dumps(v, JSON_COMPACT|JSON_REAL_PRECISION(precision));
    if (s == NULL) {
        return NGX_ERROR;
    }

    rc = crm_validate_copy(pool, s, ngx_strlen(s), out);

    free(s);

    return rc;
}


/* the shortest "%.*g" form (15 to 17 digits) that reads back as d */

static int
crm_validate_real(double d, char *buf, size_t size)
{
    int  n, precision;

    for (precision = 15; precision < 17; precision++) {
        n = snprintf(buf, size, "%.*g", precision, d);

        if (n > 0 && (size_t) n < size && strtod(buf, NULL) == d) {
            return precision;
        }
    }

    (void) snprintf(buf, size, "%.17g", d);

    return 17;
}


/* the precision that prints every real inside v exactly */

static int
crm_validate_precision(json_t *v, ngx_uint_t depth)
{
    int          p, max;
    char         buf[CRM_VALIDATE_REAL_LEN];
    size_t       i;
    json_t      *e;
    const char  *key;

    if (json_is_real(v)) {
        return crm_validate_real(json_real_value(v), buf, sizeof(buf));
    }

    if (depth == 0) {
        return 17;
    }

    max = 15;

    if (json_is_array(v)) {
        json_array_foreach(v, i, e) {
            p = crm_validate_precision(e, depth - 1);

            if (p > max) {
                max = p;
            }
        }

    } else if (json_is_object(v)) {
        json_object_foreach(v, key, e) {
            p = crm_validate_precision(e, depth - 1);

            if (p > max) {
                max = p;
            }
        }
    }

    return max;
}


static ngx_int_t
crm_validate_copy(ngx_pool_t *pool, const char *s, size_t len,
    ngx_str_t *out)
{
    u_char  *p;

    p = ngx_pnalloc(pool, len + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(p, s, len);
    p[len] = '\0';

    out->data = p;
    out->len = len;

    return NGX_OK;
}


/* code points of valid UTF-8 (jansson guarantees validity) */

static size_t
crm_validate_utf8_len(const u_char *p, size_t len)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            n++;
        }
    }

    return n;
}


/*
 * A pragmatic check: at most 254 bytes, no spaces or control
 * characters, one "@", a non-empty local part, a domain with a dot
 * that neither starts nor ends with one nor has two in a row.
 */

static ngx_int_t
crm_validate_email_format(const u_char *p, size_t len)
{
    size_t  i, at, dots;

    if (len > CRM_VALIDATE_EMAIL_MAX) {
        return NGX_DECLINED;
    }

    at = len;

    for (i = 0; i < len; i++) {
        if (p[i] <= 0x20 || p[i] == 0x7f) {
            return NGX_DECLINED;
        }

        if (p[i] == '@') {
            if (at != len) {
                return NGX_DECLINED;
            }

            at = i;
        }
    }

    if (at == 0 || at == len || at + 1 == len) {
        return NGX_DECLINED;
    }

    if (p[at + 1] == '.' || p[len - 1] == '.') {
        return NGX_DECLINED;
    }

    dots = 0;

    for (i = at + 1; i < len; i++) {
        if (p[i] != '.') {
            continue;
        }

        if (p[i - 1] == '.') {
            return NGX_DECLINED;
        }

        dots++;
    }

    return (dots > 0) ? NGX_OK : NGX_DECLINED;
}


/*
 * POST /leads/:id/convert's body (crm_action_t's check): {"contact":
 * {firstName, lastName, email, customFields}, "company": {name,
 * customFields} | false, "deal": {name, amount, currency, pipelineId,
 * stage, customFields}}, each part optional, each value
 * checked as the part's resource checks it in a PATCH (the lead gives
 * what is not sent), the errors' fields named "contact.email", ...
 */

typedef struct {
    const char               *key;
    const char               *resource;
    const char               *fields[7];
    unsigned                  may_be_false:1;
} crm_validate_part_t;


static crm_validate_part_t  crm_validate_convert_parts[] = {
    { "contact", "contacts",
      { "firstName", "lastName", "email", "customFields", NULL }, 0 },
    { "company", "companies", { "name", "customFields", NULL }, 1 },
    { "deal", "deals",
      { "name", "amount", "currency", "pipelineId", "stage", "customFields",
        NULL }, 0 },
    { NULL, NULL, { NULL }, 0 }
};


/* actions' bodies: a table, as the resources' own rules are */

typedef struct {
    ngx_str_t                 resource;
    ngx_str_t                 action;       /* empty: every action */
    crm_check_pt              check;
} crm_validate_action_t;


static ngx_int_t crm_validate_none(ngx_pool_t *pool, crm_resource_t *res,
    void *body, ngx_array_t *errors);
static ngx_int_t crm_lead_convert_check(ngx_pool_t *pool,
    crm_resource_t *res, void *body, ngx_array_t *errors);
static ngx_int_t crm_validate_part(ngx_pool_t *pool, crm_validate_part_t *pt,
    json_t *v, ngx_array_t *errors);


static crm_validate_action_t  crm_validate_actions[] = {
    { ngx_string("leads"), ngx_string("convert"), crm_lead_convert_check },
    { ngx_string("campaigns"), ngx_null_string, crm_validate_none }
};


static ngx_str_t  crm_validate_unknown = ngx_string("unknown_field");
static ngx_str_t  crm_validate_not_part =
    ngx_string("is not a part of a conversion (contact, company, deal)");
static ngx_str_t  crm_validate_not_taken =
    ngx_string("is not a field a conversion takes");
static ngx_str_t  crm_validate_no_fields =
    ngx_string("this action takes no fields");
static ngx_str_t  crm_validate_type = ngx_string("invalid_type");
static ngx_str_t  crm_validate_msg_object = ngx_string("must be an object");
static ngx_str_t  crm_validate_msg_object_false =
    ngx_string("must be an object or false");


ngx_int_t
crm_validate_action(ngx_pool_t *pool, crm_resource_t *res, ngx_str_t *action,
    void *body, ngx_array_t *errors)
{
    ngx_uint_t              i;
    crm_validate_action_t  *va;

    for (i = 0;
         i < sizeof(crm_validate_actions) / sizeof(crm_validate_action_t);
         i++)
    {
        va = &crm_validate_actions[i];

        if (va->resource.len == res->name.len
            && ngx_strncmp(va->resource.data, res->name.data, res->name.len)
               == 0
            && (va->action.len == 0
                || (va->action.len == action->len
                    && ngx_strncmp(va->action.data, action->data,
                                   action->len)
                       == 0)))
        {
            return va->check(pool, res, body, errors);
        }
    }

    return NGX_OK;
}


static ngx_int_t
crm_validate_none(ngx_pool_t *pool, crm_resource_t *res, void *body,
    ngx_array_t *errors)
{
    json_t      *v;
    const char  *key;

    if (body == NULL) {
        return NGX_OK;
    }

    json_object_foreach((json_t *) body, key, v) {
        if (crm_validate_add(pool, errors, NULL, key, ngx_strlen(key),
                             &crm_validate_unknown, &crm_validate_no_fields)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
crm_lead_convert_check(ngx_pool_t *pool, crm_resource_t *res, void *body,
    ngx_array_t *errors)
{
    json_t               *obj, *v;
    const char           *key;
    crm_validate_part_t  *pt;

    obj = body;

    if (obj == NULL) {
        return NGX_OK;
    }

    json_object_foreach(obj, key, v) {
        for (pt = crm_validate_convert_parts; pt->key != NULL; pt++) {
            if (ngx_strcmp(key, pt->key) == 0) {
                break;
            }
        }

        if (pt->key == NULL) {
            if (crm_validate_add(pool, errors, NULL, key, ngx_strlen(key),
                                 &crm_validate_unknown,
                                 &crm_validate_not_part)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

            continue;
        }

        if (crm_validate_part(pool, pt, v, errors) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


static ngx_int_t
crm_validate_part(ngx_pool_t *pool, crm_validate_part_t *pt, json_t *v,
    ngx_array_t *errors)
{
    size_t              len;
    json_t             *e;
    ngx_str_t           name;
    ngx_int_t           rc;
    ngx_uint_t          i, k;
    const char         *key;
    ngx_array_t         values, sub;
    crm_resource_t     *part;
    crm_field_error_t  *fe;

    if (pt->may_be_false && json_is_false(v)) {
        return NGX_OK;
    }

    if (!json_is_object(v)) {
        return crm_validate_add(pool, errors, pt->key, NULL, 0,
                                &crm_validate_type,
                                pt->may_be_false
                                ? &crm_validate_msg_object_false
                                : &crm_validate_msg_object);
    }

    /* only the fields a conversion takes */

    json_object_keylen_foreach(v, key, len, e) {
        for (k = 0; pt->fields[k] != NULL; k++) {
            if (ngx_strlen(pt->fields[k]) == len
                && ngx_strncmp(pt->fields[k], key, len) == 0)
            {
                break;
            }
        }

        if (pt->fields[k] == NULL) {
            if (crm_validate_add(pool, errors, pt->key, key, len,
                                 &crm_validate_unknown,
                                 &crm_validate_not_taken)
                != NGX_OK)
            {
                return NGX_ERROR;
            }
        }
    }

    name.data = (u_char *) pt->resource;
    name.len = ngx_strlen(pt->resource);

    part = crm_schema_find(&name);
    if (part == NULL) {
        return NGX_ERROR;
    }

    rc = crm_validate(pool, part, v, 0, NULL, &values, &sub);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    fe = sub.elts;

    for (i = 0; i < sub.nelts; i++) {
        if (fe[i].code.len == crm_validate_unknown.len
            && ngx_strncmp(fe[i].code.data, crm_validate_unknown.data,
                           crm_validate_unknown.len)
               == 0)
        {
            /* said above */
            continue;
        }

        if (crm_validate_add(pool, errors, pt->key,
                             (char *) fe[i].field.data, fe[i].field.len,
                             &fe[i].code, &fe[i].message)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* an error of field "part.field" (or "part", or "field") */

static ngx_int_t
crm_validate_add(ngx_pool_t *pool, ngx_array_t *errors, const char *part,
    const char *field, size_t len, ngx_str_t *code, ngx_str_t *message)
{
    u_char             *p;
    size_t              plen;
    crm_field_error_t  *fe;

    plen = (part != NULL) ? ngx_strlen(part) : 0;

    fe = ngx_array_push(errors);
    p = ngx_pnalloc(pool, plen + 1 + len + 1);

    if (fe == NULL || p == NULL) {
        return NGX_ERROR;
    }

    fe->field.data = p;

    if (part != NULL) {
        p = ngx_cpymem(p, part, plen);

        if (field != NULL) {
            *p++ = '.';
        }
    }

    if (field != NULL) {
        p = ngx_cpymem(p, field, len);
    }

    *p = '\0';
    fe->field.len = p - fe->field.data;

    fe->code = *code;
    fe->message = *message;

    return NGX_OK;
}
