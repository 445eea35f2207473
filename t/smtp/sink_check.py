#!/usr/bin/python3
"""t/smtp/sink_check.py: checks the test stack's SMTP sink
(util/smtp_sink.py, started by util/stack.sh test up / reset-db): a
message is kept byte for byte with its log.jsonl line, the magic
recipients answer as documented, the STARTTLS and SMTPS listeners
require TLS and AUTH and are trusted through the stack's own CA only,
and sink-stop / sink-start take the relay down and bring it back.  TAP
on stdout; takes about 2 seconds.

The port and the mail directory come from TEST_NGINX_SMTP_PORT and
TEST_NGINX_SMTP_DIR (make test exports them), else from .run/test/.
The mail directory is emptied at the end.
"""

import json
import os
import smtplib
import socket
import ssl
import subprocess
import sys
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STACK = os.path.join(TOP, "util", "stack.sh")

n = 0
failed = 0


def ok(cond, what, why=""):
    global n, failed
    n += 1
    if cond:
        print("ok %d - %s" % (n, what))
    else:
        failed += 1
        print("not ok %d - %s" % (n, what))
        if why:
            print("#   %s" % why)
    return cond


def port_and_dir():
    port = os.environ.get("TEST_NGINX_SMTP_PORT")
    mail = os.environ.get("TEST_NGINX_SMTP_DIR")
    if not port:
        port = "25871"
        try:
            with open(os.path.join(TOP, ".run", "test", "ports")) as f:
                for line in f:
                    if line.startswith("SMTP_PORT="):
                        port = line.strip().split("=", 1)[1]
        except OSError:
            pass
    return int(port), mail or os.path.join(TOP, ".run", "test", "mail")


PORT, MAIL = port_and_dir()
TLS_DIR = os.path.join(os.path.dirname(MAIL), "tls")
USER, PASSWORD = "crm", "sink-password"     # util/stack.sh's


def entries():
    try:
        with open(os.path.join(MAIL, "log.jsonl"), encoding="utf-8") as f:
            return [json.loads(line) for line in f if line.strip()]
    except OSError:
        return []


def entry_for(rcpt):
    for e in entries():
        if e["rcpt"] == rcpt:
            return e
    return None


def send(rcpt, data):
    """(code of the refusal or 250, text, seconds); code 0: disconnected"""
    t0 = time.time()
    s = smtplib.SMTP("127.0.0.1", PORT, timeout=10)
    try:
        s.sendmail("sender@crm.example", [rcpt], data)
        result = (250, "", time.time() - t0)
    except smtplib.SMTPRecipientsRefused as e:
        code, text = e.recipients[rcpt]
        result = (code, text.decode(), time.time() - t0)
    except smtplib.SMTPServerDisconnected as e:
        result = (0, str(e), time.time() - t0)
    try:
        s.quit()
    except (smtplib.SMTPException, OSError):
        pass
    return result


def send_secure(port, rcpt, data, implicit, cafile, user=USER,
                password=PASSWORD, starttls=True):
    """(0 sent, or the SMTP code of the refusal, or -1 a TLS failure)"""
    ctx = ssl.create_default_context(cafile=cafile)
    try:
        if implicit:
            s = smtplib.SMTP_SSL("127.0.0.1", port, timeout=10, context=ctx)
        else:
            s = smtplib.SMTP("127.0.0.1", port, timeout=10)
            if starttls:
                s.starttls(context=ctx)
        try:
            if user is not None:
                s.login(user, password)
            s.sendmail("sender@crm.example", [rcpt], data)
            return 0
        finally:
            try:
                s.quit()
            except (smtplib.SMTPException, OSError):
                pass
    except ssl.SSLError:
        return -1
    except smtplib.SMTPResponseException as e:
        return e.smtp_code
    except smtplib.SMTPSenderRefused as e:
        return e.smtp_code


def message(mid):
    return ("From: sender@crm.example\r\nTo: x@example.org\r\n"
            "Message-ID: <%s@crm.example>\r\nSubject: sink check\r\n"
            "\r\nbody\r\n.leading dot\r\n" % mid).encode()


def listening():
    try:
        socket.create_connection(("127.0.0.1", PORT), timeout=2).close()
        return True
    except OSError:
        return False


def stack(cmd):
    return subprocess.run([STACK, "test", cmd], stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)


def main():
    nonce = "%d-%d" % (os.getpid(), int(time.time()))

    if not ok(listening(), "the test sink listens on 127.0.0.1:%d" % PORT,
              "start it with util/stack.sh test up (make test does)"):
        print("1..%d" % n)
        return 1

    # an ordinary message, kept byte for byte
    rcpt = "check-%s@example.org" % nonce
    data = message("ok-" + nonce)
    code, text, _ = send(rcpt, data)
    ok(code == 250, "an ordinary recipient is accepted", "%s %s" % (code, text))
    e = entry_for(rcpt)
    ok(e is not None, "log.jsonl has a line for it")
    if e:
        ok(e["mail_from"] == "sender@crm.example"
           and e["message_id"] == "<ok-%s@crm.example>" % nonce
           and e["size"] == len(data) and e["time"].endswith("Z"),
           "the line has the sender, Message-ID, size and time", repr(e))
        try:
            with open(os.path.join(MAIL, e["file"]), "rb") as f:
                kept = f.read()
        except OSError as err:
            kept = repr(err)
        ok(kept == data, "the .eml is the DATA as sent (dot-unstuffed)",
           repr(kept))
        ok(e["file"].endswith("-" + rcpt + ".eml"), "the file is named "
           "<seq>-<rcpt>.eml", e["file"])

    # the magic recipients
    code, text, _ = send("tempfail-%s@example.org" % nonce, data)
    ok(code == 451 and text.startswith("4.3.0"), "tempfail@ is 451 4.3.0",
       "%s %s" % (code, text))

    code, text, _ = send("bounce-%s@example.org" % nonce, data)
    ok(code == 550 and text.startswith("5.1.1"), "bounce@ is 550 5.1.1",
       "%s %s" % (code, text))

    flaky = "flaky1-%s@example.org" % nonce
    first = send(flaky, data)[0]
    second = send(flaky, data)[0]
    ok(first == 451 and second == 250,
       "flaky1@ is 451 once, then accepted", "%s then %s" % (first, second))

    code, _, seconds = send("slow1-%s@example.org" % nonce, data)
    ok(code == 250 and seconds >= 0.9, "slow1@ answers DATA after 1 s",
       "%s after %.2f s" % (code, seconds))

    drop = "drop-%s@example.org" % nonce
    code, text, _ = send(drop, data)
    ok(code == 0, "drop@: the connection closes without an answer",
       "%s %s" % (code, text))
    e = entry_for(drop)
    ok(e is not None and e.get("dropped") is True,
       "drop@: the message is kept, marked dropped", repr(e))

    ok(entry_for("tempfail-%s@example.org" % nonce) is None
       and entry_for("bounce-%s@example.org" % nonce) is None,
       "refused recipients leave no message")

    # the relay listeners: STARTTLS on PORT + 1, TLS at once on PORT + 2
    ca = os.path.join(TLS_DIR, "ca.pem")
    other = os.path.join(TLS_DIR, "other-ca.pem")
    rcpt = "tls-%s@example.org" % nonce
    ok(send_secure(PORT + 1, rcpt, data, False, ca) == 0,
       "STARTTLS and AUTH on port + 1: accepted")
    e = entry_for(rcpt)
    ok(e is not None and e["tls"] is True and e["auth"] == USER,
       "its line says tls and the user", repr(e))
    rcpt = "smtps-%s@example.org" % nonce
    ok(send_secure(PORT + 2, rcpt, data, True, ca) == 0,
       "TLS at once and AUTH on port + 2: accepted")
    e = entry_for(rcpt)
    ok(e is not None and e["tls"] is True and e["auth"] == USER,
       "its line says tls and the user", repr(e))
    e = entry_for("check-%s@example.org" % nonce)
    ok(e is not None and e["tls"] is False and e["auth"] is None,
       "the plain port's line says neither", repr(e))
    refused = "refused-%s@example.org" % nonce
    code = send_secure(PORT + 1, refused, data, False, ca,
                       starttls=False, user=None)
    ok(code == 530, "no STARTTLS: MAIL is refused (530)", code)
    code = send_secure(PORT + 1, refused, data, False, ca, user=None)
    ok(code == 530, "STARTTLS without AUTH: MAIL is refused (530)", code)
    code = send_secure(PORT + 1, refused, data, False, ca,
                       password="wrong")
    ok(code == 535, "a wrong password is 535", code)
    code = send_secure(PORT + 2, refused, data, True, other)
    ok(code == -1, "the relay's certificate is not trusted through another "
       "CA", code)
    ok(entry_for(refused) is None, "none of those left a message")

    # a relay that is down, then back
    r = stack("sink-stop")
    ok(r.returncode == 0 and not listening(),
       "sink-stop: connections are refused", r.stderr)
    r = stack("sink-start")
    ok(r.returncode == 0 and listening(), "sink-start: it listens again",
       r.stderr)
    code, text, _ = send("again-%s@example.org" % nonce, data)
    ok(code == 250, "and accepts messages", "%s %s" % (code, text))

    # leave an empty sink to the suites
    for name in os.listdir(MAIL):
        if name.endswith(".eml") or name == "log.jsonl":
            os.unlink(os.path.join(MAIL, name))

    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
