
/*
 * Unit tests of request body validation (src/crm_validate.c), TAP
 * output.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>
#include <stdio.h>
#include "model/crm.h"
#include "tap.h"


#define UUID_A    "33333333-3333-3333-3333-333333333333"


static ngx_int_t run(crm_resource_t *res, const char *json, size_t flags,
    ngx_uint_t create);
static void is_rc(ngx_int_t want, const char *name);
static void has_error(const char *field, const char *code,
    const char *name);
static void has_message(const char *field, const char *frag,
    const char *name);
static void is_value(const char *field, const char *want, const char *name);
static void is_null_value(const char *field, const char *name);
static crm_field_error_t *find_error(const char *field);
static crm_value_t *find_value(const char *field);
static char *repeat(const char *s, ngx_uint_t n);

static void test_create(void);
static void test_fields(void);
static void test_text(void);
static void test_email(void);
static void test_mailable(void);
static void test_enum_uuid(void);
static void test_array_object(void);
static void test_numbers(void);
static void test_types(void);
static void test_timestamps(void);
static void test_links_createonly(void);
static void test_custom(void);
static void test_password(void);
static void test_audience_query(void);
static ngx_int_t run_custom(crm_resource_t *res, const char *json,
    const char *custom);


static const char  *test_levels[] = { "low", "high", NULL };


static crm_field_t  test_fields_def[] = {
    { ngx_string("id"), ngx_string("id"), CRM_FT_UUID,
      CRM_F_READONLY, 0, NULL, NULL, NULL },
    { ngx_string("title"), ngx_string("title"), CRM_FT_TEXT,
      CRM_F_REQUIRED, 5, NULL, NULL, NULL },
    { ngx_string("active"), ngx_string("active"), CRM_FT_BOOL,
      0, 0, NULL, NULL, NULL },
    { ngx_string("dueAt"), ngx_string("due_at"), CRM_FT_TIMESTAMP,
      0, 0, NULL, NULL, NULL },
    { ngx_string("closeDate"), ngx_string("close_date"), CRM_FT_DATE,
      0, 0, NULL, NULL, NULL },
    { ngx_string("secret"), ngx_string("secret"), CRM_FT_TEXT,
      CRM_F_HIDDEN, 0, NULL, NULL, NULL },
    { ngx_string("level"), ngx_string("level"), CRM_FT_ENUM,
      CRM_F_REQUIRED, 0, test_levels, NULL, NULL },
    { ngx_string("note"), ngx_string("note"), CRM_FT_TEXT,
      0, 0, NULL, NULL, NULL }
};


static crm_resource_t  test_res = {
    ngx_string("tests"), ngx_string("tests"), ngx_string("test"),
    test_fields_def, sizeof(test_fields_def) / sizeof(crm_field_t),
    NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ngx_null_string, NULL,
    0, NULL
};


static ngx_pool_t      *pool;
static ngx_array_t      values;
static ngx_array_t      errors;
static ngx_int_t        last_rc;
static crm_resource_t  *contacts;
static crm_resource_t  *companies;
static crm_resource_t  *deals;
static crm_resource_t  *campaigns;


int
main(void)
{
    ngx_log_t  log;

    ngx_memzero(&log, sizeof(ngx_log_t));

    ngx_pagesize = 4096;

    pool = ngx_create_pool(4096, &log);
    if (pool == NULL) {
        return 1;
    }

    contacts = crm_schema_find(&(ngx_str_t) ngx_string("contacts"));
    companies = crm_schema_find(&(ngx_str_t) ngx_string("companies"));
    deals = crm_schema_find(&(ngx_str_t) ngx_string("deals"));
    campaigns = crm_schema_find(&(ngx_str_t) ngx_string("campaigns"));

    test_create();
    test_fields();
    test_text();
    test_email();
    test_mailable();
    test_enum_uuid();
    test_array_object();
    test_numbers();
    test_types();
    test_timestamps();
    test_links_createonly();
    test_custom();
    test_password();
    test_audience_query();

    ngx_destroy_pool(pool);

    return done_testing();
}


static void
test_create(void)
{
    crm_value_t  *v;

    run(contacts,
        "{\"firstName\": \"Ada\", \"email\": \"ada@example.com\", "
        "\"tags\": [\"vip\", \"a \\\"q\\\"\"], "
        "\"customFields\": {\"b\": [1, 2], \"a\": \"x\"}, "
        "\"status\": \"lead\", \"companyId\": \"" UUID_A "\", "
        "\"title\": null}", 0, 1);

    is_rc(NGX_OK, "create: valid contact");
    ok(errors.nelts == 0, "create: no errors");
    ok(values.nelts == 7, "create: 7 values");

    v = values.elts;
    ok(values.nelts == 7 && v[0].field == &contacts->fields[1]
       && v[6].field == &contacts->fields[5],
       "create: values in body order, pointing at descriptor fields");

    is_value("firstName", "Ada", "create: text as is");
    is_value("email", "ada@example.com", "create: email as is");
    is_value("tags", "[\"vip\",\"a \\\"q\\\"\"]", "create: tags compact");
    is_value("customFields", "{\"b\":[1,2],\"a\":\"x\"}",
             "create: object compact, key order kept");
    is_value("status", "lead", "create: enum");
    is_value("companyId", UUID_A, "create: uuid");
    is_null_value("title", "create: null for an optional field");

    /* a required field missing on create, fine on update */

    run(contacts, "{\"firstName\": \"Ada\"}", 0, 1);
    is_rc(NGX_DECLINED, "create without email: declined");
    has_error("email", "required", "create without email: required");
    has_message("email", "is required", "create without email: message");
    ok(errors.nelts == 1, "create without email: one error");

    run(contacts, "{\"firstName\": \"Ada\"}", 0, 0);
    is_rc(NGX_OK, "update without email: fine");

    run(contacts, "{}", 0, 0);
    is_rc(NGX_OK, "update with nothing: fine");
    ok(values.nelts == 0, "update with nothing: no values");

    run(companies, "{}", 0, 1);
    has_error("name", "required", "create empty company: name required");

    run(&test_res, "{}", 0, 1);
    ok(errors.nelts == 2, "create: every missing required field reported");
    has_error("title", "required", "create: title required");
    has_error("level", "required", "create: level required");
}


static void
test_fields(void)
{
    run(contacts,
        "{\"first_name\": \"Ada\", \"bogus\": 1, \"id\": \"" UUID_A "\", "
        "\"createdAt\": \"2026-01-01T00:00:00Z\", \"email\": null, "
        "\"lastName\": 7, \"phone\": \"1\"}", 0, 1);

    is_rc(NGX_DECLINED, "fields: declined");
    has_error("first_name", "unknown_field", "fields: snake_case unknown");
    has_error("bogus", "unknown_field", "fields: unknown");
    has_message("bogus", "contacts", "fields: unknown names the resource");
    has_error("id", "read_only", "fields: id read-only");
    has_error("createdAt", "read_only", "fields: createdAt read-only");
    has_error("email", "required", "fields: null for a required field");
    has_error("lastName", "invalid_type", "fields: number for a string");
    has_message("lastName", "must be a string", "fields: expected type");
    ok(errors.nelts == 6, "fields: all errors, each once (%d)",
       (int) errors.nelts);
    ok(find_value("phone") != NULL, "fields: the valid field still parsed");

    run(&test_res, "{\"secret\": \"x\", \"title\": \"t\", \"level\": \"low\"}",
        0, 1);
    has_error("secret", "unknown_field", "fields: hidden field unknown");
    ok(errors.nelts == 1, "fields: only the hidden one");
}


static void
test_text(void)
{
    run(&test_res, "{\"title\": \"12345\"}", 0, 0);
    is_rc(NGX_OK, "text: max_len characters fine");

    run(&test_res, "{\"title\": \"123456\"}", 0, 0);
    has_error("title", "too_long", "text: one more too long");
    has_message("title", "at most 5 characters", "text: says the limit");

    /* é is 2 bytes: 5 characters, 10 bytes */

    run(&test_res, "{\"title\": \"\\u00e9\\u00e9\\u00e9\\u00e9\\u00e9\"}",
        0, 0);
    is_rc(NGX_OK, "text: limit counts characters, not bytes");

    run(&test_res, "{\"title\": \"\xf0\x9f\x98\x80\xf0\x9f\x98\x80"
        "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80\"}",
        0, 0);
    has_error("title", "too_long", "text: 6 four-byte characters too long");

    run(&test_res, "{\"title\": \"\"}", 0, 0);
    has_error("title", "required", "text: empty required string");

    run(&test_res, "{\"note\": \"\"}", 0, 0);
    is_value("note", "", "text: empty optional string kept");

    run(&test_res, "{\"note\": \"a\\u0000b\"}", JSON_ALLOW_NUL, 0);
    has_error("note", "invalid_format", "text: NUL rejected");

    run(&test_res, "{\"note\": [\"a\"]}", 0, 0);
    has_error("note", "invalid_type", "text: array for a string");

    run(&test_res, "{\"note\": {}}", 0, 0);
    has_error("note", "invalid_type", "text: object for a string");

    run(&test_res, "{\"note\": true}", 0, 0);
    has_error("note", "invalid_type", "text: boolean for a string");
}


static void
test_email(void)
{
    ngx_uint_t  i;
    char        buf[512], name[128];

    static const char  *good[] = {
        "ada@example.com", "a.b+c@sub.example.co", "X@Y.IO",
        "o'brien@example.org"
    };

    static const char  *bad[] = {
        "ada", "ada@example", "@example.com", "ada@", "a@b@c.com",
        "a b@c.com", "ab@c .com", "a@.c.com", "a@c.com.", "a@c..com",
        "a\\tb@c.com", "a@c.com\\n"
    };

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(buf, sizeof(buf), "{\"email\": \"%s\"}", good[i]);
        run(contacts, buf, 0, 0);
        ok(last_rc == NGX_OK, "email: \"%s\" accepted", good[i]);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(buf, sizeof(buf), "{\"email\": \"%s\"}", bad[i]);
        snprintf(name, sizeof(name), "email: \"%s\" invalid_format", bad[i]);
        run(contacts, buf, 0, 0);
        has_error("email", "invalid_format", name);
    }

    run(contacts, "{\"email\": \"\"}", 0, 0);
    has_error("email", "required", "email: empty required");

    /* 254 characters: 250 + "@x.io" is 255 */

    snprintf(buf, sizeof(buf), "{\"email\": \"%s@x.io\"}", repeat("a", 249));
    run(contacts, buf, 0, 0);
    is_rc(NGX_OK, "email: 254 characters fine");

    snprintf(buf, sizeof(buf), "{\"email\": \"%s@x.io\"}", repeat("a", 250));
    run(contacts, buf, 0, 0);
    has_error("email", "too_long", "email: 255 characters too long");

    /* 200 two-byte characters: 205 characters, 405 bytes */

    snprintf(buf, sizeof(buf), "{\"email\": \"%s@x.io\"}",
             repeat("\xc3\xa9", 200));
    run(contacts, buf, 0, 0);
    has_error("email", "invalid_format", "email: more than 254 bytes");

    run(contacts, "{\"email\": 1}", 0, 0);
    has_error("email", "invalid_type", "email: number");
}


static void
test_enum_uuid(void)
{
    run(contacts, "{\"status\": \"customer\"}", 0, 0);
    is_value("status", "customer", "enum: allowed value");

    run(contacts, "{\"status\": \"Customer\"}", 0, 0);
    has_error("status", "invalid_value", "enum: case matters");
    has_message("status", "must be one of: lead, prospect, customer, "
                "active, inactive, churned", "enum: lists the values");

    run(contacts, "{\"status\": \"\"}", 0, 0);
    has_error("status", "invalid_value", "enum: empty optional");

    run(&test_res, "{\"level\": \"\"}", 0, 0);
    has_error("level", "required", "enum: empty required");

    run(contacts, "{\"status\": 1}", 0, 0);
    has_error("status", "invalid_type", "enum: number");

    run(contacts, "{\"ownerId\": \"ABCDEF01-2345-6789-abcd-ef0123456789\"}",
        0, 0);
    is_rc(NGX_OK, "uuid: mixed case fine");

    run(contacts, "{\"ownerId\": \"3333333333333333333333333333333333\"}",
        0, 0);
    has_error("ownerId", "invalid_format", "uuid: no dashes");

    run(contacts, "{\"ownerId\": \"33333333-3333-3333-3333-33333333333g\"}",
        0, 0);
    has_error("ownerId", "invalid_format", "uuid: not hex");

    run(contacts, "{\"ownerId\": \"33333333-3333-3333-3333-3333333333333\"}",
        0, 0);
    has_error("ownerId", "invalid_format", "uuid: too long");

    run(contacts, "{\"ownerId\": \"33333333+3333-3333-3333-333333333333\"}",
        0, 0);
    has_error("ownerId", "invalid_format", "uuid: wrong separator");

    run(contacts, "{\"ownerId\": 5}", 0, 0);
    has_error("ownerId", "invalid_type", "uuid: number");
    has_message("ownerId", "UUID", "uuid: message says UUID");

    run(contacts, "{\"companyId\": null}", 0, 0);
    is_null_value("companyId", "uuid: null");
}


static void
test_array_object(void)
{
    int    i;
    char  *p, buf[32768];

    run(contacts, "{\"tags\": []}", 0, 0);
    is_value("tags", "[]", "array: empty");

    run(contacts, "{\"tags\": \"vip\"}", 0, 0);
    has_error("tags", "invalid_type", "array: a string");
    has_message("tags", "must be an array of strings", "array: message");

    run(contacts, "{\"tags\": [\"a\", 1]}", 0, 0);
    has_error("tags", "invalid_type", "array: a number element");
    has_message("tags", "element 1", "array: names the element");

    run(contacts, "{\"tags\": [null]}", 0, 0);
    has_error("tags", "invalid_type", "array: a null element");

    run(contacts, "{\"tags\": [\"a\", \"\"]}", 0, 0);
    has_error("tags", "invalid_value", "array: an empty element");
    has_message("tags", "element 1 must not be empty",
                "array: names the empty element");

    /* 50 elements fine, 51 too many */

    p = buf + sprintf(buf, "{\"tags\": [");
    for (i = 0; i < 50; i++) {
        p += sprintf(p, "%s\"t%d\"", i ? "," : "", i);
    }
    sprintf(p, "]}");
    run(contacts, buf, 0, 0);
    is_rc(NGX_OK, "array: 50 elements fine");

    sprintf(p, ",\"x\"]}");
    run(contacts, buf, 0, 0);
    has_error("tags", "too_long", "array: 51 elements too many");
    has_message("tags", "at most 50 elements", "array: says the limit");

    snprintf(buf, sizeof(buf), "{\"tags\": [\"%s\"]}", repeat("\xc3\xa9", 255));
    run(contacts, buf, 0, 0);
    is_rc(NGX_OK, "array: 255-character element fine");

    /* a campaign's audience takes any tag a contact may have */

    snprintf(buf, sizeof(buf), "{\"audience\": {\"tags\": [\"%s\"]}}",
             repeat("\xc3\xa9", 255));
    run(campaigns, buf, 0, 0);
    is_rc(NGX_OK, "audience: a tag of 255 two-byte characters");

    snprintf(buf, sizeof(buf), "{\"audience\": {\"tags\": [\"%s\"]}}",
             repeat("\xc3\xa9", 256));
    run(campaigns, buf, 0, 0);
    has_error("audience.tags", "invalid_value", "audience: a tag too long");

    run(campaigns, "{\"audience\": {\"tags\": [\"vip\", \"\"]}}", 0, 0);
    has_error("audience.tags", "invalid_value", "audience: an empty tag");
    has_message("audience.tags", "1 to 255 characters",
                "audience: says what a tag is");

    snprintf(buf, sizeof(buf), "{\"tags\": [\"a\", \"%s\"]}",
             repeat("a", 256));
    run(contacts, buf, 0, 0);
    has_error("tags", "too_long", "array: 256-character element");

    run(contacts, "{\"tags\": [\"a\\u0000\"]}", JSON_ALLOW_NUL, 0);
    has_error("tags", "invalid_format", "array: NUL in an element");

    /* tags always has a value (CRM_F_NOTNULL): null is refused */
    run(contacts, "{\"tags\": null}", 0, 0);
    has_error("tags", "required", "array: null refused for a not-null field");

    run(contacts, "{\"title\": null}", 0, 0);
    is_null_value("title", "text: null clears an optional field");

    /* objects */

    run(companies, "{\"address\": {\"city\": \"Oslo\", \"postalCode\": "
        "\"0150\", \"x\": {\"y\": [true, null, 1.5]}}}", 0, 0);
    is_value("address", "{\"city\":\"Oslo\",\"postalCode\":\"0150\","
             "\"x\":{\"y\":[true,null,1.5]}}", "object: compact text");

    run(companies, "{\"address\": [1]}", 0, 0);
    has_error("address", "invalid_type", "object: array");
    has_message("address", "must be an object", "object: message");

    run(companies, "{\"address\": \"Oslo\"}", 0, 0);
    has_error("address", "invalid_type", "object: string");

    /* 4096 bytes compact: {"a":"<4088 x>"} */

    snprintf(buf, sizeof(buf), "{\"address\": {\"a\" :  \"%s\"}}",
             repeat("x", 4088));
    run(companies, buf, 0, 0);
    is_rc(NGX_OK, "object: 4096 bytes compact fine (spaces not counted)");

    snprintf(buf, sizeof(buf), "{\"address\": {\"a\": \"%s\"}}",
             repeat("x", 4089));
    run(companies, buf, 0, 0);
    has_error("address", "too_long", "object: 4097 bytes too long");

    run(companies, "{\"customFields\": {}}", 0, 0);
    is_value("customFields", "{}", "object: empty");

    run(companies, "{\"customFields\": {\"a\": [1.5, {\"b\": 0.1}], "
        "\"c\": 2.0, \"d\": 0.30000000000000004}}", 0, 0);
    is_value("customFields", "{\"a\":[1.5,{\"b\":0.10000000000000001}],"
             "\"c\":2.0,\"d\":0.30000000000000004}",
             "object: one real that needs 17 digits, all get 17");

    run(companies, "{\"customFields\": {\"a\": [1.5, {\"b\": 0.1}], "
        "\"c\": 2.0}}", 0, 0);
    is_value("customFields", "{\"a\":[1.5,{\"b\":0.1}],\"c\":2.0}",
             "object: reals in their shortest exact form");
}


static void
test_numbers(void)
{
    run(companies, "{\"employees\": 42}", 0, 0);
    is_value("employees", "42", "int: integer");

    run(companies, "{\"employees\": -9223372036854775808}", 0, 0);
    is_value("employees", "-9223372036854775808", "int: bigint minimum");

    run(companies, "{\"employees\": 9223372036854775807}", 0, 0);
    is_value("employees", "9223372036854775807", "int: bigint maximum");

    run(companies, "{\"employees\": 42.0}", 0, 0);
    is_value("employees", "42", "int: a real without fraction");

    run(companies, "{\"employees\": 1e3}", 0, 0);
    is_value("employees", "1000", "int: exponent without fraction");

    run(companies, "{\"employees\": 42.5}", 0, 0);
    has_error("employees", "invalid_type", "int: a fraction");
    has_message("employees", "must be an integer", "int: message");

    run(companies, "{\"employees\": 1e19}", 0, 0);
    has_error("employees", "out_of_range", "int: beyond bigint");

    run(companies, "{\"employees\": -1e19}", 0, 0);
    has_error("employees", "out_of_range", "int: below bigint");

    /* beyond 32 bits: the range said is the field's own */

    run(campaigns, "{\"sendRate\": 1e20}", 0, 0);
    has_error("sendRate", "out_of_range", "int: beyond 64 bits, 32-bit");
    has_message("sendRate", "must be an integer between 1 and 2147483647",
                "int: a range from 1 says 1");

    run(campaigns, "{\"sendRate\": 2147483648}", 0, 0);
    has_message("sendRate", "must be an integer between 1 and 2147483647",
                "int: one beyond int4");

    run(campaigns, "{\"sendRate\": -1e20}", 0, 0);
    has_error("sendRate", "invalid_value",
              "int: below 64 bits, of 1 or more: as any value below 1");
    has_message("sendRate", "must be 1 or more",
                "int: below 64 bits, the field's own bound");

    /* a percent beyond int4 is out of its bounds as 101 is */

    run(deals, "{\"probability\": 3000000000}", 0, 0);
    has_error("probability", "invalid_value", "int: a percent beyond int4");
    has_message("probability", "must be between 0 and 100",
                "int: a percent's range");

    run(deals, "{\"probability\": 101}", 0, 0);
    has_error("probability", "invalid_value", "int: a percent of 101");
    has_message("probability", "must be between 0 and 100",
                "int: ... said the same");

    run(companies, "{\"employees\": \"42\"}", 0, 0);
    has_error("employees", "invalid_type", "int: a string");

    run(companies, "{\"employees\": true}", 0, 0);
    has_error("employees", "invalid_type", "int: a boolean");

    run(companies, "{\"annualRevenue\": 1234.5}", 0, 0);
    is_value("annualRevenue", "1234.5", "numeric: real");

    run(companies, "{\"annualRevenue\": 0.1}", 0, 0);
    is_value("annualRevenue", "0.1", "numeric: shortest exact form");

    run(companies, "{\"annualRevenue\": 0.30000000000000004}", 0, 0);
    is_value("annualRevenue", "0.30000000000000004",
             "numeric: 17 digits when needed");

    run(companies, "{\"annualRevenue\": 1e300}", 0, 0);
    is_value("annualRevenue", "1e+300", "numeric: large exponent");

    run(companies, "{\"annualRevenue\": 7}", 0, 0);
    is_value("annualRevenue", "7", "numeric: integer");

    run(companies, "{\"annualRevenue\": -12345678901234}", 0, 0);
    is_value("annualRevenue", "-12345678901234", "numeric: big integer");

    run(companies, "{\"annualRevenue\": \"7\"}", 0, 0);
    has_error("annualRevenue", "invalid_type", "numeric: a string");
    has_message("annualRevenue", "must be a number", "numeric: message");

    run(companies, "{\"annualRevenue\": null}", 0, 0);
    is_null_value("annualRevenue", "numeric: null");

    /* ranges of the flags: reported with the other fields' errors */

    run(deals, "{\"amount\": -0.5, \"currency\": \"eur\", "
        "\"probability\": 101, \"name\": 7}", 0, 0);
    has_error("amount", "invalid_value", "min0: a negative real");
    has_message("amount", "must not be negative", "min0: message");
    has_error("currency", "invalid_value", "currency: lower case");
    has_error("probability", "invalid_value", "percent: 101");
    has_message("probability", "between 0 and 100", "percent: message");
    has_error("name", "invalid_type", "and the other fields' errors");

    run(deals, "{\"amount\": 0, \"currency\": \"JPY\", "
        "\"probability\": 100}", 0, 0);
    is_value("amount", "0", "min0: 0");
    is_value("currency", "JPY", "currency: three capitals");
    is_value("probability", "100", "percent: 100");

    run(deals, "{\"probability\": -1, \"currency\": \"EURO\"}", 0, 0);
    has_error("probability", "invalid_value", "percent: -1");
    has_error("currency", "too_long", "currency: four letters");

    run(deals, "{\"currency\": \"E1R\"}", 0, 0);
    has_error("currency", "invalid_value", "currency: a digit");

    run(deals, "{\"probability\": null, \"amount\": null}", 0, 0);
    is_null_value("probability", "percent: null is no number");
    is_null_value("amount", "min0: null is no number");

    run(campaigns, "{\"sendRate\": 0}", 0, 0);
    has_error("sendRate", "invalid_value", "min1: 0");
    has_message("sendRate", "must be 1 or more", "min1: message");

    run(campaigns, "{\"sendRate\": 1}", 0, 0);
    is_value("sendRate", "1", "min1: 1");
}


static void
test_types(void)
{
    run(&test_res, "{\"active\": true}", 0, 0);
    is_value("active", "true", "bool: true");

    run(&test_res, "{\"active\": false}", 0, 0);
    is_value("active", "false", "bool: false");

    run(&test_res, "{\"active\": 1}", 0, 0);
    has_error("active", "invalid_type", "bool: 1");
    has_message("active", "must be a boolean", "bool: message");

    run(&test_res, "{\"active\": \"true\"}", 0, 0);
    has_error("active", "invalid_type", "bool: a string");

    run(&test_res, "{\"closeDate\": \"2024-02-29\"}", 0, 0);
    is_value("closeDate", "2024-02-29", "date: leap day");

    run(&test_res, "{\"closeDate\": \"2000-02-29\"}", 0, 0);
    is_rc(NGX_OK, "date: leap day of a 400th year");

    run(&test_res, "{\"closeDate\": \"1900-02-29\"}", 0, 0);
    has_error("closeDate", "invalid_format", "date: 1900 not leap");

    run(&test_res, "{\"closeDate\": \"2023-02-29\"}", 0, 0);
    has_error("closeDate", "invalid_format", "date: 2023 not leap");

    run(&test_res, "{\"closeDate\": \"2026-04-31\"}", 0, 0);
    has_error("closeDate", "invalid_format", "date: April 31");

    run(&test_res, "{\"closeDate\": \"2026-00-10\"}", 0, 0);
    has_error("closeDate", "invalid_format", "date: month 0");

    run(&test_res, "{\"closeDate\": \"2026-1-10\"}", 0, 0);
    has_error("closeDate", "invalid_format", "date: one-digit month");

    run(&test_res, "{\"closeDate\": \"2026-01-10T00:00:00Z\"}", 0, 0);
    has_error("closeDate", "invalid_format", "date: a timestamp");

    run(&test_res, "{\"closeDate\": \"0000-01-10\"}", 0, 0);
    has_error("closeDate", "invalid_format", "date: year 0");

    run(&test_res, "{\"closeDate\": 20260110}", 0, 0);
    has_error("closeDate", "invalid_type", "date: a number");
}


static void
test_timestamps(void)
{
    ngx_uint_t  i;
    char        buf[256], name[128];

    /* the rules of filter values (crm_value_check): the
       database session is in UTC, so a time without a zone is UTC */

    static const char  *good[] = {
        "2026-01-15T10:30:00.000Z",
        "2026-01-15T10:30:00Z",
        "2026-01-15t10:30:00z",
        "2026-01-15T10:30Z",
        "2026-01-15T10:30:00+02:00",
        "2026-01-15T10:30:00.123456789-05:30",
        "2026-01-15T10:30:00",
        "2026-01-15T10:30",
        "2026-01-15",
        "2024-02-29T23:59:59+15:59",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999Z",
        "9999-12-31T23:59:59.9999994Z",
        "0001-01-01T05:00:00+05:00",
        "9999-12-31T18:59:59-05:00",
        "0001-01-01T00:00:00-01:00"
    };

    static const char  *bad[] = {
        "2026-01-15 10:30:00Z",
        "2026-13-01T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "2026-01-15T24:00:00Z",
        "2026-01-15T10:60:00Z",
        "2026-01-15T10:30:60Z",
        "2026-01-15T10:30:00.Z",
        "2026-01-15T10:30:00.1234567890Z",
        "2026-01-15T10:30:00Zjunk",
        "2026-01-15T10:30:00+16:00",
        "2026-01-15T10:30:00+01:5",
        "2026-01-15T10:30:00+01:60",
        "2026-01-15T10:30:00+0130",
        "2026-01-15T",
        "2026-01-15X10:30:00Z",
        "2026-01-15T1:30:00Z",
        "0000-01-01T00:00:00Z",
        "0001-01-01T04:59:59+05:00",
        "0001-01-01T00:00:00+00:01",
        "9999-12-31T19:00:00-05:00",
        "9999-12-31T23:59:59-00:01",
        "9999-12-31T23:59:59.9999999Z",
        "9999-12-31T23:59:59.9999995Z",
        "9999-12-31T23:59:59.999999999Z",
        "9999-12-31T18:59:59.99999951-05:00",
        "now",
        ""
    };

    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        snprintf(buf, sizeof(buf), "{\"dueAt\": \"%s\"}", good[i]);
        run(&test_res, buf, 0, 0);
        ok(last_rc == NGX_OK, "timestamp: \"%s\" accepted", good[i]);
    }

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(buf, sizeof(buf), "{\"dueAt\": \"%s\"}", bad[i]);
        snprintf(name, sizeof(name), "timestamp: \"%s\" invalid_format",
                 bad[i]);
        run(&test_res, buf, 0, 0);
        has_error("dueAt", "invalid_format", name);
    }

    run(&test_res, "{\"dueAt\": 1768473000}", 0, 0);
    has_error("dueAt", "invalid_type", "timestamp: a number");
    has_message("dueAt", "ISO 8601", "timestamp: message");
}


/*
 * A campaign's audience filter on customFields.<name>: it wants the
 * contacts' definitions (crm_validate_needs()), and is parsed with them
 */

static void
test_custom(void)
{
    static const char  *defs =
        "{\"contacts\": [{\"name\": \"tier\", \"type\": \"select\", "
        "\"options\": [\"gold\", \"silver\"]}, "
        "{\"name\": \"score\", \"type\": \"number\"}, "
        "{\"name\": \"bad-name\", \"type\": \"text\"}], "
        "\"companies\": [{\"name\": \"size\", \"type\": \"number\"}]}";
    static const char  *gold =
        "{\"audience\": {\"filter\": \"customFields.tier=gold\"}}";
    json_t             *body;
    json_error_t        err;

    body = json_loads(gold, 0, &err);

    ok(body != NULL && crm_validate_needs(campaigns, body) == 1,
       "custom: a custom-field audience wants the definitions");
    ok(body != NULL && crm_validate_needs(contacts, body) == 0,
       "custom: a contact's body wants none");
    json_decref(body);

    body = json_loads("{\"audience\": {\"filter\": \"status=lead\"}}", 0,
                      &err);
    ok(body != NULL && crm_validate_needs(campaigns, body) == 0,
       "custom: an audience on plain fields wants none");
    json_decref(body);

    body = json_loads("{\"audience\": {\"tags\": "
                      "[\"customFields.tier\"]}}", 0, &err);
    ok(body != NULL && crm_validate_needs(campaigns, body) == 0,
       "custom: nor does an audience of tags, whatever they say");
    json_decref(body);

    run_custom(campaigns, gold, NULL);
    has_error("audience.filter", "unknown_parameter",
              "custom: without definitions, unknown");

    run_custom(campaigns, gold, defs);
    is_rc(NGX_OK, "custom: with the definitions, a filter");

    run_custom(campaigns,
               "{\"audience\": {\"filter\": "
               "\"customFields.score[gte]=50&status=lead\"}}", defs);
    is_rc(NGX_OK, "custom: a number's operator, with a plain filter");

    run_custom(campaigns,
               "{\"audience\": {\"filter\": \"customFields.score[like]=5\"}}",
               defs);
    has_error("audience.filter", "invalid_operator",
              "custom: an operator its type does not take");

    run_custom(campaigns,
               "{\"audience\": {\"filter\": \"customFields.tier[in]=gold,"
               "bronze\"}}", defs);
    is_rc(NGX_OK, "custom: a select's value no longer an option, as a "
          "list finds records by it");

    run_custom(campaigns,
               "{\"audience\": {\"filter\": \"customFields.size=3\"}}",
               defs);
    has_error("audience.filter", "unknown_parameter",
              "custom: a companies' field is not a contact's");

    run_custom(campaigns,
               "{\"audience\": {\"filter\": \"customFields.bad-name=x\"}}",
               defs);
    has_error("audience.filter", "unknown_parameter",
              "custom: a definition whose name is no SQL name is left out");
}


/* the filter an audience runs with (its runner's and its preview's) */

static void
test_audience_query(void)
{
    ngx_int_t    rc;
    ngx_str_t    f, secret, problem;
    crm_query_t  q;
    crm_error_t  err;

    ngx_str_set(&secret, "audience");

    ngx_str_set(&f, "status=lead");
    rc = crm_campaign_audience_query(pool, NULL, 0, &f, &secret, &q, &err);
    ok(rc == NGX_OK && f.len == sizeof("status=lead") - 1
       && q.filters.nelts == 1, "audience query: a filter as it is");

    ngx_str_set(&f, "&&");
    rc = crm_campaign_audience_query(pool, NULL, 0, &f, &secret, &q, &err);
    ok(rc == NGX_DONE && ngx_strncmp(f.data, "id[is]=null", f.len) == 0
       && q.filters.nelts == 1, "audience query: nothing in particular");

    ngx_str_set(&f, "customFields.gone=1");
    rc = crm_campaign_audience_query(pool, NULL, 0, &f, &secret, &q, &err);
    ok(rc == NGX_DECLINED && ngx_strncmp(f.data, "id[is]=null", f.len) == 0
       && err.code.len == sizeof("unknown_parameter") - 1
       && ngx_strncmp(err.code.data, "unknown_parameter", err.code.len)
          == 0,
       "audience query: no longer valid, and why");

    /* the problem it is, as the campaign keeps it and its preview says */

    rc = crm_campaign_audience_problem(pool, rc, &err, &problem);
    ok(rc == NGX_OK
       && problem.len == sizeof("the audience filter is no longer valid "
                                "(customFields.gone: unknown query "
                                "parameter \"customFields.gone\")") - 1
       && ngx_strncmp(problem.data, "the audience filter is no longer valid "
                      "(customFields.gone: unknown query parameter "
                      "\"customFields.gone\")", problem.len) == 0,
       "audience problem: no longer valid, the parameter and why");

    rc = crm_campaign_audience_problem(pool, NGX_DONE, &err, &problem);
    ok(rc == NGX_OK
       && ngx_strncmp(problem.data, "the audience filter selects no contact "
                      "in particular", problem.len) == 0
       && problem.len == sizeof("the audience filter selects no contact in "
                                "particular") - 1,
       "audience problem: nothing in particular");

    rc = crm_campaign_audience_problem(pool, NGX_OK, &err, &problem);
    ok(rc == NGX_OK && problem.len == 0, "audience problem: none");

    /* a parameter decoded to bytes that are not UTF-8 is left out */

    ngx_str_set(&err.param, "customFields.\xff");
    rc = crm_campaign_audience_problem(pool, NGX_DECLINED, &err, &problem);
    ok(rc == NGX_OK
       && problem.len == sizeof("the audience filter is no longer valid") - 1
       && ngx_strncmp(problem.data, "the audience filter is no longer valid",
                      problem.len) == 0,
       "audience problem: a name that is not UTF-8 is left out");
}


/* a password: 8 characters at least, 72 bytes (bcrypt's) at most */

static void
test_password(void)
{
    crm_resource_t  *users;

    users = crm_schema_find(&(ngx_str_t) ngx_string("users"));

    run(users, "{\"password\": \"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"
        "\u00e9\"}", 0, 0);
    is_rc(NGX_OK, "password: 8 characters of 2 bytes");

    run(users, "{\"password\": \"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\"}",
        0, 0);
    has_error("password", "too_short", "password: 7 characters of 2 bytes");
    has_message("password", "8 characters", "password: in characters");

    run(users, "{\"password\": 12345678}", 0, 0);
    has_error("password", "invalid_type", "password: a number");
    has_message("password", "8 characters to 72 bytes",
                "password: the type's message counts both as checked");
}


static ngx_int_t
run_custom(crm_resource_t *res, const char *json, const char *custom)
{
    json_t        *body, *defs;
    json_error_t   err;

    body = json_loads(json, 0, &err);
    defs = custom ? json_loads(custom, 0, &err) : NULL;

    if (body == NULL || (custom != NULL && defs == NULL)) {
        diag("bad test JSON: %s: %s", json, err.text);
        json_decref(body);
        last_rc = NGX_ABORT;
        return last_rc;
    }

    last_rc = crm_validate(pool, res, body, 0, defs, &values, &errors);

    json_decref(body);
    json_decref(defs);

    return last_rc;
}


/* parses, validates, frees the JSON: the values must not point into it */

static ngx_int_t
run(crm_resource_t *res, const char *json, size_t flags, ngx_uint_t create)
{
    json_t        *body;
    json_error_t   err;

    if (json == NULL) {
        return NGX_OK;
    }

    body = json_loads(json, flags, &err);

    if (body == NULL || !json_is_object(body)) {
        diag("bad test JSON: %s: %s", json, err.text);
        last_rc = NGX_ABORT;
        return last_rc;
    }

    last_rc = crm_validate(pool, res, body, create, NULL, &values, &errors);

    json_decref(body);

    return last_rc;
}


static void
is_rc(ngx_int_t want, const char *name)
{
    crm_field_error_t  *e;
    ngx_uint_t          i;

    ok(last_rc == want, "%s", name);

    if (last_rc != want) {
        diag("rc %d, expected %d", (int) last_rc, (int) want);

        e = errors.elts;

        for (i = 0; i < errors.nelts; i++) {
            diag("  %.*s: %.*s: %.*s", (int) e[i].field.len,
                 e[i].field.data, (int) e[i].code.len, e[i].code.data,
                 (int) e[i].message.len, e[i].message.data);
        }
    }
}


static void
has_error(const char *field, const char *code, const char *name)
{
    crm_field_error_t  *e;

    e = find_error(field);

    ok(last_rc == NGX_DECLINED && e != NULL
       && e->code.len == ngx_strlen(code)
       && ngx_strncmp(e->code.data, code, e->code.len) == 0, "%s", name);

    if (e == NULL) {
        diag("no error for %s (rc %d)", field, (int) last_rc);

    } else if (e->code.len != ngx_strlen(code)
               || ngx_strncmp(e->code.data, code, e->code.len) != 0)
    {
        diag("code %.*s, expected %s", (int) e->code.len, e->code.data,
             code);
    }
}


static void
has_message(const char *field, const char *frag, const char *name)
{
    size_t              i, len;
    ngx_uint_t          found;
    crm_field_error_t  *e;

    e = find_error(field);
    found = 0;
    len = ngx_strlen(frag);

    for (i = 0; e != NULL && !found && i + len <= e->message.len; i++) {
        found = (ngx_strncmp(e->message.data + i, frag, len) == 0);
    }

    ok(found, "%s", name);

    if (!found && e != NULL) {
        diag("message: %.*s", (int) e->message.len, e->message.data);
    }
}


static void
is_value(const char *field, const char *want, const char *name)
{
    size_t        len;
    crm_value_t  *v;

    v = find_value(field);
    len = ngx_strlen(want);

    ok(last_rc == NGX_OK && v != NULL && v->param.null == 0
       && v->param.value.len == len
       && ngx_strncmp(v->param.value.data, want, len) == 0, "%s", name);

    if (v == NULL) {
        diag("no value for %s (rc %d)", field, (int) last_rc);

    } else if (v->param.value.len != len
               || ngx_strncmp(v->param.value.data, want, len) != 0)
    {
        diag("     got: %.*s", (int) v->param.value.len,
             v->param.value.data);
        diag("expected: %s", want);
    }
}


static void
is_null_value(const char *field, const char *name)
{
    crm_value_t  *v;

    v = find_value(field);

    ok(last_rc == NGX_OK && v != NULL && v->param.null == 1, "%s", name);
}


static crm_field_error_t *
find_error(const char *field)
{
    ngx_uint_t          i;
    crm_field_error_t  *e;

    if (last_rc != NGX_DECLINED) {
        return NULL;
    }

    e = errors.elts;

    for (i = 0; i < errors.nelts; i++) {
        if (e[i].field.len == ngx_strlen(field)
            && ngx_strncmp(e[i].field.data, field, e[i].field.len) == 0)
        {
            return &e[i];
        }
    }

    return NULL;
}


static crm_value_t *
find_value(const char *field)
{
    ngx_uint_t    i;
    crm_value_t  *v;

    if (last_rc == NGX_ABORT) {
        return NULL;
    }

    v = values.elts;

    for (i = 0; i < values.nelts; i++) {
        if (v[i].field->name.len == ngx_strlen(field)
            && ngx_strncmp(v[i].field->name.data, field,
                           v[i].field->name.len) == 0)
        {
            return &v[i];
        }
    }

    return NULL;
}


static char *
repeat(const char *s, ngx_uint_t n)
{
    size_t       len;
    char        *r, *p;
    ngx_uint_t   i;

    len = ngx_strlen(s);

    r = ngx_pnalloc(pool, len * n + 1);
    p = r;

    for (i = 0; i < n; i++) {
        p = (char *) ngx_cpymem(p, s, len);
    }

    *p = '\0';

    return r;
}


/* many-to-many id arrays; fields set at creation only */

static void
test_links_createonly(void)
{
    crm_resource_t  *deals, *cf;

    deals = crm_schema_find(&(ngx_str_t) ngx_string("deals"));
    cf = crm_schema_find(&(ngx_str_t) ngx_string("custom-fields"));

    run(deals, "{\"name\": \"d\", \"contactIds\": [\"" UUID_A "\"]}", 0,
        1);
    is_value("contactIds", "[\"" UUID_A "\"]", "uuid array: JSON text");

    run(deals, "{\"name\": \"d\", \"contactIds\": [\"x\"]}", 0, 1);
    has_error("contactIds", "invalid_format", "uuid array: not a UUID");

    run(deals, "{\"name\": \"d\", \"contactIds\": [7]}", 0, 1);
    has_error("contactIds", "invalid_type", "uuid array: not a string");

    run(deals, "{\"name\": \"d\", \"contactIds\": {}}", 0, 1);
    has_error("contactIds", "invalid_type", "uuid array: not an array");

    run(deals, "{\"contactIds\": []}", 0, 0);
    is_value("contactIds", "[]", "uuid array: empty clears the link");

    run(cf, "{\"object\": \"contacts\", \"name\": \"n\", "
        "\"type\": \"text\"}", 0, 1);
    is_rc(NGX_OK, "create-only: accepted on create");

    run(cf, "{\"type\": \"number\"}", 0, 0);
    has_error("type", "read_only", "create-only: refused on update");
    has_message("type", "set at creation only", "create-only: says why");

    run(cf, "{\"label\": \"L\"}", 0, 0);
    is_rc(NGX_OK, "create-only: other fields update");
}


/* crm_validate_mailable(): db_email_address_valid() of sql/016 */

static void
mailable(const char *a, ngx_int_t want)
{
    is_int(crm_validate_mailable((u_char *) a, ngx_strlen(a)), want,
           "mailable: \"%s\" %s", a, want == NGX_OK ? "is" : "is not");
}


static void
test_mailable(void)
{
    size_t  i;
    u_char  local[80], host[300];

    mailable("ada@example.com", NGX_OK);
    mailable("a.b+tag@sub.example-1.co", NGX_OK);
    mailable("x!#$%&'*+/=?^_`{|}~-@h", NGX_OK);
    mailable("a@1.2", NGX_OK);
    mailable("bad", NGX_DECLINED);
    mailable("", NGX_DECLINED);
    mailable("@example.com", NGX_DECLINED);
    mailable("a@", NGX_DECLINED);
    mailable(".a@example.com", NGX_DECLINED);
    mailable("a.@example.com", NGX_DECLINED);
    mailable("a..b@example.com", NGX_DECLINED);
    mailable("a b@example.com", NGX_DECLINED);
    mailable("a@b@example.com", NGX_DECLINED);
    mailable("a@-example.com", NGX_DECLINED);
    mailable("a@example-.com", NGX_DECLINED);
    mailable("a@example..com", NGX_DECLINED);
    mailable("a@example.com.", NGX_DECLINED);
    mailable("a@exa_mple.com", NGX_DECLINED);
    mailable("\"quoted\"@example.com", NGX_DECLINED);
    mailable("caf\xc3\xa9@example.com", NGX_DECLINED);

    /* 64 characters before "@" at most, 63 a label, 254 in all */

    ngx_memset(local, 'l', 64);
    ngx_memcpy(local + 64, "@h.io", sizeof("@h.io"));
    mailable((char *) local, NGX_OK);

    ngx_memset(local, 'l', 65);
    ngx_memcpy(local + 65, "@h.io", sizeof("@h.io"));
    mailable((char *) local, NGX_DECLINED);

    ngx_memcpy(host, "a@", 2);
    ngx_memset(host + 2, 'h', 63);
    host[65] = '\0';
    mailable((char *) host, NGX_OK);

    ngx_memset(host + 2, 'h', 64);
    host[66] = '\0';
    mailable((char *) host, NGX_DECLINED);

    ngx_memcpy(host, "a@", 2);
    ngx_memset(host + 2, 'h', 252);

    for (i = 62; i < 250; i += 63) {
        host[2 + i] = '.';
    }

    host[254] = '\0';
    mailable((char *) host, NGX_OK);

    host[254] = 'h';
    host[255] = '\0';
    mailable((char *) host, NGX_DECLINED);
}
