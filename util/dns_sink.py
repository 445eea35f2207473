#!/usr/bin/env python3
"""util/dns_sink.py: a tiny authoritative DNS server for tests.

    dns_sink.py --port N [--host 127.0.0.1] [--pidfile F] [--log F]
                [--ttl SECS] RULE ...

Answers UDP queries on 127.0.0.1 only, for the names its rules give,
authoritatively (AA), as nginx's resolver asks them (one question, A or
AAAA).  A rule is one of

    NAME=ADDR[,ADDR...]   A and AAAA answers: the IPv4 addresses to A
                          queries, the IPv6 ones to AAAA queries (an empty
                          answer when the name has none of that family)
    NAME=nxdomain         NXDOMAIN (rcode 3)
    NAME=servfail         SERVFAIL (rcode 2)
    NAME=drop             no answer at all (a resolver that times out)

Any other name is NXDOMAIN.  Names match without regard to case.  With
--log every query is appended to F as a JSON line: {"time", "name",
"type" ("A", "AAAA" or the number)}.

Python's standard library only.  Tests send it packets on loopback only.
"""

import argparse
import json
import os
import socket
import struct
import sys
import time

TYPES = {1: "A", 28: "AAAA"}


def parse_rules(rules):
    table = {}
    for rule in rules:
        name, sep, value = rule.partition("=")
        if not sep or not name:
            sys.exit("dns_sink.py: bad rule %r (NAME=VALUE)" % rule)
        name = name.lower().rstrip(".")
        if value in ("nxdomain", "servfail", "drop"):
            table[name] = value
            continue
        addrs = {1: [], 28: []}
        for a in value.split(","):
            try:
                addrs[28 if ":" in a else 1].append(
                    socket.inet_pton(socket.AF_INET6 if ":" in a
                                     else socket.AF_INET, a))
            except OSError:
                sys.exit("dns_sink.py: bad address %r in %r" % (a, rule))
        table[name] = addrs
    return table


def question(packet):
    """(name, qtype, end offset) of the first question, or None"""
    labels = []
    i = 12
    while True:
        if i >= len(packet):
            return None
        n = packet[i]
        i += 1
        if n == 0:
            break
        if n & 0xc0 or i + n > len(packet):
            return None
        labels.append(packet[i:i + n].decode("ascii", "replace"))
        i += n
    if i + 4 > len(packet):
        return None
    qtype, _ = struct.unpack("!HH", packet[i:i + 4])
    return ".".join(labels).lower(), qtype, i + 4


def answer(packet, table, ttl, log):
    if len(packet) < 12:
        return None
    qid, flags, qdcount = struct.unpack("!HHH", packet[:6])
    if flags & 0x8000 or qdcount != 1:
        return None
    q = question(packet)
    if q is None:
        return None
    name, qtype, end = q

    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"time": time.time(), "name": name,
                                "type": TYPES.get(qtype, qtype)}) + "\n")

    rule = table.get(name, "nxdomain")
    if rule == "drop":
        return None

    rcode = 0
    records = []
    if rule == "nxdomain":
        rcode = 3
    elif rule == "servfail":
        rcode = 2
    else:
        records = rule.get(qtype, [])

    # QR, AA, the query's RD; RA off
    out_flags = 0x8400 | (flags & 0x0100) | rcode
    head = struct.pack("!HHHHHH", qid, out_flags, 1, len(records), 0, 0)
    body = packet[12:end]
    for rdata in records:
        # the name: a pointer to the question's (offset 12)
        body += struct.pack("!HHHIH", 0xc00c, qtype, 1, ttl, len(rdata))
        body += rdata
    return head + body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--pidfile")
    ap.add_argument("--log")
    ap.add_argument("--ttl", type=int, default=1)
    ap.add_argument("rules", nargs="*")
    args = ap.parse_args()

    if not args.host.startswith("127.") and args.host != "::1":
        sys.exit("dns_sink.py: loopback only")

    table = parse_rules(args.rules)

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))

    if args.pidfile:
        with open(args.pidfile, "w") as f:
            f.write("%d\n" % os.getpid())

    while True:
        packet, peer = sock.recvfrom(4096)
        reply = answer(packet, table, args.ttl, args.log)
        if reply is not None:
            sock.sendto(reply, peer)


if __name__ == "__main__":
    main()
