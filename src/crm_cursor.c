
/*
 * ngx_http_crm_module: opaque, tamper-evident page cursors.
 *
 * A cursor holds the sort key values of the boundary row of a page, as
 * PostgreSQL printed them (col::text), so that the next page is a keyset
 * query.  Layout, version 1, then base64url without padding:
 *
 *   u8      version (1)
 *   u8      flags: 0x01 backward
 *   u8[8]   the first 8 bytes of SHA-256 of the sort specification
 *   u8      number of keys (the query's nsort, id included)
 *   keys    u8 0x00, u16 length (big endian), the text
 *           or u8 0x01: NULL
 *   u8[16]  HMAC-SHA256(secret, everything above), truncated
 *
 * The MAC is checked first, in constant time; only then is the rest
 * parsed.  A cursor made under another sort order, by another secret or
 * with any bit changed is NGX_DECLINED.  Pure: nginx core and OpenSSL.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "crm.h"


#define CRM_CURSOR_VERSION      1
#define CRM_CURSOR_MAX_LEN      4096    /* base64url characters */
#define CRM_CURSOR_SIG_LEN      8
#define CRM_CURSOR_MAC_LEN      16
#define CRM_CURSOR_HEAD_LEN     (3 + CRM_CURSOR_SIG_LEN)
#define CRM_CURSOR_BACKWARD     0x01
#define CRM_CURSOR_NULL         0x01
#define CRM_CURSOR_KEY_MAX      0xffff
#define CRM_CURSOR_TS_MAX       64      /* bytes of a timestamp key */


static ngx_int_t crm_cursor_sort_sig(ngx_pool_t *pool, crm_query_t *q,
    u_char *sig);
static ngx_int_t crm_cursor_mac(ngx_str_t *secret, u_char *data,
    size_t len, u_char *mac);
static ngx_int_t crm_cursor_base64(ngx_pool_t *pool, ngx_str_t *in,
    ngx_str_t *raw);
static ngx_int_t crm_cursor_keys(ngx_pool_t *pool, crm_query_t *q,
    u_char *p, u_char *last);
static ngx_int_t crm_cursor_check_key(ngx_uint_t type, ngx_str_t *v);


static const u_char  crm_cursor_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


ngx_int_t
crm_cursor_encode(ngx_pool_t *pool, ngx_str_t *secret, crm_query_t *q,
    ngx_uint_t backward, ngx_str_t *keys, u_char *nulls, ngx_str_t *out)
{
    u_char      *p;
    size_t       len;
    ngx_str_t    raw;
    ngx_uint_t   i;

    if (q->nsort == 0 || q->nsort > CRM_MAX_KEYS || secret->len == 0) {
        return NGX_ERROR;
    }

    len = CRM_CURSOR_HEAD_LEN + CRM_CURSOR_MAC_LEN;

    for (i = 0; i < q->nsort; i++) {
        if (nulls[i]) {
            len += 1;
            continue;
        }

        if (keys[i].len > CRM_CURSOR_KEY_MAX) {
            return NGX_ERROR;
        }

        len += 3 + keys[i].len;
    }

    /* the decoder's limit; sort keys that long cannot be paged through */

    if ((len * 4 + 2) / 3 > CRM_CURSOR_MAX_LEN) {
        return NGX_ERROR;
    }

    raw.data = ngx_pnalloc(pool, len);
    if (raw.data == NULL) {
        return NGX_ERROR;
    }

    raw.len = len;
    p = raw.data;

    *p++ = CRM_CURSOR_VERSION;
    *p++ = backward ? CRM_CURSOR_BACKWARD : 0;

    if (crm_cursor_sort_sig(pool, q, p) != NGX_OK) {
        return NGX_ERROR;
    }

    p += CRM_CURSOR_SIG_LEN;
    *p++ = (u_char) q->nsort;

    for (i = 0; i < q->nsort; i++) {
        if (nulls[i]) {
            *p++ = CRM_CURSOR_NULL;
            continue;
        }

        *p++ = 0;
        *p++ = (u_char) (keys[i].len >> 8);
        *p++ = (u_char) (keys[i].len & 0xff);
        p = ngx_cpymem(p, keys[i].data, keys[i].len);
    }

    if (crm_cursor_mac(secret, raw.data, p - raw.data, p) != NGX_OK) {
        return NGX_ERROR;
    }

    out->data = ngx_pnalloc(pool, ngx_base64_encoded_length(len));
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    ngx_encode_base64url(out, &raw);

    return NGX_OK;
}


ngx_int_t
crm_cursor_decode(ngx_pool_t *pool, ngx_str_t *secret, crm_query_t *q,
    ngx_str_t *in)
{
    u_char     *p, *last;
    u_char      mac[EVP_MAX_MD_SIZE], sig[CRM_CURSOR_SIG_LEN];
    ngx_int_t   rc;
    ngx_str_t   raw;

    if (secret->len == 0) {
        return NGX_ERROR;
    }

    rc = crm_cursor_base64(pool, in, &raw);
    if (rc != NGX_OK) {
        return rc;
    }

    if (raw.len < CRM_CURSOR_HEAD_LEN + CRM_CURSOR_MAC_LEN) {
        return NGX_DECLINED;
    }

    p = raw.data;
    last = raw.data + raw.len - CRM_CURSOR_MAC_LEN;

    if (crm_cursor_mac(secret, p, last - p, mac) != NGX_OK) {
        return NGX_ERROR;
    }

    if (CRYPTO_memcmp(mac, last, CRM_CURSOR_MAC_LEN) != 0) {
        return NGX_DECLINED;
    }

    if (p[0] != CRM_CURSOR_VERSION || (p[1] & ~CRM_CURSOR_BACKWARD) != 0) {
        return NGX_DECLINED;
    }

    if (crm_cursor_sort_sig(pool, q, sig) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_memcmp(sig, p + 2, CRM_CURSOR_SIG_LEN) != 0
        || p[2 + CRM_CURSOR_SIG_LEN] != q->nsort)
    {
        return NGX_DECLINED;
    }

    rc = crm_cursor_keys(pool, q, p + CRM_CURSOR_HEAD_LEN, last);
    if (rc != NGX_OK) {
        return rc;
    }

    q->has_cursor = 1;
    q->backward = (p[1] & CRM_CURSOR_BACKWARD) ? 1 : 0;

    return NGX_OK;
}


/* SHA-256 of "name\0" "+" or "-" for each key, in order */

static ngx_int_t
crm_cursor_sort_sig(ngx_pool_t *pool, crm_query_t *q, u_char *sig)
{
    u_char       *buf, *p;
    u_char        md[EVP_MAX_MD_SIZE];
    size_t        len;
    ngx_uint_t    i;
    crm_field_t  *f;

    if (q->nsort == 0 || q->nsort > CRM_MAX_KEYS) {
        return NGX_ERROR;
    }

    len = 0;

    for (i = 0; i < q->nsort; i++) {
        len += q->sort[i].field->name.len + 2;
    }

    buf = ngx_pnalloc(pool, len);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    p = buf;

    for (i = 0; i < q->nsort; i++) {
        f = q->sort[i].field;

        p = ngx_cpymem(p, f->name.data, f->name.len);
        *p++ = '\0';
        *p++ = q->sort[i].desc ? '-' : '+';
    }

    if (EVP_Digest(buf, len, md, NULL, EVP_sha256(), NULL) != 1) {
        return NGX_ERROR;
    }

    ngx_memcpy(sig, md, CRM_CURSOR_SIG_LEN);

    return NGX_OK;
}


/* mac: CRM_CURSOR_MAC_LEN bytes are written, EVP_MAX_MD_SIZE needed */

static ngx_int_t
crm_cursor_mac(ngx_str_t *secret, u_char *data, size_t len, u_char *mac)
{
    u_char        md[EVP_MAX_MD_SIZE];
    unsigned int  mdlen;

    if (secret->len > INT_MAX
        || HMAC(EVP_sha256(), secret->data, (int) secret->len, data, len,
                md, &mdlen)
           == NULL
        || mdlen < CRM_CURSOR_MAC_LEN)
    {
        return NGX_ERROR;
    }

    ngx_memcpy(mac, md, CRM_CURSOR_MAC_LEN);

    return NGX_OK;
}


/* strict base64url without padding: one text for one cursor */

static ngx_int_t
crm_cursor_base64(ngx_pool_t *pool, ngx_str_t *in, ngx_str_t *raw)
{
    size_t      i;
    ngx_str_t   again;

    if (in->len == 0 || in->len > CRM_CURSOR_MAX_LEN || in->len % 4 == 1) {
        return NGX_DECLINED;
    }

    for (i = 0; i < in->len; i++) {
        if (ngx_strlchr((u_char *) crm_cursor_b64url,
                        (u_char *) crm_cursor_b64url + 64, in->data[i])
            == NULL)
        {
            return NGX_DECLINED;
        }
    }

    raw->data = ngx_pnalloc(pool, ngx_base64_decoded_length(in->len));
    if (raw->data == NULL) {
        return NGX_ERROR;
    }

    if (ngx_decode_base64url(raw, in) != NGX_OK) {
        return NGX_DECLINED;
    }

    /* unused low bits of the last character must be zero */

    again.data = ngx_pnalloc(pool, ngx_base64_encoded_length(raw->len));
    if (again.data == NULL) {
        return NGX_ERROR;
    }

    ngx_encode_base64url(&again, raw);

    if (again.len != in->len
        || ngx_memcmp(again.data, in->data, in->len) != 0)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the authenticated keys: each is checked against its field's type */

static ngx_int_t
crm_cursor_keys(ngx_pool_t *pool, crm_query_t *q, u_char *p, u_char *last)
{
    size_t      len;
    ngx_uint_t  i;

    for (i = 0; i < q->nsort; i++) {
        if (p == last) {
            return NGX_DECLINED;
        }

        if (*p == CRM_CURSOR_NULL) {
            p++;
            q->key_null[i] = 1;
            ngx_str_set(&q->key[i], "");
            continue;
        }

        if (*p != 0 || last - p < 3) {
            return NGX_DECLINED;
        }

        len = ((size_t) p[1] << 8) | p[2];
        p += 3;

        if ((size_t) (last - p) < len) {
            return NGX_DECLINED;
        }

        q->key[i].data = ngx_pnalloc(pool, len + 1);
        if (q->key[i].data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(q->key[i].data, p, len);
        q->key[i].data[len] = '\0';
        q->key[i].len = len;
        q->key_null[i] = 0;
        p += len;

        if (crm_cursor_check_key(q->sort[i].field->type, &q->key[i])
            != NGX_OK)
        {
            return NGX_DECLINED;
        }
    }

    return (p == last) ? NGX_OK : NGX_DECLINED;
}


/*
 * The value as crm_query_check_value() knows it; a timestamp also in
 * PostgreSQL's text form, "2026-01-15 10:30:00.123456+00": a space for
 * the "T" and an offset of hours alone.
 */

static ngx_int_t
crm_cursor_check_key(ngx_uint_t type, ngx_str_t *v)
{
    u_char     buf[CRM_CURSOR_TS_MAX + 3];
    size_t     len;
    ngx_int_t  rc;
    ngx_str_t  ts;

    rc = crm_query_check_value(type, v);

    if (rc == NGX_OK || type != CRM_FT_TIMESTAMP) {
        return rc;
    }

    len = v->len;

    if (len <= 10 || len > CRM_CURSOR_TS_MAX) {
        return NGX_DECLINED;
    }

    ngx_memcpy(buf, v->data, len);

    if (buf[10] == ' ') {
        buf[10] = 'T';
    }

    if (len > 13
        && (buf[len - 3] == '+' || buf[len - 3] == '-')
        && buf[len - 2] >= '0' && buf[len - 2] <= '9'
        && buf[len - 1] >= '0' && buf[len - 1] <= '9')
    {
        buf[len++] = ':';
        buf[len++] = '0';
        buf[len++] = '0';
    }

    ts.data = buf;
    ts.len = len;

    return crm_query_check_value(type, &ts);
}
