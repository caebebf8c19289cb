#!/bin/bash
# flagcount.sh: local_flags = mirror against a server whose answer to the
# flag FETCH never ends, each line a new UID below the last one delivered
# (UIDs 1, 2, 3000000000 and up: "UID FETCH 1:3000000002 (UID FLAGS)"),
# streamed at 32 KiB/s, far above the pacing floor. An honest answer
# names at most what the folder holds (the bound of UID SEARCH): past
# that the rest is notes, and the run is cut after the note windows
# (timeout 1 s), saying why; the Maildir flags are not synced. Before
# (review r24 05), each new UID up to 4,194,304 of them counted as a new
# result and held the run for hours. The next run delivers nothing twice.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"

scripted_init flagcount
IMAP="$top_srcdir/tests/fault/imap_server.py"

scripted_server "$IMAP" flagcount --manifest "$T/manifest"
scripted_conf flagcount imap 1s 'keep = yes' 'local_flags = mirror'
scripted_once flagcount
tap_like "$err" 'flag answer names more messages than the folder holds' \
    "flag answer of counting-up UIDs: said when it passes the folder's size"
tap_like "$err" 'only notes .* and its answer did not end' \
    "flag answer of counting-up UIDs: cut after the note windows"
tap_is "$(find "$T/Maildir-flagcount/cur" -type f | wc -l)" 0 \
    "flag answer of counting-up UIDs: no Maildir flag changed"
scripted_trickled flagcount "flag answer of counting-up UIDs"

tap_done
