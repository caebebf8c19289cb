# interop.sh: what the harnesses of the other servers share (cyrus.sh,
# courier.sh; bash, sources dovecot.sh for its TLS, ports and IMAP client):
# a throwaway instance's certificates, four free ports on 127.0.0.1, a
# bounded start, an IMAPS query client and a bounded stop.
#
# The servers come from Debian's packages unpacked (dpkg -x) into
# MFD_INTEROP_PREFIX (tests/lib/deps.sh, mfd_install_interop, which the test
# command runs): they conflict with Dovecot's packages, so they are never
# installed as such. A test bails out with the command to run when they are
# missing.

[ -n "${SRV_LOADED:-}" ] && return 0
SRV_LOADED=1

SRV_LIBDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$SRV_LIBDIR/dovecot.sh"
. "$SRV_LIBDIR/deps.sh"

# srv_make_tls DIR: a CA and a server certificate for localhost/127.0.0.1
# under DIR/tls (dovecot.sh's recipe); sets SRV_CA and SRV_FP_SHA256.
# Leaves Dovecot's DC_CA/DC_FP_SHA256 as they were.
srv_make_tls()
{
	local save_ca=${DC_CA:-} save_fp=${DC_FP_SHA256:-} rc

	DC_DIR=$1 _dc_make_tls
	rc=$?
	SRV_CA=${DC_CA:-}
	SRV_FP_SHA256=${DC_FP_SHA256:-}
	DC_CA=$save_ca
	DC_FP_SHA256=$save_fp
	return $rc
}

# srv_ports_listening BASE: all of BASE..BASE+3 listen on 127.0.0.1.
srv_ports_listening()
{
	local b=$1 n

	n=$(ss -Htln "src 127.0.0.1 and ( sport = :$b or sport = :$((b + 1)) or sport = :$((b + 2)) or sport = :$((b + 3)) )" |
	    wc -l)
	[ "$n" -eq 4 ]
}

# srv_start_on_free_ports NAME TRY-FUNCTION: calls TRY-FUNCTION BASE with
# the first of four free consecutive ports until it returns 0 (started) or
# 1 (failed: bail out); 2 means a port was taken meanwhile, try others.
srv_start_on_free_ports()
{
	local name=$1 try=$2 n base rc=2

	for ((n = 1; n <= 10; n++)); do
		base=$(_dc_pick_base)
		_dc_ports_free "$base" || continue
		"$try" "$base"
		rc=$?
		[ "$rc" -eq 0 ] && return 0
		[ "$rc" -eq 1 ] && tap_bail "$name failed to start"
	done
	tap_bail "no free ports for $name after 10 tries"
}

# srv_wait_listening BASE SECONDS PID: waits until the four ports listen;
# 1 when PID died or the time is up.
srv_wait_listening()
{
	local i

	for ((i = 0; i < $2 * 50; i++)); do
		srv_ports_listening "$1" && return 0
		kill -0 "$3" 2>/dev/null || return 1
		sleep 0.02
	done
	return 1
}

# srv_launch BASE LOG CMD...: CMD in a session of its own (setsid), its
# output appended to LOG; waits until BASE..BASE+3 listen and sets SRV_SID.
# srv_start_on_free_ports' contract: 0 started, 2 a port was taken, 1
# failed (the log's end shown).
srv_launch()
{
	local b=$1 log=$2 pid

	shift 2
	setsid "$@" </dev/null >>"$log" 2>&1 &
	pid=$!
	if srv_wait_listening "$b" 10 "$pid"; then
		SRV_SID=$pid
		return 0
	fi
	srv_stop_session "$pid"
	grep -q 'Address already in use' "$log" && return 2
	tap_diag "$*: $(tail -n 20 "$log")"
	return 1
}

# srv_stop_session LEADER: TERM to the instance's first process, which
# was started with setsid and stops the rest itself; whatever is left of
# its session after 5 s (servers make process groups of their own, never
# sessions) gets KILL. Returns when the session is empty.
srv_stop_session()
{
	local sid=$1 i left

	[ -n "$sid" ] || return 0
	kill -TERM "$sid" 2>/dev/null
	for ((i = 0; i < 250; i++)); do
		left=$(ps -o pid=,stat= -s "$sid" 2>/dev/null | awk '$2 !~ /^Z/ {print $1}')
		[ -z "$left" ] && break
		sleep 0.02
	done
	if [ -n "$left" ]; then
		tap_diag "session $sid did not stop in 5 s; killing $(echo $left)"
		kill -KILL $left 2>/dev/null
		sleep 0.1
	fi
	wait "$sid" 2>/dev/null
	return 0
}

# srv_imap PORT CA USER PASSWORD cmd|append ARGS...: imap_client.py over
# IMAPS (see its header); status 0 all OK, 1 some NO/BAD, 2 no session.
srv_imap()
{
	local port=$1 ca=$2 user=$3 pass=$4

	shift 4
	"$(_dc_python)" "$DC_LIBDIR/imap_client.py" --port "$port" --ca "$ca" \
	    --user "$user" --password "$pass" "$@"
}

# srv_append PORT CA USER PASSWORD FOLDER FILE [IMAP-FLAGS]: APPEND over
# IMAPS (LF turned into CRLF), creating FOLDER first when it is not there.
srv_append()
{
	local port=$1 ca=$2 user=$3 pass=$4 folder=$5

	shift 5
	if [ "${folder^^}" != INBOX ]; then
		srv_imap "$port" "$ca" "$user" "$pass" cmd \
		    "STATUS \"$folder\" (MESSAGES)" >/dev/null 2>&1 ||
		    srv_imap "$port" "$ca" "$user" "$pass" cmd \
			"CREATE \"$folder\"" >/dev/null || return 1
	fi
	srv_imap "$port" "$ca" "$user" "$pass" append "$folder" "$@"
}

# srv_load_samples APPEND-FUNCTION USER: dovecot_load_samples' messages
# through APPEND-FUNCTION USER FOLDER FILE [FLAGS]: four into INBOX (03
# \Seen), two into INBOX.Archive (05 \Seen). Bails out on failure.
srv_load_samples()
{
	local f=$1 u=$2 d=$DC_SAMPLES

	{ "$f" "$u" INBOX "$d/01-plain.eml" &&
	    "$f" "$u" INBOX "$d/02-utf8.eml" &&
	    "$f" "$u" INBOX "$d/03-multipart.eml" '\Seen' &&
	    "$f" "$u" INBOX "$d/04-dot-lines.eml" &&
	    "$f" "$u" INBOX.Archive "$d/05-reply.eml" '\Seen' &&
	    "$f" "$u" INBOX.Archive "$d/06-list.eml"; } >/dev/null ||
	    tap_bail "$f: loading the samples for $u failed"
}

# srv_need_prefix DIR: bail out unless the unpacked server is there.
srv_need_prefix()
{
	[ -f "$1/.unpacked" ] ||
	    tap_bail "no server unpacked in $1; run as root: bash -c '. tests/lib/deps.sh && mfd_install_interop'"
	[ "$(id -u)" -eq 0 ] || tap_bail "the interop servers need root"
}
