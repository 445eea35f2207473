
/*
 * ngx_http_crm_module: the route table.
 *
 * The path is taken relative to the location the module is enabled in
 * ("/api/v1/contacts/<id>" under "location /api/v1/"), split into at
 * most three segments and matched against the resource descriptors:
 *
 *     health                   CRM_ROUTE_HEALTH
 *     search                   CRM_ROUTE_SEARCH
 *     <resource>               CRM_ROUTE_COLLECTION
 *     <resource>/<id>          CRM_ROUTE_ITEM
 *     <resource>/bulk          CRM_ROUTE_BULK (not API keys)
 *     <resource>/<id>/<link>   CRM_ROUTE_LINK
 *     <resource>/<id>/<link>/<id>  CRM_ROUTE_LINK (a "through" link)
 *     <resource>/<id>/<action> CRM_ROUTE_ITEM_ACTION
 *     metadata/objects[/<res>] CRM_ROUTE_METADATA
 *     metadata/objects/<res>/fields  CRM_ROUTE_COLLECTION of custom-fields
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"


#define CRM_MAX_SEGMENTS      5


static ngx_uint_t crm_route_split(ngx_str_t *path, ngx_str_t *seg);
static ngx_int_t crm_route_action(ngx_str_t *name, crm_route_t *rt);


static ngx_str_t  crm_custom_fields_name = ngx_string("custom-fields");


static ngx_str_t  crm_actions[] = {
    ngx_null_string,
    ngx_string("login"),
    ngx_string("refresh"),
    ngx_string("logout")
};


ngx_int_t
crm_route(ngx_http_request_t *r, crm_route_t *rt)
{
    ngx_str_t                  path, seg[CRM_MAX_SEGMENTS];
    ngx_uint_t                 n;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    ngx_memzero(rt, sizeof(crm_route_t));

    /* the location's prefix is the mount point */

    path = r->uri;
    rt->base = clcf->name;

    if (clcf->name.len > 0 && path.len >= clcf->name.len
        && ngx_strncmp(path.data, clcf->name.data, clcf->name.len) == 0)
    {
        path.data += clcf->name.len;
        path.len -= clcf->name.len;

    } else {
        rt->base.len = 0;
    }

    n = crm_route_split(&path, seg);

    if (n == 0 || n == CRM_MAX_SEGMENTS) {
        return NGX_DECLINED;
    }

    if (n == 1 && seg[0].len == sizeof("health") - 1
        && ngx_strncmp(seg[0].data, "health", seg[0].len) == 0)
    {
        rt->kind = CRM_ROUTE_HEALTH;
        return NGX_OK;
    }

    if (n == 1 && seg[0].len == sizeof("search") - 1
        && ngx_strncmp(seg[0].data, "search", seg[0].len) == 0)
    {
        rt->kind = CRM_ROUTE_SEARCH;
        return NGX_OK;
    }

    if (seg[0].len == sizeof("metadata") - 1
        && ngx_strncmp(seg[0].data, "metadata", seg[0].len) == 0)
    {
        if (n < 2 || seg[1].len != sizeof("objects") - 1
            || ngx_strncmp(seg[1].data, "objects", seg[1].len) != 0)
        {
            return NGX_DECLINED;
        }

        if (n >= 3) {
            rt->res = crm_schema_find(&seg[2]);
            if (rt->res == NULL) {
                return NGX_DECLINED;
            }
        }

        if (n == 4) {

            /* the custom fields of a resource: its "custom-fields" */

            if (seg[3].len != sizeof("fields") - 1
                || ngx_strncmp(seg[3].data, "fields", seg[3].len) != 0
                || !crm_schema_custom(rt->res))
            {
                return NGX_DECLINED;
            }

            rt->object = rt->res;
            rt->res = crm_schema_find(&crm_custom_fields_name);
            rt->kind = CRM_ROUTE_COLLECTION;
            return NGX_OK;
        }

        rt->kind = CRM_ROUTE_METADATA;
        return NGX_OK;
    }

    if (n == 2 && seg[0].len == sizeof("auth") - 1
        && ngx_strncmp(seg[0].data, "auth", seg[0].len) == 0)
    {
        return crm_route_action(&seg[1], rt);
    }

    rt->res = crm_schema_find(&seg[0]);
    if (rt->res == NULL) {
        return NGX_DECLINED;
    }

    if (rt->res->singleton) {

        /* only /<name>/current: the principal's own workspace */

        if (n != 2 || seg[1].len != sizeof("current") - 1
            || ngx_strncmp(seg[1].data, "current", seg[1].len) != 0)
        {
            return NGX_DECLINED;
        }

        rt->kind = CRM_ROUTE_ITEM;
        return NGX_OK;
    }

    if (n == 1) {
        rt->kind = CRM_ROUTE_COLLECTION;
        return NGX_OK;
    }

    rt->id = seg[1];

    if (n == 2 && seg[1].len == sizeof("bulk") - 1
        && ngx_strncmp(seg[1].data, "bulk", seg[1].len) == 0)
    {
        /* not for API keys: each is made with its secret, shown once */

        if (rt->res->credential) {
            return NGX_DECLINED;
        }

        rt->kind = CRM_ROUTE_BULK;
        return NGX_OK;
    }

    if (n == 2) {
        rt->kind = CRM_ROUTE_ITEM;
        return NGX_OK;
    }

    rt->item_action = (n == 3) ? crm_schema_action(rt->res, &seg[2]) : NULL;
    if (rt->item_action != NULL) {
        rt->kind = CRM_ROUTE_ITEM_ACTION;
        return NGX_OK;
    }

    rt->link = crm_schema_link(rt->res, &seg[2]);
    if (rt->link == NULL) {
        return NGX_DECLINED;
    }

    if (n == 4) {
        if (rt->link->through.len == 0) {
            return NGX_DECLINED;
        }

        rt->target_id = seg[3];
    }

    {
        ngx_str_t  target;

        target.data = (u_char *) rt->link->target;
        target.len = ngx_strlen(rt->link->target);

        rt->target = crm_schema_find(&target);
        if (rt->target == NULL) {
            return NGX_DECLINED;
        }
    }

    rt->kind = CRM_ROUTE_LINK;

    return NGX_OK;
}


/* /auth/login, /auth/refresh, /auth/logout */

static ngx_int_t
crm_route_action(ngx_str_t *name, crm_route_t *rt)
{
    ngx_uint_t  i;

    for (i = 1; i < sizeof(crm_actions) / sizeof(ngx_str_t); i++) {
        if (crm_actions[i].len == name->len
            && ngx_strncmp(crm_actions[i].data, name->data, name->len) == 0)
        {
            rt->kind = CRM_ROUTE_ACTION;
            rt->action = i;
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


/* "a/b/c/" -> a, b, c; empty segments ("a//b") make no route */

static ngx_uint_t
crm_route_split(ngx_str_t *path, ngx_str_t *seg)
{
    u_char      *p, *last, *start;
    ngx_uint_t   n;

    p = path->data;
    last = p + path->len;

    if (p < last && *p == '/') {
        p++;
    }

    if (p < last && last[-1] == '/') {
        last--;
    }

    n = 0;
    start = p;

    for ( ;; ) {
        if (p == last || *p == '/') {
            if (p == start) {
                return (p == last && n == 0) ? 0 : CRM_MAX_SEGMENTS;
            }

            seg[n].data = start;
            seg[n].len = p - start;
            n++;

            if (p == last) {
                return n;
            }

            if (n == CRM_MAX_SEGMENTS - 1) {
                return CRM_MAX_SEGMENTS;
            }

            start = ++p;
            continue;
        }

        p++;
    }
}
