#!/usr/bin/env python3
# bench/fault.py: the raw-socket clients of bench/fault.sh.
#
#   fault.py resets PORT COUNT WAVE KEY ID DSN PSQL
#       COUNT connections in waves of WAVE, the kinds in turn:
#       GET /api/v1/health, GET /api/v1/contacts/ID, POST /api/v1/contacts.
#       Before each wave a psql session takes ACCESS EXCLUSIVE locks on
#       the contacts table for LOCK_SECONDS (1), so that the requests of
#       the wave wait in PostgreSQL (or in the pool's queue behind those
#       that do); each client sends its request, 0.3 s later sets
#       SO_LINGER(1, 0) and closes, which sends a TCP reset.  Prints
#       "key value" lines: sent per kind, how many had an answer before
#       the reset (bytes to read; their statuses) and how many were still
#       in flight.
#
#   fault.py bodies PORT COUNT SENT HOLD KEY
#       COUNT connections each send a POST with Content-Length: 1000000
#       and SENT bytes of its body, hold HOLD seconds, then close (FIN).
#       Prints "held N" once all are sent (flushed: bench/fault.sh waits
#       for it), then "closed N".
#
# Loopback only.  Standard library only.

import socket
import struct
import subprocess
import sys
import time

HOST = "127.0.0.1"
LOCK_SECONDS = 1


def connect(port):
    s = socket.create_connection((HOST, port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def psql(dsn, psql_bin, sql):
    return subprocess.run([psql_bin, dsn, "-X", "-q", "-tA", "-c", sql],
                          capture_output=True, text=True).stdout.strip()


def lock(dsn, psql_bin):
    """A session holding the contacts table for LOCK_SECONDS; returns
    once the lock is taken (the session sleeps in pg_sleep)."""
    p = subprocess.Popen(
        [psql_bin, dsn, "-X", "-q", "-o", "/dev/null", "-v", "ON_ERROR_STOP=1",
         "-c", "BEGIN; LOCK TABLE contacts IN ACCESS EXCLUSIVE MODE;"
               " SELECT pg_sleep(%d); COMMIT;" % LOCK_SECONDS])
    for _ in range(100):
        if psql(dsn, psql_bin,
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE wait_event = 'PgSleep'"
                " AND query LIKE '%LOCK TABLE contacts%'") not in ("", "0"):
            break
        time.sleep(0.02)
    return p


def resets(port, count, wave, key, cid, dsn, psql_bin):
    kinds = ["health", "get", "create"]
    sent = dict((k, 0) for k in kinds)
    answered = 0
    statuses = {}
    inflight = 0
    failed = 0
    n = 0
    waves = 0
    linger = struct.pack("ii", 1, 0)

    while n < count:
        locker = lock(dsn, psql_bin)
        waves += 1
        socks = []
        for _ in range(min(wave, count - n)):
            kind = kinds[n % len(kinds)]
            n += 1
            if kind == "health":
                req = "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
            elif kind == "get":
                req = ("GET /api/v1/contacts/%s HTTP/1.1\r\nHost: x\r\n"
                       "X-API-Key: %s\r\n\r\n" % (cid, key))
            else:
                body = ('{"firstName":"Reset",'
                        '"email":"reset-%d-%d@fault.example"}'
                        % (int(time.time() * 1000), n))
                req = ("POST /api/v1/contacts HTTP/1.1\r\nHost: x\r\n"
                       "X-API-Key: %s\r\nContent-Type: application/json\r\n"
                       "Content-Length: %d\r\n\r\n%s" % (key, len(body), body))
            try:
                s = connect(port)
                s.sendall(req.encode())
            except OSError:
                failed += 1
                continue
            sent[kind] += 1
            socks.append(s)

        # nginx reads them and they wait; then each client resets
        time.sleep(0.3)

        for s in socks:
            s.setblocking(False)
            try:
                head = s.recv(12, socket.MSG_PEEK)
                answered += 1
                st = head[9:12].decode(errors="replace") if head else "eof"
                statuses[st] = statuses.get(st, 0) + 1
            except BlockingIOError:
                inflight += 1
            except OSError:
                answered += 1
                statuses["err"] = statuses.get("err", 0) + 1
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
            s.close()

        locker.wait()

    for k in kinds:
        print("sent_%s %d" % (k, sent[k]))
    print("sent %d" % sum(sent.values()))
    print("waves %d" % waves)
    print("answered %d" % answered)
    print("answered_statuses %s" % (" ".join(
        "%s=%d" % (k, statuses[k]) for k in sorted(statuses)) or "none"))
    print("inflight %d" % inflight)
    print("connect_failed %d" % failed)


def bodies(port, count, sent, hold, key):
    socks = []
    failed = 0
    head = ("POST /api/v1/contacts HTTP/1.1\r\nHost: x\r\nX-API-Key: %s\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000000\r\n"
            "\r\n" % key)
    body = (b'{"email":"' + b"x" * sent)[:sent]
    for _ in range(count):
        try:
            s = connect(port)
            s.sendall(head.encode() + body)
        except OSError:
            failed += 1
            continue
        socks.append(s)
    print("held %d failed %d" % (len(socks), failed), flush=True)
    time.sleep(hold)
    for s in socks:
        s.close()
    print("closed %d" % len(socks), flush=True)


def main():
    if len(sys.argv) == 9 and sys.argv[1] == "resets":
        resets(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
               sys.argv[5], sys.argv[6], sys.argv[7], sys.argv[8])
    elif len(sys.argv) == 7 and sys.argv[1] == "bodies":
        bodies(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]),
               float(sys.argv[5]), sys.argv[6])
    else:
        sys.stderr.write(
            "usage: fault.py resets PORT COUNT WAVE KEY ID DSN PSQL\n"
            "       fault.py bodies PORT COUNT SENT HOLD KEY\n")
        sys.exit(2)


if __name__ == "__main__":
    main()
