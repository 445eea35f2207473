
/*
 * Unit tests of the list query parser (src/crm_query.c), TAP output.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "model/crm.h"
#include "tap.h"


#define UUID_A    "33333333-3333-3333-3333-333333333333"
#define UUID_B    "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"


static ngx_int_t parse(crm_resource_t *res, const char *args,
    ngx_uint_t fields_only);
static void parse_ok(crm_resource_t *res, const char *args,
    const char *name);
static void parse_err(crm_resource_t *res, const char *args,
    const char *param, const char *code, const char *name);
static void fields_err(crm_resource_t *res, const char *args,
    const char *param, const char *code, const char *name);
static void has_message(const char *frag, const char *name);
static void is_sort(const char *want, const char *name);
static void is_filter(ngx_uint_t i, const char *field, ngx_uint_t op,
    const char *v1, const char *v2, const char *name);
static ngx_int_t value_ok(ngx_uint_t type, const char *v);
static char *repeat(const char *s, ngx_uint_t n, const char *prefix);
static ngx_uint_t field_index(crm_resource_t *res, const char *name);

static void test_defaults(void);
static void test_limit(void);
static void test_offset(void);
static void test_sort(void);
static void test_sort_by(void);
static void test_fields(void);
static void test_count_q(void);
static void test_filters(void);
static void test_operators(void);
static void test_filter_values(void);
static void test_filter_limits(void);
static void test_shorthands(void);
static void test_encoding(void);
static void test_unknown(void);
static void test_cursor(void);
static void test_parse_fields(void);
static void test_parse_none(void);
static void test_check_value(void);
static void test_timestamps(void);
static void test_uuid(void);
static void test_binary(void);
static void test_binary_roundtrip(void);
static void test_extra(void);
static void test_names_custom(void);


static const char  *test_kinds[] = { "small", "large", NULL };


/* a resource with the types the real ones lack; no createdAt */

static crm_field_t  test_fields_def[] = {
    { ngx_string("id"), ngx_string("id"), CRM_FT_UUID,
      CRM_F_READONLY|CRM_F_FILTER|CRM_F_SORT, 0, NULL, NULL, NULL },
    { ngx_string("active"), ngx_string("active"), CRM_FT_BOOL,
      CRM_F_FILTER|CRM_F_SORT, 0, NULL, NULL, NULL },
    { ngx_string("dueOn"), ngx_string("due_on"), CRM_FT_DATE,
      CRM_F_FILTER|CRM_F_SORT, 0, NULL, NULL, NULL },
    { ngx_string("kind"), ngx_string("kind"), CRM_FT_ENUM,
      CRM_F_FILTER, 0, test_kinds, NULL, NULL },
    { ngx_string("meta"), ngx_string("meta"), CRM_FT_OBJECT,
      CRM_F_FILTER, 0, NULL, NULL, NULL },
    { ngx_string("secret"), ngx_string("secret"), CRM_FT_TEXT,
      CRM_F_HIDDEN|CRM_F_FILTER|CRM_F_SORT, 0, NULL, NULL, NULL }
};


static crm_resource_t  test_res = {
    ngx_string("tests"), ngx_string("tests"), ngx_string("test"),
    test_fields_def, sizeof(test_fields_def) / sizeof(crm_field_t),
    NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ngx_null_string, NULL,
    0, NULL
};


static ngx_pool_t      *pool;
static crm_query_t      q;
static crm_error_t      err;
static ngx_int_t        last_rc;
static crm_resource_t  *contacts;
static crm_resource_t  *companies;
static ngx_str_t        secret = ngx_string("0123456789abcdef0123456789abcdef");


int
main(void)
{
    ngx_log_t   log;
    ngx_str_t   name;

    ngx_memzero(&log, sizeof(ngx_log_t));

    ngx_pagesize = 4096;

    pool = ngx_create_pool(4096, &log);
    if (pool == NULL) {
        return 1;
    }

    ngx_str_set(&name, "contacts");
    contacts = crm_schema_find(&name);

    ngx_str_set(&name, "companies");
    companies = crm_schema_find(&name);

    if (contacts == NULL || companies == NULL) {
        diag("no contacts or companies in crm_schema.c");
        return 1;
    }

    test_defaults();
    test_limit();
    test_offset();
    test_sort();
    test_sort_by();
    test_fields();
    test_count_q();
    test_filters();
    test_operators();
    test_filter_values();
    test_filter_limits();
    test_shorthands();
    test_encoding();
    test_unknown();
    test_cursor();
    test_parse_fields();
    test_check_value();
    test_timestamps();
    test_binary();
    test_binary_roundtrip();
    test_uuid();
    test_extra();
    test_names_custom();

    ngx_destroy_pool(pool);

    return done_testing();
}


static void
test_defaults(void)
{
    ngx_str_t  none;

    parse_ok(contacts, "", "empty query");
    is_int(q.limit, 20, "default limit");
    is_sort("-createdAt,id", "default sort: -createdAt, then id");
    ok(q.filters.nelts == 0, "no filters");
    ok(q.select == NULL, "all fields");
    ok(q.count == CRM_COUNT_NONE, "no count");
    ok(!q.has_offset && !q.has_cursor && q.q.len == 0,
       "no offset, cursor or search");

    ngx_str_null(&none);
    last_rc = crm_query_parse(pool, contacts, &none, &secret, &q, &err);
    ok(last_rc == NGX_OK && q.limit == 20 && q.nsort == 2,
       "args with NULL data");

    parse_ok(contacts, "&&&", "only empty segments");
    parse_ok(contacts, "&&limit=5&&count=exact&", "empty segments skipped");
    ok(q.limit == 5 && q.count == CRM_COUNT_EXACT,
       "empty segments: the others are read");

    parse_ok(&test_res, "", "resource without createdAt");
    is_sort("id", "resource without createdAt: id alone");
}


static void
test_limit(void)
{
    parse_ok(contacts, "limit=50", "limit=50");
    is_int(q.limit, 50, "limit=50: 50");

    parse_ok(contacts, "maxSize=7", "maxSize=7");
    is_int(q.limit, 7, "maxSize is an alias of limit");

    parse_ok(contacts, "limit=1", "limit=1");
    is_int(q.limit, 1, "limit=1: the minimum");

    parse_ok(contacts, "limit=200", "limit=200");
    is_int(q.limit, 200, "limit=200: the maximum");

    parse_ok(contacts, "limit=007", "limit=007");
    is_int(q.limit, 7, "leading zeros");

    parse_err(contacts, "limit=0", "limit", "out_of_range", "limit=0");
    has_message("between 1 and 200", "limit=0: the range");
    parse_err(contacts, "limit=201", "limit", "out_of_range", "limit=201");
    parse_err(contacts, "maxSize=1000", "maxSize", "out_of_range",
              "maxSize=1000 names maxSize");
    parse_err(contacts, "limit=abc", "limit", "invalid_value", "limit=abc");
    parse_err(contacts, "limit=-1", "limit", "invalid_value", "limit=-1");
    parse_err(contacts, "limit=1.5", "limit", "invalid_value", "limit=1.5");
    parse_err(contacts, "limit=", "limit", "invalid_value", "limit=");
    parse_err(contacts, "limit", "limit", "invalid_value",
              "limit without =");
    parse_err(contacts, "limit=99999999999999999999999", "limit",
              "invalid_value", "limit overflowing");
    parse_err(contacts, "limit=5&limit=5", "limit", "duplicate_parameter",
              "limit twice");
    parse_err(contacts, "limit=5&maxSize=6", "maxSize",
              "duplicate_parameter", "limit and its alias maxSize");
}


static void
test_offset(void)
{
    parse_ok(contacts, "offset=40", "offset=40");
    ok(q.has_offset && q.offset == 40, "offset=40: has_offset, 40");

    parse_ok(contacts, "offset=0", "offset=0");
    ok(q.has_offset && q.offset == 0, "offset=0: has_offset, 0");

    parse_ok(contacts, "page=3&limit=10", "page=3&limit=10");
    ok(q.has_offset && q.offset == 20, "page 3 of 10: offset 20");

    parse_ok(contacts, "limit=10&page=3", "limit=10&page=3");
    ok(q.has_offset && q.offset == 20, "page: order does not matter");

    parse_ok(contacts, "page=2", "page=2");
    ok(q.has_offset && q.offset == 20, "page 2 of the default 20");

    parse_ok(contacts, "page=1", "page=1");
    ok(q.has_offset && q.offset == 0, "page 1: offset 0");

    parse_err(contacts, "offset=-1", "offset", "invalid_value",
              "offset=-1");
    parse_err(contacts, "offset=x", "offset", "invalid_value", "offset=x");
    parse_err(contacts, "page=0", "page", "out_of_range", "page=0");
    parse_err(contacts, "page=-2", "page", "invalid_value", "page=-2");
    parse_err(contacts, "page=9223372036854775807&limit=200", "page",
              "out_of_range", "page too large for its offset");
    parse_err(contacts, "offset=1&page=2", "page", "conflicting_parameters",
              "offset with page");
    parse_err(contacts, "page=1&page=2", "page", "duplicate_parameter",
              "page twice");
    parse_err(contacts, "offset=1&offset=2", "offset", "duplicate_parameter",
              "offset twice");
}


static void
test_sort(void)
{
    parse_ok(contacts, "sort=-createdAt,lastName", "sort=-createdAt,lastName");
    is_sort("-createdAt,+lastName,id", "two keys and id");

    parse_ok(contacts, "sort=lastName", "sort=lastName");
    is_sort("+lastName,id", "one key, ascending");

    parse_ok(contacts, "sort=+lastName", "sort=+lastName, + unescaped");
    is_sort("+lastName,id", "+ (a space once unescaped) is ascending");

    parse_ok(contacts, "sort=%2BlastName", "sort=%2BlastName");
    is_sort("+lastName,id", "an escaped + is ascending");

    parse_ok(contacts, "sort=-last_name", "sort by snake_case name");
    is_sort("-lastName,id", "snake_case names the same field");

    parse_ok(contacts, "sort=-id", "sort=-id");
    is_sort("-id", "id already a key: not added again");

    parse_ok(contacts, "sort=id,lastName", "sort=id,lastName");
    is_sort("id,+lastName", "id first: nothing added");

    parse_ok(contacts, "sort=title,-email,status", "three keys");
    is_sort("+title,-email,+status,id", "three keys and id: four");
    is_int(q.nsort, CRM_MAX_KEYS, "nsort counts the id");

    parse_ok(companies, "sort=-annualRevenue,employees", "companies sort");
    is_sort("-annualRevenue,+employees,id", "companies: numeric keys");

    parse_err(contacts, "sort=a,b,c,d", "sort", "unknown_field",
              "unknown field first");
    parse_err(contacts, "sort=title,email,status,source", "sort",
              "too_many_sort_keys", "four keys");
    parse_err(contacts, "sort=nope", "sort", "unknown_field", "sort=nope");
    has_message("\"nope\"", "unknown sort field named");
    parse_err(contacts, "sort=phone", "sort", "not_sortable",
              "phone is not sortable");
    parse_err(contacts, "sort=tags", "sort", "not_sortable",
              "tags is not sortable");
    parse_err(contacts, "sort=customFields", "sort", "not_sortable",
              "customFields is not sortable");
    parse_err(&test_res, "sort=secret", "sort", "unknown_field",
              "hidden fields are unknown");
    parse_err(contacts, "sort=lastName,-lastName", "sort", "invalid_value",
              "a key twice");
    parse_err(contacts, "sort=", "sort", "invalid_value", "sort=");
    parse_err(contacts, "sort=lastName,", "sort", "unknown_field",
              "trailing comma");
    parse_err(contacts, "sort=-", "sort", "unknown_field", "sort=-");
    parse_err(contacts, "sort=--lastName", "sort", "unknown_field",
              "two signs");
    parse_err(contacts, "sort=email&sort=title", "sort",
              "duplicate_parameter",
              "sort twice");
}


static void
test_sort_by(void)
{
    parse_ok(contacts, "sort_by=lastName&order=desc", "sort_by + order");
    is_sort("-lastName,id", "sort_by=lastName&order=desc");

    parse_ok(contacts, "order=desc&orderBy=email", "order before orderBy");
    is_sort("-email,id", "orderBy is an alias; order of parameters");

    parse_ok(contacts, "sort_by=email", "sort_by alone");
    is_sort("+email,id", "sort_by alone: ascending");

    parse_ok(contacts, "sort_by=-email", "sort_by with a sign");
    is_sort("-email,id", "sort_by=-email: descending");

    parse_ok(contacts, "sort_by=-email&order=desc", "sign and order agree");
    is_sort("-email,id", "agreeing sign and order");

    parse_ok(contacts, "order=asc", "order alone");
    is_sort("+createdAt,id", "order alone turns the default sort");

    parse_err(contacts, "sort_by=-email&order=asc", "order",
              "conflicting_parameters", "sign and order disagree");
    parse_err(contacts, "sort_by=lastName,email", "sort_by",
              "invalid_value", "sort_by takes one field");
    parse_err(contacts, "order=up", "order", "invalid_value", "order=up");
    has_message("asc or desc", "order: the choices");
    parse_err(contacts, "sort=email&sort_by=email", "sort_by",
              "conflicting_parameters", "sort with sort_by");
    parse_err(contacts, "orderBy=title&sort=-email", "sort",
              "conflicting_parameters", "orderBy with sort");
    parse_err(contacts, "sort=email&order=asc", "order",
              "conflicting_parameters", "sort with order");
    parse_err(contacts, "sort_by=email&orderBy=email", "orderBy",
              "duplicate_parameter", "sort_by with orderBy");
    parse_err(contacts, "order=asc&order=asc", "order",
              "duplicate_parameter", "order twice");
    parse_err(contacts, "sort_by=phone", "sort_by", "not_sortable",
              "sort_by a field not sortable");
}


static void
test_fields(void)
{
    ngx_uint_t  i, n;

    parse_ok(contacts, "fields=email,firstName", "fields=email,firstName");
    ok(q.select != NULL, "fields: select set");

    n = 0;

    for (i = 0; q.select != NULL && i < contacts->nfields; i++) {
        n += (q.select[i] != 0);
    }

    ok(n == 3 && q.select[0] && q.select[field_index(contacts, "email")]
       && q.select[field_index(contacts, "firstName")],
       "fields: id, email and firstName, nothing else");

    parse_ok(contacts, "select=first_name", "select=first_name");
    ok(q.select != NULL && q.select[0]
       && q.select[field_index(contacts, "firstName")]
       && !q.select[field_index(contacts, "email")],
       "select is an alias; snake_case names work");

    parse_ok(contacts, "fields=id", "fields=id");
    ok(q.select != NULL && q.select[0] && !q.select[1], "fields=id: id");

    parse_ok(contacts, "fields=customFields,tags,tags", "objects, arrays");
    ok(q.select != NULL
       && q.select[field_index(contacts, "customFields")]
       && q.select[field_index(contacts, "tags")],
       "any visible field may be selected, twice too");

    parse_err(contacts, "fields=email,nope", "fields", "unknown_field",
              "fields: unknown field");
    has_message("\"nope\"", "fields: the unknown field named");
    parse_err(&test_res, "fields=secret", "fields", "unknown_field",
              "fields: hidden field");
    parse_err(contacts, "fields=", "fields", "invalid_value", "fields=");
    parse_err(contacts, "fields=email,,id", "fields", "unknown_field",
              "fields: empty item");
    parse_err(contacts, "fields=id&select=id", "select",
              "duplicate_parameter", "fields and select");
}


static void
test_count_q(void)
{
    char  *s;

    parse_ok(contacts, "count=exact", "count=exact");
    ok(q.count == CRM_COUNT_EXACT, "count=exact: exact");

    parse_ok(contacts, "count=estimated", "count=estimated");
    ok(q.count == CRM_COUNT_ESTIMATED, "count=estimated: estimated");

    parse_err(contacts, "count=yes", "count", "invalid_value", "count=yes");
    parse_err(contacts, "count=exact&count=exact", "count",
              "duplicate_parameter", "count twice");

    parse_ok(contacts, "q=hello+world%21", "q=hello+world%21");
    is_mem(q.q.data, q.q.len, "hello world!", "q is unescaped");
    ok(q.q.data[q.q.len] == '\0', "q is NUL-terminated");

    parse_ok(contacts, repeat("a", 200, "q="), "q of 200 characters");

    parse_ok(contacts, repeat("%C3%A9", 200, "q="),
             "q of 200 two-byte characters");
    is_int(q.q.len, 400, "q: 400 bytes");

    parse_err(contacts, repeat("a", 201, "q="), "q", "invalid_value",
              "q of 201 characters");
    parse_err(contacts, "q=", "q", "invalid_value", "q=");
    parse_err(contacts, "q=ab", "q", "invalid_value",
              "q of two characters (no trigram)");
    parse_ok(contacts, "q=abc", "q of three characters");
    parse_err(contacts, "q=abc&q=bcd", "q", "duplicate_parameter",
              "q twice");

    s = repeat("%C3%A9", 201, "q=");
    parse_err(contacts, s, "q", "invalid_value",
              "q of 201 two-byte characters");
}


static void
test_filters(void)
{
    ngx_str_t  *v;

    parse_ok(contacts, "status=active", "status=active");
    is_filter(0, "status", CRM_OP_EQ, "active", NULL, "equality");
    v = ((crm_filter_t *) q.filters.elts)[0].values.elts;
    ok(last_rc == NGX_OK && v[0].data[6] == '\0',
       "filter values are NUL-terminated");

    parse_ok(contacts, "status[ne]=lead", "status[ne]=lead");
    is_filter(0, "status", CRM_OP_NE, "lead", NULL, "ne");

    parse_ok(contacts, "status%5Bne%5D=lead", "escaped brackets");
    is_filter(0, "status", CRM_OP_NE, "lead", NULL, "escaped brackets: ne");

    parse_ok(contacts, "first_name=Ann", "snake_case filter name");
    is_filter(0, "firstName", CRM_OP_EQ, "Ann", NULL, "first_name");

    parse_ok(contacts, "firstName=", "empty text");
    is_filter(0, "firstName", CRM_OP_EQ, "", NULL, "empty text value");

    parse_ok(contacts, "firstName=a&firstName[ne]=b&lastName=c",
             "repeated filters on a field");
    is_int(q.filters.nelts, 3, "repeated filters: all kept");
    is_filter(1, "firstName", CRM_OP_NE, "b", NULL, "second of a field");

    parse_ok(companies, "employees[gte]=10&employees[lt]=500",
             "an integer range");
    is_filter(0, "employees", CRM_OP_GTE, "10", NULL, "gte");
    is_filter(1, "employees", CRM_OP_LT, "500", NULL, "lt");

    parse_ok(contacts, "email[like]=%40example.com", "like");
    is_filter(0, "email", CRM_OP_LIKE, "@example.com", NULL, "like value");

    parse_ok(contacts, "status[like]=act", "like on an enum");
    is_filter(0, "status", CRM_OP_LIKE, "act", NULL,
              "like on an enum takes any text");

    parse_ok(contacts, "companyId[in]=" UUID_A "," UUID_B, "uuid in");
    is_filter(0, "companyId", CRM_OP_IN, UUID_A, UUID_B, "in: two values");

    parse_ok(contacts, "firstName[in]=a%2Cb,c", "in with %2C");
    is_filter(0, "firstName", CRM_OP_IN, "a,b", "c",
              "%2C is a comma inside a value");

    parse_ok(contacts, "status[nin]=lead,churned", "nin");
    is_filter(0, "status", CRM_OP_NIN, "lead", "churned", "nin values");

    parse_ok(contacts, "companyId[is]=null", "is null");
    is_filter(0, "companyId", CRM_OP_IS_NULL, NULL, NULL, "IS NULL");

    parse_ok(contacts, "ownerId[is]=notnull", "is notnull");
    is_filter(0, "ownerId", CRM_OP_IS_NOT_NULL, NULL, NULL, "IS NOT NULL");

    parse_ok(contacts, "tags=vip", "tags=vip");
    is_filter(0, "tags", CRM_OP_EQ, "vip", NULL, "array contains");

    parse_ok(contacts, "tags[in]=a,b", "tags[in]");
    is_filter(0, "tags", CRM_OP_IN, "a", "b", "array overlaps");

    parse_ok(contacts, "tags[nin]=a", "tags[nin]");
    parse_ok(contacts, "tags[is]=null", "tags[is]=null");

    parse_ok(contacts, "createdAt[gte]=2026-01-15&createdAt[lt]="
             "2026-01-16T00:00:00.000Z", "timestamp range");
    is_filter(1, "createdAt", CRM_OP_LT, "2026-01-16T00:00:00.000Z", NULL,
              "timestamp value");

    parse_ok(&test_res, "active=true&active[ne]=false&active[is]=null",
             "bool");
    parse_ok(&test_res, "dueOn[gte]=2026-01-01&dueOn[in]=2026-02-28",
             "date");
    parse_ok(&test_res, "kind=small&kind[in]=small,large", "enum");
    parse_ok(&test_res, "id=" UUID_A, "uuid");

    parse_err(contacts, "customFields=x", "customFields", "not_filterable",
              "an object is not filterable");
    parse_err(companies, "address[is]=null", "address[is]",
              "not_filterable", "address is not filterable");
    parse_err(&test_res, "secret=x", "secret", "unknown_parameter",
              "a hidden field is unknown");
}


static void
test_operators(void)
{
    parse_err(contacts, "status[foo]=x", "status[foo]", "unknown_operator",
              "unknown operator");
    has_message("eq, ne", "unknown operator: the choices");
    parse_err(contacts, "status[]=x", "status[]", "unknown_operator",
              "empty operator");
    parse_err(contacts, "status[EQ]=active", "status[EQ]",
              "unknown_operator", "operators are lowercase");
    parse_err(contacts, "status[eq=x", "status[eq", "unknown_parameter",
              "unclosed bracket");
    parse_err(contacts, "[eq]=x", "[eq]", "unknown_parameter",
              "operator without field");
    parse_err(contacts, "status[eq][x]=1", "status[eq][x]",
              "unknown_operator", "two brackets");

    parse_err(contacts, "companyId[gt]=" UUID_A, "companyId[gt]",
              "invalid_operator", "uuid gt");
    has_message("\"gt\"", "invalid operator named");
    parse_err(contacts, "companyId[like]=3", "companyId[like]",
              "invalid_operator", "uuid like");
    parse_err(contacts, "tags[gt]=a", "tags[gt]", "invalid_operator",
              "array gt");
    parse_err(contacts, "tags[ne]=a", "tags[ne]", "invalid_operator",
              "array ne");
    parse_err(contacts, "tags[like]=a", "tags[like]", "invalid_operator",
              "array like");
    parse_err(companies, "employees[like]=1", "employees[like]",
              "invalid_operator", "int like");
    parse_err(contacts, "createdAt[like]=2026", "createdAt[like]",
              "invalid_operator", "timestamp like");
    parse_err(&test_res, "active[gt]=true", "active[gt]",
              "invalid_operator", "bool gt");
    parse_err(&test_res, "active[in]=true", "active[in]",
              "invalid_operator", "bool in");
    parse_err(&test_res, "meta=x", "meta", "invalid_operator",
              "object eq");
    parse_err(&test_res, "meta[is]=null", "meta[is]", "invalid_operator",
              "object is");

    parse_ok(contacts, "email[gt]=a&email[lte]=m&title[gte]=x",
             "text ranges");
    parse_ok(companies, "annualRevenue[ne]=0&employees[nin]=1,2",
             "numeric ne, int nin");
    parse_ok(&test_res, "dueOn[lte]=2026-12-31&dueOn[is]=notnull",
             "date lte, is");
}


static void
test_filter_values(void)
{
    parse_err(contacts, "status=bogus", "status", "invalid_value",
              "enum: not a value");
    has_message("lead, prospect, customer", "enum: the values listed");
    parse_err(contacts, "status[in]=lead,bogus", "status[in]",
              "invalid_value", "enum in: one bad value");
    parse_err(contacts, "companyId=42", "companyId", "invalid_value",
              "uuid: 42");
    has_message("a UUID", "uuid: what is expected");
    parse_err(contacts, "companyId[in]=" UUID_A ",", "companyId[in]",
              "invalid_value", "uuid in: empty item");
    parse_err(contacts, "companyId[is]=nothing", "companyId[is]",
              "invalid_value", "is: neither null nor notnull");
    parse_err(contacts, "companyId[is]=", "companyId[is]",
              "invalid_value", "is: empty");
    parse_err(companies, "employees[gte]=ten", "employees[gte]",
              "invalid_value", "int: ten");
    parse_err(companies, "employees=9223372036854775808", "employees",
              "invalid_value", "int: above bigint");
    parse_ok(companies, "employees=9223372036854775807", "int: bigint max");
    parse_ok(companies, "employees=-9223372036854775808", "int: bigint min");
    parse_err(companies, "employees=1.5", "employees", "invalid_value",
              "int: 1.5");
    parse_err(companies, "annualRevenue=abc", "annualRevenue",
              "invalid_value", "numeric: abc");
    parse_ok(companies, "annualRevenue[gt]=-.5&annualRevenue[lt]=1.5e3",
             "numeric: -.5, 1.5e3");
    parse_err(contacts, "createdAt[gte]=2026-02-30", "createdAt[gte]",
              "invalid_value", "timestamp: 30 February");
    has_message("ISO 8601", "timestamp: what is expected");
    parse_err(contacts, "createdAt=yesterday", "createdAt",
              "invalid_value", "timestamp: yesterday");
    parse_err(&test_res, "active=yes", "active", "invalid_value",
              "bool: yes");
    parse_err(&test_res, "dueOn=2026-01-01T00:00", "dueOn", "invalid_value",
              "date: with a time");
    parse_err(contacts, "email[like]=", "email[like]", "invalid_value",
              "like: empty");
    parse_err(contacts, repeat("x", 1001, "firstName="), "firstName",
              "invalid_value", "text: 1001 bytes");
    parse_ok(contacts, repeat("x", 1000, "firstName="), "text: 1000 bytes");
    parse_err(contacts, repeat("x", 1021, "tags="), "tags", "invalid_value",
              "array element: 1021 bytes");
    parse_ok(contacts, repeat("%F0%9F%98%80", 255, "tags[in]="),
             "array element: 255 four-byte characters, a record's longest");
}


static void
test_filter_limits(void)
{
    char  *s;

    s = repeat("x,", 99, "firstName[in]=");
    s = repeat("x", 1, s);
    parse_ok(contacts, s, "in: 100 values");
    is_int(((crm_filter_t *) q.filters.elts)[0].values.nelts, 100,
           "in: 100 values kept");

    s = repeat("x,", 100, "firstName[in]=");
    s = repeat("x", 1, s);
    parse_err(contacts, s, "firstName[in]", "too_many_values",
              "in: 101 values");
    has_message("100", "too many values: the maximum");

    s = repeat("&firstName=x", 31, "lastName=y");
    parse_ok(contacts, s, "32 filters");
    is_int(q.filters.nelts, 32, "32 filters kept");

    s = repeat("&firstName=x", 32, "lastName=y");
    parse_err(contacts, s, "firstName", "too_many_filters", "33 filters");

    s = repeat("&firstName=x", 31, "created_after=2026-01-01");
    s = repeat("&createdBefore=2027-01-01", 1, s);
    parse_err(contacts, s, "createdBefore", "too_many_filters",
              "shorthands count as filters");

    s = repeat("&firstName=x", 31, "lastName=y");
    s = repeat("&status[is]=null", 1, s);
    parse_err(contacts, s, "status[is]", "too_many_filters",
              "is counts as a filter");

    s = "firstName=x&limit=1&lastName=y&sort=email";
    parse_ok(contacts, s, "filters with other parameters");
    is_int(q.filters.nelts, 2, "filters with other parameters: two");
}


static void
test_shorthands(void)
{
    parse_ok(contacts, "created_after=2026-01-01", "created_after");
    is_filter(0, "createdAt", CRM_OP_GT, "2026-01-01", NULL,
              "created_after: createdAt gt");

    parse_ok(contacts, "createdBefore=2026-01-01T10:00:00Z",
             "createdBefore");
    is_filter(0, "createdAt", CRM_OP_LT, "2026-01-01T10:00:00Z", NULL,
              "createdBefore: createdAt lt");

    parse_ok(companies, "updated_after=2026-01-01&updatedBefore=2026-02-01",
             "updated_after and updatedBefore");
    is_filter(0, "updatedAt", CRM_OP_GT, "2026-01-01", NULL,
              "updated_after: updatedAt gt");
    is_filter(1, "updatedAt", CRM_OP_LT, "2026-02-01", NULL,
              "updatedBefore: updatedAt lt");

    parse_ok(contacts, "updatedAfter=2026-01-01&updated_before=2026-02-01"
             "&created_before=2027-01-01&createdAfter=2020-01-01",
             "all four");
    is_int(q.filters.nelts, 4, "all four: four filters");

    parse_err(contacts, "created_after=soon", "created_after",
              "invalid_value", "created_after=soon");
    parse_err(contacts, "created_after=2026-01-01&createdAfter=2026-01-01",
              "createdAfter", "duplicate_parameter",
              "created_after and createdAfter");
    parse_err(&test_res, "created_after=2026-01-01", "created_after",
              "unknown_parameter", "no createdAt: unknown");
}


static void
test_encoding(void)
{
    parse_ok(contacts, "%66ields=email", "an escaped name");
    ok(q.select != NULL, "%%66ields is fields");

    parse_ok(contacts, "q=%F0%9F%98%80ab", "a four-byte character");
    is_mem(q.q.data, q.q.len, "\xf0\x9f\x98\x80" "ab", "four bytes kept");

    parse_ok(contacts, "q=%e2%82%ACab", "lowercase hex");
    is_mem(q.q.data, q.q.len, "\xe2\x82\xac" "ab", "lowercase hex decoded");

    parse_ok(contacts, "q=caf\xc3\xa9", "raw UTF-8 bytes");

    parse_err(contacts, "q=%ZZ", "q", "invalid_encoding", "%ZZ");
    parse_err(contacts, "q=abc%4", "q", "invalid_encoding", "truncated %4");
    parse_err(contacts, "q=%", "q", "invalid_encoding", "a lone %");
    parse_err(contacts, "q=%C3%28", "q", "invalid_encoding",
              "invalid continuation");
    parse_err(contacts, "q=%C3", "q", "invalid_encoding",
              "truncated sequence");
    parse_err(contacts, "q=%C0%AF", "q", "invalid_encoding", "overlong");
    parse_err(contacts, "q=%E0%80%AF", "q", "invalid_encoding",
              "overlong, three bytes");
    parse_err(contacts, "q=%ED%A0%80", "q", "invalid_encoding",
              "a surrogate");
    parse_err(contacts, "q=%F4%90%80%80", "q", "invalid_encoding",
              "above U+10FFFF");
    parse_err(contacts, "q=%FF", "q", "invalid_encoding", "0xFF");
    parse_err(contacts, "q=a%00b", "q", "invalid_encoding", "a NUL");
    parse_err(contacts, "q=\xff", "q", "invalid_encoding", "a raw 0xFF");
    parse_err(contacts, "firstName=%80", "firstName", "invalid_encoding",
              "filter value");
    parse_err(contacts, "firstName[in]=a,%80", "firstName[in]",
              "invalid_encoding", "in item");
    parse_err(contacts, "cursor=%GG", "cursor", "invalid_encoding",
              "cursor");
    parse_err(contacts, "sort=%C3", "sort", "invalid_encoding", "sort");

    parse_err(contacts, "na%ZZme=1", "na%ZZme", "invalid_encoding",
              "a bad escape in a name: named raw");
    parse_err(contacts, "a\xff\x01=1", "a??", "invalid_encoding",
              "a raw non-ASCII name: named in printable ASCII");
    parse_err(contacts, "%FF=1", "%FF", "invalid_encoding",
              "an escaped 0xFF name");
}


static void
test_unknown(void)
{
    char  *s;

    parse_err(contacts, "foo=bar", "foo", "unknown_parameter", "foo=bar");
    has_message("\"foo\"", "unknown parameter named in the message");
    parse_err(contacts, "limit=5&foo", "foo", "unknown_parameter",
              "foo without value");
    parse_err(contacts, "=x", "", "unknown_parameter", "empty name");
    parse_err(contacts, "Limit=5", "Limit", "unknown_parameter",
              "names are case-sensitive");
    parse_err(contacts, "nope[gte]=1", "nope[gte]", "unknown_parameter",
              "unknown field with an operator");
    parse_err(contacts, "sortBy=email", "sortBy", "unknown_parameter",
              "sortBy is not an alias");
    parse_err(companies, "status=active", "status", "unknown_parameter",
              "a field of another resource");
    parse_err(contacts, "filter%5Bstatus%5D=x", "filter[status]",
              "unknown_parameter", "filter[status] is not a form");

    s = repeat("n", 200, "");
    s = repeat("=1", 1, s);
    parse_err(contacts, s, repeat("n", 64, ""), "unknown_parameter",
              "a long name is clipped to 64 bytes");
    ok(err.message.len < 512, "a long name: the message is bounded");

    s = repeat("\xc3\xa9", 40, "");
    s = repeat("=1", 1, s);
    parse_err(contacts, s, repeat("\xc3\xa9", 32, ""), "unknown_parameter",
              "a long name is clipped between characters");
}


static void
test_cursor(void)
{
    u_char       *a;
    ngx_str_t     cur, keys[CRM_MAX_KEYS];
    u_char        nulls[CRM_MAX_KEYS];
    crm_query_t   sorted;

    parse_ok(contacts, "sort=lastName", "a query to page");
    sorted = q;

    ngx_str_set(&keys[0], "Smith");
    ngx_str_set(&keys[1], UUID_A);
    nulls[0] = 0;
    nulls[1] = 0;

    ok(crm_cursor_encode(pool, &secret, &sorted, 0, keys, nulls, &cur)
       == NGX_OK, "a cursor for sort=lastName");

    a = ngx_pnalloc(pool, cur.len + 64);
    ngx_sprintf(a, "sort=lastName&limit=5&cursor=%V%Z", &cur);
    parse_ok(contacts, (char *) a, "cursor after sort");
    ok(q.has_cursor && !q.backward && q.nsort == 2
       && q.key[0].len == 5 && ngx_strncmp(q.key[0].data, "Smith", 5) == 0
       && q.key[1].len == 36 && !q.key_null[0] && !q.key_null[1],
       "the cursor is decoded");

    ngx_sprintf(a, "cursor=%V&limit=5&sort=lastName%Z", &cur);
    parse_ok(contacts, (char *) a, "cursor before sort");
    ok(q.has_cursor && q.key[0].len == 5,
       "the cursor is decoded after the sort whatever the order");

    ngx_sprintf(a, "sort_by=lastName&cursor=%V%Z", &cur);
    parse_ok(contacts, (char *) a, "cursor with sort_by=lastName");

    ngx_sprintf(a, "cursor=%V%Z", &cur);
    parse_err(contacts, (char *) a, "cursor", "invalid_cursor",
              "a cursor of another sort order");
    has_message("sort order", "another sort: the message says why");

    ngx_sprintf(a, "cursor=%V&sort=-lastName%Z", &cur);
    parse_err(contacts, (char *) a, "cursor", "invalid_cursor",
              "a cursor of the other direction");

    ngx_sprintf(a, "cursor=%V&order=desc&sort_by=lastName%Z", &cur);
    parse_err(contacts, (char *) a, "cursor", "invalid_cursor",
              "a cursor of the other direction, by order=desc");

    parse_err(contacts, "cursor=abc", "cursor", "invalid_cursor",
              "a forged cursor");
    parse_err(contacts, "cursor=", "cursor", "invalid_cursor",
              "an empty cursor");
    parse_err(contacts, "cursor=a&cursor=b", "cursor",
              "duplicate_parameter", "cursor twice");
    parse_err(contacts, "cursor=abc&offset=10", "cursor",
              "conflicting_parameters", "cursor with offset");
    parse_err(contacts, "page=2&cursor=abc", "cursor",
              "conflicting_parameters", "cursor with page");

    ngx_sprintf(a, "sort=lastName&cursor=%V%Z", &cur);
    last_rc = crm_query_parse(pool, contacts,
                              &(ngx_str_t) { ngx_strlen(a), a },
                              &(ngx_str_t) ngx_string("another secret"),
                              &q, &err);
    ok(last_rc == NGX_DECLINED && err.code.len == 14
       && ngx_strncmp(err.code.data, "invalid_cursor", 14) == 0,
       "a cursor of another secret is invalid_cursor");
}


static void
test_parse_fields(void)
{
    last_rc = parse(contacts, "", 1);
    ok(last_rc == NGX_OK && q.select == NULL,
       "fields only, empty: all fields");

    last_rc = parse(contacts, "fields=email", 1);
    ok(last_rc == NGX_OK && q.select != NULL && q.select[0]
       && q.select[field_index(contacts, "email")],
       "fields only: fields=email");

    last_rc = parse(contacts, "&select=title&", 1);
    ok(last_rc == NGX_OK && q.select != NULL
       && q.select[field_index(contacts, "title")],
       "fields only: select=title");

    fields_err(contacts, "limit=5", "limit", "unknown_parameter",
               "fields only: limit");
    has_message("\"fields\"", "fields only: the message says what is");
    fields_err(contacts, "status=active", "status", "unknown_parameter",
               "fields only: a filter");
    fields_err(contacts, "fields=email&cursor=x", "cursor",
               "unknown_parameter", "fields only: cursor");
    fields_err(contacts, "fields=nope", "fields", "unknown_field",
               "fields only: unknown field");
    fields_err(contacts, "fields=id&select=id", "select",
               "duplicate_parameter", "fields only: twice");
    fields_err(contacts, "fields=%C3", "fields", "invalid_encoding",
               "fields only: bad encoding");

    test_parse_none();
}


/* crm_query_parse_none(): writes, actions, metadata */

static void
test_parse_none(void)
{
    ngx_str_t  a;

    ngx_str_set(&a, "");
    ok(crm_query_parse_none(pool, &a, &err) == NGX_OK, "none: empty");

    ngx_str_set(&a, "&&");
    ok(crm_query_parse_none(pool, &a, &err) == NGX_OK,
       "none: empty names are no parameter");

    ngx_str_set(&a, "&fields=email");
    ok(crm_query_parse_none(pool, &a, &err) == NGX_DECLINED
       && err.param.len == 6 && ngx_strncmp(err.param.data, "fields", 6) == 0
       && err.code.len == sizeof("unknown_parameter") - 1,
       "none: fields= is a parameter too, named");

    ngx_str_set(&a, "x%5Fy=1&z");
    ok(crm_query_parse_none(pool, &a, &err) == NGX_DECLINED
       && err.param.len == 3 && ngx_strncmp(err.param.data, "x_y", 3) == 0,
       "none: the first, decoded");

    ngx_str_set(&a, "%C3=1");
    ok(crm_query_parse_none(pool, &a, &err) == NGX_DECLINED
       && err.code.len == sizeof("invalid_encoding") - 1,
       "none: a name that is not UTF-8");
}


static void
test_check_value(void)
{
    ok(value_ok(CRM_FT_BOOL, "true") && value_ok(CRM_FT_BOOL, "false"),
       "bool: true, false");
    ok(!value_ok(CRM_FT_BOOL, "TRUE") && !value_ok(CRM_FT_BOOL, "1")
       && !value_ok(CRM_FT_BOOL, "") && !value_ok(CRM_FT_BOOL, "truex"),
       "bool: nothing else");

    ok(value_ok(CRM_FT_INT, "0") && value_ok(CRM_FT_INT, "-5")
       && value_ok(CRM_FT_INT, "+5") && value_ok(CRM_FT_INT, "007")
       && value_ok(CRM_FT_INT, "-9223372036854775808")
       && value_ok(CRM_FT_INT, "000000000000000000009223372036854775807"),
       "int: valid forms");
    ok(!value_ok(CRM_FT_INT, "") && !value_ok(CRM_FT_INT, "-")
       && !value_ok(CRM_FT_INT, "1e3") && !value_ok(CRM_FT_INT, " 1")
       && !value_ok(CRM_FT_INT, "9223372036854775808")
       && !value_ok(CRM_FT_INT, "-9223372036854775809")
       && !value_ok(CRM_FT_INT, "99999999999999999999"),
       "int: invalid forms and overflow");

    ok(value_ok(CRM_FT_NUMERIC, "1") && value_ok(CRM_FT_NUMERIC, "-1.25")
       && value_ok(CRM_FT_NUMERIC, ".5") && value_ok(CRM_FT_NUMERIC, "5.")
       && value_ok(CRM_FT_NUMERIC, "+1E-10")
       && value_ok(CRM_FT_NUMERIC, "1e999")
       && value_ok(CRM_FT_NUMERIC, "1234.50"),
       "numeric: valid forms");
    ok(!value_ok(CRM_FT_NUMERIC, "") && !value_ok(CRM_FT_NUMERIC, ".")
       && !value_ok(CRM_FT_NUMERIC, "-") && !value_ok(CRM_FT_NUMERIC, "1e")
       && !value_ok(CRM_FT_NUMERIC, "1e1000")
       && !value_ok(CRM_FT_NUMERIC, "1.2.3")
       && !value_ok(CRM_FT_NUMERIC, "NaN")
       && !value_ok(CRM_FT_NUMERIC, "0x10")
       && !value_ok(CRM_FT_NUMERIC, repeat("1", 1001, "")),
       "numeric: invalid forms");

    ok(value_ok(CRM_FT_TEXT, "") && value_ok(CRM_FT_EMAIL, "a@b")
       && value_ok(CRM_FT_ENUM, "anything")
       && value_ok(CRM_FT_TEXT_ARRAY, "x")
       && value_ok(CRM_FT_TEXT, repeat("x", 1000, "")),
       "text types: any UTF-8 up to 1000 bytes");
    ok(!value_ok(CRM_FT_TEXT, repeat("x", 1001, ""))
       && !value_ok(CRM_FT_EMAIL, "\xff")
       && !value_ok(CRM_FT_TEXT, "\xed\xa0\x80"),
       "text types: too long, invalid UTF-8");
    ok(crm_value_check(CRM_FT_TEXT,
                             &(ngx_str_t) { 3, (u_char *) "a\0b" })
       == NGX_DECLINED, "text: a NUL inside");

    /* a tag is 255 characters, of up to 4 bytes each: its filter too */

    ok(value_ok(CRM_FT_TEXT_ARRAY, repeat("\xf0\x9f\x98\x80", 255, "")),
       "text array: an element of 255 four-byte characters");
    ok(!value_ok(CRM_FT_TEXT_ARRAY, repeat("x", 1021, "")),
       "text array: beyond 1020 bytes");

    ok(!value_ok(CRM_FT_OBJECT, "{}") && !value_ok(99, "x"),
       "object and unknown types: nothing");

    ok(value_ok(CRM_FT_DATE, "2026-01-15") && value_ok(CRM_FT_DATE,
                                                        "2024-02-29"),
       "date: valid");
    ok(!value_ok(CRM_FT_DATE, "2026-1-15") && !value_ok(CRM_FT_DATE,
                                                         "2026-01-15T00:00")
       && !value_ok(CRM_FT_DATE, "2023-02-29")
       && !value_ok(CRM_FT_DATE, "0000-01-01")
       && !value_ok(CRM_FT_DATE, "2026-04-31")
       && !value_ok(CRM_FT_DATE, "2026-00-10")
       && !value_ok(CRM_FT_DATE, "20260115"),
       "date: invalid");

    ok(value_ok(CRM_FT_UUID, UUID_A) && !value_ok(CRM_FT_UUID, "x"),
       "uuid: through crm_uuid_valid");
}


static void
test_timestamps(void)
{
    static const char  *good[] = {
        "2026-01-15",
        "2026-01-15T10:30",
        "2026-01-15T10:30:00",
        "2026-01-15T10:30:00Z",
        "2026-01-15T10:30:00.123Z",
        "2026-01-15T10:30:00.123456789Z",
        "2026-01-15T10:30:00+05:30",
        "2026-01-15T10:30-08:00",
        "2026-01-15T23:59:59.9+15:59",
        "2026-01-15t10:30:00z",
        "2000-02-29T00:00:00Z",
        "0001-01-01T00:00Z",
        "9999-12-31T23:59:59Z",
        NULL
    };

    static const char  *bad[] = {
        "",
        "2026",
        "2026-01",
        "2026-01-15T",
        "2026-01-15T10",
        "2026-01-15T10:",
        "2026-01-15T10:3",
        "2026-01-15T24:00",
        "2026-01-15T10:60",
        "2026-01-15T10:30:60",
        "2026-01-15T10:30:00.",
        "2026-01-15T10:30:00.1234567890Z",
        "2026-01-15T10:30:00ZZ",
        "2026-01-15T10:30:00+0530",
        "2026-01-15T10:30:00+05",
        "2026-01-15T10:30:00+16:00",
        "2026-01-15T10:30:00+05:60",
        "2026-01-15 10:30:00",
        "2026-01-15T10:30:00 ",
        "1900-02-29",
        "2026-02-29T00:00",
        "2026-06-31",
        "0000-01-01",
        "+2026-01-15",
        "2026-01-15T10:30:00.123+",
        NULL
    };

    ngx_uint_t   i, fails;

    for (i = 0, fails = 0; good[i] != NULL; i++) {
        if (!value_ok(CRM_FT_TIMESTAMP, good[i])) {
            diag("rejected: %s", good[i]);
            fails++;
        }
    }

    ok(fails == 0, "timestamp: %u valid ISO 8601 forms accepted",
       (unsigned) i);

    for (i = 0, fails = 0; bad[i] != NULL; i++) {
        if (value_ok(CRM_FT_TIMESTAMP, bad[i])) {
            diag("accepted: %s", bad[i]);
            fails++;
        }
    }

    ok(fails == 0, "timestamp: %u invalid forms rejected", (unsigned) i);
}


/*
 * crm_value_binary(): the bytes PostgreSQL's timestamptz_send() and
 * uuid_send() give for the same text (taken from PostgreSQL 15 with
 * TimeZone=UTC, as the module's sessions run); PostgreSQL's own text
 * form of a cursor key too (crm_value_iso())
 */

static void
test_binary(void)
{
    u_char      buf[CRM_VALUE_BIN_MAX], hex[2 * CRM_VALUE_BIN_MAX + 1];
    size_t      len;
    ngx_str_t   v;
    ngx_uint_t  i, fails;

    static struct {
        const char  *text;
        const char  *hex;
    } ts[] = {
        { "2026-01-15", "0002eb60acafa000" },
        { "2026-01-15T10:30", "0002eb6979bdda00" },
        { "2026-01-15T10:30:00Z", "0002eb6979bdda00" },
        { "2026-01-15T10:30:00.123Z", "0002eb6979bfba78" },
        { "2026-01-15T10:30:00.000001Z", "0002eb6979bdda01" },
        { "2026-01-15T10:30:00+05:30", "0002eb64dd91d400" },
        { "2026-01-15T10:30-08:00", "0002eb702e5afa00" },
        { "2026-01-15T23:59:59.9+15:59", "0002eb6764dec060" },
        { "2026-01-15t10:30:00z", "0002eb6979bdda00" },
        { "2000-02-29T00:00:00Z", "000004a2e0a32000" },
        { "0001-01-01T00:00Z", "ff1fe2ffc59c6000" },
        { "9999-12-31T23:59:59.999999Z", "0380e70b913b7fff" },
        { "1999-12-31T23:59:59.999999-00:01", "00000000039386ff" },
        { "2025-12-31 23:59:58+00", "0002ea470ac9db80" },
        { "2025-12-31 23:59:58.5+00", "0002ea470ad17ca0" },
        { "1970-01-01 00:00:00-03", "fffca30148830c00" },
        { "2026-01-15T10:30:00.123456+00:00", "0002eb6979bfbc40" }
    };

    static const char  *text[] = {
        "2026-01-15T10:30:00.1234567Z",          /* PostgreSQL rounds */
        "2026-01-15T10:30:00.123456789Z",
        "2026-01-15T24:00",
        "2026-02-29",
        "10000-01-01 00:00:00+00",
        "0001-01-01 00:00:00+00 BC",
        "infinity",
        "",
        NULL
    };

    for (i = 0, fails = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
        v.data = (u_char *) ts[i].text;
        v.len = ngx_strlen(ts[i].text);

        if (crm_value_binary(CRM_FT_TIMESTAMP, &v, buf, &len) != NGX_OK
            || len != 8)
        {
            diag("not converted: %s", ts[i].text);
            fails++;
            continue;
        }

        *ngx_hex_dump(hex, buf, len) = '\0';

        if (ngx_strcmp(hex, ts[i].hex) != 0) {
            diag("%s: %s, PostgreSQL %s", ts[i].text, hex, ts[i].hex);
            fails++;
        }
    }

    ok(fails == 0, "binary: %u timestamps as timestamptz_send() gives them",
       (unsigned) i);

    for (i = 0, fails = 0; text[i] != NULL; i++) {
        v.data = (u_char *) text[i];
        v.len = ngx_strlen(text[i]);

        if (crm_value_binary(CRM_FT_TIMESTAMP, &v, buf, &len)
            != NGX_DECLINED)
        {
            diag("converted: %s", text[i]);
            fails++;
        }
    }

    ok(fails == 0, "binary: %u timestamps left as text", (unsigned) i);

    v = (ngx_str_t) ngx_string("AAAAAAAA-bbbb-CCCC-dddd-0123456789ef");
    ok(crm_value_binary(CRM_FT_UUID, &v, buf, &len) == NGX_OK && len == 16
       && ngx_memcmp(buf, "\xaa\xaa\xaa\xaa\xbb\xbb\xcc\xcc\xdd\xdd"
                          "\x01\x23\x45\x67\x89\xef", 16) == 0,
       "binary: a uuid of either case as uuid_send() gives it");

    v = (ngx_str_t) ngx_string("{aaaaaaaa-bbbb-cccc-dddd-0123456789ef}");
    ok(crm_value_binary(CRM_FT_UUID, &v, buf, &len) == NGX_DECLINED,
       "binary: a uuid in braces left as text");

    v = (ngx_str_t) ngx_string("42");
    ok(crm_value_binary(CRM_FT_INT, &v, buf, &len) == NGX_DECLINED,
       "binary: an integer left as text");

    v = (ngx_str_t) ngx_string("2026-01-15");
    ok(crm_value_binary(CRM_FT_DATE, &v, buf, &len) == NGX_DECLINED,
       "binary: a date left as text");
}


/*
 * Random instants of years 2 to 9998 written as PostgreSQL writes them
 * (crm_render_bin_text(), which test_render.c holds to timestamptz_out())
 * and in ISO 8601 with a random offset read back to the same microsecond
 */

static void
test_binary_roundtrip(void)
{
    u_char       bin[8], buf[CRM_VALUE_BIN_MAX], text[80], *last;
    size_t       len;
    int64_t      us, local, span;
    uint64_t     u;
    ngx_int_t    off;
    ngx_str_t    v;
    ngx_uint_t   i, k, fails, iso;
    crm_field_t  f;

    ngx_memzero(&f, sizeof(crm_field_t));
    f.type = CRM_FT_TIMESTAMP;

    /* from 0002-01-01 for 9996 * 365 days, in microseconds */

    span = (int64_t) 9996 * 365 * 86400 * 1000000;
    srandom(15);

    for (i = 0, fails = 0; i < 20000; i++) {
        u = ((uint64_t) random() << 31) ^ (uint64_t) random();
        us = (int64_t) (u % (uint64_t) span)
             - (int64_t) 1998 * 365 * 86400 * 1000000;

        if (i % 4 == 0) {
            us -= us % 1000000;          /* whole seconds: no fraction */
        }

        /* the local time of a random offset, in minutes */

        iso = (i % 2 == 1);
        off = iso ? (random() % (2 * 959 + 1)) - 959 : 0;
        local = us + (int64_t) off * 60 * 1000000;

        u = (uint64_t) local;

        for (k = 0; k < 8; k++) {
            bin[k] = (u_char) (u >> (56 - 8 * k));
        }

        v.data = bin;
        v.len = 8;

        last = crm_render_bin_text(text, &f, &v);
        if (last == NULL || last - text < 22) {
            fails++;
            continue;
        }

        if (iso) {
            /* "YYYY-MM-DD HH:MM:SS[.f]+00" -> "...T...[.f]+HH:MM" */
            text[10] = 'T';
            last = ngx_sprintf(last - 3, "%c%02d:%02d", off < 0 ? '-' : '+',
                               (int) (ngx_abs(off) / 60),
                               (int) (ngx_abs(off) % 60));
        }

        u = (uint64_t) us;

        for (k = 0; k < 8; k++) {
            bin[k] = (u_char) (u >> (56 - 8 * k));
        }

        v.data = text;
        v.len = last - text;

        if (crm_value_binary(CRM_FT_TIMESTAMP, &v, buf, &len) != NGX_OK
            || len != 8 || ngx_memcmp(buf, bin, 8) != 0)
        {
            if (fails++ < 5) {
                diag("%.*s: not read back", (int) v.len, v.data);
            }
        }
    }

    ok(fails == 0, "binary: 20000 instants read back from their text, "
       "half of them with an offset");
}


static void
test_uuid(void)
{
    ok(crm_uuid_valid((u_char *) UUID_A, 36) == NGX_OK, "uuid: digits");
    ok(crm_uuid_valid((u_char *) "AAAAAAAA-bbbb-CCCC-dddd-EEEEEEEEEEEE", 36)
       == NGX_OK, "uuid: either case");
    ok(crm_uuid_valid((u_char *) UUID_A, 35) == NGX_DECLINED,
       "uuid: 35 characters");
    ok(crm_uuid_valid((u_char *) UUID_A "3", 37) == NGX_DECLINED,
       "uuid: 37 characters");
    ok(crm_uuid_valid((u_char *) "3333333-33333-3333-3333-333333333333", 36)
       == NGX_DECLINED, "uuid: a hyphen misplaced");
    ok(crm_uuid_valid((u_char *) "g3333333-3333-3333-3333-333333333333", 36)
       == NGX_DECLINED, "uuid: not hex");
    ok(crm_uuid_valid((u_char *) "333333333333333333333333333333333333", 36)
       == NGX_DECLINED, "uuid: no hyphens");
    ok(crm_uuid_valid(NULL, 0) == NGX_DECLINED, "uuid: NULL");
}


/* helpers */

/*
 * The args are copied and the copy is overwritten after parsing: what
 * the parser returns must not point into r->args.
 */

/* custom fields: extra fields for filters and sorts, and id arrays */

static void
test_extra(void)
{
    ngx_str_t         a, secret;
    crm_field_t       extra[2];
    crm_resource_t   *deals;
    static const char *tiers[] = { "gold", "silver", NULL };

    ngx_memzero(extra, sizeof(extra));
    ngx_str_set(&extra[0].name, "customFields.budget");
    ngx_str_set(&extra[0].column, "((custom_fields ->> 'budget')::numeric)");
    extra[0].type = CRM_FT_NUMERIC;
    extra[0].flags = CRM_F_FILTER|CRM_F_SORT|CRM_F_EXPR;
    ngx_str_set(&extra[1].name, "customFields.tier");
    ngx_str_set(&extra[1].column, "((custom_fields ->> 'tier'))");
    extra[1].type = CRM_FT_ENUM;
    extra[1].enum_values = tiers;
    extra[1].flags = CRM_F_FILTER|CRM_F_SORT|CRM_F_EXPR;

    ngx_str_set(&secret, "secret");

    ngx_str_set(&a, "customFields.budget[gte]=10&sort=-customFields.budget");
    ok(crm_query_parse_ext(pool, contacts, extra, 2, &a, &secret, &q, &err)
       == NGX_OK, "extra: a custom field filters and sorts");
    ok(q.filters.nelts == 1
       && ((crm_filter_t *) q.filters.elts)[0].field == &extra[0]
       && ((crm_filter_t *) q.filters.elts)[0].op == CRM_OP_GTE,
       "extra: the filter names the extra field");
    ok(q.nsort == 2 && q.sort[0].field == &extra[0] && q.sort[0].desc,
       "extra: the sort key is the extra field");

    ngx_str_set(&a, "customFields.budget=lots");
    ok(crm_query_parse_ext(pool, contacts, extra, 2, &a, &secret, &q, &err)
       == NGX_DECLINED, "extra: a value of the wrong type");

    /* records may keep a value the options lost: a filter finds them */

    ngx_str_set(&a, "customFields.tier=bronze");
    ok(crm_query_parse_ext(pool, contacts, extra, 2, &a, &secret, &q, &err)
       == NGX_OK, "extra: a select value outside its options is taken");

    ngx_str_set(&a, "customFields.tier[in]=gold,silver");
    ok(crm_query_parse_ext(pool, contacts, extra, 2, &a, &secret, &q, &err)
       == NGX_OK, "extra: select values");

    ngx_str_set(&a, "customFields.budget=1");
    ok(crm_query_parse(pool, contacts, &a, &secret, &q, &err) == NGX_DECLINED
       && ngx_strncmp(err.code.data, "unknown_parameter", err.code.len) == 0,
       "extra: without the definitions, an unknown parameter");

    /* many-to-many ids */

    deals = crm_schema_find(&(ngx_str_t) ngx_string("deals"));

    parse_ok(deals, "contactIds=" UUID_A, "uuid array: contains");
    is_filter(0, "contactIds", CRM_OP_EQ, UUID_A, NULL, "uuid array eq");
    parse_ok(deals, "contactIds[in]=" UUID_A "," UUID_B, "uuid array: any");
    parse_err(deals, "contactIds=bob", "contactIds", "invalid_value",
              "uuid array: an element is a UUID");
    parse_err(deals, "contactIds[like]=a", "contactIds[like]",
              "invalid_operator", "uuid array: no like");
}


static ngx_int_t
parse(crm_resource_t *res, const char *args, ngx_uint_t fields_only)
{
    size_t     len;
    ngx_str_t  a;

    len = ngx_strlen(args);

    a.len = len;
    a.data = ngx_pnalloc(pool, len + 1);
    if (a.data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(a.data, args, len);

    ngx_memset(&q, 0x5a, sizeof(crm_query_t));
    ngx_memset(&err, 0x5a, sizeof(crm_error_t));

    if (fields_only) {
        last_rc = crm_query_parse_fields(pool, res, &a, &q, &err);

    } else {
        last_rc = crm_query_parse(pool, res, &a, &secret, &q, &err);
    }

    ngx_memset(a.data, 'X', len);

    return last_rc;
}


static void
parse_ok(crm_resource_t *res, const char *args, const char *name)
{
    if (!ok(parse(res, args, 0) == NGX_OK, "%s", name)) {
        diag("rc %d", (int) last_rc);

        if (last_rc == NGX_DECLINED) {
            diag("%.*s: %.*s: %.*s", (int) err.param.len, err.param.data,
                 (int) err.code.len, err.code.data, (int) err.message.len,
                 err.message.data);
        }
    }
}


static void
parse_err(crm_resource_t *res, const char *args, const char *param,
    const char *code, const char *name)
{
    size_t  plen, clen;

    (void) parse(res, args, 0);

    plen = ngx_strlen(param);
    clen = ngx_strlen(code);

    if (!ok(last_rc == NGX_DECLINED
            && err.param.len == plen
            && ngx_strncmp(err.param.data, param, plen) == 0
            && err.code.len == clen
            && ngx_strncmp(err.code.data, code, clen) == 0
            && err.message.len > 0 && err.message.data != NULL,
            "%s: %s, %s", name, param, code))
    {
        diag("rc %d", (int) last_rc);

        if (last_rc == NGX_DECLINED) {
            diag("got %.*s: %.*s: %.*s", (int) err.param.len, err.param.data,
                 (int) err.code.len, err.code.data, (int) err.message.len,
                 err.message.data);
        }
    }
}


static void
fields_err(crm_resource_t *res, const char *args, const char *param,
    const char *code, const char *name)
{
    size_t  plen, clen;

    (void) parse(res, args, 1);

    plen = ngx_strlen(param);
    clen = ngx_strlen(code);

    if (!ok(last_rc == NGX_DECLINED
            && err.param.len == plen
            && ngx_strncmp(err.param.data, param, plen) == 0
            && err.code.len == clen
            && ngx_strncmp(err.code.data, code, clen) == 0
            && err.message.len > 0,
            "%s: %s, %s", name, param, code))
    {
        diag("rc %d", (int) last_rc);

        if (last_rc == NGX_DECLINED) {
            diag("got %.*s: %.*s", (int) err.param.len, err.param.data,
                 (int) err.code.len, err.code.data);
        }
    }
}


static void
has_message(const char *frag, const char *name)
{
    ngx_uint_t  found;

    found = (last_rc == NGX_DECLINED && err.message.data != NULL
             && memmem(err.message.data, err.message.len, frag,
                       ngx_strlen(frag))
                != NULL);

    if (!ok(found, "%s", name)) {
        diag("message: %.*s", (int) err.message.len, err.message.data);
    }
}


/* "-createdAt,+lastName,id": "-" desc, "+" asc; a bare name is asc */

static void
is_sort(const char *want, const char *name)
{
    u_char      *p, buf[256];
    ngx_uint_t   i;

    p = buf;

    for (i = 0; i < q.nsort && i < CRM_MAX_KEYS; i++) {
        if (i > 0) {
            *p++ = ',';
        }

        if (q.sort[i].field == NULL) {
            p = ngx_cpymem(p, "NULL", 4);
            continue;
        }

        if (q.sort[i].desc) {
            *p++ = '-';

        } else if (q.sort[i].field != &contacts->fields[0]
                   && q.sort[i].field != &companies->fields[0]
                   && q.sort[i].field != &test_res.fields[0])
        {
            *p++ = '+';
        }

        p = ngx_cpymem(p, q.sort[i].field->name.data,
                       q.sort[i].field->name.len);
    }

    if (!is_mem(buf, p - buf, want, "%s", name)) {
        diag("rc %d", (int) last_rc);
    }
}


static void
is_filter(ngx_uint_t i, const char *field, ngx_uint_t op, const char *v1,
    const char *v2, const char *name)
{
    ngx_str_t     *v;
    ngx_uint_t     n, pass;
    crm_filter_t  *f;

    n = (v1 != NULL) + (v2 != NULL);
    pass = (last_rc == NGX_OK && i < q.filters.nelts);

    if (pass) {
        f = &((crm_filter_t *) q.filters.elts)[i];
        v = f->values.elts;

        pass = f->field->name.len == ngx_strlen(field)
               && ngx_strcmp(f->field->name.data, field) == 0
               && f->op == op
               && f->values.nelts == n
               && (v1 == NULL || (v[0].len == ngx_strlen(v1)
                                  && ngx_strncmp(v[0].data, v1, v[0].len)
                                     == 0))
               && (v2 == NULL || (v[1].len == ngx_strlen(v2)
                                  && ngx_strncmp(v[1].data, v2, v[1].len)
                                     == 0));

        if (!pass) {
            diag("filter %u: %.*s op %u, %u values", (unsigned) i,
                 (int) f->field->name.len, f->field->name.data,
                 (unsigned) f->op, (unsigned) f->values.nelts);
        }
    }

    ok(pass, "%s", name);
}


static ngx_int_t
value_ok(ngx_uint_t type, const char *v)
{
    ngx_str_t  s;

    s.data = (u_char *) v;
    s.len = ngx_strlen(v);

    return crm_value_check(type, &s) == NGX_OK;
}


/* prefix, then s n times; from the pool, NUL-terminated */

static char *
repeat(const char *s, ngx_uint_t n, const char *prefix)
{
    u_char      *p, *r;
    size_t       len, plen;
    ngx_uint_t   i;

    len = ngx_strlen(s);
    plen = ngx_strlen(prefix);

    r = ngx_pnalloc(pool, plen + len * n + 1);
    if (r == NULL) {
        return (char *) "";
    }

    p = ngx_cpymem(r, prefix, plen);

    for (i = 0; i < n; i++) {
        p = ngx_cpymem(p, s, len);
    }

    *p = '\0';

    return (char *) r;
}


static ngx_uint_t
field_index(crm_resource_t *res, const char *name)
{
    crm_field_t  *f;

    f = crm_schema_field(res, (u_char *) name, ngx_strlen(name));

    if (f == NULL) {
        diag("no field %s", name);
        return 0;
    }

    return crm_schema_field_index(res, f);
}


/* crm_query_names_custom(): whether custom-field definitions are wanted */

static void
test_names_custom(void)
{
    size_t      i;
    ngx_str_t   a;
    static const char  *yes[] = {
        "customFields.tier=gold",
        "status=lead&customFields.score[gte]=5",
        "customFields%2Etier=gold",
        "c%75stomFields.tier=gold",
        "&&customFields.x",
        "sort=-customFields.tier",
        "sort_by=name,customFields%2Etier&order=desc",
        "q=customFields.tier",
        "xcustomFields.tier=1",
        "ccustomFields.a",
        NULL
    };
    static const char  *no[] = {
        "", "status=lead", "customfields.tier=x", "customFields=1",
        "customFields%2", "%", "customFields%zz.tier=1",
        "tags=a&customFields", "customFields%2", "customFields+.x",
        "customField.s", NULL
    };

    for (i = 0; yes[i] != NULL; i++) {
        a.data = (u_char *) yes[i];
        a.len = ngx_strlen(yes[i]);
        ok(crm_query_names_custom(&a), "names custom: %s", yes[i]);
    }

    for (i = 0; no[i] != NULL; i++) {
        a.data = (u_char *) no[i];
        a.len = ngx_strlen(no[i]);
        ok(!crm_query_names_custom(&a), "names no custom: \"%s\"", no[i]);
    }
}
