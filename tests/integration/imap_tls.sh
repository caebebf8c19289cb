#!/bin/bash
# imap_tls.sh: mailfetchd --once against a real Dovecot: the connection and
# the login. IMAPS and STARTTLS with the test CA; a wrong CA refused before
# any credential is sent (checked on the bytes that reached the server,
# through a recording relay, and in Dovecot's log); AUTHENTICATE PLAIN with
# SASL-IR and LOGIN; a wrong password (exit 3), no server (exit 4); the
# password in no output, even at debug level. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"

S=$DC_SAMPLES
PW=Tls-pw-5e1b-secret
mfd_init
dovecot_start
dovecot_add_user tlsuser "$PW"
mfd_account tlsuser "$PW"
dovecot_add_message tlsuser INBOX "$S/01-plain.eml"
dovecot_add_message tlsuser INBOX "$S/02-utf8.eml"
MD=$T/tlsuser/Maildir
CAP=$T/capture
# The AUTHENTICATE PLAIN initial response, as it would cross the network.
B64=$(printf '\0tlsuser\0%s' "$PW" | base64 -w0)

# Dovecot's "Login:" lines for tlsuser (they name the SASL method).
logins() { grep -a 'Login: user=<tlsuser>' "$DC_LOG"; }
nlogins() { logins | wc -l; }
# wait_log ERE: wait (up to 5 s) until Dovecot's log has a line matching
# ERE; it logs a session's end asynchronously.
wait_log() {
	local i

	for ((i = 0; i < 100; i++)); do
		grep -aEq -- "$1" "$DC_LOG" && return 0
		sleep 0.05
	done
	return 1
}

# A CA of our own that did not issue Dovecot's certificate.
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -days 2 -subj "/CN=some other CA" -keyout "$T/other-ca.key" \
    -out "$T/other-ca.pem" 2>/dev/null || tap_bail "openssl failed"

# --- Wrong CA, implicit TLS: refused, nothing but a handshake sent. ---
mfd_relay "$DC_IMAPS_PORT" "$CAP"
n0=$(nlogins)
MFD_PORT=$RELAY_PORT MFD_CA=$T/other-ca.pem mfd_conf tlsuser
mfd_run tlsuser -v -v
tap_is "$rc" 4 "implicit TLS with the wrong CA: exit status 4 (network/TLS)"
tap_like "$err" 'certificate issuer is not trusted' "the error says the certificate's issuer is not trusted"
tap_like "$(head -c 1 "$CAP" | od -An -tx1)" '16' \
    "the client's first byte is a TLS handshake record"
tap_unlike "$(tr -c '[:print:]' ' ' <"$CAP")" "AUTHENTICATE|LOGIN|$PW" \
    "no AUTHENTICATE, LOGIN or password reached the server"
wait_log 'imap-login: .*Disconnected'
tap_like "$(grep -a 'imap-login: .*Disconnected' "$DC_LOG" | tail -n 1)" \
    '(no auth attempts|before auth).*user=<>.*TLS handshaking' \
    "Dovecot logs a disconnect during the TLS handshake, before any auth"
tap_is "$(nlogins)" "$n0" "Dovecot saw no login"
mfd_expect "$MD" ""

# --- Wrong CA, STARTTLS: the clear-text part holds no credential. ---
: >"$CAP"
mfd_relay "$DC_IMAP_PORT" "$CAP"
MFD_PORT=$RELAY_PORT MFD_TLS=starttls MFD_CA=$T/other-ca.pem mfd_conf tlsuser
mfd_run tlsuser -v -v
tap_is "$rc" 4 "STARTTLS with the wrong CA: exit status 4"
tap_like "$err" 'certificate issuer is not trusted' "the error says the certificate's issuer is not trusted"
tap_like "$(cat -v "$CAP")" 'STARTTLS' "the client asked for STARTTLS in clear text"
tap_unlike "$(tr -c '[:print:]' ' ' <"$CAP")" "AUTHENTICATE|LOGIN|$PW" \
    "no AUTHENTICATE, LOGIN or password reached the server"
sleep 0.3	# an absence check: give a late "Login:" line time to show
tap_is "$(nlogins)" "$n0" "Dovecot saw no login"
mfd_expect "$MD" ""

tap_like "$err" "$DC_FP_SHA256" "the error gives the certificate's fingerprint"

# --- A pinned fingerprint that does not match: refused before login. ---
n0=$(nlogins)
mfd_conf tlsuser "fingerprint = \"sha256:$(printf '%064d' 0)\""
mfd_run tlsuser
tap_is "$rc" 4 "a fingerprint pin that does not match: exit status 4" "$err"
tap_like "$err" 'fingerprint' "the error is about the fingerprint"
sleep 0.3
tap_is "$(nlogins)" "$n0" "Dovecot saw no login"
mfd_expect "$MD" ""

# --- IMAPS with the test CA: AUTHENTICATE PLAIN with SASL-IR. ---
MFD_CA=$DC_CA mfd_conf tlsuser
mfd_run_ok tlsuser 0 "IMAPS with the test CA"
mfd_expect "$MD" "" "$S/01-plain.eml" "$S/02-utf8.eml"
tap_like "$(logins | tail -n 1)" 'method=PLAIN' "Dovecot saw an AUTHENTICATE PLAIN login"
tap_like "$(logins | tail -n 1)" 'TLS' "the login was over TLS"

# --- STARTTLS with the test CA, through the relay: no clear credential. ---
: >"$CAP"
dovecot_add_message tlsuser INBOX "$S/03-multipart.eml"
MFD_PORT=$RELAY_PORT MFD_TLS=starttls mfd_conf tlsuser
mfd_run_ok tlsuser 0 "STARTTLS with the test CA"
mfd_expect "$MD" "" "$S/01-plain.eml" "$S/02-utf8.eml" "$S/03-multipart.eml"
tap_like "$(logins | tail -n 1)" 'method=PLAIN.*TLS' "Dovecot saw a PLAIN login over TLS"
clear=$(tr -c '[:print:]' ' ' <"$CAP")
tap_like "$clear" 'STARTTLS' "the capture holds the clear-text STARTTLS"
tap_unlike "$clear" "AUTHENTICATE|LOGIN|$PW" \
    "no AUTHENTICATE, LOGIN or password in clear text"
! grep -qF -- "$B64" "$CAP"
ok $? "the SASL PLAIN response did not cross in clear text"

# --- The matching fingerprint pin; the command on the wire (tls = none,
# through the relay): AUTHENTICATE PLAIN with the initial response. ---
dovecot_add_message tlsuser INBOX "$S/04-dot-lines.eml"
mfd_conf tlsuser "fingerprint = \"$DC_FP_SHA256\""
mfd_run_ok tlsuser 0 "the matching fingerprint pin"
mfd_expect "$MD" "" "$S"/0[1-4]-*.eml
dovecot_add_message tlsuser INBOX "$S/05-reply.eml"
: >"$CAP"
MFD_PORT=$RELAY_PORT MFD_TLS=none mfd_conf tlsuser
mfd_run tlsuser -v -v
tap_is "$rc" 0 "tls = none to loopback, default auth: exit status 0" "$err"
mfd_expect "$MD" "" "$S"/0[1-5]-*.eml
grep -qF "AUTHENTICATE PLAIN $B64" "$CAP"
ok $? "AUTHENTICATE PLAIN sends the response in the command (SASL-IR)"
tap_like "$err" '> [a-z0-9]+ AUTHENTICATE PLAIN \.\.\.' \
    "the debug log shows AUTHENTICATE PLAIN with the response left out"

# --- auth = login forces the LOGIN command. Dovecot logs it as
# method=PLAIN like AUTHENTICATE PLAIN, so the proof is the command seen
# on the wire: over tls = none (allowed to loopback) through the relay. ---
dovecot_add_message tlsuser INBOX "$S/06-list.eml"
: >"$CAP"
MFD_PORT=$RELAY_PORT MFD_TLS=none mfd_conf tlsuser 'auth = login'
mfd_run tlsuser -v -v
tap_is "$rc" 0 "auth = login over tls = none: exit status 0" "$err"
mfd_expect "$MD" "" "$S"/0[1-6]-*.eml
clear=$(tr -c '[:print:]' ' ' <"$CAP")
tap_like "$clear" '[a-z0-9]+ LOGIN "?tlsuser"? ' "the server received a LOGIN command"
tap_unlike "$clear" 'AUTHENTICATE' "and no AUTHENTICATE"
tap_like "$err" '> [a-z0-9]+ LOGIN "?tlsuser"? \.\.\.' \
    "the debug log shows LOGIN with the password left out"
mfd_conf tlsuser 'auth = login'
mfd_run_ok tlsuser 1 "auth = login over IMAPS, second run: nothing new"
mfd_expect "$MD" "" "$S"/0[1-6]-*.eml
tap_like "$(logins | tail -n 1)" 'TLS' "Dovecot saw the login over TLS"

# --- Wrong password: exit 3, a clear message, not retried. ---
n0=$(nlogins)
printf '%s\n' 'Wrong-pw-77aa' >"$T/wrong.pass"
chmod 600 "$T/wrong.pass"
MFD_PASSFILE=$T/wrong.pass mfd_conf tlsuser
mfd_run tlsuser -v -v
tap_is "$rc" 3 "a wrong password: exit status 3"
tap_like "$err" 'login as tlsuser refused.*(AUTHENTICATIONFAILED|[Aa]uthentication failed)' \
    "the message names the user and the server's refusal"
tap_like "$err" 'wrong user name or password' "the message carries the hint"
wait_log 'auth failed'
tap_is "$(grep -ac 'auth failed' "$DC_LOG")" 1 "Dovecot saw exactly one failed login attempt"
mfd_expect "$MD" "" "$S"/0[1-6]-*.eml

# --- No server: exit 4, the address named. ---
kill "$RELAY_PID" 2>/dev/null
wait "$RELAY_PID" 2>/dev/null
MFD_PORT=$RELAY_PORT mfd_conf tlsuser
mfd_run tlsuser
tap_is "$rc" 4 "nothing listening: exit status 4"
tap_like "$err" "127.0.0.1:$RELAY_PORT.*[Cc]onnection refused" \
    "the network error names the address"
mfd_expect "$MD" "" "$S"/0[1-6]-*.eml

# The password was given with -v -v in most runs above: never printed.
mfd_no_secret "$PW" Wrong-pw-77aa "$B64"
mfd_no_sanitizer
tap_done
