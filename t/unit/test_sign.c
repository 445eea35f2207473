
/*
 * Unit tests of the Standard Webhooks signature and of SHA-256
 * (src/model/crm_sign.c), TAP output.
 *
 * The first known answer is the specification's own example (the
 * standard-webhooks repository's test vector: secret
 * whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, id msg_p5jXN8AQM9LWM0D4loKWxJek,
 * timestamp 1614265330, body {"test": 2432232314}); the second was
 * computed with Python's hmac, hashlib and base64; t/191 verifies live
 * deliveries with Python too.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "model/crm.h"
#include "tap.h"


static ngx_int_t sign(const char *secret, const char *id, const char *ts,
    const char *body, ngx_str_t *out);
static void test_known_answers(void);
static void test_refused(void);
static void test_sha256(void);


static ngx_pool_t  *pool;


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

    test_known_answers();
    test_refused();
    test_sha256();

    ngx_destroy_pool(pool);

    return done_testing();
}


static ngx_int_t
sign(const char *secret, const char *id, const char *ts, const char *body,
    ngx_str_t *out)
{
    ngx_str_t  s, i, t, b;

    s.data = (u_char *) secret;
    s.len = ngx_strlen(secret);
    i.data = (u_char *) id;
    i.len = ngx_strlen(id);
    t.data = (u_char *) ts;
    t.len = ngx_strlen(ts);
    b.data = (u_char *) body;
    b.len = ngx_strlen(body);

    return crm_webhook_sign(pool, &s, &i, &t, &b, out);
}


static void
test_known_answers(void)
{
    ngx_str_t  out;

    ok(sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330",
            "{\"test\": 2432232314}", &out)
       == NGX_OK, "the specification's example signs");
    is_mem(out.data, out.len,
           "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
           "the specification's example signature");
    ok(out.data[out.len] == '\0', "NUL-terminated");

    ok(sign("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX",
            "evt_0123456789abcdef0123456789abcdef", "1700000000",
            "{\"id\":\"evt_x\",\"data\":{\"object\":{\"name\":"
            "\"\xc3\xa9t\xc3\xa9\"}}}", &out)
       == NGX_OK, "a 24-byte key signs UTF-8");
    is_mem(out.data, out.len,
           "v1,kaChSdphWte0ZRLQNm/FV6sLYcSJkfniz8zAhjDW15g=",
           "the same as Python's hmac");

    ok(sign("whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYX",
            "evt_0123456789abcdef0123456789abcdef", "1700000001",
            "{\"id\":\"evt_x\",\"data\":{\"object\":{\"name\":"
            "\"\xc3\xa9t\xc3\xa9\"}}}", &out)
       == NGX_OK
       && !(out.len == 47
            && ngx_strncmp(out.data,
                           "v1,kaChSdphWte0ZRLQNm/FV6sLYcSJkfniz8zAhjDW15g=",
                           47) == 0),
       "another timestamp, another signature");
}


static void
test_refused(void)
{
    ngx_str_t  out;

    ok(sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "a", "1", "{}", &out)
       == NGX_DECLINED, "no whsec_ prefix");
    ok(sign("whsec_", "a", "1", "{}", &out) == NGX_DECLINED, "no key");
    ok(sign("whsec_!!!!", "a", "1", "{}", &out) == NGX_DECLINED,
       "not base64");
}


/* FIPS 180-2's examples and the empty text; one object for every call */

static void
test_sha256(void)
{
    u_char      md[32], hex[64];
    ngx_uint_t  i;

    static const char  *known[][2] = {
        { "abc",
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
        { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
        { "",
          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" }
    };

    ok(crm_sha256_md() != NULL && crm_sha256_md() == crm_sha256_md(),
       "sha256: one object, fetched once");

    for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        ok(crm_sha256((u_char *) known[i][0], ngx_strlen(known[i][0]), md)
           == NGX_OK, "sha256: \"%s\"", known[i][0]);
        ngx_hex_dump(hex, md, 32);
        is_mem(hex, 64, known[i][1], "sha256: \"%s\", the known digest",
               known[i][0]);
    }
}
