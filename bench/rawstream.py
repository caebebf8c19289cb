#!/usr/bin/env python3
"""rawstream.py HOST PORT CAFILE USER PASSWORD [MAILBOX]
rawstream.py --pop3 [--list-only] HOST PORT CAFILE USER PASSWORD

The server's raw streaming floor: log in over implicit TLS, EXAMINE the
mailbox, send one `UID FETCH 1:* BODY.PEEK[]` and read the whole answer,
discarding it (literals are skipped by count, nothing is parsed or kept).
No client that stores the messages can beat this. Prints
  rawstream: M messages, B bytes in S s

With --pop3 (POP3S): USER/PASS, UIDL and LIST (untimed, like EXAMINE),
then RETR of every message, pipelined (RFC 2449) POP3_WINDOW deep, each
answer skipped up to its terminating "." line unread; QUIT without DELE.
--list-only stops after LIST (a warm-up of the server's POP3 caches).
"""
import socket
import ssl
import sys
import time

BUFSZ = 1 << 20
POP3_WINDOW = 64


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


def pop3_status(r):
    """One POP3 status line; fail on -ERR."""
    ln = r.line()
    if not ln.startswith(b"+OK"):
        raise SystemExit("rawstream: POP3 error: %r" % ln)
    return ln


def pop3_skip_multi(r):
    """Discard a multi-line answer after its status line, up to and
    including the "." line that ends it (a dot-stuffed line never
    matches CRLF "." CRLF)."""
    while len(r.buf) < 3:
        r.fill()
    if r.buf[:3] == b".\r\n":     # an empty answer
        del r.buf[:3]
        return
    while True:
        i = r.buf.find(b"\r\n.\r\n")
        if i >= 0:
            del r.buf[:i + 5]
            return
        # Keep the last four bytes: the terminator may straddle reads.
        if len(r.buf) > 4:
            del r.buf[:len(r.buf) - 4]
        r.fill()


def pop3_main(args):
    """POP3S: log in, list, RETR everything pipelined, print the time."""
    list_only = False
    if args and args[0] == "--list-only":
        list_only = True
        args = args[1:]
    if len(args) != 5:
        sys.exit(__doc__.split("\n")[2])
    host, port, ca, user, pw = args
    ctx = ssl.create_default_context(cafile=ca)
    t0 = time.monotonic()
    raw = socket.create_connection((host, int(port)))
    sock = ctx.wrap_socket(raw, server_hostname="localhost")
    r = Reader(sock)
    pop3_status(r)
    sock.sendall(b"USER %s\r\n" % user.encode())
    pop3_status(r)
    sock.sendall(b"PASS %s\r\n" % pw.encode())
    pop3_status(r)
    sock.sendall(b"UIDL\r\n")
    pop3_status(r)
    pop3_skip_multi(r)
    sock.sendall(b"LIST\r\n")
    pop3_status(r)
    n = 0
    while True:
        ln = r.line()
        if ln == b".\r\n":
            break
        n += 1
    if list_only:
        sock.sendall(b"QUIT\r\n")
        pop3_status(r)
        sock.close()
        print("rawstream: POP3 listing of %d messages" % n)
        return
    t1 = time.monotonic()
    nbytes = r.total
    sent = recv = 0
    while recv < n:
        burst = []
        while sent < n and sent - recv < POP3_WINDOW:
            sent += 1
            burst.append(b"RETR %d\r\n" % sent)
        if burst:
            sock.sendall(b"".join(burst))
        pop3_status(r)
        pop3_skip_multi(r)
        recv += 1
    t2 = time.monotonic()
    nbytes = r.total - nbytes
    sock.sendall(b"QUIT\r\n")
    pop3_status(r)
    sock.close()
    print("rawstream: %d messages, %d bytes in %.3f s (%.3f s with "
          "connect+login)" % (n, nbytes, t2 - t1, t2 - t0))


def main():
    """Log in, stream everything, print the time."""
    if len(sys.argv) > 1 and sys.argv[1] == "--pop3":
        pop3_main(sys.argv[2:])
        return
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
