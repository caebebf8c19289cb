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

# Killed once the batch is durable in tmp/ and journaled, the server's
# copies then gone: the next run still moves the files into new/.
mfd_crash_server_gone jgone imap-journaled
# Killed after the renames; a mail reader then deletes one message and
# reads another: the next run brings nothing back, doubles nothing.
mfd_crash_reader reader imap-synced crash1 crash2

mfd_no_secret pw-crash1-x7
tap_done
