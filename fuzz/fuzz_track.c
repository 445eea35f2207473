
/*
 * libFuzzer target: tracking tokens and the html rewriting
 * (src/model/crm_track.c).  See fuzz/README.
 *
 * The first byte of an input picks the mode (byte % 4):
 *
 *   0   the data is a token as a client sends it (the path of a
 *       tracking URL): verified, never more than refused; one it
 *       accepts says what it was signed with, and signing that again
 *       makes the same text
 *   1   the data is an email's html: rewritten; the result ends with
 *       the pixel (or has it before a </body>), and every click link
 *       in it holds a token that verifies to an http(s) URL
 *   2   the data is a URL: signed as a click if it can be, and then
 *       verified back to the same bytes
 *   3   the data is a User-Agent header: cleaned into valid UTF-8 of
 *       at most CRM_TRACK_UA_MAX characters without controls
 *
 * Besides the sanitizers: the return codes and the properties above.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "model/crm_track.h"
#include "common.h"


#define FUZZ_WS       "11111111-1111-4111-8111-111111111111"
#define FUZZ_EMAIL    "33333333-3333-4333-8333-333333333333"
#define FUZZ_BASE     "https://t.example.com/t/"
#define FUZZ_TAIL                                                            \
    ".gif\" width=\"1\" height=\"1\" alt=\"\" style=\"display:none\">"


static void fuzz_token(ngx_str_t *data);
static void fuzz_html(ngx_str_t *data);
static void fuzz_url(ngx_str_t *data);
static void fuzz_agent(ngx_str_t *data);
static u_char *fuzz_find(u_char *p, u_char *last, const char *s, size_t n);


static ngx_pool_t  *fuzz_p;

static ngx_str_t  fuzz_secret = ngx_string("fuzz-secret-fuzz-secret-fuzz-sec");
static ngx_str_t  fuzz_ws = ngx_string(FUZZ_WS);
static ngx_str_t  fuzz_email = ngx_string(FUZZ_EMAIL);
static ngx_str_t  fuzz_base = ngx_string(FUZZ_BASE);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char     *copy;
    ngx_str_t   d;

    if (size == 0) {
        return 0;
    }

    fuzz_p = fuzz_pool();

    /* an exact-size copy: ASan sees any read past it */

    copy = fuzz_copy(data + 1, size - 1);

    d.data = copy;
    d.len = size - 1;

    switch (data[0] % 4) {

    case 0:
        fuzz_token(&d);
        break;

    case 1:
        fuzz_html(&d);
        break;

    case 2:
        fuzz_url(&d);
        break;

    default:
        fuzz_agent(&d);
        break;
    }

    fuzz_free(copy, size - 1);

    ngx_destroy_pool(fuzz_p);

    return 0;
}


static void
fuzz_token(ngx_str_t *data)
{
    ngx_int_t    rc;
    ngx_str_t    again;
    crm_track_t  t;

    rc = crm_track_verify(fuzz_p, &fuzz_secret, data, &t);
    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED, "token: return code");

    if (rc != NGX_OK) {
        return;
    }

    fuzz_check(t.kind == CRM_TRACK_OPEN || t.kind == CRM_TRACK_CLICK
               || t.kind == CRM_TRACK_UNSUBSCRIBE, "token: kind");
    fuzz_check(t.ws.len == 36 && t.email.len == 36, "token: uuids");
    fuzz_check((t.kind == CRM_TRACK_CLICK) == (t.url.len > 0)
               && t.url.data[t.url.len] == '\0', "token: url");

    fuzz_check(crm_track_sign(fuzz_p, &fuzz_secret, t.kind, &t.ws,
                              &t.email, &t.url, &again)
               == NGX_OK
               && again.len == data->len
               && ngx_memcmp(again.data, data->data, data->len) == 0,
               "token: one text for one token");
}


static void
fuzz_html(ngx_str_t *data)
{
    u_char       *p, *q, *last;
    size_t        n;
    ngx_int_t     rc;
    ngx_str_t     out, t;
    crm_track_t   d;

    static const char  prefix[] = "\"" FUZZ_BASE "c/";

    rc = crm_track_html(fuzz_p, &fuzz_secret, &fuzz_base, &fuzz_ws,
                        &fuzz_email, data, &out);
    fuzz_check(rc == NGX_OK, "html: return code");

    fuzz_check(out.len > data->len + sizeof(FUZZ_TAIL) - 1, "html: length");
    fuzz_check(fuzz_find(out.data, out.data + out.len, FUZZ_TAIL,
                         sizeof(FUZZ_TAIL) - 1)
               != NULL, "html: the pixel");

    /* every click link verifies to an http(s) URL */

    p = out.data;
    last = out.data + out.len;
    n = 0;

    for ( ;; ) {
        p = fuzz_find(p, last, prefix, sizeof(prefix) - 1);
        if (p == NULL) {
            break;
        }

        p += sizeof(prefix) - 1;
        q = ngx_strlchr(p, last, '"');

        /* the input's own text may look like a link's start */
        if (q == NULL) {
            break;
        }

        t.data = p;
        t.len = q - p;

        if (crm_track_verify(fuzz_p, &fuzz_secret, &t, &d) == NGX_OK) {
            fuzz_check(d.kind == CRM_TRACK_CLICK
                       && crm_track_url_valid(d.url.data, d.url.len)
                          == NGX_OK, "html: a link's token");
            n++;
        }
    }

    (void) n;
}


static void
fuzz_url(ngx_str_t *data)
{
    ngx_int_t    rc;
    ngx_str_t    token;
    crm_track_t  d;

    rc = crm_track_sign(fuzz_p, &fuzz_secret, CRM_TRACK_CLICK, &fuzz_ws,
                        &fuzz_email, data, &token);

    fuzz_check(rc == NGX_OK || rc == NGX_DECLINED, "url: return code");
    fuzz_check((rc == NGX_OK)
               == (data->len > 0
                   && crm_track_url_valid(data->data, data->len) == NGX_OK),
               "url: signed exactly when valid");

    if (rc != NGX_OK) {
        return;
    }

    fuzz_check(crm_track_verify(fuzz_p, &fuzz_secret, &token, &d) == NGX_OK
               && d.kind == CRM_TRACK_CLICK
               && d.url.len == data->len
               && ngx_memcmp(d.url.data, data->data, data->len) == 0,
               "url: round trip");
}


static void
fuzz_agent(ngx_str_t *data)
{
    u_char     *buf, *p;
    size_t      i, chars;
    ngx_str_t   s;

    buf = ngx_pnalloc(fuzz_p, 4 * CRM_TRACK_UA_MAX);
    fuzz_check(buf != NULL, "alloc");

    p = crm_track_clean(buf, data->data, data->len, CRM_TRACK_UA_MAX);

    s.data = buf;
    s.len = p - buf;

    fuzz_check(s.len <= 4 * CRM_TRACK_UA_MAX, "agent: length");
    fuzz_check(fuzz_utf8(&s) == NGX_OK, "agent: UTF-8");

    chars = 0;

    for (i = 0; i < s.len; i++) {
        fuzz_check(buf[i] >= 0x20 && buf[i] != 0x7f, "agent: no controls");

        if ((buf[i] & 0xc0) != 0x80) {
            chars++;
        }
    }

    fuzz_check(chars <= CRM_TRACK_UA_MAX, "agent: characters");
}


static u_char *
fuzz_find(u_char *p, u_char *last, const char *s, size_t n)
{
    for ( /* void */ ; (size_t) (last - p) >= n; p++) {
        if (ngx_memcmp(p, s, n) == 0) {
            return p;
        }
    }

    return NULL;
}
