#!/bin/bash
# uidv_sizelie.sh: after a UIDVALIDITY change, a message delivered before
# whose RFC822.SIZE in the sizes pass differs from the one in its body
# answer (Exchange's sizes are inexact; found by the long chaos run, seed
# 647375042) is recognised by the body answer's Message-ID and size and
# its content, and not delivered a second time. The sizes pass alone
# missed it: it matched by the announced size only. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init uvsize

scripted_start "$T/server.log" "$top_srcdir/tests/fault/imap_server.py" \
    uvsizelie --manifest "$T/manifest"
scripted_conf uvsize imap 3s
scripted_once uvsize
tap_is "$rc" 0 "the first run delivers"
n1=$(scripted_count uvsize)
tap_is "$n1" "$(grep -c . "$T/manifest")" "every message once ($n1 files)"

scripted_once uvsize
tap_like "$err" 'UIDVALIDITY changed' "the second run sees the change"
tap_is "$rc" 1 "the second run: nothing new (exit $rc)"
sum=$(python3 "$SCRIPTED_FL" compare "$T/manifest" "$T/Maildir-uvsize" 2>&1)
tap_like "$sum" "missing=0 duplicate=0 partial=0 tmp=0" \
    "message 2, announced with another size, is not delivered again ($sum)"

scripted_once uvsize
tap_is "$rc" 1 "the next run: nothing new"
tap_is "$(scripted_count uvsize)" "$n1" "still one file per message"

tap_done
