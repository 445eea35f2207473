
/*
 * Unit tests of the tracking tokens and the html rewriting
 * (src/model/crm_track.c), TAP output.
 *
 * The known answers were computed independently (Python's hmac,
 * hashlib, base64 and uuid) from the layout documented at the top of
 * crm_track.c; t/180-tracking.t makes tokens the same way in Perl.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "model/crm_track.h"
#include "tap.h"


#define WS_A      "11111111-1111-4111-8111-111111111111"
#define EMAIL_A   "33333333-3333-4333-8333-333333333333"
#define BASE      "https://t.example.com/t/"
#define URL_A     "https://example.com/a?b=1&c=2"

#define KAT_OPEN                                                             \
    "AW8RERERERFBEYERERERERERMzMzMzMzQzODMzMzMzMzM4jd2RFXoeh5AdaQLWPgbzQ"
#define KAT_UNSUB                                                            \
    "AXURERERERFBEYERERERERERMzMzMzMzQzODMzMzMzMzM6KmhH6ar7B8d7HtOWoBTbE"
#define KAT_CLICK                                                            \
    "AWMRERERERFBEYERERERERERMzMzMzMzQzODMzMzMzMzM2h0dHBzOi8vZXhhbXBsZS5j"   \
    "b20vYT9iPTEmYz0yM3TGc2vk1RDgraOgI4UreQ"

#define PIXEL_TAIL                                                           \
    ".gif\" width=\"1\" height=\"1\" alt=\"\" style=\"display:none\">"


static ngx_int_t sign(ngx_uint_t kind, const char *ws, const char *email,
    const char *url, ngx_str_t *token);
static ngx_int_t verify(ngx_str_t *token, crm_track_t *t);
static ngx_int_t html(const char *in, size_t len, ngx_str_t *out);
static ngx_uint_t links(ngx_str_t *out, ngx_str_t *urls, ngx_uint_t max);
static ngx_int_t has(ngx_str_t *s, const char *what);
static ngx_int_t pixel_before(ngx_str_t *out, const char *what);
static ngx_int_t ends_with_pixel(ngx_str_t *out);
static ngx_int_t str_is(ngx_str_t *s, const char *want);

static void test_known_answers(void);
static void test_round_trip(void);
static void test_tamper(void);
static void test_kinds(void);
static void test_sign_refuses(void);
static void test_url(void);
static void test_html_links(void);
static void test_html_left_alone(void);
static void test_html_pixel(void);
static void test_html_malformed(void);
static void test_html_huge(void);
static void test_clean(void);


static ngx_pool_t  *pool;
static ngx_str_t    secret = ngx_string("0123456789abcdef0123456789abcdef");
static ngx_str_t    other = ngx_string("0123456789abcdef0123456789abcdeX");
static ngx_str_t    base = ngx_string(BASE);

static const u_char  b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


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
    test_round_trip();
    test_tamper();
    test_kinds();
    test_sign_refuses();
    test_url();
    test_html_links();
    test_html_left_alone();
    test_html_pixel();
    test_html_malformed();
    test_html_huge();
    test_clean();

    ngx_destroy_pool(pool);

    return done_testing();
}


static void
test_known_answers(void)
{
    ngx_str_t    t;
    crm_track_t  d;

    ok(sign(CRM_TRACK_OPEN, WS_A, EMAIL_A, NULL, &t) == NGX_OK,
       "sign an open: NGX_OK");
    is_mem(t.data, t.len, KAT_OPEN, "open: the documented layout");

    ok(sign(CRM_TRACK_UNSUBSCRIBE, WS_A, EMAIL_A, NULL, &t) == NGX_OK,
       "sign an unsubscribe: NGX_OK");
    is_mem(t.data, t.len, KAT_UNSUB, "unsubscribe: the documented layout");

    ok(sign(CRM_TRACK_CLICK, WS_A, EMAIL_A, URL_A, &t) == NGX_OK,
       "sign a click: NGX_OK");
    is_mem(t.data, t.len, KAT_CLICK, "click: the documented layout");

    ngx_str_set(&t, KAT_CLICK);
    ok(verify(&t, &d) == NGX_OK, "the known click verifies");
    ok(d.kind == CRM_TRACK_CLICK && str_is(&d.ws, WS_A)
       && str_is(&d.email, EMAIL_A) && str_is(&d.url, URL_A)
       && d.url.data[d.url.len] == '\0',
       "known click: kind, workspace, email, URL (NUL-terminated)");

    ok(sign(CRM_TRACK_OPEN, "11111111-1111-4111-8111-111111111111",
            "33333333-3333-4333-8333-333333333333", NULL, &t) == NGX_OK
       && sign(CRM_TRACK_OPEN, WS_A, "33333333-3333-4333-8333-33333333333A",
               NULL, &t) == NGX_OK
       && !str_is(&t, KAT_OPEN),
       "uuids in any case sign their bytes");
}


static void
test_round_trip(void)
{
    ngx_str_t    t;
    crm_track_t  d;

    sign(CRM_TRACK_OPEN, WS_A, "AbCdEf01-2345-6789-aBcD-eF0123456789", NULL,
         &t);
    ok(verify(&t, &d) == NGX_OK && d.kind == CRM_TRACK_OPEN
       && str_is(&d.email, "abcdef01-2345-6789-abcd-ef0123456789")
       && d.url.len == 0,
       "open round trip: the uuid comes back in lower case, no URL");

    sign(CRM_TRACK_UNSUBSCRIBE, WS_A, EMAIL_A, NULL, &t);
    ok(verify(&t, &d) == NGX_OK && d.kind == CRM_TRACK_UNSUBSCRIBE
       && str_is(&d.ws, WS_A) && str_is(&d.email, EMAIL_A),
       "unsubscribe round trip");

    sign(CRM_TRACK_CLICK, WS_A, EMAIL_A,
         "HTTP://Example.COM:8080/p%20q?x=%22&y=~#frag", &t);
    ok(verify(&t, &d) == NGX_OK && d.kind == CRM_TRACK_CLICK
       && str_is(&d.url, "HTTP://Example.COM:8080/p%20q?x=%22&y=~#frag"),
       "click round trip: the URL byte for byte");
}


static void
test_tamper(void)
{
    size_t       i, j;
    u_char      *raw, c;
    ngx_str_t    t, copy, bin, text;
    ngx_uint_t   accepted, tries;
    crm_track_t  d;

    sign(CRM_TRACK_CLICK, WS_A, EMAIL_A, URL_A, &t);

    copy.data = ngx_pnalloc(pool, t.len + 1);
    accepted = 0;
    tries = 0;

    /* every character of the text, to every other character */

    for (i = 0; i < t.len; i++) {
        for (j = 0; j < 64; j++) {
            c = b64url[j];

            if (c == t.data[i]) {
                continue;
            }

            ngx_memcpy(copy.data, t.data, t.len);
            copy.data[i] = c;
            copy.len = t.len;
            tries++;

            if (verify(&copy, &d) != NGX_DECLINED) {
                accepted++;
            }
        }
    }

    ok(accepted == 0 && tries > 3000,
       "every one-character change is refused (%lu of %lu accepted)",
       (unsigned long) accepted, (unsigned long) tries);

    /* every bit of the bytes, re-encoded */

    bin.data = ngx_pnalloc(pool, ngx_base64_decoded_length(t.len));
    ngx_decode_base64url(&bin, &t);
    raw = ngx_pnalloc(pool, bin.len);
    text.data = ngx_pnalloc(pool, ngx_base64_encoded_length(bin.len));
    accepted = 0;

    for (i = 0; i < bin.len * 8; i++) {
        ngx_memcpy(raw, bin.data, bin.len);
        raw[i / 8] ^= (u_char) (1 << (i % 8));
        copy.data = raw;
        copy.len = bin.len;
        ngx_encode_base64url(&text, &copy);

        if (verify(&text, &d) != NGX_DECLINED) {
            accepted++;
        }
    }

    ok(accepted == 0, "every bit flipped is refused (%lu accepted)",
       (unsigned long) accepted);

    /* every truncation, an extra character */

    accepted = 0;

    for (i = 0; i < t.len; i++) {
        copy.data = t.data;
        copy.len = i;

        if (verify(&copy, &d) != NGX_DECLINED) {
            accepted++;
        }
    }

    ok(accepted == 0, "every prefix is refused");

    copy.data = ngx_pnalloc(pool, t.len + 2);
    ngx_memcpy(copy.data, t.data, t.len);
    copy.data[t.len] = 'A';
    copy.len = t.len + 1;
    ok(verify(&copy, &d) == NGX_DECLINED, "an extra character is refused");
    copy.data[t.len + 1] = 'A';
    copy.len = t.len + 2;
    ok(verify(&copy, &d) == NGX_DECLINED, "two extra characters: refused");

    copy.data[t.len] = '=';
    copy.len = t.len + 1;
    ok(verify(&copy, &d) == NGX_DECLINED, "padding is refused");

    /* the unused low bits of the last character: one text, one token */

    ngx_memcpy(copy.data, t.data, t.len);
    copy.len = t.len;
    ok(t.len % 4 != 0, "the click token's text has unused bits");
    copy.data[t.len - 1] = b64url[(ngx_strlchr((u_char *) b64url,
                                               (u_char *) b64url + 64,
                                               t.data[t.len - 1])
                                   - b64url) | 1];
    ok(verify(&copy, &d) == NGX_DECLINED,
       "a set unused bit is refused: one text for one token");

    ok(ngx_strlchr(t.data, t.data + t.len, '+') == NULL, "base64url only");
    ngx_memcpy(copy.data, t.data, t.len);
    copy.data[3] = '+';
    ok(verify(&copy, &d) == NGX_DECLINED, "a base64 '+' is refused");

    copy.len = 0;
    ok(verify(&copy, &d) == NGX_DECLINED, "empty: refused");

    ngx_str_set(&copy, "not a token at all");
    ok(verify(&copy, &d) == NGX_DECLINED, "garbage: refused");

    /* another secret */

    ok(crm_track_verify(pool, &other, &t, &d) == NGX_DECLINED,
       "another secret: refused");

    sign(CRM_TRACK_OPEN, WS_A, EMAIL_A, NULL, &t);
    ok(crm_track_verify(pool, &other, &t, &d) == NGX_DECLINED,
       "another secret: an open refused too");
}


/* the kind is signed: an open's bytes with another kind do not verify */

static void
test_kinds(void)
{
    ngx_str_t    t, bin, text;
    ngx_uint_t   k;
    crm_track_t  d;

    static const u_char  kinds[] = { 'c', 'u', 'O', 'x', 0 };

    sign(CRM_TRACK_OPEN, WS_A, EMAIL_A, NULL, &t);
    ok(verify(&t, &d) == NGX_OK && d.kind == CRM_TRACK_OPEN,
       "an open token says it is an open");

    bin.data = ngx_pnalloc(pool, ngx_base64_decoded_length(t.len));
    ngx_decode_base64url(&bin, &t);
    text.data = ngx_pnalloc(pool, ngx_base64_encoded_length(bin.len));

    for (k = 0; k < sizeof(kinds); k++) {
        bin.data[1] = kinds[k];
        ngx_encode_base64url(&text, &bin);
        ok(verify(&text, &d) == NGX_DECLINED,
           "an open relabelled '%c' is refused", kinds[k] ? kinds[k] : '0');
    }

    sign(CRM_TRACK_UNSUBSCRIBE, WS_A, EMAIL_A, NULL, &text);
    ok(verify(&text, &d) == NGX_OK && d.kind == CRM_TRACK_UNSUBSCRIBE
       && !(text.len == t.len && ngx_memcmp(text.data, t.data, t.len) == 0),
       "the same email's unsubscribe token is another token");
}


static void
test_sign_refuses(void)
{
    char         *longurl;
    ngx_str_t     t, empty;
    crm_track_t   d;

    ok(sign(CRM_TRACK_OPEN, WS_A, EMAIL_A, URL_A, &t) == NGX_DECLINED,
       "an open with a URL: declined");
    ok(sign(CRM_TRACK_UNSUBSCRIBE, WS_A, EMAIL_A, URL_A, &t)
       == NGX_DECLINED, "an unsubscribe with a URL: declined");
    ok(sign(CRM_TRACK_CLICK, WS_A, EMAIL_A, NULL, &t) == NGX_DECLINED,
       "a click without a URL: declined");
    ok(sign(CRM_TRACK_CLICK, WS_A, EMAIL_A, "", &t) == NGX_DECLINED,
       "a click with an empty URL: declined");
    ok(sign('x', WS_A, EMAIL_A, NULL, &t) == NGX_DECLINED,
       "an unknown kind: declined");

    ok(sign(CRM_TRACK_CLICK, WS_A, EMAIL_A, "javascript:alert(1)", &t)
       == NGX_DECLINED
       && sign(CRM_TRACK_CLICK, WS_A, EMAIL_A, "ftp://example.com/", &t)
          == NGX_DECLINED
       && sign(CRM_TRACK_CLICK, WS_A, EMAIL_A, "//example.com/", &t)
          == NGX_DECLINED
       && sign(CRM_TRACK_CLICK, WS_A, EMAIL_A, "/relative", &t)
          == NGX_DECLINED
       && sign(CRM_TRACK_CLICK, WS_A, EMAIL_A, "mailto:a@b.test", &t)
          == NGX_DECLINED,
       "only http and https are signed");

    ok(sign(CRM_TRACK_CLICK, WS_A, EMAIL_A, "https://", &t) == NGX_DECLINED
       && sign(CRM_TRACK_CLICK, WS_A, EMAIL_A, "http:///x", &t)
          == NGX_DECLINED
       && sign(CRM_TRACK_CLICK, WS_A, EMAIL_A, "https://?q", &t)
          == NGX_DECLINED,
       "a URL without a host: declined");

    ok(sign(CRM_TRACK_CLICK, WS_A, EMAIL_A, "https://a.test/\r\nX: y", &t)
       == NGX_DECLINED
       && sign(CRM_TRACK_CLICK, WS_A, EMAIL_A, "https://a.test/ b", &t)
          == NGX_DECLINED
       && sign(CRM_TRACK_CLICK, WS_A, EMAIL_A, "https://a.test/\"", &t)
          == NGX_DECLINED
       && sign(CRM_TRACK_CLICK, WS_A, EMAIL_A, "https://a.test/<", &t)
          == NGX_DECLINED
       && sign(CRM_TRACK_CLICK, WS_A, EMAIL_A, "https://a.test\\@b", &t)
          == NGX_DECLINED
       && sign(CRM_TRACK_CLICK, WS_A, EMAIL_A, "https://a.test/\xc3\xa9",
               &t) == NGX_DECLINED,
       "controls, spaces, quotes, brackets, backslashes, non-ASCII: "
       "declined (never in a Location header)");

    longurl = ngx_pcalloc(pool, CRM_TRACK_URL_MAX + 2);
    ngx_memcpy(longurl, "https://a.test/", 15);
    ngx_memset(longurl + 15, 'x', CRM_TRACK_URL_MAX - 15);
    ok(sign(CRM_TRACK_CLICK, WS_A, EMAIL_A, longurl, &t) == NGX_OK,
       "a URL of CRM_TRACK_URL_MAX bytes is signed");
    ok(t.len <= CRM_TRACK_TOKEN_MAX && verify(&t, &d) == NGX_OK
       && d.url.len == CRM_TRACK_URL_MAX,
       "and verifies (its token fits CRM_TRACK_TOKEN_MAX)");
    longurl[CRM_TRACK_URL_MAX] = 'x';
    ok(sign(CRM_TRACK_CLICK, WS_A, EMAIL_A, longurl, &t) == NGX_DECLINED,
       "one byte more: declined");

    ok(sign(CRM_TRACK_OPEN, "11111111-1111-4111-8111-11111111111", EMAIL_A,
            NULL, &t) == NGX_DECLINED
       && sign(CRM_TRACK_OPEN, WS_A, "33333333-3333-4333-8333-33333333333g",
               NULL, &t) == NGX_DECLINED
       && sign(CRM_TRACK_OPEN, WS_A, "333333333-333-4333-8333-333333333333",
               NULL, &t) == NGX_DECLINED
       && sign(CRM_TRACK_OPEN, NULL, EMAIL_A, NULL, &t) == NGX_DECLINED,
       "a workspace or email that is not a uuid: declined");

    empty.len = 0;
    empty.data = (u_char *) "";
    ok(crm_track_sign(pool, &empty, CRM_TRACK_OPEN, &base, &base, NULL, &t)
       == NGX_ERROR, "no secret: NGX_ERROR");
    ok(crm_track_verify(pool, &empty, &t, &d) == NGX_ERROR,
       "verify without a secret: NGX_ERROR");
}


static void
test_url(void)
{
    ngx_str_t    ws, email, url, out, t;
    crm_track_t  d;

    ngx_str_set(&ws, WS_A);
    ngx_str_set(&email, EMAIL_A);

    ok(crm_track_url(pool, &secret, &base, CRM_TRACK_UNSUBSCRIBE, &ws,
                     &email, NULL, &out) == NGX_OK
       && str_is(&out, BASE "u/" KAT_UNSUB),
       "List-Unsubscribe URL: <base>u/<token>");

    ok(crm_track_url(pool, &secret, &base, CRM_TRACK_OPEN, &ws, &email, NULL,
                     &out) == NGX_OK
       && str_is(&out, BASE "o/" KAT_OPEN ".gif"),
       "open URL: <base>o/<token>.gif");

    ngx_str_set(&url, URL_A);
    ok(crm_track_url(pool, &secret, &base, CRM_TRACK_CLICK, &ws, &email,
                     &url, &out) == NGX_OK
       && str_is(&out, BASE "c/" KAT_CLICK),
       "click URL: <base>c/<token>");

    t.data = out.data + base.len + 2;
    t.len = out.len - base.len - 2;
    ok(verify(&t, &d) == NGX_OK && str_is(&d.url, URL_A),
       "the click URL's token verifies");

    ngx_str_set(&url, "javascript:x");
    ok(crm_track_url(pool, &secret, &base, CRM_TRACK_CLICK, &ws, &email,
                     &url, &out) == NGX_DECLINED,
       "a URL that cannot be signed: declined");
}


static void
test_html_links(void)
{
    ngx_str_t   out, urls[8];
    ngx_uint_t  n;

    ok(html("<p><a href=\"https://example.com/x?a=1&amp;b=2\">x</a></p>",
            0, &out) == NGX_OK, "html: NGX_OK");
    n = links(&out, urls, 8);
    ok(n == 1 && str_is(&urls[0], "https://example.com/x?a=1&b=2"),
       "a double-quoted href: entities decoded, then signed");
    ok(has(&out, "<p><a href=\"" BASE "c/") && has(&out, "\">x</a></p>")
       && !has(&out, "https://example.com"),
       "the href is replaced by the click URL, the rest kept");

    html("<a class='x' href='http://a.test/q?x=1&#38;y=&#x26;z'>y</a>", 0,
         &out);
    n = links(&out, urls, 8);
    ok(n == 1 && str_is(&urls[0], "http://a.test/q?x=1&y=&z")
       && has(&out, "<a class='x' href=\"" BASE "c/"),
       "single quotes and numeric references");

    html("<A HREF=https://a.test/p>y</A><a\nhref =\n\"https://b.test/\">", 0,
         &out);
    n = links(&out, urls, 8);
    ok(n == 2 && str_is(&urls[0], "https://a.test/p")
       && str_is(&urls[1], "https://b.test/")
       && has(&out, "<A HREF=\"" BASE "c/"),
       "upper case, unquoted, white space around =");

    html("<a href=\"  https://a.test/\tp q\xc3\xa9&quot;<>\n \">", 0, &out);
    n = links(&out, urls, 8);
    ok(n == 1 && str_is(&urls[0], "https://a.test/p%20q%C3%A9%22%3C%3E"),
       "trimmed, tabs dropped, spaces, quotes and UTF-8 percent-encoded");

    html("<a href=\"https://a.test/1\" href=\"https://a.test/2\">"
         "<a data-href=\"https://a.test/3\" title=\"href=https://a.test/4\">"
         "<a/href=\"https://a.test/5\">", 0, &out);
    n = links(&out, urls, 8);
    ok(n == 2 && str_is(&urls[0], "https://a.test/1")
       && str_is(&urls[1], "https://a.test/5")
       && has(&out, "href=\"https://a.test/2\"")
       && has(&out, "data-href=\"https://a.test/3\""),
       "the first href only; other attributes left alone");

    html("<a href=\"https://a.test/?q=&lt;&gt;&apos;&unknown;&#0;\">", 0,
         &out);
    n = links(&out, urls, 8);
    ok(n == 1
       && str_is(&urls[0],
                 "https://a.test/?q=%3C%3E'&unknown;%EF%BF%BD"),
       "named references, unknown ones kept, &#0; as U+FFFD");
}


static void
test_html_left_alone(void)
{
    ngx_str_t   out, urls[8];
    ngx_uint_t  n;

    static const char  in[] =
        "<a href=\"mailto:x@y.test\">m</a>"
        "<a href=\"#top\">t</a>"
        "<a href=\"/relative\">r</a>"
        "<a href=\"page.html\">p</a>"
        "<a href=\"javascript:alert(1)\">j</a>"
        "<a href=\"ftp://f.test/\">f</a>"
        "<a href=\"tel:+1\">tel</a>"
        "<a href=\"\">e</a>"
        "<a href=\"https://a.test/\\x\">b</a>"
        "<a href=\"https://a.test/&#1;\">c</a>"
        "<abbr href=\"https://a.test/\">a</abbr>"
        "<area href=\"https://a.test/\">"
        "<!-- <a href=\"https://a.test/c\"> -->"
        "<link href=\"https://a.test/css\">";

    ok(html(in, 0, &out) == NGX_OK, "html: NGX_OK");
    n = links(&out, urls, 8);
    ok(n == 0, "no link rewritten");
    ok(out.len > sizeof(in) - 1
       && ngx_memcmp(out.data, in, sizeof(in) - 1) == 0,
       "mailto, anchors, relative, other schemes, empty, backslashes, "
       "controls, other elements, comments: byte for byte");
}


static void
test_html_pixel(void)
{
    ngx_str_t  out;

    html("<html><body><p>hi</p></body></html>", 0, &out);
    ok(pixel_before(&out, "</body></html>")
       && has(&out, "<p>hi</p><img src=\"" BASE "o/" KAT_OPEN PIXEL_TAIL),
       "the pixel goes before </body>");

    html("<BODY>a</body><p>x</p></BODY >tail", 0, &out);
    ok(pixel_before(&out, "</BODY >tail"), "the last </body>, any case");

    html("<p>no body</p>", 0, &out);
    ok(ends_with_pixel(&out) && has(&out, "<p>no body</p><img"),
       "without </body>, at the end");

    html("<p></bodyx></p>", 0, &out);
    ok(ends_with_pixel(&out), "</bodyx> is not </body>");

    html("", 0, &out);
    ok(ends_with_pixel(&out) && out.len == sizeof("<img src=\"" BASE "o/"
                                                  KAT_OPEN PIXEL_TAIL) - 1,
       "empty html: the pixel alone");

    html("</body", 0, &out);
    ok(pixel_before(&out, "</body"), "</body at the very end");
}


static void
test_html_malformed(void)
{
    ngx_uint_t  i, n;
    ngx_str_t   out, urls[4];

    static const char  *bad[] = {
        "<a", "<a ", "<a href", "<a href=", "<a href= ", "<a href=\"",
        "<a href=\"https://a.test/", "<a href='https://a.test/\">",
        "<a =\"x\" href=\"https://a.test/\"", "<a ==== >", "<", "<!--",
        "<!-- <a href=\"https://a.test/\">", "&", "&#", "&#x",
        "<a href=\"https://a.test/&#", "<a href=\"https://a.test/&#x1",
        "<a href=\"https://a.test/&#99999999999999999999;\">",
        "<a href=\"https://a.test/&amp\">", "</bod", "<a/////>", "<a\0href=x>"
    };

    n = 0;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (html(bad[i], 0, &out) == NGX_OK && ends_with_pixel(&out)) {
            n++;
        }
    }

    ok(n == sizeof(bad) / sizeof(bad[0]),
       "malformed html: NGX_OK and the pixel, every time (%lu)",
       (unsigned long) n);

    html("<a href=\"https://a.test/&#99999999999999999999;\">", 0, &out);
    ok(links(&out, urls, 4) == 1
       && str_is(&urls[0], "https://a.test/%EF%BF%BD"),
       "an overlong numeric reference is U+FFFD");

    html("<a href=\"https://a.test/&amp\">", 0, &out);
    ok(links(&out, urls, 4) == 1 && str_is(&urls[0], "https://a.test/&amp"),
       "&amp without ; is kept as written");

    html("<a =\"x\" href=\"https://a.test/\">", 0, &out);
    ok(links(&out, urls, 4) == 1, "an attribute name starting with =");

    html("<a href=\"https://a.test/\0x\">", sizeof("<a href=\"https://a.test/")
         + 3, &out);
    ok(links(&out, urls, 4) == 0, "a NUL in an href: left alone");
}


static void
test_html_huge(void)
{
    u_char      *in, *p;
    size_t       len, i;
    ngx_str_t    out, urls[4];
    ngx_uint_t   n;

    static const char  link[] = "<a href=\"https://a.test/p?x=1&amp;y=2\">";

    len = 20000 * (sizeof(link) - 1) + 1000000;
    in = ngx_pnalloc(pool, len);
    p = in;

    for (i = 0; i < 20000; i++) {
        p = ngx_cpymem(p, link, sizeof(link) - 1);
    }

    ngx_memset(p, '<', 1000000);

    ok(html((char *) in, len, &out) == NGX_OK && ends_with_pixel(&out),
       "1.7 MB of html: NGX_OK");

    n = 0;
    p = out.data;

    while ((p = ngx_strlcasestrn(p, out.data + out.len,
                                 (u_char *) BASE "c/", sizeof(BASE) + 1 - 1))
           != NULL)
    {
        n++;
        p++;
    }

    ok(n == 20000, "20000 links rewritten (%lu)", (unsigned long) n);
    ok(links(&out, urls, 1) >= 1
       && str_is(&urls[0], "https://a.test/p?x=1&y=2"),
       "the first of them to its URL");

    ngx_memset(in, 'x', len);
    in[0] = '<';
    in[1] = 'a';
    in[2] = ' ';
    in[3] = 'h';
    in[4] = 'r';
    in[5] = 'e';
    in[6] = 'f';
    in[7] = '=';
    in[8] = '"';
    ok(html((char *) in, len, &out) == NGX_OK && ends_with_pixel(&out)
       && ngx_memcmp(out.data, in, len) == 0,
       "an unclosed 1.7 MB href: left alone");
}


static void
test_clean(void)
{
    u_char  buf[64], *p;

    p = crm_track_clean(buf, (u_char *) "Mozilla/5.0 (X)", 15, 512);
    ok(p - buf == 15 && ngx_memcmp(buf, "Mozilla/5.0 (X)", 15) == 0,
       "clean: printable ASCII kept");

    p = crm_track_clean(buf, (u_char *) "a\tb\r\n\x7f\0c", 8, 512);
    is_mem(buf, p - buf, "a?b????c", "clean: controls and NUL as ?");

    p = crm_track_clean(buf, (u_char *) "\xc3\xa9\xc3\xff\xe2\x82\xac\xed\xa0"
                        "\x80\xf8\x88\x80\x80\x80\xc0\xaf", 17, 512);
    is_mem(buf, p - buf, "\xc3\xa9??\xe2\x82\xac??????????",
           "clean: valid UTF-8 kept, invalid bytes, surrogates, overlong "
           "forms as ?");

    p = crm_track_clean(buf, (u_char *) "\xc3\xa9\xc3\xa9\xc3\xa9xyz", 9, 4);
    is_mem(buf, p - buf, "\xc3\xa9\xc3\xa9\xc3\xa9x",
           "clean: at most max characters");

    p = crm_track_clean(buf, (u_char *) "\xf4\x90\x80\x80\xe0\x9f\xbf", 7,
                        512);
    is_mem(buf, p - buf, "???????", "clean: above U+10FFFF, overlong: ?");

    p = crm_track_clean(buf, (u_char *) "\xe2\x82", 2, 512);
    is_mem(buf, p - buf, "??", "clean: a truncated sequence");
}


static ngx_int_t
sign(ngx_uint_t kind, const char *ws, const char *email, const char *url,
    ngx_str_t *token)
{
    ngx_str_t  w, e, u;

    w.data = (u_char *) ws;
    w.len = ws ? ngx_strlen(ws) : 0;
    e.data = (u_char *) email;
    e.len = ngx_strlen(email);
    u.data = (u_char *) url;
    u.len = url ? ngx_strlen(url) : 0;

    return crm_track_sign(pool, &secret, kind, ws ? &w : NULL, &e,
                          url ? &u : NULL, token);
}


static ngx_int_t
verify(ngx_str_t *token, crm_track_t *t)
{
    return crm_track_verify(pool, &secret, token, t);
}


static ngx_int_t
html(const char *in, size_t len, ngx_str_t *out)
{
    ngx_str_t  h, ws, email;

    h.data = (u_char *) in;
    h.len = len ? len : ngx_strlen(in);

    ngx_str_set(&ws, WS_A);
    ngx_str_set(&email, EMAIL_A);

    return crm_track_html(pool, &secret, &base, &ws, &email, &h, out);
}


/* the URLs of the click links of "out", in order (verified) */

static ngx_uint_t
links(ngx_str_t *out, ngx_str_t *urls, ngx_uint_t max)
{
    u_char      *p, *last, *q;
    ngx_str_t    t;
    ngx_uint_t   n;
    crm_track_t  d;

    static const char  prefix[] = "\"" BASE "c/";

    p = out->data;
    last = out->data + out->len;
    n = 0;

    while (n < max) {
        p = ngx_strlcasestrn(p, last, (u_char *) prefix, sizeof(prefix) - 2);
        if (p == NULL) {
            break;
        }

        p += sizeof(prefix) - 1;
        q = ngx_strlchr(p, last, '"');
        if (q == NULL) {
            break;
        }

        t.data = p;
        t.len = q - p;

        if (verify(&t, &d) != NGX_OK || d.kind != CRM_TRACK_CLICK) {
            diag("a link's token does not verify");
            break;
        }

        urls[n++] = d.url;
    }

    return n;
}


/* "what" in "s", case-sensitively */

static ngx_int_t
has(ngx_str_t *s, const char *what)
{
    size_t  i, n;

    n = ngx_strlen(what);

    for (i = 0; i + n <= s->len; i++) {
        if (ngx_memcmp(s->data + i, what, n) == 0) {
            return 1;
        }
    }

    return 0;
}


static ngx_int_t
pixel_before(ngx_str_t *out, const char *what)
{
    size_t       n;
    static char  tail[] = PIXEL_TAIL;

    n = ngx_strlen(what);

    return out->len > n + sizeof(tail) - 1
           && ngx_memcmp(out->data + out->len - n, what, n) == 0
           && ngx_memcmp(out->data + out->len - n - (sizeof(tail) - 1), tail,
                         sizeof(tail) - 1) == 0;
}


static ngx_int_t
ends_with_pixel(ngx_str_t *out)
{
    return pixel_before(out, "");
}


static ngx_int_t
str_is(ngx_str_t *s, const char *want)
{
    return s->len == ngx_strlen(want)
           && ngx_memcmp(s->data, want, s->len) == 0;
}
