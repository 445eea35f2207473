
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
#include <openssl/hmac.h>
#include <openssl/evp.h>
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
    unsigned int   maclen;
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

    if (HMAC(EVP_sha256(), key.data, (int) key.len, msg, len, md, &maclen)
        == NULL)
    {
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
