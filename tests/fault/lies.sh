#!/bin/bash
# lies.sh: a server that lies about a message's size must not hold a
# fetch for the time its lie would take to read. A BODY[] announced as
# 4 GB (or 200 MB, within max_message_size; or with no limit) for a
# message of ~700 bytes and dripped above the pacing floor ends in exit 5
# naming the message (also with its UID after the literal, with neither
# UID nor a usable number, and for the Message-ID header of the matching
# pass after a UIDVALIDITY change), and so does a POP3 RETR (or TOP n 0)
# that goes on above the floor past max_message_size or far past LIST's
# size. Then the server behaves and the next run delivers every message
# exactly once and does not ask for the liar again. The drips of honest
# but slow servers are in trickle.sh. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"

scripted_init lies
IMAP="$top_srcdir/tests/fault/imap_server.py"

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
	scripted_once "$name"
	tap_is "$rc" 5 "$what: exit 5 (137: still running)"
	tap_like "$err" "uid=2: .*$size bytes .*RFC822.SIZE said" \
	    "$what: the log names the UID and the sizes"
	tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
	    "$what: no sanitizer report"
	scripted_once "$name"
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
scripted_once one
tap_is "$rc" 5 "IMAP 4 GB BODY[] dripped, every answer numbered 1: exit 5"
tap_like "$err" "neither its UID nor its message number" \
    "IMAP 4 GB BODY[] dripped, every answer numbered 1: no message is named"
scripted_once one
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
scripted_conf uvd imap 2s
scripted_once uvd
tap_is "$rc" 0 "IMAP matching, 4 GB Message-ID dripped: the first run delivers"
scripted_once uvd
tap_is "$rc" 5 "IMAP matching, 4 GB Message-ID dripped: exit 5 (137: still running)"
tap_like "$err" 'uid=102: .*Message-ID header of 4000000000 bytes .*RFC822.SIZE said' \
    "IMAP matching, 4 GB Message-ID dripped: the log names the UID and the sizes"
tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
    "IMAP matching, 4 GB Message-ID dripped: no sanitizer report"
scripted_once uvd
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
scripted_conf uvs imap 2s 'first_fetch = unseen'
scripted_once uvs
tap_is "$rc" 0 "IMAP matching after first_fetch = unseen, 4 GB Message-ID: the first run delivers"
scripted_once uvs
tap_is "$rc" 5 "IMAP matching after first_fetch = unseen, 4 GB Message-ID: exit 5"
scripted_once uvs
tap_like "$rc" '^(0|1)$' "IMAP matching after first_fetch = unseen, 4 GB Message-ID: the next run succeeds"
scripted_exact uvs "IMAP matching after first_fetch = unseen, 4 GB Message-ID: every message once, read message 1 too"

scripted_pop3_manifest
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
	scripted_once "$1"
	tap_is "$rc" 5 "$3: exit 5 (137: still running)"
	tap_like "$err" 'uid=2: the server sent more than [0-9]+ bytes of this message, and it goes on, although LIST said [0-9]+ .*skipped for good' \
	    "$3: the log names the message and the sizes"
	tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
	    "$3: no sanitizer report"
	scripted_once "$1"
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

# TOP n 0 checked the previous version's owed DELEs (a header digest)
# and this server drips its answer; such a DELE is no proof (review r9,
# finding 05b): the message is fetched again, TOP is never asked, and the
# dripped answer cannot hold the account (keep = no, the first run killed
# once the DELEs are owed).
scripted_start "$T/topdrip.log" "$P3" topdrip
scripted_conf topdrip pop3 2s 'keep = no'
MAILFETCHD_FAULT=pop3-saved "$MAILFETCHD" -c "$T/topdrip.conf" --once \
    >/dev/null 2>&1
tap_is "$?" 137 "POP3 TOP dripped: the first run is killed with DELEs owed"
scripted_pop3_restate "$T/state-topdrip/topdrip.state" "pending " "" hdr
scripted_once topdrip
tap_is "$rc" 0 "POP3 TOP dripped: the next run succeeds"
tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
    "POP3 TOP dripped: no sanitizer report"
sum=$(python3 "$SCRIPTED_FL" compare "$T/manifest" "$T/Maildir-topdrip" 2>&1)
tap_like "$sum" "delivered=6 missing=0 duplicate=3 partial=0 tmp=0" \
    "POP3 TOP dripped: every message, each twice (a header digest proves nothing) ($sum)"
tap_is "$(grep -c ' TOP ' "$T/topdrip.log")" 0 \
    "POP3 TOP dripped: TOP is never asked"
tap_is "$(grep -c '^2 DELE' "$T/topdrip.log")" 3 \
    "POP3 TOP dripped: the next run deletes the 3 messages, once delivered again"

tap_done
