#!/bin/bash
# mda_scripted.sh: deliver = mda / lmtp against scripted servers, what
# a real Dovecot will not do (tests/integration/pop3_server.py,
# lmtp_server.py):
#  - uidl reuse: a POP3 server gives the UIDL of a message delivered
#    before to a new message (RFC 1939 allows it); with mda_id_header =
#    yes the new message's X-Mailfetchd-Id differs from the old one's, so
#    the duplicate guard the manual recommends (here a script: an id seen
#    before is dropped) does not drop it.
#  - status: a POP3 server that adds "Status: RO" to a message after its
#    RETR (tests/fault/pop3dir.py POP3DIR_SIZES=status; qpopper, UW
#    ipop3d): the same message handed over again, after a kill between
#    the agent's exit and the record (pop3-mda-taken:1) or fetched again
#    by the next run for its grown LIST size, carries the same id all
#    the same, so the guard drops it (review r23 01: each stored twice).
#  - lmtp early: an LMTP server that sends "354" and "250" in one
#    segment, then 451 to the final dot: the 250 came before the data
#    was sent, so nothing counts as taken: exit 8, the server out of step
#    logged, nothing deleted (keep = no); every reply line in the buffer
#    is read, none left for a later command.
#  - lmtp bare 250: an LMTP server answering LHLO with a bare "250" (a
#    code alone, a valid reply): the messages delivered, and no read past
#    the reply line (the sanitizers of an --enable-asan build see it).
#  - server drops mid-agent: the POP3 server goes away while an agent
#    runs: the session waits for the agent (within mda_timeout) and
#    records that it took the message; the next session sends the owed
#    DELE and hands over only the others: each message once.
#  - imap drops mid-agent: the same with IMAP (folders_server.py).
#  - stop mid-agent: the daemon stopped while an agent runs past the
#    stop's grace waits for it (within mda_timeout): each message once.
#  - one refused (daemon, POP3): the agent refuses one message for good
#    (exit 65) and takes the others: the refusal logged, the poll's end
#    says so, and the next poll comes at poll_interval: no backoff of
#    the whole account for one message, nor after the poll that hands
#    over only that message again once its retry time has come (the
#    third: the second holds it back, mda_holdback.sh; r23 05);
#    --status gives the first poll as the last success and the refusal
#    on its own (r23 06), and when it is tried again; --once right after
#    holds it back (exit 1).
# Short: under a minute (one refused waits for its retry time, 20 s).
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init mdascr

# The guard: stdin into DIR/msg.N unless its X-Mailfetchd-Id was seen
# before (then noted in DIR/.dropped); exit 0 either way.
cat >"$T/guard.sh" <<'EOA'
#!/bin/sh
d=$1; f=$(mktemp "$d/.in.XXXXXX"); cat >"$f"
id=$(sed -n '1s/^X-Mailfetchd-Id: //p' "$f")
if grep -qxF "$id" "$d/.seen" 2>/dev/null; then
	echo "$id" >>"$d/.dropped"; rm -f "$f"; exit 0
fi
echo "$id" >>"$d/.seen"; n=$(ls "$d" | wc -l); mv "$f" "$d/msg.$n"
EOA
chmod 755 "$T/guard.sh"

# uidl reuse: run 1 takes messages 1-3; run 2 finds message 1 gone and a
# new message 4 under its UIDL.
mkdir -p "$T/reuse"
scripted_server "$top_srcdir/tests/integration/pop3_server.py" uidlreuse
scripted_conf reuse pop3 5s "keep = yes" "deliver = mda" \
    "mda_id_header = yes" "mda_command = \"$T/guard.sh $T/reuse\""
scripted_once reuse
tap_is "$rc" 0 "uidl reuse: the first run"
scripted_once reuse
tap_is "$rc" 0 "uidl reuse: the second run"
tap_like "$err" "now names one of" "uidl reuse: the reuse detected"
tap_is "$(cat "$T/reuse/.dropped" 2>/dev/null)" "" \
    "uidl reuse: the guard dropped nothing (the new message has an id of its own)"
tap_is "$(ls "$T/reuse" | wc -l)" 4 "uidl reuse: four messages reached the guard's store"

# status NAME FAULT RC DROPPED: two messages, keep = yes, run 1 with
# MAILFETCHD_FAULT=FAULT ends with RC, run 2 hands DROPPED of them over
# again.
status_case()
{
	local a=$1 fault=$2 rc1=$3 dropped=$4

	mkdir -p "$T/$a.store"
	scripted_pop3dir_msgs "$T/$a" 2
	scripted_pop3dir "$T/$a" POP3DIR_SIZES=status
	scripted_conf "$a" pop3 5s "keep = yes" "deliver = mda" \
	    "mda_id_header = yes" "mda_command = \"$T/guard.sh $T/$a.store\""
	MAILFETCHD_FAULT=$fault scripted_once "$a"
	tap_is "$rc" "$rc1" "$a: the first run"
	scripted_once "$a"
	tap_is "$rc" 0 "$a: the second run"
	tap_is "$(cat "$T/$a.store/.dropped" 2>/dev/null | wc -l):$(sort -u \
	    "$T/$a.store/.seen" | wc -l)" "$dropped:2" \
	    "$a: the guard saw 2 ids and dropped $dropped (handed over again)"
	tap_is "$(cat "$T/$a.store"/msg.* | grep '^Subject' | sort |
	    tr '\n' ' ')" "Subject: m1 Subject: m2 " "$a: each message stored once"
}
status_case status-crash pop3-mda-taken:1 137 1
status_case status-resize "" 0 2

# sender status: a message whose "Status:" the sender set (FIRING), then
# under its UIDL a new one that says RESOLVED: another id, the guard keeps
# it (review r27 11: the id left Status out, and the guard dropped it).
mkdir -p "$T/sender" "$T/sender.store"
printf 'From: m@example.net\nSubject: disk\nStatus: FIRING\n\nsee\n' \
    >"$T/sender/01_u1"
scripted_pop3dir "$T/sender"
scripted_conf sender pop3 5s "keep = yes" "deliver = mda" \
    "mda_id_header = yes" "mda_command = \"$T/guard.sh $T/sender.store\""
scripted_once sender
printf 'From: m@example.net\nSubject: disk\nStatus: RESOLVED\n\nsee\n' \
    >"$T/sender/01_u1"
scripted_once sender
tap_is "$(cat "$T/sender.store/.dropped" 2>/dev/null | wc -l):$(grep -l \
    RESOLVED "$T/sender.store"/msg.* 2>/dev/null | wc -l)" "0:1" \
    "sender status: RESOLVED has an id of its own, stored, not dropped"

# lmtp early (POP3, keep = no): nothing taken, nothing deleted.
scripted_lmtp early
scripted_start "$T/early.log" "$top_srcdir/tests/integration/pop3_server.py" plain
scripted_conf early pop3 5s "keep = no" "deliver = lmtp" \
    "lmtp = \"unix:$T/lmtp.early\"" "mda_timeout = 10s"
scripted_once early
tap_is "$rc" 8 "lmtp early: exit status 8 (the messages not taken)"
tap_like "$err" "a reply before the end of data was sent" \
    "lmtp early: the server's early reply reported"
tap_unlike "$(cat "$T/early.log")" "DELE" "lmtp early (keep = no): nothing deleted"

# lmtp bare 250 (POP3, keep = yes).
scripted_lmtp bare250
scripted_server "$top_srcdir/tests/integration/pop3_server.py" plain
scripted_conf bare pop3 5s "deliver = lmtp" \
    "lmtp = \"unix:$T/lmtp.bare250\"" "mda_timeout = 10s"
scripted_once bare
tap_is "$rc" 0 "lmtp bare 250: the messages delivered"
tap_is "$(grep -c '^Subject' "$T/lmtp.bare250.data")" 3 \
    "lmtp bare 250: the three messages reached the LMTP server"

# server drops mid-agent: the agent (slow.sh DIR [SECS]) stores its
# copy, and for the first message (DIR/.slow there) notes its start and
# takes SECS (3) more.
cat >"$T/slow.sh" <<'EOA'
#!/bin/sh
f=$(mktemp "$1/msg.XXXXXX"); cat >"$f"
if [ -e "$1/.slow" ]; then rm -f "$1/.slow"; : >"$1/.started"; sleep "${2:-3}"; fi
exit 0
EOA
chmod 755 "$T/slow.sh"
# drop_mid NAME PROTO: a --once run of NAME (slow.sh into $T/NAME, keep =
# no); the server killed once the agent started; rc, err (its log).
drop_mid()
{
	local i mpid

	scripted_conf "$1" "$2" 5s "keep = no" "deliver = mda" \
	    "mda_command = \"$T/slow.sh $T/$1\"" "mda_timeout = 20s"
	timeout -s KILL 60 "$MAILFETCHD" -c "$T/$1.conf" --once -v \
	    >/dev/null 2>"$T/$1.err" &
	mpid=$!
	for i in $(seq 100); do
		[ -e "$T/$1/.started" ] && break
		sleep 0.1
	done
	kill "$spid"; wait "$spid" 2>/dev/null; spid=""
	wait "$mpid"
	rc=$?
	err=$(cat "$T/$1.err")
}
mkdir -p "$T/drop"
: >"$T/drop/.slow"
scripted_start "$T/drop1.log" "$top_srcdir/tests/integration/pop3_server.py" plain
drop_mid drop pop3
tap_is "$rc" 4 "server drops mid-agent: the run fails (exit 4, the connection lost)"
tap_like "$err" "uid=1: the session ended while the message was being handed over: waiting for the delivery agent" \
    "server drops mid-agent: the wait for the agent reported"
tap_unlike "$err" "killed; the message stays on the server" \
    "server drops mid-agent: the agent not killed"
tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
    "drop: no sanitizer report"
# The next run (the server back on a new port, its three messages again): message 1's
# DELE, owed since the agent took it, goes out; 2 and 3 are handed over.
scripted_start "$T/drop2.log" "$top_srcdir/tests/integration/pop3_server.py" plain
scripted_conf drop pop3 5s "keep = no" "deliver = mda" \
    "mda_command = \"$T/slow.sh $T/drop\"" "mda_timeout = 20s"
scripted_once drop
tap_is "$rc" 0 "server drops mid-agent: the next run"
tap_is "$(cat "$T"/drop/msg.* | sed -n 's/^Subject: //p' | sort | tr '\n' ' ')" \
    "m1 m2 m3 " "server drops mid-agent: each message handed over once (no duplicate of m1)"
tap_like "$(cat "$T/drop2.log")" "DELE 1" \
    "server drops mid-agent: the owed DELE of message 1 sent next session"

# The same over IMAP (folders_server.py, its box kept across restarts),
# keep = no: the next session expunges message 1, owed since the agent
# took it, and hands over only 2 and 3.
python3 - "$T/ibox.json" <<'PY'
import json, sys
msgs = [{"uid": i, "flags": [], "body": "From: a@b\r\nMessage-ID: <idrop-%d@x>\r\n"
         "Subject: m%d\r\n\r\nbody %d\r\n" % (i, i, i)} for i in (1, 2, 3)]
json.dump({"caps": "IMAP4rev1 UIDPLUS", "root": {"mode": "ok", "delim": "."},
           "folders": {"INBOX": {"delim": ".", "flags": [], "uidvalidity": 1,
                                 "uidnext": 4, "msgs": msgs}}},
          open(sys.argv[1], "w"))
PY
mkdir -p "$T/idrop"
: >"$T/idrop/.slow"
scripted_folders "$T/ibox.json"
drop_mid idrop imap
tap_is "$rc" 4 "imap server drops mid-agent: the run fails (exit 4, the connection lost)"
tap_like "$err" "uid=1: the session ended while the message was being handed over: waiting for the delivery agent" \
    "imap server drops mid-agent: the wait for the agent reported"
tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
    "idrop: no sanitizer report"
scripted_folders "$T/ibox.json"
scripted_conf idrop imap 5s "keep = no" "deliver = mda" \
    "mda_command = \"$T/slow.sh $T/idrop\"" "mda_timeout = 20s"
scripted_once idrop
tap_is "$rc" 0 "imap server drops mid-agent: the next run"
tap_is "$(cat "$T"/idrop/msg.* | sed -n 's/^Subject: //p' | tr -d '\r' | sort | tr '\n' ' ')" \
    "m1 m2 m3 " "imap server drops mid-agent: each message handed over once (no duplicate of m1)"
tap_is "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["folders"]["INBOX"]["msgs"]))' "$T/ibox.json")" \
    0 "imap server drops mid-agent (keep = no): all three expunged, message 1 by the next session"

# stop mid-agent: the daemon gets SIGTERM while the agent of message 1
# runs, which takes 12 s, past the stop's 10 s grace: the daemon waits for
# it (within mda_timeout), records it, and exits 0; the next run sends
# the owed DELE and hands over only messages 2 and 3.
mkdir -p "$T/stop"
: >"$T/stop/.slow"
scripted_start "$T/stop1.log" "$top_srcdir/tests/integration/pop3_server.py" plain
scripted_conf stop pop3 5s "keep = no" "deliver = mda" \
    "mda_command = \"$T/slow.sh $T/stop 12\"" "mda_timeout = 30s"
"$MAILFETCHD" -c "$T/stop.conf" -v >"$T/stop.err" 2>&1 &
dpid=$!
tap_cleanup_add '[ -n "$dpid" ] && kill -KILL "$dpid" 2>/dev/null'
for i in $(seq 100); do
	[ -e "$T/stop/.started" ] && break
	sleep 0.1
done
kill -TERM "$dpid"
for i in $(seq 300); do
	kill -0 "$dpid" 2>/dev/null || break
	sleep 0.1
done
kill -KILL "$dpid" 2>/dev/null
wait "$dpid"
tap_is "$?" 0 "stop mid-agent: the daemon exits 0 once the agent is done"
dpid=
err=$(cat "$T/stop.err")
tap_like "$err" "waiting up to [0-9]+s for 1 delivery agent still running" \
    "stop mid-agent: the wait for the agent past the grace logged"
tap_unlike "$err" "killed; the message stays on the server" \
    "stop mid-agent: the agent not killed"
tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
    "stop: no sanitizer report"
scripted_start "$T/stop2.log" "$top_srcdir/tests/integration/pop3_server.py" plain
scripted_conf stop pop3 5s "keep = no" "deliver = mda" \
    "mda_command = \"$T/slow.sh $T/stop\"" "mda_timeout = 30s"
scripted_once stop
tap_is "$rc" 0 "stop mid-agent: the next run"
tap_is "$(cat "$T"/stop/msg.* | sed -n 's/^Subject: //p' | sort | tr '\n' ' ')" \
    "m1 m2 m3 " "stop mid-agent: each message handed over once (no duplicate of m1)"

# one refused: the agent exits 65 for message 1 (Subject: m1).
cat >"$T/rej.sh" <<'EOA'
#!/bin/sh
f=$(mktemp "$1/.in.XXXXXX"); cat >"$f"
if grep -q '^Subject: m1$' "$f"; then rm -f "$f"; echo malformed; exit 65; fi
mv "$f" "$1/msg.$(basename "$f")"
EOA
chmod 755 "$T/rej.sh"
scripted_server "$top_srcdir/tests/integration/pop3_server.py" plain
scripted_conf rej pop3 5s "deliver = mda" "mda_command = \"$T/rej.sh $T/rej\"" \
    "poll_interval = 10s" "poll_interval_override = yes"
mkdir -p "$T/rej"
scripted_daemon_poll rej 2
tap_like "$log" "uid=1: mda_command '$T/rej.sh' exited with status 65" \
    "one refused: the refusal logged"
tap_like "$log" "fetched 2 messages; 1 refused by the delivery agent stay on the server; next poll in" \
    "one refused: the poll's end says so, the next poll at poll_interval"
tap_like "$log" "fetched 0 messages; 1 refused by the delivery agent stay on the server; next poll in" \
    "one refused: the poll that hands over only the message refused before (past its retry time) says so, the next poll at poll_interval"
tap_unlike "$log" "backing off" "one refused: no backoff for the account, in either poll"
tap_like "$status" "^rej: waiting; .*; next poll in [0-9]+s; .*; 1 message refused by the delivery agent since [0-9-]+ [0-9:]+, 1 held back until [0-9-]+ [0-9:]+; last error local delivery error \\(now\\)" \
    "one refused: --status shows the refusal on its own, as the account's error now, when it is tried again, and no backoff"
tap_unlike "$status" "last success never" \
    "one refused: --status: the poll that delivered the others is a success (r23 06)"
tap_is "$(ls "$T/rej" | wc -l)" 2 "one refused: the other two delivered"
scripted_once rej
tap_is "$rc" 1 "one refused: --once right after holds it back (exit 1, nothing new)"

tap_done
