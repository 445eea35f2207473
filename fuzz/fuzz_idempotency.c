
/*
 * libFuzzer target: the fingerprint of an Idempotency-Key request
 * (crm_idem_fingerprint(), src/crm_fingerprint.c).  See fuzz/README.
 *
 * The input is the method, the URI, the principal and the body,
 * separated by 0xff (missing parts are empty); the first byte seeds how
 * the body is cut into buffers.
 *
 * Besides the sanitizers: the fingerprint is 64 lowercase hex digits;
 * the same for the body however it is cut into buffers (empty ones
 * included); and another whenever a byte moves from one part to the
 * next, or a part changes.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "model/crm.h"
#include "common.h"


#define FUZZ_PARTS      4


static void fuzz_fp(ngx_str_t *part, ngx_chain_t *body, u_char *fp);
static ngx_chain_t *fuzz_chain(ngx_pool_t *pool, ngx_str_t *body,
    ngx_uint_t seed);


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char       *p, *last, *sep, *copy[FUZZ_PARTS];
    u_char        fp[CRM_IDEM_FP_LEN], fp2[CRM_IDEM_FP_LEN];
    ngx_str_t     part[FUZZ_PARTS], moved[FUZZ_PARTS];
    ngx_buf_t     b;
    ngx_uint_t    i, j;
    ngx_pool_t   *pool;
    ngx_chain_t   one, *cl;

    if (size == 0) {
        return 0;
    }

    pool = fuzz_pool();

    p = (u_char *) data + 1;
    last = (u_char *) data + size;

    /* exact-size copies of each part: ASan sees a read past any */

    for (i = 0; i < FUZZ_PARTS; i++) {
        sep = (i < FUZZ_PARTS - 1 && p < last) ? ngx_strlchr(p, last, 0xff)
                                               : NULL;

        part[i].len = (sep ? sep : last) - p;
        copy[i] = fuzz_copy(p, part[i].len);
        part[i].data = copy[i];

        p = sep ? sep + 1 : last;
    }

    /* the body in one buffer */

    ngx_memzero(&b, sizeof(ngx_buf_t));
    b.pos = part[3].data;
    b.last = part[3].data + part[3].len;
    b.memory = 1;
    one.buf = &b;
    one.next = NULL;

    fuzz_fp(part, &one, fp);

    for (i = 0; i < CRM_IDEM_FP_LEN; i++) {
        fuzz_check((fp[i] >= '0' && fp[i] <= '9')
                   || (fp[i] >= 'a' && fp[i] <= 'f'), "lowercase hex");
    }

    /* cut otherwise, or absent when empty: the same */

    cl = fuzz_chain(pool, &part[3], data[0]);

    fuzz_fp(part, cl, fp2);
    fuzz_check(ngx_memcmp(fp, fp2, CRM_IDEM_FP_LEN) == 0, "cut body");

    if (part[3].len == 0) {
        fuzz_fp(part, NULL, fp2);
        fuzz_check(ngx_memcmp(fp, fp2, CRM_IDEM_FP_LEN) == 0, "no body");
    }

    /* a byte moved across each boundary, both ways: another */

    for (i = 0; i + 1 < FUZZ_PARTS; i++) {
        for (j = 0; j < FUZZ_PARTS; j++) {
            moved[j] = part[j];
        }

        if (part[i].len > 0) {
            /* the last byte of part i becomes the first of part i + 1 */

            moved[i].len--;
            moved[i + 1].data = ngx_pnalloc(pool, part[i + 1].len + 1);
            fuzz_check(moved[i + 1].data != NULL, "alloc");
            moved[i + 1].data[0] = part[i].data[part[i].len - 1];
            ngx_memcpy(moved[i + 1].data + 1, part[i + 1].data,
                       part[i + 1].len);
            moved[i + 1].len++;

            b.pos = moved[3].data;
            b.last = moved[3].data + moved[3].len;

            fuzz_fp(moved, &one, fp2);
            fuzz_check(ngx_memcmp(fp, fp2, CRM_IDEM_FP_LEN) != 0,
                       "a byte moved forward");
        }

        for (j = 0; j < FUZZ_PARTS; j++) {
            moved[j] = part[j];
        }

        if (part[i + 1].len > 0) {
            /* the first byte of part i + 1 becomes the last of part i */

            moved[i].data = ngx_pnalloc(pool, part[i].len + 1);
            fuzz_check(moved[i].data != NULL, "alloc");
            ngx_memcpy(moved[i].data, part[i].data, part[i].len);
            moved[i].data[part[i].len] = part[i + 1].data[0];
            moved[i].len++;
            moved[i + 1].data++;
            moved[i + 1].len--;

            b.pos = moved[3].data;
            b.last = moved[3].data + moved[3].len;

            fuzz_fp(moved, &one, fp2);
            fuzz_check(ngx_memcmp(fp, fp2, CRM_IDEM_FP_LEN) != 0,
                       "a byte moved back");
        }
    }

    /* one bit of one part changed: another */

    for (i = 0; i < FUZZ_PARTS; i++) {
        if (part[i].len == 0) {
            continue;
        }

        for (j = 0; j < FUZZ_PARTS; j++) {
            moved[j] = part[j];
        }

        moved[i].data = ngx_pnalloc(pool, part[i].len);
        fuzz_check(moved[i].data != NULL, "alloc");
        ngx_memcpy(moved[i].data, part[i].data, part[i].len);
        moved[i].data[data[0] % part[i].len] ^= 1 << (data[0] % 8);

        b.pos = moved[3].data;
        b.last = moved[3].data + moved[3].len;

        fuzz_fp(moved, &one, fp2);
        fuzz_check(ngx_memcmp(fp, fp2, CRM_IDEM_FP_LEN) != 0, "a bit changed");
    }

    for (i = 0; i < FUZZ_PARTS; i++) {
        fuzz_free(copy[i], part[i].len);
    }

    ngx_destroy_pool(pool);

    return 0;
}


static void
fuzz_fp(ngx_str_t *part, ngx_chain_t *body, u_char *fp)
{
    fuzz_check(crm_idem_fingerprint(&part[0], &part[1], body, &part[2], fp)
               == NGX_OK, "crm_idem_fingerprint");
}


/* the body cut at points drawn from "seed", with empty buffers between */

static ngx_chain_t *
fuzz_chain(ngx_pool_t *pool, ngx_str_t *body, ngx_uint_t seed)
{
    size_t        off, n;
    ngx_buf_t    *b;
    ngx_chain_t  *head, **ll, *cl;

    head = NULL;
    ll = &head;
    off = 0;

    do {
        n = (body->len - off) ? 1 + seed % (body->len - off) : 0;
        seed = seed * 1103515245 + 12345;

        b = ngx_calloc_buf(pool);
        cl = ngx_palloc(pool, sizeof(ngx_chain_t));
        fuzz_check(b != NULL && cl != NULL, "alloc");

        b->pos = body->data + off;
        b->last = b->pos + ((seed & 0x100) ? 0 : n);
        b->memory = 1;

        off += b->last - b->pos;

        cl->buf = b;
        cl->next = NULL;
        *ll = cl;
        ll = &cl->next;

    } while (off < body->len);

    return head;
}
