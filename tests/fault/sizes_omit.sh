#!/bin/bash
# sizes_omit.sh: a message the server leaves out of the sizes pass (UID
# FETCH n:* (UID RFC822.SIZE)) is not lost (doc/DESIGN.md promise 1).
# A scripted server (tests/fault/imap_server.py omitsize, omitsizefirst,
# omitsizegone) answers the first run's sizes pass without message 3 (or
# 1); that run delivers the others, and the message is asked for again,
# and delivered, by the next run. Expunged meanwhile, it is asked for once
# (UID SEARCH UID confirms it gone) and then no more; with first_fetch =
# unseen, read on the server, it is not owed at all. A message owed
# (BODY[] NIL) and then left out of the sizes pass that asks for it again
# stays owed (imap_server.py nilomit), and so does one whose UID SEARCH
# is refused (omitsearchno). What a journal recovery delivered is not
# owed when the sizes pass leaves it out (omitsize2). A huge owed range
# (hugegap) is walked as a range. A read newest message left out of the
# first fetch's sizes pass stays under its filter (omitsizelast). One that
# UID SEARCH finds but every sizes pass leaves out, across a UIDVALIDITY
# change, is asked for in the body FETCH (omituv). What a
# recovered journal delivered is never owed, whether the recovering run's
# sizes pass leaves it out or lies about a message above it, nor one
# that every sizes pass leaves out, fetched without its size by a run
# that is killed (omitbig, omituv). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init omit

# server MODE [ARGS]: (re)start the scripted IMAP server, its log emptied.
server() {
	scripted_start "$T/server.log" "$top_srcdir/tests/fault/imap_server.py" \
	    "$@" --manifest "$T/manifest"
}

# sizes CONN: the UID set of connection CONN's sizes pass.
sizes() {
	sed -nE "s/^$1 [^ ]+ UID FETCH ([^ ]+) \(UID RFC822.SIZE\)\$/\1/p" \
	    "$T/server.log"
}

# owed NAME: the state's missing records (UIDs asked for again).
owed() {
	grep '^missing ' "$T/state-$1/$1.state"
}

# journal_killed NAME WHAT: a run of NAME killed once its batch is
# journaled (before the Maildir has it all), as by kill -9.
journal_killed() {
	point_killed "$1" imap-journaled "$2"
}

# point_killed NAME POINT WHAT: a run of NAME killed at crash point POINT.
point_killed() {
	err=$(MAILFETCHD_FAULT=$2 timeout -s KILL 60 \
	    "$MAILFETCHD" -c "$T/$1.conf" --once -v 2>&1 >/dev/null)
	rc=$?
	tap_like "$rc" '^(137|-9)$' "$3: killed at $2"
}

# Message 3 left out of the first sizes pass: the others are delivered,
# and it comes with the next run.
server omitsize
scripted_conf omit imap 3s
scripted_once omit
tap_is "$rc" 0 "left out: the first run delivers the others"
tap_is "$(scripted_count omit)" 4 "left out: four messages delivered"
tap_like "$err" 'left out 1 message\(s\).*UID 3\b' \
    "left out: the log names the message left out"
tap_like "$(owed omit)" ' 3$' "left out: the state owes it"
scripted_once omit
tap_is "$(sizes 2)" "3,6:*" "left out: the next run asks for it again"
tap_is "$rc" 0 "left out: the next run delivers"
scripted_exact omit "left out: after the next run"
scripted_once omit
tap_is "$rc" 1 "left out: then nothing new"
tap_is "$(owed omit)" "" "left out: then no longer owed"
scripted_exact omit "left out: after a third run"

# Message 1 left out: nothing tells it from UIDs never in use but its
# number, and it is owed just the same.
server omitsizefirst
scripted_conf first imap 3s
scripted_once first
tap_is "$rc" 0 "first left out: the first run delivers the others"
tap_is "$(scripted_count first)" 4 "first left out: four messages delivered"
scripted_once first
tap_is "$(sizes 2)" "1,6:*" "first left out: the next run asks for it again"
scripted_exact first "first left out: after the next run"

# Message 3 left out, then expunged by another client: asked for once
# more, then no longer owed (not forever).
server omitsizegone
scripted_conf gone imap 3s
scripted_once gone
tap_is "$(scripted_count gone)" 4 "left out, then expunged: four messages delivered"
scripted_once gone
tap_is "$rc" 1 "left out, then expunged: the next run has nothing new"
tap_like "$(grep -E '^2 [^ ]+ UID SEARCH' "$T/server.log")" 'UID SEARCH UID 3$' \
    "left out, then expunged: UID SEARCH asks whether it exists"
tap_like "$err" 'not listed, nor found by UID SEARCH.*no longer asked for' \
    "left out, then expunged: the log says it is no longer owed"
scripted_exact gone "left out, then expunged: after the next run"
scripted_once gone
tap_is "$(owed gone)" "" "left out, then expunged: no longer owed"

# Message 3 answered BODY[] NIL (owed), then left out of the sizes pass
# that asks for it again: UID SEARCH finds it, so it is not taken for
# expunged, and it is asked for in the body FETCH all the same (without
# its size: asking the sizes again could leave it out for ever).
server nilomit
scripted_conf nilomit imap 3s
scripted_once nilomit
tap_is "$(scripted_count nilomit)" 4 "NIL, then left out: four messages delivered"
scripted_once nilomit
tap_like "$err" 'left out messages asked for again that UID SEARCH finds \(UID 3\): asked for without their size' \
    "NIL, then left out: the log says the server left it out"
tap_is "$rc" 0 "NIL, then left out: the body FETCH delivers it all the same"
tap_is "$(owed nilomit)" "" "NIL, then left out: no longer owed"
scripted_exact nilomit "NIL, then left out: after the second run"
scripted_once nilomit
tap_is "$rc" 1 "NIL, then left out: then nothing new"

# first_fetch = unseen: message 3 left out and unread is owed; left out
# and read (the user chose to leave it) is not.
server omitsize
scripted_conf unseen imap 3s "first_fetch = unseen"
scripted_once unseen
tap_is "$(scripted_count unseen)" 4 "unseen, left out: four messages delivered"
scripted_once unseen
tap_is "$(sizes 2)" "3,6:*" "unseen, left out: the next run asks for it again"
scripted_exact unseen "unseen, left out: after the next run"
server omitsize --seen 3
scripted_conf read imap 3s "first_fetch = unseen"
scripted_once read
tap_is "$rc" 0 "read, left out: the first run delivers the unread"
tap_is "$(owed read)" "" "read, left out: not owed"
scripted_once read
tap_is "$rc" 1 "read, left out: the next run has nothing new"
scripted_exact read "read, left out: only the unread, once"

# Message 3 left out of two sizes passes, and the second run's UID SEARCH
# UID 3 refused (NO, a transient): a refusal proves nothing gone, so it
# stays owed (and the log does not say UID SEARCH did not find it); the
# third run, on a server that lists it again, delivers it.
server omitsearchno --bad 0
scripted_conf searchno imap 3s
scripted_once searchno
tap_is "$(scripted_count searchno)" 4 "search refused: four messages delivered"
scripted_once searchno
tap_like "$err" 'UID SEARCH UID refused.*stay owed' \
    "search refused: the log says the UIDs stay owed"
tap_unlike "$err" 'nor found by UID SEARCH' \
    "search refused: the log does not say UID SEARCH did not find it"
tap_like "$(owed searchno)" ' 3$' "search refused: still owed"
scripted_once searchno
tap_is "$rc" 0 "search refused: the third run delivers it"
scripted_exact searchno "search refused: after the third run"

# A run killed after its batch was delivered (files in new/, the journal
# not yet folded into the state): the next run recovers them, and its
# sizes pass leaves out message 3 (omitsize2). What the recovery
# delivered is not owed: the run after does not fetch it again.
server omitsize2 --bad 0
scripted_conf recovered imap 3s
MAILFETCHD_FAULT=imap-synced scripted_once recovered
tap_is "$(scripted_count recovered)" 5 "recovered, left out: killed after delivering all five"
scripted_once recovered
tap_is "$(sizes 2)" "1:*" "recovered, left out: the next run's sizes pass"
tap_is "$(owed recovered)" "" "recovered, left out: nothing owed"
scripted_once recovered
tap_is "$rc" 1 "recovered, left out: the third run has nothing new"
scripted_exact recovered "recovered, left out: after the third run"

# A sparse UID space (UIDs 1, 2, then 3000000000 and up) with message 2
# left out: the number gap owes UIDs 2:2999999999, one range. It is
# handled as a range, never UID by UID (that took some 20 s of CPU after
# every batch: the server, waiting 10 s at most for the next batch, hung
# up).
server hugegap --msgs 300
scripted_conf hugegap imap 10s
scripted_once hugegap
tap_is "$rc" 0 "huge gap: the first run delivers the others"
tap_is "$(scripted_count hugegap)" 299 "huge gap: all but one delivered"
tap_is "$(owed hugegap)" "missing INBOX 2:2999999999" "huge gap: the gap is owed as one range"
scripted_once hugegap
tap_is "$rc" 0 "huge gap: the next run delivers it"
tap_is "$(owed hugegap)" "" "huge gap: then nothing owed"
scripted_exact hugegap "huge gap: after the next run"

# A server that leaves message 3 out of every sizes pass while UID SEARCH
# finds it, and whose folder gets a new UIDVALIDITY (imap_server.py
# omituv; first_fetch = unseen, keep = yes, then keep = no). Asked for
# again by its sizes only, the message was owed for ever, never
# delivered, and so the folder's matching mark stayed for ever (review
# r12, finding 04). It is now asked for in the body FETCH all the same:
# delivered once, the mark ends, and the new mail (UID 106) is deleted.
server omituv --msgs 6
scripted_conf omituv imap 3s "first_fetch = unseen" "keep = yes"
scripted_once omituv
tap_is "$rc" 0 "left out, new UIDVALIDITY: the first run delivers the others"
scripted_conf omituv imap 3s "first_fetch = unseen" "keep = no"
scripted_once omituv
tap_like "$(owed omituv)" ' 103$' "left out, new UIDVALIDITY: UID 103 owed after the change"
scripted_once omituv
tap_like "$err" 'left out messages asked for again that UID SEARCH finds \(UID 103\): asked for without their size' \
    "left out, new UIDVALIDITY: the third run asks for it without its size"
tap_is "$(grep -cE '^3 [^ ]+ UID FETCH 103,106 \(UID FLAGS RFC822.SIZE BODY.PEEK\[HEADER.FIELDS \(MESSAGE-ID\)\] BODY.PEEK\[\]\)$' "$T/server.log")" 1 \
    "left out, new UIDVALIDITY: its body FETCH asks for 103 and the new 106"
tap_is "$(owed omituv):$(grep -c '^matching ' "$T/state-omituv/omituv.state")" ":0" \
    "left out, new UIDVALIDITY: nothing owed, the matching mark ends"
tap_is "$(grep -c '^3 [^ ]* UID STORE 106 ' "$T/server.log")" 1 \
    "left out, new UIDVALIDITY: the new mail is deleted (keep = no)"
scripted_exact omituv "left out, new UIDVALIDITY: after the third run"
scripted_once omituv
tap_is "$rc" 1 "left out, new UIDVALIDITY: then nothing new"
tap_unlike "$err" 'resuming the matching|left out' \
    "left out, new UIDVALIDITY: no matching resumed, nothing left out owed"

# The same with a message of 1.2 MB (imap_server.py omitbig): without a
# size from the sizes pass, its body FETCH answer's RFC822.SIZE is what a
# lie is judged by, not a size of 0 (which would take any message over
# 1 MiB for a lie).
server omitbig
scripted_conf omitbig imap 3s
scripted_once omitbig
tap_is "$rc" 0 "big, left out: the first run delivers the others"
scripted_once omitbig
tap_is "$rc" 0 "big, left out: the next run delivers it, without its size"
tap_unlike "$err" 'more than twice that' "big, left out: not taken for a lie"
scripted_exact omitbig "big, left out: after the next run"

# Left out of every sizes pass, and its BODY[] literal, when asked for
# without its size, announced as 200 MB (within max_message_size) for a
# message whose RFC822.SIZE in the same answer says some 700 bytes, and
# dripped (imap_server.py omitdrip): a lie, judged by that RFC822.SIZE,
# that ends the run at once rather than being read at the server's pace.
server omitdrip --lit 200000000
scripted_conf omitdrip imap 3s
scripted_once omitdrip
tap_is "$rc" 0 "dripped, left out: the first run delivers the others"
scripted_once omitdrip
tap_is "$rc" 5 "dripped, left out: the next run ends at the lie (exit 5)"
tap_like "$err" 'uid=3: the server announced a message of 200000000 bytes while its RFC822.SIZE said [0-9]+ \(more than twice' \
    "dripped, left out: the lie is judged by the answer's RFC822.SIZE"

# The same with no RFC822.SIZE in the body FETCH answer either
# (omitdripnosize): no size known at all, the 200 MB literal (within the
# default max_message_size) was read at the server's pace, the run held
# until the 60 s kill (review r16, finding 07). A literal without a size
# to judge it by is bounded (by 32 MiB, or max_message_size if smaller):
# a lie at once, and the message a suspect (asked for alone next time).
server omitdripnosize --lit 200000000
scripted_conf nosize imap 3s
scripted_once nosize
tap_is "$rc" 0 "dripped, no size at all: the first run delivers the others"
scripted_once nosize
tap_is "$rc" 5 "dripped, no size at all: the next run ends at the lie (exit 5)"
tap_like "$err" 'uid=3: the server announced a message of 200000000 bytes while no size was known for it' \
    "dripped, no size at all: the error says no size was known"
tap_like "$(grep '^suspect ' "$T/state-nosize/nosize.state")" '^suspect INBOX [0-9]+%203$' \
    "dripped, no size at all: it is a suspect"

# first_fetch = unseen, keep = no, messages 4 and 5 read, and the first
# sizes pass leaves out message 5 (the newest: no number gap shows it).
# The first fetch covers what the folder held when it began (UIDNEXT),
# so message 5 is not taken for new mail later: never fetched, never
# deleted.
server omitsizelast --seen 4,5
scripted_conf tail imap 3s "first_fetch = unseen" "keep = no"
scripted_once tail
tap_is "$rc" 0 "read newest left out: the first run delivers the unread"
scripted_once tail
tap_is "$rc" 1 "read newest left out: the next run has nothing new"
tap_unlike "$(grep -E 'UID (STORE|EXPUNGE|FETCH [0-9:,]* \(UID FLAGS)' \
    "$T/server.log")" 'UID [A-Z]* ([0-9:,]*[,:])?5\b' \
    "read newest left out: message 5 never fetched nor deleted"
scripted_exact tail "read newest left out: only the unread, once"

# Killed once the batch is journaled (imap-journaled), then message 3 left
# out of the sizes pass of the run that recovers the journal: recovered,
# it was delivered, and it must not be owed again (a duplicate: the long
# chaos run's "a0-639077057-8-twin delivered 2 times").
server omitsize --bad 0
scripted_conf recov imap 3s
journal_killed recov "recovered, left out"
server omitsize
scripted_conf recov imap 3s
scripted_once recov
tap_like "$err" 'recovered an interrupted run: 5 message\(s\) delivered' \
    "recovered, left out: the next run recovers the five"
tap_is "$(owed recov)" "" "recovered, left out: the recovered message is not owed"
scripted_once recov
tap_is "$rc" 1 "recovered, left out: then nothing new"
scripted_exact recov "recovered, left out: every message once"

# Message 3 left out (owed), then killed once the run that asks for it
# again has journaled it: the recovery delivered it, and it is owed no
# more.
server omitsize
scripted_conf owedrec imap 3s
scripted_once owedrec
tap_like "$(owed owedrec)" ' 3$' "owed, recovered: the state owes it"
journal_killed owedrec "owed, recovered"
scripted_once owedrec
tap_like "$err" 'recovered an interrupted run: 1 message\(s\) delivered' \
    "owed, recovered: the next run recovers it"
tap_is "$(owed owedrec)" "" "owed, recovered: no longer owed"
scripted_once owedrec
tap_is "$rc" 1 "owed, recovered: then nothing new"
scripted_exact owedrec "owed, recovered: every message once"

# Killed once messages 1 and 2 are journaled, then a Gmail-like server
# lies about message 3's Message-ID in the sizes pass of the run that
# recovers them (imap_server.py gmsizesdrip): what lies below the liar is
# owed, but not what the recovery delivered.
server gmsizesdrip --msgs 2 --bad 0
scripted_conf liarec imap 3s
journal_killed liarec "recovered, then a lie"
server gmsizesdrip --msgs 3
scripted_conf liarec imap 3s
scripted_once liarec
tap_like "$err" 'recovered an interrupted run: 2 message\(s\) delivered' \
    "recovered, then a lie: the next run recovers the two"
tap_is "$rc" 5 "recovered, then a lie: that run ends at the lie"
tap_is "$(owed liarec)" "" "recovered, then a lie: the recovered messages are not owed"
scripted_once liarec
tap_like "$rc" '^(0|1)$' "recovered, then a lie: the next run succeeds"
scripted_exact liarec "recovered, then a lie: every message once"

# Left out of every sizes pass (omitbig, keep = yes), fetched without its
# size, and the run that fetches it killed once it is journaled (or
# synced): the next run's recovery delivers it, and its sizes pass leaves
# it out again while UID SEARCH finds it. It was skipped then but still
# saved as owed, and the run after fetched it again: a second copy
# (review r16, finding 10).
for fp in imap-journaled:1 imap-synced:1; do
	n=unsz${fp%%-*}${fp#*-}; n=${n%%:*}
	server omitbig
	scripted_conf "$n" imap 3s "keep = yes"
	scripted_once "$n"
	tap_is "$(owed "$n")" "missing INBOX 3" "unsized, killed at $fp: UID 3 owed"
	point_killed "$n" "$fp" "unsized, killed at $fp"
	scripted_once "$n"
	tap_like "$err" 'recovered an interrupted run: 1 message\(s\) delivered' \
	    "unsized, killed at $fp: the next run recovers it"
	tap_is "$(owed "$n")" "" "unsized, killed at $fp: then no longer owed"
	scripted_once "$n"
	tap_is "$rc:$(grep -c '^4 .*UID FETCH 3 .*BODY.PEEK\[\]' "$T/server.log")" "1:0" \
	    "unsized, killed at $fp: the run after does not fetch it again"
	scripted_exact "$n" "unsized, killed at $fp: every message once"
done

# The same across a UIDVALIDITY change (omituv, first_fetch = unseen,
# keep = no), the run that fetches UID 103 without its size killed once
# it is journaled, synced, or its file renamed into new/ (review r16,
# finding 11).
for fp in imap-journaled:1 maildir-renamed:1; do
	n=unuv${fp%%-*}${fp#*-}; n=${n%%:*}
	server omituv --msgs 6
	scripted_conf "$n" imap 3s "first_fetch = unseen" "keep = yes"
	scripted_once "$n"
	scripted_conf "$n" imap 3s "first_fetch = unseen" "keep = no"
	scripted_once "$n"
	tap_like "$(owed "$n")" ' 103$' "unsized, new UIDVALIDITY, $fp: UID 103 owed"
	point_killed "$n" "$fp" "unsized, new UIDVALIDITY"
	scripted_once "$n"
	tap_like "$err" 'recovered an interrupted run' \
	    "unsized, new UIDVALIDITY, $fp: the next run recovers it"
	tap_is "$(owed "$n")" "" "unsized, new UIDVALIDITY, $fp: then no longer owed"
	scripted_once "$n"
	tap_is "$rc:$(grep -c '^5 .*UID FETCH 103 .*BODY.PEEK\[\]' "$T/server.log")" "1:0" \
	    "unsized, new UIDVALIDITY, $fp: the run after does not fetch it again"
	scripted_exact "$n" "unsized, new UIDVALIDITY, $fp: every message once"
done

tap_done
