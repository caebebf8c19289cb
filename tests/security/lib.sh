# lib.sh: shared pieces of the tests/security scripts (bash; sources
# tests/lib/tap.sh): a work directory, test certificates, the hostile
# server (hostile_server.py), one-account configurations, and the check
# that the server's capture holds no credential.
#
#	. "$top_srcdir/tests/security/lib.sh"
#	sec_init			# $T, certificates, the password file
#	sec_server imap inject good	# sets $port, $capture
#	sec_conf imap starttls		# $T/acct.conf
#	sec_run				# sets rc, err
#	sec_no_credentials imap "what"

[ -n "${SEC_LOADED:-}" ] && return 0
SEC_LOADED=1

top_srcdir=${top_srcdir:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir/_build}
MAILFETCHD=${MAILFETCHD:-$top_builddir/mailfetchd}
. "$top_srcdir/tests/lib/tap.sh"

# The account's credentials; no_secrets_in_logs.sh lists SEC_PASSWORD too.
SEC_USER='victim@example.net'
SEC_PASSWORD='Sec-Hostile-pw-7731'
SEC_SPID=""

# Make $T, the certificates and the password file.
sec_init()
{
	local tool

	for tool in python3 openssl "$MAILFETCHD"; do
		command -v "$tool" >/dev/null || tap_bail "$tool not found"
	done
	T=$(mktemp -d "${TMPDIR:-/tmp}/mfd-sec.XXXXXX") || tap_bail "mktemp failed"
	chmod 700 "$T"
	tap_cleanup_add 'rm -rf "$T"'
	tap_cleanup_add 'sec_server_stop'
	printf '%s\n' "$SEC_PASSWORD" >"$T/pass" && chmod 600 "$T/pass" ||
	    tap_bail "cannot write $T/pass"
	sec_mkcerts || tap_bail "cannot make the test certificates"
	: >"$T/all-output"
}

# The test CA, and under it: good, expired, notyet, wrong (another host
# name); self (self-signed); untrusted (signed by a CA the client does not
# know); other (a second good certificate, for the pin mismatch).
sec_mkcerts()
{
	local key="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes" c

	for c in ca ca2; do
		mkdir -p "$T/$c/newcerts" && : >"$T/$c/index.txt" &&
		    echo 1000 >"$T/$c/serial" || return 1
		cat >"$T/$c.cnf" <<-EOF
		[ ca ]
		default_ca = test_ca
		[ test_ca ]
		dir = $T/$c
		database = \$dir/index.txt
		new_certs_dir = \$dir/newcerts
		serial = \$dir/serial
		certificate = $T/$c.crt
		private_key = $T/$c.key
		default_md = sha256
		policy = policy_any
		unique_subject = no
		[ policy_any ]
		commonName = supplied
		[ ext_localhost ]
		basicConstraints = CA:FALSE
		subjectAltName = DNS:localhost,IP:127.0.0.1
		[ ext_wrong ]
		basicConstraints = CA:FALSE
		subjectAltName = DNS:wrong.example
		EOF
		openssl req -x509 $key -keyout "$T/$c.key" -out "$T/$c.crt" \
		    -days 30 -subj "/CN=mailfetchd security test $c" \
		    -addext "basicConstraints=critical,CA:TRUE" \
		    -addext "keyUsage=keyCertSign,cRLSign" 2>/dev/null || return 1
	done
	_sec_sign good ca localhost ext_localhost -days 30 &&
	_sec_sign other ca localhost ext_localhost -days 30 &&
	_sec_sign expired ca localhost ext_localhost \
	    -startdate 20200101000000Z -enddate 20210101000000Z &&
	_sec_sign notyet ca localhost ext_localhost \
	    -startdate 20400101000000Z -enddate 20410101000000Z &&
	_sec_sign wrong ca wrong.example ext_wrong -days 30 &&
	_sec_sign untrusted ca2 localhost ext_localhost -days 30 || return 1
	openssl req -x509 $key -keyout "$T/self.key" -out "$T/self.crt" \
	    -days 30 -subj "/CN=localhost" \
	    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
}

# _sec_sign NAME CA CN EXTENSION [openssl ca options]
_sec_sign()
{
	local name=$1 ca=$2 cn=$3 ext=$4

	shift 4
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -keyout "$T/$name.key" -out "$T/$name.csr" \
	    -subj "/CN=$cn" 2>/dev/null &&
	openssl ca -batch -notext -config "$T/$ca.cnf" -extensions "$ext" \
	    "$@" -in "$T/$name.csr" -out "$T/$name.crt" 2>/dev/null
}

# The "sha256:<hex>" pin of a certificate.
sec_fingerprint()
{
	openssl x509 -in "$1" -outform DER | openssl dgst -sha256 -r |
	    sed 's/^\([0-9a-f]*\).*/sha256:\1/'
}

# Stop the hostile server, if one runs.
sec_server_stop()
{
	if [ -n "$SEC_SPID" ]; then
		kill "$SEC_SPID" 2>/dev/null
		wait "$SEC_SPID" 2>/dev/null
	fi
	SEC_SPID=""
}

# sec_server PROTO MODE [CERT [BIND]]: (re)start the hostile server with a
# fresh capture; sets $port and $capture.
sec_server()
{
	local cert=${3:-good} i

	sec_server_stop
	capture=$T/capture
	rm -f "$capture" "$T/port"
	python3 "$top_srcdir/tests/security/hostile_server.py" "$1" "$2" \
	    --capture "$capture" --cert "$T/$cert.crt" --key "$T/$cert.key" \
	    --bind "${4:-127.0.0.1}" >"$T/port" 2>"$T/server.err" &
	SEC_SPID=$!
	for ((i = 0; i < 100; i++)); do
		port=$(head -n 1 "$T/port" 2>/dev/null)
		[ -n "$port" ] && return 0
		sleep 0.05
	done
	tap_bail "hostile_server.py $1 $2 did not start: $(cat "$T/server.err")"
}

# sec_conf PROTO TLS [ACCOUNT-LINE...]: $T/acct.conf, one account on the
# hostile server ($port), trusting the test CA. SEC_HOST and SEC_SECRET
# replace the host (localhost) and the secret line (password_file).
sec_conf()
{
	local proto=$1 tls=$2 line

	shift 2
	{
		printf 'state_dir = "%s"\n' "$T/state"
		printf 'account "acct" {\n'
		printf '  protocol = %s\n  host = "%s"\n  port = %s\n' \
		    "$proto" "${SEC_HOST:-localhost}" "$port"
		printf '  tls = %s\n  ca_file = "%s"\n' "$tls" "$T/ca.crt"
		printf '  user = "%s"\n' "$SEC_USER"
		# SEC_SECRET: another secret option than the password file.
		printf '  %s\n' "${SEC_SECRET:-password_file = \"$T/pass\"}"
		printf '  maildir = "%s"\n  timeout = 10s\n' "$T/Maildir"
		for line in "$@"; do
			printf '  %s\n' "$line"
		done
		[ "$proto" = imap ] && printf '  folder "INBOX" { }\n'
		printf '}\n'
	} >"$T/acct.conf" || tap_bail "cannot write $T/acct.conf"
}

# sec_run [ARGS...]: mailfetchd --once on $T/acct.conf; sets rc and err
# (stdout and stderr together).
sec_run()
{
	"$MAILFETCHD" -c "$T/acct.conf" --once "$@" >"$T/out" 2>&1
	rc=$?
	err=$(cat "$T/out")
	cat "$T/out" >>"$T/all-output"
}

# sec_credentials_in FILE: print what in FILE looks like a credential: a
# login command, the user name, the password, or the base64 of the PLAIN
# or XOAUTH2 blob or of the password alone.
sec_credentials_in()
{
	local pat b64 s

	pat='^([^ ]+ )?(LOGIN|AUTHENTICATE|USER|PASS|APOP|AUTH)( |$)'
	LC_ALL=C grep -aEi -- "$pat" "$1"
	for s in "$SEC_PASSWORD" "$SEC_USER"; do
		LC_ALL=C grep -aF -- "$s" "$1"
	done
	for b64 in \
	    "$(printf '\0%s\0%s' "$SEC_USER" "$SEC_PASSWORD" | base64 -w0)" \
	    "$(printf '%s\0%s\0%s' "$SEC_USER" "$SEC_USER" "$SEC_PASSWORD" | base64 -w0)" \
	    "$(printf '%s' "$SEC_PASSWORD" | base64 -w0)" \
	    "$(printf '%s' "$SEC_PASSWORD" | base64 -w0 | tr -d =)"; do
		LC_ALL=C grep -aF -- "$b64" "$1"
	done
	return 0
}

# sec_no_credentials WHAT: the server's capture holds no credential.
sec_no_credentials()
{
	local found

	if [ ! -f "$capture" ]; then
		tap_fail "$1: no credentials in the server's capture" \
		    "no capture file"
		return
	fi
	found=$(sec_credentials_in "$capture")
	if [ -z "$found" ]; then
		tap_ok "$1: no credentials in the server's capture ($(wc -c <"$capture") bytes)"
	else
		tap_fail "$1: no credentials in the server's capture" "$found"
	fi
}

# sec_expect_refused WHAT STATUS ERE: mailfetchd exited STATUS, its output
# matches ERE, and the capture holds no credential.
sec_expect_refused()
{
	if [ "$rc" = "$2" ]; then
		tap_ok "$1: exit status $2"
	else
		tap_fail "$1: exit status $2" "got $rc; output:
$err"
	fi
	tap_like "$err" "$3" "$1: the error names the reason"
	sec_no_credentials "$1"
}

# sec_no_password_output: the password never appears in any output of
# mailfetchd in this test ($T/all-output, which sec_run appends to).
sec_no_password_output()
{
	if grep -qF -- "$SEC_PASSWORD" "$T/all-output"; then
		tap_fail "the password never appears in mailfetchd's output"
	else
		tap_ok "the password never appears in mailfetchd's output"
	fi
}
