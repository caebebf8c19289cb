#!/bin/bash
# pop3_gone_flap.sh: keep = no, a run killed with its batch journaled
# (pop3-synced), and a mail reader that deletes one delivered message and
# refiles another before the next run. That run's recovery finds them
# nowhere in the Maildir: counted as delivered, left on the server (no
# DELE). A LIST size that then changes (the LF/CRLF flap of
# tests/fault/pop3dir.py POP3DIR_SIZES=flap) must not fetch them again as
# a reused UIDL: the message the user deleted would come back, the one
# refiled be doubled (review r19, finding 12). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init pop3goneflap

scripted_pop3dir_msgs "$T/drop" 4
scripted_pop3dir "$T/drop" POP3DIR_SIZES=flap
scripted_conf a pop3 10s 'keep = no'

# subjects: every subject in the Maildir and its folders, sorted.
subjects() {
	find "$T/Maildir-a" -type f \( -path '*/new/*' -o -path '*/cur/*' \) \
	    -exec sed -n 's/^Subject: //p' {} + | sort | tr '\n' ' '
}

MAILFETCHD_FAULT=pop3-synced:1 scripted_once a
tap_is "$rc:$(subjects)" "137:m1 m2 m3 m4 " \
    "killed with the batch delivered and journaled"
# The mail reader: m2 deleted, m3 refiled.
mkdir -p "$T/Maildir-a/.Archive/cur" "$T/Maildir-a/.Archive/new" \
    "$T/Maildir-a/.Archive/tmp"
for f in "$T/Maildir-a"/new/*; do
	if grep -q '^Subject: m2$' "$f"; then
		rm "$f"
	elif grep -q '^Subject: m3$' "$f"; then
		mv "$f" "$T/Maildir-a/.Archive/cur/$(basename "$f"):2,S"
	fi
done
scripted_once a
tap_like "$err" '2 message\(s\) not found in the Maildir .*"u2" "u3".*left on the server' \
    "the recovery says m2 and m3 are found nowhere and stay on the server"
tap_unlike "$err" 'now names one of' "no size change taken for a reuse"
tap_is "$(subjects)" "m1 m3 m4 " \
    "m2, deleted by the user, does not come back; m3 is not doubled"
tap_is "$(ls "$T/drop" | tr '\n' ' ')" "02_u2 03_u3 " \
    "m1 and m4 are deleted on the server, m2 and m3 left"
scripted_once a
scripted_once a
tap_is "$rc:$(subjects)" "1:m1 m3 m4 " "nor in the two runs after"

tap_done
