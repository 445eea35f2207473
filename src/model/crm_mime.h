
/*
 * ngx_http_crm_module: an email message rendered as MIME (GMime 3).
 *
 * crm_mime_render() turns a crm_mime_t into the bytes of one message
 * (RFC 5322 and MIME, CRLF line endings, every line at most 998 octets)
 * ready for SMTP DATA.  Pure: no I/O; GMime and glib allocate with
 * malloc internally and everything they allocate is released before
 * crm_mime_render() returns.  The message is copied into the pool.
 */


#ifndef _CRM_MIME_H_INCLUDED_
#define _CRM_MIME_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * octets of a display name: the API's names are 200 characters (a
 * sender's fromName; a contact's first and last name, 100 each, and the
 * space between), 4 octets each at the most
 */
#define CRM_MIME_NAME_MAX     1024
#define CRM_MIME_URL_MAX      900       /* octets of an unsubscribe URL */
#define CRM_MIME_HEADER_MAX   900       /* octets of an extra header's
                                           value */


typedef struct {
    ngx_str_t                 name;         /* may be empty; UTF-8 */
    ngx_str_t                 addr;         /* local@domain */
} crm_mime_addr_t;


typedef struct {
    ngx_str_t                 name;         /* X-CRM-Email-Id */
    ngx_str_t                 value;        /* UTF-8, one line */
} crm_mime_header_t;


typedef struct {
    ngx_str_t                 from_name;    /* may be empty; UTF-8 */
    ngx_str_t                 from_addr;
    ngx_array_t              *to;           /* crm_mime_addr_t, at least
                                               one */
    ngx_array_t              *cc;           /* crm_mime_addr_t, or NULL;
                                               Bcc is never a header */
    ngx_str_t                 reply_to;     /* may be empty */
    ngx_str_t                 subject;      /* UTF-8, any length */
    ngx_str_t                 text;         /* may be empty: html only */
    ngx_str_t                 html;         /* may be empty: text only */
    ngx_str_t                 message_id;   /* "<id@domain>", stable
                                               across retries */
    time_t                    date;
    ngx_str_t                 unsubscribe_url;     /* may be empty */
    ngx_str_t                 unsubscribe_mailto;  /* may be empty:
                                                      "a@b?subject=x" */
    ngx_array_t              *headers;      /* crm_mime_header_t, or NULL */
} crm_mime_t;


/* g_mime_init(): once per process (init_process, a unit test's main) */
ngx_int_t crm_mime_init(ngx_log_t *log);

/* g_mime_shutdown(): at exit_process */
void crm_mime_done(void);

/*
 * The message in "out" (pool memory), or NGX_ERROR with the reason in
 * "err" (a static string): an invalid address, Message-ID, URL or
 * header name, text that is not UTF-8, no body, no memory.
 */
ngx_int_t crm_mime_render(ngx_pool_t *pool, crm_mime_t *m, ngx_str_t *out,
    const char **err);

/* "local@domain" as crm_mime_render() accepts it (dot-atoms, ASCII) */
ngx_int_t crm_mime_addr_valid(ngx_str_t *addr);


#endif /* _CRM_MIME_H_INCLUDED_ */
