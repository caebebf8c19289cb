#!/usr/bin/env python3
"""verify.py MANIFEST MAILDIR

Check a fetched Maildir against the corpus manifest (make-corpus.py):
every message must be there exactly once and byte-exact, line ends aside.

Each file in MAILDIR/cur and MAILDIR/new is read, its CRLFs turned into LFs
(for the comparison only) and hashed. A file whose hash is in the manifest
is intact. One that is not but ends with an intact message after a few
prepended header lines (mpop's and getmail's Received/Delivered-To), or
holds one with trace lines inserted right after its first line
(Return-Path, which getmail, fetchmail and fdm keep on top), counts as
"added". Anything else is "bad" (corrupted or unknown).

Prints one line:
  intact I added P dups D missing M bad B lineends LF|CRLF|mixed files F
and exits 0 when every message is there once (intact or added) and
nothing is bad or duplicated.
"""
import hashlib
import os
import sys


def load_manifest(path):
    """sha256 -> Message-ID for every corpus message."""
    want = {}
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                continue
            h, _size, mid, _name = line.rstrip("\n").split("\t")
            want[h] = mid
    return want


def strip_added(data):
    """The message without the header lines a peer added, or None.

    mpop and getmail prepend Received:/Delivered-To: lines (the corpus
    always starts with Return-Path, so everything before the first one
    goes); mbsync adds an X-TUID: line at the end of the header."""
    if not data.startswith(b"Return-Path: "):
        i = data.find(b"\nReturn-Path: ")
        if i < 0:
            return None
        data = data[i + 1:]
    end = data.find(b"\n\n")
    if end < 0:
        return data
    head = b"".join(ln for ln in data[:end + 1].splitlines(True)
                    if not ln.startswith(b"X-TUID: "))
    return head + data[end + 1:]


TRACE = (b"Received: ", b"Delivered-To: ", b"X-getmail-", b" ", b"\t")


def after_return_path(data):
    """Candidates for the message without the trace lines a peer inserted
    after its first line: one for each number of such lines dropped."""
    lines = data[:data.find(b"\n\n") + 1].splitlines(True)
    out = []
    i = 1
    while i < len(lines) and lines[i].startswith(TRACE):
        i += 1
        if i < len(lines) and lines[i].startswith((b" ", b"\t")):
            continue
        out.append(lines[0] + data[sum(len(ln) for ln in lines[:i]):])
    return out


def main():
    """Compare and print the verdict."""
    if len(sys.argv) != 3:
        sys.exit("usage: verify.py MANIFEST MAILDIR")
    want = load_manifest(sys.argv[1])
    seen = dict.fromkeys(want, 0)
    intact = added = bad = files = 0
    crlf = lf = 0
    for sub in ("cur", "new"):
        d = os.path.join(sys.argv[2], sub)
        if not os.path.isdir(d):
            continue
        for name in os.listdir(d):
            with open(os.path.join(d, name), "rb") as f:
                raw = f.read()
            files += 1
            if b"\r\n" in raw:
                crlf += 1
            elif b"\n" in raw:
                lf += 1
            norm = raw.replace(b"\r\n", b"\n")
            h = hashlib.sha256(norm).hexdigest()
            if h in seen:
                seen[h] += 1
                intact += 1
                continue
            cut = strip_added(norm)
            cands = [cut] if cut is not None else []
            cands += after_return_path(norm)
            for c in cands:
                h = hashlib.sha256(c).hexdigest()
                if h in seen:
                    seen[h] += 1
                    added += 1
                    break
            else:
                bad += 1
    missing = sum(1 for v in seen.values() if v == 0)
    dups = sum(v - 1 for v in seen.values() if v > 1)
    ends = "CRLF" if crlf and not lf else "LF" if lf and not crlf else \
        "mixed" if lf and crlf else "-"
    print("intact %d added %d dups %d missing %d bad %d lineends %s "
          "files %d" % (intact, added, dups, missing, bad, ends, files))
    return 0 if missing == 0 and dups == 0 and bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
