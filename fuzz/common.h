
/*
 * What the libFuzzer targets of fuzz/ share: checks that abort (and so
 * make libFuzzer keep the input), a pool, exact-size copies of inputs.
 */


#ifndef _FUZZ_COMMON_H_INCLUDED_
#define _FUZZ_COMMON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include "model/crm.h"


int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* aborts with "what" unless cond */
void fuzz_check(ngx_uint_t cond, const char *what);

/* a pool that any failure aborts; ngx_destroy_pool() it */
ngx_pool_t *fuzz_pool(void);

/*
 * A malloc'ed copy of exactly len bytes (ASan sees a read past it),
 * freed with fuzz_free(), which overwrites it first: nothing kept may
 * point into the input.
 */
u_char *fuzz_copy(const u_char *p, size_t len);
void fuzz_free(u_char *p, size_t len);

/* valid UTF-8 as a JSON encoder accepts it (empty is valid) */
ngx_int_t fuzz_utf8(ngx_str_t *s);

/*
 * A statement of the planner: printable ASCII and white space only (no
 * input text is ever in it), every "$n" bound, every parameter used, no
 * parameter with a NUL byte (libpq sends them as C strings).
 */
void fuzz_check_stmt(crm_stmt_t *st, const char *what);


#endif /* _FUZZ_COMMON_H_INCLUDED_ */
