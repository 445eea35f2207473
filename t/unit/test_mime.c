
/*
 * Unit tests of the MIME renderer (src/model/crm_mime.c), TAP output.
 *
 * Each rendered message is checked here for its wire form (CRLF only,
 * no line over 998 octets, 7-bit, the headers asked for and no other),
 * then written to a temporary directory and parsed back by an
 * independent parser, Python's email package (t/unit/mime_check.py):
 * subjects, display names, bodies, Message-ID, Date and the unsubscribe
 * headers must round-trip exactly.  MIME_KEEP=1 keeps the messages (the
 * directory is printed).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>
#include "model/crm_mime.h"
#include "tap.h"


#define DATE          1760000000            /* 2025-10-09 08:53:20 UTC */
#define DATE_HDR      "Date: Thu, 09 Oct 2025 08:53:20 +0000\r\n"
#define MSGID         "<5b1e2c3d-0000-4000-8000-000000000001@crm.example>"

#define UNICODE_SUBJ  "Grüße — ünïcode ✓ 日本語"
#define PYTHON        "/usr/bin/python3"


static ngx_str_t str(const char *s);
static ngx_array_t *addrs(const char *name, const char *addr, ...);
static void message(crm_mime_t *m);
static ngx_int_t render(crm_mime_t *m, ngx_str_t *out, const char *what);
static void wire_ok(ngx_str_t *msg, const char *what);
static ngx_uint_t header_lines(ngx_str_t *msg, const char *prefix);
static json_t *pair(const char *name, const char *addr);
static void save(ngx_str_t *msg, json_t *spec);
static void python_check(void);
static char *repeat(const char *s, ngx_uint_t n);
static size_t utf8_len(const char *s);

static void test_alternative(void);
static void test_long_subject(void);
static void test_html_only(void);
static void test_injection(void);
static void test_encoded_look(void);
static void test_newlines(void);
static void test_long_url(void);
static void test_refused(void);


static ngx_pool_t  *pool;
static json_t      *specs;
static char         dir[] = "/tmp/crm-mime-XXXXXX";
static ngx_uint_t   nfiles;


int
main(void)
{
    ngx_log_t  log;

    ngx_memzero(&log, sizeof(ngx_log_t));
    log.log_level = NGX_LOG_ERR;

    ngx_pagesize = getpagesize();

    pool = ngx_create_pool(4096, &log);
    specs = json_array();

    if (pool == NULL || specs == NULL || mkdtemp(dir) == NULL) {
        printf("Bail out! no pool, JSON or temporary directory\n");
        return 1;
    }

    ok(crm_mime_init(&log) == NGX_OK, "init");

    test_alternative();
    test_long_subject();
    test_html_only();
    test_injection();
    test_encoded_look();
    test_newlines();
    test_long_url();
    test_refused();

    python_check();

    crm_mime_done();

    json_decref(specs);
    ngx_destroy_pool(pool);

    return done_testing();
}


static ngx_str_t
str(const char *s)
{
    ngx_str_t  r;

    r.data = (u_char *) s;
    r.len = ngx_strlen(s);

    return r;
}


/* (name, addr) pairs up to a NULL name */

static ngx_array_t *
addrs(const char *name, const char *addr, ...)
{
    va_list           ap;
    ngx_array_t      *a;
    crm_mime_addr_t  *ma;

    a = ngx_array_create(pool, 2, sizeof(crm_mime_addr_t));

    va_start(ap, addr);

    while (name != NULL) {
        ma = ngx_array_push(a);
        ma->name = str(name);
        ma->addr = str(addr);

        name = va_arg(ap, const char *);
        if (name != NULL) {
            addr = va_arg(ap, const char *);
        }
    }

    va_end(ap);

    return a;
}


/* a valid message to start from */

static void
message(crm_mime_t *m)
{
    ngx_memzero(m, sizeof(crm_mime_t));

    m->from_addr = str("sender@crm.example");
    m->to = addrs("", "rcpt@example.org", NULL);
    m->subject = str("Hello");
    m->text = str("Hello there.\n");
    m->message_id = str(MSGID);
    m->date = DATE;
}


static ngx_int_t
render(crm_mime_t *m, ngx_str_t *out, const char *what)
{
    ngx_int_t    rc;
    const char  *err;

    rc = crm_mime_render(pool, m, out, &err);

    if (!ok(rc == NGX_OK, "%s: rendered", what)) {
        diag("error: %s", err ? err : "(none)");
        return NGX_ERROR;
    }

    wire_ok(out, what);

    return NGX_OK;
}


/* CRLF only, lines of at most 998 octets, 7-bit, ends with CRLF */

static void
wire_ok(ngx_str_t *msg, const char *what)
{
    u_char      *p, *last, *line;
    ngx_uint_t   bare, longest, eight;

    bare = 0;
    longest = 0;
    eight = 0;
    line = msg->data;
    last = msg->data + msg->len;

    for (p = msg->data; p < last; p++) {
        if (*p == 0 || *p >= 0x80) {
            eight++;
        }

        if (*p == '\r' && (p + 1 == last || p[1] != '\n')) {
            bare++;
        }

        if (*p == '\n') {
            if (p == msg->data || p[-1] != '\r') {
                bare++;
            }

            if ((ngx_uint_t) (p - 1 - line) > longest) {
                longest = p - 1 - line;
            }

            line = p + 1;
        }
    }

    ok(bare == 0, "%s: CRLF line endings only (%lu bare)", what,
       (unsigned long) bare);
    ok(longest <= 998, "%s: no line over 998 octets (longest %lu)", what,
       (unsigned long) longest);
    ok(eight == 0, "%s: 7-bit only", what);
    ok(msg->len >= 2 && last[-2] == '\r' && last[-1] == '\n',
       "%s: ends with CRLF", what);
}


/* how many lines of the header section start with "prefix" (any case) */

static ngx_uint_t
header_lines(ngx_str_t *msg, const char *prefix)
{
    size_t       n;
    u_char      *p, *last;
    ngx_uint_t   found;

    n = ngx_strlen(prefix);
    found = 0;
    p = msg->data;
    last = msg->data + msg->len;

    while (p < last && !(last - p >= 2 && p[0] == '\r' && p[1] == '\n')) {
        if ((size_t) (last - p) >= n
            && ngx_strncasecmp(p, (u_char *) prefix, n) == 0)
        {
            found++;
        }

        p = ngx_strlchr(p, last, '\n');
        if (p == NULL) {
            break;
        }

        p++;
    }

    return found;
}


static json_t *
pair(const char *name, const char *addr)
{
    return json_pack("[ss]", name, addr);
}


/* msg to DIR/N.eml; spec (with "file" added) for mime_check.py */

static void
save(ngx_str_t *msg, json_t *spec)
{
    FILE  *f;
    char   path[256];

    ngx_sprintf((u_char *) path, "%s/%ui.eml%Z", dir, ++nfiles);

    f = fopen(path, "wb");
    if (f == NULL || fwrite(msg->data, 1, msg->len, f) != msg->len) {
        ok(0, "cannot write %s", path);
        if (f != NULL) {
            fclose(f);
        }
        json_decref(spec);
        return;
    }

    fclose(f);

    json_object_set_new(spec, "file", json_string(path));
    json_array_append_new(specs, spec);
}


/* each line of mime_check.py's answer is a test; the files are removed */

static void
python_check(void)
{
    FILE        *f;
    char        *p, *here, cmd[1024], line[4096], path[256];
    ngx_uint_t   i, n;

    ngx_sprintf((u_char *) path, "%s/spec.json%Z", dir);

    if (json_dump_file(specs, path, 0) != 0) {
        ok(0, "cannot write %s", path);
        return;
    }

    /* mime_check.py is next to this file (the Makefile compiles it by
       its absolute path) */
    here = strdup(__FILE__);
    p = strrchr(here, '/');
    if (p != NULL) {
        *p = '\0';
    }

    snprintf(cmd, sizeof(cmd), "%s %s/mime_check.py %s 2>&1",
             access(PYTHON, X_OK) == 0 ? PYTHON : "python3",
             p != NULL ? here : ".", path);
    free(here);

    f = popen(cmd, "r");
    if (f == NULL) {
        ok(0, "cannot run %s", cmd);
        return;
    }

    n = 0;

    while (fgets(line, sizeof(line), f) != NULL) {
        line[strcspn(line, "\n")] = '\0';

        if (strncmp(line, "ok - ", 5) == 0) {
            ok(1, "python: %s", line + 5);
            n++;

        } else if (strncmp(line, "not ok - ", 9) == 0) {
            ok(0, "python: %s", line + 9);
            n++;

        } else {
            diag("python: %s", line);
        }
    }

    ok(pclose(f) == 0 && n > 0, "python: mime_check.py ran %lu checks",
       (unsigned long) n);

    if (getenv("MIME_KEEP") != NULL) {
        note("messages kept in %s", dir);
        return;
    }

    for (i = 1; i <= nfiles; i++) {
        ngx_sprintf((u_char *) path, "%s/%ui.eml%Z", dir, i);
        unlink(path);
    }

    ngx_sprintf((u_char *) path, "%s/spec.json%Z", dir);
    unlink(path);
    rmdir(dir);
}


static char *
repeat(const char *s, ngx_uint_t n)
{
    u_char      *p, *r;
    size_t       len;
    ngx_uint_t   i;

    len = ngx_strlen(s);
    r = ngx_pnalloc(pool, len * n + 1);
    p = r;

    for (i = 0; i < n; i++) {
        p = ngx_cpymem(p, s, len);
    }

    *p = '\0';

    return (char *) r;
}


/* characters, not octets */

static size_t
utf8_len(const char *s)
{
    size_t  n;

    for (n = 0; *s; s++) {
        if ((*s & 0xc0) != 0x80) {
            n++;
        }
    }

    return n;
}


/* both parts, every header, non-ASCII everywhere, a 2000-octet line */

static void
test_alternative(void)
{
    char               *text, *html;
    json_t             *spec;
    ngx_str_t           out;
    crm_mime_t          m;
    ngx_array_t        *h;
    crm_mime_header_t  *x;

    text = (char *) ngx_pnalloc(pool, 4096);
    ngx_sprintf((u_char *) text,
                "Grüße, Zoë!\n\n日本語のテキスト ✓\n%s\nlast line, "
                "no newline%Z", repeat("0123456789", 200));

    html = "<html><body><p>Grüße — <b>日本語</b> ✓</p>\n"
           "<p>second paragraph</p></body></html>\n";

    h = ngx_array_create(pool, 2, sizeof(crm_mime_header_t));
    x = ngx_array_push(h);
    x->name = str("X-CRM-Email-Id");
    x->value = str("5b1e2c3d-0000-4000-8000-000000000001");
    x = ngx_array_push(h);
    x->name = str("X-CRM-Campaign");
    x->value = str("Été ✓");

    message(&m);
    m.from_name = str("Grüße, \"Jo\" Ünïcode");
    m.to = addrs("Doe, John", "john.doe@example.org",
                 "Zoë \"Z\" Smith", "zoe+tag@mail.example.org", NULL);
    m.cc = addrs("", "cc@example.net", NULL);
    m.reply_to = str("replies@crm.example");
    m.subject = str(UNICODE_SUBJ);
    m.text = str(text);
    m.html = str(html);
    m.unsubscribe_url = str("https://crm.example/u/abc?t=1&x=%2C");
    m.unsubscribe_mailto = str("unsub@crm.example?subject=unsubscribe");
    m.headers = h;

    if (render(&m, &out, "alternative") != NGX_OK) {
        return;
    }

    ok(header_lines(&out, "MIME-Version: 1.0\r\n") == 1,
       "alternative: MIME-Version");
    ok(header_lines(&out, "Message-Id: " MSGID "\r\n") == 1,
       "alternative: Message-ID as given");
    ok(header_lines(&out, DATE_HDR) == 1, "alternative: Date");
    ok(header_lines(&out, "Content-Type: multipart/alternative;") == 1,
       "alternative: multipart/alternative");
    ok(header_lines(&out, "List-Unsubscribe: <https://crm.example/u/abc"
                          "?t=1&x=%2C>,\r\n <mailto:unsub@crm.example"
                          "?subject=unsubscribe>\r\n") == 1,
       "alternative: List-Unsubscribe, folded after the comma");
    ok(header_lines(&out, "List-Unsubscribe-Post: List-Unsubscribe="
                          "One-Click\r\n") == 1,
       "alternative: List-Unsubscribe-Post");
    ok(header_lines(&out, "X-CRM-Email-Id: 5b1e2c3d-0000-4000-8000-"
                          "000000000001\r\n") == 1,
       "alternative: extra header as given");
    ok(header_lines(&out, "Subject: =?UTF-8?") == 1,
       "alternative: subject RFC 2047 encoded in UTF-8");
    ok(header_lines(&out, "Bcc:") == 0, "alternative: no Bcc");
    ok(ngx_strnstr(out.data, "Content-Type: text/plain; charset=utf-8",
                   out.len) != NULL,
       "alternative: text/plain; charset=utf-8");
    ok(ngx_strnstr(out.data, "Content-Transfer-Encoding: base64", out.len)
       != NULL
       || ngx_strnstr(out.data, "Content-Transfer-Encoding: quoted-printable",
                      out.len) != NULL,
       "alternative: 8-bit text transfer-encoded");

    spec = json_object();
    json_object_set_new(spec, "subject", json_string(UNICODE_SUBJ));
    json_object_set_new(spec, "from",
                        pair("Grüße, \"Jo\" Ünïcode", "sender@crm.example"));
    json_object_set_new(spec, "to",
                        json_pack("[oo]",
                                  pair("Doe, John", "john.doe@example.org"),
                                  pair("Zoë \"Z\" Smith",
                                       "zoe+tag@mail.example.org")));
    json_object_set_new(spec, "cc", json_pack("[o]",
                                              pair("", "cc@example.net")));
    json_object_set_new(spec, "reply_to", json_string("replies@crm.example"));
    json_object_set_new(spec, "text", json_string(text));
    json_object_set_new(spec, "html", json_string(html));
    json_object_set_new(spec, "message_id", json_string(MSGID));
    json_object_set_new(spec, "date", json_integer(DATE));
    json_object_set_new(spec, "list_unsubscribe",
                        json_string("<https://crm.example/u/abc?t=1&x=%2C>, "
                                    "<mailto:unsub@crm.example"
                                    "?subject=unsubscribe>"));
    json_object_set_new(spec, "one_click", json_true());
    json_object_set_new(spec, "headers",
                        json_pack("{ssss}", "X-CRM-Email-Id",
                                  "5b1e2c3d-0000-4000-8000-000000000001",
                                  "X-CRM-Campaign", "Été ✓"));
    json_object_set_new(spec, "absent", json_pack("[s]", "Bcc"));

    save(&out, spec);
}


/* a 300-character subject (ASCII and not), text only */

static void
test_long_subject(void)
{
    char        *subject;
    json_t      *spec;
    ngx_str_t    out;
    crm_mime_t   m;

    /* 20 x 15 characters, no space at either end */
    subject = (char *) ngx_pnalloc(pool, 1024);
    ngx_sprintf((u_char *) subject, "%s%s%Z",
                repeat("Grüße ✓ 日本語 ab ", 19), "Grüße ✓ 日本語 abc");
    is_int(utf8_len(subject), 300, "long subject: 300 characters");

    message(&m);
    m.subject = str(subject);
    m.text = str("Only text: Grüße.\n");

    if (render(&m, &out, "long subject") != NGX_OK) {
        return;
    }

    ok(header_lines(&out, "Content-Type: text/plain; charset=utf-8") == 1,
       "long subject: a single text/plain part");
    ok(header_lines(&out, "Content-Type: multipart") == 0,
       "long subject: not multipart");
    ok(header_lines(&out, "List-Unsubscribe") == 0,
       "long subject: no List-Unsubscribe without a URL");

    spec = json_object();
    json_object_set_new(spec, "subject", json_string(subject));
    json_object_set_new(spec, "from", pair("", "sender@crm.example"));
    json_object_set_new(spec, "to", json_pack("[o]",
                                              pair("", "rcpt@example.org")));
    json_object_set_new(spec, "text", json_string("Only text: Grüße.\n"));
    json_object_set_new(spec, "message_id", json_string(MSGID));
    json_object_set_new(spec, "date", json_integer(DATE));

    save(&out, spec);

    /* and one of 2000 ASCII letters without a space: still folded */
    message(&m);
    subject = repeat("x", 2000);
    m.subject = str(subject);

    if (render(&m, &out, "2000-octet subject") != NGX_OK) {
        return;
    }

    spec = json_object();
    json_object_set_new(spec, "subject", json_string(subject));
    json_object_set_new(spec, "text", json_string("Hello there.\n"));

    save(&out, spec);
}


static void
test_html_only(void)
{
    char        *html;
    json_t      *spec;
    ngx_str_t    out;
    crm_mime_t   m;

    html = "<p>Only <i>html</i>: 日本語</p>";

    message(&m);
    m.text = str("");
    m.html = str(html);
    m.unsubscribe_mailto = str("mailto:unsub@crm.example");

    if (render(&m, &out, "html only") != NGX_OK) {
        return;
    }

    ok(header_lines(&out, "Content-Type: text/html; charset=utf-8") == 1,
       "html only: a single text/html part");
    ok(header_lines(&out, "List-Unsubscribe-Post") == 0,
       "html only: no one-click POST without a URL");

    spec = json_object();
    json_object_set_new(spec, "html", json_string(html));
    json_object_set_new(spec, "list_unsubscribe",
                        json_string("<mailto:unsub@crm.example>"));
    json_object_set_new(spec, "one_click", json_false());

    save(&out, spec);
}


/* CR and LF in any text: no header of their own */

static void
test_injection(void)
{
    json_t             *spec;
    ngx_str_t           out;
    crm_mime_t          m;
    ngx_array_t        *h;
    crm_mime_header_t  *x;

    h = ngx_array_create(pool, 1, sizeof(crm_mime_header_t));
    x = ngx_array_push(h);
    x->name = str("X-CRM-Note");
    x->value = str("one\r\nBcc: x@y");

    message(&m);
    m.subject = str("Hello\r\nBcc: x@y");
    m.from_name = str("Eve\r\nBcc: x@y\r\n");
    m.to = addrs("Mallory\nX-Evil: 1", "rcpt@example.org", NULL);
    m.headers = h;
    m.text = str("body\r\n.\r\nBcc: x@y\r\n");

    if (render(&m, &out, "injection") != NGX_OK) {
        return;
    }

    ok(header_lines(&out, "Bcc") == 0, "injection: no Bcc header");
    ok(header_lines(&out, "X-Evil") == 0, "injection: no X-Evil header");

    spec = json_object();
    json_object_set_new(spec, "subject_has", json_string("Bcc: x@y"));
    json_object_set_new(spec, "to", json_pack("[o]",
                                              pair("Mallory X-Evil: 1",
                                                   "rcpt@example.org")));
    json_object_set_new(spec, "headers",
                        json_pack("{ss}", "X-CRM-Note", "one  Bcc: x@y"));
    json_object_set_new(spec, "absent", json_pack("[ss]", "Bcc", "X-Evil"));
    json_object_set_new(spec, "text", json_string("body\n.\nBcc: x@y\n"));

    save(&out, spec);
}


/*
 * Texts that look like RFC 2047 encoded words reach the reader as given,
 * not decoded: the subject, display names and a header of the caller's;
 * a long one is cut into several words between UTF-8 characters
 */

static void
test_encoded_look(void)
{
    char               *subject, *p;
    json_t             *spec;
    ngx_str_t           out;
    crm_mime_t          m;
    ngx_uint_t          i;
    ngx_array_t        *h;
    crm_mime_header_t  *x;

    h = ngx_array_create(pool, 1, sizeof(crm_mime_header_t));
    x = ngx_array_push(h);
    x->name = str("X-CRM-Note");
    x->value = str("=?utf-8?b?eA==?=");

    message(&m);
    m.subject = str("=?utf-8?B?SGk=?= and  =?x? caf\xc3\xa9");
    m.from_name = str("=?utf-8?q?The_Boss?=");
    m.to = addrs("Ann =?iso-8859-1?q?x?=", "rcpt@example.org", NULL);
    m.headers = h;

    if (render(&m, &out, "encoded look") != NGX_OK) {
        return;
    }

    ok(header_lines(&out, "Subject: =?UTF-8?B?") == 1,
       "encoded look: the subject written as encoded words");

    spec = json_object();
    json_object_set_new(spec, "subject",
                        json_string("=?utf-8?B?SGk=?= and  =?x? caf\xc3\xa9"));
    json_object_set_new(spec, "from", pair("=?utf-8?q?The_Boss?=",
                                           "sender@crm.example"));
    json_object_set_new(spec, "to", json_pack("[o]",
                                              pair("Ann =?iso-8859-1?q?x?=",
                                                   "rcpt@example.org")));
    json_object_set_new(spec, "headers",
                        json_pack("{ss}", "X-CRM-Note", "=?utf-8?b?eA==?="));
    json_object_set_new(spec, "text", json_string("Hello there.\n"));
    save(&out, spec);

    /* 150 characters, 2 and 3 octets among them, around the cuts */

    subject = (char *) ngx_pnalloc(pool, 1024);
    p = subject;
    p += sprintf(p, "=?");

    for (i = 0; i < 37; i++) {
        p += sprintf(p, "%s", (i % 3 == 0) ? "\xc3\xa9" : (i % 3 == 1)
                                            ? "\xe2\x82\xac" : "ab ");
    }

    *p = '\0';

    message(&m);
    m.subject = str(subject);

    if (render(&m, &out, "long encoded look") != NGX_OK) {
        return;
    }

    spec = json_object();
    json_object_set_new(spec, "subject", json_string(subject));
    json_object_set_new(spec, "text", json_string("Hello there.\n"));
    save(&out, spec);
}


/* CRLF, lone CR and LF in a body all become CRLF on the wire */

static void
test_newlines(void)
{
    json_t      *spec;
    ngx_str_t    out;
    crm_mime_t   m;

    message(&m);
    m.text = str("a\r\nb\rc\nd");

    if (render(&m, &out, "newlines") != NGX_OK) {
        return;
    }

    spec = json_object();
    json_object_set_new(spec, "text", json_string("a\nb\nc\nd"));

    save(&out, spec);
}


/* a URL longer than a folded line stays one URL (not encoded words) */

static void
test_long_url(void)
{
    char        *url;
    json_t      *spec;
    ngx_str_t    out;
    crm_mime_t   m;
    u_char       want[1024];

    url = (char *) ngx_pnalloc(pool, 1024);
    ngx_sprintf((u_char *) url, "https://crm.example/unsubscribe/%s%Z",
                repeat("abcdef0123", 80));

    message(&m);
    m.unsubscribe_url = str(url);

    if (render(&m, &out, "long url") != NGX_OK) {
        return;
    }

    ngx_sprintf(want, "<%s>%Z", url);

    spec = json_object();
    json_object_set_new(spec, "text", json_string("Hello there.\n"));
    json_object_set_new(spec, "list_unsubscribe",
                        json_string((char *) want));
    json_object_set_new(spec, "one_click", json_true());

    save(&out, spec);
}


static void
test_refused(void)
{
    ngx_str_t           out;
    ngx_int_t           rc;
    ngx_uint_t          i;
    crm_mime_t          m;
    const char         *err;
    ngx_array_t        *h;
    crm_mime_header_t  *x;

    static const char  *bad_addrs[] = {
        "a b@example.org", "a@example.org\r\nBcc: x@y", "<a@example.org>",
        "a@", "@example.org", "a..b@example.org", ".a@example.org",
        "a.@example.org", "a@-example.org", "a@example-.org",
        "a@example..org", "a@exa_mple.org", "ä@example.org",
        "a@example.org>", "a\"b@example.org", "a,b@example.org",
        "a@b@example.org", "a@[127.0.0.1]", "ab", "", NULL
    };

    static const char  *bad_ids[] = {
        "abc", "<abc>", "<a b@c>", "<a@b>\r\nX: y", "a@b", "<a@b", "<@b>",
        "<>", NULL
    };

    static const char  *bad_urls[] = {
        "javascript:alert(1)", "https://x.example/a b",
        "https://x.example/a>\r\nBcc: x@y", "https://x.example/a,b",
        "ftp://x.example/", "https://x.example/\xc3\xa9", NULL
    };

    static const char  *bad_names[] = {
        "Bcc", "to", "Content-Type", "content-transfer-encoding",
        "X:Y", "X Y", "", "Message-ID", "MIME-Version", NULL
    };

    for (i = 0; bad_addrs[i] != NULL; i++) {
        message(&m);
        m.from_addr = str(bad_addrs[i]);
        rc = crm_mime_render(pool, &m, &out, &err);
        ok(rc == NGX_ERROR && err != NULL, "refused: from \"%s\"",
           bad_addrs[i]);

        message(&m);
        m.to = addrs("", "ok@example.org", "x", bad_addrs[i], NULL);
        rc = crm_mime_render(pool, &m, &out, &err);
        ok(rc == NGX_ERROR && err != NULL, "refused: to \"%s\"",
           bad_addrs[i]);
    }

    message(&m);
    m.cc = addrs("", "a b@example.org", NULL);
    rc = crm_mime_render(pool, &m, &out, &err);
    ok(rc == NGX_ERROR, "refused: a bad cc");

    message(&m);
    m.reply_to = str("not an address");
    rc = crm_mime_render(pool, &m, &out, &err);
    ok(rc == NGX_ERROR, "refused: a bad reply-to");

    for (i = 0; bad_ids[i] != NULL; i++) {
        message(&m);
        m.message_id = str(bad_ids[i]);
        rc = crm_mime_render(pool, &m, &out, &err);
        ok(rc == NGX_ERROR && err != NULL, "refused: message id %lu",
           (unsigned long) i);
    }

    for (i = 0; bad_urls[i] != NULL; i++) {
        message(&m);
        m.unsubscribe_url = str(bad_urls[i]);
        rc = crm_mime_render(pool, &m, &out, &err);
        ok(rc == NGX_ERROR && err != NULL, "refused: unsubscribe url %lu",
           (unsigned long) i);
    }

    message(&m);
    m.unsubscribe_mailto = str("no-at-sign");
    rc = crm_mime_render(pool, &m, &out, &err);
    ok(rc == NGX_ERROR, "refused: an unsubscribe mailto without @");

    for (i = 0; bad_names[i] != NULL; i++) {
        h = ngx_array_create(pool, 1, sizeof(crm_mime_header_t));
        x = ngx_array_push(h);
        x->name = str(bad_names[i]);
        x->value = str("v");

        message(&m);
        m.headers = h;
        rc = crm_mime_render(pool, &m, &out, &err);
        ok(rc == NGX_ERROR && err != NULL, "refused: header name \"%s\"",
           bad_names[i]);
    }

    message(&m);
    m.to = ngx_array_create(pool, 1, sizeof(crm_mime_addr_t));
    rc = crm_mime_render(pool, &m, &out, &err);
    ok(rc == NGX_ERROR, "refused: no recipient");

    message(&m);
    m.to = NULL;
    rc = crm_mime_render(pool, &m, &out, &err);
    ok(rc == NGX_ERROR, "refused: no recipient list");

    message(&m);
    m.text = str("");
    rc = crm_mime_render(pool, &m, &out, &err);
    ok(rc == NGX_ERROR && ngx_strcmp(err, "no text and no html") == 0,
       "refused: no body");

    message(&m);
    m.subject = str("bad \xff\xfe");
    rc = crm_mime_render(pool, &m, &out, &err);
    ok(rc == NGX_ERROR, "refused: a subject that is not UTF-8");

    message(&m);
    m.from_name = str("\xc3");
    rc = crm_mime_render(pool, &m, &out, &err);
    ok(rc == NGX_ERROR, "refused: a display name that is not UTF-8");

    message(&m);
    m.to = addrs("\xe6\x97", "rcpt@example.org", NULL);
    rc = crm_mime_render(pool, &m, &out, &err);
    ok(rc == NGX_ERROR, "refused: a recipient name that is not UTF-8");

    message(&m);
    m.html = str("<p>\xc0\xaf</p>");
    rc = crm_mime_render(pool, &m, &out, &err);
    ok(rc == NGX_ERROR, "refused: html that is not UTF-8");

    message(&m);
    m.text.data = (u_char *) "nul\0inside";
    m.text.len = 10;
    rc = crm_mime_render(pool, &m, &out, &err);
    ok(rc == NGX_ERROR, "refused: a NUL in the text");

    message(&m);
    m.from_name = str(repeat("n", CRM_MIME_NAME_MAX + 1));
    rc = crm_mime_render(pool, &m, &out, &err);
    ok(rc == NGX_ERROR, "refused: a display name too long");

    message(&m);
    m.unsubscribe_url = str(repeat("h", CRM_MIME_URL_MAX + 1));
    rc = crm_mime_render(pool, &m, &out, &err);
    ok(rc == NGX_ERROR, "refused: an unsubscribe url too long");

    /* and a valid message still renders after all of these */
    message(&m);
    rc = crm_mime_render(pool, &m, &out, &err);
    ok(rc == NGX_OK, "refused: then a valid message renders");
}
