#!/bin/bash
# nouidl_lie.sh: a POP3 server without UIDL (keep = no) and one message
# whose RETR answer goes on far past the size LIST gave. The first batch
# of 250 is delivered and DELEd, then the lie ends the session before
# QUIT: the DELEs are rolled back. Before, nothing remembered the liar,
# so every run delivered the same 250 again and cut the session at the
# same message (review r9, finding 13: unbounded duplicates, and the
# messages after the first batch never delivered). Now the liar is
# remembered by its number and size and passed over: the next run
# delivers everything else (the cut session's 250 once more, at most)
# and deletes it, and the runs after deliver nothing again. A number is
# trusted for one session only (review r16, 01 and 02: it may have
# become another message's, tests/fault/nouidl_stale.sh): the run after
# asks for the liar first, alone, before any DELE, and its lie rolls
# nothing back; the next passes it over again. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"

scripted_init nouidl_lie
P3="$top_srcdir/tests/integration/pop3_server.py"
N=260	# message 260, the last, lies; the batches hold 250

# tally: how often each of messages 1..N-1 is in the Maildir, by
# content: "files=F once=A twice=B more=C missing=D liar=E".
tally() {
	python3 -c '
import hashlib, os, sys
sys.path.insert(0, sys.argv[1])
from pop3_server import message
n, top = int(sys.argv[2]), sys.argv[3]
want = {}
for k in range(1, n + 1):
    want[hashlib.sha256(message(k).replace(b"\r\n", b"\n")).digest()] = k
seen, files = {}, 0
for sub in ("new", "cur"):
    d = os.path.join(top, sub)
    for f in os.listdir(d) if os.path.isdir(d) else ():
        files += 1
        k = want.get(hashlib.sha256(open(os.path.join(d, f), "rb")
                                    .read()).digest(), 0)
        seen[k] = seen.get(k, 0) + 1
c = [seen.get(k, 0) for k in range(1, n)]
print("files=%d once=%d twice=%d more=%d missing=%d liar=%d" % (files,
      c.count(1), c.count(2), sum(x > 2 for x in c), c.count(0),
      seen.get(n, 0)))
' "$top_srcdir/tests/integration" "$N" "$T/Maildir-nl"
}

scripted_start "$T/nl.log" "$P3" nouidlflood --msgs "$N" --liar "$N" \
    --liars 99
scripted_conf nl pop3 10s 'keep = no'

scripted_once nl
tap_is "$rc" 5 "run 1: the lie ends the session (exit status 5)"
tap_like "$err" "uid=$N: the server sent more than [0-9]+ bytes of this message.*LIST said [0-9]+.*skipped: without UIDLs it is known by its number and size alone: passed over by the next session" \
    "run 1: the error names the message and says it is passed over"
tap_is "$(grep -c '^1 DELE ' "$T/nl.log")" 250 \
    "run 1: the first batch was DELEd before the lie (rolled back)"

scripted_once nl
tap_is "$rc" 0 "run 2: the liar passed over, the run succeeds"
tap_is "$(grep -c '^2 RETR ' "$T/nl.log"):$(grep -c "^2 RETR $N\$" "$T/nl.log")" \
    "$((N - 1)):0" "run 2: every other message fetched, the liar not asked for"
tap_is "$(grep -c '^2 DELE ' "$T/nl.log"):$(grep -c "^2 DELE $N\$" "$T/nl.log"):$(grep -c '^2 QUIT' "$T/nl.log")" \
    "$((N - 1)):0:1" "run 2: every other message deleted (QUIT), the liar not"
after2=$(tally)
tap_is "$after2" "files=509 once=9 twice=250 more=0 missing=0 liar=0" \
    "run 2: every other message delivered; the cut session's 250 once more at most"

scripted_once nl
tap_is "$rc:$(grep '^3 \(RETR\|DELE\) ' "$T/nl.log" | tr '\n' ' ')" "5:3 RETR 1 " \
    "run 3: the liar, now message 1, asked for first, alone; its lie ends the session, nothing deleted"
tap_is "$(tally)" "$after2" "run 3: nothing delivered again"
scripted_once nl
tap_is "$rc:$(tally)" "1:$after2" "run 4: nothing new, nothing delivered again"
tap_is "$(grep -c '^4 \(RETR\|DELE\) ' "$T/nl.log")" 0 "run 4: the liar passed over, not asked for"
tap_like "$err" "message 1 \([0-9]+ bytes\) is passed over" \
    "run 4: a warning names the liar, now message 1"
scripted_once nl
tap_is "$rc:$(grep '^5 \(RETR\|DELE\) ' "$T/nl.log" | tr '\n' ' '):$(tally)" \
    "5:5 RETR 1 :$after2" "run 5: asked for alone again, nothing delivered again"

tap_done
