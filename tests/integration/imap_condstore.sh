#!/bin/bash
# imap_condstore.sh: local_flags = mirror against Dovecot, which offers
# CONDSTORE (RFC 7162). After the first fetch, another client changes the
# flags of three messages; the next poll asks only for the changes
# (CHANGEDSINCE, never a plain 1:N FLAGS fetch) and the Maildir names
# follow; a poll with nothing changed asks nothing; a run killed after the
# renames but before the HIGHESTMODSEQ is saved (fault point
# imap-flags-applied) leaves the old one saved, and the next run asks for
# the same changes again and changes nothing twice. A batch recovered
# from its journal follows the server too. Restarted without
# CONDSTORE, Dovecot gets asked for every delivered message's flags, and
# the saved HIGHESTMODSEQ is dropped. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"

S=$DC_SAMPLES
mfd_init
dovecot_start

dovecot_add_user cs pw-cs-c0ffee
mfd_account cs pw-cs-c0ffee
dovecot_add_message cs INBOX "$S/01-plain.eml"
dovecot_add_message cs INBOX "$S/02-utf8.eml" F
dovecot_add_message cs INBOX "$S/03-multipart.eml" S
dovecot_add_message cs INBOX "$S/04-dot-lines.eml" RS
dovecot_add_message cs INBOX "$S/05-reply.eml"
mfd_conf cs 'local_flags = mirror'

# where FILE: the delivered copy's place, "new/" or "cur/:2,FLAGS".
where() { mfd_where "$T/cs/Maildir" "$1"; }
# The commands this run sent (its debug log: "> TAG COMMAND").
sent() { printf '%s\n' "$err" | sed -n 's/.*> [A-Za-z0-9]* \(.*\)$/\1/p'; }
modseq() { sed -n 's/^modseq INBOX [0-9]* \([0-9]*\)$/\1/p' "$T/cs/state/cs.state"; }
store() {
	dovecot_imap_cmd cs pw-cs-c0ffee 'SELECT INBOX' "$@" >/dev/null
	ok $? "another client: $*"
}

mfd_run cs -v -v
tap_is "$rc" 0 "first run: exit status 0"
mfd_expect "$T/cs/Maildir" "" "$S"/0[1-5]-*.eml
tap_like "$(sent)" 'ENABLE CONDSTORE' "CONDSTORE enabled (mirror)"
tap_is "$(sent | grep -F '(UID FLAGS)')" 'UID FETCH 1:5 (UID FLAGS)' \
    "the first sync fetches every delivered message's flags"
m1=$(modseq)
tap_like "$m1" '^[1-9][0-9]*$' "the folder's HIGHESTMODSEQ saved ($m1)"

store 'UID STORE 1 +FLAGS (\Seen)' 'UID STORE 2 -FLAGS (\Flagged)' \
    'UID STORE 4 +FLAGS (\Flagged)'
mfd_run cs -v -v
tap_is "$rc" 1 "second run: nothing new (exit 1)"
tap_is "$(sent | grep -F '(UID FLAGS)')" \
    "UID FETCH 1:5 (UID FLAGS) (CHANGEDSINCE $m1)" \
    "only the changes since $m1 asked for, no full flag fetch"
tap_is "$(where "$S/01-plain.eml")" "cur/:2,S" "01: \\Seen on the server -> :2,S"
tap_is "$(where "$S/02-utf8.eml")" "cur/:2," "02: \\Flagged taken off -> :2,"
tap_is "$(where "$S/03-multipart.eml")" "cur/:2,S" "03: unchanged :2,S"
tap_is "$(where "$S/04-dot-lines.eml")" "cur/:2,FRS" "04: \\Flagged added -> :2,FRS"
tap_is "$(where "$S/05-reply.eml")" "new/" "05: unchanged in new/"
m2=$(modseq)
[ "$m2" -gt "$m1" ] 2>/dev/null
ok $? "HIGHESTMODSEQ advanced ($m1 -> $m2)"

mfd_run cs -v -v
tap_is "$rc" 1 "third run: nothing new"
tap_is "$(sent | grep -cF '(UID FLAGS)')" 0 "nothing changed: no flag FETCH"
tap_like "$err" "no flag changed \\(HIGHESTMODSEQ $m2\\)" "and it says why"

store 'UID STORE 5 +FLAGS (\Answered)'
MAILFETCHD_FAULT=imap-flags-applied mfd_run cs -v -v
tap_is "$rc" 137 "killed after the renames, before the save"
tap_is "$(where "$S/05-reply.eml")" "cur/:2,R" "05 renamed before the kill"
tap_is "$(modseq)" "$m2" "the HIGHESTMODSEQ of before still saved"
mfd_run cs -v -v
tap_is "$rc" 1 "the next run: nothing new"
tap_is "$(sent | grep -F '(UID FLAGS)')" \
    "UID FETCH 1:5 (UID FLAGS) (CHANGEDSINCE $m2)" \
    "the same changes asked for again"
tap_like "$err" '0 given the server.s flags' "nothing renamed twice"
tap_is "$(where "$S/05-reply.eml")" "cur/:2,R" "05 still :2,R"
mfd_expect "$T/cs/Maildir" "" "$S"/0[1-5]-*.eml
[ "$(modseq)" -gt "$m2" ] 2>/dev/null
ok $? "HIGHESTMODSEQ saved now ($(modseq))"

# Killed after the batch's journal, before its files are visible: the
# next run's recovery moves them in, and they follow the server all the
# same (the UID map is written before the journal).
dovecot_add_user rc pw-rc-c0ffee
mfd_account rc pw-rc-c0ffee
dovecot_add_message rc INBOX "$S/01-plain.eml"
dovecot_add_message rc INBOX "$S/02-utf8.eml"
mfd_conf rc 'local_flags = mirror'
MAILFETCHD_FAULT=imap-journaled mfd_run rc
tap_is "$rc" 137 "killed at imap-journaled"
mfd_run rc
tap_is "$rc" 0 "the next run recovers the batch"
dovecot_imap_cmd rc pw-rc-c0ffee 'SELECT INBOX' 'UID STORE 2 +FLAGS (\Flagged)' \
    >/dev/null
ok $? "another client flags 02"
mfd_run rc
tap_is "$rc" 1 "then a poll: nothing new"
tap_is "$(mfd_where "$T/rc/Maildir" "$S/02-utf8.eml")" "cur/:2,F" \
    "the recovered 02 follows the server: :2,F"
mfd_expect "$T/rc/Maildir" "" "$S/01-plain.eml" "$S/02-utf8.eml"

# Without mirror nothing of it: no ENABLE, no flag FETCH, no modseq.
dovecot_add_user plain pw-plain-c0ffee
mfd_account plain pw-plain-c0ffee
dovecot_add_message plain INBOX "$S/01-plain.eml" S
mfd_conf plain 'local_flags = seen'
mfd_run plain -v -v
tap_is "$rc" 0 "local_flags = seen: exit status 0"
tap_is "$(sent | grep -c -e ENABLE -e '(UID FLAGS)')" 0 \
    "local_flags = seen: no ENABLE, no flag FETCH"
tap_is "$(grep -c '^modseq ' "$T/plain/state/plain.state")" 0 \
    "local_flags = seen: no modseq record"

# The same server without CONDSTORE (masked out of its capabilities):
# every delivered message's flags, each poll; the modseq record goes.
dovecot_without_caps cs pw-cs-c0ffee CONDSTORE QRESYNC
store 'UID STORE 3 -FLAGS (\Seen)'
mfd_run cs -v -v
tap_is "$rc" 1 "without CONDSTORE: nothing new"
tap_is "$(sent | grep -c -e ENABLE -e CHANGEDSINCE)" 0 \
    "without CONDSTORE: no ENABLE, no CHANGEDSINCE"
tap_is "$(sent | grep -F '(UID FLAGS)')" 'UID FETCH 1:5 (UID FLAGS)' \
    "without CONDSTORE: every flag fetched"
tap_is "$(where "$S/03-multipart.eml")" "cur/:2," "03: \\Seen taken off -> :2,"
tap_is "$(where "$S/01-plain.eml")" "cur/:2,S" "01: still :2,S"
tap_is "$(grep -c '^modseq ' "$T/cs/state/cs.state")" 0 \
    "without CONDSTORE: no modseq kept"
mfd_expect "$T/cs/Maildir" "" "$S"/0[1-5]-*.eml
mfd_no_sanitizer

tap_done
