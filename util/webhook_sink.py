#!/usr/bin/env python3
"""util/webhook_sink.py: a scripted webhook receiver for tests and demos.

    webhook_sink.py --port N --dir DIR [--host 127.0.0.1] [--pidfile F]
                    [--secret whsec_...] [--tls-cert F --tls-key F]

Listens on 127.0.0.1 only; with --tls-cert and --tls-key (PEM) it is an
HTTPS receiver.  Every request is appended to DIR/log.jsonl as one JSON
line: {"seq", "time", "method", "path", "headers" (lower-case names),
"body", "tls" (whether it came over TLS), "verified" (with --secret:
whether webhook-signature holds a valid v1 signature of the Standard
Webhooks scheme)}.

The path says how to answer:

    /ok, anything else     200 {"ok": true}
    /status/<code>         that status (410, 500, ...)
    /retry-after/<secs>    429 with Retry-After: <secs>
    /redirect              302 to /ok (a client must not follow it)
    /slow/<secs>           waits <secs>, then 200
    /flaky/<n>             500 for the first <n> requests to this path,
                           then 200
    /big/<bytes>           200 with a body of <bytes> bytes

Python's standard library only (http.server, hmac, base64).
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
STATE = {"seq": 0, "flaky": {}}


def sign(secret, msg_id, ts, body):
    """the Standard Webhooks v1 signature, independently of the module"""
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, msg_id.encode() + b"." + ts.encode() + b"." + body,
                   hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def verified(secret, headers, body):
    try:
        want = sign(secret, headers["webhook-id"],
                    headers["webhook-timestamp"], body)
    except (KeyError, ValueError):
        return False
    got = headers.get("webhook-signature", "").split()
    return any(hmac.compare_digest(want, s) for s in got)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.handle_any()

    def do_POST(self):
        self.handle_any()

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        parts = [p for p in self.path.split("?")[0].split("/") if p]

        with LOCK:
            STATE["seq"] += 1
            entry = {
                "seq": STATE["seq"], "time": time.time(),
                "method": self.command, "path": self.path,
                "headers": headers,
                "body": body.decode("utf-8", "replace"),
                "tls": isinstance(self.connection, ssl.SSLSocket),
            }
            if self.server.secret:
                entry["verified"] = verified(self.server.secret, headers,
                                             body)
            with open(os.path.join(self.server.dir, "log.jsonl"), "a") as f:
                f.write(json.dumps(entry) + "\n")

        status, extra, out = 200, {}, b'{"ok": true}'

        if len(parts) == 2 and parts[0] == "status":
            status = int(parts[1])
            out = b'{"status": %d}' % status
        elif len(parts) == 2 and parts[0] == "retry-after":
            status = 429
            extra["Retry-After"] = parts[1]
            out = b'{"slow": "down"}'
        elif parts == ["redirect"]:
            status = 302
            extra["Location"] = "/ok"
            out = b""
        elif len(parts) == 2 and parts[0] == "slow":
            time.sleep(float(parts[1]))
        elif len(parts) == 2 and parts[0] == "flaky":
            with LOCK:
                k = self.path
                STATE["flaky"][k] = STATE["flaky"].get(k, 0) + 1
                if STATE["flaky"][k] <= int(parts[1]):
                    status = 500
                    out = b'{"flaky": true}'
        elif len(parts) == 2 and parts[0] == "big":
            out = b"x" * int(parts[1])

        self.send_response(status)
        for k, v in extra.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(out)
        self.close_connection = True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--pidfile")
    ap.add_argument("--secret")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    a = ap.parse_args()

    if not a.host.startswith("127.") and a.host != "::1":
        sys.exit("webhook_sink.py: loopback addresses only")

    os.makedirs(a.dir, exist_ok=True)
    # the default listen backlog (5) drops SYNs under a burst of
    # concurrent deliveries: the sender then waits for TCP's 1 s retry
    ThreadingHTTPServer.request_queue_size = 128
    srv = ThreadingHTTPServer((a.host, a.port), Handler)
    srv.daemon_threads = True
    if a.tls_cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        # the handshake in the request's thread, not in accept()
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True,
                                     do_handshake_on_connect=False)
    srv.dir = a.dir
    srv.secret = a.secret

    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write("%d\n" % os.getpid())

    print("webhook sink on %s://%s:%d/, log %s/log.jsonl"
          % ("https" if a.tls_cert else "http", a.host, a.port, a.dir),
          flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
