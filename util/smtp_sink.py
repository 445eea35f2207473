#!/usr/bin/python3
"""util/smtp_sink.py: a local SMTP sink for make run and make test.

Listens on 127.0.0.1 (loopback only) and keeps every message it accepts
instead of delivering it.  Plain SMTP (no STARTTLS, no AUTH), ESMTP with
8BITMIME and SMTPUTF8.  Needs Debian's python3-aiosmtpd: run it with
/usr/bin/python3 (util/stack.sh does, and starts and stops it).

    util/smtp_sink.py --port 2525 --dir .run/run/mail
        [--pidfile F] [--log F] [--daemon]

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
                            .eml's name, in DIR), and "dropped": true for
                            a message whose answer was never sent}

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
import sys

try:
    from aiosmtpd.smtp import SMTP
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
        seqs = [self.keep(mail_from, rcpt, data, drop)
                for rcpt in envelope.rcpt_tos]

        if delay:
            await asyncio.sleep(delay)

        if drop:
            # abort: nothing more is written, not even the answer that
            # aiosmtpd pushes after this returns
            server.transport.abort()
            return "250 2.0.0 dropped"

        return "250 2.0.0 OK queued as %s" % ",".join(str(s) for s in seqs)

    def keep(self, mail_from, rcpt, data, dropped):
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
    args = ap.parse_args()

    if not ipaddress.ip_address(args.host).is_loopback:
        ap.error("--host must be a loopback address")

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

    def factory():
        return SMTP(sink, hostname="crm-smtp-sink", ident="crm smtp sink",
                    decode_data=False, enable_SMTPUTF8=True,
                    data_size_limit=64 * 1024 * 1024)

    server = loop.run_until_complete(
        loop.create_server(factory, host=args.host, port=args.port,
                           reuse_address=True))

    if args.pidfile:
        tmp = args.pidfile + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(tmp, args.pidfile)

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, loop.stop)

    logging.warning("listening on %s:%d, messages in %s", args.host,
                    args.port, directory)

    try:
        loop.run_forever()
    finally:
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
