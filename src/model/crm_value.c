
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


static ngx_int_t crm_value_int(u_char *p, u_char *last);
static ngx_int_t crm_value_numeric(u_char *p, u_char *last);
static ngx_int_t crm_value_timestamp(u_char *p, u_char *last);
static ngx_int_t crm_value_date(u_char **pp, u_char *last);
static ngx_int_t crm_value_digits(u_char **pp, u_char *last, ngx_uint_t n,
    ngx_uint_t min, ngx_uint_t max, ngx_uint_t *value);


static const u_char  crm_value_mdays[] = {
    31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
};


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
    u_char  *p, *last;

    p = v->data;
    last = p + v->len;

    switch (type) {

    case CRM_FT_UUID:
        return crm_uuid_valid(p, v->len);

    case CRM_FT_TEXT:
    case CRM_FT_EMAIL:
    case CRM_FT_ENUM:
    case CRM_FT_TEXT_ARRAY:
        if (v->len > CRM_TEXT_MAX) {
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
        return crm_value_timestamp(p, last);

    case CRM_FT_DATE:
        if (crm_value_date(&p, last) == NGX_OK && p == last) {
            return NGX_OK;
        }

        return NGX_DECLINED;

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


/* YYYY-MM-DD[THH:MM[:SS[.f{1,9}]][Z|(+|-)HH:MM]] */

static ngx_int_t
crm_value_timestamp(u_char *p, u_char *last)
{
    ngx_uint_t  v, n;

    if (crm_value_date(&p, last) != NGX_OK) {
        return NGX_DECLINED;
    }

    if (p == last) {
        return NGX_OK;
    }

    if (*p != 'T' && *p != 't') {
        return NGX_DECLINED;
    }

    p++;

    if (crm_value_digits(&p, last, 2, 0, 23, &v) != NGX_OK
        || p == last || *p++ != ':'
        || crm_value_digits(&p, last, 2, 0, 59, &v) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    if (p < last && *p == ':') {
        p++;

        if (crm_value_digits(&p, last, 2, 0, 59, &v) != NGX_OK) {
            return NGX_DECLINED;
        }

        if (p < last && *p == '.') {
            for (p++, n = 0; p < last && *p >= '0' && *p <= '9'; p++) {
                n++;
            }

            if (n == 0 || n > 9) {
                return NGX_DECLINED;
            }
        }
    }

    if (p == last) {
        return NGX_OK;
    }

    if (*p == 'Z' || *p == 'z') {
        return (p + 1 == last) ? NGX_OK : NGX_DECLINED;
    }

    if (*p != '+' && *p != '-') {
        return NGX_DECLINED;
    }

    p++;

    if (crm_value_digits(&p, last, 2, 0, 15, &v) != NGX_OK
        || p == last || *p++ != ':'
        || crm_value_digits(&p, last, 2, 0, 59, &v) != NGX_OK
        || p != last)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* YYYY-MM-DD, a real day of year 1 to 9999; *pp is advanced past it */

static ngx_int_t
crm_value_date(u_char **pp, u_char *last)
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
