
/*
 * A tiny TAP producer: see tap.h.
 */


#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "tap.h"


static void tap_line(FILE *f, const char *prefix, const char *fmt,
    va_list args);
static void tap_failed(const char *file, int line);
static void tap_show(const char *what, const void *data, size_t len);


static int  tap_run;
static int  tap_failures;


int
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
    va_list  args;

    tap_run++;

    printf("%sok %d - ", pass ? "" : "not ", tap_run);

    va_start(args, fmt);
    tap_line(stdout, "", fmt, args);
    va_end(args);

    if (!pass) {
        tap_failures++;
        tap_failed(file, line);
    }

    return pass;
}


int
tap_is_int(long long got, long long want, const char *file, int line,
    const char *fmt, ...)
{
    int      pass;
    va_list  args;

    pass = (got == want);
    tap_run++;

    printf("%sok %d - ", pass ? "" : "not ", tap_run);

    va_start(args, fmt);
    tap_line(stdout, "", fmt, args);
    va_end(args);

    if (!pass) {
        tap_failures++;
        tap_failed(file, line);
        diag("         got: %lld", got);
        diag("    expected: %lld", want);
    }

    return pass;
}


int
tap_is_mem(const void *data, size_t len, const char *want, const char *file,
    int line, const char *fmt, ...)
{
    int      pass;
    va_list  args;

    pass = (data != NULL || len == 0)
           && len == strlen(want)
           && (len == 0 || memcmp(data, want, len) == 0);
    tap_run++;

    printf("%sok %d - ", pass ? "" : "not ", tap_run);

    va_start(args, fmt);
    tap_line(stdout, "", fmt, args);
    va_end(args);

    if (!pass) {
        tap_failures++;
        tap_failed(file, line);
        tap_show("         got", data, len);
        tap_show("    expected", want, strlen(want));
    }

    return pass;
}


void
diag(const char *fmt, ...)
{
    va_list  args;

    fflush(stdout);

    va_start(args, fmt);
    tap_line(stderr, "# ", fmt, args);
    va_end(args);
}


void
note(const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    tap_line(stdout, "# ", fmt, args);
    va_end(args);
}


int
done_testing(void)
{
    printf("1..%d\n", tap_run);
    fflush(stdout);

    if (tap_failures > 0) {
        diag("Looks like you failed %d test%s of %d.", tap_failures,
             (tap_failures == 1) ? "" : "s", tap_run);
    }

    return (tap_failures > 255) ? 255 : tap_failures;
}


/* one line: newlines in the text would break the TAP stream */

static void
tap_line(FILE *f, const char *prefix, const char *fmt, va_list args)
{
    char  buf[4096], *p;

    vsnprintf(buf, sizeof(buf), fmt, args);

    for (p = buf; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\r') {
            *p = ' ';
        }
    }

    fprintf(f, "%s%s\n", prefix, buf);
    fflush(f);
}


static void
tap_failed(const char *file, int line)
{
    diag("  Failed test at %s line %d.", file, line);
}


static void
tap_show(const char *what, const void *data, size_t len)
{
    if (data == NULL) {
        diag("%s: NULL", what);
        return;
    }

    diag("%s: '%.*s' (%zu bytes)", what, (int) (len > 2000 ? 2000 : len),
         (const char *) data, len);
}
