#!/bin/bash
# control.sh: the daemon's control socket against a real Dovecot: the
# socket's mode, --status (each account with a state), --once while the
# daemon runs (the daemon fetches and the client prints its answer: exit
# 0 with new mail, 1 without, never "locked"), the SO_PEERCRED rule
# (status for anyone who can connect, fetch only for root and the
# daemon's uid), hostile clients (garbage, an overlong line) closed
# without harming the daemon, clients that drip a command byte by byte
# dropped CONTROL_TIMEOUT after their connect (and the client turned away
# meanwhile told "too many clients"), a stale socket replaced at start, and the
# socket removed at exit. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"

mfd_init
dovecot_start
PY=$(_dc_python)
gen() { "$PY" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }

for u in ctla ctlb; do
	dovecot_add_user "$u" "pw-$u-7c3e"
	mfd_account "$u" "pw-$u-7c3e"
done
gen plain "$T/a1.eml" ctla1
gen plain "$T/a2.eml" ctla2
gen plain "$T/b1.eml" ctlb1
dovecot_add_message ctla INBOX "$T/a1.eml"
dovecot_add_message ctlb INBOX "$T/b1.eml"

# A socket path others can reach once the test opens it (chmod 666): the
# directory is 755, owned by us; $T itself becomes 711.
SOCK=$T/run/control
mkdir -m 755 "$T/run"
CONF=$T/daemon.conf
{
	printf 'state_dir = "%s"\nlog_level = info\n' "$T/state"
	printf 'control_socket = "%s"\n' "$SOCK"
	# Long polls: only the control socket makes them poll again.
	daemon_block ctla 'poll_interval = 1h'
	daemon_block ctlb 'poll_interval = 1h'
} >"$CONF"

# ctl_send LINE...: a raw client sending each LINE; prints the answer up
# to "." and "CLOSED" if the daemon hangs up (after an error, within 2 s).
# RUNAS may prefix the command.
ctl_send()
{
	${RUNAS:-} "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(15)
s.connect(sys.argv[1])
s.sendall("".join(a + "\n" for a in sys.argv[2:]).encode("latin-1"))
buf = b""
while True:
    d = s.recv(65536)
    if not d:
        print((buf.decode("latin-1") + "CLOSED").strip())
        break
    buf += d
    # One answer per command: the daemon reads the next command once
    # the last answer is sent, so they may come in separate reads.
    # An error line of the protocol (not the text of an account that says
    # "error") ends the exchange.
    err = any(l.startswith(b"error ") for l in buf.split(b"\n"))
    if (buf.endswith(b"\n.\n") or buf == b".\n") and (err or
            buf.split(b"\n").count(b".") >= len(sys.argv) - 2):
        # After an error line the daemon hangs up: show it.
        if err:
            s.settimeout(2)
            try:
                if not s.recv(1):
                    buf += b"CLOSED"
            except ConnectionResetError:
                buf += b"CLOSED"
            except OSError:
                pass
        print(buf.decode("latin-1").rstrip())
        break
' "$SOCK" "$@" 2>&1
}

# A stale socket file (its daemon gone) is replaced at start.
"$PY" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
    "$SOCK" || tap_bail "cannot make a stale socket"
daemon_start "$CONF"
daemon_wait_log 'account=ctla: fetched 1 message ' 20 &&
    daemon_wait_log 'account=ctlb: fetched 1 message ' 20
ok $? "the daemon starts over a stale socket and fetches both accounts" \
    "$(cat "$DLOG")"
grep -q "removed the stale socket $SOCK" "$DLOG"
ok $? "the stale socket is logged as replaced" "$(cat "$DLOG")"

# --- The socket's mode. ---
tap_is "$(stat -c '%a %F' "$SOCK")" "600 socket" "the control socket has mode 0600"

# --- --status: one line per account with a sane state. ---
out=$("$MAILFETCHD" -c "$CONF" --status 2>&1)
rc=$?
tap_is "$rc" 0 "--status exits 0 with a daemon running"
tap_is "$(printf '%s\n' "$out" | wc -l)" 2 "--status prints one line per account" 
tap_like "$out" '^ctla: waiting; polling INBOX; connections 0; last success [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8}; next poll in [0-9hms ]+; today 1 message, [0-9]+ bytes; last error none$' \
    "--status: ctla is idle, with its last success, next poll and today's counts"
tap_like "$out" '^ctlb: waiting; ' "--status: ctlb is listed"

# --- --once while the daemon runs: the daemon fetches. ---
dovecot_append ctla INBOX "$T/a2.eml" >/dev/null || tap_bail "APPEND failed"
start=$(date +%s)
"$MAILFETCHD" -c "$CONF" --once >"$T/once.out" 2>&1
rc=$?
tap_is "$rc" 0 "--once with the daemon running exits 0 when new mail arrived" \
    "$(cat "$T/once.out")"
[ $(($(date +%s) - start)) -lt 10 ]
ok $? "--once did not wait for the hourly poll"
grep -q 'account=ctla: fetched 1 message (.* bytes) by the running daemon' "$T/once.out"
ok $? "--once prints the daemon's result per account" "$(cat "$T/once.out")"
grep -qi 'locked' "$T/once.out"
ok $((!$?)) "--once does not report the accounts as locked" "$(cat "$T/once.out")"
grep -q 'account=ctla: polling now, as asked on the control socket' "$DLOG"
ok $? "the daemon logs the poll asked for" "$(tail -5 "$DLOG")"
mfd_expect "$T/ctla/Maildir" "" "$T/a1.eml" "$T/a2.eml"
"$MAILFETCHD" -c "$CONF" --once --account ctlb >"$T/once.out" 2>&1
tap_is "$?" 1 "--once --account with the daemon running exits 1 when nothing is new" \
    "$(cat "$T/once.out")"
out=$("$MAILFETCHD" -c "$CONF" --status 2>&1)
tap_like "$out" '^ctla: waiting; .*today 2 messages' "--status counts the delegated fetch"

# --- Peer credentials: status for anyone who can connect, fetch not. ---
chmod 711 "$T"
NOBODY=
if command -v setpriv >/dev/null && id nobody >/dev/null 2>&1; then
	NOBODY="setpriv --reuid=nobody --regid=$(id -g nobody) --clear-groups"
fi
if [ "$(id -u)" = 0 ] && [ -n "$NOBODY" ]; then
	out=$(RUNAS=$NOBODY ctl_send status)
	tap_like "$out" '(Permission denied|PermissionError)' \
	    "mode 0600 keeps another uid from connecting"
	chmod 666 "$SOCK"
	out=$(RUNAS=$NOBODY ctl_send status)
	tap_like "$out" '^ctla: waiting; ' "status is answered to another uid"
	out=$(RUNAS=$NOBODY ctl_send fetch)
	tap_like "$out" '^error permission denied' \
	    "fetch from another uid is refused with a clear line"
	printf 'control_socket = "%s"\n' "$SOCK" >"$T/run/nobody.conf"
	chmod 644 "$T/run/nobody.conf"
	out=$($NOBODY "$MAILFETCHD" -c "$T/run/nobody.conf" --status 2>&1)
	tap_is "$?" 0 "mailfetchd --status works as another uid" "$out"
	chmod 600 "$SOCK"
else
	for i in 1 2 3 4; do
		tap_ok "# SKIP needs root and setpriv"
	done
fi
out=$(ctl_send "fetch ctla nosuch")
tap_like "$out" '^nosuch unknown$' "fetch names an account the daemon does not run"
tap_like "$out" '^ctla 1 0 0 nothing new$' "fetch answers STATUS MESSAGES BYTES TEXT"

# --- Hostile clients: closed, the daemon unharmed. ---
out=$(ctl_send "$(head -c 5000 /dev/zero | tr '\0' x)")
tap_like "$out" 'error line too long' "an overlong line is refused"
tap_like "$out" 'CLOSED$' "an overlong line closes that client"
out=$(ctl_send "$(printf 'st\001tus')")
tap_like "$out" '^error not a command' "control bytes are refused"
tap_like "$out" 'CLOSED$' "garbage closes that client"
out=$(ctl_send bogus)
tap_like "$out" '^error unknown command' "an unknown command is refused"
out=$(ctl_send status status)
tap_is "$(printf '%s\n' "$out" | grep -c '^ctla: ')" 2 \
    "two commands on one connection get two answers"
kill -0 "$DPID" 2>/dev/null
ok $? "the daemon survives hostile clients"
out=$("$MAILFETCHD" -c "$CONF" --status 2>&1)
tap_like "$out" '^ctla: waiting' "status works after hostile clients"

# --- Clients that drip a byte a second and never end a line hold no slot
# for long: a command must be whole within CONTROL_TIMEOUT (10 s) of the
# connect (review r20 09: each byte reset the timeout, and 16 of them
# held every slot for 85 minutes); the client turned away meanwhile says
# why ("too many clients", not "Broken pipe"). ---
"$PY" - "$SOCK" "$T/drip" <<'PYEOF' &
import socket, sys, time
path, marker = sys.argv[1:3]
cs = []
for i in range(16):
    c = socket.socket(socket.AF_UNIX)
    c.connect(path)
    cs.append(c)
open(marker + ".ready", "w").close()
end = time.time() + 40
while time.time() < end and cs:
    for c in list(cs):
        try:
            c.send(b"s")
        except OSError:
            cs.remove(c)
    time.sleep(1)
PYEOF
DRIP=$!
tap_cleanup_add 'kill "$DRIP" 2>/dev/null'
for ((i = 0; i < 100; i++)); do
	[ -e "$T/drip.ready" ] && break
	sleep 0.1
done
out=$("$MAILFETCHD" -c "$CONF" --status 2>&1)
tap_like "$out" 'refused the (connection|status): error too many clients' \
    "a client turned away by the client cap says so"
tap_unlike "$out" 'Broken pipe|^ctla' "... not Broken pipe, and no status line"
# Bounded: the drippers would go on for 40 s, their slots free after 10.
for ((i = 0; i < 100; i++)); do
	out=$("$MAILFETCHD" -c "$CONF" --status 2>&1) && break
	sleep 0.2
done
tap_like "$out" '^ctla: waiting' \
    "dripping clients are dropped when their command is not whole in time"
kill "$DRIP" 2>/dev/null
wait "$DRIP" 2>/dev/null

# --- Exit: the socket goes; then --status says no daemon (4) and --once
# runs locally. ---
kill -TERM "$DPID"
daemon_wait_exit 15
tap_is "$drc" 0 "SIGTERM stops the daemon"
[ ! -e "$SOCK" ]
ok $? "the socket file is removed at exit"
out=$("$MAILFETCHD" -c "$CONF" --status 2>&1)
tap_is "$?" 4 "--status exits 4 when no daemon answers" "$out"
tap_like "$out" 'no daemon answers' "--status says no daemon answers"
"$MAILFETCHD" -c "$CONF" --once >"$T/once.out" 2>&1
tap_is "$?" 1 "--once without a daemon fetches locally (nothing new)" \
    "$(cat "$T/once.out")"
grep -q 'running daemon' "$T/once.out"
ok $((!$?)) "--once without a daemon does not mention one" "$(cat "$T/once.out")"
tap_done
