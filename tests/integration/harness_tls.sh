#!/bin/bash
# harness_tls.sh: proves the Dovecot test harness (tests/lib/dovecot.sh)
# does what every protocol test relies on: four verified TLS endpoints, the
# certificate facts it exports, mail loading that the server really sees,
# users added at any time, port retries, and a stop that leaves nothing.
#
# Run by `make check`, or standalone as root: bash tests/integration/harness_tls.sh

set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"

# openssl s_client to 127.0.0.1:PORT verifying "localhost" against CA, with
# STARTTLS for PROTO when not empty; sends INPUT (LF -> CRLF) and prints
# everything it got (the session summary and the server's lines).
sclient()
{
	local port=$1 proto=$2 ca=$3 input=$4
	local -

	set -o pipefail		# the status is openssl's
	shift 4
	printf '%s' "$input" |
	    timeout 20 openssl s_client -connect "127.0.0.1:$port" \
		-servername localhost -CAfile "$ca" -verify_return_error \
		-verify_hostname localhost -ign_eof -crlf \
		${proto:+-starttls "$proto"} "$@" 2>&1 | tr -d '\0'
}

# Read the plain-text greeting on PORT (first line, CR removed).
plain_greeting()
{
	local line

	exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
	IFS= read -r -t 5 line <&3
	exec 3<&- 3>&-
	printf '%s\n' "${line%$'\r'}"
}

# Size of FILE as a POP3/IMAP client sees it: every LF becomes CRLF.
wire_size()
{
	echo $(($(wc -c <"$1") + $(wc -l <"$1")))
}

# Count of listeners on 127.0.0.1 among the instance's four ports.
listening()
{
	ss -Htln "src 127.0.0.1 and ( sport = :$DC_IMAP_PORT or sport = :$DC_IMAPS_PORT or sport = :$DC_POP3_PORT or sport = :$DC_POP3S_PORT )" |
	    wc -l
}

S=$DC_SAMPLES

# --- start -----------------------------------------------------------------
dovecot_start
tap_diag "dovecot_start: ${DC_START_MS} ms, ports $DC_IMAP_PORT..$DC_POP3S_PORT, $DC_DIR"
tap_is "$(listening)" 4 "all four ports listen on 127.0.0.1"
tap_like "$DC_FP_SHA256" '^sha256:[0-9a-f]{64}$' "DC_FP_SHA256 is sha256:<64 lowercase hex>"
conf=$DC_CONF
tap_like "$(cat "$conf")" 'pop3_uidl_format = %08Xu%08Xv' "configuration is the harness's own"
tap_unlike "$(grep -v '^[[:space:]]*#' "$conf")" '/etc/dovecot|!include' \
    "configuration includes nothing from /etc/dovecot"

# --- TLS endpoints ---------------------------------------------------------
out=$(sclient "$DC_IMAPS_PORT" "" "$DC_CA" $'a LOGOUT\n')
rc=$?
tap_like "$out" 'Verify return code: 0 \(ok\)' "IMAPS: certificate verified (CA, host name localhost)"
tap_like "$out" '^\* OK' "IMAPS: '* OK' greeting over TLS"
ok $rc "IMAPS: s_client exit status 0" "$out"

out=$(sclient "$DC_POP3S_PORT" "" "$DC_CA" $'QUIT\n')
tap_like "$out" 'Verify return code: 0 \(ok\)' "POP3S: certificate verified"
tap_like "$out" '^\+OK' "POP3S: '+OK' greeting over TLS"

tap_like "$(plain_greeting "$DC_IMAP_PORT")" '^\* OK .*STARTTLS' \
    "IMAP: plain greeting advertises STARTTLS"
out=$(sclient "$DC_IMAP_PORT" imap "$DC_CA" $'a LOGOUT\n')
tap_like "$out" 'Verify return code: 0 \(ok\)' "IMAP STARTTLS: certificate verified"
tap_like "$out" '^a OK' "IMAP STARTTLS: session works after the upgrade"

tap_like "$(plain_greeting "$DC_POP3_PORT")" '^\+OK' "POP3: plain greeting"
out=$(sclient "$DC_POP3_PORT" pop3 "$DC_CA" $'CAPA\nQUIT\n')
tap_like "$out" 'Verify return code: 0 \(ok\)' "POP3 STLS: certificate verified"
tap_like "$out" '^\+OK' "POP3 STLS: session works after the upgrade"

# An unrelated CA must not verify the server.
other=$(mktemp -d /tmp/mfd-ca.XXXXXX)
tap_cleanup_add "rm -rf '$other'"
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -days 1 -subj "/CN=unrelated CA" -keyout "$other/ca.key" \
    -out "$other/ca.pem" 2>/dev/null || tap_bail "cannot make the unrelated CA"
out=$(sclient "$DC_IMAPS_PORT" "" "$other/ca.pem" $'a LOGOUT\n')
rc=$?
[ "$rc" -ne 0 ]
ok $? "wrong CA: s_client fails" "$out"
tap_like "$out" 'verify error' "wrong CA: verification error reported"
tap_unlike "$out" '^\* OK' "wrong CA: no greeting reached the client"
out=$(sclient "$DC_POP3_PORT" pop3 "$other/ca.pem" $'QUIT\n')
tap_like "$out" 'verify error' "wrong CA: STLS verification fails too"

out=$(sclient "$DC_IMAPS_PORT" "" "$DC_CA" $'a LOGOUT\n' -verify_hostname wrong.example)
tap_like "$out" 'verify error:num=62|[Hh]ostname mismatch' "wrong host name: verification fails"

# The fingerprint tests will pin is the one the server presents.
fp=$(sclient "$DC_IMAPS_PORT" "" "$DC_CA" $'a LOGOUT\n' |
    openssl x509 -noout -fingerprint -sha256 2>/dev/null)
fp=${fp#*=}
fp=${fp//:/}
tap_is "sha256:${fp,,}" "$DC_FP_SHA256" "DC_FP_SHA256 matches the certificate the server presents"

# --- users and mail --------------------------------------------------------
dovecot_add_user alice pw-alice
dovecot_add_message alice INBOX "$S/01-plain.eml"
tap_like "$DC_LAST_MESSAGE" '/Maildir/new/[^/]+$' "add_message without flags goes to new/"
tap_is "$(stat -c %U "$DC_LAST_MESSAGE")" "$DC_MAIL_USER" "loaded message owned by the mail user"
dovecot_add_folder alice Archive
dovecot_add_message alice Archive "$S/05-reply.eml" SF
tap_like "$DC_LAST_MESSAGE" '/Maildir/\.Archive/cur/[^/]+:2,FS$' "add_message with flags goes to cur/ with sorted :2,FS"

out=$(dovecot_imap_cmd alice pw-alice 'STATUS INBOX (MESSAGES)' 'STATUS Archive (MESSAGES)' \
    'SELECT Archive' 'FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])')
ok $? "IMAP: commands answered OK" "$out"
tap_like "$out" '^\* STATUS INBOX \(MESSAGES 1\)' "IMAP: INBOX has the loaded message"
tap_like "$out" '^\* STATUS Archive \(MESSAGES 1\)' "IMAP: Archive has the loaded message"
tap_like "$out" 'FLAGS \(\\Flagged \\Seen( \\Recent)?\)' "IMAP: Maildir flags FS are \\Flagged \\Seen on the server"
tap_like "$out" '<20240315101112.77aa@mail.example.net>' "IMAP: Archive message is the one loaded"
idx=$(dovecot_folder_path alice INBOX)/dovecot.index.log
tap_is "$(stat -c %U "$idx" 2>&1)" "$DC_MAIL_USER" "mail processes run as $DC_MAIL_USER, not root"

out=$(sclient "$DC_POP3S_PORT" "" "$DC_CA" $'USER alice\nPASS pw-alice\nSTAT\nQUIT\n')
tap_like "$out" "^\+OK 1 $(wire_size "$S/01-plain.eml")"$'\r?$' \
    "POP3: STAT shows 1 message, size counted with CRLF line ends"

out=$(dovecot_append alice INBOX "$S/04-dot-lines.eml")
ok $? "dovecot_append: APPEND answered OK" "$out"
tap_like "$out" 'OK \[APPENDUID [0-9]+ 2\]' "dovecot_append: server assigned UID 2"
out=$(dovecot_imap_cmd alice pw-alice 'STATUS INBOX (MESSAGES)' \
    'SELECT INBOX' 'UID FETCH 2 (BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])')
tap_like "$out" '^\* STATUS INBOX \(MESSAGES 2\)' "IMAP: appended message counted"
tap_like "$out" '<dotstuff.20240314.1@build.example.net>' "IMAP: appended message is the one sent"

out=$(sclient "$DC_POP3S_PORT" "" "$DC_CA" $'USER alice\nPASS pw-alice\nSTAT\nUIDL\nRETR 2\nQUIT\n')
tap_like "$out" '^\+OK 2 ' "POP3: STAT shows the appended message too"
tap_like "$out" '^1 00000001[0-9a-f]{8}'$'\r?$' "POP3: UIDL is %08Xu%08Xv (UID 1, then UIDVALIDITY)"
tap_like "$out" '^\.\.hidden-file was removed' "POP3: RETR dot-stuffs a line starting with '.'"
tap_like "$out" '^\.\.\.double dot' "POP3: RETR dot-stuffs a line starting with '..'"

# A user added while the server runs (and after others logged in) works.
dovecot_add_user bob pw-bob
out=$(dovecot_imap_cmd bob pw-bob 'STATUS INBOX (MESSAGES)')
ok $? "user added after start can log in" "$out"
tap_like "$out" '^\* STATUS INBOX \(MESSAGES 0\)' "new user's INBOX is empty"
out=$(dovecot_imap_cmd bob wrong-pw 'NOOP' 2>&1)
tap_is "$?" 2 "wrong password: no session (status 2)"

# Hierarchy and non-ASCII folders (IMAP names; mUTF-7 via dovecot_mutf7).
tap_is "$(dovecot_mutf7 'Entwürfe')" 'Entw&APw-rfe' "dovecot_mutf7 encodes RFC 3501 modified UTF-7"
tap_is "$(dovecot_mutf7 -d 'Entw&APw-rfe &- x')" 'Entwürfe & x' "dovecot_mutf7 -d decodes"
drafts=$(dovecot_mutf7 'Entwürfe')
dovecot_add_folder bob Lists/dev
dovecot_add_message bob Lists/dev "$S/06-list.eml"
dovecot_add_message bob "$drafts" "$S/02-utf8.eml"
tap_is "$DC_LAST_MESSAGE" "$(dovecot_folder_path bob "$drafts")/new/${DC_LAST_MESSAGE##*/}" \
    "non-ASCII folder stored on disk under its mUTF-7 name"
out=$(dovecot_imap_cmd bob pw-bob 'LSUB "" "*"' 'STATUS "Lists/dev" (MESSAGES)' \
    "STATUS \"$drafts\" (MESSAGES)")
ok $? "IMAP: folder commands answered OK" "$out"
tap_like "$out" '^\* LSUB .* "/" "?Lists/dev"?$' "Lists/dev is subscribed"
tap_like "$out" '^\* LSUB .* "/" "?Entw&APw-rfe"?$' "Entw&APw-rfe is subscribed"
tap_like "$out" '^\* STATUS "?Lists/dev"? \(MESSAGES 1\)' "Lists/dev holds its message"
tap_like "$out" '^\* STATUS "?Entw&APw-rfe"? \(MESSAGES 1\)' "Entw&APw-rfe holds its message"

dovecot_add_user carol pw-carol
dovecot_load_samples carol
out=$(dovecot_imap_cmd carol pw-carol 'STATUS INBOX (MESSAGES UNSEEN)' 'STATUS Archive (MESSAGES UNSEEN)')
tap_like "$out" '^\* STATUS INBOX \(MESSAGES 4 UNSEEN 3\)' "samples: 4 in INBOX, one of them seen"
tap_like "$out" '^\* STATUS Archive \(MESSAGES 2 UNSEEN 1\)' "samples: 2 in Archive, one of them seen"

# --- stop --------------------------------------------------------------------
dir=$DC_DIR
name=${DC_DIR##*/}
dovecot_stop
pgrep -f -- "$conf" >/dev/null
tap_is "$?" 1 "dovecot_stop: no process left with the instance's conf path"
pgrep -f -- "^dovecot-$name/" >/dev/null
tap_is "$?" 1 "dovecot_stop: no child process of the instance left"
tap_is "$(listening)" 0 "dovecot_stop: ports closed"
test ! -e "$dir"
ok $? "dovecot_stop: instance directory removed"

# --- port retry: a port taken between the check and Dovecot's bind ----------
busy=$(_dc_pick_base)
: >"$other/listener.out"
"$(_dc_python)" -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(1)
print("ready", flush=True)
time.sleep(60)' "$((busy + 1))" >"$other/listener.out" &
lpid=$!
tap_cleanup_add "kill $lpid 2>/dev/null"
for ((i = 0; i < 100; i++)); do
	grep -q ready "$other/listener.out" && break
	sleep 0.02
done
# Pretend the pre-check saw nothing, so the first attempt hits the bind.
eval "$(declare -f _dc_ports_free | sed '1s/_dc_ports_free/_dc_ports_free_real/')"
_dc_ports_free() { return 0; }
DC_PORT_BASE=$busy dovecot_start >"$other/start.out"
eval "$(declare -f _dc_ports_free_real | sed '1s/_dc_ports_free_real/_dc_ports_free/')"
tap_like "$(cat "$other/start.out")" "ports $busy\\.\\.$((busy + 3)) busy" \
    "port retry: the bind failure on a taken port is detected"
[ "$DC_IMAPS_PORT" != $((busy + 1)) ]
ok $? "port retry: started on other ports ($DC_IMAP_PORT..$DC_POP3S_PORT)"
tap_is "$(listening)" 4 "port retry: all four ports listen"
conf=$DC_CONF
dovecot_stop
kill "$lpid" 2>/dev/null
pgrep -f -- "$conf" >/dev/null
tap_is "$?" 1 "port retry: instance stopped"

tap_done
