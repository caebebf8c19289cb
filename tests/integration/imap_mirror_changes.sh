#!/bin/bash
# imap_mirror_changes.sh: local_flags = mirror applies only the server's
# flag CHANGES, against Dovecot (review r24 02 and 07):
#  - with mark_read = yes, the \Seen mailfetchd itself stores after
#    delivery is no server change: new mail stays new (in new/, no S) and
#    the paths given to new_mail_command still exist when it runs; a
#    \Flagged set by another client is followed, without the S;
#  - a message read locally stays read when the server changes nothing,
#    and when it changes another flag of it (\Flagged added: :2,FS);
#  - a run killed after the renames, before the UID map has the new
#    flags (point imap-flags-renamed): the next run renames nothing again
#    and the file keeps the server's change;
#  - without CONDSTORE (every flag fetched at each poll), a local read
#    and a local trash mark stay; a server change is still followed.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"

S=$DC_SAMPLES
mfd_init
dovecot_start

# The local file of a sample in Maildir $1 (new/ or cur/).
file_of() {
	local f
	for f in "$1"/new/* "$1"/cur/*; do
		cmp -s "$f" "$2" && printf '%s\n' "$f"
	done
}
# The reader gives the file of sample $2 in Maildir $1 the flags $3.
reader() {
	local f
	f=$(file_of "$1" "$2")
	f=${f##*/}
	mv "$(file_of "$1" "$2")" "$1/cur/${f%%:*}:2,$3"
}
client() {	# USER PASSWORD COMMAND...
	local u=$1 p=$2
	shift 2
	dovecot_imap_cmd "$u" "$p" 'SELECT INBOX' "$@" >/dev/null
	ok $? "another client: $*"
}

# ---- mark_read = yes: new mail stays new ----------------------------------
dovecot_add_user mr pw-mr-c0ffee
mfd_account mr pw-mr-c0ffee
dovecot_add_message mr INBOX "$S/01-plain.eml"
cat >"$T/hook.sh" <<'HOOK'
#!/bin/sh
while read -r p; do
	if [ -e "$p" ]; then echo "exists"; else echo "MISSING $p"; fi
done >>"$0.log"
HOOK
chmod 755 "$T/hook.sh"
mfd_conf mr 'local_flags = mirror' 'mark_read = yes' \
    "new_mail_command = \"$T/hook.sh\""
M=$T/mr/Maildir
mfd_run mr -v -v
tap_is "$rc" 0 "mark_read: run 1 delivers 01"
tap_like "$err" 'UID STORE 1 \+FLAGS.SILENT \(\\Seen\)' "mark_read: 01 marked read on the server"
tap_is "$(mfd_where "$M" "$S/01-plain.eml")" "new/" "mark_read: 01 is new mail locally"
dovecot_add_message mr INBOX "$S/02-utf8.eml"
mfd_run mr -v -v
tap_is "$rc" 0 "mark_read: run 2 delivers 02"
tap_is "$(mfd_where "$M" "$S/01-plain.eml")" "new/" "mark_read: 01 still new mail"
tap_is "$(mfd_where "$M" "$S/02-utf8.eml")" "new/" "mark_read: 02 is new mail"
tap_is "$(grep -c exists "$T/hook.sh.log")" 2 \
    "mark_read: new_mail_command was given 2 paths"
tap_is "$(grep -c MISSING "$T/hook.sh.log")" 0 \
    "mark_read: each existed when it ran"
client mr pw-mr-c0ffee 'UID STORE 1 +FLAGS (\Flagged)'
mfd_run mr
tap_is "$rc" 1 "mark_read: a poll, nothing new"
tap_is "$(mfd_where "$M" "$S/01-plain.eml")" "cur/:2,F" \
    "mark_read: 01 follows \\Flagged, and is still unread"
tap_is "$(mfd_where "$M" "$S/02-utf8.eml")" "new/" "mark_read: 02 still new mail"

# ---- local marks and server changes, with CONDSTORE ------------------------
dovecot_add_user lr pw-lr-c0ffee
mfd_account lr pw-lr-c0ffee
dovecot_add_message lr INBOX "$S/01-plain.eml"
dovecot_add_message lr INBOX "$S/02-utf8.eml"
dovecot_add_message lr INBOX "$S/03-multipart.eml"
mfd_conf lr 'local_flags = mirror'
M=$T/lr/Maildir
mfd_run lr
tap_is "$rc" 0 "local: the first run delivers 01 02 03"
reader "$M" "$S/01-plain.eml" S
mfd_run lr
tap_is "$(mfd_where "$M" "$S/01-plain.eml")" "cur/:2,S" \
    "local: 01 read locally, the server changed nothing: stays read"
client lr pw-lr-c0ffee 'UID STORE 1 +FLAGS (\Flagged)'
mfd_run lr
tap_is "$(mfd_where "$M" "$S/01-plain.eml")" "cur/:2,FS" \
    "local: the server adds \\Flagged to 01: F added, the local read kept"

# Killed after the renames, before the map has the server's flags.
client lr pw-lr-c0ffee 'UID STORE 1 -FLAGS (\Flagged)'
MAILFETCHD_FAULT=imap-flags-renamed mfd_run lr -v -v
tap_is "$rc" 137 "crash: killed after the renames, before the map is rewritten"
tap_is "$(mfd_where "$M" "$S/01-plain.eml")" "cur/:2,S" \
    "crash: 01 renamed before the kill (\\Flagged off)"
mfd_run lr -v -v
tap_is "$rc" 1 "crash: the next run, nothing new"
tap_like "$err" 'flags: .* 0 given the server.s flags' \
    "crash: the same change applied again renames nothing"
tap_is "$(mfd_where "$M" "$S/01-plain.eml")" "cur/:2,S" "crash: 01 still :2,S"
reader "$M" "$S/01-plain.eml" ""
mfd_run lr
tap_is "$(mfd_where "$M" "$S/01-plain.eml")" "cur/:2," \
    "crash: then a local unread mark stays"

# ---- without CONDSTORE: every flag fetched at each poll -------------------
dovecot_without_caps lr pw-lr-c0ffee CONDSTORE QRESYNC
reader "$M" "$S/02-utf8.eml" S
reader "$M" "$S/03-multipart.eml" ST
mfd_run lr -v -v
tap_is "$rc" 1 "no CONDSTORE: nothing new"
tap_is "$(printf '%s\n' "$err" | grep -c CHANGEDSINCE)" 0 \
    "no CONDSTORE: every flag fetched"
tap_is "$(mfd_where "$M" "$S/02-utf8.eml")" "cur/:2,S" \
    "no CONDSTORE: 02 read locally stays read"
tap_is "$(mfd_where "$M" "$S/03-multipart.eml")" "cur/:2,ST" \
    "no CONDSTORE: 03 read and trashed locally stays :2,ST"
tap_is "$(mfd_where "$M" "$S/01-plain.eml")" "cur/:2," \
    "no CONDSTORE: 01 stays :2,"
client lr pw-lr-c0ffee 'UID STORE 2 +FLAGS (\Answered)'
mfd_run lr
tap_is "$(mfd_where "$M" "$S/02-utf8.eml")" "cur/:2,RS" \
    "no CONDSTORE: the server's \\Answered on 02 is followed"
mfd_run lr
tap_is "$(mfd_where "$M" "$S/03-multipart.eml")" "cur/:2,ST" \
    "no CONDSTORE: 03 still :2,ST a poll later"
srv=$(dovecot_imap_cmd lr pw-lr-c0ffee 'SELECT INBOX' 'FETCH 1:* (FLAGS)')
tap_is "$(printf '%s\n' "$srv" | grep -c ' FETCH ')" 3 "the server has the 3"
tap_is "$(printf '%s\n' "$srv" | grep ' FETCH ' | grep -c 'Deleted')" 0 \
    "nothing of the local marks pushed to the server"
mfd_expect "$M" "" "$S/01-plain.eml" "$S/02-utf8.eml" "$S/03-multipart.eml"
mfd_no_sanitizer

tap_done
