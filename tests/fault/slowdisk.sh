#!/bin/bash
# slowdisk.sh: time the daemon spends blocked in its own disk work is not
# the server's. With every fsync 60 ms slower (tests/fault/slowfsync.c)
# and a 2 s timeout, the batch of 64 IMAP messages (70 POP3 messages) is
# fsynced in one go for about 4 s, longer than the timeout and the pacing
# window: the fast loopback server must not be blamed for it ("timed out
# without data from the server", "stalled or trickling"). Each run
# delivers every message exactly once, exit status 0. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"

CC=${CC:-cc}
command -v "$CC" >/dev/null || tap_bail "no C compiler ($CC) for the shim"
scripted_init slowdisk
# An ASan build wants its runtime first; the shim comes before it.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

"$CC" -shared -fPIC -O2 -o "$T/slowfsync.so" \
    "$top_srcdir/tests/fault/slowfsync.c" -ldl 2>"$T/cc.err" ||
    tap_bail "cannot build slowfsync.so: $(cat "$T/cc.err")"

N=70

# slow_fetch NAME WHAT: mailfetchd --once on the slow disk, under a fixed
# outer bound: exit 0, nobody blamed, every message once.
slow_fetch() {
	local rc err

	MFD_SLOWFSYNC_MS=60 \
	    LD_PRELOAD="$T/slowfsync.so${LD_PRELOAD:+:$LD_PRELOAD}" \
	    timeout -s KILL 120 "$MAILFETCHD" -c "$T/$1.conf" --once \
	    >/dev/null 2>"$T/err-$1"
	rc=$?
	err=$(cat "$T/err-$1")
	tap_is "$rc" 0 "$2: exit status 0 (4: the server was blamed)"
	tap_unlike "$err" 'timed out|stalled or trickling' \
	    "$2: no timeout blamed on the server"
	tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
	    "$2: no sanitizer report"
	scripted_exact "$1" "$2"
}

scripted_server "$top_srcdir/tests/fault/imap_server.py" trickle \
    --manifest "$T/manifest" --bad 0 --msgs "$N"
scripted_conf imap imap 2s
slow_fetch imap "IMAP, $N messages, slow fsync"

scripted_server "$top_srcdir/tests/integration/pop3_server.py" plain \
    --msgs "$N"
python3 -c '
import hashlib, sys
sys.path.insert(0, sys.argv[1])
from pop3_server import message
for i in range(1, int(sys.argv[2]) + 1):
    lf = message(i).replace(b"\r\n", b"\n")
    print("%s\t<m%d>" % (hashlib.sha256(lf).hexdigest(), i))
' "$top_srcdir/tests/integration" "$N" >"$T/manifest" ||
    tap_bail "POP3 manifest"
scripted_conf pop3 pop3 2s
slow_fetch pop3 "POP3, $N messages, slow fsync"

tap_done
