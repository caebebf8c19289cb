#!/bin/bash
# crash_points.sh: mailfetchd killed (SIGKILL, as kill -9) at each point of
# the IMAP durability order (src/imap.c header), then run again: every
# message lands exactly once, nothing partial is left, and the server
# actions (mark_read, keep = no) happen exactly for what was delivered.
# The points come from MAILFETCHD_FAULT (src/fault.h). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"

mfd_init
dovecot_start
gen() { "$(_dc_python)" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }

for i in 1 2 3 4 5 6; do
	gen plain "$T/m$i.eml" "crash$i"
done

# crash STATUS POINT[:N] ACCOUNT-LINES...: mfd_crash (tests/lib/mfd.sh) on
# a fresh IMAP account.
crash() {
	mfd_crash crash "$@"
}

crash 0 imap-journaled
tap_like "$err$(cat "$T/all-output")" "recovered an interrupted run" \
    "imap-journaled: the journal was replayed"
tap_is "$(mfd_fetched "$ACCT")" "account=$ACCT folder=INBOX: fetched 6 \
message(s), $(cat "$T"/m[1-6].eml | wc -c) bytes" \
    "imap-journaled: the recovered messages' bytes are counted"
crash 0 maildir-renamed:3
crash 0 imap-synced
crash 1 imap-saved

# With server actions: each delivered message is marked exactly once.
crash 0 imap-journaled 'mark_read = yes'
flags=$(mfd_server_flags "$ACCT" "pw-$ACCT-x7" INBOX | grep -c 'Seen')
tap_is "$flags" 6 "imap-journaled (mark_read): all six \\Seen on the server"
crash 1 imap-saved 'mark_read = yes'
flags=$(mfd_server_flags "$ACCT" "pw-$ACCT-x7" INBOX | grep -c 'Seen')
tap_is "$flags" 6 "imap-saved (mark_read): the owed \\Seen applied on the next run"
crash 0 maildir-renamed:2 'keep = no'
tap_is "$(mfd_server_count "$ACCT" "pw-$ACCT-x7" INBOX)" 0 \
    "maildir-renamed (keep = no): the server is empty afterwards"
crash 0 imap-journaled 'keep = no'
tap_is "$(mfd_server_count "$ACCT" "pw-$ACCT-x7" INBOX)" 0 \
    "imap-journaled (keep = no): the server is empty afterwards"
crash 0 imap-synced 'keep = no'
tap_is "$(mfd_server_count "$ACCT" "pw-$ACCT-x7" INBOX)" 0 \
    "imap-synced (keep = no): the server is empty afterwards"
crash 1 imap-saved 'keep = no'
tap_is "$(mfd_server_count "$ACCT" "pw-$ACCT-x7" INBOX)" 0 \
    "imap-saved (keep = no): the owed deletions applied on the next run"

# Killed twice in a row (keep = no): once the batch is journaled, then in
# the next run once its recovery has recorded the owed deletions (keeping
# the entries, marked done, to skip their UIDs) but before the server was
# told. The run after that finds only done entries in the journal: it must
# still apply the owed set, not overwrite it with what it recovered itself
# (nothing), or last_uid passes messages that stay on the server forever.
dovecot_add_user twice pw-twice-x7
mfd_account twice pw-twice-x7
for i in 1 2 3 4 5 6; do
	dovecot_add_message twice INBOX "$T/m$i.eml"
done
mfd_conf twice 'keep = no'
MAILFETCHD_FAULT=imap-journaled mfd_run twice
tap_is "$rc" 137 "killed twice (keep = no): first at imap-journaled"
MAILFETCHD_FAULT=imap-recovered mfd_run twice
tap_is "$rc" 137 "killed twice (keep = no): then at imap-recovered"
mfd_run_ok twice 1 "killed twice (keep = no): the next run completes"
tap_is "$(mfd_server_count twice pw-twice-x7 INBOX)" 0 \
    "killed twice (keep = no): the owed deletions applied, the server is empty"
mfd_expect "$T/twice/Maildir" "" "$T"/m[1-6].eml
mfd_run_ok twice 1 "killed twice (keep = no): then nothing new"
mfd_expect "$T/twice/Maildir" "" "$T"/m[1-6].eml
tap_is "$(grep -c '^inflight ' "$T/twice/state/twice.state")" 0 \
    "killed twice (keep = no): the journal is empty"

# Killed once the batch is durable in tmp/ and journaled, the server's
# copies then gone: the next run still moves the files into new/.
mfd_crash_server_gone jgone imap-journaled
# Killed after the renames; a mail reader then deletes one message and
# reads another: the next run brings nothing back, doubles nothing.
mfd_crash_reader reader imap-synced crash1 crash2
# The same with keep = no: the read one (found in cur/) is deleted on the
# server, the deleted one (found nowhere) is left there.
mfd_crash_reader_keep_no readerdel imap-synced crash1 crash2
# Killed once the batch is journaled, its tmp/ files then removed: no
# server action for messages found nowhere.
mfd_crash_tmp_gone tmpgone imap-journaled

# Two accounts deliver into one Maildir. Account "sha" (keep = no) is
# killed once its batch is durable in tmp/ and journaled; the next run
# fetches both, "shb" first: shb's preparation must not remove sha's
# journaled tmp/ files (orphans of a dead process, but named by sha's
# journal), or sha's recovery, finding them absent, deletes the server
# copies of messages that are nowhere.
for i in 1 2 3; do
	gen plain "$T/b$i.eml" "shared-b$i"
done
# shared_pair A B: accounts A (m1..m6 in its INBOX) and B (b1..b3).
shared_pair() {
	local a=$1 b=$2 i

	dovecot_add_user "$a" "pw-$a-x7"
	dovecot_add_user "$b" "pw-$b-x7"
	mfd_account "$a" "pw-$a-x7"
	mfd_account "$b" "pw-$b-x7"
	for i in 1 2 3 4 5 6; do
		dovecot_add_message "$a" INBOX "$T/m$i.eml"
	done
	for i in 1 2 3; do
		dovecot_add_message "$b" INBOX "$T/b$i.eml"
	done
}
shared_pair sha shb
mfd_conf shb
mfd_conf sha 'keep = no'
sed -i "s|$T/sha/state|$T/shb/state|; s|$T/sha/Maildir|$T/shb/Maildir|" \
    "$T/sha/mailfetchd.conf"
sed -n '/^account/,$p' "$T/sha/mailfetchd.conf" >>"$T/shb/mailfetchd.conf"
MAILFETCHD_FAULT=imap-journaled mfd_run shb --account sha
tap_is "$rc" 137 "shared Maildir: sha killed at imap-journaled"
tap_is "$(find "$T/shb/Maildir/tmp" -type f | wc -l)" 6 \
    "shared Maildir: sha's six messages are in tmp/"
mfd_run_ok shb 0 "shared Maildir: the next run (shb first, then sha) completes"
tap_like "$err" "account=sha .*recovered an interrupted run: 6 message" \
    "shared Maildir: sha recovered its six messages"
mfd_expect "$T/shb/Maildir" "" "$T"/m[1-6].eml "$T"/b[1-3].eml
tap_is "$(mfd_server_count sha pw-sha-x7 INBOX)" 0 \
    "shared Maildir: sha's server copies deleted only once delivered"
mfd_run_ok shb 1 "shared Maildir: then nothing new"
mfd_expect "$T/shb/Maildir" "" "$T"/m[1-6].eml "$T"/b[1-3].eml

# Two configurations (two state_dirs, so journals neither reads) deliver
# into one Maildir. shc (keep = no) is killed once its batch is durable in
# tmp/ and journaled; shd's configuration runs next: its preparation must
# not take shc's tmp/ files for garbage (a dead process's, but named by a
# journal shd never reads), or shc's recovery finds them nowhere and the
# six messages are in no Maildir (and, with keep = no, once were deleted).
shared_pair shc shd
mfd_conf shc 'keep = no'
mfd_conf shd
sed -i "s|$T/shd/Maildir|$T/shc/Maildir|" "$T/shd/mailfetchd.conf"
MAILFETCHD_FAULT=imap-journaled mfd_run shc
tap_is "$rc" 137 "two configurations: shc killed at imap-journaled"
tap_is "$(find "$T/shc/Maildir/tmp" -type f | wc -l)" 6 \
    "two configurations: shc's six messages are in tmp/"
mfd_run_ok shd 0 "two configurations: shd's configuration runs next"
tap_is "$(find "$T/shc/Maildir/tmp" -type f | wc -l)" 6 \
    "two configurations: shd left shc's six journaled tmp/ files alone"
mfd_run_ok shc 0 "two configurations: shc's configuration runs again"
tap_like "$err" "recovered an interrupted run: 6 message" \
    "two configurations: shc recovered its six messages"
mfd_expect "$T/shc/Maildir" "" "$T"/m[1-6].eml "$T"/b[1-3].eml
tap_is "$(mfd_server_count shc pw-shc-x7 INBOX)" 0 \
    "two configurations: shc's server copies deleted once delivered"

# Killed after the renames (before the Message-ID log and the state), then
# the folder is recreated (a new UIDVALIDITY) with other messages at the
# old UIDs, one of them too big to fetch, and one of the delivered ones
# again. keep = no: no UID of the old epoch may be deleted in the new one,
# and the recovered messages count as delivered for the Message-ID match.
gen big "$T/big.eml" 20000
dovecot_add_user uidv "pw-uidv-x7"
mfd_account uidv "pw-uidv-x7"
for i in 1 2 3; do
	dovecot_add_message uidv Work "$T/m$i.eml"
done
mfd_conf uidv 'keep = no' 'max_message_size = 10000' -- 'folder "Work" { }'
MAILFETCHD_FAULT=maildir-renamed:3 mfd_run uidv
tap_is "$rc" 137 "UIDVALIDITY change: killed at maildir-renamed:3"
v1=$(dovecot_imap_cmd uidv pw-uidv-x7 'STATUS Work (UIDVALIDITY)' |
    sed -n 's/.*UIDVALIDITY \([0-9]*\).*/\1/p')
dovecot_imap_cmd uidv pw-uidv-x7 'DELETE Work' 'CREATE Work' >/dev/null &&
    dovecot_append uidv Work "$T/m4.eml" >/dev/null &&
    dovecot_append uidv Work "$T/big.eml" >/dev/null &&
    dovecot_append uidv Work "$T/m5.eml" >/dev/null &&
    dovecot_append uidv Work "$T/m1.eml" >/dev/null
ok $? "UIDVALIDITY change: Work recreated with m4, a big one, m5, m1"
v2=$(dovecot_imap_cmd uidv pw-uidv-x7 'STATUS Work (UIDVALIDITY)' |
    sed -n 's/.*UIDVALIDITY \([0-9]*\).*/\1/p')
[ -n "$v1" ] && [ -n "$v2" ] && [ "$v1" != "$v2" ]
ok $? "UIDVALIDITY change: the server's UIDVALIDITY changed ($v1 -> $v2)"
mfd_run_ok uidv 0 "UIDVALIDITY change: the next run completes"
mfd_expect "$T/uidv/Maildir" Work "$T"/m[1-5].eml
# Left on the server: only the big one (never fetched: no old UID may
# delete it). m1, matched by content as delivered before, gets keep = no's
# deletion like any delivered message.
tap_is "$(mfd_server_count uidv pw-uidv-x7 Work)" 1 \
    "UIDVALIDITY change: one message left on the server"
dovecot_imap_cmd uidv pw-uidv-x7 'SELECT Work' 'FETCH 1:* (RFC822.SIZE)' |
    grep -Eq 'RFC822\.SIZE [0-9]{5,}'
ok $? "UIDVALIDITY change: the big message, never fetched, is the one left"
mfd_run_ok uidv 1 "UIDVALIDITY change: then nothing new"
mfd_expect "$T/uidv/Maildir" Work "$T"/m[1-5].eml

# Killed after the first rename (keep = yes); a mail reader then reads
# that message (new/ -> cur/ with ":2,S"). The recovery finds it in cur/
# and logs its content digest with its Message-ID, so that after the
# folder is recreated (a new UIDVALIDITY) with the same messages, it is
# recognised like the others and not delivered twice.
dovecot_add_user rdig "pw-rdig-x7"
mfd_account rdig "pw-rdig-x7"
for i in 1 2 3; do
	dovecot_add_message rdig Work "$T/m$i.eml"
done
mfd_conf rdig -- 'folder "Work" { }'
MAILFETCHD_FAULT=maildir-renamed:1 mfd_run rdig
tap_is "$rc" 137 "read before recovery: killed at maildir-renamed:1"
f=$(find "$T/rdig/Maildir/.Work/new" -type f | head -1)
[ -n "$f" ] && mv "$f" "$T/rdig/Maildir/.Work/cur/${f##*/}:2,S"
ok $? "read before recovery: the reader moved the delivered one to cur/"
mfd_run_ok rdig 0 "read before recovery: the next run recovers"
dovecot_imap_cmd rdig pw-rdig-x7 'DELETE Work' 'CREATE Work' >/dev/null &&
    dovecot_append rdig Work "$T/m1.eml" >/dev/null &&
    dovecot_append rdig Work "$T/m2.eml" >/dev/null &&
    dovecot_append rdig Work "$T/m3.eml" >/dev/null
ok $? "read before recovery: Work recreated with the same three messages"
mfd_run_ok rdig 1 "read before recovery: after the UIDVALIDITY change, nothing new"
mfd_expect "$T/rdig/Maildir" Work "$T"/m[1-3].eml

# A Message-ID longer than a state line may be (20 KB, as a hostile sender
# may write it), killed once it is journaled: the state must stay readable
# and the next run finish the delivery.
printf 'From: a@example.org\nSubject: longid\nMessage-ID: <%s@example.org>\n\nbody\n' \
    "$(head -c 20000 /dev/zero | tr '\0' a)" >"$T/longid.eml"
dovecot_add_user longid pw-longid-x7
mfd_account longid pw-longid-x7
dovecot_add_message longid INBOX "$T/longid.eml"
mfd_conf longid
MAILFETCHD_FAULT=imap-journaled mfd_run longid
tap_is "$rc" 137 "long Message-ID: killed at imap-journaled"
mfd_run_ok longid 0 "long Message-ID: the next run reads the state and completes"
mfd_expect "$T/longid/Maildir" "" "$T/longid.eml"

mfd_no_secret pw-crash1-x7
tap_done
