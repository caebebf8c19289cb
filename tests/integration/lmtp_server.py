#!/usr/bin/env python3
"""A scripted LMTP server for tests/integration/mda_scripted.sh: what
Dovecot's LMTP will not do.

usage: lmtp_server.py MODE SOCKET

Listens on the Unix socket SOCKET, serves connections one after the
other (until 60 s pass without one); each message's data (as on the
wire) is appended to SOCKET.data, each command line received to
SOCKET.log.

Modes:
  early    to DATA it answers "354 go" and, in the same segment, "250
           taken early"; to the final dot "451 not taken after all"
  bare250  answers LHLO with a bare "250" (a code alone); then normal
  t451     answers every message's final dot with "451 try again later"
  t550     answers every message's final dot with "550 refused for good"
  ok       a normal server: 250 to everything, 354 to DATA
"""
import socket
import sys


def serve(c, mode, path):
    c.settimeout(20)
    f = c.makefile("rb")
    log = open(path + ".log", "ab")

    def send(s):
        c.sendall(s.encode())
    send("220 scripted LMTP\r\n")
    for line in f:
        log.write(line)
        log.flush()
        cmd = line.strip().upper()
        if cmd.startswith(b"LHLO"):
            send("250\r\n" if mode == "bare250" else
                 "250-scripted\r\n250 8BITMIME\r\n")
        elif cmd == b"DATA":
            send("354 go\r\n250 2.0.0 taken early\r\n" if mode == "early"
                 else "354 go\r\n")
            data = []
            for l in f:
                if l == b".\r\n":
                    break
                data.append(l)
            open(path + ".data", "ab").write(b"".join(data))
            send({"early": "451 4.3.0 not taken after all\r\n",
                  "t451": "451 4.3.0 try again later\r\n",
                  "t550": "550 5.7.1 refused for good\r\n"}.get(
                      mode, "250 2.0.0 ok\r\n"))
        elif cmd == b"QUIT":
            send("221 bye\r\n")
            return
        else:
            send("250 ok\r\n")


def main():
    mode, path = sys.argv[1], sys.argv[2]
    s = socket.socket(socket.AF_UNIX)
    s.bind(path)
    s.listen(8)
    s.settimeout(60)
    while True:
        try:
            c, _ = s.accept()
        except socket.timeout:
            return
        try:
            serve(c, mode, path)
        except (OSError, socket.timeout):
            pass
        c.close()


main()
