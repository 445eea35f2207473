#!/usr/bin/python3
"""util/smtp_sink.py: a local SMTP sink for make run and make test.

Listens on 127.0.0.1 (loopback only) and keeps every message it accepts
instead of delivering it.  Plain SMTP on --port, ESMTP with 8BITMIME and
SMTPUTF8.  Needs Debian's python3-aiosmtpd: run it with /usr/bin/python3
(util/stack.sh does, and starts and stops it).

    util/smtp_sink.py --port 2525 --dir .run/run/mail
        [--pidfile F] [--log F] [--daemon]
        [--tls-cert F --tls-key F --auth USER:PASSWORD
         [--starttls-port P] [--smtps-port P]]

With --tls-cert, --tls-key (PEM) and --auth, two more listeners as a
real relay is, sharing the directory, the log and the magic recipients:

    --starttls-port   offers STARTTLS and requires it before anything
                      else (530 to MAIL before it); then requires AUTH
                      (PLAIN or LOGIN) with USER and PASSWORD (535 for
                      others, 530 to MAIL before it)
    --smtps-port      TLS from the first byte (smtps://), then AUTH as
                      above

For each accepted recipient of a message:

    DIR/<seq>-<rcpt>.eml   the DATA as received (after dot-unstuffing),
                           written to DIR/.tmp-<seq> first, then renamed;
                           <seq> is 6 digits and goes on from the largest
                           one in DIR when the sink starts; characters of
                           <rcpt> other than A-Z a-z 0-9 @ . _ + - become _
    DIR/log.jsonl          then one JSON line appended:
                           {"seq", "time" (UTC, ISO 8601), "mail_from",
                            "rcpt", "size" (octets), "message_id" (the
                            Message-ID header, or null), "file" (the
                            .eml's name, in DIR), "tls" (true when the
                            message came over TLS), "auth" (the user it
                            authenticated as, or null), and "dropped":
                            true for a message whose answer was never
                            sent}

Magic recipients (by the local part, any case):

    tempfail...@   RCPT answered 451 4.3.0 try again later
    bounce...@     RCPT answered 550 5.1.1 mailbox unavailable
    flaky<N>...@   RCPT answered 451 4.3.0 for the first N attempts of
                   that exact address (lowercased), then accepted; the
                   count is kept in memory only: a restarted sink starts
                   counting again
    slow<N>...@    the message is kept, then the answer to DATA is delayed
                   N seconds (no digits: 5; at most 600), then 250
    drop...@       at the end of DATA the connection is closed without an
                   answer; the message IS kept (with "dropped": true), as
                   a relay that accepted it but whose answer was lost

Any other recipient is accepted (250).  A message with several
recipients is kept once per accepted recipient.
"""

import argparse
import asyncio
import datetime
import email.parser
import email.policy
import ipaddress
import json
import logging
import os
import re
import signal
import ssl
import sys
import warnings

try:
    from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword
except ImportError:
    sys.stderr.write("smtp_sink.py: no aiosmtpd: apt-get install "
                     "python3-aiosmtpd, and run it with /usr/bin/python3\n")
    sys.exit(1)


TEMPFAIL = "451 4.3.0 try again later"
BOUNCE = "550 5.1.1 mailbox unavailable"

FLAKY = re.compile(r"^flaky(\d+)")
SLOW = re.compile(r"^slow(\d*)")
UNSAFE = re.compile(r"[^A-Za-z0-9@._+-]")


def local_part(address):
    return address.rsplit("@", 1)[0].lower()


class Sink:
    """The aiosmtpd handler: the magic recipients and the files."""

    def __init__(self, directory):
        self.dir = directory
        self.attempts = {}
        self.seq = 0

        for name in os.listdir(directory):
            m = re.match(r"^(\d+)-", name)
            if m:
                self.seq = max(self.seq, int(m.group(1)))

    async def handle_RCPT(self, server, session, envelope, address,
                          rcpt_options):
        local = local_part(address)

        if local.startswith("tempfail"):
            return TEMPFAIL

        if local.startswith("bounce"):
            return BOUNCE

        m = FLAKY.match(local)
        if m:
            key = address.lower()
            n = self.attempts.get(key, 0) + 1
            self.attempts[key] = n
            if n <= int(m.group(1)):
                return "%s (flaky: attempt %d of %s)" % (TEMPFAIL, n,
                                                         m.group(1))

        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        delay = 0
        drop = False

        for rcpt in envelope.rcpt_tos:
            local = local_part(rcpt)
            m = SLOW.match(local)
            if m:
                delay = max(delay, min(int(m.group(1) or 5), 600))
            if local.startswith("drop"):
                drop = True

        data = envelope.original_content or envelope.content or b""
        mail_from = envelope.mail_from
        tls = server.transport.get_extra_info("ssl_object") is not None
        auth = None
        if session.authenticated and isinstance(session.auth_data,
                                                LoginPassword):
            auth = session.auth_data.login.decode("utf-8", "replace")
        seqs = [self.keep(mail_from, rcpt, data, drop, tls, auth)
                for rcpt in envelope.rcpt_tos]

        if delay:
            await asyncio.sleep(delay)

        if drop:
            # abort: nothing more is written, not even the answer that
            # aiosmtpd pushes after this returns
            server.transport.abort()
            return "250 2.0.0 dropped"

        return "250 2.0.0 OK queued as %s" % ",".join(str(s) for s in seqs)

    def keep(self, mail_from, rcpt, data, dropped, tls, auth):
        self.seq += 1
        seq = self.seq
        name = "%06d-%s.eml" % (seq, UNSAFE.sub("_", rcpt)[:200])
        tmp = os.path.join(self.dir, ".tmp-%06d" % seq)

        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, os.path.join(self.dir, name))

        try:
            headers = email.parser.BytesHeaderParser(
                policy=email.policy.compat32).parsebytes(data)
            message_id = headers.get("Message-ID")
            if message_id is not None:
                message_id = str(message_id).strip()
        except Exception:       # noqa: BLE001 - a sink keeps going
            message_id = None

        entry = {
            "seq": seq,
            "time": datetime.datetime.now(datetime.timezone.utc)
                    .isoformat(timespec="milliseconds")
                    .replace("+00:00", "Z"),
            "mail_from": mail_from,
            "rcpt": rcpt,
            "size": len(data),
            "message_id": message_id,
            "file": name,
            "tls": tls,
            "auth": auth,
        }
        if dropped:
            entry["dropped"] = True

        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode()
        fd = os.open(os.path.join(self.dir, "log.jsonl"),
                     os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

        return seq


class Credentials:
    """aiosmtpd's authenticator: one user and its password."""

    def __init__(self, spec):
        user, sep, password = spec.partition(":")
        if not sep or not user:
            raise ValueError("--auth wants USER:PASSWORD")
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if (isinstance(auth_data, LoginPassword)
                and auth_data.login == self.user
                and auth_data.password == self.password):
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(success=False, handled=False)


def daemonize(log):
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    if os.fork() > 0:
        os._exit(0)

    fd = os.open("/dev/null", os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)

    fd = os.open(log or "/dev/null",
                 os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)


def main():
    ap = argparse.ArgumentParser(description="local SMTP sink")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--pidfile")
    ap.add_argument("--log")
    ap.add_argument("--daemon", action="store_true")
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    ap.add_argument("--auth")
    ap.add_argument("--starttls-port", type=int)
    ap.add_argument("--smtps-port", type=int)
    args = ap.parse_args()

    if not ipaddress.ip_address(args.host).is_loopback:
        ap.error("--host must be a loopback address")

    secure = args.starttls_port or args.smtps_port
    if secure and not (args.tls_cert and args.tls_key and args.auth):
        ap.error("--starttls-port and --smtps-port need --tls-cert, "
                 "--tls-key and --auth")

    tls = None
    credentials = None
    if secure:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.tls_cert, args.tls_key)
        try:
            credentials = Credentials(args.auth)
        except ValueError as e:
            ap.error(str(e))

    directory = os.path.abspath(args.dir)
    os.makedirs(directory, exist_ok=True)

    if args.daemon:
        daemonize(args.log and os.path.abspath(args.log))

    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s smtp_sink %(levelname)s "
                               "%(message)s")

    sink = Sink(directory)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)

    def smtp(**kw):
        return SMTP(sink, hostname="crm-smtp-sink", ident="crm smtp sink",
                    decode_data=False, enable_SMTPUTF8=True,
                    data_size_limit=64 * 1024 * 1024, **kw)

    def listen(factory, port, **kw):
        return loop.run_until_complete(
            loop.create_server(factory, host=args.host, port=port,
                               reuse_address=True, **kw))

    servers = [listen(smtp, args.port)]

    if args.starttls_port:
        servers.append(listen(
            lambda: smtp(tls_context=tls, require_starttls=True,
                         auth_required=True, auth_require_tls=True,
                         authenticator=credentials),
            args.starttls_port))

    if args.smtps_port:
        # TLS from the start: aiosmtpd's own check looks for STARTTLS
        # only, and warns that AUTH would go in the clear: it does not
        warnings.filterwarnings("ignore", "Requiring AUTH while not")
        logging.getLogger("mail.log").addFilter(
            lambda r: "auth_require_tls == False" not in r.getMessage())
        servers.append(listen(
            lambda: smtp(auth_required=True, auth_require_tls=False,
                         authenticator=credentials),
            args.smtps_port, ssl=tls))

    if args.pidfile:
        tmp = args.pidfile + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(tmp, args.pidfile)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, loop.stop)

    logging.warning("listening on %s:%d (STARTTLS %s, SMTPS %s), "
                    "messages in %s", args.host, args.port,
                    args.starttls_port, args.smtps_port, directory)

    try:
        loop.run_forever()
    finally:
        for server in servers:
            server.close()
        if args.pidfile:
            try:
                os.unlink(args.pidfile)
            except OSError:
                pass
        logging.warning("stopped")
        logging.shutdown()

    # the interpreter's own shutdown takes over a second (asyncio's
    # executor, aiosmtpd's tasks) and has nothing left to save
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
