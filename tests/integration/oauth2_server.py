#!/usr/bin/env python3
"""oauth2_server.py: a token endpoint for tests, HTTPS on 127.0.0.1.

usage: oauth2_server.py CERT KEY PORTFILE MODE [ttl=N] [user=NAME]
Implements POST /device (RFC 8628 device authorisation), POST /token
(grant_type device_code, refresh_token, authorization_code) and POST
/introspect (RFC 7662, as Dovecot's oauth2 passdb asks with
introspection_mode = post). MODE:
  grant   the first device poll says authorization_pending, the next grants
  deny    the device poll says access_denied
  revoked every refresh_token grant says invalid_grant
SIGUSR1 switches to revoked at any time: every token issued so far stops
working (refresh grants say invalid_grant, introspection says inactive).
SIGUSR2 makes the access tokens issued from then on expire after 1 s.
markers=FILE hold=HOLD: a refresh grant appends "refresh-start" to FILE,
waits until HOLD exists (25 s at most), then appends "refresh-end" and
answers (tests/integration/secret_async.sh). Removing HOLD again holds
the next refreshes. late=1: the grant is processed (the refresh token
rotated) at once and only the answer is held, as over a slow link
(tests/integration/oauth2_refresh.sh).

Tokens are numbered: the device grant issues AT-1 and RT-1, each refresh
the next pair (AT-2, RT-2, ...) and rotates the refresh token (the old one
stops working, as with Microsoft's endpoint). ttl=N sets expires_in of the
access tokens (default 3600); introspection reports a token active only
until then, with username NAME (user=, default me@example.com).

Writes the port to PORTFILE; logs each request's form to stderr, one line:
"PATH JSON" (/introspect adds "-> active" or "-> inactive")."""
import json, os, signal, ssl, sys, time, urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

cert, key, portfile, mode = sys.argv[1:5]
opts = dict(a.split("=", 1) for a in sys.argv[5:])
ttl = int(opts.get("ttl", "3600"))
user = opts.get("user", "me@example.com")
polls = 0
serial = 0
access = {}		# access token -> expiry (epoch seconds)
refresh = set()		# refresh tokens that still work


def revoke(*_):
    global mode
    mode = "revoked"
    access.clear()
    refresh.clear()


def short_lived(*_):
    global ttl
    ttl = 1


signal.signal(signal.SIGUSR1, revoke)
signal.signal(signal.SIGUSR2, short_lived)


def issue():
    """A new access and refresh token pair, as a token answer."""
    global serial
    serial += 1
    at, rt = "AT-%d" % serial, "RT-%d" % serial
    access[at] = time.time() + ttl
    refresh.add(rt)
    return {"access_token": at, "token_type": "Bearer", "expires_in": ttl,
            "refresh_token": rt}


def marker(text):
    with open(opts["markers"], "a") as f:
        f.write(text + "\n")


def held():
    """With markers= and hold=: a refresh that answers only on the go."""
    if "markers" not in opts:
        return
    marker("refresh-start")
    end = time.monotonic() + 25
    while not os.path.exists(opts["hold"]) and time.monotonic() < end:
        time.sleep(0.1)
    marker("refresh-end")


class H(BaseHTTPRequestHandler):
    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log(self, form, extra=""):
        sys.stderr.write("%s %s%s\n" % (self.path, json.dumps(form, sort_keys=True),
                                        extra))
        sys.stderr.flush()

    def introspect(self, form):
        tok = form.get("token", "")
        exp = access.get(tok)
        if exp is None or exp <= time.time():
            self.log(form, " -> inactive")
            return self.reply(200, {"active": False})
        self.log(form, " -> active")
        return self.reply(200, {"active": True, "username": user,
                                "token_type": "Bearer", "exp": int(exp)})

    def do_POST(self):
        global polls
        n = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode()))
        if self.path == "/introspect":
            return self.introspect(form)
        self.log(form)
        if form.get("client_id") != "test-client":
            return self.reply(401, {"error": "invalid_client"})
        if self.path == "/device":
            return self.reply(200, {"device_code": "DC-1", "user_code": "ABCD-EFGH",
                                    "verification_uri": "https://127.0.0.1/device",
                                    "expires_in": 60, "interval": 1})
        g = form.get("grant_type")
        if g == "urn:ietf:params:oauth:grant-type:device_code":
            polls += 1
            if mode == "deny":
                return self.reply(400, {"error": "access_denied"})
            if polls == 1:
                return self.reply(400, {"error": "authorization_pending"})
            return self.reply(200, issue())
        if g == "refresh_token":
            late = opts.get("late") == "1"
            if not late:
                held()
            rt = form.get("refresh_token")
            if mode == "revoked" or rt not in refresh:
                return self.reply(400, {"error": "invalid_grant",
                                        "error_description": "token revoked"})
            refresh.discard(rt)
            answer = issue()
            if late:
                held()
            return self.reply(200, answer)
        return self.reply(400, {"error": "unsupported_grant_type"})

    def log_message(self, *a):
        pass


srv = HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
