
/*
 * Unit tests of the outbound address policy and of the URL host reader
 * (src/model/crm_addr.c), TAP output.  Addresses only: nothing here sends
 * a packet.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "model/crm_addr.h"
#include "tap.h"


static ngx_int_t check(const char *text, ngx_array_t *allow,
    const char **reason);
static void refused(const char *text, const char *want, ngx_array_t *allow);
static void allowed(const char *text, ngx_array_t *allow);
static ngx_array_t *allow_list(const char *first, ...);
static void url_host(const char *url, ngx_int_t want, const char *host,
    ngx_uint_t port);
static ngx_int_t pick(ngx_array_t *allow, ...);

static void test_ipv4_refused(void);
static void test_ipv4_allowed(void);
static void test_ipv6_refused(void);
static void test_ipv6_allowed(void);
static void test_embedded(void);
static void test_allow(void);
static void test_malformed(void);
static void test_url_host(void);
static void test_pick(void);


static ngx_pool_t  *pool;


int
main(void)
{
    ngx_log_t  log;

    ngx_memzero(&log, sizeof(ngx_log_t));

    pool = ngx_create_pool(4096, &log);
    if (pool == NULL) {
        return 1;
    }

    test_ipv4_refused();
    test_ipv4_allowed();
    test_ipv6_refused();
    test_ipv6_allowed();
    test_embedded();
    test_allow();
    test_malformed();
    test_url_host();
    test_pick();

    ngx_destroy_pool(pool);

    return done_testing();
}


/* NGX_OK, NGX_DECLINED, or NGX_ERROR when "text" is no address */

static ngx_int_t
check(const char *text, ngx_array_t *allow, const char **reason)
{
    struct sockaddr_in   sin;
    struct sockaddr_in6  sin6;

    ngx_memzero(&sin, sizeof(sin));
    ngx_memzero(&sin6, sizeof(sin6));

    if (inet_pton(AF_INET, text, &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        sin.sin_port = htons(25);
        return crm_addr_allowed((struct sockaddr *) &sin, sizeof(sin),
                                allow, reason);
    }

    if (inet_pton(AF_INET6, text, &sin6.sin6_addr) == 1) {
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons(25);
        return crm_addr_allowed((struct sockaddr *) &sin6, sizeof(sin6),
                                allow, reason);
    }

    diag("not an address: %s", text);
    return NGX_ERROR;
}


static void
refused(const char *text, const char *want, ngx_array_t *allow)
{
    ngx_int_t    rc;
    const char  *reason;

    reason = NULL;
    rc = check(text, allow, &reason);

    if (!ok(rc == NGX_DECLINED && reason != NULL
            && ngx_strcmp(reason, want) == 0,
            "%s refused: %s", text, want))
    {
        diag("rc %d, reason \"%s\"", (int) rc, reason ? reason : "(null)");
    }
}


static void
allowed(const char *text, ngx_array_t *allow)
{
    ngx_int_t    rc;
    const char  *reason;

    reason = NULL;
    rc = check(text, allow, &reason);

    if (!ok(rc == NGX_OK, "%s allowed", text)) {
        diag("rc %d, reason \"%s\"", (int) rc, reason ? reason : "(null)");
    }
}


/* an array of ngx_cidr_t from CIDR texts, as crm_outbound_allow makes it */

static ngx_array_t *
allow_list(const char *first, ...)
{
    va_list       ap;
    ngx_str_t     s;
    ngx_cidr_t   *cidr;
    const char   *text;
    ngx_array_t  *a;

    a = ngx_array_create(pool, 4, sizeof(ngx_cidr_t));
    if (a == NULL) {
        return NULL;
    }

    va_start(ap, first);

    for (text = first; text != NULL; text = va_arg(ap, const char *)) {
        cidr = ngx_array_push(a);
        if (cidr == NULL) {
            break;
        }

        s.data = (u_char *) text;
        s.len = ngx_strlen(text);

        if (ngx_ptocidr(&s, cidr) == NGX_ERROR) {
            diag("bad CIDR %s", text);
        }
    }

    va_end(ap);

    return a;
}


static void
test_ipv4_refused(void)
{
    refused("0.0.0.0", "unspecified", NULL);
    refused("0.1.2.3", "unspecified", NULL);
    refused("10.0.0.1", "private", NULL);
    refused("10.255.255.255", "private", NULL);
    refused("100.64.0.1", "shared address space", NULL);
    refused("100.127.255.254", "shared address space", NULL);
    refused("127.0.0.1", "loopback", NULL);
    refused("127.255.255.254", "loopback", NULL);
    refused("169.254.169.254", "link-local", NULL);
    refused("172.16.0.1", "private", NULL);
    refused("172.31.255.255", "private", NULL);
    refused("192.0.0.8", "protocol assignments", NULL);
    refused("192.0.2.10", "documentation", NULL);
    refused("192.88.99.1", "6to4 relay", NULL);
    refused("192.168.1.1", "private", NULL);
    refused("198.18.0.1", "benchmarking", NULL);
    refused("198.19.255.255", "benchmarking", NULL);
    refused("198.51.100.7", "documentation", NULL);
    refused("203.0.113.200", "documentation", NULL);
    refused("224.0.0.1", "multicast", NULL);
    refused("239.255.255.250", "multicast", NULL);
    refused("240.0.0.1", "reserved", NULL);
    refused("255.255.255.255", "reserved", NULL);
}


static void
test_ipv4_allowed(void)
{
    /* the neighbours of each refused range, and some public addresses */

    allowed("1.1.1.1", NULL);
    allowed("8.8.8.8", NULL);
    allowed("9.255.255.255", NULL);
    allowed("11.0.0.0", NULL);
    allowed("100.63.255.255", NULL);
    allowed("100.128.0.0", NULL);
    allowed("126.255.255.255", NULL);
    allowed("128.0.0.0", NULL);
    allowed("169.253.255.255", NULL);
    allowed("169.255.0.0", NULL);
    allowed("172.15.255.255", NULL);
    allowed("172.32.0.0", NULL);
    allowed("192.0.1.1", NULL);
    allowed("192.0.3.1", NULL);
    allowed("192.167.255.255", NULL);
    allowed("192.169.0.0", NULL);
    allowed("198.17.255.255", NULL);
    allowed("198.20.0.0", NULL);
    allowed("198.51.101.1", NULL);
    allowed("203.0.114.1", NULL);
    allowed("223.255.255.255", NULL);
    allowed("93.184.216.34", NULL);
}


static void
test_ipv6_refused(void)
{
    refused("::", "unspecified", NULL);
    refused("::1", "loopback", NULL);
    refused("::2", "reserved", NULL);
    refused("::8.8.8.8", "reserved", NULL);   /* IPv4-compatible */
    refused("0:ff::1", "reserved", NULL);
    refused("64:ff9b:1::1", "local NAT64", NULL);
    refused("100::1", "discard", NULL);
    refused("2001::1", "protocol assignments", NULL);           /* Teredo */
    refused("2001:1ff:ffff::1", "protocol assignments", NULL);
    refused("2001:db8::1", "documentation", NULL);
    refused("2001:db8:ffff:ffff::1", "documentation", NULL);
    refused("3fff::1", "documentation", NULL);
    refused("3fff:fff::1", "documentation", NULL);
    refused("fc00::1", "private", NULL);
    refused("fd12:3456:789a::1", "private", NULL);
    refused("fe80::1", "link-local", NULL);
    refused("febf:ffff::1", "link-local", NULL);
    refused("fec0::1", "site-local", NULL);
    refused("ff02::1", "multicast", NULL);
    refused("ff05::1:3", "multicast", NULL);
    refused("4000::1", "reserved", NULL);
    refused("1::1", "reserved", NULL);
    refused("e000::1", "reserved", NULL);
}


static void
test_ipv6_allowed(void)
{
    allowed("2001:4860:4860::8888", NULL);
    allowed("2606:4700:4700::1111", NULL);
    allowed("2001:200::1", NULL);             /* first after 2001::/23 */
    allowed("2001:db9::1", NULL);
    allowed("2a00:1450:4001::1", NULL);
    allowed("3ffe::1", NULL);
    allowed("3fff:1000::1", NULL);            /* after 3fff::/20 */
}


static void
test_embedded(void)
{
    /* IPv4-mapped: checked as the IPv4 address */

    refused("::ffff:127.0.0.1", "loopback", NULL);
    refused("::ffff:10.1.2.3", "private", NULL);
    refused("::ffff:169.254.169.254", "link-local", NULL);
    refused("::ffff:0.0.0.0", "unspecified", NULL);
    refused("::ffff:7f00:1", "loopback", NULL);
    allowed("::ffff:8.8.8.8", NULL);

    /* NAT64 well-known prefix */

    refused("64:ff9b::127.0.0.1", "loopback", NULL);
    refused("64:ff9b::a00:1", "private", NULL);
    refused("64:ff9b::192.168.0.1", "private", NULL);
    allowed("64:ff9b::8.8.8.8", NULL);

    /* 6to4: the IPv4 address in bits 16-47 */

    refused("2002:7f00:1::1", "loopback", NULL);
    refused("2002:c0a8:101::1", "private", NULL);
    refused("2002:a9fe:a9fe::", "link-local", NULL);
    allowed("2002:808:808::1", NULL);
}


static void
test_allow(void)
{
    ngx_array_t  *lo, *nets, *v6, *all;

    lo = allow_list("127.0.0.0/8", "::1", NULL);

    allowed("127.0.0.1", lo);
    allowed("127.1.2.3", lo);
    allowed("::1", lo);
    allowed("::ffff:127.0.0.1", lo);          /* mapped: the IPv4 rule */
    refused("10.0.0.1", "private", lo);
    refused("::2", "reserved", lo);
    refused("64:ff9b::127.0.0.1", "loopback", lo);    /* not mapped */
    refused("2002:7f00:1::1", "loopback", lo);
    allowed("8.8.8.8", lo);

    nets = allow_list("10.1.0.0/16", "192.168.1.128/25", NULL);

    allowed("10.1.200.3", nets);
    refused("10.2.0.1", "private", nets);
    allowed("192.168.1.200", nets);
    refused("192.168.1.127", "private", nets);
    allowed("::ffff:10.1.0.9", nets);
    refused("::ffff:10.2.0.9", "private", nets);

    v6 = allow_list("fd00:1::/32", "64:ff9b::/96", "fe80::1", NULL);

    allowed("fd00:1:2::3", v6);
    refused("fd00:2::3", "private", v6);
    allowed("64:ff9b::127.0.0.1", v6);        /* the IPv6 rule */
    allowed("fe80::1", v6);
    refused("fe80::2", "link-local", v6);
    refused("127.0.0.1", "loopback", v6);     /* no IPv4 rule */

    all = allow_list("0.0.0.0/0", "::/0", NULL);

    allowed("127.0.0.1", all);
    allowed("10.0.0.1", all);
    allowed("255.255.255.255", all);
    allowed("::1", all);
    allowed("fe80::1", all);
    allowed("::ffff:127.0.0.1", all);

    /* an empty list is no list */

    refused("127.0.0.1", "loopback",
            ngx_array_create(pool, 1, sizeof(ngx_cidr_t)));
}


static void
test_malformed(void)
{
    const char           *reason;
    struct sockaddr_in    sin;
    struct sockaddr_un    sun;
    struct sockaddr_in6   sin6;

    ngx_memzero(&sin, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(0x08080808);

    is_int(crm_addr_allowed((struct sockaddr *) &sin, sizeof(sin), NULL,
                            NULL),
           NGX_OK, "8.8.8.8 allowed without a reason pointer");

    reason = NULL;
    is_int(crm_addr_allowed((struct sockaddr *) &sin, sizeof(sin) - 1, NULL,
                            &reason),
           NGX_DECLINED, "a short sockaddr_in is refused");
    ok(reason != NULL, "with a reason");

    ngx_memzero(&sin6, sizeof(sin6));
    sin6.sin6_family = AF_INET6;
    sin6.sin6_addr.s6_addr[0] = 0x2a;
    sin6.sin6_addr.s6_addr[15] = 1;

    is_int(crm_addr_allowed((struct sockaddr *) &sin6, sizeof(sin6), NULL,
                            NULL),
           NGX_OK, "2a00::1 allowed");

    is_int(crm_addr_allowed((struct sockaddr *) &sin6,
                            sizeof(struct sockaddr_in), NULL, NULL),
           NGX_DECLINED, "a short sockaddr_in6 is refused");

    ngx_memzero(&sun, sizeof(sun));
    sun.sun_family = AF_UNIX;
    ngx_cpystrn((u_char *) sun.sun_path, (u_char *) "/tmp/x",
                sizeof(sun.sun_path));

    reason = NULL;
    is_int(crm_addr_allowed((struct sockaddr *) &sun, sizeof(sun), NULL,
                            &reason),
           NGX_DECLINED, "a unix socket is refused");
    ok(reason != NULL && ngx_strcmp(reason, "not an internet address") == 0,
       "as not an internet address");

    is_int(crm_addr_allowed(NULL, 0, NULL, NULL), NGX_DECLINED,
           "no address is refused");
}


/* crm_addr_url_host(url) is "want", with that host and port */

static void
url_host(const char *url, ngx_int_t want, const char *host, ngx_uint_t port)
{
    ngx_int_t   rc;
    ngx_str_t   u, h;
    in_port_t   p;

    u.data = (u_char *) url;
    u.len = ngx_strlen(url);
    ngx_str_null(&h);
    p = 0;

    rc = crm_addr_url_host(&u, &h, &p);

    if (want == NGX_DECLINED) {
        is_int(rc, NGX_DECLINED, "%s: not a URL to deliver to", url);
        return;
    }

    if (!ok(rc == want && h.len == ngx_strlen(host)
            && ngx_strncmp(h.data, host, h.len) == 0 && p == port,
            "%s: %s %s port %u", url,
            want == CRM_ADDR_URL_NAME ? "name" : "address", host,
            (unsigned) port))
    {
        diag("rc %d, host \"%.*s\", port %u", (int) rc, (int) h.len,
             h.data ? (char *) h.data : "", (unsigned) p);
    }
}


static void
test_url_host(void)
{
    url_host("http://hook.test/", CRM_ADDR_URL_NAME, "hook.test", 80);
    url_host("https://hooks.example.com/x?y#z", CRM_ADDR_URL_NAME,
             "hooks.example.com", 443);
    url_host("HTTPS://Hooks.Example.COM:8443", CRM_ADDR_URL_NAME,
             "Hooks.Example.COM", 8443);
    url_host("http://hook.test:2102/ok", CRM_ADDR_URL_NAME, "hook.test",
             2102);
    url_host("http://localhost?x", CRM_ADDR_URL_NAME, "localhost", 80);
    url_host("http://a-b.c9.xn--p1ai#f", CRM_ADDR_URL_NAME, "a-b.c9.xn--p1ai",
             80);
    url_host("http://9a.b1/", CRM_ADDR_URL_NAME, "9a.b1", 80);

    url_host("http://127.0.0.1:8080/x", CRM_ADDR_URL_IP, "127.0.0.1", 8080);
    url_host("https://192.0.2.1", CRM_ADDR_URL_IP, "192.0.2.1", 443);
#if (NGX_HAVE_INET6)
    url_host("http://[::1]:9000/", CRM_ADDR_URL_IP, "::1", 9000);
    url_host("https://[2001:db8::1]/x", CRM_ADDR_URL_IP, "2001:db8::1", 443);
    url_host("http://[::ffff:127.0.0.1]/", CRM_ADDR_URL_IP,
             "::ffff:127.0.0.1", 80);
    url_host("http://[hook.test]/", NGX_DECLINED, NULL, 0);
#endif

    /* numbers a client could read as an address are no names */

    url_host("http://127.1/", NGX_DECLINED, NULL, 0);
    url_host("http://0177.0.0.1/", NGX_DECLINED, NULL, 0);
    url_host("http://127.000.000.001:9011/ok", NGX_DECLINED, NULL, 0);
    url_host("http://127.0.0.01/", NGX_DECLINED, NULL, 0);
    url_host("http://10.0.0.0/", CRM_ADDR_URL_IP, "10.0.0.0", 80);
    url_host("http://0.0.0.0:1/", CRM_ADDR_URL_IP, "0.0.0.0", 1);
    url_host("http://0x7f000001/", NGX_DECLINED, NULL, 0);
    url_host("http://2130706433/", NGX_DECLINED, NULL, 0);
    url_host("http://1.2.3.4.5/", NGX_DECLINED, NULL, 0);
    url_host("http://256.1.1.1/", NGX_DECLINED, NULL, 0);
    url_host("http://hook.123/", NGX_DECLINED, NULL, 0);

    /* the rest that is refused */

    url_host("ftp://hook.test/", NGX_DECLINED, NULL, 0);
    url_host("http:/hook.test/", NGX_DECLINED, NULL, 0);
    url_host("http://", NGX_DECLINED, NULL, 0);
    url_host("http:///x", NGX_DECLINED, NULL, 0);
    url_host("http://user:pw@hook.test/", NGX_DECLINED, NULL, 0);
    url_host("http://user@127.0.0.1/", NGX_DECLINED, NULL, 0);
    url_host("http://hook.test./", NGX_DECLINED, NULL, 0);
    url_host("http://.hook.test/", NGX_DECLINED, NULL, 0);
    url_host("http://hook..test/", NGX_DECLINED, NULL, 0);
    url_host("http://-hook.test/", NGX_DECLINED, NULL, 0);
    url_host("http://hook-.test/", NGX_DECLINED, NULL, 0);
    url_host("http://hook.test-/", NGX_DECLINED, NULL, 0);
    url_host("http://ho_ok.test/", NGX_DECLINED, NULL, 0);
    url_host("http://hook test/", NGX_DECLINED, NULL, 0);
    url_host("http://hook.test:/", NGX_DECLINED, NULL, 0);
    url_host("http://hook.test:0/", NGX_DECLINED, NULL, 0);
    url_host("http://hook.test:65536/", NGX_DECLINED, NULL, 0);
    url_host("http://hook.test:123456/", NGX_DECLINED, NULL, 0);
    url_host("http://hook.test:80x/", NGX_DECLINED, NULL, 0);
    url_host("http://[::1/", NGX_DECLINED, NULL, 0);
    url_host("http://[::1]x/", NGX_DECLINED, NULL, 0);
    url_host("http://h\xc3\xa9.test/", NGX_DECLINED, NULL, 0);

    url_host("http://a23456789012345678901234567890123456789012345678901234"
             "567890123.test/", CRM_ADDR_URL_NAME,
             "a23456789012345678901234567890123456789012345678901234"
             "567890123.test", 80);
    url_host("http://a234567890123456789012345678901234567890123456789012345"
             "6789012345.test/", NGX_DECLINED, NULL, 0);      /* 64 */
}


/* the index crm_addr_pick() gives for the addresses (NULL-terminated) */

static ngx_int_t
pick(ngx_array_t *allow, ...)
{
    va_list               ap;
    ngx_uint_t            n;
    const char           *text;
    struct sockaddr_in   *sin;
    struct sockaddr_in6  *sin6;
    ngx_resolver_addr_t   addrs[8];

    n = 0;
    va_start(ap, allow);

    for (text = va_arg(ap, const char *);
         text != NULL && n < 8;
         text = va_arg(ap, const char *))
    {
        ngx_memzero(&addrs[n], sizeof(ngx_resolver_addr_t));

        if (ngx_strchr(text, ':') == NULL) {
            sin = ngx_pcalloc(pool, sizeof(struct sockaddr_in));
            sin->sin_family = AF_INET;
            (void) inet_pton(AF_INET, text, &sin->sin_addr);
            addrs[n].sockaddr = (struct sockaddr *) sin;
            addrs[n].socklen = sizeof(struct sockaddr_in);

        } else {
            sin6 = ngx_pcalloc(pool, sizeof(struct sockaddr_in6));
            sin6->sin6_family = AF_INET6;
            (void) inet_pton(AF_INET6, text, &sin6->sin6_addr);
            addrs[n].sockaddr = (struct sockaddr *) sin6;
            addrs[n].socklen = sizeof(struct sockaddr_in6);
        }

        n++;
    }

    va_end(ap);

    return crm_addr_pick(addrs, n, allow);
}


static void
test_pick(void)
{
    ngx_array_t  *lo1;

    lo1 = allow_list("127.0.0.1/32", NULL);

    is_int(pick(NULL, "8.8.8.8", NULL), 0, "pick: a public address");
    is_int(pick(NULL, "127.0.0.1", "::1", "10.0.0.1", "93.184.216.34",
                NULL),
           3, "pick: the first allowed, after refused ones");
    is_int(pick(NULL, "127.0.0.1", "::1", "169.254.169.254",
                "::ffff:10.0.0.1", NULL),
           NGX_DECLINED, "pick: none when every one is refused");
    is_int(pick(NULL, NULL), NGX_DECLINED, "pick: none of none");
    is_int(pick(lo1, "127.0.0.2", "::1", "127.0.0.1", NULL), 2,
           "pick: the one the allow list lets through");
    is_int(pick(lo1, "127.0.0.2", "::1", NULL), NGX_DECLINED,
           "pick: not its neighbours");
    is_int(pick(lo1, "::ffff:127.0.0.1", NULL), 0,
           "pick: mapped, as IPv4");
}
