#!/bin/bash
# tls_attacks.sh PROTO: mailfetchd --once against hostile PROTO (imap or
# pop3) servers: STARTTLS stripped, refused, answered with injected
# plaintext, a PREAUTH greeting (IMAP), bad certificates over STARTTLS and
# implicit TLS, TLS 1.0/1.1 only, a pin mismatch. Each run must fail with
# exit status 4 (TLS/STARTTLS failure), name the reason, and the server's
# capture of what the client sent must hold no credential. A control run
# against an honest server proves the capture check can see a login. TAP.
#
# tls_imap.sh and tls_pop3.sh run this for each protocol.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/security/lib.sh"

proto=${1:-}
case $proto in
imap)	stls=STARTTLS ;;
pop3)	stls=STLS ;;
*)	echo "usage: $0 imap|pop3" >&2; exit 2 ;;
esac
sec_init

# ---- control: an honest server, so the capture check is known to work --
sec_server "$proto" starttls good
sec_conf "$proto" starttls
sec_run
tap_is "$rc" 1 "control: honest $stls server, login and nothing new (exit 1)"
found=$(sec_credentials_in "$capture")
tap_like "$found" "$SEC_PASSWORD|$(printf '\0%s\0%s' "$SEC_USER" \
    "$SEC_PASSWORD" | base64 -w0)" \
    "control: the capture shows the credentials of a completed login"
if [ "$proto" = imap ]; then
	# Without SASL-IR the response must answer the "+", once: a second,
	# empty line would cancel the exchange or be a stray command.
	tap_is "$(grep -c $'^\r$' "$capture")" 0 \
	    "control: AUTHENTICATE without SASL-IR sends no stray empty line"
fi

# ---- STARTTLS stripping, refusal, injection, PREAUTH ----------------------
sec_server "$proto" nostarttls
sec_conf "$proto" starttls
sec_run
sec_expect_refused "$stls not advertised" 4 "does not (offer|advertise) $stls"

sec_server "$proto" refuse
sec_conf "$proto" starttls
sec_run
sec_expect_refused "$stls refused by the server" 4 "$stls.*(refused|failed|NO|-ERR)"

sec_server "$proto" inject good
sec_conf "$proto" starttls
sec_run
sec_expect_refused "$stls response injection" 4 \
    'bytes received before TLS: possible STARTTLS injection'

if [ "$proto" = imap ]; then
	sec_server imap preauth
	sec_conf imap starttls
	sec_run
	sec_expect_refused "PREAUTH greeting with tls = starttls" 4 'PREAUTH'
fi

# ---- certificates, over STARTTLS and over implicit TLS ------------------
for mode in starttls implicit; do
	sec_server "$proto" "$mode" expired
	sec_conf "$proto" "$mode"
	sec_run
	sec_expect_refused "$mode: expired certificate" 4 \
	    'certificate has expired \(notAfter 2021-01-01'

	sec_server "$proto" "$mode" notyet
	sec_conf "$proto" "$mode"
	sec_run
	sec_expect_refused "$mode: not yet valid certificate" 4 \
	    'certificate is not yet valid \(notBefore 2040-01-01'

	sec_server "$proto" "$mode" wrong
	sec_conf "$proto" "$mode"
	sec_run
	sec_expect_refused "$mode: certificate for another host" 4 \
	    "certificate is for 'wrong\.example', not 'localhost'"

	sec_server "$proto" "$mode" self
	sec_conf "$proto" "$mode"
	sec_run
	sec_expect_refused "$mode: self-signed certificate" 4 \
	    'certificate issuer is not trusted \(self-signed'

	sec_server "$proto" "$mode" untrusted
	sec_conf "$proto" "$mode"
	sec_run
	sec_expect_refused "$mode: certificate from an untrusted issuer" 4 \
	    'certificate issuer is not trusted'

	sec_server "$proto" "$mode" good
	sec_conf "$proto" "$mode" "fingerprint = \"$(sec_fingerprint "$T/other.crt")\""
	sec_run
	sec_expect_refused "$mode: fingerprint pin mismatch" 4 \
	    "fingerprint mismatch: server presented $(sec_fingerprint "$T/good.crt")"
done

# ---- old protocol versions ---------------------------------------------
# OpenSSL 3 on Debian still lets the python server offer TLS 1.0/1.1 at
# SECLEVEL=0; the client's minimum is TLS 1.2.
sec_server "$proto" tls11 good
sec_conf "$proto" implicit
sec_run
sec_expect_refused "TLS 1.0/1.1-only server" 4 'only TLS 1\.0/1\.1'

sec_no_password_output
tap_done
