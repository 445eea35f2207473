
/*
 * Unit tests of the worker's record renderer (src/model/crm_render.c),
 * TAP output.  The expected text is what PostgreSQL's json_build_object()
 * and to_char(... AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
 * made of the same values, without the spaces json_build_object() put
 * around its keys.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <stdio.h>
#include "model/crm.h"
#include "tap.h"


#define CONTACT_ID  "a0000000-0000-4000-8000-000000000001"


static void value(ngx_uint_t type, const char *in, const char *want,
    const char *name);
static void invalid(ngx_uint_t type, const char *in, const char *name);
static ngx_str_t str(const char *s);

static void test_strings(void);
static void test_string_bytes(void);
static u_char *escape(u_char *p, u_char c);
static void test_timestamps(void);
static void test_timestamps_utc(void);
static void test_scalars(void);
static void test_arrays(void);
static void test_rows(void);
static void test_names(void);
static void test_compact(void);
static void test_compact_bytes(void);
static void compact(const char *in, const char *want, const char *name);
static void test_binary(void);
static void test_binary_arrays(void);
static void test_binary_rows(void);
static void bin_value(ngx_uint_t type, u_char *in, size_t len,
    const char *want, const char *name);
static u_char *be32(u_char *p, uint32_t n);
static u_char *be64(u_char *p, uint64_t n);


static ngx_pool_t  *pool;


int
main(void)
{
    ngx_log_t  log;

    ngx_memzero(&log, sizeof(ngx_log_t));

    pool = ngx_create_pool(4096, &log);

    if (pool == NULL) {
        return 1;
    }

    test_strings();
    test_string_bytes();
    test_timestamps();
    test_scalars();
    test_arrays();
    test_rows();
    test_compact();
    test_compact_bytes();
    test_binary();
    test_binary_arrays();
    test_binary_rows();

    ngx_destroy_pool(pool);

    return done_testing();
}


static void
test_strings(void)
{
    u_char  buf[64], *p;

    value(CRM_FT_TEXT, "plain", "\"plain\"", "string: plain");
    value(CRM_FT_TEXT, "", "\"\"", "string: empty");
    value(CRM_FT_TEXT, "say \"hi\"", "\"say \\\"hi\\\"\"",
          "string: quotes escaped");
    value(CRM_FT_TEXT, "C:\\dir\\", "\"C:\\\\dir\\\\\"",
          "string: backslashes escaped");
    value(CRM_FT_TEXT, "a\bb\fc\nd\re\tf", "\"a\\bb\\fc\\nd\\re\\tf\"",
          "string: the short escapes");
    value(CRM_FT_TEXT, "\x01\x1f\x0b", "\"\\u0001\\u001f\\u000b\"",
          "string: other control characters as \\u00xx, lower-case hex");
    value(CRM_FT_TEXT, "del\x7f", "\"del\x7f\"",
          "string: DEL is not a control character for JSON");
    value(CRM_FT_TEXT, "Zo\xc3\xab \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80",
          "\"Zo\xc3\xab \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\"",
          "string: UTF-8 passed through as it is");
    value(CRM_FT_TEXT, "</script>", "\"</script>\"",
          "string: a slash is not escaped");
    value(CRM_FT_EMAIL, "ada@example.com", "\"ada@example.com\"",
          "string: EMAIL");
    value(CRM_FT_ENUM, "customer", "\"customer\"", "string: ENUM");
    value(CRM_FT_UUID, CONTACT_ID, "\"" CONTACT_ID "\"", "string: UUID");

    /* the bound: six bytes for a control character */

    p = crm_render_string(buf, (u_char *) "\x01\x01\x01\x01\x01\x01\x01", 7);
    ok(p - buf == 6 * 7 + 2, "string: 6 * len + 2 at most");
}


/*
 * Every byte at every place of a string longer than the renderer's
 * eight-byte steps is escaped as one byte alone would be
 */

static void
test_string_bytes(void)
{
    u_char      in[36], want[6 * 36 + 2], got[6 * 36 + 2], *p, *w;
    ngx_uint_t  c, pos, i, n, bad;

    /* lengths around the eight-byte words and the overlapping last one */

    static size_t  lens[] = { 1, 7, 8, 9, 15, 16, 19, 36 };

    bad = 0;

    for (n = 0; n < sizeof(lens) / sizeof(lens[0]); n++) {
        for (c = 0; c < 256; c++) {
            for (pos = 0; pos < lens[n]; pos++) {
                ngx_memset(in, 'a', sizeof(in));
                in[pos] = (u_char) c;

                w = want;
                *w++ = '"';

                for (i = 0; i < lens[n]; i++) {
                    w = escape(w, in[i]);
                }

                *w++ = '"';

                p = crm_render_string(got, in, lens[n]);

                if (p - got != w - want
                    || ngx_memcmp(got, want, w - want) != 0)
                {
                    if (bad++ == 0) {
                        diag("byte 0x%02x at %d of %d: %.*s", (int) c,
                             (int) pos, (int) lens[n], (int) (p - got),
                             got);
                    }
                }
            }
        }
    }

    ok(bad == 0, "string: each byte at each place escaped as alone, "
       "strings of 1 to 36 bytes");
}


/* the escape of one byte, as escape_json() writes it */

static u_char *
escape(u_char *p, u_char c)
{
    const char  *e;

    switch (c) {

    case '"':
        e = "\\\"";
        break;

    case '\\':
        e = "\\\\";
        break;

    case '\b':
        e = "\\b";
        break;

    case '\f':
        e = "\\f";
        break;

    case '\n':
        e = "\\n";
        break;

    case '\r':
        e = "\\r";
        break;

    case '\t':
        e = "\\t";
        break;

    default:
        if (c < 0x20) {
            return ngx_sprintf(p, "\\u%04xd", (ngx_uint_t) c);
        }

        *p++ = c;

        return p;
    }

    return ngx_cpymem(p, e, 2);
}


static void
test_timestamps(void)
{
    value(CRM_FT_TIMESTAMP, "2026-01-02 03:04:05.123456+00",
          "\"2026-01-02T03:04:05.123Z\"", "timestamp: microseconds");
    value(CRM_FT_TIMESTAMP, "2026-01-02 03:04:05.999999+00",
          "\"2026-01-02T03:04:05.999Z\"",
          "timestamp: milliseconds truncated, as to_char()'s MS");
    value(CRM_FT_TIMESTAMP, "2026-01-02 03:04:05+00",
          "\"2026-01-02T03:04:05.000Z\"", "timestamp: whole seconds");
    value(CRM_FT_TIMESTAMP, "2026-01-02 03:04:05.5+00",
          "\"2026-01-02T03:04:05.500Z\"", "timestamp: one fraction digit");
    value(CRM_FT_TIMESTAMP, "2026-01-02 03:04:05.05+00",
          "\"2026-01-02T03:04:05.050Z\"", "timestamp: two fraction digits");
    value(CRM_FT_TIMESTAMP, "2026-01-02 03:04:05.000001+00",
          "\"2026-01-02T03:04:05.000Z\"", "timestamp: a microsecond");
    value(CRM_FT_TIMESTAMP, "2026-01-02 08:34:05.1+05:30",
          "\"2026-01-02T03:04:05.100Z\"",
          "timestamp: another session time zone: in UTC");
    value(CRM_FT_TIMESTAMP, "2025-12-31 22:00:00-03",
          "\"2026-01-01T01:00:00.000Z\"",
          "timestamp: a negative offset, into the next year");
    value(CRM_FT_TIMESTAMP, "2024-03-01 00:30:00+01",
          "\"2024-02-29T23:30:00.000Z\"",
          "timestamp: back into a leap day");
    value(CRM_FT_TIMESTAMP, "2023-03-01 00:30:00+01",
          "\"2023-02-28T23:30:00.000Z\"",
          "timestamp: back over a common year's February");
    value(CRM_FT_TIMESTAMP, "1969-12-31 23:59:59.999+00",
          "\"1969-12-31T23:59:59.999Z\"", "timestamp: before 1970");
    value(CRM_FT_TIMESTAMP, "0099-06-01 00:00:00+00",
          "\"0099-06-01T00:00:00.000Z\"",
          "timestamp: a year of two digits has four");
    value(CRM_FT_TIMESTAMP, "10000-01-01 00:00:00+00",
          "\"10000-01-01T00:00:00.000Z\"", "timestamp: five-digit year");
    value(CRM_FT_TIMESTAMP, "0044-03-15 12:00:00+00 BC",
          "\"0044-03-15T12:00:00.000Z\"",
          "timestamp: BC, as to_char()'s YYYY");
    value(CRM_FT_TIMESTAMP, "2026-01-02T03:04:05+00",
          "\"2026-01-02T03:04:05.000Z\"", "timestamp: a T separator");
    value(CRM_FT_TIMESTAMP, "infinity", "null",
          "timestamp: infinity is null, as to_char() made it");
    value(CRM_FT_TIMESTAMP, "-infinity", "null", "timestamp: -infinity");
    value(CRM_FT_TIMESTAMP, NULL, "null", "timestamp: NULL");

    invalid(CRM_FT_TIMESTAMP, "2026-01-02", "timestamp: a date");
    invalid(CRM_FT_TIMESTAMP, "01/02/2026 03:04:05 UTC",
            "timestamp: another DateStyle");
    invalid(CRM_FT_TIMESTAMP, "2026-13-02 03:04:05+00",
            "timestamp: month 13");
    invalid(CRM_FT_TIMESTAMP, "2026-01-02 03:04:05.+00",
            "timestamp: an empty fraction");
    invalid(CRM_FT_TIMESTAMP, "2026-01-02 03:04:05+00x",
            "timestamp: trailing text");
    invalid(CRM_FT_TIMESTAMP, "", "timestamp: empty");
    invalid(CRM_FT_TIMESTAMP, "2026-01-02 25:04:05+00", "timestamp: hour 25");
    invalid(CRM_FT_TIMESTAMP, "2026-01-02 03:60:05.5+00",
            "timestamp: minute 60");
    invalid(CRM_FT_TIMESTAMP, "2026-00-02 03:04:05+00", "timestamp: month 0");
    invalid(CRM_FT_TIMESTAMP, "2026-01-32 03:04:05+00", "timestamp: day 32");
    invalid(CRM_FT_TIMESTAMP, "2026-01-02 03:04:0x+00",
            "timestamp: a letter for a digit");
    invalid(CRM_FT_TIMESTAMP, "2026-01-02 03:04:05.12a+00",
            "timestamp: a letter in the fraction");
    invalid(CRM_FT_TIMESTAMP, "2026-01-02 03:04:05x1+00",
            "timestamp: no point before the fraction");
    value(CRM_FT_TIMESTAMP, "2026-01-02 03:04:05.1234567+00",
          "\"2026-01-02T03:04:05.123Z\"",
          "timestamp: seven digits of fraction (not PostgreSQL's) truncated");

    test_timestamps_utc();

    value(CRM_FT_DATE, "2026-03-31", "\"2026-03-31\"", "date: as it is");
    value(CRM_FT_DATE, "0044-03-15 BC", "\"0044-03-15\"", "date: BC");
    value(CRM_FT_DATE, "infinity", "null", "date: infinity is null");
    invalid(CRM_FT_DATE, "31.03.2026", "date: another DateStyle");
}


static void
test_scalars(void)
{
    value(CRM_FT_INT, "42", "42", "int: bare");
    value(CRM_FT_INT, "-9223372036854775808", "-9223372036854775808",
          "int: the smallest bigint");
    value(CRM_FT_NUMERIC, "1200.50", "1200.50",
          "numeric: bare, its scale kept");
    value(CRM_FT_NUMERIC, "-0.5", "-0.5", "numeric: negative fraction");
    value(CRM_FT_NUMERIC, "12345678901234567890123456789012.75",
          "12345678901234567890123456789012.75", "numeric: long");
    value(CRM_FT_NUMERIC, "NaN", "\"NaN\"", "numeric: NaN is a string");
    value(CRM_FT_NUMERIC, "Infinity", "\"Infinity\"",
          "numeric: Infinity is a string");
    value(CRM_FT_NUMERIC, "-Infinity", "\"-Infinity\"",
          "numeric: -Infinity is a string");
    value(CRM_FT_NUMERIC, NULL, "null", "numeric: NULL");

    value(CRM_FT_BOOL, "t", "true", "bool: t");
    value(CRM_FT_BOOL, "f", "false", "bool: f");
    value(CRM_FT_BOOL, "true", "true", "bool: true (a ::text cast)");
    value(CRM_FT_BOOL, "false", "false", "bool: false");
    value(CRM_FT_BOOL, NULL, "null", "bool: NULL");
    invalid(CRM_FT_BOOL, "", "bool: empty");

    value(CRM_FT_OBJECT, "{\"tier\": 2, \"a\": [1, \"x\"]}",
          "{\"tier\":2,\"a\":[1,\"x\"]}",
          "jsonb: compact, key order kept");
    value(CRM_FT_OBJECT, "{\"a b\": \"c, d: e\", \"q\": \"\\\" }\"}",
          "{\"a b\":\"c, d: e\",\"q\":\"\\\" }\"}",
          "jsonb: spaces in strings kept, after an escaped quote too");
    value(CRM_FT_OBJECT, "{}", "{}", "jsonb: empty object");
    value(CRM_FT_LIST, "[{\"name\": \"Intro\"}]", "[{\"name\":\"Intro\"}]",
          "jsonb: a list");
    value(CRM_FT_OBJECT, NULL, "null", "jsonb: NULL");
    value(CRM_FT_TEXT, NULL, "null", "text: NULL");

    value(CRM_FT_UUID, CONTACT_ID, "\"" CONTACT_ID "\"",
          "uuid: copied in quotes");
    value(CRM_FT_UUID, NULL, "null", "uuid: NULL");
    value(CRM_FT_UUID, "abc", "\"abc\"", "uuid: not 36 long, a string");
    value(CRM_FT_UUID, "c0000000-0000-4000-8000-0000000000\"a",
          "\"c0000000-0000-4000-8000-0000000000\\\"a\"",
          "uuid: 36 long with a quote in its last word, escaped");
    value(CRM_FT_UUID, "\"0000000-0000-4000-8000-00000000000a",
          "\"\\\"0000000-0000-4000-8000-00000000000a\"",
          "uuid: 36 long with a quote in its first word, escaped");
    value(CRM_FT_UUID, "c0000000-0000-4000-8000-00000000\n00a",
          "\"c0000000-0000-4000-8000-00000000\\n00a\"",
          "uuid: a control character in the overlap, escaped");
}


static void
test_arrays(void)
{
    value(CRM_FT_TEXT_ARRAY, "{}", "[]", "array: empty");
    value(CRM_FT_TEXT_ARRAY, "{vip}", "[\"vip\"]", "array: one");
    value(CRM_FT_TEXT_ARRAY, "{a,b,c}", "[\"a\",\"b\",\"c\"]",
          "array: compact, as array_to_json()");
    value(CRM_FT_TEXT_ARRAY,
          "{\"b c\",\"x\\\"y\",\"back\\\\slash\",NULL,\"NULL\",\"\"}",
          "[\"b c\",\"x\\\"y\",\"back\\\\slash\",null,\"NULL\",\"\"]",
          "array: quoted elements unescaped, then escaped for JSON");
    value(CRM_FT_TEXT_ARRAY, "{\"a,b\",\"{c}\"}", "[\"a,b\",\"{c}\"]",
          "array: delimiters inside quotes");
    value(CRM_FT_TEXT_ARRAY, "{\"tab\there\",Zo\xc3\xab}",
          "[\"tab\\there\",\"Zo\xc3\xab\"]",
          "array: control character, UTF-8");
    value(CRM_FT_TEXT_ARRAY, "{{a,b},{c,NULL}}",
          "[[\"a\",\"b\"],[\"c\",null]]", "array: two dimensions");
    value(CRM_FT_TEXT_ARRAY, "[0:1]={a,b}", "[\"a\",\"b\"]",
          "array: bounds decoration");
    value(CRM_FT_UUID_ARRAY, "{" CONTACT_ID "," CONTACT_ID "}",
          "[\"" CONTACT_ID "\",\"" CONTACT_ID "\"]", "array: of uuids");
    value(CRM_FT_TEXT_ARRAY, NULL, "null", "array: NULL");

    invalid(CRM_FT_TEXT_ARRAY, "{a,b", "array: unterminated");
    invalid(CRM_FT_TEXT_ARRAY, "{\"a}", "array: unterminated quote");
    invalid(CRM_FT_TEXT_ARRAY, "{a}x", "array: trailing text");
    invalid(CRM_FT_TEXT_ARRAY, "a,b", "array: no braces");
}


static void
test_rows(void)
{
    u_char          *buf, *p, select[CRM_MAX_FIELDS];
    size_t           size;
    ngx_str_t        cols[CRM_MAX_FIELDS];
    ngx_uint_t       i;
    crm_resource_t  *contacts, *users;

    static const char  *row[] = {
        CONTACT_ID, "Ada", "Love\"lace", "ada@example.com", NULL, NULL,
        "c0000000-0000-4000-8000-00000000000a", NULL, "customer", NULL,
        "{vip}", "{}", "2026-01-02 00:00:00+00",
        "2026-01-03 04:05:06.789+00"
    };

    contacts = crm_schema_find(&(ngx_str_t) ngx_string("contacts"));

    ok(crm_render_ncols(contacts, NULL) == 14, "row: 14 contact fields");

    for (i = 0; i < 14; i++) {
        cols[i] = str(row[i]);
    }

    size = crm_render_size(contacts, NULL, cols);
    buf = ngx_pnalloc(pool, size);

    p = crm_render_row(buf, contacts, NULL, cols);
    ok(p != NULL && (size_t) (p - buf) <= size, "row: within the bound");
    is_mem(buf, p ? p - buf : 0,
           "{\"id\":\"" CONTACT_ID "\",\"firstName\":\"Ada\","
           "\"lastName\":\"Love\\\"lace\",\"email\":\"ada@example.com\","
           "\"phone\":null,\"title\":null,"
           "\"companyId\":\"c0000000-0000-4000-8000-00000000000a\","
           "\"ownerId\":null,\"status\":\"customer\",\"source\":null,"
           "\"tags\":[\"vip\"],\"customFields\":{},"
           "\"createdAt\":\"2026-01-02T00:00:00.000Z\","
           "\"updatedAt\":\"2026-01-03T04:05:06.789Z\"}",
           "row: compact, in descriptor order, nulls as null");

    /* fields=email,updatedAt: the id always, then those */

    ngx_memzero(select, sizeof(select));
    select[crm_schema_field_index(contacts,
                                  crm_schema_field(contacts,
                                                   (u_char *) "email", 5))]
        = 1;
    select[crm_schema_field_index(contacts,
                                  crm_schema_field(contacts,
                                                   (u_char *) "updatedAt",
                                                   9))]
        = 1;

    ok(crm_render_ncols(contacts, select) == 3, "select: 3 columns");

    cols[0] = str(CONTACT_ID);
    cols[1] = str("ada@example.com");
    cols[2] = str("2026-01-03 04:05:06.789+00");

    buf = ngx_pnalloc(pool, crm_render_size(contacts, select, cols));
    p = crm_render_row(buf, contacts, select, cols);
    is_mem(buf, p ? p - buf : 0,
           "{\"id\":\"" CONTACT_ID "\",\"email\":\"ada@example.com\","
           "\"updatedAt\":\"2026-01-03T04:05:06.789Z\"}",
           "select: the id and the selected fields");

    /* a bad value fails the row */

    cols[2] = str("yesterday");
    p = crm_render_row(buf, contacts, select, cols);
    ok(p == NULL, "row: a value not of its type's form is NULL");

    /* a write-only field is never a column */

    users = crm_schema_find(&(ngx_str_t) ngx_string("users"));

    for (i = 0; i < users->nfields; i++) {
        if (users->fields[i].flags & CRM_F_WRITEONLY) {
            ok(!crm_render_field(users, NULL, i),
               "row: write-only %s not rendered",
               (char *) users->fields[i].name.data);
        }
    }

    ok(crm_render_field(contacts, select, 0),
       "row: the id rendered when not selected");

    test_names();
}


/* crm_render_row() copies the descriptors' names as they are */

static void
test_names(void)
{
    u_char          *s, *last;
    ngx_uint_t       i, j, n, bad;
    crm_resource_t  *all;

    all = crm_schema_all(&n);
    bad = 0;

    for (i = 0; i < n; i++) {
        for (j = 0; j < all[i].nfields; j++) {
            s = all[i].fields[j].name.data;
            last = s + all[i].fields[j].name.len;

            for ( ; s < last; s++) {
                if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')
                      || (*s >= '0' && *s <= '9') || *s == '_'))
                {
                    bad++;
                    diag("%s.%s: not a bare name",
                         (char *) all[i].name.data,
                         (char *) all[i].fields[j].name.data);
                    break;
                }
            }
        }
    }

    ok(n > 10 && bad == 0,
       "names: every field of the %d resources is letters, digits or _",
       (int) n);
}


static void
value(ngx_uint_t type, const char *in, const char *want, const char *name)
{
    u_char       buf[512], *p;
    ngx_str_t    v;
    crm_field_t  f;

    ngx_memzero(&f, sizeof(crm_field_t));
    ngx_str_set(&f.name, "f");
    f.type = type;

    v = str(in);

    p = crm_render_value(buf, &f, &v);

    if (p == NULL) {
        ok(0, "%s (NULL)", name);
        return;
    }

    is_mem(buf, p - buf, want, "%s", name);
}


static void
invalid(ngx_uint_t type, const char *in, const char *name)
{
    u_char       buf[512];
    ngx_str_t    v;
    crm_field_t  f;

    ngx_memzero(&f, sizeof(crm_field_t));
    f.type = type;

    v = str(in);

    ok(crm_render_value(buf, &f, &v) == NULL, "%s: refused", name);
}


static ngx_str_t
str(const char *s)
{
    ngx_str_t  v;

    if (s == NULL) {
        ngx_str_null(&v);
        return v;
    }

    v.data = (u_char *) s;
    v.len = ngx_strlen(s);

    return v;
}


static void
compact(const char *in, const char *want, const char *name)
{
    u_char  buf[256], *p;
    size_t  len;

    len = ngx_strlen(in);

    p = crm_render_compact(buf, (u_char *) in, len);

    if (!ok((size_t) (p - buf) == ngx_strlen(want)
            && ngx_memcmp(buf, want, p - buf) == 0, name))
    {
        diag("got: %.*s", (int) (p - buf), buf);
    }

    /* in place: the same */

    ngx_memcpy(buf, in, len);
    p = crm_render_compact(buf, buf, len);

    ok((size_t) (p - buf) == ngx_strlen(want)
       && ngx_memcmp(buf, want, p - buf) == 0, "%s (in place)", name);
}


static void
test_compact(void)
{
    compact("{\"id\" : \"x\", \"n\" : 1, \"a\" : [1, 2], \"o\" : {}}",
            "{\"id\":\"x\",\"n\":1,\"a\":[1,2],\"o\":{}}",
            "compact: json_build_object()'s spacing");
    compact("{\n  \"a\": [\n    true,\r\n\tnull\n  ]\n}",
            "{\"a\":[true,null]}",
            "compact: new lines, tabs, carriage returns");
    compact("\"  a long string , with : spaces and \\\\ \\\" quotes \" ",
            "\"  a long string , with : spaces and \\\\ \\\" quotes \"",
            "compact: a string is copied as it is, escapes included");
    compact("[\"\\\\\", \"x\"]", "[\"\\\\\",\"x\"]",
            "compact: an escaped backslash before the closing quote");
    compact("", "", "compact: nothing");
    compact("{\"a\": -1.5e+3, \"b\": \"\\u0020 \"}",
            "{\"a\":-1.5e+3,\"b\":\"\\u0020 \"}",
            "compact: numbers and \\u escapes");
    compact("\"open string  ", "\"open string  ",
            "compact: an unterminated string is copied to its end");
}


/*
 * A quote, a backslash and a space at every place of a string longer than
 * the eight-byte steps, inside and after the string
 */

static void
test_compact_bytes(void)
{
    u_char      in[40], got[40], want[40], *p, *w;
    ngx_uint_t  c, pos, i, bad;
    u_char      chars[] = { ' ', '"', '\\', 'a', '\t', 0xc3 };

    bad = 0;

    for (c = 0; c < sizeof(chars); c++) {
        for (pos = 1; pos < 20; pos++) {

            /* "aaaa<c>aaaa" , "b" with <c> escaped if it must be */

            p = in;
            *p++ = '"';

            for (i = 1; i < 21; i++) {
                if (i == pos) {
                    if (chars[c] == '"' || chars[c] == '\\') {
                        *p++ = '\\';
                    }

                    *p++ = chars[c];

                } else {
                    *p++ = 'a';
                }
            }

            p = ngx_cpymem(p, "\" , \"b\"", 7);

            /* want: the string as it is, then ,"b" */

            w = ngx_cpymem(want, in, (p - in) - 7);
            w = ngx_cpymem(w, "\",\"b\"", 5);

            got[0] = 0;
            i = crm_render_compact(got, in, p - in) - got;

            if (i != (ngx_uint_t) (w - want)
                || ngx_memcmp(got, want, i) != 0)
            {
                if (bad++ == 0) {
                    diag("char %02x at %d: %.*s", (int) chars[c], (int) pos,
                         (int) i, got);
                }
            }
        }
    }

    ok(bad == 0, "compact: quotes, backslashes, spaces at every place of "
       "a long string (%d wrong)", (int) bad);
}


/*
 * The UTC form ("...+00") is copied; the same time with "+00:00" goes
 * through the parser: both give the same text, for times all over the
 * calendar and fractions of every length
 */

static void
test_timestamps_utc(void)
{
    u_char      in[64], a[64], b[64], *pa, *pb;
    uint32_t    x;
    ngx_int_t   i, k, bad, n;
    crm_field_t  f;
    ngx_str_t   v;

    ngx_memzero(&f, sizeof(crm_field_t));
    f.type = CRM_FT_TIMESTAMP;

    x = 2463534242;
    bad = 0;

    for (i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;

        n = snprintf((char *) in, 32, "%04d-%02d-%02d %02d:%02d:%02d",
                     (int) (1 + x % 9999), (int) (1 + (x >> 3) % 12),
                     (int) (1 + (x >> 7) % 28), (int) ((x >> 11) % 24),
                     (int) ((x >> 15) % 60), (int) ((x >> 21) % 60));

        /* 0 to 6 digits of fraction */

        k = (x >> 27) % 7;

        if (k > 0) {
            n += snprintf((char *) in + n, 32, ".%06d",
                          (int) ((x >> 4) % 1000000));
            n -= 6 - k;
        }

        v.data = in;
        v.len = ngx_sprintf(in + n, "+00") - in;
        pa = crm_render_value(a, &f, &v);

        v.len = ngx_sprintf(in + n, "+00:00") - in;
        pb = crm_render_value(b, &f, &v);

        if (pa == NULL || pb == NULL || pa - a != pb - b
            || ngx_memcmp(a, b, pa - a) != 0)
        {
            if (bad++ == 0) {
                diag("%.*s: %.*s vs %.*s", (int) v.len, in,
                     (int) (pa ? pa - a : 0), a, (int) (pb ? pb - b : 0), b);
            }
        }
    }

    ok(bad == 0, "timestamp: the UTC form copied as the parser renders it, "
       "20000 times (%d differ)", (int) bad);
}


/*
 * Binary results (crm_render_bin_*()): the JSON of each value is the
 * JSON of its text output, and a sort key's text is what PostgreSQL
 * writes (the pairs below from PostgreSQL 15, TimeZone UTC)
 */

static void
test_binary(void)
{
    u_char       b[8], buf[128], want[128], *p, *q;
    ngx_str_t    v, t;
    ngx_uint_t   i;
    crm_field_t  f;

    static struct {
        int64_t      us;                /* since 2000-01-01 UTC */
        const char  *text;              /* timestamptz_out() */
    } ts[] = {
        { 0, "2000-01-01 00:00:00+00" },
        { 820540799000000LL, "2025-12-31 23:59:59+00" },
        { 849918999271842LL, "2026-12-07 00:36:39.271842+00" },
        { -1, "1999-12-31 23:59:59.999999+00" },
        { -946684799990000LL, "1970-01-01 00:00:00.01+00" },
        { -64464465599500000LL, "0044-03-15 12:00:00.5+00 BC" },
        { -211781865600000000LL, "4713-11-24 00:00:00+00 BC" },
        { 326470291750123456LL, "12345-06-07 08:09:10.123456+00" },
    };

    ngx_memzero(&f, sizeof(crm_field_t));
    f.type = CRM_FT_TIMESTAMP;

    for (i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
        be64(b, (uint64_t) ts[i].us);
        v.data = b;
        v.len = 8;

        t = str(ts[i].text);
        q = crm_render_value(want, &f, &t);
        p = crm_render_bin_value(buf, &f, &v);

        ok(p != NULL && q != NULL && p - buf == q - want
           && ngx_memcmp(buf, want, p - buf) == 0,
           "binary: timestamp %s as its text renders", ts[i].text);

        p = crm_render_bin_text(buf, &f, &v);
        is_mem(buf, p ? p - buf : 0, ts[i].text,
               "binary: timestamp %s written back as PostgreSQL does",
               ts[i].text);
    }

    be64(b, 0x7fffffffffffffffULL);
    bin_value(CRM_FT_TIMESTAMP, b, 8, "null", "binary: infinity is null");
    p = crm_render_bin_text(buf, &f, &v);
    is_mem(buf, p ? p - buf : 0, "infinity",
           "binary: infinity written back");
    be64(b, 0x8000000000000000ULL);
    bin_value(CRM_FT_TIMESTAMP, b, 8, "null", "binary: -infinity is null");
    p = crm_render_bin_text(buf, &f, &v);
    is_mem(buf, p ? p - buf : 0, "-infinity",
           "binary: -infinity written back");
    ok(crm_render_bin_value(buf, &f, &(ngx_str_t) { 4, b }) == NULL,
       "binary: a timestamp of 4 bytes refused");

    /* uuid */

    ngx_memcpy(b, "\xa0\x00\x00\x00\x00\x00\x40\x00", 8);
    ngx_memcpy(buf + 64, b, 8);
    ngx_memcpy(buf + 72, "\x80\x00\x00\x00\x00\x00\x00\x01", 8);
    bin_value(CRM_FT_UUID, buf + 64, 16, "\"" CONTACT_ID "\"",
              "binary: uuid");
    bin_value(CRM_FT_UUID, buf + 64, 15, NULL,
              "binary: a uuid of 15 bytes");

    f.type = CRM_FT_UUID;
    v.data = buf + 64;
    v.len = 16;
    p = crm_render_bin_text(want, &f, &v);
    is_mem(want, p ? p - want : 0, CONTACT_ID,
           "binary: uuid written back");

    /* integers by their length, booleans, text, jsonb and json */

    bin_value(CRM_FT_INT, (u_char *) "\xff\xfb", 2, "-5", "binary: int2");
    bin_value(CRM_FT_INT, (u_char *) "\x7f\xff\xff\xff", 4, "2147483647",
              "binary: int4");
    bin_value(CRM_FT_INT, (u_char *) "\x80\0\0\0\0\0\0\0", 8,
              "-9223372036854775808", "binary: int8");
    bin_value(CRM_FT_INT, (u_char *) "\0\0\1", 3, NULL,
              "binary: an integer of 3 bytes");

    f.type = CRM_FT_INT;
    v.data = (u_char *) "\0\0\0\0\0\0\x30\x39";
    v.len = 8;
    p = crm_render_bin_text(want, &f, &v);
    is_mem(want, p ? p - want : 0, "12345", "binary: int8 written back");

    bin_value(CRM_FT_BOOL, (u_char *) "\1", 1, "true", "binary: true");
    bin_value(CRM_FT_BOOL, (u_char *) "\0", 1, "false", "binary: false");
    bin_value(CRM_FT_BOOL, (u_char *) "\0\0", 2, NULL,
              "binary: a boolean of 2 bytes");

    f.type = CRM_FT_BOOL;
    v.data = (u_char *) "\1";
    v.len = 1;
    p = crm_render_bin_text(want, &f, &v);
    is_mem(want, p ? p - want : 0, "t", "binary: true written back");

    bin_value(CRM_FT_TEXT, (u_char *) "say \"hi\"\n", 9,
              "\"say \\\"hi\\\"\\n\"", "binary: text escaped");
    bin_value(CRM_FT_OBJECT, (u_char *) "\1{\"a\": [1, \"b c\"]}", 18,
              "{\"a\":[1,\"b c\"]}", "binary: jsonb without white space");
    bin_value(CRM_FT_OBJECT, (u_char *) "{\"a\": 1}", 8, "{\"a\":1}",
              "binary: json without white space");
    bin_value(CRM_FT_NUMERIC, (u_char *) "\0\1", 2, NULL,
              "binary: numeric is not rendered from binary");

    f.type = CRM_FT_NUMERIC;
    ok(!crm_render_bin_type(&f), "binary: numeric fetched as text");
    f.type = CRM_FT_DATE;
    ok(!crm_render_bin_type(&f), "binary: date fetched as text");
    f.type = CRM_FT_TEXT_ARRAY;
    ok(crm_render_bin_type(&f) && !crm_render_bin_key(&f),
       "binary: an array rendered, not a sort key");

    /* the column types each field is read from (pg_type's oids) */

    f.type = CRM_FT_UUID;
    ok(crm_render_bin_oid(&f, 2950) && !crm_render_bin_oid(&f, 25),
       "binary: a uuid field from uuid only");
    f.type = CRM_FT_INT;
    ok(crm_render_bin_oid(&f, 20) && crm_render_bin_oid(&f, 23)
       && crm_render_bin_oid(&f, 21) && !crm_render_bin_oid(&f, 1700),
       "binary: an integer from int8, int4, int2, not numeric");
    f.type = CRM_FT_OBJECT;
    ok(crm_render_bin_oid(&f, 3802) && crm_render_bin_oid(&f, 114)
       && !crm_render_bin_oid(&f, 25),
       "binary: an object from jsonb or json");
    f.type = CRM_FT_TEXT;
    ok(crm_render_bin_oid(&f, 25) && crm_render_bin_oid(&f, 1043)
       && !crm_render_bin_oid(&f, 2950),
       "binary: text from text or varchar, not uuid");
    f.type = CRM_FT_NUMERIC;
    ok(!crm_render_bin_oid(&f, 1700), "binary: numeric from none");
}


static void
test_binary_arrays(void)
{
    u_char  a[256], *p;

    /* {} */

    p = be32(be32(be32(a, 0), 0), 25);
    bin_value(CRM_FT_TEXT_ARRAY, a, p - a, "[]", "binary: empty array");

    /* {a,"b c",NULL,"say \"hi\""} */

    p = be32(be32(be32(a, 1), 1), 25);
    p = be32(be32(p, 4), 1);
    p = be32(p, 1);
    *p++ = 'a';
    p = be32(p, 3);
    p = ngx_cpymem(p, "b c", 3);
    p = be32(p, 0xffffffff);
    p = be32(p, 8);
    p = ngx_cpymem(p, "say \"hi\"", 8);
    bin_value(CRM_FT_TEXT_ARRAY, a, p - a,
              "[\"a\",\"b c\",null,\"say \\\"hi\\\"\"]",
              "binary: text[] with a NULL and quotes");
    bin_value(CRM_FT_TEXT_ARRAY, a, p - a - 1, NULL,
              "binary: a truncated array");

    /* {{a,b},{c,d}}, lower bounds 0 */

    p = be32(be32(be32(a, 2), 0), 25);
    p = be32(be32(p, 2), 0);
    p = be32(be32(p, 2), 0);
    p = be32(p, 1); *p++ = 'a';
    p = be32(p, 1); *p++ = 'b';
    p = be32(p, 1); *p++ = 'c';
    p = be32(p, 1); *p++ = 'd';
    bin_value(CRM_FT_TEXT_ARRAY, a, p - a, "[[\"a\",\"b\"],[\"c\",\"d\"]]",
              "binary: two dimensions");

    p = be32(p, 1); *p++ = 'e';
    bin_value(CRM_FT_TEXT_ARRAY, a, p - a, NULL,
              "binary: bytes after the last element");

    /* uuid[] */

    p = be32(be32(be32(a, 1), 0), 2950);
    p = be32(be32(p, 1), 1);
    p = be32(p, 16);
    p = ngx_cpymem(p, "\xa0\0\0\0\0\0\x40\0\x80\0\0\0\0\0\0\1", 16);
    bin_value(CRM_FT_UUID_ARRAY, a, p - a, "[\"" CONTACT_ID "\"]",
              "binary: uuid[]");

    p = be32(be32(be32(a, 1), 0), 2950);
    p = be32(be32(p, 1), 1);
    p = be32(p, 4);
    p = ngx_cpymem(p, "abcd", 4);
    bin_value(CRM_FT_UUID_ARRAY, a, p - a, NULL,
              "binary: a uuid[] element of 4 bytes");

    p = be32(be32(be32(a, 7), 0), 25);
    bin_value(CRM_FT_TEXT_ARRAY, a, p - a, NULL,
              "binary: more dimensions than PostgreSQL has");
}


/* a contact's row from binary columns is its row from text columns */

static void
test_binary_rows(void)
{
    u_char          *buf, *p, *q, *want, tags[64], *t;
    size_t           size;
    ngx_str_t        cols[CRM_MAX_FIELDS], text[CRM_MAX_FIELDS];
    ngx_uint_t       i;
    crm_resource_t  *contacts;
    u_char           b1[8], b2[8];

    static const char  *row[] = {
        CONTACT_ID, "Ada", "Love\"lace", "ada@example.com", NULL, NULL,
        NULL, NULL, "customer", NULL, "{vip}", "{\"n\": 1}",
        "2025-12-31 23:59:59+00", "2026-12-07 00:36:39.271842+00"
    };

    contacts = crm_schema_find(&(ngx_str_t) ngx_string("contacts"));

    for (i = 0; i < 14; i++) {
        text[i] = str(row[i]);
        cols[i] = text[i];
    }

    for (i = 0; i < contacts->nfields; i++) {
        if (crm_render_field(contacts, NULL, i)) {
            ok(crm_render_bin_type(&contacts->fields[i]),
               "binary rows: contacts.%s rendered from binary",
               (char *) contacts->fields[i].name.data);
        }
    }

    cols[0].data = (u_char *) "\xa0\0\0\0\0\0\x40\0\x80\0\0\0\0\0\0\1";
    cols[0].len = 16;

    t = be32(be32(be32(tags, 1), 0), 25);
    t = be32(be32(t, 1), 1);
    t = be32(t, 3);
    t = ngx_cpymem(t, "vip", 3);
    cols[10].data = tags;
    cols[10].len = t - tags;

    cols[11] = str("\1{\"n\": 1}");

    be64(b1, 820540799000000ULL);
    be64(b2, 849918999271842ULL);
    cols[12].data = b1;
    cols[12].len = 8;
    cols[13].data = b2;
    cols[13].len = 8;

    size = crm_render_bin_size(contacts, NULL, cols);
    buf = ngx_pnalloc(pool, size);
    want = ngx_pnalloc(pool, crm_render_size(contacts, NULL, text));

    p = crm_render_bin_row(buf, contacts, NULL, cols);
    q = crm_render_row(want, contacts, NULL, text);

    ok(p != NULL && (size_t) (p - buf) <= size,
       "binary rows: within the bound");
    ok(p != NULL && q != NULL && p - buf == q - want
       && ngx_memcmp(buf, want, p - buf) == 0,
       "binary rows: the text row's JSON");

    cols[12].len = 7;
    ok(crm_render_bin_row(buf, contacts, NULL, cols) == NULL,
       "binary rows: a value not of its type's form is NULL");
}


static void
bin_value(ngx_uint_t type, u_char *in, size_t len, const char *want,
    const char *name)
{
    u_char       buf[512], *p;
    ngx_str_t    v;
    crm_field_t  f;

    ngx_memzero(&f, sizeof(crm_field_t));
    f.type = type;

    v.data = in;
    v.len = len;

    p = crm_render_bin_value(buf, &f, &v);

    if (want == NULL) {
        ok(p == NULL, "%s: refused", name);
        return;
    }

    if (p == NULL) {
        ok(0, "%s (NULL)", name);
        return;
    }

    ok((size_t) (p - buf) <= 6 * len + 40, "%s: within the bound", name);
    is_mem(buf, p - buf, want, "%s", name);
}


static u_char *
be32(u_char *p, uint32_t n)
{
    *p++ = (u_char) (n >> 24);
    *p++ = (u_char) (n >> 16);
    *p++ = (u_char) (n >> 8);
    *p++ = (u_char) n;

    return p;
}


static u_char *
be64(u_char *p, uint64_t n)
{
    p = be32(p, (uint32_t) (n >> 32));
    return be32(p, (uint32_t) n);
}
