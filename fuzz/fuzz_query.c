
/*
 * libFuzzer target: the list query parser and the cursor codec
 * (src/crm_query.c, src/crm_cursor.c), and the SQL planner fed with what
 * the parser accepts (src/crm_sql.c).  See fuzz/README.
 *
 * The first byte of an input picks what is fuzzed, the rest is the data:
 *
 *   byte % 4 == 0, 1   crm_query_parse() of contacts (0), companies (1)
 *   byte % 4 == 2      crm_query_parse_fields() of contacts
 *   byte % 4 == 3      cursors: keys from the data are encoded, decoded
 *                      and compared; byte / 4 picks the sort
 *
 * What is checked besides the sanitizers: the return codes, that every
 * error names a parameter and a code with UTF-8 a JSON encoder accepts,
 * that what is accepted keeps the limits of crm.h, that the planner
 * builds a statement for every query the parser accepts, and that a
 * cursor decodes to the keys it was made of.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "crm.h"


#define FUZZ_SORTS    8


static void fuzz_parse(crm_resource_t *res, ngx_str_t *args,
    ngx_uint_t fields_only);
static void fuzz_accepted(crm_resource_t *res, crm_query_t *q);
static void fuzz_error(crm_error_t *err);
static void fuzz_cursor(ngx_uint_t sort, ngx_str_t *data);
static void fuzz_check(ngx_uint_t cond, const char *what);
static ngx_int_t fuzz_utf8(ngx_str_t *s);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);


static ngx_str_t  fuzz_secret = ngx_string("fuzz-secret-fuzz-secret-fuzz-sec");

static const char  *const fuzz_sorts[FUZZ_SORTS] = {
    "",
    "sort=lastName",
    "sort=-title,email",
    "sort=status,-firstName,source",
    "sort=-id",
    "sort=updatedAt",
    "sort_by=email&order=desc",
    "sort=-createdAt,-lastName,title"
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_str_t        args, name;
    ngx_uint_t       mode;
    crm_resource_t  *res;

    if (size == 0) {
        return 0;
    }

    mode = data[0] % 4;

    args.data = (u_char *) data + 1;
    args.len = size - 1;

    ngx_pagesize = 4096;

    if (mode == 3) {
        fuzz_cursor((data[0] / 4) % FUZZ_SORTS, &args);
        return 0;
    }

    if (mode == 1) {
        ngx_str_set(&name, "companies");

    } else {
        ngx_str_set(&name, "contacts");
    }

    res = crm_schema_find(&name);
    fuzz_check(res != NULL, "resource");

    fuzz_parse(res, &args, mode == 2);

    return 0;
}


static void
fuzz_parse(crm_resource_t *res, ngx_str_t *args, ngx_uint_t fields_only)
{
    u_char       *copy;
    ngx_int_t     rc;
    ngx_str_t     a;
    ngx_log_t     log;
    ngx_pool_t   *pool;
    crm_query_t   q;
    crm_error_t   err;

    ngx_memzero(&log, sizeof(ngx_log_t));

    pool = ngx_create_pool(1024, &log);
    fuzz_check(pool != NULL, "pool");

    /* an exact-size copy: ASan sees any read past r->args */

    copy = ngx_alloc(args->len + 1, &log);
    fuzz_check(copy != NULL, "copy");

    ngx_memcpy(copy, args->data, args->len);

    a.data = copy;
    a.len = args->len;

    if (fields_only) {
        rc = crm_query_parse_fields(pool, res, &a, &q, &err);

    } else {
        rc = crm_query_parse(pool, res, &a, &fuzz_secret, &q, &err);
    }

    /* nothing returned may point into the arguments */

    ngx_memset(copy, 0xa5, args->len);
    ngx_free(copy);

    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED, "return code");

    if (rc == NGX_DECLINED) {
        fuzz_error(&err);

    } else if (fields_only) {
        fuzz_check(q.filters.nelts == 0 && !q.has_cursor,
                   "fields only: nothing else");

        if (q.select != NULL) {
            fuzz_check(q.select[0] != 0, "fields only: id selected");
        }

    } else {
        fuzz_accepted(res, &q);
    }

    ngx_destroy_pool(pool);
}


static void
fuzz_accepted(crm_resource_t *res, crm_query_t *q)
{
    ngx_str_t      ws, *v;
    ngx_uint_t     i, j, id;
    crm_stmt_t     st;
    crm_filter_t  *flt;

    fuzz_check(q->limit >= 1 && q->limit <= CRM_LIMIT_MAX, "limit");
    fuzz_check(q->nsort >= 1 && q->nsort <= CRM_MAX_KEYS, "nsort");
    fuzz_check(!(q->has_cursor && q->has_offset), "cursor and offset");
    fuzz_check(q->filters.nelts <= CRM_MAX_FILTERS, "filters");
    fuzz_check(q->q.len <= 4 * 200 && fuzz_utf8(&q->q) == NGX_OK, "q");

    for (i = 0, id = 0; i < q->nsort; i++) {
        fuzz_check(q->sort[i].field != NULL, "sort field");
        fuzz_check((q->sort[i].field->flags & CRM_F_SORT) != 0,
                   "sortable");

        id += (q->sort[i].field == &res->fields[0]);
    }

    fuzz_check(id == 1, "id is a key once");

    if (q->select != NULL) {
        fuzz_check(q->select[0] != 0, "id selected");
    }

    flt = q->filters.elts;

    for (i = 0; i < q->filters.nelts; i++) {
        fuzz_check((flt[i].field->flags & CRM_F_FILTER) != 0, "filterable");
        fuzz_check(flt[i].op <= CRM_OP_IS_NOT_NULL, "operator");
        fuzz_check(flt[i].values.nelts <= CRM_MAX_IN_VALUES, "values");
        fuzz_check((flt[i].op >= CRM_OP_IS_NULL)
                   == (flt[i].values.nelts == 0), "values of is");

        v = flt[i].values.elts;

        for (j = 0; j < flt[i].values.nelts; j++) {
            fuzz_check(fuzz_utf8(&v[j]) == NGX_OK && v[j].len <= 1000
                       && v[j].data[v[j].len] == '\0', "value");
        }
    }

    /* the planner must express whatever the parser accepts */

    ngx_str_set(&ws, "11111111-1111-1111-1111-111111111111");

    ngx_memzero(&st, sizeof(crm_stmt_t));
    fuzz_check(crm_sql_list(q->filters.pool, res, &ws, q, NULL, NULL, &st)
               == NGX_OK, "crm_sql_list");

    ngx_memzero(&st, sizeof(crm_stmt_t));
    fuzz_check(crm_sql_count(q->filters.pool, res, &ws, q, NULL, NULL, &st)
               == NGX_OK, "crm_sql_count");
}


/* an error as crm_http_param_error() will render it */

static void
fuzz_error(crm_error_t *err)
{
    fuzz_check(err->param.data != NULL && err->param.len <= 64,
               "error: param");
    fuzz_check(err->code.data != NULL && err->code.len > 0, "error: code");
    fuzz_check(err->message.data != NULL && err->message.len > 0
               && err->message.len <= 512, "error: message");

    fuzz_check(fuzz_utf8(&err->param) == NGX_OK
               && fuzz_utf8(&err->code) == NGX_OK
               && fuzz_utf8(&err->message) == NGX_OK, "error: UTF-8");
}


/*
 * The data holds the keys, separated by 0xff; a key that is exactly
 * 0xfe is NULL.  Encoded, then decoded: the same keys come back, or, if
 * the decoder refuses them, one of them is not a valid value.
 */

static void
fuzz_cursor(ngx_uint_t sort, ngx_str_t *data)
{
    u_char          *p, *last, *sep;
    u_char           nulls[CRM_MAX_KEYS];
    ngx_int_t        rc;
    ngx_str_t        args, name, out, keys[CRM_MAX_KEYS];
    ngx_log_t        log;
    ngx_uint_t       i, valid, backward;
    ngx_pool_t      *pool;
    crm_query_t      q, d;
    crm_error_t      err;
    crm_resource_t  *res;

    ngx_memzero(&log, sizeof(ngx_log_t));

    pool = ngx_create_pool(1024, &log);
    fuzz_check(pool != NULL, "pool");

    ngx_str_set(&name, "contacts");
    res = crm_schema_find(&name);

    args.data = (u_char *) fuzz_sorts[sort];
    args.len = ngx_strlen(fuzz_sorts[sort]);

    fuzz_check(crm_query_parse(pool, res, &args, &fuzz_secret, &q, &err)
               == NGX_OK, "cursor: sort");

    p = data->data;
    last = p + data->len;
    valid = 1;
    backward = (data->len > 0 && (data->data[0] & 1));

    for (i = 0; i < q.nsort; i++) {
        sep = (p < last) ? ngx_strlchr(p, last, 0xff) : NULL;

        keys[i].data = p;
        keys[i].len = ((sep != NULL) ? sep : last) - p;
        nulls[i] = (keys[i].len == 1 && keys[i].data[0] == 0xfe);

        if (!nulls[i]
            && crm_query_check_value(q.sort[i].field->type, &keys[i])
               != NGX_OK)
        {
            valid = 0;
        }

        p = (sep != NULL) ? sep + 1 : last;
    }

    rc = crm_cursor_encode(pool, &fuzz_secret, &q, backward, keys, nulls,
                           &out);

    if (rc == NGX_OK) {
        d = q;
        rc = crm_cursor_decode(pool, &fuzz_secret, &d, &out);

        fuzz_check(rc == NGX_OK || rc == NGX_DECLINED, "cursor: rc");
        fuzz_check(rc == NGX_OK || !valid, "cursor: valid keys refused");

        if (rc == NGX_OK) {
            fuzz_check(d.has_cursor && d.backward == backward,
                       "cursor: direction");

            for (i = 0; i < q.nsort; i++) {
                fuzz_check(d.key_null[i] == nulls[i], "cursor: null");
                fuzz_check(nulls[i]
                           || (d.key[i].len == keys[i].len
                               && ngx_memcmp(d.key[i].data, keys[i].data,
                                             keys[i].len) == 0),
                           "cursor: key");
            }
        }

        /* the same text under another sort never decodes */

        args.data = (u_char *) fuzz_sorts[(sort + 1) % FUZZ_SORTS];
        args.len = ngx_strlen(args.data);

        fuzz_check(crm_query_parse(pool, res, &args, &fuzz_secret, &d, &err)
                   == NGX_OK, "cursor: other sort");
        fuzz_check(crm_cursor_decode(pool, &fuzz_secret, &d, &out)
                   == NGX_DECLINED, "cursor: other sort refused");

    } else {
        fuzz_check(rc == NGX_ERROR, "cursor: encode rc");
    }

    /* the data itself as a cursor: refused, never a crash */

    d = q;
    rc = crm_cursor_decode(pool, &fuzz_secret, &d, data);
    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED, "cursor: raw");

    ngx_destroy_pool(pool);
}


static void
fuzz_check(ngx_uint_t cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz_query: check failed: %s\n", what);
        abort();
    }
}


static ngx_int_t
fuzz_utf8(ngx_str_t *s)
{
    if (s->len == 0) {
        return NGX_OK;
    }

    return crm_query_check_value(CRM_FT_TEXT, s);
}
