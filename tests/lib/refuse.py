#!/usr/bin/env python3
"""refuse.py: a scripted IMAP or POP3 server that refuses every login.

usage: refuse.py imap|pop3 REPLY [IDLE-SECONDS]

Listens on 127.0.0.1, port chosen by the system, and prints that port on
stdout. Each connection, one at a time, gets a greeting and CAPABILITY
(CAPA) answers, and REPLY (a whole tagged IMAP reply after the tag, or a
POP3 line) to LOGIN/AUTHENTICATE (PASS). Exits when no connection came
for IDLE-SECONDS (default 30; 0: never), so a test that forgets it
leaves nothing running for long.
"""
import socket, sys
proto, reply = sys.argv[1], sys.argv[2]
idle = float(sys.argv[3]) if len(sys.argv) > 3 else 30.0


def session(s):
    f = s.makefile("rb")

    def send(t):
        s.sendall(t.encode() + b"\r\n")
    if proto == "imap":
        send("* OK scripted IMAP ready")
        for line in f:
            w = line.decode().split()
            if len(w) < 2:
                continue
            tag, cmd = w[0], w[1].upper()
            if cmd == "CAPABILITY":
                send("* CAPABILITY IMAP4rev1 IDLE AUTH=PLAIN")
                send(tag + " OK done")
            elif cmd in ("LOGIN", "AUTHENTICATE"):
                send(tag + " " + reply)
            elif cmd == "LOGOUT":
                send("* BYE bye")
                send(tag + " OK bye")
                return
            else:
                send(tag + " BAD what")
    else:
        send("+OK scripted POP3 ready")
        for line in f:
            w = line.decode().split()
            cmd = w[0].upper() if w else ""
            if cmd == "CAPA":
                send("+OK\r\nUSER\r\nUIDL\r\nRESP-CODES\r\n.")
            elif cmd == "USER":
                send("+OK")
            elif cmd == "PASS":
                send(reply)
            elif cmd == "QUIT":
                send("+OK bye")
                return
            else:
                send("-ERR what")


ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(4)
print(ls.getsockname()[1], flush=True)
if idle > 0:
    ls.settimeout(idle)
while True:
    try:
        s, _ = ls.accept()
    except socket.timeout:
        break
    try:
        session(s)
    except OSError:
        pass        # the TCP probe hangs up at once
    s.close()
