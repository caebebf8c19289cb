# dovecot.sh: a throwaway, self-contained Dovecot 2.3 for integration tests
# (bash; sources tap.sh). One instance per test, everything under one
# temporary directory, nothing read from /etc/dovecot, loopback only.
#
#	. "$top_srcdir/tests/lib/dovecot.sh"
#	dovecot_start			# bails out if it cannot
#	dovecot_add_user alice pw-alice
#	dovecot_add_message alice INBOX "$DC_SAMPLES/01-plain.eml"
#	dovecot_imap_cmd alice pw-alice 'STATUS INBOX (MESSAGES)'
#	...				# dovecot_stop runs from the EXIT trap
#
# Needs root (it creates the mail user and starts Dovecot) and the packages
# dovecot-imapd dovecot-pop3d openssl python3 procps iproute2 util-linux; the test
# command installs them, a test only checks and bails out with the apt-get
# line.
#
# dovecot_start exports:
#   DC_DIR         the instance directory, /tmp/mfd-dc.XXXXXX (short on
#                  purpose: unix socket paths under it must stay < 108 bytes)
#   DC_CONF        DC_DIR/dovecot.conf
#   DC_LOG         DC_DIR/dovecot.log (errors, warnings, logins)
#   DC_IMAP_PORT   IMAP, STARTTLS offered       \
#   DC_IMAPS_PORT  IMAP over implicit TLS        | all on 127.0.0.1,
#   DC_POP3_PORT   POP3, STLS offered            | four consecutive ports
#   DC_POP3S_PORT  POP3 over implicit TLS       /
#   DC_CA          CA certificate (PEM) clients must trust
#   DC_FP_SHA256   server certificate fingerprint, sha256:<64 lowercase hex>
#   DC_MAIL_USER   system user owning the mail (never root)
#   DC_START_MS    how long dovecot_start took
# and sets DC_SAMPLES (tests/lib/sample-mail) on load.
#
# The server certificate is for CN=localhost, SAN DNS:localhost and
# IP:127.0.0.1, issued by a per-instance CA; clients connect to 127.0.0.1
# and verify the name "localhost".
#
# Mailbox names. FOLDER arguments are IMAP mailbox names exactly as a client
# sends them on the wire: '/' is the hierarchy separator ("Lists/dev") and
# anything non-ASCII must already be in modified UTF-7 (RFC 3501 5.1.3);
# dovecot_mutf7 converts, e.g. "$(dovecot_mutf7 'Entwürfe')" gives
# "Entw&APw-rfe". On disk (Maildir++) "Lists/dev" is Maildir/.Lists.dev, so
# '.' is refused in names. INBOX is the Maildir itself.
#
# Line ends. Messages are stored as given (LF on disk, Dovecot's own Maildir
# convention); over IMAP and POP3 the server serves them with CRLF, so sizes
# seen by clients count one extra byte per line.
#
# Users. dovecot_add_user writes DC_DIR/users/NAME (a one-line
# passwd-file, {PLAIN} password, uid/gid of DC_MAIL_USER, home
# DC_DIR/home/NAME). One file per user because Dovecot re-reads a changed
# passwd-file at most once a second; a new path is read at first lookup,
# so a user added at any time logs in at once. No auth cache, no failure
# delay and no per-IP login penalty: a test may fail logins on purpose
# without slowing the next ones.
#
# Setup functions (dovecot_start, dovecot_add_*, dovecot_load_samples)
# bail out of the test on failure and must not run in a subshell ($(...)):
# they set variables (DC_*, DC_LAST_MESSAGE), and only the test's own shell
# has the EXIT trap that stops Dovecot. Query functions (dovecot_imap_cmd,
# dovecot_append) return a status for the test to check. Safe under
# `set -u`; not written for `set -e`.
#
# Functions, in short:
#   dovecot_pick_port                  a free port for a DC_EXTRA_CONF listener
#   dovecot_lmtp_conf NAME [PORT]      DC_EXTRA_CONF lines for LMTP with
#                                      Sieve (a socket run/NAME, TCP PORT)
#   dovecot_start                      start, export DC_*, stop at EXIT
#   dovecot_stop                       stop, wait for every process, rm DC_DIR
#   dovecot_restart                    stop and start again on the same
#                                      ports and files (users, mail kept)
#   dovecot_without_caps USER PASSWORD CAP...
#                                      restart offering its IMAP
#                                      capabilities but CAP...
#   dovecot_add_user USER PASSWORD     add a user (works while running)
#   dovecot_add_folder USER FOLDER     create and subscribe (doveadm)
#   dovecot_add_message USER FOLDER FILE [FLAGS]
#                                      store FILE in new/, or cur/:2,FLAGS
#   dovecot_load_samples USER          tests/lib/sample-mail: 4 to INBOX
#                                      (03 \Seen), 2 to Archive (05 \Seen)
#   dovecot_append USER FOLDER FILE [IMAP-FLAGS]
#                                      real APPEND over IMAPS
#   dovecot_imap_cmd USER PASSWORD CMD...
#                                      IMAP commands over IMAPS, print replies
#   dovecot_mutf7 [-d] NAME            UTF-8 <-> modified UTF-7
#   dovecot_folder_path USER FOLDER    the folder's Maildir on disk
#
# Knobs: KEEP_DOVECOT=1 keeps DC_DIR after the test (the server is stopped
# all the same); DC_PORT_BASE=N makes the first attempt use ports N..N+3;
# DC_EXTRA_CONF holds lines appended to dovecot.conf (benchmarks raise
# the process and client limits with it; empty by default); DC_COMPRESS=1
# loads the imap_zlib plugin, so IMAP offers COMPRESS=DEFLATE (RFC 4978;
# off by default); DC_SEPARATOR=. makes '.' the hierarchy separator, as
# Cyrus and Courier have it (default '/'): FOLDER arguments then use '.'
# between levels ("Lists.dev") and may not hold '/'.

[ -n "${DC_LOADED:-}" ] && return 0
DC_LOADED=1

DC_LIBDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$DC_LIBDIR/tap.sh"
DC_SAMPLES=$DC_LIBDIR/sample-mail
DC_MAIL_USER=mailfetchd-test
DC_DIR=""
_DC_MSGNO=0

# Say what went wrong on stderr (the test log) without disturbing TAP.
_dc_err()
{
	printf 'dovecot.sh: %s\n' "$*" >&2
}

# Milliseconds since the epoch (bash 5 clock, no fork).
_dc_now_ms()
{
	local t=${EPOCHREALTIME/[.,]/}

	printf '%s\n' $((t / 1000))
}

# The python3 that runs the IMAP client; Debian's own, which starts faster
# than a shim, when it is there.
_dc_python()
{
	if [ -x /usr/bin/python3 ]; then
		printf '%s\n' /usr/bin/python3
	else
		command -v python3
	fi
}

# Check that the tools are installed; print what to install if not.
_dc_check_packages()
{
	local missing="" f

	for f in /usr/sbin/dovecot /usr/lib/dovecot/imap /usr/lib/dovecot/imap-login; do
		[ -x "$f" ] || missing="$missing dovecot-imapd"
	done
	for f in /usr/lib/dovecot/pop3 /usr/lib/dovecot/pop3-login; do
		[ -x "$f" ] || missing="$missing dovecot-pop3d"
	done
	command -v openssl >/dev/null || missing="$missing openssl"
	command -v ss >/dev/null || missing="$missing iproute2"
	command -v pgrep >/dev/null || missing="$missing procps"
	command -v flock >/dev/null || missing="$missing util-linux"
	if [ -z "$(_dc_python)" ] || ! "$(_dc_python)" -c 'import ssl' 2>/dev/null; then
		missing="$missing python3"
	fi
	[ -z "$missing" ] && return 0
	missing=$(printf '%s\n' $missing | sort -u | tr '\n' ' ')
	printf 'missing packages; the test command should run: apt-get install -y %s\n' \
	    "${missing% }"
	return 1
}

# Create the dedicated mail user once; Dovecot never runs mail as root.
_dc_mail_user()
{
	getent passwd "$DC_MAIL_USER" >/dev/null && return 0
	# Parallel tests may race to create it; useradd fails on a held lock.
	(
		flock 9
		getent passwd "$DC_MAIL_USER" >/dev/null ||
		    useradd --system --user-group --no-create-home \
			--home-dir /nonexistent --shell /usr/sbin/nologin \
			"$DC_MAIL_USER"
	) 9>/tmp/mfd-dc.useradd.lock
	getent passwd "$DC_MAIL_USER" >/dev/null
}

# Make the instance's CA and server certificate (EC P-256: fast to make).
_dc_make_tls()
{
	local t=$DC_DIR/tls

	mkdir -p "$t" || return 1
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	    -nodes -days 30 -sha256 -subj "/CN=mailfetchd test CA $$" \
	    -addext "basicConstraints=critical,CA:TRUE" \
	    -addext "keyUsage=critical,keyCertSign,cRLSign" \
	    -keyout "$t/ca.key" -out "$t/ca.pem" 2>"$t/openssl.err" || return 1
	# OpenSSL 3 "req -CA" issues the server certificate in one step.
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
	    -nodes -days 30 -sha256 -subj "/CN=localhost" \
	    -CA "$t/ca.pem" -CAkey "$t/ca.key" \
	    -addext "basicConstraints=critical,CA:FALSE" \
	    -addext "keyUsage=critical,digitalSignature" \
	    -addext "extendedKeyUsage=serverAuth" \
	    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
	    -keyout "$t/server.key" -out "$t/server.pem" 2>>"$t/openssl.err" ||
	    return 1
	# Dovecot sends the chain it is given: leaf first, then the CA.
	cat "$t/server.pem" "$t/ca.pem" >"$t/chain.pem" || return 1
	chmod 0600 "$t/ca.key" "$t/server.key"
	DC_FP_SHA256=$(openssl x509 -in "$t/server.pem" -noout -fingerprint \
	    -sha256) || return 1
	DC_FP_SHA256=${DC_FP_SHA256#*=}
	DC_FP_SHA256=${DC_FP_SHA256//:/}
	DC_FP_SHA256=sha256:${DC_FP_SHA256,,}
	DC_CA=$t/ca.pem
	export DC_CA DC_FP_SHA256
}

# Pick a base for four consecutive ports below the ephemeral range, so a
# client's outgoing connection never holds one of them.
_dc_pick_base()
{
	local lo=10000 hi

	read -r hi _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null ||
	    hi=32768
	[ "$hi" -gt $((lo + 100)) ] || hi=65000
	# Multiples of 4 keep two instances' blocks from overlapping.
	printf '%s\n' $((lo + (RANDOM * 32768 + RANDOM) % ((hi - lo - 4) / 4) * 4))
}

# A port for a listener of DC_EXTRA_CONF (an LMTP inet_listener), set
# before dovecot_start: picked as the instance's own (below the ephemeral
# range, no listener on it).
dovecot_pick_port()
{
	local i p

	for i in 1 2 3 4 5 6 7 8 9 10; do
		p=$(_dc_pick_base)
		_dc_ports_free "$p" && break
	done
	printf '%s\n' "$p"
}

# dovecot_lmtp_conf NAME [PORT]: the lines of DC_EXTRA_CONF for Dovecot's
# LMTP (dovecot-lmtpd) on the Unix socket $DC_DIR/run/NAME (and on
# 127.0.0.1:PORT), without a Received header, with Pigeonhole Sieve
# (dovecot-sieve): a user's ~/.dovecot.sieve.
dovecot_lmtp_conf()
{
	local tcp=

	[ -n "${2:-}" ] && tcp="
  inet_listener lmtp {
    address = 127.0.0.1
    port = $2
  }"
	printf '%s\n' "protocols = imap pop3 lmtp
lmtp_add_received_header = no
service lmtp {
  unix_listener $1 {
    mode = 0666
  }$tcp
}" 'protocol lmtp {
  mail_plugins = $mail_plugins sieve
}
plugin {
  sieve = file:~/sieve;active=~/.dovecot.sieve
}'
}

# Succeed when no listener holds any of the ports BASE..BASE+3.
_dc_ports_free()
{
	local b=$1

	! ss -Htln "( sport = :$b or sport = :$((b + 1)) or sport = :$((b + 2)) or sport = :$((b + 3)) )" |
	    grep -q .
}

# Succeed when all four ports of the instance are listening.
_dc_ports_listening()
{
	local n

	n=$(ss -Htln "src 127.0.0.1 and ( sport = :$DC_IMAP_PORT or sport = :$DC_IMAPS_PORT or sport = :$DC_POP3_PORT or sport = :$DC_POP3S_PORT )" |
	    wc -l)
	[ "$n" -eq 4 ]
}

# Write DC_CONF for the current ports.
_dc_write_conf()
{
	local uid gid dh="" zlib=""

	uid=$(id -u "$DC_MAIL_USER") && gid=$(id -g "$DC_MAIL_USER") || return 1
	[ -r /usr/share/dovecot/dh.pem ] &&
	    dh="ssl_dh = </usr/share/dovecot/dh.pem"
	[ "${DC_COMPRESS:-0}" = 1 ] &&
	    zlib="protocol imap {
  mail_plugins = \$mail_plugins imap_zlib
}"
	cat >"$DC_CONF" <<EOF
# Throwaway test instance written by tests/lib/dovecot.sh.
# Self-contained: nothing from /etc/dovecot is included.
base_dir = $DC_DIR/run
state_dir = $DC_DIR/state
# Names every process ("$DC_NAME/imap"), so the instance can be found in ps.
instance_name = $DC_NAME
log_path = $DC_LOG
info_log_path = $DC_LOG
log_timestamp = "%H:%M:%S "
protocols = imap pop3
listen = 127.0.0.1
# Stopping the master also ends the sessions: nothing outlives the test.
shutdown_clients = yes

ssl = yes
ssl_cert = <$DC_DIR/tls/chain.pem
ssl_key = <$DC_DIR/tls/server.key
$dh
ssl_min_protocol = TLSv1.2

# Dovecot's default: plaintext auth only over TLS (127.0.0.1 counts as secure).
disable_plaintext_auth = yes
auth_mechanisms = plain login
# A user added after start must work at once. Dovecot re-reads a changed
# passwd-file at most once a second, so each user gets a file of its own
# (new path, read fresh on first lookup), and there is no auth cache.
auth_cache_size = 0
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $DC_DIR/users/%u
}
userdb {
  driver = passwd-file
  args = username_format=%u $DC_DIR/users/%u
}
# Tests check refused logins; Dovecot's delays would only slow them: the
# 2 s answer to a failure here, and below the per-IP penalty (2 s, doubling)
# on every later login, which needs anvil's auth-penalty socket.
auth_failure_delay = 0

mail_location = maildir:~/Maildir
first_valid_uid = $uid
last_valid_uid = $uid
first_valid_gid = $gid
last_valid_gid = $gid
# Tests open many sessions from one address (default 10).
mail_max_userip_connections = 100
namespace inbox {
  inbox = yes
  separator = ${DC_SEPARATOR:-/}
}
protocol pop3 {
  pop3_uidl_format = %08Xu%08Xv
}

# mode 0: no socket, so the auth process runs without login penalties.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $DC_IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $DC_IMAPS_PORT
    ssl = yes
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $DC_POP3_PORT
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = $DC_POP3S_PORT
    ssl = yes
  }
}
$zlib
${DC_EXTRA_CONF:-}
EOF
}

# Print the instance's log as TAP diagnostics.
_dc_show_log()
{
	[ -s "$DC_LOG" ] || return 0
	tap_diag "--- $DC_LOG (last 30 lines) ---"
	tap_diag "$(tail -n 30 "$DC_LOG")"
}

# Try to start the master on ports BASE..BASE+3. Returns 0 when listening,
# 2 when a port was taken (try another base), 1 on any other failure.
_dc_try_start()
{
	local base=$1 i

	DC_IMAP_PORT=$base
	DC_IMAPS_PORT=$((base + 1))
	DC_POP3_PORT=$((base + 2))
	DC_POP3S_PORT=$((base + 3))
	_dc_ports_free "$base" || return 2
	_dc_write_conf || return 1
	: >"$DC_LOG"
	# The master binds every listener before it forks into the
	# background, so a taken port shows here as a failed start. Its
	# output goes to a file, never to a pipe: the daemon keeps the
	# descriptors it inherits open, and a reader ($(...), the test
	# driver) would wait for EOF until it exits.
	if ! dovecot -c "$DC_CONF" </dev/null >"$DC_DIR/start.out" 2>&1; then
		if grep -q 'Address already in use' "$DC_LOG" \
		    "$DC_DIR/start.out" 2>/dev/null; then
			return 2
		fi
		tap_diag "dovecot -c $DC_CONF failed: $(cat "$DC_DIR/start.out")"
		return 1
	fi
	# Listening is near instant; bound the wait at 10 s for loaded CI hosts.
	for ((i = 0; i < 500; i++)); do
		_dc_ports_listening && [ -s "$DC_DIR/run/master.pid" ] && return 0
		sleep 0.02
	done
	tap_diag "dovecot started but ports $base..$((base + 3)) are not all listening"
	return 1
}

# Start the instance; export DC_* (see the top of this file).
dovecot_start()
{
	local t0 try rc base why

	[ "$(id -u)" -eq 0 ] ||
	    tap_bail "dovecot_start needs root (mail user, Dovecot master); run the tests as root"
	why=$(_dc_check_packages) || tap_bail "$why"
	[ -z "$DC_DIR" ] || tap_bail "dovecot_start: already running in $DC_DIR"
	t0=$(_dc_now_ms)
	_dc_mail_user || tap_bail "cannot create the system user $DC_MAIL_USER"

	DC_DIR=$(mktemp -d /tmp/mfd-dc.XXXXXX) || tap_bail "mktemp failed"
	tap_cleanup_add dovecot_stop
	DC_NAME=${DC_DIR##*/}
	DC_CONF=$DC_DIR/dovecot.conf
	DC_LOG=$DC_DIR/dovecot.log
	export DC_DIR DC_CONF DC_LOG DC_MAIL_USER
	# Dovecot's auth (user dovecot) and mail processes must reach in here.
	chmod 0755 "$DC_DIR"
	mkdir -p "$DC_DIR/run" "$DC_DIR/state" "$DC_DIR/home" &&
	    chmod 0755 "$DC_DIR/home" || tap_bail "cannot populate $DC_DIR"
	_dc_make_tls ||
	    tap_bail "cannot make the test certificates: $(cat "$DC_DIR/tls/openssl.err")"
	# passwd-files: read by the auth process, which runs as user dovecot.
	mkdir "$DC_DIR/users" && chgrp dovecot "$DC_DIR/users" &&
	    chmod 0750 "$DC_DIR/users" || tap_bail "cannot create $DC_DIR/users"

	base=${DC_PORT_BASE:-$(_dc_pick_base)}
	for ((try = 1; try <= 10; try++)); do
		_dc_try_start "$base"
		rc=$?
		[ "$rc" -eq 0 ] && break
		if [ "$rc" -eq 1 ]; then
			_dc_show_log
			tap_bail "Dovecot failed to start (conf $DC_CONF)"
		fi
		tap_diag "ports $base..$((base + 3)) busy, trying others"
		base=$(_dc_pick_base)
	done
	[ "$rc" -eq 0 ] || tap_bail "no free ports for Dovecot after 10 tries"
	DC_START_MS=$(($(_dc_now_ms) - t0))
	export DC_IMAP_PORT DC_IMAPS_PORT DC_POP3_PORT DC_POP3S_PORT DC_START_MS
	return 0
}

# PIDs of every process of this instance (master and children).
_dc_pids()
{
	# Children are titled "dovecot-<instance_name>/<service>", the
	# master keeps its command line with the configuration path.
	pgrep -f -- "^dovecot-$DC_NAME/|$DC_CONF" 2>/dev/null
}

# Stop the instance, wait until all its processes are gone, remove DC_DIR.
dovecot_stop()
{
	local pid="" i pids

	[ -n "$DC_DIR" ] || return 0
	tap_cleanup_del dovecot_stop
	[ -s "$DC_DIR/run/master.pid" ] && read -r pid <"$DC_DIR/run/master.pid"
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 250; i++)); do
		pids=$(_dc_pids)
		[ -z "$pids" ] && break
		# Once only its log process is left, the master just sits out
		# a fixed sleep(1) before it exits (Dovecot 2.3 services_destroy);
		# cutting that short saves a second a test. The log process
		# follows when its pipes close.
		if [ "$i" -eq 100 ]; then
			tap_diag "Dovecot still stopping after 2 s:" \
			    "$(ps -o pid=,args= -p "$(echo $pids | tr ' ' ,)")"
		fi
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
		    [ "$(pgrep -f -- "^dovecot-$DC_NAME/")" = \
		    "$(pgrep -f -- "^dovecot-$DC_NAME/log\$")" ]; then
			kill -KILL "$pid" 2>/dev/null
		fi
		sleep 0.02
	done
	if [ -n "$pids" ]; then
		tap_diag "Dovecot did not stop in 5 s; killing $(echo $pids)"
		kill -KILL $pids 2>/dev/null
		sleep 0.1
	fi
	if [ "${KEEP_DOVECOT:-0}" = 1 ]; then
		tap_diag "KEEP_DOVECOT=1: instance files kept in $DC_DIR"
	else
		rm -rf "$DC_DIR"
	fi
	DC_DIR=""
	return 0
}

# dovecot_restart [DOWN]: stop the instance's processes (not its files)
# and start it again on the same ports, DOWN seconds (default 0) later:
# the server restart an IMAP client sees. Bails out on failure.
dovecot_restart()
{
	local pid="" i down=${1:-0}

	[ -n "$DC_DIR" ] || tap_bail "dovecot_restart: not running"
	[ -s "$DC_DIR/run/master.pid" ] && read -r pid <"$DC_DIR/run/master.pid"
	[ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null
	for ((i = 0; i < 250; i++)); do
		[ -z "$(_dc_pids)" ] && break
		# See dovecot_stop: the master's final sleep(1) is not needed.
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
		    [ "$(pgrep -f -- "^dovecot-$DC_NAME/")" = \
		    "$(pgrep -f -- "^dovecot-$DC_NAME/log\$")" ]; then
			kill -KILL "$pid" 2>/dev/null
		fi
		sleep 0.02
	done
	[ -z "$(_dc_pids)" ] || kill -KILL $(_dc_pids) 2>/dev/null
	rm -f "$DC_DIR/run/master.pid"
	sleep "$down"
	for ((i = 0; i < 250; i++)); do
		_dc_ports_free "$DC_IMAP_PORT" && break
		sleep 0.02
	done
	dovecot -c "$DC_CONF" </dev/null >"$DC_DIR/start.out" 2>&1 ||
	    tap_bail "dovecot_restart: $(cat "$DC_DIR/start.out")"
	for ((i = 0; i < 500; i++)); do
		_dc_ports_listening && [ -s "$DC_DIR/run/master.pid" ] && return 0
		sleep 0.02
	done
	tap_bail "dovecot_restart: ports $DC_IMAP_PORT.. not listening again"
}

# dovecot_without_caps USER PASSWORD CAP...: restart offering the IMAP
# capabilities the instance offers USER but CAP... (imap_capability), as a
# server without those extensions would. Bails out on failure.
dovecot_without_caps()
{
	local u=$1 p=$2 caps cap drop=()

	shift 2
	for cap; do
		drop+=(-e "$cap")
	done
	caps=$(dovecot_imap_cmd "$u" "$p" CAPABILITY |
	    sed -n 's/^\* CAPABILITY //p' | tr ' ' '\n' |
	    grep -v -x "${drop[@]}" | tr '\n' ' ')
	[ -n "$caps" ] || tap_bail "dovecot_without_caps: no CAPABILITY"
	printf 'imap_capability = %s\n' "$caps" >>"$DC_CONF"
	dovecot_restart
}

# Home directory of test user USER.
_dc_home()
{
	printf '%s\n' "$DC_DIR/home/$1"
}

# The password of USER from the passwd-file (query helpers log in with it).
_dc_password()
{
	local line

	[ -f "$DC_DIR/users/$1" ] || return 1
	read -r line <"$DC_DIR/users/$1" || return 1
	line=${line#*:\{PLAIN\}}
	printf '%s\n' "${line%%:*}"
}

# Add USER with PASSWORD; Dovecot sees it on the next login. (Changing a
# password takes up to a second to show: Dovecot's re-read of a passwd-file.)
dovecot_add_user()
{
	local user=$1 pass=$2 home uid gid tmp

	[ -n "$DC_DIR" ] || tap_bail "dovecot_add_user: dovecot_start first"
	[[ $user =~ ^[A-Za-z0-9][A-Za-z0-9._@+-]*$ ]] ||
	    tap_bail "dovecot_add_user: bad user name '$user'"
	[[ -n $pass && $pass != *[:$'\n']* ]] ||
	    tap_bail "dovecot_add_user: password must be non-empty, without ':' or newline"
	home=$(_dc_home "$user")
	uid=$(id -u "$DC_MAIL_USER") && gid=$(id -g "$DC_MAIL_USER") ||
	    tap_bail "no user $DC_MAIL_USER"
	mkdir -p "$home/Maildir/cur" "$home/Maildir/new" "$home/Maildir/tmp" &&
	    chown -R "$uid:$gid" "$home" && chmod 0700 "$home" ||
	    tap_bail "cannot create $home"
	# Write aside and rename: the auth process never sees half a line.
	tmp=$DC_DIR/users/.$user.tmp
	printf '%s:{PLAIN}%s:%s:%s::%s::\n' "$user" "$pass" "$uid" "$gid" "$home" \
	    >"$tmp" && chgrp dovecot "$tmp" && chmod 0640 "$tmp" &&
	    mv -f "$tmp" "$DC_DIR/users/$user" ||
	    tap_bail "cannot write $DC_DIR/users/$user"
}

# dovecot_mutf7 [-d] NAME: convert a UTF-8 mailbox name to IMAP modified
# UTF-7 (RFC 3501 5.1.3), or back with -d.
dovecot_mutf7()
{
	"$(_dc_python)" -c '
import base64, sys
def enc(s):
    out, buf = [], []
    def flush():
        if buf:
            b = base64.b64encode("".join(buf).encode("utf-16-be")).decode()
            out.append("&" + b.rstrip("=").replace("/", ",") + "-")
            buf.clear()
    for c in s:
        if 0x20 <= ord(c) <= 0x7e:
            flush()
            out.append("&-" if c == "&" else c)
        else:
            buf.append(c)
    flush()
    return "".join(out)
def dec(s):
    out, i = [], 0
    while i < len(s):
        j = s.find("&", i)
        if j < 0:
            out.append(s[i:])
            break
        k = s.index("-", j)
        out.append(s[i:j])
        b = s[j + 1:k].replace(",", "/")
        if b:
            b += "=" * (-len(b) % 4)
            out.append(base64.b64decode(b).decode("utf-16-be"))
        else:
            out.append("&")
        i = k + 1
    return "".join(out)
if sys.argv[1] == "-d":
    print(dec(sys.argv[2]))
else:
    print(enc(sys.argv[1]))' "$@"
}

# The on-disk Maildir of FOLDER (an IMAP name) for USER, Maildir++ layout.
dovecot_folder_path()
{
	local user=$1 folder=$2

	if [ "${folder^^}" = INBOX ]; then
		printf '%s\n' "$(_dc_home "$user")/Maildir"
	else
		printf '%s\n' "$(_dc_home "$user")/Maildir/.${folder//${DC_SEPARATOR:-/}/.}"
	fi
}

# Refuse names the Maildir++ mapping cannot hold or that need mUTF-7 first.
_dc_check_folder()
{
	local f=$1

	local sep=${DC_SEPARATOR:-/} other=.

	[ "$sep" = . ] && other=/
	if [[ -z $f || $f == *"$sep" || $f == "$sep"* || $f == *"$sep$sep"* ||
	    $f == *"$other"* || $f == *[*%\"\\]* ]]; then
		tap_bail "folder '$f': no '$other', '*', '%', quotes, backslashes or empty levels"
	fi
	if LC_ALL=C grep -q '[^ -~]' <<<"$f"; then
		tap_bail "folder '$f' is not ASCII: pass \"\$(dovecot_mutf7 '$f')\""
	fi
}

# Create FOLDER (IMAP name, see the top) for USER and subscribe it.
dovecot_add_folder()
{
	local user=$1 folder=$2 dir out utf8

	[ "${folder^^}" = INBOX ] && return 0
	_dc_check_folder "$folder"
	dir=$(dovecot_folder_path "$user" "$folder")
	[ -d "$dir" ] && return 0
	# Dovecot's own doveadm, as the mail user: the layout, the
	# maildirfolder marker and the subscriptions file are its business.
	# doveadm takes UTF-8 names and does the mUTF-7 itself.
	utf8=$(dovecot_mutf7 -d "$folder") ||
	    tap_bail "dovecot_add_folder: '$folder' is not valid modified UTF-7"
	out=$(doveadm -c "$DC_CONF" mailbox create -s -u "$user" "$utf8" 2>&1) ||
	    tap_bail "doveadm mailbox create $user '$folder' failed: $out"
	[ -d "$dir/cur" ] ||
	    tap_bail "dovecot_add_folder: '$folder' created, but not at $dir"
}

# Drop FILE into FOLDER of USER as a new message (new/), or as an old one
# (cur/ with :2,FLAGS; Maildir flag letters D F P R S T) when FLAGS is given,
# even empty. The path is left in DC_LAST_MESSAGE.
dovecot_add_message()
{
	local user=$1 folder=$2 file=$3 dir name uid gid flags

	[ -r "$file" ] || tap_bail "dovecot_add_message: cannot read $file"
	dir=$(dovecot_folder_path "$user" "$folder")
	[ -d "$dir" ] || dovecot_add_folder "$user" "$folder"
	if [ $# -ge 4 ]; then
		[[ $4 =~ ^[DFPRST]*$ ]] ||
		    tap_bail "dovecot_add_message: flags '$4' not in DFPRST"
		# The Maildir spec wants the letters in ASCII order, once each.
		flags=$(printf '%s' "$4" | fold -w1 | sort -u | tr -d '\n')
	fi
	_DC_MSGNO=$((_DC_MSGNO + 1))
	name=${EPOCHREALTIME%[.,]*}.M${EPOCHREALTIME#*[.,]}P${BASHPID}Q$_DC_MSGNO.mfdtest
	uid=$(id -u "$DC_MAIL_USER") && gid=$(id -g "$DC_MAIL_USER")
	# Write in tmp/, then rename: Dovecot never sees a partial file.
	cp "$file" "$dir/tmp/$name" && chown "$uid:$gid" "$dir/tmp/$name" &&
	    chmod 0600 "$dir/tmp/$name" || tap_bail "cannot write $dir/tmp/$name"
	if [ $# -ge 4 ]; then
		DC_LAST_MESSAGE=$dir/cur/$name:2,$flags
	else
		DC_LAST_MESSAGE=$dir/new/$name
	fi
	mv "$dir/tmp/$name" "$DC_LAST_MESSAGE" || tap_bail "cannot deliver $name"
}

# Put the sample messages in: four into INBOX (one of them already \Seen),
# two into "Archive".
dovecot_load_samples()
{
	local user=$1

	dovecot_add_message "$user" INBOX "$DC_SAMPLES/01-plain.eml"
	dovecot_add_message "$user" INBOX "$DC_SAMPLES/02-utf8.eml"
	dovecot_add_message "$user" INBOX "$DC_SAMPLES/03-multipart.eml" S
	dovecot_add_message "$user" INBOX "$DC_SAMPLES/04-dot-lines.eml"
	dovecot_add_folder "$user" Archive
	dovecot_add_message "$user" Archive "$DC_SAMPLES/05-reply.eml" S
	dovecot_add_message "$user" Archive "$DC_SAMPLES/06-list.eml"
}

# Run the IMAP client on IMAPS with the instance's CA.
_dc_imap_client()
{
	local user=$1 pass=$2

	shift 2
	"$(_dc_python)" "$DC_LIBDIR/imap_client.py" --port "$DC_IMAPS_PORT" \
	    --ca "$DC_CA" --user "$user" --password "$pass" "$@"
}

# dovecot_imap_cmd USER PASSWORD CMD...: log in over IMAPS (CA and host
# name verified), send each CMD (no tag) and print all responses (LF line
# ends). Status 0 all OK, 1 some NO/BAD, 2 no session.
dovecot_imap_cmd()
{
	local user=$1 pass=$2

	shift 2
	_dc_imap_client "$user" "$pass" cmd "$@"
}

# dovecot_append USER FOLDER FILE [IMAP-FLAGS]: a real APPEND through the
# server (so it notices at once, as for IDLE); prints the responses.
dovecot_append()
{
	local user=$1 folder=$2 file=$3 pass

	pass=$(_dc_password "$user") || {
		_dc_err "dovecot_append: no user $user"
		return 2
	}
	shift 2
	_dc_imap_client "$user" "$pass" append "$folder" "$@"
}
