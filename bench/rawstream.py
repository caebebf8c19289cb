#!/usr/bin/env python3
"""rawstream.py HOST PORT CAFILE USER PASSWORD [MAILBOX]

The server's raw streaming floor: log in over implicit TLS, EXAMINE the
mailbox, send one `UID FETCH 1:* BODY.PEEK[]` and read the whole answer,
discarding it (literals are skipped by count, nothing is parsed or kept).
No client that stores the messages can beat this. Prints
  rawstream: M messages, B bytes in S s
"""
import socket
import ssl
import sys
import time

BUFSZ = 1 << 20


class Reader:
    """Buffered reads from the TLS socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.total = 0

    def fill(self):
        """Read more; fail at EOF."""
        d = self.sock.recv(BUFSZ)
        if not d:
            raise SystemExit("rawstream: connection closed")
        self.total += len(d)
        self.buf += d

    def line(self):
        """One line, CRLF included."""
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                ln = bytes(self.buf[:i + 2])
                del self.buf[:i + 2]
                return ln
            self.fill()

    def skip(self, n):
        """Discard n bytes."""
        while n > 0:
            if not self.buf:
                self.fill()
            k = min(n, len(self.buf))
            del self.buf[:k]
            n -= k


def command(r, sock, tag, cmd):
    """Send cmd; read to its tagged answer, skipping literals.

    Returns (status line, number of literals seen)."""
    sock.sendall(b"%s %s\r\n" % (tag, cmd))
    nlit = 0
    while True:
        ln = r.line()
        while ln.endswith(b"}\r\n"):
            n = int(ln[ln.rindex(b"{") + 1:-3])
            r.skip(n)
            nlit += 1
            ln = r.line()
        if ln.startswith(tag + b" "):
            if not ln.startswith(tag + b" OK"):
                raise SystemExit("rawstream: %r failed: %r" % (cmd, ln))
            return ln, nlit


def main():
    """Log in, stream everything, print the time."""
    if len(sys.argv) not in (6, 7):
        sys.exit(__doc__.split("\n")[0])
    host, port, ca, user, pw = sys.argv[1:6]
    box = sys.argv[6] if len(sys.argv) == 7 else "INBOX"
    ctx = ssl.create_default_context(cafile=ca)
    t0 = time.monotonic()
    raw = socket.create_connection((host, int(port)))
    sock = ctx.wrap_socket(raw, server_hostname="localhost")
    r = Reader(sock)
    r.line()
    command(r, sock, b"a1", b"LOGIN \"%s\" \"%s\"" % (user.encode(),
                                                   pw.encode()))
    command(r, sock, b"a2", b"EXAMINE \"%s\"" % box.encode())
    t1 = time.monotonic()
    nbytes = r.total
    _, nlit = command(r, sock, b"a3", b"UID FETCH 1:* BODY.PEEK[]")
    t2 = time.monotonic()
    nbytes = r.total - nbytes
    command(r, sock, b"a4", b"LOGOUT")
    sock.close()
    print("rawstream: %d messages, %d bytes in %.3f s (%.3f s with "
          "connect+login)" % (nlit, nbytes, t2 - t1, t2 - t0))


if __name__ == "__main__":
    main()
