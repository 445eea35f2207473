
/*
 * libFuzzer target: the renderer of binary results
 * (src/model/crm_render.c, crm_render_bin_*()).  See fuzz/README.
 *
 * A list's page may come in PostgreSQL's binary format; its values come
 * from the server, not from clients, but a value that is not what its
 * type's send function writes (a schema the descriptors do not match)
 * must be refused, not misread.  The first byte of an input picks the
 * field type (of fuzz_types[]); the rest is one value.
 *
 * Besides the sanitizers: the JSON is within crm_render_bin_size(); a
 * sort key's text within crm_render_bin_text_size(); and a uuid's, an
 * integer's and a timestamp's JSON is what the text renderer makes of
 * the text crm_render_bin_text() writes back (for a timestamp, of
 * every finite instant, BC and after 9999 included).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "model/crm.h"
#include "common.h"


static const ngx_uint_t  fuzz_types[] = {
    CRM_FT_UUID, CRM_FT_TEXT, CRM_FT_INT, CRM_FT_BOOL, CRM_FT_TIMESTAMP,
    CRM_FT_OBJECT, CRM_FT_LIST, CRM_FT_TEXT_ARRAY, CRM_FT_UUID_ARRAY
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char          *in, *out, *p, *text, *t, *json, *q;
    size_t           bound;
    ngx_str_t        v, tv;
    ngx_pool_t      *pool;
    crm_field_t      field;
    crm_resource_t   res;

    if (size == 0) {
        return 0;
    }

    ngx_memzero(&field, sizeof(crm_field_t));
    ngx_str_set(&field.name, "f");
    field.type = fuzz_types[data[0] % (sizeof(fuzz_types)
                                        / sizeof(fuzz_types[0]))];

    ngx_memzero(&res, sizeof(crm_resource_t));
    res.fields = &field;
    res.nfields = 1;

    pool = fuzz_pool();

    /* an exact-size copy: ASan sees a read past it */

    in = fuzz_copy(data + 1, size - 1);
    v.data = in;
    v.len = size - 1;

    bound = crm_render_bin_size(&res, NULL, &v);
    out = ngx_pnalloc(pool, bound);
    fuzz_check(out != NULL, "alloc");

    p = crm_render_bin_row(out, &res, NULL, &v);
    fuzz_check(p == NULL || (size_t) (p - out) <= bound, "within the bound");

    if (crm_render_bin_key(&field)) {
        text = ngx_pnalloc(pool, crm_render_bin_text_size(&v));
        fuzz_check(text != NULL, "alloc");

        t = crm_render_bin_text(text, &field, &v);
        fuzz_check(t == NULL
                   || (size_t) (t - text) <= crm_render_bin_text_size(&v),
                   "key text within its bound");

        /* what the text path makes of the text: the same JSON */

        if (p != NULL && t != NULL
            && (field.type == CRM_FT_UUID || field.type == CRM_FT_INT
                || field.type == CRM_FT_TIMESTAMP))
        {
            json = ngx_pnalloc(pool, 2 * (t - text) + 64);
            fuzz_check(json != NULL, "alloc");

            tv.data = text;
            tv.len = t - text;

            q = crm_render_value(json, &field, &tv);

            fuzz_check(q != NULL, "the key text is its type's text form");

            /* the row is {"f":<value>} */

            fuzz_check((size_t) (q - json) == (size_t) (p - out) - 6
                       && ngx_memcmp(json, out + 5, q - json) == 0,
                       "the key text renders as the value does");
        }
    }

    fuzz_free(in, size - 1);
    ngx_destroy_pool(pool);

    return 0;
}
