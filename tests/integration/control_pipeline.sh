#!/bin/bash
# control_pipeline.sh: a control client that pipelines commands and reads
# its answers late (review r16 05). The daemon reads a client's next
# command only once the answer to the previous one is sent, so such a
# client cannot make it queue answers without end: while the client reads
# nothing, the daemon stops taking its commands (the client's sends stall
# with most of them unsent), and once it reads, every command is answered,
# in order. Before, the daemon took every command at once and kept every
# answer in memory (611 MB in the review's 40 s). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"

mfd_init
PY=$(_dc_python)
daemon_refuse_start
mfd_account cpa "pw-cpa"
SOCK=$T/control
CONF=$T/daemon.conf
{
	printf 'state_dir = "%s"\nlog_level = info\n' "$T/state"
	printf 'control_socket = "%s"\n' "$SOCK"
	printf 'account "cpa" {\n  protocol = imap\n  host = "127.0.0.1"\n'
	printf '  port = %s\n  tls = none\n' "$RPORT"
	printf '  user = "cpa"\n  password_file = "%s"\n' "$T/cpa/pass"
	printf '  maildir = "%s"\n  poll_interval = 1h\n}\n' "$T/cpa/Maildir"
} >"$CONF"
out=$("$MAILFETCHD" -c "$CONF" --check-config 2>&1) || tap_bail "bad configuration: $out"
daemon_start "$CONF"
for ((i = 0; i < 100; i++)); do
	[ -S "$SOCK" ] && break
	sleep 0.1
done
[ -S "$SOCK" ] || tap_bail "no control socket: $(tail -5 "$DLOG")"

# 2000 commands of 900 bytes (status-json and spaces): 1.8 MB, far more
# than a socket's buffers. Phase 1 sends without reading until a send
# stalls for 1.5 s; phase 2 sends the rest while reading every answer.
"$PY" - "$SOCK" >"$T/pipe.out" 2>&1 <<'PYEOF'
import select, socket, sys, time
N = 2000
cmd = ("status-json" + " " * 888 + "\n").encode()
data = cmd * N
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.setblocking(False)
sent = 0
while sent < len(data):
    _, w, _ = select.select([], [s], [], 1.5)
    if not w:
        break
    try:
        sent += s.send(data[sent:sent + 65536])
    except BlockingIOError:
        pass
phase1 = sent
buf = b""
answers = 0
end = time.time() + 60
while answers < N and time.time() < end:
    r, w, _ = select.select([s], [s] if sent < len(data) else [], [], 1)
    if w:
        try:
            sent += s.send(data[sent:sent + 65536])
        except BlockingIOError:
            pass
    if r:
        d = s.recv(1 << 20)
        if not d:
            break
        buf += d
        lines = buf.split(b"\n")
        buf = lines.pop()
        answers += sum(1 for l in lines if l == b".")
        bad = [l for l in lines if l.startswith(b"error")]
        if bad:
            print("error line:", bad[0][:200])
            break
print("phase1=%d total=%d answers=%d" % (phase1, len(data), answers))
PYEOF
read -r p1 total ans <<<"$(tail -1 "$T/pipe.out" | tr '=' ' ' | awk '{print $2, $4, $6}')"
ok $(( p1 > 0 && p1 < total / 2 ? 0 : 1 )) \
    "a client that reads nothing: the daemon stops taking its commands ($p1 of $total bytes taken)" \
    "$(cat "$T/pipe.out"; grep -c . "$DLOG")"
tap_is "$ans" 2000 "once it reads, every pipelined command is answered" "$(cat "$T/pipe.out")"
kill -0 "$DPID" 2>/dev/null
ok $? "the daemon is still running"
tap_done
