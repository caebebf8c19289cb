#!/bin/bash
# trickle.sh: a server that drips its answer, one byte (or one line) a
# little faster than the timeout, must not hold a fetch forever: the
# SELECT answer of IMAP scripted_trickled byte by byte, a SELECT answered by
# complete "* OK still working" lines and never the tagged OK (and a
# daemon's DONE answered so, leaving IDLE), an IMAP AUTHENTICATE and a
# POP3 AUTH answered by a "+" challenge every second forever, a body
# FETCH answered by "* 5 EXISTS" (or a flags FETCH, or a message already
# sent) every 1.5 s, a UID SEARCH or LIST answered by one new UID or folder
# every 1.5 s, the same or past the folder's size at 2 KiB/s (twice the
# floor), a BODY[] literal scripted_trickled byte by byte, a POP3 RETR body
# scripted_trickled line by line: each ends in exit status 4 with a log line that
# says the server was too slow, before a fixed outer bound (60 s; the
# servers trickle for 120 s). Then the server behaves and the next run
# delivers every message exactly once. A slow but honest server (literals
# larger than a pacing window at about 8 KiB/s) is not cut. Size lies
# dripped above the pacing floor are in lies.sh; answers of notes that
# never end, at twice the floor, in notes.sh.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"

scripted_init trickle

IMAP="$top_srcdir/tests/fault/imap_server.py"
scripted_server "$IMAP" trickle --manifest "$T/manifest"
scripted_conf trickle imap 2s
scripted_once trickle
scripted_trickled trickle "IMAP SELECT answer scripted_trickled byte by byte"

# Complete untagged lines, never the tagged OK: the answer to a command is
# paced as a whole, not line by line.
scripted_server "$IMAP" okdrip --manifest "$T/manifest"
scripted_conf okdrip imap 2s
scripted_once okdrip
scripted_trickled okdrip "IMAP SELECT answered by an endless drip of untagged lines"

# Honest but slow servers are not cut: a store that sends each message
# whole 1.8 s after the previous one (less than 1 KiB/s in a window; each
# whole FETCH response shows the server at work), and Dovecot's progress
# notes ("* OK Searched n%") on a 6 s SEARCH, timeout 2 s (a few notes in
# a row pass their windows).
scripted_server "$IMAP" gapfetch --manifest "$T/manifest" --bad 0
scripted_conf gapfetch imap 2s
scripted_once gapfetch
tap_is "$rc" 0 "IMAP messages sent whole, 1.8 s apart: delivered (exit 0)"
scripted_exact gapfetch "IMAP messages sent whole, 1.8 s apart"
scripted_server "$IMAP" searchprog --manifest "$T/manifest" --bad 0
scripted_conf searchprog imap 2s 'first_fetch = unseen'
scripted_once searchprog
tap_is "$rc" 0 "IMAP SEARCH with progress notes for 6 s: delivered (exit 0)"
scripted_exact searchprog "IMAP SEARCH with progress notes for 6 s"

# Inside a body FETCH that never completes, untagged lines that carry no
# new requested data ("* 5 EXISTS", a FETCH of flags alone, a message
# already received) every 1.5 s, timeout 2 s: notes, not data; before,
# each passed a pacing window and the account was held as long as the
# server dripped.
for m in existsdrip:"* 5 EXISTS" flagsdrip:"* 1 FETCH (FLAGS ())" \
    repdrip:"message 1 again"; do
	scripted_server "$IMAP" "${m%%:*}" --manifest "$T/manifest"
	scripted_conf "${m%%:*}" imap 2s
	scripted_once "${m%%:*}"
	scripted_trickled "${m%%:*}" "IMAP body FETCH answered by an endless drip of ${m#*:}"
done

# Answers that bring new data the command asked for, but one small line a
# pacing window: UID SEARCH answered by "* SEARCH k" with a new UID every
# 1.5 s (one range, far from any cap), LIST "" "*" by a new folder name
# every 1.5 s, timeout 2 s. Before, each new line passed a window and the
# account was held as long as the server dripped (up to 2^32 windows for
# SEARCH, 100,000 for LIST); now data must come at the byte floor too.
scripted_server "$IMAP" searchdrip --manifest "$T/manifest"
scripted_conf searchdrip imap 2s 'first_fetch = unseen'
scripted_once searchdrip
scripted_trickled searchdrip "IMAP UID SEARCH answered by a new UID every 1.5 s"
scripted_server "$IMAP" listdrip --manifest "$T/manifest"
scripted_conf listdrip imap 2s 'folder "*" { }'
scripted_once listdrip
scripted_trickled listdrip "IMAP LIST answered by a new folder every 1.5 s"
# A big LIST that comes slowly but above the floor (a site with many
# shared folders) is not cut.
scripted_server "$IMAP" listslow --manifest "$T/manifest" --bad 0
scripted_conf listslow imap 2s 'folder "*" { }'
scripted_once listslow
tap_is "$rc" 0 "IMAP LIST of 1000 folders in bursts for 15 s: delivered (exit 0)"
scripted_exact listslow "IMAP LIST of 1000 folders in bursts for 15 s"

# The sizes pass of a second run ("UID FETCH 6:* (UID RFC822.SIZE)")
# answered by the FETCH line of UID 5, which the client has, every 1.5 s:
# "n:*" names the highest old UID, and a server may send it again and
# again; not new data either.
scripted_server "$IMAP" sizesdrip --manifest "$T/manifest"
scripted_conf sizesdrip imap 2s
scripted_once sizesdrip
tap_is "$rc" 0 "IMAP sizes pass drip: the first run delivers (exit 0)"
scripted_once sizesdrip
scripted_trickled sizesdrip "IMAP sizes pass answered by an endless drip of an old UID"

scripted_server "$IMAP" authdrip --manifest "$T/manifest"
scripted_conf authdrip imap 2s
scripted_once authdrip
scripted_trickled authdrip "IMAP AUTHENTICATE answered by endless \"+\" challenges"

# IDLE's completion after DONE is an answer like any other: a daemon
# whose DONE gets "* OK still working" every second and never the tagged
# OK cuts the connection (before, it waited as long as the server
# dripped: 120 s).
scripted_server "$IMAP" donedrip --manifest "$T/manifest"
scripted_conf donedrip imap 2s 'idle = yes'
"$MAILFETCHD" -c "$T/donedrip.conf" >"$T/daemon.log" 2>&1 &
dpid=$!
tap_cleanup_add '[ -n "$dpid" ] && kill -9 "$dpid" 2>/dev/null'
for i in $(seq 300); do
	grep -q 'stalled or trickling' "$T/daemon.log" && break
	kill -0 "$dpid" 2>/dev/null || break
	sleep 0.1
done
tap_like "$(cat "$T/daemon.log")" 'stalled or trickling' \
    "IMAP DONE answered by an endless drip of untagged lines: cut within 30 s"
# SIGTERM, then at most 30 s for the daemon to end (SIGKILL after).
kill -TERM "$dpid" 2>/dev/null
timeout 30 tail --pid="$dpid" -f /dev/null || kill -9 "$dpid" 2>/dev/null
wait "$dpid" 2>/dev/null
tap_is "$?" 0 "IMAP DONE drip: the daemon stops cleanly (137: killed)"
dpid=""
tap_unlike "$(cat "$T/daemon.log")" 'runtime error:|AddressSanitizer|LeakSanitizer' \
    "IMAP DONE drip: no sanitizer report"
scripted_exact donedrip "IMAP DONE drip: before the cut"

scripted_server "$IMAP" tricklelit --manifest "$T/manifest"
scripted_conf tricklelit imap 2s
scripted_once tricklelit
scripted_trickled tricklelit "IMAP BODY[] literal scripted_trickled byte by byte"
tap_like "$(find "$T/Maildir-tricklelit/tmp" -type f | wc -l)" '^0$' \
    "IMAP scripted_trickled literal: nothing left in tmp/"

scripted_server "$IMAP" slowlit --msgs 2 --manifest "$T/manifest"
scripted_conf slowlit imap 2s
scripted_once slowlit
tap_is "$rc" 0 "IMAP slow but honest literals (22 KB at ~8 KiB/s): delivered"
tap_unlike "$err" 'trickling' "IMAP slow but honest literals: not cut"
scripted_exact slowlit "IMAP slow but honest literals"

scripted_pop3_manifest
scripted_server "$top_srcdir/tests/integration/pop3_server.py" trickle
scripted_conf pop3 pop3 2s
scripted_once pop3
scripted_trickled pop3 "POP3 RETR body scripted_trickled line by line"

scripted_server "$top_srcdir/tests/integration/pop3_server.py" authdrip
scripted_conf pop3auth pop3 2s
scripted_once pop3auth
scripted_trickled pop3auth "POP3 AUTH answered by endless \"+\" challenges"

tap_done
