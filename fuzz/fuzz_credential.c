
/*
 * libFuzzer target: the credential of a request (src/crm_credential.c):
 * which header holds it, the Bearer scheme, the form of stored keys and
 * session tokens.  See fuzz/README.
 *
 * The first byte of an input says which headers there are (bit 0:
 * X-API-Key, bit 1: Authorization); the rest is their values, X-API-Key
 * first, separated by the first 0xff.
 *
 * Besides the sanitizers, what is taken is checked against the rules as
 * crm_auth.c documents them, written again here the plain way.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "model/crm.h"
#include "common.h"


static void fuzz_expect(ngx_str_t *api_key, ngx_str_t *authorization,
    ngx_str_t *want);
static ngx_uint_t fuzz_token_form(ngx_str_t *t);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char      *a, *b, *sep;
    ngx_int_t    rc;
    ngx_str_t    key, auth, token, want, *pk, *pa;
    ngx_uint_t   i;

    if (size == 0) {
        return 0;
    }

    sep = memchr(data + 1, 0xff, size - 1);

    key.len = (sep ? sep : (u_char *) data + size) - (data + 1);
    auth.len = sep ? (size_t) ((u_char *) data + size - sep - 1) : 0;

    /* exact-size copies, apart: ASan sees a read past either */

    a = fuzz_copy(data + 1, key.len);
    b = fuzz_copy(sep ? sep + 1 : (u_char *) "", auth.len);

    key.data = a;
    auth.data = b;

    pk = (data[0] & 1) ? &key : NULL;
    pa = (data[0] & 2) ? &auth : NULL;

    rc = crm_credential_parse(pk, pa, &token);

    fuzz_expect(pk, pa, &want);

    if (want.data == NULL) {
        fuzz_check(rc == NGX_DECLINED, "parse: declined");
        fuzz_check(token.len == 0, "parse: no token");

    } else {
        fuzz_check(rc == NGX_OK, "parse: accepted");
        fuzz_check(token.data == want.data && token.len == want.len,
                   "parse: the credential");
    }

    /* the form check on the token, and on the raw values */

    if (rc == NGX_OK) {
        fuzz_check((crm_credential_token(&token) == NGX_OK)
                   == fuzz_token_form(&token), "token form");
    }

    fuzz_check((crm_credential_token(&key) == NGX_OK)
               == fuzz_token_form(&key), "token form of X-API-Key");

    for (i = 0; i < 2 && auth.len >= i; i++) {
        token.data = auth.data + i;
        token.len = auth.len - i;

        fuzz_check((crm_credential_token(&token) == NGX_OK)
                   == fuzz_token_form(&token), "token form of a suffix");
    }

    fuzz_free(a, key.len);
    fuzz_free(b, auth.len);

    return 0;
}


/*
 * X-API-Key, when there is one, is the credential even when empty (and
 * then there is none); else Authorization when it starts with "Bearer "
 * in any case: what follows the spaces after it, if anything.
 */

static void
fuzz_expect(ngx_str_t *api_key, ngx_str_t *authorization, ngx_str_t *want)
{
    size_t  i;

    ngx_str_null(want);

    if (api_key != NULL) {
        if (api_key->len > 0) {
            *want = *api_key;
        }

        return;
    }

    if (authorization == NULL || authorization->len < 7
        || strncasecmp((char *) authorization->data, "bearer ", 7) != 0)
    {
        return;
    }

    for (i = 7; i < authorization->len && authorization->data[i] == ' '; i++)
    {
        /* void */
    }

    if (i < authorization->len) {
        want->data = authorization->data + i;
        want->len = authorization->len - i;
    }
}


static ngx_uint_t
fuzz_token_form(ngx_str_t *t)
{
    size_t  i;

    if (t->len != 45
        || !(ngx_strncmp(t->data, "crmk_", 5) == 0
             || ngx_strncmp(t->data, "crms_", 5) == 0))
    {
        return 0;
    }

    for (i = 5; i < 45; i++) {
        if (ngx_strchr("0123456789abcdef", t->data[i]) == NULL
            || t->data[i] == '\0')
        {
            return 0;
        }
    }

    return 1;
}
