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

# recreate USER PASSWORD FOLDER FILE...: DELETE and CREATE the folder (a
# new UIDVALIDITY), then APPEND each FILE to it.
recreate() {
	local user=$1 pw=$2 folder=$3 f

	shift 3
	dovecot_imap_cmd "$user" "$pw" "DELETE $folder" "CREATE $folder" \
	    >/dev/null || return 1
	for f in "$@"; do
		dovecot_append "$user" "$folder" "$f" >/dev/null || return 1
	done
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
recreate wedge pw-wedge-1 Proj "$S/05-reply.eml" "$T/wedge.eml" \
    "$S/06-list.eml"
ok $? "Proj deleted and created again with the same messages and one more"
mfd_run_ok wedge 0 "after the UIDVALIDITY change the run delivers"
tap_like "$err" 'UIDVALIDITY changed' "the change is logged"
mfd_expect "$MD" Proj "$S/05-reply.eml" "$T/wedge.eml" "$T/wedge.eml" \
    "$S/06-list.eml"
mfd_run_ok wedge 1 "then nothing new"

# --- A Message-ID reused: after a UIDVALIDITY change, a message with the
# Message-ID and size of one delivered before, but other content, is
# delivered; the one delivered before is not, even when both are back. ---
dovecot_add_user reuse pw-reuse-1
mfd_account reuse pw-reuse-1
reuse_msg() {
	printf 'From: Sender <sender@example.org>\nTo: Receiver <rcpt@example.net>\nSubject: %s\nDate: Mon, 3 Feb 2025 10:00:00 +0000\nMessage-ID: <reused@example.org>\n\n%s\n' \
	    "$2" "$3" >"$1"
}
reuse_msg "$T/ra.eml" "weekly report" "apples: 4"
reuse_msg "$T/rb.eml" "weekly report" "lemons: 9"
[ "$(wc -c <"$T/ra.eml")" = "$(wc -c <"$T/rb.eml")" ] &&
    ! cmp -s "$T/ra.eml" "$T/rb.eml"
ok $? "two different messages with one Message-ID and one size"
dovecot_add_folder reuse Proj
dovecot_add_message reuse Proj "$T/ra.eml"
mfd_conf reuse -- 'folder "Proj" { }'
RD=$T/reuse/Maildir
mfd_run_ok reuse 0 "the first of them is delivered"
mfd_expect "$RD" Proj "$T/ra.eml"
recreate reuse pw-reuse-1 Proj "$T/ra.eml" "$T/rb.eml" "$S/01-plain.eml"
ok $? "Proj recreated with the first, the second, and a new message"
mfd_run_ok reuse 0 "after the UIDVALIDITY change"
tap_like "$err" 'UIDVALIDITY changed' "the change is logged"
tap_like "$err" '1 message\(s\) are new; 2 have the Message-ID and size' \
    "the log says what is new and what is compared"
tap_like "$err" 'same Message-ID and size as a message delivered before.*delivering it' \
    "the log says why the second is delivered"
mfd_expect "$RD" Proj "$T/ra.eml" "$T/rb.eml" "$S/01-plain.eml"
mfd_run_ok reuse 1 "then nothing new"
mfd_expect "$RD" Proj "$T/ra.eml" "$T/rb.eml" "$S/01-plain.eml"
# Both are in the log now, each with its content: a second change
# delivers neither again.
recreate reuse pw-reuse-1 Proj "$T/rb.eml" "$T/ra.eml"
ok $? "Proj recreated again with both"
mfd_run_ok reuse 1 "after a second UIDVALIDITY change: nothing new"
tap_like "$err" '0 message\(s\) are new; 2 have the Message-ID and size' \
    "both were compared by content"
mfd_expect "$RD" Proj "$T/ra.eml" "$T/rb.eml" "$S/01-plain.eml"

mfd_no_secret pw-wedge-1 pw-reuse-1
mfd_no_sanitizer
tap_done
