#!/usr/bin/env python3
# imap_client.py: a minimal IMAPS client for the test harness
# (tests/lib/dovecot.sh); it checks the server's mail independently of
# mailfetchd, so it speaks raw IMAP with nothing in between.
#
#   imap_client.py --port P --ca CA --user U --password PW cmd CMD...
#       Logs in over implicit TLS (certificate and host name verified against
#       CA), sends each CMD (without tag) in turn and prints every response
#       line to stdout, CRLF turned into LF, literals inline.
#   imap_client.py ... append MAILBOX FILE [FLAGS]
#       APPENDs FILE (LF line ends become CRLF) to MAILBOX with the optional
#       flag list FLAGS (e.g. '\Seen \Flagged') and prints the responses.
#
# Exit status: 0 every command answered OK, 1 some command answered NO or
# BAD, 2 no session (connection, TLS verification or login failed).
# Commands that need a continuation (IDLE, AUTHENTICATE) are not supported.

import argparse
import socket
import ssl
import sys

TIMEOUT = 15


class Session:
    """One verified IMAPS connection with tagged command helpers."""

    def __init__(self, host, port, ca, servername):
        ctx = ssl.create_default_context(cafile=ca)
        raw = socket.create_connection((host, port), timeout=TIMEOUT)
        self.sock = ctx.wrap_socket(raw, server_hostname=servername)
        self.rfile = self.sock.makefile("rb")
        self.ntag = 0
        self.out = sys.stdout.buffer

    def readline(self):
        """Read one response line, with any literals inlined."""
        line = self.rfile.readline()
        if not line:
            raise EOFError("server closed the connection")
        while line.endswith(b"}\r\n") and b"{" in line:
            size = line[line.rindex(b"{") + 1:-3]
            if not size.isdigit():
                break
            line += self.rfile.read(int(size))
            rest = self.rfile.readline()
            if not rest:
                raise EOFError("server closed the connection in a literal")
            line += rest
        return line

    def emit(self, line):
        self.out.write(line.replace(b"\r\n", b"\n"))
        self.out.flush()

    def wait_tagged(self, tag, show):
        """Read up to the tagged reply; return its status word."""
        while True:
            line = self.readline()
            if show:
                self.emit(line)
            if line.startswith(tag + b" "):
                return line.split(b" ", 2)[1].upper()

    def command(self, text, show=True):
        self.ntag += 1
        tag = b"t%d" % self.ntag
        self.sock.sendall(tag + b" " + text + b"\r\n")
        return self.wait_tagged(tag, show)

    def append(self, mailbox, data, flags):
        self.ntag += 1
        tag = b"t%d" % self.ntag
        head = tag + b" APPEND " + quote(mailbox)
        if flags:
            head += b" (" + flags + b")"
        head += b" {%d}\r\n" % len(data)
        self.sock.sendall(head)
        while True:
            line = self.readline()
            self.emit(line)
            if line.startswith(b"+"):
                break
            if line.startswith(tag + b" "):
                return line.split(b" ", 2)[1].upper()
        self.sock.sendall(data + b"\r\n")
        return self.wait_tagged(tag, True)


def quote(s):
    """An IMAP quoted string."""
    return b'"' + s.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def crlf(data):
    """Normalise line ends to CRLF, as IMAP requires."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--servername", default="localhost")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("what", choices=["cmd", "append"])
    ap.add_argument("args", nargs="+")
    a = ap.parse_args()
    enc = lambda s: s.encode("utf-8", "surrogateescape")

    try:
        s = Session(a.host, a.port, a.ca, a.servername)
        greeting = s.readline()
        if not greeting.startswith(b"* OK"):
            raise RuntimeError("unexpected greeting: %r" % greeting)
        st = s.command(b"LOGIN " + quote(enc(a.user)) + b" " +
                       quote(enc(a.password)), show=False)
        if st != b"OK":
            raise RuntimeError("LOGIN as %s refused" % a.user)
    except (OSError, EOFError, RuntimeError, ssl.SSLError) as e:
        print("imap_client: %s:%d: %s" % (a.host, a.port, e), file=sys.stderr)
        return 2

    rc = 0
    try:
        if a.what == "cmd":
            for c in a.args:
                if s.command(enc(c)) != b"OK":
                    rc = 1
        else:
            if len(a.args) not in (2, 3):
                print("imap_client: append MAILBOX FILE [FLAGS]",
                      file=sys.stderr)
                return 2
            with open(a.args[1], "rb") as f:
                data = crlf(f.read())
            flags = enc(a.args[2]) if len(a.args) == 3 else b""
            if s.append(enc(a.args[0]), data, flags) != b"OK":
                rc = 1
    except (OSError, EOFError) as e:
        print("imap_client: %s" % e, file=sys.stderr)
        return 2
    try:
        s.command(b"LOGOUT", show=False)
    except (OSError, EOFError):
        pass    # the answers are in; a server hanging up early is fine
    return rc


if __name__ == "__main__":
    sys.exit(main())
