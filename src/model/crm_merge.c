
/*
 * ngx_http_crm_module: merge fields of campaign emails (see crm_merge.h).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>
#include "model/crm.h"
#include "model/crm_merge.h"


typedef struct {
    ngx_str_t                 name;         /* "firstName", "name" */
    ngx_str_t                 key;          /* {{<name>.<key>}}: a key of
                                               an object field */
    ngx_str_t                 deflt;
    ngx_uint_t                company;      /* {{company.<name>}} */
    u_char                   *end;          /* after the closing braces */
} crm_merge_field_t;


typedef struct {
    u_char                   *p;
    size_t                    len;
    size_t                    size;
    ngx_pool_t               *pool;
} crm_merge_buf_t;


static ngx_int_t crm_merge_next(u_char *p, u_char *last, u_char **open,
    crm_merge_field_t *mf);
static crm_field_t *crm_merge_known(crm_resource_t *res, ngx_str_t *name);
static ngx_int_t crm_merge_custom(json_t *custom, crm_resource_t *res,
    ngx_str_t *key);
static ngx_int_t crm_merge_unknown(ngx_pool_t *pool, crm_merge_field_t *mf,
    const char *lead, const char *why, crm_error_t *err);
static ngx_uint_t crm_merge_name_valid(u_char *p, u_char *last);
static ngx_int_t crm_merge_put(crm_merge_buf_t *b, u_char *p, size_t len,
    ngx_uint_t html);
static ngx_int_t crm_merge_value(crm_merge_buf_t *b, json_t *v,
    ngx_uint_t html);


/*
 * The next field at or after "p": *open is its "{{" (NULL: no more),
 * mf its parts.  NGX_DECLINED for "{{" that opens no well-formed field.
 */

static ngx_int_t
crm_merge_next(u_char *p, u_char *last, u_char **open, crm_merge_field_t *mf)
{
    u_char  *s, *e, *bar, *q, *dot;

    *open = NULL;

    for ( /* void */ ; p + 1 < last; p++) {
        if (p[0] == '{' && p[1] == '{') {
            break;
        }
    }

    if (p + 1 >= last) {
        return NGX_OK;
    }

    *open = p;
    s = p + 2;

    for (e = s; e + 1 < last; e++) {
        if (e[0] == '}' && e[1] == '}') {
            break;
        }

        if (e[0] == '{' && e[1] == '{') {
            return NGX_DECLINED;
        }
    }

    if (e + 1 >= last) {
        return NGX_DECLINED;
    }

    mf->end = e + 2;

    bar = ngx_strlchr(s, e, '|');

    /*
     * the name: trimmed, letters, digits, "_", one "company." and one
     * ".<key>" of an object field
     */

    q = (bar != NULL) ? bar : e;

    while (s < q && *s == ' ') {
        s++;
    }

    while (q > s && q[-1] == ' ') {
        q--;
    }

    if (q == s) {
        return NGX_DECLINED;
    }

    mf->company = 0;

    if ((size_t) (q - s) > sizeof("company.") - 1
        && ngx_strncmp(s, "company.", sizeof("company.") - 1) == 0)
    {
        mf->company = 1;
        s += sizeof("company.") - 1;
    }

    mf->name.data = s;
    mf->name.len = q - s;
    ngx_str_set(&mf->key, "");          /* "%V" copies from its data */

    dot = ngx_strlchr(s, q, '.');

    if (dot != NULL) {
        mf->name.len = dot - s;
        mf->key.data = dot + 1;
        mf->key.len = q - (dot + 1);

        if (mf->key.len > CRM_MERGE_NAME_MAX
            || !crm_merge_name_valid(mf->key.data, q))
        {
            return NGX_DECLINED;
        }
    }

    if (mf->name.len > CRM_MERGE_NAME_MAX) {
        return NGX_DECLINED;
    }

    if (!crm_merge_name_valid(mf->name.data,
                              mf->name.data + mf->name.len))
    {
        return NGX_DECLINED;
    }

    ngx_str_null(&mf->deflt);

    if (bar != NULL) {
        s = bar + 1;
        q = e;

        while (s < q && *s == ' ') {
            s++;
        }

        while (q > s && q[-1] == ' ') {
            q--;
        }

        if ((size_t) (q - s) > CRM_MERGE_DEFAULT_MAX) {
            return NGX_DECLINED;
        }

        mf->deflt.data = s;
        mf->deflt.len = q - s;
    }

    return NGX_OK;
}


/* letters, digits and "_", at least one */

static ngx_uint_t
crm_merge_name_valid(u_char *p, u_char *last)
{
    if (p == last) {
        return 0;
    }

    for ( /* void */ ; p < last; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '_'))
        {
            return 0;
        }
    }

    return 1;
}


/* a field a JSON rendering of the resource has, by its JSON name */

static crm_field_t *
crm_merge_known(crm_resource_t *res, ngx_str_t *name)
{
    ngx_uint_t    i;
    crm_field_t  *f;

    if (res == NULL) {
        return NULL;
    }

    for (i = 0; i < res->nfields; i++) {
        f = &res->fields[i];

        if (f->flags & (CRM_F_HIDDEN|CRM_F_WRITEONLY)) {
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


/* a custom field "key" of "res" among the definitions in "custom" */

static ngx_int_t
crm_merge_custom(json_t *custom, crm_resource_t *res, ngx_str_t *key)
{
    size_t       i;
    json_t      *defs, *def, *name;

    defs = json_object_get(custom, (char *) res->name.data);

    json_array_foreach(defs, i, def) {
        name = json_object_get(def, "name");

        if (json_is_string(name) && json_string_length(name) == key->len
            && ngx_strncmp(json_string_value(name), key->data, key->len)
               == 0)
        {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


ngx_int_t
crm_merge_check(ngx_pool_t *pool, ngx_str_t *tpl, crm_resource_t *contact,
    crm_resource_t *company, void *custom, crm_error_t *err)
{
    u_char             *p, *last, *open, *msg;
    size_t              len;
    crm_field_t        *f;
    crm_resource_t     *res;
    crm_merge_field_t   mf;

    p = tpl->data;
    last = tpl->data + tpl->len;

    for ( ;; ) {
        if (crm_merge_next(p, last, &open, &mf) != NGX_OK) {
            len = ngx_min((size_t) (last - open), 40);

            /* the quote ends on a character's boundary (UTF-8 text) */

            while (len > 0 && open + len < last
                   && (open[len] & 0xc0) == 0x80)
            {
                len--;
            }

            msg = ngx_pnalloc(pool, sizeof("a merge field is not closed or "
                                           "not well formed: \"\"") + len);
            if (msg == NULL) {
                return NGX_ERROR;
            }

            ngx_str_set(&err->code, "invalid_merge_field");
            err->message.data = msg;
            err->message.len = ngx_sprintf(msg, "a merge field is not "
                                           "closed or not well formed: "
                                           "\"%*s\"", len, open)
                               - msg;
            return NGX_DECLINED;
        }

        if (open == NULL) {
            return NGX_OK;
        }

        res = mf.company ? company : contact;
        f = crm_merge_known(res, &mf.name);

        if (f == NULL || (f->type != CRM_FT_OBJECT && mf.key.len > 0)) {
            return crm_merge_unknown(pool, &mf, "unknown merge field", "",
                                     err);
        }

        if (f->type == CRM_FT_OBJECT && mf.key.len == 0) {
            return crm_merge_unknown(pool, &mf, "merge field",
                                     " is an object, not a value: name one "
                                     "of its keys", err);
        }

        /* a custom field must be defined; other objects' keys are free */

        if (mf.key.len > 0
            && ngx_strcmp(f->name.data, "customFields") == 0
            && crm_merge_custom(custom, res, &mf.key) != NGX_OK)
        {
            return crm_merge_unknown(pool, &mf, "unknown merge field",
                                     ": no custom field of that name", err);
        }

        p = mf.end;
    }
}


/* NGX_DECLINED, "unknown_merge_field": <lead> "{{<the field>}}"<why> */

static ngx_int_t
crm_merge_unknown(ngx_pool_t *pool, crm_merge_field_t *mf, const char *lead,
    const char *why, crm_error_t *err)
{
    u_char  *msg;
    size_t   len;

    len = ngx_strlen(lead) + sizeof(" \"{{company..}}\"") + mf->name.len
          + mf->key.len + ngx_strlen(why);

    msg = ngx_pnalloc(pool, len);
    if (msg == NULL) {
        return NGX_ERROR;
    }

    ngx_str_set(&err->code, "unknown_merge_field");
    err->message.data = msg;
    err->message.len = ngx_sprintf(msg, "%s \"{{%s%V%s%V}}\"%s", lead,
                                   mf->company ? "company." : "", &mf->name,
                                   mf->key.len ? "." : "", &mf->key, why)
                       - msg;

    return NGX_DECLINED;
}


ngx_int_t
crm_merge_render(ngx_pool_t *pool, ngx_str_t *tpl, json_t *contact,
    json_t *company, ngx_uint_t html, ngx_str_t *out)
{
    u_char             *p, *last, *open;
    json_t             *obj, *v;
    crm_merge_buf_t     b;
    crm_merge_field_t   mf;
    u_char              name[CRM_MERGE_NAME_MAX + 1];

    b.pool = pool;
    b.size = tpl->len + 256;
    b.len = 0;
    b.p = ngx_pnalloc(pool, b.size);
    if (b.p == NULL) {
        return NGX_ERROR;
    }

    p = tpl->data;
    last = tpl->data + tpl->len;

    for ( ;; ) {
        if (crm_merge_next(p, last, &open, &mf) != NGX_OK) {
            return NGX_DECLINED;
        }

        if (open == NULL) {
            if (crm_merge_put(&b, p, last - p, 0) != NGX_OK) {
                return NGX_ERROR;
            }

            break;
        }

        if (crm_merge_put(&b, p, open - p, 0) != NGX_OK) {
            return NGX_ERROR;
        }

        ngx_memcpy(name, mf.name.data, mf.name.len);
        name[mf.name.len] = '\0';

        obj = mf.company ? company : contact;
        v = json_is_object(obj) ? json_object_get(obj, (char *) name) : NULL;

        if (mf.key.len > 0) {
            ngx_memcpy(name, mf.key.data, mf.key.len);
            name[mf.key.len] = '\0';

            v = json_is_object(v) ? json_object_get(v, (char *) name) : NULL;
        }

        /* an object is no value: a key of an address that holds one */

        if (v == NULL || json_is_null(v) || json_is_object(v)
            || (json_is_string(v) && json_string_length(v) == 0)
            || (json_is_array(v) && json_array_size(v) == 0))
        {
            if (crm_merge_put(&b, mf.deflt.data, mf.deflt.len, html)
                != NGX_OK)
            {
                return NGX_ERROR;
            }

        } else if (crm_merge_value(&b, v, html) != NGX_OK) {
            return NGX_ERROR;
        }

        p = mf.end;
    }

    out->data = b.p;
    out->len = b.len;

    return NGX_OK;
}


static ngx_int_t
crm_merge_value(crm_merge_buf_t *b, json_t *v, ngx_uint_t html)
{
    char        *dump;
    size_t       i;
    ngx_int_t    rc;
    json_t      *e;

    if (json_is_string(v)) {
        return crm_merge_put(b, (u_char *) json_string_value(v),
                             json_string_length(v), html);
    }

    if (json_is_array(v)) {
        json_array_foreach(v, i, e) {
            if (i > 0 && crm_merge_put(b, (u_char *) ", ", 2, 0) != NGX_OK) {
                return NGX_ERROR;
            }

            if (crm_merge_value(b, e, html) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        return NGX_OK;
    }

    dump = json_dumps(v, JSON_ENCODE_ANY|JSON_COMPACT);
    if (dump == NULL) {
        return NGX_ERROR;
    }

    rc = crm_merge_put(b, (u_char *) dump, ngx_strlen(dump), html);
    free(dump);

    return rc;
}


static ngx_int_t
crm_merge_put(crm_merge_buf_t *b, u_char *p, size_t len, ngx_uint_t html)
{
    u_char  *n, *d;
    size_t   need, i;

    need = html ? len * 6 : len;

    if (b->len + need > b->size) {
        b->size = ngx_max(b->size * 2, b->len + need);

        n = ngx_pnalloc(b->pool, b->size);
        if (n == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(n, b->p, b->len);
        b->p = n;
    }

    d = b->p + b->len;

    if (!html) {
        d = ngx_cpymem(d, p, len);
        b->len = d - b->p;
        return NGX_OK;
    }

    for (i = 0; i < len; i++) {
        switch (p[i]) {
        case '&':
            d = ngx_cpymem(d, "&amp;", 5);
            break;
        case '<':
            d = ngx_cpymem(d, "&lt;", 4);
            break;
        case '>':
            d = ngx_cpymem(d, "&gt;", 4);
            break;
        case '"':
            d = ngx_cpymem(d, "&quot;", 6);
            break;
        case '\'':
            d = ngx_cpymem(d, "&#39;", 5);
            break;
        default:
            *d++ = p[i];
        }
    }

    b->len = d - b->p;

    return NGX_OK;
}


/*
 * The JSON text of a record with every number made a string of its own
 * digits: "0.1" stays 0.1, "12345678901234567000" is not rounded into a
 * double, as they would be once jansson reads them.  The text is
 * PostgreSQL's, well formed; what is inside strings is copied as it is.
 */

ngx_int_t
crm_merge_numbers_as_text(ngx_pool_t *pool, u_char *p, size_t len,
    ngx_str_t *out)
{
    u_char      *last, *o;
    ngx_uint_t   string;

    /* at worst each number a byte long: three bytes for each */

    out->data = ngx_pnalloc(pool, 3 * len + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    o = out->data;
    last = p + len;
    string = 0;

    while (p < last) {

        if (string) {
            if (*p == '\\' && p + 1 < last) {
                *o++ = *p++;

            } else if (*p == '"') {
                string = 0;
            }

            *o++ = *p++;
            continue;
        }

        if (*p == '"') {
            string = 1;
            *o++ = *p++;
            continue;
        }

        if (*p == '-' || (*p >= '0' && *p <= '9')) {
            *o++ = '"';

            while (p < last
                   && ((*p >= '0' && *p <= '9') || *p == '-' || *p == '+'
                       || *p == '.' || *p == 'e' || *p == 'E'))
            {
                *o++ = *p++;
            }

            *o++ = '"';
            continue;
        }

        *o++ = *p++;
    }

    *o = '\0';
    out->len = o - out->data;

    return NGX_OK;
}
