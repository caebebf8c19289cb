#!/bin/bash
# refiled.sh: a message a mail reader deleted or refiled never comes
# back (doc/DESIGN.md), not even after a UIDVALIDITY change when the
# reader took it before the state recorded its batch. A run is killed
# just after the first file of its batch reached new/ (maildir-renamed:1);
# the reader deletes that file; the folder's UIDVALIDITY then changes
# with the same content (tests/fault/imap_server.py uidvalidity). The
# recovery finds the message nowhere, and the matching pass must still
# know its content as delivered: its digest was logged with the journal,
# before any file became visible (before, it was logged only after the
# renames, and the recovery, with no file to digest, logged none: the
# message was delivered a second time). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init refiled

scripted_start "$T/server.log" "$top_srcdir/tests/fault/imap_server.py" \
    uidvalidity --manifest "$T/manifest"
scripted_conf refiled imap 3s
MAILFETCHD_FAULT=maildir-renamed:1 scripted_once refiled
tap_like "$rc" '^(137|-9)$' "killed after the first rename: killed"
first=$(find "$T/Maildir-refiled/new" -type f)
tap_is "$(printf '%s\n' "$first" | grep -c .)" 1 \
    "killed after the first rename: one file in new/"
mid=$(grep -i -m1 '^Message-ID:' "$first" | tr -d '\r')
tap_like "$mid" 'scripted-[0-9]+@' "the reader's message has a Message-ID ($mid)"
rm -f "$first"

scripted_once refiled
tap_is "$rc" 0 "UIDVALIDITY changed: the run after the kill succeeds"
tap_like "$err" 'not found in the Maildir after an interrupted run' \
    "UIDVALIDITY changed: the recovery finds the deleted message nowhere"
tap_like "$err" 'UIDVALIDITY changed' "UIDVALIDITY changed: logged"
back=$(grep -rlsiF "$mid" "$T/Maildir-refiled/new" "$T/Maildir-refiled/cur")
tap_is "$back" "" "the message the reader deleted is not delivered again"
sum=$(python3 "$SCRIPTED_FL" compare "$T/manifest" "$T/Maildir-refiled" 2>&1)
tap_like "$sum" "missing=1 duplicate=0 partial=0 tmp=0" \
    "every other message exactly once ($sum)"

scripted_once refiled
tap_is "$rc" 1 "the next run: nothing new"
back=$(grep -rlsiF "$mid" "$T/Maildir-refiled/new" "$T/Maildir-refiled/cur")
tap_is "$back" "" "the next run: the deleted message still not back"

tap_done
