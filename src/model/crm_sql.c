
/*
 * ngx_http_crm_module: the SQL planner.
 *
 * A resource descriptor plus validated values or a parsed list query ->
 * one parameterized PostgreSQL statement.  Pure: no I/O; the text and
 * the parameters are built in the caller's pool.
 *
 * Identifiers come only from descriptors and values only as $n
 * parameters.  Every statement is confined to the workspace in $1 and
 * to live rows (deleted_at IS NULL); nothing else adds tenant
 * conditions.  The statement text and every parameter value are
 * NUL-terminated (len excludes the NUL), as libpq wants them.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>
#include "model/crm.h"


#define CRM_SQL_SIZE          1024      /* initial statement buffer */
#define CRM_SQL_COL_PLAIN     0         /* crm_sql_columns() */
#define CRM_SQL_COL_TEXT      1
#define CRM_SQL_COL_NAMED     2

#define CRM_SQL_JSON_FIELDS   50        /* json_build_object() takes at
                                           most 100 arguments */
#define CRM_SQL_NPARAMS       8
#define CRM_SQL_DERIVED_MAX   4         /* fields a field derives from */


/* how one field type is bound, compared and rendered */

typedef struct {
    const char               *cast;         /* a value of the column */
    const char               *elem;         /* one element, in filters */
    const char               *value_pre;    /* insert/update value: */
    const char               *value_cast;   /* pre $n cast post */
    const char               *value_post;
    const char               *render_pre;   /* row JSON: pre col post */
    const char               *render_post;
    const char              **ops;          /* filter templates by op */
    ngx_uint_t                text;         /* column is text: ILIKE */
} crm_sql_type_t;


/* a statement being built */

typedef struct {
    ngx_pool_t               *pool;
    crm_stmt_t               *st;
    u_char                   *start;
    u_char                   *pos;
    u_char                   *end;
    ngx_uint_t                failed;       /* allocation failed */
} crm_sql_t;


static ngx_int_t crm_sql_init(crm_sql_t *s, ngx_pool_t *pool,
    crm_stmt_t *st, ngx_str_t *ws);
static ngx_int_t crm_sql_done(crm_sql_t *s);
static void crm_sql_tenant(crm_sql_t *s, crm_resource_t *res);
static void crm_sql_version(crm_sql_t *s, crm_resource_t *res);
static void crm_sql_match(crm_sql_t *s, ngx_str_t *match);
static void crm_sql_append(crm_sql_t *s, const u_char *p, size_t len);
static void crm_sql_cstr(crm_sql_t *s, const char *p);
static void crm_sql_str(crm_sql_t *s, ngx_str_t *str);
static void crm_sql_uint(crm_sql_t *s, ngx_uint_t n);
static void crm_sql_col(crm_sql_t *s, ngx_uint_t n);
static void crm_sql_literal(crm_sql_t *s, ngx_str_t *str);
static ngx_uint_t crm_sql_param(crm_sql_t *s, u_char *data, size_t len,
    ngx_uint_t null);
static ngx_uint_t crm_sql_param_typed(crm_sql_t *s, ngx_str_t *v,
    const char *cast);
static void crm_sql_ref(crm_sql_t *s, ngx_uint_t n, const char *cast);
static crm_sql_type_t *crm_sql_type(crm_field_t *f);
static ngx_int_t crm_sql_row_json(crm_sql_t *s, crm_resource_t *res,
    u_char *select, ngx_uint_t jsonb);
static ngx_int_t crm_sql_render(crm_sql_t *s, crm_field_t *f);
static ngx_int_t crm_sql_returning(crm_sql_t *s, crm_resource_t *res,
    ngx_uint_t as);
static ngx_uint_t crm_sql_columns(crm_sql_t *s, crm_resource_t *res,
    u_char *select, ngx_uint_t how);
static ngx_int_t crm_sql_value(crm_sql_t *s, crm_value_t *v);
static ngx_int_t crm_sql_value_ref(crm_sql_t *s, crm_value_t *v,
    ngx_uint_t n);
static ngx_int_t crm_sql_derived(crm_sql_t *s, crm_resource_t *res,
    ngx_array_t *values, ngx_uint_t first);
static ngx_int_t crm_sql_sent(ngx_array_t *values, const char *name);
static void crm_sql_by_id(crm_sql_t *s, crm_resource_t *res,
    ngx_uint_t id);
static void crm_sql_event_head(crm_sql_t *s, crm_resource_t *res);
static ngx_int_t crm_sql_event_returning(crm_sql_t *s, crm_resource_t *res,
    const char *as);
static void crm_sql_event(crm_sql_t *s, crm_resource_t *res,
    const char *verb, ngx_array_t *values, crm_field_t *changed);
static void crm_sql_event_tail(crm_sql_t *s, crm_resource_t *res,
    const char *out);
static ngx_int_t crm_sql_rows(crm_sql_t *s, crm_resource_t *res,
    crm_query_t *q, crm_parent_t *parent);
static ngx_int_t crm_sql_where(crm_sql_t *s, crm_resource_t *res,
    crm_query_t *q, crm_parent_t *parent, const char *ws);
static void crm_sql_parent(crm_sql_t *s, crm_resource_t *res,
    crm_parent_t *parent);
static ngx_int_t crm_sql_filter(crm_sql_t *s, crm_filter_t *flt);
static ngx_int_t crm_sql_filter_value(crm_sql_t *s, crm_filter_t *flt,
    ngx_str_t *value);
static ngx_int_t crm_sql_search(crm_sql_t *s, crm_resource_t *res,
    ngx_str_t *text);
static void crm_sql_doc(crm_sql_t *s, crm_resource_t *res);
static void crm_sql_text_match(crm_sql_t *s, crm_resource_t *res,
    ngx_uint_t nq, ngx_uint_t nl);
static ngx_int_t crm_sql_keyset(crm_sql_t *s, crm_resource_t *res,
    crm_query_t *q);
static ngx_uint_t crm_sql_never_null(crm_resource_t *res, crm_field_t *f);
static ngx_uint_t crm_sql_key_column(crm_resource_t *res, u_char *select,
    crm_field_t *f);
static void crm_sql_key_eq(crm_sql_t *s, crm_query_t *q, ngx_uint_t i,
    ngx_uint_t *pn);
static void crm_sql_key_ref(crm_sql_t *s, ngx_uint_t n, const char *cast);
static ngx_uint_t crm_sql_key_param(crm_sql_t *s, crm_query_t *q,
    ngx_uint_t i, ngx_uint_t *pn);
static ngx_uint_t crm_sql_key_desc(crm_query_t *q, ngx_uint_t i);
static void crm_sql_order(crm_sql_t *s, crm_resource_t *res,
    crm_query_t *q);
static ngx_int_t crm_sql_like(ngx_pool_t *pool, ngx_str_t *in,
    ngx_str_t *out);
static ngx_int_t crm_sql_array(ngx_pool_t *pool, ngx_array_t *values,
    ngx_str_t *out);
static ngx_uint_t crm_sql_number(crm_sql_t *s, ngx_uint_t n);


/*
 * Filter templates, indexed by crm_op_e:
 *   %c  the column          %t  the column as text
 *   %v  $n::elem            %a  $n::elem[] (an array literal)
 *   %l  $n::text (a LIKE pattern)
 * A template binds at most one parameter; NULL: not supported.
 */

static const char  *crm_sql_ops_scalar[] = {
    "%c = %v",                                          /* EQ */
    "%c IS DISTINCT FROM %v",                           /* NE */
    "%c > %v",                                          /* GT */
    "%c >= %v",                                         /* GTE */
    "%c < %v",                                          /* LT */
    "%c <= %v",                                         /* LTE */
    "%c = ANY(%a)",                                     /* IN */
    "(%c IS NULL OR %c <> ALL(%a))",                    /* NIN */
    "%t ILIKE %l",                                      /* LIKE */
    "%c IS NULL",                                       /* IS_NULL */
    "%c IS NOT NULL"                                    /* IS_NOT_NULL */
};


/*
 * e-mail addresses compare case-insensitively; an IN list is lowered as
 * a whole: lower() keeps an array literal's quoting intact
 */

static const char  *crm_sql_ops_email[] = {
    "lower(%c) = lower(%v)",
    "lower(%c) IS DISTINCT FROM lower(%v)",
    "%c > %v",
    "%c >= %v",
    "%c < %v",
    "%c <= %v",
    "lower(%c) = ANY(lower(%v)::text[])",
    "(%c IS NULL OR lower(%c) <> ALL(lower(%v)::text[]))",
    "%t ILIKE %l",
    "%c IS NULL",
    "%c IS NOT NULL"
};


/*
 * Times compare as they are rendered, to the millisecond: a stored time
 * counts as its millisecond (rendered times are truncated), the value as
 * sent, so "updatedAt[gt]=" a record's updatedAt leaves that record out
 * and "createdAt=" its createdAt finds it.  Bounds stay comparisons of
 * the column, which indexes serve: with T the value, floor(T) its
 * millisecond and ceil(T) the first millisecond not before it,
 *   floor(c) >  T  is  c >= floor(T) + 1 ms
 *   floor(c) >= T  is  c >= ceil(T)
 *   floor(c) <  T  is  c <  ceil(T)
 *   floor(c) <= T  is  c <  floor(T) + 1 ms
 * and = T, both of the last three's opposites; a T finer than a
 * millisecond equals nothing.
 */

#define CRM_SQL_MS_CEIL                                                      \
    "date_trunc('milliseconds', %v + interval '999 microseconds')"
#define CRM_SQL_MS_NEXT                                                      \
    "(date_trunc('milliseconds', %v) + interval '1 millisecond')"

static const char  *crm_sql_ops_time[] = {
    "(%c >= " CRM_SQL_MS_CEIL " AND %c < " CRM_SQL_MS_NEXT ")",
    "(%c IS NULL OR %c < " CRM_SQL_MS_CEIL " OR %c >= " CRM_SQL_MS_NEXT ")",
    "%c >= " CRM_SQL_MS_NEXT,
    "%c >= " CRM_SQL_MS_CEIL,
    "%c < " CRM_SQL_MS_CEIL,
    "%c < " CRM_SQL_MS_NEXT,
    "date_trunc('milliseconds', %c) = ANY(%a)",
    "(%c IS NULL OR date_trunc('milliseconds', %c) <> ALL(%a))",
    "%t ILIKE %l",
    "%c IS NULL",
    "%c IS NOT NULL"
};


/* text[]: operators apply to the elements; an empty array is "null" */

static const char  *crm_sql_ops_array[] = {
    "%c @> ARRAY[%v]",
    "NOT (%c @> ARRAY[%v])",
    NULL,
    NULL,
    NULL,
    NULL,
    "%c && %a",
    "NOT (%c && %a)",
    "EXISTS (SELECT 1 FROM unnest(%c) AS e WHERE e ILIKE %l)",
    "(%c IS NULL OR cardinality(%c) = 0)",
    "cardinality(%c) > 0"
};


#define CRM_SQL_TS_RENDER                                                    \
    " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"


/* indexed by crm_field_type_e */

static crm_sql_type_t  crm_sql_types[] = {

    /* CRM_FT_UUID */
    { "::uuid", "::uuid", "", "::uuid", "", "", "",
      crm_sql_ops_scalar, 0 },

    /* CRM_FT_TEXT */
    { "::text", "::text", "", "::text", "", "", "",
      crm_sql_ops_scalar, 1 },

    /* CRM_FT_EMAIL */
    { "::text", "::text", "", "::text", "", "", "",
      crm_sql_ops_email, 1 },

    /* CRM_FT_ENUM */
    { "::text", "::text", "", "::text", "", "", "",
      crm_sql_ops_scalar, 1 },

    /* CRM_FT_INT */
    { "::bigint", "::bigint", "", "::bigint", "", "", "",
      crm_sql_ops_scalar, 0 },

    /* CRM_FT_NUMERIC */
    { "::numeric", "::numeric", "", "::numeric", "", "", "",
      crm_sql_ops_scalar, 0 },

    /* CRM_FT_BOOL */
    { "::boolean", "::boolean", "", "::boolean", "", "", "",
      crm_sql_ops_scalar, 0 },

    /* CRM_FT_TIMESTAMP */
    { "::timestamptz", "::timestamptz", "", "::timestamptz", "",
      "to_char(", CRM_SQL_TS_RENDER,
      crm_sql_ops_time, 0 },

    /* CRM_FT_DATE */
    { "::date", "::date", "", "::date", "",
      "to_char(", ", 'YYYY-MM-DD')",
      crm_sql_ops_scalar, 0 },

    /* CRM_FT_TEXT_ARRAY: the value is a JSON array of strings */
    { "::text[]", "::text",
      "ARRAY(SELECT jsonb_array_elements_text(", "::jsonb", "))", "", "",
      crm_sql_ops_array, 0 },

    /* CRM_FT_OBJECT */
    { "::jsonb", "::jsonb", "", "::jsonb", "", "", "",
      crm_sql_ops_scalar, 0 },

    /* CRM_FT_PASSWORD: hashed by PostgreSQL, never rendered */
    { "::text", "::text", "db_password_hash(", "::text", ")", "", "",
      crm_sql_ops_scalar, 0 },

    /* CRM_FT_LIST */
    { "::jsonb", "::jsonb", "", "::jsonb", "", "", "",
      crm_sql_ops_scalar, 0 },

    /* CRM_FT_UUID_ARRAY: the value is a JSON array of UUID strings */
    { "::uuid[]", "::uuid",
      "ARRAY(SELECT jsonb_array_elements_text(", "::jsonb)::uuid)", "",
      "", "", crm_sql_ops_array, 0 }
};


ngx_int_t
crm_sql_get(ngx_pool_t *pool, crm_resource_t *res, ngx_str_t *ws,
    ngx_str_t *id, u_char *select, crm_stmt_t *st)
{
    ngx_uint_t  n;
    crm_sql_t   s;

    if (crm_sql_init(&s, pool, st, ws) != NGX_OK) {
        return NGX_ERROR;
    }

    n = crm_sql_param(&s, id->data, id->len, 0);

    crm_sql_cstr(&s, "SELECT ");

    st->res = res;
    st->select = select;
    st->ncols = crm_sql_columns(&s, res, select, CRM_SQL_COL_PLAIN);

    crm_sql_version(&s, res);

    crm_sql_cstr(&s, " FROM ");
    crm_sql_str(&s, &res->table);
    crm_sql_by_id(&s, res, n);

    return crm_sql_done(&s);
}


ngx_int_t
crm_sql_exists(ngx_pool_t *pool, crm_resource_t *res, ngx_str_t *ws,
    ngx_str_t *id, crm_stmt_t *st)
{
    ngx_uint_t  n;
    crm_sql_t   s;

    if (crm_sql_init(&s, pool, st, ws) != NGX_OK) {
        return NGX_ERROR;
    }

    n = crm_sql_param(&s, id->data, id->len, 0);

    crm_sql_cstr(&s, "SELECT 1 FROM ");
    crm_sql_str(&s, &res->table);
    crm_sql_by_id(&s, res, n);

    return crm_sql_done(&s);
}


ngx_int_t
crm_sql_insert(ngx_pool_t *pool, crm_resource_t *res, ngx_str_t *ws,
    ngx_array_t *values, ngx_uint_t as, crm_stmt_t *st)
{
    ngx_uint_t    i;
    crm_sql_t     s;
    crm_value_t  *v;

    if (crm_sql_init(&s, pool, st, ws) != NGX_OK) {
        return NGX_ERROR;
    }

    v = values->elts;

    crm_sql_event_head(&s, res);
    crm_sql_cstr(&s, "INSERT INTO ");
    crm_sql_str(&s, &res->table);
    crm_sql_cstr(&s, " (");
    crm_sql_tenant(&s, res);

    for (i = 0; i < values->nelts; i++) {
        crm_sql_cstr(&s, ", ");
        crm_sql_str(&s, &v[i].field->column);
    }

    crm_sql_cstr(&s, ") VALUES ($1::uuid");

    for (i = 0; i < values->nelts; i++) {
        crm_sql_cstr(&s, ", ");

        if (crm_sql_value(&s, &v[i]) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    crm_sql_cstr(&s, ")");

    if (crm_sql_returning(&s, res, as) != NGX_OK) {
        return NGX_ERROR;
    }

    crm_sql_version(&s, res);
    crm_sql_event(&s, res, "created", NULL, NULL);
    crm_sql_event_tail(&s, res, NULL);

    return crm_sql_done(&s);
}


ngx_int_t
crm_sql_update(ngx_pool_t *pool, crm_resource_t *res, ngx_str_t *ws,
    ngx_str_t *id, ngx_array_t *values, ngx_str_t *match, ngx_uint_t as,
    crm_stmt_t *st)
{
    ngx_uint_t    i, n;
    crm_sql_t     s;
    crm_value_t  *v;

    if (crm_sql_init(&s, pool, st, ws) != NGX_OK) {
        return NGX_ERROR;
    }

    n = crm_sql_param(&s, id->data, id->len, 0);

    v = values->elts;

    crm_sql_event_head(&s, res);
    crm_sql_cstr(&s, "UPDATE ");
    crm_sql_str(&s, &res->table);
    crm_sql_cstr(&s, " SET ");

    /* each value binds one parameter: v[i] is $(n + 1 + i) */

    for (i = 0; i < values->nelts; i++) {
        crm_sql_str(&s, &v[i].field->column);
        crm_sql_cstr(&s, " = ");

        if (crm_sql_value(&s, &v[i]) != NGX_OK) {
            return NGX_ERROR;
        }

        crm_sql_cstr(&s, ", ");
    }

    if (crm_sql_derived(&s, res, values, n + 1) != NGX_OK) {
        return NGX_ERROR;
    }

    if (res->versioned) {
        crm_sql_cstr(&s, "version = version + 1, ");
    }

    crm_sql_cstr(&s, "updated_at = now()");
    crm_sql_by_id(&s, res, n);
    crm_sql_match(&s, match);
    if (crm_sql_returning(&s, res, as) != NGX_OK) {
        return NGX_ERROR;
    }

    crm_sql_version(&s, res);
    crm_sql_event(&s, res, "updated", values, NULL);
    crm_sql_event_tail(&s, res, NULL);

    return crm_sql_done(&s);
}


ngx_int_t
crm_sql_delete(ngx_pool_t *pool, crm_resource_t *res, ngx_str_t *ws,
    ngx_str_t *id, ngx_str_t *match, crm_stmt_t *st)
{
    ngx_uint_t  n;
    crm_sql_t   s;

    if (crm_sql_init(&s, pool, st, ws) != NGX_OK) {
        return NGX_ERROR;
    }

    n = crm_sql_param(&s, id->data, id->len, 0);

    crm_sql_event_head(&s, res);
    crm_sql_cstr(&s, "UPDATE ");
    crm_sql_str(&s, &res->table);
    crm_sql_cstr(&s, " SET deleted_at = now(), updated_at = now()");
    crm_sql_by_id(&s, res, n);
    crm_sql_match(&s, match);
    crm_sql_cstr(&s, " RETURNING ");
    crm_sql_str(&s, &res->fields[0].column);
    crm_sql_cstr(&s, "::text");

    if (res->events) {
        if (crm_sql_event_returning(&s, res, " AS crm_id, ") != NGX_OK) {
            return NGX_ERROR;
        }

        crm_sql_event(&s, res, "deleted", NULL, NULL);
        crm_sql_event_tail(&s, res, "crm_id");
    }

    return crm_sql_done(&s);
}


/*
 * SELECT <columns>[, <sort key>::text, ...] FROM t WHERE <tenant, live,
 * parent, filters, search, keyset> ORDER BY ... LIMIT <limit + 1>
 * [OFFSET $m]; a sort key is a column of its own only when it is not
 * one of the columns already (crm_sql_key_column())
 *
 * Returns NGX_DECLINED when the query holds a filter the planner cannot
 * express (an operator that does not apply to the field's type, or a
 * filter without its value); crm_query_parse() does not produce those.
 */

ngx_int_t
crm_sql_list(ngx_pool_t *pool, crm_resource_t *res, ngx_str_t *ws,
    crm_query_t *q, crm_parent_t *parent, crm_stmt_t *st)
{
    ngx_int_t   rc;
    ngx_uint_t  i, n;
    crm_sql_t   s;

    if (q->nsort > CRM_MAX_KEYS) {
        return NGX_DECLINED;
    }

    if (crm_sql_init(&s, pool, st, ws) != NGX_OK) {
        return NGX_ERROR;
    }

    if (q->q.len > 0) {

        /*
         * A search selects its rows first (the GIN indexes of the
         * search), then orders them: left to itself, the planner would
         * walk the sort order's index and test every row of the
         * workspace, when few or none match
         */

        crm_sql_cstr(&s, "WITH m AS MATERIALIZED (SELECT * FROM ");
        crm_sql_str(&s, &res->table);

        rc = crm_sql_rows(&s, res, q, parent);
        if (rc != NGX_OK) {
            return rc;
        }

        crm_sql_cstr(&s, ") ");
    }

    crm_sql_cstr(&s, "SELECT ");

    st->res = res;
    st->select = q->select;
    st->ncols = crm_sql_columns(&s, res, q->select, CRM_SQL_COL_PLAIN);

    /* a key that is not a rendered column of the same text: after them */

    for (n = st->ncols, i = 0; i < q->nsort; i++) {
        st->keys[i] = crm_sql_key_column(res, q->select, q->sort[i].field);

        if (st->keys[i] != (ngx_uint_t) NGX_ERROR) {
            continue;
        }

        crm_sql_cstr(&s, ", ");
        crm_sql_str(&s, &q->sort[i].field->column);
        crm_sql_cstr(&s, "::text");

        st->keys[i] = n++;
    }

    crm_sql_cstr(&s, " FROM ");

    if (q->q.len > 0) {
        crm_sql_cstr(&s, "m ");
        crm_sql_str(&s, &res->table);

    } else {
        crm_sql_str(&s, &res->table);

        rc = crm_sql_rows(&s, res, q, parent);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    crm_sql_order(&s, res, q);

    /*
     * One row more than asked for tells whether there is a next page.
     * The limit is written as a number (parsed, never input text): with
     * "LIMIT $n" the plan cache costs a generic plan for a tenth of the
     * table and plans the statement again on every execution.  A search
     * keeps it a parameter: its plan depends on the words searched.
     */

    crm_sql_cstr(&s, " LIMIT ");

    if (q->q.len > 0) {
        crm_sql_ref(&s, crm_sql_number(&s, q->limit + 1), "::bigint");

    } else {
        crm_sql_uint(&s, q->limit + 1);
    }

    if (q->has_offset) {
        crm_sql_cstr(&s, " OFFSET ");
        n = crm_sql_number(&s, q->offset);
        crm_sql_ref(&s, n, "::bigint");
    }

    st->nkeys = q->nsort;

    return crm_sql_done(&s);
}


ngx_int_t
crm_sql_count(ngx_pool_t *pool, crm_resource_t *res, ngx_str_t *ws,
    crm_query_t *q, crm_parent_t *parent, crm_stmt_t *st)
{
    ngx_int_t  rc;
    crm_sql_t  s;

    if (crm_sql_init(&s, pool, st, ws) != NGX_OK) {
        return NGX_ERROR;
    }

    crm_sql_cstr(&s, q->count == CRM_COUNT_ESTIMATED ? "SELECT 1 FROM "
                                                     : "SELECT count(*) FROM ");
    crm_sql_str(&s, &res->table);

    rc = crm_sql_where(&s, res, q, parent, "$1::uuid");
    if (rc != NGX_OK) {
        return rc;
    }

    return crm_sql_done(&s);
}


/*
 * A campaign's recipients, once (sql/020_campaigns.sql): the contacts
 * an audience filter selects ("q", parsed by crm_query_parse() for
 * contacts), or NULL for an audience of tags or contact ids, which the
 * function reads itself; "problem" (empty: none) is kept with the
 * campaign, why its audience is nobody (sql/092):
 *   SELECT db_campaign_materialize($1, $2, ARRAY(SELECT id FROM contacts
 *                                                WHERE <filters>), $3)
 */

ngx_int_t
crm_sql_audience(ngx_pool_t *pool, ngx_str_t *ws, ngx_str_t *campaign,
    crm_query_t *q, ngx_str_t *problem, crm_stmt_t *st)
{
    ngx_int_t        rc;
    ngx_str_t        name;
    ngx_uint_t       n, w;
    crm_sql_t        s;
    crm_resource_t  *res;

    ngx_str_set(&name, "contacts");

    res = crm_schema_find(&name);
    if (res == NULL) {
        return NGX_ERROR;
    }

    if (crm_sql_init(&s, pool, st, ws) != NGX_OK) {
        return NGX_ERROR;
    }

    n = crm_sql_param(&s, campaign->data, campaign->len, 0);
    w = crm_sql_param(&s, problem->data, problem->len, problem->len == 0);

    crm_sql_cstr(&s, "SELECT db_campaign_materialize($1::uuid, ");
    crm_sql_ref(&s, n, "::uuid");

    if (q == NULL) {
        crm_sql_cstr(&s, ", NULL, ");
        crm_sql_ref(&s, w, "::text)");
        return crm_sql_done(&s);
    }

    crm_sql_cstr(&s, ", ARRAY(SELECT id FROM ");
    crm_sql_str(&s, &res->table);

    rc = crm_sql_where(&s, res, q, NULL, "$1::uuid");
    if (rc != NGX_OK) {
        return rc;
    }

    crm_sql_cstr(&s, "), ");
    crm_sql_ref(&s, w, "::text)");

    return crm_sql_done(&s);
}


/*
 * UPDATE <parent> SET <through> = <with or without $3> ... RETURNING the
 * parent: adding a linked id or removing an absent one changes nothing,
 * not even the version.  A missing target is the column's trigger's to
 * report (sql/).
 */

ngx_int_t
crm_sql_link(ngx_pool_t *pool, crm_parent_t *parent, ngx_str_t *ws,
    ngx_str_t *target, ngx_uint_t add, ngx_str_t *match, crm_stmt_t *st)
{
    ngx_str_t       *col;
    ngx_uint_t       n, t;
    crm_sql_t        s;
    crm_resource_t  *res;

    res = parent->res;
    col = &parent->link->through;

    if (col->len == 0) {
        return NGX_DECLINED;
    }

    if (crm_sql_init(&s, pool, st, ws) != NGX_OK) {
        return NGX_ERROR;
    }

    n = crm_sql_param(&s, parent->id.data, parent->id.len, 0);
    t = crm_sql_param(&s, target->data, target->len, 0);

    crm_sql_event_head(&s, res);
    crm_sql_cstr(&s, "UPDATE ");
    crm_sql_str(&s, &res->table);
    crm_sql_cstr(&s, " SET ");
    crm_sql_str(&s, col);

    if (add) {
        crm_sql_cstr(&s, " = CASE WHEN ");
        crm_sql_ref(&s, t, "::uuid");
        crm_sql_cstr(&s, " = ANY(");
        crm_sql_str(&s, col);
        crm_sql_cstr(&s, ") THEN ");
        crm_sql_str(&s, col);
        crm_sql_cstr(&s, " ELSE array_append(");
        crm_sql_str(&s, col);
        crm_sql_cstr(&s, ", ");
        crm_sql_ref(&s, t, "::uuid");
        crm_sql_cstr(&s, ") END");

    } else {
        crm_sql_cstr(&s, " = array_remove(");
        crm_sql_str(&s, col);
        crm_sql_cstr(&s, ", ");
        crm_sql_ref(&s, t, "::uuid");
        crm_sql_cstr(&s, ")");
    }

    /* changed: the id was absent (add) or present (remove) */

    if (res->versioned) {
        crm_sql_cstr(&s, ", version = version + CASE WHEN ");
        crm_sql_ref(&s, t, "::uuid");
        crm_sql_cstr(&s, " = ANY(");
        crm_sql_str(&s, col);
        crm_sql_cstr(&s, add ? ") THEN 0 ELSE 1 END" : ") THEN 1 ELSE 0 END");
    }

    crm_sql_cstr(&s, ", updated_at = CASE WHEN ");
    crm_sql_ref(&s, t, "::uuid");
    crm_sql_cstr(&s, " = ANY(");
    crm_sql_str(&s, col);
    crm_sql_cstr(&s, add ? ") THEN updated_at ELSE now() END"
                         : ") THEN now() ELSE updated_at END");

    crm_sql_by_id(&s, res, n);
    crm_sql_match(&s, match);
    if (crm_sql_returning(&s, res, CRM_SQL_COLUMNS) != NGX_OK) {
        return NGX_ERROR;
    }

    crm_sql_version(&s, res);
    crm_sql_event(&s, res, "updated", NULL,
                  crm_schema_field(res, col->data, col->len));
    crm_sql_event_tail(&s, res, NULL);

    return crm_sql_done(&s);
}


/*
 * POST /<resource>/:id/<action>: SELECT <function>($1, $2, $3)::text, or
 * for an action with events:
 *
 *   WITH c AS MATERIALIZED (SELECT * FROM <function>($1, $2, $3)),
 *   e AS (INSERT INTO events ... SELECT ... <row JSON> FROM (SELECT
 *         (c.<column>).* FROM c WHERE (c.<column>).id IS NOT NULL) x
 *         UNION ALL ...)
 *   SELECT (SELECT result::text FROM c)
 *
 * the rows the function made rendered as the API renders them, in the
 * same statement.  With If-Match ("match"), the function runs only on
 * the version the client holds, the record locked first:
 *
 *   SELECT CASE WHEN EXISTS (SELECT 1 FROM <table> WHERE <id> AND
 *          version = $4 FOR UPDATE) THEN <function>(...)::text END
 *
 * (with events, c is "SELECT f.* FROM g CROSS JOIN LATERAL <function>
 * ($1, g.crm_id, $3) f", g that row): NULL, as for a record not there,
 * otherwise
 * (crm_exec_missing() tells 412 from 404)
 */

ngx_int_t
crm_sql_action(ngx_pool_t *pool, crm_resource_t *res, ngx_str_t *ws,
    ngx_str_t *id, ngx_str_t *body, crm_action_t *action, ngx_str_t *match,
    crm_stmt_t *st)
{
    ngx_str_t            name;
    ngx_uint_t           i, n, b;
    crm_sql_t            s;
    crm_resource_t      *er;
    crm_action_event_t  *ev;

    if (crm_sql_init(&s, pool, st, ws) != NGX_OK) {
        return NGX_ERROR;
    }

    n = crm_sql_param(&s, id->data, id->len, 0);
    b = crm_sql_param(&s, body->data, body->len, 0);

    if (action->nevents == 0) {
        if (match != NULL && match->len > 0) {
            crm_sql_cstr(&s, "SELECT CASE WHEN EXISTS (SELECT 1 FROM ");
            crm_sql_str(&s, &res->table);
            crm_sql_by_id(&s, res, n);
            crm_sql_match(&s, match);
            crm_sql_cstr(&s, " FOR UPDATE) THEN ");

        } else {
            crm_sql_cstr(&s, "SELECT ");
        }

        crm_sql_str(&s, &action->function);
        crm_sql_cstr(&s, "($1::uuid, ");
        crm_sql_ref(&s, n, "::uuid, ");
        crm_sql_ref(&s, b, "::jsonb)::text");

        if (match != NULL && match->len > 0) {
            crm_sql_cstr(&s, " END");
        }

        return crm_sql_done(&s);
    }

    if (match != NULL && match->len > 0) {
        /* the function takes g's id: it runs only for g's row */
        crm_sql_cstr(&s, "WITH g AS MATERIALIZED (SELECT ");
        crm_sql_str(&s, &res->fields[0].column);
        crm_sql_cstr(&s, " AS crm_id FROM ");
        crm_sql_str(&s, &res->table);
        crm_sql_by_id(&s, res, n);
        crm_sql_match(&s, match);
        crm_sql_cstr(&s, " FOR UPDATE), c AS MATERIALIZED (SELECT f.* FROM g "
                     "CROSS JOIN LATERAL ");
        crm_sql_str(&s, &action->function);
        crm_sql_cstr(&s, "($1::uuid, g.crm_id, ");

    } else {
        crm_sql_cstr(&s, "WITH c AS MATERIALIZED (SELECT * FROM ");
        crm_sql_str(&s, &action->function);
        crm_sql_cstr(&s, "($1::uuid, ");
        crm_sql_ref(&s, n, "::uuid, ");
    }

    crm_sql_ref(&s, b, (match != NULL && match->len > 0)
                       ? "::jsonb) f), e AS (INSERT INTO events "
                         "(workspace_id, type, record_id, data) "
                       : "::jsonb)), e AS (INSERT INTO events (workspace_id, "
                         "type, record_id, data) ");

    for (i = 0; i < action->nevents; i++) {
        ev = &action->events[i];

        name.data = (u_char *) ev->resource;
        name.len = ngx_strlen(ev->resource);

        er = crm_schema_find(&name);
        if (er == NULL) {
            return NGX_ERROR;
        }

        crm_sql_cstr(&s, i ? " UNION ALL SELECT $1::uuid, '"
                           : "SELECT $1::uuid, '");
        crm_sql_str(&s, &er->singular);
        crm_sql_cstr(&s, ".");
        crm_sql_cstr(&s, ev->verb);
        crm_sql_cstr(&s, "', x.");
        crm_sql_str(&s, &er->fields[0].column);
        crm_sql_cstr(&s, ", jsonb_build_object('object', ");

        if (crm_sql_row_json(&s, er, NULL, 1) != NGX_OK) {
            return NGX_ERROR;
        }

        crm_sql_cstr(&s, ") FROM (SELECT (c.");
        crm_sql_cstr(&s, ev->column);
        crm_sql_cstr(&s, ").* FROM c WHERE (c.");
        crm_sql_cstr(&s, ev->column);
        crm_sql_cstr(&s, ").");
        crm_sql_str(&s, &er->fields[0].column);
        crm_sql_cstr(&s, " IS NOT NULL) x");
    }

    crm_sql_cstr(&s, ") SELECT (SELECT result::text FROM c)");

    (void) res;

    return crm_sql_done(&s);
}


/*
 * SELECT object, [{"name", "label", "type", "options", "required"}, ...]
 * of the workspace's live custom-field definitions, per resource, by name
 */

ngx_int_t
crm_sql_custom_fields(ngx_pool_t *pool, ngx_str_t *ws, ngx_str_t *object,
    crm_stmt_t *st)
{
    ngx_uint_t  n;
    crm_sql_t   s;

    if (crm_sql_init(&s, pool, st, ws) != NGX_OK) {
        return NGX_ERROR;
    }

    crm_sql_cstr(&s, "SELECT object, json_agg(json_build_object('name', "
                 "name, 'label', label, 'type', type, 'options', options, "
                 "'required', required) ORDER BY name)::text "
                 "FROM custom_fields WHERE workspace_id = $1::uuid "
                 "AND deleted_at IS NULL");

    if (object != NULL) {
        n = crm_sql_param(&s, object->data, object->len, 0);
        crm_sql_cstr(&s, " AND object = ");
        crm_sql_ref(&s, n, "::text");
    }

    crm_sql_cstr(&s, " GROUP BY object");

    return crm_sql_done(&s);
}


/*
 * Every problem of "values" (a body's customFields, JSON) under the
 * workspace's definitions of "object" (sql/086): one row, a JSON array,
 * or NULL when there is none
 */

ngx_int_t
crm_sql_custom_problems(ngx_pool_t *pool, ngx_str_t *ws, ngx_str_t *object,
    ngx_str_t *values, crm_stmt_t *st)
{
    ngx_uint_t  n, v;
    crm_sql_t   s;

    if (crm_sql_init(&s, pool, st, ws) != NGX_OK) {
        return NGX_ERROR;
    }

    n = crm_sql_param(&s, object->data, object->len, 0);
    v = crm_sql_param(&s, values->data, values->len, 0);

    crm_sql_cstr(&s, "SELECT db_custom_problems($1::uuid, ");
    crm_sql_ref(&s, n, "::text, ");
    crm_sql_ref(&s, v, "::jsonb)::text");

    return crm_sql_done(&s);
}


/*
 * The text of "st" with every parameter reference $n written $1[n]: the
 * form db_bulk() (sql/008_bulk.sql) executes, its one parameter being
 * the array of all of them.  String literals (descriptor text) are
 * copied as they are.
 */

ngx_int_t
crm_sql_inline(ngx_pool_t *pool, crm_stmt_t *st, ngx_str_t *out)
{
    u_char      *p, *last, *d;
    ngx_uint_t   quoted, refs;

    p = st->sql.data;
    last = p + st->sql.len;
    quoted = 0;
    refs = 0;

    for ( /* void */ ; p < last; p++) {
        if (*p == '\'') {
            quoted = !quoted;

        } else if (*p == '$' && !quoted) {
            refs++;
        }
    }

    out->data = ngx_pnalloc(pool, st->sql.len + refs * 4 + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    d = out->data;
    quoted = 0;

    for (p = st->sql.data; p < last; p++) {

        if (*p == '\'') {
            quoted = !quoted;

        } else if (*p == '$' && !quoted) {
            d = ngx_cpymem(d, "$1[", 3);

            while (p + 1 < last && p[1] >= '0' && p[1] <= '9') {
                *d++ = *++p;
            }

            *d++ = ']';
            continue;
        }

        *d++ = *p;
    }

    *d = '\0';
    out->len = d - out->data;

    return NGX_OK;
}


/*
 * {"sql": <st with $n written $1[n]>, "params": ["...", null, ...]}: a
 * planned statement for db_bulk() or db_estimate() to execute
 */

void *
crm_sql_json(ngx_pool_t *pool, crm_stmt_t *st)
{
    json_t       *stmt, *params, *v;
    ngx_str_t     sql;
    ngx_uint_t    i;
    crm_param_t  *p;

    if (crm_sql_inline(pool, st, &sql) != NGX_OK) {
        return NULL;
    }

    params = json_array();
    stmt = json_object();

    if (params == NULL || stmt == NULL) {
        json_decref(params);
        json_decref(stmt);
        return NULL;
    }

    p = st->params.elts;

    for (i = 0; i < st->params.nelts; i++) {
        v = p[i].null ? json_null()
            : p[i].binary ? json_stringn((char *) p[i].text.data,
                                         p[i].text.len)
            : json_stringn((char *) p[i].value.data, p[i].value.len);

        if (v == NULL || json_array_append_new(params, v) != 0) {
            json_decref(params);
            json_decref(stmt);
            return NULL;
        }
    }

    if (json_object_set_new(stmt, "params", params) != 0
        || json_object_set_new(stmt, "sql",
                               json_stringn((char *) sql.data, sql.len))
           != 0)
    {
        json_decref(stmt);
        return NULL;
    }

    return stmt;
}


/*
 * count=estimated: the planner's estimate of the rows "st" (a count
 * statement made with "estimate") reads, by db_estimate()
 */

ngx_int_t
crm_sql_estimate(ngx_pool_t *pool, ngx_str_t *ws, crm_stmt_t *count,
    crm_stmt_t *st)
{
    char        *text;
    json_t      *stmt;
    ngx_uint_t   n;
    crm_sql_t    s;

    stmt = crm_sql_json(pool, count);
    if (stmt == NULL) {
        return NGX_ERROR;
    }

    text = json_dumps(stmt, JSON_COMPACT);
    json_decref(stmt);

    if (text == NULL) {
        return NGX_ERROR;
    }

    if (crm_sql_init(&s, pool, st, ws) != NGX_OK) {
        free(text);
        return NGX_ERROR;
    }

    n = crm_sql_param(&s, (u_char *) text, ngx_strlen(text), 0);
    free(text);

    crm_sql_cstr(&s, "SELECT db_estimate($1::uuid, ");
    crm_sql_ref(&s, n, "::jsonb");
    crm_sql_cstr(&s, ")::text");

    return crm_sql_done(&s);
}


/* SELECT crm_bulk($1, <the statements as JSON>, <atomic>) */

ngx_int_t
crm_sql_bulk(ngx_pool_t *pool, ngx_str_t *ws, ngx_str_t *ops,
    ngx_uint_t atomic, crm_stmt_t *st)
{
    ngx_uint_t  n;
    crm_sql_t   s;

    if (crm_sql_init(&s, pool, st, ws) != NGX_OK) {
        return NGX_ERROR;
    }

    n = crm_sql_param(&s, ops->data, ops->len, 0);

    crm_sql_cstr(&s, "SELECT db_bulk($1::uuid, ");
    crm_sql_ref(&s, n, "::jsonb");
    crm_sql_cstr(&s, atomic ? ", true)::text" : ", false)::text");

    return crm_sql_done(&s);
}


/*
 * A statement of fixed text: "sql" (static; its workspace, when it has
 * one, is a parameter like the others) with "n" parameters, each SQL
 * NULL until crm_sql_set() or crm_sql_set_num() gives it a value
 */

crm_stmt_t *
crm_sql_fixed(ngx_pool_t *pool, const char *sql, ngx_uint_t n)
{
    ngx_uint_t    i;
    crm_stmt_t   *st;
    crm_param_t  *param;

    st = ngx_pcalloc(pool, sizeof(crm_stmt_t));
    if (st == NULL) {
        return NULL;
    }

    if (ngx_array_init(&st->params, pool, ngx_max(n, 1), sizeof(crm_param_t))
        != NGX_OK)
    {
        return NULL;
    }

    if (n > 0) {
        param = ngx_array_push_n(&st->params, n);
        if (param == NULL) {
            return NULL;
        }

        ngx_memzero(param, n * sizeof(crm_param_t));

        for (i = 0; i < n; i++) {
            param[i].null = 1;
        }
    }

    st->sql.data = (u_char *) sql;
    st->sql.len = ngx_strlen(sql);

    return st;
}


/*
 * Parameter "i" ($1 is 0) of a statement: "v" as text, or SQL NULL when
 * "v" is NULL; the bytes must live until the statement is sent
 */

ngx_int_t
crm_sql_set(crm_stmt_t *st, ngx_uint_t i, ngx_str_t *v)
{
    crm_param_t  *param;

    if (i >= st->params.nelts) {
        return NGX_ERROR;
    }

    param = st->params.elts;

    if (v == NULL) {
        param[i].null = 1;
        return NGX_OK;
    }

    param[i].value = *v;
    param[i].null = 0;

    return NGX_OK;
}


/* parameter "i": "n" formatted with "fmt" ("%ui", "%M milliseconds") */

ngx_int_t
crm_sql_set_num(crm_stmt_t *st, ngx_uint_t i, const char *fmt, ngx_uint_t n)
{
    u_char     *p;
    ngx_str_t   v;

    p = ngx_pnalloc(st->params.pool, NGX_INT_T_LEN + ngx_strlen(fmt));
    if (p == NULL) {
        return NGX_ERROR;
    }

    v.data = p;
    v.len = ngx_sprintf(p, fmt, n) - p;

    return crm_sql_set(st, i, &v);
}


/* a list's rows: the conditions, and the keyset of a cursor */

static ngx_int_t
crm_sql_rows(crm_sql_t *s, crm_resource_t *res, crm_query_t *q,
    crm_parent_t *parent)
{
    ngx_int_t  rc;

    if (!q->has_cursor || q->nsort == 0) {
        return crm_sql_where(s, res, q, parent, "$1::uuid");
    }

    /*
     * A page after a cursor: the workspace as an InitPlan, as the keys
     * are (crm_sql_keyset()).  With the workspace a plain parameter the
     * plan cache costs a custom plan, which knows the workspace's size,
     * below the generic one and plans the statement again on every
     * execution: page 10000 cost three times page 1 (bench/README).
     */

    rc = crm_sql_where(s, res, q, parent, "(SELECT $1::uuid)");
    if (rc != NGX_OK) {
        return rc;
    }

    return crm_sql_keyset(s, res, q);
}


/* the statement buffer and the parameters; the workspace id is $1 */

static ngx_int_t
crm_sql_init(crm_sql_t *s, ngx_pool_t *pool, crm_stmt_t *st, ngx_str_t *ws)
{
    s->pool = pool;
    s->st = st;
    s->failed = 0;

    s->start = ngx_pnalloc(pool, CRM_SQL_SIZE);
    if (s->start == NULL) {
        return NGX_ERROR;
    }

    s->pos = s->start;
    s->end = s->start + CRM_SQL_SIZE;

    ngx_str_null(&st->sql);
    st->res = NULL;
    st->select = NULL;
    st->ncols = 0;
    st->nkeys = 0;

    if (ngx_array_init(&st->params, pool, CRM_SQL_NPARAMS,
                       sizeof(crm_param_t))
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    (void) crm_sql_param(s, ws->data, ws->len, 0);

    return s->failed ? NGX_ERROR : NGX_OK;
}


static ngx_int_t
crm_sql_done(crm_sql_t *s)
{
    crm_sql_append(s, (u_char *) "", 1);

    if (s->failed) {
        return NGX_ERROR;
    }

    s->st->sql.data = s->start;
    s->st->sql.len = s->pos - s->start - 1;

    return NGX_OK;
}


/* appenders: after an allocation failure they do nothing */

static void
crm_sql_append(crm_sql_t *s, const u_char *p, size_t len)
{
    size_t   size, used;
    u_char  *start;

    if (s->failed) {
        return;
    }

    if ((size_t) (s->end - s->pos) < len) {
        used = s->pos - s->start;
        size = 2 * (s->end - s->start);

        if (size < used + len) {
            size = used + len;
        }

        start = ngx_pnalloc(s->pool, size);
        if (start == NULL) {
            s->failed = 1;
            return;
        }

        ngx_memcpy(start, s->start, used);

        /* frees only a large allocation; a small one stays in the pool */
        (void) ngx_pfree(s->pool, s->start);

        s->start = start;
        s->pos = start + used;
        s->end = start + size;
    }

    s->pos = ngx_cpymem(s->pos, p, len);
}


static void
crm_sql_cstr(crm_sql_t *s, const char *p)
{
    crm_sql_append(s, (const u_char *) p, ngx_strlen(p));
}


static void
crm_sql_str(crm_sql_t *s, ngx_str_t *str)
{
    crm_sql_append(s, str->data, str->len);
}


static void
crm_sql_uint(crm_sql_t *s, ngx_uint_t n)
{
    u_char  *p, buf[NGX_INT_T_LEN];

    p = ngx_sprintf(buf, "%ui", n);

    crm_sql_append(s, buf, p - buf);
}


/*
 * c<n>: the name of the n-th rendered column where a statement names
 * them (crm_sql_columns()) and selects them by that name (an event's
 * write, a search's UNION)
 */

static void
crm_sql_col(crm_sql_t *s, ngx_uint_t n)
{
    crm_sql_cstr(s, "c");
    crm_sql_uint(s, n);
}


/* a string literal from a descriptor (a JSON key); never input text */

static void
crm_sql_literal(crm_sql_t *s, ngx_str_t *str)
{
    size_t  i, from;

    crm_sql_cstr(s, "'");

    for (from = 0, i = 0; i < str->len; i++) {
        if (str->data[i] == '\'') {
            crm_sql_append(s, str->data + from, i + 1 - from);
            from = i;
        }
    }

    crm_sql_append(s, str->data + from, str->len - from);
    crm_sql_cstr(s, "'");
}


/* adds a parameter (copied, NUL-terminated) and returns its number */

static ngx_uint_t
crm_sql_param(crm_sql_t *s, u_char *data, size_t len, ngx_uint_t null)
{
    u_char       *p;
    crm_param_t  *param;

    if (s->failed) {
        return 0;
    }

    param = ngx_array_push(&s->st->params);
    if (param == NULL) {
        s->failed = 1;
        return 0;
    }

    ngx_memzero(param, sizeof(crm_param_t));

    p = ngx_pnalloc(s->pool, len + 1);
    if (p == NULL) {
        s->failed = 1;
        return 0;
    }

    if (null == 0 && len != 0) {
        ngx_memcpy(p, data, len);

    } else {
        len = 0;
    }

    p[len] = '\0';

    param->value.data = p;
    param->value.len = len;
    param->null = null ? 1 : 0;

    return s->st->params.nelts;
}


/*
 * A parameter that every reference casts with "cast": to a timestamptz
 * or a uuid, it is bound in binary (crm_value_binary()), which
 * PostgreSQL reads without parsing text on every execution (a cursor's
 * boundary, a created_before=); anything else as text.  The cast, not
 * the field's type, decides: bytes are read as what the statement says.
 */

static ngx_uint_t
crm_sql_param_typed(crm_sql_t *s, ngx_str_t *v, const char *cast)
{
    u_char        buf[CRM_VALUE_BIN_MAX];
    size_t        len;
    ngx_uint_t    n, type;
    crm_param_t  *param;

    if (ngx_strcmp(cast, "::timestamptz") == 0) {
        type = CRM_FT_TIMESTAMP;

    } else if (ngx_strcmp(cast, "::uuid") == 0) {
        type = CRM_FT_UUID;

    } else {
        return crm_sql_param(s, v->data, v->len, 0);
    }

    if (crm_value_binary(type, v, buf, &len) != NGX_OK) {
        return crm_sql_param(s, v->data, v->len, 0);
    }

    n = crm_sql_param(s, buf, len, 0);
    if (n == 0) {
        return 0;
    }

    param = s->st->params.elts;
    param = &param[n - 1];

    param->text.data = ngx_pstrdup(s->pool, v);
    if (param->text.data == NULL) {
        s->failed = 1;
        return 0;
    }

    param->text.len = v->len;
    param->binary = 1;

    return n;
}


static void
crm_sql_ref(crm_sql_t *s, ngx_uint_t n, const char *cast)
{
    crm_sql_cstr(s, "$");
    crm_sql_uint(s, n);
    crm_sql_cstr(s, cast);
}


static crm_sql_type_t *
crm_sql_type(crm_field_t *f)
{
    if (f->type >= sizeof(crm_sql_types) / sizeof(crm_sql_type_t)) {
        return NULL;
    }

    return &crm_sql_types[f->type];
}


/*
 * json_build_object('id', id, 'firstName', first_name, ...)::text;
 * beyond CRM_SQL_JSON_FIELDS fields the objects are merged as jsonb.
 * "jsonb": the same object as jsonb_build_object(...), for an event's
 * data (the value the text would be parsed into, without the text)
 */

static ngx_int_t
crm_sql_row_json(crm_sql_t *s, crm_resource_t *res, u_char *select,
    ngx_uint_t jsonb)
{
    ngx_uint_t  i, n, total;

    total = 0;

    for (i = 0; i < res->nfields; i++) {
        total += crm_render_field(res, select, i);
    }

    if (total > CRM_SQL_JSON_FIELDS) {
        crm_sql_cstr(s, "(");
    }

    crm_sql_cstr(s, jsonb ? "jsonb_build_object(" : "json_build_object(");

    for (n = 0, i = 0; i < res->nfields; i++) {

        if (!crm_render_field(res, select, i)) {
            continue;
        }

        if (n > 0 && n % CRM_SQL_JSON_FIELDS == 0) {
            crm_sql_cstr(s, jsonb ? ") || jsonb_build_object("
                                  : ")::jsonb || json_build_object(");

        } else if (n > 0) {
            crm_sql_cstr(s, ", ");
        }

        crm_sql_literal(s, &res->fields[i].name);
        crm_sql_cstr(s, ", ");

        if (crm_sql_render(s, &res->fields[i]) != NGX_OK) {
            return NGX_ERROR;
        }

        n++;
    }

    if (jsonb) {
        crm_sql_cstr(s, (total > CRM_SQL_JSON_FIELDS) ? "))" : ")");

    } else {
        crm_sql_cstr(s, (total > CRM_SQL_JSON_FIELDS) ? ")::jsonb)::text"
                                                      : ")::text");
    }

    return NGX_OK;
}


static ngx_int_t
crm_sql_render(crm_sql_t *s, crm_field_t *f)
{
    crm_sql_type_t  *t;

    t = crm_sql_type(f);
    if (t == NULL) {
        return NGX_ERROR;
    }

    crm_sql_cstr(s, t->render_pre);
    crm_sql_str(s, &f->column);
    crm_sql_cstr(s, t->render_post);

    return NGX_OK;
}


/*
 * The rendered fields as plain columns, for crm_render_row(): their
 * text format is what it renders.  "how": CRM_SQL_COL_TEXT: each cast to
 * text and named c0, c1, ... (so that the rows of several resources can
 * be a UNION); CRM_SQL_COL_NAMED: named c0, c1, ... (a write's RETURNING
 * inside the statement's "w", which selects them by those names).
 * Returns their number.
 */

static ngx_uint_t
crm_sql_columns(crm_sql_t *s, crm_resource_t *res, u_char *select,
    ngx_uint_t how)
{
    ngx_uint_t  i, n;

    for (n = 0, i = 0; i < res->nfields; i++) {

        if (!crm_render_field(res, select, i)) {
            continue;
        }

        if (n++ > 0) {
            crm_sql_cstr(s, ", ");
        }

        if (how == CRM_SQL_COL_TEXT) {
            crm_sql_cstr(s, "(");
            crm_sql_str(s, &res->fields[i].column);
            crm_sql_cstr(s, ")::text");

        } else {
            crm_sql_str(s, &res->fields[i].column);
        }

        if (how != CRM_SQL_COL_PLAIN) {
            crm_sql_cstr(s, " AS ");
            crm_sql_col(s, n - 1);
        }
    }

    return n;
}


/*
 * " RETURNING <the record>" of a write: its JSON (CRM_SQL_JSON: a bulk's
 * operations, run by db_bulk()), or its columns for crm_render_row()
 * (CRM_SQL_COLUMNS: st->ncols of them, rendered in the worker); then
 * what its event needs
 */

static ngx_int_t
crm_sql_returning(crm_sql_t *s, crm_resource_t *res, ngx_uint_t as)
{
    crm_sql_cstr(s, " RETURNING ");

    if (as == CRM_SQL_JSON) {
        if (crm_sql_row_json(s, res, NULL, 0) != NGX_OK) {
            return NGX_ERROR;
        }

        return crm_sql_event_returning(s, res, " AS crm_row, ");
    }

    s->st->res = res;
    s->st->select = NULL;
    s->st->ncols = crm_sql_columns(s, res, NULL, CRM_SQL_COL_NAMED);

    return crm_sql_event_returning(s, res, ", ");
}


static ngx_int_t
crm_sql_value(crm_sql_t *s, crm_value_t *v)
{
    ngx_uint_t  n;

    n = crm_sql_param(s, v->param.value.data, v->param.value.len,
                      v->param.null);

    return crm_sql_value_ref(s, v, n);
}


/* a value of a column, its parameter $n already bound */

static ngx_int_t
crm_sql_value_ref(crm_sql_t *s, crm_value_t *v, ngx_uint_t n)
{
    crm_sql_type_t  *t;

    t = crm_sql_type(v->field);
    if (t == NULL) {
        return NGX_ERROR;
    }

    crm_sql_cstr(s, t->value_pre);
    crm_sql_ref(s, n, t->value_cast);
    crm_sql_cstr(s, t->value_post);

    return NGX_OK;
}


/*
 * A derived field (crm_field_t.derived_from) that the update does not
 * send, when it sends a field it derives from: null when one of them
 * changes and none will be null, so that the database derives it again,
 * and kept otherwise (nothing moved, or nothing to derive it from: a
 * deal without a stage keeps its probability):
 *   col = CASE WHEN (src1 IS NOT DISTINCT FROM <sent> AND ...)
 *              OR <src1's new value> IS NULL OR ... THEN col END,
 * In SET, a column is the row's old value.  values[i] is $(first + i).
 */

static ngx_int_t
crm_sql_derived(crm_sql_t *s, crm_resource_t *res, ngx_array_t *values,
    ngx_uint_t first)
{
    ngx_int_t      at[CRM_SQL_DERIVED_MAX];
    ngx_uint_t     i, j, nfrom, sent;
    const char   **from;
    crm_field_t   *f, *src;
    crm_value_t   *v;

    v = values->elts;

    for (i = 0; i < res->nfields; i++) {
        f = &res->fields[i];

        if (f->derived_from == NULL
            || crm_sql_sent(values, (const char *) f->name.data) >= 0)
        {
            /* not derived, or sent: the value given wins */
            continue;
        }

        sent = 0;

        for (nfrom = 0, from = f->derived_from; *from != NULL; from++) {
            if (nfrom == CRM_SQL_DERIVED_MAX) {
                return NGX_ERROR;
            }

            at[nfrom] = crm_sql_sent(values, *from);
            sent += (at[nfrom] >= 0);
            nfrom++;
        }

        if (sent == 0) {
            continue;
        }

        crm_sql_str(s, &f->column);
        crm_sql_cstr(s, " = CASE WHEN (");

        for (sent = 0, j = 0; j < nfrom; j++) {
            if (at[j] < 0) {
                continue;
            }

            crm_sql_cstr(s, sent++ ? " AND " : "");
            crm_sql_str(s, &v[at[j]].field->column);
            crm_sql_cstr(s, " IS NOT DISTINCT FROM ");

            if (crm_sql_value_ref(s, &v[at[j]], first + at[j]) != NGX_OK) {
                return NGX_ERROR;
            }
        }

        crm_sql_cstr(s, ")");

        for (j = 0; j < nfrom; j++) {
            crm_sql_cstr(s, " OR ");

            if (at[j] >= 0) {
                if (crm_sql_value_ref(s, &v[at[j]], first + at[j])
                    != NGX_OK)
                {
                    return NGX_ERROR;
                }

            } else {
                src = crm_schema_field(res, (u_char *) f->derived_from[j],
                                       ngx_strlen(f->derived_from[j]));
                if (src == NULL) {
                    return NGX_ERROR;
                }

                crm_sql_str(s, &src->column);
            }

            crm_sql_cstr(s, " IS NULL");
        }

        crm_sql_cstr(s, " THEN ");
        crm_sql_str(s, &f->column);
        crm_sql_cstr(s, " END, ");
    }

    return NGX_OK;
}


/* the index of the value sent for the field named "name", or -1 */

static ngx_int_t
crm_sql_sent(ngx_array_t *values, const char *name)
{
    size_t        len;
    ngx_uint_t    i;
    crm_value_t  *v;

    v = values->elts;
    len = ngx_strlen(name);

    for (i = 0; i < values->nelts; i++) {
        if (v[i].field->name.len == len
            && ngx_strncmp(v[i].field->name.data, name, len) == 0)
        {
            return (ngx_int_t) i;
        }
    }

    return -1;
}


/* a versioned record's version, after its JSON */

static void
crm_sql_version(crm_sql_t *s, crm_resource_t *res)
{
    if (res->versioned) {
        crm_sql_cstr(s, ", version::text");
    }
}


/* If-Match: the write applies only to a version the client holds */

static void
crm_sql_match(crm_sql_t *s, ngx_str_t *match)
{
    ngx_uint_t  n;

    if (match == NULL || match->len == 0) {
        return;
    }

    n = crm_sql_param(s, match->data, match->len, 0);

    /* one version, or a list of them: "{3,4}" (crm_exec_if_match()) */

    if (match->data[0] == '{') {
        crm_sql_cstr(s, " AND version = ANY(");
        crm_sql_ref(s, n, "::integer[]");
        crm_sql_cstr(s, ")");
        return;
    }

    crm_sql_cstr(s, " AND version = ");
    crm_sql_ref(s, n, "::integer");
}


/* the column that holds the workspace: every statement is scoped by it */

static void
crm_sql_tenant(crm_sql_t *s, crm_resource_t *res)
{
    if (res->tenant.len > 0) {
        crm_sql_str(s, &res->tenant);
        return;
    }

    crm_sql_cstr(s, "workspace_id");
}


static void
crm_sql_by_id(crm_sql_t *s, crm_resource_t *res, ngx_uint_t id)
{
    crm_sql_type_t  *t;

    t = crm_sql_type(&res->fields[0]);

    crm_sql_cstr(s, " WHERE ");
    crm_sql_tenant(s, res);
    crm_sql_cstr(s, " = $1::uuid AND ");
    crm_sql_str(s, &res->fields[0].column);
    crm_sql_cstr(s, " = ");
    crm_sql_ref(s, id, t ? t->cast : "::uuid");
    crm_sql_cstr(s, " AND deleted_at IS NULL");
}


/*
 * Events (a resource with CRM_RES_EVENTS): the write becomes
 *
 *   WITH w AS (<write> RETURNING <row JSON> AS crm_row, <row jsonb> AS
 *              crm_data, id AS crm_rid [, version::text]),
 *   e AS (INSERT INTO events (workspace_id, type, record_id, data)
 *         SELECT $1, '<singular>.<verb>', crm_rid, {"object": crm_data,
 *         "changes": [...]} FROM w)
 *   SELECT crm_row [, version] FROM w
 *
 * so that the event is the row as the API renders it, and commits with
 * the write or not at all.  crm_data is the object crm_row's text would
 * be parsed into, built as jsonb from the columns: parsing the text
 * again cost more (bench/README, "The insert path").  A delete answers
 * with the id only: its row is built as jsonb alone.
 */

static void
crm_sql_event_head(crm_sql_t *s, crm_resource_t *res)
{
    if (res->events) {
        crm_sql_cstr(s, "WITH w AS (");
    }
}


/* "as" names what the RETURNING list has so far, and goes on */

static ngx_int_t
crm_sql_event_returning(crm_sql_t *s, crm_resource_t *res, const char *as)
{
    if (!res->events) {
        return NGX_OK;
    }

    crm_sql_cstr(s, as);

    if (crm_sql_row_json(s, res, NULL, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    crm_sql_cstr(s, " AS crm_data, ");
    crm_sql_str(s, &res->fields[0].column);
    crm_sql_cstr(s, " AS crm_rid");

    return NGX_OK;
}


/* "values": the fields an update set; "changed": a link's field */

static void
crm_sql_event(crm_sql_t *s, crm_resource_t *res, const char *verb,
    ngx_array_t *values, crm_field_t *changed)
{
    ngx_uint_t    i, n;
    crm_value_t  *v;

    if (!res->events) {
        return;
    }

    crm_sql_cstr(s, "), e AS (INSERT INTO events (workspace_id, type, "
                 "record_id, data) SELECT $1::uuid, '");
    crm_sql_str(s, &res->singular);
    crm_sql_cstr(s, ".");
    crm_sql_cstr(s, verb);
    crm_sql_cstr(s, "', crm_rid, jsonb_build_object('object', crm_data");

    if (values != NULL || changed != NULL) {

        /* the names as a JSON array literal: descriptor text only */

        crm_sql_cstr(s, ", 'changes', ");
        crm_sql_cstr(s, "'[");

        n = 0;
        v = values ? values->elts : NULL;

        for (i = 0; values != NULL && i < values->nelts; i++) {
            crm_sql_cstr(s, n++ ? ", \"" : "\"");
            crm_sql_str(s, &v[i].field->name);
            crm_sql_cstr(s, "\"");
        }

        if (changed != NULL) {
            crm_sql_cstr(s, n++ ? ", \"" : "\"");
            crm_sql_str(s, &changed->name);
            crm_sql_cstr(s, "\"");
        }

        crm_sql_cstr(s, "]'::jsonb");
    }

    crm_sql_cstr(s, ") FROM w");
}


/* the statement's answer: its columns as they were without events */

static void
crm_sql_event_tail(crm_sql_t *s, crm_resource_t *res, const char *out)
{
    ngx_uint_t  i;

    if (!res->events) {
        return;
    }

    crm_sql_cstr(s, ") SELECT ");

    if (out != NULL) {
        crm_sql_cstr(s, out);

    } else if (s->st->ncols == 0) {
        crm_sql_cstr(s, "crm_row");

    } else {
        for (i = 0; i < s->st->ncols; i++) {
            if (i > 0) {
                crm_sql_cstr(s, ", ");
            }

            crm_sql_col(s, i);
        }
    }

    if (out == NULL && res->versioned) {
        crm_sql_cstr(s, ", version");
    }

    crm_sql_cstr(s, " FROM w");
}


/* the conditions shared by a list and its count */

static ngx_int_t
crm_sql_where(crm_sql_t *s, crm_resource_t *res, crm_query_t *q,
    crm_parent_t *parent, const char *ws)
{
    ngx_int_t      rc;
    ngx_uint_t     i;
    crm_filter_t  *flt;

    crm_sql_cstr(s, " WHERE ");
    crm_sql_tenant(s, res);
    crm_sql_cstr(s, " = ");
    crm_sql_cstr(s, ws);
    crm_sql_cstr(s, " AND deleted_at IS NULL");

    if (parent != NULL) {
        crm_sql_parent(s, res, parent);
    }

    flt = q->filters.elts;

    for (i = 0; flt != NULL && i < q->filters.nelts; i++) {
        crm_sql_cstr(s, " AND ");

        rc = crm_sql_filter(s, &flt[i]);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (q->q.len > 0) {
        crm_sql_cstr(s, " AND ");

        rc = crm_sql_search(s, res, &q->q);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    return NGX_OK;
}


/*
 * The rows of a sub-collection: by "through", the parent's list of ids,
 * read from the parent row in the same workspace; otherwise by the
 * target's fk (and kind) or member columns
 */

static void
crm_sql_parent(crm_sql_t *s, crm_resource_t *res, crm_parent_t *parent)
{
    ngx_uint_t   n, or;
    crm_link_t  *link;

    link = parent->link;
    n = crm_sql_param(s, parent->id.data, parent->id.len, 0);

    if (link->through.len > 0) {
        crm_sql_cstr(s, " AND ");
        crm_sql_str(s, &res->fields[0].column);
        crm_sql_cstr(s, " IN (SELECT unnest(p.");
        crm_sql_str(s, &link->through);
        crm_sql_cstr(s, ") FROM ");
        crm_sql_str(s, &parent->res->table);
        crm_sql_cstr(s, " p WHERE p.");
        crm_sql_tenant(s, parent->res);
        crm_sql_cstr(s, " = $1::uuid AND p.");
        crm_sql_str(s, &parent->res->fields[0].column);
        crm_sql_cstr(s, " = ");
        crm_sql_ref(s, n, "::uuid");
        crm_sql_cstr(s, " AND p.deleted_at IS NULL)");
        return;
    }

    crm_sql_cstr(s, " AND (");
    or = 0;

    if (link->fk.len > 0) {
        crm_sql_cstr(s, "(");
        crm_sql_str(s, &link->fk);
        crm_sql_cstr(s, " = ");
        crm_sql_ref(s, n, "::uuid");

        if (link->kind.len > 0) {
            crm_sql_cstr(s, " AND ");
            crm_sql_str(s, &link->kind);
            crm_sql_cstr(s, " = ");
            crm_sql_literal(s, &link->kind_value);
        }

        crm_sql_cstr(s, ")");
        or = 1;
    }

    if (link->member.len > 0) {
        crm_sql_cstr(s, or ? " OR " : "");
        crm_sql_str(s, &link->member);
        crm_sql_cstr(s, " @> ARRAY[");
        crm_sql_ref(s, n, "::uuid");
        crm_sql_cstr(s, "]");
        or = 1;
    }

    crm_sql_cstr(s, or ? ")" : "false)");
}


/* expands the operator's template for the field's type */

static ngx_int_t
crm_sql_filter(crm_sql_t *s, crm_filter_t *flt)
{
    ngx_int_t        rc;
    ngx_str_t        value;
    ngx_uint_t       n;
    const char      *p, *tpl;
    crm_sql_type_t  *t;

    t = crm_sql_type(flt->field);
    if (t == NULL || flt->op > CRM_OP_IS_NOT_NULL) {
        return NGX_DECLINED;
    }

    tpl = (flt->field->flags & CRM_F_ADDRESS) ? crm_sql_ops_email[flt->op]
                                              : t->ops[flt->op];
    if (tpl == NULL) {
        return NGX_DECLINED;
    }

    n = 0;

    for (p = tpl; *p != '\0'; p++) {

        if (*p != '%') {
            crm_sql_append(s, (const u_char *) p, 1);
            continue;
        }

        p++;

        switch (*p) {

        case 'c':
            crm_sql_str(s, &flt->field->column);
            break;

        case 't':
            crm_sql_str(s, &flt->field->column);

            if (!t->text) {
                crm_sql_cstr(s, "::text");
            }

            break;

        case 'v':
        case 'a':
        case 'l':

            /*
             * the template's one parameter, bound at its first use; a
             * template refers to it in one way only, so %v's value may
             * be bound in binary
             */

            if (n == 0) {
                rc = crm_sql_filter_value(s, flt, &value);
                if (rc != NGX_OK) {
                    return rc;
                }

                n = (*p == 'v')
                    ? crm_sql_param_typed(s, &value, t->elem)
                    : crm_sql_param(s, value.data, value.len, 0);
            }

            if (*p == 'v') {
                crm_sql_ref(s, n, t->elem);

            } else if (*p == 'a') {
                crm_sql_ref(s, n, t->elem);
                crm_sql_cstr(s, "[]");

            } else {
                crm_sql_ref(s, n, "::text");
            }

            break;

        default:
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the text of a filter's parameter: one value, an array, a pattern */

static ngx_int_t
crm_sql_filter_value(crm_sql_t *s, crm_filter_t *flt, ngx_str_t *value)
{
    ngx_str_t  *v;

    switch (flt->op) {

    case CRM_OP_IN:
    case CRM_OP_NIN:
        return crm_sql_array(s->pool, &flt->values, value);

    default:
        break;
    }

    if (flt->values.nelts == 0) {
        return NGX_DECLINED;
    }

    v = flt->values.elts;

    if (flt->op == CRM_OP_LIKE) {
        return crm_sql_like(s->pool, &v[0], value);
    }

    *value = v[0];

    return NGX_OK;
}


/*
 * q=: the searchable fields, joined by db_doc(), contain q, hold a word
 * like it (typos allowed), or hold all its words (sql/009_search.sql
 * indexes exactly these expressions)
 */

static ngx_int_t
crm_sql_search(crm_sql_t *s, crm_resource_t *res, ngx_str_t *text)
{
    ngx_str_t   pattern;
    ngx_uint_t  nq, nl;

    if (!crm_sql_searchable(res)) {
        /* nothing to search in: nothing matches */
        crm_sql_cstr(s, "false");
        return NGX_OK;
    }

    if (crm_sql_like(s->pool, text, &pattern) != NGX_OK) {
        return NGX_ERROR;
    }

    nq = crm_sql_param(s, text->data, text->len, 0);
    nl = crm_sql_param(s, pattern.data, pattern.len, 0);

    crm_sql_text_match(s, res, nq, nl);

    return NGX_OK;
}


ngx_uint_t
crm_sql_searchable(crm_resource_t *res)
{
    ngx_uint_t  i;

    for (i = 0; i < res->nfields; i++) {
        if (res->fields[i].flags & CRM_F_SEARCH) {
            return 1;
        }
    }

    return 0;
}


/* db_doc(f1, f2, ...): the searchable fields, in descriptor order */

static void
crm_sql_doc(crm_sql_t *s, crm_resource_t *res)
{
    ngx_uint_t    i, n;
    crm_field_t  *f;

    crm_sql_cstr(s, "db_doc(");

    for (n = 0, i = 0; i < res->nfields; i++) {
        f = &res->fields[i];

        if (!(f->flags & CRM_F_SEARCH)) {
            continue;
        }

        crm_sql_cstr(s, n++ ? ", " : "");
        crm_sql_str(s, &f->column);

        if (!crm_sql_types[f->type].text) {
            crm_sql_cstr(s, "::text");
        }
    }

    crm_sql_cstr(s, ")");
}


/* the match of q ($nq) and its LIKE pattern ($nl) */

static void
crm_sql_text_match(crm_sql_t *s, crm_resource_t *res, ngx_uint_t nq,
    ngx_uint_t nl)
{
    crm_sql_cstr(s, "(");
    crm_sql_doc(s, res);
    crm_sql_cstr(s, " ILIKE ");
    crm_sql_ref(s, nl, "::text");
    crm_sql_cstr(s, " OR ");
    crm_sql_ref(s, nq, "::text");
    crm_sql_cstr(s, " <% ");
    crm_sql_doc(s, res);
    crm_sql_cstr(s, " OR to_tsvector('simple', ");
    crm_sql_doc(s, res);
    crm_sql_cstr(s, ") @@ plainto_tsquery('simple', ");
    crm_sql_ref(s, nq, "::text");
    crm_sql_cstr(s, "))");
}


/*
 * GET /search: the best "limit" matches of "text" in each resource, then
 * the best "limit" of all: records that contain q first ("m"), then those
 * only close to it ("Smit" for "smith" comes after "Goldsmith"), each by
 * score; the score is the mean of q's similarity to the closest part of
 * the record and to its closest whole words (ties of the first, as
 * "smiht" is to both "Smith" and "Smithers", go to whole words):
 *   SELECT t, s, c0, ... FROM ((SELECT '<name>' AS t, <score> AS s,
 *   <doc> ILIKE <pattern> AS m, id, <columns>::text AS c0, ...
 *   FROM <table> WHERE <tenant, live, match>
 *   ORDER BY m DESC, s DESC, id LIMIT n) UNION ALL ...) x
 *   ORDER BY m DESC, s DESC, t, id LIMIT n
 * the record's columns as text (st->ncols of them: those of the widest
 * resource, NULL beyond a narrower one's), rendered by crm_render_row()
 */

ngx_int_t
crm_sql_search_all(ngx_pool_t *pool, ngx_str_t *ws, crm_resource_t **res,
    ngx_uint_t nres, ngx_str_t *text, ngx_uint_t limit, crm_stmt_t *st)
{
    ngx_str_t   pattern;
    ngx_uint_t  i, k, n, nq, nl, nn, ncols;
    crm_sql_t   s;

    if (crm_sql_init(&s, pool, st, ws) != NGX_OK) {
        return NGX_ERROR;
    }

    if (crm_sql_like(pool, text, &pattern) != NGX_OK) {
        return NGX_ERROR;
    }

    nq = crm_sql_param(&s, text->data, text->len, 0);
    nl = crm_sql_param(&s, pattern.data, pattern.len, 0);
    nn = crm_sql_number(&s, limit);

    ncols = 0;

    for (i = 0; i < nres; i++) {
        if (!crm_sql_searchable(res[i])) {
            return NGX_DECLINED;
        }

        ncols = ngx_max(ncols, crm_render_ncols(res[i], NULL));
    }

    crm_sql_cstr(&s, "SELECT t, round(s::numeric, 4)::text");

    for (k = 0; k < ncols; k++) {
        crm_sql_cstr(&s, ", ");
        crm_sql_col(&s, k);
    }

    crm_sql_cstr(&s, " FROM (");

    for (i = 0; i < nres; i++) {

        crm_sql_cstr(&s, i ? " UNION ALL (SELECT " : "(SELECT ");
        crm_sql_literal(&s, &res[i]->name);
        crm_sql_cstr(&s, "::text AS t, (word_similarity(");
        crm_sql_ref(&s, nq, "::text");
        crm_sql_cstr(&s, ", ");
        crm_sql_doc(&s, res[i]);
        crm_sql_cstr(&s, ") + strict_word_similarity(");
        crm_sql_ref(&s, nq, "::text");
        crm_sql_cstr(&s, ", ");
        crm_sql_doc(&s, res[i]);
        crm_sql_cstr(&s, ")) / 2 AS s, ");
        crm_sql_doc(&s, res[i]);
        crm_sql_cstr(&s, " ILIKE ");
        crm_sql_ref(&s, nl, "::text");
        crm_sql_cstr(&s, " AS m, ");
        crm_sql_str(&s, &res[i]->fields[0].column);
        crm_sql_cstr(&s, "::text AS id, ");

        n = crm_sql_columns(&s, res[i], NULL, CRM_SQL_COL_TEXT);

        /* the columns of the widest resource: the others' are NULL */

        for ( /* void */ ; n < ncols; n++) {
            crm_sql_cstr(&s, ", NULL::text AS ");
            crm_sql_col(&s, n);
        }

        crm_sql_cstr(&s, " FROM ");
        crm_sql_str(&s, &res[i]->table);
        crm_sql_cstr(&s, " WHERE ");
        crm_sql_tenant(&s, res[i]);
        crm_sql_cstr(&s, " = $1::uuid AND deleted_at IS NULL AND ");
        crm_sql_text_match(&s, res[i], nq, nl);
        crm_sql_cstr(&s, " ORDER BY 3 DESC, 2 DESC, 4 LIMIT ");
        crm_sql_ref(&s, nn, "::bigint");
        crm_sql_cstr(&s, ")");
    }

    crm_sql_cstr(&s, ") x ORDER BY m DESC, s DESC, t, id LIMIT ");
    crm_sql_ref(&s, nn, "::bigint");

    st->ncols = ncols;

    return crm_sql_done(&s);
}


/*
 * Rows strictly after the boundary row in the effective order:
 *   (k1 after v1) OR (k1 = v1 AND k2 after v2) OR ...
 * "after" for ASC NULLS LAST:   v: (k > v OR k IS NULL)   NULL: none
 * "after" for DESC NULLS FIRST: v: k < v                  NULL: k IS NOT NULL
 * A key that is never NULL has a plain "after": k > v.
 *
 * The chain is preceded by a redundant bound on the first key, k1 <= v1
 * (DESC) or k1 >= v1 (ASC, never NULL), that an index scan can start
 * from: a deep page then costs what the first one does.  Under that
 * bound a row that is not "k1 after v1" has k1 = v1, so the terms after
 * the first leave "k1 = v1 AND" out: one boundary value less to compute
 * (each is an InitPlan, crm_sql_key_ref()) and one comparison less a
 * row.
 */

static ngx_int_t
crm_sql_keyset(crm_sql_t *s, crm_resource_t *res, crm_query_t *q)
{
    ngx_uint_t       i, j, n, desc, terms, bound;
    ngx_uint_t       pn[CRM_MAX_KEYS];
    crm_field_t     *f;
    crm_sql_type_t  *t;

    bound = 0;

    for (i = 0; i < q->nsort; i++) {
        pn[i] = 0;

        if (crm_sql_type(q->sort[i].field) == NULL) {
            return NGX_DECLINED;
        }
    }

    crm_sql_cstr(s, " AND ");

    f = q->sort[0].field;
    t = crm_sql_type(f);
    desc = crm_sql_key_desc(q, 0);

    if (q->nsort > 1
        && !q->key_null[0]
        && (desc || crm_sql_never_null(res, f)))
    {
        n = crm_sql_key_param(s, q, 0, pn);

        crm_sql_str(s, &f->column);
        crm_sql_cstr(s, desc ? " <= " : " >= ");
        crm_sql_key_ref(s, n, t->cast);
        crm_sql_cstr(s, " AND ");

        bound = 1;
    }

    crm_sql_cstr(s, "(");

    terms = 0;

    for (i = 0; i < q->nsort; i++) {
        f = q->sort[i].field;
        t = crm_sql_type(f);
        desc = crm_sql_key_desc(q, i);

        if (q->key_null[i] && !desc) {
            /* nothing sorts after NULL in ASC NULLS LAST */
            continue;
        }

        if (terms > 0) {
            crm_sql_cstr(s, " OR ");
        }

        terms++;

        if (i > 0) {
            crm_sql_cstr(s, "(");
        }

        for (j = bound; j < i; j++) {
            crm_sql_key_eq(s, q, j, pn);
            crm_sql_cstr(s, " AND ");
        }

        if (q->key_null[i]) {
            crm_sql_str(s, &f->column);
            crm_sql_cstr(s, " IS NOT NULL");

        } else if (desc || crm_sql_never_null(res, f)) {
            n = crm_sql_key_param(s, q, i, pn);

            crm_sql_str(s, &f->column);
            crm_sql_cstr(s, desc ? " < " : " > ");
            crm_sql_key_ref(s, n, t->cast);

        } else {
            n = crm_sql_key_param(s, q, i, pn);

            crm_sql_cstr(s, "(");
            crm_sql_str(s, &f->column);
            crm_sql_cstr(s, " > ");
            crm_sql_key_ref(s, n, t->cast);
            crm_sql_cstr(s, " OR ");
            crm_sql_str(s, &f->column);
            crm_sql_cstr(s, " IS NULL)");
        }

        if (i > 0) {
            crm_sql_cstr(s, ")");
        }
    }

    crm_sql_cstr(s, (terms > 0) ? ")" : "false)");

    return NGX_OK;
}


/*
 * The rendered column that holds sort key "f" in the text its "::text"
 * cast would give (the type's output function: not so for a boolean),
 * or NGX_ERROR when there is none
 */

static ngx_uint_t
crm_sql_key_column(crm_resource_t *res, u_char *select, crm_field_t *f)
{
    ngx_uint_t  i, n;

    if (f < res->fields || f >= res->fields + res->nfields) {
        /* a custom field's key */
        return (ngx_uint_t) NGX_ERROR;
    }

    switch (f->type) {

    case CRM_FT_UUID:
    case CRM_FT_TEXT:
    case CRM_FT_EMAIL:
    case CRM_FT_ENUM:
    case CRM_FT_INT:
    case CRM_FT_NUMERIC:
    case CRM_FT_TIMESTAMP:
    case CRM_FT_DATE:
        break;

    default:
        return (ngx_uint_t) NGX_ERROR;
    }

    if (!crm_render_field(res, select, f - res->fields)) {
        return (ngx_uint_t) NGX_ERROR;
    }

    for (n = 0, i = 0; &res->fields[i] != f; i++) {
        n += crm_render_field(res, select, i);
    }

    return n;
}


/* the id; and fields flagged CRM_F_NOTNULL, once crm.h defines it */

static ngx_uint_t
crm_sql_never_null(crm_resource_t *res, crm_field_t *f)
{
    if (f == &res->fields[0]) {
        return 1;
    }

#ifdef CRM_F_NOTNULL
    if (f->flags & CRM_F_NOTNULL) {
        return 1;
    }
#endif

    return 0;
}


static void
crm_sql_key_eq(crm_sql_t *s, crm_query_t *q, ngx_uint_t i, ngx_uint_t *pn)
{
    ngx_uint_t    n;
    crm_field_t  *f;

    f = q->sort[i].field;

    crm_sql_str(s, &f->column);

    if (q->key_null[i]) {
        crm_sql_cstr(s, " IS NULL");
        return;
    }

    n = crm_sql_key_param(s, q, i, pn);

    crm_sql_cstr(s, " = ");
    crm_sql_key_ref(s, n, crm_sql_type(f)->cast);
}


/*
 * A boundary value as "(SELECT $n::type)": an InitPlan, whose value the
 * planner does not see.  It plans a page after a cursor as it plans one
 * after any boundary, so the prepared statement keeps its generic plan;
 * with "$n" it costed each boundary's rows, found a generic plan dearer
 * than a custom one and planned every page again (~110 us, more than the
 * page itself costs to read).
 */

static void
crm_sql_key_ref(crm_sql_t *s, ngx_uint_t n, const char *cast)
{
    crm_sql_cstr(s, "(SELECT ");
    crm_sql_ref(s, n, cast);
    crm_sql_cstr(s, ")");
}


/* each boundary value is bound once, at its first use; cast as its type */

static ngx_uint_t
crm_sql_key_param(crm_sql_t *s, crm_query_t *q, ngx_uint_t i,
    ngx_uint_t *pn)
{
    if (pn[i] == 0) {
        pn[i] = crm_sql_param_typed(s, &q->key[i],
                                    crm_sql_type(q->sort[i].field)->cast);
    }

    return pn[i];
}


/* the effective direction: a backward page reads the order reversed */

static ngx_uint_t
crm_sql_key_desc(crm_query_t *q, ngx_uint_t i)
{
    return (q->sort[i].desc ? 1 : 0) ^ (q->backward ? 1 : 0);
}


/*
 * The keys are qualified with the table: a bare "id" would name the
 * output column "id::text" and sort the text
 */

static void
crm_sql_order(crm_sql_t *s, crm_resource_t *res, crm_query_t *q)
{
    ngx_uint_t  i;

    for (i = 0; i < q->nsort; i++) {
        crm_sql_cstr(s, (i == 0) ? " ORDER BY " : ", ");

        if (!(q->sort[i].field->flags & CRM_F_EXPR)) {
            crm_sql_str(s, &res->table);
            crm_sql_cstr(s, ".");
        }

        crm_sql_str(s, &q->sort[i].field->column);
        crm_sql_cstr(s, crm_sql_key_desc(q, i) ? " DESC NULLS FIRST"
                                               : " ASC NULLS LAST");
    }
}


/* "%" value "%" with \ % _ escaped by \ (ILIKE's default escape) */

static ngx_int_t
crm_sql_like(ngx_pool_t *pool, ngx_str_t *in, ngx_str_t *out)
{
    size_t   i, len;
    u_char  *p;

    len = 2;

    for (i = 0; i < in->len; i++) {
        switch (in->data[i]) {
        case '\\':
        case '%':
        case '_':
            len++;
            break;
        }

        len++;
    }

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;
    out->len = len;

    *p++ = '%';

    for (i = 0; i < in->len; i++) {
        switch (in->data[i]) {
        case '\\':
        case '%':
        case '_':
            *p++ = '\\';
            break;
        }

        *p++ = in->data[i];
    }

    *p = '%';

    return NGX_OK;
}


/* {"a","b\"c"}: a PostgreSQL array literal, every element quoted */

static ngx_int_t
crm_sql_array(ngx_pool_t *pool, ngx_array_t *values, ngx_str_t *out)
{
    size_t      len, i, k;
    u_char     *p;
    ngx_str_t  *v;

    v = values->elts;
    len = 2;

    for (k = 0; k < values->nelts; k++) {
        len += 3;                       /* "", */

        for (i = 0; i < v[k].len; i++) {
            if (v[k].data[i] == '"' || v[k].data[i] == '\\') {
                len++;
            }

            len++;
        }
    }

    p = ngx_pnalloc(pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    *p++ = '{';

    for (k = 0; k < values->nelts; k++) {
        if (k > 0) {
            *p++ = ',';
        }

        *p++ = '"';

        for (i = 0; i < v[k].len; i++) {
            if (v[k].data[i] == '"' || v[k].data[i] == '\\') {
                *p++ = '\\';
            }

            *p++ = v[k].data[i];
        }

        *p++ = '"';
    }

    *p++ = '}';

    out->len = p - out->data;

    return NGX_OK;
}


/* a number of ours (limit, offset) as a parameter */

static ngx_uint_t
crm_sql_number(crm_sql_t *s, ngx_uint_t n)
{
    u_char  *p, buf[NGX_INT_T_LEN];

    p = ngx_sprintf(buf, "%ui", n);

    return crm_sql_param(s, buf, p - buf, 0);
}
