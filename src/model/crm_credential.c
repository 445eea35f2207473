
/*
 * ngx_http_crm_module: the credential a request presents.
 *
 * Which header holds it (X-API-Key, else Authorization: Bearer) and
 * whether it has the form of a stored key or session token ("crmk_" or
 * "crms_" and 40 lowercase hex digits).  crm_auth.c resolves what these
 * accept.  Pure: nginx core only.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "model/crm.h"


#define CRM_CREDENTIAL_BEARER   "Bearer "


/*
 * "api_key" and "authorization" are the values of those headers, NULL
 * when absent.  X-API-Key wins when present, even empty; Authorization
 * counts only with the "Bearer" scheme (any case), spaces after it are
 * skipped.  NGX_OK: *token is the credential, not empty; NGX_DECLINED:
 * none.  *token points into the header's value.
 */

ngx_int_t
crm_credential_parse(ngx_str_t *api_key, ngx_str_t *authorization,
    ngx_str_t *token)
{
    size_t      n;
    ngx_str_t   cred;

    ngx_str_null(&cred);

    n = sizeof(CRM_CREDENTIAL_BEARER) - 1;

    if (api_key != NULL) {
        cred = *api_key;

    } else if (authorization != NULL
               && authorization->len > n
               && ngx_strncasecmp(authorization->data,
                                  (u_char *) CRM_CREDENTIAL_BEARER, n)
                  == 0)
    {
        cred.data = authorization->data + n;
        cred.len = authorization->len - n;

        while (cred.len > 0 && cred.data[0] == ' ') {
            cred.data++;
            cred.len--;
        }
    }

    if (cred.len == 0) {
        ngx_str_null(token);
        return NGX_DECLINED;
    }

    *token = cred;

    return NGX_OK;
}


/* NGX_OK: "crmk_" or "crms_" and 40 lowercase hex digits */

ngx_int_t
crm_credential_token(ngx_str_t *t)
{
    u_char  *p;

    if (t->len != CRM_TOKEN_LEN
        || ngx_strncmp(t->data, "crm", 3) != 0
        || (t->data[3] != 'k' && t->data[3] != 's') || t->data[4] != '_')
    {
        return NGX_DECLINED;
    }

    for (p = t->data + 5; p < t->data + t->len; p++) {
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * Whether the principal's scopes grant "resource:access" (access "read"
 * or "write"; write implies read).  Scopes: "*", "<resource>:*",
 * "<resource>:read", "<resource>:write", "*:read", "*:write".
 */

ngx_int_t
crm_auth_scope(ngx_str_t *scopes, ngx_str_t *resource, ngx_uint_t write)
{
    u_char     *p, *last, *s, *colon;
    ngx_str_t   res, acc;

    p = scopes->data;
    last = p + scopes->len;

    while (p < last) {
        s = p;

        while (p < last && *p != ',' && *p != ' ') {
            p++;
        }

        if (p - s == 1 && *s == '*') {
            return NGX_OK;
        }

        colon = ngx_strlchr(s, p, ':');

        if (colon != NULL) {
            res.data = s;
            res.len = colon - s;
            acc.data = colon + 1;
            acc.len = p - colon - 1;

            if (((res.len == 1 && res.data[0] == '*')
                 || (res.len == resource->len
                     && ngx_strncmp(res.data, resource->data, res.len) == 0))
                && ((acc.len == 1 && acc.data[0] == '*')
                    || (acc.len == 5 && ngx_strncmp(acc.data, "write", 5) == 0)
                    || (!write && acc.len == 4
                        && ngx_strncmp(acc.data, "read", 4) == 0)))
            {
                return NGX_OK;
            }
        }

        while (p < last && (*p == ',' || *p == ' ')) {
            p++;
        }
    }

    return NGX_DECLINED;
}


/* read on every kind of event (crm_schema_has_events()) */

ngx_int_t
crm_auth_scope_events(ngx_str_t *scopes)
{
    ngx_uint_t       i, n;
    crm_resource_t  *all;

    all = crm_schema_all(&n);

    for (i = 0; i < n; i++) {
        if (crm_schema_has_events(&all[i])
            && crm_auth_scope(scopes, &all[i].name, 0) != NGX_OK)
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}
