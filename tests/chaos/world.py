"""world.py: the simulated world of tests/chaos (see README.md there).

A model IMAP server and a model POP3 server (127.0.0.1, one thread per
connection; plain TCP, implicit TLS or STARTTLS/STLS, with the server
side of TLS on memory BIOs so that the model decides every byte on the
wire) hold a mailbox model and misbehave as a seeded random source draws,
per connection and per command. Every change to the
model is logged (Log) for the oracle in chaos.py, and every destructive or
visible action a client asks for (\\Seen, \\Deleted, EXPUNGE, MOVE, DELE)
is checked at the moment it reaches the server against what is in the
client's Maildir right then (Account.check_action).

Python 3, standard library only.
"""
import hashlib
import os
import random
import re
import select
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "fault"))
import faultlib  # noqa: E402
import imap_server  # noqa: E402

maildir_dirs = faultlib.maildir_dirs

# ---------------------------------------------------------------- messages

def make_message(rnd, key, kind="plain", msgid=None):
    """A message (CRLF line ends) whose content names key. kind: plain
    (2-20 KB, the fault corpus's lines: some start with "." or "From "),
    tiny, big (over max_message_size), mid (70-180 KB), hugeid (~82 KB
    of Message-ID lines)."""
    mid = msgid or "<%s@chaos.example>" % key
    head = ["From: Chaos <chaos@chaos.example>",
            "To: Reader <reader@chaos.example>",
            "Subject: chaos %s" % key,
            "Date: Mon, 7 Dec 2026 06:00:00 +0000",
            "Message-ID: %s" % mid]
    if kind == "hugeid":
        head += ["Message-ID: <%s-%05d-%s@chaos.example>" % (key, k, "x" * 40)
                 for k in range(1300)]
    body = "key %s\n" % key
    if kind != "tiny":
        # Its lines after its header (the Message-ID line).
        body += faultlib.make_message(rnd, key, 0)[1].decode().split(
            "@fault.example>\n", 1)[1]
    if kind == "big":
        body += body * (240000 // len(body))
    if kind == "mid":
        # 70-180 KB, under max_message_size and over the 64 KiB a POP3
        # owed-DELE check reads without a size (review r19 14); its size
        # from the key, so that it draws nothing from rnd.
        want = 70000 + int(hashlib.sha256(key.encode()).hexdigest()[:6],
                           16) % 110000
        body += body * (want // len(body))
    body += ".end of %s\n" % key
    return ("\r\n".join(head) + "\r\n\r\n" +
            body.replace("\n", "\r\n")).encode()


def lf(data):
    return data.replace(b"\r\n", b"\n")


def digest(data):
    return hashlib.sha256(data).hexdigest()


def msgid_fields(data):
    """BODY[HEADER.FIELDS (MESSAGE-ID)]: every Message-ID field, then CRLF."""
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    out = []
    take = False
    for line in head:
        if line[:1] in (b" ", b"\t"):
            if take:
                out.append(line)
            continue
        take = line.lower().startswith(b"message-id:")
        if take:
            out.append(line)
    return b"".join(x + b"\r\n" for x in out) + b"\r\n"


# ---------------------------------------------------------------- the log

class Log:
    """Everything the oracle needs, in order, with wall time."""

    def __init__(self):
        self.lock = threading.RLock()
        self.events = []
        self.violations = []
        self.drawn = {}		# misbehaviour name -> count
        self.sessions = 0

    def add(self, *ev):
        with self.lock:
            self.events.append((time.monotonic(),) + ev)

    def violate(self, kind, text):
        with self.lock:
            self.violations.append((kind, text))

    def draw(self, name):
        with self.lock:
            self.drawn[name] = self.drawn.get(name, 0) + 1


class Msg:
    def __init__(self, key, data, required=True, why=""):
        self.key = key
        self.data = data
        self.required = required	# must be delivered (exactly once)
        self.why = why			# why not, when not
        # A Message-ID over 64 KiB is "taken as absent" by design: after
        # a UIDVALIDITY change such a message may arrive a second time.
        self.hugeid = False


class Account:
    """One account of the world: its server model, its Maildir, its
    messages. The server model is protected by self.lock."""

    def __init__(self, name, kind, proto, opts, log, rnd, maildir):
        self.name = name
        self.kind = kind
        self.proto = proto
        self.opts = opts		# config choices (keep, mark_read...)
        self.log = log
        self.rnd = rnd			# world draws (contents, other client)
        self.maildir = maildir
        self.lock = threading.RLock()
        self.msgs = {}			# key -> Msg, everything ever made
        self.bydigest = {}		# digest of the LF form -> key
        self.nkey = 0
        self.conns = []			# open connections (for the cap)
        self.peak_conns = 0
        self.logins = []		# (time, ok, phase)
        self.fault_rate = 0.0		# per-draw scale, 0 in honest mode
        self.suppress = set()		# (conn no, draw name) not to draw
        self.drawn_here = []		# (conn no, draw name) drawn
        self.nconn = 0
        self.phase = "idle"		# which process the driver runs
        self.scan_cache = {}		# (dev, ino) -> digest
        self.ever = {}			# key -> set of (dev, ino) seen
        self.graveyard = set()		# (dev, ino) the reader deleted
        self.body_bytes = []		# (time, bytes, phase, conn) read
        self.opened = {}		# conn no -> when it was accepted
        self.seed = 0
        self.off = set()		# misbehaviours not drawn at all
        self.force = {}			# (conn no, draw name) -> calls to
        #				  let pass before it is drawn, once
        self.certs = None		# world.make_certs(), with TLS

    # ---- messages
    def new_message(self, kind="plain", required=True, why="", msgid=None,
                    like=None):
        with self.lock:
            self.nkey += 1
            key = "%s-%d-%d" % (self.name, self.seed, self.nkey)
            if like is not None:
                # Same Message-ID and size as another, other content.
                data = self.msgs[like].data
                data = data.replace(b"key " + like.encode(),
                                    b"KEY " + like.encode())
                key = like + "-twin"
            else:
                data = make_message(self.rnd, key, kind, msgid)
            m = Msg(key, data, required, why)
            m.hugeid = kind == "hugeid"
            if like is not None:
                # A twin is as large, and has as long a Message-ID.
                m.hugeid = self.msgs[like].hugeid
                if len(data) > self.opts.get("max_size", 1 << 62):
                    m.required, m.why = False, "too large"
            self.msgs[key] = m
            self.bydigest[digest(lf(data))] = key
            return m

    # ---- draws
    def draws(self, conn_no, stream):
        """The random source of one connection's misbehaviours: the same
        for the same seed, account and connection number."""
        return random.Random("%d/%s/%d/%s" % (self.seed, self.name, conn_no,
                                              stream))

    def chance(self, conn, name, p):
        """Draws misbehaviour name on conn with probability p (scaled);
        a forced one (a history's "force" list) is drawn whatever."""
        if self.force.get((conn.n, name), -1) > 0:
            self.force[(conn.n, name)] -= 1	# not this call yet
            return False
        if self.force.get((conn.n, name)) == 0:
            del self.force[(conn.n, name)]
        elif self.fault_rate <= 0 or (conn.n, name) in self.suppress or \
                name in self.off:
            return False
        elif conn.rnd.random() >= p * self.fault_rate:
            return False
        self.log.draw(name)
        with self.lock:
            self.drawn_here.append((conn.n, name))
        self.log.add("draw", self.name, conn.n, name)
        return True

    # ---- the Maildir, as the oracle sees it
    def scan(self):
        """Reads every file in new/ and cur/ of every folder of the
        Maildir; returns {key: [(dev, ino, path)]}, and records each file
        in self.ever; an unknown content is a violation (partial or
        corrupt file)."""
        found = {}
        for d in maildir_dirs(self.maildir):
            for sub in ("new", "cur"):
                p = os.path.join(d, sub)
                try:
                    names = os.listdir(p)
                except OSError:
                    continue
                for e in names:
                    path = os.path.join(p, e)
                    try:
                        st = os.stat(path)
                    except OSError:
                        continue
                    ident = (st.st_dev, st.st_ino)
                    h = self.scan_cache.get(ident)
                    if h is None:
                        try:
                            with open(path, "rb") as f:
                                h = digest(f.read())
                        except OSError:
                            continue
                        self.scan_cache[ident] = h
                    key = self.bydigest.get(h)
                    if key is None:
                        self.log.violate("corrupt", "%s: %s holds no message "
                                         "the server ever had (partial or "
                                         "altered)" % (self.name, path))
                        self.bydigest[h] = "?corrupt:" + path
                        continue
                    found.setdefault(key, []).append((ident, path))
                    self.ever.setdefault(key, set()).add(ident)
        return found

    def delivered(self, key):
        """Was the message ever found in the Maildir (a fresh scan)?"""
        if key in self.ever:
            return True
        self.scan()
        return key in self.ever

    def check_credentials(self, what, conn):
        """A login command (credentials) reached the server: never in
        clear text when TLS is configured, never over a TLS connection
        whose certificate the client should have refused."""
        self.log.add("credentials", self.name, what, conn.n,
                     "tls" if conn.tls else "plain", conn.cert)
        if self.opts.get("tls", "none") != "none" and conn.tls is None:
            self.log.violate("cleartext-credentials", "%s: %s sent in clear"
                             " text on connection %d (tls = %s)" % (
                                 self.name, what, conn.n, self.opts["tls"]))
        if conn.cert != "good":
            self.log.violate("unverified-credentials", "%s: %s sent on "
                             "connection %d to a server whose certificate "
                             "does not verify (%s)" % (self.name, what,
                                                       conn.n, conn.cert))

    def check_action(self, what, key, conn):
        """A destructive or visible action reached the server for key."""
        self.log.add("action", self.name, what, key, conn.n)
        if not self.delivered(key):
            self.log.violate("early-action", "%s: %s for %s (connection %d)"
                             " but the message was never delivered" %
                             (self.name, what, key, conn.n))

    # ---- connections and the cap
    def open_conn(self, conn):
        with self.lock:
            for c in list(self.conns):
                if c.closed_by_peer():
                    self.conns.remove(c)
            self.conns.append(conn)
            self.nconn += 1
            conn.n = self.nconn
            cap = self.opts.get("max_connections")
            if cap and len(self.conns) > cap:
                self.log.violate("connection-cap", "%s: %d connections open "
                                 "at once, the cap is %d" %
                                 (self.name, len(self.conns), cap))
            self.peak_conns = max(self.peak_conns, len(self.conns))
        self.log.sessions += 1

    def close_conn(self, conn):
        with self.lock:
            if conn in self.conns:
                self.conns.remove(conn)

    def note_login(self, ok, conn):
        with self.lock:
            self.logins.append((time.monotonic(), ok, self.phase, conn.n))
            self.opened[conn.n] = conn.t_open
        self.log.add("login", self.name, ok, conn.n, self.phase)


# ---------------------------------------------------------------- transport

class Cut(Exception):
    """The model closes the connection (a misbehaviour or the end)."""


class Conn:
    def __init__(self, sock, acct):
        self.s = sock			# the TCP socket, TLS or not
        self.acct = acct
        self.buf = b""
        self.n = 0
        self.rnd = None
        self.cut_at = None		# bytes left before a cut, or None
        self.trickle = None		# (piece, pause) while trickling
        self.sent = 0
        self.unread = 0			# BODY[] bytes sent, not yet known read
        self.t_open = time.monotonic()
        self.tls = None			# ssl.SSLObject once TLS is up
        self.inc = self.outg = None	# its memory BIOs
        self.cert = "good"		# the certificate presented (TLS)
        self.ragged = False		# end without close_notify

    def closed_by_peer(self):
        if self.tls is not None or self.inc is not None:
            # Unread TLS records (a close_notify) hide the EOF from a
            # peek: ask the kernel whether the client shut down.
            p = select.poll()
            p.register(self.s, select.POLLRDHUP)
            try:
                return bool(p.poll(0))
            except OSError:
                return True
        try:
            b = self.s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            return b == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def recv(self):
        """The client's next bytes (b"" at its end), decrypted with TLS;
        raises socket.timeout as the socket does."""
        if self.tls is None:
            return self.s.recv(65536)
        while True:
            try:
                return self.tls.read(65536)
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:
                return b""		# close_notify
            b = self.s.recv(65536)
            if not b:
                return b""
            self.inc.write(b)

    def readline(self, timeout=30):
        end = time.monotonic() + timeout
        while b"\r\n" not in self.buf:
            left = end - time.monotonic()
            if left <= 0:
                raise Cut("idle client")
            self.s.settimeout(min(left, 1.0))
            try:
                b = self.recv()
            except socket.timeout:
                continue
            if not b:
                raise Cut("client closed")
            self.buf += b
            if len(self.buf) > 1 << 20:
                raise Cut("client line too long")
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("latin-1")

    def poll_line(self, wait):
        """A line if one arrives within wait seconds, else None."""
        if b"\r\n" in self.buf:
            return self.readline()
        self.s.settimeout(wait)
        try:
            b = self.recv()
        except socket.timeout:
            return None
        if not b:
            raise Cut("client closed")
        self.buf += b
        if b"\r\n" in self.buf:
            return self.readline()
        return None

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        if self.cut_at is not None and len(data) >= self.cut_at:
            part = data[:self.cut_at]
            self.cut_at = None
            self._raw(part)
            if self.tls is not None and data[len(part):] and \
                    self.acct.chance(self, "cut-in-record", 0.6):
                # The next TLS record begun, not finished: the client
                # holds bytes it cannot decrypt when the TCP end comes.
                self.tls.write(data[len(part):len(part) + 16384])
                wire = self.outg.read()
                self._wire(wire[:self.rnd.randrange(1, len(wire))])
            raise Cut("cut")
        if self.cut_at is not None:
            self.cut_at -= len(data)
        self._raw(data)

    def _raw(self, data):
        if self.tls is not None:
            self.tls.write(data)
            data = self.outg.read()
        self._wire(data)

    def _wire(self, data):
        """Bytes onto the TCP connection, trickled if so drawn."""
        if self.trickle is None:
            self.s.settimeout(30)
            self.s.sendall(data)
            self.sent += len(data)
            return
        piece, pause, end = self.trickle
        for k in range(0, len(data), piece):
            if time.monotonic() > end:
                self.trickle = None
                raise Cut("trickled long enough")
            self.s.settimeout(30)
            self.s.sendall(data[k:k + piece])
            self.sent += len(data[k:k + piece])
            time.sleep(pause)

    def arm_cut(self, total):
        """Cuts the connection at a random byte of the next total bytes."""
        self.cut_at = self.rnd.randrange(0, max(total, 1))

    def start_tls(self, ctx, pace=None):
        """The server side of a TLS handshake; pace (piece, pause, end)
        trickles its bytes. Raises Cut (or ssl.SSLError, an OSError) when
        the client gives up, as it must for a certificate it cannot
        verify."""
        self.inc, self.outg = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(self.inc, self.outg, server_side=True)
        end = time.monotonic() + 30
        self.trickle = pace
        try:
            while True:
                try:
                    obj.do_handshake()
                    break
                except ssl.SSLWantReadError:
                    self._wire(self.outg.read())
                self.s.settimeout(max(0.01, end - time.monotonic()))
                b = self.s.recv(65536)
                if not b:
                    raise Cut("client closed during the handshake")
                self.inc.write(b)
            self._wire(self.outg.read())
        finally:
            self.trickle = None
        self.tls = obj

    def stall(self, bound=30):
        """Reads and answers nothing until the client goes (a server that
        stalls mid-handshake)."""
        end = time.monotonic() + bound
        while time.monotonic() < end:
            self.s.settimeout(0.5)
            try:
                if not self.s.recv(65536):
                    break
            except socket.timeout:
                continue
        raise Cut("stalled")

    def close_notify(self):
        """A clean TLS end: the close_notify alert before the TCP end."""
        if self.tls is None or self.ragged:
            return
        try:
            self.tls.unwrap()
        except (ssl.SSLError, ValueError):
            pass
        try:
            self.s.settimeout(1)
            self.s.sendall(self.outg.read())
        except OSError:
            pass


# ---------------------------------------------------------------- TLS

_tls_lock = threading.Lock()
_tls_made = {}


def _openssl(args, d):
    with open(os.path.join(d, "openssl.err"), "ab") as err:
        subprocess.check_call(["openssl"] + args, stdout=err, stderr=err,
                              cwd=d)


def make_certs(d):
    """The test CA and the server certificates of one chaos run, in d:
    made once (EC P-256, as tests/lib/dovecot.sh makes them). Returns
    {"ca": CA file, "fingerprint": the good one's, name: SSLContext}:
    good (127.0.0.1 from the CA), wrong-name (another name from the CA),
    other-ca (127.0.0.1 from a CA nobody trusts), other-key (127.0.0.1
    from the CA, another key: only a fingerprint tells it apart)."""
    with _tls_lock:
        if d in _tls_made:
            return _tls_made[d]
        os.makedirs(d, exist_ok=True)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-nodes", "-days", "30", "-sha256"]
        for ca in ("ca", "rogue-ca"):
            _openssl(["req", "-x509", "-new"] + ec + [
                "-subj", "/CN=mailfetchd chaos %s %d" % (ca, os.getpid()),
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout", ca + ".key", "-out", ca + ".pem"], d)
        out = {"ca": os.path.join(d, "ca.pem")}
        for name, ca, san in (("good", "ca", "IP:127.0.0.1"),
                              ("wrong-name", "ca", "DNS:wrong.example"),
                              ("other-ca", "rogue-ca", "IP:127.0.0.1"),
                              ("other-key", "ca", "IP:127.0.0.1")):
            cn = "wrong.example" if name == "wrong-name" else "127.0.0.1"
            _openssl(["req", "-x509", "-new"] + ec + [
                "-subj", "/CN=%s" % cn, "-CA", ca + ".pem",
                "-CAkey", ca + ".key",
                "-addext", "basicConstraints=critical,CA:FALSE",
                "-addext", "keyUsage=critical,digitalSignature",
                "-addext", "extendedKeyUsage=serverAuth",
                "-addext", "subjectAltName=%s" % san,
                "-keyout", name + ".key", "-out", name + ".pem"], d)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(os.path.join(d, name + ".pem"),
                                os.path.join(d, name + ".key"))
            ctx.num_tickets = 0
            out[name] = ctx
        with open(os.path.join(d, "good.pem")) as f:
            der = ssl.PEM_cert_to_DER_cert(f.read())
        out["fingerprint"] = "sha256:" + hashlib.sha256(der).hexdigest()
        _tls_made[d] = out
        return out


def injected(c):
    """A response in clear text after STARTTLS's OK, in the same packet:
    an injection (CVE-2011-0411 and kin) the client must refuse."""
    if not c.acct.chance(c, "starttls-injection", 0.02):
        return ""
    return "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] injected\r\n" \
        if c.acct.proto == "imap" else "+OK injected\r\n"


def tls_begin(c):
    """The TLS handshake of a connection (implicit TLS at once, STARTTLS
    after its OK), with its misbehaviours: a certificate the client must
    refuse, a handshake that stalls, trickles or drips."""
    a = c.acct
    c.buf = b""		# plain text sent before TLS is never read after
    cert = "good"
    for name, p, which in (
            ("bad-cert-name", 0.03, "wrong-name"),
            ("bad-cert-ca", 0.03, "other-ca"),
            ("bad-cert-key", 0.05 if a.opts.get("pin") else 0, "other-key")):
        if p and a.chance(c, name, p):
            cert = which
            break
    c.cert = cert
    pace = None
    if a.chance(c, "tls-stall", 0.015):
        c.ragged = True
        c.s.settimeout(5)
        c.s.recv(65536)			# the ClientHello, then nothing
        c.stall()
    elif a.chance(c, "tls-trickle", 0.03):
        pace = (64, 0.02, time.monotonic() + 20)
    elif a.chance(c, "tls-drip", 0.01):
        pace = (1, 0.25, time.monotonic() + 60)
    c.start_tls(a.certs[cert], pace)
    a.log.add("tls", a.name, c.n, cert)


class Server:
    """Listens on 127.0.0.1 and runs handler(conn) in a thread per
    connection."""

    def __init__(self, acct, handler):
        self.acct = acct
        self.handler = handler
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.ls.settimeout(0.2)
        self.port = self.ls.getsockname()[1]
        self.stop = False
        self.threads = []
        self.t = threading.Thread(target=self.loop, daemon=True)
        self.t.start()

    def loop(self):
        while not self.stop:
            try:
                sock, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            c = Conn(sock, self.acct)
            self.acct.open_conn(c)
            c.rnd = self.acct.draws(c.n, "conn")
            t = threading.Thread(target=self.run, args=(c,), daemon=True)
            self.threads.append(t)
            t.start()

    def run(self, c):
        try:
            if self.acct.opts.get("tls") == "implicit":
                tls_begin(c)
            self.handler(c)
        except (Cut, OSError, ValueError, IndexError, KeyError):
            c.ragged = True
        finally:
            c.close_notify()
            self.acct.close_conn(c)
            try:
                c.s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.s.close()

    def close(self):
        self.stop = True
        self.t.join(5)
        self.ls.close()
        for t in self.threads:
            t.join(5)


# ---------------------------------------------------------------- IMAP

class Folder:
    def __init__(self, name, fetched):
        self.name = name
        self.fetched = fetched
        self.uidvalidity = random.Random(name).randint(1000, 9000)
        self.uidnext = 1
        self.msgs = {}			# uid -> [key, flags set]
        self.watchers = []		# connections that have it selected

    def uids(self):
        return sorted(self.msgs)


class ImapAccount(Account):
    def __init__(self, *a, **kw):
        Account.__init__(self, *a, **kw)
        self.folders = {}
        for f in self.opts["folders"]:
            self.folders[f] = Folder(f, True)
        if self.opts.get("trash"):
            self.folders[self.opts["trash"]] = Folder(self.opts["trash"],
                                                      False)
        self.trash_got = set()		# keys ever put in the trash folder
        self.caps = "IMAP4rev1 AUTH=PLAIN SASL-IR IDLE"
        if self.opts.get("uidplus"):
            self.caps += " UIDPLUS"
        if self.opts.get("move"):
            self.caps += " MOVE"

    # ---- model changes (lock held by the callers)
    def notify(self, folder, what):
        for c in folder.watchers:
            c.pending.append(what)

    def put(self, folder, key, flags=()):
        f = self.folders[folder]
        uid = f.uidnext
        f.uidnext += 1
        f.msgs[uid] = [key, set(flags)]
        self.notify(f, ("exists", uid))
        if folder == self.opts.get("trash"):
            self.trash_got.add(key)
        if f.fetched:
            self.log.add("hold", self.name, key, folder, uid,
                         "seen" if "\\Seen" in flags else "-")
        return uid

    def remove(self, folder, uid, by):
        f = self.folders[folder]
        key = f.msgs.pop(uid)[0]
        self.notify(f, ("expunge", uid))
        self.log.add("gone", self.name, key, folder, uid, by)
        return key

    def holding(self):
        """Keys held now in fetched folders."""
        with self.lock:
            return {m[0] for f in self.folders.values() if f.fetched
                    for m in f.msgs.values()}

    # ---- the other client
    def other_client(self, rnd, during):
        """One action of another client (a webmail, a phone)."""
        with self.lock:
            fname = rnd.choice(self.opts["folders"])
            f = self.folders[fname]
            r = rnd.random()
            uids = f.uids()
            if r < 0.45 or not uids:
                kind = rnd.choice(["plain"] * 30 + ["big", "hugeid", "twin"])
                if kind == "twin" and uids:
                    like = f.msgs[rnd.choice(uids)][0]
                    if like + "-twin" in self.msgs or "-twin" in like:
                        return
                    m = self.new_message(like=like)
                elif kind == "twin":
                    return
                else:
                    m = self.new_message(kind, required=kind != "big",
                                         why="too large")
                flags = {"\\Seen"} if rnd.random() < 0.2 else set()
                self.put(fname, m.key, flags)
                self.log.add("other", self.name, "add", m.key)
            elif r < 0.65:
                uid = rnd.choice(uids)
                flag = rnd.choice(["\\Seen", "\\Flagged"])
                f.msgs[uid][1].add(flag)
                self.notify(f, ("flags", uid))
                self.log.add("other", self.name, "flag " + flag,
                             f.msgs[uid][0])
            elif r < 0.80 and not during:
                # Marked deleted, left for a later expunge (Thunderbird).
                uid = rnd.choice(uids)
                f.msgs[uid][1].add("\\Deleted")
                self.log.add("other", self.name, "flag \\Deleted",
                             f.msgs[uid][0])
            else:
                uid = rnd.choice(uids)
                key = self.remove(fname, uid, "other")
                self.log.add("other", self.name, "expunge", key)

    def uidvalidity_change(self, rnd, how):
        """A folder recreated or migrated: same, partly the same or
        different content under new UIDs."""
        with self.lock:
            fname = rnd.choice(self.opts["folders"])
            f = self.folders[fname]
            for c in list(f.watchers):
                c.doomed = True
            old = [f.msgs[u] for u in f.uids()]
            for u in f.uids():
                self.remove(fname, u, "uidvalidity")
            f.uidvalidity += 1 + rnd.randint(0, 50)
            f.uidnext = 1 + rnd.choice((0, 0, 5, 300))
            for key, flags in old:
                if how == "same" or (how == "partly" and rnd.random() < 0.6):
                    self.put(fname, key, flags - {"\\Deleted"})
            if how != "same":
                for _ in range(rnd.randint(1, 4)):
                    self.put(fname, self.new_message().key)
            self.log.add("uidvalidity", self.name, fname, how)


def parse_set(text, uids):
    """The UIDs of uids (sorted) that a UID set names; "n:*" with n past
    the last UID names the last one (RFC 3501), as real servers do."""
    out = imap_server.parse_set(text, uids)
    if not out and uids and "*" in text:
        out = [uids[-1]]
    return out


REFUSALS = [
    ("refused-login", "NO [AUTHENTICATIONFAILED] Invalid credentials"),
    ("unavailable", "NO [UNAVAILABLE] Temporary authentication failure"),
    ("alert", "NO [ALERT] Too many simultaneous connections. (Failure)"),
    ("throttled", "NO [THROTTLED] Account is temporarily throttled"),
]


class ImapSession:
    def __init__(self, acct, c):
        self.a = acct
        self.c = c
        self.sel = None			# Folder
        self.view = []			# UIDs as this client numbers them
        c.pending = []
        c.doomed = False

    # ---- notifications
    def flush(self):
        """Untagged EXISTS/EXPUNGE/FETCH for what changed meanwhile."""
        out = []
        with self.a.lock:
            if self.sel is None:
                self.c.pending = []
                return
            for kind, uid in self.c.pending:
                if kind == "expunge" and uid in self.view:
                    out.append("* %d EXPUNGE\r\n" % (self.view.index(uid) + 1))
                    self.view.remove(uid)
                elif kind == "exists" and uid not in self.view \
                        and uid in self.sel.msgs:
                    self.view.append(uid)
                    out.append("* %d EXISTS\r\n" % len(self.view))
                elif kind == "flags" and uid in self.view \
                        and uid in self.sel.msgs:
                    out.append("* %d FETCH (UID %d FLAGS (%s))\r\n" % (
                        self.view.index(uid) + 1, uid,
                        " ".join(sorted(self.sel.msgs[uid][1]))))
            self.c.pending = []
        if out:
            self.c.send("".join(out))

    def unselect(self):
        with self.a.lock:
            if self.sel is not None and self.c in self.sel.watchers:
                self.sel.watchers.remove(self.c)
            self.sel = None

    # ---- the loop
    def caps(self):
        """STARTTLS (and no login) before TLS when tls = starttls."""
        if self.a.opts.get("tls") == "starttls" and self.c.tls is None:
            return self.a.caps + " STARTTLS LOGINDISABLED"
        return self.a.caps

    def run(self):
        a, c = self.a, self.c
        if a.chance(c, "bye-greeting", 0.03):
            c.send("* BYE [UNAVAILABLE] Server shutting down\r\n")
            return
        c.send("* OK [CAPABILITY %s] chaos IMAP ready\r\n" % self.caps())
        try:
            while True:
                line = c.readline()
                if c.unread:
                    with a.lock:
                        a.body_bytes.append((time.monotonic(), c.unread,
                                             a.phase, c.n))
                    c.unread = 0
                if c.doomed:
                    c.send("* BYE [UNAVAILABLE] mailbox recreated\r\n")
                    return
                parts = line.split(" ", 2)
                tag = parts[0]
                cmd = parts[1].upper() if len(parts) > 1 else ""
                rest = parts[2] if len(parts) > 2 else ""
                if cmd == "UID":
                    sub, _, rest = rest.partition(" ")
                    cmd = "UID " + sub.upper()
                h = getattr(self, "do_" + cmd.replace(" ", "_"), None)
                if c.tls is not None and cmd != "LOGOUT" and \
                        a.chance(c, "tls-eof-before-answer", 0.008):
                    # The TCP end, no close_notify, the command not done.
                    raise Cut("eof before the answer to " + cmd)
                if h is None:
                    c.send("%s BAD unknown command\r\n" % tag)
                elif h(tag, rest) is False:
                    return
        finally:
            self.unselect()

    def do_CAPABILITY(self, tag, rest):
        self.c.send("* CAPABILITY %s\r\n%s OK done\r\n" % (self.caps(), tag))

    def do_STARTTLS(self, tag, rest):
        a, c = self.a, self.c
        if a.opts.get("tls") != "starttls" or c.tls is not None:
            c.send("%s BAD no STARTTLS here\r\n" % tag)
            return
        if a.chance(c, "starttls-refused", 0.03):
            # A clear refusal; the session goes on in clear text, where
            # a login would be a violation (Account.check_credentials).
            c.send("%s %s\r\n" % (tag, c.rnd.choice([
                "NO [UNAVAILABLE] TLS not available now",
                "BAD STARTTLS disabled"])))
            return
        c.send("%s OK Begin TLS negotiation now\r\n%s" % (tag, injected(c)))
        tls_begin(c)

    def do_ID(self, tag, rest):
        self.c.send("* ID NIL\r\n%s OK done\r\n" % tag)

    def do_NOOP(self, tag, rest):
        self.flush()
        self.c.send("%s OK done\r\n" % tag)

    def login(self, tag, what):
        a, c = self.a, self.c
        a.check_credentials(what, c)
        for name, text in REFUSALS:
            if a.chance(c, name, 0.025):
                a.note_login(False, c)
                c.send("%s %s\r\n" % (tag, text))
                return True
        a.note_login(True, c)
        c.send("%s OK [CAPABILITY %s] logged in\r\n" % (tag, self.caps()))
        return True

    def do_LOGIN(self, tag, rest):
        return self.login(tag, "LOGIN")

    def do_AUTHENTICATE(self, tag, rest):
        if " " not in rest:
            self.c.send("+ \r\n")
            self.c.readline()
        return self.login(tag, "AUTHENTICATE")

    def do_LIST(self, tag, rest):
        m = re.match(r'"[^"]*" "?([^"]*)"?$', rest.strip())
        pat = m.group(1) if m else "*"
        rx = re.compile("^" + re.escape(pat).replace("\\*", ".*").replace(
            "%", "[^/]*") + "$", re.I)
        out = "".join('* LIST (\\HasNoChildren) "/" "%s"\r\n' % f
                      for f in self.a.folders if rx.match(f))
        self.c.send(out + "%s OK done\r\n" % tag)

    def do_STATUS(self, tag, rest):
        name = rest.split(" ")[0].strip('"')
        with self.a.lock:
            f = self.a.folders.get(name)
            if f is None:
                self.c.send("%s NO no such folder\r\n" % tag)
                return
            line = '* STATUS "%s" (UIDNEXT %d UIDVALIDITY %d MESSAGES %d)' \
                '\r\n' % (name, f.uidnext, f.uidvalidity, len(f.msgs))
        self.c.send(line + "%s OK done\r\n" % tag)

    def do_SELECT(self, tag, rest):
        a, c = self.a, self.c
        self.unselect()
        name = rest.strip().strip('"')
        if a.chance(c, "select-bye", 0.02):
            c.send("* BYE [UNAVAILABLE] backend down\r\n")
            return False
        with a.lock:
            f = a.folders.get(name)
            if f is None:
                c.send("%s NO [NONEXISTENT] no such folder\r\n" % tag)
                return
            self.sel = f
            f.watchers.append(c)
            c.pending = []
            self.view = f.uids()
            text = ("* %d EXISTS\r\n* 0 RECENT\r\n"
                    "* FLAGS (\\Seen \\Deleted \\Flagged)\r\n"
                    "* OK [PERMANENTFLAGS (\\Seen \\Deleted \\Flagged)] ok\r\n"
                    "* OK [UIDVALIDITY %d] ok\r\n* OK [UIDNEXT %d] ok\r\n"
                    % (len(self.view), f.uidvalidity, f.uidnext))
        if a.chance(c, "alert-select", 0.02):
            text = "* OK [ALERT] Your mailbox is almost full\r\n" + text
        c.send(text + "%s OK [READ-WRITE] selected\r\n" % tag)

    do_EXAMINE = do_SELECT

    def do_UID_SEARCH(self, tag, rest):
        self.flush()
        r = rest.upper()
        with self.a.lock:
            hits = []
            for u in self.view:
                m = self.sel.msgs.get(u)
                if m is None:
                    continue
                if "UNSEEN" in r and "\\Seen" in m[1]:
                    continue
                if "DELETED" in r and "UNDELETED" not in r \
                        and "\\Deleted" not in m[1]:
                    continue
                hits.append(u)
            m = re.search(r"UID ([0-9*:,]+)", rest)
            if m:
                keep = set(parse_set(m.group(1), sorted(self.view)))
                hits = [u for u in hits if u in keep]
        self.c.send("* SEARCH%s\r\n%s OK done\r\n"
                    % ("".join(" %d" % u for u in hits), tag))

    def fetch_item(self, uid, items, data=None, key=None, nil=False,
                   size_lie=None, lit_lie=None):
        with self.a.lock:
            m = self.sel.msgs.get(uid)
            if m is None:
                return b""
            key = key or m[0]
            flags = " ".join(sorted(m[1]))
        msg = self.a.msgs[key].data if data is None else data
        seq = self.view.index(uid) + 1 if uid in self.view else 1
        out = [b"* %d FETCH (UID %d" % (seq, uid)]
        if "FLAGS" in items:
            out.append(b" FLAGS (%s)" % flags.encode())
        if "RFC822.SIZE" in items:
            out.append(b" RFC822.SIZE %d" % (size_lie or len(msg)))
        if "HEADER.FIELDS" in items:
            h = msgid_fields(msg)
            out.append(b" BODY[HEADER.FIELDS (MESSAGE-ID)] {%d}\r\n" % len(h)
                       + h)
        if "BODY.PEEK[]" in items:
            if nil:
                out.append(b" BODY[] NIL")
            elif lit_lie:
                out.append(b" BODY[] {%d}\r\n" % lit_lie + msg[:2000])
                return b"".join(out)
            else:
                out.append(b" BODY[] {%d}\r\n" % len(msg) + msg)
        out.append(b")\r\n")
        return b"".join(out)

    def do_UID_FETCH(self, tag, rest):
        a, c = self.a, self.c
        self.flush()
        sset, items = rest.split(" ", 1)
        body = "BODY.PEEK[]" in items
        with a.lock:
            want = parse_set(sset, sorted(self.view))
        out = []
        gone = set()
        sizes = {}
        # Per-message draws: about as many per answer for 300 as for 20.
        k = max(1.0, len(want) / 20.0)
        for idx, uid in enumerate(want):
            if uid in gone:
                continue
            with a.lock:
                m = self.sel.msgs.get(uid)
                key = m[0] if m else None
            if key is None:
                continue
            if not body:
                msg = a.msgs[key]
                lie = None
                if not msg.required and a.chance(c, "size-lie", 0.3):
                    lie = 900		# a big one announced small
                if a.chance(c, "omit-size", 0.01 / k):
                    continue
                out.append(self.fetch_item(uid, items, size_lie=lie))
                continue
            if a.chance(c, "body-nil", 0.03 / k):
                out.append(self.fetch_item(uid, items, nil=True))
                continue
            if a.chance(c, "omit-body", 0.03 / k):
                continue
            if not a.msgs[key].required and a.chance(c, "literal-lie", 0.3):
                out.append(self.fetch_item(uid, items,
                                           lit_lie=4000000000))
                self.send_fetch(out, tag, trail=False)
                return False
            out.append(self.fetch_item(uid, items))
            sizes[uid] = len(out[-1])
            if a.chance(c, "dup-uid", 0.02 / k):
                # Another message under the same UID, after the real one
                # or before it.
                with a.lock:
                    other = a.new_message(required=False,
                                          why="sent under another's UID")
                out.insert(len(out) - (c.rnd.random() < 0.5),
                           self.fetch_item(uid, items, data=other.data,
                                           key=other.key))
            if idx + 1 < len(want) and a.chance(c, "expunge-mid-fetch",
                                                0.03 / k):
                # The other client expunges the next one meanwhile.
                nxt = want[idx + 1]
                with a.lock:
                    if nxt in self.sel.msgs:
                        a.remove(self.sel.name, nxt, "other")
                        a.log.add("other", a.name, "expunge-mid-fetch", nxt)
                        out.append(b"* %d EXPUNGE\r\n"
                                   % (self.view.index(nxt) + 1))
                        self.view.remove(nxt)
                        c.pending = [p for p in c.pending
                                     if p != ("expunge", nxt)]
                        gone.add(nxt)
            if a.chance(c, "bye-mid-fetch", 0.01 / k):
                out.append(b"* BYE [UNAVAILABLE] going down\r\n")
                self.send_fetch(out, tag, trail=False)
                return False
        ret = self.send_fetch(out, tag, body=body)
        if body:
            # Counted once the client asks something else: it read the
            # whole answer (one that stops reading is not downloading).
            c.unread = sum(sizes.values())
        return ret

    def send_fetch(self, out, tag, trail=True, body=False):
        a, c = self.a, self.c
        data = b"".join(out)
        if trail:
            if body and a.chance(c, "fetch-no", 0.01):
                data = b""
                trail = b"%s NO [UNAVAILABLE] Internal error\r\n" % \
                    tag.encode()
            else:
                trail = b"%s OK fetched\r\n" % tag.encode()
            data += trail
        if body and trail and c.tls is not None and \
                a.chance(c, "tls-eof-before-tagged", 0.03):
            # Every literal whole, then the TCP end without the tagged
            # OK and without close_notify: a truncation, not an end.
            c.send(data[:-len(trail)])
            raise Cut("eof before the tagged answer")
        if body and a.chance(c, "cut-mid-fetch", 0.06):
            c.arm_cut(len(data))
        elif body and a.chance(c, "trickle", 0.02):
            c.trickle = (512, 0.01, time.monotonic() + 20)
        elif body and a.chance(c, "drip", 0.004):
            # A byte every 0.5 s: only a bound on the whole answer ends it.
            c.trickle = (1, 0.5, time.monotonic() + 60)
        c.send(data)
        c.trickle = None
        return None

    def act(self, tag, uids, what):
        """Checks and applies \\Seen / \\Deleted of a STORE."""
        a = self.a
        with a.lock:
            for u in uids:
                m = self.sel.msgs.get(u)
                if m is None:
                    continue
                for flag in what:
                    if flag not in m[1]:
                        a.check_action("STORE " + flag, m[0], self.c)
                        m[1].add(flag)

    def do_UID_STORE(self, tag, rest):
        a, c = self.a, self.c
        self.flush()
        sset, spec = rest.split(" ", 1)
        if a.chance(c, "store-no", 0.02):
            c.send("%s NO [SERVERBUG] store failed\r\n" % tag)
            return
        with a.lock:
            uids = parse_set(sset, self.sel.uids())
        what = [f for f in ("\\Seen", "\\Deleted") if f in spec]
        if spec.startswith("+"):
            self.act(tag, uids, what)
        if a.chance(c, "cut-after-store", 0.03):
            return False
        c.send("%s OK stored\r\n" % tag)

    def expunge(self, uids):
        a = self.a
        out = []
        with a.lock:
            for u in uids:
                m = self.sel.msgs.get(u)
                if m is None or "\\Deleted" not in m[1]:
                    continue
                a.check_action("EXPUNGE", m[0], self.c)
                a.remove(self.sel.name, u, "client")
        self.flush()
        return out

    def do_UID_EXPUNGE(self, tag, rest):
        if "UIDPLUS" not in self.a.caps:
            self.c.send("%s BAD no UIDPLUS\r\n" % tag)
            return
        with self.a.lock:
            uids = parse_set(rest.strip(), self.sel.uids())
        return self.expunged(tag, uids)

    def do_EXPUNGE(self, tag, rest):
        with self.a.lock:
            uids = self.sel.uids()
        return self.expunged(tag, uids)

    def expunged(self, tag, uids):
        a, c = self.a, self.c
        if a.chance(c, "expunge-no", 0.02):
            c.send("%s NO [INUSE] mailbox locked\r\n" % tag)
            return
        self.expunge(uids)
        if a.chance(c, "cut-after-expunge", 0.03):
            return False
        c.send("%s OK expunged\r\n" % tag)

    def copy_to(self, uids, dest):
        a = self.a
        with a.lock:
            d = a.folders.get(dest)
            if d is None:
                return None
            pairs = []
            for u in uids:
                m = self.sel.msgs.get(u)
                if m is not None:
                    pairs.append((u, a.put(dest, m[0], m[1])))
            return pairs

    def do_UID_COPY(self, tag, rest):
        a, c = self.a, self.c
        self.flush()
        sset, dest = rest.split(" ", 1)
        with a.lock:
            uids = parse_set(sset, self.sel.uids())
        if a.chance(c, "copy-no", 0.02):
            c.send("%s NO [TRYCREATE] no such mailbox\r\n" % tag)
            return
        pairs = self.copy_to(uids, dest.strip().strip('"'))
        if pairs is None:
            c.send("%s NO [TRYCREATE] no such mailbox\r\n" % tag)
            return
        c.send("%s OK copied\r\n" % tag)

    def do_UID_MOVE(self, tag, rest):
        a, c = self.a, self.c
        if "MOVE" not in a.caps:
            c.send("%s BAD no MOVE\r\n" % tag)
            return
        self.flush()
        sset, dest = rest.split(" ", 1)
        with a.lock:
            uids = parse_set(sset, self.sel.uids())
            for u in uids:
                a.check_action("MOVE", self.sel.msgs[u][0], c)
            pairs = self.copy_to(uids, dest.strip().strip('"'))
            if pairs is None:
                c.send("%s NO [TRYCREATE] no such mailbox\r\n" % tag)
                return
            for u, _ in pairs:
                a.remove(self.sel.name, u, "client")
        self.flush()
        if a.chance(c, "cut-after-move", 0.03):
            return False
        c.send("%s OK moved\r\n" % tag)

    def do_IDLE(self, tag, rest):
        a, c = self.a, self.c
        c.send("+ idling\r\n")
        bye_at = None
        # A provider's IDLE drops often: a reconnect storm must show.
        if a.chance(c, "bye-during-idle",
                    0.4 if a.opts.get("provider") else 0.15):
            bye_at = time.monotonic() + c.rnd.uniform(0.05, 3.0)
        while True:
            self.flush()
            if c.doomed:
                c.send("* BYE [UNAVAILABLE] mailbox recreated\r\n")
                return False
            if bye_at is not None and time.monotonic() > bye_at:
                c.send("* BYE [UNAVAILABLE] Server shutting down\r\n")
                return False
            line = c.poll_line(0.05)
            if line is None:
                continue
            if line.upper() != "DONE":
                c.send("%s BAD expected DONE\r\n" % tag)
                return False
            c.send("%s OK IDLE terminated\r\n" % tag)
            return

    def do_CLOSE(self, tag, rest):
        self.unselect()
        self.c.send("%s OK closed\r\n" % tag)

    def do_LOGOUT(self, tag, rest):
        c = self.c
        if c.tls is not None and self.a.chance(c, "tls-eof-after-logout",
                                                0.3):
            # The TCP end without close_notify, with or without the
            # tagged OK: a normal end after LOGOUT (imap.c).
            c.send("* BYE bye\r\n" + ("%s OK logged out\r\n" % tag
                                       if c.rnd.random() < 0.5 else ""))
            c.ragged = True
            return False
        c.send("* BYE bye\r\n%s OK logged out\r\n" % tag)
        return False


def imap_handler(c):
    ImapSession(c.acct, c).run()


# ---------------------------------------------------------------- POP3

class PopAccount(Account):
    def __init__(self, *a, **kw):
        Account.__init__(self, *a, **kw)
        self.drop = []			# [uidl, key] in maildrop order
        self.nuidl = 0
        self.locked = None		# the connection holding the maildrop
        # The messages each UIDL named, in turn (a freed UIDL reused):
        # reuse_settle tells which of them mailfetchd may skip.
        self.uidl_keys = {}
        # The POP3 misbehaviours of review r19 (POP3X_DRAWS in chaos.py;
        # "off" unless the history has "pop3x"): their source of sizes,
        # separate, so that a history without them is what it was.
        self.xrnd = None		# set with the seed (chaos.py setup)
        # Copies of a message the documentation allows beyond one: with
        # no UIDL (keep = no), one per session that sent it whole and
        # ended without QUIT committing, or refused its DELE
        # (mailfetchd.conf(5) keep: "a session cut between delivery and
        # QUIT then delivers those messages again").
        self.extra_ok = {}
        self.flapped = set()		# keys listed with another size
        self.lie_retrs = 0		# RETRs of a message LIST lied about
        # Without UIDL a liar's cut costs one more delivery of the others,
        # "not one on every run" (mailfetchd.conf(5) keep), until the
        # maildrop's numbers change (epoch: the other client deletes).
        self.lie_paid = set()		# (liar key, epoch)
        self.epoch = 0

    def x_on(self, name):
        """Whether an account-level r19 draw (nouidl, pop3-budget,
        mid-size) is on: in the history and not switched off."""
        return name not in self.off and bool(self.opts.get("pop3x"))

    def put(self, key, uidl=None):
        if uidl is None:
            self.nuidl += 1
            uidl = "U%d.%d" % (self.seed % 1000, self.nuidl)
        self.drop.append([uidl, key])
        self.uidl_keys.setdefault(uidl, []).append(key)
        self.log.add("hold", self.name, key, "INBOX", uidl)

    def holding(self):
        with self.lock:
            return {k for _, k in self.drop}

    def other_client(self, rnd, during):
        with self.lock:
            if self.locked and during:
                return			# the maildrop is locked (RFC 1939)
            r = rnd.random()
            if r < 0.55 or not self.drop:
                big = rnd.random() < 0.05
                kind = "big" if big else "plain"
                if not big and self.x_on("mid-size") and \
                        self.xrnd.random() < 0.15:
                    kind = "mid"
                    self.log.draw("mid-size")
                m = self.new_message(kind, required=not big, why="too large")
                uidl = None
                if self.drop and rnd.random() < 0.08 and \
                        "dup-uidl" not in self.off and \
                        not self.opts.get("nouidl"):
                    # A duplicate UIDL: the server names two different
                    # messages alike. mailfetchd warns (pop3.c) that such
                    # messages "may be skipped or fetched again": both
                    # are optional (at most once), neither may be DELEd
                    # before it is delivered.
                    uidl = rnd.choice(self.drop)[0]
                    self.log.draw("dup-uidl")
                    m.required = False
                    m.why = "a duplicate UIDL"
                    for u, k in self.drop:
                        if u == uidl:
                            self.msgs[k].required = False
                            self.msgs[k].why = "a duplicate UIDL"
                self.put(m.key, uidl)
                self.log.add("other", self.name, "add", m.key)
            else:
                i = rnd.randrange(len(self.drop))
                uidl, key = self.drop.pop(i)
                self.log.add("gone", self.name, key, "INBOX", uidl, "other")
                self.epoch += 1		# the numbers after it shift
                if rnd.random() < 0.3 and "uidl-reuse" not in self.off \
                        and not self.opts.get("nouidl"):
                    # RFC 1939 lets a server reuse a freed UIDL: what
                    # mailfetchd may skip under it is known at the end
                    # (reuse_settle).
                    m = self.new_message()
                    self.reuse_optional(m, uidl)
                    self.put(m.key, uidl)
                    self.log.draw("uidl-reuse")
                    self.log.add("other", self.name, "add-reuse", m.key)

    def reuse_optional(self, m, uidl):
        """Whether m, new under the freed uidl, may be skipped now: still
        named by another message (the freed one was a duplicate UIDL's),
        the listing names it twice, a duplicate UIDL (pop3.c), all
        optional. Its size is judged at the end (reuse_settle)."""
        for u, k in self.drop:
            if u == uidl:
                for x in (m, self.msgs[k]):
                    x.required = False
                    x.why = "a duplicate UIDL"


    def reuse_settle(self):
        """Before the judgement: the messages a reused UIDL named, in turn,
        as mailfetchd.conf(5) (keep) says it treats them. It records with
        the UIDL the size of the message it delivered under it (none
        yet: the next is new, whatever its size); one of that size is
        taken for it, not fetched; one of another size is fetched, once:
        after that, no message under the UIDL is fetched (c9e7e6d, a
        server whose sizes flap). Only a message mailfetchd delivered
        counts, not every one the UIDL named (review r14 08)."""
        for keys in self.uidl_keys.values():
            size, resized, flap = None, False, False
            for k in keys:
                m = self.msgs[k]
                if flap and not self.ever.get(k):
                    # The size recorded is one a flap listed, or the
                    # UIDL was fetched again for it (r19 draws).
                    m.required = False
                    m.why = "a reused UIDL, after a flapping LIST size"
                    continue
                flap = flap or k in self.flapped
                if self.ever.get(k):
                    resized = resized or (size is not None and
                                          len(m.data) != size)
                    size = len(m.data)
                elif size is not None and (resized or len(m.data) == size):
                    m.required = False
                    m.why = ("a reused UIDL, fetched again once already "
                             "for a size change" if resized else
                             "a reused UIDL, the size of the one delivered")


POP_REFUSALS = [
    ("refused-login", "-ERR [AUTH] Invalid login or password"),
    ("in-use", "-ERR [IN-USE] Do you have another POP session running?"),
    ("login-delay", "-ERR [LOGIN-DELAY] wait longer between logins"),
    ("sys-temp", "-ERR [SYS/TEMP] Temporary system error"),
]


class PopListing:
    """What one POP3 session lists (review r19's misbehaviours, drawn at
    login): the whole maildrop, or none of it (list-empty: a backend not
    yet in sync), or one message left out of LIST only (list-omit) or of
    LIST and UIDL (listing-omit); sizes a few octets off (list-flap) and
    a message over max_message_size listed small (list-lie)."""

    def __init__(self, a, c, drop):
        self.empty = a.chance(c, "list-empty", 0.03)
        self.omit_list = self.omit_both = None
        if drop and a.chance(c, "list-omit", 0.06):
            self.omit_list = c.rnd.randrange(len(drop))
        if drop and a.chance(c, "listing-omit", 0.04):
            self.omit_both = c.rnd.randrange(len(drop))
        self.size = {}
        self.lies = set()	# the numbers of the liars
        self.lied = []		# the liars whose RETR was answered
        flap = a.chance(c, "list-flap", 0.08)
        for i, (_, k) in enumerate(drop):
            n = len(a.msgs[k].data)
            if not a.msgs[k].required and n > a.opts.get("max_size", n) \
                    and a.chance(c, "list-lie", 0.3):
                n = 900		# announced small: a liar (r19 02, 15)
                self.lies.add(i)
            if flap:
                n += c.rnd.choice([-3, -2, -1, 1, 2, 3])
            if n != len(a.msgs[k].data):
                a.flapped.add(k)
            self.size[i] = n
        self.dele_err = None	# the message whose DELE is refused
        if drop and a.chance(c, "dele-err-msg", 0.04):
            self.dele_err = c.rnd.randrange(len(drop))

    def numbers(self, drop, uidl):
        if self.empty:
            return []
        return [i for i in range(len(drop)) if i != self.omit_both and
                (uidl or i != self.omit_list)]


def pop3_retr(a, c, cmd, arg, drop, listing):
    """RETR or TOP n: the answer, with its misbehaviours. Returns the key
    when the whole answer was sent, else None; a liar's key is noted in
    listing.lied before its answer (the client cuts it)."""
    n = int(arg.split(" ")[0])
    key = drop[n - 1][1]
    data = a.msgs[key].data
    if cmd == "TOP":
        lines = int(arg.split(" ")[1])
        head, _, b = data.partition(b"\r\n\r\n")
        b = b"".join(x + b"\r\n" for x in
                     b.split(b"\r\n")[:lines] if lines)
        data = head + b"\r\n\r\n" + b
    stuffed = (b"\r\n" + data).replace(b"\r\n.", b"\r\n..")[2:]
    text = b"+OK\r\n" + stuffed + b".\r\n"
    if cmd == "RETR":
        if a.chance(c, "retr-err", 0.02):
            c.send("-ERR [SYS/TEMP] cannot read message\r\n")
            return None
        if listing is not None and n - 1 in listing.lies:
            listing.lied.append(key)
            with a.lock:
                a.lie_retrs += 1
        if a.chance(c, "cut-mid-retr", 0.05):
            dots = [m.start() + 3 for m in
                    re.finditer(rb"\r\n\.\.", text)]
            if dots and c.rnd.random() < 0.5:
                c.cut_at = c.rnd.choice(dots)	# mid "..x"
            else:
                c.arm_cut(len(text))
        elif a.chance(c, "trickle", 0.02):
            c.trickle = (512, 0.01, time.monotonic() + 20)
        elif a.chance(c, "drip", 0.004):
            c.trickle = (1, 0.5, time.monotonic() + 60)
    c.send(text)
    c.trickle = None
    if cmd != "RETR":
        return None
    with a.lock:
        # A whole answer (a cut one is not known read in full).
        a.body_bytes.append((time.monotonic(), len(text), a.phase, c.n))
    return key


def pop3_dele(a, c, arg, drop, dele, listing):
    """DELE n: refused now and then (dele-err), or for one message of
    the session (dele-err-msg); without UIDL a refused DELE leaves a
    message the next session cannot tell from a new one."""
    i = int(arg) - 1
    if a.chance(c, "dele-err", 0.03) or \
            (listing is not None and i == listing.dele_err):
        c.send("-ERR [SYS/TEMP] cannot delete message now\r\n")
        if a.opts.get("nouidl") and 0 <= i < len(drop):
            with a.lock:
                k = drop[i][1]
                a.extra_ok[k] = a.extra_ok.get(k, 0) + 1
        return
    dele.add(i)
    c.send("+OK deleted\r\n")


def pop3_capa(a, c, starttls):
    uidl = "" if a.opts.get("nouidl") else "UIDL\r\n"
    c.send("+OK\r\n%sUSER\r\n%sTOP\r\nRESP-CODES\r\n"
           "AUTH-RESP-CODE\r\nPIPELINING\r\n.\r\n" % (
               "STLS\r\n" if starttls else "", uidl))


def pop3_uidl(a, c, drop, listing):
    if a.opts.get("nouidl"):
        c.send("-ERR unknown command\r\n")
        return
    if a.chance(c, "uidl-temp", 0.06):
        # CAPA lists UIDL: a refusal for the moment (r19 24).
        c.send("-ERR [SYS/TEMP] UIDL unavailable right now\r\n")
        return
    nums = listing.numbers(drop, True) if listing else range(len(drop))
    text = "+OK\r\n" + "".join("%d %s\r\n" % (i + 1, drop[i][0])
                               for i in nums) + ".\r\n"
    if a.chance(c, "cut-uidl", 0.02):
        c.arm_cut(len(text))
    c.send(text)


def pop3_list(a, c, drop, listing):
    if listing is None:
        c.send("+OK\r\n" + "".join("%d %d\r\n" % (
            i + 1, len(a.msgs[k].data)) for i, (_, k) in
            enumerate(drop)) + ".\r\n")
        return
    c.send("+OK\r\n" + "".join("%d %d\r\n" % (i + 1, listing.size[i])
                               for i in listing.numbers(drop, False)) +
           ".\r\n")


def pop3_login(a, c):
    """PASS: a refusal drawn, the maildrop locked, or the session's
    snapshot of it. Returns the snapshot, or None (refused)."""
    refused = None
    for name, text in POP_REFUSALS:
        if a.chance(c, name, 0.02):
            refused = text
            break
    drop = None
    with a.lock:
        # A holder whose client is gone (killed) lets go.
        if a.locked and a.locked.closed_by_peer():
            a.locked = None
        if refused is None and a.locked:
            refused = "-ERR [IN-USE] maildrop locked"
        if refused is None:
            a.locked = c
            drop = [list(x) for x in a.drop]
    a.note_login(refused is None, c)
    c.send((refused or "+OK logged in") + "\r\n")
    return drop


def pop3_quit(a, c, drop, dele):
    """QUIT: the deletions committed (checked), the lock released."""
    cut = a.chance(c, "cut-after-quit", 0.03)
    with a.lock:
        for i in sorted(dele, reverse=True):
            uidl, key = drop[i]
            a.check_action("DELE", key, c)
            if [uidl, key] in a.drop:
                a.drop.remove([uidl, key])
                a.log.add("gone", a.name, key, "INBOX", uidl, "client")
        a.locked = None
    if cut:
        return
    c.send("+OK bye\r\n")
    if c.tls is not None and a.chance(c, "tls-eof-after-logout", 0.3):
        c.ragged = True	# a normal end after +OK (pop3.c)


def pop3_cut_costs(a, listing):
    """Whether a session not committed may cost one more delivery of
    what it sent (no UIDL): any cut may, but the cut mailfetchd makes
    after a liar's answer only once per liar while the numbers stand
    (keep: "costs one more delivery of the others, not one on every
    run"; review r19 15)."""
    if listing is None or not listing.lied:
        return True
    paid = {(k, a.epoch) for k in listing.lied}
    if paid <= a.lie_paid:
        return False
    a.lie_paid |= paid
    return True


def pop3_handler(c):
    a = c.acct
    if a.chance(c, "bye-greeting", 0.02):
        c.send("-ERR [SYS/TEMP] server going down\r\n")
        return
    c.send("+OK chaos POP3 ready\r\n")
    drop = None
    listing = None
    dele = set()
    sent = []		# keys whose RETR answer went out whole
    try:
        while True:
            line = c.readline()
            cmd, _, arg = line.partition(" ")
            cmd = cmd.upper()
            starttls = a.opts.get("tls") == "starttls" and c.tls is None
            if c.tls is not None and \
                    a.chance(c, "tls-eof-before-answer", 0.008):
                # The TCP end, no close_notify, the command not done (a
                # QUIT's deletions not committed).
                raise Cut("eof before the answer to " + cmd)
            if cmd in ("USER", "PASS", "APOP", "AUTH"):
                a.check_credentials(cmd, c)
            if cmd == "CAPA":
                pop3_capa(a, c, starttls)
            elif cmd == "STLS" and starttls and drop is None:
                if a.chance(c, "starttls-refused", 0.03):
                    c.send("-ERR [SYS/TEMP] TLS not available now\r\n")
                    continue
                c.send("+OK Begin TLS negotiation\r\n%s" % injected(c))
                tls_begin(c)
            elif cmd == "USER":
                c.send("+OK\r\n")
            elif cmd == "PASS":
                drop = pop3_login(a, c)
                if drop is None:
                    return
                listing = PopListing(a, c, drop)
            elif drop is None:
                c.send("-ERR log in first\r\n")
            elif cmd == "STAT":
                nums = listing.numbers(drop, True)
                c.send("+OK %d %d\r\n" % (len(nums), sum(
                    len(a.msgs[drop[i][1]].data) for i in nums)))
            elif cmd == "UIDL" and not arg:
                pop3_uidl(a, c, drop, listing)
            elif cmd == "LIST" and not arg:
                pop3_list(a, c, drop, listing)
            elif cmd in ("RETR", "TOP"):
                key = pop3_retr(a, c, cmd, arg, drop, listing)
                if key is not None:
                    sent.append(key)
            elif cmd == "DELE":
                pop3_dele(a, c, arg, drop, dele, listing)
            elif cmd == "NOOP":
                c.send("+OK\r\n")
            elif cmd == "RSET":
                dele = set()
                c.send("+OK\r\n")
            elif cmd == "QUIT":
                d, drop = drop, None
                pop3_quit(a, c, d, dele)
                return
            else:
                c.send("-ERR unknown command\r\n")
    finally:
        if drop is not None:
            with a.lock:
                if a.locked is c:
                    a.locked = None
                if a.opts.get("nouidl") and pop3_cut_costs(a, listing):
                    # Not committed: without UIDL the next session
                    # delivers what this one sent again (documented).
                    for k in sent:
                        a.extra_ok[k] = a.extra_ok.get(k, 0) + 1
