#!/usr/bin/env python3
"""relay.py: a TCP relay that records what the client sends.

usage: relay.py TARGET-PORT CAPTURE-FILE [CUT-AFTER]
       relay.py TARGET-PORT CAPTURE-FILE --fault MODE --seed N --max BYTES
                --first K --events FILE

Listens on 127.0.0.1, port chosen by the system, and prints that port on
stdout. Each connection is relayed to 127.0.0.1:TARGET-PORT both ways;
every byte the client sends is appended to CAPTURE-FILE as it arrives (so
a test sees exactly what reached the server: clear text before STARTTLS,
TLS records after). With CUT-AFTER, each connection is dropped (both
sides, abruptly) once that many bytes came from the server: a network
failure at a chosen point. Runs until killed; mfd_relay in
tests/lib/mfd.sh starts it.

SIGUSR1 makes the relay a black hole, as a network that went away: it
keeps every connection open and accepts new ones, but forwards nothing
either way (what arrives is held, not dropped, as TCP would retransmit
it); SIGUSR2 forwards again, the held bytes first.

With --fault (tests/fault/cuts.sh), each of the first K connections
(all when K is 0) misbehaves at an offset drawn from random.Random(N) in
[0, BYTES] (counted over both directions, so it can land mid-command,
mid-literal, mid-line or inside the TLS handshake):
  cut    both sides dropped abruptly at that offset
  stall  nothing more forwarded either way from that offset on (the
         sockets stay open: the client's timeout must fire)
  drip   no offset: the server's bytes go to the client one per send
Later connections are relayed untouched. One line per fault goes to the
events FILE ("<conn> cut 1234" ...), so the test can count them.
"""
import random
import signal
import socket
import sys
import threading

# Set while the relay forwards; cleared by SIGUSR1 (a black hole).
FLOWING = threading.Event()
FLOWING.set()


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
            FLOWING.wait()
            if capture is not None:
                with lock:
                    capture.write(data)
                    capture.flush()
            dst.sendall(data)
    except OSError:
        pass
    finally:
        # Pass the EOF on, so each side sees the other close.
        FLOWING.wait()
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


class Fault:
    """The shared byte budget of one misbehaving connection."""

    def __init__(self, mode, at, conn, events):
        self.mode = mode
        self.at = at
        self.conn = conn
        self.events = events
        self.done = 0
        self.hit = False
        self.lock = threading.Lock()

    def take(self, n):
        """How many of n bytes may pass; marks the fault when reached."""
        with self.lock:
            if self.hit:
                return 0
            room = self.at - self.done
            if n < room:
                self.done += n
                return n
            self.hit = True
            with open(self.events, "a") as f:
                f.write("%d %s %d\n" % (self.conn, self.mode, self.at))
            return max(room, 0)


def fault_pump(src, dst, fault, peer):
    """Copy src to dst under fault (cut or stall at its offset)."""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if fault.mode == "drip":
                for i in range(len(data)):
                    dst.sendall(data[i:i + 1])
                continue
            n = fault.take(len(data))
            if n > 0:
                dst.sendall(data[:n])
            if n < len(data) or fault.hit:
                if fault.mode == "cut":
                    for s in (src, dst, peer):
                        try:
                            s.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                    return
                # stall: swallow everything until the client gives up.
                while src.recv(65536):
                    pass
                return
    except OSError:
        pass
    try:
        dst.shutdown(socket.SHUT_WR)
    except OSError:
        pass


def fault_serve(client, port, fault):
    try:
        server = socket.create_connection(("127.0.0.1", port))
    except OSError:
        client.close()
        return
    for s in (client, server):
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    up = threading.Thread(target=fault_pump, args=(client, server, fault,
                                                   client), daemon=True)
    up.start()
    fault_pump(server, client, fault, server)
    up.join()
    client.close()
    server.close()


def fault_main(port, args):
    opts = {}
    while args:
        opts[args[0].lstrip("-")] = args[1]
        args = args[2:]
    rnd = random.Random(int(opts.get("seed", "1")))
    first = int(opts.get("first", "0"))
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    print(ls.getsockname()[1], flush=True)
    n = 0
    while True:
        client, _ = ls.accept()
        n += 1
        if first and n > first:
            mode, at = "cut", float("inf")	# relayed untouched
        else:
            mode = opts["fault"]
            at = rnd.randint(0, int(opts.get("max", "100000")))
        fault = Fault(mode, at, n, opts.get("events", "/dev/null"))
        threading.Thread(target=fault_serve, args=(client, port, fault),
                         daemon=True).start()


def main():
    port = int(sys.argv[1])
    if len(sys.argv) > 3 and sys.argv[3] == "--fault":
        open(sys.argv[2], "ab").close()
        fault_main(port, sys.argv[3:])
        return
    capture = open(sys.argv[2], "ab")
    cut = int(sys.argv[3]) if len(sys.argv) > 3 else None
    signal.signal(signal.SIGUSR1, lambda *_: FLOWING.clear())
    signal.signal(signal.SIGUSR2, lambda *_: FLOWING.set())
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
