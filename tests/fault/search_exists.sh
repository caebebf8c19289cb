#!/bin/bash
# search_exists.sh: UID SEARCH UNSEEN (first_fetch = unseen) answered by
# "* SEARCH k", k counting up, never completed, from a server whose SELECT
# says "* 4000000000 EXISTS" (5 messages; UIDNEXT 6). Past what the folder
# can hold by its UIDNEXT, the new UIDs are notes, and the run is cut after
# the note windows (exit 4, saying so); the next run delivers every
# message once. Before, the "more new UIDs than the folder holds"
# allowance was the server's EXISTS: the run was held as long as the server
# streamed (here until it closed, "the server closed the connection in
# state SEARCH"; at 2 KiB/s, months) (review r18, finding 08).
# tests/fault/imap_server.py mode plan, "searchcount" at 20 KiB/s for at
# most 40 s, "exists". TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init searchexists

MFD_PLAN='{"searchcount": [1], "exists": 4000000000, "rate": 20480, "limit": 40}' \
    scripted_server "$top_srcdir/tests/fault/imap_server.py" plan --bad 0 \
    --manifest "$T/manifest"
scripted_conf s imap 1s 'first_fetch = unseen'
scripted_once s
tap_is "$rc:$(scripted_count s)" "4:0" \
    "UID SEARCH streams new UIDs past UIDNEXT, EXISTS 4000000000: exit 4, nothing delivered" "$err"
tap_like "$err" 'only notes .* and its answer did not end' \
    "... cut after the note windows, saying so"
tap_unlike "$err" 'closed the connection' \
    "... not held until the server gave up"
scripted_once s
scripted_exact s "the next run"
tap_done
