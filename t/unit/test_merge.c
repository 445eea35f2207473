
/*
 * Unit tests of campaign merge fields (src/model/crm_merge.c), TAP
 * output.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>
#include <string.h>
#include "model/crm.h"
#include "model/crm_merge.h"
#include "tap.h"


static void check_ok(const char *tpl, const char *name);
static void check_bad(const char *tpl, const char *code, const char *frag,
    const char *name);
static void render_is(const char *tpl, ngx_uint_t html, const char *want,
    const char *name);


static ngx_pool_t      *pool;
static crm_resource_t  *contacts;
static crm_resource_t  *companies;
static json_t          *contact;
static json_t          *company;
static json_t          *custom;         /* definitions, as loaded */


int
main(void)
{
    ngx_log_t  log;
    ngx_str_t  name;

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

    contact = json_loads("{\"firstName\": \"Ada\", \"lastName\": \"\","
                         " \"title\": null, \"email\": \"ada@x.test\","
                         " \"tags\": [\"vip\", \"<b>\"],"
                         " \"status\": \"lead & <co>\","
                         " \"customFields\": {\"tier\": \"<gold>\","
                         " \"score\": 7.5, \"vip\": true, \"x\": \"\"}}", 0,
                         NULL);
    company = json_loads("{\"name\": \"Analytical \\\"Engines\\\"\","
                         " \"employees\": 12, \"address\": {\"city\":"
                         " \"London\", \"geo\": {\"lat\": 1.1}},"
                         " \"customFields\": {\"size\": 40}}", 0,
                         NULL);

    if (contact == NULL || company == NULL) {
        return 1;
    }

    /* what is accepted */

    check_ok("no fields at all", "plain text");
    check_ok("", "empty");
    check_ok("Hi {{firstName}}", "a contact field");
    check_ok("Hi {{ firstName }}", "spaces inside the braces");
    check_ok("Hi {{firstName|there}}", "with a default");
    check_ok("Hi {{firstName | dear friend }}", "a default with spaces");
    check_ok("{{company.name}} and {{company.employees}}",
             "company fields");
    check_ok("a } and }} and { alone", "closing braces alone are text");
    check_ok("{{email}}{{tags}}", "fields back to back");

    /* what is refused, and how it is named */

    check_bad("Hi {{frstName}}", "unknown_merge_field", "{{frstName}}",
              "a typo");
    check_bad("Hi {{first_name}}", "unknown_merge_field", "first_name",
              "a column name is not a JSON name");
    check_bad("{{company.nme}}", "unknown_merge_field", "{{company.nme}}",
              "an unknown company field");
    check_bad("{{company.firstName}}", "unknown_merge_field",
              "company.firstName", "a contact field under company.");
    check_bad("{{company}}", "unknown_merge_field", "{{company}}",
              "company alone");
    check_bad("{{password}}", "unknown_merge_field", "password",
              "not a contact field");
    check_bad("Hi {{firstName", "invalid_merge_field", "{{firstName",
              "not closed");
    check_bad("Hi {{}}", "invalid_merge_field", "{{}}", "empty");
    check_bad("Hi {{ | x}}", "invalid_merge_field", "", "a default alone");
    check_bad("{{first-name}}", "invalid_merge_field", "", "a hyphen");
    check_bad("{{a {{firstName}}", "invalid_merge_field", "",
              "a field inside a field");
    check_bad("{{customFields.x.y}}", "invalid_merge_field", "",
              "a path");
    check_bad("{{customFields}}", "unknown_merge_field",
              "\"{{customFields}}\" is an object, not a value",
              "an object field alone");
    check_bad("{{company.address}}", "unknown_merge_field",
              "{{company.address}}", "a company's object field alone");
    check_bad("{{firstName.x}}", "unknown_merge_field", "{{firstName.x}}",
              "a key of a field that is no object");
    check_bad("{{customFields.tier}}", "unknown_merge_field",
              "{{customFields.tier}}\": no custom field of that name",
              "a custom field without definitions");
    check_bad("{{customFields.}}", "invalid_merge_field", "",
              "an empty key");
    check_bad("{{.tier}}", "invalid_merge_field", "", "an empty name");

    custom = json_loads("{\"contacts\": [{\"name\": \"tier\", \"type\":"
                        " \"select\"}, {\"name\": \"score\", \"type\":"
                        " \"number\"}], \"companies\": [{\"name\":"
                        " \"size\", \"type\": \"number\"}, {\"name\":"
                        " \"x234567890123456789012345678901234567890123456"
                        "78901234567890123\", \"type\": \"text\"}]}", 0,
                        NULL);
    if (custom == NULL) {
        return 1;
    }

    check_ok("{{customFields.tier}} {{ customFields.score | 0 }}",
             "defined custom fields");
    check_ok("{{company.customFields.size}} in {{company.address.city}}",
             "a company's custom field, an address's key");
    check_ok("{{company.customFields.x2345678901234567890123456789012345678"
             "9012345678901234567890123}}",
             "a company's custom field of the longest name (63)");
    check_bad("{{company.address.x234567890123456789012345678901234567890"
              "1234567890123456789012345}}", "invalid_merge_field", "",
              "a key of 65 bytes");
    check_bad("{{customFields.size}}", "unknown_merge_field",
              "{{customFields.size}}", "a company's custom field on a contact");
    check_bad("{{company.customFields.tier}}", "unknown_merge_field",
              "{{company.customFields.tier}}",
              "a contact's custom field on a company");
    check_bad("{{customFields.Tier}}", "unknown_merge_field",
              "{{customFields.Tier}}", "a custom field's name is exact");

    json_decref(custom);
    custom = NULL;

    /* the quote of 40 bytes would end inside the second byte of "\xc3\xa9" */
    check_bad("{{aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9\xc3\xa9",
              "invalid_merge_field", "{{aaaaaaaaaa",
              "a long one cut on a character's boundary");

    /* rendering */

    render_is("Hi {{firstName}}!", 0, "Hi Ada!", "a value");
    render_is("Hi {{ firstName | there }}!", 0, "Hi Ada!",
              "a value over a default");
    render_is("Dear {{lastName|customer}}", 0, "Dear customer",
              "an empty value takes the default");
    render_is("Dear {{title|Sir or Madam}}", 0, "Dear Sir or Madam",
              "a null value takes the default");
    render_is("[{{title}}]", 0, "[]", "null without a default is nothing");
    render_is("{{company.name}} ({{company.employees}})", 0,
              "Analytical \"Engines\" (12)", "company fields, a number");
    render_is("{{tags}}", 0, "vip, <b>", "an array is joined");
    render_is("<p>{{status}} {{tags}}</p>", 1,
              "<p>lead &amp; &lt;co&gt; vip, &lt;b&gt;</p>",
              "html: values escaped, the template is not");
    render_is("<p>{{company.name}}</p>", 1,
              "<p>Analytical &quot;Engines&quot;</p>", "html: quotes");
    render_is("<p>{{title|<none> & co}}</p>", 1,
              "<p>&lt;none&gt; &amp; co</p>", "html: a default escaped");
    render_is("no fields", 0, "no fields", "text without fields");
    render_is("{{customFields.tier}}/{{customFields.score}}/"
              "{{customFields.vip}}", 0, "<gold>/7.5/true",
              "custom fields: a string, a number, a boolean");
    render_is("<p>{{customFields.tier}}</p>", 1, "<p>&lt;gold&gt;</p>",
              "html: a custom field escaped");
    render_is("[{{customFields.x|none}}] [{{customFields.gone|-}}]", 0,
              "[none] [-]", "an empty or absent custom field: the default");
    render_is("{{company.customFields.size}} in {{company.address.city}}", 0,
              "40 in London", "a company's custom field, an address's key");

    {
        ngx_str_t  tpl, out;

        tpl.data = (u_char *) "Hi {{company.name|you}}";
        tpl.len = strlen((char *) tpl.data);

        ok(crm_merge_render(pool, &tpl, contact, NULL, 0, &out) == NGX_OK
           && out.len == sizeof("Hi you") - 1
           && ngx_strncmp(out.data, "Hi you", out.len) == 0,
           "no company: the default");

        tpl.data = (u_char *) "Hi {{nope";
        tpl.len = strlen((char *) tpl.data);

        is_int(crm_merge_render(pool, &tpl, contact, company, 0, &out),
               NGX_DECLINED, "a bad template does not render");
    }

    {
        /* a long template grows its buffer */

        ngx_str_t  tpl, out;
        u_char     big[20000];
        size_t     i;

        for (i = 0; i + 14 <= sizeof(big); i += 14) {
            ngx_memcpy(big + i, "{{status}}xxxx", 14);
        }

        tpl.data = big;
        tpl.len = i;

        ok(crm_merge_render(pool, &tpl, contact, company, 1, &out) == NGX_OK
           && out.len == (i / 14) * (sizeof("lead &amp; &lt;co&gt;xxxx")
                                     - 1),
           "a long template, escaped values");
    }

    {
        /* numbers as the API writes them: the digits PostgreSQL gave */

        ngx_str_t    in, out, tpl, text;
        json_t      *c;
        const char  *want;

        in.data = (u_char *) "{\"a\": 0.1, \"b\": [1, -2.5e-7], "
                             "\"s\": \"x1 \\\"2\\\" 3\", \"t\": true, "
                             "\"n\": null, \"big\": 12345678901234567000, "
                             "\"o\": {\"k\": 1e21}}";
        in.len = strlen((char *) in.data);
        want = "{\"a\": \"0.1\", \"b\": [\"1\", \"-2.5e-7\"], "
               "\"s\": \"x1 \\\"2\\\" 3\", \"t\": true, "
               "\"n\": null, \"big\": \"12345678901234567000\", "
               "\"o\": {\"k\": \"1e21\"}}";

        ok(crm_merge_numbers_as_text(pool, in.data, in.len, &out) == NGX_OK
           && out.len == strlen(want)
           && ngx_strncmp(out.data, want, out.len) == 0,
           "numbers as text: every number a string, strings as they are");

        c = json_loadb((char *) out.data, out.len, 0, NULL);

        tpl.data = (u_char *) "{{a}} {{b}} {{big}} {{t}} [{{n|-}}]";
        tpl.len = strlen((char *) tpl.data);

        ok(c != NULL
           && crm_merge_render(pool, &tpl, c, NULL, 0, &text) == NGX_OK
           && text.len == sizeof("0.1 1, -2.5e-7 12345678901234567000 true "
                                 "[-]") - 1
           && ngx_strncmp(text.data, "0.1 1, -2.5e-7 12345678901234567000 "
                          "true [-]", text.len) == 0,
           "numbers as text: merged as written");

        json_decref(c);

        ok(crm_merge_numbers_as_text(pool, (u_char *) "", 0, &out) == NGX_OK
           && out.len == 0, "numbers as text: empty");
    }

    render_is("{{company.address.geo|none}}", 0, "none",
              "an object under a key is no value: the default");

    /* a merged subject is cut to a number of characters */

    is_int(crm_value_utf8_cut((u_char *) "abcdef", 6, 4), 4,
           "cut: ASCII");
    is_int(crm_value_utf8_cut((u_char *) "abc", 3, 4), 3,
           "cut: shorter than the most");
    is_int(crm_value_utf8_cut((u_char *) "\xc3\xa9\xc3\xa9\xc3\xa9", 6, 2),
           4, "cut: two-byte characters whole");
    is_int(crm_value_utf8_cut((u_char *) "a\xf0\x9f\x98\x80" "b", 6, 2), 5,
           "cut: a four-byte character kept whole");
    is_int(crm_value_utf8_cut((u_char *) "a\xf0\x9f\x98\x80" "b", 6, 1), 1,
           "cut: before a four-byte character");
    is_int(crm_value_utf8_cut((u_char *) "", 0, 0), 0, "cut: empty");

    json_decref(contact);
    json_decref(company);
    ngx_destroy_pool(pool);

    return done_testing();
}


static void
check_ok(const char *tpl, const char *name)
{
    ngx_str_t    t;
    crm_error_t  err;

    t.data = (u_char *) tpl;
    t.len = strlen(tpl);

    is_int(crm_merge_check(pool, &t, contacts, companies, custom, &err), NGX_OK,
           "accepted: %s", name);
}


static void
check_bad(const char *tpl, const char *code, const char *frag,
    const char *name)
{
    ngx_int_t    rc;
    ngx_str_t    t;
    crm_error_t  err;

    t.data = (u_char *) tpl;
    t.len = strlen(tpl);

    ngx_memzero(&err, sizeof(crm_error_t));

    rc = crm_merge_check(pool, &t, contacts, companies, custom, &err);

    is_int(rc, NGX_DECLINED, "refused: %s", name);

    ok(err.code.len == strlen(code)
       && ngx_strncmp(err.code.data, code, err.code.len) == 0,
       "refused: %s: code %s", name, code);

    ok(ngx_strnstr(err.message.data, (char *) frag, err.message.len) != NULL
       || frag[0] == '\0',
       "refused: %s: the message names it", name);

    ok(crm_value_utf8(err.message.data, err.message.len, NULL) == NGX_OK,
       "refused: %s: the message is UTF-8", name);
}


static void
render_is(const char *tpl, ngx_uint_t html, const char *want,
    const char *name)
{
    ngx_str_t  t, out;

    t.data = (u_char *) tpl;
    t.len = strlen(tpl);

    if (crm_merge_render(pool, &t, contact, company, html, &out) != NGX_OK) {
        ok(0, "render: %s", name);
        return;
    }

    is_mem(out.data, out.len, want, "render: %s", name);
}
