#!/usr/bin/env python3
"""idle_bench.py: IMAP IDLE push latency and wake-up, for bench/idle-*.sh.

  idle_bench.py latency --port P --ca CA --user U[,U...] --password PW
                --watch DIR[,DIR...] [--samples 100] [--names a,b]
                [--raw FILE]
      A bare IDLE client (the floor) idles on each user's INBOX; each
      watched Maildir belongs to a client fetching from the user at the
      same position in --user (one user: all of them). Each sample
      APPENDs one message to one user's INBOX (round-robin over the
      users) and times, from the APPEND's tagged OK, that user's bare
      client's untagged EXISTS and each of its clients' Maildir new/ (or
      cur/) gaining a file (os.listdir every 1 ms; the loop's own cost is
      measured and printed). Prints the median and p99 of each, and of
      each client's difference to its floor in the same sample, as a
      table and as TSV lines starting with "#tsv". A client that does
      not deliver within 30 s is counted as a miss (in the last column,
      "-" in FILE) and left out of its figures; 3 misses in a row end
      the run. --raw writes every sample's times (ms after the APPEND's
      OK) to FILE.

  idle_bench.py wake --port P --ca CA --password-file F --users LIST
                --watch-root DIR [--bare]
      Scale: APPENDs one message to each user of LIST (comma separated,
      password in F, the same for all) as fast as possible and prints the
      time from the first APPEND's OK until the last watched Maildir
      (DIR/USER/Maildir) holds a new file; with --bare, 100 bare IDLE
      clients are set up first and the time until the last EXISTS is
      printed instead.

Stdlib only. Timings are time.monotonic().
"""

import argparse
import os
import socket
import ssl
import statistics
import sys
import threading
import time

MSG = (b"From: bench@example.org\r\nTo: u@example.org\r\n"
       b"Subject: idle bench %d\r\nMessage-ID: <idle-%d-%d@bench>\r\n\r\n"
       b"body %d\r\n")


class Imap:
    """One IMAPS connection; just enough IMAP for the benchmark."""

    def __init__(self, port, ca, user, password):
        ctx = ssl.create_default_context(cafile=ca)
        raw = socket.create_connection(("127.0.0.1", port), timeout=60)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        self.f = self.sock.makefile("rb")
        self.n = 0
        self.line()
        self.cmd('LOGIN "%s" "%s"' % (user, password))

    def line(self):
        line = self.f.readline()
        if not line:
            raise EOFError("connection closed")
        return line

    def send(self, data):
        self.sock.sendall(data)

    def cmd(self, text, literal=None):
        self.n += 1
        tag = b"b%d" % self.n
        if literal is None:
            self.send(tag + b" " + text.encode() + b"\r\n")
        else:
            self.send(tag + b" " + text.encode() +
                      b" {%d}\r\n" % len(literal))
            if not self.line().startswith(b"+"):
                raise RuntimeError("no continuation for the literal")
            self.send(literal + b"\r\n")
        while True:
            line = self.line()
            if line.startswith(tag + b" "):
                if not line.startswith(tag + b" OK"):
                    raise RuntimeError(line.decode(errors="replace"))
                return

    def idle(self):
        self.cmd("SELECT INBOX")
        self.n += 1
        self.send(b"b%d IDLE\r\n" % self.n)
        while not self.line().startswith(b"+"):
            pass


def count(dirs):
    return sum(len(os.listdir(os.path.join(d, s))) for d in dirs
               for s in ("new", "cur"))


def pct(xs, p):
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


TIMEOUT = 30      # s a sample waits for every client
GIVE_UP = 3       # misses in a row: the client is stuck or gone


class Target:
    """One Dovecot user: its bare IDLE client (the floor), the connection
    that APPENDs, and the clients (name, Maildir) fetching from it."""

    def __init__(self, a, user):
        self.user = user
        self.names = []
        self.dirs = []
        self.base = []
        self.misses = []
        self.appended = 0
        self.exists = []
        self.cv = threading.Condition()
        self.bare = Imap(a.port, a.ca, user, a.password)
        self.bare.idle()
        threading.Thread(target=self.reader, daemon=True).start()
        self.app = Imap(a.port, a.ca, user, a.password)

    def add(self, name, d):
        self.names.append(name)
        self.dirs.append(d)
        self.base.append(count([d]))
        self.misses.append(0)

    def reader(self):
        try:
            while True:
                line = self.bare.line()
                if b" EXISTS" in line:
                    with self.cv:
                        self.exists.append(time.monotonic())
                        self.cv.notify_all()
        except (EOFError, OSError):
            pass

    def sample(self, i):
        """APPENDs one message; returns the floor's and each client's
        time after the APPEND's OK in ms, None for a client that did not
        deliver within TIMEOUT. A client's file counts when its Maildir
        holds one per APPEND so far: a late file from a missed sample
        is not taken for this one's."""
        with self.cv:
            nex = len(self.exists)
        self.appended += 1
        want = [b + self.appended for b in self.base]
        self.app.cmd("APPEND INBOX", MSG % (i, os.getpid(), i, i))
        t_ok = time.monotonic()
        got = [None] * len(self.dirs)
        deadline = t_ok + TIMEOUT
        while None in got and time.monotonic() < deadline:
            for k, d in enumerate(self.dirs):
                if got[k] is None and count([d]) >= want[k]:
                    got[k] = time.monotonic()
            time.sleep(0.001)
        with self.cv:
            self.cv.wait_for(lambda: len(self.exists) > nex,
                             timeout=TIMEOUT)
            t_bare = self.exists[nex] if len(self.exists) > nex else None
        if t_bare is None:
            sys.exit("sample %d: no EXISTS on %s within %d s"
                     % (i, self.user, TIMEOUT))
        for k, n in enumerate(self.names):
            if got[k] is not None:
                self.misses[k] = 0
                continue
            self.misses[k] += 1
            print("sample %d: nothing from %s within %d s"
                  % (i, n, TIMEOUT), file=sys.stderr, flush=True)
            if self.misses[k] >= GIVE_UP:
                sys.exit("%s missed %d samples in a row" % (n, GIVE_UP))
        return ((t_bare - t_ok) * 1000,
                [None if t is None else (t - t_ok) * 1000 for t in got])


def report(name, xs, floor):
    """One row: median and p99 of the landed samples, and of their
    differences to the floor; samples that never landed are counted."""
    pairs = [(x, b) for x, b in zip(xs, floor) if x is not None]
    ys = [x for x, _ in pairs]
    d = [x - b for x, b in pairs]
    missed = len(xs) - len(ys)
    if not ys:
        print("%-22s %10s %10s %14s %14s %7d" % (name, "-", "-", "-", "-",
                                                missed))
        return
    print("%-22s %10.1f %10.1f %14.1f %14.1f %7d" % (
        name, statistics.median(ys), pct(ys, 99),
        statistics.median(d), pct(d, 99), missed))
    print("#tsv\t%s\t%.1f\t%.1f\t%.1f\t%.1f\t%d" % (
        name, statistics.median(ys), pct(ys, 99), statistics.median(d),
        pct(d, 99), missed))


def latency(a):
    watch = a.watch.split(",") if a.watch else []
    names = a.names.split(",") if a.names else watch
    users = a.user.split(",")
    if len(users) == 1:
        users = users * len(names)
    if len(users) != len(names):
        sys.exit("--user: one user, or one per watched Maildir")
    targets = {}
    for u, n, d in zip(users, names, watch):
        if u not in targets:
            targets[u] = Target(a, u)
        targets[u].add(n, d)
    targets = list(targets.values())
    # The polling loop's own cost: one listdir pass per iteration.
    t0 = time.monotonic()
    for _ in range(200):
        count(watch)
        time.sleep(0.001)
    loop_ms = (time.monotonic() - t0) * 1000 / 200
    floor = {t.user: [] for t in targets}
    res = {n: [] for n in names}
    for i in range(a.samples):
        # Round-robin over the users: each APPEND wakes one user's
        # clients and its floor, in the same run as the others.
        for t in targets:
            b, xs = t.sample(i)
            floor[t.user].append(b)
            for n, x in zip(t.names, xs):
                res[n].append(x)
            # Let every session's notification timer run out (clients
            # that mark the message \Seen cause one more change ~0.5 s
            # later), so each sample starts from the same idle state.
            time.sleep(1.5 + (i % 5) * 0.05)
    if a.raw:
        cols = []
        for t in targets:
            cols.append(("bare/" + t.user, floor[t.user]))
            cols += [(n, res[n]) for n in t.names]
        with open(a.raw, "w") as f:
            f.write("sample\t%s\n" % "\t".join(c[0] for c in cols))
            for i in range(a.samples):
                f.write("%d\t%s\n" % (i, "\t".join(
                    "-" if c[1][i] is None else "%.1f" % c[1][i]
                    for c in cols)))
    print("samples %d per client, %d user(s); directory polling loop "
          "%.2f ms per pass" % (a.samples, len(targets), loop_ms))
    print("%-22s %10s %10s %14s %14s %7s" % (
        "client", "median ms", "p99 ms", "median-floor", "p99-floor",
        "missed"))
    for t in targets:
        fl = floor[t.user]
        report("bare" if len(targets) == 1 else "bare/" + t.user, fl, fl)
        for n in t.names:
            report(n, res[n], fl)


def wake(a):
    pw = open(a.password_file).read().strip()
    users = a.users.split(",")
    conns = []
    if a.bare:
        for u in users:
            c = Imap(a.port, a.ca, u, pw)
            c.idle()
            c.sock.setblocking(True)
            conns.append(c)
        seen = [None] * len(conns)
    else:
        dirs = [os.path.join(a.watch_root, u, "Maildir") for u in users]
        before = [count([d]) for d in dirs]
    app = [Imap(a.port, a.ca, u, pw) for u in users]
    t_first = None
    for i, c in enumerate(app):
        c.cmd("APPEND INBOX", MSG % (i, os.getpid(), i, i))
        if t_first is None:
            t_first = time.monotonic()
    deadline = time.monotonic() + 120
    if a.bare:
        import selectors
        sel = selectors.DefaultSelector()
        for k, c in enumerate(conns):
            sel.register(c.sock, selectors.EVENT_READ, k)
        while None in seen and time.monotonic() < deadline:
            for key, _ in sel.select(1):
                k = key.data
                line = conns[k].line()
                if b" EXISTS" in line and seen[k] is None:
                    seen[k] = time.monotonic()
                    sel.unregister(conns[k].sock)
        last = max(s for s in seen if s is not None)
        print("#tsv\tbare\t%d\t%d\t%.1f" % (len(users),
              sum(s is not None for s in seen), (last - t_first) * 1000))
        return
    done = [None] * len(dirs)
    while None in done and time.monotonic() < deadline:
        for k, d in enumerate(dirs):
            if done[k] is None and count([d]) > before[k]:
                done[k] = time.monotonic()
        time.sleep(0.001)
    last = max(s for s in done if s is not None)
    print("#tsv\tmailfetchd\t%d\t%d\t%.1f" % (len(users),
          sum(s is not None for s in done), (last - t_first) * 1000))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="mode", required=True)
    lat = sub.add_parser("latency")
    lat.add_argument("--samples", type=int, default=100)
    lat.add_argument("--watch", default="")
    lat.add_argument("--names", default="")
    lat.add_argument("--raw", default="")
    lat.add_argument("--user", required=True)
    lat.add_argument("--password", required=True)
    wk = sub.add_parser("wake")
    wk.add_argument("--users", required=True)
    wk.add_argument("--password-file", required=True)
    wk.add_argument("--watch-root", default="")
    wk.add_argument("--bare", action="store_true")
    for s in (lat, wk):
        s.add_argument("--port", type=int, required=True)
        s.add_argument("--ca", required=True)
    a = p.parse_args()
    latency(a) if a.mode == "latency" else wake(a)


if __name__ == "__main__":
    main()
