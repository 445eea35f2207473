
/*
 * libFuzzer target: the list query parser (src/crm_query.c) and the SQL
 * planner (src/crm_sql.c) fed with what the parser accepts.  See
 * fuzz/README.
 *
 * The first byte of an input picks what is fuzzed, the rest is the
 * query string:
 *
 *   byte % 4 == 0, 1   crm_query_parse() of contacts (0), companies (1)
 *   byte % 4 == 2      crm_query_parse_fields() of contacts
 *   byte % 4 == 3      crm_query_parse_ext() of resource byte / 4 (of
 *                      crm_schema_all()) with custom fields, planned as
 *                      a list of its own and as a sub-collection of
 *                      every parent that links to it
 *
 * What is checked besides the sanitizers: the return codes, that every
 * error names a parameter and a code with UTF-8 a JSON encoder accepts,
 * that what is accepted keeps the limits of crm.h, and that the planner
 * builds a well-formed statement for every query the parser accepts.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "model/crm.h"
#include "common.h"


static void fuzz_parse(crm_resource_t *res, ngx_str_t *args,
    ngx_uint_t mode);
static void fuzz_accepted(crm_resource_t *res, crm_field_t *extra,
    ngx_uint_t nextra, crm_query_t *q, ngx_uint_t parents);
static void fuzz_plan(crm_resource_t *res, crm_query_t *q,
    crm_parent_t *parent);
static void fuzz_error(crm_error_t *err);


#define FUZZ_MODE_PARSE    0
#define FUZZ_MODE_FIELDS   1
#define FUZZ_MODE_EXT      2


static ngx_str_t  fuzz_secret = ngx_string("fuzz-secret-fuzz-secret-fuzz-sec");

static const char  *fuzz_tiers[] = { "gold", "silver", NULL };

/* custom fields as crm_custom.c makes them */

static crm_field_t  fuzz_custom[] = {
    { ngx_string("customFields.score"),
      ngx_string("((custom_fields ->> 'score')::numeric)"),
      CRM_FT_NUMERIC, CRM_F_FILTER|CRM_F_SORT|CRM_F_EXPR, 0, NULL, NULL,
      NULL },
    { ngx_string("customFields.vip"),
      ngx_string("((custom_fields ->> 'vip')::boolean)"),
      CRM_FT_BOOL, CRM_F_FILTER|CRM_F_SORT|CRM_F_EXPR, 0, NULL, NULL,
      NULL },
    { ngx_string("customFields.due"),
      ngx_string("((custom_fields ->> 'due')::date)"),
      CRM_FT_DATE, CRM_F_FILTER|CRM_F_SORT|CRM_F_EXPR, 0, NULL, NULL,
      NULL },
    { ngx_string("customFields.tier"),
      ngx_string("((custom_fields ->> 'tier'))"),
      CRM_FT_ENUM, CRM_F_FILTER|CRM_F_SORT|CRM_F_EXPR, 0, fuzz_tiers, NULL,
      NULL },
    { ngx_string("customFields.note"),
      ngx_string("((custom_fields ->> 'note'))"),
      CRM_FT_TEXT, CRM_F_FILTER|CRM_F_SORT|CRM_F_EXPR, 0, NULL, NULL,
      NULL }
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_str_t         args, name;
    ngx_uint_t        n;
    crm_resource_t   *res, *all;

    if (size == 0) {
        return 0;
    }

    args.data = (u_char *) data + 1;
    args.len = size - 1;

    /* whether definitions are wanted: reads only within the input */
    (void) crm_query_names_custom(&args);

    switch (data[0] % 4) {

    case 0:
    case 2:
        ngx_str_set(&name, "contacts");
        break;

    case 1:
        ngx_str_set(&name, "companies");
        break;

    default:
        all = crm_schema_all(&n);
        res = &all[(data[0] / 4) % n];

        fuzz_parse(res, &args, FUZZ_MODE_EXT);
        fuzz_parse(res, &args, FUZZ_MODE_FIELDS);

        return 0;
    }

    res = crm_schema_find(&name);
    fuzz_check(res != NULL, "resource");

    fuzz_parse(res, &args, (data[0] % 4 == 2) ? FUZZ_MODE_FIELDS
                                              : FUZZ_MODE_PARSE);

    return 0;
}


static void
fuzz_parse(crm_resource_t *res, ngx_str_t *args, ngx_uint_t mode)
{
    u_char        *copy;
    ngx_int_t      rc;
    ngx_str_t      a;
    ngx_uint_t     nextra;
    ngx_pool_t    *pool;
    crm_query_t    q;
    crm_error_t    err;
    crm_field_t   *extra;

    pool = fuzz_pool();

    /* an exact-size copy: ASan sees any read past r->args */

    copy = fuzz_copy(args->data, args->len);

    a.data = copy;
    a.len = args->len;

    extra = NULL;
    nextra = 0;

    switch (mode) {

    case FUZZ_MODE_FIELDS:
        rc = crm_query_parse_fields(pool, res, &a, &q, &err);
        break;

    case FUZZ_MODE_EXT:
        extra = fuzz_custom;
        nextra = sizeof(fuzz_custom) / sizeof(crm_field_t);
        rc = crm_query_parse_ext(pool, res, extra, nextra, &a, &fuzz_secret,
                                 &q, &err);
        break;

    default:
        rc = crm_query_parse(pool, res, &a, &fuzz_secret, &q, &err);
        break;
    }

    /* nothing returned may point into the arguments */

    fuzz_free(copy, args->len);

    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED, "return code");

    if (rc == NGX_DECLINED) {
        fuzz_error(&err);

    } else if (mode == FUZZ_MODE_FIELDS) {
        fuzz_check(q.filters.nelts == 0 && !q.has_cursor,
                   "fields only: nothing else");

        if (q.select != NULL) {
            fuzz_check(q.select[0] != 0, "fields only: id selected");
        }

    } else {
        fuzz_accepted(res, extra, nextra, &q, mode == FUZZ_MODE_EXT);
    }

    ngx_destroy_pool(pool);
}


static void
fuzz_accepted(crm_resource_t *res, crm_field_t *extra, ngx_uint_t nextra,
    crm_query_t *q, ngx_uint_t parents)
{
    ngx_str_t        *v;
    ngx_uint_t        i, j, k, id, n;
    crm_filter_t     *flt;
    crm_parent_t      parent;
    crm_resource_t   *all;

    fuzz_check(q->limit >= 1 && q->limit <= CRM_LIMIT_MAX, "limit");
    fuzz_check(q->nsort >= 1 && q->nsort <= CRM_MAX_KEYS, "nsort");
    fuzz_check(!(q->has_cursor && q->has_offset), "cursor and offset");
    fuzz_check(q->filters.nelts <= CRM_MAX_FILTERS, "filters");
    fuzz_check(q->q.len <= 4 * 200 && fuzz_utf8(&q->q) == NGX_OK, "q");

    for (i = 0, id = 0; i < q->nsort; i++) {
        fuzz_check(q->sort[i].field != NULL, "sort field");
        fuzz_check((q->sort[i].field->flags & CRM_F_SORT) != 0,
                   "sortable");
        fuzz_check((q->sort[i].field >= res->fields
                    && q->sort[i].field < res->fields + res->nfields)
                   || (q->sort[i].field >= extra
                       && q->sort[i].field < extra + nextra),
                   "sort: a field of the resource");

        id += (q->sort[i].field == &res->fields[0]);
    }

    /* the last key unless the client named it: then keys after are moot */

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

    fuzz_plan(res, q, NULL);

    if (!parents) {
        return;
    }

    all = crm_schema_all(&n);

    for (i = 0; i < n; i++) {
        for (k = 0; k < all[i].nlinks; k++) {
            if (ngx_strcmp(all[i].links[k].target, res->name.data) != 0) {
                continue;
            }

            parent.res = &all[i];
            parent.link = &all[i].links[k];
            ngx_str_set(&parent.id, "22222222-2222-2222-2222-222222222222");

            fuzz_plan(res, q, &parent);
        }
    }
}


static void
fuzz_plan(crm_resource_t *res, crm_query_t *q, crm_parent_t *parent)
{
    ngx_str_t   ws;
    crm_stmt_t  st;

    ngx_str_set(&ws, "11111111-1111-1111-1111-111111111111");

    ngx_memzero(&st, sizeof(crm_stmt_t));
    fuzz_check(crm_sql_list(q->filters.pool, res, &ws, q, parent, &st)
               == NGX_OK, "crm_sql_list");
    fuzz_check_stmt(&st, "crm_sql_list");

    ngx_memzero(&st, sizeof(crm_stmt_t));
    fuzz_check(crm_sql_count(q->filters.pool, res, &ws, q, parent, &st)
               == NGX_OK, "crm_sql_count");
    fuzz_check_stmt(&st, "crm_sql_count");
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
