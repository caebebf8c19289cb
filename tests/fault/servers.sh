#!/bin/bash
# servers.sh: mailfetchd --once against scripted servers that do what
# Dovecot will not: BYE in the middle of a FETCH, an untagged EXPUNGE
# during FETCH, duplicate UIDs, BODY[] NIL, literal sizes that lie, a
# UIDVALIDITY change between runs, a 10 MB line without CRLF
# (tests/fault/imap_server.py); a POP3 RETR cut before its final "." and
# duplicate UIDLs (tests/integration/pop3_server.py). Each fault: the exit
# status is a documented one (no crash), no sanitizer report, a log line
# naming the problem, nothing corrupt or partial in the Maildir, memory
# bounded; then the server behaves and the next runs deliver every
# message exactly once. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/tap.sh"

command -v python3 >/dev/null || tap_bail "python3 not found"
[ -x "$MAILFETCHD" ] || tap_bail "no mailfetchd at $MAILFETCHD (set MAILFETCHD)"
FL="$top_srcdir/tests/fault/faultlib.py"
T=$(mktemp -d /tmp/mfd-fsrv.XXXXXX)
chmod 700 "$T"
tap_cleanup_add 'rm -rf "$T"'
printf 'scripted-pw\n' >"$T/pass"
chmod 600 "$T/pass"
: >"$T/all-output"
. "$top_srcdir/tests/lib/scripted.sh"
# A sanitizer build needs room for its shadow memory: judge the growth
# over a clean run, and the absolute figure only in a plain build.
ASAN=0
ldd "$MAILFETCHD" 2>/dev/null | grep -q libasan && ASAN=1

server() { scripted_server "$@"; }
imap_server() { server "$top_srcdir/tests/fault/imap_server.py" "$@"; }
pop3_server() { server "$top_srcdir/tests/integration/pop3_server.py" "$@"; }

# conf NAME PROTO: one account on the scripted server, plain TCP to
# loopback, a short timeout.
conf() { scripted_conf "$1" "$2" 3s; }

# run NAME: mailfetchd --once -v; sets rc, peak (KB), err.
run() {
	local res

	res=$(python3 "$FL" peakrun "$T/err" -- "$MAILFETCHD" -c "$T/$1.conf" \
	    --once)
	rc=${res% *}
	peak=${res#* }
	err=$(cat "$T/err")
	cat "$T/err" >>"$T/all-output"
}

# documented WHAT: the exit status is one of mailfetchd(8)'s (0-9), and
# no sanitizer spoke.
documented() {
	if [ "$rc" -ge 0 ] && [ "$rc" -le 9 ]; then
		tap_ok "$1: exit status $rc is a documented one"
	else
		tap_fail "$1: exit status $rc is a documented one" "$err"
	fi
	tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
	    "$1: no sanitizer report"
}

# clean NAME WHAT: nothing corrupt, partial or doubled in the Maildir
# (missing messages allowed: the fault may have stopped the fetch).
clean() {
	local sum

	sum=$(python3 "$FL" compare "$T/manifest" "$T/Maildir-$1" 2>&1)
	tap_like "$sum" "duplicate=0 partial=0 tmp=0" \
	    "$2: nothing partial, corrupt or doubled ($sum)"
}

# exact NAME WHAT: every message of the manifest exactly once.
exact() { scripted_exact "$@"; }

# imap_case MODE FIRST-RC-ERE LOG-ERE WHAT: a fault on the first
# connection; the next run recovers.
imap_case() {
	local mode=$1 want=$2 logre=$3 what=$4

	imap_server "$mode" --manifest "$T/manifest"
	conf "$mode" imap
	run "$mode"
	documented "IMAP $what"
	tap_like "$rc" "^($want)\$" "IMAP $what: exit status $want"
	tap_like "$err" "$logre" "IMAP $what: the log names the problem"
	clean "$mode" "IMAP $what"
	FIRST_PEAK=$peak
	run "$mode"
	tap_like "$rc" '^(0|1)$' "IMAP $what: the next run succeeds"
	exact "$mode" "IMAP $what: after the next run"
	run "$mode"
	tap_is "$rc" 1 "IMAP $what: then nothing new"
	exact "$mode" "IMAP $what: after a third run"
}

# The reference: a server without faults.
imap_server good --manifest "$T/manifest"
conf good imap
run good
tap_is "$rc" 0 "IMAP good server: exit status 0"
exact good "IMAP good server"
BASE_PEAK=$peak
tap_diag "peak RSS of a clean run: $BASE_PEAK KB"

imap_case bye '4|5' 'BYE|going down' "BYE in the middle of FETCH"
imap_case expunge '0' '.' "EXPUNGE during FETCH"
imap_case dupuid '0|5' '.' "duplicate UIDs in FETCH"
imap_case nil '5|7' 'NIL|no body|UID 3' "BODY[] NIL"
imap_case litmore '4' 'closed|EOF|connection' "literal longer than sent"
imap_case litless '5' 'parse|protocol|syntax|unexpected' \
    "literal shorter than sent"
imap_case longline '4|5' 'long|line|too' "10 MB line without CRLF"
grow=$((FIRST_PEAK - BASE_PEAK))
tap_diag "10 MB line: peak RSS $FIRST_PEAK KB (clean run $BASE_PEAK KB)"
if [ "$grow" -lt 8192 ]; then
	tap_ok "10 MB line: memory grows by less than 8 MB ($grow KB)"
else
	tap_fail "10 MB line: memory grows by less than 8 MB" "grew $grow KB"
fi
if [ "$ASAN" = 0 ]; then
	if [ "$FIRST_PEAK" -lt 51200 ]; then
		tap_ok "10 MB line: peak RSS under 50 MB ($FIRST_PEAK KB)"
	else
		tap_fail "10 MB line: peak RSS under 50 MB" "$FIRST_PEAK KB"
	fi
fi

# UIDVALIDITY changes between runs: matched by Message-ID, nothing twice.
imap_server uidvalidity --bad 0 --manifest "$T/manifest"
conf uidv imap
run uidv
tap_is "$rc" 0 "IMAP UIDVALIDITY: first run delivers"
exact uidv "IMAP UIDVALIDITY: first run"
run uidv
documented "IMAP UIDVALIDITY changed"
tap_is "$rc" 1 "IMAP UIDVALIDITY changed: nothing new"
tap_like "$err" 'UIDVALIDITY' "IMAP UIDVALIDITY changed: logged"
exact uidv "IMAP UIDVALIDITY changed: still every message exactly once"

# ---- POP3 ---------------------------------------------------------------
scripted_pop3_manifest

pop3_server nodot
conf nodot pop3
run nodot
documented "POP3 RETR without the final dot"
tap_is "$rc" 4 "POP3 RETR without the final dot: exit status 4"
tap_like "$err" 'middle of a message|closed|before the end' \
    "POP3 RETR without the final dot: the log names the problem"
clean nodot "POP3 RETR without the final dot"
run nodot
tap_like "$rc" '^(0|1)$' "POP3 RETR without the final dot: the next run succeeds"
exact nodot "POP3 RETR without the final dot: after the next run"

pop3_server uidldup
conf uidldup pop3
run uidldup
documented "POP3 duplicate UIDLs"
tap_like "$err" "UIDL.*(twice|duplicate|same)|(twice|duplicate|same).*UIDL" "POP3 duplicate UIDLs: the log names the problem"
clean uidldup "POP3 duplicate UIDLs"
run uidldup
documented "POP3 duplicate UIDLs, second run"
clean uidldup "POP3 duplicate UIDLs: nothing doubled by the second run"

tap_done
