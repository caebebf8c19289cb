#!/bin/bash
# search.sh: untagged SEARCH data is taken only in answer to our UID
# SEARCH, and up to a cap. A scripted server (imap_server.py searchflood)
# streams millions of distinct UIDs as unsolicited "* SEARCH" responses
# before its SELECT answer ends and again while the daemon idles, then
# announces a new message: the daemon's peak memory (VmHWM of the daemon
# and its children, read from /proc, against a generous fixed ceiling)
# stays bounded, and the new message is delivered, every message exactly
# once. An answer to UID SEARCH UNSEEN with more UIDs than the cap
# (imap_server.py searchbig) ends the run with exit status 5 and a log
# line that says so, and so does the same answer in one line of 14 MB
# (searchline), which the parser streams. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"

scripted_init search
dpid=""
tap_cleanup_add '[ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null'
# A sanitizer build has shadow memory, and keeps freed memory in its
# quarantine (256 MB by default, which a flood of responses fills): a
# small quarantine and a higher ceiling there.
CEILING=65536
if ldd "$MAILFETCHD" 2>/dev/null | grep -q libasan; then
	CEILING=131072
	export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=8
fi

# server MODE [ARGS]: (re)start the scripted IMAP server; sets $port.
server() {
	scripted_server "$top_srcdir/tests/fault/imap_server.py" "$@" \
	    --manifest "$T/manifest"
}

# count DIR: messages delivered.
count() {
	find "$1/new" "$1/cur" -type f 2>/dev/null | wc -l
}

# peak PID: the largest VmHWM (KB) of PID and its descendants.
peak() {
	local pid=$1 max=0 v kid

	v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null)
	[ -n "$v" ] && max=$v
	for kid in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
		v=$(peak "$kid")
		[ "$v" -gt "$max" ] && max=$v
	done
	echo "$max"
}

# ---- unsolicited SEARCH data, outside IDLE and during IDLE --------------
server searchflood --msgs 6 --bad 0
scripted_conf flood imap 20s 'idle = yes'
"$MAILFETCHD" -c "$T/flood.conf" >"$T/daemon.log" 2>&1 &
dpid=$!
for i in $(seq 900); do
	[ "$(count "$T/Maildir-flood")" -ge 6 ] && break
	kill -0 "$dpid" 2>/dev/null || break
	sleep 0.1
done
tap_is "$(count "$T/Maildir-flood")" 6 \
    "SEARCH flood: the message announced after the flood during IDLE is delivered"
kb=$(peak "$dpid")
tap_diag "SEARCH flood: peak RSS $kb KB (ceiling $CEILING KB)"
if [ "$kb" -gt 0 ] && [ "$kb" -lt "$CEILING" ]; then
	tap_ok "SEARCH flood: peak RSS below $CEILING KB ($kb KB)"
else
	tap_fail "SEARCH flood: peak RSS below $CEILING KB" "$kb KB"
fi
kill -TERM "$dpid" 2>/dev/null
for i in $(seq 300); do
	kill -0 "$dpid" 2>/dev/null || break
	sleep 0.1
done
wait "$dpid" 2>/dev/null
drc=$?
dpid=""
log=$(cat "$T/daemon.log")
tap_is "$drc" 0 "SEARCH flood: the daemon stops cleanly"
tap_unlike "$log" 'error|runtime error:|AddressSanitizer|LeakSanitizer' \
    "SEARCH flood: no error, no sanitizer report"
scripted_exact flood "SEARCH flood"

# ---- an answer to UID SEARCH beyond the cap ------------------------------
# over_cap MODE NAME WHAT: the server (MODE) answers UID SEARCH UNSEEN with
# 1000001 UIDs; the run ends with status 5, the cap's log line, nothing
# fetched.
over_cap() {
	local mode=$1 name=$2 what=$3

	server "$mode" --bad 0
	scripted_conf "$name" imap 20s 'first_fetch = unseen'
	"$MAILFETCHD" -c "$T/$name.conf" --once >/dev/null 2>"$T/err"
	rc=$?
	err=$(cat "$T/err")
	tap_is "$rc" 5 "$what: exit status 5"
	tap_like "$err" 'UID SEARCH holds more than 1000000 UID ranges' \
	    "$what: the log says the cap ends it"
	tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
	    "$what: no sanitizer report"
	tap_is "$(count "$T/Maildir-$name")" 0 "$what: nothing fetched"
}

over_cap searchbig big "UID SEARCH answer of 1000001 UIDs"
# The parser streams a SEARCH line in batches, so the cap, not a line
# length limit, is what ends one line of 14 MB.
over_cap searchline line "one SEARCH line of 1000001 UIDs"

# ---- an honest folder of 1200000 unread messages -------------------------
# Consecutive UIDs make one range: the cap counts ranges (memory), so such
# an answer is taken, and the folder's messages are fetched.
server searchrun --bad 0
scripted_conf run imap 20s 'first_fetch = unseen'
"$MAILFETCHD" -c "$T/run.conf" --once >/dev/null 2>"$T/err"
rc=$?
err=$(cat "$T/err")
tap_is "$rc" 0 "UID SEARCH answer of 1200000 consecutive UIDs: exit status 0"
tap_unlike "$err" 'refusing|runtime error:|AddressSanitizer' \
    "UID SEARCH answer of 1200000 consecutive UIDs: taken"
scripted_exact run "UID SEARCH answer of 1200000 consecutive UIDs"

tap_done
