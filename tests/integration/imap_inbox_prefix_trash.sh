#!/bin/bash
# imap_inbox_prefix_trash.sh: a real Dovecot whose personal namespace has
# the prefix "INBOX/" (the Courier migration layout), \Trash "INBOX/Trash"
# (issue 15, review r11 15). Dovecot takes the INBOX part in any case
# ("Inbox/Trash" is INBOX/Trash), so keep = no must know the trash in
# any spelling of INBOX: (a) trash_folder = '\Trash' and folder
# "Inbox/Trash"; (b) trash_folder = "Inbox/Trash" and folder
# "INBOX/Trash"; (c) both "Inbox/Trash". Each: the trash folder named is
# refused (exit 7), INBOX's 2 messages delivered once and moved into the
# trash, never delivered again from it over 3 runs. Held on main since
# dd629bc (one INBOX-aware comparison); this keeps it so. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"

DC_EXTRA_CONF='namespace inbox {
  prefix = INBOX/
  mailbox "Trash" {
    special_use = \Trash
  }
}'
mfd_init
dovecot_start
S=$DC_SAMPLES

k=0
while IFS='|' read -r what trash folder; do
	k=$((k + 1))
	u=ip$k
	dovecot_add_user $u pw-$u-17
	dovecot_imap_cmd $u pw-$u-17 "CREATE INBOX/Trash" >/dev/null
	dovecot_add_message $u INBOX "$S/01-plain.eml"
	dovecot_add_message $u INBOX "$S/05-reply.eml"
	mfd_account $u pw-$u-17
	mfd_conf $u 'keep = no' "trash_folder = $trash" -- 'folder "INBOX" { }' \
	    "folder \"$folder\" { }"
	for i in 1 2 3; do
		mfd_run $u
		tap_is "$rc" 7 "($what) run $i: exit 7 (the trash folder named is refused)"
	done
	tap_like "$err" "error: .*folder \"$folder\" is the trash_folder" \
	    "($what) the error names both"
	tap_is "$(find "$T/$u/Maildir" -type f -path '*/new/*' | wc -l)" 2 \
	    "($what) 2 files for 2 messages after 3 runs"
	tap_is "$(mfd_server_count $u pw-$u-17 INBOX) $(mfd_server_count $u pw-$u-17 INBOX/Trash)" \
	    "0 2" "($what) INBOX moved into INBOX/Trash, once"
done <<'EOF'
a: trash_folder by role, folder "Inbox/Trash"|'\Trash'|Inbox/Trash
b: trash_folder "Inbox/Trash", folder "INBOX/Trash"|"Inbox/Trash"|INBOX/Trash
c: both "Inbox/Trash"|"Inbox/Trash"|Inbox/Trash
EOF

tap_done
