#!/usr/bin/env python3
"""verify.py [--trace] MANIFEST MAILDIR

Check a fetched Maildir against the corpus manifest (make-corpus.py):
every message must be there exactly once and byte-exact, line ends aside.

Each file in MAILDIR/cur and MAILDIR/new is read, its CRLFs turned into LFs
(for the comparison only) and hashed. A file whose hash is in the manifest
is intact. One that is not but ends with an intact message after a few
prepended header lines (mpop's and getmail's Received/Delivered-To), or
holds one with trace lines inserted right after its first line
(Return-Path, which getmail, fetchmail and fdm keep on top), counts as
"added". Anything else is "bad" (corrupted or unknown).

--trace (bench/lmtp.sh: a message delivered through an LMTP server): the
server puts its own Return-Path (and Delivered-To) on top and a peer may
add Received: lines anywhere in the header, so besides the checks above a
file also counts as "added" when its header without every Return-Path,
Delivered-To, Received (with its continuation lines), X-getmail-* and
X-Mailfetchd-Id line equals that of a corpus message (read from
MANIFEST's directory, Maildir/cur/FILE) without them, the bodies equal.

Prints one line:
  intact I added P dups D missing M bad B lineends LF|CRLF|mixed files F
and exits 0 when every message is there once (intact or added) and
nothing is bad or duplicated.
"""
import hashlib
import os
import sys


def manifest_rows(path):
    """(sha256, size, Message-ID, file) of every corpus message."""
    with open(path) as f:
        for line in f:
            if not line.startswith("#"):
                yield line.rstrip("\n").split("\t")


def load_manifest(path):
    """sha256 -> Message-ID for every corpus message."""
    return {h: mid for h, _size, mid, _name in manifest_rows(path)}


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


TRACE_ALL = (b"Return-Path:", b"Delivered-To:", b"Received:", b"X-getmail-",
             b"X-Mailfetchd-Id:")


def strip_trace(data):
    """The message without any trace line in its header (--trace)."""
    end = data.find(b"\n\n")
    head, body = (data, b"") if end < 0 else (data[:end + 1], data[end + 1:])
    out, drop = [], False
    for ln in head.splitlines(True):
        if ln.startswith((b" ", b"\t")):
            if not drop:
                out.append(ln)
            continue
        drop = ln.startswith(TRACE_ALL)
        if not drop:
            out.append(ln)
    return b"".join(out) + body


def load_traceless(manifest):
    """sha256 of every corpus message without its trace lines -> its
    manifest sha256 (the corpus files beside the manifest)."""
    top = os.path.join(os.path.dirname(manifest), "Maildir", "cur")
    out = {}
    for h, _size, _mid, name in manifest_rows(manifest):
        with open(os.path.join(top, name), "rb") as m:
            data = m.read().replace(b"\r\n", b"\n")
        out[hashlib.sha256(strip_trace(data)).hexdigest()] = h
    return out


def main():
    """Compare and print the verdict."""
    args = sys.argv[1:]
    trace = bool(args) and args[0] == "--trace"
    if trace:
        args = args[1:]
    if len(args) != 2:
        sys.exit("usage: verify.py [--trace] MANIFEST MAILDIR")
    want = load_manifest(args[0])
    traceless = load_traceless(args[0]) if trace else {}
    seen = dict.fromkeys(want, 0)
    intact = added = bad = files = 0
    crlf = lf = 0
    for sub in ("cur", "new"):
        d = os.path.join(args[1], sub)
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
                h = hashlib.sha256(strip_trace(norm)).hexdigest()
                if h in traceless:
                    seen[traceless[h]] += 1
                    added += 1
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
