#!/usr/bin/env python3
"""gaps.py TRACE [FD]: the spells in which a fetch's socket stays silent
while mailfetchd does its local durable work (issue 20, "batch-end pipeline
gap").

TRACE is the output of

    strace -f -tt -e trace=read,write,fsync,rename -o TRACE mailfetchd ... --once

and FD the socket's descriptor (default 8: POP3S; IMAPS opens one more
file first, 9). A spell starts at the last read of the socket before a run
of fsync calls and ends at the first read after it, counted only when a
write to the socket (a command) comes in between: the server had nothing
left to send and waited for the next command. Spells in which bytes come
in again without a new command (the server still had answers to send)
are not counted. A spell with a rename(2) in it (the state file saved) is
a batch's checkpoint; one without, a Maildir sync of the staged files
kept open (MAILDIR_MAX_OPEN) in the middle of a batch. Times under strace are inflated; compare the share of
the session, and the count.
"""
import re
import sys


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    sock = sys.argv[2] if len(sys.argv) == 3 else '8'
    rows = []
    with open(sys.argv[1]) as f:
        for line in f:
            m = re.match(r'\d+\s+(\d+):(\d+):([\d.]+) (\w+)\((\d+)?', line)
            if m:
                t = int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
                rows.append((t, m[4], m[5]))
    if not rows:
        sys.exit("gaps.py: no strace -tt lines in " + sys.argv[1])
    last_read = start = wrote = None
    saved = False
    spells = []
    for t, call, fd in rows:
        if call == 'read' and fd == sock:
            if start is not None and wrote is not None:
                spells.append((start, wrote - start, t - start, saved))
            start = wrote = None
            last_read = t
        elif call == 'fsync' and start is None and last_read is not None:
            start = last_read
            saved = False
        elif call == 'rename' and start is not None:
            saved = True
        elif call == 'write' and fd == sock and start is not None and \
                wrote is None:
            wrote = t
    t0, t1 = rows[0][0], rows[-1][0]
    idle = sum(s[2] for s in spells)
    ck = [s for s in spells if s[3]]
    print("session %.3f s; %d silent spells, %.3f s (%.0f%%) without a "
          "byte in; %d of them checkpoints, %.3f s" %
          (t1 - t0, len(spells), idle,
           100 * idle / (t1 - t0) if t1 > t0 else 0, len(ck),
           sum(s[2] for s in ck)))
    for s in spells:
        print("  at %7.3f s: next command after %6.1f ms, next byte after "
              "%6.1f ms%s" % (s[0] - t0, s[1] * 1000, s[2] * 1000,
                              " (checkpoint)" if s[3] else ""))


if __name__ == '__main__':
    main()
