#!/bin/bash
# budget_bounds.sh: the daily budget is not passed by mailfetchd's own
# choice of what to download (review r14). POP3: a "suspect" (a message
# the server once sent far larger than LIST said) is asked for again only
# when the budget left covers the most its RETR may download (r14 12).
# An account named twice by --once --account is fetched once, in its
# budget (r14 01). An IDLE session's round that a reload aborts counts
# what it downloaded, as an aborted poll does (r14 07). A --once stopped
# by SIGINT or SIGTERM (r14 02), or by SIGHUP as a closing terminal sends
# (r19 09), saves what it downloaded in the budget.
# A POP3 batch counts each message as the most its RETR may take as sent
# (dot-stuffing, the final "."), not its LIST size (r14 03).
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"

scripted_init budget_bounds
dpid=""
tap_cleanup_add '[ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null'
POP3_SERVER=$top_srcdir/tests/integration/pop3_server.py

# budget NAME: the bytes in the account's saved budget (every slot).
budget() {
	grep '^budget ' "$T/state-$1/$1.state" 2>/dev/null |
	    tr ' ' '\n' | awk -F: 'NF == 2 { s += $2 } END { print s + 0 }'
}

# at_least A B TEXT: A >= B, A a number.
at_least() {
	[[ $1 =~ ^[0-9]+$ ]] && (($1 >= $2))
	ok $? "$3 ($1 >= $2)"
}

# at_most A B TEXT: A <= B, A a number.
at_most() {
	[[ $1 =~ ^[0-9]+$ ]] && (($1 <= $2))
	ok $? "$3 ($1 <= $2)"
}

# check_suspect NAME: POP3 message 2 is listed as 10 octets and sent as
# 1.3 MB: the first run reads about 1 MiB of it and makes it a suspect;
# with 1.5 MB a day the second run has less left than asking for it
# again may cost: it fetches message 3, leaves the suspect on the server
# and says so, within the budget.
check_suspect() {
	local name=$1

	scripted_start "$T/server.log" "$POP3_SERVER" sizelie
	scripted_conf "$name" pop3 30 'keep = yes' 'daily_limit = 1500000' \
	    'max_message_size = 0'
	scripted_once "$name"
	tap_is "$rc" 5 "$name: the first run ends at the lie (status 5)"
	at_most "$(budget "$name")" 1500000 "$name: within the budget so far"
	scripted_once "$name"
	tap_like "$err" 'message 2, which the server once sent far larger than LIST said, waits on the server' \
	    "$name: the second run leaves the suspect, says why"
	tap_unlike "$(grep '^2 RETR' "$T/server.log")" 'RETR 2' \
	    "$name: the second run does not ask for it"
	tap_is "$(scripted_count "$name" | tr -d ' ')" 2 \
	    "$name: messages 1 and 3 are delivered"
	at_most "$(budget "$name")" 1500000 \
	    "$name: the budget is not exceeded"
}

# check_twice NAME [CONF-LINE]: --once --account NAME --account NAME
# fetches the account once, within its budget (140 bytes: 2 of the 3
# messages of 61 bytes as sent), and records what it downloaded; with
# max_connections = 1 (CONF-LINE) as without a cap (r14 01).
check_twice() {
	local name=$1 out

	scripted_start "$T/server.log" "$POP3_SERVER" plain
	scripted_conf "$name" pop3 10 'daily_limit = 140' 'keep = yes'
	[ $# -gt 1 ] && sed -i "1i $2" "$T/$name.conf"
	out=$(timeout 30 "$MAILFETCHD" -c "$T/$name.conf" --once \
	    --account "$name" --account "$name" 2>&1)
	tap_is "$?" 0 "$name: --once with the account named twice delivers"
	tap_unlike "$out" 'already being fetched' \
	    "$name: no lock conflict with itself"
	tap_is "$(grep -c ' RETR ' "$T/server.log")" 2 \
	    "$name: 2 messages asked for, within the budget"
	tap_is "$(scripted_count "$name" | tr -d ' ')" 2 \
	    "$name: 2 messages delivered"
	at_most "$(budget "$name")" 140 "$name: the budget is not exceeded"
	tap_is "$(budget "$name")" 122 "$name: and it is recorded"
}

# wait_for FILE ERE: until FILE has a line matching ERE (30 s at most).
wait_for() {
	timeout 30 bash -c 'until grep -Eq -- "$2" "$1"; do sleep 0.1; done' \
	    wait_for "$1" "$2" 2>/dev/null
}

# wire_one: message 1 of imap_server.py as sent (CRLF).
wire_one() {
	python3 -c 'import sys; sys.path.insert(0, sys.argv[1])
import imap_server; print(len(imap_server.message(1)))' \
	    "$top_srcdir/tests/fault"
}

# check_idle_reload NAME: a reload changing the account aborts its IDLE
# session's first fetch once two bodies came (imap_server.py idlegap: 1.8
# s apart); the new session fetches the three again: the budget holds
# the five downloads (r14 07).
check_idle_reload() {
	local name=$1 log=$T/$1.log

	scripted_start "$T/server.log" "$top_srcdir/tests/fault/imap_server.py" \
	    idlegap --msgs 3 --manifest "$T/manifest" --linger 60
	scripted_conf "$name" imap 20 'idle = yes' 'daily_limit = 100M' \
	    'poll_interval = 1h'
	"$MAILFETCHD" -c "$T/$name.conf" -v >"$log" 2>&1 &
	dpid=$!
	wait_for "$log" "account=$name folder=INBOX uid=2: staged" ||
	    tap_bail "$name: no second message staged"
	scripted_conf "$name" imap 21 'idle = yes' 'daily_limit = 100M' \
	    'poll_interval = 1h'
	kill -HUP "$dpid"
	wait_for "$log" "account=$name folder=INBOX: fetched 3 message" ||
	    tap_bail "$name: no fetch after the reload"
	kill -TERM "$dpid"
	wait "$dpid"
	dpid=""
	tap_is "$(scripted_count "$name" | tr -d ' ')" 3 \
	    "$name: the new session delivered the three messages"
	at_least "$(budget "$name")" "$((5 * $(wire_one)))" \
	    "$name: the budget holds the aborted round's two bodies too"
	tap_unlike "$(cat "$log")" 'runtime error:|AddressSanitizer|LeakSanitizer' \
	    "$name: no sanitizer report"
}

# once_bg NAME: mailfetchd --once -v on NAME in the background (its log
# $T/NAME.log), SIGINT at its default (a script's background job ignores
# it; mailfetchd leaves an ignored signal ignored); sets dpid.
once_bg() {
	# A background job ignores SIGINT, and a test run under nohup
	# SIGHUP: mailfetchd keeps what it inherits ignored (as nohup
	# wants), so both are reset for it here.
	python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
signal.signal(signal.SIGHUP, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$MAILFETCHD" -c "$T/$1.conf" --once \
	    -v >"$T/$1.log" 2>&1 &
	dpid=$!
}

# check_signal NAME SIG TIMES: a --once without a daemon (pop3_server.py
# retrslow: each RETR 1.5 s late; daily_limit 140, 2 messages of 61
# bytes as sent) gets SIG once message 1 came; TIMES 1: the fetch in
# progress finishes within the grace, 2: a second SIG aborts it at once.
# Either way it dies of SIG with what it downloaded in the budget, and
# the next run stays within the budget (r14 02).
check_signal() {
	local name=$1 sig=$2 rc

	scripted_start "$T/server.log" "$POP3_SERVER" retrslow
	scripted_conf "$name" pop3 10 'daily_limit = 140' 'keep = yes'
	once_bg "$name"
	wait_for "$T/server.log" 'RETR 2' || tap_bail "$name: no RETR 2"
	kill "-$sig" "$dpid"
	if [ "$3" = 2 ]; then
		wait_for "$T/$name.log" "SIG$sig: stopping" ||
		    tap_bail "$name: the first signal not seen"
		kill "-$sig" "$dpid"
	fi
	wait "$dpid"
	rc=$?
	dpid=""
	tap_is "$rc" "$((128 + $(kill -l "$sig")))" "$name: died of SIG$sig"
	at_least "$(budget "$name")" "$((61 * (3 - $3)))" \
	    "$name: what it downloaded is in the budget"
	timeout 30 "$MAILFETCHD" -c "$T/$name.conf" --once >>"$T/$name.log" 2>&1
	# (Aborted, message 1 was not synced: fetched and counted again.)
	[ "$3" = 1 ] && at_most "$(grep -c ' RETR ' "$T/server.log")" 2 \
	    "$name: the next run asks for no message past the budget"
	at_most "$(budget "$name")" 140 "$name: the budget is not exceeded"
	tap_unlike "$(cat "$T/$name.log")" 'runtime error:|AddressSanitizer|LeakSanitizer' \
	    "$name: no sanitizer report"
}

# check_edge NAME LIMIT N: POP3 (pop3_server.py plain: LIST 57, 61 bytes
# as sent: a dot-stuffed line and the final ".") with daily_limit LIMIT
# delivers N messages and stops within the budget, though LIMIT is a
# multiple of the LIST sizes (r14 03).
check_edge() {
	local name=$1

	scripted_start "$T/server.log" "$POP3_SERVER" plain
	scripted_conf "$name" pop3 10 "daily_limit = $2" 'keep = yes'
	scripted_once "$name"
	tap_like "$err" 'daily budget reached' "$name: stopped at the budget"
	tap_is "$(scripted_count "$name" | tr -d ' ')" "$3" \
	    "$name: $3 message(s) delivered"
	at_most "$(budget "$name")" "$2" "$name: the budget is not exceeded"
}

check_suspect suspect
check_edge edge114 114 1
check_edge edge171 171 2
check_twice twicecap 'max_connections = 1'
check_twice twice
check_idle_reload idlereload
check_signal sigint INT 1
check_signal sigterm TERM 1
check_signal sigint2 INT 2
check_signal sighup HUP 1

tap_done
