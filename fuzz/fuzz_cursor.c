
/*
 * libFuzzer target: the cursor codec (src/crm_cursor.c).  See
 * fuzz/README.
 *
 * The first byte of an input picks the mode (byte % 4) and the sort
 * order the cursor is for (byte / 4, of fuzz_sorts[]):
 *
 *   0   the data is a cursor as a client sends it: decoded, never more
 *       than refused
 *   1   round trip: the data holds sort keys, separated by 0xff, a key
 *       that is 0xfe alone is NULL; they are encoded, decoded and
 *       compared, and the cursor is refused under another sort
 *   2   forged with the secret: the data after a byte of header tweaks
 *       is the cursor's body (the keys), put behind a real cursor's
 *       header and signed, so that the parser behind the MAC is
 *       fuzzed; what it accepts must be what the encoder makes of the
 *       keys it decoded, byte for byte
 *   3   as 2, but the body is made of keys as in 1, so that more of
 *       them are well-formed
 *
 * Besides the sanitizers: the return codes, and that every key a
 * decoded cursor holds is a NUL-terminated value of its field's type.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "model/crm.h"
#include "common.h"


#define FUZZ_SORTS        8
#define FUZZ_MAC_LEN      16


static void fuzz_raw(crm_query_t *q, ngx_str_t *data);
static void fuzz_round_trip(crm_resource_t *res, ngx_uint_t sort,
    crm_query_t *q, ngx_str_t *data);
static void fuzz_signed(crm_query_t *q, ngx_str_t *data, ngx_uint_t keyed);
static ngx_uint_t fuzz_keys(crm_query_t *q, ngx_str_t *data,
    ngx_str_t *keys, u_char *nulls);
static void fuzz_decoded(crm_query_t *d);
static ngx_int_t fuzz_key_valid(ngx_uint_t type, ngx_str_t *v);


static ngx_pool_t  *fuzz_p;

static ngx_str_t  fuzz_secret = ngx_string("fuzz-secret-fuzz-secret-fuzz-sec");

static const char  *const fuzz_sorts[FUZZ_SORTS] = {
    "",
    "sort=lastName",
    "sort=-title,email",
    "sort=status,-firstName,source",
    "sort=-id",
    "sort=updatedAt",
    "sort_by=email&order=desc",
    "sort=-createdAt,-lastName,title"
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char          *copy;
    ngx_str_t        args, name, d;
    ngx_uint_t       sort;
    crm_query_t      q;
    crm_error_t      err;
    crm_resource_t  *res;

    if (size == 0) {
        return 0;
    }

    fuzz_p = fuzz_pool();

    ngx_str_set(&name, "contacts");
    res = crm_schema_find(&name);
    fuzz_check(res != NULL, "resource");

    sort = (data[0] / 4) % FUZZ_SORTS;

    args.data = (u_char *) fuzz_sorts[sort];
    args.len = ngx_strlen(fuzz_sorts[sort]);

    fuzz_check(crm_query_parse(fuzz_p, res, &args, &fuzz_secret, &q, &err)
               == NGX_OK, "sort");

    /* an exact-size copy: ASan sees any read past it */

    copy = fuzz_copy(data + 1, size - 1);

    d.data = copy;
    d.len = size - 1;

    switch (data[0] % 4) {

    case 0:
        fuzz_raw(&q, &d);
        break;

    case 1:
        fuzz_round_trip(res, sort, &q, &d);
        break;

    default:
        fuzz_signed(&q, &d, data[0] % 4 == 3);
        break;
    }

    fuzz_free(copy, size - 1);

    ngx_destroy_pool(fuzz_p);

    return 0;
}


static void
fuzz_raw(crm_query_t *q, ngx_str_t *data)
{
    ngx_int_t    rc;
    crm_query_t  d;

    d = *q;
    rc = crm_cursor_decode(fuzz_p, &fuzz_secret, &d, data);
    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED, "raw: return code");

    if (rc == NGX_OK) {
        fuzz_decoded(&d);
    }
}


/*
 * Encoded, then decoded: the same keys come back, or, if the decoder
 * refuses them, one of them is not a valid value.
 */

static void
fuzz_round_trip(crm_resource_t *res, ngx_uint_t sort, crm_query_t *q,
    ngx_str_t *data)
{
    u_char       nulls[CRM_MAX_KEYS];
    ngx_int_t    rc;
    ngx_str_t    args, out, keys[CRM_MAX_KEYS];
    ngx_uint_t   i, valid, backward;
    crm_query_t  d;
    crm_error_t  err;

    valid = fuzz_keys(q, data, keys, nulls);
    backward = (data->len > 0 && (data->data[0] & 1));

    rc = crm_cursor_encode(fuzz_p, &fuzz_secret, q, backward, keys, nulls,
                           &out);

    if (rc != NGX_OK) {
        fuzz_check(rc == NGX_ERROR, "encode: return code");
        return;
    }

    d = *q;
    rc = crm_cursor_decode(fuzz_p, &fuzz_secret, &d, &out);

    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED, "decode: return code");
    fuzz_check(rc == NGX_OK || !valid, "valid keys refused");

    if (rc == NGX_OK) {
        fuzz_check(d.has_cursor && d.backward == backward, "direction");

        for (i = 0; i < q->nsort; i++) {
            fuzz_check(d.key_null[i] == nulls[i], "null");
            fuzz_check(nulls[i]
                       || (d.key[i].len == keys[i].len
                           && ngx_memcmp(d.key[i].data, keys[i].data,
                                         keys[i].len) == 0),
                       "key");
        }

        fuzz_decoded(&d);
    }

    /* the same text under another sort never decodes */

    args.data = (u_char *) fuzz_sorts[(sort + 1) % FUZZ_SORTS];
    args.len = ngx_strlen(args.data);

    fuzz_check(crm_query_parse(fuzz_p, res, &args, &fuzz_secret, &d, &err)
               == NGX_OK, "other sort");
    fuzz_check(crm_cursor_decode(fuzz_p, &fuzz_secret, &d, &out)
               == NGX_DECLINED, "other sort refused");
}


/*
 * A real cursor's header (all keys NULL, then its length less the MAC
 * and the keys), with data[0] tweaking it: bit 0 backward, bit 1 an
 * unknown flag, bit 2 another version, bit 3 another number of keys,
 * bit 4 another sort signature.  Then the body and the MAC.
 */

static void
fuzz_signed(crm_query_t *q, ngx_str_t *data, ngx_uint_t keyed)
{
    u_char        *p, *raw, *body;
    u_char         nulls[CRM_MAX_KEYS], md[EVP_MAX_MD_SIZE];
    size_t         head, blen;
    ngx_int_t      rc;
    ngx_str_t      text, bin, again, keys[CRM_MAX_KEYS], rest;
    ngx_uint_t     i, tweak;
    crm_query_t    d;
    unsigned int   mdlen;

    if (data->len == 0) {
        return;
    }

    tweak = data->data[0];
    rest.data = data->data + 1;
    rest.len = data->len - 1;

    for (i = 0; i < q->nsort; i++) {
        nulls[i] = 1;
        ngx_str_set(&keys[i], "");
    }

    fuzz_check(crm_cursor_encode(fuzz_p, &fuzz_secret, q, 0, keys, nulls,
                                 &text)
               == NGX_OK, "signed: encode the header");

    bin.data = ngx_pnalloc(fuzz_p, ngx_base64_decoded_length(text.len));
    fuzz_check(bin.data != NULL, "alloc");
    fuzz_check(ngx_decode_base64url(&bin, &text) == NGX_OK,
               "signed: base64url");
    fuzz_check(bin.len >= FUZZ_MAC_LEN + q->nsort + 3, "signed: length");

    head = bin.len - FUZZ_MAC_LEN - q->nsort;

    /* the body: the data, or keys made of it as the encoder writes them */

    if (keyed) {
        (void) fuzz_keys(q, &rest, keys, nulls);

        blen = 0;

        for (i = 0; i < q->nsort; i++) {
            blen += nulls[i] ? 1 : 3 + keys[i].len;
        }

        body = ngx_pnalloc(fuzz_p, blen);
        fuzz_check(body != NULL, "alloc");

        for (i = 0, p = body; i < q->nsort; i++) {
            if (nulls[i]) {
                *p++ = 1;
                continue;
            }

            *p++ = 0;
            *p++ = (u_char) ((keys[i].len >> 8) & 0xff);
            *p++ = (u_char) (keys[i].len & 0xff);
            p = ngx_cpymem(p, keys[i].data, keys[i].len);
        }

    } else {
        body = rest.data;
        blen = rest.len;
    }

    raw = ngx_pnalloc(fuzz_p, head + blen + FUZZ_MAC_LEN);
    fuzz_check(raw != NULL, "alloc");

    p = ngx_cpymem(raw, bin.data, head);

    if (tweak & 0x01) {
        raw[1] |= 0x01;
    }

    if (tweak & 0x02) {
        raw[1] |= 0x80;
    }

    if (tweak & 0x04) {
        raw[0] ^= 0x02;
    }

    if (tweak & 0x08) {
        raw[head - 1] = (u_char) (tweak >> 4);
    }

    if (tweak & 0x10) {
        raw[2] ^= 0x01;
    }

    p = ngx_cpymem(p, body, blen);

    fuzz_check(HMAC(EVP_sha256(), fuzz_secret.data, (int) fuzz_secret.len,
                    raw, p - raw, md, &mdlen)
               != NULL, "HMAC");

    p = ngx_cpymem(p, md, FUZZ_MAC_LEN);

    bin.data = raw;
    bin.len = p - raw;

    text.data = ngx_pnalloc(fuzz_p, ngx_base64_encoded_length(bin.len));
    fuzz_check(text.data != NULL, "alloc");
    ngx_encode_base64url(&text, &bin);

    d = *q;
    rc = crm_cursor_decode(fuzz_p, &fuzz_secret, &d, &text);
    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED, "signed: return code");

    if (rc != NGX_OK) {
        return;
    }

    fuzz_decoded(&d);

    /* one text for one cursor: the encoder makes the same again */

    fuzz_check(crm_cursor_encode(fuzz_p, &fuzz_secret, q, d.backward, d.key,
                                 d.key_null, &again)
               == NGX_OK, "signed: encode what was decoded");
    fuzz_check(again.len == text.len
               && ngx_memcmp(again.data, text.data, text.len) == 0,
               "signed: the same text again");
}


/* q->nsort keys from the data; 1 if each is a valid value */

static ngx_uint_t
fuzz_keys(crm_query_t *q, ngx_str_t *data, ngx_str_t *keys, u_char *nulls)
{
    u_char      *p, *last, *sep;
    ngx_uint_t   i, valid;

    p = data->data;
    last = p + data->len;
    valid = 1;

    for (i = 0; i < q->nsort; i++) {
        sep = (p < last) ? ngx_strlchr(p, last, 0xff) : NULL;

        keys[i].data = p;
        keys[i].len = ((sep != NULL) ? sep : last) - p;
        nulls[i] = (keys[i].len == 1 && keys[i].data[0] == 0xfe);

        if (!nulls[i]
            && crm_value_check(q->sort[i].field->type, &keys[i])
               != NGX_OK)
        {
            valid = 0;
        }

        p = (sep != NULL) ? sep + 1 : last;
    }

    return valid;
}


static void
fuzz_decoded(crm_query_t *d)
{
    ngx_uint_t  i;

    fuzz_check(d->has_cursor, "decoded: has_cursor");

    for (i = 0; i < d->nsort; i++) {
        if (d->key_null[i]) {
            continue;
        }

        fuzz_check(d->key[i].data != NULL
                   && d->key[i].data[d->key[i].len] == '\0'
                   && ngx_strlen(d->key[i].data) == d->key[i].len,
                   "decoded: a C string");
        fuzz_check(fuzz_key_valid(d->sort[i].field->type, &d->key[i])
                   == NGX_OK, "decoded: a value of the field's type");
    }
}


/*
 * A key is bound as a parameter of its field's type: what a client may
 * filter by, or a timestamp as PostgreSQL prints it.
 */

static ngx_int_t
fuzz_key_valid(ngx_uint_t type, ngx_str_t *v)
{
    ngx_str_t  t;
    u_char     buf[80];

    if (crm_value_check(type, v) == NGX_OK) {
        return NGX_OK;
    }

    if (type != CRM_FT_TIMESTAMP || v->len <= 10 || v->len > 64) {
        return NGX_DECLINED;
    }

    /* "2026-01-15 10:30:00.123456+00" or "+05:30" */

    ngx_memcpy(buf, v->data, v->len);
    t.data = buf;
    t.len = v->len;

    if (buf[10] == ' ') {
        buf[10] = 'T';
    }

    if (t.len > 13 && (buf[t.len - 3] == '+' || buf[t.len - 3] == '-')) {
        buf[t.len++] = ':';
        buf[t.len++] = '0';
        buf[t.len++] = '0';
    }

    return crm_value_check(type, &t);
}
