#!/bin/bash
# daemon_alerts.sh: what the daemon does when a server turns it away or
# lacks IDLE, all in one daemon with four accounts at once.
#  - noidle: a real Dovecot whose imap_capability leaves IDLE out; the
#    account's INBOX has idle = yes. The daemon logs once that the folder
#    is polled because the server does not offer IDLE, --status shows it
#    as polled, and an APPENDed message comes with the next poll, once.
#  - tm: a scripted server (tests/fault/imap_server.py toomany) refuses
#    the first login with Gmail's "NO [ALERT] Too many simultaneous
#    connections. (Failure)": the account's cap goes down to 1, the daemon
#    backs off (at least 5 minutes, not the 30 of a wrong password) and
#    does not log in again meanwhile.
#  - ti: the same refusal on an IDLE login (the account has only an IDLE
#    folder, so that login is its only one): the cap goes down, the IDLE
#    reconnect waits as long, no login meanwhile.
#  - un: "NO [UNAVAILABLE]" on the first login: backoff of 5 minutes, no
#    login meanwhile.
#  - a fetch now of tm, un or ti meanwhile is refused (exit 10), naming
#    the server's reason and the next attempt: no login, ti's IDLE folder
#    not reconnected (logged once). Once the daemon stopped, --once gets
#    every message of each, with one more login.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"

mfd_init
# Dovecot's default list without IDLE (and without NOTIFY, which needs
# it): a server that really lacks it, not one that hides it badly.
DC_EXTRA_CONF='imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE LITERAL+ SORT THREAD=REFERENCES MULTIAPPEND UNSELECT CHILDREN NAMESPACE UIDPLUS LIST-EXTENDED I18NLEVEL=1 CONDSTORE QRESYNC ESEARCH ESORT SEARCHRES WITHIN CONTEXT=SEARCH LIST-STATUS BINARY MOVE SNIPPET=FUZZY PREVIEW=FUZZY STATUS=SIZE SAVEDATE'
dovecot_start
PY=$(_dc_python)
FL=$top_srcdir/tests/fault/faultlib.py
gen() { "$PY" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }

# count ERE: lines of the daemon's log matching ERE.
count() { grep -Ec -- "$1" "$DLOG"; }

# newcount DIR: files in DIR/new.
newcount() { find "$1/new" -maxdepth 1 -type f 2>/dev/null | wc -l; }

# status: the daemon's --status answer.
status() { "$MAILFETCHD" -c "$CONF" --status 2>&1; }

# server NAME MODE: a scripted IMAP server for account NAME, its commands
# in $T/NAME/server.log, its messages in $T/NAME/manifest; sets PORT_NAME.
# It outlives the test's waits (--linger) so that a fetch now finds it.
server()
{
	local name=$1 mode=$2 pid

	mkdir -p "$T/$name"
	"$PY" "$top_srcdir/tests/fault/imap_server.py" "$mode" \
	    --log "$T/$name/server.log" --manifest "$T/$name/manifest" \
	    --linger 120 >"$T/$name/port" 2>>"$T/$name/server.err" &
	pid=$!
	tap_cleanup_add "kill $pid 2>/dev/null; wait $pid 2>/dev/null"
	daemon_wait_file "$T/$name/port" '^[0-9]+$' 5 ||
	    tap_bail "imap_server.py $mode did not start"
	printf -v "PORT_$name" '%s' "$(cat "$T/$name/port")"
	: >>"$T/$name/server.log"
}

# logins NAME: the logins the scripted server of NAME has seen.
logins() { grep -Ec '^[0-9]+ [^ ]+ (LOGIN|AUTHENTICATE) ' "$T/$1/server.log"; }

# scripted NAME PORT LINE...: a plain-text account on a scripted server.
scripted()
{
	local name=$1 port=$2 line

	shift 2
	printf 'account "%s" {\n  protocol = imap\n' "$name"
	printf '  host = "127.0.0.1"\n  port = %s\n  tls = none\n' "$port"
	printf '  user = "fault@example.net"\n'
	printf '  password_file = "%s"\n' "$T/$name/pass"
	printf '  maildir = "%s"\n  timeout = 5s\n' "$T/$name/Maildir"
	printf '  poll_interval = 10s\n  poll_interval_override = yes\n'
	for line in "$@"; do
		printf '  %s\n' "$line"
	done
	printf '}\n'
}

dovecot_add_user noidle pw-noidle-7c2e
mfd_account noidle pw-noidle-7c2e
out=$(dovecot_imap_cmd noidle pw-noidle-7c2e CAPABILITY 2>&1)
tap_like "$out" '^\* CAPABILITY IMAP4rev1 ' \
    "Dovecot answers CAPABILITY after login" "$out"
tap_unlike "$out" '[ =]IDLE( |$)' \
    "with imap_capability set so, Dovecot does not offer IDLE" "$out"
gen plain "$T/n1.eml" "noidle-1"
gen plain "$T/n2.eml" "noidle-2"
dovecot_add_message noidle INBOX "$T/n1.eml"

server tm toomany
server ti toomany
server un unavailable
for n in tm ti un; do
	mfd_account "$n" scripted-pw
done

CONF=$T/daemon.conf
{
	printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state"
	printf 'control_socket = "%s"\n' "$T/control"
	printf 'account "noidle" {\n  protocol = imap\n  host = "localhost"\n'
	printf '  port = %s\n  tls = implicit\n  ca_file = "%s"\n' \
	    "$DC_IMAPS_PORT" "$DC_CA"
	printf '  user = "noidle"\n  password_file = "%s"\n' "$T/noidle/pass"
	printf '  maildir = "%s"\n  timeout = 20s\n' "$T/noidle/Maildir"
	printf '  poll_interval = 10s\n  poll_interval_override = yes\n'
	printf '  folder "INBOX" { idle = yes }\n}\n'
	scripted tm "$PORT_tm" 'folder "INBOX" { }'
	scripted ti "$PORT_ti" 'folder "INBOX" { idle = yes }'
	scripted un "$PORT_un" 'folder "INBOX" { }'
} >"$CONF" || tap_bail "cannot write $CONF"

daemon_start "$CONF"
t0=$(_dc_now_ms)

# --- 1. A server without IDLE: the folder is polled. ---
daemon_wait_log 'account=noidle folder=INBOX: the server does not offer IDLE; polling this folder instead' 20
ok $? "noidle: the daemon says the server does not offer IDLE and polls INBOX" \
    "$(grep 'account=noidle' "$DLOG" | tail -10)"

# --- 2. [ALERT] Too many simultaneous connections on a poll's login. ---
daemon_wait_log 'account=tm: account tm: the server reports too many simultaneous connections; using at most 1 from now on \(until reload\)' 15
ok $? "tm: the refusal lowers the account's connection cap to 1" \
    "$(grep 'account=tm' "$DLOG" | tail -10)"
line=$(grep 'account=tm: account tm: the server reports too many' "$DLOG")
tap_like "$line" 'from now on \(until reload\); backing off, next try in 5m$' \
    "tm: the same line says it backs off for 5 minutes" "$line"
tap_unlike "$line" 'authentication failed|check the password' \
    "tm: a busy account is not taken for a wrong password" "$line"

# --- 3. The same refusal on an IDLE login. ---
daemon_wait_log 'account=ti: account ti: the server reports too many simultaneous connections; using at most 1 from now on \(until reload\)' 15
ok $? "ti: the refusal of the IDLE login lowers the account's cap to 1" \
    "$(grep 'account=ti' "$DLOG" | tail -10)"
daemon_wait_log 'account=ti folder=INBOX: IDLE connection ended \([a-z ]+\); reconnecting in ' 5
line=$(grep 'account=ti folder=INBOX: IDLE connection ended' "$DLOG")
tap_like "$line" 'reconnecting in [56]m( [0-9]+s)?$' \
    "ti: the IDLE reconnect waits the busy 5 minutes and a backoff, not an hour" \
    "$line"

# --- 4. [UNAVAILABLE]. ---
daemon_wait_log 'account=un: poll failed \([a-z ]+\); backing off, next try in ' 15
line=$(grep 'account=un: poll failed' "$DLOG")
tap_like "$line" 'next try in 5m$' \
    "un: [UNAVAILABLE] backs off for 5 minutes" "$(grep 'account=un' "$DLOG")"

out=$(status)
tap_like "$out" '^tm: backing off; polling INBOX; connections 0; .*; next poll in [45]m' \
    "--status shows tm backing off" "$out"
tap_like "$out" '^un: backing off; polling INBOX; connections 0; .*; next poll in [45]m' "--status shows un backing off" "$out"
tap_like "$out" '^noidle: [a-z ]+; polling INBOX; connections [01]; ' \
    "--status shows noidle's INBOX as polled" "$out"
tap_like "$out" '^ti: [a-z ]+; reconnecting IDLE later on INBOX; connections 0; ' \
    "--status shows ti's INBOX waiting to reconnect, not connecting" "$out"

# New mail on the server without IDLE: the next poll (10 s) brings it.
dovecot_append noidle INBOX "$T/n2.eml" >/dev/null || tap_bail "APPEND failed"
start=$(_dc_now_ms)
for ((i = 0; i < 250; i++)); do
	[ "$(newcount "$T/noidle/Maildir")" -ge 2 ] && break
	sleep 0.1
done
took=$(($(_dc_now_ms) - start))
mfd_expect "$T/noidle/Maildir" "" "$T/n1.eml" "$T/n2.eml"
tap_diag "noidle: the appended message arrived $took ms after APPEND"
# Two more polls of INBOX after that one: still one fallback line.
n=$(count 'account=noidle folder=INBOX: > [a-z0-9]+ STATUS "INBOX"')
daemon_wait_log 'account=noidle folder=INBOX: > [a-z0-9]+ STATUS "INBOX"' 25 $((n + 1))
ok $? "noidle: INBOX is polled again" "$(grep 'account=noidle' "$DLOG" | tail -10)"
tap_is "$(count 'does not offer IDLE; polling')" 1 \
    "the fallback is logged once, not at every poll"
mfd_expect "$T/noidle/Maildir" "" "$T/n1.eml" "$T/n2.eml"

# By now more than a poll interval (10 s, jitter 1 s) has passed since
# the refusals, or the checks below would prove nothing.
elapsed=$(($(_dc_now_ms) - t0))
[ "$elapsed" -ge 12000 ]
ok $? "the backoffs are watched for $elapsed ms, over a poll interval"
tap_is "$(logins tm)" 1 "tm: no login while backing off" "$(cat "$T/tm/server.log")"
tap_is "$(logins ti)" 1 "ti: no IDLE login while backing off" \
    "$(cat "$T/ti/server.log")"
tap_is "$(logins un)" 1 "un: no login while backing off" "$(cat "$T/un/server.log")"

# --- 5. A fetch now while the server asked to wait: refused (exit 10),
# naming the server's reason and the next attempt; no login, IDLE or
# poll. ---
# refused NAME REASON-ERE: a fetch now of NAME is refused so.
refused()
{
	timeout 30 "$MAILFETCHD" -c "$CONF" --once --account "$1" \
	    >"$T/$1/once.out" 2>&1
	tap_is "$?" 10 "$1: a fetch now after the busy refusal is refused" \
	    "$(cat "$T/$1/once.out")"
	tap_like "$(cat "$T/$1/once.out")" "account=$1: not fetched: the server $2 [0-9hms ]+ ago; next attempt allowed in [0-9hms ]+ \(at " \
	    "$1: the answer names the server's reason and the next attempt" \
	    "$(cat "$T/$1/once.out")"
}
refused tm 'refused the login: too many simultaneous connections \(\[ALERT\]\)'
refused un 'refused the login as busy \(\[UNAVAILABLE\]\)'
refused ti 'refused the login: too many simultaneous connections \(\[ALERT\]\)'
tap_is "$(count 'account=ti folder=INBOX: reconnecting IDLE now')" 0 \
    "ti: the IDLE folder is not reconnected" "$(grep 'account=ti' "$DLOG" | tail -8)"
tap_is "$(count 'account=ti: fetch now asked on the control socket: not fetched: the server refused the login: too many simultaneous connections')" 1 \
    "ti: the daemon logs why, once" "$(grep 'account=ti' "$DLOG" | tail -8)"
sleep 1
for n in tm ti un; do
	tap_is "$(logins "$n")" 1 "$n: still no login after the fetch now" \
	    "$(cat "$T/$n/server.log")"
done

kill -TERM "$DPID"
daemon_wait_exit 15
tap_is "$drc" 0 "SIGTERM stops the daemon"

# The servers take logins again (only their first connection refuses):
# without the daemon, --once gets every message.
for n in tm ti un; do
	timeout 30 "$MAILFETCHD" -c "$CONF" --once --account "$n" \
	    >"$T/$n/once.out" 2>&1
	tap_is "$?" 0 "$n: --once without the daemon fetches" \
	    "$(cat "$T/$n/once.out")"
	cat "$T/$n/once.out" >>"$T/all-output"
	sum=$("$PY" "$FL" compare "$T/$n/manifest" "$T/$n/Maildir" 2>&1)
	tap_like "$sum" "missing=0 duplicate=0 partial=0 tmp=0" \
	    "$n: every message of the server exactly once ($sum)"
	tap_is "$(logins "$n")" 2 "$n: with one more login"
done
cat "$DLOG" >>"$T/all-output"
tap_diag "the whole test took $(($(_dc_now_ms) - t0)) ms after the daemon started"
mfd_no_sanitizer
tap_done
