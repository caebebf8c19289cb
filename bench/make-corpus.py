#!/usr/bin/env python3
"""make-corpus.py N SEED OUTDIR [--max-size BYTES] [--huge MIB]

Deterministic mail corpus for bench/run.sh (python3 stdlib only): the same
N and SEED give the same bytes and the same file names.

Writes
  OUTDIR/Maildir/{cur,new,tmp}   N messages, LF line ends (Dovecot's own
                                 Maildir convention; it serves them as CRLF)
  OUTDIR/manifest.tsv            one line per message:
                                 sha256 <TAB> size <TAB> message-id <TAB> file
where sha256 is over the message with every CRLF turned into LF, so a
client that writes CRLF and one that writes LF both match.

Shapes, drawn from random.Random(SEED):
  ~92% text mail, 2-50 KB (log-normal around 9 KB); of it ~12% UTF-8 8bit,
       ~25% multipart/alternative text + HTML, ~4% with very long lines
       (1,000-20,000 characters; real HTML mail has them)
  ~7% multipart/mixed with a base64 attachment, 100 KB - 1 MB (log-uniform)
  1 in 1,000 (at least one when N > 500) 5-10 MB with a base64 attachment
Sprinkled in: body lines starting with "From " and ".", trailing blanks,
RFC 2047 encoded subjects. With N = 10,000 the total is about 450 MiB.

--max-size BYTES caps every message (the RSS-versus-message-size variant);
--huge MIB replaces the last message with one of MIB MiB (base64 attachment).
"""
import argparse
import base64
import hashlib
import math
import os
import random
import sys
import time

WORDS = ("the of and to in is for on that with as this by be are from at it "
         "an project report meeting server mail delivery invoice quarter "
         "budget release schedule review draft update customer support "
         "ticket backup network storage account payment contract deadline "
         "summary agenda minutes attached please find below regards thanks "
         "question issue performance latency throughput mailbox folder "
         "message index cache protocol client daemon config option test "
         "result benchmark tomorrow yesterday colleague proposal").split()
UTF8_LINES = [
    "Grüße aus München: die Übersicht für das dritte Quartal ist fertig.",
    "Ça va ? Le rapport trimestriel est joint, à bientôt, Françoise.",
    "Günaydın, toplantı yarın saat onda İstanbul ofisinde yapılacak.",
    "Привет! Отчёт за квартал готов, посмотрите вложение, пожалуйста.",
    "会議は金曜日の午前十時に変更されました。よろしくお願いします。",
    "Ευχαριστώ για την αναφορά, θα τη διαβάσω αύριο το πρωί.",
    "Thanks for the update 👍 see you at the café ☕ on Friday 🎉",
]
SUBJECTS = ["Quarterly report", "Re: meeting notes", "Invoice {n}",
            "Build {n} failed", "Fwd: contract draft", "[dev] digest {n}",
            "Your ticket {n}", "Re: Re: backup schedule", "Holiday plans",
            "Server maintenance window {n}"]
NAMES = [("Alice Example", "alice"), ("Bob Sender", "bob"),
         ("Carol Q. Public", "carol"), ("Dave Ops", "dave"),
         ("Erin Lists", "erin"), ("Frank Billing", "frank")]
DOMAINS = ["example.com", "example.org", "corp.example.net", "lists.example.io"]
DAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
          "Oct", "Nov", "Dec"]
EPOCH0 = 1704067200		# 2024-01-01, so the corpus does not age


def rfc2822_date(t):
    """Date header value for unix time t (UTC offset +0000)."""
    tm = time.gmtime(t)
    return "%s, %d %s %d %02d:%02d:%02d +0000" % (
        DAYS[tm.tm_wday], tm.tm_mday, MONTHS[tm.tm_mon - 1], tm.tm_year,
        tm.tm_hour, tm.tm_min, tm.tm_sec)


def text_lines(rng, nbytes, long_lines=False):
    """Plain ASCII prose of about nbytes, as a list of lines (no LF)."""
    out, have = [], 0
    while have < nbytes:
        r = rng.random()
        if long_lines and r < 0.05:
            n = rng.randint(1000, 20000)
            line = " ".join(rng.choices(WORDS, k=n // 6))[:n]
        elif r < 0.01:
            line = "From the desk of %s: %s" % (
                rng.choice(NAMES)[0], " ".join(rng.choices(WORDS, k=6)))
        elif r < 0.02:
            line = rng.choice([".", "..", ". leading dot", ".hidden"])
        elif r < 0.08:
            line = ""
        else:
            line = " ".join(rng.choices(WORDS, k=rng.randint(4, 13)))
            if r < 0.1:
                line += "  "		# trailing blanks must survive
        out.append(line)
        have += len(line) + 1
    return out


def utf8_lines(rng, nbytes):
    """UTF-8 prose of about nbytes."""
    out, have = [], 0
    while have < nbytes:
        line = rng.choice(UTF8_LINES)
        out.append(line)
        have += len(line.encode()) + 1
    return out


def b64_lines(rng, nbytes):
    """A base64 body of about nbytes, 76-character lines."""
    raw = rng.randbytes(max(1, nbytes * 3 // 4))
    s = base64.b64encode(raw).decode()
    return [s[i:i + 76] for i in range(0, len(s), 76)]


def headers(rng, i, seed, t, subj_utf8):
    """The header block of message i, as lines."""
    fname, faddr = rng.choice(NAMES)
    tname, taddr = rng.choice(NAMES)
    fdom, tdom = rng.choice(DOMAINS), rng.choice(DOMAINS)
    subj = rng.choice(SUBJECTS).format(n=rng.randint(100, 99999))
    if subj_utf8:
        subj = "=?UTF-8?B?%s?=" % base64.b64encode(
            ("Übersicht " + subj).encode()).decode()
    h = [
        "Return-Path: <%s@%s>" % (faddr, fdom),
        "Received: from mx%d.%s (mx%d.%s [192.0.2.%d])" % (
            i % 7, fdom, i % 7, fdom, i % 250 + 1),
        "\tby imap.example.com with ESMTPS id %08x" % rng.getrandbits(32),
        "\tfor <%s@%s>; %s" % (taddr, tdom, rfc2822_date(t + 2)),
        "From: %s <%s@%s>" % (fname, faddr, fdom),
        "To: %s <%s@%s>" % (tname, taddr, tdom),
        "Subject: %s" % subj,
        "Date: %s" % rfc2822_date(t),
        "Message-ID: <%d.%d.%08x@corpus.mailfetchd.test>" % (
            seed, i, rng.getrandbits(32)),
        "MIME-Version: 1.0",
    ]
    return h


def make_message(rng, i, seed, size_cap, huge_mib):
    """Message i as bytes (LF line ends) and its Message-ID."""
    t = EPOCH0 + i * 300 + rng.randint(0, 299)
    r = rng.random()
    boundary = "=_mfd_%d_%08x" % (i, rng.getrandbits(32))
    if huge_mib:
        kind, target = "huge", huge_mib << 20
    elif r < 0.001 or (i == 500 and size_cap is None):
        kind, target = "big", rng.randint(5 << 20, 10 << 20)
    elif r < 0.075:
        kind = "attach"
        target = int(math.exp(rng.uniform(math.log(100e3), math.log(1e6))))
    else:
        kind = "text"
        target = int(rng.lognormvariate(math.log(9000), 0.8))
        target = min(max(target, 2000), 50000)
    if size_cap is not None and not huge_mib:
        target = min(target, size_cap - 2000)
    r2 = rng.random()
    h = headers(rng, i, seed, t, r2 < 0.05)
    mid = h[8].split(" ", 1)[1]
    if kind == "text" and r2 < 0.12:
        h += ["Content-Type: text/plain; charset=utf-8",
              "Content-Transfer-Encoding: 8bit", ""]
        body = utf8_lines(rng, target)
    elif kind == "text" and r2 < 0.37:
        half = max(target // 2, 500)
        h += ["Content-Type: multipart/alternative; boundary=\"%s\"" %
              boundary, ""]
        body = ["This is a multi-part message in MIME format.", "",
                "--" + boundary,
                "Content-Type: text/plain; charset=us-ascii", ""]
        body += text_lines(rng, half)
        body += ["--" + boundary,
                 "Content-Type: text/html; charset=us-ascii", "",
                 "<html><body><p>"]
        body += text_lines(rng, half, long_lines=r2 < 0.30)
        body += ["</p></body></html>", "--" + boundary + "--"]
    elif kind == "text":
        h += ["Content-Type: text/plain; charset=us-ascii",
              "Content-Transfer-Encoding: 7bit", ""]
        body = text_lines(rng, target, long_lines=r2 < 0.40)
    else:
        h += ["Content-Type: multipart/mixed; boundary=\"%s\"" % boundary, ""]
        body = ["This is a multi-part message in MIME format.", "",
                "--" + boundary,
                "Content-Type: text/plain; charset=us-ascii", ""]
        body += text_lines(rng, rng.randint(300, 3000))
        body += ["--" + boundary,
                 "Content-Type: application/octet-stream; name=\"data-%d.bin\""
                 % i,
                 "Content-Transfer-Encoding: base64",
                 "Content-Disposition: attachment; filename=\"data-%d.bin\""
                 % i, ""]
        body += b64_lines(rng, max(target - 3000, 100))
        body += ["--" + boundary + "--"]
    data = ("\n".join(h + body) + "\n").encode()
    return data, mid, t


def main():
    """Generate the corpus and its manifest."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("n", type=int)
    ap.add_argument("seed", type=int)
    ap.add_argument("outdir")
    ap.add_argument("--max-size", type=int, default=None)
    ap.add_argument("--huge", type=int, default=0, metavar="MIB")
    a = ap.parse_args()
    md = os.path.join(a.outdir, "Maildir")
    for d in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md, d), exist_ok=True)
    rng = random.Random(a.seed)
    total, biggest = 0, 0
    with open(os.path.join(a.outdir, "manifest.tsv"), "w") as man:
        man.write("#sha256(CRLF->LF)\tsize\tmessage-id\tfile\n")
        for i in range(a.n):
            huge = a.huge if (a.huge and i == a.n - 1) else 0
            data, mid, t = make_message(rng, i, a.seed, a.max_size, huge)
            # Dovecot-style names; every message unseen in cur/ (first_fetch
            # and \Seen handling do not matter for "fetch everything").
            name = "%d.M%dP%dQ%d.corpus,S=%d:2," % (t, i, a.seed, i,
                                                    len(data))
            path = os.path.join(md, "cur", name)
            with open(path, "wb") as f:
                f.write(data)
            os.utime(path, (t, t))
            man.write("%s\t%d\t%s\t%s\n" % (
                hashlib.sha256(data).hexdigest(), len(data), mid, name))
            total += len(data)
            biggest = max(biggest, len(data))
    print("corpus: %d messages, %.1f MiB, largest %.1f MiB, seed %d" % (
        a.n, total / 1048576, biggest / 1048576, a.seed))


if __name__ == "__main__":
    sys.exit(main())
