
/*
 * ngx_http_crm_module: merge fields of campaign emails (model/crm_merge.c,
 * pure).
 *
 * A template is text with fields: {{firstName}}, {{company.name}},
 * {{firstName|there}} (a default when the value is empty or null),
 * {{customFields.tier}}.  A name is a field of the contact (its JSON
 * name) or "company." and a field of the contact's company, as the
 * descriptors name them, and ".<key>" after a field that is an object
 * (a custom field, defined; any key of an address); spaces inside the
 * braces are allowed.  "{{" that opens no field is an error, so that a
 * typo never reaches a recipient.
 */


#ifndef _CRM_MERGE_H_INCLUDED_
#define _CRM_MERGE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <jansson.h>
#include "model/crm.h"


#define CRM_MERGE_NAME_MAX    64        /* bytes of a field's name, and of
                                           a key (a custom field's: 63) */
#define CRM_MERGE_DEFAULT_MAX 200       /* bytes of a default */


/*
 * NGX_OK when every field of "tpl" names a field of "contact" (or of
 * "company" after "company."), a custom field one of the definitions in
 * "custom" (a json_t object {"<resource>": [definitions]}, or NULL: none);
 * NGX_DECLINED with *err (code "unknown_merge_field" or
 * "invalid_merge_field", a message naming it, in "pool") otherwise
 */
ngx_int_t crm_merge_check(ngx_pool_t *pool, ngx_str_t *tpl,
    crm_resource_t *contact, crm_resource_t *company, void *custom,
    crm_error_t *err);

/*
 * "tpl" with its fields replaced by the values of the contact's and the
 * company's JSON objects (either may be NULL): strings as they are,
 * numbers and booleans as JSON writes them, arrays of strings joined by
 * ", ", null, missing or "" by the default (or nothing).  With "html"
 * the values (and defaults) are HTML-escaped.  NGX_DECLINED for a
 * template crm_merge_check() refuses; NGX_ERROR without memory.
 */
ngx_int_t crm_merge_render(ngx_pool_t *pool, ngx_str_t *tpl,
    json_t *contact, json_t *company, ngx_uint_t html, ngx_str_t *out);


/*
 * A record's JSON text ("p", "len") with its numbers as strings of their
 * own digits, for crm_merge_render() to write them as the API does;
 * "out" is in "pool", NUL-terminated.  NGX_ERROR without memory.
 */
ngx_int_t crm_merge_numbers_as_text(ngx_pool_t *pool, u_char *p, size_t len,
    ngx_str_t *out);


#endif /* _CRM_MERGE_H_INCLUDED_ */
