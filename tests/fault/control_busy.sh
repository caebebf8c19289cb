#!/bin/bash
# control_busy.sh: a `fetch` on the control socket (what --once asks a
# running daemon) is never a wait without bound (review r24 10):
#  - while the poll runs, the daemon says "# busy" every few seconds (a
#    server that takes 7 s to greet), then the account's line and ".";
#  - a daemon that answers nothing (stopped: SIGSTOP, as an owner may do
#    to its own privsep worker under root's cron job) lets --once go after
#    CONTROL_FETCH_SILENCE (20 s): exit 6, saying the daemon did not
#    answer; before, it waited for ever.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/scripted.sh"
MAILFETCHD=${MAILFETCHD:-$PWD/mailfetchd}

scripted_init control_busy
tap_plan 6

# A server that greets 7 s after each connect, with a BYE: every poll
# takes that long and fails. Each connect is noted in $T/conns.
python3 - "$T/conns" >"$T/port" 2>"$T/server.err" <<'PY' &
import socket, sys, threading, time
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(8)
print(ls.getsockname()[1], flush=True)
ls.settimeout(90)
def greet(c):
    time.sleep(7)
    try:
        c.sendall(b"* BYE not today\r\n")
    except OSError:
        pass
    c.close()
end = time.time() + 90
while time.time() < end:
    try:
        c, _ = ls.accept()
    except socket.timeout:
        break
    with open(sys.argv[1], "a") as f:
        f.write("conn\n")
    threading.Thread(target=greet, args=(c,), daemon=True).start()
PY
spid=$!
_scripted_port "the slow server"
scripted_conf slow imap 30 'poll_interval = 1h'
SOCK=$T/control
sed -i "1i control_socket = \"$SOCK\"" "$T/slow.conf"

"$MAILFETCHD" -c "$T/slow.conf" >"$T/daemon.log" 2>&1 &
DPID=$!
tap_cleanup_add 'kill -CONT "$DPID" 2>/dev/null; kill -KILL "$DPID" 2>/dev/null'
for ((i = 0; i < 100; i++)); do
	[ -S "$SOCK" ] && [ -s "$T/conns" ] && break
	sleep 0.1
done
[ -S "$SOCK" ] && [ -s "$T/conns" ]
ok $? "the daemon runs and its first poll is at the slow server" \
    "$(cat "$T/daemon.log")"

# A raw client: "fetch slow", every line of the answer up to "." (20 s
# at most), one per line.
ans=$(python3 - "$SOCK" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
s.connect(sys.argv[1])
s.sendall(b"fetch slow\n")
buf = b""
try:
    while not buf.endswith(b"\n.\n"):
        d = s.recv(4096)
        if not d:
            break
        buf += d
except socket.timeout:
    buf += b"TIMEOUT\n"
print(buf.decode("latin-1"), end="")
PY
)
tap_like "$ans" '^# busy$' "while the poll runs, the daemon says it is busy"
tap_like "$(printf '%s\n' "$ans" | grep -v '^#')" '^slow [0-9]+ [0-9]+ [0-9]+ .*
\.$' "... then the account's line and the end of the answer"

# A stopped daemon: --once is not held for ever.
kill -STOP "$DPID"
start=$(date +%s)
timeout -s KILL 60 "$MAILFETCHD" -c "$T/slow.conf" --once >"$T/once.out" 2>&1
rc=$?
took=$(($(date +%s) - start))
kill -CONT "$DPID"
tap_diag "--once against the stopped daemon: rc $rc after ${took}s"
tap_is "$rc" 6 "--once against a stopped daemon gives up: exit 6 (locked)" \
    "$(cat "$T/once.out")"
tap_like "$(cat "$T/once.out")" 'the running daemon did not answer: no answer from the daemon' \
    "... saying the daemon did not answer"
scripted_daemon_stop "$DPID"
tap_unlike "$(cat "$T/daemon.log" "$T/once.out")" \
    'runtime error:|AddressSanitizer|LeakSanitizer' "no sanitizer report"
tap_done
