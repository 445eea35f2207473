
/*
 * ngx_http_crm_module: the rules of a value of each field type, as text
 * (query parameters, cursor keys, normalized body values): UTF-8 without
 * NUL or control characters, integers and numbers PostgreSQL reads back
 * the same, ISO 8601 timestamps and dates.  Pure.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "model/crm.h"


#define CRM_VALUE_NUM_MAX     1000      /* bytes of a number */

/* days since 1970-01-01 of 0001-01-01, and of 10000-01-01 */
#define CRM_VALUE_DAY_MIN     ((int64_t) -719162)
#define CRM_VALUE_DAY_END     ((int64_t) 2932897)


static ngx_int_t crm_value_int(u_char *p, u_char *last);
static ngx_int_t crm_value_numeric(u_char *p, u_char *last);
static ngx_int_t crm_value_timestamp(u_char *p, u_char *last, int64_t *us);
static ngx_int_t crm_value_date(u_char **pp, u_char *last, int64_t *days);
static ngx_int_t crm_value_digits(u_char **pp, u_char *last, ngx_uint_t n,
    ngx_uint_t min, ngx_uint_t max, ngx_uint_t *value);


static const u_char  crm_value_mdays[] = {
    31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
};


/*
 * The bytes of "p" (valid UTF-8) that hold at most "chars" characters:
 * a cut on a character's boundary
 */

size_t
crm_value_utf8_cut(u_char *p, size_t len, size_t chars)
{
    size_t  i, n;

    n = 0;

    for (i = 0; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80 && n++ == chars) {
            return i;
        }
    }

    return len;
}


/*
 * Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing
 * above U+10FFFF; and no NUL, which PostgreSQL text cannot hold.
 * *chars: the number of characters, counted even when invalid.
 */

ngx_int_t
crm_value_utf8(u_char *p, size_t len, size_t *chars)
{
    u_char     *last;
    size_t      n;
    uint32_t    u, min;
    ngx_int_t   rc;
    ngx_uint_t  more;

    last = p + len;
    n = 0;
    rc = NGX_OK;

    while (p < last) {
        u = *p++;
        n++;

        if (u == 0) {
            rc = NGX_DECLINED;
            continue;
        }

        if (u < 0x80) {
            continue;
        }

        if ((u & 0xe0) == 0xc0) {
            more = 1;
            min = 0x80;
            u &= 0x1f;

        } else if ((u & 0xf0) == 0xe0) {
            more = 2;
            min = 0x800;
            u &= 0x0f;

        } else if ((u & 0xf8) == 0xf0) {
            more = 3;
            min = 0x10000;
            u &= 0x07;

        } else {
            rc = NGX_DECLINED;
            continue;
        }

        while (more > 0 && p < last && (*p & 0xc0) == 0x80) {
            u = (u << 6) | (*p++ & 0x3f);
            more--;
        }

        if (more > 0 || u < min || u > 0x10ffff
            || (u >= 0xd800 && u <= 0xdfff))
        {
            rc = NGX_DECLINED;
        }
    }

    if (chars != NULL) {
        *chars = n;
    }

    return rc;
}


/* the text form of a value of a field type, as a filter or a cursor key */

ngx_int_t
crm_value_check(ngx_uint_t type, ngx_str_t *v)
{
    u_char     *p, *last;
    ngx_int_t   rc;

    p = v->data;
    last = p + v->len;

    switch (type) {

    case CRM_FT_UUID:
        return crm_uuid_valid(p, v->len);

    case CRM_FT_TEXT:
    case CRM_FT_EMAIL:
    case CRM_FT_ENUM:
    case CRM_FT_TEXT_ARRAY:
        /* an element as a record may hold it: 255 characters of 4 bytes */
        if (v->len > (type == CRM_FT_TEXT_ARRAY ? 4 * CRM_ELEM_MAX
                                                : CRM_TEXT_MAX))
        {
            return NGX_DECLINED;
        }

        return crm_value_utf8(p, v->len, NULL);

    case CRM_FT_INT:
        return crm_value_int(p, last);

    case CRM_FT_NUMERIC:
        return crm_value_numeric(p, last);

    case CRM_FT_BOOL:
        if ((v->len == 4 && ngx_strncmp(p, "true", 4) == 0)
            || (v->len == 5 && ngx_strncmp(p, "false", 5) == 0))
        {
            return NGX_OK;
        }

        return NGX_DECLINED;

    case CRM_FT_TIMESTAMP:
        rc = crm_value_timestamp(p, last, NULL);
        return (rc == NGX_DONE) ? NGX_OK : rc;

    case CRM_FT_DATE:
        if (crm_value_date(&p, last, NULL) == NGX_OK && p == last) {
            return NGX_OK;
        }

        return NGX_DECLINED;

    default:
        return NGX_DECLINED;
    }
}


ngx_int_t
crm_value_iso(ngx_str_t *v, u_char *buf, ngx_str_t *iso)
{
    size_t  len;

    len = v->len;

    if (len > CRM_VALUE_TS_MAX) {
        return NGX_DECLINED;
    }

    ngx_memcpy(buf, v->data, len);

    if (len > 10 && buf[10] == ' ') {
        buf[10] = 'T';
    }

    if (len > 13
        && (buf[len - 3] == '+' || buf[len - 3] == '-')
        && buf[len - 2] >= '0' && buf[len - 2] <= '9'
        && buf[len - 1] >= '0' && buf[len - 1] <= '9')
    {
        buf[len++] = ':';
        buf[len++] = '0';
        buf[len++] = '0';
    }

    iso->data = buf;
    iso->len = len;

    return NGX_OK;
}


ngx_int_t
crm_value_time(ngx_str_t *v, int64_t *us)
{
    return crm_value_timestamp(v->data, v->data + v->len, us);
}


ngx_int_t
crm_value_binary(ngx_uint_t type, ngx_str_t *v, u_char *buf, size_t *len)
{
    u_char     *p, tsbuf[CRM_VALUE_TS_MAX + 3];
    int64_t     us;
    uint64_t    u;
    ngx_str_t   iso;
    ngx_uint_t  i;

    switch (type) {

    case CRM_FT_TIMESTAMP:
        if (crm_value_iso(v, tsbuf, &iso) != NGX_OK
            || crm_value_time(&iso, &us) != NGX_OK)
        {
            return NGX_DECLINED;
        }

        u = (uint64_t) us;

        for (i = 0; i < 8; i++) {
            buf[i] = (u_char) (u >> (56 - 8 * i));
        }

        *len = 8;

        return NGX_OK;

    case CRM_FT_UUID:
        if (crm_uuid_valid(v->data, v->len) != NGX_OK) {
            return NGX_DECLINED;
        }

        p = v->data;

        for (i = 0; i < 16; i++) {
            if (*p == '-') {
                p++;
            }

            buf[i] = (u_char) ngx_hextoi(p, 2);
            p += 2;
        }

        *len = 16;

        return NGX_OK;

    default:
        return NGX_DECLINED;
    }
}


/* [+-]digits within bigint */

static ngx_int_t
crm_value_int(u_char *p, u_char *last)
{
    uint64_t    v, max;
    ngx_uint_t  d;

    max = 0x7fffffffffffffffULL;

    if (p < last && (*p == '-' || *p == '+')) {
        if (*p == '-') {
            max++;
        }

        p++;
    }

    if (p == last) {
        return NGX_DECLINED;
    }

    for (v = 0; p < last; p++) {
        if (*p < '0' || *p > '9') {
            return NGX_DECLINED;
        }

        d = *p - '0';

        if (v > (max - d) / 10) {
            return NGX_DECLINED;
        }

        v = v * 10 + d;
    }

    return NGX_OK;
}


/* [+-](digits[.digits]|.digits)[(e|E)[+-]d[d[d]]] */

static ngx_int_t
crm_value_numeric(u_char *p, u_char *last)
{
    ngx_uint_t  digits, exp;

    if (last - p > CRM_VALUE_NUM_MAX) {
        return NGX_DECLINED;
    }

    if (p < last && (*p == '-' || *p == '+')) {
        p++;
    }

    for (digits = 0; p < last && *p >= '0' && *p <= '9'; p++) {
        digits++;
    }

    if (p < last && *p == '.') {
        for (p++; p < last && *p >= '0' && *p <= '9'; p++) {
            digits++;
        }
    }

    if (digits == 0) {
        return NGX_DECLINED;
    }

    if (p < last && (*p == 'e' || *p == 'E')) {
        p++;

        if (p < last && (*p == '-' || *p == '+')) {
            p++;
        }

        for (exp = 0; p < last && *p >= '0' && *p <= '9'; p++) {
            exp++;
        }

        if (exp == 0 || exp > 3) {
            return NGX_DECLINED;
        }
    }

    return (p == last) ? NGX_OK : NGX_DECLINED;
}


/*
 * YYYY-MM-DD[THH:MM[:SS[.f{1,9}]][Z|(+|-)HH:MM]]; *us (when not NULL):
 * microseconds since 2000-01-01 00:00:00 UTC, a time without an offset
 * being UTC as the module's sessions read it (TimeZone=UTC).  NGX_DONE:
 * valid, with a fraction finer than a microsecond, which *us leaves out
 * (PostgreSQL rounds it).
 */

static ngx_int_t
crm_value_timestamp(u_char *p, u_char *last, int64_t *us)
{
    int64_t     days, t;
    ngx_int_t   sign;
    ngx_uint_t  hour, min, sec, frac, n, i, oh, om, d7;

    if (crm_value_date(&p, last, &days) != NGX_OK) {
        return NGX_DECLINED;
    }

    hour = 0;
    min = 0;
    sec = 0;
    frac = 0;
    d7 = 0;
    n = 0;
    sign = 0;
    oh = 0;
    om = 0;

    if (p == last) {
        goto done;
    }

    if (*p != 'T' && *p != 't') {
        return NGX_DECLINED;
    }

    p++;

    if (crm_value_digits(&p, last, 2, 0, 23, &hour) != NGX_OK
        || p == last || *p++ != ':'
        || crm_value_digits(&p, last, 2, 0, 59, &min) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (p < last && *p == ':') {
        p++;

        if (crm_value_digits(&p, last, 2, 0, 59, &sec) != NGX_OK) {
            return NGX_DECLINED;
        }

        if (p < last && *p == '.') {
            for (p++; p < last && *p >= '0' && *p <= '9'; p++) {
                if (++n <= 6) {
                    frac = frac * 10 + (*p - '0');

                } else if (n == 7) {
                    d7 = *p - '0';
                }
            }

            if (n == 0 || n > 9) {
                return NGX_DECLINED;
            }
        }
    }

    if (p == last) {
        goto done;
    }

    if (*p == 'Z' || *p == 'z') {
        if (p + 1 != last) {
            return NGX_DECLINED;
        }

        goto done;
    }

    if (*p != '+' && *p != '-') {
        return NGX_DECLINED;
    }

    sign = (*p++ == '-') ? -1 : 1;

    if (crm_value_digits(&p, last, 2, 0, 15, &oh) != NGX_OK
        || p == last || *p++ != ':'
        || crm_value_digits(&p, last, 2, 0, 59, &om) != NGX_OK
        || p != last)
    {
        return NGX_DECLINED;
    }

done:

    /*
     * The instant, in UTC, is within years 1 to 9999 too: an offset can
     * move a time at either end out of them (9999-12-31T23:00:00-05:00),
     * and such a time would be rendered back with a fifth digit, or in
     * a year before 1 (no year 0 here, BC in PostgreSQL)
     */

    t = days * 86400 + (int64_t) (hour * 3600 + min * 60 + sec)
        - sign * (int64_t) (oh * 3600 + om * 60);

    if (t < CRM_VALUE_DAY_MIN * 86400 || t >= CRM_VALUE_DAY_END * 86400) {
        return NGX_DECLINED;
    }

    /* 9999-12-31T23:59:59.9999995Z: PostgreSQL rounds it into year 10000 */

    if (t == CRM_VALUE_DAY_END * 86400 - 1 && frac == 999999 && d7 >= 5) {
        return NGX_DECLINED;
    }

    if (us == NULL) {
        return (n > 6) ? NGX_DONE : NGX_OK;
    }

    for (i = n; i < 6; i++) {
        frac *= 10;
    }

    /* 2000-01-01 is day 10957 since 1970-01-01 */

    *us = (t - (int64_t) 10957 * 86400) * 1000000 + (int64_t) frac;

    return (n > 6) ? NGX_DONE : NGX_OK;
}


/*
 * YYYY-MM-DD, a real day of year 1 to 9999; *pp is advanced past it,
 * *days (when not NULL) is the day's number since 1970-01-01
 */

static ngx_int_t
crm_value_date(u_char **pp, u_char *last, int64_t *days)
{
    u_char      *p;
    ngx_uint_t   year, month, day;

    p = *pp;

    if (crm_value_digits(&p, last, 4, 1, 9999, &year) != NGX_OK
        || p == last || *p++ != '-'
        || crm_value_digits(&p, last, 2, 1, 12, &month) != NGX_OK
        || p == last || *p++ != '-'
        || crm_value_digits(&p, last, 2, 1, 31, &day) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (day > crm_value_mdays[month - 1]) {
        return NGX_DECLINED;
    }

    if (month == 2 && day == 29
        && !(year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)))
    {
        return NGX_DECLINED;
    }

    if (days != NULL) {
        *days = crm_render_days((int64_t) year, (ngx_int_t) month,
                                (ngx_int_t) day);
    }

    *pp = p;

    return NGX_OK;
}


/* exactly n digits, between min and max; *pp is advanced past them */

static ngx_int_t
crm_value_digits(u_char **pp, u_char *last, ngx_uint_t n, ngx_uint_t min,
    ngx_uint_t max, ngx_uint_t *value)
{
    u_char      *p;
    ngx_uint_t   v;

    p = *pp;

    if ((size_t) (last - p) < n) {
        return NGX_DECLINED;
    }

    for (v = 0; n > 0; n--, p++) {
        if (*p < '0' || *p > '9') {
            return NGX_DECLINED;
        }

        v = v * 10 + (*p - '0');
    }

    if (v < min || v > max) {
        return NGX_DECLINED;
    }

    *pp = p;
    *value = v;

    return NGX_OK;
}


/* 8-4-4-4-12 hex digits, either case */

ngx_int_t
crm_uuid_valid(u_char *p, size_t len)
{
    u_char  c;
    size_t  i;

    if (p == NULL || len != 36) {
        return NGX_DECLINED;
    }

    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (p[i] != '-') {
                return NGX_DECLINED;
            }

            continue;
        }

        c = p[i] | 0x20;

        if (!((p[i] >= '0' && p[i] <= '9') || (c >= 'a' && c <= 'f'))) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * "msg" on one line into "dst" ("size" bytes at most, no NUL written):
 * newlines and tabs as spaces, no trailing space.  For libpq's messages,
 * which end in, and may hold, newlines.  Returns the end.
 */

u_char *
crm_value_line(u_char *dst, size_t size, const char *msg)
{
    u_char  *p, *last;

    last = dst + size;

    for (p = dst; *msg != '\0' && p < last; msg++) {
        *p++ = (*msg == '\n' || *msg == '\t') ? ' ' : (u_char) *msg;
    }

    while (p > dst && p[-1] == ' ') {
        p--;
    }

    return p;
}


/*
 * An id of "res" as a path may give it: a UUID, or for a resource whose
 * ids are text (events: "evt_" + 32 hex digits) up to 64 letters,
 * digits, "_" and "-"
 */

ngx_int_t
crm_id_valid(crm_resource_t *res, u_char *p, size_t len)
{
    size_t  i;

    if (res->fields[0].type == CRM_FT_UUID) {
        return crm_uuid_valid(p, len);
    }

    if (p == NULL || len == 0 || len > 64) {
        return NGX_DECLINED;
    }

    for (i = 0; i < len; i++) {
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')
              || (p[i] >= '0' && p[i] <= '9') || p[i] == '_' || p[i] == '-'))
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}
