#!/usr/bin/env python3
"""A hostile IMAP or POP3 server for the tests/security scripts.

usage: hostile_server.py PROTO MODE --capture FILE [--cert F --key F]
                         [--bind ADDR]

PROTO is imap or pop3. Listens on ADDR (127.0.0.1) port 0, prints the port
on stdout, then serves connections one after the other until killed (or
30 s without a client).

Every byte the client sends is appended to the capture FILE: in clear
before TLS, decrypted after it. The tests read the capture, not the
client's log, to prove that no credential was sent.

Apart from its attack the server is as willing as it gets: it offers
AUTH=PLAIN/LOGIN (USER, SASL PLAIN), accepts any login and any
AUTHENTICATE, so that a client that goes on after the attack does send its
credentials, and the capture shows it.

Modes:
  nostarttls  clear text, STARTTLS/STLS not advertised (and refused)
  refuse      STARTTLS/STLS advertised, answered NO/-ERR
  inject      STARTTLS/STLS answered OK plus a pipelined line in the same
              packet (response injection), then TLS with the certificate
  preauth     IMAP: "* PREAUTH" greeting advertising STARTTLS
  starttls    a correct STARTTLS/STLS upgrade with the certificate given
  implicit    TLS from the first byte with the certificate given
  tls11       implicit TLS offering only TLS 1.0 and 1.1
  plain       clear text, no STARTTLS needed (for tls = none)
  dirtyend    implicit TLS; after the answer to LOGOUT (QUIT) the TCP
              connection is closed without TLS close_notify (Cyrus)
  dirtycut    implicit TLS; the first command after the login is not
              answered: the TCP connection is closed without TLS
              close_notify (a truncation)
"""
import socket
import ssl
import sys


class Peer:
    """One client connection: line reading with capture, TLS upgrade."""

    def __init__(self, sock, capture):
        self.sock = sock
        self.capture = capture
        self.buf = b""

    def record(self, data):
        with open(self.capture, "ab") as f:
            f.write(data)

    def readline(self):
        while b"\n" not in self.buf:
            data = self.sock.recv(4096)
            if not data:
                raise EOFError
            self.record(data)
            self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def send(self, data):
        self.sock.sendall(data)

    def starttls(self, ctx):
        # Bytes the client pipelined after STARTTLS are captured already;
        # they would be plaintext command injection from the client side.
        self.buf = b""
        self.sock = ctx.wrap_socket(self.sock, server_side=True)


def tls_context(args, old=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args["cert"], args["key"])
    if old:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    return ctx


IMAP_INJECT = b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n"
POP3_INJECT = b"+OK injected\r\n"


def imap(peer, mode, args):
    tls = False
    stls = mode in ("refuse", "inject", "preauth", "starttls")
    caps = "IMAP4rev1 AUTH=PLAIN AUTH=LOGIN"
    if mode == "preauth":
        peer.send(b"* PREAUTH [CAPABILITY IMAP4rev1 STARTTLS] logged in\r\n")
    else:
        peer.send(b"* OK hostile IMAP ready\r\n")
    while True:
        line = peer.readline()
        if not line:
            # What Dovecot says to a stray empty line.
            peer.send(b"* BAD Empty command line\r\n")
            continue
        words = line.split(b" ", 2)
        tag = words[0]
        cmd = words[1].upper() if len(words) > 1 else b""
        if mode == "dirtycut" and cmd not in (b"CAPABILITY", b"LOGIN",
                                              b"AUTHENTICATE", b"ID"):
            return
        if cmd == b"CAPABILITY":
            c = caps + (" STARTTLS" if stls and not tls else "")
            peer.send(b"* CAPABILITY " + c.encode() + b"\r\n" +
                      tag + b" OK done\r\n")
        elif cmd == b"STARTTLS" and not tls:
            if mode in ("refuse", "nostarttls", "plain"):
                peer.send(tag + b" NO STARTTLS not available\r\n")
                continue
            reply = tag + b" OK Begin TLS negotiation now\r\n"
            if mode == "inject":
                reply += IMAP_INJECT
            peer.send(reply)
            peer.starttls(tls_context(args))
            tls = True
        elif cmd == b"AUTHENTICATE":
            peer.send(b"+ \r\n")
            peer.readline()
            peer.send(tag + b" OK authenticated\r\n")
        elif cmd == b"LOGIN":
            peer.send(tag + b" OK logged in\r\n")
        elif cmd == b"LIST":
            peer.send(b'* LIST () "/" INBOX\r\n' + tag + b" OK done\r\n")
        elif cmd in (b"SELECT", b"EXAMINE"):
            peer.send(b"* 0 EXISTS\r\n* OK [UIDVALIDITY 1] v\r\n"
                      b"* OK [UIDNEXT 1] n\r\n" + tag + b" OK done\r\n")
        elif cmd == b"LOGOUT":
            peer.send(b"* BYE bye\r\n" + tag + b" OK done\r\n")
            return
        else:
            peer.send(tag + b" OK done\r\n")


def pop3(peer, mode, args):
    tls = False
    stls = mode in ("refuse", "inject", "starttls")
    peer.send(b"+OK hostile POP3 ready\r\n")
    while True:
        line = peer.readline()
        cmd = line.split(b" ", 1)[0].upper()
        if mode == "dirtycut" and cmd not in (b"CAPA", b"USER", b"PASS",
                                              b"AUTH"):
            return
        if cmd == b"CAPA":
            peer.send(b"+OK capabilities\r\nUSER\r\nUIDL\r\nSASL PLAIN\r\n" +
                      (b"STLS\r\n" if stls and not tls else b"") + b".\r\n")
        elif cmd == b"STLS" and not tls:
            if mode in ("refuse", "nostarttls", "plain"):
                peer.send(b"-ERR STLS not available\r\n")
                continue
            reply = b"+OK Begin TLS negotiation\r\n"
            if mode == "inject":
                reply += POP3_INJECT
            peer.send(reply)
            peer.starttls(tls_context(args))
            tls = True
        elif cmd == b"AUTH":
            peer.send(b"+ \r\n")
            peer.readline()
            peer.send(b"+OK authenticated\r\n")
        elif cmd in (b"USER", b"PASS", b"APOP"):
            peer.send(b"+OK\r\n")
        elif cmd in (b"UIDL", b"LIST"):
            peer.send(b"+OK\r\n.\r\n")
        elif cmd == b"STAT":
            peer.send(b"+OK 0 0\r\n")
        elif cmd == b"QUIT":
            peer.send(b"+OK bye\r\n")
            return
        else:
            peer.send(b"-ERR unknown command\r\n")


def serve(proto, mode, conn, args):
    if mode in ("implicit", "tls11", "dirtyend", "dirtycut"):
        conn = tls_context(args, old=(mode == "tls11")).wrap_socket(
            conn, server_side=True)
    peer = Peer(conn, args["capture"])
    (imap if proto == "imap" else pop3)(peer, mode, args)
    if mode in ("dirtyend", "dirtycut"):
        # The TCP connection closes under TLS: no close_notify.
        peer.sock.shutdown(socket.SHUT_RDWR)
        return
    if isinstance(peer.sock, ssl.SSLSocket):
        # An orderly close_notify, as an honest server ends a session.
        peer.sock.unwrap()


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    proto, mode = sys.argv[1], sys.argv[2]
    args = {"bind": "127.0.0.1"}
    rest = sys.argv[3:]
    while rest:
        args[rest[0].lstrip("-")] = rest[1]
        rest = rest[2:]
    open(args["capture"], "ab").close()
    family = socket.AF_INET6 if ":" in args["bind"] else socket.AF_INET
    ls = socket.socket(family, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args["bind"], 0))
    ls.listen(4)
    ls.settimeout(30)
    print(ls.getsockname()[1], flush=True)
    while True:
        try:
            conn, _ = ls.accept()
        except socket.timeout:
            return
        conn.settimeout(30)
        try:
            serve(proto, mode, conn, args)
        except (OSError, ssl.SSLError, EOFError) as e:
            print("hostile_server: %s %s: %r" % (proto, mode, e),
                  file=sys.stderr)
        finally:
            conn.close()


if __name__ == "__main__":
    main()
