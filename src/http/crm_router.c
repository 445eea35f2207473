
/*
 * ngx_http_crm_module: the router.
 *
 * The path is taken relative to the location the module is enabled in
 * ("/api/v1/contacts/<id>" under "location /api/v1/"), split into at
 * most four segments and matched against the rows of a route table
 * (src/crm_routes.c): literal segments, and placeholders resolved with
 * the resource descriptors (:resource, :link, :action, :object) or taken
 * as they are (:id).  The router knows no handler: the row it returns
 * names them.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"


static ngx_int_t crm_route_match(crm_route_def_t *def, ngx_str_t *seg,
    ngx_uint_t n, crm_route_t *rt);
static ngx_int_t crm_route_when(crm_route_def_t *def, crm_route_t *rt);
static ngx_uint_t crm_route_split(ngx_str_t *path, ngx_str_t *seg);


static ngx_str_t  crm_custom_fields_name = ngx_string("custom-fields");


/*
 * The path below the location, matched against "table" (crm_routes.c)
 * row by row.  NGX_DECLINED: no such route (404).
 */

ngx_int_t
crm_route(ngx_http_request_t *r, crm_route_def_t *table, crm_route_t *rt)
{
    ngx_str_t                  path, base, seg[CRM_MAX_SEGMENTS];
    ngx_uint_t                 n;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    /* the location's prefix is the mount point */

    path = r->uri;
    base = clcf->name;

    if (clcf->name.len > 0 && path.len >= clcf->name.len
        && ngx_strncmp(path.data, clcf->name.data, clcf->name.len) == 0)
    {
        path.data += clcf->name.len;
        path.len -= clcf->name.len;

    } else {
        base.len = 0;
    }

    n = crm_route_split(&path, seg);

    if (n == 0 || n == CRM_MAX_SEGMENTS
        || crm_route_segments(table, seg, n, rt) != NGX_OK)
    {
        ngx_memzero(rt, sizeof(crm_route_t));
        rt->base = base;
        return NGX_DECLINED;
    }

    rt->base = base;

    return NGX_OK;
}


/*
 * The route of path segments "seg" (n of them, fewer than
 * CRM_MAX_SEGMENTS) in "table": the first row that matches them.
 * NGX_DECLINED: no such route.  The OpenAPI document asks it too, which
 * row serves a path.
 */

ngx_int_t
crm_route_segments(crm_route_def_t *table, ngx_str_t *seg, ngx_uint_t n,
    crm_route_t *rt)
{
    crm_route_def_t  *def;

    for (def = table; def->pattern != NULL; def++) {

        ngx_memzero(rt, sizeof(crm_route_t));

        if (crm_route_match(def, seg, n, rt) != NGX_OK
            || crm_route_when(def, rt) != NGX_OK)
        {
            continue;
        }

        if (def->kind == CRM_ROUTE_NONE) {
            /* a row that says "not here" */
            return NGX_DECLINED;
        }

        rt->def = def;
        rt->kind = def->kind;
        rt->action = def->action;
        rt->flags = def->flags;

        return NGX_OK;
    }

    return NGX_DECLINED;
}


/* the segments against the row's pattern, filling "rt" on the way */

static ngx_int_t
crm_route_match(crm_route_def_t *def, ngx_str_t *seg, ngx_uint_t n,
    crm_route_t *rt)
{
    u_char          *p, *start;
    ngx_str_t        name, target;
    ngx_uint_t       i, ids, segs;
    crm_resource_t  *res;

    /* as many segments first: rows that cannot match look nothing up */

    segs = 0;

    for (p = (u_char *) def->pattern; *p != '\0'; p++) {
        segs += (*p == '/');
    }

    if (segs != n) {
        return NGX_DECLINED;
    }

    p = (u_char *) def->pattern;
    ids = 0;

    for (i = 0; /* void */ ; i++) {

        if (*p == '/') {
            p++;
        }

        if (*p == '\0') {
            return (i == n) ? NGX_OK : NGX_DECLINED;
        }

        if (i == n) {
            return NGX_DECLINED;
        }

        start = p;

        while (*p != '\0' && *p != '/') {
            p++;
        }

        name.data = start;
        name.len = p - start;

        if (name.data[0] != ':') {
            if (name.len != seg[i].len
                || ngx_strncmp(name.data, seg[i].data, name.len) != 0)
            {
                return NGX_DECLINED;
            }

            continue;
        }

        if (name.len == sizeof(":resource") - 1
            && ngx_strncmp(name.data, ":resource", name.len) == 0)
        {
            rt->res = crm_schema_find(&seg[i]);
            if (rt->res == NULL || rt->res->nested) {
                return NGX_DECLINED;
            }

            continue;
        }

        if (name.len == sizeof(":id") - 1
            && ngx_strncmp(name.data, ":id", name.len) == 0)
        {
            if (ids++ == 0) {
                rt->id = seg[i];

            } else {
                rt->target_id = seg[i];   /* DELETE .../<link>/<id> */
            }

            continue;
        }

        if (name.len == sizeof(":action") - 1
            && ngx_strncmp(name.data, ":action", name.len) == 0)
        {
            rt->item_action = crm_schema_action(rt->res, &seg[i]);
            if (rt->item_action == NULL) {
                return NGX_DECLINED;
            }

            continue;
        }

        if (name.len == sizeof(":link") - 1
            && ngx_strncmp(name.data, ":link", name.len) == 0)
        {
            rt->link = crm_schema_link(rt->res, &seg[i]);
            if (rt->link == NULL) {
                return NGX_DECLINED;
            }

            target.data = (u_char *) rt->link->target;
            target.len = ngx_strlen(rt->link->target);

            rt->target = crm_schema_find(&target);
            if (rt->target == NULL) {
                return NGX_DECLINED;
            }

            continue;
        }

        if (name.len == sizeof(":object") - 1
            && ngx_strncmp(name.data, ":object", name.len) == 0)
        {
            /* the custom fields of a resource: its "custom-fields" */

            res = crm_schema_find(&seg[i]);
            if (res == NULL || !crm_schema_custom(res)) {
                return NGX_DECLINED;
            }

            rt->object = res;
            rt->res = crm_schema_find(&crm_custom_fields_name);
            if (rt->res == NULL) {
                return NGX_DECLINED;
            }

            continue;
        }

        /* a placeholder this router does not know: a bug of the table */
        return NGX_DECLINED;
    }
}


/* what the row asks of the route's resource and link */

static ngx_int_t
crm_route_when(crm_route_def_t *def, crm_route_t *rt)
{
    ngx_uint_t       w;
    crm_resource_t  *res;

    w = def->when;

    if (w == 0) {
        return NGX_OK;
    }

    res = rt->res;

    if (res == NULL || res->nested) {
        return NGX_DECLINED;
    }

    if (((w & CRM_WHEN_SINGLETON) && !res->singleton)
        || ((w & CRM_WHEN_PLURAL) && res->singleton)
        || ((w & CRM_WHEN_IMMUTABLE) && !res->immutable)
        || ((w & CRM_WHEN_MUTABLE) && res->immutable)
        || ((w & CRM_WHEN_CREDENTIAL) && !res->credential)
        || ((w & CRM_WHEN_PLAIN) && res->credential)
        || ((w & CRM_WHEN_QUEUED) && !res->queued)
        || ((w & CRM_WHEN_READONLY) && !res->readonly)
        || ((w & CRM_WHEN_HOOKS) && !res->hooks)
        || ((w & CRM_WHEN_WRITABLE) && (res->readonly || res->hooks))
        || ((w & CRM_WHEN_PREVIEW)
            && (rt->target == NULL || !rt->target->preview))
        || ((w & CRM_WHEN_THROUGH)
            && (rt->link == NULL || rt->link->through.len == 0)))
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
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
