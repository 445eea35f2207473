
/*
 * ngx_http_crm_module: an email message rendered as MIME with GMime 3.
 *
 * The caller's values are checked and copied into the pool first (so
 * that every failure is found before a GMime object exists), then one
 * GMimeMessage is built, written with CRLF line endings into a memory
 * stream, copied into the pool, and every GMime object released.
 *
 *   - text and html: multipart/alternative, text first; one alone is the
 *     message's only part; charset=utf-8; the transfer encoding is the
 *     best under the 7bit constraint (7bit, quoted-printable, base64),
 *     so that no body line is over 998 octets and non-ASCII is encoded;
 *     newlines of the bodies become CRLF, and a body ends with one.
 *   - Subject and display names: RFC 2047 encoded words in UTF-8 where
 *     needed, and throughout a text that holds "=?" (which a reader
 *     would otherwise decode), folded by GMime at 78 columns.  Control
 *     characters (CR and LF among them) become spaces: no text can start
 *     a header of its own.
 *   - addresses, the Message-ID and the unsubscribe URLs are refused
 *     unless they are plain ASCII of the expected shape; they are written
 *     as raw values (GMime would encode a long URL as an encoded word).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <gmime/gmime.h>
#include "model/crm_mime.h"


#define CRM_MIME_ADDR_MAX      254
#define CRM_MIME_LOCAL_MAX     64
#define CRM_MIME_LABEL_MAX     63
#define CRM_MIME_MSGID_MAX     250
#define CRM_MIME_HNAME_MAX     64


typedef struct {
    char                     *from_name;
    char                     *from_addr;
    char                     *reply_to;
    char                     *subject;
    char                     *message_id;   /* without the brackets */
    ngx_str_t                 text;         /* LF line endings */
    ngx_str_t                 html;
    ngx_str_t                 unsubscribe;  /* " <url>,\n <mailto:x>\n" */
} crm_mime_input_t;


static ngx_int_t crm_mime_check(ngx_pool_t *pool, crm_mime_t *m,
    crm_mime_input_t *in, const char **err);
static ngx_int_t crm_mime_check_addrs(ngx_array_t *a, const char **err);
static ngx_int_t crm_mime_atoms(u_char *p, u_char *last, ngx_uint_t domain);
static ngx_int_t crm_mime_url_valid(ngx_str_t *url);
static ngx_int_t crm_mime_header_valid(ngx_str_t *name);
static char *crm_mime_cstr(ngx_pool_t *pool, ngx_str_t *s);
static char *crm_mime_phrase(ngx_pool_t *pool, ngx_str_t *s);
static char *crm_mime_encoded_words(ngx_pool_t *pool, u_char *s,
    size_t len);
static ngx_int_t crm_mime_body(ngx_pool_t *pool, ngx_str_t *s,
    ngx_str_t *out);
static ngx_int_t crm_mime_unsubscribe(ngx_pool_t *pool, crm_mime_t *m,
    ngx_str_t *out);
static ngx_int_t crm_mime_build(ngx_pool_t *pool, crm_mime_t *m,
    crm_mime_input_t *in, GMimeMessage *msg, const char **err);
static ngx_int_t crm_mime_add_list(ngx_pool_t *pool, GMimeMessage *msg,
    GMimeAddressType type, ngx_array_t *a);
static ngx_int_t crm_mime_add_mailbox(GMimeMessage *msg,
    GMimeAddressType type, char *name, char *addr);
static ngx_int_t crm_mime_raw_header(GMimeMessage *msg, const char *name,
    const char *value, const char *raw);
static ngx_int_t crm_mime_extra(ngx_pool_t *pool, GMimeMessage *msg,
    ngx_array_t *headers, const char **err);
static GMimeObject *crm_mime_part(ngx_str_t *body, const char *subtype);
static ngx_int_t crm_mime_write(ngx_pool_t *pool, GMimeMessage *msg,
    ngx_str_t *out);


/* headers an extra header may not be: the message's own */

static const char  *crm_mime_reserved[] = {
    "from", "sender", "reply-to", "to", "cc", "bcc", "subject", "date",
    "message-id", "mime-version", "in-reply-to", "references",
    "return-path", "received", "list-unsubscribe", "list-unsubscribe-post",
    NULL
};


ngx_int_t
crm_mime_init(ngx_log_t *log)
{
    /* reference-counted by GMime: a second call is harmless */
    g_mime_init();

    ngx_log_debug0(NGX_LOG_DEBUG_CORE, log, 0, "crm: gmime initialised");

    return NGX_OK;
}


void
crm_mime_done(void)
{
    g_mime_shutdown();
}


ngx_int_t
crm_mime_render(ngx_pool_t *pool, crm_mime_t *m, ngx_str_t *out,
    const char **err)
{
    ngx_int_t          rc;
    GMimeMessage      *msg;
    crm_mime_input_t   in;

    *err = NULL;

    if (crm_mime_check(pool, m, &in, err) != NGX_OK) {
        if (*err == NULL) {
            *err = "out of memory";
        }
        return NGX_ERROR;
    }

    msg = g_mime_message_new(TRUE);
    if (msg == NULL) {
        *err = "out of memory";
        return NGX_ERROR;
    }

    rc = crm_mime_build(pool, m, &in, msg, err);

    if (rc == NGX_OK) {
        rc = crm_mime_write(pool, msg, out);
    }

    g_object_unref(msg);

    if (rc != NGX_OK && *err == NULL) {
        *err = "cannot render the message";
    }

    return rc;
}


/* everything the caller gave, checked, as GMime wants it */

static ngx_int_t
crm_mime_check(ngx_pool_t *pool, crm_mime_t *m, crm_mime_input_t *in,
    const char **err)
{
    ngx_str_t  id;

    ngx_memzero(in, sizeof(crm_mime_input_t));

    if (crm_mime_addr_valid(&m->from_addr) != NGX_OK) {
        *err = "invalid from address";
        return NGX_ERROR;
    }

    if (m->to == NULL || m->to->nelts == 0) {
        *err = "no recipient";
        return NGX_ERROR;
    }

    if (crm_mime_check_addrs(m->to, err) != NGX_OK) {
        return NGX_ERROR;
    }

    if (m->cc != NULL && crm_mime_check_addrs(m->cc, err) != NGX_OK) {
        return NGX_ERROR;
    }

    if (m->reply_to.len > 0) {
        if (crm_mime_addr_valid(&m->reply_to) != NGX_OK) {
            *err = "invalid reply-to address";
            return NGX_ERROR;
        }
    }

    if (m->from_name.len > CRM_MIME_NAME_MAX) {
        *err = "display name too long";
        return NGX_ERROR;
    }

    if (!g_utf8_validate((const char *) m->subject.data, m->subject.len,
                         NULL))
    {
        *err = "subject is not UTF-8";
        return NGX_ERROR;
    }

    if (m->text.len == 0 && m->html.len == 0) {
        *err = "no text and no html";
        return NGX_ERROR;
    }

    id = m->message_id;

    if (id.len < 2 || id.len > CRM_MIME_MSGID_MAX
        || id.data[0] != '<' || id.data[id.len - 1] != '>')
    {
        *err = "invalid message id";
        return NGX_ERROR;
    }

    id.data++;
    id.len -= 2;

    if (crm_mime_addr_valid(&id) != NGX_OK) {
        *err = "invalid message id";
        return NGX_ERROR;
    }

    if (crm_mime_unsubscribe(pool, m, &in->unsubscribe) != NGX_OK) {
        *err = "invalid unsubscribe url or address";
        return NGX_ERROR;
    }

    in->from_addr = crm_mime_cstr(pool, &m->from_addr);
    in->from_name = crm_mime_phrase(pool, &m->from_name);
    in->reply_to = crm_mime_cstr(pool, &m->reply_to);
    in->subject = crm_mime_phrase(pool, &m->subject);
    in->message_id = crm_mime_cstr(pool, &id);

    if (in->from_addr == NULL || in->from_name == NULL
        || in->reply_to == NULL || in->subject == NULL
        || in->message_id == NULL)
    {
        return NGX_ERROR;
    }

    if (m->from_name.len > 0 && in->from_name[0] == '\0') {
        *err = "display name is not UTF-8";
        return NGX_ERROR;
    }

    if (crm_mime_body(pool, &m->text, &in->text) != NGX_OK
        || crm_mime_body(pool, &m->html, &in->html) != NGX_OK)
    {
        if (*err == NULL) {
            *err = "body is not UTF-8";
        }
        return NGX_ERROR;
    }

    return NGX_OK;
}


static ngx_int_t
crm_mime_check_addrs(ngx_array_t *a, const char **err)
{
    ngx_uint_t        i;
    crm_mime_addr_t  *addr;

    addr = a->elts;

    for (i = 0; i < a->nelts; i++) {
        if (crm_mime_addr_valid(&addr[i].addr) != NGX_OK) {
            *err = "invalid recipient address";
            return NGX_ERROR;
        }

        if (addr[i].name.len > CRM_MIME_NAME_MAX) {
            *err = "display name too long";
            return NGX_ERROR;
        }

        if (!g_utf8_validate((const char *) addr[i].name.data,
                             addr[i].name.len, NULL))
        {
            *err = "display name is not UTF-8";
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/*
 * local@domain: the local part a dot-atom of at most 64 octets, the
 * domain dot-separated labels of letters, digits and inner hyphens; no
 * quoted strings, no domain literals, no comments, ASCII only.  Also the
 * shape of a Message-ID between its brackets (then the right side may
 * be any dot-atom too: checked as a domain, which is stricter).
 */

ngx_int_t
crm_mime_addr_valid(ngx_str_t *addr)
{
    u_char  *at;

    if (addr->len < 3 || addr->len > CRM_MIME_ADDR_MAX) {
        return NGX_ERROR;
    }

    at = ngx_strlchr(addr->data, addr->data + addr->len, '@');

    if (at == NULL || at - addr->data > CRM_MIME_LOCAL_MAX) {
        return NGX_ERROR;
    }

    if (crm_mime_atoms(addr->data, at, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    return crm_mime_atoms(at + 1, addr->data + addr->len, 1);
}


/* a dot-atom (domain == 0) or a host name (domain == 1) */

static ngx_int_t
crm_mime_atoms(u_char *p, u_char *last, ngx_uint_t domain)
{
    u_char      c, prev;
    ngx_uint_t  label;

    if (p == last) {
        return NGX_ERROR;
    }

    prev = '.';
    label = 0;

    for ( /* void */ ; p < last; p++) {
        c = *p;

        if (c == '.') {
            if (prev == '.' || (domain && prev == '-')) {
                return NGX_ERROR;
            }

            prev = c;
            label = 0;
            continue;
        }

        if (++label > CRM_MIME_LABEL_MAX && domain) {
            return NGX_ERROR;
        }

        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
            || (c >= '0' && c <= '9'))
        {
            prev = c;
            continue;
        }

        if (c == '-') {
            if (domain && prev == '.') {
                return NGX_ERROR;
            }

            prev = c;
            continue;
        }

        if (domain || c <= 0x20 || c >= 0x7f
            || ngx_strchr("()<>[]:;@\\,\"", c) != NULL)
        {
            return NGX_ERROR;
        }

        prev = c;
    }

    if (prev == '.' || (domain && prev == '-')) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * What may go between the brackets of List-Unsubscribe: printable ASCII
 * but space, brackets, quotes and commas (RFC 2369 wants them encoded).
 */

static ngx_int_t
crm_mime_url_valid(ngx_str_t *url)
{
    u_char  *p, *last;

    if (url->len == 0 || url->len > CRM_MIME_URL_MAX) {
        return NGX_ERROR;
    }

    last = url->data + url->len;

    for (p = url->data; p < last; p++) {
        if (*p <= 0x20 || *p >= 0x7f || ngx_strchr("<>\",\\", *p) != NULL) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* " <https://...>,\n <mailto:...>\n", or empty without either */

static ngx_int_t
crm_mime_unsubscribe(ngx_pool_t *pool, crm_mime_t *m, ngx_str_t *out)
{
    u_char     *p;
    ngx_str_t   url, mailto;

    ngx_str_null(out);

    url = m->unsubscribe_url;
    mailto = m->unsubscribe_mailto;

    if (url.len == 0 && mailto.len == 0) {
        return NGX_OK;
    }

    if (url.len > 0) {
        if (crm_mime_url_valid(&url) != NGX_OK) {
            return NGX_ERROR;
        }

        if (!(url.len > 8 && ngx_strncasecmp(url.data,
                                             (u_char *) "https://", 8) == 0)
            && !(url.len > 7 && ngx_strncasecmp(url.data,
                                                (u_char *) "http://", 7)
                                == 0))
        {
            return NGX_ERROR;
        }
    }

    if (mailto.len > 0) {
        if (mailto.len > 7
            && ngx_strncasecmp(mailto.data, (u_char *) "mailto:", 7) == 0)
        {
            mailto.data += 7;
            mailto.len -= 7;
        }

        if (crm_mime_url_valid(&mailto) != NGX_OK
            || ngx_strlchr(mailto.data, mailto.data + mailto.len, '@')
               == NULL)
        {
            return NGX_ERROR;
        }
    }

    p = ngx_pnalloc(pool, url.len + mailto.len + sizeof(" <>,\n <mailto:>\n"));
    if (p == NULL) {
        return NGX_ERROR;
    }

    out->data = p;

    if (url.len > 0) {
        p = ngx_sprintf(p, " <%V>", &url);
        if (mailto.len > 0) {
            *p++ = ',';
        }
        *p++ = '\n';
    }

    if (mailto.len > 0) {
        p = ngx_sprintf(p, " <mailto:%V>\n", &mailto);
    }

    *p = '\0';
    out->len = p - out->data;

    return NGX_OK;
}


/* an extra header's name: a token, and none of the message's own */

static ngx_int_t
crm_mime_header_valid(ngx_str_t *name)
{
    u_char      *p, *last;
    ngx_uint_t   i;

    if (name->len == 0 || name->len > CRM_MIME_HNAME_MAX) {
        return NGX_ERROR;
    }

    last = name->data + name->len;

    for (p = name->data; p < last; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
              || (*p >= '0' && *p <= '9') || *p == '-'))
        {
            return NGX_ERROR;
        }
    }

    if (name->len >= 8
        && ngx_strncasecmp(name->data, (u_char *) "content-", 8) == 0)
    {
        return NGX_ERROR;
    }

    for (i = 0; crm_mime_reserved[i] != NULL; i++) {
        if (name->len == ngx_strlen(crm_mime_reserved[i])
            && ngx_strncasecmp(name->data, (u_char *) crm_mime_reserved[i],
                               name->len) == 0)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* a NUL-terminated copy */

static char *
crm_mime_cstr(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char  *p;

    p = ngx_pnalloc(pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    *ngx_cpymem(p, s->data, s->len) = '\0';

    return (char *) p;
}


/*
 * Text for a header (a subject, a display name): a NUL-terminated copy
 * with control characters as spaces, so that no CR or LF reaches GMime;
 * "" when it is not UTF-8 (the caller has checked, or says so).
 */

static char *
crm_mime_phrase(ngx_pool_t *pool, ngx_str_t *s)
{
    u_char      *p;
    ngx_uint_t   i;

    p = ngx_pnalloc(pool, s->len + 1);
    if (p == NULL) {
        return NULL;
    }

    if (!g_utf8_validate((const char *) s->data, s->len, NULL)) {
        p[0] = '\0';
        return (char *) p;
    }

    for (i = 0; i < s->len; i++) {
        p[i] = (s->data[i] < 0x20 || s->data[i] == 0x7f) ? ' ' : s->data[i];
    }

    p[s->len] = '\0';

    if (ngx_strnstr(p, "=?", s->len) != NULL) {
        return crm_mime_encoded_words(pool, p, s->len);
    }

    return (char *) p;
}


/*
 * A text that holds "=?" could be read by the recipient's mail reader as
 * RFC 2047 encoded words, which GMime writes as they are when they are
 * ASCII: "=?utf-8?b?SGk=?=" would be shown as "Hi".  Such a text is
 * written as encoded words entirely (GMime keeps them, and folds between
 * them): base64 of at most 45 octets each (75 characters with the
 * delimiters, RFC 2047's limit), cut between UTF-8 characters, so that
 * it reads back as given, spaces included.
 */

#define CRM_MIME_WORD_OCTETS  45

static char *
crm_mime_encoded_words(ngx_pool_t *pool, u_char *s, size_t len)
{
    u_char     *out, *p;
    size_t      n;
    ngx_str_t   src, dst;

    /* a cut moves back 3 octets at most: a word holds 42 or more */

    n = len / (CRM_MIME_WORD_OCTETS - 3) + 1;

    out = ngx_pnalloc(pool, n * (sizeof("=?UTF-8?B?") - 1
                                 + ngx_base64_encoded_length(
                                       CRM_MIME_WORD_OCTETS)
                                 + sizeof("?= ") - 1)
                            + 1);
    if (out == NULL) {
        return NULL;
    }

    p = out;

    while (len > 0) {
        n = ngx_min(len, CRM_MIME_WORD_OCTETS);

        while (n < len && (s[n] & 0xc0) == 0x80) {
            n--;
        }

        if (p != out) {
            *p++ = ' ';
        }

        p = ngx_cpymem(p, "=?UTF-8?B?", sizeof("=?UTF-8?B?") - 1);

        src.data = s;
        src.len = n;
        dst.data = p;

        ngx_encode_base64(&dst, &src);

        p += dst.len;
        *p++ = '?';
        *p++ = '=';

        s += n;
        len -= n;
    }

    *p = '\0';

    return (char *) out;
}


/*
 * A body: UTF-8 (no NUL), CRLF and lone CR as LF, and a final LF where
 * there is none (GMime ends a lone part with one: so do all parts).
 */

static ngx_int_t
crm_mime_body(ngx_pool_t *pool, ngx_str_t *s, ngx_str_t *out)
{
    u_char  *p, *q, *last;

    ngx_str_null(out);

    if (s->len == 0) {
        return NGX_OK;
    }

    if (!g_utf8_validate((const char *) s->data, s->len, NULL)) {
        return NGX_ERROR;
    }

    q = ngx_pnalloc(pool, s->len + 1);
    if (q == NULL) {
        return NGX_ERROR;
    }

    out->data = q;
    last = s->data + s->len;

    for (p = s->data; p < last; p++) {
        if (*p != '\r') {
            *q++ = *p;
            continue;
        }

        *q++ = '\n';

        if (p + 1 < last && p[1] == '\n') {
            p++;
        }
    }

    if (q[-1] != '\n') {
        *q++ = '\n';
    }

    out->len = q - out->data;

    return NGX_OK;
}


static ngx_int_t
crm_mime_build(ngx_pool_t *pool, crm_mime_t *m, crm_mime_input_t *in,
    GMimeMessage *msg, const char **err)
{
    GDateTime       *date;
    GMimeObject     *text, *html, *body;
    GMimeMultipart  *alt;

    if (crm_mime_add_mailbox(msg, GMIME_ADDRESS_TYPE_FROM, in->from_name,
                             in->from_addr)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (m->reply_to.len > 0
        && crm_mime_add_mailbox(msg, GMIME_ADDRESS_TYPE_REPLY_TO, NULL,
                                in->reply_to)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (crm_mime_add_list(pool, msg, GMIME_ADDRESS_TYPE_TO, m->to) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (m->cc != NULL
        && crm_mime_add_list(pool, msg, GMIME_ADDRESS_TYPE_CC, m->cc)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    g_mime_message_set_subject(msg, in->subject, "utf-8");

    date = g_date_time_new_from_unix_utc((gint64) m->date);
    if (date == NULL) {
        *err = "invalid date";
        return NGX_ERROR;
    }

    g_mime_message_set_date(msg, date);
    g_date_time_unref(date);

    g_mime_message_set_message_id(msg, in->message_id);

    if (in->unsubscribe.len > 0) {
        if (crm_mime_raw_header(msg, "List-Unsubscribe", "",
                                (char *) in->unsubscribe.data)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        if (m->unsubscribe_url.len > 0
            && crm_mime_raw_header(msg, "List-Unsubscribe-Post",
                                   "List-Unsubscribe=One-Click",
                                   " List-Unsubscribe=One-Click\n")
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (m->headers != NULL
        && crm_mime_extra(pool, msg, m->headers, err) != NGX_OK)
    {
        return NGX_ERROR;
    }

    text = NULL;
    html = NULL;

    if (in->text.len > 0) {
        text = crm_mime_part(&in->text, "plain");
        if (text == NULL) {
            return NGX_ERROR;
        }
    }

    if (in->html.len > 0) {
        html = crm_mime_part(&in->html, "html");
        if (html == NULL) {
            if (text != NULL) {
                g_object_unref(text);
            }
            return NGX_ERROR;
        }
    }

    if (text != NULL && html != NULL) {
        alt = g_mime_multipart_new_with_subtype("alternative");
        if (alt == NULL) {
            g_object_unref(text);
            g_object_unref(html);
            return NGX_ERROR;
        }

        g_mime_multipart_add(alt, text);
        g_mime_multipart_add(alt, html);
        g_object_unref(text);
        g_object_unref(html);

        body = GMIME_OBJECT(alt);

    } else {
        body = (text != NULL) ? text : html;
    }

    g_mime_message_set_mime_part(msg, body);
    g_object_unref(body);

    /* GMime adds MIME-Version itself; said here so that it always is */
    g_mime_object_set_header(GMIME_OBJECT(msg), "MIME-Version", "1.0",
                             NULL);

    return NGX_OK;
}


static ngx_int_t
crm_mime_add_list(ngx_pool_t *pool, GMimeMessage *msg,
    GMimeAddressType type, ngx_array_t *a)
{
    char             *name, *addr;
    ngx_uint_t        i;
    crm_mime_addr_t  *ma;

    ma = a->elts;

    for (i = 0; i < a->nelts; i++) {
        name = crm_mime_phrase(pool, &ma[i].name);
        addr = crm_mime_cstr(pool, &ma[i].addr);

        if (name == NULL || addr == NULL) {
            return NGX_ERROR;
        }

        if (crm_mime_add_mailbox(msg, type, name, addr) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* a mailbox whose display name is encoded in UTF-8 where it needs to be */

static ngx_int_t
crm_mime_add_mailbox(GMimeMessage *msg, GMimeAddressType type, char *name,
    char *addr)
{
    InternetAddress      *ia;
    InternetAddressList  *list;

    list = g_mime_message_get_addresses(msg, type);
    if (list == NULL) {
        return NGX_ERROR;
    }

    ia = internet_address_mailbox_new((name != NULL && name[0] != '\0')
                                      ? name : NULL, addr);
    if (ia == NULL) {
        return NGX_ERROR;
    }

    internet_address_set_charset(ia, "utf-8");
    internet_address_list_add(list, ia);
    g_object_unref(ia);

    return NGX_OK;
}


/*
 * A header appended as given ("raw": after the colon, with its folding
 * and its final LF): GMime's default formatter would turn a long URL
 * into encoded words.
 */

static ngx_int_t
crm_mime_raw_header(GMimeMessage *msg, const char *name, const char *value,
    const char *raw)
{
    int               n;
    GMimeHeader      *h;
    GMimeHeaderList  *hl;

    hl = g_mime_object_get_header_list(GMIME_OBJECT(msg));
    if (hl == NULL) {
        return NGX_ERROR;
    }

    g_mime_header_list_append(hl, name, value, NULL);

    n = g_mime_header_list_get_count(hl);
    if (n <= 0) {
        return NGX_ERROR;
    }

    h = g_mime_header_list_get_header_at(hl, n - 1);
    if (h == NULL) {
        return NGX_ERROR;
    }

    g_mime_header_set_raw_value(h, raw);

    return NGX_OK;
}


/*
 * The caller's headers: printable ASCII values as they are (one line of
 * at most 998 octets), others encoded by GMime in UTF-8, and those that
 * hold "=?" written as encoded words.
 */

static ngx_int_t
crm_mime_extra(ngx_pool_t *pool, GMimeMessage *msg, ngx_array_t *headers,
    const char **err)
{
    char               *name, *value, *raw;
    u_char             *p, *last;
    ngx_uint_t          i, ascii;
    crm_mime_header_t  *h;

    h = headers->elts;

    for (i = 0; i < headers->nelts; i++) {

        if (crm_mime_header_valid(&h[i].name) != NGX_OK) {
            *err = "invalid or reserved header name";
            return NGX_ERROR;
        }

        if (h[i].value.len > CRM_MIME_HEADER_MAX
            || !g_utf8_validate((const char *) h[i].value.data,
                                h[i].value.len, NULL))
        {
            *err = "invalid header value";
            return NGX_ERROR;
        }

        name = crm_mime_cstr(pool, &h[i].name);
        value = crm_mime_phrase(pool, &h[i].value);

        if (name == NULL || value == NULL) {
            return NGX_ERROR;
        }

        ascii = 1;
        last = h[i].value.data + h[i].value.len;

        for (p = h[i].value.data; p < last; p++) {
            if (*p >= 0x80) {
                ascii = 0;
                break;
            }
        }

        /* encoded words (crm_mime_phrase()) are folded by GMime too */

        if (!ascii || ngx_strnstr(h[i].value.data, "=?", h[i].value.len)) {
            g_mime_object_append_header(GMIME_OBJECT(msg), name, value,
                                        "utf-8");
            continue;
        }

        raw = ngx_pnalloc(pool, h[i].value.len + 3);
        if (raw == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf((u_char *) raw, " %s\n%Z", value);

        if (crm_mime_raw_header(msg, name, value, raw) != NGX_OK) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* a text/<subtype> part, charset=utf-8, in its best 7bit-safe encoding */

static GMimeObject *
crm_mime_part(ngx_str_t *body, const char *subtype)
{
    GMimeStream          *stream;
    GMimeTextPart        *part;
    GMimeDataWrapper     *content;
    GMimeContentEncoding  enc;

    part = g_mime_text_part_new_with_subtype(subtype);
    if (part == NULL) {
        return NULL;
    }

    g_mime_text_part_set_charset(part, "utf-8");

    stream = g_mime_stream_mem_new_with_buffer((const char *) body->data,
                                               body->len);
    if (stream == NULL) {
        g_object_unref(part);
        return NULL;
    }

    content = g_mime_data_wrapper_new_with_stream(stream,
                                              GMIME_CONTENT_ENCODING_DEFAULT);
    g_object_unref(stream);

    if (content == NULL) {
        g_object_unref(part);
        return NULL;
    }

    g_mime_part_set_content(GMIME_PART(part), content);
    g_object_unref(content);

    enc = g_mime_part_get_best_content_encoding(GMIME_PART(part),
                                             GMIME_ENCODING_CONSTRAINT_7BIT);
    g_mime_part_set_content_encoding(GMIME_PART(part), enc);

    return GMIME_OBJECT(part);
}


/* the message with CRLF line endings, copied into the pool */

static ngx_int_t
crm_mime_write(ngx_pool_t *pool, GMimeMessage *msg, ngx_str_t *out)
{
    u_char              *p;
    ssize_t              n;
    GByteArray          *bytes;
    GMimeStream         *stream;
    GMimeFormatOptions  *options;

    options = g_mime_format_options_clone(NULL);
    if (options == NULL) {
        return NGX_ERROR;
    }

    g_mime_format_options_set_newline_format(options,
                                             GMIME_NEWLINE_FORMAT_DOS);

    stream = g_mime_stream_mem_new();
    if (stream == NULL) {
        g_mime_format_options_free(options);
        return NGX_ERROR;
    }

    n = g_mime_object_write_to_stream(GMIME_OBJECT(msg), options, stream);

    g_mime_format_options_free(options);

    bytes = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(stream));

    if (n <= 0 || bytes == NULL) {
        g_object_unref(stream);
        return NGX_ERROR;
    }

    p = ngx_pnalloc(pool, bytes->len);
    if (p == NULL) {
        g_object_unref(stream);
        return NGX_ERROR;
    }

    ngx_memcpy(p, bytes->data, bytes->len);

    out->data = p;
    out->len = bytes->len;

    g_object_unref(stream);

    return NGX_OK;
}
