#!/usr/bin/env python3
"""throttle.py: a TCP relay that slows the server down.

usage: throttle.py TARGET-PORT [BYTES-PER-SECOND]

Listens on 127.0.0.1, port chosen by the system, and prints that port on
stdout. Each connection is relayed to 127.0.0.1:TARGET-PORT; the server's
bytes reach the client at BYTES-PER-SECOND at most (default 20000), the
client's go as they come: a fetch of big messages lasts long enough for
a test to act in its middle whatever the machine's load (a load slows
it, never speeds it up). Runs until killed.
"""
import socket
import sys
import threading
import time


def pump(src, dst, rate):
    """Forwards src to dst (at rate bytes a second at most; 0: no
    bound) until either side ends, then ends both."""
    try:
        while True:
            data = src.recv(1024 if rate else 65536)
            if not data:
                break
            dst.sendall(data)
            if rate:
                time.sleep(len(data) / rate)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def relay(client, target, rate):
    server = socket.create_connection(("127.0.0.1", target))
    threading.Thread(target=pump, args=(client, server, 0),
                     daemon=True).start()
    pump(server, client, rate)


def main():
    target = int(sys.argv[1])
    rate = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    print(ls.getsockname()[1], flush=True)
    while True:
        client, _ = ls.accept()
        threading.Thread(target=relay, args=(client, target, rate),
                         daemon=True).start()


if __name__ == "__main__":
    main()
