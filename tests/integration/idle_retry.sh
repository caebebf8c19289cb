#!/bin/bash
# idle_retry.sh: how IDLE folders reconnect.
#  - A server restart with a few seconds down: the first reconnect finds
#    the port closed; a connection refused before any login costs the
#    provider nothing and is retried within seconds (not after the minute
#    of backoff a failed login gets), so that every IDLE folder is back
#    soon after the server, and mail appended then is pushed.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"

mfd_init
dovecot_start
gen() { "$(_dc_python)" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }

dovecot_add_user rs "pw-rs-3e07"
mfd_account rs "pw-rs-3e07"
for f in Work Lists; do
	dovecot_add_folder rs "$f"
done
gen plain "$T/m1.eml" restart-1
CONF=$T/daemon.conf
{
	printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state"
	daemon_block rs 'idle = yes' 'poll_interval = 1h' |
	    sed 's/  folder "INBOX" { }/  folder "INBOX" { }\n  folder "Work" { }\n  folder "Lists" { }/'
} >"$CONF" || tap_bail "cannot write $CONF"

# idling N SECONDS: waits until each of the three folders reached IDLE N
# times, SECONDS in all.
idling()
{
	local f i

	for ((i = 0; i < $2 * 10; i++)); do
		[ "$i" -gt 0 ] && sleep 0.1
		for f in INBOX Work Lists; do
			[ "$(grep -Ec "account=rs folder=$f: .*-> IDLING" \
			    "$DLOG")" -ge "$1" ] || continue 2
		done
		return 0
	done
	return 1
}

daemon_start "$CONF"
idling 1 30
ok $? "the three IDLE folders reach IDLE" "$(tail -20 "$DLOG")"

# --- A restart with 4 s down: back within seconds (a generous 25 s
# here), not after the backoff of a minute. ---
dovecot_restart 4
up=$(wc -l <"$DLOG")
idling 2 25
ok $? "all three folders IDLE again within 25 s of the restart" \
    "$(tail -30 "$DLOG")"
for f in INBOX Work Lists; do
	grep -q "account=rs folder=$f: IDLE connection ended ([^)]*, before login); reconnecting in [0-9]s" "$DLOG"
	ok $? "$f: the refused connection is retried within seconds" \
	    "$(grep "folder=$f: IDLE connection ended" "$DLOG")"
done
# Everything logged between the restart and the third folder's return.
back=$(grep -n 'account=rs folder=[A-Za-z]*: .*-> IDLING' "$DLOG" | tail -1 |
    cut -d: -f1)
since=$(sed -n "1,${back}p" "$DLOG" |
    grep -Ec 'reconnecting in ([0-9]+m|[3-9][0-9]s)')
tap_is "$since" 0 "no folder was told to wait 30 s or more to reconnect" \
    "$(grep 'reconnecting in' "$DLOG")"
[ "$back" -gt "$up" ]
ok $? "the folders came back after the server did"
dovecot_append rs INBOX "$T/m1.eml" >/dev/null || tap_bail "APPEND failed"
for ((i = 0; i < 100; i++)); do
	[ "$(mfd_count "$T/rs/Maildir" "" new)" -ge 1 ] && break
	sleep 0.1
done
[ "$(mfd_count "$T/rs/Maildir" "" new)" -ge 1 ]
ok $? "a message appended after the restart is pushed within 10 s" \
    "$(tail -20 "$DLOG")"
mfd_expect "$T/rs/Maildir" "" "$T/m1.eml"

kill -TERM "$DPID"
daemon_wait_exit 10
tap_is "$drc" 0 "SIGTERM exits 0"
tap_done
