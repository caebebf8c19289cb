#!/bin/bash
# modseq_back.sh: local_flags = mirror on a CONDSTORE server whose
# HIGHESTMODSEQ goes backwards (a restored or broken server). The first
# run fetches every delivered message's flags and saves the HIGHESTMODSEQ;
# the second asks only for the changes since (CHANGEDSINCE 100); the
# third, whose SELECT says 50, logs the step back, fetches every flag
# again (no CHANGEDSINCE) and saves 50. A HIGHESTMODSEQ past 63 bits, then
# one that is no number, cost neither the session nor the mail: each is
# logged, every flag is fetched, and no mod-sequence is kept until a good
# one comes. Unasked VANISHED lines (the whole UID space; 5,000 UIDs)
# before the changes are passed over: no local file goes. The Maildir follows the server's \Seen each time. TAP
# output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init modseq

scripted_start "$T/server.log" "$top_srcdir/tests/fault/imap_server.py" \
    modseqback --bad 0 --manifest "$T/manifest" \
    --modseqs 100,200,50,99999999999999999999,abc,60
scripted_conf mb imap 5s 'local_flags = mirror'
# seen N: the files of message N (its Message-ID) that carry S.
seen() {
	grep -l "scripted-$1@" "$T/Maildir-mb/cur/"*:2,*S* 2>/dev/null | wc -l
}
modseq() { sed -n 's/^modseq INBOX [0-9]* \([0-9]*\)$/\1/p' "$T/state-mb/mb.state"; }

scripted_once mb
tap_is "$rc" 0 "the first run delivers"
tap_is "$(scripted_count mb)" 5 "five messages"
tap_like "$(grep -c 'ENABLE CONDSTORE' "$T/server.log")" '^1$' \
    "CONDSTORE is enabled (mirror)"
tap_like "$(grep 'UID FETCH 1:5 (UID FLAGS)' "$T/server.log")" '^1 ' \
    "the first sync fetches every flag"
tap_is "$(modseq)" 100 "HIGHESTMODSEQ 100 saved"
tap_is "$(seen 1)" 0 "message 1 unread"

scripted_once mb
tap_is "$rc" 1 "the second run: nothing new"
tap_like "$(grep '^2 .*UID FETCH 1:5 (UID FLAGS)' "$T/server.log")" \
    'CHANGEDSINCE 100\)$' "the second sync asks only for the changes"
tap_is "$(seen 1)" 1 "message 1, read on the server, has S"
tap_is "$(modseq)" 200 "HIGHESTMODSEQ 200 saved"
tap_is "$(scripted_count mb)" 5 "the VANISHED lines removed nothing"

scripted_once mb
tap_is "$rc" 1 "the third run: nothing new"
tap_like "$err" 'HIGHESTMODSEQ went backwards \(50, below the 200' \
    "the step back is logged"
tap_like "$(grep '^3 .*UID FETCH 1:5 (UID FLAGS)' "$T/server.log")" \
    'FLAGS\)$' "the third sync fetches every flag (no CHANGEDSINCE)"
tap_is "$(seen 2)" 1 "message 2, read meanwhile, has S"
tap_is "$(modseq)" 50 "the server's 50 saved"

scripted_once mb
tap_is "$rc" 1 "fourth run (HIGHESTMODSEQ past 63 bits): nothing new"
tap_like "$err" 'HIGHESTMODSEQ\] is no mod-sequence' "the broken value is logged"
tap_like "$(grep '^4 .*UID FETCH 1:5 (UID FLAGS)' "$T/server.log")" \
    'FLAGS\)$' "every flag fetched"
tap_is "$(seen 3)" 1 "message 3 has S"
tap_is "$(modseq)" "" "no mod-sequence kept"

scripted_once mb
tap_is "$rc" 1 "fifth run (HIGHESTMODSEQ abc): nothing new"
tap_like "$err" 'HIGHESTMODSEQ\] is no mod-sequence' "logged"
tap_is "$(seen 4)" 1 "message 4 has S"
tap_is "$(modseq)" "" "still none kept"

scripted_once mb
tap_is "$rc" 1 "sixth run (HIGHESTMODSEQ 60): nothing new"
tap_is "$(seen 5)" 1 "message 5 has S"
tap_is "$(modseq)" 60 "60 saved"
tap_is "$(scripted_count mb)" 5 "still five files"

tap_done
