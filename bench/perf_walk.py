#!/usr/bin/env python3
"""bench/perf_walk.py: the cursor of a deep page, for bench/perf.sh's
"deep" run.

    perf_walk.py PORT KEY LIMIT PAGE

Walks GET /api/v1/contacts?limit=LIMIT from the first page by
meta.cursor.next over one keep-alive connection to 127.0.0.1:PORT and
prints the cursor that reads page PAGE (1: the first page has none, an
empty line).  Exits 1 when the list ends before PAGE or a page is not a
200.
"""

import http.client
import json
import sys
import time
import urllib.parse


def main():
    if len(sys.argv) != 5:
        sys.stderr.write(__doc__)
        return 2

    port, key, limit, page = sys.argv[1], sys.argv[2], int(sys.argv[3]), \
        int(sys.argv[4])
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=30)
    headers = {"X-API-Key": key}
    cursor = ""
    start = time.monotonic()

    for n in range(1, page):
        path = "/api/v1/contacts?limit=%d" % limit
        if cursor:
            path += "&cursor=" + urllib.parse.quote(cursor, safe="")
        conn.request("GET", path, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        if resp.status != 200:
            sys.stderr.write("perf_walk: page %d: HTTP %d: %s\n"
                             % (n, resp.status, body[:300]))
            return 1
        cursor = json.loads(body)["meta"]["cursor"]["next"]
        if not cursor:
            sys.stderr.write("perf_walk: the list ends at page %d\n" % n)
            return 1

    sys.stderr.write("perf_walk: %d pages of %d in %.1f s\n"
                     % (page - 1, limit, time.monotonic() - start))
    print(cursor)
    return 0


if __name__ == "__main__":
    sys.exit(main())
