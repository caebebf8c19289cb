#!/bin/bash
# daemon_suspend.sh: a suspend and resume of the machine, simulated
# (MAILFETCHD_SUSPEND, the test hook in src/fault.h: a file of
# milliseconds added to the daemon's CLOCK_BOOTTIME, clock checks every
# second), against a real Dovecot behind tests/lib/relay.py. A 10-minute
# suspend is logged as such and every connection is checked at once: the
# IDLE connection leaves IDLE (DONE), is answered and idles again on the
# same connection (no new login), and a message appended afterwards is
# still pushed; the polled account is polled at once. With the relay a
# black hole (a network gone while the machine slept), the check gives up
# within its 10 s bound and the daemon reconnects once the relay forwards
# again; nothing is lost or doubled. The daemon connects to nothing but
# the configured server (its connect() calls, traced). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"

mfd_init
dovecot_start
gen() { "$(_dc_python)" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }
command -v strace >/dev/null || tap_bail "strace not found"

for u in one two; do
	dovecot_add_user "$u" "pw-$u-3e8a"
	mfd_account "$u" "pw-$u-3e8a"
done
for i in 1 2 3 4 5; do
	gen plain "$T/m$i.eml" "suspend-$i"
done
gen plain "$T/p1.eml" "polled-1"
dovecot_add_message one INBOX "$T/m1.eml"
mfd_relay "$DC_IMAPS_PORT" "$T/relay.capture"

# "one" idles on INBOX through the relay; "two" is polled hourly, straight
# from Dovecot, so that only a resume can poll it again within the test.
CONF=$T/daemon.conf
{
	printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state"
	daemon_block one 'idle = yes' 'poll_interval = 1h' |
	    sed "s/port = $DC_IMAPS_PORT/port = $RELAY_PORT/"
	daemon_block two 'poll_interval = 1h'
} >"$CONF" || tap_bail "cannot write $CONF"

# suspend MS: the simulated suspend so far, replaced atomically.
suspend()
{
	echo "$1" >"$T/suspend.new" && mv "$T/suspend.new" "$T/suspend" ||
	    tap_bail "cannot write $T/suspend"
}

# landed MAILDIR-DIR COUNT SECONDS: waits until new/ holds COUNT files.
landed()
{
	local i

	for ((i = 0; i < $3 * 10; i++)); do
		[ "$(find "$1/new" -maxdepth 1 -type f | wc -l)" -ge "$2" ] &&
		    return 0
		sleep 0.1
	done
	return 1
}

# logins USER: Dovecot's count of IMAP logins of the user so far.
logins()
{
	grep -Ec "imap-login: (Info: )?Login: user=<$1>" "$DC_LOG"
}

# log_since LINE: the daemon's log from line LINE on.
log_since()
{
	tail -n +"$1" "$DLOG"
}

# idled: how many times the IDLE folder entered IDLE so far.
idled()
{
	grep -c 'account=one folder=INBOX: .*-> IDLING' "$DLOG"
}

suspend 0
MAILFETCHD_SUSPEND=$T/suspend:1 daemon_start "$CONF"
daemon_wait_log 'account=one folder=INBOX: .*-> IDLING' 20
ok $? "the IDLE folder reaches IDLE through the relay" "$(tail -20 "$DLOG")"
daemon_wait_log 'account=two: ' 20
mfd_expect "$T/one/Maildir" "" "$T/m1.eml"
# Every connect() from here on (the daemon is single-threaded).
strace -qq -f -p "$DPID" -e trace=connect -o "$T/connect.trace" &
STRACE_PID=$!
tap_cleanup_add 'kill "$STRACE_PID" 2>/dev/null; wait "$STRACE_PID" 2>/dev/null'
sleep 1
kill -0 "$STRACE_PID" 2>/dev/null || tap_bail "strace could not attach"

# --- No suspend: the clock checks (every second) stay quiet. ---
sleep 3
grep -q 'resumed after' "$DLOG"
ok $((!$?)) "without a suspend, no clock check reports one" \
    "$(grep 'resumed after' "$DLOG")"
"$MAILFETCHD" -c "$CONF" --status --json >"$T/st.json" 2>&1
tap_is "$("$(_dc_python)" "$top_srcdir/tests/lib/status_check.py" \
    "$top_srcdir/doc/status.schema.json" "$T/st.json" \
    'd["daemons"][0]["last_suspend"]')" None \
    "--status --json: no last suspend yet" "$(cat "$T/st.json")"

# --- A 10-minute suspend; the connection survived it. ---
dovecot_append two INBOX "$T/p1.eml" >/dev/null || tap_bail "APPEND failed"
before=$(logins one)
n=$(idled)
mark=$(($(wc -l <"$DLOG") + 1))
suspend 600000
daemon_wait_log 'resumed after about (599|600|601)s suspended; checking every account now' 5
ok $? "a 10-minute suspend is noticed within the clock check and logged" \
    "$(log_since "$mark" | head -20)"
daemon_wait_log 'account=one folder=INBOX: checking the connection' 2
ok $? "the IDLE connection is checked" "$(log_since "$mark" | head -20)"
log_since "$mark" | grep -q 'account=one folder=INBOX: > DONE'
ok $? "the check leaves IDLE with DONE" "$(log_since "$mark" | head -20)"
daemon_wait_log 'account=one folder=INBOX: .*-> IDLING' 10 $((n + 1))
ok $? "DONE is answered and the folder idles again" \
    "$(log_since "$mark" | head -30)"
tap_is "$(logins one)" "$before" \
    "on the same connection (no new login at Dovecot)"
landed "$T/two/Maildir" 1 10
ok $? "the polled account is polled at once (its next poll was an hour away)" \
    "$(log_since "$mark" | grep 'account=two' | head)"
"$MAILFETCHD" -c "$CONF" --status --json >"$T/st.json" 2>&1
tap_is "$("$(_dc_python)" "$top_srcdir/tests/lib/status_check.py" \
    "$top_srcdir/doc/status.schema.json" "$T/st.json" \
    'd["daemons"][0]["last_suspend"]["seconds"] in (599, 600, 601), d["daemons"][0]["last_suspend"]["resumed"] >= d["generated"] - 30')" \
    "(True, True)" "--status --json: the daemon's last suspend, how long, when it resumed" \
    "$(cat "$T/st.json")"
dovecot_append one INBOX "$T/m2.eml" >/dev/null || tap_bail "APPEND failed"
landed "$T/one/Maildir" 2 5
ok $? "a message appended after the resume is pushed" "$(tail -20 "$DLOG")"

# --- Another 10 minutes, and the network is gone: the relay forwards
# nothing, so DONE is never answered. ---
mark=$(($(wc -l <"$DLOG") + 1))
kill -USR1 "$RELAY_PID"
dovecot_append one INBOX "$T/m3.eml" >/dev/null || tap_bail "APPEND failed"
# (dovecot_append logs in too: counted after it.)
before=$(logins one)
n=$(idled)
t0=$(date +%s%3N)
suspend 1200000
daemon_wait_log 'resumed after about (599|600|601)s suspended' 5 2
ok $? "the second suspend is noticed" "$(log_since "$mark" | head -20)"
daemon_wait_log 'account=one folder=INBOX: timeout: .*timed out after 10s' 15
ok $? "the unanswered DONE times out" "$(log_since "$mark" | head -30)"
t1=$(date +%s%3N)
ms=$((t1 - t0))
[ "$ms" -ge 9000 ] && [ "$ms" -le 13500 ]
ok $? "after the check's 10 s bound (${ms} ms from the resume)" \
    "$(log_since "$mark" | head -30)"
daemon_wait_log 'account=one folder=INBOX: IDLE connection ended .*; reconnecting in' 2
ok $? "and ends the IDLE connection" "$(log_since "$mark" | head -30)"
kill -USR2 "$RELAY_PID"
daemon_wait_log 'account=one folder=INBOX: .*-> IDLING' 20 $((n + 1))
ok $? "the daemon reconnects once the relay forwards again" \
    "$(log_since "$mark" | tail -30)"
tap_is "$(logins one)" "$((before + 1))" "with one new login"
landed "$T/one/Maildir" 3 5
ok $? "the message appended while the network was gone is fetched" \
    "$(tail -20 "$DLOG")"
dovecot_append one INBOX "$T/m4.eml" >/dev/null || tap_bail "APPEND failed"
landed "$T/one/Maildir" 4 5
ok $? "and pushing works again" "$(tail -20 "$DLOG")"
mfd_expect "$T/one/Maildir" "" "$T/m1.eml" "$T/m2.eml" "$T/m3.eml" \
    "$T/m4.eml"
mfd_expect "$T/two/Maildir" "" "$T/p1.eml"

# --- Where the daemon connected: only the configured servers (the relay
# for "one", Dovecot for "two"), on 127.0.0.1. ---
# strace detaches first: LeakSanitizer (the ASan build) cannot run its
# exit-time check in a traced process and aborts it.
kill -TERM "$STRACE_PID" 2>/dev/null
wait "$STRACE_PID" 2>/dev/null
kill -TERM "$DPID"
daemon_wait_exit 10
tap_is "$drc" 0 "SIGTERM stops the daemon with exit status 0" \
    "$(tail -20 "$DLOG")"
inet=$(grep -E 'connect\(.*AF_INET' "$T/connect.trace")
[ -n "$inet" ]
ok $? "the reconnect's and the polls' connect() calls were traced" \
    "$(cat "$T/connect.trace")"
others=$(grep -E 'connect\(.*AF_INET' "$T/connect.trace" |
    grep -Ev "sin_port=htons\(($RELAY_PORT|$DC_IMAPS_PORT)\), sin_addr=inet_addr\(\"127.0.0.1\"\)")
tap_is "$others" "" "every connect() goes to a configured server"
# The check's timeout is the one error expected.
grep -E ' error: |Sanitizer|runtime error' "$DLOG" |
    grep -v 'timed out after 10s without data' >"$T/errors"
tap_is "$(cat "$T/errors")" "" "no other error, no sanitizer report in the log"
tap_done
