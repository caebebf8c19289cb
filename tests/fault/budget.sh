#!/bin/bash
# budget.sh: bytes downloaded once count once in the daily budget. A
# daemon poll stages and journals a batch, then its Maildir sync fails
# (new/ is removed and made again while the batch is under way, so the
# rename into the open directory fails with ENOENT; a full disk or EIO at
# fsync does the same); the session lives on and counts the downloaded
# bytes. The next poll's journal recovery moves the files into place and
# reports them (the log line, --status), but downloads nothing: the budget
# in the state holds the bytes once, not twice. The budget counts the bytes
# as the server sent them (CRLF line ends, r9 17), not as delivered (LF).
# IMAP (imap_server.py
# gapfetch, its body FETCH answers 1.8 s apart) and POP3 (pop3_server.py
# retrslow, each RETR 1.5 s late), and IMAP IDLE (idlegap: the failed
# round's downloads count, the recovery's not). POP3 keep = no, a run
# killed with DELEs owed: the next poll reads the messages again to check
# them (RETR) before the DELEs, and those downloads count too (r9 14).
# A poll stops fetching once the next message would pass the budget (r9
# 16): what it delivered is kept (and deleted with keep = no), the rest
# waits on the server, and a later run fetches it, nothing lost or twice.
# A reload that changes the account aborts its poll in progress: what that
# poll downloaded counts in the budget too (r9 07). A --once without a
# daemon keeps the same budget in the state: it fetches within what is
# left, records what it downloaded, and refuses (status 10) once the
# budget is used up; the daemon started next finds it used up (r9 15).
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"

scripted_init budget
dpid=""
tap_cleanup_add '[ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null'

# The log line of a failed sync (IMAP, POP3): the journal is kept.
SYNC_FAILED='No such file or directory; the batch is finished '
SYNC_FAILED+='(when the folder is next fetched|by the next session)'

# wait_for FILE ERE: until FILE has a line matching ERE (30 s at most).
wait_for() {
	local i

	for ((i = 0; i < 300; i++)); do
		grep -Eq -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# budget NAME: the bytes in the account's saved budget (every slot).
budget() {
	grep '^budget ' "$T/state-$1/$1.state" 2>/dev/null |
	    tr ' ' '\n' | awk -F: 'NF == 2 { s += $2 } END { print s + 0 }'
}

# delivered NAME: the bytes of the messages in new/ and cur/.
delivered() {
	find "$T/Maildir-$1/new" "$T/Maildir-$1/cur" -type f -printf '%s\n' |
	    awk '{ s += $1 } END { print s + 0 }'
}

# wire NAME: the bytes of the messages staged in tmp/ as the server sent
# them: each LF was a CRLF.
wire() {
	find "$T/Maildir-$1/tmp" -type f -exec cat {} + |
	    awk '{ s += length($0) + 2 } END { print s + 0 }'
}

# at_least A B TEXT: A >= B, A a number.
at_least() {
	[[ $1 =~ ^[0-9]+$ ]] && (($1 >= $2))
	ok $? "$3 ($1 >= $2)"
}

# check NAME PROTO FETCHED-ERE: one poll whose sync fails once the server
# has the batch's first fetch command (FETCHED-ERE in its log), then one
# that recovers the batch.
check() {
	local name=$1 proto=$2 log total sent counted

	log=$T/$name.log
	scripted_conf "$name" "$proto" 20 'poll_interval = 1h' \
	    'daily_limit = 100M'
	"$MAILFETCHD" -c "$T/$name.conf" -v >"$log" 2>&1 &
	dpid=$!
	wait_for "$T/server.log" "$3" || tap_bail "$name: no fetch seen"
	rmdir "$T/Maildir-$name/new" && mkdir "$T/Maildir-$name/new" ||
	    tap_bail "$name: cannot replace new/"
	wait_for "$log" 'poll failed' || tap_bail "$name: the poll went on"
	tap_is "$(grep -Ec "$SYNC_FAILED" "$log")" 1 \
	    "$name: the Maildir sync failed, the batch journaled"
	total=$(find "$T/Maildir-$name/tmp" -type f -printf '%s\n' |
	    awk '{ s += $1 } END { print s + 0 }')
	tap_like "$total" '^[1-9][0-9]*$' "$name: the staged files wait in tmp/"
	sent=$(wire "$name")
	counted=$(budget "$name")
	at_least "$counted" "$sent" \
	    "$name: the failed poll's downloads are in the budget, as sent"
	"$MAILFETCHD" -c "$T/$name.conf" --once >/dev/null 2>&1
	wait_for "$log" "account=$name: fetched 3 messages" ||
	    tap_bail "$name: no recovery poll"
	tap_like "$(grep 'recovered an interrupted run' "$log")" \
	    '3 message\(s\) delivered' "$name: the next poll recovered the batch"
	tap_is "$(delivered "$name")" "$total" \
	    "$name: the three messages are delivered, as staged"
	tap_like "$(grep "account=$name: fetched 3 messages" "$log")" \
	    "\($total bytes\)" "$name: the recovery poll reports their bytes"
	tap_is "$(budget "$name")" "$counted" \
	    "$name: the budget holds them once, not again for the recovery"
	kill -TERM "$dpid"
	wait "$dpid"
	dpid=""
}

# check_idle NAME: the same with IDLE: the failed round's downloads go
# into the budget; a restart's IDLE session recovers the batch and does
# not count it again.
check_idle() {
	local name=$1 log=$T/$1.log total sent counted

	scripted_conf "$name" imap 20 'idle = yes' 'daily_limit = 100M'
	"$MAILFETCHD" -c "$T/$name.conf" -v >"$log" 2>&1 &
	dpid=$!
	wait_for "$T/server.log" 'BODY\.PEEK\[\]' ||
	    tap_bail "$name: no fetch seen"
	rmdir "$T/Maildir-$name/new" && mkdir "$T/Maildir-$name/new" ||
	    tap_bail "$name: cannot replace new/"
	wait_for "$log" "$SYNC_FAILED" || tap_bail "$name: no sync failure"
	kill -TERM "$dpid"
	wait "$dpid"
	total=$(find "$T/Maildir-$name/tmp" -type f -printf '%s\n' |
	    awk '{ s += $1 } END { print s + 0 }')
	tap_like "$total" '^[1-9][0-9]*$' "$name: the staged files wait in tmp/"
	sent=$(wire "$name")
	counted=$(budget "$name")
	at_least "$counted" "$sent" \
	    "$name: the failed IDLE round's downloads are in the budget, as sent"
	"$MAILFETCHD" -c "$T/$name.conf" -v >>"$log" 2>&1 &
	dpid=$!
	wait_for "$log" 'recovered an interrupted run: 3 message' ||
	    tap_bail "$name: no recovery"
	wait_for "$log" "folder=INBOX: fetched 3 message\(s\), $total bytes"
	ok $? "$name: the recovery round reports their bytes"
	kill -TERM "$dpid"
	wait "$dpid"
	dpid=""
	tap_is "$(delivered "$name")" "$total" \
	    "$name: the three messages are delivered, as staged"
	tap_is "$(budget "$name")" "$counted" \
	    "$name: the budget holds them once, not again for the recovery"
}

# check_owed NAME: POP3 keep = no, a run killed at pop3-saved (DELEs
# owed); the daemon's poll reads each message again (RETR) to check it
# before its DELE: the budget counts those downloads.
check_owed() {
	local name=$1 log=$T/$1.log sent

	scripted_conf "$name" pop3 20 'poll_interval = 1h' \
	    'daily_limit = 100M' 'keep = no'
	MAILFETCHD_FAULT=pop3-saved "$MAILFETCHD" -c "$T/$name.conf" --once \
	    >"$log" 2>&1
	tap_like "$(find "$T/Maildir-$name/new" -type f | wc -l)" '^ *3$' \
	    "$name: the killed run delivered the three messages"
	sent=$(find "$T/Maildir-$name/new" -type f -exec cat {} + |
	    awk '{ s += length($0) + 2 } END { print s + 0 }')
	: >"$T/server.log"
	"$MAILFETCHD" -c "$T/$name.conf" -v >>"$log" 2>&1 &
	dpid=$!
	wait_for "$log" 'next poll in' || tap_bail "$name: no poll"
	kill -TERM "$dpid"
	wait "$dpid"
	dpid=""
	tap_is "$(grep -Ec '^[0-9]+ (RETR|DELE) ' "$T/server.log" |
	    tr -d ' ')" 6 "$name: the poll read the three again, then DELE"
	at_least "$(budget "$name")" "$sent" \
	    "$name: the check RETRs' downloads are in the budget"
}

# one_poll NAME: the daemon, until its first poll of NAME has ended (its
# next poll, its backoff, or the pause of a budget used up); the log is
# appended to.
one_poll() {
	"$MAILFETCHD" -c "$T/$1.conf" -v >>"$T/$1.log" 2>&1 &
	dpid=$!
	wait_for "$T/$1.log" \
	    "account=$1: .*(next (poll|try) in|paused, resuming)" ||
	    tap_bail "$1: no poll"
	kill -TERM "$dpid"
	wait "$dpid"
	dpid=""
}

# check_poll NAME PROTO LIMIT N TOTAL ACTION-ERE ACTIONS: a daemon poll
# with daily_limit LIMIT delivers N of the TOTAL messages and stops,
# within the budget, its server actions (ACTION-ERE in the server's log)
# ACTIONS, for the delivered only; then, the budget raised, a --once
# fetches the rest.
check_poll() {
	local name=$1 log=$T/$1.log

	scripted_conf "$name" "$2" 20 'poll_interval = 1h' \
	    "daily_limit = $3" 'keep = no'
	: >"$log"
	one_poll "$name"
	tap_is "$(find "$T/Maildir-$name/new" -type f | wc -l | tr -d ' ')" \
	    "$4" "$name: the poll delivered $4 message(s) within the budget"
	tap_like "$(grep 'daily budget reached' "$log")" \
	    "$(($5 - $4)) message\(s\) of [0-9]+ bytes wait on the server" \
	    "$name: the poll stopped at the budget, said so"
	at_least "$3" "$(budget "$name")" "$name: the budget was not exceeded"
	tap_is "$(grep -Eo "$6" "$T/server.log" | tr '\n' ' ')" "$7" \
	    "$name: only what was delivered is deleted"
	scripted_conf "$name" "$2" 20 'daily_limit = 100M' 'keep = no'
	"$MAILFETCHD" -c "$T/$name.conf" --once >>"$log" 2>&1
	tap_is "$(find "$T/Maildir-$name/new" -type f | wc -l | tr -d ' ')" \
	    "$5" "$name: the next run fetches the rest, each once"
}

# check_reload NAME: a reload changing the account aborts its poll after
# the first message came: the new account's poll fetches all three again,
# and the budget holds both polls' downloads.
check_reload() {
	local name=$1 log=$T/$1.log down

	scripted_conf "$name" imap 20 'poll_interval = 1h' \
	    'daily_limit = 100M'
	"$MAILFETCHD" -c "$T/$name.conf" -v >"$log" 2>&1 &
	dpid=$!
	wait_for "$log" "account=$name folder=INBOX uid=1: staged" ||
	    tap_bail "$name: no message staged"
	scripted_conf "$name" imap 21 'poll_interval = 1h' \
	    'daily_limit = 100M'
	kill -HUP "$dpid"
	wait_for "$log" "account=$name: aborting the poll in progress" ||
	    tap_bail "$name: the reload did not abort the poll"
	wait_for "$log" "account=$name: .*next poll in" ||
	    tap_bail "$name: no poll after the reload"
	kill -TERM "$dpid"
	wait "$dpid"
	dpid=""
	down=$(grep -oE "account=$name folder=INBOX: fetched 3 message\(s\), \
[0-9]+ bytes written \([0-9]+ bytes downloaded" "$log" |
	    sed -E 's/.*\(([0-9]+) bytes downloaded/\1/')
	tap_like "$down" '^[1-9][0-9]*$' \
	    "$name: the poll after the reload fetched the three messages"
	at_least "$(budget "$name")" "$((down + $(wire_one)))" \
	    "$name: the budget holds the aborted poll's first message too"
}

# check_once NAME: --once with daily_limit 1088 (five 544-byte messages)
# delivers two, which use the budget up, and records them; the next
# --once is refused; a daemon started then fetches nothing.
check_once() {
	local name=$1 log=$T/$1.log rc

	scripted_conf "$name" imap 20 'daily_limit = 1088' 'keep = no' \
	    'poll_interval = 1h'
	"$MAILFETCHD" -c "$T/$name.conf" --once >"$log" 2>&1
	tap_is "$(find "$T/Maildir-$name/new" -type f | wc -l | tr -d ' ')" \
	    2 "$name: --once delivered 2 messages within the budget"
	at_least 1088 "$(budget "$name")" \
	    "$name: --once recorded its downloads, within the budget"
	at_least "$(budget "$name")" 1088 \
	    "$name: --once recorded the two messages' bytes"
	"$MAILFETCHD" -c "$T/$name.conf" --once >>"$log" 2>&1
	rc=$?
	tap_is "$rc" 10 "$name: the next --once is refused: budget used up"
	tap_like "$(tail -3 "$log")" 'daily download budget of 1088 bytes is used up' \
	    "$name: and says why"
	one_poll "$name"
	tap_is "$(find "$T/Maildir-$name/new" -type f | wc -l | tr -d ' ')" \
	    2 "$name: the daemon started next fetches nothing more"
}

# check_cut NAME: a poll whose connection the server ends (BYE) after two
# messages of its body FETCH: what it downloaded counts all the same.
check_cut() {
	local name=$1

	scripted_conf "$name" imap 20 'poll_interval = 1h' \
	    'daily_limit = 100M'
	: >"$T/$name.log"
	one_poll "$name"
	tap_like "$(grep "account=$name: " "$T/$name.log")" 'poll failed' \
	    "$name: the poll failed at the BYE"
	at_least "$(budget "$name")" "$((2 * $(wire_one)))" \
	    "$name: the two messages it received are in the budget"
}

# wire_one: message 1 of imap_server.py as sent (CRLF).
wire_one() {
	python3 -c 'import sys; sys.path.insert(0, sys.argv[1])
import imap_server; print(len(imap_server.message(1)))' \
	    "$top_srcdir/tests/fault"
}

scripted_start "$T/server.log" "$top_srcdir/tests/fault/imap_server.py" \
    gapfetch --msgs 3 --manifest "$T/manifest" --linger 60
check_reload imapreload
scripted_start "$T/server.log" "$top_srcdir/tests/fault/imap_server.py" \
    bye --msgs 5 --manifest "$T/manifest" --linger 60
check_cut imapcut
scripted_start "$T/server.log" "$top_srcdir/tests/fault/imap_server.py" \
    good --msgs 5 --manifest "$T/manifest" --linger 60
check_poll imappoll imap 1200 2 5 'UID STORE [^ ]+' 'UID STORE 1:2 '
scripted_start "$T/server.log" "$top_srcdir/tests/fault/imap_server.py" \
    good --msgs 5 --manifest "$T/manifest" --linger 60
check_once imaponce
scripted_exact imappoll "imappoll: after the budget stop"
scripted_start "$T/server.log" "$top_srcdir/tests/integration/pop3_server.py" \
    plain
check_poll pop3poll pop3 140 2 3 'DELE [0-9]+' 'DELE 1 DELE 2 '
scripted_start "$T/server.log" "$top_srcdir/tests/fault/imap_server.py" \
    idlegap --msgs 3 --manifest "$T/manifest" --linger 60
check_idle idlesync
scripted_start "$T/server.log" "$top_srcdir/tests/fault/imap_server.py" \
    gapfetch --msgs 3 --manifest "$T/manifest" --linger 60
check imapsync imap 'BODY\.PEEK\[\]'
scripted_start "$T/server.log" "$top_srcdir/tests/integration/pop3_server.py" \
    retrslow
check pop3sync pop3 'RETR 1'
scripted_start "$T/server.log" "$top_srcdir/tests/integration/pop3_server.py" \
    plain
check_owed pop3owed
tap_unlike "$(cat "$T"/*.log)" 'runtime error:|AddressSanitizer|LeakSanitizer' \
    "no sanitizer report in the daemons' logs"

tap_done
