#!/usr/bin/python3
"""bench/campaign_tool.py: the Python side of bench/campaign.sh.

    campaign_tool.py sink DIR FROM PREFIX
        the entries of DIR/log.jsonl after its first FROM lines whose
        recipient starts with PREFIX: prints "LINES DISTINCT FIRST LAST"
        (LINES: messages, DISTINCT: different recipients, FIRST and LAST:
        the sink's times of the first and the last one, epoch seconds;
        0 when there is none)
    campaign_tool.py watch DIR FROM PREFIX T QUIET TIMEOUT
        reads DIR/log.jsonl every 50 ms, from its line FROM on, until no
        new entry of PREFIX came for QUIET seconds (at most TIMEOUT);
        T is the moment (epoch seconds) a pause was answered.  Prints
        "BEFORE AFTER LATENCY SEEN": the entries of PREFIX the sink kept
        before T and after it (in flight), the sink's time of the last
        one minus T (0 when none came after T), and the same from the
        moment this poll saw it (50 ms resolution)
    campaign_tool.py flowing DIR FROM PREFIX TIMEOUT
        returns as soon as a new entry of PREFIX comes (read every 20 ms,
        at most TIMEOUT seconds): the campaign is being sent right now;
        exits 1 when none came
    campaign_tool.py sample DIR FROM PREFIX
        the .eml file name of the first entry of PREFIX after line FROM
"""

import datetime
import json
import os
import sys
import time


def epoch(iso):
    return datetime.datetime.strptime(
        iso.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z").timestamp()


class Log:
    """log.jsonl read incrementally, from line FROM on"""

    def __init__(self, directory, start):
        self.path = os.path.join(directory, "log.jsonl")
        self.skip = start
        self.pos = 0
        self.rest = b""

    def new(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except FileNotFoundError:
            return []
        self.pos += len(data)
        data = self.rest + data
        lines = data.split(b"\n")
        self.rest = lines.pop()          # a line not yet complete
        out = []
        for line in lines:
            if self.skip > 0:
                self.skip -= 1
                continue
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out


def sink(directory, start, prefix):
    n, rcpts, first, last = 0, set(), 0.0, 0.0
    for e in Log(directory, start).new():
        if not e.get("rcpt", "").startswith(prefix):
            continue
        t = epoch(e["time"])
        n += 1
        rcpts.add(e["rcpt"])
        first = t if n == 1 else min(first, t)
        last = max(last, t)
    print("%d %d %.3f %.3f" % (n, len(rcpts), first, last))


def watch(directory, start, prefix, t_pause, quiet, timeout):
    log = Log(directory, start)
    before = after = 0
    last = seen = 0.0
    t_end = time.time() + timeout
    t_quiet = time.time() + quiet
    while time.time() < t_end and time.time() < t_quiet:
        now = time.time()
        for e in log.new():
            if not e.get("rcpt", "").startswith(prefix):
                continue
            t = epoch(e["time"])
            t_quiet = now + quiet
            if t <= t_pause:
                before += 1
            else:
                after += 1
                last = max(last, t)
                seen = now
        time.sleep(0.05)
    print("%d %d %.3f %.3f" % (before, after,
                               last - t_pause if after else 0.0,
                               seen - t_pause if after else 0.0))


def flowing(directory, start, prefix, timeout):
    log = Log(directory, start)
    log.new()
    t_end = time.time() + timeout
    while time.time() < t_end:
        for e in log.new():
            if e.get("rcpt", "").startswith(prefix):
                return 0
        time.sleep(0.02)
    return 1


def sample(directory, start, prefix):
    for e in Log(directory, start).new():
        if e.get("rcpt", "").startswith(prefix):
            print(e["file"])
            return


def main(argv):
    if len(argv) == 5 and argv[1] == "sink":
        sink(argv[2], int(argv[3]), argv[4])
    elif len(argv) == 8 and argv[1] == "watch":
        watch(argv[2], int(argv[3]), argv[4], float(argv[5]),
              float(argv[6]), float(argv[7]))
    elif len(argv) == 6 and argv[1] == "flowing":
        return flowing(argv[2], int(argv[3]), argv[4], float(argv[5]))
    elif len(argv) == 5 and argv[1] == "sample":
        sample(argv[2], int(argv[3]), argv[4])
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
