#!/bin/bash
# oracle_pop3x.sh: review r19's POP3 misbehaviours in the chaos world
# (tests/chaos/README.md, "POP3 beyond the basics") do what they are
# named for on the wire, are off in a history without "pop3x" (the short
# mode's histories unchanged), and the oracle judges them as the
# documentation says: copies allowed without UIDL and for a flap with
# keep = yes (not with keep = no), left-on-server, the budget record.
# No mailfetchd: a client in Python talks to the model. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/tap.sh"
command -v python3 >/dev/null || tap_bail "python3 not found"
T=$(mktemp -d "${TMPDIR:-/tmp}/mfd-pop3x.XXXXXX") || tap_bail "mktemp failed"
tap_cleanup_add 'rm -rf "$T"'

out=$(python3 - "$top_srcdir/tests/chaos" "$T" <<'PY' 2>&1
import os, random, socket, sys
sys.path.insert(0, sys.argv[1])
import chaos, world

class Log(world.Log):
    pass

def account(force, **opts):
    o = {"keep": False, "max_size": chaos.MAX_MSG, "pop3x": True}
    o.update(opts)
    a = world.PopAccount("a1", "pop3-delete", "pop3", o, Log(),
                         random.Random(1), os.path.join(sys.argv[2], "md"))
    a.seed, a.fault_rate = 7, 1.0
    a.xrnd = random.Random(7)
    a.force = {(1, n): 0 for n in force}
    for _ in range(3):
        a.put(a.new_message().key)
    return a

def session(a, cmds):
    srv = world.Server(a, world.pop3_handler)
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    f = s.makefile("rb")
    out = [f.readline()]
    for cmd in ["USER u", "PASS p"] + cmds:
        s.sendall(cmd.encode() + b"\r\n")
        line = f.readline()
        out.append(line)
        if line.startswith(b"+OK") and cmd.split()[0] in ("CAPA", "UIDL",
                                                          "LIST"):
            while line not in (b".\r\n", b""):
                line = f.readline()
                out.append(line)
    s.close()
    srv.close()
    return b"".join(out).decode()

a = account([], nouidl=True)
t = session(a, ["CAPA", "UIDL", "QUIT"])
print("nouidl capa-uidl=%s uidl-err=%s" % ("UIDL\r\n" in t,
      "-ERR unknown command" in t))
a = account(["uidl-temp"])
print("uidl-temp", "-ERR [SYS/TEMP]" in session(a, ["CAPA", "UIDL", "QUIT"]))
a = account(["list-empty"])
t = session(a, ["STAT", "LIST", "UIDL", "QUIT"])
print("list-empty stat0=%s lines=%d" % ("+OK 0 0" in t, t.count(" U7.")))
a = account(["list-omit"])
t = session(a, ["LIST", "UIDL", "QUIT"])
import re
print("list-omit list=%d uidl=%d" % (len(re.findall(r"(?m)^\d+ \d+\r$", t)),
                                     len(re.findall(r"(?m)^\d+ U7\.", t))))
a = account(["list-flap"])
t = session(a, ["LIST", "QUIT"])
sizes = [int(l.split()[1]) for l in t.split("\r\n") if l[:1].isdigit()]
real = [len(a.msgs[k].data) for _, k in a.drop]
print("list-flap off-by=%s flapped=%d" % (sorted({abs(x - y) <= 3 and x != y
      for x, y in zip(sizes, real)}), len(a.flapped)))
a = account(["dele-err"])
t = session(a, ["DELE 1", "DELE 2", "QUIT"])
print("dele-err refused=%d held=%d" % (t.count("-ERR"), len(a.drop)))
a = account(["dele-err"], nouidl=True)
a.ever = {k: {(0, i)} for i, (_, k) in enumerate(a.drop)}
t = session(a, ["RETR 1", "DELE 1", "QUIT"])
print("nouidl dele-err extra=%s" % sorted(a.extra_ok.values()))
a = account([], nouidl=True)
t = session(a, ["RETR 1", "RETR 2"])		# no QUIT: not committed
import time; time.sleep(0.3)
print("nouidl cut extra=%s" % sorted(a.extra_ok.values()))

# The short mode's histories: no r19 draw in them, all off in a run.
h = chaos.make_history(1003, False)
r = chaos.Run(h, "/bin/true", sys.argv[2])
print("short-mode off=%s pop3x-in-history=%s" % (
    chaos.POP3X_DRAWS <= r.off, "pop3x" in h or any(
        "pop3x" in x or "nouidl" in x for x in h["accounts"])))
hx = chaos.make_history(1003, False, True)
rx = chaos.Run(hx, "/bin/true", sys.argv[2])
print("pop3x off=%s" % sorted(chaos.POP3X_DRAWS & rx.off))

# The oracle.
r.reader_gone = set()
a = account([])
ks = [k for _, k in a.drop]
a.extra_ok[ks[0]] = 1
print("allowed nouidl-extra=%d" % r.copies_allowed(a, ks[0]))
a.flapped.add(ks[1])
print("allowed flap keep=no=%d" % r.copies_allowed(a, ks[1]))
a.opts["keep"] = True
print("allowed flap keep=yes=%d" % r.copies_allowed(a, ks[1]))
a.opts["keep"] = False
a.ever = {ks[0]: {(0, 1)}, ks[1]: {(0, 2)}, ks[2]: {(0, 3)}}
a.msgs[ks[1]].why = "a duplicate UIDL"
r.reader_gone = {3}
r.log = a.log
r.judge_left(a, set(ks))
print("left=%s" % [v[1].split()[1] for v in a.log.violations
                   if v[0] == "left-on-server"])
os.makedirs(os.path.join(r.dir, "state"), exist_ok=True)
with open(os.path.join(r.dir, "state", "a1.state"), "w") as f:
    f.write("budget 1796650000:40000,1796653600:25000\n")
a.opts["daily_limit"] = 61440
r.judge_budget_record(a)
print("record=%d budget=%s" % (r.budget_record(a), [
    v[0] for v in a.log.violations if v[0] == "budget-record"]))
PY
)
tap_diag "$out"
tap_like "$out" 'nouidl capa-uidl=False uidl-err=True' \
    "nouidl: CAPA without UIDL, UIDL answered -ERR"
tap_like "$out" 'uidl-temp True' "uidl-temp: UIDL answered -ERR [SYS/TEMP]"
tap_like "$out" 'list-empty stat0=True lines=0' \
    "list-empty: STAT 0, UIDL and LIST list nothing"
tap_like "$out" 'list-omit list=2 uidl=3' \
    "list-omit: LIST leaves one message out, UIDL names it"
tap_like "$out" 'list-flap off-by=\[True\] flapped=3' \
    "list-flap: every LIST size 1-3 octets off, noted"
tap_like "$out" 'dele-err refused=[12] held=[12]\b' \
    "dele-err: a refused DELE leaves the message on the server"
tap_like "$out" 'nouidl dele-err extra=\[1\]' \
    "without UIDL a refused DELE allows one more copy"
tap_like "$out" 'nouidl cut extra=\[1, 1\]' \
    "without UIDL a session not committed allows one more copy of what it sent"
tap_like "$out" 'short-mode off=True pop3x-in-history=False' \
    "a history without pop3x draws none of them"
tap_like "$out" 'pop3x off=\[\]' "a history with pop3x draws them all"
tap_like "$out" 'allowed nouidl-extra=2' "copies allowed: one more (extra_ok)"
tap_like "$out" 'allowed flap keep=no=1' "a flap with keep = no costs nothing"
tap_like "$out" 'allowed flap keep=yes=2' \
    "a flap with keep = yes: one duplicate allowed"
tap_like "$out" "left=\\['a1-7-1'\\]" \
    "left-on-server: delivered and held, but a duplicate UIDL's or a moved one"
tap_like "$out" "record=65000 budget=\\['budget-record'\\]" \
    "budget-record: the record's slots summed, over the limit judged"
tap_done
