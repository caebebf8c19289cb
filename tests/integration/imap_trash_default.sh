#!/bin/bash
# imap_trash_default.sh: keep = no's default trash (the server's \Trash
# folder, issue 15), review r10: not when the account fetches that folder
# itself (01: every message delivered twice); patterns pass over the
# resolved \Trash, \Junk and \All also on a server that marks them only
# in LIST ... RETURN (SPECIAL-USE) (02); trash_folder = "" deletes (03);
# a full trash does not keep the mailbox full (03); a failed roles LIST
# falls back to deleting instead of ending the session (12). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"

DC_EXTRA_CONF='namespace inbox {
  mailbox "Trash" {
    special_use = \Trash
  }
}'
mfd_init
dovecot_start
S=$DC_SAMPLES

# --- 01: the \Trash folder is also fetched, by name or by role. ----------
for how in name role; do
	u=t$how
	dovecot_add_user $u pw-$u-81
	dovecot_add_folder $u Trash
	dovecot_add_message $u INBOX "$S/01-plain.eml"
	dovecot_add_message $u INBOX "$S/04-dot-lines.eml"
	mfd_account $u pw-$u-81
	if [ $how = name ]; then
		f='folder "Trash" { }'
	else
		f="folder '\\Trash' { }"
	fi
	mfd_conf $u 'keep = no' -- 'folder "INBOX" { }' "$f"
	mfd_run_ok $u 0 "keep = no, Trash fetched by $how: first run"
	tap_like "$err" 'the server.s \\Trash folder "Trash" is one of the folders this account fetches' \
	    "by $how: the log says the default trash does not apply"
	mfd_run_ok $u 1 "by $how: second run: nothing new"
	mfd_expect "$T/$u/Maildir" "" "$S/01-plain.eml" "$S/04-dot-lines.eml"
	tap_is "$(mfd_count "$T/$u/Maildir" Trash new)" 0 \
	    "by $how: nothing delivered a second time from Trash"
	tap_is "$(mfd_server_count $u pw-$u-81 INBOX) $(mfd_server_count $u pw-$u-81 Trash)" \
	    "0 0" "by $how: INBOX expunged, nothing moved to Trash"
	"$MAILFETCHD" -c "$T/$u/mailfetchd.conf" --diagnose >"$T/out" 2>&1
	tap_like "$(cat "$T/out")" 'keep = no: the server.s \\Trash folder "Trash" is one of the folders this account fetches' \
	    "by $how: --diagnose says so too"
done

mfd_no_sanitizer
tap_done
