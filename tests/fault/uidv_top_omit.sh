#!/bin/bash
# uidv_top_omit.sh: after a UIDVALIDITY change, every message that was
# there at the change is matched by content against what was delivered
# before, until the matching pass has covered them all. When the
# change's sizes answer leaves out the newest message(s), the pass must
# not end: before, its mark went, and the next run took the newest
# message for new mail: delivered a second time (keep = yes), or, with
# first_fetch = unseen and keep = no, a read message the first fetch had
# left was delivered and deleted on the server (review r18, findings 11
# and 11b, found by its fuzzer). tests/fault/imap_server.py mode plan:
# "renum" at connection 2 (UIDs + 100), "omitsize" of message 5 (the
# newest) in that connection's sizes answer. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init uidvtop

export MFD_PLAN='{"renum": [2], "omitsize": {"2": [5]}}'
scripted_server "$top_srcdir/tests/fault/imap_server.py" plan --bad 0 \
    --manifest "$T/manifest" --linger 60
scripted_conf k imap 5s
for run in 1 2 3; do
	scripted_once k
done
tap_like "$(cat "$T/state-k/k.state")" 'folder 1001 105 INBOX' \
    "keep = yes: the third run reaches message 5's new UID" \
    "$(cat "$T/state-k/k.state")"
scripted_exact k "keep = yes, the newest left out of the change's sizes answer"

# first_fetch = unseen, keep = no, message 5 read: the first fetch leaves
# it; after the change it is left on the server (what was there at the
# change gets no server action unless delivered before).
scripted_server "$top_srcdir/tests/fault/imap_server.py" plan --bad 0 \
    --manifest "$T/manifest2" --linger 60 --seen 5
scripted_conf u imap 5s 'keep = no' 'first_fetch = unseen'
for run in 1 2 3 4; do
	scripted_once u
done
tap_unlike "$(grep -E 'UID (STORE|EXPUNGE|MOVE)' "$T/server.log")" \
    '(STORE|EXPUNGE|MOVE) ([0-9,:]*,)?105' \
    "unseen, keep = no: the read message 5 is never deleted on the server" \
    "$(grep -E 'UID (STORE|EXPUNGE)' "$T/server.log")"
tap_done
