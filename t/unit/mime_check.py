#!/usr/bin/python3
"""Parses messages rendered by crm_mime_render() (t/unit/test_mime.c) back
with Python's email package, an independent parser, and checks them
against what was asked for.

    mime_check.py SPEC.json

SPEC is a JSON array, one object per message:

    file               the .eml (the rendered bytes)
    subject            exact Subject, decoded
    subject_has        a substring of the decoded Subject (instead)
    from               [name, addr]
    to, cc             [[name, addr], ...]
    reply_to           addr
    text, html         the part's exact text (newlines as LF; the renderer
                       ends a body with a newline where it has none), or
                       absent
    message_id         exact Message-ID
    date               Unix time of the Date header
    list_unsubscribe   exact (unfolded) List-Unsubscribe, or absent: none
    one_click          true: List-Unsubscribe-Post: List-Unsubscribe=One-Click
    headers            {name: exact decoded value}
    absent             header names that must not be there

Prints one line per check, "ok - what" or "not ok - what: why", which
test_mime.c turns into TAP tests of its own.
"""

import email
import email.policy
import json
import sys
from email.utils import parsedate_to_datetime


def check(spec):
    results = []
    name = spec["file"].rsplit("/", 1)[-1]

    def ok(cond, what, why=""):
        results.append((bool(cond), "%s: %s" % (name, what),
                        "" if cond else why))

    with open(spec["file"], "rb") as f:
        raw = f.read()

    m = email.message_from_bytes(raw, policy=email.policy.default)

    defects = list(m.defects)
    for part in m.walk():
        defects.extend(part.defects)
    ok(not defects, "no parser defects", repr(defects))

    if "subject" in spec:
        ok(m["subject"] == spec["subject"], "subject round-trips",
           "%r != %r" % (m["subject"], spec["subject"]))
    if "subject_has" in spec:
        s = str(m["subject"])
        ok(spec["subject_has"] in s and "\r" not in s and "\n" not in s,
           "subject is one line with the text", repr(s))

    def addrs(header):
        h = m[header]
        if h is None:
            return None
        return [[a.display_name, a.addr_spec] for a in h.addresses]

    if "from" in spec:
        got = addrs("from")
        ok(got == [spec["from"]], "from round-trips",
           "%r != %r" % (got, [spec["from"]]))
    for h in ("to", "cc"):
        if h in spec:
            got = addrs(h)
            ok(got == spec[h], "%s round-trips" % h,
               "%r != %r" % (got, spec[h]))
    if "reply_to" in spec:
        got = addrs("reply-to")
        ok(got == [["", spec["reply_to"]]], "reply-to round-trips",
           repr(got))

    ok(m["mime-version"] == "1.0", "MIME-Version 1.0", repr(m["mime-version"]))

    if "message_id" in spec:
        ok(m["message-id"] == spec["message_id"], "Message-ID as given",
           "%r != %r" % (m["message-id"], spec["message_id"]))

    if "date" in spec:
        try:
            t = parsedate_to_datetime(str(m["date"])).timestamp()
        except Exception as e:      # noqa: BLE001 - reported as a failure
            t = repr(e)
        ok(t == spec["date"], "Date as given", "%r != %r" % (t, spec["date"]))

    lu = m["list-unsubscribe"]
    if "list_unsubscribe" in spec:
        ok(lu == spec["list_unsubscribe"], "List-Unsubscribe as given",
           "%r != %r" % (lu, spec["list_unsubscribe"]))
    else:
        ok(lu is None, "no List-Unsubscribe", repr(lu))

    lup = m["list-unsubscribe-post"]
    if spec.get("one_click"):
        ok(lup == "List-Unsubscribe=One-Click", "List-Unsubscribe-Post",
           repr(lup))
    else:
        ok(lup is None, "no List-Unsubscribe-Post", repr(lup))

    for h, v in spec.get("headers", {}).items():
        got = m.get_all(h)
        ok(got is not None and [str(x) for x in got] == [v],
           "header %s round-trips" % h, "%r != %r" % (got, [v]))

    for h in spec.get("absent", []):
        ok(m[h] is None, "no %s header" % h, repr(m[h]))

    # the parts: text first, then html, or the one that was given
    want = [(t, spec[k]) for t, k in (("text/plain", "text"),
                                      ("text/html", "html")) if k in spec]
    if len(want) == 2:
        ok(m.get_content_type() == "multipart/alternative",
           "multipart/alternative", m.get_content_type())
        parts = list(m.iter_parts())
    else:
        parts = [m]

    ok([p.get_content_type() for p in parts] == [t for t, _ in want],
       "the parts in order",
       repr([p.get_content_type() for p in parts]))

    for part, (ctype, text) in zip(parts, want):
        ok(part.get_content_charset() == "utf-8",
           "%s charset=utf-8" % ctype, repr(part.get_content_charset()))
        got = part.get_content().replace("\r\n", "\n")
        if not text.endswith("\n"):
            text += "\n"
        ok(got == text, "%s body round-trips" % ctype,
           "%r != %r" % (got[:200], text[:200]))

    return results


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        specs = json.load(f)

    failed = 0
    for spec in specs:
        try:
            results = check(spec)
        except Exception as e:      # noqa: BLE001 - reported as a failure
            results = [(False, "%s: parsed" % spec.get("file"), repr(e))]
        for passed, what, why in results:
            if passed:
                print("ok - %s" % what)
            else:
                failed += 1
                print("not ok - %s: %s" % (what, why))

    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
