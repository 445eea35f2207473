
/*
 * What the nginx core objects linked into the unit tests and the fuzzer
 * want from the rest of nginx: logging goes to stderr as TAP comments.
 */


#include <ngx_config.h>
#include <ngx_core.h>


volatile ngx_cycle_t  *ngx_cycle;


#if (NGX_HAVE_VARIADIC_MACROS)

void
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)

#else

void
ngx_log_error_core(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, va_list args)

#endif
{
#if (NGX_HAVE_VARIADIC_MACROS)
    va_list  args;
#endif
    u_char   *p, buf[NGX_MAX_ERROR_STR];

#if (NGX_HAVE_VARIADIC_MACROS)
    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf) - 1, fmt, args);
    va_end(args);
#else
    p = ngx_vslprintf(buf, buf + sizeof(buf) - 1, fmt, args);
#endif

    if (err) {
        p = ngx_slprintf(p, buf + sizeof(buf) - 1, " (%d)", err);
    }

    *p = '\0';

    fprintf(stderr, "# nginx log [%d]: %s\n", (int) level, (char *) buf);
}


#if !(NGX_HAVE_VARIADIC_MACROS)

void ngx_cdecl
ngx_log_error(ngx_uint_t level, ngx_log_t *log, ngx_err_t err,
    const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    ngx_log_error_core(level, log, err, fmt, args);
    va_end(args);
}


void ngx_cdecl
ngx_log_debug_core(ngx_log_t *log, ngx_err_t err, const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    ngx_log_error_core(NGX_LOG_DEBUG, log, err, fmt, args);
    va_end(args);
}

#endif



/* os/unix/ngx_files.c's, without its thread and aio variants */

ssize_t
ngx_read_file(ngx_file_t *file, u_char *buf, size_t size, off_t offset)
{
    ssize_t  n;

    n = pread(file->fd, buf, size, offset);

    if (n == -1) {
        return NGX_ERROR;
    }

    file->offset = offset + n;

    return n;
}
