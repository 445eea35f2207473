
/*
 * What the libFuzzer targets of fuzz/ share: see common.h.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "model/crm.h"
#include "common.h"


static int fuzz_cast(u_char *p, u_char *last, const char *cast);


static ngx_log_t  fuzz_log;


void
fuzz_check(ngx_uint_t cond, const char *what)
{
    if (!cond) {
        fprintf(stderr, "fuzz: check failed: %s\n", what);
        abort();
    }
}


ngx_pool_t *
fuzz_pool(void)
{
    ngx_pool_t  *pool;

    ngx_pagesize = 4096;

    pool = ngx_create_pool(1024, &fuzz_log);
    fuzz_check(pool != NULL, "pool");

    return pool;
}


u_char *
fuzz_copy(const u_char *p, size_t len)
{
    u_char  *copy;

    /* malloc(0) may be NULL: one byte more, never read */

    copy = malloc(len ? len : 1);
    fuzz_check(copy != NULL, "copy");

    if (len) {
        ngx_memcpy(copy, p, len);
    }

    return copy;
}


void
fuzz_free(u_char *p, size_t len)
{
    ngx_memset(p, 0xa5, len);
    free(p);
}


/* strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF */

ngx_int_t
fuzz_utf8(ngx_str_t *s)
{
    u_char      *p, *last;
    uint32_t     c, min;
    ngx_uint_t   n;

    if (s->len == 0) {
        return NGX_OK;
    }

    p = s->data;
    last = p + s->len;

    while (p < last) {
        c = *p++;

        if (c < 0x80) {
            continue;

        } else if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            c &= 0x1f;
            min = 0x80;

        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            c &= 0x0f;
            min = 0x800;

        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            c &= 0x07;
            min = 0x10000;

        } else {
            return NGX_DECLINED;
        }

        if ((size_t) (last - p) < n) {
            return NGX_DECLINED;
        }

        for ( /* void */ ; n > 0; n--, p++) {
            if ((*p & 0xc0) != 0x80) {
                return NGX_DECLINED;
            }

            c = (c << 6) | (*p & 0x3f);
        }

        if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* "cast" at p, and no more of a type's name after it ("::uuid[]") */

static int
fuzz_cast(u_char *p, u_char *last, const char *cast)
{
    size_t  len;

    len = ngx_strlen(cast);

    return (size_t) (last - p) >= len
           && ngx_strncmp(p, cast, len) == 0
           && (p + len == last
               || !(p[len] == '[' || p[len] == '_'
                    || (p[len] >= 'a' && p[len] <= 'z')));
}


void
fuzz_check_stmt(crm_stmt_t *st, const char *what)
{
    u_char       *p, *last, *used;
    ngx_uint_t    i, n;
    crm_param_t  *param;

    fuzz_check(st->sql.len > 0 && st->sql.data != NULL, what);

    used = calloc(st->params.nelts + 1, 1);
    fuzz_check(used != NULL, "calloc");

    p = st->sql.data;
    last = p + st->sql.len;

    for ( /* void */ ; p < last; p++) {
        fuzz_check((*p >= 0x20 && *p < 0x7f) || *p == '\n' || *p == '\t',
                   "statement: only ASCII");

        if (*p != '$' || p + 1 == last || *(p + 1) < '0' || *(p + 1) > '9')
        {
            continue;
        }

        for (n = 0, p++; p < last && *p >= '0' && *p <= '9'; p++) {
            n = n * 10 + (*p - '0');
        }

        fuzz_check(n >= 1 && n <= st->params.nelts,
                   "statement: $n is bound");
        used[n] = 1;

        /* a binary value is read as the type every reference casts to */

        param = st->params.elts;

        if (param[n - 1].binary) {
            fuzz_check(fuzz_cast(p, last, "::timestamptz")
                       ? param[n - 1].value.len == 8
                       : fuzz_cast(p, last, "::uuid")
                         && param[n - 1].value.len == 16,
                       "statement: a binary parameter of its cast");
        }

        p--;
    }

    param = st->params.elts;

    for (i = 0; i < st->params.nelts; i++) {
        fuzz_check(used[i + 1], "statement: parameter used");

        if (!param[i].null) {
            fuzz_check(param[i].value.data != NULL
                       || param[i].value.len == 0,
                       "statement: parameter value");
            fuzz_check(param[i].binary || param[i].value.len == 0
                       || ngx_strlchr(param[i].value.data,
                                      param[i].value.data
                                      + param[i].value.len, '\0')
                          == NULL,
                       "statement: no NUL in a parameter");
        }
    }

    free(used);
}
