#!/bin/bash
# pop3_dovecot.sh: mailfetchd --once against a real Dovecot POP3 (POP3S and
# STLS with the test CA): keep and delete, second run, new mail between
# runs, UIDL pruning after a server-side deletion, a 10 MB message and
# byte-exact delivery of awkward content, more messages than the pipelining
# window. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/dovecot.sh"

dovecot_start
T=$(mktemp -d /tmp/mfd-pop3.XXXXXX)
tap_cleanup_add 'rm -rf "$T"'

# conf NAME USER TLS PORT KEEP [EXTRA]: writes $T/NAME.conf for one account.
conf() {
	printf '%s\n' "pw-$2" > "$T/$2.pass"
	chmod 600 "$T/$2.pass"
	cat > "$T/$1.conf" <<EOF
state_dir = "$T/state"
account "$1" {
    protocol = pop3
    host = "localhost"
    port = $4
    tls = $3
    ca_file = "$DC_CA"
    user = "$2"
    password_file = "$T/$2.pass"
    maildir = "$T/Maildir-$1"
    keep = $5
    ${6:-}
}
EOF
}

# run NAME: mailfetchd --once for account NAME; sets $rc and $err.
run() {
	"$MAILFETCHD" -c "$T/$1.conf" --once -v -v >"$T/out" 2>"$T/err"
	rc=$?
	err=$(cat "$T/err")
	cat "$T/err" >> "$T/all-output"
}

# count DIR: files in DIR/new and DIR/cur.
count() {
	find "$1/new" "$1/cur" -type f 2>/dev/null | wc -l
}

# sums FILE...: the files' MD5 sums, sorted (contents, whatever the names).
sums() {
	md5sum "$@" | cut -d' ' -f1 | sort
}

# uidls NAME: UIDL records in the account's state file.
uidls() {
	local n

	n=$(grep -c '^uidl ' "$T/state/$1.state" 2>/dev/null)
	echo "${n:-0}"
}

# server_count USER: messages in the user's INBOX, via IMAP.
server_count() {
	dovecot_imap_cmd "$1" "pw-$1" 'STATUS INBOX (MESSAGES)' |
	    sed -n 's/.*(MESSAGES \([0-9]*\)).*/\1/p'
}

# ---- POP3S, keep = yes -------------------------------------------------
dovecot_add_user alice pw-alice
dovecot_add_message alice INBOX "$DC_SAMPLES/01-plain.eml"
dovecot_add_message alice INBOX "$DC_SAMPLES/02-utf8.eml"
dovecot_add_message alice INBOX "$DC_SAMPLES/04-dot-lines.eml"
conf keep alice implicit "$DC_POP3S_PORT" yes
run keep
tap_is "$rc" 0 "POP3S keep = yes: exit 0 (new mail)"
tap_is "$(count "$T/Maildir-keep")" 3 "three messages delivered"
tap_is "$(find "$T/Maildir-keep/new" -type f | wc -l)" 3 "delivered into new/"
tap_is "$(uidls keep)" 3 "three UIDLs in the state"
tap_is "$(server_count alice)" 3 "keep = yes leaves the server unchanged"
tap_like "$err" "fetched 3 message" "the summary line counts three"
f=$(grep -l dotstuff "$T"/Maildir-keep/new/* | head -1)
cmp -s "$f" "$DC_SAMPLES/04-dot-lines.eml"
ok $? "dot lines delivered byte for byte (LF line ends)"

run keep
tap_is "$rc" 1 "second run: exit 1 (nothing new)"
tap_is "$(count "$T/Maildir-keep")" 3 "second run fetches nothing"

dovecot_add_message alice INBOX "$DC_SAMPLES/05-reply.eml"
run keep
tap_is "$rc:$(count "$T/Maildir-keep")" "0:4" "new mail between runs is fetched once"
run keep
tap_is "$rc:$(count "$T/Maildir-keep")" "1:4" "and not again"

# Server-side deletion: the state forgets UIDLs the server no longer lists.
dovecot_imap_cmd alice pw-alice 'SELECT INBOX' 'STORE 1:2 +FLAGS (\Deleted)' \
    'EXPUNGE' >/dev/null
ok $? "two messages expunged on the server"
run keep
tap_is "$rc" 1 "after the deletion: nothing new"
# keep = yes: a UIDL is forgotten after two listings in a row without it
# (one listing may leave out a message still there: chaos 661095042).
tap_is "$(uidls keep)" 4 "the UIDLs of the two left out once are kept"
run keep
tap_is "$rc" 1 "a second listing without them: nothing new"
tap_is "$(uidls keep)" 2 "the state's UIDL set is pruned to what the server lists"

# ---- STLS, keep = no, local_flags = seen --------------------------------
dovecot_add_user bob pw-bob
for f in 01-plain 02-utf8 03-multipart 04-dot-lines 06-list; do
	dovecot_add_message bob INBOX "$DC_SAMPLES/$f.eml"
done
conf del bob starttls "$DC_POP3_PORT" no "local_flags = seen"
run del
tap_is "$rc" 0 "STLS keep = no: exit 0"
tap_like "$err" "TLS: TLS" "the session went through STLS"
tap_is "$(find "$T/Maildir-del/cur" -type f -name '*:2,S' | wc -l)" 5 \
    "local_flags = seen: five messages in cur/ with :2,S"
tap_is "$(server_count bob)" 0 "keep = no: the server maildrop is empty"
tap_like "$err" "deleted 5 on the server" "the summary counts the deletions"
tap_is "$(grep -c '^pending ' "$T/state/del.state")" 0 "no DELE left owed"
run del
tap_is "$rc:$(count "$T/Maildir-del")" "1:5" "second run: nothing new, nothing doubled"
tap_is "$(uidls del)" 0 "UIDLs of deleted messages are pruned"

# ---- sizes and awkward bytes --------------------------------------------
dovecot_add_user carol pw-carol
python3 - "$T" <<'EOF'
import os, sys
t = sys.argv[1]
hdr = b"From: a@example.net\nTo: b@example.net\nSubject: %s\n\n"
with open(t + "/big.eml", "wb") as f:
    f.write(hdr % b"ten megabytes")
    line = b"0123456789" * 7 + b"\n"
    f.write(line * (10 * 1024 * 1024 // len(line)))
with open(t + "/odd.eml", "wb") as f:
    f.write(hdr % b"odd bytes")
    f.write(b".\n..\n...\n.x\n. \n")
    f.write(bytes(range(1, 10)) + b"\x0b\x0c" + bytes(range(14, 256)) + b"\n")
    f.write(b"nul\x00byte\x00\n")
    f.write(b"bare\rcr\n")
    f.write(b"8k" + b"x" * 8192 + b"\n")
    f.write(b".64k" + b"y" * 65536 + b"\n")
    f.write(b"1m" + b"z" * (1024 * 1024) + b"\n")
    f.write(b"last line\n")
EOF
dovecot_add_message carol INBOX "$T/big.eml"
dovecot_add_message carol INBOX "$T/odd.eml"
conf bytes carol implicit "$DC_POP3S_PORT" yes
start=$SECONDS
run bytes
tap_is "$rc" 0 "10 MB and odd-bytes messages fetched"
f=$(grep -l 'ten megabytes' "$T"/Maildir-bytes/new/* | head -1)
cmp -s "${f:-/nonexistent}" "$T/big.eml"
ok $? "the 10 MB message is byte-exact"
f=$(grep -la 'odd bytes' "$T"/Maildir-bytes/new/* | head -1)
cmp "${f:-/nonexistent}" "$T/odd.eml" >/dev/null 2>&1
ok $? "dot-stuffed lines, 8-bit, NUL, bare CR, 8 KB, 64 KB, 1 MB lines are byte-exact"
tap_diag "fetching 10 MB took $((SECONDS - start)) s"

# max_message_size: skipped, remembered, not deleted with keep = no.
dovecot_add_user dave pw-dave
dovecot_add_message dave INBOX "$T/big.eml"
dovecot_add_message dave INBOX "$DC_SAMPLES/01-plain.eml"
conf max dave implicit "$DC_POP3S_PORT" no "max_message_size = 1M"
run max
tap_is "$rc:$(count "$T/Maildir-max")" "0:1" "the message over max_message_size is skipped"
tap_like "$err" "larger than max_message_size" "the skip is logged"
tap_is "$(server_count dave)" 1 "keep = no does not delete a skipped message"
run max
tap_is "$rc" 1 "next run: nothing new"
tap_unlike "$err" "larger than max_message_size" "the skipped message is not tried again"

# ---- more messages than the RETR/DELE window (PIPELINING) -----------------
# 70 messages: the window of 64 is refilled half a window at a time, for
# RETR (keep = no) and then DELE; every message arrives once, byte-exact,
# and every one is deleted.
dovecot_add_user erin pw-erin
mkdir -p "$T/many"
for i in $(seq 1 70); do
	printf 'From: a@example.net\nSubject: many %d\n\nbody %d\n.%d\n' \
	    "$i" "$i" "$i" > "$T/many/$i.eml"
	dovecot_add_message erin INBOX "$T/many/$i.eml"
done
conf many erin implicit "$DC_POP3S_PORT" no
run many
tap_is "$rc:$(count "$T/Maildir-many")" "0:70" "70 messages over a window of 64: all delivered"
tap_is "$(sums "$T"/Maildir-many/new/*)" "$(sums "$T"/many/*.eml)" \
    "each byte-exact, none twice"
tap_is "$(server_count erin)" 0 "and all 70 deleted on the server"
tap_is "$(grep -c '> RETR ' "$T/err")" 70 "one RETR each"

# ---- wrong CA: refused ------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -days 2 -subj "/CN=other CA" -keyout "$T/other.key" \
    -out "$T/other.pem" 2>/dev/null
sed "s|$DC_CA|$T/other.pem|" "$T/keep.conf" > "$T/wrongca.conf"
sed -i 's/account "keep"/account "wrongca"/' "$T/wrongca.conf"
logins=$(grep -c 'pop3-login: Login' "$DC_LOG")
run wrongca
tap_is "$rc" 4 "POP3S with the wrong CA: exit 4"
tap_like "$err" "certificate" "the error names the certificate problem"
tap_is "$(grep -c 'pop3-login: Login' "$DC_LOG")" "$logins" "no login reached the server"

if grep -qF "pw-" "$T/all-output"; then
	tap_fail "no password in any output"
else
	tap_ok "no password in any output"
fi
tap_done
