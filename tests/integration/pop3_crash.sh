#!/bin/bash
# pop3_crash.sh: mailfetchd killed (SIGKILL, as kill -9) at each point of
# the POP3 durability order (src/pop3.c header) against a real Dovecot
# POP3S, then run again: every message lands exactly once, nothing partial
# is left, and with keep = no the server is emptied of exactly what was
# delivered. The points come from MAILFETCHD_FAULT (src/fault.h). TAP
# output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"

mfd_init
dovecot_start
gen() { "$(_dc_python)" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }

for i in 1 2 3 4 5 6; do
	gen plain "$T/m$i.eml" "pcrash$i"
done

# crash STATUS POINT[:N] ACCOUNT-LINES...: mfd_crash (tests/lib/mfd.sh) on
# a fresh POP3 account.
crash() {
	MFD_PROTO=pop3 mfd_crash pcrash "$@"
}

# server_left ACCOUNT: messages still in the account's maildrop.
server_left()
{
	mfd_server_count "$1" "pw-$1-x7" INBOX
}

# keep = yes (the default): the server is only read.
crash 0 pop3-journaled
tap_like "$err$(cat "$T/all-output")" "recovered an interrupted run" \
    "pop3-journaled: the journal was replayed"
tap_is "$(mfd_fetched "$ACCT")" "account=$ACCT: fetched 6 message(s), \
$(cat "$T"/m[1-6].eml | wc -c) bytes" \
    "pop3-journaled: the recovered messages' bytes are counted"
crash 0 maildir-renamed:3
crash 0 pop3-synced
crash 1 pop3-saved
tap_is "$(server_left "$ACCT")" 6 "pop3-saved (keep = yes): the server keeps all six"

# keep = no: each delivered message is deleted, and only then.
for point in pop3-journaled maildir-renamed:3 pop3-synced; do
	crash 0 "$point" 'keep = no'
	tap_is "$(server_left "$ACCT")" 0 \
	    "$point (keep = no): the server maildrop is empty afterwards"
done
crash 1 pop3-saved 'keep = no'
tap_is "$(server_left "$ACCT")" 0 \
    "pop3-saved (keep = no): the owed deletions applied on the next run"

# local_flags = seen: the files go to cur/ with ":2,S"; recovery finds them
# there.
crash 0 maildir-renamed:3 'local_flags = seen'
tap_is "$(mfd_count "$T/$ACCT/Maildir" "" cur)" 6 \
    "maildir-renamed (local_flags = seen): all six in cur/"

# Killed once the batch is durable in tmp/ and journaled, the maildrop
# then emptied: the next run still moves the files into new/.
MFD_PROTO=pop3 mfd_crash_server_gone pjgone pop3-journaled
# Killed after the renames; a mail reader then deletes one message and
# reads another: the next run brings nothing back, doubles nothing.
MFD_PROTO=pop3 mfd_crash_reader preader pop3-synced pcrash1 pcrash2
# The same with keep = no: the read one (found in cur/) is deleted on the
# server, the deleted one (found nowhere) is left there (no DELE).
MFD_PROTO=pop3 mfd_crash_reader_keep_no preaderdel pop3-synced pcrash1 pcrash2
# Killed once the batch is journaled, its tmp/ files then removed: no
# DELE for messages found nowhere.
MFD_PROTO=pop3 mfd_crash_tmp_gone ptmpgone pop3-journaled

mfd_no_secret pw-pcrash1-x7 pw-pcrash5-x7
tap_done
