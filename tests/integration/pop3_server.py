#!/usr/bin/env python3
"""A scripted POP3 server for tests/integration/pop3_fault.sh: what Dovecot
will not do.

usage: pop3_server.py MODE --log FILE [--msgs N] [--cert F --key F]
                      [--liars N]

Listens on 127.0.0.1 port 0, prints the port on stdout, then serves
connections one after the other (until 20 s pass without one). Every line
received is appended to FILE ("<conn> <line>"), so a test can check what
the client sent. The maildrop holds N (3) small messages; DELE + QUIT
removes them for later connections.

Modes:
  plain        CAPA with USER UIDL, USER/PASS login, everything works
  cut          the first connection closes in the middle of RETR 1
  inuse        PASS -> -ERR [IN-USE]
  logindelay   CAPA says LOGIN-DELAY 900; PASS -> -ERR [LOGIN-DELAY]
  logindelay0  no LOGIN-DELAY in CAPA; PASS -> -ERR [LOGIN-DELAY]
  weblogin     PASS -> -ERR [AUTH] Web login required (Gmail's text)
  nouidl       UIDL -> -ERR, no UIDL in CAPA
  nostls       CAPA without STLS (the client wants STLS)
  stls         CAPA with STLS; STLS -> +OK then TLS with --cert/--key
  apop         USER refused; APOP checked against --secret
  nodot        the first connection sends all of RETR 2 but closes
               before the final "." (tests/fault/servers.sh)
  uidldup      UIDL gives messages 2 and 3 the same unique id
               (tests/fault/servers.sh)
  uidlnew      from the second connection on, a new message 4 arrives
               with message 1's unique id (a server that reuses UIDLs)
  uidlreuse    from the second connection on, message 1 is gone (another
               client deleted it) and a new message 4, of another size,
               holds its freed unique id (RFC 1939 allows the reuse)
  uidlsame     as uidlreuse, but the new message 5 has the same size as
               message 1 (only its header differs)
  listomit     from the second connection on, LIST leaves message 2 out
               (UIDL still names it)
  sizeflap     LIST sizes alternate: even connections count each line
               end as one octet (LF), the others as two (CRLF); the
               messages never change
  uidlbody     as uidlreuse, but the new message 6 has message 1's size
               and header section (no Date or Message-ID, as a local
               program may write it): only its body differs
  checkdrip    the second connection answers RETR 1 with message 1,
               then more lines, 64 KB every 0.05 s, never the final "."
               (for at most 30 s)
  checktemp    the second connection answers RETR 1 with
               -ERR [SYS/TEMP] (a temporary failure, as Dovecot's)
  notop        CAPA without TOP; TOP -> -ERR
  toperr       CAPA with TOP, but TOP -> -ERR
  trickle      the first connection answers RETR 1 with +OK, then a
               complete body line every 0.3 s, never the final "." (for
               at most 120 s) (tests/fault/trickle.sh)
  retrdrip     the first connection (the first --liars N) answers the
               RETR of message 2 with +OK, the message, then a 438-byte
               line every 0.25 s (1.7 KiB/s, above the pacing floor),
               never the final "." (for at most 120 s)
               (tests/fault/trickle.sh)
  retrflood    as retrdrip, 16 KiB of lines every 0.1 s (far past
               LIST's size within a minute)
  nouidlflood  as nouidl, and RETR of message --liar K (2) floods as
               retrflood, 64 KiB every 0.02 s (the first --liars N
               connections) (tests/fault/nouidl_lie.sh); with
               --quitdrop C, connection C commits QUIT's deletions but
               closes without the +OK (a reply lost); --gone C:K,..,
               from connection C on, messages K.. are gone (another
               client deleted them); --arrive C:K,.., from connection C
               on, messages K.. are new at the end (messages 1-3 and 5-9
               have one LIST size) (tests/fault/nouidl_stale.sh)
  topdrip      the second connection answers TOP 1 0 with +OK, a header
               line, then 16 KiB of header lines every 0.1 s, never the
               final "." (for at most 120 s)
  retrslow     every RETR is answered 1.5 s late (every connection): a
               window while a batch is under way (tests/fault/budget.sh)
  sizelie      LIST gives message 2 as 10 octets; its RETR sends
               1.3 MB (a body far past LIST's size, then the ".")
               (tests/fault/budget_bounds.sh)
  authdrip     CAPA offers SASL PLAIN; the first connection answers
               AUTH with a "+ " challenge every second, whatever the
               client says, never an end (for at most 120 s)
               (tests/fault/trickle.sh)
"""
import hashlib
import socket
import ssl
import sys
import time


def message(i):
    # message 6, a new one, has message 1's size and header section
    if i == 6:
        return (b"From: a@example.net\r\nSubject: m1\r\n\r\nbody 9\r\n"
                b".dot line 9\r\n")
    # message 5, a new one, has message 1's size but another header
    if i == 5:
        return (b"From: a@example.net\r\nSubject: n1\r\n\r\nbody 1\r\n"
                b".dot line 1\r\n")
    # message 4, the new one, is longer than the others
    extra = "a new message, never fetched\r\n" if i == 4 else ""
    return ("From: a@example.net\r\nSubject: m%d\r\n\r\nbody %d\r\n"
            ".dot line %d\r\n%s" % (i, i, i, extra)).encode()


class Conn:
    def __init__(self, sock, n, log):
        self.s = sock
        self.n = n
        self.log = log
        self.buf = b""

    def readline(self):
        while b"\r\n" not in self.buf:
            b = self.s.recv(4096)
            if not b:
                return None
            self.buf += b
        line, self.buf = self.buf.split(b"\r\n", 1)
        with open(self.log, "ab") as f:
            f.write(b"%d %s\n" % (self.n, line))
        return line.decode("latin-1")

    def send(self, text):
        self.s.sendall(text.encode("latin-1") if isinstance(text, str)
                       else text)


def uidl(mode, k):
    """The unique id the server gives message k."""
    if mode == "uidldup" and k == 3:
        return "uid-2"
    if (mode in ("uidlnew", "uidlreuse") and k == 4) or k in (5, 6):
        return "uid-1"
    return "uid-%d" % k


def list_size(mode, c, k):
    """The size LIST gives message k: sizeflap counts its lines' ends as
    LF on even connections (a size computed another way, the message
    unchanged), CRLF otherwise."""
    body = message(k)
    if mode == "sizelie" and k == 2:
        return 10
    if mode == "sizeflap" and c.n % 2 == 0:
        return len(body) - body.count(b"\r\n")
    return len(body)


# retrdrip, retrflood: the line dripped, how many at once, the pause.
DRIPS = {"retrdrip": (b"x" * 438 + b"\r\n", 1, 0.25),
         "retrflood": (b"y" * 1022 + b"\r\n", 16, 0.1),
         "nouidlflood": (b"z" * 1022 + b"\r\n", 64, 0.02)}


def drip(c, line, n, pause):
    """Sends n lines every pause seconds, for at most 120 s or until the
    client goes away."""
    end = time.monotonic() + 120
    while time.monotonic() < end:
        c.send(line * n)
        time.sleep(pause)


def maildrop_change(c, args, msgs):
    """--gone C:K,.. and --arrive C:K,..: from connection C on."""
    for what in ("gone", "arrive"):
        if what not in args:
            continue
        conn, _, ks = args[what].partition(":")
        for k in (int(x) for x in ks.split(",")):
            if c.n < int(conn):
                continue
            if what == "gone" and k in msgs:
                msgs.remove(k)
            if what == "arrive" and k not in msgs and \
                    ("arrived" not in args or k not in args["arrived"]):
                msgs.append(k)
                args.setdefault("arrived", set()).add(k)


def serve(mode, c, args, msgs):
    maildrop_change(c, args, msgs)
    if mode == "uidlnew" and c.n >= 2 and 4 not in msgs:
        msgs.append(4)
    if mode == "uidlreuse" and c.n == 2:
        msgs.remove(1)
        msgs.append(4)
    if mode in ("uidlsame", "uidlbody") and c.n == 2:
        msgs.remove(1)
        msgs.append(5 if mode == "uidlsame" else 6)
    capa = ["USER", "UIDL", "TOP", "RESP-CODES", "AUTH-RESP-CODE"]
    if mode == "notop":
        capa.remove("TOP")
    if mode in ("nouidl", "nouidlflood"):
        capa.remove("UIDL")
    if mode == "logindelay":
        capa.append("LOGIN-DELAY 900")
    if mode == "stls":
        capa.append("STLS")
    if mode == "authdrip":
        capa.append("SASL PLAIN")
    deleted = set()
    ts = "<1896.697170952@dbc.mtview.ca.us>"
    c.send("+OK scripted POP3 ready %s\r\n" % ts)
    while True:
        line = c.readline()
        if line is None:
            return
        cmd = line.split(" ")[0].upper()
        arg = line[len(cmd) + 1:]
        if cmd == "CAPA":
            c.send("+OK\r\n" + "".join(x + "\r\n" for x in capa) + ".\r\n")
        elif cmd == "STLS" and mode == "stls":
            c.send("+OK begin TLS\r\n")
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(args["cert"], args["key"])
            c.s = ctx.wrap_socket(c.s, server_side=True)
            capa.remove("STLS")
        elif cmd == "AUTH" and mode == "authdrip" and c.n == 1:
            end = time.monotonic() + 120
            while time.monotonic() < end:
                c.send("+ \r\n")
                if c.readline() is None:
                    return
                time.sleep(1)
            return
        elif cmd == "AUTH":
            if " " not in arg:
                c.send("+ \r\n")
                if c.readline() is None:
                    return
            c.send("+OK logged in\r\n")
        elif cmd == "USER" and mode == "apop":
            c.send("-ERR use APOP\r\n")
        elif cmd == "APOP":
            want = hashlib.md5((ts + args.get("secret", "")).encode())
            if arg == "fault@example.net " + want.hexdigest():
                c.send("+OK maildrop locked and ready\r\n")
            else:
                c.send("-ERR [AUTH] bad APOP digest\r\n")
        elif cmd == "USER":
            c.send("+OK\r\n")
        elif cmd == "PASS":
            if mode == "inuse":
                c.send("-ERR [IN-USE] Do you have another POP session "
                       "running?\r\n")
            elif mode in ("logindelay", "logindelay0"):
                c.send("-ERR [LOGIN-DELAY] wait longer between logins\r\n")
            elif mode == "weblogin":
                c.send("-ERR [AUTH] Web login required: "
                       "https://support.google.com/mail/answer/78754\r\n")
            else:
                c.send("+OK logged in\r\n")
        elif cmd == "UIDL" and mode not in ("nouidl", "nouidlflood"):
            c.send("+OK\r\n" + "".join("%d %s\r\n" % (i + 1, uidl(mode, k))
                   for i, k in enumerate(msgs)) + ".\r\n")
        elif cmd == "LIST":
            c.send("+OK\r\n" + "".join("%d %d\r\n" % (i + 1,
                   list_size(mode, c, k)) for i, k in enumerate(msgs)
                   if not (mode == "listomit" and c.n >= 2 and k == 2))
                   + ".\r\n")
        elif cmd == "RETR":
            i = int(arg) - 1
            body = message(msgs[i])
            if mode == "sizelie" and msgs[i] == 2:
                body += b"".join(b"%049d\r\n" % j for j in range(26000))
            stuffed = body.replace(b"\r\n.", b"\r\n..")
            if mode == "cut" and c.n == 1:
                c.send(b"+OK\r\n" + stuffed[:30])
                return
            if mode == "trickle" and c.n == 1:
                c.send(b"+OK\r\n")
                end = time.monotonic() + 120
                while time.monotonic() < end:
                    c.send(b"more of the body\r\n")
                    time.sleep(0.3)
                return
            if mode in DRIPS and c.n <= int(args.get("liars", "1")) and \
                    msgs[i] == int(args.get("liar", "2")):
                c.send(b"+OK\r\n" + stuffed)
                drip(c, *DRIPS[mode])
            elif mode == "checktemp" and c.n == 2 and i == 0:
                c.send("-ERR [SYS/TEMP] cannot read message\r\n")
                continue
            elif mode == "checkdrip" and c.n == 2 and i == 0:
                c.send(b"+OK\r\n" + stuffed)
                end = time.monotonic() + 30
                while time.monotonic() < end:
                    c.send((b"x" * 998 + b"\r\n") * 64)
                    time.sleep(0.05)
                return
            if mode == "nodot" and c.n == 1 and i == 1:
                c.send(b"+OK\r\n" + stuffed)
                return
            if mode == "retrslow":
                time.sleep(1.5)
            c.send(b"+OK\r\n" + stuffed + b".\r\n")
        elif cmd == "TOP" and mode == "topdrip" and c.n == 2 and \
                arg == "1 0":
            c.send(b"+OK\r\nFrom: a@example.net\r\n")
            drip(c, b"X-H: " + b"x" * 1019 + b"\r\n", 16, 0.1)
            return
        elif cmd == "TOP" and mode not in ("notop", "toperr"):
            n, lines = (int(x) for x in arg.split(" "))
            head, _, body = message(msgs[n - 1]).partition(b"\r\n\r\n")
            body = b"".join(x + b"\r\n" for x in body.split(b"\r\n")[:lines])
            stuffed = (head + b"\r\n\r\n" + body).replace(b"\r\n.",
                                                         b"\r\n..")
            c.send(b"+OK\r\n" + stuffed + b".\r\n")
        elif cmd == "DELE":
            deleted.add(int(arg) - 1)
            c.send("+OK deleted\r\n")
        elif cmd == "QUIT":
            for i in sorted(deleted, reverse=True):
                del msgs[i]
            if c.n != int(args.get("quitdrop", "0")):
                c.send("+OK bye\r\n")
            return
        else:
            c.send("-ERR unknown command\r\n")


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    mode = sys.argv[1]
    args = {"msgs": "3"}
    rest = sys.argv[2:]
    while rest:
        args[rest[0].lstrip("-")] = rest[1]
        rest = rest[2:]
    msgs = list(range(1, int(args["msgs"]) + 1))
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    ls.settimeout(20)
    print(ls.getsockname()[1], flush=True)
    n = 0
    while True:
        try:
            sock, _ = ls.accept()
        except socket.timeout:
            return
        n += 1
        sock.settimeout(10)
        try:
            serve(mode, Conn(sock, n, args["log"]), args, msgs)
        except (OSError, ssl.SSLError, ValueError, IndexError) as e:
            print("pop3_server: %s: %s" % (mode, e), file=sys.stderr)
        finally:
            sock.close()


if __name__ == "__main__":
    main()
