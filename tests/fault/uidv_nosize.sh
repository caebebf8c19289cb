#!/bin/bash
# uidv_nosize.sh: after a UIDVALIDITY change a message delivered before is
# matched by its Message-ID and size, then its content decides. The size
# may be announced differently at delivery and after the change: the body
# answer without RFC822.SIZE at delivery, or after it, or an inexact
# size in the sizes pass (Exchange). The same content must still be
# recognised, each message delivered once (review r18, finding 06: the
# msgids log was keyed by the announced size alone, and message 2 came
# twice). tests/fault/imap_server.py mode plan: "nosize" on the body
# answer of message 2, "renum" at the second connection (UIDs + 100, a
# new UIDVALIDITY), "sizelie" in the sizes pass. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init uidvnosize

k=0
for plan in '{"nosize": {"1": [2]}, "renum": [2]}' \
    '{"renum": [2], "nosize": {"2": [2]}}' \
    '{"nosize": {"1": [2]}, "renum": [2], "sizelie": {"2": {"2": 0}}}'; do
	k=$((k + 1))
	MFD_PLAN=$plan scripted_server "$top_srcdir/tests/fault/imap_server.py" \
	    plan --bad 0 --manifest "$T/manifest" --linger 60
	scripted_conf u$k imap 5s
	scripted_once u$k
	tap_is "$rc:$(scripted_count u$k)" "0:5" "$plan: run 1 delivers the 5 messages"
	scripted_once u$k
	tap_like "$err" 'UIDVALIDITY changed' "$plan: run 2 sees the UIDVALIDITY change"
	scripted_once u$k
	scripted_exact u$k "$plan: after the change"
done
tap_done
