#!/usr/bin/python3
"""bench/email_tool.py: the Python side of bench/email.sh.

    email_tool.py token SECRET KIND WORKSPACE EMAIL [URL]
        a tracking token (docs/EMAIL.md, src/model/crm_track.c): KIND is
        o, c or u; URL is the target of a click
    email_tool.py smtp PORT CONNECTIONS COUNT FILE
        the baseline of the "deliver" run: COUNT messages, each the bytes
        of FILE, sent to 127.0.0.1:PORT over CONNECTIONS parallel SMTP
        connections (one thread each, smtplib, one connection kept per
        thread), to b<run>-<n>@bench.example; prints "sent N failed F
        seconds S rate R"
    email_tool.py sink-count DIR
        the messages the sink in DIR has kept (lines of DIR/log.jsonl)
    email_tool.py sink-clean DIR FROM
        deletes the .eml files of the entries of DIR/log.jsonl after its
        first FROM lines whose recipient is @bench.example; prints how
        many
"""

import base64
import hashlib
import hmac
import json
import os
import random
import smtplib
import sys
import threading
import time
import uuid


def token(secret, kind, ws, email, url=""):
    head = bytes([1, ord(kind)]) + uuid.UUID(ws).bytes + uuid.UUID(email).bytes
    head += url.encode("ascii")
    mac = hmac.new(secret.encode(), b"crm track 1\0" + head,
                   hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(head + mac).decode().rstrip("=")


def smtp(port, connections, count, path):
    with open(path, "rb") as f:
        msg = f.read()

    run = "%08x" % random.getrandbits(32)
    sent = [0] * connections
    failed = [0] * connections
    errors = []

    def worker(i):
        # messages i, i + connections, ...: COUNT in all
        n = len(range(i, count, connections))
        try:
            s = smtplib.SMTP("127.0.0.1", port, timeout=30)
            s.ehlo("bench.example")
        except OSError as e:
            failed[i] = n
            errors.append("connect: %s" % e)
            return
        for k in range(i, count, connections):
            try:
                refused = s.sendmail("bench@bench.example",
                                     ["b%s-%d@bench.example" % (run, k)],
                                     msg)
                if refused:
                    failed[i] += 1
                else:
                    sent[i] += 1
            except (smtplib.SMTPException, OSError) as e:
                failed[i] += 1
                errors.append(str(e))
        try:
            s.quit()
        except (smtplib.SMTPException, OSError):
            pass

    threads = [threading.Thread(target=worker, args=(i,))
               for i in range(connections)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.monotonic() - t0

    for e in errors[:5]:
        sys.stderr.write("email_tool.py smtp: %s\n" % e)
    print("sent %d failed %d seconds %.3f rate %.1f size %d"
          % (sum(sent), sum(failed), seconds, sum(sent) / seconds,
             len(msg)))


def sink_entries(directory):
    try:
        with open(os.path.join(directory, "log.jsonl"), "rb") as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def sink_clean(directory, start):
    gone = 0
    for line in sink_entries(directory)[start:]:
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if not e.get("rcpt", "").lower().endswith("@bench.example"):
            continue
        try:
            os.unlink(os.path.join(directory, e["file"]))
            gone += 1
        except (OSError, KeyError):
            pass
    print(gone)


def main(argv):
    if len(argv) >= 5 and argv[1] == "token":
        print(token(*argv[2:7]))
    elif len(argv) == 6 and argv[1] == "smtp":
        smtp(int(argv[2]), int(argv[3]), int(argv[4]), argv[5])
    elif len(argv) == 3 and argv[1] == "sink-count":
        print(len(sink_entries(argv[2])))
    elif len(argv) == 4 and argv[1] == "sink-clean":
        sink_clean(argv[2], int(argv[3]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
