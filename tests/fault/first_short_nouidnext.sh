#!/bin/bash
# first_short_nouidnext.sh: a first fetch (first_fetch = unseen or new)
# against a server without UIDNEXT whose listing (UID FETCH 1:* (UID
# RFC822.SIZE)) holds fewer messages than its SELECT's EXISTS says. The
# listing alone cannot bound the first fetch (the newest may be the one
# left out: review r22 05, tests/fault/first_new_nouidnext.sh), so the
# client asks UID FETCH * (UID) for the highest UID. Before, it failed the
# folder at every run for as long as the count stayed off: a server
# counting a message it never lists, a message listed without its UID,
# was never fetched at all (review r23 03). tests/fault/imap_server.py
# plan, 5 messages. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init firstshort

# serve NAME PLAN [ARGS]: imap_server.py plan, its log in $T/NAME.log.
serve()
{
	MFD_PLAN=$2 SCRIPTED_LOG=$T/$1.log scripted_server \
	    "$top_srcdir/tests/fault/imap_server.py" plan --bad 0 \
	    --manifest "$T/manifest-$1" --linger 60 "${@:3}"
}
# acted NAME: the server actions (STORE, EXPUNGE) the client sent.
acted() { grep -E 'UID (STORE|EXPUNGE)' "$T/$1.log"; }

# ---- EXISTS counts a message UID FETCH 1:* never lists -----------------
serve x6u '{"nouidnext": true, "exists": 6}'
scripted_conf x6u imap 5s 'keep = yes' 'first_fetch = unseen'
scripted_once x6u
tap_is "$rc:$(scripted_count x6u)" "0:5" \
    "EXISTS 6, 5 listed, unseen: the 5 unread fetched at the first run" "$err"
tap_like "$err" 'listed 5 of the 6 messages .*covers up to UID 5, the highest \(UID FETCH \*\)' \
    "... the log says where the bound comes from"
scripted_once x6u
tap_is "$(scripted_count x6u)" 5 "... and not again"

serve x6n '{"nouidnext": true, "exists": 6}'
scripted_conf x6n imap 5s 'keep = no' 'first_fetch = new'
scripted_once x6n
tap_is "$rc:$(scripted_count x6n)" "1:0" \
    "EXISTS 6, 5 listed, new: nothing fetched, and the run succeeds" "$err"
tap_is "$(acted x6n)" "" "... nothing deleted on the server"
tap_like "$(grep -c 'UID FETCH \* (UID)' "$T/x6n.log")" '^1$' \
    "... one UID FETCH * asked"

# ---- the newest left out of the sizes pass, named by UID FETCH * -------
# (review r22 05 through the new path: the bound is 5, so message 5, read
# before the first fetch, is never fetched nor deleted.)
for mode in unseen new; do
	serve top$mode '{"nouidnext": true, "toptells": true,
	    "omitsize": {"1": [5]}}' --seen 5
	scripted_conf top$mode imap 5s 'keep = no' "first_fetch = $mode"
	scripted_once top$mode
	want=$([ $mode = new ] && echo 1:0 || echo 0:4)
	tap_is "$rc:$(scripted_count top$mode)" "$want" \
	    "$mode, the newest left out of the listing: bounded by UID FETCH *" "$err"
	scripted_once top$mode
	tap_is "$(scripted_count top$mode)" "${want#*:}" "$mode: ... nothing more later"
	tap_unlike "$(acted top$mode)" '(STORE|EXPUNGE) ([0-9,:]*[,:])?5( |$)' \
	    "$mode: message 5, there before the first fetch, is never deleted"
done

# ---- a message listed without its UID, or without its size -------------
# Without its UID it is not listed: the others are fetched, and it is
# owed (UID SEARCH UNSEEN named it) and fetched by the next run. Without
# its size it is listed (no short listing): all 5 at once.
serve nouid '{"nouidnext": true, "sizesnouid": {"*": [3]}}'
scripted_conf nouid imap 5s 'keep = yes' 'first_fetch = unseen'
scripted_once nouid
tap_is "$rc:$(scripted_count nouid)" 0:4 \
    "message 3 listed without its UID: the 4 others fetched at the first run" "$err"
scripted_once nouid
tap_is "$(scripted_count nouid)" 5 "... message 3 at the next" "$err"
serve nosize '{"nouidnext": true, "sizesnosize": {"*": [3]}}'
scripted_conf nosize imap 5s 'keep = yes' 'first_fetch = unseen'
scripted_once nosize
tap_is "$rc:$(scripted_count nosize)" 0:5 \
    "message 3 listed without its size: the 5 fetched at the first run" "$err"
# ---- an EXPUNGE during the first listing ---------------------------------
# EXISTS, as SELECT gave it, is one more than the listing then holds.
serve exp '{"nouidnext": true, "expungesize": {"1": [2]}}'
scripted_conf exp imap 5s 'keep = yes' 'first_fetch = unseen'
scripted_once exp
tap_is "$rc:$(scripted_count exp)" 0:4 \
    "message 2 expunged during the first listing: the 4 others fetched" "$err"
# ---- mail that arrives during the first listing -------------------------
# "* 6 EXISTS" after the 5 are listed: the listing holds what the SELECT
# counted, so it bounds the first fetch; message 6 is new mail, fetched by
# the next run (had UID FETCH * bounded it, never).
serve arr '{"nouidnext": true, "arrive": [1]}'
scripted_conf arr imap 5s 'keep = yes' 'first_fetch = new'
scripted_once arr
tap_is "$rc:$(scripted_count arr)" 1:0 \
    "new, a message arrives during the first listing: nothing fetched yet" "$err"
scripted_once arr
tap_is "$(scripted_count arr)" 1 "... it is fetched, as new mail, by the next run" "$err"
# ---- mail announced after the SELECT is never inside the bound ----------
# (review r26 01) Message 6 arrives just as UID FETCH * is asked ("* 6
# EXISTS", then "* 6 FETCH (UID 6)"): the answer names a message that came
# after the SELECT, the only one, so the bound is the UID below it. Or it
# arrives as the sizes pass is asked and is listed: the listing's lines
# numbered above the SELECT's EXISTS do not bound the first fetch, and it
# is fetched at once. Before, both bounds covered UID 6: never fetched.
# subj N...: scripted_subjects of messages N...
subj() { local k; for k; do printf 'scripted %s ' "$k"; done; }
for mode in new unseen; do
	n=atop$mode
	serve $n '{"nouidnext": true, "toptells": true,
	    "omitsize": {"1": [5]}, "arrivetop": [1]}' --seen 5
	scripted_conf $n imap 5s 'keep = yes' "first_fetch = $mode"
	scripted_once $n
	want=$([ $mode = new ] && echo "1:" || echo "0:$(subj 1 2 3 4)")
	tap_is "$rc:$(scripted_subjects $n)" "$want" \
	    "$mode, 6 arrives during UID FETCH *: the first run as without it" "$err"
	tap_like "$err" 'covers up to UID 5, the highest \(UID FETCH \*\) below' \
	    "$mode: ... bound below the message that arrived since"
	scripted_once $n
	tap_is "$(scripted_subjects $n)" "${want#*:}$(subj 6)" \
	    "$mode: ... 6 fetched by the next run, 5 (read before) never" "$err"
	n=alst$mode
	serve $n '{"nouidnext": true, "arrivelist": [1]}'
	scripted_conf $n imap 5s 'keep = yes' "first_fetch = $mode"
	scripted_once $n
	want=$([ $mode = new ] && subj 6 || subj 1 2 3 4 5 6)
	tap_is "$rc:$(scripted_subjects $n)" "0:$want" \
	    "$mode, 6 arrives during the first listing: fetched at once" "$err"
	scripted_once $n
	tap_is "$rc:$(scripted_subjects $n)" "1:$want" "$mode: ... and not again" "$err"
done
# Two arrive during UID FETCH *: the answer names the newest, and nothing
# tells the UID of the last message there at the SELECT: nothing fetched,
# asked again. Before, the bound covered both, and with unseen the two
# unread messages (not in the first UID SEARCH UNSEEN) were never fetched.
serve atop2 '{"nouidnext": true, "toptells": true, "omitsize": {"1": [5]},
    "arrivetop": [1], "arrivecount": 2}' --seen 5
scripted_conf atop2 imap 5s 'keep = yes' 'first_fetch = unseen'
scripted_once atop2
tap_is "$rc:$(scripted_subjects atop2)" 5: \
    "unseen, 2 arrive during UID FETCH *: nothing fetched" "$err"
tap_like "$err" 'listed 4 of the 5 .*more mail arrived meanwhile.*asking again' \
    "... the log says why"
scripted_once atop2
tap_is "$(scripted_subjects atop2)" "$(subj 1 2 3 4 6 7)" \
    "... the next run fetches the unread, the two that arrived too" "$err"
# ---- EXPUNGEs while the first fetch's bound is found (review r28 02) ---
# Another client expunges message 1 just after the listing's lines, and
# message 2 just after UID FETCH *'s answer line (RFC 3501 allows both);
# nothing arrives. A line's number tells what it is when it comes: an
# EXPUNGE after it does not turn the last message there at the SELECT into
# "the one that arrived since". Before, message 5 (read before the first
# fetch) was fetched and deleted.
for n in xboth xtop; do
	case $n in
	xboth) serve $n '{"nouidnext": true, "expungelisted": [1],
	    "expungetop": [1]}' --seen 5 ;;
	xtop) serve $n '{"nouidnext": true, "toptells": true,
	    "omitsize": {"1": [5]}, "expungetop": [1]}' --seen 5 ;;
	esac
	scripted_conf $n imap 5s 'keep = no' 'first_fetch = new'
	scripted_once $n
	tap_is "$(scripted_count $n)" 0 \
	    "$n: EXPUNGEs meanwhile, new: nothing fetched at the first run" "$err"
	scripted_once $n
	tap_is "$(scripted_count $n)" 0 "$n: ... nor at the next" "$err"
	tap_is "$(acted $n)" "" "$n: ... nothing deleted on the server"
done
# ---- a listing numbered past every EXISTS (review r28 01) ---------------
# SELECT says 4 EXISTS, the listing has lines 1 to 5, and no EXISTS ever
# announces a fifth: line 5 is neither there at the SELECT (by the count)
# nor announced since. Nothing fetched, the run fails and asks again;
# before, message 5 (read before) was taken for new mail and deleted.
serve past '{"nouidnext": true, "exists": 4}' --seen 5
scripted_conf past imap 5s 'keep = no' 'first_fetch = new'
scripted_once past
tap_is "$rc:$(scripted_count past)" 5:0 \
    "listing numbered past EXISTS, new: nothing fetched, a protocol error" "$err"
tap_like "$err" 'numbered past the 4 it announced .*nothing fetched, asking again' \
    "... the log says why"
scripted_once past
tap_is "$(scripted_count past)" 0 "... nothing at the next run either" "$err"
tap_is "$(acted past)" "" "... nothing deleted on the server"
tap_done
