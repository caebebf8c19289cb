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

# crash STATUS POINT[:N] ACCOUNT-LINES...: a fresh account with six
# messages, killed at POINT, then run to the end, which exits STATUS: 0
# when it finished the interrupted batch, 1 when the killed run had already
# recorded everything.
crash() {
	local want=$1 point=$2 acct n
	shift 2
	n=$((${n_acct:-0} + 1)); n_acct=$n
	acct="crash$n"
	dovecot_add_user "$acct" "pw-$acct-x7"
	mfd_account "$acct" "pw-$acct-x7"
	for i in 1 2 3 4 5 6; do
		dovecot_add_message "$acct" INBOX "$T/m$i.eml"
	done
	mfd_conf "$acct" "$@"
	MAILFETCHD_FAULT=$point mfd_run "$acct"
	tap_is "$rc" 137 "$point${*:+ ($*)}: killed at the point"
	mfd_run_ok "$acct" "$want" "$point${*:+ ($*)}: the next run completes"
	mfd_expect "$T/$acct/Maildir" "" "$T"/m[1-6].eml
	mfd_run_ok "$acct" 1 "$point${*:+ ($*)}: then nothing new, nothing twice"
	mfd_expect "$T/$acct/Maildir" "" "$T"/m[1-6].eml
	ACCT=$acct
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

mfd_no_secret pw-crash1-x7
tap_done
