#!/bin/bash
# imap_uidvalidity.sh: mailfetchd --once against a real Dovecot over IMAPS
# when a folder's UIDVALIDITY changes (the folder deleted and created
# again): a new folder fetched first in the same session with
# first_fetch = unseen must not filter the changed folder's new mail, and
# the messages recognised by Message-ID (delivered before the change) get
# the configured server action (keep = no, mark_read). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"

S=$DC_SAMPLES
mfd_init
dovecot_start

# uidv_recreate USER PW: Proj deleted and created again with its two old
# messages (05, 06) and one new one (03); checks that UIDVALIDITY changed.
uidv_recreate()
{
	local v1 v2

	v1=$(dovecot_imap_cmd "$1" "$2" 'STATUS Proj (UIDVALIDITY)' |
	    sed -n 's/.*UIDVALIDITY \([0-9]*\).*/\1/p')
	dovecot_imap_cmd "$1" "$2" 'DELETE Proj' 'CREATE Proj' >/dev/null &&
	    dovecot_append "$1" Proj "$S/05-reply.eml" >/dev/null &&
	    dovecot_append "$1" Proj "$S/06-list.eml" >/dev/null &&
	    dovecot_append "$1" Proj "$S/03-multipart.eml" >/dev/null
	ok $? "$1: Proj deleted and created again, the same messages and one more"
	v2=$(dovecot_imap_cmd "$1" "$2" 'STATUS Proj (UIDVALIDITY)' |
	    sed -n 's/.*UIDVALIDITY \([0-9]*\).*/\1/p')
	[ -n "$v1" ] && [ -n "$v2" ] && [ "$v1" != "$v2" ]
	ok $? "$1: the server's UIDVALIDITY changed ($v1 -> $v2)"
}

# --- first_fetch = unseen, a new folder fetched before the changed one in
# the same session: the changed folder's new message still arrives. ---
dovecot_add_user ffu pw-ffu-1
mfd_account ffu pw-ffu-1
dovecot_add_message ffu Proj "$S/05-reply.eml"
dovecot_add_message ffu Proj "$S/06-list.eml"
mfd_conf ffu 'first_fetch = unseen' -- 'folder "Proj" { }'
mfd_run_ok ffu 0 "first_fetch = unseen: Proj fetched once"
mfd_expect "$T/ffu/Maildir" Proj "$S/05-reply.eml" "$S/06-list.eml"
uidv_recreate ffu pw-ffu-1
dovecot_add_message ffu Fresh "$S/01-plain.eml"
mfd_conf ffu 'first_fetch = unseen' -- 'folder "Fresh" { }' \
    'folder "Proj" { }'
mfd_run_ok ffu 0 "a new folder first, then the changed one"
tap_like "$err" "1 message\\(s\\) are new" \
    "the changed folder's new message is counted as new"
mfd_expect "$T/ffu/Maildir" Fresh "$S/01-plain.eml"
mfd_expect "$T/ffu/Maildir" Proj "$S/05-reply.eml" "$S/06-list.eml" \
    "$S/03-multipart.eml"

# --- keep = no, then mark_read = yes: after the change the recognised
# messages (delivered before) get the action too, not only the new one. ---
dovecot_add_user del pw-del-1
mfd_account del pw-del-1
dovecot_add_message del Proj "$S/05-reply.eml"
dovecot_add_message del Proj "$S/06-list.eml"
mfd_conf del 'keep = no' -- 'folder "Proj" { }'
mfd_run_ok del 0 "keep = no: Proj fetched once"
tap_is "$(mfd_server_count del pw-del-1 Proj)" 0 \
    "keep = no: Proj is empty on the server"
uidv_recreate del pw-del-1
mfd_run_ok del 0 "keep = no: the run after the change"
mfd_expect "$T/del/Maildir" Proj "$S/05-reply.eml" "$S/06-list.eml" \
    "$S/03-multipart.eml"
tap_is "$(mfd_server_count del pw-del-1 Proj)" 0 \
    "keep = no: the recognised messages are deleted on the server too"
mfd_run_ok del 1 "keep = no: then nothing new"

dovecot_add_user mr pw-mr-1
mfd_account mr pw-mr-1
dovecot_add_message mr Proj "$S/05-reply.eml"
dovecot_add_message mr Proj "$S/06-list.eml"
mfd_conf mr 'mark_read = yes' -- 'folder "Proj" { }'
mfd_run_ok mr 0 "mark_read = yes: Proj fetched once"
uidv_recreate mr pw-mr-1
mfd_run_ok mr 0 "mark_read = yes: the run after the change"
mfd_expect "$T/mr/Maildir" Proj "$S/05-reply.eml" "$S/06-list.eml" \
    "$S/03-multipart.eml"
tap_is "$(mfd_server_flags mr pw-mr-1 Proj | tr '\n' ';')" \
    '1 \Seen;2 \Seen;3 \Seen;' \
    "mark_read = yes: the recognised messages are marked read too"
mfd_run_ok mr 1 "mark_read = yes: then nothing new"

# --- The run after the change killed mid-batch (imap-journaled, keep =
# no): the matching is owed until a run completes it, so the next run
# recognises the old messages instead of delivering them again (before,
# it fetched everything above last_uid = 0 with no matching at all). ---
dovecot_add_user kil pw-kil-1
mfd_account kil pw-kil-1
dovecot_add_message kil Proj "$S/05-reply.eml"
dovecot_add_message kil Proj "$S/06-list.eml"
mfd_conf kil 'keep = no' -- 'folder "Proj" { }'
mfd_run_ok kil 0 "interrupted matching: Proj fetched once"
uidv_recreate kil pw-kil-1
MAILFETCHD_FAULT=imap-journaled mfd_run kil
tap_is "$rc" 137 "interrupted matching: the run after the change killed at imap-journaled"
tap_is "$(grep -c '^matching ' "$T/kil/state/kil.state")" 1 \
    "interrupted matching: the state says the matching is owed"
mfd_run_ok kil 0 "interrupted matching: the next run"
tap_like "$err" "resuming the matching" "interrupted matching: it is resumed"
mfd_expect "$T/kil/Maildir" Proj "$S/05-reply.eml" "$S/06-list.eml" \
    "$S/03-multipart.eml"
tap_is "$(mfd_server_count kil pw-kil-1 Proj)" 0 \
    "interrupted matching: the recognised messages are deleted on the server"
tap_is "$(grep -c '^matching ' "$T/kil/state/kil.state")" 0 \
    "interrupted matching: done, the state no longer owes it"
mfd_run_ok kil 1 "interrupted matching: then nothing new"

mfd_no_secret pw-ffu-1 pw-del-1 pw-mr-1 pw-kil-1
tap_done
