
/*
 * ngx_http_crm_module: Standard Webhooks signatures (pure).
 *
 * webhook-signature: "v1,<base64 HMAC-SHA256(key, id "." ts "." body)>",
 * the key being the base64 decoding of what follows "whsec_" in the
 * subscription's secret (https://www.standardwebhooks.com/, the
 * specification's "Signature scheme").
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>
#include <openssl/core_names.h>
#include "model/crm.h"


#define CRM_SIGN_PREFIX       "whsec_"
#define CRM_SIGN_KEY_MAX      128       /* bytes of a decoded key */


/*
 * "out": "v1," + 44 base64 characters, in "pool".  NGX_DECLINED for a
 * secret that is not "whsec_" + base64 (of 1 to 128 bytes).
 */

ngx_int_t
crm_webhook_sign(ngx_pool_t *pool, ngx_str_t *secret, ngx_str_t *id,
    ngx_str_t *ts, ngx_str_t *body, ngx_str_t *out)
{
    u_char        *p, *msg;
    size_t         len;
    ngx_str_t      src, key, mac, b64;
    size_t         maclen;
    u_char         keybuf[CRM_SIGN_KEY_MAX + 3];
    u_char         md[EVP_MAX_MD_SIZE];

    len = sizeof(CRM_SIGN_PREFIX) - 1;

    if (secret->len <= len
        || ngx_strncmp(secret->data, CRM_SIGN_PREFIX, len) != 0)
    {
        return NGX_DECLINED;
    }

    src.data = secret->data + len;
    src.len = secret->len - len;

    if (ngx_base64_decoded_length(src.len) > sizeof(keybuf)) {
        return NGX_DECLINED;
    }

    key.data = keybuf;

    if (ngx_decode_base64(&key, &src) != NGX_OK || key.len == 0
        || key.len > CRM_SIGN_KEY_MAX)
    {
        return NGX_DECLINED;
    }

    len = id->len + 1 + ts->len + 1 + body->len;

    msg = ngx_pnalloc(pool, len);
    if (msg == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(msg, id->data, id->len);
    *p++ = '.';
    p = ngx_cpymem(p, ts->data, ts->len);
    *p++ = '.';
    ngx_memcpy(p, body->data, body->len);

    maclen = 0;

    if (crm_hmac_sha256(key.data, key.len, msg, len, md, &maclen) != NGX_OK) {
        ngx_explicit_memzero(keybuf, sizeof(keybuf));
        return NGX_ERROR;
    }

    ngx_explicit_memzero(keybuf, sizeof(keybuf));
    (void) ngx_pfree(pool, msg);

    mac.data = md;
    mac.len = maclen;

    out->data = ngx_pnalloc(pool, 3 + ngx_base64_encoded_length(maclen) + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, "v1,", 3);
    b64.data = out->data + 3;
    ngx_encode_base64(&b64, &mac);

    out->len = 3 + b64.len;
    out->data[out->len] = '\0';

    return NGX_OK;
}


/*
 * HMAC-SHA256 with OpenSSL's objects fetched once per process: OpenSSL
 * 3's one-shot HMAC() looks the algorithm up in the provider store (a
 * lock and a hash lookup) on every call, several times a list page (the
 * cursors), once a tracking hit.  The context keeps its digest; each
 * use sets only the key.  Callers run on the event loop only (cursors,
 * tracking tokens, webhook signatures: the email job renders its message
 * there, before its thread task), never in a thread.
 */

ngx_int_t
crm_hmac_sha256(u_char *key, size_t klen, u_char *data, size_t len,
    u_char *md, size_t *mdlen)
{
    EVP_MAC      *mac;
    OSSL_PARAM    params[2];

    static EVP_MAC_CTX  *ctx;

    if (ctx == NULL) {
        mac = EVP_MAC_fetch(NULL, OSSL_MAC_NAME_HMAC, NULL);
        if (mac == NULL) {
            return NGX_ERROR;
        }

        ctx = EVP_MAC_CTX_new(mac);
        EVP_MAC_free(mac);

        if (ctx == NULL) {
            return NGX_ERROR;
        }

        params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                     (char *) "SHA256", 0);
        params[1] = OSSL_PARAM_construct_end();

        if (EVP_MAC_CTX_set_params(ctx, params) != 1) {
            EVP_MAC_CTX_free(ctx);
            ctx = NULL;
            return NGX_ERROR;
        }
    }

    if (EVP_MAC_init(ctx, key, klen, NULL) != 1
        || EVP_MAC_update(ctx, data, len) != 1
        || EVP_MAC_final(ctx, md, mdlen, EVP_MAX_MD_SIZE) != 1)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* the first n bytes of HMAC-SHA256(secret, data): a cursor's, a token's */

ngx_int_t
crm_hmac_sha256_truncated(ngx_str_t *secret, u_char *data, size_t len,
    u_char *mac, size_t n)
{
    u_char  md[EVP_MAX_MD_SIZE];
    size_t  mdlen;

    if (crm_hmac_sha256(secret->data, secret->len, data, len, md, &mdlen)
        != NGX_OK
        || mdlen < n)
    {
        return NGX_ERROR;
    }

    ngx_memcpy(mac, md, n);

    return NGX_OK;
}


/*
 * SHA-256 with OpenSSL's object fetched once per process: SHA256(),
 * EVP_Digest() with EVP_sha256() and EVP_DigestInit_ex() with it look
 * the algorithm up in the provider store (a lock and a hash lookup) on
 * every use: an API key's hash on every request, a cursor's digests
 * several times a list page, an idempotent request's fingerprint.
 * Event loop only, as crm_hmac_sha256().
 */

const struct evp_md_st *
crm_sha256_md(void)
{
    static EVP_MD  *sha256;

    if (sha256 == NULL) {
        sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    }

    return sha256;
}


ngx_int_t
crm_sha256(u_char *data, size_t len, u_char *md)
{
    const EVP_MD  *sha256;

    sha256 = crm_sha256_md();

    if (sha256 == NULL || EVP_Digest(data, len, md, NULL, sha256, NULL) != 1)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}
