# daemon.sh: running the long-running mailfetchd in the integration tests
# (bash; sources mfd.sh and dovecot.sh, whose mfd_init and dovecot_start
# must have run).
#
#	daemon_block alice 'poll_interval = 10s' >>"$CONF"
#	daemon_conf "$CONF" alice bob	# global lines + one block each
#	daemon_notify_listen		# NOTIFY_SOCKET, messages in $T/notify
#					# (and $T/notify.log: time, pid)
#	daemon_start "$CONF"		# DPID, log in $DLOG; killed at exit
#	daemon_wait_log 'fetched 4 messages' 20	|| ...
#	daemon_wait_exit 15		# sets drc
#	daemon_refuse_start		# an IMAP server refusing every
#					# login on 127.0.0.1:$RPORT
#
# Accounts use the Dovecot user of the same name, the password in
# $T/NAME/pass (mfd_account), the Maildir $T/NAME/Maildir; every account
# of a test shares the state directory $T/state.

[ -n "${DAEMON_LOADED:-}" ] && return 0
DAEMON_LOADED=1

DAEMON_LIBDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$DAEMON_LIBDIR/mfd.sh"
. "$DAEMON_LIBDIR/dovecot.sh"

# daemon_block NAME [ACCOUNT-LINE...]: one IMAPS account section (INBOX,
# polled every 10 s unless a line says otherwise) on stdout.
daemon_block()
{
	local acct=$1 line

	shift
	printf 'account "%s" {\n' "$acct"
	printf '  protocol = imap\n  host = "localhost"\n'
	printf '  port = %s\n  tls = implicit\n' "$DC_IMAPS_PORT"
	printf '  ca_file = "%s"\n' "$DC_CA"
	printf '  user = "%s"\n' "$acct"
	printf '  password_file = "%s"\n' "$T/$acct/pass"
	printf '  maildir = "%s"\n' "$T/$acct/Maildir"
	printf '  timeout = 20s\n'
	printf '  poll_interval = 10s\n  poll_interval_override = yes\n'
	for line in "$@"; do
		printf '  %s\n' "$line"
	done
	printf '  folder "INBOX" { }\n}\n'
}

# daemon_conf FILE NAME...: the global lines and a default block per name.
daemon_conf()
{
	local f=$1 acct

	shift
	{
		printf 'state_dir = "%s"\nlog_level = info\n' "$T/state"
		for acct in "$@"; do
			daemon_block "$acct"
		done
	} >"$f" || tap_bail "cannot write $f"
}

# Starts a python3 AF_UNIX datagram socket that appends each sd_notify
# message to $T/notify (newlines inside a message become '|'), and to
# $T/notify.log as "MS PID MESSAGE": the wall clock in milliseconds (as
# date +%s%3N) and the sender's pid (SCM_CREDENTIALS, as systemd checks
# it for NotifyAccess=main).
daemon_notify_listen()
{
	local i

	NOTIFY_SOCKET=$T/notify.sock
	: >"$T/notify"
	: >"$T/notify.log"
	"$(_dc_python)" -u -c '
import socket, struct, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind(sys.argv[1])
print("ready", flush=True)
cred = struct.calcsize("3i")
with open(sys.argv[2], "a") as out, open(sys.argv[3], "a") as log:
    while True:
        data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(cred))
        pid = 0
        for level, kind, d in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("3i", d[:cred])[0]
        m = data.decode("utf-8", "replace").replace("\n", "|")
        out.write(m + "\n")
        out.flush()
        log.write("%d %d %s\n" % (time.time() * 1000, pid, m))
        log.flush()
' "$NOTIFY_SOCKET" "$T/notify" "$T/notify.log" >"$T/notify.ready" &
	NOTIFY_PID=$!
	tap_cleanup_add 'kill "$NOTIFY_PID" 2>/dev/null; wait "$NOTIFY_PID" 2>/dev/null'
	for ((i = 0; i < 250; i++)); do
		[ -s "$T/notify.ready" ] && break
		sleep 0.02
	done
	[ -s "$T/notify.ready" ] || tap_bail "notify listener did not start"
	export NOTIFY_SOCKET
}

# daemon_start CONF [ARGS...]: mailfetchd in the background (DPID), its
# stderr in DLOG=$T/daemon.log; stopped (SIGKILL) at exit if still there.
daemon_start()
{
	local conf=$1

	shift
	DLOG=$T/daemon.log
	"$MAILFETCHD" -c "$conf" "$@" >>"$DLOG" 2>&1 &
	DPID=$!
	tap_cleanup_add 'kill -9 "$DPID" 2>/dev/null; wait "$DPID" 2>/dev/null'
}

# daemon_wait_file FILE ERE SECONDS [COUNT]: waits until FILE has COUNT
# (default 1) lines matching ERE; 1 on timeout.
daemon_wait_file()
{
	local f=$1 re=$2 n=${4:-1} i

	for ((i = 0; i < $3 * 10; i++)); do
		[ "$(grep -Ec -- "$re" "$f" 2>/dev/null)" -ge "$n" ] && return 0
		sleep 0.1
	done
	return 1
}

# daemon_wait_log ERE SECONDS [COUNT]: the same for the daemon's log.
daemon_wait_log()
{
	daemon_wait_file "$DLOG" "$@"
}

# daemon_wait_exit SECONDS: waits for the daemon to exit; drc is its exit
# status, or "timeout".
daemon_wait_exit()
{
	local i

	drc=timeout
	for ((i = 0; i < $1 * 10; i++)); do
		if ! kill -0 "$DPID" 2>/dev/null; then
			wait "$DPID"
			drc=$?
			return 0
		fi
		sleep 0.1
	done
	return 1
}

# daemon_refuse_start [pop3 REPLY]: tests/lib/refuse.py, an IMAP server
# (no TLS) that answers every login "NO [AUTHENTICATIONFAILED]" (or a
# POP3 server answering REPLY), on 127.0.0.1:$RPORT; killed at exit.
daemon_refuse_start()
{
	local i

	"$(_dc_python)" "$DAEMON_LIBDIR/refuse.py" "${1:-imap}" \
	    "${2:-NO [AUTHENTICATIONFAILED] Authentication failed.}" 120 \
	    >"$T/refuse.port" &
	RPID=$!
	tap_cleanup_add 'kill "$RPID" 2>/dev/null'
	for ((i = 0; i < 50; i++)); do
		[ -s "$T/refuse.port" ] && break
		sleep 0.1
	done
	RPORT=$(cat "$T/refuse.port")
	[ -n "$RPORT" ] || tap_bail "refuse.py did not start"
}

# daemon_msgids DIR: the Message-IDs of the messages in DIR/new and
# DIR/cur, one per line, sorted (duplicates kept).
daemon_msgids()
{
	find "$1/new" "$1/cur" -maxdepth 1 -type f -print0 2>/dev/null |
	    xargs -0r grep -h -m1 -i '^Message-ID:' | tr -d '\r' | sort
}
