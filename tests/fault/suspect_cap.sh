#!/bin/bash
# suspect_cap.sh: the suspect pass (messages a server once sent far
# larger than announced, asked for again alone, after the others) first
# asks their sizes in one UID FETCH. With many suspects, as sparse UIDs
# (one range each), that command line grew without bound; it is now
# bounded as the other UID sets are (400 ranges): the suspects past the
# line stay suspects and a later run asks for them. Here 450 of them
# (UIDs 1, 3, ..., 899), from a state an earlier run left when the
# folder held 900 messages; it holds 3 now (UIDs 1 to 3): UIDs 1 and 3
# are delivered, the others are no longer listed, so forgotten. With all
# 450 still there and the first 400 answered BODY[] NIL, the next run
# goes on with the 50 past the line (not the same 400 again), and each
# run warns once. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"

scripted_init suspect_cap
IMAP="$top_srcdir/tests/fault/imap_server.py"
N=900	# the folder's last UID seen; UIDs 1 to 3 still exist

# suspect_state NAME: the state of an earlier run: every UID up to N
# seen, the odd ones suspects (UIDVALIDITY 1000, the scripted server's).
suspect_state() {
	mkdir -p "$T/state-$1" && chmod 700 "$T/state-$1"
	python3 - "$T/state-$1/$1.state" "$N" <<'PY'
import hashlib, sys
n = int(sys.argv[2])
text = "1000 " + ",".join(str(u) for u in range(1, n, 2))
text = text.replace(" ", "%20")
body = ["mailfetchd-state 1", "folder 1000 %d INBOX" % n]
body += ["suspect INBOX " + text[i:i + 2000] for i in range(0, len(text), 2000)]
out = "".join(l + "\n" for l in body)
out += "end %d %s\n" % (len(body) - 1, hashlib.sha256(out.encode()).hexdigest())
open(sys.argv[1], "w").write(out)
PY
}
suspect_state sc

# ranges LOG CONN: the number of comma-separated parts of each UID set
# that connection CONN's UID FETCH (UID RFC822.SIZE) asked, in order.
ranges() {
	grep -E "^$2 \S+ UID FETCH \S+ \(UID RFC822.SIZE\)$" "$1" |
	    awk '{ print split($5, a, ",") }' | tr '\n' ' ' | sed 's/ $//'
}
# suspects [NAME]: the suspect record's UIDs (one line, "" when none).
suspects() {
	python3 - "$T/state-${1:-sc}/${1:-sc}.state" <<'PY'
import sys, urllib.parse
t = "".join(l.split(" ", 2)[2].rstrip("\n") for l in open(sys.argv[1])
            if l.startswith("suspect INBOX "))
print(urllib.parse.unquote(t))
PY
}

scripted_start "$T/sc.log" "$IMAP" good --msgs 3 --manifest "$T/manifest"
scripted_conf sc imap 10s
scripted_once sc
tap_is "$rc" 0 "run 1: the suspects asked for again are delivered"
tap_is "$(ranges "$T/sc.log" 1)" "1 400" \
    "run 1: after the new mail's (one range), the suspects' sizes FETCH names 400 ranges, not 450"
tap_is "$(grep -c '^1 .*UID FETCH [13] .*BODY.PEEK\[\]' "$T/sc.log"):$(scripted_count sc)" \
    "2:2" "run 1: the two still listed are asked for, each alone, and delivered"
tap_is "$(suspects)" "1000 801,803,805,807,809,811,813,815,817,819,821,823,825,827,829,831,833,835,837,839,841,843,845,847,849,851,853,855,857,859,861,863,865,867,869,871,873,875,877,879,881,883,885,887,889,891,893,895,897,899" \
    "run 1: the 50 past the line stay suspects"
scripted_once sc
tap_is "$rc" 1 "run 2: the rest asked for: nothing new"
tap_is "$(ranges "$T/sc.log" 2)" "1 50" "run 2: its sizes FETCH names the 50 left"
tap_is "$(suspects)" "" "run 2: no suspect left"
tap_is "$(scripted_count sc):$(grep -c '^2 .*BODY.PEEK\[\]' "$T/sc.log")" "2:0" \
    "run 2: nothing more delivered (none of the 50 listed)"
scripted_once sc
tap_is "$rc:$(grep -c '^3 .*UID FETCH .*BODY.PEEK\[\]' "$T/sc.log")" "1:0" \
    "run 3: nothing new, nothing fetched"

# The same 450 suspects, all still on the server, which answers BODY[]
# NIL (no lie: asked for again next time) for every UID below 801
# (imap_server.py nilbelow). Each run asked the same first 400 again and
# never the 50 past the line, with 400 warnings (review r16, finding 09):
# a run now starts after the last suspect the one before asked, so the
# 50 are asked for, and delivered, by the next run; one warning a run.
# bodies LOG CONN: the UIDs connection CONN asked for in a body FETCH.
bodies() {
	sed -nE "s/^$2 \S+ UID FETCH (\S+) .*BODY.PEEK\[\].*/\1/p" "$1" |
	    tr '\n' ' '
}
# high LOG CONN: how many of them are above 800.
high() {
	bodies "$1" "$2" | tr ' ' '\n' | awk '$1 > 800' | grep -c .
}
suspect_state nb
scripted_start "$T/nb.log" "$IMAP" nilbelow --nilbelow 801 --msgs "$N" \
    --manifest "$T/manifest-nb"
scripted_conf nb imap 10s
scripted_once nb
tap_is "$(bodies "$T/nb.log" 1 | wc -w):$(high "$T/nb.log" 1):$(scripted_count nb)" \
    "400:0:0" "NIL: run 1 asks for the first 400 (UIDs 1 to 799), none returned"
tap_is "$(echo "$err" | grep -c 'warning:.*not returned')" 1 \
    "NIL: run 1 warns once, not once per suspect"
tap_like "$err" 'warning:.*400 message\(s\) the server once sent far larger than announced were not returned' \
    "NIL: the warning counts them"
scripted_once nb
tap_is "$(high "$T/nb.log" 2):$(scripted_count nb)" "50:50" \
    "NIL: run 2 asks for the 50 past the line, and delivers them"
tap_is "$(suspects nb | tr ',' '\n' | wc -l)" 400 \
    "NIL: the 400 not returned stay suspects"
scripted_once nb
tap_is "$(bodies "$T/nb.log" 3 | wc -w):$(high "$T/nb.log" 3)" "400:0" \
    "NIL: run 3 asks for the 400 again"

tap_done
