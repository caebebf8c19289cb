#!/usr/bin/env python3
"""faultlib.py: helpers for the fault-injection suite (tests/fault/*.sh).

usage:
  faultlib.py corpus N SEED MAILDIR MANIFEST
      N messages (2-20 KB, LF line ends, unique Message-IDs, body lines that
      start with "." and "From " for the dot-stuffing paths) written into
      MAILDIR/new (a server-side Maildir: Dovecot's on-disk form). MANIFEST
      gets one line per message: sha256 <TAB> message-id. Deterministic for
      a given N and SEED.
  faultlib.py compare MANIFEST MAILDIR [--agent]
      Compare a delivered Maildir (new/ and cur/, every subfolder) with the
      manifest by Message-ID and body hash; prints one line
        delivered=N missing=N duplicate=N partial=N tmp=N
      where partial counts files that are byte-identical to no message of
      the manifest, and tmp counts files left in any tmp/. Exit status 0
      when missing, duplicate and partial are all 0, else 1. --agent: the
      Maildir is a delivery agent's (deliver = mda or lmtp); the header
      lines put before the message's own (Dovecot's Return-Path and
      Delivered-To, mda_id_header's X-Mailfetchd-Id) are left out of the
      hash.
  faultlib.py killloop SEED KILLS TOTAL MAILDIR LOG -- CMD...
      Run CMD again and again; each run is killed with SIGKILL after a
      delay drawn from random.Random(SEED), until KILLS runs were killed
      and then one run ended on its own (or until a run ends on its own
      earlier: the fetch is complete, kills=N says how many it took). The delays are uniform in
      [0.02 s, hi], hi adapted after each kill so that the TOTAL messages
      (counted in MAILDIR's new/ and cur/) arrive over about KILLS kills:
      hi grows after a kill that delivered nothing, shrinks after one that
      delivered more than its share. So the kills cluster around the batch
      checkpoints, where a crash matters most, and the quota is met
      before the fetch is done. A run that ends before its kill is a
      completed run; its exit status must be 0 or 1 (new mail, nothing
      new). Every run's stderr is appended to LOG. Prints
      "runs=N kills=N completed=N bad=N last=RC"; exit status 0 when no
      run ended with another status.
  faultlib.py peakrun ERRFILE -- CMD...
      Run CMD (stdout discarded, stderr to ERRFILE), polling its
      /proc/PID/status VmHWM; prints "RC PEAK_KB" (RC negative for a
      signal).
"""
import hashlib
import os
import random
import signal
import subprocess
import sys
import time

WORDS = ("mail fetch daemon kill restart journal fsync rename maildir "
         "server client state durable exactly once never lost doubled "
         "report figure budget invoice quarter release the of and to").split()


def make_message(rnd, seed, i):
    """One message, LF line ends, 2-20 KB."""
    target = rnd.randint(2000, 20000)
    mid = "<fault-%s-%05d@fault.example>" % (seed, i)
    head = ("From: Fault Sender <sender@fault.example>\n"
            "To: Receiver <rcpt@fault.example>\n"
            "Subject: fault corpus %s message %d\n"
            "Date: Mon, 3 Feb 2025 10:00:00 +0000\n"
            "Message-ID: %s\n\n" % (seed, i, mid))
    lines = [head.rstrip("\n")]
    size = len(head)
    while size < target:
        n = rnd.randint(0, 14)
        line = " ".join(rnd.choice(WORDS) for _ in range(n))
        r = rnd.random()
        if r < 0.04:
            line = "." + line
        elif r < 0.06:
            line = ".."
        elif r < 0.08:
            line = "From " + line
        lines.append(line)
        size += len(line) + 1
    lines.append("end of message %d" % i)
    return mid, ("\n".join(lines) + "\n").encode()


def cmd_corpus(argv):
    n, seed, maildir, manifest = int(argv[0]), argv[1], argv[2], argv[3]
    rnd = random.Random("corpus-" + seed)
    for d in ("new", "cur", "tmp"):
        os.makedirs(os.path.join(maildir, d), exist_ok=True)
    now = int(time.time())
    with open(manifest, "w") as man:
        for i in range(1, n + 1):
            mid, data = make_message(rnd, seed, i)
            name = "%d.M%dP%d.faultcorpus" % (now, i, os.getpid())
            with open(os.path.join(maildir, "new", name), "wb") as f:
                f.write(data)
            man.write("%s\t%s\n" % (hashlib.sha256(data).hexdigest(), mid))
    return 0


def maildir_dirs(top):
    """The Maildir top and every Maildir++ subfolder under it."""
    out = [top]
    try:
        for e in sorted(os.listdir(top)):
            p = os.path.join(top, e)
            if e.startswith(".") and os.path.isdir(os.path.join(p, "cur")):
                out.append(p)
    except OSError:
        pass
    return out


# What an agent's delivery puts before the message's first header line.
AGENT_PREFIX = (b"Return-Path:", b"Delivered-To:", b"X-Mailfetchd-Id:")


def agent_strip(data):
    """data without the leading header lines of AGENT_PREFIX."""
    while data.startswith(AGENT_PREFIX):
        nl = data.find(b"\n")
        if nl < 0:
            return b""
        data = data[nl + 1:]
    return data


def cmd_compare(argv):
    manifest, maildir = argv[0], argv[1]
    agent = argv[2:] == ["--agent"]
    want = {}
    with open(manifest) as man:
        for line in man:
            h, mid = line.rstrip("\n").split("\t")
            want[h] = mid
    seen = {}
    partial = tmp = delivered = 0
    bad = []
    for d in maildir_dirs(maildir):
        for sub in ("new", "cur"):
            p = os.path.join(d, sub)
            if not os.path.isdir(p):
                continue
            for e in os.listdir(p):
                with open(os.path.join(p, e), "rb") as f:
                    data = f.read()
                if agent:
                    data = agent_strip(data)
                h = hashlib.sha256(data).hexdigest()
                delivered += 1
                if h in want:
                    seen[h] = seen.get(h, 0) + 1
                else:
                    partial += 1
                    bad.append(os.path.join(p, e))
        t = os.path.join(d, "tmp")
        if os.path.isdir(t):
            tmp += len(os.listdir(t))
    missing = sum(1 for h in want if h not in seen)
    dup = sum(c - 1 for c in seen.values() if c > 1)
    print("delivered=%d missing=%d duplicate=%d partial=%d tmp=%d"
          % (delivered, missing, dup, partial, tmp))
    for b in bad[:5]:
        print("partial or foreign: %s" % b, file=sys.stderr)
    return 0 if missing == dup == partial == 0 else 1


def count_delivered(maildir):
    n = 0
    for sub in ("new", "cur"):
        try:
            n += len(os.listdir(os.path.join(maildir, sub)))
        except OSError:
            pass
    return n


def cmd_killloop(argv):
    sep = argv.index("--")
    seed, kills, total, maildir, log = argv[:sep]
    cmd = argv[sep + 1:]
    rnd = random.Random(int(seed))
    kills, total = int(kills), int(total)
    lo, hi = 0.02, 0.3
    runs = killed = completed = bad = 0
    last = None
    # A run that is not killed must end: the whole loop is bounded.
    cap = kills * 20 + 50
    with open(log, "ab") as logf:
        while runs < cap:
            want_kill = killed < kills
            delay = rnd.uniform(lo, hi)
            before = count_delivered(maildir)
            runs += 1
            logf.write(b"=== run %d%s\n" % (runs, (" kill after %.3fs" % delay
                                                   ).encode() if want_kill else b""))
            logf.flush()
            p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=logf)
            try:
                rc = p.wait(timeout=delay if want_kill else 120)
            except subprocess.TimeoutExpired:
                if want_kill:
                    p.send_signal(signal.SIGKILL)
                    p.wait()
                    killed += 1
                    now = count_delivered(maildir)
                    # Messages only appear at batch checkpoints (hundreds
                    # at once), so steer by progress, not per-kill yield:
                    # behind the kill quota, reach further; ahead of it,
                    # pull back. The kills then spread over every batch.
                    if now == before and killed / kills > now / total:
                        hi = min(hi * 1.25, 30.0)
                    elif now > before and now / total > killed / kills:
                        hi = max(hi * 0.7, lo * 2)
                    continue
                p.kill()
                p.wait()
                rc = -9
            last = rc
            if rc not in (0, 1):
                bad += 1
                logf.write(b"=== run %d ended with status %d\n" % (runs, rc))
                if bad >= 3:
                    break
            else:
                completed += 1
                # Ended on its own: everything was fetched, the loop is over
                # (later kills would only hit runs with nothing to do).
                break
            if not want_kill:
                break
    print("runs=%d kills=%d completed=%d bad=%d last=%s"
          % (runs, killed, completed, bad, last))
    return 0 if bad == 0 and last in (0, 1) else 1


def peak_rss(p, pause=0.005):
    """Polls the VmHWM of the running process p until it ends; returns
    the highest value seen, in KB (also used by tests/chaos)."""
    peak = 0
    path = "/proc/%d/status" % p.pid
    while p.poll() is None:
        try:
            with open(path) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except (OSError, ValueError):
            pass
        time.sleep(pause)
    return peak


def cmd_peakrun(argv):
    sep = argv.index("--")
    errfile = argv[0]
    cmd = argv[sep + 1:]
    with open(errfile, "wb") as err:
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        peak = peak_rss(p)
    print("%d %d" % (p.returncode, peak))
    return 0


def main():
    cmds = {"corpus": cmd_corpus, "compare": cmd_compare,
            "killloop": cmd_killloop, "peakrun": cmd_peakrun}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        print(__doc__, file=sys.stderr)
        return 2
    return cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
