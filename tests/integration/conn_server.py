#!/usr/bin/env python3
"""A scripted one-connection server for tests/integration/conn_tls.sh.

usage: conn_server.py MODE [--cert F --key F] [--bind ADDR]

Listens on ADDR (127.0.0.1) port 0, prints the port on stdout, serves one
connection according to MODE, then exits (or after 30 s without a client).

Modes:
  tls             implicit TLS, "* OK" greeting, then waits for EOF
  tls-clean       greeting, "* BYE", TLS close_notify, close
  tls-dirty       greeting, "* BYE", TCP close without close_notify
  tls-records     greeting, then 200 lines in a burst, each in a TLS record
                  of its own, the last "* LAST", then waits for EOF
  tls11           like tls, but only TLS 1.0/1.1 offered
  plain           plain-text greeting
  longline        plain-text greeting line of 20000 bytes
  silent          accepts and never says a word
  starttls-imap   plain greeting, "a STARTTLS" -> "a OK", TLS, CAPABILITY
  starttls-inject same, but "a OK" comes with an injected line in the
                  same packet (NO STARTTLS response injection)
  starttls-inject-late  same, but the injected line comes 0.2 s after
                  "a OK", in a packet of its own
  starttls-pop3   "+OK", "STLS" -> "+OK", TLS, CAPA
"""
import socket
import ssl
import sys
import time


def tls_context(args, old=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args["cert"], args["key"])
    if old:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    return ctx


def readline(s):
    buf = b""
    while not buf.endswith(b"\n"):
        b = s.recv(1)
        if not b:
            break
        buf += b
    return buf


def wait_eof(s):
    try:
        while s.recv(4096):
            pass
    except (OSError, ssl.SSLError):
        pass


def serve(mode, conn, args):
    if mode in ("tls", "tls-clean", "tls-dirty", "tls11", "tls-records"):
        t = tls_context(args, old=(mode == "tls11")).wrap_socket(
            conn, server_side=True)
        t.sendall(b"* OK test server ready\r\n")
        if mode == "tls-records":
            for i in range(199):
                t.sendall(b"* %d record of its own\r\n" % i)
            t.sendall(b"* LAST\r\n")
            wait_eof(t)
        elif mode == "tls-clean":
            t.sendall(b"* BYE logging out\r\n")
            t.unwrap().close()
        elif mode == "tls-dirty":
            t.sendall(b"* BYE logging out\r\n")
            time.sleep(0.2)
            # No close_notify: shut the TCP connection under TLS.
            t.shutdown(socket.SHUT_RDWR)
            t.close()
        else:
            wait_eof(t)
        return
    if mode == "plain":
        conn.sendall(b"* OK plain server ready\r\n")
        wait_eof(conn)
        return
    if mode == "longline":
        conn.sendall(b"* OK " + b"x" * 20000 + b"\r\n")
        wait_eof(conn)
        return
    if mode == "silent":
        wait_eof(conn)
        return
    if mode in ("starttls-imap", "starttls-inject", "starttls-inject-late"):
        conn.sendall(b"* OK [CAPABILITY IMAP4rev1 STARTTLS] ready\r\n")
        if not readline(conn).startswith(b"a STARTTLS"):
            return
        reply = b"a OK Begin TLS negotiation now\r\n"
        injected = b"* CAPABILITY IMAP4rev1 AUTH=PLAIN (injected)\r\n"
        if mode == "starttls-inject":
            reply += injected
        conn.sendall(reply)
        if mode == "starttls-inject-late":
            time.sleep(0.2)
            conn.sendall(injected)
        t = tls_context(args).wrap_socket(conn, server_side=True)
        if readline(t).startswith(b"b CAPABILITY"):
            t.sendall(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\nb OK done\r\n")
        wait_eof(t)
        return
    if mode == "starttls-pop3":
        conn.sendall(b"+OK POP3 test server ready\r\n")
        if not readline(conn).startswith(b"STLS"):
            return
        conn.sendall(b"+OK Begin TLS negotiation\r\n")
        t = tls_context(args).wrap_socket(conn, server_side=True)
        if readline(t).startswith(b"CAPA"):
            t.sendall(b"+OK capabilities follow\r\nUSER\r\n.\r\n")
        wait_eof(t)
        return
    raise SystemExit("unknown mode " + mode)


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    mode = sys.argv[1]
    args = {"bind": "127.0.0.1"}
    rest = sys.argv[2:]
    while rest:
        args[rest[0].lstrip("-")] = rest[1]
        rest = rest[2:]
    family = socket.AF_INET6 if ":" in args["bind"] else socket.AF_INET
    ls = socket.socket(family, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args["bind"], 0))
    ls.listen(1)
    ls.settimeout(30)
    print(ls.getsockname()[1], flush=True)
    try:
        conn, _ = ls.accept()
    except socket.timeout:
        return
    conn.settimeout(30)
    try:
        serve(mode, conn, args)
    except (OSError, ssl.SSLError) as e:
        print("conn_server: %s: %s" % (mode, e), file=sys.stderr)
    finally:
        conn.close()
        ls.close()


if __name__ == "__main__":
    main()
