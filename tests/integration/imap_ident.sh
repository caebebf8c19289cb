#!/bin/bash
# imap_ident.sh: mailfetchd --once against a real Dovecot over IMAPS: what
# identifies a message. A message whose Message-ID header is larger than
# any buffer (about 82 KB of "Message-ID:" lines: anyone who can send the
# user mail can make one) is delivered like any other and blocks none of
# the messages around it, on every run and after a UIDVALIDITY change.
# Every run is followed by a check of the exact set of messages in the
# Maildir. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"

S=$DC_SAMPLES
mfd_init
dovecot_start

# wedge_msg FILE: a message with 1,520 Message-ID lines (about 82 KB of
# header fields, over the 64 KiB a FETCH literal is buffered up to).
wedge_msg() {
	local i

	{
		printf 'From: Sender <sender@example.org>\n'
		printf 'To: Receiver <rcpt@example.net>\n'
		printf 'Subject: many Message-ID lines\n'
		printf 'Date: Mon, 3 Feb 2025 10:00:00 +0000\n'
		for i in $(seq 1520); do
			printf 'Message-ID: <wedge-%05d.padding.padding@example.net>\n' "$i"
		done
		printf '\nOne message, many Message-ID lines.\n'
	} >"$1"
}

# --- The header wedge: one message with an 82 KB Message-ID header
# between normal ones, and mail arriving after it. ---
dovecot_add_user wedge pw-wedge-1
mfd_account wedge pw-wedge-1
wedge_msg "$T/wedge.eml"
hdr=$(grep -c '^Message-ID:' "$T/wedge.eml")
sz=$(grep '^Message-ID:' "$T/wedge.eml" | wc -c)
[ "$sz" -gt 80000 ]
ok $? "the wedge message has $hdr Message-ID lines, $sz bytes of them"
dovecot_add_message wedge INBOX "$S/01-plain.eml"
dovecot_add_message wedge INBOX "$T/wedge.eml"
dovecot_add_message wedge INBOX "$S/02-utf8.eml"
mfd_conf wedge -- 'folder "INBOX" { }' 'folder "Proj" { }'
dovecot_add_folder wedge Proj
dovecot_add_message wedge Proj "$S/05-reply.eml"
dovecot_add_message wedge Proj "$T/wedge.eml"
MD=$T/wedge/Maildir
mfd_run_ok wedge 0 "an 82 KB Message-ID header: the run delivers"
tap_unlike "$err" 'bad response|too large to buffer' "no protocol error"
tap_like "$err" 'folder=INBOX uid=2: its Message-ID header is longer than 64 KiB' \
    "the log says which message's Message-ID was not kept"
mfd_expect "$MD" "" "$S/01-plain.eml" "$T/wedge.eml" "$S/02-utf8.eml"
mfd_expect "$MD" Proj "$S/05-reply.eml" "$T/wedge.eml"
dovecot_add_message wedge INBOX "$S/03-multipart.eml"
mfd_run_ok wedge 0 "mail arriving after it is delivered"
mfd_expect "$MD" "" "$S/01-plain.eml" "$T/wedge.eml" "$S/02-utf8.eml" \
    "$S/03-multipart.eml"
mfd_run_ok wedge 1 "the run after that: nothing new, nothing twice"
mfd_expect "$MD" "" "$S/01-plain.eml" "$T/wedge.eml" "$S/02-utf8.eml" \
    "$S/03-multipart.eml"

# The same message in a folder whose UIDVALIDITY changed: its headers
# are read for matching too. Its Message-ID could not be read, so it is
# not matched: it arrives a second time (a duplicate, never a loss); the
# others are matched, and a new one arrives.
dovecot_imap_cmd wedge pw-wedge-1 'DELETE Proj' 'CREATE Proj' >/dev/null &&
    dovecot_append wedge Proj "$S/05-reply.eml" >/dev/null &&
    dovecot_append wedge Proj "$T/wedge.eml" >/dev/null &&
    dovecot_append wedge Proj "$S/06-list.eml" >/dev/null
ok $? "Proj deleted and created again with the same messages and one more"
mfd_run_ok wedge 0 "after the UIDVALIDITY change the run delivers"
tap_like "$err" 'UIDVALIDITY changed' "the change is logged"
mfd_expect "$MD" Proj "$S/05-reply.eml" "$T/wedge.eml" "$T/wedge.eml" \
    "$S/06-list.eml"
mfd_run_ok wedge 1 "then nothing new"

mfd_no_secret pw-wedge-1
mfd_no_sanitizer
tap_done
