
/*
 * ngx_http_crm_module: the outbound address policy (src/model/crm_addr.h).
 *
 * Tables of special-purpose ranges after the IANA registries (IPv4 and
 * IPv6 Special-Purpose Address Registries), checked after the allow list.
 * Pure: nginx core only.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "model/crm_addr.h"


typedef struct {
    uint32_t                  addr;         /* host byte order */
    ngx_uint_t                bits;
    const char               *reason;
} crm_addr_v4_range_t;


typedef struct {
    u_char                    addr[16];
    ngx_uint_t                bits;
    const char               *reason;
} crm_addr_v6_range_t;


static ngx_int_t crm_addr_v4(uint32_t a, const char **reason);
static ngx_int_t crm_addr_v6_prefix(u_char *p, u_char *prefix,
    ngx_uint_t bits);
static ngx_int_t crm_addr_allow_v4(in_addr_t a, ngx_array_t *allow);
#if (NGX_HAVE_INET6)
static ngx_int_t crm_addr_allow_v6(u_char *p, ngx_array_t *allow);
#endif
static ngx_int_t crm_addr_name(u_char *p, size_t len);


#define CRM_V4(a, b, c, d)                                                   \
    (((uint32_t) (a) << 24) | ((uint32_t) (b) << 16)                         \
     | ((uint32_t) (c) << 8) | (uint32_t) (d))


static crm_addr_v4_range_t  crm_addr_v4_ranges[] = {
    { CRM_V4(0, 0, 0, 0),       8,  "unspecified" },
    { CRM_V4(10, 0, 0, 0),      8,  "private" },
    { CRM_V4(100, 64, 0, 0),    10, "shared address space" },
    { CRM_V4(127, 0, 0, 0),     8,  "loopback" },
    { CRM_V4(169, 254, 0, 0),   16, "link-local" },
    { CRM_V4(172, 16, 0, 0),    12, "private" },
    { CRM_V4(192, 0, 0, 0),     24, "protocol assignments" },
    { CRM_V4(192, 0, 2, 0),     24, "documentation" },
    { CRM_V4(192, 88, 99, 0),   24, "6to4 relay" },
    { CRM_V4(192, 168, 0, 0),   16, "private" },
    { CRM_V4(198, 18, 0, 0),    15, "benchmarking" },
    { CRM_V4(198, 51, 100, 0),  24, "documentation" },
    { CRM_V4(203, 0, 113, 0),   24, "documentation" },
    { CRM_V4(224, 0, 0, 0),     4,  "multicast" },
    { CRM_V4(240, 0, 0, 0),     4,  "reserved" },
    { 0, 0, NULL }
};


static crm_addr_v6_range_t  crm_addr_v6_ranges[] = {
    { { 0 }, 128, "unspecified" },
    { { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 }, 128, "loopback" },
    { { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 }, 48, "local NAT64" },
    { { 0 }, 8, "reserved" },
    { { 0x01, 0x00 }, 64, "discard" },
    { { 0x20, 0x01, 0x0d, 0xb8 }, 32, "documentation" },
    { { 0x20, 0x01 }, 23, "protocol assignments" },
    { { 0x3f, 0xff }, 20, "documentation" },
    { { 0xfc }, 7, "private" },
    { { 0xfe, 0x80 }, 10, "link-local" },
    { { 0xfe, 0xc0 }, 10, "site-local" },
    { { 0xff }, 8, "multicast" },
    { { 0 }, 0, NULL }
};


static u_char  crm_addr_mapped[12] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
};

static u_char  crm_addr_nat64[12] = {
    0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0
};


ngx_int_t
crm_addr_allowed(struct sockaddr *sa, socklen_t len, ngx_array_t *allow,
    const char **reason)
{
    u_char               *p;
    uint32_t              a;
    const char           *dummy;
    struct sockaddr_in   *sin;
#if (NGX_HAVE_INET6)
    struct sockaddr_in6  *sin6;
    crm_addr_v6_range_t  *r;
#endif

    if (reason == NULL) {
        reason = &dummy;
    }

    *reason = "not an internet address";

    if (sa == NULL || len < (socklen_t) sizeof(sa->sa_family)) {
        return NGX_DECLINED;
    }

    switch (sa->sa_family) {

    case AF_INET:
        if (len < (socklen_t) sizeof(struct sockaddr_in)) {
            return NGX_DECLINED;
        }

        sin = (struct sockaddr_in *) sa;

        if (crm_addr_allow_v4(sin->sin_addr.s_addr, allow) == NGX_OK) {
            return NGX_OK;
        }

        return crm_addr_v4(ntohl(sin->sin_addr.s_addr), reason);

#if (NGX_HAVE_INET6)
    case AF_INET6:
        if (len < (socklen_t) sizeof(struct sockaddr_in6)) {
            return NGX_DECLINED;
        }

        sin6 = (struct sockaddr_in6 *) sa;
        p = sin6->sin6_addr.s6_addr;

        if (crm_addr_allow_v6(p, allow) == NGX_OK) {
            return NGX_OK;
        }

        if (ngx_memcmp(p, crm_addr_mapped, 12) == 0) {

            /* the socket talks IPv4 to this address */

            ngx_memcpy(&a, &p[12], 4);

            if (crm_addr_allow_v4(a, allow) == NGX_OK) {
                return NGX_OK;
            }

            return crm_addr_v4(ntohl(a), reason);
        }

        if (ngx_memcmp(p, crm_addr_nat64, 12) == 0) {
            return crm_addr_v4(CRM_V4(p[12], p[13], p[14], p[15]), reason);
        }

        if (p[0] == 0x20 && p[1] == 0x02) {
            return crm_addr_v4(CRM_V4(p[2], p[3], p[4], p[5]), reason);
        }

        for (r = crm_addr_v6_ranges; r->reason != NULL; r++) {
            if (crm_addr_v6_prefix(p, r->addr, r->bits) == NGX_OK) {
                *reason = r->reason;
                return NGX_DECLINED;
            }
        }

        /* outside 2000::/3, global unicast, nothing is allocated yet */

        if ((p[0] & 0xe0) != 0x20) {
            *reason = "reserved";
            return NGX_DECLINED;
        }

        *reason = NULL;
        return NGX_OK;
#endif

    default:
        return NGX_DECLINED;
    }
}


static ngx_int_t
crm_addr_v4(uint32_t a, const char **reason)
{
    uint32_t              mask;
    crm_addr_v4_range_t  *r;

    for (r = crm_addr_v4_ranges; r->reason != NULL; r++) {
        mask = (r->bits == 0) ? 0 : (uint32_t) 0xffffffff << (32 - r->bits);

        if ((a & mask) == r->addr) {
            *reason = r->reason;
            return NGX_DECLINED;
        }
    }

    *reason = NULL;
    return NGX_OK;
}


static ngx_int_t
crm_addr_v6_prefix(u_char *p, u_char *prefix, ngx_uint_t bits)
{
    ngx_uint_t  n, rest;

    n = bits / 8;
    rest = bits % 8;

    if (ngx_memcmp(p, prefix, n) != 0) {
        return NGX_DECLINED;
    }

    if (rest
        && ((p[n] ^ prefix[n]) & (u_char) (0xff << (8 - rest))) != 0)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* "a" in network byte order */

static ngx_int_t
crm_addr_allow_v4(in_addr_t a, ngx_array_t *allow)
{
    ngx_uint_t   i;
    ngx_cidr_t  *cidr;

    if (allow == NULL) {
        return NGX_DECLINED;
    }

    cidr = allow->elts;

    for (i = 0; i < allow->nelts; i++) {
        if (cidr[i].family == AF_INET
            && (a & cidr[i].u.in.mask) == cidr[i].u.in.addr)
        {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


#if (NGX_HAVE_INET6)

static ngx_int_t
crm_addr_allow_v6(u_char *p, ngx_array_t *allow)
{
    ngx_uint_t   i, n;
    ngx_cidr_t  *cidr;

    if (allow == NULL) {
        return NGX_DECLINED;
    }

    cidr = allow->elts;

    for (i = 0; i < allow->nelts; i++) {
        if (cidr[i].family != AF_INET6) {
            continue;
        }

        for (n = 0; n < 16; n++) {
            if ((p[n] & cidr[i].u.in6.mask.s6_addr[n])
                != cidr[i].u.in6.addr.s6_addr[n])
            {
                break;
            }
        }

        if (n == 16) {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}

#endif


ngx_int_t
crm_addr_url_host(ngx_str_t *url, ngx_str_t *host, in_port_t *port)
{
    u_char     *p, *last, *h, *end;
    ngx_int_t   rc, n;
#if (NGX_HAVE_INET6)
    u_char      a6[16];
#endif

    p = url->data;
    last = p + url->len;

    if (url->len >= sizeof("https://") - 1
        && ngx_strncasecmp(p, (u_char *) "https://", sizeof("https://") - 1)
           == 0)
    {
        *port = 443;
        p += sizeof("https://") - 1;

    } else if (url->len >= sizeof("http://") - 1
               && ngx_strncasecmp(p, (u_char *) "http://",
                                  sizeof("http://") - 1)
                  == 0)
    {
        *port = 80;
        p += sizeof("http://") - 1;

    } else {
        return NGX_DECLINED;
    }

    if (p < last && *p == '[') {
        h = ++p;

        while (p < last && *p != ']') {
            p++;
        }

        if (p == last) {
            return NGX_DECLINED;
        }

        host->data = h;
        host->len = p - h;
        p++;

#if (NGX_HAVE_INET6)
        if (ngx_inet6_addr(host->data, host->len, a6) != NGX_OK) {
            return NGX_DECLINED;
        }
#else
        return NGX_DECLINED;
#endif

        rc = CRM_ADDR_URL_IP;

    } else {
        h = p;

        while (p < last && *p != ':' && *p != '/' && *p != '?'
               && *p != '#')
        {
            p++;
        }

        host->data = h;
        host->len = p - h;

        if (ngx_inet_addr(host->data, host->len) != INADDR_NONE) {

            /*
             * a part with a leading zero is octal to libcurl (and to
             * browsers): "0177.0.0.1" is 127.0.0.1 there and 177.0.0.1
             * to ngx_inet_addr(); refused, so that the address checked
             * is the one connected to
             */

            for (end = h; end < p; end++) {
                if (*end == '0' && (end == h || end[-1] == '.')
                    && end + 1 < p && end[1] != '.')
                {
                    return NGX_DECLINED;
                }
            }

            rc = CRM_ADDR_URL_IP;

        } else if (crm_addr_name(host->data, host->len) == NGX_OK) {
            rc = CRM_ADDR_URL_NAME;

        } else {
            return NGX_DECLINED;
        }
    }

    if (p < last && *p == ':') {
        end = ++p;

        while (end < last && *end >= '0' && *end <= '9') {
            end++;
        }

        if (end == p || end - p > 5) {
            return NGX_DECLINED;
        }

        n = ngx_atoi(p, end - p);

        if (n < 1 || n > 65535) {
            return NGX_DECLINED;
        }

        *port = (in_port_t) n;
        p = end;
    }

    if (p < last && *p != '/' && *p != '?' && *p != '#') {
        return NGX_DECLINED;
    }

    return rc;
}


/* labels of letters, digits and '-', the last starting with a letter */

static ngx_int_t
crm_addr_name(u_char *p, size_t len)
{
    u_char  *last, *label;

    if (len == 0 || len > 253) {
        return NGX_DECLINED;
    }

    last = p + len;

    for ( ;; ) {
        label = p;

        while (p < last && *p != '.') {
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
                  || (*p >= '0' && *p <= '9') || *p == '-'))
            {
                return NGX_DECLINED;
            }

            p++;
        }

        if (p == label || p - label > 63 || *label == '-' || p[-1] == '-') {
            return NGX_DECLINED;
        }

        if (p == last) {
            break;
        }

        p++;                    /* the dot: a label must follow */
    }

    if (!((*label >= 'a' && *label <= 'z')
          || (*label >= 'A' && *label <= 'Z')))
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_int_t
crm_addr_pick(ngx_resolver_addr_t *addrs, ngx_uint_t n, ngx_array_t *allow)
{
    ngx_uint_t  i;

    for (i = 0; i < n; i++) {
        if (crm_addr_allowed(addrs[i].sockaddr, addrs[i].socklen, allow,
                             NULL)
            == NGX_OK)
        {
            return (ngx_int_t) i;
        }
    }

    return NGX_DECLINED;
}
