#!/bin/bash
# imap_mirror_uidvalidity.sh: local_flags = mirror across a UIDVALIDITY
# change, against Dovecot (review r24 01). A folder is delivered, one
# message read locally; the folder is deleted and created again with the
# same two messages (new UIDVALIDITY, new UIDs). The matching pass
# recognises both (nothing delivered twice) and gives them UID map lines
# under their new UIDs, naming the files delivered before: when another
# client then flags them on the server, both files follow (before, they
# stayed as they were for ever), and the local read mark stays.
# Two identical messages (the same mail received twice) are each relinked
# to their own file (review r26 03: only one was, and the log blamed "an
# older version"). A second UIDVALIDITY change relinks with the flags
# known last, not those of the first UIDVALIDITY (review r26 11: a local
# unread mark the server never contradicted was undone).
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"

S=$DC_SAMPLES
mfd_init
dovecot_start

dovecot_add_user uv pw-uv-c0ffee
mfd_account uv pw-uv-c0ffee
dovecot_add_message uv Proj "$S/05-reply.eml"
dovecot_add_message uv Proj "$S/06-list.eml"
mfd_conf uv 'local_flags = mirror' -- 'folder "Proj" { }'
M=$T/uv/Maildir/.Proj
mfd_run uv
tap_is "$rc" 0 "the first run delivers 05 and 06"
for f in "$M"/new/*; do
	cmp -s "$f" "$S/06-list.eml" && mv "$f" "$M/cur/${f##*/}:2,S"
done
tap_is "$(mfd_where "$M" "$S/06-list.eml")" "cur/:2,S" "06 read locally"

dovecot_imap_cmd uv pw-uv-c0ffee 'DELETE Proj' 'CREATE Proj' >/dev/null
ok $? "another client: Proj deleted and created again"
dovecot_append uv Proj "$S/05-reply.eml" >/dev/null
dovecot_append uv Proj "$S/06-list.eml" >/dev/null
mfd_run uv -v
tap_is "$rc" 1 "after the UIDVALIDITY change: nothing new"
tap_unlike "$err" 'not in the UID map' "both recognised messages are in the map"
mfd_expect "$T/uv/Maildir" Proj "$S/05-reply.eml" "$S/06-list.eml"

dovecot_imap_cmd uv pw-uv-c0ffee 'SELECT Proj' 'UID STORE 1 +FLAGS (\Seen \Flagged)' \
    'UID STORE 2 +FLAGS (\Flagged)' >/dev/null
ok $? "another client: 05 \\Seen \\Flagged, 06 \\Flagged"
mfd_run uv
tap_is "$rc" 1 "a poll: nothing new"
tap_is "$(mfd_where "$M" "$S/05-reply.eml")" "cur/:2,FS" \
    "05, delivered before the change, follows the server's \\Seen \\Flagged"
tap_is "$(mfd_where "$M" "$S/06-list.eml")" "cur/:2,FS" \
    "06 follows \\Flagged and keeps its local read mark"
mfd_expect "$T/uv/Maildir" Proj "$S/05-reply.eml" "$S/06-list.eml"

# ---- identical messages, then a second UIDVALIDITY change ------------------
dovecot_add_user dd pw-dd-c0ffee
mfd_account dd pw-dd-c0ffee
dovecot_add_message dd Proj "$S/05-reply.eml"
dovecot_add_message dd Proj "$S/05-reply.eml"
mfd_conf dd 'local_flags = mirror' -- 'folder "Proj" { }'
M=$T/dd/Maildir/.Proj
mfd_run dd
tap_is "$rc:$(mfd_count "$T/dd/Maildir" Proj new)" "0:2" "twins: both copies of 05 delivered"
recreate() {	# Proj deleted and created again with 05 twice
	dovecot_imap_cmd dd pw-dd-c0ffee 'DELETE Proj' 'CREATE Proj' >/dev/null
	dovecot_append dd Proj "$S/05-reply.eml" >/dev/null
	dovecot_append dd Proj "$S/05-reply.eml" >/dev/null
}
recreate
mfd_run dd -v
tap_is "$rc" 1 "twins: after the UIDVALIDITY change, nothing new"
tap_unlike "$err" 'older version' "twins: both copies are in the map"
dovecot_imap_cmd dd pw-dd-c0ffee 'SELECT Proj' 'UID STORE 1:2 +FLAGS (\Seen)' >/dev/null
mfd_run dd
tap_is "$(mfd_where "$M" "$S/05-reply.eml" | sort | paste -sd' ')" \
    "cur/:2,S cur/:2,S" "twins: both copies follow the server's \\Seen"
for f in "$M"/cur/*; do mv "$f" "${f%%:*}:2,"; done
mfd_run dd
tap_is "$(mfd_where "$M" "$S/05-reply.eml" | sort | paste -sd' ')" \
    "cur/:2, cur/:2," "twins: marked unread locally, they stay so"
recreate
dovecot_imap_cmd dd pw-dd-c0ffee 'SELECT Proj' 'UID STORE 1:2 +FLAGS (\Seen)' >/dev/null
mfd_run dd
tap_is "$rc:$(mfd_where "$M" "$S/05-reply.eml" | sort | paste -sd' ')" \
    "1:cur/:2, cur/:2," \
    "twins: a second UIDVALIDITY change, still \\Seen as known: they stay unread"
mfd_expect "$T/dd/Maildir" Proj "$S/05-reply.eml" "$S/05-reply.eml"
mfd_no_sanitizer

tap_done
