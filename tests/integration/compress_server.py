#!/usr/bin/env python3
"""compress_server.py: a scripted IMAP-ish server for COMPRESS=DEFLATE
(RFC 4978) tests, on 127.0.0.1.

usage: compress_server.py MODE [--size N] [--tls CERT KEY]

Prints "PORT SHA256" on stdout once listening (SHA256: of the literal the
DATA command returns, or "-"), then serves connections until killed. Every
connection: greeting; "z COMPRESS DEFLATE" is answered per MODE; after the
OK both directions are raw DEFLATE (zlib wbits=-15), the client's commands
are inflated line by line (a client that does not flush hangs here), and
"tN DATA" is answered with "* 1 FETCH (BODY[] {N}" + literal + ")" and
"tN OK".

MODE:
  data      N bytes (--size) of mail-like text, deterministic
  bomb      N zero bytes: 1 GB deflates to about 1 MB
  corrupt   after the OK, bytes that are no DEFLATE stream
  end       after the OK, a stream that ends (Z_FINISH)
  leftover  the OK and the first compressed bytes in one write
  refuse    "z NO" to COMPRESS
"""
import hashlib
import random
import socket
import ssl
import sys
import threading
import zlib

CHUNK = 1 << 20


def mail_text(size):
    """Mail-like text: headers and prose from a small vocabulary, the way
    a mailbox compresses (not random bytes, not one repeated line)."""
    rnd = random.Random(4978)
    words = ("the of and to in is that for it with as was on be by this "
             "meeting report invoice attached please regards thanks "
             "project schedule review update draft budget Monday Friday "
             "customer server release notes").split()
    out = []
    n = 0
    i = 0
    while n < size:
        hdr = ("From: user%d@example.org\r\nTo: team@example.com\r\n"
               "Subject: %s %s %d\r\nMessage-ID: <%d.%d@example.org>\r\n"
               "Date: Mon, %d Jan 2024 10:%02d:00 +0000\r\n\r\n" %
               (rnd.randrange(100), rnd.choice(words), rnd.choice(words),
                i, i, rnd.randrange(1 << 30), 1 + i % 28, i % 60))
        body = []
        for _ in range(rnd.randrange(5, 60)):
            body.append(" ".join(rnd.choice(words)
                                 for _ in range(rnd.randrange(4, 14))))
        part = (hdr + "\r\n".join(body) + "\r\n\r\n").encode()
        out.append(part)
        n += len(part)
        i += 1
    return b"".join(out)[:size]


class Conn:
    """One client connection."""

    def __init__(self, sock, mode, data, size):
        self.sock = sock
        self.mode = mode
        self.data = data
        self.size = size
        self.comp = None
        self.decomp = None

    def send(self, b):
        if self.comp is not None:
            b = self.comp.compress(b) + self.comp.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(b)

    def lines(self):
        """Yield the client's lines, inflated once compression is on."""
        buf = b""
        while True:
            while b"\r\n" in buf:
                line, buf = buf.split(b"\r\n", 1)
                plain = self.decomp is None
                yield line.decode(errors="replace")
                if plain and self.decomp is not None and buf:
                    # Sent in clear after COMPRESS, before our OK.
                    raise RuntimeError("client did not wait for the OK")
            raw = self.sock.recv(65536)
            if not raw:
                return
            buf += self.decomp.decompress(raw) if self.decomp else raw

    def start_compress(self):
        self.comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.decomp = zlib.decompressobj(-15)

    def literal(self, tag):
        self.send(b"* 1 FETCH (BODY[] {%d}\r\n" % self.size)
        if self.mode == "bomb":
            zero = bytes(CHUNK)
            left = self.size
            while left > 0:
                n = min(left, CHUNK)
                out = self.comp.compress(zero[:n])
                if out:
                    self.sock.sendall(out)
                left -= n
        else:
            for i in range(0, len(self.data), CHUNK):
                self.send(self.data[i:i + CHUNK])
        self.send(b")\r\n%s OK FETCH done\r\n" % tag.encode())

    def serve(self):
        self.send(b"* OK [CAPABILITY IMAP4rev1 COMPRESS=DEFLATE] ready\r\n")
        for line in self.lines():
            tag, _, cmd = line.partition(" ")
            cmd = cmd.upper()
            if cmd == "COMPRESS DEFLATE":
                if self.mode == "refuse":
                    self.send(b"z NO [COMPRESSIONACTIVE] not now\r\n")
                    continue
                if self.mode == "leftover":
                    ok = b"z OK DEFLATE active\r\n"
                    self.start_compress()
                    first = self.comp.compress(b"* OK hello\r\n")
                    first += self.comp.flush(zlib.Z_SYNC_FLUSH)
                    self.sock.sendall(ok + first)
                    continue
                self.send(b"z OK DEFLATE active\r\n")
                self.start_compress()
                if self.mode == "corrupt":
                    # BFINAL=1, BTYPE=11: a reserved block type.
                    self.sock.sendall(b"\xff" * 64)
                elif self.mode == "end":
                    self.sock.sendall(self.comp.compress(b"* OK bye\r\n") +
                                      self.comp.flush(zlib.Z_FINISH))
            elif cmd == "DATA":
                self.literal(tag)
            elif cmd == "LOGOUT":
                self.send(b"* BYE\r\n%s OK\r\n" % tag.encode())
                return
            else:
                self.send(b"%s BAD unknown command\r\n" % tag.encode())


def handle(sock, args):
    try:
        Conn(sock, *args).serve()
    except (OSError, RuntimeError, zlib.error):
        pass
    finally:
        try:
            sock.close()
        except OSError:
            pass


def main():
    argv = sys.argv[1:]
    if not argv:
        sys.exit(__doc__)
    mode = argv.pop(0)
    size = 5 * 1000 * 1000
    tlsctx = None
    while argv:
        opt = argv.pop(0)
        if opt == "--size":
            size = int(argv.pop(0))
        elif opt == "--tls":
            tlsctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tlsctx.load_cert_chain(argv.pop(0), argv.pop(0))
        else:
            sys.exit(__doc__)
    data = b""
    digest = "-"
    if mode == "data":
        data = mail_text(size)
        digest = hashlib.sha256(data).hexdigest()
    elif mode == "bomb":
        h = hashlib.sha256()
        zero = bytes(CHUNK)
        for i in range(0, size, CHUNK):
            h.update(zero[:min(CHUNK, size - i)])
        digest = h.hexdigest()
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(8)
    print(ls.getsockname()[1], digest, flush=True)
    while True:
        sock, _ = ls.accept()
        if tlsctx is not None:
            try:
                sock = tlsctx.wrap_socket(sock, server_side=True)
            except (OSError, ssl.SSLError):
                sock.close()
                continue
        threading.Thread(target=handle, args=(sock, (mode, data, size)),
                         daemon=True).start()


if __name__ == "__main__":
    main()
