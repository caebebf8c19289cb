#!/bin/bash
# lie_after_fail.sh: in one body FETCH answer, message 1 is staged,
# message 2 does not fit in the Maildir (a small tmpfs: the stage fails,
# the Maildir rolls the batch back and the folder fails, while the
# answer goes on being read), then message 3's BODY[] literal is a size
# lie. The lie must keep nothing of that batch: before b46ff57 it
# journaled message 1's staged name, a file the rollback had removed, so
# the next run's recovery found it nowhere and left message 1 on the
# server for good, never delivered. Once there is room, every message
# arrives exactly once. The first run is to be killed once a batch is
# journaled, so that a journal would reach the next run. Needs root (mount -t tmpfs). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"

[ "$(id -u)" = 0 ] || tap_bail "needs root (mount -t tmpfs)"
scripted_init lie_after_fail
IMAP="$top_srcdir/tests/fault/imap_server.py"
MD="$T/Maildir-lf"

# 8 KiB (two pages): message 1 fits, message 2 (20 KB, less than the
# delivery's write buffer: the error shows when it is staged) does not.
mkdir -p "$MD" || tap_bail "mkdir $MD"
mount -t tmpfs -o size=8k,mode=0700 mfd-fault-lie "$MD" ||
    tap_bail "mount -t tmpfs on $MD failed"
tap_cleanup_add "umount -l '$MD' 2>/dev/null"

scripted_start "$T/lf.log" "$IMAP" fulllie --msgs 5 --manifest "$T/manifest"
scripted_conf lf imap 10s
# Killed once a batch is journaled (MAILFETCHD_FAULT): a journal written
# for this batch would outlive the run, as after a crash at that point.
err=$(MAILFETCHD_FAULT=imap-journaled timeout -s KILL 60 "$MAILFETCHD" \
    -c "$T/lf.conf" --once -v 2>&1 >/dev/null)
rc=$?
tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
    "run 1: no sanitizer report"
tap_is "$rc" 8 "run 1: the folder fails (exit status 8), nothing journaled to kill it at"
tap_like "$err" "No space left on device" \
    "run 1: message 2's stage fails for want of space"
tap_like "$err" "uid=3.*(announced|literal).*4000000000" \
    "run 1: then message 3's literal is taken for a lie"
tap_is "$(grep -c '^inflight ' "$T/state-lf/lf.state" 2>/dev/null)" 0 \
    "run 1: nothing of the failed batch is journaled"
tap_is "$(scripted_count lf)" 0 "run 1: nothing delivered"

mount -o remount,size=16m "$MD" || tap_bail "remount $MD"
scripted_once lf
tap_is "$rc" 0 "run 2: with room, the run succeeds"
scripted_once lf
tap_is "$rc" 1 "run 3: nothing new"
scripted_exact lf "with room"
tap_is "$(grep -c '^2 .*UID FETCH .*1[,:].*BODY.PEEK\[\]' "$T/lf.log")" 1 \
    "run 2: message 1 is asked for again"

tap_done
