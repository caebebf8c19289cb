#!/bin/bash
# conn_tls.sh: the connection layer (src/conn.c, src/tls.c) against real
# TLS servers on 127.0.0.1, through tests/tools/conn_probe. Certificates
# are made here with openssl req/ca; the servers are conn_server.py. TAP.
#
# Environment: top_srcdir, top_builddir (set by make check), or CONN_PROBE
# naming the probe binary; CONN_TLS_VERBOSE=1 prints every probe output.

set -u

srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${top_builddir:-.}
probe=${CONN_PROBE:-$builddir/tests/tools/conn_probe}
server="python3 $srcdir/tests/integration/conn_server.py"

# make check builds the probe; a missing tool is a broken setup, not a skip.
for tool in "$probe" python3 openssl; do
	if ! command -v "$tool" > /dev/null; then
		echo "Bail out! $tool not found"
		exit 1
	fi
done

T=$(mktemp -d "${TMPDIR:-/tmp}/conn_tls.XXXXXX")
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT

# ---- certificates -------------------------------------------------------

mkcerts() {
	local key="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"

	mkdir -p "$T/ca/newcerts" && : > "$T/ca/index.txt" &&
	    echo 1000 > "$T/ca/serial" || return 1
	cat > "$T/ca.cnf" <<-EOF
	[ ca ]
	default_ca = test_ca
	[ test_ca ]
	dir = $T/ca
	database = \$dir/index.txt
	new_certs_dir = \$dir/newcerts
	serial = \$dir/serial
	certificate = $T/ca.crt
	private_key = $T/ca.key
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
	openssl req -x509 $key -keyout "$T/ca.key" -out "$T/ca.crt" \
	    -days 30 -subj "/CN=mailfetchd test CA" \
	    -addext "basicConstraints=critical,CA:TRUE" \
	    -addext "keyUsage=keyCertSign,cRLSign" 2>/dev/null || return 1
	# name CN extension dates...
	sign() {
		local name=$1 cn=$2 ext=$3
		shift 3
		openssl req -new $key -keyout "$T/$name.key" \
		    -out "$T/$name.csr" -subj "/CN=$cn" 2>/dev/null &&
		openssl ca -batch -notext -config "$T/ca.cnf" \
		    -extensions "$ext" "$@" -in "$T/$name.csr" \
		    -out "$T/$name.crt" 2>/dev/null
	}
	sign good localhost ext_localhost -days 30 &&
	sign expired localhost ext_localhost \
	    -startdate 20200101000000Z -enddate 20210101000000Z &&
	sign notyet localhost ext_localhost \
	    -startdate 20400101000000Z -enddate 20410101000000Z &&
	sign wrong wrong.example ext_wrong -days 30 || return 1
	openssl req -x509 $key -keyout "$T/self.key" -out "$T/self.crt" \
	    -days 30 -subj "/CN=localhost" \
	    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" 2>/dev/null
}

# The "sha256:<hex>" pin of a certificate, as conn/tls print it.
fingerprint() {
	openssl x509 -in "$1" -outform DER | openssl dgst -sha256 -r |
	    sed 's/^\([0-9a-f]*\).*/sha256:\1/'
}

# ---- helpers ------------------------------------------------------------

n=0
failed=0
ok() {
	n=$((n + 1))
	echo "ok $n - $1"
	# CONN_TLS_VERBOSE=1 shows what the probe said, to read the messages.
	[ -n "${CONN_TLS_VERBOSE:-}" ] && sed 's/^/# /' "$T/out" "$T/err"
	return 0
}
not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	sed 's/^/# /' "$T/out" "$T/err" 2>/dev/null
}

# start_server MODE [CERTNAME]: starts one server, sets $port.
start_server() {
	local mode=$1 cert=${2:-good} i

	rm -f "$T/port"
	$server "$mode" --cert "$T/$cert.crt" --key "$T/$cert.key" \
	    > "$T/port" 2> "$T/server.err" &
	pids+=($!)
	for i in $(seq 1 100); do
		port=$(head -n 1 "$T/port" 2>/dev/null)
		[ -n "$port" ] && return 0
		sleep 0.05
	done
	echo "# server $mode did not start: $(cat "$T/server.err")"
	port=1
	return 1
}

# probe ARGS...: runs the probe, sets $rc, output in $T/out and $T/err.
probe() {
	"$probe" "$@" > "$T/out" 2> "$T/err"
	rc=$?
}

# check DESCRIPTION EXPECTED_RC [stdout-regex] [stderr-regex...]
check() {
	local desc=$1 want=$2 outre=${3:-} re

	shift 3 2>/dev/null || shift $#
	if [ "$rc" != "$want" ]; then
		echo "# exit status $rc, wanted $want"
		not_ok "$desc"
		return
	fi
	if [ -n "$outre" ] && ! grep -Eq -- "$outre" "$T/out"; then
		echo "# stdout does not match: $outre"
		not_ok "$desc"
		return
	fi
	for re in "$@"; do
		if ! grep -Eq -- "$re" "$T/err"; then
			echo "# stderr does not match: $re"
			not_ok "$desc"
			return
		fi
	done
	ok "$desc"
}

echo "1..23"

if ! mkcerts; then
	echo "Bail out! cannot make test certificates with openssl"
	exit 1
fi
CA="--ca $T/ca.crt"
fp_good=$(fingerprint "$T/good.crt")
fp_self=$(fingerprint "$T/self.crt")
any_fp='sha256:[0-9a-f]{64}'

# 1-3: a good certificate, by name and by address, and the system store.
start_server tls good
probe $CA localhost "$port"
check "good certificate: greeting received" 0 '^\* OK test server ready$' \
    'connected to 127\.0\.0\.1:[0-9]+, TLSv1\.[23]'
start_server tls good
probe $CA 127.0.0.1 "$port"
check "good certificate, IP literal (SAN IP check, no SNI)" 0 \
    '^\* OK test server ready$'
start_server tls good
probe localhost "$port"
check "test CA not in the system store: issuer not trusted" 1 '' \
    'certificate issuer is not trusted \(unknown CA' "$any_fp"

# 4-7: bad certificates, each with its reason, subject and fingerprint.
start_server tls expired
probe $CA localhost "$port"
check "expired certificate refused" 1 '' \
    'certificate has expired \(notAfter 2021-01-01 00:00:00Z; check the system clock\)' \
    "subject 'CN=localhost'" "$any_fp"
start_server tls notyet
probe $CA localhost "$port"
check "not-yet-valid certificate refused" 1 '' \
    'certificate is not yet valid \(notBefore 2040-01-01 00:00:00Z; check the system clock\)' \
    "subject 'CN=localhost'" "$any_fp"
start_server tls wrong
probe $CA localhost "$port"
check "certificate for another name refused" 1 '' \
    "certificate is for 'wrong\.example', not 'localhost'" \
    "subject 'CN=wrong\.example'" "$any_fp"
start_server tls self
probe $CA localhost "$port"
check "self-signed certificate refused" 1 '' \
    'certificate issuer is not trusted \(self-signed' "$fp_self"

# 8: old protocol versions. OpenSSL 3's client refuses anything below TLS
# 1.2 by our minimum; the python server at SECLEVEL=0 still offers 1.0/1.1.
start_server tls11 good
probe $CA localhost "$port"
check "TLS 1.0/1.1-only server refused" 1 '' \
    'server offered only TLS 1\.0/1\.1'

# 9-11: pinning (strict: the pin AND the chain must pass).
start_server tls good
probe $CA --fingerprint "$fp_good" localhost "$port"
check "right fingerprint accepted" 0 '^\* OK test server ready$'
start_server tls good
probe $CA --fingerprint "sha256:$(printf '%064d' 0)" localhost "$port"
check "wrong fingerprint refused, naming both" 1 '' \
    "fingerprint mismatch: server presented $fp_good, expected sha256:0{64}"
start_server tls self
probe --fingerprint "$fp_self" localhost "$port"
check "right pin on an untrusted chain still refused (strict)" 1 '' \
    'certificate issuer is not trusted \(self-signed'

# 12-15: STARTTLS, and response injection (read along with the OK, or
# still unread in the kernel when the switch to TLS comes).
start_server starttls-imap good
probe $CA --starttls imap localhost "$port"
check "IMAP STARTTLS upgrade, CAPABILITY asked over TLS" 0 \
    '^\* CAPABILITY IMAP4rev1 AUTH=PLAIN$' 'STARTTLS done, TLSv1\.[23]'
start_server starttls-pop3 good
probe $CA --starttls pop3 localhost "$port"
check "POP3 STLS upgrade, CAPA asked over TLS" 0 '^\+OK capabilities'
start_server starttls-inject good
probe $CA --starttls imap localhost "$port"
check "STARTTLS response injection refused before the handshake" 1 '' \
    'bytes received before TLS: possible STARTTLS injection'
start_server starttls-inject-late good
probe $CA --starttls imap --starttls-delay 700 localhost "$port"
check "late injection, unread when STARTTLS starts: refused too" 1 '' \
    'bytes received before TLS: possible STARTTLS injection'

# 16-18: how a TLS connection ends.
start_server tls-clean good
probe $CA --read-all localhost "$port"
check "close_notify then EOF: orderly close" 0 '^\* BYE logging out$' \
    'closed by the server'
start_server tls-dirty good
probe $CA --read-all localhost "$port"
check "EOF without close_notify: error (truncation)" 1 '^\* BYE' \
    'without TLS close_notify'
start_server tls-dirty good
probe $CA --read-all --expect-eof localhost "$port"
check "EOF without close_notify after conn_expect_eof: orderly" 0 \
    '^\* BYE logging out$'

# 19: many small records in one burst, then silence: OpenSSL reads them
# ahead, several at a time, and every one is delivered without waiting for
# the socket (which has nothing more to say) or the timeout.
start_server tls-records good
probe $CA --timeout 5 --read-until '* LAST' localhost "$port"
if [ "$(grep -c 'record of its own$' "$T/out")" = 199 ]; then
	check "200 one-line records in a burst: all read, no stall" 0 \
	    '^\* LAST$'
else
	echo "# $(grep -c 'record of its own$' "$T/out") of 199 lines read"
	not_ok "200 one-line records in a burst: all read, no stall"
fi

# 20: a server that never says a word: timeout within the timeout.
start_server silent good
start=$(date +%s)
probe --plain --timeout 2 127.0.0.1 "$port"
elapsed=$(($(date +%s) - start))
if [ "$elapsed" -ge 2 ] && [ "$elapsed" -le 4 ]; then
	check "silent server: timeout after 2s (took ${elapsed}s)" 1 '' \
	    'timed out after 2s'
else
	echo "# took ${elapsed}s"
	not_ok "silent server: timeout after 2s"
fi

# 21: a closed port: the error names the address.
closed=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
probe --plain --timeout 5 127.0.0.1 "$closed"
check "closed port: error names the address" 1 '' \
    "cannot connect to 127\.0\.0\.1 port $closed: 127\.0\.0\.1:$closed: Connection refused"

# 22: a name with ::1 first and 127.0.0.1 second, only IPv4 listening:
# every address is tried. /etc/hosts may not list ::1 for localhost, so the
# probe resolves with its own hosts file (evdns, as the daemon does).
printf '::1 localhost\n127.0.0.1 localhost\n' > "$T/hosts"
start_server tls good
probe $CA --hosts "$T/hosts" -v localhost "$port"
check "::1 refused, then 127.0.0.1 connects" 0 '^\* OK test server ready$' \
    "\[::1\]:$port" "connected to 127\.0\.0\.1:$port"

# 23: bounded line reading.
start_server longline good
probe --plain --max-line 1000 127.0.0.1 "$port"
check "20000-byte line with a 1000-byte cap: refused" 1 '' \
    'line too long \(more than 1000 bytes\)'

[ "$failed" -eq 0 ]
