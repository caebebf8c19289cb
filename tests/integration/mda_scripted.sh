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
#    runs: the agent is killed with the session, and a warning says so
#    (the message is handed over again: a duplicate if it took it).
#  - one refused (daemon, POP3): the agent refuses one message for good
#    (exit 65) and takes the others: the refusal logged, the poll's end
#    says so, and the next poll comes at poll_interval: no backoff of
#    the whole account for one message, nor after the second poll, that
#    hands over only that message (r23 05); --status gives the first
#    poll as the last success and the refusal on its own (r23 06);
#    --once still exits 8.
# Short: seconds. TAP output.
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

# server drops mid-agent: the agent notes its start, then takes 3 s.
cat >"$T/slow.sh" <<'EOA'
#!/bin/sh
: >"$1/.started"; cat >/dev/null; sleep 3; exit 0
EOA
chmod 755 "$T/slow.sh"
mkdir -p "$T/drop"
scripted_server "$top_srcdir/tests/integration/pop3_server.py" plain
scripted_conf drop pop3 5s "deliver = mda" "mda_command = \"$T/slow.sh $T/drop\""
timeout -s KILL 60 "$MAILFETCHD" -c "$T/drop.conf" --once -v \
    >/dev/null 2>"$T/drop.err" &
mpid=$!
for i in $(seq 100); do
	[ -e "$T/drop/.started" ] && break
	sleep 0.1
done
kill "$spid"; wait "$spid" 2>/dev/null; spid=""
wait "$mpid"
tap_is "$?" 4 "server drops mid-agent: the run fails (exit 4, the connection lost)"
err=$(cat "$T/drop.err")
tap_like "$err" "uid=1: the session ended while mda_command '$T/slow.sh' ran: killed; the message stays on the server and is handed over again next time" \
    "server drops mid-agent: the killed agent reported"
tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
    "drop: no sanitizer report"

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
    "one refused: the second poll, that hands over only the message refused before, says so, the next poll at poll_interval"
tap_unlike "$log" "backing off" "one refused: no backoff for the account, in either poll"
tap_like "$status" "^rej: waiting; .*; next poll in [0-9]+s; .*; 1 message refused by the delivery agent since [0-9-]+ [0-9:]+; last error local delivery error \\(now\\)" \
    "one refused: --status shows the refusal on its own, as the account's error now, and no backoff"
tap_unlike "$status" "last success never" \
    "one refused: --status: the poll that delivered the others is a success (r23 06)"
tap_is "$(ls "$T/rej" | wc -l)" 2 "one refused: the other two delivered"
scripted_once rej
tap_is "$rc" 8 "one refused: --once still exits 8"

tap_done
