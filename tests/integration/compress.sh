#!/bin/bash
# compress.sh: COMPRESS=DEFLATE (RFC 4978) in the connection layer
# (src/conn.c), through tests/tools/compress_probe. Against the scripted
# server compress_server.py, plain and over TLS: a 5 MB mail-like body
# byte-exact through the compressed channel, a corrupt stream, a stream
# that ends, a compression bomb (1 GB of zeros in about 1 MB) in bounded
# memory, bytes left over after the OK, a refusal. Then against Dovecot
# with imap_zlib (DC_COMPRESS=1): LOGIN, COMPRESS, FETCH, same bytes as
# without compression. TAP.
#
# Environment: top_srcdir, top_builddir (set by make check), or
# COMPRESS_PROBE naming the probe; COMPRESS_BOMB_SIZE (default 1 GiB).
set -u

srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
builddir=${top_builddir:-.}
probe=${COMPRESS_PROBE:-$builddir/tests/tools/compress_probe}
. "$srcdir/tests/lib/dovecot.sh"

for tool in "$probe" python3 openssl /usr/bin/time; do
	command -v "$tool" >/dev/null || tap_bail "$tool not found"
done
T=$(mktemp -d "${TMPDIR:-/tmp}/compress.XXXXXX") || tap_bail "mktemp"
tap_cleanup_add "rm -rf '$T'"
PY=$(_dc_python)
# Under --enable-asan, freed memory waits in ASan's quarantine (256 MB by
# default): the bomb's peak RSS would measure that, not conn.c.
ASAN_BUILD=${ASAN_OPTIONS:+yes}
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=1

# A CA and a server certificate for 127.0.0.1.
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -days 2 -subj "/CN=compress test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign" \
    -keyout "$T/ca.key" -out "$T/ca.pem" 2>"$T/openssl.err" &&
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -days 2 -subj "/CN=localhost" -CA "$T/ca.pem" -CAkey "$T/ca.key" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$T/srv.key" -out "$T/srv.pem" 2>>"$T/openssl.err" ||
    tap_bail "openssl: $(cat "$T/openssl.err")"

# server NAME MODE [ARGS...]: starts compress_server.py; sets PORT_<NAME>
# and SUM_<NAME> (the expected SHA-256 of the literal).
server()
{
	local name=$1 i port="" sum=""

	shift
	"$PY" "$srcdir/tests/integration/compress_server.py" "$@" \
	    >"$T/$name.srv" 2>"$T/$name.srv.err" &
	tap_cleanup_add "kill $! 2>/dev/null"
	for ((i = 0; i < 600; i++)); do
		read -r port sum 2>/dev/null <"$T/$name.srv"
		[ -n "$sum" ] && break
		sleep 0.05
	done
	[ -n "$sum" ] || tap_bail "compress_server.py $*: $(cat "$T/$name.srv.err")"
	printf -v "PORT_$name" '%s' "$port"
	printf -v "SUM_$name" '%s' "$sum"
}

# run NAME PROBE-ARGS...: runs the probe under /usr/bin/time; sets RC, OUT,
# ERR and RSS (peak, KB).
run()
{
	local name=$1

	shift
	/usr/bin/time -f '%M' -o "$T/$name.rss" "$probe" --timeout 30 "$@" \
	    >"$T/$name.out" 2>"$T/$name.err"
	RC=$?
	OUT=$(cat "$T/$name.out")
	ERR=$(cat "$T/$name.err")
	RSS=$(tail -n 1 "$T/$name.rss")
	# /usr/bin/time says "Command exited with non-zero status N" first.
	if grep -q 'terminated by signal' "$T/$name.rss"; then
		RC=128
	fi
}

# ratio OUT: "data_in/wire_in" with two decimals, from the probe's counters.
ratio()
{
	awk '/^wire_in/ { if ($2 > 0) printf "%.2f", $4 / $2; else print "0" }' \
	    <<<"$1"
}

server data data --size 5000000
server tls data --size 5000000 --tls "$T/srv.pem" "$T/srv.key"
server corrupt corrupt
server end end
server leftover leftover
server refuse refuse
server bomb bomb --size "${COMPRESS_BOMB_SIZE:-1073741824}"

# --- 5 MB through the compressed channel, plain TCP ---
run plain --plain --cmd DATA 127.0.0.1 "$PORT_data"
ok $RC "plain: probe succeeds" "$ERR"
tap_like "$OUT" "^literal_bytes 5000000 sha256 $SUM_data\$" \
    "plain: 5 MB arrive byte-exact (sha256)"
tap_like "$ERR" "COMPRESS=DEFLATE on" "plain: compression was on"
read -r _ win _ din _ wout _ dout < <(grep '^wire_in' <<<"$OUT")
[ "${win:-0}" -gt 0 ] && [ "${din:-0}" -gt $((win * 2)) ]
ok $? "plain: fewer bytes on the wire than inflated ($win -> $din)"
[ "${dout:-0}" -eq 9 ] && [ "${wout:-0}" -gt 0 ]
ok $? "plain: the command went out deflated ($dout -> $wout bytes)"
tap_diag "5 MB mail-like text: ratio $(ratio "$OUT"), peak RSS ${RSS} KB"

# --- the same over TLS ---
run tls --ca "$T/ca.pem" --cmd DATA --cmd DATA 127.0.0.1 "$PORT_tls"
ok $RC "tls: probe succeeds" "$ERR"
# Two DATA commands: the stream carries on across responses.
tap_like "$OUT" "^literal_bytes 10000000 " "tls: both responses read whole"
# The digest of the same 5 MB twice, from the server's own generator.
want=$("$PY" -c '
import hashlib, sys
sys.path.insert(0, sys.argv[1])
import compress_server as s
d = s.mail_text(5000000)
print(hashlib.sha256(d + d).hexdigest())' "$srcdir/tests/integration")
tap_like "$OUT" "sha256 $want\$" "tls: 10 MB byte-exact over TLS + DEFLATE"
tap_like "$ERR" "connected to 127\.0\.0\.1:[0-9]+, TLS" "tls: TLS was up"

# --- a corrupt stream is a connection error ---
run corrupt --plain --cmd DATA 127.0.0.1 "$PORT_corrupt"
tap_is "$RC" 1 "corrupt: exit 1, no crash"
tap_like "$ERR" "compressed stream is corrupt" "corrupt: says so"

# --- a stream that ends where the client did not expect the connection
# to end is an error too (the end of the stream is the end of the link) ---
run end --plain --cmd DATA 127.0.0.1 "$PORT_end"
tap_is "$RC" 1 "end: exit 1"
tap_like "$ERR" "data after the end of the compressed stream|closed by the server" \
    "end: says so"

# --- bytes after the OK are refused ---
run leftover --plain --cmd DATA 127.0.0.1 "$PORT_leftover"
tap_is "$RC" 1 "leftover: exit 1"
tap_like "$ERR" "bytes received before compression started" \
    "leftover: refused before any inflate"
tap_unlike "$ERR" "COMPRESS=DEFLATE on" "leftover: compression never on"

# --- a NO to COMPRESS ---
run refuse --plain --cmd DATA 127.0.0.1 "$PORT_refuse"
tap_is "$RC" 3 "refuse: COMPRESS refused is reported (exit 3)"

# --- the bomb: bounded memory ---
run bomb --plain --cmd DATA 127.0.0.1 "$PORT_bomb"
if [ "$RC" -eq 0 ]; then
	tap_like "$OUT" "^literal_bytes ${COMPRESS_BOMB_SIZE:-1073741824} sha256 $SUM_bomb\$" \
	    "bomb: read whole and byte-exact"
else
	tap_like "$ERR" "compress_probe: .+" "bomb: stopped with a clear error"
fi
# Under ASan (the test command's second build sets ASAN_OPTIONS) shadow
# memory and redzones cost a fixed extra; the bound is what matters: a
# GiB inflated in a few MB.
limit=40000
[ -n "$ASAN_BUILD" ] && limit=80000
[ "${RSS:-999999}" -lt "$limit" ]
ok $? "bomb: peak RSS ${RSS} KB < $((limit / 1000)) MB (1 GiB inflated)"
tap_diag "bomb: $(grep '^wire_in' <<<"$OUT"), ratio $(ratio "$OUT")"

# --- Dovecot with imap_zlib ---
DC_COMPRESS=1 dovecot_start
dovecot_add_user zed pw-zed-4978
dovecot_load_samples zed
printf '%s\n' pw-zed-4978 >"$T/pw"
fetch=(--ca "$DC_CA" --user zed --password-file "$T/pw" --cmd "SELECT INBOX"
    --cmd "FETCH 1:* BODY.PEEK[]")
run dc_plain --no-compress "${fetch[@]}" 127.0.0.1 "$DC_IMAPS_PORT"
ok $RC "dovecot: fetch without COMPRESS" "$ERR"
run dc_z "${fetch[@]}" 127.0.0.1 "$DC_IMAPS_PORT"
ok $RC "dovecot: LOGIN, COMPRESS DEFLATE, FETCH" "$ERR"
tap_like "$ERR" "COMPRESS=DEFLATE on" "dovecot: compression was on"
sum_plain=$(grep '^literal_bytes' "$T/dc_plain.out")
sum_z=$(grep '^literal_bytes' "$T/dc_z.out")
[ -n "$sum_plain" ] && [ "${sum_plain#literal_bytes 0 }" = "$sum_plain" ]
ok $? "dovecot: messages fetched ($sum_plain)"
tap_is "$sum_z" "$sum_plain" "dovecot: same bytes with and without COMPRESS"
read -r _ win _ din _ wout _ dout < <(grep '^wire_in' <<<"$(cat "$T/dc_z.out")")
[ "${win:-0}" -gt 0 ] && [ "${din:-0}" -gt "${win:-0}" ]
ok $? "dovecot: inflated more than received ($win -> $din)"

# --- mailfetchd --once with compress = always / yes ---
MAILFETCHD=${MAILFETCHD:-$srcdir/_build/mailfetchd}
# mfdconf NAME COMPRESS: an account for user zed into $T/NAME.
mfdconf() {
	mkdir -p "$T/$1"
	cat >"$T/$1/c.conf" <<CONF
state_dir = "$T/$1/state"
account "zed" {
    protocol = imap
    host = "localhost"
    port = $DC_IMAPS_PORT
    tls = implicit
    ca_file = "$DC_CA"
    user = "zed"
    password_file = "$T/pw"
    maildir = "$T/$1/Maildir"
    compress = $2
    folder "INBOX" { }
    folder "Archive" { }
}
CONF
}
chmod 600 "$T/pw"
mfdconf always always
"$MAILFETCHD" -c "$T/always/c.conf" --once -v -v >"$T/always.log" 2>&1
ok $? "mailfetchd --once with compress = always" "$(tail -5 "$T/always.log")"
tap_like "$(cat "$T/always.log")" "> m[0-9]+ COMPRESS DEFLATE" \
    "compress = always: COMPRESS DEFLATE sent to the loopback server"
tap_like "$(cat "$T/always.log")" "compression: received [0-9]+ bytes, inflated to" \
    "compress = always: the stream was inflated"
mfdconf yes yes
"$MAILFETCHD" -c "$T/yes/c.conf" --once -v -v >"$T/yes.log" 2>&1
ok $? "mailfetchd --once with compress = yes"
tap_unlike "$(cat "$T/yes.log")" "COMPRESS DEFLATE" \
    "compress = yes: no COMPRESS to a loopback server"
sums() { find "$1" -path '*/new/*' -type f -exec sha256sum {} + | cut -d' ' -f1 | sort; }
a=$(sums "$T/always/Maildir")
[ -n "$a" ] && [ "$a" = "$(sums "$T/yes/Maildir")" ]
ok $? "the same mail arrives with and without compression"
tap_is "$(find "$T/always/Maildir" -path '*/new/*' -type f | wc -l)" 6 \
    "compress = always: all six sample messages delivered"

tap_done
