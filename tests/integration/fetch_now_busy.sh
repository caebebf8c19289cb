#!/bin/bash
# fetch_now_busy.sh: a fetch now while the server asked to wait makes no
# login (doc/DESIGN.md promise 3: the provider's limits; mailfetchd(8),
# fetch). Three accounts in one daemon, on scripted servers that refuse
# every login as busy:
#  - idle: an IDLE folder, "NO [UNAVAILABLE]" (tests/fault/imap_server.py
#    unavailable): the IDLE connection waits to reconnect;
#  - poll: a polled folder, the same refusal: the account backs off;
#  - pop: POP3, "-ERR [IN-USE]" (tests/integration/pop3_server.py inuse).
# A fetch now (--once) of each is answered at once with status 10 and a
# text naming the server's reason and when the next attempt is allowed;
# no connection logs in again. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
. "$top_srcdir/tests/lib/daemon.sh"
scripted_init busy

# server NAME SCRIPT MODE [ARGS]: a scripted server for account NAME, its
# commands in $T/NAME.log; sets PORT_NAME.
server()
{
	local name=$1 script=$2 mode=$3 pid

	shift 3
	: >"$T/$name.log"
	python3 "$script" "$mode" --log "$T/$name.log" "$@" \
	    >"$T/$name.port" 2>>"$T/$name.err" &
	pid=$!
	tap_cleanup_add "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
	daemon_wait_file "$T/$name.port" '^[0-9]+$' 5 ||
	    tap_bail "$script $mode did not start"
	printf -v "PORT_$name" '%s' "$(cat "$T/$name.port")"
}

# account NAME PROTO PORT LINE...: a plain-text account on a scripted
# server.
account()
{
	local name=$1 proto=$2 port=$3 line

	shift 3
	printf 'account "%s" {\n  protocol = %s\n' "$name" "$proto"
	printf '  host = "127.0.0.1"\n  port = %s\n  tls = none\n' "$port"
	printf '  user = "fault@example.net"\n'
	printf '  password_file = "%s"\n' "$T/pass"
	printf '  maildir = "%s"\n  timeout = 5s\n' "$T/Maildir-$name"
	printf '  poll_interval = 10s\n  poll_interval_override = yes\n'
	for line in "$@"; do
		printf '  %s\n' "$line"
	done
	printf '}\n'
}

# logins NAME: the logins the server of NAME has seen.
logins() { grep -Ec '^[0-9]+ ([^ ]+ (LOGIN|AUTHENTICATE)|PASS)( |$)' "$T/$1.log"; }

IMAP=$top_srcdir/tests/fault/imap_server.py
server idle "$IMAP" unavailable --bad 1000 --linger 60 --manifest "$T/m-idle"
server poll "$IMAP" unavailable --bad 1000 --linger 60 --manifest "$T/m-poll"
server pop "$top_srcdir/tests/integration/pop3_server.py" inuse
CONF=$T/daemon.conf
{
	printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state"
	printf 'control_socket = "%s"\n' "$T/control"
	account idle imap "$PORT_idle" 'folder "INBOX" { idle = yes }'
	account poll imap "$PORT_poll" 'folder "INBOX" { }'
	account pop pop3 "$PORT_pop"
} >"$CONF" || tap_bail "cannot write $CONF"

daemon_start "$CONF"
# The first login of each is refused: the IDLE connection waits to
# reconnect, the polls back off.
for w in 'idle folder=INBOX: IDLE connection ended' 'poll: poll failed' \
    'pop: poll failed'; do
	daemon_wait_log "account=$w" 20
	ok $? "${w%%[: ]*}: the first login is refused" "$(cat "$DLOG")"
done

# busy NAME REASON-ERE: a fetch now of NAME is refused, with the reason
# and the time of the next attempt, and logs in nowhere.
busy()
{
	local out rc

	out=$(timeout 30 "$MAILFETCHD" -c "$CONF" --once --account "$1" 2>&1)
	rc=$?
	tap_diag "$1: $out"
	tap_is "$rc" 10 "$1: a fetch now is refused (exit 10)" "$out"
	tap_like "$out" "account=$1: not fetched: the server $2 [0-9hms ]+ ago; next attempt allowed in [0-9hms ]+ \(at [0-9-]+ [0-9:]+\)" \
	    "$1: the answer names the server's reason and the next attempt" "$out"
}
busy idle 'refused the login as busy \(\[UNAVAILABLE\]\)'
busy poll 'refused the login as busy \(\[UNAVAILABLE\]\)'
busy pop 'refused the login: another session holds the mailbox \(\[IN-USE\]\)'
grep -q 'account=idle folder=INBOX: reconnecting IDLE now' "$DLOG"
tap_is "$?" 1 "idle: the IDLE folder is not reconnected" \
    "$(grep 'account=idle' "$DLOG" | tail -5)"
sleep 1
for n in idle poll pop; do
	tap_is "$(logins $n)" 1 "$n: no login after the refusal" \
	    "$(cat "$T/$n.log")"
done

kill -TERM "$DPID"
daemon_wait_exit 15
tap_is "$drc" 0 "SIGTERM stops the daemon"
tap_unlike "$(cat "$DLOG")" 'runtime error:|AddressSanitizer|LeakSanitizer' \
    "no sanitizer report"
tap_done
