
/*
 * A tiny TAP producer for the C unit tests (t/unit/test_*.c).
 *
 *   ok(cond, "name %s", ...)       one test; returns cond
 *   is_int(got, want, "name")      integers, both shown on failure
 *   is_mem(data, len, "want", "name")  bytes against a C string
 *   diag("fmt", ...)               "# ..." on stderr
 *   note("fmt", ...)               "# ..." on stdout
 *   return done_testing();         prints the plan; the exit status is
 *                                  the number of failures (at most 255)
 *
 * The plan comes last, so a binary that dies half way has none and
 * t/unit/run.sh reports it as a failure.
 */


#ifndef _TAP_H_INCLUDED_
#define _TAP_H_INCLUDED_


#include <stddef.h>


#define ok(cond, ...)                                                        \
    tap_ok((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...)                                               \
    tap_is_int((long long) (got), (long long) (want), __FILE__, __LINE__,    \
               __VA_ARGS__)

#define is_mem(data, len, want, ...)                                         \
    tap_is_mem((const void *) (data), (size_t) (len), want, __FILE__,        \
               __LINE__, __VA_ARGS__)


int tap_ok(int pass, const char *file, int line, const char *fmt, ...)
    __attribute__ ((format (printf, 4, 5)));
int tap_is_int(long long got, long long want, const char *file, int line,
    const char *fmt, ...)
    __attribute__ ((format (printf, 5, 6)));
int tap_is_mem(const void *data, size_t len, const char *want,
    const char *file, int line, const char *fmt, ...)
    __attribute__ ((format (printf, 6, 7)));
void diag(const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
void note(const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
int done_testing(void);


#endif /* _TAP_H_INCLUDED_ */
