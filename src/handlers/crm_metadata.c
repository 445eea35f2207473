
/*
 * ngx_http_crm_module: GET /metadata/objects[/:name]: the resources and
 * their fields, from the descriptors and the workspace's custom fields.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include "http/crm_http.h"
#include "handlers/crm_handlers.h"


static json_t *crm_metadata_object(crm_ctx_t *ctx, crm_resource_t *res);


/*
 * GET /metadata/objects[/:name]: the resources and their fields, read
 * from the descriptors that drive everything else.
 */

ngx_int_t
crm_metadata(ngx_http_request_t *r, crm_ctx_t *ctx)
{
    char             *dump;
    u_char           *p;
    size_t            len;
    json_t           *data, *obj;
    ngx_uint_t        i, n;
    crm_resource_t   *all;

    if (crm_http_no_args(r, ctx) != NGX_OK) {
        return ctx->rc;
    }

    if (ctx->custom == NULL && ctx->mcf->pool != NULL) {
        /* the workspace's custom fields are part of the description */
        return crm_custom_load(r, ctx, ctx->route.res, crm_metadata);
    }

    if (ctx->route.res != NULL) {
        data = crm_metadata_object(ctx, ctx->route.res);

    } else {
        data = json_array();
        all = crm_schema_all(&n);

        for (i = 0; data != NULL && i < n; i++) {
            obj = crm_metadata_object(ctx, &all[i]);

            if (obj == NULL || json_array_append_new(data, obj) != 0) {
                json_decref(data);
                data = NULL;
            }
        }
    }

    if (data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    dump = json_dumps(data, JSON_COMPACT);
    json_decref(data);

    if (dump == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = ngx_strlen(dump);
    p = ngx_pnalloc(r->pool, len);

    if (p != NULL) {
        ngx_memcpy(p, dump, len);
    }

    free(dump);

    if (p == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return crm_exec_render_row(r, ctx, NGX_HTTP_OK, p, len);
}


static json_t *
crm_metadata_object(crm_ctx_t *ctx, crm_resource_t *res)
{
    json_t       *obj, *fields, *f, *list;
    ngx_uint_t    i;
    crm_field_t  *fd;
    const char  **e;

    static const char  *types[] = {
        "uuid", "text", "email", "enum", "integer", "number", "boolean",
        "timestamp", "date", "array", "object", "password", "list",
        "uuidArray"
    };

    obj = json_object();
    fields = json_array();

    if (obj == NULL || fields == NULL) {
        json_decref(obj);
        json_decref(fields);
        return NULL;
    }

    json_object_set_new(obj, "name", json_stringn((char *) res->name.data,
                                                  res->name.len));
    json_object_set_new(obj, "fields", fields);

    for (i = 0; i < res->nfields; i++) {
        fd = &res->fields[i];

        if (fd->flags & CRM_F_HIDDEN) {
            continue;
        }

        f = json_pack("{s:s%,s:s,s:b,s:b,s:b,s:b,s:b,s:b}",
                      "name", fd->name.data, fd->name.len,
                      "type", types[fd->type],
                      "required", (fd->flags & CRM_F_REQUIRED) != 0,
                      "readOnly", (fd->flags & CRM_F_READONLY) != 0,
                      "writeOnly", (fd->flags & CRM_F_WRITEONLY) != 0,
                      "filterable", (fd->flags & CRM_F_FILTER) != 0,
                      "sortable", (fd->flags & CRM_F_SORT) != 0,
                      "searchable", (fd->flags & CRM_F_SEARCH) != 0);
        if (f == NULL) {
            json_decref(obj);
            return NULL;
        }

        /* an integer's max_len is the column's bound, not the field's */

        if (fd->max_len != 0 && fd->type != CRM_FT_INT) {
            json_object_set_new(f, "maxLength", json_integer(fd->max_len));
        }

        if (fd->ref != NULL) {
            json_object_set_new(f, "references", json_string(fd->ref));
        }

        if (fd->enum_values != NULL) {
            list = json_array();

            for (e = fd->enum_values; list != NULL && *e; e++) {
                json_array_append_new(list, json_string(*e));
            }

            json_object_set_new(f, "values", list);
        }

        json_array_append_new(fields, f);
    }

    list = json_array();

    for (i = 0; list != NULL && i < res->nlinks; i++) {
        json_array_append_new(list,
                              json_stringn((char *) res->links[i].name.data,
                                           res->links[i].name.len));
    }

    json_object_set_new(obj, "links", list);

    /* the links that take POST {"id"} and DELETE .../<link>/<id> */

    list = json_array();

    for (i = 0; list != NULL && i < res->nlinks; i++) {
        if (res->links[i].through.len > 0) {
            json_array_append_new(list,
                                  json_stringn((char *) res->links[i].name.data,
                                               res->links[i].name.len));
        }
    }

    json_object_set_new(obj, "writableLinks", list);

    list = json_array();

    for (i = 0; list != NULL && i < res->nactions; i++) {
        json_array_append_new(list,
                              json_stringn((char *) res->actions[i].name.data,
                                           res->actions[i].name.len));
    }

    json_object_set_new(obj, "actions", list);

    if (crm_schema_custom(res)) {
        json_object_set_new(obj, "customFields",
                            crm_custom_metadata(ctx, res));
    }

    return obj;
}
