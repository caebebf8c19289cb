#!/bin/bash
# oauth2.sh: mailfetchd --oauth2-setup against a local HTTPS token endpoint
# (tests/integration/oauth2_server.py, test CA): the device flow polls
# through authorization_pending, stores the refresh token 0600 and never
# prints it; access_denied fails with exit 3; an unknown account or one
# without an oauth2 section fails with exit 2; a refresh refused
# invalid_grant while another writer (without the lock) put a new refresh
# token in the file is tried again with that one. TAP.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/tap.sh"

command -v python3 >/dev/null && command -v openssl >/dev/null ||
	{ echo "1..0 # SKIP python3 or openssl missing"; exit 0; }
T=$(mktemp -d /tmp/mfd-oauth2.XXXXXX)
tap_cleanup_add 'rm -rf "$T"'
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=test-ca \
    -keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null &&
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 \
    -keyout "$T/key.pem" -out "$T/csr.pem" 2>/dev/null &&
openssl x509 -req -in "$T/csr.pem" -CA "$T/ca.pem" -CAkey "$T/ca.key" \
    -CAcreateserial -days 1 -out "$T/cert.pem" \
    -extfile <(printf 'subjectAltName=IP:127.0.0.1\n') 2>/dev/null ||
	tap_bail "cannot make the test certificates"

# server MODE [OPTION...]: starts the token endpoint, sets $PORT.
server() {
	rm -f "$T/port"
	python3 "$top_srcdir/tests/integration/oauth2_server.py" \
	    "$T/cert.pem" "$T/key.pem" "$T/port" "$@" 2>"$T/server.log" &
	SERVER=$!
	tap_cleanup_add "kill $SERVER 2>/dev/null"
	for _ in $(seq 50); do [ -s "$T/port" ] && break; sleep 0.1; done
	PORT=$(cat "$T/port")
	cat >"$T/c.conf" <<EOC
state_dir = "$T/state"
account "o" {
	protocol = imap
	host = "127.0.0.1"
	user = "me@example.com"
	maildir = "$T/Maildir"
	oauth2 {
		client_id = "test-client"
		token_url = "https://127.0.0.1:$PORT/token"
		device_url = "https://127.0.0.1:$PORT/device"
		scope = "mail offline_access"
		ca_file = "$T/ca.pem"
	}
}
account "p" {
	protocol = imap
	host = "127.0.0.1"
	user = "me"
	password_file = "$T/pass"
	maildir = "$T/Maildir"
}
EOC
	printf 'x\n' >"$T/pass"; chmod 600 "$T/pass"
}
stop() { kill "$SERVER" 2>/dev/null; wait "$SERVER" 2>/dev/null; }

tap_plan 14
server grant
"$MAILFETCHD" -c "$T/c.conf" --check-config >"$T/out" 2>&1
ok $? "a config with an oauth2 section is valid"
"$MAILFETCHD" -c "$T/c.conf" --oauth2-setup o >"$T/out" 2>"$T/err"
ok $? "device flow: setup succeeds after authorization_pending" \
    "$(cat "$T/out" "$T/err")"
tap_like "$(cat "$T/out")" "ABCD-EFGH" "the user code is printed"
tap_is "$(cat "$T/state/o.oauth2" 2>/dev/null)" "RT-1" \
    "the refresh token is stored"
tap_is "$(stat -c %a "$T/state/o.oauth2" 2>/dev/null)" "600" \
    "the token file has mode 0600"
tap_unlike "$(cat "$T/out" "$T/err")" "RT-1|AT-1" "no token is printed"
tap_is "$(grep -c 'grant-type:device_code' "$T/server.log")" "2" \
    "the endpoint was polled twice"
stop

server deny
rm -f "$T/state/o.oauth2"
"$MAILFETCHD" -c "$T/c.conf" --oauth2-setup o >"$T/out" 2>"$T/err"
rc=$?
tap_is "$rc:$(cat "$T/err")" "3:mailfetchd: account o: authorisation denied: access_denied" \
    "access_denied: exit 3 and a clear message"
stop

# invalid_grant, but the token file changed meanwhile: its new refresh
# token is tried (the endpoint holds the refresh until $T/go exists; the
# test writes the file as a writer without the lock would).
server grant "markers=$T/markers" "hold=$T/go"
rm -f "$T/state/o.oauth2" "$T/go"; : >"$T/markers"
"$MAILFETCHD" -c "$T/c.conf" --oauth2-setup o >"$T/out" 2>"$T/err" ||
	tap_bail "setup failed: $(cat "$T/err")"
printf 'RT-0\n' >"$T/state/o.oauth2"
timeout 60 "$MAILFETCHD" -c "$T/c.conf" --once --account o \
    >"$T/once.out" 2>&1 &
ONCE=$!
for _ in $(seq 200); do
	grep -q refresh-start "$T/markers" && break
	sleep 0.1
done
printf 'RT-1\n' >"$T/rt.new"; chmod 600 "$T/rt.new"
mv "$T/rt.new" "$T/state/o.oauth2"
: >"$T/go"
wait "$ONCE"
tap_unlike "$(cat "$T/once.out")" "re-authorisation needed" \
    "a refused refresh token replaced meanwhile: no re-authorisation needed"
tap_is "$(grep -o '"refresh_token": "RT-[0-9]*"' "$T/server.log" |
    grep -o 'RT-[0-9]*' | tr '\n' ' ')" "RT-0 RT-1 " \
    "the refresh is tried again with the token file's new refresh token"
tap_like "$(cat "$T/once.out")" "refresh token was refused, but .* holds a new one" \
    "the retry is logged"
tap_is "$(cat "$T/state/o.oauth2")" "RT-2" "the rotated refresh token is saved"
stop

"$MAILFETCHD" -c "$T/c.conf" --oauth2-setup nosuch >"$T/out" 2>"$T/err"
tap_is "$?" "2" "an unknown account: exit 2"
"$MAILFETCHD" -c "$T/c.conf" --oauth2-setup p >"$T/out" 2>"$T/err"
tap_is "$?:$(cat "$T/err")" "2:mailfetchd: account p has no oauth2 section (see mailfetchd.conf(5))" \
    "an account without oauth2: exit 2"
tap_done
