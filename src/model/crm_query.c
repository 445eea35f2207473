
/*
 * ngx_http_crm_module: the query string of a list.
 *
 * limit, cursor, offset/page, sort, fields, count, q and the filters
 * (field=value, field[op]=value) become a crm_query_t.  Every mistake is
 * reported as NGX_DECLINED naming the parameter: an unknown parameter is
 * never ignored.  Pure: nginx core and the resource descriptors only.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "model/crm.h"


#define CRM_QUERY_Q_MAX         200     /* characters of q= */
/* shorter terms have no trigram: they cannot use the search indexes */
#define CRM_QUERY_Q_MIN         3
#define CRM_QUERY_NAME_MAX      64      /* bytes of a name in an error */
#define CRM_QUERY_MSG_MAX       512     /* bytes of an error message */

#define CRM_ORDER_NONE          0
#define CRM_ORDER_ASC           1
#define CRM_ORDER_DESC          2

/* a bit per field type, for the operator table */
#define crm_t(type)             ((ngx_uint_t) 1 << (type))

#define CRM_T_TEXTS                                                          \
    (crm_t(CRM_FT_TEXT)|crm_t(CRM_FT_EMAIL)|crm_t(CRM_FT_ENUM))

#define CRM_T_ORDERED                                                        \
    (crm_t(CRM_FT_INT)|crm_t(CRM_FT_NUMERIC)|crm_t(CRM_FT_TIMESTAMP)         \
     |crm_t(CRM_FT_DATE))

#define CRM_T_ARRAYS                                                         \
    (crm_t(CRM_FT_TEXT_ARRAY)|crm_t(CRM_FT_UUID_ARRAY))

#define CRM_T_ANY                                                            \
    (CRM_T_TEXTS|CRM_T_ORDERED|crm_t(CRM_FT_UUID)|crm_t(CRM_FT_BOOL)         \
     |CRM_T_ARRAYS)


/* parameter kinds: aliases share a kind, a kind may appear once */

typedef enum {
    CRM_QP_LIMIT = 0,
    CRM_QP_CURSOR,
    CRM_QP_OFFSET,
    CRM_QP_PAGE,
    CRM_QP_SORT,
    CRM_QP_SORT_BY,
    CRM_QP_ORDER,
    CRM_QP_FIELDS,
    CRM_QP_COUNT,
    CRM_QP_Q,
    CRM_QP_CREATED_AFTER,
    CRM_QP_CREATED_BEFORE,
    CRM_QP_UPDATED_AFTER,
    CRM_QP_UPDATED_BEFORE,
    CRM_QP_N
} crm_query_kind_e;


typedef struct {
    ngx_pool_t               *pool;
    crm_resource_t           *res;
    crm_query_t              *q;
    crm_error_t              *err;

    ngx_str_t                 name;         /* current parameter, decoded */
    ngx_str_t                 names[CRM_QP_N];
    ngx_uint_t                seen;         /* bits: 1 << kind */
    ngx_uint_t                fields_only;
    ngx_uint_t                none;         /* crm_query_parse_none() */

    ngx_str_t                 cursor;
    ngx_uint_t                page;
    ngx_uint_t                order;        /* CRM_ORDER_* */
    ngx_uint_t                sort_by_sign; /* sort_by had + or - */

    crm_field_t              *extra;        /* custom fields: filters and
                                               sort keys only */
    ngx_uint_t                nextra;
} crm_query_ctx_t;


typedef struct crm_query_param_s  crm_query_param_t;

typedef ngx_int_t (*crm_query_handler_pt)(crm_query_ctx_t *ctx,
    const crm_query_param_t *qp, ngx_str_t *raw);

struct crm_query_param_s {
    ngx_str_t                 name;
    ngx_uint_t                kind;         /* crm_query_kind_e */
    crm_query_handler_pt      handler;
    const char               *field;        /* shorthands: the field */
    ngx_uint_t                op;           /* shorthands: the operator */
};


typedef struct {
    ngx_str_t                 name;
    ngx_uint_t                op;           /* crm_op_e */
    ngx_uint_t                types;        /* crm_t() bits */
} crm_query_op_t;


static ngx_int_t crm_query_run(crm_query_ctx_t *ctx, ngx_str_t *args);
static crm_field_t *crm_query_field(crm_query_ctx_t *ctx, u_char *name,
    size_t len);
static ngx_int_t crm_query_segment(crm_query_ctx_t *ctx, u_char *p,
    u_char *last);
static const crm_query_param_t *crm_query_param(ngx_str_t *name);
static ngx_int_t crm_query_finish(crm_query_ctx_t *ctx, ngx_str_t *secret);
static ngx_int_t crm_query_finish_sort(crm_query_ctx_t *ctx);
static ngx_int_t crm_query_finish_paging(crm_query_ctx_t *ctx,
    ngx_str_t *secret);

static ngx_int_t crm_query_limit(crm_query_ctx_t *ctx,
    const crm_query_param_t *qp, ngx_str_t *raw);
static ngx_int_t crm_query_cursor(crm_query_ctx_t *ctx,
    const crm_query_param_t *qp, ngx_str_t *raw);
static ngx_int_t crm_query_offset(crm_query_ctx_t *ctx,
    const crm_query_param_t *qp, ngx_str_t *raw);
static ngx_int_t crm_query_page(crm_query_ctx_t *ctx,
    const crm_query_param_t *qp, ngx_str_t *raw);
static ngx_int_t crm_query_sort(crm_query_ctx_t *ctx,
    const crm_query_param_t *qp, ngx_str_t *raw);
static ngx_int_t crm_query_order(crm_query_ctx_t *ctx,
    const crm_query_param_t *qp, ngx_str_t *raw);
static ngx_int_t crm_query_fields(crm_query_ctx_t *ctx,
    const crm_query_param_t *qp, ngx_str_t *raw);
static ngx_int_t crm_query_count(crm_query_ctx_t *ctx,
    const crm_query_param_t *qp, ngx_str_t *raw);
static ngx_int_t crm_query_search(crm_query_ctx_t *ctx,
    const crm_query_param_t *qp, ngx_str_t *raw);
static ngx_int_t crm_query_range(crm_query_ctx_t *ctx,
    const crm_query_param_t *qp, ngx_str_t *raw);

static ngx_int_t crm_query_sort_key(crm_query_ctx_t *ctx, ngx_str_t *key,
    ngx_uint_t *sign);
static ngx_int_t crm_query_filter(crm_query_ctx_t *ctx, ngx_str_t *raw);
static ngx_int_t crm_query_filter_name(crm_query_ctx_t *ctx,
    crm_field_t **field, const crm_query_op_t **op);
static ngx_int_t crm_query_filter_values(crm_query_ctx_t *ctx,
    crm_filter_t *flt, ngx_str_t *raw);
static ngx_int_t crm_query_filter_value(crm_query_ctx_t *ctx,
    crm_filter_t *flt, ngx_str_t *raw);
static ngx_int_t crm_query_filter_check(crm_query_ctx_t *ctx,
    crm_filter_t *flt, ngx_str_t *v);
static ngx_int_t crm_query_enum_check(crm_query_ctx_t *ctx,
    crm_field_t *f, ngx_str_t *v);
static ngx_int_t crm_query_filter_add(crm_query_ctx_t *ctx, crm_field_t *f,
    ngx_uint_t op, ngx_uint_t n, crm_filter_t **filter);

static ngx_int_t crm_query_value(crm_query_ctx_t *ctx, ngx_str_t *raw,
    ngx_str_t *value);
static ngx_int_t crm_query_number(crm_query_ctx_t *ctx, ngx_str_t *raw,
    ngx_uint_t min, ngx_uint_t max, ngx_uint_t *n);
static ngx_int_t crm_query_word(crm_query_ctx_t *ctx, ngx_str_t *raw,
    const char **words, ngx_uint_t *index);
static ngx_int_t crm_query_next_item(ngx_str_t *list, ngx_str_t *item);
static ngx_int_t crm_query_hex(u_char c);


static ngx_int_t crm_query_error(crm_query_ctx_t *ctx, ngx_str_t *param,
    const char *code, const char *fmt, ...);
static void crm_query_clip(ngx_str_t *in, ngx_str_t *out);
static ngx_int_t crm_query_printable(ngx_pool_t *pool, u_char *p,
    size_t len, ngx_str_t *out);


static const crm_query_param_t  crm_query_params[] = {

    { ngx_string("limit"), CRM_QP_LIMIT, crm_query_limit, NULL, 0 },
    { ngx_string("maxSize"), CRM_QP_LIMIT, crm_query_limit, NULL, 0 },
    { ngx_string("cursor"), CRM_QP_CURSOR, crm_query_cursor, NULL, 0 },
    { ngx_string("offset"), CRM_QP_OFFSET, crm_query_offset, NULL, 0 },
    { ngx_string("page"), CRM_QP_PAGE, crm_query_page, NULL, 0 },
    { ngx_string("sort"), CRM_QP_SORT, crm_query_sort, NULL, 0 },
    { ngx_string("sort_by"), CRM_QP_SORT_BY, crm_query_sort, NULL, 0 },
    { ngx_string("orderBy"), CRM_QP_SORT_BY, crm_query_sort, NULL, 0 },
    { ngx_string("order"), CRM_QP_ORDER, crm_query_order, NULL, 0 },
    { ngx_string("fields"), CRM_QP_FIELDS, crm_query_fields, NULL, 0 },
    { ngx_string("select"), CRM_QP_FIELDS, crm_query_fields, NULL, 0 },
    { ngx_string("count"), CRM_QP_COUNT, crm_query_count, NULL, 0 },
    { ngx_string("q"), CRM_QP_Q, crm_query_search, NULL, 0 },

    { ngx_string("created_after"), CRM_QP_CREATED_AFTER, crm_query_range,
      "createdAt", CRM_OP_GT },
    { ngx_string("createdAfter"), CRM_QP_CREATED_AFTER, crm_query_range,
      "createdAt", CRM_OP_GT },
    { ngx_string("created_before"), CRM_QP_CREATED_BEFORE, crm_query_range,
      "createdAt", CRM_OP_LT },
    { ngx_string("createdBefore"), CRM_QP_CREATED_BEFORE, crm_query_range,
      "createdAt", CRM_OP_LT },
    { ngx_string("updated_after"), CRM_QP_UPDATED_AFTER, crm_query_range,
      "updatedAt", CRM_OP_GT },
    { ngx_string("updatedAfter"), CRM_QP_UPDATED_AFTER, crm_query_range,
      "updatedAt", CRM_OP_GT },
    { ngx_string("updated_before"), CRM_QP_UPDATED_BEFORE, crm_query_range,
      "updatedAt", CRM_OP_LT },
    { ngx_string("updatedBefore"), CRM_QP_UPDATED_BEFORE, crm_query_range,
      "updatedAt", CRM_OP_LT },

    { ngx_null_string, 0, NULL, NULL, 0 }
};


/* "is" is CRM_OP_IS_NULL here; its value picks IS_NULL or IS_NOT_NULL */

static const crm_query_op_t  crm_query_ops[] = {
    { ngx_string("eq"), CRM_OP_EQ,
      CRM_T_ANY },
    { ngx_string("ne"), CRM_OP_NE,
      CRM_T_TEXTS|CRM_T_ORDERED|crm_t(CRM_FT_UUID)|crm_t(CRM_FT_BOOL) },
    { ngx_string("gt"), CRM_OP_GT, CRM_T_TEXTS|CRM_T_ORDERED },
    { ngx_string("gte"), CRM_OP_GTE, CRM_T_TEXTS|CRM_T_ORDERED },
    { ngx_string("lt"), CRM_OP_LT, CRM_T_TEXTS|CRM_T_ORDERED },
    { ngx_string("lte"), CRM_OP_LTE, CRM_T_TEXTS|CRM_T_ORDERED },
    { ngx_string("in"), CRM_OP_IN,
      CRM_T_TEXTS|CRM_T_ORDERED|crm_t(CRM_FT_UUID)|CRM_T_ARRAYS },
    { ngx_string("nin"), CRM_OP_NIN,
      CRM_T_TEXTS|CRM_T_ORDERED|crm_t(CRM_FT_UUID)|CRM_T_ARRAYS },
    { ngx_string("like"), CRM_OP_LIKE, CRM_T_TEXTS },
    { ngx_string("is"), CRM_OP_IS_NULL, CRM_T_ANY },
    { ngx_null_string, 0, 0 }
};


/* what a value of each type looks like, for messages */

static const char  *crm_query_type_text[] = {
    "a UUID",
    "text of at most 1000 bytes",
    "text of at most 1000 bytes",
    "one of the field's values",
    "an integer",
    "a number",
    "true or false",
    "an ISO 8601 timestamp such as 2026-01-15T10:30:00Z",
    "a date such as 2026-01-15",
    "an element of at most 1020 bytes (255 characters)",
    "nothing: objects cannot be filtered"
};


static const char  *crm_query_orders[] = { "asc", "desc", NULL };
static const char  *crm_query_counts[] = { "exact", "estimated", NULL };
static const char  *crm_query_is[] = { "null", "notnull", NULL };


ngx_int_t
crm_query_parse(ngx_pool_t *pool, crm_resource_t *res, ngx_str_t *args,
    ngx_str_t *secret, crm_query_t *q, crm_error_t *err)
{
    return crm_query_parse_ext(pool, res, NULL, 0, args, secret, q, err);
}


ngx_int_t
crm_query_parse_ext(ngx_pool_t *pool, crm_resource_t *res,
    crm_field_t *extra, ngx_uint_t nextra, ngx_str_t *args,
    ngx_str_t *secret, crm_query_t *q, crm_error_t *err)
{
    ngx_int_t        rc;
    crm_query_ctx_t  ctx;

    ngx_memzero(&ctx, sizeof(crm_query_ctx_t));

    ctx.pool = pool;
    ctx.res = res;
    ctx.q = q;
    ctx.err = err;
    ctx.extra = extra;
    ctx.nextra = nextra;

    rc = crm_query_run(&ctx, args);
    if (rc != NGX_OK) {
        return rc;
    }

    return crm_query_finish(&ctx, secret);
}


ngx_int_t
crm_query_parse_fields(ngx_pool_t *pool, crm_resource_t *res,
    ngx_str_t *args, crm_query_t *q, crm_error_t *err)
{
    crm_query_ctx_t  ctx;

    ngx_memzero(&ctx, sizeof(crm_query_ctx_t));

    ctx.pool = pool;
    ctx.res = res;
    ctx.q = q;
    ctx.err = err;
    ctx.fields_only = 1;

    return crm_query_run(&ctx, args);
}


ngx_int_t
crm_query_parse_none(ngx_pool_t *pool, ngx_str_t *args, crm_error_t *err)
{
    crm_query_t      q;
    crm_query_ctx_t  ctx;

    ngx_memzero(&ctx, sizeof(crm_query_ctx_t));

    ctx.pool = pool;
    ctx.q = &q;
    ctx.err = err;
    ctx.none = 1;

    return crm_query_run(&ctx, args);
}


/* a field of the resource, or one of the extra (custom) fields */

static crm_field_t *
crm_query_field(crm_query_ctx_t *ctx, u_char *name, size_t len)
{
    ngx_uint_t    i;
    crm_field_t  *f;

    f = crm_schema_field(ctx->res, name, len);
    if (f != NULL) {
        return f;
    }

    for (i = 0; i < ctx->nextra; i++) {
        f = &ctx->extra[i];

        if (f->name.len == len && ngx_strncmp(f->name.data, name, len) == 0) {
            return f;
        }
    }

    return NULL;
}


/* the defaults, then every "&"-separated segment; empty ones are skipped */

static ngx_int_t
crm_query_run(crm_query_ctx_t *ctx, ngx_str_t *args)
{
    u_char       *p, *last, *amp;
    ngx_int_t     rc;
    crm_query_t  *q;

    q = ctx->q;

    ngx_memzero(q, sizeof(crm_query_t));
    ngx_memzero(ctx->err, sizeof(crm_error_t));

    q->limit = CRM_LIMIT_DEFAULT;

    if (ngx_array_init(&q->filters, ctx->pool, 4, sizeof(crm_filter_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (args == NULL || args->len == 0) {
        return NGX_OK;
    }

    p = args->data;
    last = p + args->len;

    for ( ;; ) {
        amp = ngx_strlchr(p, last, '&');
        if (amp == NULL) {
            amp = last;
        }

        if (amp > p) {
            rc = crm_query_segment(ctx, p, amp);
            if (rc != NGX_OK) {
                return rc;
            }
        }

        if (amp == last) {
            return NGX_OK;
        }

        p = amp + 1;
    }
}


/* one "name[=value]" */

static ngx_int_t
crm_query_segment(crm_query_ctx_t *ctx, u_char *p, u_char *last)
{
    u_char                   *eq, *end;
    ngx_int_t                 rc;
    ngx_str_t                 raw, bad;
    ngx_uint_t                bit;
    const crm_query_param_t  *qp;

    eq = ngx_strlchr(p, last, '=');
    end = (eq != NULL) ? eq : last;

    raw.data = (eq != NULL) ? eq + 1 : last;
    raw.len = last - raw.data;

    rc = crm_query_unescape(ctx->pool, p, end - p, &ctx->name);

    if (rc == NGX_ERROR) {
        return NGX_ERROR;
    }

    if (rc == NGX_DECLINED) {
        if (crm_query_printable(ctx->pool, p, end - p, &bad) != NGX_OK) {
            return NGX_ERROR;
        }

        return crm_query_error(ctx, &bad, "invalid_encoding",
                               "a parameter name is not valid "
                               "percent-encoded UTF-8");
    }

    if (ctx->none) {
        return crm_query_error(ctx, &ctx->name, "unknown_parameter",
                               "unknown query parameter \"%V\": this route "
                               "takes none", &ctx->err->param);
    }

    qp = crm_query_param(&ctx->name);

    if (ctx->fields_only && (qp == NULL || qp->kind != CRM_QP_FIELDS)) {
        return crm_query_error(ctx, &ctx->name, "unknown_parameter",
                               "unknown query parameter \"%V\": only "
                               "\"fields\" is accepted here",
                               &ctx->err->param);
    }

    if (qp == NULL) {
        return crm_query_filter(ctx, &raw);
    }

    bit = (ngx_uint_t) 1 << qp->kind;

    if (ctx->seen & bit) {
        return crm_query_error(ctx, &ctx->name, "duplicate_parameter",
                               "the parameter \"%V\" is given twice, or "
                               "with an alias", &ctx->err->param);
    }

    ctx->seen |= bit;
    ctx->names[qp->kind] = ctx->name;

    return qp->handler(ctx, qp, &raw);
}


static const crm_query_param_t *
crm_query_param(ngx_str_t *name)
{
    const crm_query_param_t  *qp;

    for (qp = crm_query_params; qp->name.len != 0; qp++) {
        if (qp->name.len == name->len
            && ngx_strncmp(qp->name.data, name->data, name->len) == 0)
        {
            return qp;
        }
    }

    return NULL;
}


/* what depends on several parameters: sort, paging, the cursor */

static ngx_int_t
crm_query_finish(crm_query_ctx_t *ctx, ngx_str_t *secret)
{
    ngx_int_t  rc;

    rc = crm_query_finish_sort(ctx);
    if (rc != NGX_OK) {
        return rc;
    }

    /* what a cursor is bound to, before an added filter can change it */

    if (crm_cursor_shape(ctx->pool, ctx->q) != NGX_OK) {
        return NGX_ERROR;
    }

    return crm_query_finish_paging(ctx, secret);
}


/*
 * sort=, or sort_by=/orderBy= with order=, or -createdAt; then the id
 * ascending as the final tiebreaker unless it is a key already
 */

static ngx_int_t
crm_query_finish_sort(crm_query_ctx_t *ctx)
{
    ngx_uint_t       i, want;
    crm_field_t     *f;
    crm_query_t     *q;
    crm_resource_t  *res;

    q = ctx->q;
    res = ctx->res;

    if ((ctx->seen & (1 << CRM_QP_SORT)) && ctx->order != CRM_ORDER_NONE) {
        return crm_query_error(ctx, &ctx->names[CRM_QP_ORDER],
                               "conflicting_parameters",
                               "\"order\" goes with \"sort_by\"; in \"%V\" "
                               "use a \"-\" prefix for descending",
                               &ctx->names[CRM_QP_SORT]);
    }

    if (q->nsort == 0) {
        f = crm_schema_field(res, (u_char *) "createdAt",
                             sizeof("createdAt") - 1);

        if (f != NULL && (f->flags & CRM_F_SORT)) {
            q->sort[0].field = f;
            q->sort[0].desc = 1;
            q->nsort = 1;
        }
    }

    if (ctx->order != CRM_ORDER_NONE && q->nsort > 0) {
        want = (ctx->order == CRM_ORDER_DESC) ? 1 : 0;

        if (ctx->sort_by_sign && q->sort[0].desc != want) {
            return crm_query_error(ctx, &ctx->names[CRM_QP_ORDER],
                                   "conflicting_parameters",
                                   "\"order\" contradicts the sign in "
                                   "\"%V\"", &ctx->names[CRM_QP_SORT_BY]);
        }

        q->sort[0].desc = want;
    }

    for (i = 0; i < q->nsort; i++) {
        if (q->sort[i].field == &res->fields[0]) {
            return NGX_OK;
        }
    }

    q->sort[q->nsort].field = &res->fields[0];
    q->sort[q->nsort].desc = 0;
    q->nsort++;

    return NGX_OK;
}


static ngx_int_t
crm_query_finish_paging(crm_query_ctx_t *ctx, ngx_str_t *secret)
{
    ngx_int_t     rc;
    crm_query_t  *q;

    q = ctx->q;

    if ((ctx->seen & (1 << CRM_QP_CURSOR))
        && (ctx->seen & ((1 << CRM_QP_OFFSET) | (1 << CRM_QP_PAGE))))
    {
        return crm_query_error(ctx, &ctx->names[CRM_QP_CURSOR],
                               "conflicting_parameters",
                               "\"cursor\" cannot be combined with "
                               "\"offset\" or \"page\"");
    }

    if ((ctx->seen & (1 << CRM_QP_OFFSET))
        && (ctx->seen & (1 << CRM_QP_PAGE)))
    {
        return crm_query_error(ctx, &ctx->names[CRM_QP_PAGE],
                               "conflicting_parameters",
                               "\"page\" cannot be combined with "
                               "\"offset\"");
    }

    if (ctx->page > 0) {
        if (ctx->page - 1 > (ngx_uint_t) NGX_MAX_INT_T_VALUE / q->limit) {
            return crm_query_error(ctx, &ctx->names[CRM_QP_PAGE],
                                   "out_of_range", "\"page\" is too large");
        }

        q->offset = (ctx->page - 1) * q->limit;
        q->has_offset = 1;
    }

    if (!(ctx->seen & (1 << CRM_QP_CURSOR))) {
        return NGX_OK;
    }

    rc = crm_cursor_decode(ctx->pool, secret, q, &ctx->cursor);

    if (rc == NGX_DECLINED) {
        return crm_query_error(ctx, &ctx->names[CRM_QP_CURSOR],
                               "invalid_cursor",
                               "the cursor is invalid, or was made for "
                               "another list, workspace, sort order or "
                               "filter");
    }

    return rc;
}


/* the parameters */

static ngx_int_t
crm_query_limit(crm_query_ctx_t *ctx, const crm_query_param_t *qp,
    ngx_str_t *raw)
{
    return crm_query_number(ctx, raw, 1, CRM_LIMIT_MAX, &ctx->q->limit);
}


static ngx_int_t
crm_query_cursor(crm_query_ctx_t *ctx, const crm_query_param_t *qp,
    ngx_str_t *raw)
{
    return crm_query_value(ctx, raw, &ctx->cursor);
}


static ngx_int_t
crm_query_offset(crm_query_ctx_t *ctx, const crm_query_param_t *qp,
    ngx_str_t *raw)
{
    ngx_int_t  rc;

    rc = crm_query_number(ctx, raw, 0, NGX_MAX_INT_T_VALUE,
                          &ctx->q->offset);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx->q->has_offset = 1;

    return NGX_OK;
}


static ngx_int_t
crm_query_page(crm_query_ctx_t *ctx, const crm_query_param_t *qp,
    ngx_str_t *raw)
{
    return crm_query_number(ctx, raw, 1, NGX_MAX_INT_T_VALUE, &ctx->page);
}


/* sort=-a,b,+c (at most CRM_MAX_SORT keys); sort_by=/orderBy= one key */

static ngx_int_t
crm_query_sort(crm_query_ctx_t *ctx, const crm_query_param_t *qp,
    ngx_str_t *raw)
{
    ngx_int_t   rc;
    ngx_str_t   value, key;
    ngx_uint_t  sign, other;

    other = (qp->kind == CRM_QP_SORT) ? CRM_QP_SORT_BY : CRM_QP_SORT;

    if (ctx->seen & ((ngx_uint_t) 1 << other)) {
        return crm_query_error(ctx, &ctx->name, "conflicting_parameters",
                               "\"%V\" and \"%V\" cannot be combined",
                               &ctx->names[other], &ctx->err->param);
    }

    rc = crm_query_value(ctx, raw, &value);
    if (rc != NGX_OK) {
        return rc;
    }

    if (value.len == 0) {
        return crm_query_error(ctx, &ctx->name, "invalid_value",
                               "\"%V\" names no field", &ctx->err->param);
    }

    if (qp->kind == CRM_QP_SORT_BY && ngx_strlchr(value.data,
                                                  value.data + value.len,
                                                  ',')
                                      != NULL)
    {
        return crm_query_error(ctx, &ctx->name, "invalid_value",
                               "\"%V\" takes one field; \"sort\" takes "
                               "several", &ctx->err->param);
    }

    while (crm_query_next_item(&value, &key) == NGX_OK) {
        rc = crm_query_sort_key(ctx, &key, &sign);
        if (rc != NGX_OK) {
            return rc;
        }

        ctx->sort_by_sign = sign;
    }

    return NGX_OK;
}


static ngx_int_t
crm_query_order(crm_query_ctx_t *ctx, const crm_query_param_t *qp,
    ngx_str_t *raw)
{
    ngx_int_t   rc;
    ngx_uint_t  i;

    rc = crm_query_word(ctx, raw, crm_query_orders, &i);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx->order = (i == 0) ? CRM_ORDER_ASC : CRM_ORDER_DESC;

    return NGX_OK;
}


/* fields=a,b: fields[i] is rendered when select[i] != 0; id always */

static ngx_int_t
crm_query_fields(crm_query_ctx_t *ctx, const crm_query_param_t *qp,
    ngx_str_t *raw)
{
    ngx_int_t     rc;
    ngx_str_t     value, item, clip;
    crm_field_t  *f;

    rc = crm_query_value(ctx, raw, &value);
    if (rc != NGX_OK) {
        return rc;
    }

    if (value.len == 0) {
        return crm_query_error(ctx, &ctx->name, "invalid_value",
                               "\"%V\" names no field", &ctx->err->param);
    }

    ctx->q->select = ngx_pcalloc(ctx->pool, ctx->res->nfields);
    if (ctx->q->select == NULL) {
        return NGX_ERROR;
    }

    ctx->q->select[0] = 1;

    while (crm_query_next_item(&value, &item) == NGX_OK) {
        f = crm_schema_field(ctx->res, item.data, item.len);

        if (f == NULL) {
            crm_query_clip(&item, &clip);

            return crm_query_error(ctx, &ctx->name, "unknown_field",
                                   "\"%V\" names an unknown field \"%V\"",
                                   &ctx->err->param, &clip);
        }

        ctx->q->select[crm_schema_field_index(ctx->res, f)] = 1;
    }

    return NGX_OK;
}


static ngx_int_t
crm_query_count(crm_query_ctx_t *ctx, const crm_query_param_t *qp,
    ngx_str_t *raw)
{
    ngx_int_t   rc;
    ngx_uint_t  i;

    rc = crm_query_word(ctx, raw, crm_query_counts, &i);
    if (rc != NGX_OK) {
        return rc;
    }

    ctx->q->count = (i == 0) ? CRM_COUNT_EXACT : CRM_COUNT_ESTIMATED;

    return NGX_OK;
}


static ngx_int_t
crm_query_search(crm_query_ctx_t *ctx, const crm_query_param_t *qp,
    ngx_str_t *raw)
{
    size_t     chars;
    ngx_int_t  rc;
    ngx_str_t  value;

    rc = crm_query_value(ctx, raw, &value);
    if (rc != NGX_OK) {
        return rc;
    }

    if (!crm_sql_searchable(ctx->res)) {
        /* an empty answer would look like "no match" */
        return crm_query_error(ctx, &ctx->name, "not_searchable",
                               "%V have no searchable fields: \"%V\" "
                               "cannot be used here", &ctx->res->name,
                               &ctx->err->param);
    }

    (void) crm_value_utf8(value.data, value.len, &chars);

    if (chars < CRM_QUERY_Q_MIN || chars > CRM_QUERY_Q_MAX) {
        return crm_query_error(ctx, &ctx->name, "invalid_value",
                               "\"%V\" must be %d to %d characters",
                               &ctx->err->param, CRM_QUERY_Q_MIN,
                               CRM_QUERY_Q_MAX);
    }

    ctx->q->q = value;

    return NGX_OK;
}


/* created_after= and the like: a gt or lt filter on a timestamp */

static ngx_int_t
crm_query_range(crm_query_ctx_t *ctx, const crm_query_param_t *qp,
    ngx_str_t *raw)
{
    ngx_int_t      rc;
    crm_field_t   *f;
    crm_filter_t  *flt;

    f = crm_schema_field(ctx->res, (u_char *) qp->field,
                         ngx_strlen(qp->field));

    if (f == NULL || !(f->flags & CRM_F_FILTER)) {
        return crm_query_error(ctx, &ctx->name, "unknown_parameter",
                               "unknown query parameter \"%V\"",
                               &ctx->err->param);
    }

    rc = crm_query_filter_add(ctx, f, qp->op, 1, &flt);
    if (rc != NGX_OK) {
        return rc;
    }

    return crm_query_filter_value(ctx, flt, raw);
}


/* one sort key: [-|+]name; a "+" arrives as a space when not escaped */

static ngx_int_t
crm_query_sort_key(crm_query_ctx_t *ctx, ngx_str_t *key, ngx_uint_t *sign)
{
    ngx_str_t     name, clip;
    ngx_uint_t    i, desc;
    crm_field_t  *f;
    crm_query_t  *q;

    q = ctx->q;
    name = *key;
    desc = 0;
    *sign = 0;

    if (name.len > 0
        && (name.data[0] == '-' || name.data[0] == '+'
            || name.data[0] == ' '))
    {
        desc = (name.data[0] == '-');
        *sign = 1;
        name.data++;
        name.len--;
    }

    crm_query_clip(&name, &clip);

    f = crm_query_field(ctx, name.data, name.len);

    if (f == NULL) {
        return crm_query_error(ctx, &ctx->name, "unknown_field",
                               "\"%V\" names an unknown field \"%V\"",
                               &ctx->err->param, &clip);
    }

    if (!(f->flags & CRM_F_SORT)) {
        return crm_query_error(ctx, &ctx->name, "not_sortable",
                               "the field \"%V\" cannot be sorted on",
                               &f->name);
    }

    for (i = 0; i < q->nsort; i++) {
        if (q->sort[i].field == f) {
            return crm_query_error(ctx, &ctx->name, "invalid_value",
                                   "\"%V\" names the field \"%V\" twice",
                                   &ctx->err->param, &f->name);
        }
    }

    if (q->nsort == CRM_MAX_SORT) {
        return crm_query_error(ctx, &ctx->name, "too_many_sort_keys",
                               "\"%V\" takes at most %d fields",
                               &ctx->err->param, CRM_MAX_SORT);
    }

    q->sort[q->nsort].field = f;
    q->sort[q->nsort].desc = desc;
    q->nsort++;

    return NGX_OK;
}


/* field=value or field[op]=value */

static ngx_int_t
crm_query_filter(crm_query_ctx_t *ctx, ngx_str_t *raw)
{
    ngx_int_t              rc;
    ngx_uint_t             i, op;
    crm_field_t           *f;
    crm_filter_t          *flt;
    const crm_query_op_t  *qo;

    /* set on NGX_OK only; gcc cannot tell */
    f = NULL;
    qo = NULL;

    rc = crm_query_filter_name(ctx, &f, &qo);
    if (rc != NGX_OK) {
        return rc;
    }

    op = qo->op;

    if (op == CRM_OP_IS_NULL) {
        rc = crm_query_word(ctx, raw, crm_query_is, &i);
        if (rc != NGX_OK) {
            return rc;
        }

        op = (i == 0) ? CRM_OP_IS_NULL : CRM_OP_IS_NOT_NULL;

        return crm_query_filter_add(ctx, f, op, 1, &flt);
    }

    if (op == CRM_OP_IN || op == CRM_OP_NIN) {
        rc = crm_query_filter_add(ctx, f, op, 8, &flt);
        if (rc != NGX_OK) {
            return rc;
        }

        return crm_query_filter_values(ctx, flt, raw);
    }

    rc = crm_query_filter_add(ctx, f, op, 1, &flt);
    if (rc != NGX_OK) {
        return rc;
    }

    return crm_query_filter_value(ctx, flt, raw);
}


static ngx_int_t
crm_query_filter_name(crm_query_ctx_t *ctx, crm_field_t **field,
    const crm_query_op_t **op)
{
    u_char                *lb, *last;
    ngx_str_t              name, opname;
    crm_field_t           *f;
    const crm_query_op_t  *qo;

    name = ctx->name;
    last = name.data + name.len;
    ngx_str_set(&opname, "eq");

    lb = ngx_strlchr(name.data, last, '[');

    if (lb != NULL) {
        if (last[-1] != ']' || lb == name.data) {
            return crm_query_error(ctx, &ctx->name, "unknown_parameter",
                                   "unknown query parameter \"%V\"",
                                   &ctx->err->param);
        }

        opname.data = lb + 1;
        opname.len = last - 1 - opname.data;
        name.len = lb - name.data;
    }

    f = crm_query_field(ctx, name.data, name.len);

    if (f == NULL) {
        return crm_query_error(ctx, &ctx->name, "unknown_parameter",
                               "unknown query parameter \"%V\"",
                               &ctx->err->param);
    }

    if (!(f->flags & CRM_F_FILTER)) {
        return crm_query_error(ctx, &ctx->name, "not_filterable",
                               "the field \"%V\" cannot be filtered on",
                               &f->name);
    }

    for (qo = crm_query_ops; qo->name.len != 0; qo++) {
        if (qo->name.len == opname.len
            && ngx_strncmp(qo->name.data, opname.data, opname.len) == 0)
        {
            break;
        }
    }

    if (qo->name.len == 0) {
        return crm_query_error(ctx, &ctx->name, "unknown_operator",
                               "unknown operator in \"%V\": use eq, ne, "
                               "gt, gte, lt, lte, in, nin, like or is",
                               &ctx->err->param);
    }

    if (!(qo->types & crm_t(f->type))) {
        return crm_query_error(ctx, &ctx->name, "invalid_operator",
                               "the operator \"%V\" does not apply to the "
                               "field \"%V\"", &qo->name, &f->name);
    }

    *field = f;
    *op = qo;

    return NGX_OK;
}


/* in/nin: the raw value is split first, so "%2C" is a comma in a value */

static ngx_int_t
crm_query_filter_values(crm_query_ctx_t *ctx, crm_filter_t *flt,
    ngx_str_t *raw)
{
    ngx_int_t  rc;
    ngx_str_t  list, item;

    list = *raw;

    while (crm_query_next_item(&list, &item) == NGX_OK) {

        if (flt->values.nelts == CRM_MAX_IN_VALUES) {
            return crm_query_error(ctx, &ctx->name, "too_many_values",
                                   "\"%V\" takes at most %d values",
                                   &ctx->err->param, CRM_MAX_IN_VALUES);
        }

        rc = crm_query_filter_value(ctx, flt, &item);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return NGX_OK;
}


static ngx_int_t
crm_query_filter_value(crm_query_ctx_t *ctx, crm_filter_t *flt,
    ngx_str_t *raw)
{
    ngx_int_t   rc;
    ngx_str_t   value, *v;

    rc = crm_query_value(ctx, raw, &value);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = crm_query_filter_check(ctx, flt, &value);
    if (rc != NGX_OK) {
        return rc;
    }

    v = ngx_array_push(&flt->values);
    if (v == NULL) {
        return NGX_ERROR;
    }

    *v = value;

    return NGX_OK;
}


/*
 * "like" takes any non-empty text; text[] filters take an element (as
 * long as a record's may be); an enum takes one of its values (a select
 * custom field any text); the rest: crm_value_check()
 */

static ngx_int_t
crm_query_filter_check(crm_query_ctx_t *ctx, crm_filter_t *flt,
    ngx_str_t *v)
{
    ngx_uint_t    type;
    crm_field_t  *f;

    f = flt->field;
    type = f->type;

    if (flt->op == CRM_OP_LIKE) {
        type = CRM_FT_TEXT;

    } else if (type == CRM_FT_UUID_ARRAY) {
        type = CRM_FT_UUID;

    } else if (type == CRM_FT_ENUM && (f->flags & CRM_F_EXPR)) {
        /*
         * a select custom field: records keep a value its options no
         * longer have until they are written again, and a filter finds
         * them by it
         */
        type = CRM_FT_TEXT;

    } else if (type == CRM_FT_ENUM) {
        return crm_query_enum_check(ctx, f, v);
    }

    if (crm_value_check(type, v) == NGX_OK
        && (flt->op != CRM_OP_LIKE || v->len > 0))
    {
        return NGX_OK;
    }

    return crm_query_error(ctx, &ctx->name, "invalid_value",
                           "invalid value for \"%V\": expected %s",
                           &ctx->err->param, crm_query_type_text[type]);
}


static ngx_int_t
crm_query_enum_check(crm_query_ctx_t *ctx, crm_field_t *f, ngx_str_t *v)
{
    u_char       *p, *last;
    const char  **e;

    for (e = f->enum_values; e != NULL && *e != NULL; e++) {
        if (ngx_strlen(*e) == v->len
            && ngx_strncmp(*e, v->data, v->len) == 0)
        {
            return NGX_OK;
        }
    }

    if (crm_query_error(ctx, &ctx->name, "invalid_value",
                        "invalid value for \"%V\": expected one of",
                        &ctx->err->param)
        != NGX_DECLINED)
    {
        return NGX_ERROR;
    }

    /* the message buffer is CRM_QUERY_MSG_MAX bytes: list the values */

    p = ctx->err->message.data + ctx->err->message.len;
    last = ctx->err->message.data + CRM_QUERY_MSG_MAX;

    for (e = f->enum_values; e != NULL && *e != NULL; e++) {
        p = ngx_slprintf(p, last, "%s %s", (e == f->enum_values) ? "" : ",",
                         *e);
    }

    ctx->err->message.len = p - ctx->err->message.data;

    return NGX_DECLINED;
}


/* a filter with room for n values; at most CRM_MAX_FILTERS of them */

static ngx_int_t
crm_query_filter_add(crm_query_ctx_t *ctx, crm_field_t *f, ngx_uint_t op,
    ngx_uint_t n, crm_filter_t **filter)
{
    crm_filter_t  *flt;

    if (ctx->q->filters.nelts == CRM_MAX_FILTERS) {
        return crm_query_error(ctx, &ctx->name, "too_many_filters",
                               "at most %d filters are allowed",
                               CRM_MAX_FILTERS);
    }

    flt = ngx_array_push(&ctx->q->filters);
    if (flt == NULL) {
        return NGX_ERROR;
    }

    flt->field = f;
    flt->op = op;

    if (ngx_array_init(&flt->values, ctx->pool, n, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    *filter = flt;

    return NGX_OK;
}


/* values */

static ngx_int_t
crm_query_value(crm_query_ctx_t *ctx, ngx_str_t *raw, ngx_str_t *value)
{
    ngx_int_t  rc;

    rc = crm_query_unescape(ctx->pool, raw->data, raw->len, value);

    if (rc == NGX_DECLINED) {
        return crm_query_error(ctx, &ctx->name, "invalid_encoding",
                               "the value of \"%V\" is not valid "
                               "percent-encoded UTF-8 text",
                               &ctx->err->param);
    }

    return rc;
}


static ngx_int_t
crm_query_number(crm_query_ctx_t *ctx, ngx_str_t *raw, ngx_uint_t min,
    ngx_uint_t max, ngx_uint_t *n)
{
    ngx_int_t  rc, v;
    ngx_str_t  value;

    rc = crm_query_value(ctx, raw, &value);
    if (rc != NGX_OK) {
        return rc;
    }

    v = ngx_atoi(value.data, value.len);

    if (v == NGX_ERROR) {
        return crm_query_error(ctx, &ctx->name, "invalid_value",
                               "\"%V\" must be a whole number",
                               &ctx->err->param);
    }

    if ((ngx_uint_t) v < min || (ngx_uint_t) v > max) {
        return crm_query_error(ctx, &ctx->name, "out_of_range",
                               "\"%V\" must be between %ui and %ui",
                               &ctx->err->param, min, max);
    }

    *n = (ngx_uint_t) v;

    return NGX_OK;
}


/* one of a NULL-terminated list of words; *index: which */

static ngx_int_t
crm_query_word(crm_query_ctx_t *ctx, ngx_str_t *raw, const char **words,
    ngx_uint_t *index)
{
    ngx_int_t   rc;
    ngx_str_t   value;
    ngx_uint_t  i;

    rc = crm_query_value(ctx, raw, &value);
    if (rc != NGX_OK) {
        return rc;
    }

    for (i = 0; words[i] != NULL; i++) {
        if (ngx_strlen(words[i]) == value.len
            && ngx_strncmp(words[i], value.data, value.len) == 0)
        {
            *index = i;
            return NGX_OK;
        }
    }

    return crm_query_error(ctx, &ctx->name, "invalid_value",
                           "\"%V\" must be %s or %s", &ctx->err->param,
                           words[0], words[1]);
}


/* the next comma-separated item of *list, which is advanced */

static ngx_int_t
crm_query_next_item(ngx_str_t *list, ngx_str_t *item)
{
    u_char  *comma, *last;

    if (list->data == NULL) {
        return NGX_DONE;
    }

    last = list->data + list->len;
    comma = ngx_strlchr(list->data, last, ',');

    item->data = list->data;

    if (comma == NULL) {
        item->len = list->len;
        list->data = NULL;
        list->len = 0;

        return NGX_OK;
    }

    item->len = comma - list->data;
    list->len = last - (comma + 1);
    list->data = comma + 1;

    return NGX_OK;
}


/*
 * Whether "args", decoded as the parser decodes it, mentions a custom
 * field ("customFields." in a filter's name, in a sort's value, even in
 * a q): the definitions are then loaded, at worst for nothing.  Decoded
 * as it is searched: no pool.
 */

ngx_uint_t
crm_query_names_custom(ngx_str_t *args)
{
    u_char       c, *p, *last;
    ngx_int_t    hi, lo;
    ngx_uint_t   i;
    static const char  word[] = "customFields.";

    p = args->data;
    last = args->data + args->len;
    i = 0;

    while (p < last) {
        c = *p++;

        if (c == '%' && last - p >= 2) {
            hi = ngx_hextoi(p, 1);
            lo = ngx_hextoi(p + 1, 1);

            if (hi != NGX_ERROR && lo != NGX_ERROR) {
                c = (u_char) (hi * 16 + lo);
                p += 2;
            }

        } else if (c == '+') {
            c = ' ';
        }

        /* "c" starts the word and is nowhere else in it */

        i = (c == (u_char) word[i]) ? i + 1 : (c == 'c');

        if (word[i] == '\0') {
            return 1;
        }
    }

    return 0;
}


/*
 * %XX and "+" (a space); NUL-terminated.  NGX_DECLINED: a "%" not
 * followed by two hex digits, invalid UTF-8 or a NUL byte.
 */

ngx_int_t
crm_query_unescape(ngx_pool_t *pool, u_char *p, size_t len, ngx_str_t *out)
{
    u_char     *d, *last;
    ngx_int_t   hi, lo;

    d = ngx_pnalloc(pool, len + 1);
    if (d == NULL) {
        return NGX_ERROR;
    }

    out->data = d;
    last = p + len;

    while (p < last) {

        if (*p == '+') {
            *d++ = ' ';
            p++;
            continue;
        }

        if (*p != '%') {
            *d++ = *p++;
            continue;
        }

        if (last - p < 3) {
            return NGX_DECLINED;
        }

        hi = crm_query_hex(p[1]);
        lo = crm_query_hex(p[2]);

        if (hi < 0 || lo < 0) {
            return NGX_DECLINED;
        }

        *d++ = (u_char) (hi * 16 + lo);
        p += 3;
    }

    *d = '\0';
    out->len = d - out->data;

    return crm_value_utf8(out->data, out->len, NULL);
}


static ngx_int_t
crm_query_hex(u_char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }

    c |= 0x20;

    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }

    return -1;
}


/*
 * Fills *err: param (clipped), code, a message from pool memory.
 * In the message, "%V" with &ctx->err->param names the parameter.
 * Returns NGX_DECLINED, or NGX_ERROR when out of memory.
 */

static ngx_int_t
crm_query_error(crm_query_ctx_t *ctx, ngx_str_t *param, const char *code,
    const char *fmt, ...)
{
    u_char       *p, *msg;
    va_list       args;
    crm_error_t  *err;

    err = ctx->err;

    crm_query_clip(param, &err->param);

    err->code.data = (u_char *) code;
    err->code.len = ngx_strlen(code);

    msg = ngx_pnalloc(ctx->pool, CRM_QUERY_MSG_MAX);
    if (msg == NULL) {
        ngx_str_null(&err->code);
        return NGX_ERROR;
    }

    va_start(args, fmt);
    p = ngx_vslprintf(msg, msg + CRM_QUERY_MSG_MAX, fmt, args);
    va_end(args);

    err->message.data = msg;
    err->message.len = p - msg;

    return NGX_DECLINED;
}


/* at most CRM_QUERY_NAME_MAX bytes of valid UTF-8, cut between chars */

static void
crm_query_clip(ngx_str_t *in, ngx_str_t *out)
{
    size_t  len;

    len = in->len;

    if (len > CRM_QUERY_NAME_MAX) {
        len = CRM_QUERY_NAME_MAX;

        while (len > 0 && (in->data[len] & 0xc0) == 0x80) {
            len--;
        }
    }

    out->data = in->data;
    out->len = len;

    if (out->data == NULL) {
        out->data = (u_char *) "";
    }
}


/* a raw name that could not be decoded: printable ASCII, "?" for others */

static ngx_int_t
crm_query_printable(ngx_pool_t *pool, u_char *p, size_t len, ngx_str_t *out)
{
    size_t  i;

    len = ngx_min(len, CRM_QUERY_NAME_MAX);

    out->data = ngx_pnalloc(pool, len + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < len; i++) {
        out->data[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? p[i] : '?';
    }

    out->data[len] = '\0';
    out->len = len;

    return NGX_OK;
}


/* an equality filter of a query built here, not parsed */

ngx_int_t
crm_query_filter_eq(ngx_pool_t *pool, crm_query_t *q, crm_field_t *f,
    ngx_str_t *value)
{
    ngx_str_t     *v;
    crm_filter_t  *flt;

    if (f == NULL) {
        return NGX_ERROR;
    }

    flt = ngx_array_push(&q->filters);
    if (flt == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(flt, sizeof(crm_filter_t));

    flt->field = f;
    flt->op = CRM_OP_EQ;

    if (ngx_array_init(&flt->values, pool, 1, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    v = ngx_array_push(&flt->values);
    if (v == NULL) {
        return NGX_ERROR;
    }

    *v = *value;

    return NGX_OK;
}


/*
 * The filter operators, for the OpenAPI document: the "i"th one's name,
 * and in *allowed whether a field of "type" takes it; NULL past the end.
 * "eq" is also the bare "field=value".
 */

const char *
crm_query_operator(ngx_uint_t i, ngx_uint_t type, ngx_uint_t *allowed)
{
    if (i >= sizeof(crm_query_ops) / sizeof(crm_query_op_t) - 1) {
        return NULL;
    }

    *allowed = (crm_query_ops[i].types & crm_t(type)) != 0;

    return (const char *) crm_query_ops[i].name.data;
}


/* the list parameters by name, for the OpenAPI document; NULL: the end */

const char *
crm_query_parameter(ngx_uint_t i)
{
    if (i >= sizeof(crm_query_params) / sizeof(crm_query_param_t) - 1) {
        return NULL;
    }

    return (const char *) crm_query_params[i].name.data;
}
