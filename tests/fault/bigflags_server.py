#!/usr/bin/env python3
"""bigflags_server.py: a minimal, honest plain IMAP server for one big
INBOX of N messages (UIDs 1..N, consecutive; tests/fault/flagcap_big.sh,
from review r26 06). SELECT gives EXISTS N, UIDVALIDITY 7, UIDNEXT N+1, no
CONDSTORE; UID FETCH a:b answers one FETCH (UID FLAGS (\\Seen)) line per
message in range; UID SEARCH finds nothing (first_fetch = new takes
nothing). Usage: bigflags_server.py N LOG; prints its port (127.0.0.1)."""
import socket, sys, re

N = int(sys.argv[1])
LOG = open(sys.argv[2], "a")
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0)); srv.listen(4)
print(srv.getsockname()[1], flush=True)

def rng(s):
    out = []
    for part in s.split(","):
        a, _, b = part.partition(":")
        a = N if a == "*" else int(a)
        b = a if b == "" else (N if b == "*" else int(b))
        lo, hi = min(a, b), max(a, b)
        out.append((max(lo, 1), min(hi, N)))
    return out

def serve(c):
    f = c.makefile("rb")
    c.sendall(b"* OK [CAPABILITY IMAP4rev1 UIDPLUS] big\r\n")
    sel = False
    while True:
        line = f.readline()
        if not line:
            return
        line = line.decode().rstrip("\r\n")
        LOG.write(line[:200] + "\n"); LOG.flush()
        tag, _, rest = line.partition(" ")
        cmd, _, args = rest.partition(" ")
        C = cmd.upper()
        if C == "UID":
            C2, _, args = args.partition(" ")
            C = "UID " + C2.upper()
        if C == "CAPABILITY":
            c.sendall(b"* CAPABILITY IMAP4rev1 UIDPLUS\r\n%s OK\r\n" % tag.encode())
        elif C == "LOGOUT":
            c.sendall(b"* BYE\r\n%s OK\r\n" % tag.encode()); return
        elif C == "LIST":
            c.sendall(b'* LIST (\\HasNoChildren) "/" "INBOX"\r\n%s OK\r\n' % tag.encode())
        elif C in ("SELECT", "EXAMINE"):
            sel = True
            c.sendall(b"* %d EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT %d] n\r\n* FLAGS (\\Seen \\Flagged \\Answered \\Deleted \\Draft)\r\n%s OK [READ-WRITE] done\r\n" % (N, N + 1, tag.encode()))
        elif C == "STATUS":
            c.sendall(b'* STATUS "INBOX" (MESSAGES %d UIDNEXT %d UIDVALIDITY 7 UNSEEN 0)\r\n%s OK\r\n' % (N, N + 1, tag.encode()))
        elif C == "UID SEARCH":
            c.sendall(b"* SEARCH\r\n%s OK\r\n" % tag.encode())
        elif C == "UID FETCH":
            sset, _, items = args.partition(" ")
            buf = []
            for lo, hi in rng(sset):
                for u in range(lo, hi + 1):
                    buf.append(b"* %d FETCH (UID %d FLAGS (\\Seen))\r\n" % (u, u))
                    if len(buf) >= 20000:
                        c.sendall(b"".join(buf)); buf = []
            buf.append(b"%s OK done\r\n" % tag.encode())
            c.sendall(b"".join(buf))
        else:
            c.sendall(b"%s OK\r\n" % tag.encode())

while True:
    c, _ = srv.accept()
    try:
        serve(c)
    except Exception as e:
        LOG.write("error %r\n" % e)
    c.close()
