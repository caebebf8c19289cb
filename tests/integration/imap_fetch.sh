#!/bin/bash
# imap_fetch.sh: mailfetchd --once against a real Dovecot over IMAPS: which
# messages arrive, and where. Two folders plus a pattern, repeat runs and
# new mail in between, first_fetch = new / unseen, a missing folder, a
# non-ASCII folder name, max_message_size, a UIDVALIDITY change (matched by
# Message-ID, nothing twice). Every run
# is followed by a check of the exact set of messages in the Maildir.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"

S=$DC_SAMPLES
mfd_init
dovecot_start
gen() { "$(_dc_python)" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }

# --- Two folders plus a pattern; repeat runs; new mail in between. ---
dovecot_add_user multi pw-multi-9f2c
mfd_account multi pw-multi-9f2c
dovecot_load_samples multi
gen plain "$T/dev1.eml" dev1
gen plain "$T/dev2.eml" dev2
gen plain "$T/ann1.eml" ann1
gen plain "$T/other.eml" other
dovecot_add_message multi Lists/dev "$T/dev1.eml"
dovecot_add_message multi Lists/dev "$T/dev2.eml" S
dovecot_add_message multi Lists/announce "$T/ann1.eml"
dovecot_add_message multi Other "$T/other.eml"
mfd_conf multi -- 'folder "INBOX" { }' 'folder "Archive" { }' \
    'folder "Lists/*" { }'
MD=$T/multi/Maildir

mfd_run_ok multi 0 "first run fetches INBOX, Archive and Lists/*"
mfd_expect "$MD" "" "$S"/0[1-4]-*.eml
mfd_expect "$MD" Archive "$S/05-reply.eml" "$S/06-list.eml"
mfd_expect "$MD" Lists/dev "$T/dev1.eml" "$T/dev2.eml"
mfd_expect "$MD" Lists/announce "$T/ann1.eml"
[ ! -e "$MD/.Other" ]
ok $? "a folder that is not configured is not fetched"
tap_is "$(mfd_count "$MD" "" new)" 4 "local_flags = new: messages go to new/"

mfd_run_ok multi 1 "second run: nothing new"
mfd_expect "$MD" "" "$S"/0[1-4]-*.eml
mfd_expect "$MD" Lists/dev "$T/dev1.eml" "$T/dev2.eml"

gen plain "$T/new1.eml" new1
gen plain "$T/new2.eml" new2
gen plain "$T/dev3.eml" dev3
dovecot_append multi INBOX "$T/new1.eml" >/dev/null &&
    dovecot_append multi INBOX "$T/new2.eml" '\Seen' >/dev/null &&
    dovecot_append multi Lists/dev "$T/dev3.eml" >/dev/null
ok $? "three messages appended on the server"
mfd_run_ok multi 0 "third run fetches the new mail"
mfd_expect "$MD" "" "$S"/0[1-4]-*.eml "$T/new1.eml" "$T/new2.eml"
mfd_expect "$MD" Archive "$S/05-reply.eml" "$S/06-list.eml"
mfd_expect "$MD" Lists/dev "$T/dev1.eml" "$T/dev2.eml" "$T/dev3.eml"
mfd_expect "$MD" Lists/announce "$T/ann1.eml"
mfd_run_ok multi 1 "fourth run: nothing new again"
mfd_expect "$MD" "" "$S"/0[1-4]-*.eml "$T/new1.eml" "$T/new2.eml"
tap_is "$(mfd_server_count multi pw-multi-9f2c INBOX)" 6 \
    "keep = yes (default): the server still has every message"

# --- A missing folder: the others still work, exit 7 (partial). ---
dovecot_add_user miss pw-miss-22
mfd_account miss pw-miss-22
dovecot_add_message miss INBOX "$S/01-plain.eml"
mfd_conf miss -- 'folder "INBOX" { }' 'folder "NoSuchFolder" { }'
mfd_run_ok miss 7 "a missing folder next to a working one"
tap_like "$err" 'NoSuchFolder.*does not exist' "the error names the missing folder"
mfd_expect "$T/miss/Maildir" "" "$S/01-plain.eml"

# --- A non-ASCII folder name: mUTF-7 on the server, UTF-8 locally. ---
dovecot_add_user utf pw-utf-7
mfd_account utf pw-utf-7
dovecot_add_message utf "$(dovecot_mutf7 'Entwürfe')" "$S/02-utf8.eml"
dovecot_add_message utf "$(dovecot_mutf7 'Entwürfe')" "$S/03-multipart.eml"
[ -d "$(_dc_home utf)/Maildir/.Entw&APw-rfe/cur" ]
ok $? "the server stores the folder as .Entw&APw-rfe"
# And a name with a space, and INBOX to a local folder.
dovecot_add_message utf "Sent Items" "$S/05-reply.eml"
dovecot_add_message utf INBOX "$S/01-plain.eml"
mfd_conf utf -- 'folder "Entwürfe" { }' 'folder "Sent Items" { }' \
    'folder "INBOX" { local = "From server/Inbox" }'
mfd_run_ok utf 0 "a folder configured as Entwürfe (UTF-8), one with a space"
mfd_expect "$T/utf/Maildir" "Entwürfe" "$S/02-utf8.eml" "$S/03-multipart.eml"
mfd_expect "$T/utf/Maildir" "Sent Items" "$S/05-reply.eml"
mfd_expect "$T/utf/Maildir" "From server/Inbox" "$S/01-plain.eml"
mfd_expect "$T/utf/Maildir" ""
mfd_run_ok utf 1 "the same, second run: nothing new"

# --- first_fetch = new: only mail arriving after the first run. ---
dovecot_add_user ffnew pw-ffnew-1
mfd_account ffnew pw-ffnew-1
dovecot_add_message ffnew INBOX "$S/01-plain.eml"
dovecot_add_message ffnew INBOX "$S/02-utf8.eml"
mfd_conf ffnew 'first_fetch = new'
mfd_run_ok ffnew 1 "first_fetch = new: the first run fetches nothing"
mfd_expect "$T/ffnew/Maildir" ""
dovecot_append ffnew INBOX "$S/04-dot-lines.eml" >/dev/null
ok $? "a message appended after the first run"
mfd_run_ok ffnew 0 "first_fetch = new: the next run fetches the new message"
mfd_expect "$T/ffnew/Maildir" "" "$S/04-dot-lines.eml"

# --- first_fetch = unseen: old \Seen mail stays behind. ---
dovecot_add_user ffun pw-ffun-1
mfd_account ffun pw-ffun-1
dovecot_add_message ffun INBOX "$S/01-plain.eml"
dovecot_add_message ffun INBOX "$S/02-utf8.eml" S
dovecot_add_message ffun INBOX "$S/03-multipart.eml"
dovecot_add_message ffun INBOX "$S/04-dot-lines.eml" S
mfd_conf ffun 'first_fetch = unseen'
mfd_run_ok ffun 0 "first_fetch = unseen: the first run"
mfd_expect "$T/ffun/Maildir" "" "$S/01-plain.eml" "$S/03-multipart.eml"
dovecot_append ffun INBOX "$S/05-reply.eml" '\Seen' >/dev/null
ok $? "a \\Seen message appended after the first run"
mfd_run_ok ffun 0 "after the first run, new mail is fetched read or not"
mfd_expect "$T/ffun/Maildir" "" "$S/01-plain.eml" "$S/03-multipart.eml" \
    "$S/05-reply.eml"
mfd_run_ok ffun 1 "first_fetch = unseen: old \\Seen mail is never fetched later"
mfd_expect "$T/ffun/Maildir" "" "$S/01-plain.eml" "$S/03-multipart.eml" \
    "$S/05-reply.eml"

# --- first_fetch = unseen, keep = no, the first run killed mid-batch
# (imap-journaled): the next run finishes the first fetch with its
# filter, so the \Seen mail is neither fetched nor deleted (before, the
# next run was no first fetch and took, and deleted, all of it); mail
# that arrives after the first run is new mail, read or not. ---
dovecot_add_user ffk pw-ffk-1
mfd_account ffk pw-ffk-1
dovecot_add_message ffk INBOX "$S/01-plain.eml"
dovecot_add_message ffk INBOX "$S/02-utf8.eml" S
dovecot_add_message ffk INBOX "$S/03-multipart.eml"
dovecot_add_message ffk INBOX "$S/04-dot-lines.eml" S
mfd_conf ffk 'first_fetch = unseen' 'keep = no'
MAILFETCHD_FAULT=imap-journaled mfd_run ffk
tap_is "$rc" 137 "interrupted first_fetch = unseen: killed at imap-journaled"
tap_is "$(grep -c '^first_fetch INBOX unseen 4$' "$T/ffk/state/ffk.state")" 1 \
    "interrupted first_fetch = unseen: the state keeps the filter up to UID 4"
dovecot_append ffk INBOX "$S/05-reply.eml" '\Seen' >/dev/null
ok $? "a \\Seen message appended after the interrupted first run"
mfd_run_ok ffk 0 "interrupted first_fetch = unseen: the next run"
mfd_expect "$T/ffk/Maildir" "" "$S/01-plain.eml" "$S/03-multipart.eml" \
    "$S/05-reply.eml"
tap_is "$(mfd_server_count ffk pw-ffk-1 INBOX)" 2 \
    "interrupted first_fetch = unseen: the two read messages stay on the server"
tap_is "$(grep -c '^first_fetch ' "$T/ffk/state/ffk.state")" 0 \
    "interrupted first_fetch = unseen: done, the filter is dropped"
mfd_run_ok ffk 1 "interrupted first_fetch = unseen: then nothing new"
tap_is "$(mfd_server_count ffk pw-ffk-1 INBOX)" 2 \
    "interrupted first_fetch = unseen: the read messages are still there"

# --- max_message_size: skipped with a log line, once, others arrive. ---
dovecot_add_user maxsz pw-maxsz-1
mfd_account maxsz pw-maxsz-1
gen big "$T/big20k.eml" 20000
dovecot_add_message maxsz INBOX "$S/01-plain.eml"
dovecot_add_message maxsz INBOX "$T/big20k.eml"
dovecot_add_message maxsz INBOX "$S/02-utf8.eml"
dovecot_add_message maxsz INBOX "$T/big20k.eml"
mfd_conf maxsz 'max_message_size = 10K'
mfd_run_ok maxsz 0 "max_message_size = 10K with two larger messages"
tap_like "$err" 'larger than max_message_size' "the skipped message is logged"
tap_is "$(grep -c 'larger than max_message_size' "$T/err")" 2 \
    "one log line per skipped message"
mfd_expect "$T/maxsz/Maildir" "" "$S/01-plain.eml" "$S/02-utf8.eml"
mfd_run_ok maxsz 1 "the skipped messages are not tried again"
tap_unlike "$err" 'max_message_size' "no second log line for them"
mfd_expect "$T/maxsz/Maildir" "" "$S/01-plain.eml" "$S/02-utf8.eml"

# --- UIDVALIDITY change: the folder's messages are matched by Message-ID
# and size against what was delivered; only the new one is fetched. ---
dovecot_add_user uidv pw-uidv-1
mfd_account uidv pw-uidv-1
dovecot_add_message uidv INBOX "$S/01-plain.eml"
dovecot_add_message uidv Proj "$S/05-reply.eml"
dovecot_add_message uidv Proj "$S/06-list.eml"
mfd_conf uidv -- 'folder "INBOX" { }' 'folder "Proj" { }'
mfd_run_ok uidv 0 "before the UIDVALIDITY change"
mfd_expect "$T/uidv/Maildir" Proj "$S/05-reply.eml" "$S/06-list.eml"
v1=$(dovecot_imap_cmd uidv pw-uidv-1 'STATUS Proj (UIDVALIDITY)' |
    sed -n 's/.*UIDVALIDITY \([0-9]*\).*/\1/p')
dovecot_imap_cmd uidv pw-uidv-1 'DELETE Proj' 'CREATE Proj' >/dev/null &&
    dovecot_append uidv Proj "$S/05-reply.eml" >/dev/null &&
    dovecot_append uidv Proj "$S/06-list.eml" >/dev/null &&
    dovecot_append uidv Proj "$S/03-multipart.eml" >/dev/null &&
    dovecot_append uidv INBOX "$S/02-utf8.eml" >/dev/null
ok $? "Proj deleted and created again with the same messages and one more"
v2=$(dovecot_imap_cmd uidv pw-uidv-1 'STATUS Proj (UIDVALIDITY)' |
    sed -n 's/.*UIDVALIDITY \([0-9]*\).*/\1/p')
[ -n "$v1" ] && [ -n "$v2" ] && [ "$v1" != "$v2" ]
ok $? "the server's UIDVALIDITY changed ($v1 -> $v2)"
mfd_run_ok uidv 0 "after a UIDVALIDITY change the run goes on"
tap_like "$err" "UIDVALIDITY changed from $v1 to $v2" "the log names both UIDVALIDITYs"
tap_like "$err" "1 message\\(s\\) are new" "the log says how many are really new"
mfd_expect "$T/uidv/Maildir" Proj "$S/05-reply.eml" "$S/06-list.eml" \
    "$S/03-multipart.eml"
mfd_expect "$T/uidv/Maildir" "" "$S/01-plain.eml" "$S/02-utf8.eml"
mfd_run_ok uidv 1 "the run after that: nothing new, nothing twice"
mfd_expect "$T/uidv/Maildir" Proj "$S/05-reply.eml" "$S/06-list.eml" \
    "$S/03-multipart.eml"
mfd_expect "$T/uidv/Maildir" "" "$S/01-plain.eml" "$S/02-utf8.eml"

# --- Two accounts in one file, fetched in one run; then one of them
# with a wrong password: the other still works, exit 7. ---
dovecot_add_user acc1 pw-acc1-1
mfd_account acc1 pw-acc1-1
dovecot_add_user acc2 pw-acc2-2
mfd_account acc2 pw-acc2-2
dovecot_add_message acc1 INBOX "$S/01-plain.eml"
dovecot_add_message acc2 INBOX "$S/02-utf8.eml"
mfd_conf acc1
mfd_conf acc2
mkdir -p "$T/both"
{ cat "$T/acc1/mailfetchd.conf"; sed '1,2d' "$T/acc2/mailfetchd.conf"; } \
    >"$T/both/mailfetchd.conf"
mfd_run_ok both 0 "two accounts in one run"
mfd_expect "$T/acc1/Maildir" "" "$S/01-plain.eml"
mfd_expect "$T/acc2/Maildir" "" "$S/02-utf8.eml"
dovecot_add_message acc1 INBOX "$S/03-multipart.eml"
printf 'not-the-password\n' >"$T/acc2/pass"
mfd_run_ok both 7 "one account with a wrong password, the other with new mail"
tap_like "$err" 'account=acc2.*login as acc2 refused' "the failing account is named"
mfd_expect "$T/acc1/Maildir" "" "$S/01-plain.eml" "$S/03-multipart.eml"
mfd_expect "$T/acc2/Maildir" "" "$S/02-utf8.eml"

mfd_no_secret pw-acc1-1 pw-acc2-2 pw-multi-9f2c pw-miss-22 pw-utf-7 pw-ffnew-1 pw-ffun-1 \
    pw-maxsz-1 pw-uidv-1 pw-ffk-1
mfd_no_sanitizer
tap_done
