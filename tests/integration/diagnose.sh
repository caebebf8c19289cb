#!/bin/bash
# diagnose.sh: mailfetchd --diagnose against the harness Dovecot (IMAPS and
# POP3S all well, a wrong password, a wrong CA, a closed port, a missing
# folder) and against a scripted server (plain TCP on loopback, tls = none)
# answering the login with the refusal texts of Gmail, Yandex, Mail.ru and
# POP3 response codes: each step's line, the hint, the exit status, and the
# password in no output. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"

PW=Diag-pw-7f3a-secret
mfd_init
dovecot_start
dovecot_add_user diag "$PW"
mfd_account diag "$PW"
dovecot_load_samples diag

# diag CONF [ARGS...]: mailfetchd --diagnose; sets rc, out, err.
diag() {
	local conf=$1

	shift
	"$MAILFETCHD" -c "$conf" --diagnose "$@" >"$T/out" 2>"$T/err"
	rc=$?
	out=$(cat "$T/out")
	err=$(cat "$T/err")
	cat "$T/out" "$T/err" >>"$T/all-output"
}

# has TEXT WHAT: the output has a line containing TEXT (fixed string).
has() {
	if grep -qF -- "$1" "$T/out"; then
		tap_ok "$2"
	else
		tap_fail "$2" "no line with '$1' in:
$out
stderr: $err"
	fi
}

# fails_at STEP: the first [FAIL] line is about STEP.
fails_at() {
	local first

	first=$(grep -m1 '^\[FAIL\]' "$T/out")
	case "$first" in
	"[FAIL] $1"*) tap_ok "first failure is at '$1'" ;;
	*) tap_fail "first failure is at '$1'" "got: '$first'; output:
$out" ;;
	esac
}

# --- IMAPS, everything works ------------------------------------------------
mfd_conf diag -- 'folder "INBOX" { }' 'folder "Archive" { }'
C=$T/diag/mailfetchd.conf
diag "$C" diag
tap_is "$rc" 0 "IMAPS all well: exit 0"
for step in 'config: account "diag"' 'DNS: localhost' 'connect: 127.0.0.1 port' \
    'TLS: TLSv1.' 'greeting: ' 'capabilities after login: IDLE yes, UIDPLUS yes' \
    'secret: read from password_file' 'authentication: logged in as "diag"' \
    'folders: ' 'folder "INBOX": 4 messages' 'folder "Archive": 2 messages' \
    '[ ok ] logout'; do
	has "$step" "IMAPS: step line '$step'"
done
tap_unlike "$out" '\[FAIL\]' "IMAPS: no [FAIL] line"
fp=$(sed -n 's/^ *fingerprint: \(sha256:[0-9a-f]*\) .*/\1/p' "$T/out")
tap_is "$fp" "$DC_FP_SHA256" "IMAPS: the printed fingerprint is the server's"
has "issuer: " "IMAPS: the issuer is printed"
has "valid: from " "IMAPS: the validity dates are printed"

# --- the same with --diagnose=NAME, --account NAME and no name -------------
diag "$C" --account diag
tap_is "$rc" 0 "--diagnose --account NAME: exit 0"
"$MAILFETCHD" -c "$C" --diagnose=diag >"$T/out" 2>&1
tap_is "$?" 0 "--diagnose=NAME: exit 0"
diag "$C"
tap_is "$rc" 0 "--diagnose (every account): exit 0"
diag "$C" nosuch
tap_is "$rc" 2 "--diagnose with an unknown account: exit 2"

# --- POP3S, everything works -------------------------------------------------
MFD_PORT=$DC_POP3S_PORT mfd_conf diag --
sed -i 's/protocol = imap/protocol = pop3/' "$C"
diag "$C" diag
tap_is "$rc" 0 "POP3S all well: exit 0"
for step in 'config: account "diag": pop3' 'TLS: TLSv1.' 'greeting: ' \
    'capabilities: ' 'authentication: logged in as "diag"' \
    'mailbox: 4 messages' '[ ok ] logout'; do
	has "$step" "POP3S: step line '$step'"
done
fp=$(sed -n 's/^ *fingerprint: \(sha256:[0-9a-f]*\) .*/\1/p' "$T/out")
tap_is "$fp" "$DC_FP_SHA256" "POP3S: the printed fingerprint is the server's"

# --- IMAP with STARTTLS ------------------------------------------------------
MFD_PORT=$DC_IMAP_PORT MFD_TLS=starttls mfd_conf diag
diag "$C" diag
tap_is "$rc" 0 "IMAP STARTTLS all well: exit 0"
has "STARTTLS offered (before TLS)" "STARTTLS: offered, before TLS"
has "TLS: TLSv1." "STARTTLS: the handshake line"

# --- wrong password ----------------------------------------------------------
printf 'Wrong-pw-99\n' >"$T/wrongpass"
chmod 600 "$T/wrongpass"
MFD_PASSFILE=$T/wrongpass mfd_conf diag
diag "$C" diag
tap_is "$rc" 3 "wrong password: exit 3"
fails_at "authentication"
has "[AUTHENTICATIONFAILED]" "wrong password: the server's code is shown"
has "hint: wrong user name or password" "wrong password: the AUTHENTICATIONFAILED hint"

# --- wrong CA ----------------------------------------------------------------
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -days 2 -subj "/CN=some other CA" -keyout "$T/other-ca.key" \
    -out "$T/other-ca.pem" 2>/dev/null || tap_bail "openssl failed"
MFD_CA=$T/other-ca.pem mfd_conf diag
diag "$C" diag
tap_is "$rc" 4 "wrong CA: exit 4"
fails_at "TLS"
has "issuer is not trusted" "wrong CA: names the issuer problem"
has "issuer: " "wrong CA: prints the presented certificate's issuer"
has "fix: if you trust that issuer" "wrong CA: says what to do"

# --- closed port -------------------------------------------------------------
closed=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
MFD_PORT=$closed mfd_conf diag
sed -i 's/host = "localhost"/host = "127.0.0.1"/' "$C"
diag "$C" diag
tap_is "$rc" 4 "closed port: exit 4"
fails_at "connect"
has "port = 993, tls = implicit" "closed port: suggests IMAP's other port"
MFD_PORT=993 mfd_conf diag
sed -i 's/host = "localhost"/host = "127.0.0.1"/' "$C"
diag "$C" diag
if ss -ltn 2>/dev/null | grep -q '127.0.0.1:993 \|\*:993 \|0.0.0.0:993 '; then
	tap_ok "port 993 closed: (skipped, something listens on 993) # SKIP"
else
	tap_is "$rc" 4 "port 993 closed: exit 4"
	has "port = 143, tls = starttls" "port 993 closed: suggests port 143 with STARTTLS"
fi

# --- a missing folder --------------------------------------------------------
mfd_conf diag -- 'folder "INBOX" { }' 'folder "Nosuch" { }'
diag "$C" diag
tap_is "$rc" 7 "missing folder: exit 7"
fails_at 'folder "Nosuch"'
has 'folder "INBOX": 4 messages' "missing folder: the others are still checked"
has '[ ok ] logout' "missing folder: logs out"

# --- scripted servers: provider refusal texts --------------------------------
spid=""
tap_cleanup_add '[ -n "$spid" ] && kill "$spid" 2>/dev/null'

# scripted PROTO REPLY: (re)starts the server and writes $T/s.conf.
scripted() {
	local i port=""

	[ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	: >"$T/port"
	python3 "$MFD_LIBDIR/refuse.py" "$1" "$2" >"$T/port" &
	spid=$!
	for ((i = 0; i < 100; i++)); do
		read -r port <"$T/port" 2>/dev/null && break
		sleep 0.05
	done
	[ -n "$port" ] || tap_bail "scripted server did not start"
	cat >"$T/s.conf" <<EOF2
state_dir = "$T/s-state"
account "s" {
    protocol = $1
    host = "127.0.0.1"
    port = $port
    tls = none
    user = "someone@example.com"
    password_file = "$T/diag/pass"
    maildir = "$T/s-Maildir"
    timeout = 10s
}
EOF2
}

# refusal PROTO REPLY STATUS HINT WHAT
refusal() {
	scripted "$1" "$2"
	diag "$T/s.conf" s
	tap_is "$rc" "$3" "$5: exit $3"
	fails_at "authentication"
	has "hint: $4" "$5: hint"
}

refusal imap 'NO [ALERT] Application-specific password required: https://support.google.com/accounts/answer/185833 (Failure)' \
    3 "the provider requires an app password" "Gmail app password"
refusal imap 'NO [AUTHENTICATIONFAILED] Your account is not enabled for IMAP use.' \
    3 "IMAP access is disabled in the account's web settings" "Gmail IMAP off"
refusal imap 'NO [AUTHENTICATIONFAILED] LOGIN Invalid credentials or IMAP is disabled' \
    3 "IMAP access is disabled in the account's web settings" "Yandex IMAP off"
refusal imap 'NO [AUTHENTICATIONFAILED] Authentication failed: IMAP access disabled for this account' \
    3 "IMAP access is disabled in the account's web settings" "Mail.ru IMAP off"
refusal imap 'NO [UNAVAILABLE] Temporary authentication failure' \
    4 "the server is temporarily unavailable" "IMAP [UNAVAILABLE]"
refusal imap 'NO [ALERT] Too many simultaneous connections. (Failure)' \
    3 "too many simultaneous connections" "too many connections"
refusal pop3 '-ERR [AUTH] Web login required: https://support.google.com/mail/answer/78754' \
    3 "the provider locked the account after suspicious activity" "POP3 web login"
refusal pop3 '-ERR [SYS/TEMP] Temporary system problem' \
    4 "temporary server problem" "POP3 [SYS/TEMP]"
refusal pop3 '-ERR [AUTH] login failure or POP3 disabled, try later. sc=abc' \
    3 "POP3 access is disabled in the account's web settings" "Yandex POP3 off"
has "[warn] config: tls = none" "tls = none is pointed out"

mfd_no_secret "$PW"
mfd_no_sanitizer
tap_done
