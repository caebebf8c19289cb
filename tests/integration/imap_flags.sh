#!/bin/bash
# imap_flags.sh: what mailfetchd --once changes on the server and which
# local flags it gives. mark_read on and off (BODY.PEEK must leave \Seen
# alone), per-folder mark_read, keep = no (UID EXPUNGE), keep = no with
# trash_folder (UID MOVE), local_flags = seen and mirror. Server flags are
# checked with a separate IMAP session. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"

S=$DC_SAMPLES
INBOX4=("$S"/0[1-4]-*.eml)
mfd_init
dovecot_start

# setup USER: a Dovecot user and its account, with the samples (INBOX:
# 01 02 03(\Seen) 04; Archive: 05(\Seen) 06).
setup() {
	dovecot_add_user "$1" "pw-$1-c0ffee"
	mfd_account "$1" "pw-$1-c0ffee"
	dovecot_load_samples "$1"
}
flags() { mfd_server_flags "$1" "pw-$1-c0ffee" "$2" | tr '\n' ';'; }
count() { mfd_server_count "$1" "pw-$1-c0ffee" "$2"; }

# --- mark_read = no (default): nothing changes on the server. ---
setup rdoff
before=$(flags rdoff INBOX)
tap_is "$before" '1;2;3 \Seen;4;' "rdoff: server flags before the run"
mfd_conf rdoff -- 'folder "INBOX" { }' 'folder "Archive" { }'
mfd_run_ok rdoff 0 "mark_read = no"
mfd_expect "$T/rdoff/Maildir" "" "${INBOX4[@]}"
mfd_expect "$T/rdoff/Maildir" Archive "$S/05-reply.eml" "$S/06-list.eml"
tap_is "$(flags rdoff INBOX)" "$before" "mark_read = no: INBOX flags unchanged (no \\Seen set)"
tap_is "$(flags rdoff Archive)" '1 \Seen;2;' "mark_read = no: Archive flags unchanged"

# --- mark_read = yes, with Archive overriding it to no. ---
setup rdon
mfd_conf rdon 'mark_read = yes' -- 'folder "INBOX" { }' \
    'folder "Archive" { mark_read = no }'
mfd_run_ok rdon 0 "mark_read = yes"
mfd_expect "$T/rdon/Maildir" "" "${INBOX4[@]}"
mfd_expect "$T/rdon/Maildir" Archive "$S/05-reply.eml" "$S/06-list.eml"
tap_is "$(flags rdon INBOX)" '1 \Seen;2 \Seen;3 \Seen;4 \Seen;' \
    "mark_read = yes: every delivered INBOX message is \\Seen"
tap_is "$(flags rdon Archive)" '1 \Seen;2;' \
    "folder mark_read = no overrides the account: Archive unchanged"
tap_is "$(count rdon INBOX)" 4 "mark_read = yes keeps the messages"
dovecot_append rdon INBOX "$S/05-reply.eml" >/dev/null
ok $? "one message appended"
mfd_run_ok rdon 0 "mark_read = yes, second run fetches the new message"
mfd_expect "$T/rdon/Maildir" "" "${INBOX4[@]}" "$S/05-reply.eml"
tap_is "$(flags rdon INBOX)" '1 \Seen;2 \Seen;3 \Seen;4 \Seen;5 \Seen;' \
    "the new message is \\Seen too"
mfd_run_ok rdon 1 "mark_read = yes, third run: nothing new"
mfd_expect "$T/rdon/Maildir" "" "${INBOX4[@]}" "$S/05-reply.eml"

# --- keep = no: expunged on the server once delivered. ---
setup kpno
mfd_conf kpno 'keep = no'
mfd_run_ok kpno 0 "keep = no"
mfd_expect "$T/kpno/Maildir" "" "${INBOX4[@]}"
tap_is "$(count kpno INBOX)" 0 "keep = no: INBOX is empty on the server"
tap_is "$(count kpno Archive)" 2 "keep = no: a folder not fetched is untouched"
mfd_run_ok kpno 1 "keep = no, second run: nothing new"
mfd_expect "$T/kpno/Maildir" "" "${INBOX4[@]}"
dovecot_append kpno INBOX "$S/06-list.eml" >/dev/null
ok $? "one message appended"
mfd_run_ok kpno 0 "keep = no, third run fetches the new message"
mfd_expect "$T/kpno/Maildir" "" "${INBOX4[@]}" "$S/06-list.eml"
tap_is "$(count kpno INBOX)" 0 "keep = no: INBOX is empty again"

# --- keep = no with trash_folder: moved there (Dovecot has MOVE). ---
setup trash
dovecot_add_folder trash Trash
mfd_conf trash 'keep = no' 'trash_folder = "Trash"'
mfd_run_ok trash 0 "keep = no, trash_folder = Trash"
mfd_expect "$T/trash/Maildir" "" "${INBOX4[@]}"
tap_is "$(count trash INBOX)" 0 "trash_folder: INBOX is empty on the server"
tap_is "$(count trash Trash)" 4 "trash_folder: the 4 messages are in Trash"
tap_unlike "$(flags trash Trash)" 'Deleted' "the moved messages are not \\Deleted"
dovecot_imap_cmd trash pw-trash-c0ffee 'EXAMINE Trash' 'FETCH 1:* (BODY.PEEK[])' \
    >"$T/trash.txt"
tap_is "$(grep -c '^Message-ID:' "$T/trash.txt")" 4 "Trash holds the messages' texts"
mfd_run_ok trash 1 "trash_folder, second run: nothing new"
mfd_expect "$T/trash/Maildir" "" "${INBOX4[@]}"

# --- The server refuses the move (a trash folder name it does not accept;
# a missing folder would be created): the messages stay delivered locally,
# the move is remembered and done by the next run, once the name is fixed,
# which fetches nothing again. ---
setup pend
mfd_conf pend 'keep = no' 'trash_folder = "~Trash"'
mfd_run pend
tap_is "$rc" 5 "trash_folder refused by the server: exit status 5" "$err"
tap_like "$err" 'trash_folder "~Trash" failed: .*not deleted \(retried next time\)' \
    "the error names the folder and says the move is retried"
mfd_expect "$T/pend/Maildir" "" "${INBOX4[@]}"
tap_is "$(count pend INBOX)" 4 "the messages are still on the server"
dovecot_add_folder pend Trash
mfd_conf pend 'keep = no' 'trash_folder = "Trash"'
mfd_run pend -v
tap_is "$rc" 1 "the next run: nothing new" "$err"
tap_like "$err" 'applying server actions left over.* 4 message' \
    "the next run applies the remembered move"
mfd_expect "$T/pend/Maildir" "" "${INBOX4[@]}"
tap_is "$(count pend INBOX):$(count pend Trash)" 0:4 \
    "the messages are now in Trash, not in INBOX"
dovecot_append pend INBOX "$S/05-reply.eml" >/dev/null
ok $? "one message appended"
mfd_run_ok pend 0 "a third run fetches the new message"
mfd_expect "$T/pend/Maildir" "" "${INBOX4[@]}" "$S/05-reply.eml"
tap_is "$(count pend INBOX):$(count pend Trash)" 0:5 "and moves it to Trash"

# --- local_flags = seen: cur/ with :2,S. ---
setup lseen
mfd_conf lseen 'local_flags = seen'
mfd_run_ok lseen 0 "local_flags = seen"
mfd_expect "$T/lseen/Maildir" "" "${INBOX4[@]}"
tap_is "$(mfd_count "$T/lseen/Maildir" "" new)" 0 "local_flags = seen: new/ is empty"
tap_is "$(find "$T/lseen/Maildir/cur" -type f -name '*:2,S' | wc -l)" 4 \
    "local_flags = seen: 4 files in cur/ ending in :2,S"
tap_is "$(flags lseen INBOX)" '1;2;3 \Seen;4;' \
    "local_flags = seen does not touch the server"

# --- local_flags = mirror: the server's flags. ---
dovecot_add_user mirr pw-mirr-c0ffee
mfd_account mirr pw-mirr-c0ffee
dovecot_add_message mirr INBOX "$S/01-plain.eml"
dovecot_add_message mirr INBOX "$S/02-utf8.eml" F
dovecot_add_message mirr INBOX "$S/03-multipart.eml" S
dovecot_add_message mirr INBOX "$S/04-dot-lines.eml" RS
dovecot_add_message mirr INBOX "$S/05-reply.eml" DFRS
mfd_conf mirr 'local_flags = mirror'
mfd_run_ok mirr 0 "local_flags = mirror"
mfd_expect "$T/mirr/Maildir" "" "${INBOX4[@]}" "$S/05-reply.eml"
# where FILE: the delivered copy's place, "new/" or "cur/:2,FLAGS".
where() { mfd_where "$T/mirr/Maildir" "$1"; }
tap_is "$(where "$S/01-plain.eml")" "new/" "mirror: no flags -> new/"
tap_is "$(where "$S/02-utf8.eml")" "cur/:2,F" "mirror: \\Flagged -> cur/ :2,F"
tap_is "$(where "$S/03-multipart.eml")" "cur/:2,S" "mirror: \\Seen -> cur/ :2,S"
tap_is "$(where "$S/04-dot-lines.eml")" "cur/:2,RS" "mirror: \\Answered \\Seen -> :2,RS"
tap_is "$(where "$S/05-reply.eml")" "cur/:2,DFRS" "mirror: \\Draft \\Flagged \\Answered \\Seen -> :2,DFRS"

# --- Many messages, every other one too big: the server actions go out
# in several batches (500 messages per FETCH) and slices (400 UID ranges
# per command), and must touch exactly the delivered messages. ---
N=1100
mkdir "$T/series"
"$(_dc_python)" "$top_srcdir/tests/lib/gen_msg.py" series "$T/series" "$N" ||
    tap_bail "gen_msg.py series failed"
small=("$T"/series/*[02468].eml)
# load_series USER: all N messages into INBOX in one go.
load_series() {
	local dir

	dir=$(dovecot_folder_path "$1" INBOX)
	cp "$T"/series/*.eml "$dir/tmp/" &&
	    chown "$DC_MAIL_USER:" "$dir"/tmp/*.eml &&
	    mv "$dir"/tmp/*.eml "$dir/new/" || tap_bail "cannot load $1"
}
dovecot_add_user many pw-many-c0ffee
mfd_account many pw-many-c0ffee
load_series many
dovecot_add_user manyrd pw-manyrd-c0ffee
mfd_account manyrd pw-manyrd-c0ffee
load_series manyrd
big_uids=$(dovecot_imap_cmd many pw-many-c0ffee 'EXAMINE INBOX' \
    'UID SEARCH LARGER 2048' | sed -n 's/^\* SEARCH //p')
nbig=$(wc -w <<<"$big_uids")
tap_is "$nbig" $((N / 2)) "half of the $N messages are larger than 2K"
# Count the UID ranges of the small ones: the big ones split them.
nranges=$(printf '%s\n' $big_uids | sort -n | awk -v n="$N" '
    BEGIN { prev = 0 } { if ($1 > prev + 1) r++; prev = $1 }
    END { if (prev < n) r++; print r + 0 }')
[ "$nranges" -gt 400 ]
ok $? "the small messages form more than 400 UID ranges ($nranges)"

mfd_conf many 'keep = no' 'max_message_size = 2K'
mfd_run_ok many 0 "keep = no with $N messages, half of them too big"
mfd_expect "$T/many/Maildir" "" "${small[@]}"
tap_is "$(count many INBOX)" $((N / 2)) "keep = no: exactly the big ones are left on the server"
left=$(dovecot_imap_cmd many pw-many-c0ffee 'EXAMINE INBOX' 'UID SEARCH ALL' |
    sed -n 's/^\* SEARCH //p')
tap_is "$left" "$big_uids" "the UIDs left are those of the big messages"
mfd_run_ok many 1 "keep = no, second run: nothing new"
mfd_expect "$T/many/Maildir" "" "${small[@]}"

mfd_conf manyrd 'mark_read = yes' 'max_message_size = 2K'
mfd_run_ok manyrd 0 "mark_read = yes with $N messages, half of them too big"
mfd_expect "$T/manyrd/Maildir" "" "${small[@]}"
unseen=$(dovecot_imap_cmd manyrd pw-manyrd-c0ffee 'EXAMINE INBOX' \
    'UID SEARCH UNSEEN' | sed -n 's/^\* SEARCH //p')
tap_is "$unseen" "$big_uids" "exactly the big (skipped) messages are still unseen"
tap_is "$(count manyrd INBOX)" "$N" "mark_read = yes keeps every message"

mfd_no_secret pw-pend-c0ffee pw-many-c0ffee pw-manyrd-c0ffee pw-rdoff-c0ffee pw-rdon-c0ffee pw-kpno-c0ffee pw-trash-c0ffee \
    pw-lseen-c0ffee pw-mirr-c0ffee
mfd_no_sanitizer
tap_done
