
/*
 * ngx_http_crm_module: the outbound address policy.
 *
 * Which addresses the module's outbound client (src/io/crm_curl.c) may
 * connect to: the resolved IP is checked, never a name; and the host of
 * a URL, which tells a name to resolve from an IP literal.  Pure: no
 * I/O, unit-tested in t/unit/test_addr.c.
 */


#ifndef _CRM_ADDR_H_INCLUDED_
#define _CRM_ADDR_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>


/*
 * NGX_OK when "sa" may be connected to; NGX_DECLINED when it may not,
 * with *reason (when reason is not NULL) a static string naming the
 * range ("loopback", "private", ...).
 *
 * Refused, unless the address is inside one of "allow" (an array of
 * ngx_cidr_t, as ngx_http_access_module matches them; NULL for none):
 *
 *   IPv4  0/8 unspecified, 10/8 172.16/12 192.168/16 private,
 *         100.64/10 shared (CGNAT), 127/8 loopback, 169.254/16
 *         link-local, 192.0.0/24 protocol assignments, 192.0.2/24
 *         198.51.100/24 203.0.113/24 documentation, 192.88.99/24 6to4
 *         relay, 198.18/15 benchmarking, 224/4 multicast, 240/4 reserved
 *         and broadcast
 *   IPv6  :: unspecified, ::1 loopback, ::/8 reserved, 64:ff9b:1::/48
 *         local NAT64, 100::/64 discard, 2001::/23 protocol assignments
 *         (Teredo), 2001:db8::/32 3fff::/20 documentation, fc00::/7
 *         private (ULA), fe80::/10 link-local, fec0::/10 site-local,
 *         ff00::/8 multicast, and everything outside 2000::/3 (not
 *         global unicast)
 *
 * Embedded IPv4 addresses are checked as IPv4: ::ffff:0:0/96 (mapped: the
 * socket reaches that IPv4 address, so the allow list is matched against
 * the IPv4 address too), 64:ff9b::/96 (NAT64) and 2002::/16 (6to4: the
 * address in bits 16-47); for these two the allow list is matched
 * against the IPv6 address only.  Families other than AF_INET and
 * AF_INET6, and lengths too short for their family, are refused.
 */

ngx_int_t crm_addr_allowed(struct sockaddr *sa, socklen_t len,
    ngx_array_t *allow, const char **reason);


/* crm_addr_url_host() */
#define CRM_ADDR_URL_IP           1       /* an IPv4 or IPv6 literal */
#define CRM_ADDR_URL_NAME         2       /* a host name */


/*
 * The host of an http:// or https:// URL in the form the subscriptions'
 * trigger admits (sql/030): "scheme://host[:port][/?#...]", no user
 * info.  CRM_ADDR_URL_IP for a dotted-quad IPv4 or a bracketed IPv6
 * literal; CRM_ADDR_URL_NAME for a host name: dot-separated labels of
 * letters, digits and '-' (not first nor last), 1 to 63 bytes each, 253
 * in all, the last one starting with a letter (so that nothing a client
 * would read as a number, "127.1" or "0x7f000001", counts as a name);
 * NGX_DECLINED for anything else (another scheme, user info, a bad port
 * or host).  *host is the host as written (without an IPv6 literal's
 * brackets), *port the URL's port or the scheme's (80, 443).
 */

ngx_int_t crm_addr_url_host(ngx_str_t *url, ngx_str_t *host,
    in_port_t *port);

/*
 * The index of the first of the n resolved addresses the policy lets
 * through (crm_addr_allowed() with "allow"), or NGX_DECLINED when it
 * refuses every one of them (and when n is 0).
 */

ngx_int_t crm_addr_pick(ngx_resolver_addr_t *addrs, ngx_uint_t n,
    ngx_array_t *allow);


#endif /* _CRM_ADDR_H_INCLUDED_ */
