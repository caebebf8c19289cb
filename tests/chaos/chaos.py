#!/usr/bin/env python3
"""chaos.py: randomized histories against mailfetchd, judged by one oracle
(tests/chaos/README.md). Python 3, standard library only.

usage: chaos.py [--binary PATH] [--histories N] [--minutes M] [--seed N]
                [--history FILE] [--workdir DIR] [--no-shrink] [--quiet]
                [--pop3-extra]

Environment (the same knobs): MFD_CHAOS_BINARY, MFD_CHAOS_SEED (replay one
history), MFD_CHAOS_LONG=1 (at least an hour and 10,000 sessions),
MFD_CHAOS_HISTORIES, MFD_CHAOS_HISTORY (replay a saved, minimised history),
MFD_CHAOS_KEEP=1 (keep the work directories), MFD_CHAOS_POP3X=1 (the
POP3 misbehaviours of review r19, as --pop3-extra; the long mode draws
them anyway).

Prints one line per history and, for every failing one, its seed, the
violations and a minimised history; a summary line at the end:
  histories=N sessions=N kills=N signals=N misbehaviours=N violations=N
Exit status 0 when no history broke a promise.
"""
import json
import os
import queue as queue_mod
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import world  # noqa: E402

ONCE_BOUND = 45.0	# seconds a --once may take (timeout = 3s)
STOP_BOUND = 30.0	# seconds the daemon may take to stop after SIGTERM
RSS_CEILING_KB = 64 * 1024
MAX_MSG = 200 * 1024

IMAP_KINDS = ["imap-keep", "imap-markread", "imap-delete", "imap-trash",
              "imap-unseen", "imap-new", "imap-gmail", "imap-budget"]
POP_KINDS = ["pop3-keep", "pop3-delete"]
# Misbehaviours that find defects of main not fixed yet (README.md,
# "Known defects"): left out unless MFD_CHAOS_ALL=1, so that the short
# mode guards everything else.
KNOWN_DEFECTS = set()
# The POP3 misbehaviours review r19 found outside the model (README.md,
# "POP3 beyond the basics"): drawn in the long mode and with
# MFD_CHAOS_POP3X=1 (--pop3-extra), a history's "pop3x"; "off" otherwise,
# so that the short mode's histories stay what they were. nouidl,
# pop3-budget and mid-size are drawn per account, the others per
# connection.
POP3X_DRAWS = {"nouidl", "pop3-budget", "mid-size", "maxsize", "uidl-temp",
               "dele-err", "dele-err-msg", "list-omit", "listing-omit",
               "list-empty", "list-flap", "list-lie"}
POP3X_LIMITS = [30 * 1024, 60 * 1024, 150 * 1024]
# TLS misbehaviours after which --once must fail (exit neither 0 nor 1),
# and words its output must hold (README.md, "The oracle").
TLS_MUST_FAIL = {"bad-cert-name": "certificate", "bad-cert-ca": "certificate",
                 "bad-cert-key": "fingerprint",
                 "starttls-refused": "without TLS",
                 "starttls-injection": "injection", "tls-stall": None,
                 "tls-drip": None, "tls-eof-before-answer": None,
                 "tls-eof-before-tagged": None, "cut-in-record": None}
# When each TLS misbehaviour takes effect on its connection: one drawn
# with another of an earlier stage never does (an injection refused
# before the handshake means no certificate is seen; a handshake that
# stalls or drips never shows it), so only the first is explained.
TLS_STAGE = {"starttls-refused": 0, "starttls-injection": 0,
             "tls-stall": 1, "tls-drip": 1,
             "bad-cert-name": 2, "bad-cert-ca": 2, "bad-cert-key": 2,
             "tls-eof-before-answer": 3, "tls-eof-before-tagged": 3,
             "cut-in-record": 3}
FAULT_POINTS = ["imap-journaled", "imap-synced", "imap-saved",
                "imap-recovered", "maildir-renamed", "pop3-journaled",
                "pop3-synced", "pop3-saved"]


# ---------------------------------------------------------------- histories

def account_spec(rnd, name, kind):
    o = {"kind": kind, "name": name, "max_size": MAX_MSG}
    if kind.startswith("pop3"):
        o["proto"] = "pop3"
        o["keep"] = kind == "pop3-keep"
        return o
    o["proto"] = "imap"
    o["folders"] = ["INBOX"]
    o["uidplus"] = rnd.random() < 0.6
    o["move"] = rnd.random() < 0.5
    o["idle"] = rnd.random() < 0.6
    o["keep"] = kind not in ("imap-delete", "imap-trash")
    if kind == "imap-keep" or rnd.random() < 0.3:
        o["folders"].append("Lists")
    if kind == "imap-markread":
        o["mark_read"] = True
    if kind == "imap-trash":
        o["trash"] = "Trash"
    if kind == "imap-unseen":
        o["first_fetch"] = "unseen"
        o["keep"] = rnd.random() < 0.5
    if kind == "imap-new":
        o["first_fetch"] = "new"
    if kind == "imap-gmail":
        o["provider"] = "gmail"
        # Three folders over a cap of 2 (one IDLEs, two are polled), or
        # one IDLE folder alone, whose reconnects are easy to count.
        o["folders"] = ["INBOX", "Lists", "Work"] if rnd.random() < 0.5 \
            else ["INBOX"]
        o["idle"] = True
        o["max_connections"] = 2
    if kind == "imap-budget":
        o["daily_limit"] = 60 * 1024
        o["idle"] = True
    return o


def draw_transport(seed, spec):
    """tls = none, implicit or starttls, and with TLS sometimes a pinned
    fingerprint: drawn from a source of their own, so that the rest of a
    history is what it was before TLS was modelled (a history without
    "tls" is plain)."""
    r = random.Random("%d/%s/tls" % (seed, spec["name"]))
    spec["tls"] = r.choice(["none", "implicit", "starttls"])
    if spec["tls"] != "none" and r.random() < 0.3:
        spec["pin"] = True


def draw_pop3x(seed, accts):
    """Review r19's account draws, from a source of their own (the rest
    of the history is what it is without them): a POP3 account where
    there is none, half the time; a server without UIDL for keep = no,
    two times in five; a daily_limit, two times in five."""
    r = random.Random("%d/pop3x" % seed)
    if not any(a["proto"] == "pop3" for a in accts) and r.random() < 0.5:
        accts.append(account_spec(r, "a%d" % len(accts),
                                  r.choice(POP_KINDS)))
    for a in accts:
        if a["proto"] != "pop3":
            continue
        a["pop3x"] = True
        if not a["keep"] and r.random() < 0.4:
            a["nouidl"] = True
        if r.random() < 0.4:
            a["daily_limit"] = r.choice(POP3X_LIMITS)


def make_history(seed, long_mode, pop3x=False):
    rnd = random.Random(seed)
    kinds = rnd.sample(IMAP_KINDS, rnd.randint(1, 2))
    if rnd.random() < 0.6:
        kinds.append(rnd.choice(POP_KINDS))
    accts = [account_spec(rnd, "a%d" % i, k) for i, k in enumerate(kinds)]
    if pop3x:
        draw_pop3x(seed, accts)
    for a in accts:
        draw_transport(seed, a)
    steps = []
    nsteps = rnd.randint(4, 9) if long_mode else rnd.randint(3, 6)
    for _ in range(nsteps):
        r = rnd.random()
        if r < 0.40:
            kill = None
            k = rnd.random()
            if k < 0.30:
                kill = ["kill9", round(rnd.uniform(0.01, 0.6), 3)]
            elif k < 0.40:
                kill = ["term", round(rnd.uniform(0.01, 0.5), 3)]
            elif k < 0.62:
                kill = ["fault", "%s:%d" % (rnd.choice(FAULT_POINTS),
                                            rnd.randint(1, 3))]
            steps.append({"op": "once", "kill": kill})
        elif r < 0.62:
            dur = round(rnd.uniform(2.0, 10.0 if long_mode else 5.0), 2)
            if any(a.get("provider") for a in accts):
                # Long enough for IDLE reconnects to show their spacing.
                dur = round(rnd.uniform(8.0, 15.0) if long_mode else
                            rnd.uniform(6.0, 9.0), 2)
            ev = []
            for _ in range(rnd.randint(1, 6)):
                ev.append([round(rnd.uniform(0.2, dur), 2), rnd.choice(
                    ["hup", "fetchnow", "other", "other", "reader",
                     "other"])])
            end = "kill9" if rnd.random() < 0.3 else "term"
            steps.append({"op": "daemon", "dur": dur, "end": end,
                          "events": sorted(ev), "r": rnd.randrange(1 << 30)})
        elif r < 0.80:
            steps.append({"op": "other", "n": rnd.randint(1, 5),
                          "r": rnd.randrange(1 << 30)})
        elif r < 0.90:
            steps.append({"op": "reader", "r": rnd.randrange(1 << 30)})
        else:
            steps.append({"op": "uidv", "how": rnd.choice(
                ["same", "partly", "different"]), "r": rnd.randrange(1 << 30)})
    if pop3x and any(a["proto"] == "pop3" for a in accts):
        # The user lowers max_message_size (r19 23), from a source of its
        # own, one history in eight.
        r = random.Random("%d/pop3x-steps" % seed)
        if r.random() < 0.125:
            steps.insert(r.randint(1, len(steps)),
                         {"op": "maxsize",
                          "max": r.choice([10000, 20000, 50000])})
    h = {"seed": seed, "accounts": accts, "steps": steps,
         "clean_first": rnd.random() < 0.5,
         "fault_rate": round(rnd.uniform(0.5, 2.0), 2), "suppress": []}
    if pop3x:
        h["pop3x"] = True
    return h


def describe(h):
    out = ["accounts: " + ", ".join(
        "%s=%s(%s)" % (a["name"], a["kind"], ",".join(
            "%s=%s" % (k, v) for k, v in sorted(a.items())
            if k not in ("name", "kind", "proto")))
        for a in h["accounts"])]
    for i, s in enumerate(h["steps"]):
        if s["op"] == "once":
            out.append("%d. mailfetchd --once%s" % (i + 1, "" if not s["kill"]
                       else " (%s %s)" % tuple(s["kill"])))
        elif s["op"] == "daemon":
            out.append("%d. daemon for %.1fs, events %s, then %s" % (
                i + 1, s["dur"], " ".join("%s@%.1f" % (e, t) for t, e in
                                         s["events"]), s["end"]))
        elif s["op"] == "other":
            out.append("%d. another client: %d action(s)" % (i + 1, s["n"]))
        elif s["op"] == "reader":
            out.append("%d. the mail reader works on the Maildirs" % (i + 1))
        elif s["op"] == "maxsize":
            out.append("%d. POP3 max_message_size lowered to %d" % (
                i + 1, s["max"]))
        else:
            out.append("%d. UIDVALIDITY change (%s content)" % (i + 1,
                                                               s["how"]))
    if h["suppress"]:
        out.append("misbehaviours kept: fault rate %s, suppressed %d draw(s)"
                   % (h["fault_rate"], len(h["suppress"])))
    return out


# ---------------------------------------------------------------- the run

class Run:
    """One history in a fresh directory."""

    def __init__(self, h, binary, workdir, quiet=True):
        self.h = h
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="chaos-%d-" % h["seed"],
                                    dir=workdir)
        self.log = world.Log()
        self.accts = []
        self.servers = []
        self.kills = 0
        self.signals = 0
        self.peak_kb = 0
        self.daemon_windows = []	# (start, end)
        self.hup_times = []
        self.notes = []
        self.outfile = os.path.join(self.dir, "mailfetchd.log")
        self.asan = "asan" in binary or os.environ.get("MFD_CHAOS_ASAN")
        self.off = set() if os.environ.get("MFD_CHAOS_ALL") == "1" else \
            set(KNOWN_DEFECTS)
        if not h.get("pop3x"):
            self.off |= POP3X_DRAWS
        self.quiet = quiet
        self.workdir = workdir

    # ---- setup
    def setup(self):
        rnd = random.Random(self.h["seed"] * 7 + 1)
        sup = {}
        for n, c, name in self.h["suppress"]:
            sup.setdefault(n, set()).add((c, name))
        for spec in self.h["accounts"]:
            spec.setdefault("max_size", MAX_MSG)
            md = os.path.join(self.dir, spec["name"], "Maildir")
            cls = world.PopAccount if spec["proto"] == "pop3" else \
                world.ImapAccount
            opts = spec
            if spec["proto"] == "pop3":
                opts = self.pop3x_opts(spec)
            a = cls(spec["name"], spec["kind"], spec["proto"], opts,
                    self.log, random.Random(rnd.random()), md)
            a.seed = self.h["seed"]
            if spec["proto"] == "pop3":
                a.xrnd = random.Random("%d/%s/pop3x" % (a.seed, a.name))
            a.suppress = sup.get(spec["name"], set())
            a.off = set(self.off)
            a.force = {(f[1], f[2]): (f[3] if len(f) > 3 else 0)
                       for f in self.h.get("force", [])
                       if f[0] == spec["name"]}
            if spec.get("tls", "none") != "none":
                self.certs = a.certs = world.make_certs(
                    os.path.join(self.workdir, "tls"))
            self.fill(a, rnd)
            self.accts.append(a)
            self.servers.append(world.Server(
                a, world.pop3_handler if spec["proto"] == "pop3"
                else world.imap_handler))
        with open(os.path.join(self.dir, "pass"), "w") as f:
            f.write("secret\n")
        os.chmod(os.path.join(self.dir, "pass"), 0o600)
        self.write_config()

    def step_maxsize(self, s):
        """The user lowers the POP3 accounts' max_message_size (r19 23:
        DELEs may be owed for messages now over it); what is over it and
        not delivered is not required from then on (judge)."""
        self.log.draw("maxsize")
        for a in self.accts:
            if a.proto == "pop3":
                a.opts["max_size"] = min(a.opts["max_size"], s["max"])
                self.log.add("draw", a.name, 0, "maxsize")
        self.write_config()

    def pop3x_opts(self, spec):
        """A POP3 account's options, without review r19's account draws
        that are off (a history shrunk, or without "pop3x")."""
        o = dict(spec)
        for name, opt in (("nouidl", "nouidl"),
                          ("pop3-budget", "daily_limit")):
            if not o.get(opt):
                continue
            if name in self.off:
                del o[opt]
            else:
                self.log.draw(name)
                self.log.add("draw", spec["name"], 0, name)
        return o

    def fill(self, a, rnd):
        """The mailbox before the first run."""
        ff = a.opts.get("first_fetch")
        for fname in a.opts.get("folders", ["INBOX"]):
            n = rnd.randint(2, 10)
            many = a.proto == "imap" and rnd.random() < 0.12
            for i in range(n + (rnd.randint(255, 300) if many else 0)):
                k = rnd.random()
                kind = "tiny" if i >= n else "big" if k < 0.04 else \
                    "hugeid" if k < 0.05 else "plain"
                seen = rnd.random() < 0.3
                req = kind != "big" and ff != "new" and not (
                    ff == "unseen" and seen)
                why = "too large" if kind == "big" else \
                    "before the first fetch (first_fetch = %s)" % ff
                if kind == "plain" and a.proto == "pop3" and \
                        a.x_on("mid-size") and a.xrnd.random() < 0.15:
                    kind = "mid"
                    self.log.draw("mid-size")
                m = a.new_message(kind, required=req, why=why)
                if a.proto == "pop3":
                    a.put(m.key)
                else:
                    a.put(fname, m.key, {"\\Seen"} if seen else set())
            if a.proto == "imap" and rnd.random() < 0.3:
                f = a.folders[fname]
                if f.msgs:
                    like = f.msgs[rnd.choice(f.uids())][0]
                    if "-twin" not in like and \
                            like + "-twin" not in a.msgs:
                        m = a.new_message(like=like)
                        if not a.msgs[like].required:
                            m.required = False
                            m.why = a.msgs[like].why
                        a.put(fname, m.key)

    def write_config(self):
        lines = ['state_dir = "%s/state"' % self.dir, "log_level = info"]
        for a, srv in zip(self.accts, self.servers):
            o = a.opts
            lines.append('account "%s" {' % a.name)
            lines.append("  protocol = %s" % a.proto)
            if o.get("provider"):
                lines.append("  provider = %s" % o["provider"])
            lines += ['  host = "127.0.0.1"', "  port = %d" % srv.port,
                      "  tls = %s" % o.get("tls", "none"),
                      '  user = "chaos-%s"' % a.name,
                      '  password_file = "%s/pass"' % self.dir,
                      '  maildir = "%s"' % a.maildir,
                      "  timeout = 3s",
                      "  max_message_size = %d" % o.get("max_size", MAX_MSG),
                      "  keep = %s" % ("yes" if o.get("keep", True) else "no")]
            if o.get("tls", "none") != "none":
                lines.append('  ca_file = "%s"' % self.certs["ca"])
            if o.get("pin"):
                lines.append('  fingerprint = "%s"'
                             % self.certs["fingerprint"])
            if a.proto == "imap":
                lines.append("  idle = %s" % ("yes" if o.get("idle")
                                              else "no"))
                if not o.get("provider"):
                    lines.append("  poll_interval = 10s")
                for k in ("first_fetch",):
                    if o.get(k):
                        lines.append("  %s = %s" % (k, o[k]))
                if o.get("mark_read"):
                    lines.append("  mark_read = yes")
                if o.get("trash"):
                    lines.append('  trash_folder = "%s"' % o["trash"])
                if o.get("max_connections"):
                    lines.append("  max_connections = %d"
                                 % o["max_connections"])
                if o.get("daily_limit"):
                    lines.append("  daily_limit = %d" % o["daily_limit"])
                for f in o["folders"]:
                    lines.append('  folder "%s" { }' % f)
            else:
                lines.append("  poll_interval = 10s")
                if o.get("daily_limit"):
                    lines.append("  daily_limit = %d" % o["daily_limit"])
            lines.append("}")
        self.conf = os.path.join(self.dir, "mailfetchd.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        # The honest tail's runs: --once keeps the daily budget as the
        # daemon does (the state is shared), so an account whose budget
        # the history used up could not converge today; the tail stands
        # for a later day, without the limit.
        self.conf_tail = os.path.join(self.dir, "mailfetchd-tail.conf")
        with open(self.conf_tail, "w") as f:
            f.write("\n".join(x for x in lines
                              if not x.startswith("  daily_limit ")) + "\n")

    # ---- processes
    def spawn(self, args, env_extra=None, conf=None):
        env = dict(os.environ)
        env.pop("MAILFETCHD_FAULT", None)
        env.update(env_extra or {})
        env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
        out = open(self.outfile, "ab")
        out.write(("=== %s %s\n" % (" ".join(args), env_extra or "")).encode())
        out.flush()
        p = subprocess.Popen([self.binary, "-c", conf or self.conf] + args,
                             stdout=out, stderr=out, env=env)
        out.close()
        t = threading.Thread(target=self.watch_rss, args=(p,), daemon=True)
        t.start()
        return p

    def watch_rss(self, p):
        self.peak_kb = max(self.peak_kb, world.faultlib.peak_rss(p, 0.02))

    def wait_bounded(self, p, bound, what):
        try:
            return p.wait(timeout=bound)
        except subprocess.TimeoutExpired:
            self.log.violate("hang", "%s still running after %.0f s (killed)"
                             % (what, bound))
            p.kill()
            p.wait()
            return -9

    def phase(self, name):
        for a in self.accts:
            a.phase = name

    # ---- steps
    def step_once(self, s):
        self.phase("once")
        kill = s.get("kill")
        env = {}
        if kill and kill[0] == "fault":
            env["MAILFETCHD_FAULT"] = kill[1]
        t0, off = time.monotonic(), self.output_size()
        p = self.spawn(["--once"], env)
        if kill and kill[0] in ("kill9", "term"):
            try:
                p.wait(timeout=kill[1])
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL if kill[0] == "kill9"
                              else signal.SIGTERM)
                if kill[0] == "kill9":
                    self.kills += 1
                else:
                    self.signals += 1
        rc = self.wait_bounded(p, ONCE_BOUND, "mailfetchd --once")
        if kill and kill[0] == "fault" and rc == -9:
            self.kills += 1
        if rc == -9:
            self.journaled()
        self.note_rc("--once", rc, kill)
        if not kill:
            self.judge_tls_once(t0, rc, self.output(off))
        self.phase("idle")

    def journaled(self):
        """After a kill: the messages whose files the intent journal
        names ("inflight" records of the state, src/state.c) and that
        lie complete in a tmp/ are durably recorded: they must be
        delivered, whatever happens to the server's copy meanwhile."""
        for a in self.accts:
            path = os.path.join(self.dir, "state", a.name + ".state")
            try:
                with open(path, errors="replace") as f:
                    lines = f.read().splitlines()
            except OSError:
                continue
            tmps = [os.path.join(d, "tmp")
                    for d in world.maildir_dirs(a.maildir)]
            for line in lines:
                fields = line.split(" ")
                if fields[0] != "inflight" or len(fields) != 4:
                    continue
                # The tmp/ name is the final one without ",S=..." etc.
                name = urllib.parse.unquote(fields[3])
                for t in tmps:
                    try:
                        found = [e for e in os.listdir(t)
                                 if name == e or name.startswith(e + ",")
                                 or name.startswith(e + ":")]
                        if not found:
                            continue
                        with open(os.path.join(t, found[0]), "rb") as f:
                            key = a.bydigest.get(world.digest(f.read()))
                    except OSError:
                        continue
                    if key and not key.startswith("?"):
                        self.durable.setdefault(a.name, set()).add(key)
                        self.log.add("journaled", a.name, key, name)

    def note_rc(self, what, rc, kill=None):
        if rc in (0, 1) and what != "daemon" and self.first_done is None:
            self.first_done = time.monotonic()
        self.notes.append("%s%s: exit %s" % (what, " (%s %s)" % tuple(kill)
                                             if kill else "", rc))

    def step_daemon(self, s):
        self.phase("daemon")
        rnd = random.Random(s["r"])
        start = time.monotonic()
        p = self.spawn([])
        nows = []
        killed = False
        hups = 0
        for t, ev in s["events"]:
            while time.monotonic() - start < t and p.poll() is None:
                time.sleep(0.02)
            if p.poll() is not None:
                break
            if ev == "hup":
                if "hup-idle-waiting" in self.off and any(
                        a.opts.get("idle") and a.opts.get("max_connections")
                        and len(a.opts["folders"]) >= a.opts[
                            "max_connections"] for a in self.accts):
                    continue	# IDLE folders wait for room: known crash
                p.send_signal(signal.SIGHUP)
                self.signals += 1
                hups += 1
                self.hup_times.append(time.monotonic())
            elif ev == "fetchnow":
                if hups and "fetchnow-after-hup" in self.off:
                    continue
                if "fetchnow-after-refusal" in self.off and any(
                        a.logins and not a.logins[-1][1] and
                        a.logins[-1][0] >= start for a in self.accts):
                    continue
                nows.append(self.spawn(["--once"]))
            elif ev == "other":
                a = rnd.choice(self.accts)
                a.other_client(rnd, during=True)
            elif ev == "reader":
                self.reader(rnd, rnd.choice(self.accts))
        while time.monotonic() - start < s["dur"] and p.poll() is None:
            time.sleep(0.02)
        if p.poll() is not None:
            self.log.violate("daemon-exit", "the daemon exited by itself "
                             "with status %s" % p.returncode)
            killed = True
        elif s["end"] == "kill9":
            p.send_signal(signal.SIGKILL)
            self.kills += 1
            killed = True
        else:
            p.send_signal(signal.SIGTERM)
            self.signals += 1
        rc = self.wait_bounded(p, STOP_BOUND, "the daemon after SIGTERM")
        if killed:
            self.journaled()
        if not killed and rc not in (0, -9):
            self.log.violate("daemon-exit", "the daemon stopped by SIGTERM "
                             "exited with status %s" % rc)
        for q in nows:
            self.note_rc("fetch now", self.wait_bounded(
                q, ONCE_BOUND, "mailfetchd --once (fetch now)"))
        self.daemon_windows.append((start, time.monotonic()))
        self.note_rc("daemon", rc)
        self.phase("idle")

    def reader(self, rnd, a):
        """A mail reader on the Maildir: reads (new -> cur, :2,S), flags,
        deletes, refiles to another folder."""
        a.scan()
        grave = os.path.join(self.dir, "graveyard", a.name)
        os.makedirs(grave, exist_ok=True)
        arch = os.path.join(a.maildir, ".Archive")
        for d in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(arch, d), exist_ok=True)
        files = []
        for d in world.maildir_dirs(a.maildir):
            for sub in ("new", "cur"):
                p = os.path.join(d, sub)
                try:
                    files += [(p, e) for e in os.listdir(p)]
                except OSError:
                    pass
        rnd.shuffle(files)
        for p, e in files[:rnd.randint(1, 6)]:
            src = os.path.join(p, e)
            base = e.split(":")[0]
            r = rnd.random()
            try:
                if r < 0.45:
                    os.rename(src, os.path.join(os.path.dirname(p), "cur",
                                                base + ":2,S"))
                elif r < 0.6:
                    os.rename(src, os.path.join(os.path.dirname(p), "cur",
                                                base + ":2,FS"))
                elif r < 0.8:
                    os.rename(src, os.path.join(grave, e))
                    self.log.add("reader", a.name, "delete", src)
                    self.reader_gone.add(os.stat(os.path.join(
                        grave, e)).st_ino)
                else:
                    os.rename(src, os.path.join(arch, "cur", base + ":2,S"))
                    self.log.add("reader", a.name, "refile", src)
                    self.reader_gone.add(os.stat(os.path.join(
                        arch, "cur", base + ":2,S")).st_ino)
            except OSError:
                pass		# moved meanwhile by mailfetchd? never: noted
        a.scan()

    def run_steps(self):
        self.reader_gone = set()
        self.durable = {}
        # first_fetch = new/unseen: the first fetch sets the baseline,
        # in an honest run or (clean_first false) in the history itself.
        self.first_done = None
        if any(a.opts.get("first_fetch") for a in self.accts) and \
                self.h.get("clean_first", True):
            self.clean_once("first fetch")
        for a in self.accts:
            a.fault_rate = self.h["fault_rate"]
        for s in self.h["steps"]:
            rnd = random.Random(s.get("r", 0))
            if s["op"] == "once":
                self.step_once(s)
            elif s["op"] == "daemon":
                self.step_daemon(s)
            elif s["op"] == "other":
                for _ in range(s["n"]):
                    rnd.choice(self.accts).other_client(rnd, during=False)
            elif s["op"] == "reader":
                self.reader(rnd, rnd.choice(self.accts))
            elif s["op"] == "uidv":
                imaps = [a for a in self.accts if a.proto == "imap"]
                if imaps:
                    rnd.choice(imaps).uidvalidity_change(rnd, s["how"])
            elif s["op"] == "maxsize" and "maxsize" not in self.off:
                self.step_maxsize(s)
            for a in self.accts:
                a.scan()
                self.judge_budget_record(a)
        for a in self.accts:
            a.fault_rate = 0.0
        # The honest tail: the world behaves until a run finds nothing new.
        for k in range(5):
            rc = self.clean_once("honest tail %d" % (k + 1), tail=True)
            if rc == 1:
                break
        else:
            self.log.violate("no-convergence", "against an honest server, "
                             "five runs in a row did not end with status 1 "
                             "(last %s)" % rc)

    def clean_once(self, what, tail=False):
        self.phase("once")
        p = self.spawn(["--once"], conf=self.conf_tail if tail else None)
        rc = self.wait_bounded(p, ONCE_BOUND, "mailfetchd --once (%s)" % what)
        self.note_rc(what, rc)
        self.phase("idle")
        for a in self.accts:
            a.scan()
        return rc

    # ---- the oracle
    def judge(self):
        lg = self.log
        for a in self.accts:
            found = a.scan()
            held = a.holding()
            acted = {ev[3] for ev in lg.events if ev[1] == "action"
                     and ev[2] == a.name}
            uidv = any(ev[1] == "uidvalidity" and ev[2] == a.name
                       for ev in lg.events)
            self.first_fetch_optional(a)
            if a.proto == "pop3":
                a.reuse_settle()
            for key, m in sorted(a.msgs.items()):
                if len(m.data) > a.opts.get("max_size", MAX_MSG):
                    m.required, m.why = False, "over max_message_size"
                n = len(a.ever.get(key, ()))
                if n == 2 and m.hugeid and uidv and \
                        "taken as absent" in self.output():
                    n = 1	# documented: max_message_size paragraph
                if n > self.copies_allowed(a, key):
                    back = any(i[1] in self.reader_gone
                               for i in a.ever[key])
                    lg.violate("came-back" if back else "duplicate",
                               "%s: %s delivered %d times%s" % (
                                   a.name, key, n,
                                   " (the reader had deleted or refiled "
                                   "it)" if back else ""))
                if n == 0 and m.required and (key in held or key in acted):
                    lg.violate("missing", "%s: %s held by the server%s, "
                               "never delivered" % (
                                   a.name, key, " (then removed by "
                                   "mailfetchd)" if key in acted else
                                   " at the end"))
                elif n == 0 and key in self.durable.get(a.name, ()):
                    lg.violate("journal-lost", "%s: %s was journaled in "
                               "tmp/ by a killed run, never delivered" % (
                                   a.name, key))
            del found
            if a.proto == "pop3" and a.opts.get("pop3x"):
                self.judge_left(a, held)
            if a.opts.get("trash"):
                self.judge_trash(a)
            self.judge_limits(a)
        if self.peak_kb > RSS_CEILING_KB and not self.asan:
            lg.violate("memory", "peak RSS %d KB over the ceiling of %d KB"
                       % (self.peak_kb, RSS_CEILING_KB))
        text = self.output()
        for word in ("AddressSanitizer", "runtime error:",
                     "LeakSanitizer"):
            if word in text:
                lg.violate("sanitizer", "a sanitizer report (%s) in the "
                           "output" % word)

    def copies_allowed(self, a, key):
        """How many deliveries of key the documentation allows: one;
        without UIDL one more for each session that sent it whole and
        was not committed, or refused its DELE (world.py extra_ok);
        with keep = yes two for a message listed with another size (a
        flap, mailfetchd.conf(5) keep: "costs one duplicate of each
        message"), even of one the reader deleted."""
        if a.proto != "pop3":
            return 1
        n = 1 + a.extra_ok.get(key, 0)
        if a.opts.get("keep") and key in a.flapped:
            n = max(n, 2)
        return n

    def judge_left(self, a, held):
        """keep = no (POP3): after the honest tail nothing delivered is
        left on the server (a refused DELE stays owed, r19 03), but what
        the documentation leaves there: the messages of a duplicate UIDL,
        and those a journal recovery found nowhere in the Maildir (the
        reader had moved them: "counted as delivered ... left on the
        server")."""
        if a.opts.get("keep", True):
            return
        for key in sorted(held):
            m = a.msgs[key]
            if not a.ever.get(key) or m.why == "a duplicate UIDL" or any(
                    i[1] in self.reader_gone for i in a.ever[key]):
                continue
            self.log.violate("left-on-server", "%s: %s delivered, still on"
                             " the server after the honest runs (keep = "
                             "no)" % (a.name, key))

    def budget_record(self, a):
        """The bytes of the budget record of a's state file (src/
        schedule.c schedule_budget_format: "wall:bytes,...")."""
        path = os.path.join(self.dir, "state", a.name + ".state")
        try:
            with open(path, errors="replace") as f:
                lines = f.read().splitlines()
        except OSError:
            return 0
        for line in lines:
            if line.startswith("budget "):
                text = urllib.parse.unquote(line[len("budget "):])
                return sum(int(x.split(":")[1]) for x in text.split(",")
                           if x.count(":") == 1)
        return 0

    def judge_budget_record(self, a):
        """POP3 with daily_limit: the budget record, after each step, is
        never over the limit (mailfetchd.conf(5) daily_limit: a message
        counts as the most its download may take, so a server whose LIST
        counts CRLF never takes a poll past it), but by what a message
        LIST lied about may take the first time (list-lie: up to its
        lie bound, max_message_size and what a cut leaves)."""
        lim = a.opts.get("daily_limit")
        if a.proto != "pop3" or not lim or getattr(a, "budget_judged", 0):
            return
        slack = a.lie_retrs * 2 * MAX_MSG
        used = self.budget_record(a)
        if used > lim + slack:
            a.budget_judged = 1
            self.log.violate("budget-record", "%s: the state's budget "
                             "record holds %d bytes, over the daily_limit "
                             "of %d%s" % (a.name, used, lim, " + %d for %d "
                                          "lie(s)" % (slack, a.lie_retrs)
                                          if slack else ""))

    def first_fetch_optional(self, a):
        """Without an honest first run, what first_fetch leaves is known
        only from the history: with new, what arrived before the first
        run that completed (exit 0 or 1); with unseen, what was \\Seen
        before then."""
        ff = a.opts.get("first_fetch")
        if not ff or self.h.get("clean_first", True):
            return
        done = self.first_done or float("inf")
        for ev in self.log.events:
            if ev[0] >= done or ev[2] != a.name:
                continue
            if ev[1] == "hold":
                key, seen = ev[3], ev[6] == "seen"
            elif ev[1] == "other" and ev[3] == "flag \\Seen":
                key, seen = ev[4], True
            else:
                continue
            if key not in a.msgs:
                continue
            if ff == "new" and ev[1] == "hold" or ff == "unseen" and seen:
                a.msgs[key].required = False
                a.msgs[key].why = "first_fetch = %s" % ff

    def output(self, off=0):
        """Everything mailfetchd printed in this history (from byte off)."""
        try:
            with open(self.outfile, "rb") as f:
                f.seek(off)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def output_size(self):
        try:
            return os.path.getsize(self.outfile)
        except OSError:
            return 0

    def judge_tls_once(self, t0, rc, text):
        """A --once that no kill ended: a TLS misbehaviour that must fail
        the account did (exit status neither 0 nor 1) with a clear error,
        the first to take effect on its connection (TLS_STAGE) when
        several were drawn; an end without close_notify after LOGOUT or
        QUIT alone did not."""
        drawn = [(ev[2], ev[3], ev[4]) for ev in self.log.events
                 if ev[0] >= t0 and ev[1] == "draw"]
        names = {n for _, _, n in drawn}
        first = {}	# (account, connection): the first to take effect
        for acct, conn, name in drawn:
            was = first.get((acct, conn))
            if name in TLS_MUST_FAIL and (was is None or
                                          TLS_STAGE[name] < TLS_STAGE[was]):
                first[(acct, conn)] = name
        for (acct, _), name in sorted(first.items()):
            if rc in (0, 1):
                self.log.violate("tls-failure-ignored", "%s: %s drawn, yet "
                                 "--once exited %d" % (acct, name, rc))
            words = TLS_MUST_FAIL[name]
            if words and words not in text:
                self.log.violate("tls-unclear", "%s: %s drawn, and the "
                                 "output of --once does not say \"%s\"" % (
                                     acct, name, words))
        # 10: another account was not yet allowed (its budget used up);
        # nothing failed, so a clean end still passes.
        if names and names <= {"tls-eof-after-logout", "tls-trickle"} and \
                (rc not in (0, 1, 10) or "close_notify" in text):
            self.log.violate("tls-clean-end", "an end without close_notify"
                             " after LOGOUT or QUIT failed --once (exit %d)"
                             % rc)

    def judge_trash(self, a):
        """keep = no with trash_folder: what mailfetchd removed from a
        fetched folder is in the trash, never destroyed."""
        for ev in self.log.events:
            if ev[1] == "gone" and ev[2] == a.name and ev[6] == "client" \
                    and ev[4] != a.opts["trash"] \
                    and ev[3] not in a.trash_got:
                self.log.violate("trash-destroyed", "%s: %s removed from %s "
                                 "without reaching %s" % (
                                     a.name, ev[3], ev[4], a.opts["trash"]))

    def judge_limits(self, a):
        lg = self.log
        nf = len(a.opts.get("folders", ["INBOX"]))
        for start, end in self.daemon_windows:
            # A reload retries a refused login at once, by design (the
            # user may have fixed the password): those are not counted.
            logins = [x for x in a.logins if start <= x[0] <= end
                      and x[2] == "daemon" and not any(
                          h <= x[0] <= h + 2.0 for h in self.hup_times)]
            failed = [x for x in logins if not x[1]]
            if len(failed) > nf + 1:
                lg.violate("login-backoff", "%s: %d failed logins within "
                           "one daemon run of %.1f s (at most %d)" % (
                               a.name, len(failed), end - start, nf + 1))
            # With a provider's minimum interval (10 minutes for
            # Gmail) far above a daemon run, each folder logs in at most
            # twice (its first connection, one quick IDLE reconnect),
            # and the polls once.
            if a.opts.get("provider") and len(logins) > 2 * nf + 1:
                lg.violate("poll-spacing", "%s: %d logins within one daemon "
                           "run of %.1f s with provider %s (at most %d)" % (
                               a.name, len(logins), end - start,
                               a.opts["provider"], 2 * nf + 1))
            lim = a.opts.get("daily_limit")
            if lim:
                self.judge_budget(a, lim, start, end)

    def judge_budget(self, a, lim, start, end):
        """Once the bytes fetched in a daemon run reach the daily limit,
        no connection opened later fetches a message body."""
        recs = sorted(x for x in a.body_bytes if start <= x[0] <= end
                      and x[2] == "daemon")
        total = 0
        over = None
        for t, n, _, conn in recs:
            if over is not None and n > 0 and \
                    a.opened.get(conn, 0) > over:
                self.log.violate("budget", "%s: %d bytes fetched by "
                                 "connection %d after the daily limit of %d"
                                 " was used up" % (a.name, n, conn, lim))
                return
            total += n
            if over is None and total >= lim:
                over = t

    def close(self):
        for s in self.servers:
            s.close()


def run_history(h, binary, workdir, keep=False):
    r = Run(h, binary, workdir)
    try:
        r.setup()
        r.run_steps()
        r.judge()
    finally:
        r.close()
    drawn = [(a.name, c, n) for a in r.accts for c, n in a.drawn_here]
    res = {"violations": r.log.violations, "sessions": r.log.sessions,
           "kills": r.kills, "signals": r.signals,
           "drawn": sum(r.log.drawn.values()), "drawn_by": r.log.drawn,
           "drawn_list": drawn, "dir": r.dir, "notes": r.notes,
           "peak_kb": r.peak_kb}
    if keep or r.log.violations:
        res["kept"] = True
        with open(os.path.join(r.dir, "events.txt"), "w") as f:
            t0 = r.log.events[0][0] if r.log.events else 0
            for ev in r.log.events:
                f.write("%8.3f %s\n" % (ev[0] - t0, " ".join(
                    str(x) for x in ev[1:])))
            for n in r.notes:
                f.write("run: %s\n" % n)
        with open(os.path.join(r.dir, "history.json"), "w") as f:
            json.dump(h, f)
    else:
        shutil.rmtree(r.dir, ignore_errors=True)
    return res


# ---------------------------------------------------------------- shrinking

def kinds(res):
    return {k for k, _ in res["violations"]}


def shrink(h, res, binary, workdir, budget_s, say):
    """Drops steps, then misbehaviours, while a violation of the same kind
    persists. Bounded by budget_s seconds. Returns (history, result)."""
    want = kinds(res)
    end = time.monotonic() + budget_s
    best, best_res = h, res

    def still(cand):
        r = run_history(cand, binary, workdir)
        if kinds(r) & want:
            return r
        if r.get("kept"):
            shutil.rmtree(r["dir"], ignore_errors=True)
        return None

    i = len(best["steps"]) - 1
    while i >= 0 and time.monotonic() < end:
        cand = dict(best, steps=best["steps"][:i] + best["steps"][i + 1:])
        r = still(cand)
        if r:
            say("#   shrink: step %d dropped, still %s" % (
                i + 1, ",".join(sorted(kinds(r) & want))))
            best, best_res = cand, r
        i -= 1
    # Misbehaviours: all off, then one by one.
    if time.monotonic() < end:
        cand = dict(best, fault_rate=0.0)
        r = still(cand)
        if r:
            say("#   shrink: no misbehaviour needed")
            return cand, r
    drawn = list(best_res["drawn_list"])
    for d in drawn:
        if time.monotonic() >= end:
            break
        cand = dict(best, suppress=best["suppress"] + [list(d)])
        r = still(cand)
        if r:
            best, best_res = cand, r
    kept = [d for d in best_res["drawn_list"]]
    if kept:
        say("#   shrink: misbehaviours still drawn: " + ", ".join(
            "%s conn %d %s" % tuple(d) for d in kept[:12]))
    return best, best_res


# ---------------------------------------------------------------- main

def main():
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default=os.environ.get("MFD_CHAOS_BINARY"))
    ap.add_argument("--histories", type=int,
                    default=int(os.environ.get("MFD_CHAOS_HISTORIES", "0")))
    ap.add_argument("--minutes", type=float, default=0)
    ap.add_argument("--seed", type=int,
                    default=int(os.environ["MFD_CHAOS_SEED"])
                    if os.environ.get("MFD_CHAOS_SEED") else None)
    ap.add_argument("--base", type=int, default=None)
    ap.add_argument("--history", default=os.environ.get("MFD_CHAOS_HISTORY"))
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--no-shrink", action="store_true")
    ap.add_argument("--pop3-extra", action="store_true",
                    default=os.environ.get("MFD_CHAOS_POP3X") == "1")
    ap.add_argument("--shrink-seconds", type=float, default=None)
    ap.add_argument("--max-failures", type=int, default=0)
    ap.add_argument("--jobs", type=int,
                    default=int(os.environ.get("MFD_CHAOS_JOBS", "1")))
    args = ap.parse_args()
    long_mode = os.environ.get("MFD_CHAOS_LONG") == "1"
    # Review r19's POP3 misbehaviours: the long mode draws them, the
    # short one with --pop3-extra (MFD_CHAOS_POP3X=1).
    pop3x = long_mode or args.pop3_extra
    if not args.binary or not os.access(args.binary, os.X_OK):
        print("chaos.py: no mailfetchd binary (--binary or MFD_CHAOS_BINARY)",
              file=sys.stderr)
        return 2
    own = args.workdir is None
    workdir = args.workdir or tempfile.mkdtemp(prefix="mfd-chaos-")
    os.makedirs(workdir, exist_ok=True)
    keep = os.environ.get("MFD_CHAOS_KEEP") == "1"

    def say(line):
        print(line, flush=True)

    if args.history:
        with open(args.history) as f:
            queue = [json.load(f)]
    elif args.seed is not None:
        queue = [make_history(args.seed, long_mode, pop3x)]
    else:
        base = args.base if args.base is not None else \
            int(time.time()) % 1000000
        say("# base seed %d (replay one history: MFD_CHAOS_SEED=<seed>)"
            % base)
        queue = None
    minutes = args.minutes or (61 if long_mode else 0)
    nhist = args.histories or (0 if long_mode or args.minutes else 10)
    want_sessions = 10000 if long_mode and not args.minutes else 0
    shrink_s = args.shrink_seconds if args.shrink_seconds is not None else \
        (300 if long_mode else 90)
    t0 = time.monotonic()
    tot = {"histories": 0, "sessions": 0, "kills": 0, "signals": 0,
           "misbehaviours": 0, "violations": 0, "failed": 0}
    drawn_by = {}
    found = {}
    lock = threading.Lock()
    results = queue_mod.Queue()
    state = {"i": 0, "busy": 0}

    def next_history():
        with lock:
            i = state["i"]
            if queue is not None:
                if i >= len(queue):
                    return None
                h = queue[i]
            elif nhist:
                if i >= nhist:
                    return None
                h = make_history(base * 1000 + i, long_mode, pop3x)
            else:
                if time.monotonic() - t0 >= minutes * 60 and \
                        tot["sessions"] >= want_sessions:
                    return None
                if args.max_failures and tot["failed"] >= args.max_failures:
                    return None
                h = make_history(base * 1000 + i, long_mode, pop3x)
            state["i"] = i + 1
            return h

    def worker():
        while True:
            h = next_history()
            if h is None:
                results.put(None)
                return
            try:
                res = run_history(h, args.binary, workdir, keep)
            except Exception as e:		# a bug of the harness itself
                res = {"violations": [("harness", repr(e))],
                       "sessions": 0, "kills": 0, "signals": 0, "drawn": 0,
                       "drawn_by": {}, "drawn_list": [], "dir": "",
                       "notes": [], "peak_kb": 0}
            with lock:
                for k in ("sessions", "kills", "signals"):
                    tot[k] += res[k]
                if res["violations"]:
                    tot["failed"] += 1
            results.put((h, res))

    workers = [threading.Thread(target=worker, daemon=True)
               for _ in range(max(1, args.jobs))]
    for w in workers:
        w.start()
    running = len(workers)
    while running:
        item = results.get()
        if item is None:
            running -= 1
            continue
        h, res = item
        tot["histories"] += 1
        tot["misbehaviours"] += res["drawn"]
        for k, v in res["drawn_by"].items():
            drawn_by[k] = drawn_by.get(k, 0) + v
        v = res["violations"]
        say("%s seed %d: %d sessions, %d kills, %d signals, %d "
            "misbehaviours, peak %d KB, %d violation(s)" % (
                "FAIL" if v else "ok", h["seed"], res["sessions"],
                res["kills"], res["signals"], res["drawn"], res["peak_kb"],
                len(v)))
        if not v:
            continue
        tot["violations"] += len(v)
        for kind, text in v[:8]:
            say("#   %s: %s" % (kind, text))
            found.setdefault(kind, h["seed"])
        if len(v) > 8:
            say("#   ... %d more" % (len(v) - 8))
        say("#   replay: MFD_CHAOS_SEED=%d%s (work dir %s)" % (
            h["seed"], " MFD_CHAOS_LONG=1" if long_mode else
            " MFD_CHAOS_POP3X=1" if pop3x else "", res["dir"]))
        say("#   history:")
        for line in describe(h):
            say("#     " + line)
        if not args.no_shrink:
            small, sres = shrink(h, res, args.binary, workdir, shrink_s, say)
            path = os.path.join(res["dir"], "minimal.json")
            with open(path, "w") as f:
                json.dump(small, f)
            say("#   minimised history (replay: MFD_CHAOS_HISTORY=%s):"
                % path)
            for line in describe(small):
                say("#     " + line)
            for kind, text in sres["violations"][:4]:
                say("#     -> %s: %s" % (kind, text))
    say("histories=%d sessions=%d kills=%d signals=%d misbehaviours=%d "
        "violations=%d failed=%d seconds=%.0f" % (
            tot["histories"], tot["sessions"], tot["kills"], tot["signals"],
            tot["misbehaviours"], tot["violations"], tot["failed"],
            time.monotonic() - t0))
    say("# misbehaviours drawn: " + ", ".join(
        "%s=%d" % kv for kv in sorted(drawn_by.items())))
    if found:
        say("# violation kinds (first seed): " + ", ".join(
            "%s (%d)" % kv for kv in sorted(found.items())))
    if own and not keep and not tot["failed"]:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if tot["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
