#!/bin/bash
# secret_async.sh: a slow password_command does not stall the daemon. Two
# accounts in one daemon against a real Dovecot: alice idles on INBOX;
# bob's password_command waits for the test's go, writes a start marker,
# sleeps 5 s and writes an end marker before printing the password. A
# message appended to alice's INBOX while bob's command sleeps is
# delivered before the command ends (the order of the markers: start,
# delivered, end; no timing threshold), and bob still logs in and gets
# his mail afterwards. The same with an OAuth2 access token refresh: the
# token endpoint (oauth2_server.py) holds carol's refresh grant until the
# test's go, and a message appended to alice's INBOX meanwhile is
# delivered before the endpoint answers. A password_command inherits no
# socket or file of the daemon and dies with it (kill -9), with what it
# started. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"
. "$top_srcdir/tests/lib/oauth2.sh"

mfd_init
dovecot_start
gen() { "$(_dc_python)" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }

dovecot_add_user alice pw-alice-5c1d
mfd_account alice pw-alice-5c1d
dovecot_add_user bob pw-bob-90e2
mfd_account bob pw-bob-90e2
gen plain "$T/a1.eml" "async-alice-1"
gen plain "$T/b1.eml" "async-bob-1"
dovecot_add_message bob INBOX "$T/b1.eml"
M=$T/markers

# landed MAILDIR COUNT: waits (30 s at most) until new/ holds COUNT files.
landed()
{
	local i

	for ((i = 0; i < 300; i++)); do
		[ "$(find "$1/new" -type f 2>/dev/null | wc -l)" -ge "$2" ] &&
		    return 0
		sleep 0.1
	done
	return 1
}
: >"$M"

# bob's password_command: at most 25 s for the go (below the 30 s limit),
# then 5 s of sleep between its two markers.
cat >"$T/bob-pw.sh" <<EOF
#!/bin/sh
i=0
while [ ! -e "$T/go" ] && [ \$i -lt 250 ]; do sleep 0.1; i=\$((i + 1)); done
echo command-start >>"$M"
sleep 5
echo command-end >>"$M"
cat "$T/bob/pass"
EOF
chmod 700 "$T/bob-pw.sh"

CONF=$T/daemon.conf
{
	printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state"
	daemon_block alice 'idle = yes' 'poll_interval = 1h'
	daemon_block bob 'poll_interval = 1h' | sed \
	    "s|password_file = .*|password_command = \"$T/bob-pw.sh\"|"
} >"$CONF" || tap_bail "cannot write $CONF"

daemon_start "$CONF"
daemon_wait_log 'account=alice folder=INBOX: .*-> IDLING' 20
ok $? "alice idles while bob's password_command runs" "$(tail -20 "$DLOG")"
: >"$T/go"
daemon_wait_file "$M" '^command-start$' 30
ok $? "bob's password_command started" "$(cat "$M")"
dovecot_append alice INBOX "$T/a1.eml" >/dev/null || tap_bail "APPEND failed"
landed "$T/alice/Maildir" 1
echo delivered >>"$M"
mfd_expect "$T/alice/Maildir" "" "$T/a1.eml"
daemon_wait_file "$M" '^command-end$' 30
tap_is "$(tr '\n' ' ' <"$M")" "command-start delivered command-end " \
    "alice's message is delivered while bob's password_command sleeps"
landed "$T/bob/Maildir" 1
mfd_expect "$T/bob/Maildir" "" "$T/b1.eml"
tap_is "$(grep -cE 'account=alice.*(timed out|timeout)|runtime error:|AddressSanitizer' \
    "$DLOG")" 0 "no spurious timeout of alice, no sanitizer report"

kill -TERM "$DPID"
daemon_wait_exit 20
tap_is "$drc" 0 "the daemon stops cleanly"

# ---- a password_command inherits nothing, and dies with the daemon --------
# bob's command records the fds it got, then waits (as on a pinentry). It
# must hold none of the daemon's sockets (alice's IDLE connection) or
# state files (the account locks), and a kill -9 of the daemon must not
# leave it behind: alice's connection would stay open as long as it runs.
cat >"$T/bob-pw2.sh" <<EOF
#!/bin/sh
for f in /proc/\$\$/fd/*; do readlink "\$f"; done >"$T/cmd.fds.tmp"
mv "$T/cmd.fds.tmp" "$T/cmd.fds"
sleep 25 &
echo \$! >"$T/gc.pid"
echo \$\$ >"$T/cmd.pid"
exec sleep 25
EOF
chmod 700 "$T/bob-pw2.sh"
: >"$DLOG"
sed "s|bob-pw.sh|bob-pw2.sh|" "$CONF" >"$T/daemon2.conf"
daemon_start "$T/daemon2.conf"
daemon_wait_log 'account=alice folder=INBOX: .*-> IDLING' 20
ok $? "alice idles before bob's password_command runs" "$(tail -20 "$DLOG")"
for _ in $(seq 200); do [ -s "$T/cmd.pid" ] && break; sleep 0.1; done
CPID=$(cat "$T/cmd.pid" 2>/dev/null)
ok "$([ -n "$CPID" ]; echo $?)" "bob's second password_command runs"
# Its own fds (stdio, the script, the list being written) are not the
# daemon's: sockets and files in the state directory or the Maildirs are.
[ -s "$T/cmd.fds" ] && ! grep -qE "^socket:|^$T/(state|alice|bob)/" "$T/cmd.fds"
ok $? "the command inherits no socket and no file of the daemon" \
    "$(cat "$T/cmd.fds" 2>/dev/null)"
kill -9 "$DPID"
daemon_wait_exit 10
# ends PID: 0 once PID ended (10 s at most), then kills it regardless.
# Killed is enough: a zombie waits for init, which may reap it late.
ends()
{
	local gone=1

	[ -n "$1" ] || return 1
	for _ in $(seq 100); do
		if ! kill -0 "$1" 2>/dev/null ||
		    grep -q '^State:.*zombie' "/proc/$1/status" 2>/dev/null
		then
			gone=0
			break
		fi
		sleep 0.1
	done
	kill -9 "$1" 2>/dev/null
	return "$gone"
}
ends "$CPID"
ok $? "a kill -9 of the daemon also ends its password_command"
ends "$(cat "$T/gc.pid" 2>/dev/null)"
ok $? "and what the command started (PR_SET_PDEATHSIG alone missed it)"

# ---- an OAuth2 refresh held by the token endpoint -------------------------
O=$T/o2
mkdir -p "$O"
: >"$M"
oauth2_endpoint "$O" grant "markers=$M" "hold=$T/go2"
{
	printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state"
	daemon_block alice 'idle = yes' 'poll_interval = 1h'
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
  poll_interval = 1h
  oauth2 {
    client_id = "test-client"
    token_url = "https://localhost:$PORT/token"
    device_url = "https://localhost:$PORT/device"
    scope = "mail offline_access"
    ca_file = "$O/ca.pem"
  }
}
EOF
} >"$CONF" || tap_bail "cannot write $CONF"
"$MAILFETCHD" -c "$CONF" --oauth2-setup carol >"$T/setup.out" 2>&1
ok $? "carol: --oauth2-setup through the device flow" "$(cat "$T/setup.out")"
gen plain "$T/a2.eml" "async-alice-2"

daemon_start "$CONF"
daemon_wait_file "$M" '^refresh-start$' 20
ok $? "carol's token refresh reached the endpoint" "$(cat "$M")"
daemon_wait_log 'account=alice folder=INBOX: .*-> IDLING' 20 2
ok $? "alice idles while carol's refresh is held" "$(tail -20 "$DLOG")"
dovecot_append alice INBOX "$T/a2.eml" >/dev/null || tap_bail "APPEND failed"
landed "$T/alice/Maildir" 2
echo delivered >>"$M"
: >"$T/go2"
daemon_wait_file "$M" '^refresh-end$' 30
mfd_expect "$T/alice/Maildir" "" "$T/a1.eml" "$T/a2.eml"
tap_is "$(tr '\n' ' ' <"$M")" "refresh-start delivered refresh-end " \
    "alice's message is delivered while carol's token refresh waits"
daemon_wait_log 'account carol: OAuth2 access token refreshed' 20
ok $? "carol's refresh completes (logged)" "$(tail -20 "$DLOG")"
tap_is "$(grep -cE 'account=alice.*(timed out|timeout)|runtime error:|AddressSanitizer' \
    "$DLOG")" 0 "no spurious timeout of alice, no sanitizer report"
kill -TERM "$DPID"
daemon_wait_exit 20
tap_is "$drc" 0 "the daemon stops cleanly"

tap_done
