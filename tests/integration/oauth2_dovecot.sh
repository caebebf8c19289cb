#!/bin/bash
# oauth2_dovecot.sh: OAuth2 end to end against a real Dovecot whose oauth2
# passdb validates each token with the test token endpoint
# (tests/integration/oauth2_server.py, RFC 7662 introspection). An IMAP
# account (OAUTHBEARER, the mechanism mailfetchd prefers) and a POP3
# account (XOAUTH2, its POP3 preference): --oauth2-setup through the device
# flow, then --once fetches byte for byte with an access token obtained with
# the refresh token; the daemon reuses its access token between sessions
# while valid and refreshes it once expired; with tokens that live 1 s, a
# later --once refreshes before it logs in and works; once the grant is revoked, a run fails at once with
# "re-authorisation needed" after exactly one refresh attempt; no token in
# any output. TAP.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"
. "$top_srcdir/tests/lib/oauth2.sh"

mfd_init
S=$DC_SAMPLES
# Dovecot's auth process (user dovecot) reads the passdb file and the CA.
O=$(mktemp -d /tmp/mfd-o2dc.XXXXXX) || tap_bail "mktemp failed"
tap_cleanup_add 'rm -rf "$O"'
chmod 755 "$O"
# The token endpoint first: Dovecot's passdb file needs its port.
oauth2_endpoint "$O" grant user=alice
SERVER=$O2PID
oauth2_dovecot_passdb "$O"
dovecot_start
# The password is never given to mailfetchd: only a token can log in.
dovecot_add_user alice "pw-never-used-$$"
dovecot_load_samples alice

# account NAME PROTOCOL PORT: one oauth2 account section on stdout.
account() {
	cat <<EOF
account "$1" {
	protocol = $2
	host = "localhost"
	port = $3
	tls = implicit
	ca_file = "$DC_CA"
	user = "alice"
	maildir = "$T/Maildir-$1"
	timeout = 20s
	oauth2 {
		client_id = "test-client"
		token_url = "https://localhost:$PORT/token"
		device_url = "https://localhost:$PORT/device"
		scope = "mail offline_access"
		ca_file = "$O/ca.pem"
	}
}
EOF
}
{
	printf 'state_dir = "%s"\n' "$T/state"
	account imap imap "$DC_IMAPS_PORT"
	account pop pop3 "$DC_POP3S_PORT"
} >"$T/c.conf"

# run ACCOUNT: --once -v -v for one account; sets rc, err, secs.
run() {
	local t0=$SECONDS

	"$MAILFETCHD" -c "$T/c.conf" --once --account "$1" -v -v \
	    >"$T/out" 2>"$T/err"
	rc=$?
	secs=$((SECONDS - t0))
	err=$(cat "$T/out" "$T/err")
	cat "$T/out" "$T/err" >>"$T/all-output"
}

# refreshes: refresh grants the endpoint has seen so far.
refreshes() {
	grep -c '^/token .*"grant_type": "refresh_token"' "$O/server.log"
}

# logins MECH: successful Dovecot logins with MECH so far.
logins() {
	grep -c "Login: user=<alice>, method=$1" "$DC_LOG"
}

# xoauth2_login TOKEN: "OK" or "NO" for AUTHENTICATE XOAUTH2 over IMAPS.
xoauth2_login() {
	"$(_dc_python)" - "$DC_CA" "$DC_IMAPS_PORT" "$1" <<'PY' 2>&1
import imaplib, ssl, sys
ca, port, tok = sys.argv[1], int(sys.argv[2]), sys.argv[3]
m = imaplib.IMAP4_SSL("localhost", port,
                      ssl_context=ssl.create_default_context(cafile=ca))
sent = []
def answer(_):
    # The second challenge is the error JSON: RFC 7628 wants an empty reply.
    sent.append(1)
    if len(sent) > 1:
        return b""
    return ("user=alice\x01auth=Bearer %s\x01\x01" % tok).encode()
try:
    m.authenticate("XOAUTH2", answer)
    print("OK")
except imaplib.IMAP4.error:
    print("NO")
PY
}

tap_plan 32
for a in imap pop; do
	"$MAILFETCHD" -c "$T/c.conf" --oauth2-setup "$a" >"$T/out" 2>"$T/err"
	ok $? "$a: --oauth2-setup through the device flow" "$(cat "$T/out" "$T/err")"
	cat "$T/out" "$T/err" >>"$T/all-output"
done
tap_is "$(cat "$T/state/imap.oauth2" "$T/state/pop.oauth2" 2>/dev/null | tr '\n' ' ')" \
    "RT-1 RT-2 " "each account stored its own refresh token"

# 1. The first fetch: the access token comes from a refresh grant.
r0=$(refreshes)
run imap
tap_is "$rc" 0 "IMAP --once with OAuth2: exit 0"
[ "$rc" = 0 ] || tap_diag "$err"
mfd_expect "$T/Maildir-imap" "" "$S"/0[1-4]-*.eml
tap_is "$(grep -c '"refresh_token": "RT-1"' "$O/server.log")" 1 \
    "IMAP: the access token was obtained with the stored refresh token"
tap_is "$(logins OAUTHBEARER)" 1 "IMAP: Dovecot logged alice in with OAUTHBEARER"
tap_like "$(grep -- '-> active' "$O/server.log")" '"token": "AT-3"' \
    "IMAP: Dovecot validated the refreshed token AT-3 at the endpoint"

run pop
tap_is "$rc" 0 "POP3 --once with OAuth2: exit 0"
[ "$rc" = 0 ] || tap_diag "$err"
mfd_expect "$T/Maildir-pop" "" "$S"/0[1-4]-*.eml
tap_is "$(logins XOAUTH2)" 1 "POP3: Dovecot logged alice in with XOAUTH2"
tap_is "$(($(refreshes) - r0))" 2 "one refresh grant per run"
tap_is "$(xoauth2_login AT-4)" "OK" \
    "control: the POP3 run's token AT-4 logs in with XOAUTH2 over IMAP too"

# 2. The daemon keeps the access token in memory between sessions: reused
# while it is valid (no refresh grant), refreshed once it has expired.
# Only the IMAP account, polled hourly: the polls asked for with --once
# over the control socket are the only ones.
{
	printf 'state_dir = "%s"\ncontrol_socket = "%s"\n' "$T/state" "$T/ctl"
	account imap imap "$DC_IMAPS_PORT" | sed 's/^}$/\tpoll_interval = 1h\n}/'
} >"$T/d.conf"

# daemon_poll MESSAGE: adds MESSAGE to the INBOX and has the running
# daemon poll at once (mailfetchd --once forwarded on the control socket);
# sets rc and err.
daemon_poll() {
	dovecot_add_message alice INBOX "$1"
	"$MAILFETCHD" -c "$T/d.conf" --once --account imap >"$T/out" 2>&1
	rc=$?
	err=$(cat "$T/out")
	cat "$T/out" >>"$T/all-output"
}

# by_daemon: 1 when the last daemon_poll was done by the daemon.
by_daemon() {
	grep -c 'account=imap: fetched 1 message .* by the running daemon' "$T/out"
}

# daemon_run: starts the daemon and waits for its first poll.
daemon_run() {
	DLOG=$T/daemon.log
	: >"$DLOG"
	"$MAILFETCHD" -c "$T/d.conf" -v -v >>"$DLOG" 2>&1 &
	DPID=$!
	tap_cleanup_add 'kill -9 "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null'
	for _ in $(seq 200); do
		grep -q 'account=imap: nothing new' "$DLOG" && [ -S "$T/ctl" ] &&
		    return 0
		sleep 0.1
	done
	tap_diag "$(tail -20 "$DLOG")"
	tap_bail "the daemon did not finish its first poll"
}

# daemon_end: SIGTERM, the daemon's log into all-output.
daemon_end() {
	kill -TERM "$DPID"
	wait "$DPID" 2>/dev/null
	cat "$DLOG" >>"$T/all-output"
}

printf 'From: a@example.com\nTo: alice@example.com\nSubject: m2\n\nbody\n' \
    >"$T/m2.eml"
daemon_run
r0=$(refreshes)
daemon_poll "$S/05-reply.eml"
tap_is "$rc:$(($(refreshes) - r0)):$(by_daemon)" "0:0:1" \
    "daemon, token valid for an hour: the next session fetches without a refresh grant"
[ "$rc" = 0 ] || tap_diag "$err"
daemon_end

kill -USR2 "$SERVER"		# from now on access tokens live 1 s
daemon_run			# its first poll cached a 1 s token
sleep 2
r0=$(refreshes)
daemon_poll "$S/06-list.eml"
tap_is "$rc:$(($(refreshes) - r0)):$(by_daemon)" "0:1:1" \
    "daemon, expired token: the next session refreshes it first and fetches"
[ "$rc" = 0 ] || tap_diag "$err"
daemon_end
mfd_expect "$T/Maildir-imap" "" "$S"/0[1-6]-*.eml

# 3. The same with --once, 2 s after the last 1 s token was issued. Each
# --once is a new process with an empty cache, so it refreshes anyway; what
# this shows is that it does so before it logs in (Dovecot would refuse an
# expired token: introspection says inactive).
sleep 2
dovecot_add_message alice INBOX "$T/m2.eml"
r0=$(refreshes)
run imap
tap_is "$rc" 0 "expired access token: IMAP --once fetches the new message"
[ "$rc" = 0 ] || tap_diag "$err"
mfd_expect "$T/Maildir-imap" "" "$S"/0[1-6]-*.eml "$T/m2.eml"
tap_is "$(($(refreshes) - r0))" 1 "expired access token: one refresh grant before the login"
tap_is "$(grep -c -- '-> inactive' "$O/server.log")" 0 \
    "Dovecot was never shown an expired or unknown token"
tap_like "$err" "OAuth2 access token refreshed" "the refresh is logged"

# A control: the passdb really asks the endpoint (a token it never issued
# is refused), so the logins above prove the tokens were checked.
tap_is "$(xoauth2_login AT-bogus)" "NO" \
    "control: Dovecot refuses a token the endpoint never issued"

# 4. The grant is revoked: one refresh attempt, invalid_grant, a clear
# message and no retry.
kill -USR1 "$SERVER"
r0=$(refreshes)
run imap
tap_is "$rc" 3 "revoked grant: the run fails as an authentication failure (exit 3)"
tap_like "$err" "re-authorisation needed: run mailfetchd --oauth2-setup imap" \
    "revoked grant: the error says to run --oauth2-setup"
tap_is "$(($(refreshes) - r0))" 1 "revoked grant: exactly one refresh attempt, no retry loop"
tap_like "$secs" '^[0-5]$' "revoked grant: the run ends at once (${secs}s)"
mfd_no_secret AT-1 AT-2 AT-3 AT-4 AT-5 AT-6 RT-1 RT-2 RT-3 RT-4 RT-5 RT-6
mfd_no_sanitizer
tap_done
