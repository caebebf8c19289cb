#!/bin/bash
# lies.sh: a server that lies about a message's size must not hold a
# fetch for the time its lie would take to read. A BODY[] announced as
# 4 GB (or 200 MB, within max_message_size; or with no limit) for a
# message of ~700 bytes and dripped above the pacing floor ends in exit 5
# naming the message (also with its UID after the literal, with neither
# UID nor a usable number, and for the Message-ID header of the matching
# pass after a UIDVALIDITY change), and so does a POP3 RETR (or TOP n 0)
# that goes on above the floor past max_message_size or far past LIST's
# size. One such answer may be a passing server bug: the next run fetches
# the others first, then asks for the liar alone, last; when the server
# behaves, it delivers every message exactly once; when it lies again,
# every other message is delivered all the same and the liar is passed
# over for good, never asked for again. The drips of honest but slow
# servers are in trickle.sh. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"

scripted_init lies
IMAP="$top_srcdir/tests/fault/imap_server.py"

# A BODY[] announced as 4 GB (RFC822.SIZE ~700) and dripped at 1.7 KiB/s,
# above the pacing floor: over max_message_size it would be read past,
# at that pace for 26 days. A literal over both the limit and its
# RFC822.SIZE is a lie: the session ends, naming the UID; the next run
# delivers the others, then asks for the liar alone (before, it was passed
# over for good at once: one passing server bug lost an honest message,
# review r6 02).

# first_kept NAME WHAT: after a run that ended at the lie about UID 2,
# message 1, received whole before it in the same batch, is delivered, and
# nothing else (before, the lie dropped the whole batch).
first_kept() {
	local sum

	sum=$(python3 "$SCRIPTED_FL" compare "$T/manifest" "$T/Maildir-$1" 2>&1)
	tap_like "$sum" "delivered=1 missing=[34] duplicate=0 partial=0 tmp=0" \
	    "$2: the run delivers the message received before the lie ($sum)"
	tap_is "$(grep -rl '^Message-ID: <scripted-1@' "$T/Maildir-$1/new" |
	    wc -l)" 1 "$2: that is message 1"
}

# asked LOG CONN ITEMS FIRST: the UIDs (of FIRST..FIRST+4) that
# connection CONN asked for in the UID FETCHes whose items match ITEMS,
# each FETCH's in UID order, the FETCHes in the order sent, " / " between.
asked() {
	python3 -c '
import re, sys
sys.path.insert(0, sys.argv[1])
from imap_server import parse_set
out = []
first = int(sys.argv[5])
for line in open(sys.argv[2]):
    m = re.match(sys.argv[3] + r" \S+ UID FETCH (\S+) .*" + sys.argv[4], line)
    if m:
        uids = parse_set(m.group(1), list(range(first, first + 5)))
        out.append(" ".join(map(str, sorted(uids))))
print(" / ".join(out))
' "$top_srcdir/tests/fault" "$1" "$2" "$3" "$4"
}

# The same within the limit (a literal of 200 MB under the default 256M,
# or 4 GB with no limit): before, such a literal was read at the server's
# pace (31 hours, 26 days); far over its RFC822.SIZE it is a lie all the
# same.
# bigdrip NAME MODE WHAT [SIZE [LINE]]: the server (MODE) announces SIZE
# (4000000000) bytes, the account NAME has LINE; the run ends in exit 5
# naming UID 2; the server behaves then: the next run delivers the others,
# then asks for UID 2 alone, and delivers it.
bigdrip() {
	local name=$1 mode=$2 what=$3 size=${4:-4000000000}

	scripted_start "$T/$name.log" "$IMAP" "$mode" --manifest "$T/manifest" \
	    --lit "$size"
	scripted_conf "$name" imap 2s ${5:+"$5"}
	scripted_once "$name"
	tap_is "$rc" 5 "$what: exit 5 (137: still running)"
	tap_like "$err" "uid=2: .*$size bytes .*RFC822.SIZE said" \
	    "$what: the log names the UID and the sizes"
	tap_like "$err" "uid=2: .*asked for once more, alone, after the others; if the server sends too much again it is skipped for good" \
	    "$what: the log says the message is asked for again, alone"
	tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
	    "$what: no sanitizer report"
	first_kept "$name" "$what"
	scripted_once "$name"
	tap_is "$rc" 0 "$what: the next run succeeds"
	scripted_exact "$name" "$what: after the next run, UID 2 too"
	# The UIDs the second connection asked bodies of.
	asked=$(asked "$T/$name.log" 2 'BODY\.PEEK\[\]' 1)
	tap_is "$asked" "3 4 5 / 2" \
	    "$what: the next run asks for the others, then for UID 2 alone"
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
# The same on every run (--bad 3) with two new messages (review r7 09's
# residue): the liar is the one message of its batch whose body had not
# come (message 1's came whole), so it becomes a suspect; the next run
# delivers message 1, then asks for message 2 alone and passes it over for
# good; the run after that asks for nothing. Before, nothing was recorded
# and every run ended at the lie: message 1, received in full each time,
# was never delivered.
scripted_start "$T/onetwice.log" "$IMAP" bigdripone --msgs 2 --bad 3 \
    --manifest "$T/manifest"
scripted_conf onetwice imap 2s
scripted_once onetwice
tap_is "$rc" 5 "IMAP 4 GB BODY[] on every run, every answer numbered 1: exit 5"
tap_like "$err" "uid=2: .*asked for once more, alone, after the others" \
    "IMAP 4 GB BODY[] on every run, every answer numbered 1: the message whose body had not come is named"
scripted_once onetwice
tap_is "$rc" 5 "IMAP 4 GB BODY[] on every run, every answer numbered 1: the second run ends at the lie again"
tap_like "$err" "uid=2: .*passing this message over for good" \
    "IMAP 4 GB BODY[] on every run, every answer numbered 1: the second run passes UID 2 over for good"
scripted_exact onetwice "IMAP 4 GB BODY[] on every run, every answer numbered 1: after the second run, message 1"
scripted_once onetwice
tap_is "$rc" 1 "IMAP 4 GB BODY[] on every run, every answer numbered 1: the third run has nothing new"
tap_is "$(asked "$T/onetwice.log" 3 'BODY\.PEEK\[\]' 1)" "" \
    "IMAP 4 GB BODY[] on every run, every answer numbered 1: the third run asks for no body"
bigdrip middrip bigdrip "IMAP 200 MB BODY[] within max_message_size dripped" \
    200000000
bigdrip nolimit bigdrip "IMAP 4 GB BODY[] dripped, max_message_size = 0" \
    4000000000 'max_message_size = 0'

# A server that lies about message 2 of 5 on every run (--bad 3), with
# messages 3 to 5 after it in the same batch. The first lie makes it a
# suspect, and message 1, received before it, is delivered; the next run
# delivers every other message first, then asks for
# it alone: the lie again passes it over for good, at the end of that run
# (no run after the first is held by it: review r7 09's wedge); the run
# after that does not ask for it. Before, the first lie passed it over for
# good, so that one passing server error lost an honest message (review
# r6 02: see bigdrip above).
# bigdriptwice NAME MODE WHAT
bigdriptwice() {
	local name=$1 mode=$2 what=$3

	scripted_start "$T/$name.log" "$IMAP" "$mode" --bad 3 \
	    --manifest "$T/manifest"
	scripted_conf "$name" imap 2s
	scripted_once "$name"
	tap_is "$rc" 5 "$what: the first run ends at the lie (exit 5)"
	tap_like "$err" "uid=2: .*asked for once more, alone, after the others" \
	    "$what: the first run says UID 2 is asked for again, alone"
	first_kept "$name" "$what: the first run"
	scripted_once "$name"
	tap_is "$rc" 5 "$what: the second run ends at the lie again (exit 5)"
	tap_like "$err" "uid=2: .*passing this message over for good .*sent too much again when it was asked for alone" \
	    "$what: the second run passes UID 2 over for good"
	tap_is "$(asked "$T/$name.log" 2 'BODY\.PEEK\[\]' 1)" "3 4 5 / 2" \
	    "$what: the second run asks for the others, then for UID 2 alone"
	scripted_exact "$name" "$what: after the second run, all but UID 2"
	scripted_once "$name"
	tap_is "$rc" 1 "$what: the third run has nothing new"
	tap_is "$(asked "$T/$name.log" 3 'BODY\.PEEK\[\]' 1)" "" \
	    "$what: the third run does not ask for UID 2"
	tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
	    "$what: no sanitizer report"
}
bigdriptwice twice bigdrip "IMAP 4 GB BODY[] on every run"
bigdriptwice hdrtwice hdrdrip "IMAP 4 GB Message-ID header on every run"

# The run that meets the lie killed while it makes message 1, received
# before it in the same batch, durable (review r13 07): the state saved
# for message 1's journal already names UID 2 a suspect, with last_uid
# still below it. The next run recovers message 1, fetches the others,
# then asks for UID 2 alone: each message once. Before, that run's normal
# pass fetched UID 2 too (above last_uid) and its suspect pass delivered
# it again (duplicate=1).
# killdrip FAULT LINE: the lie run killed at FAULT, with LINE.
killdrip() {
	local name what="IMAP 4 GB BODY[], the run killed at $1, $2"

	name=kill$(printf '%s' "$1$2" | tr -cd 'a-z0-9')
	scripted_start "$T/$name.log" "$IMAP" bigdrip --manifest "$T/manifest"
	scripted_conf "$name" imap 2s "$2"
	MAILFETCHD_FAULT=$1 timeout -s KILL 60 "$MAILFETCHD" \
	    -c "$T/$name.conf" --once >/dev/null 2>&1
	tap_is "$?" 137 "$what: killed there"
	scripted_once "$name"
	scripted_once "$name"
	tap_like "$rc" '^(0|1)$' "$what: the run after the next succeeds"
	scripted_exact "$name" "$what"
	tap_is "$(asked "$T/$name.log" 2 'BODY\.PEEK\[\]' 1)" "3 4 5 / 2" \
	    "$what: the next run asks for the others, then for UID 2 alone"
}
for pt in imap-journaled:1 maildir-renamed:1 imap-synced:1; do
	killdrip "$pt" 'keep = yes'
	killdrip "$pt" 'mark_read = yes'
done

# A suspect's UID names another message after a UIDVALIDITY change: the
# record of the old epoch is dropped with it, not applied to the new UIDs
# (the second connection renumbers every message, UID + 100, and
# behaves): every message is delivered once, in one batch, none asked for
# alone, and the state keeps no suspect record.
scripted_start "$T/sus.log" "$IMAP" bigdripuv --manifest "$T/manifest"
scripted_conf sus imap 2s
scripted_once sus
tap_is "$rc" 5 "IMAP suspect, then a UIDVALIDITY change: the first run ends at the lie"
tap_like "$(grep -c '^suspect INBOX ' "$T/state-sus/sus.state")" '^1$' \
    "IMAP suspect, then a UIDVALIDITY change: the state keeps the suspect"
scripted_once sus
tap_is "$rc" 0 "IMAP suspect, then a UIDVALIDITY change: the next run succeeds"
scripted_exact sus "IMAP suspect, then a UIDVALIDITY change: after the next run"
tap_is "$(asked "$T/sus.log" 2 'BODY\.PEEK\[\]' 101)" "101 102 103 104 105" \
    "IMAP suspect, then a UIDVALIDITY change: one batch, nothing asked for alone"
tap_is "$(grep -c '^suspect ' "$T/state-sus/sus.state")" 0 \
    "IMAP suspect, then a UIDVALIDITY change: the old epoch's suspect is gone"
# After a UIDVALIDITY change the matching pass's sizes FETCH asks every
# Message-ID header: one announced as 4 GB for a ~700-byte message and
# dripped ends the session (exit 5, naming the UID) instead of being read
# at the server's pace; the next run resumes the matching without that
# message, then asks for it alone (its Message-ID, then its body: matched
# by content as delivered before), and nothing arrives twice.
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
tap_is "$asked" "101 103 104 105 / 101 103 104 105 / 102 / 102" \
    "IMAP matching, 4 GB Message-ID dripped: the next run matches the others, then UID 102 alone"

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

# A Gmail-like server (X-GM-EXT-1: the sizes pass asks every
# Message-ID) lies about the newest message's Message-ID on a first fetch
# with first_fetch = unseen and keep = no, messages 1 and 2 read on the
# server: the UIDs below the liar owed to the next run are the unread
# ones; the read ones are never fetched, so never deleted (review r9 12:
# all of them were owed, and fetched and deleted once new mail came).
scripted_start "$T/gms.log" "$IMAP" gmsizesdrip --seen 1,2 --bad 2 \
    --manifest "$T/manifest"
scripted_conf gms imap 2s 'first_fetch = unseen' 'keep = no'
scripted_once gms
tap_is "$rc" 5 "Gmail sizes pass lie, first_fetch = unseen: the first run ends at it"
tap_like "$err" 'uid=5: in the sizes pass .*Message-ID header of 4000000000 bytes' \
    "Gmail sizes pass lie: the log names the UID and says where (no UIDVALIDITY change)"
scripted_once gms
tap_is "$rc" 5 "Gmail sizes pass lie: asked alone, it lies again (exit 5)"
scripted_once gms
tap_like "$rc" '^(0|1)$' "Gmail sizes pass lie: the next run succeeds"
scripted_exact gms "Gmail sizes pass lie, first_fetch = unseen: the unread ones, read messages 1 and 2 not"
tap_is "$(grep -cE 'UID (STORE|MOVE|COPY) [^ ]*\b[12]\b' "$T/gms.log")" 0 \
    "Gmail sizes pass lie: no action on read messages 1 and 2"

scripted_pop3_manifest
# A RETR that never ends, dripped above the pacing floor past
# max_message_size (8K; LIST said ~70 bytes), or sent faster past twice
# LIST's size plus 1 MiB with no limit: before, read until the server
# stopped (held 120 s; unbounded). The session ends naming the message,
# which is asked for once more, alone, after the others (before, it was
# passed over for good at once: review r6 02); the server behaves then:
# the next run delivers every message.
P3="$top_srcdir/tests/integration/pop3_server.py"
# retrs LOG CONN: the RETRs connection CONN sent, in order.
retrs() {
	sed -n "s/^$2 RETR //p" "$1" | tr '\n' ' ' | sed 's/ $//'
}
# p3_first_kept NAME WHAT: after a run that ended at the lie about message
# 2, message 1, received whole before it, is delivered, and nothing else
# (before, the lie dropped the whole batch).
p3_first_kept() {
	tap_is "$(grep -rl '^Subject: m1' "$T/Maildir-$1/new" | wc -l) $(ls \
	    "$T/Maildir-$1/new" | wc -l)" "1 1" \
	    "$2: the run delivers message 1, received before the lie"
}
# pop3lie NAME MODE WHAT LINE: the run ends in exit 5, the next one
# delivers messages 1 and 3, then 2 alone.
pop3lie() {
	scripted_start "$T/$1.log" "$P3" "$2"
	scripted_conf "$1" pop3 2s "$4"
	scripted_once "$1"
	tap_is "$rc" 5 "$3: exit 5 (137: still running)"
	tap_like "$err" 'uid=2: the server sent more than [0-9]+ bytes of this message, and it goes on, although LIST said [0-9]+ ' \
	    "$3: the log names the message and the sizes"
	tap_like "$err" 'uid=2: .*asked for once more, alone, after the others; if the server sends too much again it is skipped for good' \
	    "$3: the log says the message is asked for again, alone"
	tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
	    "$3: no sanitizer report"
	p3_first_kept "$1" "$3"
	scripted_once "$1"
	tap_is "$rc" 0 "$3: the next run succeeds"
	scripted_exact "$1" "$3: after the next run, message 2 too"
	tap_is "$(retrs "$T/$1.log" 2)" "3 2" \
	    "$3: the next run asks for the others, then for message 2 alone"
}
pop3lie retrdrip retrdrip "POP3 RETR dripped past max_message_size" \
    'max_message_size = 8K'
pop3lie retrflood retrflood "POP3 RETR past twice LIST's size + 1 MiB" \
    'max_message_size = 0'

# A server that lies about message 2 of 4 on every run (--liars 3), with
# messages 3 and 4 after it in the same batch (pop3_server.py's message 5
# shares message 1's UIDL): the first lie makes it a
# suspect, and message 1, received before it, is delivered; the next run delivers every other message, then asks for it
# alone, and the lie again skips it for good (its UIDL remembered): no
# run after the first is held by it; the run after that does not ask for
# it. Before, the first lie skipped it for good at once.
scripted_start "$T/p3twice.log" "$P3" retrdrip --msgs 4 --liars 3
scripted_conf p3twice pop3 2s 'max_message_size = 8K'
python3 -c '
import hashlib, sys
sys.path.insert(0, sys.argv[1])
from pop3_server import message
for i in (1, 3, 4):
    lf = message(i).replace(b"\r\n", b"\n")
    print("%s\t<m%d>" % (hashlib.sha256(lf).hexdigest(), i))
' "$top_srcdir/tests/integration" >"$T/manifest.p3twice"
scripted_once p3twice
tap_is "$rc" 5 "POP3 RETR on every run: the first run ends at the lie (exit 5)"
tap_like "$err" 'uid=2: .*asked for once more, alone, after the others' \
    "POP3 RETR on every run: the first run says message 2 is asked for again, alone"
p3_first_kept p3twice "POP3 RETR on every run"
scripted_once p3twice
tap_is "$rc" 5 "POP3 RETR on every run: the second run ends at the lie again (exit 5)"
tap_like "$err" 'uid=2: .*skipped for good \(UIDL remembered\): the server sent too much again when it was asked for alone' \
    "POP3 RETR on every run: the second run skips message 2 for good"
tap_is "$(retrs "$T/p3twice.log" 2)" "3 4 2" \
    "POP3 RETR on every run: the second run asks for the others, then for message 2 alone"
sum=$(python3 "$SCRIPTED_FL" compare "$T/manifest.p3twice" "$T/Maildir-p3twice" 2>&1)
tap_like "$sum" "delivered=3 missing=0 duplicate=0 partial=0 tmp=0" \
    "POP3 RETR on every run: after the second run, all but message 2 exactly once ($sum)"
scripted_once p3twice
tap_is "$rc" 1 "POP3 RETR on every run: the third run has nothing new"
tap_is "$(retrs "$T/p3twice.log" 3)" "" \
    "POP3 RETR on every run: the third run does not ask for message 2"
tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
    "POP3 RETR on every run: no sanitizer report"

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
