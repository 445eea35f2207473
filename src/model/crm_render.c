
/*
 * ngx_http_crm_module: a record as JSON, rendered in the worker.
 *
 * A read fetches the record's columns in PostgreSQL's text format
 * (crm_sql.c: crm_sql_get(), crm_sql_list(), crm_sql_search_all()) and
 * the worker renders them from the descriptor: compact JSON, the keys in
 * descriptor order, every value as PostgreSQL's json_build_object() and
 * to_char() rendered it before (strings escaped as its escape_json()
 * does, timestamps "YYYY-MM-DDTHH:MM:SS.mmmZ" in UTC with the
 * milliseconds truncated, jsonb passed through as it is, NULL as null).
 * A list's page may come in the binary format instead: the
 * crm_render_bin_*() functions at the end render the same JSON from it.
 * Pure: no I/O.
 *
 * Sizes are computed first (an upper bound), so that a page is written
 * into one buffer.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "model/crm.h"


/*
 * Whether one of the eight bytes of "w" is below 0x20, '"' or '\\'
 * (crm_render_escapes()), or '"' or '\\' (crm_render_quotes()); exact,
 * bytes of UTF-8 included: the classic "has a zero byte" and "has a byte
 * less than n" tests
 */

#define CRM_RENDER_MAXDIM  6                /* PostgreSQL's MAXDIM */

#define CRM_RENDER_ONES    0x0101010101010101ULL
#define CRM_RENDER_HIGHS   0x8080808080808080ULL

#define crm_render_zero(w)                                                    \
    (((w) - CRM_RENDER_ONES) & ~(w) & CRM_RENDER_HIGHS)

#define crm_render_quotes(w)                                                  \
    (crm_render_zero((w) ^ (CRM_RENDER_ONES * '"'))                           \
     | crm_render_zero((w) ^ (CRM_RENDER_ONES * '\\')))

#define crm_render_escapes(w)                                                 \
    ((((w) - CRM_RENDER_ONES * 0x20) & ~(w) & CRM_RENDER_HIGHS)               \
     | crm_render_quotes(w))


typedef size_t (*crm_render_size_pt)(crm_field_t *f, ngx_str_t *v);
typedef u_char *(*crm_render_value_pt)(u_char *p, crm_field_t *f,
    ngx_str_t *v);


static size_t crm_render_fields_size(crm_resource_t *res, u_char *select,
    ngx_str_t *cols, crm_render_size_pt value_size);
static u_char *crm_render_fields(u_char *p, crm_resource_t *res,
    u_char *select, ngx_str_t *cols, crm_render_value_pt value);
static size_t crm_render_value_size(crm_field_t *f, ngx_str_t *v);
static size_t crm_render_bin_value_size(crm_field_t *f, ngx_str_t *v);
static u_char *crm_render_char(u_char *p, u_char c);
static u_char *crm_render_quoted(u_char *p, u_char **sp, u_char *last);
static u_char *crm_render_number(u_char *p, u_char *s, size_t len);
static ngx_uint_t crm_render_json_number(u_char *s, size_t len);
static u_char *crm_render_date(u_char *p, u_char *s, size_t len);
static u_char *crm_render_utc(u_char *p, u_char *s, size_t len);
static u_char *crm_render_array(u_char *p, u_char *s, size_t len);
static u_char *crm_render_digits(u_char *s, u_char *last, ngx_int_t *n,
    ngx_uint_t min, ngx_uint_t max);
static u_char *crm_render_uuid(u_char *p, u_char *b);
static uint64_t crm_render_be64(u_char *s);
static uint32_t crm_render_be32(u_char *s);
static ngx_int_t crm_render_bin_int64(u_char *s, size_t len, int64_t *n);
static u_char *crm_render_bin_int(u_char *p, u_char *s, size_t len);
static u_char *crm_render_int64(u_char *p, int64_t n);
static void crm_render_bin_split(int64_t t, int64_t *year, ngx_int_t *mon,
    ngx_int_t *day, int64_t *secs, ngx_uint_t *us);
static u_char *crm_render_bin_timestamp(u_char *p, u_char *s, size_t len);
static u_char *crm_render_bin_array(u_char *p, u_char *s, size_t len,
    ngx_uint_t uuid);
static u_char *crm_render_bin_dim(u_char *p, u_char **sp, u_char *last,
    uint32_t *dims, uint32_t ndim, ngx_uint_t uuid);
static u_char *crm_render_iso(u_char *p, int64_t year, ngx_int_t mon,
    ngx_int_t day, ngx_int_t hour, ngx_int_t min, ngx_int_t sec,
    ngx_int_t ms);
static u_char *crm_render_2digits(u_char *p, ngx_uint_t n);
static void crm_render_civil(int64_t days, int64_t *y, ngx_int_t *m,
    ngx_int_t *d);


static u_char  crm_render_hex[] = "0123456789abcdef";


/* id always; other fields when selected (all: select NULL), not hidden */

#define crm_render_pick(res, select, i)                                       \
    ((i) == 0                                                                 \
     || (!((res)->fields[i].flags & (CRM_F_HIDDEN|CRM_F_WRITEONLY))           \
         && ((select) == NULL || (select)[i] != 0)))


ngx_uint_t
crm_render_field(crm_resource_t *res, u_char *select, ngx_uint_t i)
{
    return crm_render_pick(res, select, i);
}


ngx_uint_t
crm_render_ncols(crm_resource_t *res, u_char *select)
{
    ngx_uint_t  i, n;

    for (n = 0, i = 0; i < res->nfields; i++) {
        n += crm_render_pick(res, select, i);
    }

    return n;
}


size_t
crm_render_size(crm_resource_t *res, u_char *select, ngx_str_t *cols)
{
    return crm_render_fields_size(res, select, cols, crm_render_value_size);
}


/* NULL: a value that is not its field type's text form */

u_char *
crm_render_row(u_char *p, crm_resource_t *res, u_char *select,
    ngx_str_t *cols)
{
    return crm_render_fields(p, res, select, cols, crm_render_value);
}


/* the text and the binary forms: the rendered fields, and their values */

static size_t
crm_render_fields_size(crm_resource_t *res, u_char *select, ngx_str_t *cols,
    crm_render_size_pt value_size)
{
    size_t       size;
    ngx_uint_t   i, n;
    crm_field_t  *f;

    size = sizeof("{}");

    for (n = 0, i = 0; i < res->nfields; i++) {
        if (!crm_render_pick(res, select, i)) {
            continue;
        }

        f = &res->fields[i];

        /* ,"name": */
        size += f->name.len + sizeof(",\"\":") - 1
                + value_size(f, &cols[n++]);
    }

    return size;
}


static u_char *
crm_render_fields(u_char *p, crm_resource_t *res, u_char *select,
    ngx_str_t *cols, crm_render_value_pt value)
{
    ngx_uint_t    i, n;
    crm_field_t  *f;

    *p++ = '{';

    for (n = 0, i = 0; i < res->nfields; i++) {
        if (!crm_render_pick(res, select, i)) {
            continue;
        }

        f = &res->fields[i];

        if (n > 0) {
            *p++ = ',';
        }

        /* a descriptor's name needs no escape (t/unit/test_render.c) */

        *p++ = '"';
        p = ngx_cpymem(p, f->name.data, f->name.len);
        *p++ = '"';
        *p++ = ':';

        p = value(p, f, &cols[n++]);
        if (p == NULL) {
            return NULL;
        }
    }

    *p++ = '}';

    return p;
}


static size_t
crm_render_value_size(crm_field_t *f, ngx_str_t *v)
{
    if (v->data == NULL) {
        return sizeof("null") - 1;
    }

    switch (f->type) {

    case CRM_FT_OBJECT:
    case CRM_FT_LIST:
        return v->len;

    case CRM_FT_BOOL:
        return sizeof("false") - 1;

    case CRM_FT_TIMESTAMP:
        /* "YYYY-MM-DDTHH:MM:SS.mmmZ" from "YYYY-MM-DD HH:MM:SS+00" */
        return v->len + sizeof("\"T.000Z\"");

    case CRM_FT_UUID:
    case CRM_FT_INT:
    case CRM_FT_NUMERIC:
    case CRM_FT_DATE:
        /* NaN and Infinity are strings, infinite dates null */
        return v->len + sizeof("\"\"") + 4;

    default:
        /* text and arrays: \u00XX is six bytes for one */
        return 6 * v->len + sizeof("\"\"") + 4;
    }
}


/* one value, as json_build_object() rendered it */

u_char *
crm_render_value(u_char *p, crm_field_t *f, ngx_str_t *v)
{
    if (v->data == NULL) {
        return ngx_cpymem(p, "null", 4);
    }

    switch (f->type) {

    case CRM_FT_OBJECT:
    case CRM_FT_LIST:
        return crm_render_compact(p, v->data, v->len);

    case CRM_FT_BOOL:
        if (v->len > 0 && v->data[0] == 't') {
            return ngx_cpymem(p, "true", 4);
        }

        if (v->len > 0 && v->data[0] == 'f') {
            return ngx_cpymem(p, "false", 5);
        }

        return NULL;

    case CRM_FT_INT:
    case CRM_FT_NUMERIC:
        return crm_render_number(p, v->data, v->len);

    case CRM_FT_TIMESTAMP:
        return crm_render_timestamp(p, v->data, v->len);

    case CRM_FT_DATE:
        return crm_render_date(p, v->data, v->len);

    case CRM_FT_TEXT_ARRAY:
    case CRM_FT_UUID_ARRAY:
        return crm_render_array(p, v->data, v->len);

    default:
        return crm_render_string(p, v->data, v->len);
    }
}


/*
 * JSON text (jsonb's text output, json_build_object()'s "k" : v) without
 * the white space between its tokens: strings are copied as they are,
 * escapes included.  Writes at most "len" bytes, so "p" may be "s" (in
 * place).  The text is PostgreSQL's, valid JSON: an unterminated string
 * is copied to its end.
 */

u_char *
crm_render_compact(u_char *p, u_char *s, size_t len)
{
    u_char  c, *last;

    last = s + len;

    while (s < last) {
        c = *s++;

        switch (c) {

        case ' ':
        case '\t':
        case '\n':
        case '\r':
            continue;

        case '"':
            *p++ = c;
            p = crm_render_quoted(p, &s, last);
            continue;

        default:
            *p++ = c;
        }
    }

    return p;
}


/* the rest of a JSON string after its '"', copied up to its closing '"' */

static u_char *
crm_render_quoted(u_char *p, u_char **sp, u_char *last)
{
    u_char    c, *s;
    uint64_t  w;

    s = *sp;

    while (s < last) {

        /* eight bytes at a time while none is '"' or '\\' */

        if (last - s >= 8) {
            ngx_memcpy(&w, s, 8);

            if (!crm_render_quotes(w)) {
                ngx_memcpy(p, &w, 8);
                p += 8;
                s += 8;
                continue;
            }
        }

        c = *s++;
        *p++ = c;

        if (c == '"') {
            break;
        }

        if (c == '\\' && s < last) {
            *p++ = *s++;
        }
    }

    *sp = s;

    return p;
}


/*
 * A JSON string as PostgreSQL's escape_json() writes it: \" \\ \b \f \n
 * \r \t, other control characters as \u00xx, everything else (UTF-8
 * included) as it is
 */

u_char *
crm_render_string(u_char *p, u_char *s, size_t len)
{
    u_char      c, *last;
    uint64_t    w;
    ngx_uint_t  tail;

    last = s + len;
    tail = (len < 8);

    *p++ = '"';

    while (s < last) {

        /* eight bytes at a time while none of them needs an escape */

        if (last - s >= 8) {
            ngx_memcpy(&w, s, 8);

            if (!crm_render_escapes(w)) {
                ngx_memcpy(p, s, 8);
                p += 8;
                s += 8;
                continue;
            }

        } else if (!tail) {

            /*
             * the last bytes of a string of eight or more (a uuid's
             * four): its last eight, which overlap bytes done already,
             * in one check
             */

            tail = 1;
            ngx_memcpy(&w, last - 8, 8);

            if (!crm_render_escapes(w)) {
                p = ngx_cpymem(p, s, last - s);
                break;
            }
        }

        c = *s++;

        /* most bytes are themselves: no call for them */

        if (c >= 0x20 && c != '"' && c != '\\') {
            *p++ = c;
            continue;
        }

        p = crm_render_char(p, c);
    }

    *p++ = '"';

    return p;
}


static u_char *
crm_render_char(u_char *p, u_char c)
{
    if (c >= 0x20 && c != '"' && c != '\\') {
        *p++ = c;
        return p;
    }

    *p++ = '\\';

    switch (c) {

    case '"':
    case '\\':
        *p++ = c;
        break;

    case '\b':
        *p++ = 'b';
        break;

    case '\f':
        *p++ = 'f';
        break;

    case '\n':
        *p++ = 'n';
        break;

    case '\r':
        *p++ = 'r';
        break;

    case '\t':
        *p++ = 't';
        break;

    default:
        *p++ = 'u';
        *p++ = '0';
        *p++ = '0';
        *p++ = crm_render_hex[c >> 4];
        *p++ = crm_render_hex[c & 0x0f];
    }

    return p;
}


/* a number as it is; NaN and Infinity, which JSON has not, as strings */

static u_char *
crm_render_number(u_char *p, u_char *s, size_t len)
{
    if (crm_render_json_number(s, len)) {
        return ngx_cpymem(p, s, len);
    }

    return crm_render_string(p, s, len);
}


/* -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */

static ngx_uint_t
crm_render_json_number(u_char *s, size_t len)
{
    u_char  *last;

    last = s + len;

    if (s < last && *s == '-') {
        s++;
    }

    if (s == last || *s < '0' || *s > '9') {
        return 0;
    }

    if (*s++ == '0' && s < last && *s >= '0' && *s <= '9') {
        return 0;
    }

    while (s < last && *s >= '0' && *s <= '9') {
        s++;
    }

    if (s < last && *s == '.') {
        if (++s == last || *s < '0' || *s > '9') {
            return 0;
        }

        while (s < last && *s >= '0' && *s <= '9') {
            s++;
        }
    }

    if (s < last && (*s == 'e' || *s == 'E')) {
        s++;

        if (s < last && (*s == '+' || *s == '-')) {
            s++;
        }

        if (s == last || *s < '0' || *s > '9') {
            return 0;
        }

        while (s < last && *s >= '0' && *s <= '9') {
            s++;
        }
    }

    return s == last;
}


/*
 * timestamptz's ISO output, "YYYY-MM-DD HH:MM:SS[.ffffff]+HH[:MM[:SS]]
 * [ BC]", as to_char(v AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
 * rendered it: in UTC, the milliseconds truncated, the year at least
 * four digits; +-infinity, which to_char() made NULL, is null.  NULL for
 * anything else.
 */

u_char *
crm_render_timestamp(u_char *p, u_char *s, size_t len)
{
    u_char     *last, *q;
    int64_t     year, secs, days;
    ngx_int_t   mon, day, hour, min, sec, ms, oh, om, os, sign, n, bc;

    /* the session's time zone is UTC: a copy, mostly */

    q = crm_render_utc(p, s, len);
    if (q != NULL) {
        return q;
    }

    last = s + len;

    if ((len == 8 && ngx_strncmp(s, "infinity", 8) == 0)
        || (len == 9 && ngx_strncmp(s, "-infinity", 9) == 0))
    {
        return ngx_cpymem(p, "null", 4);
    }

    bc = 0;

    if (len > 3 && ngx_strncmp(last - 3, " BC", 3) == 0) {
        bc = 1;
        last -= 3;
    }

    s = crm_render_digits(s, last, &n, 4, 9);
    if (s == NULL || s == last || *s++ != '-') {
        return NULL;
    }

    year = bc ? 1 - n : n;

    s = crm_render_digits(s, last, &mon, 2, 2);
    if (s == NULL || s == last || *s++ != '-') {
        return NULL;
    }

    s = crm_render_digits(s, last, &day, 2, 2);
    if (s == NULL || s == last || (*s != ' ' && *s != 'T')) {
        return NULL;
    }

    s = crm_render_digits(s + 1, last, &hour, 2, 2);
    if (s == NULL || s == last || *s++ != ':') {
        return NULL;
    }

    s = crm_render_digits(s, last, &min, 2, 2);
    if (s == NULL || s == last || *s++ != ':') {
        return NULL;
    }

    s = crm_render_digits(s, last, &sec, 2, 2);
    if (s == NULL) {
        return NULL;
    }

    /* the first three digits of the fraction: truncated, as MS is */

    ms = 0;

    if (s < last && *s == '.') {
        s++;

        for (q = s, n = 0; s < last && *s >= '0' && *s <= '9'; s++) {
            if (s - q < 3) {
                ms = ms * 10 + (*s - '0');
                n++;
            }
        }

        if (s == q) {
            return NULL;
        }

        while (n++ < 3) {
            ms *= 10;
        }
    }

    oh = 0;
    om = 0;
    os = 0;
    sign = 1;

    if (s < last) {
        if (*s != '+' && *s != '-') {
            return NULL;
        }

        sign = (*s++ == '-') ? -1 : 1;

        s = crm_render_digits(s, last, &oh, 2, 2);
        if (s == NULL) {
            return NULL;
        }

        if (s < last) {
            if (*s++ != ':') {
                return NULL;
            }

            s = crm_render_digits(s, last, &om, 2, 2);
            if (s == NULL) {
                return NULL;
            }
        }

        if (s < last) {
            if (*s++ != ':') {
                return NULL;
            }

            s = crm_render_digits(s, last, &os, 2, 2);
            if (s == NULL) {
                return NULL;
            }
        }

        if (s != last) {
            return NULL;
        }
    }

    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 24
        || min > 59 || sec > 60)
    {
        return NULL;
    }

    if (oh != 0 || om != 0 || os != 0) {

        /* local time - offset = UTC */

        days = crm_render_days(year, mon, day);
        secs = days * 86400 + hour * 3600 + min * 60 + sec
               - sign * (oh * 3600 + om * 60 + os);

        days = secs / 86400;
        secs %= 86400;

        if (secs < 0) {
            secs += 86400;
            days--;
        }

        crm_render_civil(days, &year, &mon, &day);

        hour = (ngx_int_t) (secs / 3600);
        min = (ngx_int_t) (secs / 60 % 60);
        sec = (ngx_int_t) (secs % 60);
    }

    return crm_render_iso(p, year, mon, day, hour, min, sec, ms);
}


/*
 * "YYYY-MM-DDTHH:MM:SS.mmmZ" of a proleptic Gregorian year (0 is 1 BC),
 * as to_char() writes it: YYYY of a BC year is the year before Christ
 */

static u_char *
crm_render_iso(u_char *p, int64_t year, ngx_int_t mon, ngx_int_t day,
    ngx_int_t hour, ngx_int_t min, ngx_int_t sec, ngx_int_t ms)
{
    if (year <= 0) {
        year = 1 - year;
    }

    if (year > 9999) {
        return ngx_sprintf(p, "\"%04L-%02i-%02iT%02i:%02i:%02i.%03iZ\"",
                           year, mon, day, hour, min, sec, ms);
    }

    /* the common case, without ngx_sprintf()'s format parsing */

    *p++ = '"';
    p = crm_render_2digits(p, (ngx_uint_t) (year / 100));
    p = crm_render_2digits(p, (ngx_uint_t) (year % 100));
    *p++ = '-';
    p = crm_render_2digits(p, (ngx_uint_t) mon);
    *p++ = '-';
    p = crm_render_2digits(p, (ngx_uint_t) day);
    *p++ = 'T';
    p = crm_render_2digits(p, (ngx_uint_t) hour);
    *p++ = ':';
    p = crm_render_2digits(p, (ngx_uint_t) min);
    *p++ = ':';
    p = crm_render_2digits(p, (ngx_uint_t) sec);
    *p++ = '.';
    *p++ = (u_char) ('0' + ms / 100);
    p = crm_render_2digits(p, (ngx_uint_t) (ms % 100));
    *p++ = 'Z';
    *p++ = '"';

    return p;
}


/*
 * The form of a timestamptz in UTC, "YYYY-MM-DD HH:MM:SS[.ffffff]+00"
 * (years 1 to 9999 AD), rendered by copying its digits; NULL for any
 * other form, which crm_render_timestamp() parses
 */

static u_char *
crm_render_utc(u_char *p, u_char *s, size_t len)
{
    size_t      i, k;
    ngx_uint_t  mon, day, hour, min, sec;

    static u_char  form[] = "0000-00-00 00:00:00";

    if (len < 22 || len > 29 || len == 23
        || s[len - 3] != '+' || s[len - 2] != '0' || s[len - 1] != '0')
    {
        return NULL;
    }

    for (i = 0; i < 19; i++) {
        if (form[i] == '0' ? (s[i] < '0' || s[i] > '9') : s[i] != form[i]) {
            return NULL;
        }
    }

    k = len - 22;

    if (k > 0) {
        if (s[19] != '.') {
            return NULL;
        }

        for (i = 20; i < len - 3; i++) {
            if (s[i] < '0' || s[i] > '9') {
                return NULL;
            }
        }

        k--;
    }

    mon = (s[5] - '0') * 10 + (s[6] - '0');
    day = (s[8] - '0') * 10 + (s[9] - '0');
    hour = (s[11] - '0') * 10 + (s[12] - '0');
    min = (s[14] - '0') * 10 + (s[15] - '0');
    sec = (s[17] - '0') * 10 + (s[18] - '0');

    if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 24
        || min > 59 || sec > 60
        || (s[0] == '0' && s[1] == '0' && s[2] == '0' && s[3] == '0'))
    {
        return NULL;
    }

    /* k digits of the fraction: the first three, truncated, as MS is */

    *p++ = '"';
    p = ngx_cpymem(p, s, 10);
    *p++ = 'T';
    p = ngx_cpymem(p, s + 11, 8);
    *p++ = '.';
    *p++ = (k > 0) ? s[20] : '0';
    *p++ = (k > 1) ? s[21] : '0';
    *p++ = (k > 2) ? s[22] : '0';
    *p++ = 'Z';
    *p++ = '"';

    return p;
}


/* 0 to 99 as two digits */

static u_char *
crm_render_2digits(u_char *p, ngx_uint_t n)
{
    *p++ = (u_char) ('0' + n / 10);
    *p++ = (u_char) ('0' + n % 10);

    return p;
}


/* date's ISO output, "YYYY-MM-DD[ BC]", as to_char(v, 'YYYY-MM-DD') */

static u_char *
crm_render_date(u_char *p, u_char *s, size_t len)
{
    if ((len == 8 && ngx_strncmp(s, "infinity", 8) == 0)
        || (len == 9 && ngx_strncmp(s, "-infinity", 9) == 0))
    {
        return ngx_cpymem(p, "null", 4);
    }

    if (len > 3 && ngx_strncmp(s + len - 3, " BC", 3) == 0) {
        len -= 3;
    }

    if (len < 10 || s[len - 3] != '-' || s[len - 6] != '-') {
        return NULL;
    }

    *p++ = '"';
    p = ngx_cpymem(p, s, len);
    *p++ = '"';

    return p;
}


/*
 * An array's output, {a,"b c",NULL,{d}} (a "[m:n]=" bound decoration
 * first when its lower bound is not 1), as array_to_json() rendered it:
 * ["a","b c",null,["d"]]
 */

static u_char *
crm_render_array(u_char *p, u_char *s, size_t len)
{
    u_char     *last, *start, *e;
    ngx_uint_t  depth;

    last = s + len;

    if (s < last && *s == '[') {
        while (s < last && *s != '=') {
            s++;
        }

        s++;
    }

    if (s >= last || *s != '{') {
        return NULL;
    }

    depth = 0;

    while (s < last) {

        switch (*s) {

        case '{':
            *p++ = '[';
            depth++;
            s++;
            continue;

        case '}':
            if (depth == 0) {
                return NULL;
            }

            *p++ = ']';
            depth--;
            s++;

            if (depth == 0) {
                return (s == last) ? p : NULL;
            }

            continue;

        case ',':
            *p++ = ',';
            s++;
            continue;

        case '"':

            /* "..." with \x for x */

            *p++ = '"';
            s++;

            while (s < last && *s != '"') {
                if (*s == '\\' && s + 1 < last) {
                    s++;
                }

                p = crm_render_char(p, *s++);
            }

            if (s == last) {
                return NULL;
            }

            *p++ = '"';
            s++;
            continue;

        default:
            start = s;

            while (s < last && *s != ',' && *s != '}') {
                s++;
            }

            e = s;

            if (e - start == 4 && ngx_strncmp(start, "NULL", 4) == 0) {
                p = ngx_cpymem(p, "null", 4);

            } else {
                p = crm_render_string(p, start, e - start);
            }
        }
    }

    return NULL;
}


/* min to max decimal digits */

static u_char *
crm_render_digits(u_char *s, u_char *last, ngx_int_t *n, ngx_uint_t min,
    ngx_uint_t max)
{
    ngx_uint_t  k;

    *n = 0;

    for (k = 0; s < last && *s >= '0' && *s <= '9' && k < max; k++, s++) {
        *n = *n * 10 + (*s - '0');
    }

    return (k < min) ? NULL : s;
}


/* days since 1970-01-01 of a proleptic Gregorian date (Hinnant) */

int64_t
crm_render_days(int64_t y, ngx_int_t m, ngx_int_t d)
{
    int64_t  era, yoe, doy, doe;

    y -= (m <= 2);
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


static void
crm_render_civil(int64_t days, int64_t *y, ngx_int_t *m, ngx_int_t *d)
{
    int64_t  era, doe, yoe, doy, mp;

    days += 719468;
    era = (days >= 0 ? days : days - 146096) / 146097;
    doe = days - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;

    *d = (ngx_int_t) (doy - (153 * mp + 2) / 5 + 1);
    *m = (ngx_int_t) (mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}


/*
 * Binary results.  A list's page (crm_list.c) is fetched in PostgreSQL's
 * binary format when every field it renders has one of the types below:
 * the server then writes a timestamptz as eight bytes and a uuid as
 * sixteen instead of running timestamptz_out() and uuid_out() for each,
 * and the worker renders the same JSON from them (bench/README, "Binary
 * pages").  Numbers and dates stay in text: their statements are fetched
 * as text.
 */

ngx_uint_t
crm_render_bin_type(crm_field_t *f)
{
    switch (f->type) {

    case CRM_FT_NUMERIC:
    case CRM_FT_DATE:
        return 0;

    default:
        return 1;
    }
}


/* whether a sort key of this type can be written back as text */

ngx_uint_t
crm_render_bin_key(crm_field_t *f)
{
    switch (f->type) {

    case CRM_FT_UUID:
    case CRM_FT_TEXT:
    case CRM_FT_EMAIL:
    case CRM_FT_ENUM:
    case CRM_FT_INT:
    case CRM_FT_BOOL:
    case CRM_FT_TIMESTAMP:
        return 1;

    default:
        return 0;
    }
}


/*
 * Whether a column of PostgreSQL type "oid" (pg_type's) is what
 * crm_render_bin_value() reads for the field: integers by their length,
 * jsonb with its version byte and json without, text and its kin as
 * their bytes
 */

#define CRM_OID_BOOL           16
#define CRM_OID_INT8           20
#define CRM_OID_INT2           21
#define CRM_OID_INT4           23
#define CRM_OID_TEXT           25
#define CRM_OID_JSON           114
#define CRM_OID_TEXT_ARRAY     1009
#define CRM_OID_VARCHAR_ARRAY  1015
#define CRM_OID_BPCHAR         1042
#define CRM_OID_VARCHAR        1043
#define CRM_OID_TIMESTAMPTZ    1184
#define CRM_OID_UUID           2950
#define CRM_OID_UUID_ARRAY     2951
#define CRM_OID_JSONB          3802

ngx_uint_t
crm_render_bin_oid(crm_field_t *f, ngx_uint_t oid)
{
    switch (f->type) {

    case CRM_FT_UUID:
        return oid == CRM_OID_UUID;

    case CRM_FT_INT:
        return oid == CRM_OID_INT8 || oid == CRM_OID_INT4
               || oid == CRM_OID_INT2;

    case CRM_FT_BOOL:
        return oid == CRM_OID_BOOL;

    case CRM_FT_TIMESTAMP:
        return oid == CRM_OID_TIMESTAMPTZ;

    case CRM_FT_OBJECT:
    case CRM_FT_LIST:
        return oid == CRM_OID_JSONB || oid == CRM_OID_JSON;

    case CRM_FT_TEXT_ARRAY:
        return oid == CRM_OID_TEXT_ARRAY || oid == CRM_OID_VARCHAR_ARRAY;

    case CRM_FT_UUID_ARRAY:
        return oid == CRM_OID_UUID_ARRAY;

    case CRM_FT_NUMERIC:
    case CRM_FT_DATE:
        return 0;

    default:
        return oid == CRM_OID_TEXT || oid == CRM_OID_VARCHAR
               || oid == CRM_OID_BPCHAR;
    }
}


size_t
crm_render_bin_size(crm_resource_t *res, u_char *select, ngx_str_t *cols)
{
    return crm_render_fields_size(res, select, cols,
                                  crm_render_bin_value_size);
}


/* NULL: a value that is not its field type's binary form */

u_char *
crm_render_bin_row(u_char *p, crm_resource_t *res, u_char *select,
    ngx_str_t *cols)
{
    return crm_render_fields(p, res, select, cols, crm_render_bin_value);
}


static size_t
crm_render_bin_value_size(crm_field_t *f, ngx_str_t *v)
{
    if (v->data == NULL) {
        return sizeof("null") - 1;
    }

    switch (f->type) {

    case CRM_FT_UUID:
        return sizeof("\"01234567-89ab-cdef-0123-456789abcdef\"") - 1;

    case CRM_FT_INT:
        return NGX_INT64_LEN;

    case CRM_FT_BOOL:
        return sizeof("false") - 1;

    case CRM_FT_TIMESTAMP:
        /* a year of up to 19 digits */
        return sizeof("\"-T00:00:00.000Z\"") + sizeof("-12-31") + 19;

    case CRM_FT_OBJECT:
    case CRM_FT_LIST:
        return v->len;

    default:
        /*
         * text: \u00XX is six bytes for one; an array: an element of n
         * bytes takes 4 + n, and at most 6 n + 6 rendered (quoted,
         * escaped, its comma, its share of brackets); a uuid 38 of its
         * 20
         */
        return 6 * v->len + sizeof("\"\"") - 1;
    }
}


u_char *
crm_render_bin_value(u_char *p, crm_field_t *f, ngx_str_t *v)
{
    if (v->data == NULL) {
        return ngx_cpymem(p, "null", 4);
    }

    switch (f->type) {

    case CRM_FT_UUID:
        if (v->len != 16) {
            return NULL;
        }

        *p++ = '"';
        p = crm_render_uuid(p, v->data);
        *p++ = '"';

        return p;

    case CRM_FT_INT:
        return crm_render_bin_int(p, v->data, v->len);

    case CRM_FT_BOOL:
        if (v->len != 1) {
            return NULL;
        }

        return v->data[0] ? ngx_cpymem(p, "true", 4)
                          : ngx_cpymem(p, "false", 5);

    case CRM_FT_TIMESTAMP:
        return crm_render_bin_timestamp(p, v->data, v->len);

    case CRM_FT_OBJECT:
    case CRM_FT_LIST:
        /* jsonb: a version byte, 1, and the text; json: the text */

        if (v->len > 0 && v->data[0] == 1) {
            return crm_render_compact(p, v->data + 1, v->len - 1);
        }

        return crm_render_compact(p, v->data, v->len);

    case CRM_FT_TEXT_ARRAY:
    case CRM_FT_UUID_ARRAY:
        return crm_render_bin_array(p, v->data, v->len,
                                    f->type == CRM_FT_UUID_ARRAY);

    case CRM_FT_NUMERIC:
    case CRM_FT_DATE:
        return NULL;

    default:
        return crm_render_string(p, v->data, v->len);
    }
}


/*
 * A sort key's binary value as text that PostgreSQL reads back as the
 * same value (a cursor's key, bound as "$n::type"): at most
 * crm_render_bin_text_size() bytes.  NULL for another type or a value
 * that is not its binary form.
 */

size_t
crm_render_bin_text_size(ngx_str_t *v)
{
    return ngx_max(v->len, sizeof("-292277-12-31 23:59:59.999999+00 BC"));
}


u_char *
crm_render_bin_text(u_char *p, crm_field_t *f, ngx_str_t *v)
{
    int64_t     year, n;
    ngx_int_t   mon, day;
    ngx_uint_t  us, digits;

    switch (f->type) {

    case CRM_FT_UUID:
        return (v->len == 16) ? crm_render_uuid(p, v->data) : NULL;

    case CRM_FT_TEXT:
    case CRM_FT_EMAIL:
    case CRM_FT_ENUM:
        return ngx_cpymem(p, v->data, v->len);

    case CRM_FT_INT:
        if (crm_render_bin_int64(v->data, v->len, &n) != NGX_OK) {
            return NULL;
        }

        return crm_render_int64(p, n);

    case CRM_FT_BOOL:
        if (v->len != 1) {
            return NULL;
        }

        *p++ = v->data[0] ? 't' : 'f';

        return p;

    case CRM_FT_TIMESTAMP:
        if (v->len != 8) {
            return NULL;
        }

        n = (int64_t) crm_render_be64(v->data);

        if (n == INT64_MAX) {
            return ngx_cpymem(p, "infinity", 8);
        }

        if (n == INT64_MIN) {
            return ngx_cpymem(p, "-infinity", 9);
        }

        crm_render_bin_split(n, &year, &mon, &day, &n, &us);

        /* as timestamptz_out() writes it in UTC: the cursor's bytes */

        p = ngx_sprintf(p, "%04L-%02i-%02i %02L:%02L:%02L",
                        year <= 0 ? 1 - year : year, mon, day,
                        n / 3600, n / 60 % 60, n % 60);

        if (us != 0) {
            *p++ = '.';

            for (digits = 100000; us != 0; digits /= 10) {
                *p++ = (u_char) ('0' + us / digits);
                us %= digits;
            }
        }

        p = ngx_cpymem(p, "+00", 3);

        return (year <= 0) ? ngx_cpymem(p, " BC", 3) : p;

    default:
        return NULL;
    }
}


static u_char *
crm_render_uuid(u_char *p, u_char *b)
{
    ngx_uint_t  i;

    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            *p++ = '-';
        }

        *p++ = crm_render_hex[b[i] >> 4];
        *p++ = crm_render_hex[b[i] & 0x0f];
    }

    return p;
}


static uint64_t
crm_render_be64(u_char *s)
{
    return ((uint64_t) s[0] << 56) | ((uint64_t) s[1] << 48)
           | ((uint64_t) s[2] << 40) | ((uint64_t) s[3] << 32)
           | ((uint64_t) s[4] << 24) | ((uint64_t) s[5] << 16)
           | ((uint64_t) s[6] << 8) | (uint64_t) s[7];
}


static uint32_t
crm_render_be32(u_char *s)
{
    return ((uint32_t) s[0] << 24) | ((uint32_t) s[1] << 16)
           | ((uint32_t) s[2] << 8) | (uint32_t) s[3];
}


/* int2, int4 or int8, by its length */

static ngx_int_t
crm_render_bin_int64(u_char *s, size_t len, int64_t *n)
{
    switch (len) {

    case 2:
        *n = (int16_t) (((uint16_t) s[0] << 8) | s[1]);
        return NGX_OK;

    case 4:
        *n = (int32_t) crm_render_be32(s);
        return NGX_OK;

    case 8:
        *n = (int64_t) crm_render_be64(s);
        return NGX_OK;

    default:
        return NGX_ERROR;
    }
}


static u_char *
crm_render_bin_int(u_char *p, u_char *s, size_t len)
{
    int64_t  n;

    if (crm_render_bin_int64(s, len, &n) != NGX_OK) {
        return NULL;
    }

    return crm_render_int64(p, n);
}


/* ngx_sprintf()'s "%L" negates the value: not the smallest int64 */

static u_char *
crm_render_int64(u_char *p, int64_t n)
{
    if (n < 0) {
        *p++ = '-';
        return ngx_sprintf(p, "%uL", (uint64_t) 0 - (uint64_t) n);
    }

    return ngx_sprintf(p, "%uL", (uint64_t) n);
}


/*
 * Microseconds since 2000-01-01 00:00:00 UTC (a finite timestamptz) as
 * the proleptic Gregorian date, the second of its day and the
 * microseconds of its second
 */

static void
crm_render_bin_split(int64_t t, int64_t *year, ngx_int_t *mon,
    ngx_int_t *day, int64_t *secs, ngx_uint_t *us)
{
    int64_t  s, days, frac;

    s = t / 1000000;
    frac = t % 1000000;

    if (frac < 0) {
        frac += 1000000;
        s--;
    }

    days = s / 86400;
    s %= 86400;

    if (s < 0) {
        s += 86400;
        days--;
    }

    /* 2000-01-01 is day 10957 since 1970-01-01 */

    crm_render_civil(days + 10957, year, mon, day);

    *secs = s;
    *us = (ngx_uint_t) frac;
}


/* timestamptz_send(): as crm_render_timestamp() renders its text */

static u_char *
crm_render_bin_timestamp(u_char *p, u_char *s, size_t len)
{
    int64_t     t, year, secs;
    ngx_int_t   mon, day;
    ngx_uint_t  us;

    if (len != 8) {
        return NULL;
    }

    t = (int64_t) crm_render_be64(s);

    if (t == INT64_MAX || t == INT64_MIN) {
        /* +-infinity */
        return ngx_cpymem(p, "null", 4);
    }

    crm_render_bin_split(t, &year, &mon, &day, &secs, &us);

    return crm_render_iso(p, year, mon, day, (ngx_int_t) (secs / 3600),
                          (ngx_int_t) (secs / 60 % 60),
                          (ngx_int_t) (secs % 60), (ngx_int_t) (us / 1000));
}


/*
 * array_send(): dimensions, a null flag, the element type, each
 * dimension's size and lower bound, then each element as its length
 * (-1: NULL) and its bytes, in row-major order; rendered as
 * crm_render_array() renders its text: nested arrays, elements as
 * strings (a uuid's 16 bytes as its text), NULL as null
 */

static u_char *
crm_render_bin_array(u_char *p, u_char *s, size_t len, ngx_uint_t uuid)
{
    u_char    *last;
    uint32_t   ndim, i, dims[CRM_RENDER_MAXDIM];

    if (len < 12) {
        return NULL;
    }

    last = s + len;
    ndim = crm_render_be32(s);

    if (ndim > CRM_RENDER_MAXDIM || len < 12 + 8 * (size_t) ndim) {
        return NULL;
    }

    if (ndim == 0) {
        return (len == 12) ? ngx_cpymem(p, "[]", 2) : NULL;
    }

    for (i = 0; i < ndim; i++) {
        dims[i] = crm_render_be32(s + 12 + 8 * i);

        if (dims[i] == 0 || dims[i] > len) {
            return NULL;
        }
    }

    s += 12 + 8 * ndim;

    p = crm_render_bin_dim(p, &s, last, dims, ndim, uuid);

    return (p != NULL && s == last) ? p : NULL;
}


static u_char *
crm_render_bin_dim(u_char *p, u_char **sp, u_char *last, uint32_t *dims,
    uint32_t ndim, ngx_uint_t uuid)
{
    u_char    *s;
    uint32_t   i, n;

    *p++ = '[';

    for (i = 0; i < dims[0]; i++) {
        if (i > 0) {
            *p++ = ',';
        }

        if (ndim > 1) {
            p = crm_render_bin_dim(p, sp, last, dims + 1, ndim - 1, uuid);
            if (p == NULL) {
                return NULL;
            }

            continue;
        }

        s = *sp;

        if (last - s < 4) {
            return NULL;
        }

        n = crm_render_be32(s);
        s += 4;

        if (n == 0xffffffff) {
            p = ngx_cpymem(p, "null", 4);

        } else if (n > (size_t) (last - s)) {
            return NULL;

        } else if (uuid) {
            if (n != 16) {
                return NULL;
            }

            *p++ = '"';
            p = crm_render_uuid(p, s);
            *p++ = '"';
            s += n;

        } else {
            p = crm_render_string(p, s, n);
            s += n;
        }

        *sp = s;
    }

    *p++ = ']';

    return p;
}
