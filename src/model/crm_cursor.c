
/*
 * ngx_http_crm_module: opaque, tamper-evident page cursors.
 *
 * A cursor holds the sort key values of the boundary row of a page, as
 * PostgreSQL printed them (col::text), so that the next page is a keyset
 * query.  Layout, version 2, then base64url without padding:
 *
 *   u8      version (2)
 *   u8      flags: 0x01 backward
 *   u8[8]   the query's shape (crm_cursor_shape()): the first 8 bytes of
 *           SHA-256 of
 *             each sort key: its name, "\0", "+" or "-"
 *             "\n", u8 number of filters
 *             each filter's SHA-256, sorted bytewise: its field's name,
 *               "\0", u8 operator (crm_op_e), then each value (for in
 *               and nin sorted bytewise) as u32 length (big endian) and
 *               the text as decoded
 *             q, as decoded
 *   u8      number of keys (the query's nsort, id included)
 *   keys    u8 0x00, u16 length (big endian), the text
 *           or u8 0x01: NULL
 *   u8[16]  HMAC-SHA256(list key, everything above), truncated
 *
 * The list key (crm_cursor_key()) is HMAC-SHA256(secret, "crm cursor 2"
 * "\0" workspace "\0" list), where list names what is paged
 * ("contacts", "companies/<id>/contacts"): a cursor is good for one list
 * of one workspace.  The order of the filters in the query string does
 * not matter; limit, fields and count are not in a cursor and may change
 * from page to page.
 *
 * The MAC is checked first, in constant time; only then is the rest
 * parsed.  A cursor made for another list, workspace, sort order,
 * filter or q, by another secret or with any bit changed is
 * NGX_DECLINED.  Pure: nginx core and OpenSSL.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "model/crm.h"


#define CRM_CURSOR_VERSION      2
/*
 * base64url characters: room for the longest sort keys of the built-in
 * fields (an email's subject, 998 characters of up to 4 octets; a
 * webhook's URL, 2048), while a request line carrying it still fits
 * nginx's default large_client_header_buffers (8k)
 */
#define CRM_CURSOR_MAX_LEN      7168
#define CRM_CURSOR_MAC_LEN      16
#define CRM_CURSOR_HEAD_LEN     (3 + CRM_CURSOR_SHAPE_LEN)
#define CRM_CURSOR_KEY_LABEL    "crm cursor 2"
#define CRM_CURSOR_DIGEST_LEN   32      /* SHA-256 */
#define CRM_CURSOR_BACKWARD     0x01
#define CRM_CURSOR_NULL         0x01
#define CRM_CURSOR_KEY_MAX      0xffff


static ngx_int_t crm_cursor_filter(ngx_pool_t *pool, crm_filter_t *flt,
    u_char *md);
static void crm_cursor_sort_digests(u_char *d, ngx_uint_t n);
static void crm_cursor_sort_values(ngx_str_t **v, ngx_uint_t n);
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
            return NGX_DECLINED;
        }

        len += 3 + keys[i].len;
    }

    /*
     * the decoder's limit: sort keys that long (a custom text field's
     * 10,000 characters) cannot be paged through, NGX_DECLINED
     */

    if ((len * 4 + 2) / 3 > CRM_CURSOR_MAX_LEN) {
        return NGX_DECLINED;
    }

    raw.data = ngx_pnalloc(pool, len);
    if (raw.data == NULL) {
        return NGX_ERROR;
    }

    raw.len = len;
    p = raw.data;

    *p++ = CRM_CURSOR_VERSION;
    *p++ = backward ? CRM_CURSOR_BACKWARD : 0;
    p = ngx_cpymem(p, q->shape, CRM_CURSOR_SHAPE_LEN);
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

    if (crm_hmac_sha256_truncated(secret, raw.data, p - raw.data, p,
                                  CRM_CURSOR_MAC_LEN)
        != NGX_OK)
    {
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
    u_char      mac[EVP_MAX_MD_SIZE];
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

    if (crm_hmac_sha256_truncated(secret, p, last - p, mac,
                                  CRM_CURSOR_MAC_LEN)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (CRYPTO_memcmp(mac, last, CRM_CURSOR_MAC_LEN) != 0) {
        return NGX_DECLINED;
    }

    if (p[0] != CRM_CURSOR_VERSION || (p[1] & ~CRM_CURSOR_BACKWARD) != 0) {
        return NGX_DECLINED;
    }

    if (ngx_memcmp(q->shape, p + 2, CRM_CURSOR_SHAPE_LEN) != 0
        || p[2 + CRM_CURSOR_SHAPE_LEN] != q->nsort)
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


ngx_int_t
crm_cursor_key(ngx_pool_t *pool, ngx_str_t *secret, ngx_str_t *ws,
    ngx_str_t *list, ngx_str_t *key)
{
    u_char  *buf, *p;
    size_t   len;

    /* the workspace comes first and holds no NUL: the split is unique */

    if (secret->len == 0 || secret->len > INT_MAX || ws->len == 0
        || ngx_strlchr(ws->data, ws->data + ws->len, '\0') != NULL)
    {
        return NGX_ERROR;
    }

    len = sizeof(CRM_CURSOR_KEY_LABEL) + ws->len + 1 + list->len;

    buf = ngx_pnalloc(pool, len);
    key->data = ngx_pnalloc(pool, EVP_MAX_MD_SIZE);

    if (buf == NULL || key->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(buf, CRM_CURSOR_KEY_LABEL, sizeof(CRM_CURSOR_KEY_LABEL));
    p = ngx_cpymem(p, ws->data, ws->len);
    *p++ = '\0';
    ngx_memcpy(p, list->data, list->len);

    if (crm_hmac_sha256(secret->data, secret->len, buf, len, key->data,
                        &key->len)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
crm_cursor_shape(ngx_pool_t *pool, crm_query_t *q)
{
    u_char        *buf, *p, *digests;
    u_char         md[EVP_MAX_MD_SIZE];
    size_t         len;
    ngx_uint_t     i, n;
    crm_field_t   *f;
    crm_filter_t  *flt;

    n = q->filters.nelts;

    if (q->nsort == 0 || q->nsort > CRM_MAX_KEYS || n > 0xff) {
        return NGX_ERROR;
    }

    len = 2 + n * CRM_CURSOR_DIGEST_LEN + q->q.len;

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

    *p++ = '\n';
    *p++ = (u_char) n;

    digests = p;
    flt = q->filters.elts;

    for (i = 0; i < n; i++) {
        if (crm_cursor_filter(pool, &flt[i], p) != NGX_OK) {
            return NGX_ERROR;
        }

        p += CRM_CURSOR_DIGEST_LEN;
    }

    /* filters are ANDed: their order in the query string is no part */

    crm_cursor_sort_digests(digests, n);

    if (q->q.len > 0) {
        ngx_memcpy(p, q->q.data, q->q.len);
    }

    if (crm_sha256(buf, len, md) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memcpy(q->shape, md, CRM_CURSOR_SHAPE_LEN);

    return NGX_OK;
}


/* the SHA-256 of one filter into md (CRM_CURSOR_DIGEST_LEN bytes) */

static ngx_int_t
crm_cursor_filter(ngx_pool_t *pool, crm_filter_t *flt, u_char *md)
{
    u_char        *buf, *p;
    u_char         out[EVP_MAX_MD_SIZE];
    size_t         len;
    ngx_str_t     *v, **sorted;
    ngx_uint_t     i, n;
    crm_field_t   *f;

    f = flt->field;
    v = flt->values.elts;
    n = flt->values.nelts;

    sorted = ngx_palloc(pool, (n ? n : 1) * sizeof(ngx_str_t *));
    if (sorted == NULL) {
        return NGX_ERROR;
    }

    len = f->name.len + 2;

    for (i = 0; i < n; i++) {
        if ((uint64_t) v[i].len > 0xffffffff) {
            return NGX_ERROR;
        }

        sorted[i] = &v[i];
        len += 4 + v[i].len;
    }

    if (flt->op == CRM_OP_IN || flt->op == CRM_OP_NIN) {
        crm_cursor_sort_values(sorted, n);
    }

    buf = ngx_pnalloc(pool, len);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(buf, f->name.data, f->name.len);
    *p++ = '\0';
    *p++ = (u_char) flt->op;

    for (i = 0; i < n; i++) {
        *p++ = (u_char) (sorted[i]->len >> 24);
        *p++ = (u_char) (sorted[i]->len >> 16);
        *p++ = (u_char) (sorted[i]->len >> 8);
        *p++ = (u_char) sorted[i]->len;
        p = ngx_cpymem(p, sorted[i]->data, sorted[i]->len);
    }

    if (crm_sha256(buf, len, out) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_memcpy(md, out, CRM_CURSOR_DIGEST_LEN);

    return NGX_OK;
}


/* insertion sorts: at most CRM_MAX_FILTERS digests, CRM_MAX_IN_VALUES
   values, and no allocation */

static void
crm_cursor_sort_digests(u_char *d, ngx_uint_t n)
{
    u_char      tmp[CRM_CURSOR_DIGEST_LEN];
    ngx_uint_t  i, j;

    for (i = 1; i < n; i++) {
        ngx_memcpy(tmp, d + i * CRM_CURSOR_DIGEST_LEN, CRM_CURSOR_DIGEST_LEN);

        for (j = i;
             j > 0
             && ngx_memcmp(d + (j - 1) * CRM_CURSOR_DIGEST_LEN, tmp,
                           CRM_CURSOR_DIGEST_LEN) > 0;
             j--)
        {
            ngx_memcpy(d + j * CRM_CURSOR_DIGEST_LEN,
                       d + (j - 1) * CRM_CURSOR_DIGEST_LEN,
                       CRM_CURSOR_DIGEST_LEN);
        }

        ngx_memcpy(d + j * CRM_CURSOR_DIGEST_LEN, tmp, CRM_CURSOR_DIGEST_LEN);
    }
}


static void
crm_cursor_sort_values(ngx_str_t **v, ngx_uint_t n)
{
    ngx_str_t   *tmp;
    ngx_uint_t   i, j;

    for (i = 1; i < n; i++) {
        tmp = v[i];

        for (j = i;
             j > 0
             && ngx_memn2cmp(v[j - 1]->data, tmp->data, v[j - 1]->len,
                             tmp->len) > 0;
             j--)
        {
            v[j] = v[j - 1];
        }

        v[j] = tmp;
    }
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
 * The value as crm_value_check() knows it; a timestamp also in
 * PostgreSQL's text form, "2026-01-15 10:30:00.123456+00": a space for
 * the "T" and an offset of hours alone.  Text is any valid UTF-8: a
 * stored value may be longer than a filter's value may be (an email's
 * subject of 998 characters, a custom text field's 10,000), and the
 * cursor's own length bounds it.
 */

static ngx_int_t
crm_cursor_check_key(ngx_uint_t type, ngx_str_t *v)
{
    u_char     buf[CRM_VALUE_TS_MAX + 3];
    ngx_int_t  rc;
    ngx_str_t  ts;

    if (type == CRM_FT_TEXT || type == CRM_FT_EMAIL) {
        return crm_value_utf8(v->data, v->len, NULL);
    }

    rc = crm_value_check(type, v);

    if (rc == NGX_OK || type != CRM_FT_TIMESTAMP) {
        return rc;
    }

    if (crm_value_iso(v, buf, &ts) != NGX_OK) {
        return NGX_DECLINED;
    }

    return crm_value_check(type, &ts);
}
