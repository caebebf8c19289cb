#!/usr/bin/env python3
"""A POP3 server over a directory maildrop, for tests/fault (from review
r12/r14's kit).

usage: pop3dir.py DIR LOG [--tls CERT KEY]

The messages are the files DIR/<order>_<uidl>, sorted by name; the UIDL is
the part after the first "_". DELE + QUIT unlinks them, so a test can add,
change or remove messages between sessions. Every line received is
appended to LOG ("<session> <line>"). Prints its port, serves connections
one after the other, exits after 60 s without one.

Knobs (environment):
  POP3DIR_NOUIDL=1      no UIDL command
  POP3DIR_SIZES=flap    LIST gives the LF size in odd sessions, the CRLF
                        size in even ones
  POP3DIR_SIZES=status  after a RETR the file gets a "Status: RO" header
  POP3DIR_TEMP=UIDL     every RETR of that message is answered
                        "-ERR [SYS/TEMP]" ("*": every message); CAPA then
                        lists RESP-CODES
  POP3DIR_PIPELINING=1  CAPA lists PIPELINING
  POP3DIR_LIEFLAP=1     a "LIE" file is listed as 11 octets in even
                        sessions (r19)
  POP3DIR_UIDLERR=N,M   in sessions N, M UIDL is answered "-ERR
                        [SYS/TEMP] ..." (CAPA still lists UIDL, and
                        RESP-CODES); POP3DIR_UIDLERRTEXT replaces the
                        text after -ERR (r19)
  POP3DIR_EMPTY=N,M     in sessions N, M the maildrop looks empty (r19)
  POP3DIR_LISTOMIT=N,M  in sessions N, M LIST names no message (UIDL
                        does; "*": in every session) (r19)
  POP3DIR_DELEERR=UIDL  DELE of that message answered "-ERR" (r19)
  POP3DIR_DELEERRS=N,M  POP3DIR_DELEERR only in sessions N, M (r27)
  POP3DIR_DELEERRTEXT=TEXT  the refused DELE's text after "-ERR " (CAPA
                        then lists RESP-CODES) (r27)
  POP3DIR_QUITCUT=N,M   in sessions N, M the connection is closed at QUIT,
                        nothing committed (r27)
  POP3DIR_SLOW=N:K:SECS in session N, DIR/../slow-N-K is created, then
                        the answer to RETR K waits SECS seconds (r27)
  POP3DIR_HIDE=N:UIDL,M:UIDL  in session N that message is left out of
                        the maildrop (UIDL, LIST), as a backend
                        briefly out of sync does (chaos listing-omit)
A file whose name contains "LIE" is listed (LIST) as 10 octets.
"""
import os, socket, sys, time
d, log = sys.argv[1], sys.argv[2]
NOUIDL = os.environ.get("POP3DIR_NOUIDL") == "1"   # r9: no UIDL command
# r9: a file whose name contains "LIE" is listed (LIST) as 10 octets
# r12: POP3DIR_SIZES=flap: LIST gives the LF (physical) size in odd sessions and the
# CRLF (virtual) size in even ones (a server whose size computation depends on a cache,
# e.g. Dovecot pop3_fast_size_lookups, or two backends behind a balancer).
# POP3DIR_SIZES=status: after a RETR the file gets a "Status: RO" header (qpopper/UW ipop3d).
SIZES = os.environ.get("POP3DIR_SIZES", "")
# r14: POP3DIR_TEMP=UIDL: RETR of that message answered "-ERR [SYS/TEMP]"
# (every session: a message the server cannot read for now, or ever)
TEMP = os.environ.get("POP3DIR_TEMP", "")
# r19: POP3DIR_PIPELINING=1: CAPA lists PIPELINING (mailfetchd's window)
PIPE = os.environ.get("POP3DIR_PIPELINING") == "1"
# r19: POP3DIR_LIEFLAP=1: a LIE file is listed as 10 octets in odd sessions, 11 in even ones
LIEFLAP = os.environ.get("POP3DIR_LIEFLAP") == "1"
UIDLERR = [int(x) for x in os.environ.get("POP3DIR_UIDLERR", "").split(",") if x]
UIDLERRTEXT = os.environ.get("POP3DIR_UIDLERRTEXT", "[SYS/TEMP] UIDL unavailable right now")
EMPTY = [int(x) for x in os.environ.get("POP3DIR_EMPTY", "").split(",") if x]
# r19: POP3DIR_LISTOMIT=N,M (or "*"): LIST answers "+OK" and "." alone
LISTOMIT_ALL = os.environ.get("POP3DIR_LISTOMIT") == "*"
LISTOMIT = [int(x) for x in os.environ.get("POP3DIR_LISTOMIT", "").split(",") if x and x != "*"]
DELEERR = os.environ.get("POP3DIR_DELEERR", "")
# POP3DIR_DELEERRS=N,M: DELEERR only in sessions N, M (default: every one).
DELEERRS = [int(x) for x in os.environ.get("POP3DIR_DELEERRS", "").split(",") if x]
DELEERRTEXT = os.environ.get("POP3DIR_DELEERRTEXT", "")
QUITCUT = [int(x) for x in os.environ.get("POP3DIR_QUITCUT", "").split(",") if x]
SLOW = [tuple(x.split(":")) for x in os.environ.get("POP3DIR_SLOW", "").split(",") if x]
HIDE = [(int(x.split(":", 1)[0]), x.split(":", 1)[1]) for x in os.environ.get("POP3DIR_HIDE", "").split(",") if x]
def liesize(n):
    return 11 if LIEFLAP and n % 2 == 0 else 10
def lsize(path, n):
    b = open(path, "rb").read().replace(b"\r\n", b"\n")
    if SIZES == "flap" and n % 2 == 1:
        return len(b)
    return len(b) + b.count(b"\n")
tls = None
if len(sys.argv) > 4 and sys.argv[3] == "--tls":
    import ssl
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(sys.argv[4], sys.argv[5])
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", 0)); ls.listen(5); ls.settimeout(60)
print(ls.getsockname()[1], flush=True)
n = 0
while True:
    try:
        s, _ = ls.accept()
    except socket.timeout:
        break
    n += 1
    if tls is not None:
        s = tls.wrap_socket(s, server_side=True)
    f = s.makefile("rwb")
    def out(b):
        f.write(b if isinstance(b, bytes) else b.encode()); f.flush()
    msgs = sorted(os.listdir(d)) if n not in EMPTY else []
    msgs = [m for m in msgs if (n, m.split("_", 1)[1]) not in HIDE]
    dele = set()
    out("+OK ready\r\n")
    try:
        while True:
            line = f.readline()
            if not line:
                break
            line = line.rstrip(b"\r\n").decode()
            with open(log, "a") as L:
                L.write("%d %s\n" % (n, line))
            cmd, _, arg = line.partition(" ")
            cmd = cmd.upper()
            if cmd == "CAPA":
                out(("+OK\r\nUSER\r\nTOP\r\n" if NOUIDL else "+OK\r\nUSER\r\nUIDL\r\nTOP\r\n") + ("RESP-CODES\r\n" if TEMP or UIDLERR or DELEERRTEXT else "") + ("PIPELINING\r\n" if PIPE else "") + ".\r\n")
            elif cmd in ("USER", "PASS"):
                out("+OK\r\n")
            elif cmd == "UIDL" and n in UIDLERR:
                out("-ERR " + UIDLERRTEXT + "\r\n")
            elif cmd == "UIDL" and NOUIDL:
                out("-ERR no UIDL here\r\n")
            elif cmd == "UIDL":
                out("+OK\r\n" + "".join("%d %s\r\n" % (i + 1, m.split("_", 1)[1]) for i, m in enumerate(msgs)) + ".\r\n")
            elif cmd == "LIST" and (LISTOMIT_ALL or n in LISTOMIT):
                out("+OK\r\n.\r\n")
            elif cmd == "LIST":
                out("+OK\r\n" + "".join("%d %d\r\n" % (i + 1, liesize(n) if "LIE" in m else lsize(os.path.join(d, m), n)) for i, m in enumerate(msgs)) + ".\r\n")
            elif cmd == "RETR" and TEMP and (TEMP == "*" or msgs[int(arg) - 1].split("_", 1)[1] == TEMP):
                out("-ERR [SYS/TEMP] cannot read message\r\n")
            elif cmd == "RETR":
                for a, b, c in SLOW:
                    if (a, b) == (str(n), arg):
                        open(os.path.join(d, "..", "slow-%s-%s" % (a, b)), "w").close()
                        time.sleep(float(c))
                body = open(os.path.join(d, msgs[int(arg) - 1]), "rb").read()
                body = body.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
                body = body.replace(b"\r\n.", b"\r\n..")
                out(b"+OK\r\n" + body + (b"" if body.endswith(b"\r\n") else b"\r\n") + b".\r\n")
                if SIZES == "status":
                    pth = os.path.join(d, msgs[int(arg) - 1]); raw = open(pth, "rb").read()
                    if b"\nStatus: RO\n" not in raw:
                        open(pth, "wb").write(raw.replace(b"\n\n", b"\nStatus: RO\n\n", 1))
            elif cmd == "TOP":
                a1, _, a2 = arg.partition(" ")
                body = open(os.path.join(d, msgs[int(a1) - 1]), "rb").read()
                body = body.replace(b"\r\n", b"\n")
                h = body.split(b"\n\n", 1)[0] + b"\n\n"
                h = h.replace(b"\n", b"\r\n").replace(b"\r\n.", b"\r\n..")
                out(b"+OK\r\n" + h + b".\r\n")
            elif cmd == "DELE" and DELEERR and (not DELEERRS or n in DELEERRS) and msgs[int(arg) - 1].split("_", 1)[1] == DELEERR:
                out("-ERR " + (DELEERRTEXT or "cannot delete") + "\r\n")
            elif cmd == "DELE":
                dele.add(int(arg) - 1); out("+OK\r\n")
            elif cmd == "NOOP":
                out("+OK\r\n")
            elif cmd == "QUIT" and n in QUITCUT:
                break
            elif cmd == "QUIT":
                for i in dele:
                    os.unlink(os.path.join(d, msgs[i]))
                out("+OK bye\r\n"); break
            else:
                out("-ERR\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    s.close()
