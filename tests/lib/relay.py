#!/usr/bin/env python3
"""relay.py: a TCP relay that records what the client sends.

usage: relay.py TARGET-PORT CAPTURE-FILE [CUT-AFTER]

Listens on 127.0.0.1, port chosen by the system, and prints that port on
stdout. Each connection is relayed to 127.0.0.1:TARGET-PORT both ways;
every byte the client sends is appended to CAPTURE-FILE as it arrives (so
a test sees exactly what reached the server: clear text before STARTTLS,
TLS records after). With CUT-AFTER, each connection is dropped (both
sides, abruptly) once that many bytes came from the server: a network
failure at a chosen point. Runs until killed; mfd_relay in
tests/lib/mfd.sh starts it.
"""
import socket
import sys
import threading


def pump(src, dst, capture, lock, cut=None):
    """Copy src to dst until EOF; record the bytes when capture is set;
    after cut bytes, drop both connections."""
    sent = 0
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if cut is not None and sent + len(data) >= cut:
                dst.sendall(data[:cut - sent])
                for s in (src, dst):
                    s.shutdown(socket.SHUT_RDWR)
                break
            sent += len(data)
            if capture is not None:
                with lock:
                    capture.write(data)
                    capture.flush()
            dst.sendall(data)
    except OSError:
        pass
    finally:
        # Pass the EOF on, so each side sees the other close.
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve(client, port, capture, lock, cut):
    try:
        server = socket.create_connection(("127.0.0.1", port))
    except OSError:
        client.close()
        return
    up = threading.Thread(target=pump, args=(client, server, capture, lock),
                          daemon=True)
    up.start()
    pump(server, client, None, lock, cut)
    up.join()
    client.close()
    server.close()


def main():
    port = int(sys.argv[1])
    capture = open(sys.argv[2], "ab")
    cut = int(sys.argv[3]) if len(sys.argv) > 3 else None
    lock = threading.Lock()
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    print(ls.getsockname()[1], flush=True)
    while True:
        client, _ = ls.accept()
        threading.Thread(target=serve, args=(client, port, capture, lock, cut),
                         daemon=True).start()


if __name__ == "__main__":
    main()
