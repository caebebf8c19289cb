# scripted.sh: the scripted servers of the fault tests (bash; sourced
# with top_srcdir and MAILFETCHD set):
#
#	scripted_init NAME			# the work directory $T
#						# (/tmp/mfd-NAME.*), $T/pass
#	scripted_once NAME			# mailfetchd --once -v on
#						# $T/NAME.conf (60 s at most):
#						# sets $rc and $err; checks
#						# for a sanitizer report
#	scripted_count NAME			# messages in $T/Maildir-NAME
#	scripted_server SCRIPT MODE [ARGS...]	# (re)starts it; sets $port
#	scripted_start LOG SCRIPT MODE [ARGS...]	# the same, the received
#						# lines in LOG (emptied)
#	scripted_folders BOX			# folders_server.py on the
#						# JSON BOX; sets $port
#	scripted_conf NAME PROTO TIMEOUT [LINE...]	# $T/NAME.conf
#	scripted_exact NAME WHAT		# $T/Maildir-NAME against
#						# $T/manifest
#	scripted_pop3_manifest			# $T/manifest of pop3_server.py
#	scripted_pop3dir DIR [VAR=VALUE...]	# (re)starts pop3dir.py on
#						# DIR with those knobs
#	scripted_pop3dir_msgs DIR N		# N small messages in DIR
#
# The server's received lines go to $T/server.log, its stderr to
# $T/server.err; it is killed at exit.

[ -n "${SCRIPTED_LOADED:-}" ] && return 0
SCRIPTED_LOADED=1
. "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/tap.sh"
SCRIPTED_FL=$top_srcdir/tests/fault/faultlib.py
spid=""
tap_cleanup_add '[ -n "$spid" ] && kill "$spid" 2>/dev/null'

# The checks and the work directory of a test on scripted servers: python3
# and $MAILFETCHD are there, $T is /tmp/mfd-NAME.XXXXXX (0700, removed at
# exit) and holds the password file $T/pass.
scripted_init()
{
	command -v python3 >/dev/null || tap_bail "python3 not found"
	command -v timeout >/dev/null || tap_bail "timeout not found"
	[ -x "$MAILFETCHD" ] ||
	    tap_bail "no mailfetchd at $MAILFETCHD (set MAILFETCHD)"
	T=$(mktemp -d "/tmp/mfd-$1.XXXXXX") || tap_bail "mktemp failed"
	chmod 700 "$T"
	tap_cleanup_add 'rm -rf "$T"'
	printf 'scripted-pw\n' >"$T/pass"
	chmod 600 "$T/pass"
}

# One run of $T/NAME.conf: its exit status in $rc (137: still running at
# the fixed outer bound of 60 s, and killed), its log (-v) in $err; a
# sanitizer report in it fails a check.
scripted_once()
{
	err=$(timeout -s KILL 60 "$MAILFETCHD" -c "$T/$1.conf" --once -v \
	    2>&1 >/dev/null)
	rc=$?
	tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
	    "$1: no sanitizer report"
}

# Stops a daemon started in the background: TERM, at most 10 s for it to
# end, then KILL; reaped.
scripted_daemon_stop()
{
	local i

	kill -TERM "$1" 2>/dev/null
	for i in $(seq 100); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

# scripted_lmtp MODE: tests/integration/lmtp_server.py in MODE on the
# Unix socket $T/lmtp.MODE (waited for, 5 s at most), killed at cleanup.
scripted_lmtp()
{
	local i

	python3 "$top_srcdir/tests/integration/lmtp_server.py" "$1" \
	    "$T/lmtp.$1" 2>>"$T/server.err" &
	tap_cleanup_add "kill $! 2>/dev/null"
	for i in $(seq 100); do
		[ -S "$T/lmtp.$1" ] && return 0
		sleep 0.05
	done
	tap_bail "lmtp_server.py $1 did not start"
}

# scripted_daemon_poll NAME [N]: the daemon on $T/NAME.conf (given a
# control socket) until its first (Nth) poll ends (20 s at most, 20 s
# more for each further one): then its --status in
# $status, its --status --json in $json, stopped, its log in $log; a
# sanitizer report in it fails a check.
scripted_daemon_poll()
{
	local i dpid n=${2:-1}

	sed -i "1i control_socket = \"$T/control-$1\"" "$T/$1.conf"
	"$MAILFETCHD" -c "$T/$1.conf" >"$T/$1.log" 2>&1 &
	dpid=$!
	tap_cleanup_add "kill -KILL $dpid 2>/dev/null"
	for i in $(seq $((200 * n))); do
		[ "$(grep -cE 'next poll in|next try in' "$T/$1.log")" -ge "$n" ] &&
		    break
		sleep 0.1
	done
	status=$(timeout 20 "$MAILFETCHD" -c "$T/$1.conf" --status 2>&1)
	json=$(timeout 20 "$MAILFETCHD" -c "$T/$1.conf" --status --json 2>&1)
	scripted_daemon_stop "$dpid"
	log=$(cat "$T/$1.log")
	tap_unlike "$log" 'runtime error:|AddressSanitizer|LeakSanitizer' \
	    "$1: no sanitizer report"
}

# The messages delivered into $T/Maildir-NAME (new/ and cur/).
scripted_count()
{
	find "$T/Maildir-$1/new" "$T/Maildir-$1/cur" -type f 2>/dev/null |
	    wc -l
}

scripted_server()
{
	local script=$1 mode=$2

	shift 2
	[ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	rm -f "$T/port"
	python3 "$script" "$mode" --log "${SCRIPTED_LOG:-$T/server.log}" "$@" \
	    >"$T/port" 2>>"$T/server.err" &
	spid=$!
	_scripted_port "$script $mode"
}

# Waits (5 s at most) for the server just started to print its port.
_scripted_port()
{
	local i

	for i in $(seq 100); do
		[ -s "$T/port" ] && break
		sleep 0.05
	done
	port=$(cat "$T/port")
	[ -n "$port" ] || tap_bail "$1 did not start"
}

# tests/fault/pop3dir.py, (re)started on the maildrop directory $1 with
# the knobs given (VAR=VALUE: POP3DIR_NOUIDL=1 ...); the lines it
# receives go to $SCRIPTED_LOG (default $T/srv.log); a new port
# (scripted_conf again).
scripted_pop3dir()
{
	local dir=$1

	shift
	[ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	rm -f "$T/port"
	env "$@" python3 "$top_srcdir/tests/fault/pop3dir.py" "$dir" \
	    "${SCRIPTED_LOG:-$T/srv.log}" >"$T/port" 2>>"$T/server.err" &
	spid=$!
	_scripted_port pop3dir.py
}

# Messages 1 to $2 (at most 9) in the pop3dir.py maildrop $1: the files
# 0K_uK (UIDL uK), each with the Subject mK.
scripted_pop3dir_msgs()
{
	local i

	mkdir -p "$1"
	for i in $(seq "$2"); do
		printf 'From: a@example.net\nSubject: m%d\n\nbody %d\n' \
		    "$i" "$i" >"$1/0${i}_u$i"
	done
}

# tests/integration/folders_server.py, (re)started on the JSON box $1;
# the lines it receives go to $T/server.log (emptied).
scripted_folders()
{
	[ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	: >"$T/server.log"
	rm -f "$T/port"
	python3 "$top_srcdir/tests/integration/folders_server.py" "$1" \
	    "$T/server.log" >"$T/port" 2>>"$T/server.err" &
	spid=$!
	_scripted_port folders_server.py
}

# scripted_box_add FILE FOLDER SUBJECT: a new message in FOLDER of the
# folders_server.py box FILE, as delivery would.
scripted_box_add()
{
	python3 - "$@" <<'PY'
import json, sys
b = json.load(open(sys.argv[1])); f = b["folders"][sys.argv[2]]
f["msgs"].append({"uid": f["uidnext"], "flags": [], "body":
    "Message-ID: <%s@test>\nSubject: %s\n\n%s\n" % ((sys.argv[3],) * 3)})
f["uidnext"] += 1
json.dump(b, open(sys.argv[1], "w"))
PY
}

# The Subject: lines of account NAME's Maildir, sorted, on one line.
scripted_subjects()
{
	find "$T/Maildir-$1" -type f \( -path '*/new/*' -o -path '*/cur/*' \) \
	    -exec sed -n 's/^Subject: //p' {} + | sort | tr '\n' ' '
}

scripted_start()
{
	local log=$1

	shift
	: >"$log"
	SCRIPTED_LOG=$log scripted_server "$@"
}

# One account on the scripted server (plain TCP to loopback, the password
# in $T/pass, the Maildir $T/Maildir-NAME, the state $T/state-NAME), with
# the account lines given.
scripted_conf()
{
	local name=$1 proto=$2 timeout=$3 line

	shift 3
	{
		printf 'state_dir = "%s"\n' "$T/state-$name"
		printf 'account "%s" {\n    protocol = %s\n' "$name" "$proto"
		printf '    host = "127.0.0.1"\n    port = %s\n' "$port"
		printf '    tls = none\n    user = "fault@example.net"\n'
		printf '    password_file = "%s"\n' "$T/pass"
		printf '    maildir = "%s"\n' "$T/Maildir-$name"
		printf '    timeout = %s\n' "$timeout"
		for line in "$@"; do
			printf '    %s\n' "$line"
		done
		printf '}\n'
	} >"$T/$name.conf" || tap_bail "cannot write $T/$name.conf"
}

# Every message of the manifest exactly once, nothing partial or left in
# tmp/.
scripted_exact()
{
	local sum

	sum=$(python3 "$SCRIPTED_FL" compare "$T/manifest" "$T/Maildir-$1" 2>&1)
	tap_like "$sum" "missing=0 duplicate=0 partial=0 tmp=0" \
	    "$2: every message exactly once ($sum)"
}

scripted_pop3_manifest()
{
	python3 -c '
import hashlib, sys
sys.path.insert(0, sys.argv[1])
from pop3_server import message
for i in (1, 2, 3):
    lf = message(i).replace(b"\r\n", b"\n")
    print("%s\t<m%d>" % (hashlib.sha256(lf).hexdigest(), i))
' "$top_srcdir/tests/integration" >"$T/manifest" || tap_bail "POP3 manifest"
}

# scripted_pop3_restate FILE PREFIX REGEX [hdr]: strips REGEX (unless empty) from the
# state file's records that start with PREFIX, as an older mailfetchd
# wrote them, and signs the file again. With "hdr", each digest of a
# message's content ("%09s" and 16 hex digits after uid-K and its size)
# becomes the header section's digest of message K (pop3_server.py), as
# an older version wrote it.
scripted_pop3_restate()
{
	python3 - "$top_srcdir/tests/integration" "$@" <<'PY'
import hashlib, re, sys
sys.dont_write_bytecode = True
sys.path.insert(0, sys.argv[1])
from pop3_server import message
def hdr(m):
    head = message(int(m.group(2))).replace(b"\r\n", b"\n")
    head = head.split(b"\n\n")[0] + b"\n\n"
    return m.group(1) + hashlib.sha256(head).hexdigest()[:16]
def edit(l):
    if sys.argv[4]:
        l = re.sub(sys.argv[4], "", l)
    if len(sys.argv) > 5:
        l = re.sub(r"(uid-([0-9]+)%09[0-9]+%09)s[0-9a-f]{16}", hdr, l)
    return l
lines = open(sys.argv[2]).read().splitlines()
body = [edit(l) if l.startswith(sys.argv[3]) else l
        for l in lines if not l.startswith("end ")]
text = "".join(l + "\n" for l in body)
end = "end %d %s\n" % (len(body) - 1,
                       hashlib.sha256(text.encode()).hexdigest())
open(sys.argv[2], "w").write(text + end)
PY
}

# scripted_trickled NAME WHAT: the run (scripted_once NAME) ended in exit 4,
# saying the server was too slow; the next run succeeds and delivers every
# message exactly once.
scripted_trickled() {
	tap_is "$rc" 4 "$2: exit status 4 (137: still running at the bound)"
	tap_like "$err" 'stalled or trickling' "$2: the log says why"
	tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
	    "$2: no sanitizer report"
	scripted_once "$1"
	tap_like "$rc" '^(0|1)$' "$2: the next run succeeds"
	scripted_exact "$1" "$2: after the next run"
}

