
/*
 * ngx_http_crm_module: email tracking tokens and the rewriting of an
 * email's html for tracking (model/crm_track.c, pure: nginx core and
 * OpenSSL).
 */


#ifndef _CRM_TRACK_H_INCLUDED_
#define _CRM_TRACK_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


#define CRM_TRACK_OPEN         'o'
#define CRM_TRACK_CLICK        'c'
#define CRM_TRACK_UNSUBSCRIBE  'u'

#define CRM_TRACK_URL_MAX      2048      /* bytes of a signed URL */
#define CRM_TRACK_TOKEN_MAX    2800      /* base64url characters */
#define CRM_TRACK_UA_MAX       512       /* characters of a user agent */


/* what a valid token says */

typedef struct {
    ngx_uint_t                kind;         /* CRM_TRACK_* */
    ngx_str_t                 ws;           /* the workspace, text uuid */
    ngx_str_t                 email;        /* the email, text uuid */
    ngx_str_t                 url;          /* click: the target, else
                                               empty; NUL-terminated */
} crm_track_t;


/*
 * A token of "kind" for the email "email" (text uuid) of the workspace
 * "ws" (text uuid); "url" is the target of a click (http or https,
 * printable ASCII without spaces, at most CRM_TRACK_URL_MAX bytes) and
 * must be NULL or empty for the other kinds.  NGX_DECLINED for a kind,
 * uuid or URL that cannot be signed, NGX_ERROR for an empty secret or
 * no memory.
 */
ngx_int_t crm_track_sign(ngx_pool_t *pool, ngx_str_t *secret,
    ngx_uint_t kind, ngx_str_t *ws, ngx_str_t *email, ngx_str_t *url,
    ngx_str_t *token);

/* NGX_OK and "out" filled, NGX_DECLINED for anything not signed as is */
ngx_int_t crm_track_verify(ngx_pool_t *pool, ngx_str_t *secret,
    ngx_str_t *token, crm_track_t *out);

/*
 * The public URL of a token: base (ending in "/"), the kind's letter,
 * "/", the token, and ".gif" for an open: "<base>u/<token>" is the
 * List-Unsubscribe URL.
 */
ngx_int_t crm_track_url(ngx_pool_t *pool, ngx_str_t *secret,
    ngx_str_t *base, ngx_uint_t kind, ngx_str_t *ws, ngx_str_t *email,
    ngx_str_t *url, ngx_str_t *out);

/*
 * The html of an email with every http(s) href of its <a> elements
 * replaced by "<base>c/<token>" (the href's entities decoded first) and
 * the open pixel before </body> (or at the end).  Links that are not
 * http(s), or too long, are left alone.  Any input is accepted.
 */
ngx_int_t crm_track_html(ngx_pool_t *pool, ngx_str_t *secret,
    ngx_str_t *base, ngx_str_t *ws, ngx_str_t *email, ngx_str_t *html,
    ngx_str_t *out);

/* NGX_OK if "url" may be signed: http(s)://host..., printable ASCII */
ngx_int_t crm_track_url_valid(u_char *p, size_t len);

/*
 * A header's text as a database text: at most "max" characters of
 * valid UTF-8, each invalid byte and control character as "?".  "dst"
 * has room for 4 * max bytes.  Returns the end of what was written.
 */
u_char *crm_track_clean(u_char *dst, u_char *src, size_t len, size_t max);


#endif /* _CRM_TRACK_H_INCLUDED_ */
