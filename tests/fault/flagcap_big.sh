#!/bin/bash
# flagcap_big.sh: local_flags = mirror on an honest folder of more than
# 1,000,000 messages (tests/fault/bigflags_server.py: EXISTS 1,000,100,
# UIDNEXT 1,000,101, every flag answered; no CONDSTORE, so every flag is
# fetched at each poll). The flag answer's cap follows what the folder
# holds, not UID SEARCH's pacing ceiling: the answer is taken whole, not
# said to name "more messages than the folder holds" (review r26 06:
# before, a folder above 1,000,000 was never flag-synced). A hostile
# answer is still cut: tests/fault/flagcount.sh. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"

N=1000100
scripted_init flagcap
python3 "$top_srcdir/tests/fault/bigflags_server.py" "$N" "$T/srv.log" \
    >"$T/port" 2>"$T/srv.err" &
spid=$!
tap_cleanup_add "kill $spid 2>/dev/null"
for i in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
port=$(cat "$T/port")
[ -n "$port" ] || tap_bail "bigflags_server.py did not start: $(cat "$T/srv.err")"
scripted_conf big imap 30s 'local_flags = mirror' 'first_fetch = new' 'keep = yes'
scripted_once big
tap_is "$rc" 1 "run 1: first_fetch = new, nothing delivered"
scripted_once big
tap_like "$err" "flags: $N answer\\(s\\)" "run 2: the flag answer of $N messages taken whole"
tap_unlike "$err" 'names more messages than the folder holds' \
    "run 2: an honest folder of $N messages is not taken for a hostile server"
tap_done
