#!/bin/bash
# oauth2_refresh.sh: the OAuth2 refresh child of a daemon, against a token
# endpoint that rotates refresh tokens (oauth2_server.py, late=1: the
# grant is processed at once, only the answer is held until $T/go) and a
# real Dovecot that checks carol's access tokens (oauth2 passdb,
# introspection). Every daemon start refreshes carol's access token: the
# token cache lives in the daemon's memory only.
#  - kill -9 of the daemon while carol's refresh is held: the refresh
#    child holds no lock (nor any other fd) of the daemon, so
#    mailfetchd --once for alice runs at once.
#  - four IDLE folders of carol start at once with a stale token: one
#    refresh, the others wait for its answer (no invalid_grant, no false
#    "re-authorisation needed").
#  - SIGTERM while the endpoint has rotated the refresh token but its
#    answer is still held: the refresh child is not killed, it saves the
#    new refresh token, and the next start needs no --oauth2-setup.
#  - the same SIGTERM, then an immediate restart (systemctl restart)
#    while the left refresh child still waits for its answer: the new
#    daemon's refresh waits for the token file's lock and then uses the
#    rotated refresh token (not the old one, refused invalid_grant: a
#    false "re-authorisation needed").
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"
. "$top_srcdir/tests/lib/oauth2.sh"

mfd_init
O=$T/o2
M=$T/markers
mkdir -p "$O"
chmod 755 "$T" "$O"
: >"$M"
oauth2_endpoint "$O" grant user=carol late=1 "markers=$M" \
    "hold=$T/go"
oauth2_dovecot_passdb "$O"
dovecot_start
dovecot_add_user alice pw-alice-77a1
mfd_account alice pw-alice-77a1
dovecot_add_user carol "pw-never-used-$$"
for f in F1 F2 F3; do dovecot_add_folder carol "$f"; done
TOKFILE=$T/state/carol.oauth2

# carol_block [FOLDER...]: carol's account, IDLE on the folders given.
carol_block()
{
	local f

	cat <<EOF
account "carol" {
  protocol = imap
  host = "localhost"
  port = $DC_IMAPS_PORT
  tls = implicit
  ca_file = "$DC_CA"
  user = "carol"
  maildir = "$T/carol/Maildir"
  timeout = 20s
  idle = yes
  poll_interval = 1h
  oauth2 {
    client_id = "test-client"
    token_url = "https://localhost:$PORT/token"
    device_url = "https://localhost:$PORT/device"
    scope = "mail offline_access"
    ca_file = "$O/ca.pem"
  }
EOF
	for f in "$@"; do
		printf '  folder "%s" { }\n' "$f"
	done
	echo "}"
}

# stop_during_refresh RT: starts the daemon (CONF4) with the endpoint's
# answers held, waits until carol's refresh has rotated RT, and stops the
# daemon with SIGTERM; n is the count of refreshes before.
stop_during_refresh()
{
	rm -f "$T/go"
	n=$(grep -c '^refresh-start$' "$M")
	cat "$DLOG" >>"$T/all.log"; : >"$DLOG"
	daemon_start "$CONF4"
	daemon_wait_file "$M" '^refresh-start$' 20 $((n + 1))
	ok $? "carol's refresh rotated $1, its answer is held" "$(cat "$M")"
	kill -TERM "$DPID"
	daemon_wait_exit 20
	tap_is "$drc" 0 "the daemon stops cleanly during the refresh"
}

CONF=$T/daemon.conf
{
	printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state"
	daemon_block alice 'idle = yes' 'poll_interval = 1h'
	carol_block INBOX
} >"$CONF" || tap_bail "cannot write $CONF"
"$MAILFETCHD" -c "$CONF" --oauth2-setup carol >"$T/setup.out" 2>&1
ok $? "carol: --oauth2-setup through the device flow" "$(cat "$T/setup.out")"
tap_is "$(cat "$TOKFILE" 2>/dev/null)" RT-1 "the token file holds RT-1"

# ---- kill -9 while the refresh child runs: it holds no lock ---------------
daemon_start "$CONF"
daemon_wait_file "$M" '^refresh-start$' 20
ok $? "carol's refresh reached the endpoint (held)" "$(cat "$M")"
daemon_wait_log 'account=alice folder=INBOX: .*-> IDLING' 20
ok $? "alice idles while carol's refresh is held" "$(tail -20 "$DLOG")"
kill -9 "$DPID"
daemon_wait_exit 10
# Exit status 1 is "nothing new"; a held lock would say "already being
# fetched by another mailfetchd" (exit status 2 or more).
"$MAILFETCHD" -c "$CONF" --once --account alice >"$T/once.out" 2>&1
[ $? -le 1 ] && ! grep -q 'already being fetched' "$T/once.out"
ok $? "after kill -9 of the daemon, --once for alice is not refused" \
    "$(grep -v debug "$T/once.out")"
: >"$T/go"
daemon_wait_file "$M" '^refresh-end$' 30
ok $? "the held refresh is answered" "$(cat "$M")"
# The orphaned child still saves the rotated refresh token.
daemon_wait_file "$TOKFILE" '^RT-2$' 20
ok $? "the orphaned refresh child saved RT-2" "$(cat "$TOKFILE")"

# ---- four IDLE folders need a token at once: one refresh ------------------
grep -c '"grant_type": "refresh_token"' "$O/server.log" >"$T/grants.before"
CONF4=$T/daemon4.conf
{
	printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state"
	carol_block INBOX F1 F2 F3
} >"$CONF4" || tap_bail "cannot write $CONF4"
cat "$DLOG" >>"$T/all.log"; : >"$DLOG"
daemon_start "$CONF4"
daemon_wait_log 'account=carol folder=.*-> IDLING' 30 4
ok $? "all four of carol's folders idle" \
    "$(grep -vi debug "$DLOG" | tail -20)"
tap_is "$(($(grep -c '"grant_type": "refresh_token"' "$O/server.log") - \
    $(cat "$T/grants.before")))" 1 \
    "the four sessions asked the endpoint for one refresh"
tap_is "$(grep -c 're-authorisation needed' "$DLOG")" 0 \
    "no false re-authorisation needed"
tap_is "$(cat "$TOKFILE")" RT-3 "the token file holds RT-3"
kill -TERM "$DPID"
daemon_wait_exit 20
tap_is "$drc" 0 "the daemon stops cleanly"

# ---- SIGTERM after the endpoint rotated, before its answer ----------------
stop_during_refresh RT-3
: >"$T/go"
daemon_wait_file "$M" '^refresh-end$' 30 $((n + 1))
ok $? "the held answer goes out" "$(cat "$M")"
daemon_wait_file "$TOKFILE" '^RT-4$' 20
ok $? "the refresh child, left to finish, saved RT-4" "$(cat "$TOKFILE")"
cat "$DLOG" >>"$T/all.log"; : >"$DLOG"
daemon_start "$CONF4"
daemon_wait_log 'account=carol folder=.*-> IDLING' 30 4
ok $? "the next start refreshes with RT-4: all four folders idle" \
    "$(grep -vi debug "$DLOG" | tail -20)"
tap_is "$(grep -c 're-authorisation needed' "$DLOG")" 0 \
    "no re-authorisation needed after the stop"
kill -TERM "$DPID"
daemon_wait_exit 20
tap_is "$drc" 0 "the daemon stops cleanly"

# ---- SIGTERM during a refresh, then an immediate restart ------------------
l=$(wc -l <"$O/server.log")
stop_during_refresh RT-5
cat "$DLOG" >>"$T/all.log"; : >"$DLOG"
daemon_start "$CONF4"
# The new daemon's refresh child has started (the other folders wait for
# it); a moment for it to read the token file, while RT-5 is still there.
daemon_wait_log 'waiting for the token refresh under' 20
ok $? "the restarted daemon refreshes while the old refresh is held" \
    "$(grep -vi debug "$DLOG" | tail -20)"
sleep 1
: >"$T/go"
daemon_wait_log 'account=carol folder=.*-> IDLING' 40 4
ok $? "after the immediate restart all four folders idle" \
    "$(grep -vi debug "$DLOG" | tail -20)"
tap_is "$(grep -c 're-authorisation needed' "$DLOG")" 0 \
    "no false re-authorisation needed after the immediate restart"
tap_is "$(tail -n +$((l + 1)) "$O/server.log" |
    grep '"grant_type": "refresh_token"' |
    grep -o '"refresh_token": "RT-[0-9]*"' | grep -o 'RT-[0-9]*' |
    tr '\n' ' ')" "RT-5 RT-6 " \
    "the endpoint saw the refreshes in sequence: RT-5, then RT-6"
tap_is "$(cat "$TOKFILE")" RT-7 "the token file holds RT-7"
tap_is "$(stat -c %a "$TOKFILE.lock" 2>/dev/null)" 600 \
    "the refresh lock file beside the token file has mode 0600"
kill -TERM "$DPID"
daemon_wait_exit 20
tap_is "$drc" 0 "the daemon stops cleanly"
cat "$DLOG" >>"$T/all.log"
tap_is "$(grep -cE 'runtime error:|AddressSanitizer|LeakSanitizer' \
    "$T/all.log")" 0 "no sanitizer report"

tap_done
