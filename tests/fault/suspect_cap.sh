#!/bin/bash
# suspect_cap.sh: the suspect pass (messages a server once sent far
# larger than announced, asked for again alone, after the others) first
# asks their sizes in one UID FETCH. With many suspects, as sparse UIDs
# (one range each), that command line grew without bound; it is now
# bounded as the other UID sets are (400 ranges): the suspects past the
# line stay suspects and a later run asks for them. Here 450 of them
# (UIDs 1, 3, ..., 899), from a state an earlier run left when the
# folder held 900 messages; it holds 3 now (UIDs 1 to 3): UIDs 1 and 3
# are delivered, the others are no longer listed, so forgotten. TAP
# output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"

scripted_init suspect_cap
IMAP="$top_srcdir/tests/fault/imap_server.py"
N=900	# the folder's last UID seen; UIDs 1 to 3 still exist

# The state of an earlier run: every UID up to N seen, the odd ones
# suspects (UIDVALIDITY 1000, the scripted server's).
mkdir -p "$T/state-sc" && chmod 700 "$T/state-sc"
python3 - "$T/state-sc/sc.state" "$N" <<'PY'
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

# ranges LOG CONN: the number of comma-separated parts of each UID set
# that connection CONN's UID FETCH (UID RFC822.SIZE) asked, in order.
ranges() {
	grep -E "^$2 \S+ UID FETCH \S+ \(UID RFC822.SIZE\)$" "$1" |
	    awk '{ print split($5, a, ",") }' | tr '\n' ' ' | sed 's/ $//'
}
# suspects: the suspect record's UIDs (one line, "" when none).
suspects() {
	python3 - "$T/state-sc/sc.state" <<'PY'
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

tap_done
