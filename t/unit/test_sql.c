
/*
 * Unit tests of the SQL planner (src/crm_sql.c), TAP output.
 *
 * With CRM_SQL_DUMP=<file> in the environment every generated statement
 * is also written to <file> as a psql script (PREPARE, EXECUTE with the
 * parameters, DEALLOCATE) so that the text can be run against a
 * PostgreSQL with the schema of sql/.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <stdio.h>
#include <stdlib.h>
#include "model/crm.h"
#include "tap.h"


#define WS        "11111111-1111-1111-1111-111111111111"
#define ID        "22222222-2222-2222-2222-222222222222"
#define CO        "33333333-3333-3333-3333-333333333333"

#define TS        " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

#define CONTACT_ROW                                                          \
    "json_build_object('id', id, 'firstName', first_name, "                  \
    "'lastName', last_name, 'email', email, 'phone', phone, "                \
    "'title', title, 'companyId', company_id, 'ownerId', owner_id, "         \
    "'status', status, 'source', source, 'tags', tags, "                     \
    "'customFields', custom_fields, "                                        \
    "'createdAt', to_char(created_at" TS ", "                                \
    "'updatedAt', to_char(updated_at" TS ")::text"

/* the same object as jsonb, an event's data (since sql/056) */
#define CONTACT_JSONB                                                        \
    "jsonb_build_object('id', id, 'firstName', first_name, "                 \
    "'lastName', last_name, 'email', email, 'phone', phone, "                \
    "'title', title, 'companyId', company_id, 'ownerId', owner_id, "         \
    "'status', status, 'source', source, 'tags', tags, "                     \
    "'customFields', custom_fields, "                                        \
    "'createdAt', to_char(created_at" TS ", "                                \
    "'updatedAt', to_char(updated_at" TS ")"

/* a write's columns, named for the statement's "w" */
#define CONTACT_NAMED                                                        \
    "id AS c0, first_name AS c1, last_name AS c2, email AS c3, "             \
    "phone AS c4, title AS c5, company_id AS c6, owner_id AS c7, "           \
    "status AS c8, source AS c9, tags AS c10, custom_fields AS c11, "        \
    "created_at AS c12, updated_at AS c13"

/* a read's columns, which crm_render_row() renders */
#define CONTACT_COLS                                                         \
    "id, first_name, last_name, email, phone, title, company_id, owner_id, " \
    "status, source, tags, custom_fields, created_at, updated_at"

#define LIVE      "workspace_id = $1::uuid AND deleted_at IS NULL"

/* a time filter's bounds: the millisecond at or after its value, the
 * one after its value's */
#define MS_FIRST(n)                                                          \
    "date_trunc('milliseconds', $" n "::timestamptz + interval "             \
    "'999 microseconds')"
#define MS_NEXT(n)                                                           \
    "(date_trunc('milliseconds', $" n "::timestamptz) + interval "           \
    "'1 millisecond')"
#define DOC       "db_doc(first_name, last_name, email, phone)"


static void is_sql(crm_stmt_t *st, const char *want, const char *name);
static void has_sql(crm_stmt_t *st, const char *frag, const char *name);
static void is_param(crm_stmt_t *st, ngx_uint_t n, const char *want,
    const char *name);
static void is_null_param(crm_stmt_t *st, ngx_uint_t n, const char *name);
static void is_bin_param(crm_stmt_t *st, ngx_uint_t n, const char *hex,
    const char *name);
static void has_param(crm_stmt_t *st, ngx_uint_t n, const char *frag,
    const char *name);
static void dump(crm_stmt_t *st);
static crm_field_t *field(crm_resource_t *res, const char *name);
static void query_init(crm_query_t *q);
static void query_sort(crm_query_t *q, crm_resource_t *res,
    const char *name, ngx_uint_t desc);
static void query_filter(crm_query_t *q, crm_resource_t *res,
    const char *name, ngx_uint_t op, const char *v1, const char *v2,
    const char *v3);
static void value_add(ngx_array_t *a, crm_resource_t *res,
    const char *name, const char *text);
static ngx_str_t str(const char *s);

static void test_single(void);
static void test_fixed(void);
static void test_write(void);
static void test_list_basic(void);
static void test_list_keyset(void);
static void test_filters(void);
static void test_filters_db(void);
static void test_links(void);
static void test_inline(void);
static void test_search(void);
static void test_select(void);
static void test_wide(void);


static ngx_pool_t  *pool;
static FILE        *dump_file;
static ngx_uint_t   dump_n;
static ngx_str_t    ws = ngx_string(WS);
static ngx_str_t    id = ngx_string(ID);
static ngx_str_t    co = ngx_string(CO);


int
main(void)
{
    char       *path;
    ngx_log_t   log;

    ngx_memzero(&log, sizeof(ngx_log_t));

    ngx_pagesize = 4096;

    pool = ngx_create_pool(4096, &log);
    if (pool == NULL) {
        return 1;
    }

    path = getenv("CRM_SQL_DUMP");
    if (path != NULL) {
        dump_file = fopen(path, "w");
    }

    test_single();
    test_fixed();
    test_write();
    test_list_basic();
    test_list_keyset();
    test_filters();
    test_filters_db();
    test_links();
    test_inline();
    test_search();
    test_select();
    test_wide();

    if (dump_file != NULL) {
        fclose(dump_file);
    }

    ngx_destroy_pool(pool);

    return done_testing();
}


static void
test_single(void)
{
    crm_stmt_t       st;
    crm_resource_t  *contacts, *companies;

    contacts = crm_schema_find(&(ngx_str_t) ngx_string("contacts"));
    companies = crm_schema_find(&(ngx_str_t) ngx_string("companies"));

    ok(crm_sql_get(pool, contacts, &ws, &id, NULL, &st) == NGX_OK,
       "get: NGX_OK");
    is_sql(&st,
           "SELECT " CONTACT_COLS ", version::text FROM contacts WHERE "
           "workspace_id = $1::uuid AND id = $2::uuid AND "
           "deleted_at IS NULL",
           "get: statement, with the version of a versioned resource");
    ok(st.params.nelts == 2, "get: 2 params");
    is_param(&st, 1, WS, "get: $1 is the workspace");
    is_param(&st, 2, ID, "get: $2 is the id");
    ok(st.nkeys == 0, "get: no key columns");
    ok(st.ncols == 14 && st.res == contacts && st.select == NULL,
       "get: the record as 14 columns, rendered from the descriptor");
    ok(st.sql.data[st.sql.len] == '\0', "get: statement NUL-terminated");
    ok(((crm_param_t *) st.params.elts)[1].value.data[sizeof(ID) - 1] == '\0',
       "get: params NUL-terminated");
    dump(&st);

    ok(crm_sql_exists(pool, companies, &ws, &id, &st) == NGX_OK,
       "exists: NGX_OK");
    is_sql(&st,
           "SELECT 1 FROM companies WHERE workspace_id = $1::uuid AND "
           "id = $2::uuid AND deleted_at IS NULL",
           "exists: statement");
    dump(&st);

    ok(crm_sql_delete(pool, contacts, &ws, &id, NULL, &st) == NGX_OK,
       "delete: NGX_OK");
    is_sql(&st,
           "WITH w AS (UPDATE contacts SET deleted_at = now(), "
           "updated_at = now() "
           "WHERE workspace_id = $1::uuid AND id = $2::uuid AND "
           "deleted_at IS NULL RETURNING id::text AS crm_id, " CONTACT_JSONB
           " AS crm_data, id AS crm_rid), e AS (INSERT INTO events "
           "(workspace_id, type, record_id, data) SELECT $1::uuid, "
           "'contact.deleted', crm_rid, jsonb_build_object('object', "
           "crm_data) FROM w) SELECT crm_id FROM w",
           "delete: statement, with its event");
    ok(st.params.nelts == 2, "delete: 2 params");
    dump(&st);

    ok(crm_sql_get(pool, companies, &ws, &id, NULL, &st) == NGX_OK,
       "get companies: NGX_OK");
    has_sql(&st, "SELECT id, name, domain, website, industry, employees, "
            "annual_revenue, phone, address, owner_id, custom_fields, "
            "created_at, updated_at, version::text FROM companies",
            "get companies: plain columns, the version after them");
    dump(&st);
}


/* statements of fixed text: crm_sql_fixed(), crm_sql_set(), _set_num() */

static void
test_fixed(void)
{
    ngx_str_t     v;
    crm_stmt_t   *st;
    crm_param_t  *p;

    st = crm_sql_fixed(pool, "SELECT 1", 0);
    ok(st != NULL && st->params.nelts == 0 && st->sql.len == 8
       && ngx_strncmp(st->sql.data, "SELECT 1", 8) == 0
       && st->ncols == 0 && st->res == NULL && !st->binary,
       "fixed: no parameters, the text as given");
    ok(st != NULL && crm_sql_set(st, 0, &ws) == NGX_ERROR,
       "fixed: no $1 to set");

    st = crm_sql_fixed(pool, "SELECT f($1::uuid, $2, $3::interval)", 3);
    if (st == NULL) {
        ok(0, "fixed: three parameters");
        return;
    }

    ok(st->params.nelts == 3, "fixed: three parameters");
    is_null_param(st, 1, "fixed: $1 NULL until set");
    is_null_param(st, 3, "fixed: $3 NULL until set");

    v = str("");
    ok(crm_sql_set(st, 0, &ws) == NGX_OK
       && crm_sql_set(st, 1, &v) == NGX_OK
       && crm_sql_set_num(st, 2, "%M milliseconds", 1500) == NGX_OK,
       "fixed: set");

    p = st->params.elts;
    ok(!p[0].null && !p[0].binary && p[0].value.data == ws.data
       && p[0].value.len == ws.len, "fixed: $1 the caller's bytes");
    ok(!p[1].null && p[1].value.len == 0, "fixed: $2 empty, not NULL");
    ok(!p[2].null && p[2].value.len == sizeof("1500 milliseconds") - 1
       && ngx_strncmp(p[2].value.data, "1500 milliseconds",
                      p[2].value.len) == 0,
       "fixed: $3 a number formatted");

    ok(crm_sql_set(st, 0, NULL) == NGX_OK && p[0].null,
       "fixed: $1 NULL again");
    ok(crm_sql_set(st, 3, &ws) == NGX_ERROR
       && crm_sql_set_num(st, 3, "%ui", 1) == NGX_ERROR,
       "fixed: no $4");
}


static void
test_write(void)
{
    ngx_array_t      values;
    crm_stmt_t       st;
    crm_resource_t  *contacts, *companies, *deals;

    contacts = crm_schema_find(&(ngx_str_t) ngx_string("contacts"));
    companies = crm_schema_find(&(ngx_str_t) ngx_string("companies"));

    /* a contact */

    ngx_array_init(&values, pool, 8, sizeof(crm_value_t));
    value_add(&values, contacts, "firstName", "Ada");
    value_add(&values, contacts, "email", "ada@example.com");
    value_add(&values, contacts, "tags", "[\"vip\",\"a \\\"b\\\"\"]");
    value_add(&values, contacts, "customFields", "{\"k\":1}");
    value_add(&values, contacts, "companyId", NULL);
    value_add(&values, contacts, "status", "lead");

    ok(crm_sql_insert(pool, contacts, &ws, &values, CRM_SQL_COLUMNS, &st)
       == NGX_OK, "insert: NGX_OK");
    is_sql(&st,
           "WITH w AS (INSERT INTO contacts (workspace_id, first_name, "
           "email, tags, "
           "custom_fields, company_id, status) VALUES ($1::uuid, $2::text, "
           "$3::text, ARRAY(SELECT jsonb_array_elements_text($4::jsonb)), "
           "$5::jsonb, $6::uuid, $7::text) RETURNING " CONTACT_NAMED
           ", " CONTACT_JSONB " AS crm_data, id AS crm_rid, "
           "version::text), e AS (INSERT INTO "
           "events (workspace_id, type, record_id, data) SELECT $1::uuid, "
           "'contact.created', crm_rid, jsonb_build_object('object', "
           "crm_data) FROM w) SELECT c0, c1, c2, c3, c4, c5, c6, c7, c8, "
           "c9, c10, c11, c12, c13, version FROM w",
           "insert: statement, with its event, the record as columns");
    ok(st.ncols == 14 && st.res == contacts && st.select == NULL,
       "insert: 14 columns for crm_render_row(), then the version");
    ok(st.params.nelts == 7, "insert: 7 params");
    is_param(&st, 2, "Ada", "insert: $2 text");
    is_param(&st, 4, "[\"vip\",\"a \\\"b\\\"\"]", "insert: $4 JSON array");
    is_null_param(&st, 6, "insert: $6 NULL");
    dump(&st);

    /* a company without values: defaults only */

    ngx_array_init(&values, pool, 8, sizeof(crm_value_t));

    ok(crm_sql_insert(pool, companies, &ws, &values, CRM_SQL_JSON, &st)
       == NGX_OK, "insert empty: NGX_OK");
    ok(st.ncols == 0, "insert as JSON (a bulk's): no columns");
    has_sql(&st, "INSERT INTO companies (workspace_id) VALUES ($1::uuid) "
            "RETURNING json_build_object('id', id, 'name', name,",
            "insert empty: only the workspace");

    /* a company: every scalar type */

    ngx_array_init(&values, pool, 8, sizeof(crm_value_t));
    value_add(&values, companies, "name", "Acme's");
    value_add(&values, companies, "employees", "42");
    value_add(&values, companies, "annualRevenue", "1234.5");
    value_add(&values, companies, "address", "{\"city\":\"Oslo\"}");
    value_add(&values, companies, "ownerId", ID);

    ok(crm_sql_insert(pool, companies, &ws, &values, CRM_SQL_JSON, &st)
       == NGX_OK, "insert company: NGX_OK");
    has_sql(&st, "VALUES ($1::uuid, $2::text, $3::bigint, $4::numeric, "
            "$5::jsonb, $6::uuid) RETURNING",
            "insert company: casts by type");
    is_param(&st, 2, "Acme's", "insert company: quote stays in the param");
    dump(&st);

    /* an update */

    ngx_array_init(&values, pool, 8, sizeof(crm_value_t));
    value_add(&values, contacts, "lastName", "Lovelace");
    value_add(&values, contacts, "tags", "[]");
    value_add(&values, contacts, "title", NULL);

    ok(crm_sql_update(pool, contacts, &ws, &id, &values, NULL, CRM_SQL_JSON,
                      &st) == NGX_OK, "update: NGX_OK");
    is_sql(&st,
           "WITH w AS (UPDATE contacts SET last_name = $3::text, "
           "tags = ARRAY(SELECT "
           "jsonb_array_elements_text($4::jsonb)), title = $5::text, "
           "version = version + 1, "
           "updated_at = now() WHERE workspace_id = $1::uuid AND "
           "id = $2::uuid AND deleted_at IS NULL RETURNING " CONTACT_ROW
           " AS crm_row, " CONTACT_JSONB " AS crm_data, id AS crm_rid, "
           "version::text), e AS (INSERT INTO "
           "events (workspace_id, type, record_id, data) SELECT $1::uuid, "
           "'contact.updated', crm_rid, jsonb_build_object('object', "
           "crm_data, 'changes', '[\"lastName\", \"tags\", "
           "\"title\"]'::jsonb) FROM w) SELECT crm_row, version FROM w",
           "update: statement, raising the version, with its event and "
           "the fields it set; the record as JSON (a bulk's)");
    is_param(&st, 2, ID, "update: $2 is the id");
    is_param(&st, 3, "Lovelace", "update: $3 first value");
    is_null_param(&st, 5, "update: $5 NULL");
    dump(&st);

    ngx_array_init(&values, pool, 8, sizeof(crm_value_t));

    ok(crm_sql_update(pool, contacts, &ws, &id, &values, NULL,
                      CRM_SQL_COLUMNS, &st) == NGX_OK, "update empty: NGX_OK");
    has_sql(&st, "UPDATE contacts SET version = version + 1, "
            "updated_at = now() WHERE "
            "workspace_id = $1::uuid AND id = $2::uuid AND "
            "deleted_at IS NULL RETURNING " CONTACT_NAMED ", ",
            "update empty: only the version and updated_at");
    has_sql(&st, "FROM w) SELECT c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, "
            "c10, c11, c12, c13, version FROM w",
            "update empty: the record's columns and the version");
    dump(&st);

    /* If-Match: only the version the client holds */

    ok(crm_sql_update(pool, contacts, &ws, &id, &values,
                      &(ngx_str_t) ngx_string("7"), CRM_SQL_COLUMNS, &st)
       == NGX_OK,
       "update if-match: NGX_OK");
    has_sql(&st, "deleted_at IS NULL AND version = $3::integer RETURNING ",
            "update if-match: the version is a condition");
    is_param(&st, 3, "7", "update if-match: $3 is the version");

    ok(crm_sql_update(pool, contacts, &ws, &id, &values,
                      &(ngx_str_t) ngx_string("{3,7}"), CRM_SQL_COLUMNS, &st)
       == NGX_OK,
       "update if-match list: NGX_OK");
    has_sql(&st, "deleted_at IS NULL AND version = ANY($3::integer[]) "
            "RETURNING ", "update if-match list: any of the versions");
    is_param(&st, 3, "{3,7}", "update if-match list: $3 is the list");

    ok(crm_sql_delete(pool, contacts, &ws, &id,
                      &(ngx_str_t) ngx_string("7"), &st) == NGX_OK,
       "delete if-match: NGX_OK");
    has_sql(&st, "deleted_at IS NULL AND version = $3::integer RETURNING ",
            "delete if-match: the version is a condition");

    ok(crm_sql_update(pool, companies, &ws, &id, &values, NULL,
                      CRM_SQL_COLUMNS, &st)
       == NGX_OK, "update company: NGX_OK");
    has_sql(&st, "SET version = version + 1, updated_at",
            "update company: versioned too");
    dump(&st);

    /*
     * a deal's probability is derived from its pipeline and stage: an
     * update that sends them without it writes it null when they change
     */

    deals = crm_schema_find(&(ngx_str_t) ngx_string("deals"));

    ngx_array_init(&values, pool, 8, sizeof(crm_value_t));
    value_add(&values, deals, "name", "Big");
    value_add(&values, deals, "stage", "Won");
    value_add(&values, deals, "pipelineId", CO);

    ok(crm_sql_update(pool, deals, &ws, &id, &values, NULL,
                      CRM_SQL_COLUMNS, &st) == NGX_OK,
       "update deal's stage: NGX_OK");
    has_sql(&st, "SET name = $3::text, stage = $4::text, "
            "pipeline_id = $5::uuid, probability = CASE WHEN (pipeline_id "
            "IS NOT DISTINCT FROM $5::uuid AND stage IS NOT DISTINCT FROM "
            "$4::text) OR $5::uuid IS NULL OR $4::text IS NULL THEN "
            "probability END, version = version + 1, ",
            "update deal's stage: the probability null when they change");
    dump(&st);

    ngx_array_init(&values, pool, 8, sizeof(crm_value_t));
    value_add(&values, deals, "pipelineId", CO);

    ok(crm_sql_update(pool, deals, &ws, &id, &values, NULL,
                      CRM_SQL_COLUMNS, &st) == NGX_OK,
       "update deal's pipeline: NGX_OK");
    has_sql(&st, "SET pipeline_id = $3::uuid, probability = CASE WHEN "
            "(pipeline_id IS NOT DISTINCT FROM $3::uuid) OR $3::uuid IS "
            "NULL OR stage IS NULL THEN probability END, ",
            "update deal's pipeline: kept without a stage to derive from");
    dump(&st);

    ngx_array_init(&values, pool, 8, sizeof(crm_value_t));
    value_add(&values, deals, "stage", "Won");
    value_add(&values, deals, "probability", "40");

    ok(crm_sql_update(pool, deals, &ws, &id, &values, NULL,
                      CRM_SQL_COLUMNS, &st) == NGX_OK,
       "update deal's stage and probability: NGX_OK");
    has_sql(&st, "SET stage = $3::text, probability = $4::bigint, "
            "version = version + 1, ",
            "update deal's stage and probability: the one sent");
    dump(&st);

    ngx_array_init(&values, pool, 8, sizeof(crm_value_t));
    value_add(&values, deals, "name", "Big");

    ok(crm_sql_update(pool, deals, &ws, &id, &values, NULL,
                      CRM_SQL_COLUMNS, &st) == NGX_OK,
       "update deal's name: NGX_OK");
    has_sql(&st, "SET name = $3::text, version = version + 1, ",
            "update deal's name: the probability untouched");
    dump(&st);
}


static void
test_list_basic(void)
{
    crm_stmt_t       st;
    crm_query_t      q;
    crm_parent_t     parent;
    crm_resource_t  *contacts, *companies;

    contacts = crm_schema_find(&(ngx_str_t) ngx_string("contacts"));
    companies = crm_schema_find(&(ngx_str_t) ngx_string("companies"));

    /* the default list: -createdAt, id */

    query_init(&q);
    query_sort(&q, contacts, "createdAt", 1);
    query_sort(&q, contacts, "id", 1);

    ok(crm_sql_list(pool, contacts, &ws, &q, NULL, &st) == NGX_OK,
       "list: NGX_OK");
    is_sql(&st,
           "SELECT " CONTACT_COLS " "
           "FROM contacts WHERE " LIVE " "
           "ORDER BY contacts.created_at DESC NULLS FIRST, "
           "contacts.id DESC NULLS FIRST "
           "LIMIT 21",
           "list: statement, the keys read from the columns, a number "
           "limit + 1");
    ok(st.nkeys == 2, "list: nkeys is nsort");
    ok(st.keys[0] == 12 && st.keys[1] == 0,
       "list: keys from created_at and id");
    ok(st.params.nelts == 1, "list: the workspace alone is a parameter");
    dump(&st);

    /* offset paging */

    q.has_offset = 1;
    q.offset = 40;
    q.limit = 10;

    ok(crm_sql_list(pool, contacts, &ws, &q, NULL, &st) == NGX_OK,
       "list offset: NGX_OK");
    has_sql(&st, " LIMIT 11 OFFSET $2::bigint",
            "list offset: LIMIT and OFFSET");
    is_param(&st, 2, "40", "list offset: offset");
    dump(&st);

    /* a sub-collection: /companies/:id/contacts */

    query_init(&q);
    query_sort(&q, contacts, "lastName", 0);
    query_sort(&q, contacts, "id", 0);
    query_filter(&q, contacts, "status", CRM_OP_EQ, "active", NULL, NULL);

    parent.res = companies;
    parent.link = &companies->links[0];
    parent.id = co;

    ok(crm_sql_list(pool, contacts, &ws, &q, &parent, &st)
       == NGX_OK, "list fk: NGX_OK");
    has_sql(&st, "FROM contacts WHERE " LIVE " AND ((company_id = $2::uuid)) "
            "AND status = $3::text ORDER BY contacts.last_name ASC NULLS LAST, "
            "contacts.id ASC NULLS LAST LIMIT 21",
            "list fk: parent condition, filter, order");
    is_param(&st, 2, CO, "list fk: $2 parent id");
    is_param(&st, 3, "active", "list fk: $3 filter value");
    dump(&st);

    /* the count of the same */

    ok(crm_sql_count(pool, contacts, &ws, &q, &parent, &st)
       == NGX_OK, "count: NGX_OK");
    is_sql(&st,
           "SELECT count(*) FROM contacts WHERE " LIVE " AND ((company_id = "
           "$2::uuid)) AND status = $3::text",
           "count: statement");
    ok(st.params.nelts == 3, "count: no limit parameter");
    dump(&st);

    /* an estimated count: the rows, for EXPLAIN, then db_estimate() */

    q.count = CRM_COUNT_ESTIMATED;

    ok(crm_sql_count(pool, contacts, &ws, &q, &parent, &st) == NGX_OK,
       "estimate: NGX_OK");
    is_sql(&st,
           "SELECT 1 FROM contacts WHERE " LIVE " AND ((company_id = "
           "$2::uuid)) AND status = $3::text",
           "estimate: the rows, not a count");

    {
        crm_stmt_t  est;

        ok(crm_sql_estimate(pool, &ws, &st, &est) == NGX_OK,
           "estimate: wrapped");
        is_sql(&est, "SELECT db_estimate($1::uuid, $2::jsonb)::text",
               "estimate: one call");
        has_param(&est, 2, "\"sql\":\"SELECT 1 FROM contacts WHERE "
                  "workspace_id = $1[1]::uuid",
                  "estimate: the statement, parameters as $1[n]");
        has_param(&est, 2, "\"params\":[\"" WS "\",\"" CO "\","
                  "\"active\"]", "estimate: its parameters");
    }

    /* parameters bound in binary are carried as their text */

    {
        crm_query_t  qe;
        crm_stmt_t   cnt, est;

        query_init(&qe);
        query_sort(&qe, contacts, "id", 0);
        query_filter(&qe, contacts, "createdAt", CRM_OP_GT,
                     "2026-01-01T00:00:00Z", NULL, NULL);
        query_filter(&qe, contacts, "ownerId", CRM_OP_EQ, ID, NULL, NULL);
        qe.count = CRM_COUNT_ESTIMATED;

        ok(crm_sql_count(pool, contacts, &ws, &qe, NULL, &cnt) == NGX_OK
           && crm_sql_estimate(pool, &ws, &cnt, &est) == NGX_OK,
           "estimate of binary parameters: NGX_OK");
        is_bin_param(&cnt, 2, "0002ea470ae86000",
                     "estimate of binary parameters: a timestamp");
        has_param(&est, 2, "\"params\":[\"" WS "\","
                  "\"2026-01-01T00:00:00Z\",\"" ID "\"]",
                  "estimate of binary parameters: as text");
    }

    q.count = CRM_COUNT_EXACT;

    /* a count ignores the cursor and the offset */

    q.has_cursor = 1;
    q.key[0] = str("Smith");
    q.key[1] = str(ID);
    q.has_offset = 1;

    ok(crm_sql_count(pool, contacts, &ws, &q, NULL, &st) == NGX_OK,
       "count with cursor: NGX_OK");
    is_sql(&st,
           "SELECT count(*) FROM contacts WHERE " LIVE
           " AND status = $2::text",
           "count with cursor: no keyset, no offset");
    dump(&st);
}


static void
test_list_keyset(void)
{
    crm_stmt_t       st;
    crm_query_t      q;
    crm_resource_t  *contacts;

    contacts = crm_schema_find(&(ngx_str_t) ngx_string("contacts"));

    /* forward after a row: -createdAt, -id */

    query_init(&q);
    query_sort(&q, contacts, "createdAt", 1);
    query_sort(&q, contacts, "id", 1);
    q.has_cursor = 1;
    q.key[0] = str("2026-01-15 10:30:00.123456+00");
    q.key[1] = str(ID);

    ok(crm_sql_list(pool, contacts, &ws, &q, NULL, &st) == NGX_OK,
       "keyset desc: NGX_OK");
    is_sql(&st,
           "SELECT " CONTACT_COLS " "
           "FROM contacts WHERE workspace_id = (SELECT $1::uuid) AND "
           "deleted_at IS NULL AND created_at <= "
           "(SELECT $2::timestamptz) "
           "AND (created_at < (SELECT $2::timestamptz) "
           "OR (id < (SELECT $3::uuid))) "
           "ORDER BY contacts.created_at DESC NULLS FIRST, "
           "contacts.id DESC NULLS FIRST "
           "LIMIT 21",
           "keyset desc: statement, the workspace an InitPlan too, no "
           "created_at = $2 under the bound");
    /* timestamptz_send('2026-01-15 10:30:00.123456+00'), uuid_send() */
    is_bin_param(&st, 2, "0002eb6979bfbc40",
                 "keyset desc: $2 boundary value, binary");
    is_bin_param(&st, 3, "22222222222222222222222222222222",
                 "keyset desc: $3 boundary id, binary");
    ok(st.params.nelts == 3, "keyset desc: no limit parameter");
    dump(&st);

    /* backward: both directions flip */

    q.backward = 1;

    ok(crm_sql_list(pool, contacts, &ws, &q, NULL, &st) == NGX_OK,
       "keyset backward: NGX_OK");
    /* createdAt is never null: a plain bound the index can start at */
    has_sql(&st, "AND created_at >= (SELECT $2::timestamptz) "
            "AND (created_at > (SELECT $2::timestamptz) "
            "OR (id > (SELECT $3::uuid))) "
            "ORDER BY contacts.created_at ASC NULLS LAST, "
            "contacts.id ASC NULLS LAST "
            "LIMIT 21",
            "keyset backward: flipped comparisons and order");
    dump(&st);

    /* the id alone: never NULL, no bound needed */

    query_init(&q);
    query_sort(&q, contacts, "id", 0);
    q.has_cursor = 1;
    q.key[0] = str(ID);

    ok(crm_sql_list(pool, contacts, &ws, &q, NULL, &st) == NGX_OK,
       "keyset id: NGX_OK");
    has_sql(&st, "deleted_at IS NULL AND (id > (SELECT $2::uuid)) ORDER BY "
            "contacts.id ASC NULLS LAST LIMIT 21",
            "keyset id: a plain comparison");
    dump(&st);

    /* a nullable ascending key: no bound, NULLs come after */

    query_init(&q);
    query_sort(&q, contacts, "title", 0);
    query_sort(&q, contacts, "lastName", 1);
    query_sort(&q, contacts, "id", 0);
    q.has_cursor = 1;
    q.key[0] = str("CTO");
    q.key[1] = str("Smith");
    q.key[2] = str(ID);

    ok(crm_sql_list(pool, contacts, &ws, &q, NULL, &st) == NGX_OK,
       "keyset mixed: NGX_OK");
    has_sql(&st, "SELECT " CONTACT_COLS " FROM",
            "keyset mixed: no key columns of their own");
    ok(st.keys[0] == 5 && st.keys[1] == 2 && st.keys[2] == 0,
       "keyset mixed: keys from title, last_name, id");
    has_sql(&st, " AND ((title > (SELECT $2::text) OR title IS NULL) "
            "OR (title = (SELECT $2::text) AND last_name < (SELECT $3::text)) "
            "OR (title = (SELECT $2::text) AND last_name = (SELECT $3::text) "
            "AND id > (SELECT $4::uuid))) "
            "ORDER BY contacts.title ASC NULLS LAST, "
            "contacts.last_name DESC NULLS FIRST, "
            "contacts.id ASC NULLS LAST LIMIT 21",
            "keyset mixed: NULL-aware chain");
    ok(st.nkeys == 3, "keyset mixed: 3 keys");
    dump(&st);

    /* boundary NULLs: ASC after NULL is nothing, DESC after NULL is
       any value */

    q.key_null[0] = 1;
    q.key[0] = str("");
    q.key_null[1] = 1;
    q.key[1] = str("");

    ok(crm_sql_list(pool, contacts, &ws, &q, NULL, &st) == NGX_OK,
       "keyset nulls: NGX_OK");
    has_sql(&st, " AND ((title IS NULL AND last_name IS NOT NULL) "
            "OR (title IS NULL AND last_name IS NULL "
            "AND id > (SELECT $2::uuid))) "
            "ORDER BY",
            "keyset nulls: IS NULL equalities, no term for ASC NULL");
    ok(st.params.nelts == 2, "keyset nulls: NULL keys bind nothing");
    dump(&st);

    /* the same backward */

    q.backward = 1;

    ok(crm_sql_list(pool, contacts, &ws, &q, NULL, &st) == NGX_OK,
       "keyset nulls backward: NGX_OK");
    has_sql(&st, " AND (title IS NOT NULL "
            "OR (title IS NULL AND last_name IS NULL "
            "AND id < (SELECT $2::uuid))) "
            "ORDER BY contacts.title DESC NULLS FIRST, "
            "contacts.last_name ASC NULLS LAST, contacts.id DESC NULLS FIRST",
            "keyset nulls backward: flipped");
    dump(&st);
}


static void
test_filters(void)
{
    ngx_uint_t       i;
    crm_stmt_t       st;
    crm_query_t      q;
    crm_resource_t  *contacts, *companies;

    static struct {
        const char  *field;
        ngx_uint_t   op;
        const char  *v1;
        const char  *v2;
        const char  *sql;
        const char  *param;
    } cases[] = {
        { "status", CRM_OP_EQ, "active", NULL,
          " AND status = $2::text ORDER", "active" },
        { "email", CRM_OP_EQ, "Ada@Example.com", NULL,
          " AND lower(email) = lower($2::text) ORDER", "Ada@Example.com" },
        { "email", CRM_OP_NE, "a@b.c", NULL,
          " AND lower(email) IS DISTINCT FROM lower($2::text) ORDER",
          "a@b.c" },
        { "title", CRM_OP_NE, "CTO", NULL,
          " AND title IS DISTINCT FROM $2::text ORDER", "CTO" },
        /* times compare to the millisecond, as rendered */
        { "createdAt", CRM_OP_GT, "2026-01-01T00:00:00Z", NULL,
          " AND created_at >= " MS_NEXT("2") " ORDER", NULL },
        { "createdAt", CRM_OP_GTE, "2026-01-01T00:00:00Z", NULL,
          " AND created_at >= " MS_FIRST("2") " ORDER", NULL },
        { "updatedAt", CRM_OP_LT, "2026-01-01T00:00:00Z", NULL,
          " AND updated_at < " MS_FIRST("2") " ORDER", NULL },
        { "updatedAt", CRM_OP_LTE, "2026-01-01T00:00:00Z", NULL,
          " AND updated_at < " MS_NEXT("2") " ORDER", NULL },
        { "createdAt", CRM_OP_EQ, "2026-01-01T00:00:00.123Z", NULL,
          " AND (created_at >= " MS_FIRST("2") " AND created_at < "
          MS_NEXT("2") ") ORDER", NULL },
        { "createdAt", CRM_OP_NE, "2026-01-01T00:00:00.123Z", NULL,
          " AND (created_at IS NULL OR created_at < " MS_FIRST("2")
          " OR created_at >= " MS_NEXT("2") ") ORDER", NULL },
        { "updatedAt", CRM_OP_IN, "2026-01-01T00:00:00Z", NULL,
          " AND date_trunc('milliseconds', updated_at) = "
          "ANY($2::timestamptz[]) ORDER", "{\"2026-01-01T00:00:00Z\"}" },
        { "updatedAt", CRM_OP_NIN, "2026-01-01T00:00:00Z", NULL,
          " AND (updated_at IS NULL OR date_trunc('milliseconds', "
          "updated_at) <> ALL($2::timestamptz[])) ORDER",
          "{\"2026-01-01T00:00:00Z\"}" },
        { "status", CRM_OP_IN, "lead", "a\"b\\c",
          " AND status = ANY($2::text[]) ORDER",
          "{\"lead\",\"a\\\"b\\\\c\"}" },
        { "companyId", CRM_OP_NIN, CO, ID,
          " AND (company_id IS NULL OR company_id <> ALL($2::uuid[])) ORDER",
          "{\"" CO "\",\"" ID "\"}" },
        { "email", CRM_OP_IN, "A@x.io", "b@x.io",
          " AND lower(email) = ANY(lower($2::text)::text[]) ORDER",
          "{\"A@x.io\",\"b@x.io\"}" },
        { "email", CRM_OP_NIN, "A@x.io", NULL,
          " AND (email IS NULL OR lower(email) <> "
          "ALL(lower($2::text)::text[])) ORDER",
          "{\"A@x.io\"}" },
        { "firstName", CRM_OP_LIKE, "50%_a\\b", NULL,
          " AND first_name ILIKE $2::text ORDER", "%50\\%\\_a\\\\b%" },
        { "companyId", CRM_OP_LIKE, "3333", NULL,
          " AND company_id::text ILIKE $2::text ORDER", "%3333%" },
        { "phone", CRM_OP_IS_NULL, NULL, NULL,
          " AND phone IS NULL ORDER", NULL },
        { "phone", CRM_OP_IS_NOT_NULL, NULL, NULL,
          " AND phone IS NOT NULL ORDER", NULL },
        { "tags", CRM_OP_EQ, "vip", NULL,
          " AND tags @> ARRAY[$2::text] ORDER", "vip" },
        { "tags", CRM_OP_NE, "vip", NULL,
          " AND NOT (tags @> ARRAY[$2::text]) ORDER", "vip" },
        { "tags", CRM_OP_IN, "vip", "new",
          " AND tags && $2::text[] ORDER", "{\"vip\",\"new\"}" },
        { "tags", CRM_OP_NIN, "vip", NULL,
          " AND NOT (tags && $2::text[]) ORDER", "{\"vip\"}" },
        { "tags", CRM_OP_LIKE, "v_p", NULL,
          " AND EXISTS (SELECT 1 FROM unnest(tags) AS e WHERE "
          "e ILIKE $2::text) ORDER", "%v\\_p%" },
        { "tags", CRM_OP_IS_NULL, NULL, NULL,
          " AND (tags IS NULL OR cardinality(tags) = 0) ORDER", NULL },
        { "tags", CRM_OP_IS_NOT_NULL, NULL, NULL,
          " AND cardinality(tags) > 0 ORDER", NULL }
    };

    contacts = crm_schema_find(&(ngx_str_t) ngx_string("contacts"));
    companies = crm_schema_find(&(ngx_str_t) ngx_string("companies"));

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        query_init(&q);
        query_sort(&q, contacts, "id", 0);
        query_filter(&q, contacts, cases[i].field, cases[i].op,
                     cases[i].v1, cases[i].v2, NULL);

        ok(crm_sql_list(pool, contacts, &ws, &q, NULL, &st)
           == NGX_OK, "filter %s op %d: NGX_OK", cases[i].field,
           (int) cases[i].op);
        has_sql(&st, cases[i].sql, cases[i].sql);

        if (cases[i].param != NULL) {
            is_param(&st, 2, cases[i].param, "filter parameter");
        }

        dump(&st);
    }

    /*
     * timestamps and uuids compared with %v are bound in binary; a
     * fraction finer than a microsecond (PostgreSQL rounds it) and an
     * IN list as text
     */

    query_init(&q);
    query_sort(&q, contacts, "id", 0);
    query_filter(&q, contacts, "createdAt", CRM_OP_GT,
                 "2026-01-01T00:00:00Z", NULL, NULL);
    query_filter(&q, contacts, "companyId", CRM_OP_EQ, CO, NULL, NULL);
    query_filter(&q, contacts, "updatedAt", CRM_OP_LT,
                 "2026-01-01T00:00:00.1234567Z", NULL, NULL);
    query_filter(&q, contacts, "ownerId", CRM_OP_IN, ID, NULL, NULL);

    ok(crm_sql_list(pool, contacts, &ws, &q, NULL, &st) == NGX_OK,
       "binary filters: NGX_OK");
    has_sql(&st, " AND created_at >= " MS_NEXT("2") " AND company_id = "
            "$3::uuid AND updated_at < " MS_FIRST("4") " AND owner_id = "
            "ANY($5::uuid[]) ORDER", "binary filters: the statement");
    /* timestamptz_send('2026-01-01T00:00:00Z') */
    is_bin_param(&st, 2, "0002ea470ae86000", "binary filters: a timestamp");
    is_bin_param(&st, 3, "33333333333333333333333333333333",
                 "binary filters: a uuid");
    is_param(&st, 4, "2026-01-01T00:00:00.1234567Z",
             "binary filters: seven digits of a second as text");
    is_param(&st, 5, "{\"" ID "\"}", "binary filters: an IN list as text");
    dump(&st);

    /* an operator that does not apply to the type */

    query_init(&q);
    query_sort(&q, contacts, "id", 0);
    query_filter(&q, contacts, "tags", CRM_OP_GT, "a", NULL, NULL);

    ok(crm_sql_list(pool, contacts, &ws, &q, NULL, &st)
       == NGX_DECLINED, "filter: gt on text[] is declined");

    /* a filter without its value */

    query_init(&q);
    query_sort(&q, contacts, "id", 0);
    query_filter(&q, contacts, "status", CRM_OP_EQ, NULL, NULL, NULL);

    ok(crm_sql_list(pool, contacts, &ws, &q, NULL, &st)
       == NGX_DECLINED, "filter: eq without a value is declined");

    /* several filters, numeric types, params in order */

    query_init(&q);
    query_sort(&q, companies, "annualRevenue", 1);
    query_sort(&q, companies, "id", 1);
    query_filter(&q, companies, "employees", CRM_OP_GTE, "10", NULL, NULL);
    query_filter(&q, companies, "annualRevenue", CRM_OP_LT, "1e6", NULL,
                 NULL);
    query_filter(&q, companies, "employees", CRM_OP_IN, "1", "2", "3");

    ok(crm_sql_list(pool, companies, &ws, &q, NULL, &st) == NGX_OK,
       "filters: NGX_OK");
    has_sql(&st, "WHERE " LIVE " AND employees >= $2::bigint AND "
            "annual_revenue < $3::numeric AND employees = "
            "ANY($4::bigint[]) "
            "ORDER BY companies.annual_revenue DESC NULLS FIRST",
            "filters: ANDed in order");
    is_param(&st, 4, "{\"1\",\"2\",\"3\"}", "filters: $4 array");
    ok(st.params.nelts == 4, "filters: the limit is no parameter");
    has_sql(&st, " LIMIT 21", "filters: limit + 1");
    dump(&st);

    /* an empty IN list */

    query_init(&q);
    query_sort(&q, contacts, "id", 0);
    query_filter(&q, contacts, "status", CRM_OP_IN, NULL, NULL, NULL);

    ok(crm_sql_list(pool, contacts, &ws, &q, NULL, &st) == NGX_OK,
       "filter in (): NGX_OK");
    is_param(&st, 2, "{}", "filter in (): empty array literal");
    dump(&st);
}


/* filters on companies' types, for the database run */

static void
test_filters_db(void)
{
    crm_stmt_t       st;
    crm_query_t      q;
    crm_resource_t  *companies;

    companies = crm_schema_find(&(ngx_str_t) ngx_string("companies"));

    query_init(&q);
    query_sort(&q, companies, "employees", 0);
    query_sort(&q, companies, "id", 0);
    query_filter(&q, companies, "annualRevenue", CRM_OP_NIN, "1.5", "2",
                 NULL);
    query_filter(&q, companies, "ownerId", CRM_OP_EQ, ID, NULL, NULL);
    query_filter(&q, companies, "employees", CRM_OP_LIKE, "1", NULL, NULL);
    q.has_cursor = 1;
    q.key[0] = str("100");
    q.key[1] = str(ID);

    ok(crm_sql_list(pool, companies, &ws, &q, NULL, &st) == NGX_OK,
       "companies keyset: NGX_OK");
    has_sql(&st, " AND ((employees > (SELECT $5::bigint) "
            "OR employees IS NULL) OR (employees = (SELECT $5::bigint) "
            "AND id > (SELECT $6::uuid))) ORDER BY "
            "companies.employees ASC NULLS LAST, companies.id ASC NULLS LAST "
            "LIMIT 21",
            "companies keyset: bigint key cast");
    has_sql(&st, "employees::text ILIKE $4::text",
            "companies: LIKE on a number compares its text");
    dump(&st);
}


static void
test_search(void)
{
    crm_stmt_t       st;
    crm_query_t      q;
    crm_resource_t  *contacts, *companies;

    contacts = crm_schema_find(&(ngx_str_t) ngx_string("contacts"));
    companies = crm_schema_find(&(ngx_str_t) ngx_string("companies"));

    query_init(&q);
    query_sort(&q, contacts, "id", 0);
    q.q = str("o'_%\\");

    ok(crm_sql_list(pool, contacts, &ws, &q, NULL, &st) == NGX_OK,
       "search: NGX_OK");
    has_sql(&st, "WITH m AS MATERIALIZED (SELECT * FROM contacts WHERE "
            LIVE " AND (" DOC " ILIKE $3::text OR $2::text <% " DOC " OR "
            "to_tsvector('simple', " DOC ") @@ plainto_tsquery('simple', "
            "$2::text))) SELECT id, first_name,",
            "search: every CRM_F_SEARCH field, three ways, rows first");
    has_sql(&st, " FROM m contacts ORDER BY contacts.id ASC NULLS LAST LIMIT",
            "search: then the order");
    is_param(&st, 2, "o'_%\\", "search: the text");
    is_param(&st, 3, "%o'\\_\\%\\\\%", "search: escaped pattern");
    ok(st.params.nelts == 4, "search: two parameters");
    dump(&st);

    query_filter(&q, contacts, "status", CRM_OP_EQ, "lead", NULL, NULL);

    ok(crm_sql_count(pool, contacts, &ws, &q, NULL, &st) == NGX_OK,
       "search count: NGX_OK");
    is_sql(&st, "SELECT count(*) FROM contacts WHERE " LIVE " AND "
           "status = $2::text AND (" DOC " ILIKE $4::text OR $3::text <% "
           DOC " OR to_tsvector('simple', " DOC ") @@ "
           "plainto_tsquery('simple', $3::text))",
           "search count: filters then search");
    dump(&st);

    query_init(&q);
    query_sort(&q, companies, "id", 0);
    q.q = str("acme");

    ok(crm_sql_list(pool, companies, &ws, &q, NULL, &st) == NGX_OK,
       "search companies: NGX_OK");
    has_sql(&st, " AND (db_doc(name, domain) ILIKE $3::text OR ",
            "search companies: name and domain");
    dump(&st);

    /* across resources */

    {
        crm_resource_t  *both[2];
        crm_resource_t  *keys;

        both[0] = contacts;
        both[1] = companies;

        ok(crm_sql_search_all(pool, &ws, both, 2, &q.q, 20, &st) == NGX_OK,
           "search all: NGX_OK");
        has_sql(&st, "SELECT t, round(s::numeric, 4)::text, c0, c1, c2, "
                "c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13 FROM "
                "((SELECT "
                "'contacts'::text AS t, (word_similarity($2::text, " DOC
                ") + strict_word_similarity($2::text, " DOC ")) / 2 AS s, "
                DOC " ILIKE $3::text AS m, "
                "id::text AS id, (id)::text AS c0, (first_name)::text AS c1,",
                "search all: a scored branch per resource, its columns");
        has_sql(&st, "(updated_at)::text AS c12, NULL::text AS c13 FROM "
                "companies", "search all: a narrower resource padded");
        ok(st.ncols == 14 && st.res == NULL,
           "search all: the widest resource's columns");
        has_sql(&st, " FROM contacts WHERE " LIVE " AND (" DOC " ILIKE "
                "$3::text OR ", "search all: confined to the workspace");
        has_sql(&st, " UNION ALL (SELECT 'companies'::text AS t, ",
                "search all: the next resource");
        has_sql(&st, "ORDER BY 3 DESC, 2 DESC, 4 LIMIT $4::bigint)) x "
                "ORDER BY m DESC, s DESC, t, id LIMIT $4::bigint",
                "search all: best of each, then best of all, those that "
                "contain q first");
        is_param(&st, 4, "20", "search all: the limit");
        dump(&st);

        keys = crm_schema_find(&(ngx_str_t) ngx_string("workspaces"));
        both[1] = keys;

        ok(crm_sql_search_all(pool, &ws, both, 2, &q.q, 20, &st)
           == NGX_DECLINED, "search all: a resource without search fields");
    }
}


static void
test_select(void)
{
    u_char           select[CRM_MAX_FIELDS];
    crm_stmt_t       st;
    crm_query_t      q;
    crm_resource_t  *contacts;

    contacts = crm_schema_find(&(ngx_str_t) ngx_string("contacts"));

    ngx_memzero(select, sizeof(select));
    select[crm_schema_field_index(contacts, field(contacts, "email"))] = 1;
    select[crm_schema_field_index(contacts, field(contacts, "updatedAt"))]
        = 1;

    ok(crm_sql_get(pool, contacts, &ws, &id, select, &st) == NGX_OK,
       "get select: NGX_OK");
    is_sql(&st,
           "SELECT id, email, updated_at, version::text "
           "FROM contacts "
           "WHERE workspace_id = $1::uuid AND id = $2::uuid AND "
           "deleted_at IS NULL",
           "get select: id always, then the selected fields");
    dump(&st);

    query_init(&q);
    query_sort(&q, contacts, "lastName", 0);
    query_sort(&q, contacts, "id", 0);
    q.select = select;

    ok(crm_sql_list(pool, contacts, &ws, &q, NULL, &st) == NGX_OK,
       "list select: NGX_OK");
    has_sql(&st, "SELECT id, email, updated_at, "
            "last_name::text FROM",
            "list select: a sort key not selected is a column of its own");
    ok(st.keys[0] == 3 && st.keys[1] == 0,
       "list select: last_name after the record, the id in it");
    dump(&st);
}


/* a resource wider than one json_build_object(); odd names */

static void
test_wide(void)
{
    u_char          *p;
    ngx_uint_t       i, n;
    crm_stmt_t       st;
    crm_field_t     *f;
    crm_query_t      q;
    crm_resource_t   res;

    n = CRM_MAX_FIELDS;

    f = ngx_pcalloc(pool, n * sizeof(crm_field_t));

    for (i = 0; i < n; i++) {
        p = ngx_pnalloc(pool, 64);
        f[i].name.data = p;
        f[i].name.len = ngx_sprintf(p, "field_%02ui_with_a_long_name", i)
                        - p;
        f[i].column = f[i].name;
        f[i].type = CRM_FT_TEXT;
    }

    ngx_str_set(&f[0].name, "id");
    ngx_str_set(&f[0].column, "id");
    f[0].type = CRM_FT_UUID;

    ngx_str_set(&f[1].name, "it's");
    f[2].flags = CRM_F_HIDDEN;
    f[3].type = CRM_FT_DATE;

    ngx_memzero(&res, sizeof(crm_resource_t));
    ngx_str_set(&res.name, "wide");
    ngx_str_set(&res.table, "wide");
    res.fields = f;
    res.nfields = n;

    ok(crm_sql_get(pool, &res, &ws, &id, NULL, &st) == NGX_OK,
       "wide get: NGX_OK");
    has_sql(&st, "SELECT id, field_01_with_a_long_name, "
            "field_03_with_a_long_name, ",
            "wide get: hidden field skipped, DATE fetched as it is");
    has_sql(&st, "field_63_with_a_long_name FROM wide ",
            "wide get: every rendered field a column");
    ok(st.ncols == CRM_MAX_FIELDS - 1, "wide get: %d columns",
       (int) st.ncols);
    ok(st.sql.len > 1024, "wide get: the buffer grew (%d)",
       (int) st.sql.len);
    ok(ngx_strlen(st.sql.data) == st.sql.len, "wide get: length matches");
    dump(&st);

    query_init(&q);
    query_sort(&q, &res, "id", 0);
    q.q = str("x");

    ok(crm_sql_list(pool, &res, &ws, &q, NULL, &st) == NGX_OK,
       "wide list: NGX_OK");
    has_sql(&st, " WHERE " LIVE " AND false) SELECT ",
            "wide list: search without searchable fields matches nothing");
    ok(st.params.nelts == 2, "wide list: no search parameter");
    dump(&st);
}


static void
is_sql(crm_stmt_t *st, const char *want, const char *name)
{
    size_t  len;

    len = ngx_strlen(want);

    ok(st->sql.len == len && ngx_strncmp(st->sql.data, want, len) == 0,
       "%s", name);

    if (st->sql.len != len || ngx_strncmp(st->sql.data, want, len) != 0) {
        diag("     got: %.*s", (int) st->sql.len, st->sql.data);
        diag("expected: %s", want);
    }
}


static void
has_sql(crm_stmt_t *st, const char *frag, const char *name)
{
    size_t      i, len;
    ngx_uint_t  found;

    len = ngx_strlen(frag);
    found = 0;

    for (i = 0; !found && i + len <= st->sql.len; i++) {
        found = (ngx_strncmp(st->sql.data + i, frag, len) == 0);
    }

    ok(found, "%s", name);

    if (!found) {
        diag("     got: %.*s", (int) st->sql.len, st->sql.data);
        diag("expected: ...%s...", frag);
    }
}


static void
is_param(crm_stmt_t *st, ngx_uint_t n, const char *want, const char *name)
{
    size_t        len;
    crm_param_t  *p;

    len = ngx_strlen(want);

    if (n == 0 || n > st->params.nelts) {
        ok(0, "%s: no $%d", name, (int) n);
        return;
    }

    p = st->params.elts;
    p = &p[n - 1];

    ok(p->null == 0 && !p->binary && p->value.len == len
       && ngx_strncmp(p->value.data, want, len) == 0
       && p->value.data[len] == '\0', "%s", name);

    if (p->value.len != len || ngx_strncmp(p->value.data, want, len) != 0) {
        diag("     got: %.*s", (int) p->value.len, p->value.data);
        diag("expected: %s", want);
    }
}


static void
has_param(crm_stmt_t *st, ngx_uint_t n, const char *frag, const char *name)
{
    size_t        i, len;
    ngx_uint_t    found;
    crm_param_t  *p;

    if (n == 0 || n > st->params.nelts) {
        ok(0, "%s: no $%d", name, (int) n);
        return;
    }

    p = st->params.elts;
    p = &p[n - 1];
    len = ngx_strlen(frag);
    found = 0;

    for (i = 0; !found && i + len <= p->value.len; i++) {
        found = (ngx_strncmp(p->value.data + i, frag, len) == 0);
    }

    ok(found, "%s", name);

    if (!found) {
        diag("     got: %.*s", (int) p->value.len, p->value.data);
        diag("expected: ...%s...", frag);
    }
}


/* $n bound in binary, its bytes given in hex */

static void
is_bin_param(crm_stmt_t *st, ngx_uint_t n, const char *hex, const char *name)
{
    u_char        want[64];
    size_t        i, len;
    crm_param_t  *p;

    if (n == 0 || n > st->params.nelts) {
        ok(0, "%s: no $%d", name, (int) n);
        return;
    }

    len = ngx_strlen(hex) / 2;

    for (i = 0; i < len && i < sizeof(want); i++) {
        want[i] = (u_char) ngx_hextoi((u_char *) hex + 2 * i, 2);
    }

    p = st->params.elts;
    p = &p[n - 1];

    ok(p->null == 0 && p->binary && p->value.len == len
       && ngx_memcmp(p->value.data, want, len) == 0, "%s", name);
}


static void
is_null_param(crm_stmt_t *st, ngx_uint_t n, const char *name)
{
    crm_param_t  *p;

    if (n == 0 || n > st->params.nelts) {
        ok(0, "%s: no $%d", name, (int) n);
        return;
    }

    p = st->params.elts;

    ok(p[n - 1].null == 1, "%s", name);
}


/* PREPARE sN AS <sql>; EXECUTE sN('v', NULL, ...); DEALLOCATE sN; */

static void
dump(crm_stmt_t *st)
{
    size_t        k;
    ngx_uint_t    i;
    crm_param_t  *p;

    if (dump_file == NULL) {
        return;
    }

    dump_n++;

    fprintf(dump_file, "\\echo s%d\nPREPARE s%d AS %.*s;\nEXECUTE s%d",
            (int) dump_n, (int) dump_n, (int) st->sql.len, st->sql.data,
            (int) dump_n);

    p = st->params.elts;

    for (i = 0; i < st->params.nelts; i++) {
        fputs(i ? ", " : "(", dump_file);

        if (p[i].null) {
            fputs("NULL", dump_file);
            continue;
        }

        fputc('\'', dump_file);

        for (k = 0; k < p[i].value.len; k++) {
            if (p[i].value.data[k] == '\'') {
                fputc('\'', dump_file);
            }

            fputc(p[i].value.data[k], dump_file);
        }

        fputc('\'', dump_file);
    }

    fprintf(dump_file, ");\nDEALLOCATE s%d;\n", (int) dump_n);
}


static crm_field_t *
field(crm_resource_t *res, const char *name)
{
    crm_field_t  *f;

    f = crm_schema_field(res, (u_char *) name, ngx_strlen(name));

    if (f == NULL) {
        diag("no field %s", name);
        abort();
    }

    return f;
}


static void
query_init(crm_query_t *q)
{
    ngx_memzero(q, sizeof(crm_query_t));

    q->limit = CRM_LIMIT_DEFAULT;

    ngx_array_init(&q->filters, pool, 4, sizeof(crm_filter_t));
}


static void
query_sort(crm_query_t *q, crm_resource_t *res, const char *name,
    ngx_uint_t desc)
{
    q->sort[q->nsort].field = field(res, name);
    q->sort[q->nsort].desc = desc;
    q->nsort++;
}


static void
query_filter(crm_query_t *q, crm_resource_t *res, const char *name,
    ngx_uint_t op, const char *v1, const char *v2, const char *v3)
{
    ngx_uint_t     i;
    ngx_str_t     *v;
    const char    *vals[3];
    crm_filter_t  *flt;

    flt = ngx_array_push(&q->filters);
    flt->field = field(res, name);
    flt->op = op;

    ngx_array_init(&flt->values, pool, 3, sizeof(ngx_str_t));

    vals[0] = v1;
    vals[1] = v2;
    vals[2] = v3;

    for (i = 0; i < 3 && vals[i] != NULL; i++) {
        v = ngx_array_push(&flt->values);
        *v = str(vals[i]);
    }
}


static void
value_add(ngx_array_t *a, crm_resource_t *res, const char *name,
    const char *text)
{
    crm_value_t  *v;

    v = ngx_array_push(a);
    ngx_memzero(v, sizeof(crm_value_t));

    v->field = field(res, name);

    if (text == NULL) {
        v->param.null = 1;

    } else {
        v->param.value = str(text);
    }
}


/* a copy that is not NUL-terminated, as query values are */

/* typed, member and through links; adding to and removing from a link */

static void
test_links(void)
{
    ngx_str_t        match;
    crm_stmt_t       st;
    crm_query_t      q;
    crm_parent_t     parent;
    crm_resource_t  *contacts, *deals, *activities;

    contacts = crm_schema_find(&(ngx_str_t) ngx_string("contacts"));
    deals = crm_schema_find(&(ngx_str_t) ngx_string("deals"));
    activities = crm_schema_find(&(ngx_str_t) ngx_string("activities"));

    query_init(&q);
    query_sort(&q, activities, "id", 0);

    /* /contacts/:id/activities: related to it, or a participant */

    parent.res = contacts;
    parent.link = crm_schema_link(contacts,
                                  &(ngx_str_t) ngx_string("activities"));
    parent.id = co;

    ok(parent.link != NULL, "links: contacts have activities");
    ok(crm_sql_list(pool, activities, &ws, &q, &parent, &st) == NGX_OK,
       "links: typed list NGX_OK");
    has_sql(&st, "FROM activities WHERE " LIVE " AND ((related_id = "
            "$2::uuid AND related_type = 'contact') OR contact_ids @> "
            "ARRAY[$2::uuid]) ORDER BY",
            "links: typed and member conditions share the parent id");
    ok(st.params.nelts == 2, "links: parent bound once");
    dump(&st);

    /* /deals/:id/contacts: through the deal's contact_ids */

    query_init(&q);
    query_sort(&q, contacts, "id", 0);

    parent.res = deals;
    parent.link = crm_schema_link(deals, &(ngx_str_t) ngx_string("contacts"));
    parent.id = id;

    ok(crm_sql_list(pool, contacts, &ws, &q, &parent, &st) == NGX_OK,
       "links: through list NGX_OK");
    has_sql(&st, "FROM contacts WHERE " LIVE " AND id IN (SELECT "
            "unnest(p.contact_ids) FROM deals p WHERE p.workspace_id = "
            "$1::uuid AND p.id = $2::uuid AND p.deleted_at IS NULL) ORDER BY",
            "links: through reads the parent row of the same workspace");
    is_param(&st, 2, ID, "links: $2 the parent");
    dump(&st);

    ok(crm_sql_count(pool, contacts, &ws, &q, &parent, &st) == NGX_OK,
       "links: through count NGX_OK");
    has_sql(&st, "SELECT count(*) FROM contacts WHERE " LIVE " AND id IN",
            "links: through count");

    /* add and remove */

    ngx_str_null(&match);

    ok(crm_sql_link(pool, &parent, &ws, &co, 1, &match, &st) == NGX_OK,
       "links: add NGX_OK");
    has_sql(&st, "WITH w AS (UPDATE deals SET contact_ids = CASE WHEN "
            "$3::uuid = "
            "ANY(contact_ids) THEN contact_ids ELSE array_append(contact_ids, "
            "$3::uuid) END, version = version + CASE WHEN $3::uuid = "
            "ANY(contact_ids) THEN 0 ELSE 1 END",
            "links: add keeps the array and the version when present");
    has_sql(&st, "WHERE workspace_id = $1::uuid AND id = $2::uuid AND "
            "deleted_at IS NULL RETURNING id AS c0, name AS c1, ",
            "links: add returns the parent's columns");
    ok(st.ncols == 15, "links: 15 columns of a deal");
    is_param(&st, 2, ID, "links: add $2 parent");
    is_param(&st, 3, CO, "links: add $3 target");
    dump(&st);

    match = str("7");

    ok(crm_sql_link(pool, &parent, &ws, &co, 0, &match, &st) == NGX_OK,
       "links: remove NGX_OK");
    has_sql(&st, "SET contact_ids = array_remove(contact_ids, $3::uuid), "
            "version = version + CASE WHEN $3::uuid = ANY(contact_ids) THEN 1 "
            "ELSE 0 END",
            "links: remove bumps the version only when present");
    has_sql(&st, " AND version = $4::integer RETURNING",
            "links: remove honours If-Match");
    dump(&st);

    /* a link that is not "through" cannot be written */

    parent.res = contacts;
    parent.link = crm_schema_link(contacts,
                                  &(ngx_str_t) ngx_string("deals"));

    ok(crm_sql_link(pool, &parent, &ws, &co, 1, NULL, &st) == NGX_DECLINED,
       "links: member link is read-only");
}


/* $n -> $1[n] for db_bulk(), literals untouched */

static void
test_inline(void)
{
    ngx_str_t    out;
    crm_stmt_t   st;

    st.sql = str("SELECT 'a$1''$2', $1::uuid, x = $12::text WHERE y = '$'");

    ok(crm_sql_inline(pool, &st, &out) == NGX_OK, "inline: NGX_OK");
    ok(out.len == ngx_strlen("SELECT 'a$1''$2', $1[1]::uuid, x = $1[12]::text "
                             "WHERE y = '$'")
       && ngx_strncmp(out.data, "SELECT 'a$1''$2', $1[1]::uuid, x = "
                      "$1[12]::text WHERE y = '$'", out.len) == 0
       && out.data[out.len] == '\0',
       "inline: references rewritten, quoted text kept");

    st.sql = str("");

    ok(crm_sql_inline(pool, &st, &out) == NGX_OK && out.len == 0,
       "inline: empty");
}


static ngx_str_t
str(const char *s)
{
    ngx_str_t  r;

    r.len = ngx_strlen(s);
    r.data = ngx_pnalloc(pool, r.len + 1);
    ngx_memcpy(r.data, s, r.len);
    r.data[r.len] = 'X';

    return r;
}
