#!/bin/sh
# t/smtp/run.sh: the SMTP sink's self-test (t/smtp/sink_check.py), as TAP
# for prove; make test runs it against the test stack's sink.
#
#   prove t/smtp/run.sh
#
# Debian's python3-aiosmtpd is for /usr/bin/python3; the check itself
# needs only the standard library, but runs under the same python.

exec /usr/bin/python3 "$(dirname "$0")/sink_check.py" "$@"
