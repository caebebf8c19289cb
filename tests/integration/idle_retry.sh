#!/bin/bash
# idle_retry.sh: how IDLE folders reconnect.
#  - A server restart with a few seconds down: the first reconnect finds
#    the port closed; a connection refused before any login costs the
#    provider nothing and is retried within seconds (not after the minute
#    of backoff a failed login gets), so that every IDLE folder is back
#    soon after the server, and mail appended then is pushed.
#  - A server (tests/fault/imap_server.py idledrop) that drops every
#    connection right after "+ idling", for a Gmail account: one quick
#    retry, then the backoff, no shorter than Gmail's 10-minute minimum
#    interval: two logins in all, not one every few seconds. A fetch now
#    (--once) leaves it to that backoff: exit 10 with the time, no login.
#  - A server (imap_server.py selectdrop) that takes the login and fails
#    the connection before IDLE, for a Gmail account: the reconnection
#    waits Gmail's 10-minute minimum interval too (not the 1-minute
#    backoff), and a fetch now does not cut it short. --status says so:
#    no success yet, the IDLE connection's error as the last one (now).
#  - A reload while IDLE folders hold no session of their own (each
#    waits to reconnect, or for room): they follow their account to the
#    new configuration, the old one being freed (use-after-frees of it in
#    daemon_idle_start, crashes):
#    - every IDLE login refused as busy ("NO [UNAVAILABLE]",
#      imap_server.py unavailable), a SIGHUP, then a fetch now, which
#      leaves the folders to their backoff (exit 10: the server asked to
#      wait);
#    - every IDLE login refused with "[ALERT] Too many simultaneous
#      connections" (imap_server.py toomany), then a SIGHUP, which resets
#      the lowered cap and tries the folders again;
#    - three IDLE folders under max_connections = 2 (one IDLE, two
#      polled for want of room), a SIGHUP, the server restarting (the
#      IDLE one reconnects), then a fetch now (its poll's end tries IDLE
#      again for the others).
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
out=$("$MAILFETCHD" -c "$CONF" --status 2>&1)
tap_like "$out" '^rs: .*; last success [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8};.*; last error none$' \
    "--status: an account idling on every folder shows a success" "$out"

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

# --- A connection dropped right after "+ idling", again and again. ---
mkdir -p "$T/sd"
# server MODE SUFFIX: imap_server.py MODE on every connection; its port in
# $T/sd/portSUFFIX, the lines it received in $T/sd/serverSUFFIX.log.
server()
{
	"$(_dc_python)" "$top_srcdir/tests/fault/imap_server.py" "$1" \
	    --log "$T/sd/server$2.log" --manifest "$T/sd/manifest$2" \
	    --msgs 1 --bad 1000 --linger 60 >"$T/sd/port$2" \
	    2>>"$T/sd/server.err" &
	tap_cleanup_add "kill $! 2>/dev/null; wait $! 2>/dev/null"
	daemon_wait_file "$T/sd/port$2" '^[0-9]+$' 5 ||
	    tap_bail "imap_server.py $1 did not start"
	: >>"$T/sd/server$2.log"
}
server idledrop ""
mkdir -p "$T/sd/Maildir"
printf 'pw-sd\n' >"$T/sd/pass"
chmod 600 "$T/sd/pass"
{
	printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state-sd"
	printf 'account "sd" {\n  provider = gmail\n  protocol = imap\n'
	printf '  host = "127.0.0.1"\n  port = %s\n  tls = none\n' "$(cat "$T/sd/port")"
	printf '  user = "sd@example.net"\n  password_file = "%s"\n' "$T/sd/pass"
	printf '  maildir = "%s"\n  timeout = 5s\n' "$T/sd/Maildir"
	printf '  poll_interval = 1h\n  idle = yes\n  folder "INBOX" { }\n}\n'
} >"$T/sd.conf" || tap_bail "cannot write $T/sd.conf"
: >"$DLOG"
daemon_start "$T/sd.conf"
# logins: the logins the scripted server has seen.
logins() { grep -Ec '^[0-9]+ [^ ]+ (LOGIN|AUTHENTICATE) ' "$T/sd/server.log"; }
daemon_wait_log 'account=sd folder=INBOX: IDLE connection ended \([^)]*, again soon after reaching IDLE\); reconnecting in (9m [0-9]+s|1[0-9]m)' 20
ok $? "the second short IDLE connection backs off for Gmail's 10 minutes" \
    "$(grep 'IDLE connection ended' "$DLOG")"
sleep 10
n=$(logins)
tap_is "$n" 2 "two logins in all (one quick retry), not one every few seconds"
# once NAME CONF: three fetch nows; their outputs in $T/NAME.once.N, the
# exit statuses (sorted, unique) in $onces.
once()
{
	local i

	for i in 1 2 3; do
		timeout 20 "$MAILFETCHD" -c "$2" --once >"$T/$1.once.$i" 2>&1
		echo $?
	done >"$T/$1.rcs"
	onces=$(sort -u "$T/$1.rcs" | tr '\n' ' ')
}
once sd "$T/sd.conf"
tap_is "$onces" "10 " "sd: each fetch now exits 10 (not yet allowed)" \
    "$(cat "$T"/sd.once.*)"
tap_like "$(cat "$T/sd.once.3")" 'not fetched: .*next attempt allowed in ([5-9]m|1[0-9]m)' \
    "sd: the answer says when the next attempt is allowed" "$(cat "$T/sd.once.3")"
sleep 2
tap_is "$(logins)" 2 "sd: the fetch nows made no login" \
    "$(grep -E 'reconnecting IDLE now|IDLE connection ended' "$DLOG")"

kill -TERM "$DPID"
daemon_wait_exit 10
tap_is "$drc" 0 "SIGTERM exits 0"

# --- A connection that fails after the login, before IDLE. ---
server selectdrop 2
sed -e "s/port = .*/port = $(cat "$T/sd/port2")/" \
    -e "s|$T/state-sd|$T/state-la|" "$T/sd.conf" >"$T/la.conf"
: >"$DLOG"
daemon_start "$T/la.conf"
logins2() { grep -Ec '^[0-9]+ [^ ]+ (LOGIN|AUTHENTICATE) ' "$T/sd/server2.log"; }
daemon_wait_log 'account=sd folder=INBOX: IDLE connection ended' 20
line=$(grep 'IDLE connection ended' "$DLOG" | head -1)
tap_like "$line" 'reconnecting in (9m [0-9]+s|1[0-9]m)' \
    "la: a failure after the login waits Gmail's 10 minutes" "$(cat "$DLOG")"
out=$("$MAILFETCHD" -c "$T/la.conf" --status 2>&1)
tap_like "$out" '^sd: .*; last success never;' \
    "la: --status shows no success (no IDLE session reached IDLE)" "$out"
tap_like "$out" '^sd: .*; last error server protocol error \(now\)$' \
    "la: --status shows the IDLE connection's error" "$out"
once la "$T/la.conf"
tap_is "$onces" "10 " "la: each fetch now exits 10 (not yet allowed)" \
    "$(cat "$T"/la.once.*)"
sleep 2
tap_is "$(logins2)" 1 "la: one login in all" \
    "$(grep -E 'reconnecting IDLE now|IDLE connection ended' "$DLOG")"

kill -TERM "$DPID"
daemon_wait_exit 10
tap_is "$drc" 0 "SIGTERM exits 0"

# survived NAME WHAT: the daemon still runs after WHAT (else its log
# shows the sanitizer's report, if any), and SIGTERM stops it with 0.
survived()
{
	kill -0 "$DPID" 2>/dev/null
	ok $? "$1: the daemon is still running after $2" \
	    "$(grep -A6 'ERROR: AddressSanitizer' "$DLOG"; tail -8 "$DLOG")"
	kill -TERM "$DPID"
	daemon_wait_exit 10
	tap_is "$drc" 0 "$1: SIGTERM exits 0" "$(tail -20 "$DLOG")"
}

# two CONF MODE N: $T/sd.conf for imap_server.py MODE (port N), without
# the provider, with the folders INBOX and Lists, in CONF.
two()
{
	sed -e "s/port = .*/port = $(cat "$T/sd/port$3")/" \
	    -e "s|$T/state-sd|$T/state-$2|" -e '/provider = gmail/d' \
	    -e 's/  folder "INBOX" { }/  folder "INBOX" { }\n  folder "Lists" { }/' \
	    "$T/sd.conf" >"$1" || tap_bail "cannot write $1"
}

# --- Both IDLE logins refused as busy, a SIGHUP, then a fetch now. ---
server unavailable 4
two "$T/un.conf" un 4
: >"$DLOG"
daemon_start "$T/un.conf"
daemon_wait_log 'account=sd folder=[A-Za-z]+: IDLE connection ended' 20 2
ok $? "un: both IDLE logins are refused" "$(cat "$DLOG")"
kill -HUP "$DPID"
daemon_wait_log 'reloaded: ' 10
ok $? "un: the reload is logged" "$(tail -20 "$DLOG")"
timeout 20 "$MAILFETCHD" -c "$T/un.conf" --once >"$T/un.once" 2>&1
tap_is "$?" 10 "un: the fetch now is refused: the server asked to wait" \
    "$(cat "$T/un.once")"
sleep 1
survived un "the fetch now"

# --- Every IDLE login refused with [ALERT], then a SIGHUP. ---
server toomany 3
two "$T/tm.conf" tm 3
: >"$DLOG"
daemon_start "$T/tm.conf"
daemon_wait_log 'too many simultaneous connections; using at most' 20
ok $? "tm: the [ALERT] lowers the account's cap" "$(cat "$DLOG")"
kill -HUP "$DPID"
daemon_wait_log 'reloaded: ' 10
ok $? "tm: the reload is logged" "$(tail -20 "$DLOG")"
grep -q 'account=sd: the connection cap lowered .* is reset by the reload' "$DLOG"
ok $? "tm: the reload resets the cap" "$(tail -20 "$DLOG")"
sleep 2
survived tm "the reload (2 s)"

# --- Three IDLE folders under max_connections = 2, a SIGHUP, a restart
# of the server, a fetch now. ---
{
	printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state-cap"
	daemon_block rs 'idle = yes' 'poll_interval = 1h' \
	    'max_connections = 2' |
	    sed 's/  folder "INBOX" { }/  folder "INBOX" { }\n  folder "Work" { }\n  folder "Lists" { }/'
} >"$T/cap.conf" || tap_bail "cannot write $T/cap.conf"
: >"$DLOG"
daemon_start "$T/cap.conf"
daemon_wait_log 'account=rs folder=[A-Za-z]+: .*-> IDLING' 30
ok $? "cap: one folder reaches IDLE" "$(cat "$DLOG")"
daemon_wait_log 'account=rs folder=[A-Za-z]+: .*polling this folder instead of IDLE' 30 2
ok $? "cap: the two others are polled for want of room" "$(cat "$DLOG")"
kill -HUP "$DPID"
daemon_wait_log 'reloaded: ' 10
ok $? "cap: the reload is logged" "$(tail -20 "$DLOG")"
dovecot_restart 1
daemon_wait_log 'account=rs folder=[A-Za-z]+: .*-> IDLING' 30 2
ok $? "cap: the IDLE folder is back after the server's restart" \
    "$(tail -30 "$DLOG")"
timeout 30 "$MAILFETCHD" -c "$T/cap.conf" --once >"$T/cap.once" 2>&1
rc=$?
[ "$rc" = 0 ] || [ "$rc" = 1 ]
ok $? "cap: the fetch now polls the account (exit $rc)" \
    "$(cat "$T/cap.once"; tail -20 "$DLOG")"
sleep 1
survived cap "the poll's end"
tap_done
