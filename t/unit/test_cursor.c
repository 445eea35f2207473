
/*
 * Unit tests of the cursor codec (src/crm_cursor.c), TAP output.
 *
 * The known answers were computed independently (Python's hmac, hashlib
 * and base64) from the layout documented at the top of crm_cursor.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "model/crm.h"
#include "tap.h"


#define UUID_A    "33333333-3333-3333-3333-333333333333"
#define TS_PG     "2026-01-15 10:30:00.123456+00"

#define WS_A      "11111111-1111-4111-8111-111111111111"
#define WS_B      "22222222-2222-4222-8222-222222222222"

#define KAT_FORWARD                                                          \
    "AgD3NCuLl9c9zQIAAB0yMDI2LTAxLTE1IDEwOjMwOjAwLjEyMzQ1NiswMAAAJDMzMzMz"   \
    "MzMzLTMzMzMtMzMzMy0zMzMzLTMzMzMzMzMzMzMzM_mmHDA60-9opmIlO82ycDQ"

#define KAT_BACKWARD_NULL                                                    \
    "AgGRVi1ULst_MAIBAAAkMzMzMzMzMzMtMzMzMy0zMzMzLTMzMzMtMzMzMzMzMzMzMzMz"   \
    "Vn6CGwK1igMTNm0pJwRI5g"

/* status=lead&tags[in]=vip,b&q=ann */
#define KAT_FILTERED                                                         \
    "AgBSfLws5-k24wIAAB0yMDI2LTAxLTE1IDEwOjMwOjAwLjEyMzQ1NiswMAAAJDMzMzMz"   \
    "MzMzLTMzMzMtMzMzMy0zMzMzLTMzMzMzMzMzMzMzM7he6HHaVcwuFq82Gx-gU8o"

/* the key of "contacts" in WS_A under "secret", and a cursor made with it */
#define KAT_KEY                                                              \
    "4258bb644d265acc902e45f3ea1e0cb2af415a72b40d3f2cda50f15c472377d2"

#define KAT_KEYED                                                            \
    "AgD3NCuLl9c9zQIAAB0yMDI2LTAxLTE1IDEwOjMwOjAwLjEyMzQ1NiswMAAAJDMzMzMz"   \
    "MzMzLTMzMzMtMzMzMy0zMzMzLTMzMzMzMzMzMzMzM9c-_yJNEi3rjRvtV0vWpYk"


static ngx_int_t query(crm_resource_t *res, const char *args,
    crm_query_t *q);
static ngx_int_t encode(crm_query_t *q, ngx_uint_t backward,
    const char *k1, const char *k2, const char *k3, const char *k4,
    ngx_str_t *out);
static ngx_int_t decode(crm_query_t *q, const char *cursor, size_t len);
static ngx_int_t list_key(const char *ws, const char *list, ngx_str_t *key);
static ngx_int_t encode_with(ngx_str_t *key, crm_query_t *q, ngx_str_t *out);
static ngx_int_t decode_with(ngx_str_t *key, crm_query_t *q, ngx_str_t *in);
static ngx_int_t forge(crm_query_t *q, u_char *body, size_t len,
    ngx_str_t *out);
static size_t shape(crm_query_t *q, u_char *p);
static ngx_int_t key_is(crm_query_t *q, ngx_uint_t i, const char *want);
static char *repeat(const char *s, ngx_uint_t n);

static void test_known_answers(void);
static void test_round_trip(void);
static void test_keys(void);
static void test_timestamps(void);
static void test_tamper(void);
static void test_sort_binding(void);
static void test_filter_binding(void);
static void test_list_binding(void);
static void test_structure(void);
static void test_base64(void);
static void test_length(void);
static void test_errors(void);


static ngx_pool_t      *pool;
static crm_resource_t  *contacts;
static crm_resource_t  *companies;
static ngx_str_t        secret = ngx_string("0123456789abcdef0123456789abcdef");


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

    if (contacts == NULL || companies == NULL) {
        diag("no contacts or companies in crm_schema.c");
        return 1;
    }

    test_known_answers();
    test_round_trip();
    test_keys();
    test_timestamps();
    test_tamper();
    test_sort_binding();
    test_filter_binding();
    test_list_binding();
    test_structure();
    test_base64();
    test_length();
    test_errors();

    ngx_destroy_pool(pool);

    return done_testing();
}


static void
test_known_answers(void)
{
    ngx_str_t    out;
    crm_query_t  q;

    query(contacts, "", &q);

    ok(encode(&q, 0, TS_PG, UUID_A, NULL, NULL, &out) == NGX_OK,
       "encode: NGX_OK");
    is_mem(out.data, out.len, KAT_FORWARD,
           "encode: the documented layout, forward");

    query(contacts, "sort=title", &q);

    ok(encode(&q, 1, NULL, UUID_A, NULL, NULL, &out) == NGX_OK,
       "encode with a NULL key: NGX_OK");
    is_mem(out.data, out.len, KAT_BACKWARD_NULL,
           "encode: the documented layout, backward, a NULL key");

    query(contacts, "", &q);
    ok(decode(&q, KAT_FORWARD, sizeof(KAT_FORWARD) - 1) == NGX_OK,
       "decode the known answer");
    ok(q.has_cursor && !q.backward && key_is(&q, 0, TS_PG)
       && key_is(&q, 1, UUID_A),
       "known answer: keys and direction");

    query(contacts, "sort=title", &q);
    ok(decode(&q, KAT_BACKWARD_NULL, sizeof(KAT_BACKWARD_NULL) - 1)
       == NGX_OK && q.has_cursor && q.backward && q.key_null[0]
       && q.key[0].len == 0 && !q.key_null[1] && key_is(&q, 1, UUID_A),
       "known answer: backward, NULL key");
}


static void
test_round_trip(void)
{
    size_t       i;
    ngx_int_t    rc;
    ngx_str_t    a, b;
    ngx_uint_t   clean;
    crm_query_t  q;

    query(contacts, "", &q);

    encode(&q, 0, TS_PG, UUID_A, NULL, NULL, &a);
    encode(&q, 0, TS_PG, UUID_A, NULL, NULL, &b);
    ok(a.len == b.len && ngx_memcmp(a.data, b.data, a.len) == 0,
       "encoding is deterministic");

    clean = 1;

    for (i = 0; i < a.len; i++) {
        if (!((a.data[i] >= 'A' && a.data[i] <= 'Z')
              || (a.data[i] >= 'a' && a.data[i] <= 'z')
              || (a.data[i] >= '0' && a.data[i] <= '9')
              || a.data[i] == '-' || a.data[i] == '_'))
        {
            clean = 0;
        }
    }

    ok(clean, "base64url alphabet, no padding: safe in a query string");

    encode(&q, 1, TS_PG, UUID_A, NULL, NULL, &b);
    ok(a.len == b.len && ngx_memcmp(a.data, b.data, a.len) != 0,
       "backward changes the cursor");

    query(contacts, "", &q);
    ok(decode(&q, (char *) b.data, b.len) == NGX_OK && q.backward
       && q.has_cursor, "backward round trip");

    query(contacts, "", &q);
    rc = decode(&q, (char *) a.data, a.len);
    ok(rc == NGX_OK && !q.backward, "forward round trip");

    ok(rc == NGX_OK
       && q.key[0].data[q.key[0].len] == '\0'
       && q.key[1].data[q.key[1].len] == '\0',
       "decoded keys are NUL-terminated");

    ngx_memset(a.data, 'A', a.len);
    ok(rc == NGX_OK && key_is(&q, 0, TS_PG) && key_is(&q, 1, UUID_A),
       "decoded keys do not point into the cursor text");
}


static void
test_keys(void)
{
    ngx_str_t    out;
    crm_query_t  q;

    query(contacts, "sort=title,-email,status", &q);
    is_int(q.nsort, 4, "three keys and id");

    ok(encode(&q, 0, "R\xc3\xa9sum\xc3\xa9 & co, =\"x\"", "a@b.example",
              NULL, UUID_A, &out)
       == NGX_OK, "four keys, one NULL");

    query(contacts, "sort=title,-email,status", &q);
    ok(decode(&q, (char *) out.data, out.len) == NGX_OK,
       "four keys: decoded");
    ok(key_is(&q, 0, "R\xc3\xa9sum\xc3\xa9 & co, =\"x\"")
       && key_is(&q, 1, "a@b.example") && q.key_null[2]
       && key_is(&q, 3, UUID_A) && !q.key_null[0] && !q.key_null[3],
       "four keys: text with &,= and UTF-8, a NULL, the id");

    ok(encode(&q, 0, "", "", "", UUID_A, &out) == NGX_OK
       && decode(&q, (char *) out.data, out.len) == NGX_OK
       && key_is(&q, 0, "") && !q.key_null[0],
       "an empty text key is not NULL");

    query(companies, "sort=-annualRevenue,employees", &q);
    ok(encode(&q, 0, "1234.50", "-5", UUID_A, NULL, &out) == NGX_OK
       && decode(&q, (char *) out.data, out.len) == NGX_OK
       && key_is(&q, 0, "1234.50") && key_is(&q, 1, "-5"),
       "numeric and bigint keys");

    query(companies, "sort=-annualRevenue,employees", &q);
    encode(&q, 0, "12a", "-5", UUID_A, NULL, &out);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "an authentic but invalid numeric key is refused");

    encode(&q, 0, "1", "1.5", UUID_A, NULL, &out);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "an authentic but invalid bigint key is refused");

    query(contacts, "", &q);
    encode(&q, 0, TS_PG, "not-a-uuid", NULL, NULL, &out);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "an authentic but invalid uuid key is refused");

    query(contacts, "sort=title", &q);
    encode(&q, 0, "\xff", UUID_A, NULL, NULL, &out);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "an authentic but invalid UTF-8 key is refused");

    query(contacts, "sort=title", &q);
    encode(&q, 0, NULL, NULL, NULL, NULL, &out);
    ok(decode(&q, (char *) out.data, out.len) == NGX_OK && q.key_null[0]
       && q.key_null[1], "NULL keys need no value");
}


static void
test_timestamps(void)
{
    static const char  *good[] = {
        TS_PG,
        "2026-01-15 10:30:00+00",
        "2026-01-15 10:30:00.5-08",
        "2026-01-15 10:30:00+05:30",
        "2026-01-15T10:30:00.123Z",
        "2026-01-15T10:30:00.123456+00:00",
        "2026-01-15",
        NULL
    };

    static const char  *bad[] = {
        "2026-01-15 10:30:00+0",
        "2026-01-15 10:30:00+000",
        "2026-01-15 25:30:00+00",
        "2026-01-15  10:30:00+00",
        "2026-02-30 10:30:00+00",
        "yesterday",
        "",
        NULL
    };

    ngx_str_t     out;
    ngx_uint_t    i, fails;
    crm_query_t   q;

    for (i = 0, fails = 0; good[i] != NULL; i++) {
        query(contacts, "", &q);
        encode(&q, 0, good[i], UUID_A, NULL, NULL, &out);

        if (decode(&q, (char *) out.data, out.len) != NGX_OK
            || !key_is(&q, 0, good[i]))
        {
            diag("refused: %s", good[i]);
            fails++;
        }
    }

    ok(fails == 0, "timestamp keys: PostgreSQL and ISO forms, kept as is");

    for (i = 0, fails = 0; bad[i] != NULL; i++) {
        query(contacts, "", &q);
        encode(&q, 0, bad[i], UUID_A, NULL, NULL, &out);

        if (decode(&q, (char *) out.data, out.len) != NGX_DECLINED) {
            diag("accepted: %s", bad[i]);
            fails++;
        }
    }

    ok(fails == 0, "timestamp keys: invalid ones refused");
}


/* any change to a cursor is detected */

static void
test_tamper(void)
{
    u_char       *p;
    size_t        i, len;
    ngx_str_t     out;
    ngx_uint_t    fails, c;
    crm_query_t   q;

    static const u_char  alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    query(contacts, "", &q);
    encode(&q, 0, TS_PG, UUID_A, NULL, NULL, &out);
    len = out.len;

    p = ngx_pnalloc(pool, len + 2);
    if (p == NULL) {
        ok(0, "tamper: memory");
        return;
    }

    fails = 0;

    for (i = 0; i < len; i++) {
        for (c = 0; c < 64; c += 7) {
            if (alphabet[c] == out.data[i]) {
                continue;
            }

            ngx_memcpy(p, out.data, len);
            p[i] = alphabet[c];

            query(contacts, "", &q);

            if (decode(&q, (char *) p, len) != NGX_DECLINED) {
                diag("accepted with character %u changed", (unsigned) i);
                fails++;
            }
        }
    }

    ok(fails == 0, "every character changed: refused");

    fails = 0;

    for (i = 0; i < len; i++) {
        query(contacts, "", &q);

        if (decode(&q, (char *) out.data, i) != NGX_DECLINED) {
            diag("accepted cut to %u characters", (unsigned) i);
            fails++;
        }
    }

    ok(fails == 0, "every truncation: refused");

    ngx_memcpy(p, out.data, len);
    p[len] = 'A';
    query(contacts, "", &q);
    ok(decode(&q, (char *) p, len + 1) == NGX_DECLINED, "a character added");

    p[len] = 'A';
    p[len + 1] = 'A';
    query(contacts, "", &q);
    ok(decode(&q, (char *) p, len + 2) == NGX_DECLINED,
       "two characters added");

    ngx_memcpy(p, out.data + 1, len - 1);
    query(contacts, "", &q);
    ok(decode(&q, (char *) p, len - 1) == NGX_DECLINED,
       "the first character removed");

    query(contacts, "", &q);
    q.has_cursor = 0;
    ok(crm_cursor_decode(pool, &(ngx_str_t) ngx_string("another secret"),
                         &q, &out)
       == NGX_DECLINED && !q.has_cursor, "another secret: refused");

    query(contacts, "", &q);
    ok(crm_cursor_decode(pool, &(ngx_str_t) ngx_string("0123456789abcdef"),
                         &q, &out)
       == NGX_DECLINED, "a prefix of the secret: refused");
}


static void
test_sort_binding(void)
{
    ngx_str_t    out;
    crm_query_t  q;

    query(contacts, "", &q);
    encode(&q, 0, TS_PG, UUID_A, NULL, NULL, &out);

    query(contacts, "sort=createdAt", &q);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "-createdAt cursor under createdAt: refused");

    query(contacts, "sort=-updatedAt", &q);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "-createdAt cursor under -updatedAt: refused");

    query(contacts, "sort=-createdAt,-id", &q);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "id descending: refused");

    query(contacts, "sort=-createdAt,title", &q);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "another key count: refused");

    query(contacts, "sort_by=createdAt&order=desc", &q);
    ok(decode(&q, (char *) out.data, out.len) == NGX_OK,
       "the same order said with sort_by and order: accepted");

    query(contacts, "sort=-created_at", &q);
    ok(decode(&q, (char *) out.data, out.len) == NGX_OK,
       "the same order in snake_case: accepted");
}


/* the filters and q a cursor was made under, in any order, and only them */

static void
test_filter_binding(void)
{
    ngx_str_t    out;
    crm_query_t  q;

    query(contacts, "status=lead&tags[in]=vip,b&q=ann", &q);
    ok(encode(&q, 0, TS_PG, UUID_A, NULL, NULL, &out) == NGX_OK,
       "filtered: encoded");
    is_mem(out.data, out.len, KAT_FILTERED,
           "filtered: the documented shape");

    query(contacts, "q=ann&tags[in]=b,vip&status=lead", &q);
    ok(decode(&q, (char *) out.data, out.len) == NGX_OK,
       "the filters in another order, in-values too: accepted");

    query(contacts, "status=le%61d&tags[in]=vip,%62&q=%61nn&limit=5"
                    "&fields=email&count=exact", &q);
    ok(decode(&q, (char *) out.data, out.len) == NGX_OK,
       "escaped the same, another limit, fields and count: accepted");

    query(contacts, "status=lead&tags[in]=vip,b", &q);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "without q: refused");

    query(contacts, "status=lead&tags[in]=vip,b&q=anne", &q);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "another q: refused");

    query(contacts, "tags[in]=vip,b&q=ann", &q);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "a filter less: refused");

    query(contacts, "status=lead&tags[in]=vip,b&q=ann&title=x", &q);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "a filter more: refused");

    query(contacts, "status=customer&tags[in]=vip,b&q=ann", &q);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "another value: refused");

    query(contacts, "status[ne]=lead&tags[in]=vip,b&q=ann", &q);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "another operator: refused");

    query(contacts, "status=lead&tags[in]=vip,b,c&q=ann", &q);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "another in-list: refused");

    query(contacts, "status=lead&tags[in]=vipb&q=ann", &q);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "in-values joined: refused (values are length-prefixed)");

    query(contacts, "", &q);
    encode(&q, 0, TS_PG, UUID_A, NULL, NULL, &out);

    query(contacts, "status=lead", &q);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "an unfiltered cursor under a filter: refused");

    query(contacts, "created_after=2026-01-01T00:00:00Z", &q);
    encode(&q, 0, TS_PG, UUID_A, NULL, NULL, &out);

    query(contacts, "createdAt[gt]=2026-01-01T00:00:00Z", &q);
    ok(decode(&q, (char *) out.data, out.len) == NGX_OK,
       "created_after and createdAt[gt] are one filter: accepted");
}


/* the list and the workspace: in the key (crm_cursor_key()) */

static void
test_list_binding(void)
{
    u_char       hex[64];
    ngx_str_t    key, other, out, in, empty;
    crm_query_t  q;

    ok(list_key(WS_A, "contacts", &key) == NGX_OK && key.len == 32,
       "list key: 32 bytes");
    ngx_hex_dump(hex, key.data, 32);
    is_mem(hex, 64, KAT_KEY, "list key: HMAC-SHA256 of the documented input");

    query(contacts, "", &q);
    ok(encode_with(&key, &q, &out) == NGX_OK, "encoded with a list key");
    is_mem(out.data, out.len, KAT_KEYED, "a cursor under a list key");
    is_int(out.len, 131, "binding adds nothing to the cursor");

    list_key(WS_A, "contacts", &other);
    ok(decode_with(&other, &q, &out) == NGX_OK,
       "the same list and workspace: accepted");

    list_key(WS_B, "contacts", &other);
    ok(decode_with(&other, &q, &out) == NGX_DECLINED,
       "another workspace: refused");

    query(companies, "", &q);
    list_key(WS_A, "companies", &other);
    ok(decode_with(&other, &q, &out) == NGX_DECLINED,
       "contacts' cursor on companies (same sort): refused");

    query(contacts, "", &q);
    list_key(WS_A, "companies/" UUID_A "/contacts", &key);
    encode_with(&key, &q, &out);

    list_key(WS_A, "companies/44444444-4444-4444-4444-444444444444/contacts",
             &other);
    ok(decode_with(&other, &q, &out) == NGX_DECLINED,
       "another parent's sub-collection: refused");

    list_key(WS_A, "contacts", &other);
    ok(decode_with(&other, &q, &out) == NGX_DECLINED,
       "a sub-collection's cursor on the collection: refused");

    ngx_str_set(&in, "contacts");
    ngx_str_set(&other, WS_A);
    ngx_str_null(&empty);

    ok(crm_cursor_key(pool, &empty, &other, &in, &key) == NGX_ERROR,
       "list key without a secret: NGX_ERROR");
    ok(crm_cursor_key(pool, &secret, &empty, &in, &key) == NGX_ERROR,
       "list key without a workspace: NGX_ERROR");

    other.data = (u_char *) "ws\0x";
    other.len = 4;
    ok(crm_cursor_key(pool, &secret, &other, &in, &key) == NGX_ERROR,
       "a workspace with a NUL: NGX_ERROR");
}


/* authentic cursors (the MAC is right) of a wrong structure */

static void
test_structure(void)
{
    u_char       *p, body[256];
    size_t        n;
    ngx_str_t     out;
    crm_query_t   q;

    query(contacts, "sort=title", &q);

    p = body;
    *p++ = 2;
    *p++ = 0;
    p += shape(&q, p);
    *p++ = 2;
    *p++ = 1;
    *p++ = 0;
    *p++ = 0;
    *p++ = 36;
    p = ngx_cpymem(p, UUID_A, 36);
    n = p - body;

    forge(&q, body, n, &out);
    ok(decode(&q, (char *) out.data, out.len) == NGX_OK
       && q.key_null[0] && key_is(&q, 1, UUID_A),
       "a hand-made cursor: accepted (the forger is right)");

    body[0] = 1;
    forge(&q, body, n, &out);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "version 1 (unbound, before 2): refused");

    body[0] = 3;
    forge(&q, body, n, &out);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "version 3: refused");
    body[0] = 2;

    body[1] = 2;
    forge(&q, body, n, &out);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "an unknown flag: refused");
    body[1] = 0;

    body[10] = 3;
    forge(&q, body, n, &out);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "three keys for two: refused");
    body[10] = 2;

    body[11] = 2;
    forge(&q, body, n, &out);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "an unknown key tag: refused");
    body[11] = 1;

    body[14] = 37;
    forge(&q, body, n, &out);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "a key longer than the cursor: refused");

    body[14] = 35;
    forge(&q, body, n, &out);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "a key shorter than its bytes: refused");
    body[14] = 36;

    body[n] = 0;
    forge(&q, body, n + 1, &out);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "a byte after the keys: refused");

    forge(&q, body, n - 1, &out);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "the last key cut: refused");

    forge(&q, body, 12, &out);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "the keys missing: refused");

    forge(&q, body, 5, &out);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "shorter than a header: refused");

    forge(&q, body, 0, &out);
    ok(decode(&q, (char *) out.data, out.len) == NGX_DECLINED,
       "nothing but a MAC: refused");
}


static void
test_base64(void)
{
    u_char       *p;
    ngx_str_t     out;
    crm_query_t   q;

    static const u_char  alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    query(contacts, "", &q);
    encode(&q, 0, TS_PG, UUID_A, NULL, NULL, &out);

    p = ngx_pnalloc(pool, out.len + 4);
    if (p == NULL) {
        ok(0, "base64: memory");
        return;
    }

    ngx_memcpy(p, out.data, out.len);
    ngx_memcpy(p + out.len, "==", 2);
    query(contacts, "", &q);
    ok(decode(&q, (char *) p, out.len + 2) == NGX_DECLINED,
       "padding: refused");

    ngx_memcpy(p, out.data, out.len);
    p[5] = '+';
    query(contacts, "", &q);
    ok(decode(&q, (char *) p, out.len) == NGX_DECLINED,
       "base64 (not url) character +: refused");

    ngx_memcpy(p, out.data, out.len);
    p[5] = '/';
    query(contacts, "", &q);
    ok(decode(&q, (char *) p, out.len) == NGX_DECLINED,
       "base64 (not url) character /: refused");

    /*
     * 98 bytes are 131 characters: the last one carries 4 bits and 2
     * unused ones; setting one of those keeps the bytes the same
     */

    is_int(out.len, 131, "the cursor of this test is 131 characters");

    ngx_memcpy(p, out.data, out.len);
    p[out.len - 1] = alphabet[(ngx_strlchr((u_char *) alphabet,
                                           (u_char *) alphabet + 64,
                                           p[out.len - 1])
                               - alphabet) ^ 1];
    query(contacts, "", &q);
    ok(decode(&q, (char *) p, out.len) == NGX_DECLINED,
       "non-canonical trailing bits: refused");

    ok(decode(&q, "AAAA AAA", 8) == NGX_DECLINED, "a space: refused");
    ok(decode(&q, "AAAA%41A", 8) == NGX_DECLINED, "a %%: refused");
    ok(decode(&q, "AAAAA", 5) == NGX_DECLINED, "length 4n+1: refused");
    ok(decode(&q, "", 0) == NGX_DECLINED, "empty: refused");
    ok(decode(&q, "A\0AA", 4) == NGX_DECLINED, "a NUL: refused");
}


/* 4096 characters at most, the same limit both ways */

static void
test_length(void)
{
    char         *k;
    ngx_str_t     out;
    crm_query_t   q;

    query(contacts, "sort=title,email,firstName", &q);

    k = repeat("x", 1767);

    ok(encode(&q, 0, k, k, k, UUID_A, &out) == NGX_OK,
       "keys for exactly 7168 characters: encoded");
    is_int(out.len, 7168, "7168 characters");
    ok(decode(&q, (char *) out.data, out.len) == NGX_OK && key_is(&q, 0, k),
       "7168 characters: decoded");

    ok(encode(&q, 0, k, k, repeat("x", 1768), UUID_A, &out) == NGX_DECLINED,
       "one byte more: not encoded");

    ok(decode(&q, repeat("A", 7172), 7172) == NGX_DECLINED,
       "7172 characters: refused");
    ok(decode(&q, repeat("A", 7169), 7169) == NGX_DECLINED,
       "7169 characters: refused");
}


static void
test_errors(void)
{
    u_char       nulls[CRM_MAX_KEYS];
    ngx_str_t    empty, out, keys[CRM_MAX_KEYS];
    crm_query_t  q;

    ngx_str_null(&empty);
    ngx_memzero(nulls, sizeof(nulls));
    ngx_str_set(&keys[0], TS_PG);
    ngx_str_set(&keys[1], UUID_A);

    query(contacts, "", &q);

    ok(crm_cursor_encode(pool, &empty, &q, 0, keys, nulls, &out)
       == NGX_ERROR, "encode without a secret: NGX_ERROR");

    encode(&q, 0, TS_PG, UUID_A, NULL, NULL, &out);
    ok(crm_cursor_decode(pool, &empty, &q, &out) == NGX_ERROR,
       "decode without a secret: NGX_ERROR");

    q.nsort = 0;
    ok(crm_cursor_encode(pool, &secret, &q, 0, keys, nulls, &out)
       == NGX_ERROR, "encode without keys: NGX_ERROR");

    q.nsort = CRM_MAX_KEYS + 1;
    ok(crm_cursor_encode(pool, &secret, &q, 0, keys, nulls, &out)
       == NGX_ERROR, "encode with too many keys: NGX_ERROR");

    keys[0].len = 0x10000;
    keys[0].data = (u_char *) repeat("x", 0x10000);
    query(contacts, "", &q);
    ok(crm_cursor_encode(pool, &secret, &q, 0, keys, nulls, &out)
       == NGX_DECLINED, "a key of 64 KiB: NGX_DECLINED");

    /* 998 characters of 4 octets (an email's subject) fit; 5 KiB not */
    keys[0].len = 998 * 4;
    ok(crm_cursor_encode(pool, &secret, &q, 0, keys, nulls, &out) == NGX_OK
       && out.len <= 7168, "a key of 3992 octets: a cursor");
    keys[0].len = 5400;
    ok(crm_cursor_encode(pool, &secret, &q, 0, keys, nulls, &out)
       == NGX_DECLINED, "a key of 5400 octets: NGX_DECLINED");
}


/* helpers */

static ngx_int_t
query(crm_resource_t *res, const char *args, crm_query_t *q)
{
    ngx_str_t    a;
    crm_error_t  err;

    a.data = (u_char *) args;
    a.len = ngx_strlen(args);

    if (crm_query_parse(pool, res, &a, &secret, q, &err) != NGX_OK) {
        diag("query %s: %.*s", args, (int) err.message.len,
             err.message.data);
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* keys k1..k4 (NULL: a NULL key) of q->nsort keys */

static ngx_int_t
encode(crm_query_t *q, ngx_uint_t backward, const char *k1, const char *k2,
    const char *k3, const char *k4, ngx_str_t *out)
{
    u_char       nulls[CRM_MAX_KEYS];
    ngx_str_t    keys[CRM_MAX_KEYS];
    ngx_uint_t   i;
    const char  *k[CRM_MAX_KEYS];

    k[0] = k1;
    k[1] = k2;
    k[2] = k3;
    k[3] = k4;

    for (i = 0; i < CRM_MAX_KEYS; i++) {
        nulls[i] = (k[i] == NULL);
        keys[i].data = (u_char *) (k[i] ? k[i] : "");
        keys[i].len = ngx_strlen(keys[i].data);
    }

    ngx_str_null(out);

    return crm_cursor_encode(pool, &secret, q, backward, keys, nulls, out);
}


static ngx_int_t
decode(crm_query_t *q, const char *cursor, size_t len)
{
    ngx_str_t  in;

    in.data = (u_char *) cursor;
    in.len = len;

    q->has_cursor = 0;
    q->backward = 0;

    return crm_cursor_decode(pool, &secret, q, &in);
}


static ngx_int_t
list_key(const char *ws, const char *list, ngx_str_t *key)
{
    ngx_str_t  w, l;

    w.data = (u_char *) ws;
    w.len = ngx_strlen(ws);
    l.data = (u_char *) list;
    l.len = ngx_strlen(list);

    return crm_cursor_key(pool, &secret, &w, &l, key);
}


/* TS_PG, UUID_A forward, under "key" */

static ngx_int_t
encode_with(ngx_str_t *key, crm_query_t *q, ngx_str_t *out)
{
    u_char     nulls[CRM_MAX_KEYS];
    ngx_str_t  keys[CRM_MAX_KEYS];

    ngx_memzero(nulls, sizeof(nulls));
    ngx_str_set(&keys[0], TS_PG);
    ngx_str_set(&keys[1], UUID_A);

    return crm_cursor_encode(pool, key, q, 0, keys, nulls, out);
}


static ngx_int_t
decode_with(ngx_str_t *key, crm_query_t *q, ngx_str_t *in)
{
    q->has_cursor = 0;

    return crm_cursor_decode(pool, key, q, in);
}


/* body + HMAC-SHA256 (16 bytes), base64url: a cursor of any content */

static ngx_int_t
forge(crm_query_t *q, u_char *body, size_t len, ngx_str_t *out)
{
    u_char        raw[512];
    unsigned int  mdlen;
    ngx_str_t     r;

    ngx_memcpy(raw, body, len);

    if (HMAC(EVP_sha256(), secret.data, (int) secret.len, body, len,
             raw + len, &mdlen)
        == NULL)
    {
        return NGX_ERROR;
    }

    r.data = raw;
    r.len = len + 16;

    out->data = ngx_pnalloc(pool, ngx_base64_encoded_length(r.len));
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_encode_base64url(out, &r);

    return NGX_OK;
}


/* the 8 bytes of the shape of a query without filters, as documented */

static size_t
shape(crm_query_t *q, u_char *p)
{
    u_char      *s, buf[256], md[EVP_MAX_MD_SIZE];
    ngx_uint_t   i;

    s = buf;

    for (i = 0; i < q->nsort; i++) {
        s = ngx_cpymem(s, q->sort[i].field->name.data,
                       q->sort[i].field->name.len);
        *s++ = '\0';
        *s++ = q->sort[i].desc ? '-' : '+';
    }

    *s++ = '\n';
    *s++ = 0;

    EVP_Digest(buf, s - buf, md, NULL, EVP_sha256(), NULL);
    ngx_memcpy(p, md, 8);

    return 8;
}


static ngx_int_t
key_is(crm_query_t *q, ngx_uint_t i, const char *want)
{
    return q->key_null[i] == 0
           && q->key[i].len == ngx_strlen(want)
           && ngx_strncmp(q->key[i].data, want, q->key[i].len) == 0;
}


static char *
repeat(const char *s, ngx_uint_t n)
{
    u_char      *p, *r;
    size_t       len;
    ngx_uint_t   i;

    len = ngx_strlen(s);

    r = ngx_pnalloc(pool, len * n + 1);
    if (r == NULL) {
        return (char *) "";
    }

    for (p = r, i = 0; i < n; i++) {
        p = ngx_cpymem(p, s, len);
    }

    *p = '\0';

    return (char *) r;
}
