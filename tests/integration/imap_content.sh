#!/bin/bash
# imap_content.sh: message bodies arrive byte for byte. A 10 MB message;
# 8-bit, NUL-byte and non-UTF-8 messages; lines of 8 KB, 64 KB and 1 MB
# without a break. Dovecot keeps them with LF line ends on disk and serves
# them with CRLF; mailfetchd writes LF, so each delivered file must equal
# the file given to Dovecot (cmp). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"

mfd_init
dovecot_start
gen() { "$(_dc_python)" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }

dovecot_add_user body pw-body-31d9
mfd_account body pw-body-31d9
MD=$T/body/Maildir
mkdir "$T/m"
gen big "$T/m/big10m.eml" 10485760
gen 8bit "$T/m/8bit.eml"
gen nul "$T/m/nul.eml"
gen latin1 "$T/m/latin1.eml"
gen longline "$T/m/line8k.eml" 8192
gen longline "$T/m/line64k.eml" 65536
gen longline "$T/m/line1m.eml" 1048576
gen plain "$T/m/plain.eml" small
MSGS=(big10m 8bit nul latin1 line8k line64k line1m plain)
for m in "${MSGS[@]}"; do
	dovecot_add_message body INBOX "$T/m/$m.eml"
done
tap_is "$(cat "$T"/m/*.eml | tr -cd '\r' | wc -c)" 0 \
    "the generated messages have LF line ends only"
[ "$(stat -c %s "$T/m/big10m.eml")" -ge 10485760 ]
ok $? "the big message is at least 10 MB"
tap_is "$(tr -cd '\000' <"$T/m/nul.eml" | wc -c)" 4 "the NUL message holds 4 NUL bytes"
! iconv -f UTF-8 -t UTF-8 "$T/m/latin1.eml" >/dev/null 2>&1
ok $? "the Latin-1 message is not valid UTF-8"

# Dovecot serves a NUL byte in BODY[] as 0x80 (only BINARY[] keeps NULs,
# and BINARY[] decodes every Content-Transfer-Encoding, so no client can
# fetch a message byte-exact that way). So the NUL message is expected as
# the server serves it; check first that this is really what it serves.
tr '\000' '\200' <"$T/m/nul.eml" >"$T/m/nul-served.eml"
dovecot_imap_cmd body pw-body-31d9 'EXAMINE INBOX' \
    'UID FETCH 1:* (BODY.PEEK[])' >"$T/served" 2>&1
tap_like "$(LC_ALL=C grep -a -c $'before\x80after' "$T/served")" '^1$' \
    "Dovecot serves the NUL message with 0x80 for NUL"
tap_is "$(tr -cd '\000' <"$T/served" | wc -c)" 0 "Dovecot's BODY[] holds no NUL byte"

# The connection drops half way through the 10 MB message: exit 4,
# nothing partial anywhere, and the next run fetches everything once.
mfd_relay "$DC_IMAPS_PORT" "$T/capture" 5000000
MFD_PORT=$RELAY_PORT mfd_conf body
mfd_run body
tap_is "$rc" 4 "the connection drops in the middle of a message: exit status 4" "$err"
tap_like "$err" 'connection closed|closed the connection|reset' "the error says the connection broke"
mfd_expect "$MD" ""

mfd_conf body
t0=${EPOCHREALTIME/[.,]/}
mfd_run_ok body 0 "one run fetches all ${#MSGS[@]} messages"
t1=${EPOCHREALTIME/[.,]/}
tap_diag "fetched $(du -sh "$MD/new" | cut -f1) in $(((t1 - t0) / 1000)) ms"
files=()
for m in "${MSGS[@]}"; do
	[ "$m" = nul ] && m=nul-served
	files+=("$T/m/$m.eml")
done
mfd_expect "$MD" "" "${files[@]}"

# The same, message by message with cmp, so a failure says which one.
for m in "${MSGS[@]}"; do
	[ "$m" = nul ] && m=nul-served
	want=$T/m/$m.eml
	found=""
	for f in "$MD"/new/* "$MD"/cur/*; do
		[ -f "$f" ] || continue
		if [ "$(stat -c %s "$f")" = "$(stat -c %s "$want")" ] &&
		    cmp -s "$f" "$want"; then
			found=$f
			break
		fi
	done
	if [ -n "$found" ]; then
		tap_ok "$m: delivered byte for byte (cmp)"
	else
		# The closest candidate by subject, for the diagnostic.
		subj=$(LC_ALL=C grep -m1 -a '^Subject:' "$want")
		cand=$(LC_ALL=C grep -l -a -F -x -- "$subj" "$MD"/new/* "$MD"/cur/* 2>/dev/null | head -n 1)
		tap_fail "$m: delivered byte for byte (cmp)" \
		    "$(if [ -n "$cand" ]; then cmp "$cand" "$want" 2>&1; ls -l "$cand" "$want"; else echo "no message with $subj"; fi)"
	fi
done

mfd_run_ok body 1 "second run: nothing new"
mfd_expect "$MD" "" "${files[@]}"
mfd_no_secret pw-body-31d9
mfd_no_sanitizer
tap_done
