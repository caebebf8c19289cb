#!/bin/bash
# trickle.sh: a server that drips its answer, one byte (or one line) a
# little faster than the timeout, must not hold a fetch forever: the
# SELECT answer of IMAP trickled byte by byte, a SELECT answered by
# complete "* OK still working" lines and never the tagged OK (and a
# daemon's DONE answered so, leaving IDLE), an IMAP AUTHENTICATE and a
# POP3 AUTH answered by a "+" challenge every second forever, a body
# FETCH answered by "* 5 EXISTS" (or a flags FETCH, or a message already
# sent) every 1.5 s, a BODY[] literal trickled byte by byte, a POP3 RETR body
# trickled line by line: each ends in exit status 4 with a log line that
# says the server was too slow, before a fixed outer bound (60 s; the
# servers trickle for 120 s). A BODY[] announced as 4 GB (or 200 MB,
# within max_message_size) for a message of ~700 bytes and dripped above
# the pacing floor ends in exit 5 (also with its UID after the literal,
# and for the Message-ID header of the matching pass after a UIDVALIDITY
# change), and so does a POP3 RETR (or TOP n 0) that goes on above the
# floor past max_message_size or far past LIST's size. Then the server
# behaves and the next run
# delivers every message exactly once. A slow but honest server
# (literals larger than a pacing window at about 8 KiB/s) is not cut.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/tap.sh"

command -v python3 >/dev/null || tap_bail "python3 not found"
command -v timeout >/dev/null || tap_bail "timeout not found"
[ -x "$MAILFETCHD" ] || tap_bail "no mailfetchd at $MAILFETCHD (set MAILFETCHD)"
T=$(mktemp -d /tmp/mfd-trickle.XXXXXX)
chmod 700 "$T"
tap_cleanup_add 'rm -rf "$T"'
printf 'scripted-pw\n' >"$T/pass"
chmod 600 "$T/pass"
. "$top_srcdir/tests/lib/scripted.sh"

# conf NAME PROTO: one account on the scripted server, a 2 s timeout
# (every trickled byte comes within it).
conf() {
	local name=$1 proto=$2

	shift 2
	scripted_conf "$name" "$proto" 2s "$@"
}

# run NAME: mailfetchd --once under a fixed outer bound; sets rc, err.
run() {
	timeout -s KILL 60 "$MAILFETCHD" -c "$T/$1.conf" --once \
	    >/dev/null 2>"$T/err"
	rc=$?
	err=$(cat "$T/err")
}

# trickled NAME WHAT: the run ended in exit 4, saying why.
trickled() {
	tap_is "$rc" 4 "$2: exit status 4 (137: still running at the bound)"
	tap_like "$err" 'stalled or trickling' "$2: the log says why"
	tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
	    "$2: no sanitizer report"
	run "$1"
	tap_like "$rc" '^(0|1)$' "$2: the next run succeeds"
	scripted_exact "$1" "$2: after the next run"
}

IMAP="$top_srcdir/tests/fault/imap_server.py"
scripted_server "$IMAP" trickle --manifest "$T/manifest"
conf trickle imap
run trickle
trickled trickle "IMAP SELECT answer trickled byte by byte"

# Complete untagged lines, never the tagged OK: the answer to a command is
# paced as a whole, not line by line.
scripted_server "$IMAP" okdrip --manifest "$T/manifest"
conf okdrip imap
run okdrip
trickled okdrip "IMAP SELECT answered by an endless drip of untagged lines"

# Honest but slow servers are not cut: a store that sends each message
# whole 1.8 s after the previous one (less than 1 KiB/s in a window; each
# whole FETCH response shows the server at work), and Dovecot's progress
# notes ("* OK Searched n%") on a 6 s SEARCH, timeout 2 s (a few notes in
# a row pass their windows).
scripted_server "$IMAP" gapfetch --manifest "$T/manifest" --bad 0
conf gapfetch imap
run gapfetch
tap_is "$rc" 0 "IMAP messages sent whole, 1.8 s apart: delivered (exit 0)"
scripted_exact gapfetch "IMAP messages sent whole, 1.8 s apart"
scripted_server "$IMAP" searchprog --manifest "$T/manifest" --bad 0
scripted_conf searchprog imap 2s 'first_fetch = unseen'
run searchprog
tap_is "$rc" 0 "IMAP SEARCH with progress notes for 6 s: delivered (exit 0)"
scripted_exact searchprog "IMAP SEARCH with progress notes for 6 s"

# Inside a body FETCH that never completes, untagged lines that carry no
# new requested data ("* 5 EXISTS", a FETCH of flags alone, a message
# already received) every 1.5 s, timeout 2 s: notes, not data; before,
# each passed a pacing window and the account was held as long as the
# server dripped.
for m in existsdrip:"* 5 EXISTS" flagsdrip:"* 1 FETCH (FLAGS ())" \
    repdrip:"message 1 again"; do
	scripted_server "$IMAP" "${m%%:*}" --manifest "$T/manifest"
	conf "${m%%:*}" imap
	run "${m%%:*}"
	trickled "${m%%:*}" "IMAP body FETCH answered by an endless drip of ${m#*:}"
done

# The sizes pass of a second run ("UID FETCH 6:* (UID RFC822.SIZE)")
# answered by the FETCH line of UID 5, which the client has, every 1.5 s:
# "n:*" names the highest old UID, and a server may send it again and
# again; not new data either.
scripted_server "$IMAP" sizesdrip --manifest "$T/manifest"
conf sizesdrip imap
run sizesdrip
tap_is "$rc" 0 "IMAP sizes pass drip: the first run delivers (exit 0)"
run sizesdrip
trickled sizesdrip "IMAP sizes pass answered by an endless drip of an old UID"

scripted_server "$IMAP" authdrip --manifest "$T/manifest"
conf authdrip imap
run authdrip
trickled authdrip "IMAP AUTHENTICATE answered by endless \"+\" challenges"

# IDLE's completion after DONE is an answer like any other: a daemon
# whose DONE gets "* OK still working" every second and never the tagged
# OK cuts the connection (before, it waited as long as the server
# dripped: 120 s).
scripted_server "$IMAP" donedrip --manifest "$T/manifest"
scripted_conf donedrip imap 2s 'idle = yes'
"$MAILFETCHD" -c "$T/donedrip.conf" >"$T/daemon.log" 2>&1 &
dpid=$!
tap_cleanup_add '[ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null'
for i in $(seq 300); do
	grep -q 'stalled or trickling' "$T/daemon.log" && break
	kill -0 "$dpid" 2>/dev/null || break
	sleep 0.1
done
tap_like "$(cat "$T/daemon.log")" 'stalled or trickling' \
    "IMAP DONE answered by an endless drip of untagged lines: cut within 30 s"
# SIGTERM, then at most 30 s for the daemon to end (SIGKILL after).
kill -TERM "$dpid" 2>/dev/null
timeout 30 tail --pid="$dpid" -f /dev/null || kill -9 "$dpid" 2>/dev/null
wait "$dpid" 2>/dev/null
tap_is "$?" 0 "IMAP DONE drip: the daemon stops cleanly (137: killed)"
dpid=""
tap_unlike "$(cat "$T/daemon.log")" 'runtime error:|AddressSanitizer|LeakSanitizer' \
    "IMAP DONE drip: no sanitizer report"
scripted_exact donedrip "IMAP DONE drip: before the cut"

scripted_server "$IMAP" tricklelit --manifest "$T/manifest"
conf tricklelit imap
run tricklelit
trickled tricklelit "IMAP BODY[] literal trickled byte by byte"
tap_like "$(find "$T/Maildir-tricklelit/tmp" -type f | wc -l)" '^0$' \
    "IMAP trickled literal: nothing left in tmp/"

scripted_server "$IMAP" slowlit --msgs 2 --manifest "$T/manifest"
conf slowlit imap
run slowlit
tap_is "$rc" 0 "IMAP slow but honest literals (22 KB at ~8 KiB/s): delivered"
tap_unlike "$err" 'trickling' "IMAP slow but honest literals: not cut"
scripted_exact slowlit "IMAP slow but honest literals"

# A BODY[] announced as 4 GB (RFC822.SIZE ~700) and dripped at 1.7 KiB/s,
# above the pacing floor: over max_message_size it would be read past,
# at that pace for 26 days. A literal over both the limit and its
# RFC822.SIZE is a lie: the session ends, naming the UID, and the message
# is passed over for good; the next run delivers the others and does not
# ask for it again.

# asked LOG CONN ITEMS FIRST: the UIDs (of FIRST..FIRST+4) that
# connection CONN asked for in a UID FETCH whose items match ITEMS.
asked() {
	python3 -c '
import re, sys
sys.path.insert(0, sys.argv[1])
from imap_server import parse_set
out = set()
first = int(sys.argv[5])
for line in open(sys.argv[2]):
    m = re.match(sys.argv[3] + r" \S+ UID FETCH (\S+) .*" + sys.argv[4], line)
    if m:
        out.update(parse_set(m.group(1), list(range(first, first + 5))))
print(" ".join(map(str, sorted(out))))
' "$top_srcdir/tests/fault" "$1" "$2" "$3" "$4"
}

# The same within the limit (a literal of 200 MB under the default 256M,
# or 4 GB with no limit): before, such a literal was read at the server's
# pace (31 hours, 26 days); far over its RFC822.SIZE it is a lie all the
# same.
# bigdrip NAME MODE WHAT [SIZE [LINE]]: the server (MODE) announces SIZE
# (4000000000) bytes, the account NAME has LINE; the run ends in exit 5
# naming UID 2; the next one delivers the others and asks no body of UID 2.
bigdrip() {
	local name=$1 mode=$2 what=$3 size=${4:-4000000000}

	scripted_start "$T/$name.log" "$IMAP" "$mode" --manifest "$T/manifest" \
	    --lit "$size"
	scripted_conf "$name" imap 2s ${5:+"$5"}
	run "$name"
	tap_is "$rc" 5 "$what: exit 5 (137: still running)"
	tap_like "$err" "uid=2: .*$size bytes .*RFC822.SIZE said" \
	    "$what: the log names the UID and the sizes"
	tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
	    "$what: no sanitizer report"
	run "$name"
	tap_is "$rc" 0 "$what: the next run succeeds"
	scripted_exact "$name" "$what: after the next run"
	# The UIDs the second connection asked bodies of.
	asked=$(asked "$T/$name.log" 2 'BODY\.PEEK\[\]' 1)
	tap_is "$asked" "1 3 4 5" "$what: the next run does not ask for UID 2 again"
}
bigdrip bigdrip bigdrip "IMAP 4 GB BODY[] dripped"
bigdrip hdrdrip hdrdrip "IMAP 4 GB Message-ID header dripped"
# The same with no UID before the literal: the message is told by its
# number (the sizes pass noted each UID's), not retried every run.
bigdrip bigdripseq bigdripseq "IMAP 4 GB BODY[] dripped, no UID before it"
# The same from a server that numbers every FETCH answer 1 (review r7
# 09): two UIDs share the number, so it names no message; the liar is not
# recorded and nothing else is passed over (before, the first UID noted
# under 1, received in full in the same batch, was passed over for good:
# never delivered). The next connection behaves: everything arrives.
scripted_start "$T/one.log" "$IMAP" bigdripone --manifest "$T/manifest"
scripted_conf one imap 2s
run one
tap_is "$rc" 5 "IMAP 4 GB BODY[] dripped, every answer numbered 1: exit 5"
tap_like "$err" "neither its UID nor its message number" \
    "IMAP 4 GB BODY[] dripped, every answer numbered 1: no message is named"
run one
tap_is "$rc" 0 "IMAP 4 GB BODY[] dripped, every answer numbered 1: the next run succeeds"
scripted_exact one "IMAP 4 GB BODY[] dripped, every answer numbered 1: after the next run"
bigdrip middrip bigdrip "IMAP 200 MB BODY[] within max_message_size dripped" \
    200000000
bigdrip nolimit bigdrip "IMAP 4 GB BODY[] dripped, max_message_size = 0" \
    4000000000 'max_message_size = 0'

# After a UIDVALIDITY change the matching pass's sizes FETCH asks every
# Message-ID header: one announced as 4 GB for a ~700-byte message and
# dripped ends the session (exit 5, naming the UID) instead of being read
# at the server's pace; the next run resumes the matching without that
# message (still on the server), and nothing arrives twice.
scripted_start "$T/uvd.log" "$IMAP" uidvhdrdrip --manifest "$T/manifest"
conf uvd imap
run uvd
tap_is "$rc" 0 "IMAP matching, 4 GB Message-ID dripped: the first run delivers"
run uvd
tap_is "$rc" 5 "IMAP matching, 4 GB Message-ID dripped: exit 5 (137: still running)"
tap_like "$err" 'uid=102: .*Message-ID header of 4000000000 bytes .*RFC822.SIZE said' \
    "IMAP matching, 4 GB Message-ID dripped: the log names the UID and the sizes"
tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
    "IMAP matching, 4 GB Message-ID dripped: no sanitizer report"
run uvd
tap_is "$rc" 1 "IMAP matching, 4 GB Message-ID dripped: the next run, nothing new"
scripted_exact uvd "IMAP matching, 4 GB Message-ID dripped: every message once"
asked=$(asked "$T/uvd.log" 3 'HEADER\.FIELDS' 101)
tap_is "$asked" "101 103 104 105" \
    "IMAP matching, 4 GB Message-ID dripped: the next run matches the others, not UID 102"

# The same after a first fetch with first_fetch = unseen that left read
# message 1: the session ends at UID 102, and the UIDs below it are owed
# to the next run. After the change nothing tells message 1 from the rest
# (it is not matched as delivered before): it is delivered once, with no
# server action (as every unmatched message after the change).
scripted_start "$T/uvs.log" "$IMAP" uidvhdrdrip --seen 1 --seenmanifest yes \
    --manifest "$T/manifest"
conf uvs imap 'first_fetch = unseen'
run uvs
tap_is "$rc" 0 "IMAP matching after first_fetch = unseen, 4 GB Message-ID: the first run delivers"
run uvs
tap_is "$rc" 5 "IMAP matching after first_fetch = unseen, 4 GB Message-ID: exit 5"
run uvs
tap_like "$rc" '^(0|1)$' "IMAP matching after first_fetch = unseen, 4 GB Message-ID: the next run succeeds"
scripted_exact uvs "IMAP matching after first_fetch = unseen, 4 GB Message-ID: every message once, read message 1 too"

scripted_pop3_manifest
scripted_server "$top_srcdir/tests/integration/pop3_server.py" trickle
conf pop3 pop3
run pop3
trickled pop3 "POP3 RETR body trickled line by line"

# A RETR that never ends, dripped above the pacing floor past
# max_message_size (8K; LIST said ~70 bytes), or sent faster past twice
# LIST's size plus 1 MiB with no limit: before, read until the server
# stopped (held 120 s; unbounded). The session ends naming the message,
# which is passed over for good (UIDL remembered): the next run delivers
# the others and does not ask for it again.
P3="$top_srcdir/tests/integration/pop3_server.py"
# pop3lie NAME MODE WHAT LINE: the run ends in exit 5, the next one
# delivers messages 1 and 3 and no RETR 2.
pop3lie() {
	scripted_start "$T/$1.log" "$P3" "$2"
	scripted_conf "$1" pop3 2s "$4"
	run "$1"
	tap_is "$rc" 5 "$3: exit 5 (137: still running)"
	tap_like "$err" 'uid=2: the server sent more than [0-9]+ bytes of this message, and it goes on, although LIST said [0-9]+ .*skipped for good' \
	    "$3: the log names the message and the sizes"
	tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
	    "$3: no sanitizer report"
	run "$1"
	tap_is "$rc" 0 "$3: the next run succeeds"
	grep -v '<m2>' "$T/manifest" >"$T/manifest.13"
	sum=$(python3 "$SCRIPTED_FL" compare "$T/manifest.13" "$T/Maildir-$1" 2>&1)
	tap_like "$sum" "delivered=2 missing=0 duplicate=0 partial=0 tmp=0" \
	    "$3: messages 1 and 3 exactly once ($sum)"
	tap_is "$(grep -c '^2 RETR 2$' "$T/$1.log")" 0 \
	    "$3: the next run does not ask for message 2 again"
}
pop3lie retrdrip retrdrip "POP3 RETR dripped past max_message_size" \
    'max_message_size = 8K'
pop3lie retrflood retrflood "POP3 RETR past twice LIST's size + 1 MiB" \
    'max_message_size = 0'

# The same for TOP n 0, which checks an owed DELE (keep = no, the first
# run killed once the DELEs are owed): a header section is no larger than
# its message. The message cannot be checked: not deleted, fetched again
# (a duplicate at worst), and TOP is not asked again.
scripted_start "$T/topdrip.log" "$P3" topdrip
scripted_conf topdrip pop3 2s 'keep = no'
MAILFETCHD_FAULT=pop3-saved "$MAILFETCHD" -c "$T/topdrip.conf" --once \
    >/dev/null 2>&1
tap_is "$?" 137 "POP3 TOP dripped: the first run is killed with DELEs owed"
# Owed DELEs of this version are checked by RETR (bounded in pop3_fault.sh);
# those the previous version recorded, with a header digest, still by TOP.
scripted_pop3_restate "$T/state-topdrip/topdrip.state" "pending " "" hdr
run topdrip
tap_is "$rc" 5 "POP3 TOP dripped: exit 5 (137: still running)"
tap_like "$err" 'uid=1: the header section of this message goes on past [0-9]+ bytes although LIST said [0-9]+ .*not deleted, and is fetched again' \
    "POP3 TOP dripped: the log names the message and says what happens"
tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
    "POP3 TOP dripped: no sanitizer report"
run topdrip
tap_is "$rc" 0 "POP3 TOP dripped: the next run succeeds"
sum=$(python3 "$SCRIPTED_FL" compare "$T/manifest" "$T/Maildir-topdrip" 2>&1)
tap_like "$sum" "delivered=4 missing=0 duplicate=1 partial=0 tmp=0" \
    "POP3 TOP dripped: every message, message 1 twice (not checked) ($sum)"
tap_is "$(grep -c '^3 TOP 1 0$' "$T/topdrip.log")" 0 \
    "POP3 TOP dripped: the next run does not ask TOP 1 0 again"
tap_is "$(grep -c '^3 DELE' "$T/topdrip.log")" 3 \
    "POP3 TOP dripped: the next run deletes the 3 messages, once delivered"

scripted_server "$top_srcdir/tests/integration/pop3_server.py" authdrip
conf pop3auth pop3
run pop3auth
trickled pop3auth "POP3 AUTH answered by endless \"+\" challenges"

tap_done
