#!/usr/bin/env python3
"""wirecount.py: a TCP relay that counts the bytes on the wire.

usage: wirecount.py TARGET-PORT COUNTS-FILE

Listens on 127.0.0.1 (port chosen by the system, printed on stdout) and
relays each connection to 127.0.0.1:TARGET-PORT. When a connection ends,
appends one line to COUNTS-FILE: "DOWN UP", the TCP payload bytes the
server sent (TLS records and all) and those the client sent. bench/run.sh
puts it in front of Dovecot for one untimed fetch per mailfetchd peer, so
that the bytes are measured the same way with and without COMPRESS; the
timed runs never go through it. Runs until killed.
"""
import socket
import sys
import threading


def pump(src, dst, count):
    """Copy src to dst until EOF, adding the bytes to count[0]."""
    try:
        while True:
            data = src.recv(262144)
            if not data:
                break
            count[0] += len(data)
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve(client, port, path, lock):
    """Relay one connection, then log its counts."""
    down, up = [0], [0]
    try:
        server = socket.create_connection(("127.0.0.1", port))
    except OSError:
        client.close()
        return
    t = threading.Thread(target=pump, args=(client, server, up), daemon=True)
    t.start()
    pump(server, client, down)
    t.join()
    client.close()
    server.close()
    with lock, open(path, "a") as f:
        f.write("%d %d\n" % (down[0], up[0]))


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    lock = threading.Lock()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    print(ls.getsockname()[1], flush=True)
    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c, port, path, lock),
                         daemon=True).start()


if __name__ == "__main__":
    main()
