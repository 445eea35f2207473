
/*
 * ngx_http_crm_module: email tracking tokens (open pixel, click
 * redirect, unsubscribe) and the rewriting of an email's html.
 *
 * A token is, in base64url without padding:
 *
 *   u8      version (1)
 *   u8      kind: 'o' open, 'c' click, 'u' unsubscribe
 *   u8[16]  the workspace's uuid
 *   u8[16]  the email's uuid
 *   u8[]    click only: the target URL, at least one byte (http or
 *           https, printable ASCII, crm_track_url_valid())
 *   u8[16]  HMAC-SHA256(secret, "crm track 1" "\0" everything above),
 *           truncated
 *
 * The MAC is checked first, in constant time; a token whose text,
 * length, kind or any bit differs from what the signer made is
 * NGX_DECLINED (one text for one token: the base64url is strict, the
 * unused low bits of its last character must be zero).  A click token
 * carries its URL, so that the redirect needs no database and goes only
 * where the signer pointed it.
 *
 * Pure: nginx core and OpenSSL.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/crypto.h>
#include "model/crm.h"
#include "model/crm_track.h"


#define CRM_TRACK_VERSION     1
#define CRM_TRACK_LABEL       "crm track 1"
#define CRM_TRACK_LABEL_LEN   sizeof(CRM_TRACK_LABEL)   /* with its NUL */
#define CRM_TRACK_HEAD_LEN    (2 + 16 + 16)
#define CRM_TRACK_MAC_LEN     16
#define CRM_TRACK_UUID_LEN    36

#define CRM_TRACK_PIXEL_START "<img src=\""
#define CRM_TRACK_PIXEL_END                                                  \
    "\" width=\"1\" height=\"1\" alt=\"\" style=\"display:none\">"

#define crm_track_space(c)                                                   \
    ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r' || (c) == '\f')


static ngx_int_t crm_track_base64(ngx_str_t *in, u_char *dst, size_t *len);
static ngx_int_t crm_track_uuid_bin(u_char *dst, ngx_str_t *text);
static u_char *crm_track_uuid_text(u_char *dst, u_char *bin);
static ngx_int_t crm_track_kind(ngx_uint_t kind);
static ngx_int_t crm_track_push(ngx_array_t *segs, u_char *p, size_t len);
static u_char *crm_track_anchor(ngx_pool_t *pool, ngx_str_t *secret,
    ngx_str_t *base, ngx_str_t *ws, ngx_str_t *email, u_char *p,
    u_char *last, ngx_array_t *segs, u_char **copied, ngx_int_t *rc);
static ngx_int_t crm_track_link(ngx_pool_t *pool, ngx_str_t *secret,
    ngx_str_t *base, ngx_str_t *ws, ngx_str_t *email, u_char *v, size_t len,
    ngx_str_t *out);
static size_t crm_track_entities(u_char *dst, u_char *p, u_char *last);
static u_char *crm_track_entity(u_char *dst, u_char **pp, u_char *last);
static u_char *crm_track_body(u_char *start, u_char *last);
static size_t crm_track_utf8(u_char *p, size_t n);


static const u_char  crm_track_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


ngx_int_t
crm_track_sign(ngx_pool_t *pool, ngx_str_t *secret, ngx_uint_t kind,
    ngx_str_t *ws, ngx_str_t *email, ngx_str_t *url, ngx_str_t *token)
{
    u_char     *buf, *p;
    size_t      ulen;
    ngx_str_t   raw;

    if (secret->len == 0 || secret->len > INT_MAX) {
        return NGX_ERROR;
    }

    if (crm_track_kind(kind) != NGX_OK) {
        return NGX_DECLINED;
    }

    ulen = (url == NULL) ? 0 : url->len;

    if (kind == CRM_TRACK_CLICK) {
        if (ulen == 0 || crm_track_url_valid(url->data, ulen) != NGX_OK) {
            return NGX_DECLINED;
        }

    } else if (ulen != 0) {
        return NGX_DECLINED;
    }

    buf = ngx_pnalloc(pool, CRM_TRACK_LABEL_LEN + CRM_TRACK_HEAD_LEN + ulen
                            + CRM_TRACK_MAC_LEN);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(buf, CRM_TRACK_LABEL, CRM_TRACK_LABEL_LEN);

    *p++ = CRM_TRACK_VERSION;
    *p++ = (u_char) kind;

    if (crm_track_uuid_bin(p, ws) != NGX_OK
        || crm_track_uuid_bin(p + 16, email) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    p += 32;

    if (ulen) {
        p = ngx_cpymem(p, url->data, ulen);
    }

    if (crm_hmac_sha256_truncated(secret, buf, p - buf, p, CRM_TRACK_MAC_LEN)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    raw.data = buf + CRM_TRACK_LABEL_LEN;
    raw.len = CRM_TRACK_HEAD_LEN + ulen + CRM_TRACK_MAC_LEN;

    token->data = ngx_pnalloc(pool, ngx_base64_encoded_length(raw.len));
    if (token->data == NULL) {
        return NGX_ERROR;
    }

    ngx_encode_base64url(token, &raw);

    return NGX_OK;
}


ngx_int_t
crm_track_verify(ngx_pool_t *pool, ngx_str_t *secret, ngx_str_t *token,
    crm_track_t *out)
{
    u_char     *buf, *raw, *last, *p;
    u_char      mac[CRM_TRACK_MAC_LEN];
    size_t      len, ulen;
    ngx_int_t   rc;

    if (secret->len == 0 || secret->len > INT_MAX) {
        return NGX_ERROR;
    }

    if (token->len == 0 || token->len > CRM_TRACK_TOKEN_MAX) {
        return NGX_DECLINED;
    }

    buf = ngx_pnalloc(pool, CRM_TRACK_LABEL_LEN
                            + ngx_base64_decoded_length(token->len));
    if (buf == NULL) {
        return NGX_ERROR;
    }

    raw = ngx_cpymem(buf, CRM_TRACK_LABEL, CRM_TRACK_LABEL_LEN);

    rc = crm_track_base64(token, raw, &len);
    if (rc != NGX_OK) {
        return rc;
    }

    if (len < CRM_TRACK_HEAD_LEN + CRM_TRACK_MAC_LEN) {
        return NGX_DECLINED;
    }

    last = raw + len - CRM_TRACK_MAC_LEN;

    if (crm_hmac_sha256_truncated(secret, buf, last - buf, mac,
                                  CRM_TRACK_MAC_LEN)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (CRYPTO_memcmp(mac, last, CRM_TRACK_MAC_LEN) != 0) {
        return NGX_DECLINED;
    }

    /* authentic: the rest was written by the signer, checked all the same */

    if (raw[0] != CRM_TRACK_VERSION || crm_track_kind(raw[1]) != NGX_OK) {
        return NGX_DECLINED;
    }

    ulen = len - CRM_TRACK_HEAD_LEN - CRM_TRACK_MAC_LEN;

    if ((raw[1] == CRM_TRACK_CLICK) != (ulen > 0)) {
        return NGX_DECLINED;
    }

    if (ulen > 0
        && crm_track_url_valid(raw + CRM_TRACK_HEAD_LEN, ulen) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    p = ngx_pnalloc(pool, 2 * (CRM_TRACK_UUID_LEN + 1) + ulen + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->kind = raw[1];

    out->ws.data = p;
    out->ws.len = CRM_TRACK_UUID_LEN;
    p = crm_track_uuid_text(p, raw + 2);
    *p++ = '\0';

    out->email.data = p;
    out->email.len = CRM_TRACK_UUID_LEN;
    p = crm_track_uuid_text(p, raw + 18);
    *p++ = '\0';

    out->url.data = p;
    out->url.len = ulen;
    p = ngx_cpymem(p, raw + CRM_TRACK_HEAD_LEN, ulen);
    *p = '\0';

    return NGX_OK;
}


ngx_int_t
crm_track_url(ngx_pool_t *pool, ngx_str_t *secret, ngx_str_t *base,
    ngx_uint_t kind, ngx_str_t *ws, ngx_str_t *email, ngx_str_t *url,
    ngx_str_t *out)
{
    u_char     *p;
    ngx_int_t   rc;
    ngx_str_t   token;

    rc = crm_track_sign(pool, secret, kind, ws, email, url, &token);
    if (rc != NGX_OK) {
        return rc;
    }

    p = ngx_pnalloc(pool, base->len + 2 + token.len + sizeof(".gif") - 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    p = ngx_cpymem(p, base->data, base->len);
    *p++ = (u_char) kind;
    *p++ = '/';
    p = ngx_cpymem(p, token.data, token.len);

    if (kind == CRM_TRACK_OPEN) {
        p = ngx_cpymem(p, ".gif", sizeof(".gif") - 1);
    }

    out->len = p - out->data;

    return NGX_OK;
}


ngx_int_t
crm_track_html(ngx_pool_t *pool, ngx_str_t *secret, ngx_str_t *base,
    ngx_str_t *ws, ngx_str_t *email, ngx_str_t *html, ngx_str_t *out)
{
    u_char       *p, *last, *copied, *body, *dst;
    size_t        len, plen;
    ngx_int_t     rc;
    ngx_str_t     pixel, *seg;
    ngx_uint_t    i;
    ngx_array_t   segs;

    /* the pixel first: a uuid or secret that cannot sign is known now */

    rc = crm_track_url(pool, secret, base, CRM_TRACK_OPEN, ws, email, NULL,
                       &pixel);
    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_array_init(&segs, pool, 16, sizeof(ngx_str_t)) != NGX_OK) {
        return NGX_ERROR;
    }

    p = html->data;
    last = p + html->len;
    copied = p;
    rc = NGX_OK;

    while (p < last) {
        p = ngx_strlchr(p, last, '<');
        if (p == NULL) {
            break;
        }

        if (last - p >= 4 && ngx_strncmp(p, "<!--", 4) == 0) {
            p = ngx_strlcasestrn(p + 4, last, (u_char *) "-->", 3 - 1);
            p = (p == NULL) ? last : p + 3;
            continue;
        }

        if (last - p < 3
            || (p[1] != 'a' && p[1] != 'A')
            || !(crm_track_space(p[2]) || p[2] == '/' || p[2] == '>'))
        {
            p++;
            continue;
        }

        p = crm_track_anchor(pool, secret, base, ws, email, p + 2, last,
                             &segs, &copied, &rc);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    if (crm_track_push(&segs, copied, last - copied) != NGX_OK) {
        return NGX_ERROR;
    }

    plen = sizeof(CRM_TRACK_PIXEL_START) - 1 + pixel.len
           + sizeof(CRM_TRACK_PIXEL_END) - 1;

    len = plen;
    seg = segs.elts;

    for (i = 0; i < segs.nelts; i++) {
        len += seg[i].len;
    }

    out->data = ngx_pnalloc(pool, len);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    dst = out->data;

    for (i = 0; i < segs.nelts; i++) {
        dst = ngx_cpymem(dst, seg[i].data, seg[i].len);
    }

    /* rewritten links hold no "<": the last </body> is the html's own */

    body = crm_track_body(out->data, dst);

    if (body != NULL) {
        ngx_memmove(body + plen, body, dst - body);

    } else {
        body = dst;
    }

    p = ngx_cpymem(body, CRM_TRACK_PIXEL_START,
                   sizeof(CRM_TRACK_PIXEL_START) - 1);
    p = ngx_cpymem(p, pixel.data, pixel.len);
    ngx_memcpy(p, CRM_TRACK_PIXEL_END, sizeof(CRM_TRACK_PIXEL_END) - 1);

    out->len = len;

    return NGX_OK;
}


/*
 * http:// or https:// (any case), a host's first character, then
 * printable ASCII without quotes, angle brackets or backslashes: safe
 * in a Location header and in a double-quoted attribute.
 */

ngx_int_t
crm_track_url_valid(u_char *p, size_t len)
{
    size_t  i, n;

    if (len > CRM_TRACK_URL_MAX) {
        return NGX_DECLINED;
    }

    if (len > 7 && ngx_strncasecmp(p, (u_char *) "http://", 7) == 0) {
        n = 7;

    } else if (len > 8 && ngx_strncasecmp(p, (u_char *) "https://", 8) == 0)
    {
        n = 8;

    } else {
        return NGX_DECLINED;
    }

    if (p[n] == '/' || p[n] == '?' || p[n] == '#') {
        return NGX_DECLINED;
    }

    for (i = 0; i < len; i++) {
        if (p[i] <= 0x20 || p[i] >= 0x7f
            || p[i] == '"' || p[i] == '<' || p[i] == '>' || p[i] == '\\')
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


u_char *
crm_track_clean(u_char *dst, u_char *src, size_t len, size_t max)
{
    u_char  *p, *end;
    size_t   n, k;

    p = src;
    end = src + len;

    for (n = 0; p < end && n < max; n++) {

        if (*p < 0x80) {
            *dst++ = (*p < 0x20 || *p == 0x7f) ? '?' : *p;
            p++;
            continue;
        }

        k = crm_track_utf8(p, end - p);

        if (k == 0) {
            *dst++ = '?';
            p++;
            continue;
        }

        dst = ngx_cpymem(dst, p, k);
        p += k;
    }

    return dst;
}


/* strict base64url without padding into dst: one text for one token */

static ngx_int_t
crm_track_base64(ngx_str_t *in, u_char *dst, size_t *len)
{
    u_char     *c;
    size_t      i;
    ngx_str_t   raw;
    ngx_uint_t  v;

    if (in->len % 4 == 1) {
        return NGX_DECLINED;
    }

    v = 0;

    for (i = 0; i < in->len; i++) {
        c = ngx_strlchr((u_char *) crm_track_b64url,
                        (u_char *) crm_track_b64url + 64, in->data[i]);
        if (c == NULL) {
            return NGX_DECLINED;
        }

        v = c - crm_track_b64url;
    }

    /* the unused low bits of the last character */

    if ((in->len % 4 == 2 && (v & 0x0f) != 0)
        || (in->len % 4 == 3 && (v & 0x03) != 0))
    {
        return NGX_DECLINED;
    }

    raw.data = dst;

    if (ngx_decode_base64url(&raw, in) != NGX_OK) {
        return NGX_DECLINED;
    }

    *len = raw.len;

    return NGX_OK;
}


/* 8-4-4-4-12 hexadecimal digits, any case */

static ngx_int_t
crm_track_uuid_bin(u_char *dst, ngx_str_t *text)
{
    u_char      *p, c;
    ngx_uint_t   i, n, hi;

    if (text == NULL || text->len != CRM_TRACK_UUID_LEN) {
        return NGX_DECLINED;
    }

    p = text->data;
    n = 0;
    hi = 0;

    for (i = 0; i < CRM_TRACK_UUID_LEN; i++) {

        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (p[i] != '-') {
                return NGX_DECLINED;
            }

            continue;
        }

        c = p[i];

        if (c >= '0' && c <= '9') {
            c -= '0';

        } else {
            c |= 0x20;

            if (c < 'a' || c > 'f') {
                return NGX_DECLINED;
            }

            c = c - 'a' + 10;
        }

        if (n++ % 2 == 0) {
            hi = c;

        } else {
            *dst++ = (u_char) ((hi << 4) | c);
        }
    }

    return NGX_OK;
}


static u_char *
crm_track_uuid_text(u_char *dst, u_char *bin)
{
    ngx_uint_t  i;

    static const u_char  hex[] = "0123456789abcdef";

    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            *dst++ = '-';
        }

        *dst++ = hex[bin[i] >> 4];
        *dst++ = hex[bin[i] & 0x0f];
    }

    return dst;
}


static ngx_int_t
crm_track_kind(ngx_uint_t kind)
{
    return (kind == CRM_TRACK_OPEN || kind == CRM_TRACK_CLICK
            || kind == CRM_TRACK_UNSUBSCRIBE)
           ? NGX_OK : NGX_DECLINED;
}


static ngx_int_t
crm_track_push(ngx_array_t *segs, u_char *p, size_t len)
{
    ngx_str_t  *s;

    if (len == 0) {
        return NGX_OK;
    }

    s = ngx_array_push(segs);
    if (s == NULL) {
        return NGX_ERROR;
    }

    s->data = p;
    s->len = len;

    return NGX_OK;
}


/*
 * The attributes of an <a> tag, p just after "<a", as HTML parses them:
 * the first href, if it is an http(s) URL, is replaced by its click URL
 * (the text before it goes to segs, *copied moves past it).  Returns
 * where the tag ends (or the html, if it never does).
 */

static u_char *
crm_track_anchor(ngx_pool_t *pool, ngx_str_t *secret, ngx_str_t *base,
    ngx_str_t *ws, ngx_str_t *email, u_char *p, u_char *last,
    ngx_array_t *segs, u_char **copied, ngx_int_t *rc)
{
    u_char      *name, *v, *vend, *vstart, *q;
    size_t       nlen;
    ngx_str_t    link;
    ngx_uint_t   seen;

    seen = 0;

    for ( ;; ) {

        while (p < last && (crm_track_space(*p) || *p == '/')) {
            p++;
        }

        if (p == last) {
            return p;
        }

        if (*p == '>') {
            return p + 1;
        }

        /* a name; "=" may start one */

        name = p++;

        while (p < last && !crm_track_space(*p)
               && *p != '=' && *p != '>' && *p != '/')
        {
            p++;
        }

        nlen = p - name;

        while (p < last && crm_track_space(*p)) {
            p++;
        }

        if (p == last || *p != '=') {
            continue;
        }

        p++;

        while (p < last && crm_track_space(*p)) {
            p++;
        }

        if (p == last) {
            return p;
        }

        vstart = p;

        if (*p == '"' || *p == '\'') {
            q = ngx_strlchr(p + 1, last, *p);
            if (q == NULL) {
                /* never closed: the rest is this value, left alone */
                return last;
            }

            v = p + 1;
            vend = q;
            p = q + 1;

        } else {
            v = p;

            while (p < last && !crm_track_space(*p) && *p != '>') {
                p++;
            }

            vend = p;
        }

        if (seen || nlen != 4
            || ngx_strncasecmp(name, (u_char *) "href", 4) != 0)
        {
            continue;
        }

        /* the first href counts, as in a browser */

        seen = 1;

        *rc = crm_track_link(pool, secret, base, ws, email, v, vend - v,
                             &link);

        if (*rc == NGX_DECLINED) {
            *rc = NGX_OK;
            continue;
        }

        if (*rc != NGX_OK
            || crm_track_push(segs, *copied, vstart - *copied) != NGX_OK
            || crm_track_push(segs, link.data, link.len) != NGX_OK)
        {
            *rc = NGX_ERROR;
            return last;
        }

        *copied = p;
    }
}


/*
 * An href's value as the browser sees it (entities decoded, white space
 * around it trimmed, tabs and newlines in it dropped), spaces, quotes,
 * angle brackets and non-ASCII bytes percent-encoded, signed: "out" is
 * the double-quoted click URL.  NGX_DECLINED: left alone.
 */

static ngx_int_t
crm_track_link(ngx_pool_t *pool, ngx_str_t *secret, ngx_str_t *base,
    ngx_str_t *ws, ngx_str_t *email, u_char *v, size_t len, ngx_str_t *out)
{
    u_char     *dec, *p, *last, *dst;
    size_t      n;
    ngx_int_t   rc;
    ngx_str_t   url, target;

    static const u_char  hex[] = "0123456789ABCDEF";

    if (len > 6 * CRM_TRACK_URL_MAX) {
        return NGX_DECLINED;
    }

    dec = ngx_pnalloc(pool, len + 1);
    url.data = ngx_pnalloc(pool, 3 * len + 1);

    if (dec == NULL || url.data == NULL) {
        return NGX_ERROR;
    }

    n = crm_track_entities(dec, v, v + len);

    p = dec;
    last = dec + n;

    while (p < last && crm_track_space(*p)) {
        p++;
    }

    while (last > p && crm_track_space(last[-1])) {
        last--;
    }

    dst = url.data;

    for ( /* void */ ; p < last; p++) {

        if (*p == '\t' || *p == '\n' || *p == '\r') {
            continue;
        }

        if (*p == ' ' || *p == '"' || *p == '<' || *p == '>' || *p >= 0x80)
        {
            *dst++ = '%';
            *dst++ = hex[*p >> 4];
            *dst++ = hex[*p & 0x0f];
            continue;
        }

        *dst++ = *p;
    }

    url.len = dst - url.data;

    /* controls, backslashes, other schemes, too long: left alone */

    if (crm_track_url_valid(url.data, url.len) != NGX_OK) {
        return NGX_DECLINED;
    }

    rc = crm_track_url(pool, secret, base, CRM_TRACK_CLICK, ws, email, &url,
                       &target);
    if (rc != NGX_OK) {
        return rc;
    }

    out->data = ngx_pnalloc(pool, target.len + 2);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    p = out->data;
    *p++ = '"';
    p = ngx_cpymem(p, target.data, target.len);
    *p++ = '"';

    out->len = p - out->data;

    return NGX_OK;
}


/* character references decoded into dst (never longer than the source) */

static size_t
crm_track_entities(u_char *dst, u_char *p, u_char *last)
{
    u_char  *start;

    start = dst;

    while (p < last) {
        if (*p == '&') {
            dst = crm_track_entity(dst, &p, last);
            continue;
        }

        *dst++ = *p++;
    }

    return dst - start;
}


/*
 * One reference at *pp ("&"): &amp; &lt; &gt; &quot; &apos; &#N; &#xH;
 * (";" required); anything else is the "&" itself.  A numeric reference
 * of at least 4 characters makes at most 4 bytes of UTF-8.
 */

static u_char *
crm_track_entity(u_char *dst, u_char **pp, u_char *last)
{
    u_char      *p, *q;
    uint32_t     u;
    ngx_uint_t   i, hex, digits;

    static const struct {
        const char  *name;
        size_t       len;
        u_char       c;
    } named[] = {
        { "&amp;", 5, '&' },
        { "&lt;", 4, '<' },
        { "&gt;", 4, '>' },
        { "&quot;", 6, '"' },
        { "&apos;", 6, '\'' }
    };

    p = *pp;

    for (i = 0; i < sizeof(named) / sizeof(named[0]); i++) {
        if ((size_t) (last - p) >= named[i].len
            && ngx_strncasecmp(p, (u_char *) named[i].name, named[i].len)
               == 0)
        {
            *pp = p + named[i].len;
            *dst++ = named[i].c;
            return dst;
        }
    }

    if (last - p < 4 || p[1] != '#') {
        *pp = p + 1;
        *dst++ = '&';
        return dst;
    }

    q = p + 2;
    hex = (*q == 'x' || *q == 'X');
    q += hex;

    u = 0;
    digits = 0;

    while (q < last) {
        if (*q >= '0' && *q <= '9') {
            i = *q - '0';

        } else if (hex && (*q | 0x20) >= 'a' && (*q | 0x20) <= 'f') {
            i = (*q | 0x20) - 'a' + 10;

        } else {
            break;
        }

        /* saturates: anything too large is U+FFFD below */
        if (u <= 0x10ffff) {
            u = u * (hex ? 16 : 10) + i;
        }

        digits++;
        q++;
    }

    if (digits == 0 || q == last || *q != ';') {
        *pp = p + 1;
        *dst++ = '&';
        return dst;
    }

    *pp = q + 1;

    if (u == 0 || u > 0x10ffff || (u >= 0xd800 && u <= 0xdfff)) {
        u = 0xfffd;
    }

    if (u < 0x80) {
        *dst++ = (u_char) u;

    } else if (u < 0x800) {
        *dst++ = (u_char) (0xc0 | (u >> 6));
        *dst++ = (u_char) (0x80 | (u & 0x3f));

    } else if (u < 0x10000) {
        *dst++ = (u_char) (0xe0 | (u >> 12));
        *dst++ = (u_char) (0x80 | ((u >> 6) & 0x3f));
        *dst++ = (u_char) (0x80 | (u & 0x3f));

    } else {
        *dst++ = (u_char) (0xf0 | (u >> 18));
        *dst++ = (u_char) (0x80 | ((u >> 12) & 0x3f));
        *dst++ = (u_char) (0x80 | ((u >> 6) & 0x3f));
        *dst++ = (u_char) (0x80 | (u & 0x3f));
    }

    return dst;
}


/* the last "</body" followed by white space, "/", ">" or the end */

static u_char *
crm_track_body(u_char *start, u_char *last)
{
    u_char  *p;

    if (last - start < 6) {
        return NULL;
    }

    for (p = last - 6; /* void */ ; p--) {

        if (p[0] == '<' && p[1] == '/'
            && ngx_strncasecmp(p + 2, (u_char *) "body", 4) == 0
            && (p + 6 == last || crm_track_space(p[6]) || p[6] == '/'
                || p[6] == '>'))
        {
            return p;
        }

        if (p == start) {
            return NULL;
        }
    }
}


/*
 * The length of the UTF-8 sequence at p (n bytes available) if it is
 * valid (shortest form, no surrogate, at most U+10FFFF), else 0
 */

static size_t
crm_track_utf8(u_char *p, size_t n)
{
    size_t    len, i;
    uint32_t  u;

    if (p[0] < 0xc2 || p[0] > 0xf4) {
        return 0;
    }

    len = (p[0] >= 0xf0) ? 4 : (p[0] >= 0xe0) ? 3 : 2;

    if (n < len) {
        return 0;
    }

    u = p[0] & (0x3f >> (len - 1));

    for (i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            return 0;
        }

        u = (u << 6) | (p[i] & 0x3f);
    }

    if ((len == 3 && (u < 0x800 || (u >= 0xd800 && u <= 0xdfff)))
        || (len == 4 && (u < 0x10000 || u > 0x10ffff)))
    {
        return 0;
    }

    return len;
}
