#!/usr/bin/env python3
"""oauth2_server.py: a token endpoint for tests, HTTPS on 127.0.0.1.

usage: oauth2_server.py CERT KEY PORTFILE MODE
Implements POST /device (RFC 8628 device authorisation) and POST /token
(grant_type device_code, refresh_token, authorization_code). MODE:
  grant   the first device poll says authorization_pending, the next grants
  deny    the device poll says access_denied
  revoked every refresh_token grant says invalid_grant
Writes the port to PORTFILE; logs each request's form to stderr."""
import json, ssl, sys, urllib.parse
from http.server import BaseHTTPRequestHandler, HTTPServer

cert, key, portfile, mode = sys.argv[1:5]
polls = 0


class H(BaseHTTPRequestHandler):
    def reply(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        global polls
        n = int(self.headers.get("Content-Length", "0"))
        form = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode()))
        sys.stderr.write("%s %s\n" % (self.path, json.dumps(form, sort_keys=True)))
        sys.stderr.flush()
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
            return self.reply(200, {"access_token": "AT-1", "token_type": "Bearer",
                                    "expires_in": 3600, "refresh_token": "RT-1"})
        if g == "refresh_token":
            if mode == "revoked" or form.get("refresh_token") != "RT-1":
                return self.reply(400, {"error": "invalid_grant",
                                        "error_description": "token revoked"})
            return self.reply(200, {"access_token": "AT-2", "token_type": "Bearer",
                                    "expires_in": 3600, "refresh_token": "RT-2"})
        return self.reply(400, {"error": "unsupported_grant_type"})

    def log_message(self, *a):
        pass


srv = HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
import os
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
