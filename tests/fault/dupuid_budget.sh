#!/bin/bash
# dupuid_budget.sh: a server that sends a second, other message under a
# UID already delivered in the batch, announced larger than what the
# daily budget leaves, must not get the first one delivered twice. The
# budget stops the session at that literal without reading it and makes
# its UID a suspect, asked for alone next time (imap_body_budget); asked
# again, the server answers the message already delivered under it.
# Before, the suspect pass delivered it a second time (the chaos run's
# seed 661095016: a1-661095016-96 twice, dup-uid then the budget cut on
# the second copy). Now the suspect pass compares what it receives with
# the msgids log (Message-ID, size, content digest): the same content is
# recognised, not delivered again; other content would be delivered.
# tests/fault/imap_server.py dupbig: message 2 (about 700 bytes), then
# other bytes over 20,000 long under its UID; daily_limit = 10000. Then
# bigdup (the other bytes first): message 2 still arrives, once.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init dupuid_budget

scripted_start "$T/server.log" "$top_srcdir/tests/fault/imap_server.py" \
    dupbig --bad 1 --manifest "$T/manifest"
scripted_conf d imap 3s 'daily_limit = 10000'
scripted_once d
tap_is "$rc" 0 "first run: exit status 0 (new mail)"
tap_like "$err" 'uid=2: daily budget reached inside a batch' \
    "first run: the second message under UID 2 stops at the budget"
tap_is "$(scripted_count d)" 2 "first run: messages 1 and 2 delivered"
scripted_once d
tap_is "$rc" 0 "second run: exit status 0 (new mail)"
tap_like "$(grep -E '^2 [^ ]+ UID FETCH 2 \(UID FLAGS' "$T/server.log")" \
    'UID FETCH 2 ' "second run: UID 2 asked for alone again" "$err"
scripted_exact d "second run"
tap_unlike "$(cat "$T/state-d/d.state")" 'suspect INBOX' \
    "second run: UID 2 is no suspect any more"
scripted_once d
tap_is "$rc" 1 "third run: nothing new" "$err"
scripted_exact d "third run"

# The other message first (bigdup): the budget stops at it before UID 2
# was delivered; asked for alone, the server's message 2 is delivered
# (content never delivered: no loss).
scripted_start "$T/server2.log" "$top_srcdir/tests/fault/imap_server.py" \
    bigdup --bad 1 --manifest "$T/manifest"
scripted_conf o imap 3s 'daily_limit = 10000'
scripted_once o
tap_like "$err" 'uid=2: daily budget reached inside a batch' \
    "other first: the other message under UID 2 stops at the budget"
tap_is "$(scripted_count o)" 1 "other first: message 1 delivered"
scripted_once o
tap_is "$rc" 0 "other first, second run: exit status 0 (new mail)" "$err"
scripted_exact o "other first, second run"
tap_done
