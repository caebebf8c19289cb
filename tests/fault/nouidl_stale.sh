#!/bin/bash
# nouidl_stale.sh: a POP3 server without UIDL (keep = no), a message whose
# RETR answer goes on far past LIST's size (a liar), remembered by its
# message number and size. A number names a message only while nobody
# changes the maildrop; a record that became stale must never make
# mailfetchd pass over another message for good (review r16, findings 01
# and 02). TAP output.
#  A: QUIT's +OK is lost after the server committed the DELEs: the number
#     recorded is stale (the liar moved down); a new message of the
#     liar's size arrives at the recorded number.
#  B: no fault: the liar (message 1) is deleted by another client and a
#     new message of its size takes number 1.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"

scripted_init nouidl_stale
P3="$top_srcdir/tests/integration/pop3_server.py"

# times NAME K..: how often each message K is in $T/Maildir-NAME, by
# content: "K=N ..."
times() {
	python3 -c '
import hashlib, os, sys
sys.path.insert(0, sys.argv[1])
from pop3_server import message
top, ks = sys.argv[2], [int(k) for k in sys.argv[3:]]
want = {hashlib.sha256(message(k).replace(b"\r\n", b"\n")).digest(): k
        for k in ks}
seen = dict.fromkeys(ks, 0)
for sub in ("new", "cur"):
    d = os.path.join(top, sub)
    for f in os.listdir(d) if os.path.isdir(d) else ():
        k = want.get(hashlib.sha256(open(os.path.join(d, f), "rb")
                                    .read()).digest())
        if k is not None:
            seen[k] += 1
print(" ".join("%d=%d" % (k, seen[k]) for k in ks))
' "$top_srcdir/tests/integration" "$T/Maildir-$1" "${@:2}"
}

# A: messages 1, 2, 3 (one size); 2 lies. Connection 2 commits QUIT
# (DELE 1, 3) but the +OK is lost; from connection 3 on, messages 7 and 8
# (the liar's size) are new: LIST 1 = the liar, 2 = 7, 3 = 8, while the
# state still says the liar is message 2.
scripted_start "$T/a.log" "$P3" nouidlflood --msgs 3 --liar 2 --liars 99 \
    --quitdrop 2 --arrive 3:7,8
scripted_conf a pop3 10s 'keep = no'
scripted_once a
tap_is "$rc" 5 "A run 1: the lie ends the session (exit status 5)"
scripted_once a
tap_is "$rc:$(grep -c '^2 DELE ' "$T/a.log"):$(grep -c '^2 QUIT' "$T/a.log")" \
    "4:2:1" "A run 2: messages 1 and 3 DELEd, QUIT unanswered (exit status 4)"
tap_like "$err" "before QUIT was answered \(the server may or may not have made the deletions" \
    "A run 2: the error says the deletions may have been made"
for i in 3 4 5 6; do
	scripted_once a
done
tap_like "$(times a 1 2 3 7 8)" '^1=1 2=0 3=1 7=[12] 8=[12]$' \
    "A: every message but the liar delivered (a duplicate at most), none passed over for good"
scripted_once a
tap_is "$rc:$(grep -c '^7 \(RETR\|DELE\) [^1]' "$T/a.log")" "5:0" \
    "A run 7: only the liar (now message 1) is asked for, alone; nothing else is left"

# B: messages 1, 2; 1 lies. From connection 3 on the liar is gone
# (deleted by another client) and message 7, of its size, is new: it
# takes number 1.
scripted_start "$T/b.log" "$P3" nouidlflood --msgs 2 --liar 1 --liars 99 \
    --gone 3:1 --arrive 3:7
scripted_conf b pop3 10s 'keep = no'
scripted_once b
tap_is "$rc" 5 "B run 1: the lie ends the session (exit status 5)"
scripted_once b
tap_is "$rc:$(times b 2)" "0:2=1" "B run 2: the liar passed over, message 2 delivered"
tap_like "$err" "message 1 \([0-9]+ bytes\) is passed over this time" \
    "B run 2: a warning names the liar"
scripted_once b
tap_is "$rc:$(times b 7)" "0:7=1" \
    "B run 3: the new message at the liar's number and size is delivered"
tap_is "$(grep -c '^3 DELE 1$' "$T/b.log")" 1 "B run 3: and deleted"
scripted_once b
tap_is "$rc:$(times b 1 2 7)" "1:1=0 2=1 7=1" "B run 4: nothing new, nothing again"

# C: mailfetchd killed (-9) at each crash point of the batch that
# delivers the message found at the record's number (asked for first,
# alone), in A's run 3 and B's run 3: nothing lost, nothing but the liar
# left on the server (A; in B it is gone too). Duplicates stay bounded:
# without UIDLs a session killed before QUIT delivers its messages again
# (no journal can name them), so in A message 7 may come once more than
# unkilled: from the killed run, from run 4's check (its DELE rolled
# back by the liar's cut after it) and from run 5.
for pt in pop3-synced:1 pop3-saved:1 maildir-renamed:1; do
	for sc in A B; do
		n=c$sc$(echo "$pt" | tr -dc 'a-z0-9')
		if [ $sc = A ]; then
			scripted_start "$T/$n.log" "$P3" nouidlflood --msgs 3 \
			    --liar 2 --liars 99 --quitdrop 2 --arrive 3:7,8
			want='^1=1 2=0 3=1 7=[123] 8=[12]$'; ks="1 2 3 7 8"
			left="RETR 1 "
		else
			scripted_start "$T/$n.log" "$P3" nouidlflood --msgs 2 \
			    --liar 1 --liars 99 --gone 3:1 --arrive 3:7
			want='^1=0 2=1 7=[12]$'; ks="1 2 7"
			left=""
		fi
		scripted_conf "$n" pop3 10s 'keep = no'
		scripted_once "$n"
		scripted_once "$n"
		MAILFETCHD_FAULT=$pt scripted_once "$n"
		tap_is "$rc" 137 "$sc killed at $pt in run 3"
		for i in 4 5 6 7; do
			scripted_once "$n"
		done
		tap_like "$(times "$n" $ks)" "$want" \
		    "$sc killed at $pt: every message but the liar delivered, bounded duplicates"
		tap_is "$(grep '^[67] \(RETR\|DELE\) ' "$T/$n.log" | cut -d' ' -f2- | sort -u | tr '\n' ' ')" \
		    "$left" "$sc killed at $pt: runs 6 and 7 ask for the liar alone at most, nothing else left"
	done
done

tap_done
