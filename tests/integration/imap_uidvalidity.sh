#!/bin/bash
# imap_uidvalidity.sh: mailfetchd --once against a real Dovecot over IMAPS
# when a folder's UIDVALIDITY changes (the folder deleted and created
# again): a new folder fetched first in the same session with
# first_fetch = unseen must not filter the changed folder's new mail, and
# the messages recognised by Message-ID (delivered before the change) get
# the configured server action (keep = no, mark_read); when first_fetch
# left mail on the server, the messages not matched are delivered after
# the change but left untouched on the server (neither deleted nor marked
# read). TAP output.
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

# --- first_fetch = unseen, keep = no: after the folder is migrated (the
# same messages under new UIDs), nothing tells the read mail the first
# fetch left from the rest (review r7: a migration drops \Seen (ff7) or
# re-dates the messages (ff8)). What is not matched as delivered before
# is delivered, and left on the server untouched (not deleted, not marked
# read); what is matched is deleted as keep = no says. Whether the first
# fetch finished (ffl) or was killed (ffk), or the run after the
# migration was killed (ffr: the recovery acts on none of it). Before (the INTERNALDATE and
# \Seen rule), ff7 and ff8 fetched and deleted the read mail the first
# fetch left. ---
# ffl_old USER FILE [FLAGS]: a message dated 2020 in Proj.
ffl_old()
{
	dovecot_add_message "$1" Proj "$S/$2" ${3:+"$3"}
	touch -d '2020-01-01 12:00:00 UTC' "$DC_LAST_MESSAGE"
}
# ffl_fill USER [HOW]: 01, 02 read and old (HOW: noseen, they are unread;
# redated, they are dated after the first fetch), 03, 04 unread.
ffl_fill()
{
	case ${2:-} in
	noseen)	ffl_old "$1" 01-plain.eml && ffl_old "$1" 02-utf8.eml ;;
	redated) dovecot_add_message "$1" Proj "$S/01-plain.eml" S &&
		touch -d '+1 hour' "$DC_LAST_MESSAGE" &&
		dovecot_add_message "$1" Proj "$S/02-utf8.eml" S &&
		touch -d '+1 hour' "$DC_LAST_MESSAGE" ;;
	*)	ffl_old "$1" 01-plain.eml S && ffl_old "$1" 02-utf8.eml S ;;
	esac
	dovecot_add_message "$1" Proj "$S/03-multipart.eml"
	dovecot_add_message "$1" Proj "$S/04-dot-lines.eml"
}
for ffl in ffl ffk ff7 ff8 ffr; do
	dovecot_add_user $ffl pw-$ffl-1
	mfd_account $ffl pw-$ffl-1
	ffl_fill $ffl
	mfd_conf $ffl 'first_fetch = unseen' 'keep = no' -- 'folder "Proj" { }'
	if [ $ffl = ffk ]; then
		MAILFETCHD_FAULT=imap-journaled mfd_run $ffl
		tap_is "$rc" 137 "$ffl: the first fetch killed at imap-journaled"
	else
		mfd_run_ok $ffl 0 "$ffl: the first fetch"
		tap_is "$(mfd_server_count $ffl pw-$ffl-1 Proj)" 2 \
		    "$ffl: the first fetch left the two read messages"
	fi
	tap_is "$(grep -c '^first_left Proj unseen [0-9]*$' \
	    "$T/$ffl/state/$ffl.state")" 1 \
	    "$ffl: the state notes that the first fetch left mail"
	dovecot_imap_cmd $ffl pw-$ffl-1 'DELETE Proj' 'CREATE Proj' >/dev/null
	case $ffl in
	ff7)	ffl_fill $ffl noseen ;;
	ff8)	ffl_fill $ffl redated ;;
	*)	ffl_fill $ffl ;;
	esac
	dovecot_add_message $ffl Proj "$S/05-reply.eml" S
	touch -d '+1 day' "$DC_LAST_MESSAGE"
	if [ $ffl = ffr ]; then
		MAILFETCHD_FAULT=imap-journaled mfd_run $ffl
		tap_is "$rc" 137 "$ffl: the run after the migration killed at imap-journaled"
		tap_like "$err" "UIDVALIDITY changed" "$ffl: the change is seen"
		mfd_run_ok $ffl 0 "$ffl: the recovery run"
	else
		mfd_run_ok $ffl 0 "$ffl: the run after the migration"
		tap_like "$err" "UIDVALIDITY changed" "$ffl: the change is seen"
	fi
	tap_like "$err" "3 message\\(s\\) after the UIDVALIDITY change could not be told apart from the mail first_fetch left on the server: delivered, but left on the server untouched" \
	    "$ffl: the three unmatched messages are left untouched, and the log says why"
	mfd_expect "$T/$ffl/Maildir" Proj "$S/01-plain.eml" "$S/02-utf8.eml" \
	    "$S/03-multipart.eml" "$S/04-dot-lines.eml" "$S/05-reply.eml"
	tap_is "$(mfd_server_count $ffl pw-$ffl-1 Proj)" 3 \
	    "$ffl: 01, 02, 05 are still on the server (03, 04, matched, are deleted)"
	tap_is "$(dovecot_imap_cmd $ffl pw-$ffl-1 'SELECT Proj' 'SEARCH UNSEEN' |
	    sed -n 's/^\* SEARCH *//p' | wc -w)" "$([ $ffl = ff7 ] && echo 2 || echo 0)" \
	    "$ffl: no message left on the server was marked read"
	mfd_run_ok $ffl 1 "$ffl: then nothing new"
	tap_is "$(mfd_server_count $ffl pw-$ffl-1 Proj)" 3 \
	    "$ffl: and the later run leaves them too"
done

# --- first_fetch = new, keep = no: after the migration every message not
# delivered before is delivered and left on the server untouched: the
# mail the first fetch left (dated 2020), and a message moved in after
# the first fetch with an old date (06; review r7 02: before, taken for
# mail the first fetch left, never delivered). ---
dovecot_add_user ffn pw-ffn-1
mfd_account ffn pw-ffn-1
ffn_fill()
{
	ffl_old ffn 01-plain.eml S
	ffl_old ffn 02-utf8.eml S
	ffl_old ffn 03-multipart.eml
}
ffn_fill
mfd_conf ffn 'first_fetch = new' 'keep = no' -- 'folder "Proj" { }'
mfd_run_ok ffn 1 "ffn: the first fetch takes nothing"
tap_is "$(grep -c '^first_left Proj new [0-9]*$' "$T/ffn/state/ffn.state")" 1 \
    "ffn: the state notes that the first fetch left mail"
ffl_old ffn 06-list.eml
dovecot_imap_cmd ffn pw-ffn-1 'DELETE Proj' 'CREATE Proj' >/dev/null
ffn_fill
ffl_old ffn 06-list.eml
dovecot_add_message ffn Proj "$S/05-reply.eml"
mfd_run_ok ffn 0 "ffn: the run after the migration"
tap_like "$err" "5 message\\(s\\) after the UIDVALIDITY change could not be told apart" \
    "ffn: the five messages are left untouched, and the log says why"
mfd_expect "$T/ffn/Maildir" Proj "$S/01-plain.eml" "$S/02-utf8.eml" \
    "$S/03-multipart.eml" "$S/05-reply.eml" "$S/06-list.eml"
tap_is "$(mfd_server_count ffn pw-ffn-1 Proj)" 5 \
    "ffn: the five messages are still on the server"

mfd_no_secret pw-ffu-1 pw-del-1 pw-mr-1 pw-kil-1 pw-ffl-1 pw-ffk-1 pw-ff7-1 \
    pw-ff8-1 pw-ffr-1 pw-ffn-1
tap_done
