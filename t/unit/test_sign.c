
/*
 * Unit tests of the Standard Webhooks signature (src/model/crm_sign.c),
 * TAP output.
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
