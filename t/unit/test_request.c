
/*
 * Unit tests of what a request presents: its credential
 * (src/crm_credential.c) and the fingerprint of an Idempotency-Key
 * request (src/crm_fingerprint.c), TAP output.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "model/crm.h"
#include "tap.h"


#define KEY      "crmk_0123456789abcdef0123456789abcdef01234567"
#define SESSION  "crms_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define UUID_A   "33333333-3333-3333-3333-333333333333"


static void parse(const char *api_key, const char *authorization,
    const char *want, const char *name);
static void token(const char *t, ngx_uint_t want, const char *name);
static void fingerprint(ngx_chain_t *body, const char *want,
    const char *name);

static void test_parse(void);
static void test_token(void);
static void test_fingerprint(void);
static int fingerprint_is(ngx_chain_t *body, const char *want);


int
main(void)
{
    ngx_pagesize = 4096;

    test_parse();
    test_token();
    test_fingerprint();

    return done_testing();
}


static void
test_parse(void)
{
    parse(KEY, NULL, KEY, "X-API-Key as it is");
    parse("static key with spaces ", NULL, "static key with spaces ",
          "X-API-Key: any text, spaces kept");
    parse(KEY, "Bearer " SESSION, KEY, "X-API-Key wins over Bearer");
    parse("", "Bearer " SESSION, NULL,
          "an empty X-API-Key still wins: none");
    parse(NULL, "Bearer " SESSION, SESSION, "Bearer");
    parse(NULL, "bEaReR " SESSION, SESSION, "Bearer in any case");
    parse(NULL, "Bearer    " SESSION, SESSION, "spaces after Bearer skipped");
    parse(NULL, "Bearer ", NULL, "Bearer alone: none");
    parse(NULL, "Bearer     ", NULL, "Bearer and spaces: none");
    parse(NULL, "Bearer" SESSION, NULL, "Bearer without a space: none");
    parse(NULL, "Basic dXNlcjpwYXNz", NULL, "another scheme: none");
    parse(NULL, NULL, NULL, "no header: none");
}


static void
test_token(void)
{
    token(KEY, 1, "an API key");
    token(SESSION, 1, "a session token");
    token("crmx_0123456789abcdef0123456789abcdef01234567", 0,
          "another kind");
    token("crmk_0123456789ABCDEF0123456789abcdef01234567", 0,
          "uppercase hex");
    token("crmk_0123456789abcdef0123456789abcdef0123456", 0, "short");
    token("crmk_0123456789abcdef0123456789abcdef012345678", 0, "long");
    token("crmk-0123456789abcdef0123456789abcdef01234567", 0, "no '_'");
    token("", 0, "empty");
}


static void
test_fingerprint(void)
{
    ngx_buf_t    b[3];
    ngx_file_t   file;
    ngx_chain_t  cl[3];
    char         name[sizeof("/tmp/crm-fp-XXXXXX")];

    ngx_memzero(b, sizeof(b));

    b[0].pos = (u_char *) "{\"email\":";
    b[0].last = b[0].pos + 9;
    b[1].pos = b[0].last;
    b[1].last = b[1].pos;
    b[2].pos = (u_char *) "\"a@b.c\"}";
    b[2].last = b[2].pos + 8;

    cl[0].buf = &b[0];
    cl[0].next = &cl[1];
    cl[1].buf = &b[1];
    cl[1].next = &cl[2];
    cl[2].buf = &b[2];
    cl[2].next = NULL;

    /*
     * SHA-256 of "4:POST", "29:/api/v1/contacts?a=1 HTTP/1.1",
     * "38:2:3333...", then the body
     */

    fingerprint(cl,
                "54a6fda294b5ba54211a7b55457b4bbab43666a51d7c8bc6aa8ab1f14c"
                "3d4124", "fingerprint: method, URI, principal, body");

    fingerprint(NULL,
                "5569861d8a73c18254b51f4e3bd9e1d2dfd68b53207d058ea24f30729b"
                "1825e7", "fingerprint: no body");

    /* the same body, its second part in a file (nginx's temporary file) */

    ngx_memzero(&file, sizeof(ngx_file_t));
    ngx_memcpy(name, "/tmp/crm-fp-XXXXXX", sizeof("/tmp/crm-fp-XXXXXX"));

    file.fd = mkstemp(name);
    ok(file.fd != -1, "fingerprint: a temporary file");

    if (file.fd == -1) {
        return;
    }

    (void) unlink(name);

    /* before and after the part that counts, bytes that do not */

    ok(write(file.fd, "xx\"a@b.c\"}yy", 12) == 12, "fingerprint: written");

    ngx_memzero(&b[2], sizeof(ngx_buf_t));
    b[2].in_file = 1;
    b[2].file = &file;
    b[2].file_pos = 2;
    b[2].file_last = 10;

    fingerprint(cl,
                "54a6fda294b5ba54211a7b55457b4bbab43666a51d7c8bc6aa8ab1f14c"
                "3d4124", "fingerprint: a body part read from its file");

    b[2].file_last = 9;

    ok(fingerprint_is(cl,
           "54a6fda294b5ba54211a7b55457b4bbab43666a51d7c8bc6aa8ab1f14c"
           "3d4124") == 0, "fingerprint: a byte less in the file differs");

    (void) close(file.fd);
}


static void
parse(const char *api_key, const char *authorization, const char *want,
    const char *name)
{
    ngx_int_t   rc;
    ngx_str_t   k, a, t;

    k.data = (u_char *) api_key;
    k.len = api_key ? ngx_strlen(api_key) : 0;
    a.data = (u_char *) authorization;
    a.len = authorization ? ngx_strlen(authorization) : 0;

    rc = crm_credential_parse(api_key ? &k : NULL,
                              authorization ? &a : NULL, &t);

    if (want == NULL) {
        ok(rc == NGX_DECLINED && t.len == 0, "parse: %s", name);
        return;
    }

    ok(rc == NGX_OK, "parse: %s: accepted", name);
    is_mem(t.data, t.len, want, "parse: %s", name);
}


static void
token(const char *t, ngx_uint_t want, const char *name)
{
    ngx_str_t  s;

    s.data = (u_char *) t;
    s.len = ngx_strlen(t);

    ok((crm_credential_token(&s) == NGX_OK) == (want == 1), "token: %s",
       name);
}


static void
fingerprint(ngx_chain_t *body, const char *want, const char *name)
{
    u_char     fp[CRM_IDEM_FP_LEN];
    ngx_str_t  method, uri, principal;

    ngx_str_set(&method, "POST");
    ngx_str_set(&uri, "/api/v1/contacts?a=1 HTTP/1.1");
    ngx_str_set(&principal, "2:" UUID_A);

    ok(crm_idem_fingerprint(&method, &uri, body, &principal, fp) == NGX_OK,
       "%s: NGX_OK", name);
    is_mem(fp, CRM_IDEM_FP_LEN, want, "%s", name);
}


/* 1 when the fingerprint of "body" (with fingerprint()'s parts) is "want" */

static int
fingerprint_is(ngx_chain_t *body, const char *want)
{
    u_char     fp[CRM_IDEM_FP_LEN];
    ngx_str_t  method, uri, principal;

    ngx_str_set(&method, "POST");
    ngx_str_set(&uri, "/api/v1/contacts?a=1 HTTP/1.1");
    ngx_str_set(&principal, "2:" UUID_A);

    return crm_idem_fingerprint(&method, &uri, body, &principal, fp)
           == NGX_OK
           && ngx_memcmp(fp, want, CRM_IDEM_FP_LEN) == 0;
}
