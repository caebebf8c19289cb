#!/bin/bash
# pop3_fault.sh: mailfetchd --once against the scripted POP3 server
# (pop3_server.py) for what Dovecot will not do: a connection cut before
# the final '.', [IN-USE], [LOGIN-DELAY], Gmail's web-login refusal, no
# UIDL, no STLS offered, and STLS with a certificate from the wrong CA
# (no credentials may reach the server). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/tap.sh"

command -v python3 >/dev/null || tap_bail "python3 not found"
command -v openssl >/dev/null || tap_bail "openssl not found"
T=$(mktemp -d /tmp/mfd-pop3f.XXXXXX)
tap_cleanup_add 'rm -rf "$T"'
SECRET='pop3-S3cret-fault'
printf '%s\n' "$SECRET" > "$T/pass"
chmod 600 "$T/pass"
. "$top_srcdir/tests/lib/scripted.sh"

# server MODE [ARGS]: (re)starts the scripted server; sets $port.
server() {
	scripted_start "$T/log" "$top_srcdir/tests/integration/pop3_server.py" \
	    "$@"
}

# conf NAME TLS KEEP [EXTRA]: one account on the scripted server.
conf() {
	cat > "$T/$1.conf" <<EOF
state_dir = "$T/state"
account "$1" {
    protocol = pop3
    host = "127.0.0.1"
    port = $port
    tls = $2
    user = "fault@example.net"
    password_file = "$T/pass"
    maildir = "$T/Maildir-$1"
    keep = $3
    timeout = 10s
    ${4:-}
}
EOF
}

# run NAME: sets $rc and $err.
run() {
	"$MAILFETCHD" -c "$T/$1.conf" --once -v -v >"$T/out" 2>"$T/err"
	rc=$?
	err=$(cat "$T/err")
	cat "$T/err" >> "$T/all-output"
}

count() {
	find "$1/new" "$1/cur" -type f 2>/dev/null | wc -l
}

# ---- connection cut before the final '.' --------------------------------
server cut
conf cut none yes
run cut
tap_is "$rc" 4 "cut in the middle of RETR: exit 4"
tap_like "$err" "in the middle of a message" "the cut is reported"
tap_is "$(count "$T/Maildir-cut"):$(find "$T/Maildir-cut/tmp" -type f | wc -l)" \
    "0:0" "nothing left in new/, cur/ or tmp/"
run cut
tap_is "$rc:$(count "$T/Maildir-cut")" "0:3" "the next run fetches everything"
f=$(grep -l 'Subject: m1' "$T"/Maildir-cut/new/* | head -1)
printf 'From: a@example.net\nSubject: m1\n\nbody 1\n.dot line 1\n' > "$T/m1"
cmp -s "${f:-/nonexistent}" "$T/m1"
ok $? "the message is complete and unstuffed"
run cut
tap_is "$rc:$(count "$T/Maildir-cut")" "1:3" "and nothing is fetched twice"

# ---- refusals at login --------------------------------------------------
server inuse
conf inuse none yes
run inuse
tap_is "$rc" 6 "[IN-USE]: exit 6 (locked, back off)"
tap_like "$err" "IN-USE.*another client holds the maildrop" "[IN-USE] is explained"

server logindelay
conf ld none yes
run ld
tap_is "$rc" 4 "[LOGIN-DELAY]: exit 4 (temporary)"
tap_like "$err" "one login every 900 s" "[LOGIN-DELAY] names the server's delay"

server weblogin
conf wl none yes
run wl
tap_is "$rc" 3 "[AUTH] Web login required: exit 3"
tap_like "$err" "Web login required.*web page" "the provider's text comes with a hint"

# ---- APOP, only when configured ----------------------------------------
server apop --secret "$SECRET"
conf ap none yes
run ap
tap_is "$rc" 3 "without auth = apop, APOP is not used (USER refused: exit 3)"
tap_is "$(grep -c ' APOP ' "$T/log")" 0 "no APOP sent unless configured"
conf ap none yes "auth = apop"
run ap
tap_is "$rc:$(count "$T/Maildir-ap")" "0:3" "auth = apop: the MD5 digest is accepted"

# ---- no UIDL --------------------------------------------------------------
server nouidl
conf nu none yes
run nu
tap_is "$rc" 5 "no UIDL with keep = yes: refused, exit 5"
tap_like "$err" "does not support UIDL" "the refusal says why"
tap_is "$(grep -c 'RETR' "$T/log")" 0 "nothing retrieved"
conf nu none no
run nu
tap_is "$rc:$(count "$T/Maildir-nu")" "0:3" "no UIDL with keep = no: every message fetched"
tap_is "$(grep -c ' DELE ' "$T/log")" 3 "and deleted"
run nu
tap_is "$rc:$(count "$T/Maildir-nu")" "1:3" "the maildrop is empty afterwards"

# ---- STLS ---------------------------------------------------------------
server nostls
conf ns starttls yes
run ns
tap_is "$rc" 4 "STLS not offered: exit 4"
tap_like "$err" "does not offer STLS" "the missing STLS is reported"
grep -qE ' (USER|PASS|AUTH|APOP)' "$T/log"
tap_is "$?" 1 "no credentials sent without STLS"

# ---- a UIDL given to a second message after a crash (keep = no) ---------
# Killed once messages 1-3 are journaled; then the server lists a new
# message 4 under message 1's UIDL. Recovery records uid-1 as delivered,
# but which of the two messages now listed with it was delivered is
# unknown: neither may be deleted (message 4 never was delivered).
server uidlnew
conf reuse none no
MAILFETCHD_FAULT=pop3-journaled run reuse
tap_is "$rc" 137 "reused UIDL: killed at pop3-journaled"
run reuse
tap_is "$rc:$(count "$T/Maildir-reuse")" "0:3" \
    "reused UIDL: the next run delivers the three journaled messages"
grep -qE '^[0-9]+ DELE 4$' "$T/log"
tap_is "$?" 1 "reused UIDL: message 4, never delivered, is not deleted"
grep -qE '^[0-9]+ DELE 1$' "$T/log"
tap_is "$?" 1 "reused UIDL: nor message 1 (ambiguous: left on the server)"
tap_is "$(grep -cE '^[0-9]+ DELE [23]$' "$T/log")" 2 \
    "reused UIDL: messages 2 and 3 (unambiguous) are deleted"
tap_like "$err" 'duplicate UIDL "uid-1".*none of them is deleted' \
    "reused UIDL: the log says why"

# ---- a freed UIDL given to a new message while DELEs are owed ----------
# keep = no, killed at pop3-saved (messages 1-3 delivered, their DELEs
# owed, not sent) or at pop3-journaled (the journal names them). Then
# another client deletes message 1 and a new message 4 (another size)
# arrives under its freed UIDL uid-1. The owed DELE must not hit message
# 4: it is a new message, fetched first. freed NAME FAULT:
freed() {
	server uidlreuse
	conf "$1" none no
	MAILFETCHD_FAULT=$2 run "$1"
	tap_is "$rc" 137 "freed UIDL, $2: killed"
	run "$1"
	tap_is "$rc:$(count "$T/Maildir-$1")" "0:4" \
	    "freed UIDL, $2: messages 1-3 and the new one under uid-1 delivered"
	tap_is "$(grep -l 'never fetched' "$T/Maildir-$1"/new/* | wc -l)" 1 \
	    "freed UIDL, $2: the new message is in the Maildir"
	# Checked by content whatever the size LIST gives (a size may flap:
	# review r14, finding 10), message 4 too, then fetched.
	tap_is "$(grep -E '^2 (RETR|DELE) ' "$T/log" | tr '\n' ,)" \
	    "2 RETR 1,2 RETR 2,2 RETR 3,2 DELE 1,2 DELE 2,2 RETR 3,2 DELE 3," \
	    "freed UIDL, $2: messages 2 and 3 checked by RETR, then DELE as owed; message 4 fetched"
	tap_like "$err" 'message now listed under UIDL "uid-1" is not the one delivered \(its content differs\): not deleted' \
	    "freed UIDL, $2: the log names the UIDL and why it is not deleted"
	run "$1"
	tap_is "$rc:$(count "$T/Maildir-$1"):$(grep -c '^3 RETR' "$T/log")" \
	    "1:4:0" "freed UIDL, $2: the maildrop is empty afterwards"
}
freed freed pop3-saved
freed freedj pop3-journaled

# The same, but the new message under uid-1 has message 1's size: message
# 5 another header, message 6 the same header section (no Date, no
# Message-ID: a local program's alert) and only another body. Each owed
# DELE of the earlier run is sent only once RETR n shows the whole
# message the one delivered (TOP n 0, comparing the header alone, deleted
# message 6 unseen: review r6, finding 03). reused NAME MODE FAULT NEW
# (a pattern of the new message):
reused() {
	server "$2"
	conf "$1" none no
	MAILFETCHD_FAULT=$3 run "$1"
	tap_is "$rc" 137 "same-size freed UIDL ($2), $3: killed"
	run "$1"
	tap_is "$(grep -l "$4" "$T/Maildir-$1"/new/* | wc -l)" 1 \
	    "same-size freed UIDL ($2), $3: the new message is in the Maildir, once"
	tap_is "$rc:$(count "$T/Maildir-$1")" "0:4" \
	    "same-size freed UIDL ($2), $3: messages 1-3 and the new one delivered, none twice"
	tap_is "$(grep -E '^2 (RETR|DELE|TOP) ' "$T/log" | tr '\n' ,)" \
	    "2 RETR 1,2 RETR 2,2 RETR 3,2 DELE 1,2 DELE 2,2 RETR 3,2 DELE 3," \
	    "same-size freed UIDL ($2), $3: RETR checks each owed DELE; message 3 (the new one) fetched, not deleted unseen"
	tap_like "$err" 'message now listed under UIDL "uid-1" is not the one delivered \(its content differs\): not deleted; fetched as a new message' \
	    "same-size freed UIDL ($2), $3: the log names the UIDL and why"
	tap_like "$err" 'deleting 3 delivered message.s. left on the server by an interrupted run, each read again first' \
	    "same-size freed UIDL ($2), $3: the log says the owed messages are read again"
	run "$1"
	tap_is "$rc:$(count "$T/Maildir-$1"):$(grep -c '^3 RETR' "$T/log")" \
	    "1:4:0" "same-size freed UIDL ($2), $3: the maildrop is empty afterwards"
}
reused same uidlsame pop3-saved 'Subject: n1'
reused samej uidlsame pop3-journaled 'Subject: n1'
reused body uidlbody pop3-saved 'body 9'
reused bodyj uidlbody pop3-journaled 'body 9'

restate() { scripted_pop3_restate "$@"; }

# Server answers after a kill at pop3-saved (keep = no).
RCHK="2 RETR 1,2 RETR 2,2 RETR 3,"	# the owed DELEs checked by RETR
TOPS="2 TOP 1 0,2 TOP 2 0,2 TOP 3 0,"	# ... or by TOP
DELES="2 DELE 1,2 DELE 2,2 DELE 3,"
# Killed at pop3-saved; the owed set as written (FORM whole: each entry
# with the message's content digest, checked by RETR, TOP or no TOP) or as
# the previous version wrote it (FORM hdr: the header section's digest).
# A header digest cannot tell the message delivered from another with
# the same header section and size that the server gave the freed UIDL
# to (TOP n 0 passed it, and the DELE lost it: review r9, finding 05b):
# none is sent unseen, with or without TOP; each message is fetched again
# (a duplicate at worst) and deleted only then; a warning says so.
# owed NAME MODE FORM LOG COUNT [WARNING]:
owed() {
	server "$2"
	conf "$1" none no
	MAILFETCHD_FAULT=pop3-saved run "$1"
	tap_is "$rc:$(count "$T/Maildir-$1")" "137:3" "$1: killed at pop3-saved"
	if [ "$3" = hdr ]; then
		restate "$T/state/$1.state" "pending " "" hdr
		grep -qE '^pending INBOX uid-1%09[0-9]+%09[0-9a-f]{16}%20uid-2%09[0-9]+%09[0-9a-f]{16}%20uid-3%09[0-9]+%09[0-9a-f]{16}$' \
		    "$T/state/$1.state"
		tap_is "$?" 0 "$1: the owed set is in the previous version's form"
	fi
	run "$1"
	tap_is "$(grep -E '^2 (RETR|DELE|TOP) ' "$T/log" | tr '\n' ,)" "$4" \
	    "$1: no owed DELE before the message is checked or fetched again"
	tap_is "$(count "$T/Maildir-$1")" "$5" "$1: $5 messages in the Maildir"
	[ -z "${6:-}" ] ||
	    tap_like "$err" "$6" "$1: the log names the UIDL and why it is not deleted"
}
HDRWARN='DELE owed for UIDL "uid-2" was recorded with the digest of the message.s header section only.*not deleted; fetched again'
owed notop notop whole "$RCHK$DELES" 3
owed toperr toperr whole "$RCHK$DELES" 3
owed hdrtop plain hdr "$RCHK$DELES" 6 "$HDRWARN"
owed hdrnotop notop hdr "$RCHK$DELES" 6 "$HDRWARN"
owed hdrtoperr toperr hdr "$RCHK$DELES" 6 "$HDRWARN"
# r9 05b: uid-1 now names message 6, message 1's header section and size
# with another body: fetched, never deleted unseen.
owed hdrbody uidlbody hdr "$RCHK$DELES" 6 "$HDRWARN"
tap_is "$(grep -l 'body 9' "$T/Maildir-hdrbody"/new/* | wc -l)" 1 \
    "hdrbody: the new message under the freed UIDL is in the Maildir, once"
tap_unlike "$err" 'each read again first' \
    "hdrbody: the log does not claim the unchecked messages are read again to check them"
run hdrbody
tap_is "$rc:$(count "$T/Maildir-hdrbody"):$(grep -cE '^3 (RETR|DELE|TOP) ' "$T/log")" "1:6:0" \
    "hdrbody: then nothing new, nothing fetched or deleted"

# An owed set saved by an older mailfetchd (bare UIDLs, or UIDLs with
# sizes but no digests): the messages cannot be told from new ones under
# the same UIDLs, so none is deleted unseen; each is fetched again (a
# duplicate), then deleted. old NAME REGEX (what to strip) STATE:
old() {
	server plain
	conf "$1" none no
	MAILFETCHD_FAULT=pop3-saved run "$1"
	tap_is "$rc:$(count "$T/Maildir-$1")" "137:3" \
	    "owed set of an older version ($1): killed at pop3-saved"
	grep -qE '^pending INBOX uid-1%09[0-9]+%09s[0-9a-f]{16}%20uid-2%09[0-9]+%09s[0-9a-f]{16}%20uid-3%09[0-9]+%09s[0-9a-f]{16}$' \
	    "$T/state/$1.state"
	tap_is "$?" 0 "the owed set records each UIDL with its size and the message's content digest"
	restate "$T/state/$1.state" "pending " "$2"
	grep -qE "^pending INBOX $3\$" "$T/state/$1.state"
	tap_is "$?" 0 "owed set of an older version ($1): the state now holds $3"
	run "$1"
	tap_is "$rc:$(count "$T/Maildir-$1")" "0:6" \
	    "owed set of an older version ($1): the three messages are fetched again"
	tap_is "$(grep -E '^2 (RETR|DELE) ' "$T/log" | tr '\n' ,)" \
	    "2 RETR 1,2 RETR 2,2 RETR 3,2 DELE 1,2 DELE 2,2 DELE 3," \
	    "owed set of an older version ($1): no DELE before the message is fetched again"
	tap_like "$err" 'DELE owed for UIDL "uid-2" was recorded without the message.s digest.*not deleted; fetched again' \
	    "owed set of an older version ($1): the log names the UIDL and says why"
}
old bare '%09[0-9]+%09s[0-9a-f]{16}' 'uid-1%20uid-2%20uid-3'
old sizeonly '%09s[0-9a-f]{16}(?=%20|$)' 'uid-1%09[0-9]+%20uid-2%09[0-9]+%20uid-3%09[0-9]+'

# A journal written by an older mailfetchd (ids without a digest, or
# without the size too, or with the header section's digest) after a
# keep = no run killed at pop3-journaled: the message's content digest is
# taken from each delivered file (it holds the bytes RETR digested), so
# RETR checks each message listed under a journaled UIDL and only then is
# it deleted; none is fetched again. oldj NAME REGEX (what to strip from
# the ids) IDS [hdr]:
oldj() {
	server plain
	conf "$1" none no
	MAILFETCHD_FAULT=pop3-journaled run "$1"
	tap_is "$rc" 137 "journal of an older version ($1): killed at pop3-journaled"
	restate "$T/state/$1.state" "inflight " "$2" ${4:-}
	tap_is "$(grep -cE "^inflight INBOX $3 " "$T/state/$1.state")" 3 \
	    "journal of an older version ($1): the ids are in the old form"
	run "$1"
	tap_is "$rc:$(count "$T/Maildir-$1")" "0:3" \
	    "journal of an older version ($1): recovered, no duplicate"
	tap_is "$(grep -E '^2 (RETR|DELE|TOP) ' "$T/log" | tr '\n' ,)" \
	    "$RCHK$DELES" \
	    "journal of an older version ($1): each checked by RETR, then deleted"
	run "$1"
	tap_is "$rc:$(count "$T/Maildir-$1")" "1:3" \
	    "journal of an older version ($1): then nothing new"
}
oldj jbare '%09[0-9]+%09s[0-9a-f]{16}(?= )' 'uid-[123]'
oldj jsizeonly '%09s[0-9a-f]{16}(?= )' 'uid-[123]%09[0-9]+'
oldj jhdr '' 'uid-[123]%09[0-9]+%09[0-9a-f]{16}' hdr

# An entry whose digest taken from the file does not match the message
# now listed under its UIDL (a mail reader rewrote the file, or the UIDL
# went to another message) is not deleted: RETR says so, and the message
# is fetched again (a duplicate, never a loss).
server plain
conf jedit none no
MAILFETCHD_FAULT=pop3-journaled run jedit
restate "$T/state/jedit.state" "inflight " '%09[0-9]+%09s[0-9a-f]{16}(?= )'
for f in "$T"/Maildir-jedit/tmp/*; do
	sed -i '1s/^/X-Edited: by a reader\n/' "$f"
done
run jedit
tap_is "$(grep -E '^2 (RETR|DELE|TOP) ' "$T/log" | tr '\n' ,)" \
    "$RCHK$RCHK$DELES" \
    "journal of an older version, files changed: no DELE before each is fetched again"
tap_like "$err" 'not the one delivered \(its content differs\): not deleted' \
    "journal of an older version, files changed: the log says why"

# The RETR checking an owed DELE is bounded: message 1's answer goes on
# past its LIST size (and never ends). It is not the message delivered:
# the rest is not read, the session ends, nothing is deleted; the next
# run fetches it as new (a duplicate at worst) and checks the others.
server checkdrip
conf cdrip none no
MAILFETCHD_FAULT=pop3-saved run cdrip
tap_is "$rc:$(count "$T/Maildir-cdrip")" "137:3" "check cut: killed at pop3-saved"
run cdrip
tap_is "$rc:$(grep -E '^2 (RETR|DELE|TOP) ' "$T/log" | tr '\n' ,)" \
    "5:2 RETR 1," "check cut: the endless answer ends the session, no DELE"
tap_like "$err" 'not the one delivered \(RETR 1 gives more than [0-9]+ bytes, LIST said [0-9]+\): not deleted' \
    "check cut: the log says why"
tap_like "$err" 'RETR 1: the answer goes on past [0-9]+ bytes; not read further' \
    "check cut: the log says the session ends"
run cdrip
tap_is "$rc:$(count "$T/Maildir-cdrip"):$(grep -E '^3 (RETR|DELE|TOP) ' "$T/log" | tr '\n' ,)" \
    "0:4:3 RETR 2,3 RETR 3,3 DELE 2,3 DELE 3,3 RETR 1,3 DELE 1," \
    "check cut: next run checks 2 and 3, fetches 1 again (a duplicate), deletes all"

# The RETR checking an owed DELE is refused for a while ([SYS/TEMP]):
# that says nothing of the message, so its DELE stays owed, checked
# again at the next poll; it is not fetched again (review r12, finding
# 13: the daemon's next poll fetched it again, a duplicate). The daemon
# polls (connection 2: refused), then a fetch now (connection 3).
. "$top_srcdir/tests/lib/daemon.sh"
server checktemp
conf ctemp none no "poll_interval = 1h"
MAILFETCHD_FAULT=pop3-saved run ctemp
tap_is "$rc:$(count "$T/Maildir-ctemp")" "137:3" "check refused for now: killed at pop3-saved"
daemon_start "$T/ctemp.conf"
daemon_wait_file "$T/log" '^2 QUIT' 20
# The refusal ends nothing: the others are checked and deleted (review
# r14, finding 13: one unreadable message held the account for ever).
tap_is "$(count "$T/Maildir-ctemp"):$(grep -E '^2 (RETR|DELE|TOP) ' "$T/log" | tr '\n' ,)" \
    "3:2 RETR 1,2 RETR 2,2 RETR 3,2 DELE 2,2 DELE 3," \
    "check refused for now: the daemon's poll fetches nothing again, no DELE of message 1; the others checked and deleted"
run ctemp
daemon_wait_file "$T/log" '^3 QUIT' 20
kill -TERM "$DPID"
wait "$DPID"
tap_like "$(cat "$DLOG")" 'RETR refused: .*SYS/TEMP.*its DELE stays owed' \
    "check refused for now: the log says the DELE stays owed"
cat "$DLOG" >> "$T/all-output"
tap_is "$(count "$T/Maildir-ctemp"):$(grep -E '^3 (RETR|DELE|TOP) ' "$T/log" | tr '\n' ,)" \
    "3:3 RETR 1,3 DELE 1," \
    "check refused for now: the fetch now checks message 1 and deletes it, each delivered once"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -days 2 -subj "/CN=localhost" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$T/srv.key" -out "$T/srv.pem" 2>/dev/null
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -days 2 -subj "/CN=unrelated CA" -keyout "$T/ca.key" \
    -out "$T/ca.pem" 2>/dev/null
server stls --cert "$T/srv.pem" --key "$T/srv.key"
conf st starttls yes "ca_file = \"$T/ca.pem\""
run st
tap_is "$rc" 4 "STLS with a certificate from the wrong CA: exit 4"
tap_like "$(cat "$T/log")" "STLS" "the client asked for STLS"
grep -qE ' (USER|PASS|AUTH|APOP)' "$T/log"
tap_is "$?" 1 "no credentials reached the server"
conf st starttls yes "ca_file = \"$T/srv.pem\""
run st
tap_is "$rc:$(count "$T/Maildir-st")" "0:3" "STLS with the right certificate works"
tap_is "$(grep -A1 '^2 STLS' "$T/log" | tail -n 1)" "2 CAPA" \
    "CAPA is asked again right after STLS"

if grep -qF "$SECRET" "$T/all-output"; then
	tap_fail "the password never appears in any output"
else
	tap_ok "the password never appears in any output"
fi
tap_done
