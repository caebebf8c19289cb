#!/bin/bash
# mda_holdback.sh: a message the delivery agent refuses (deliver = mda)
# while it takes the others is held back until a retry time, not
# downloaded again at every poll (review r23 05; scripted servers:
# tests/fault/pop3dir.py, tests/fault/imap_server.py):
#  - POP3, m1 and m4 refused (exit 65) of four: the first run hands each
#    over once; the next run, right after, downloads neither again (RETR
#    counted in the server's log) and says how many are held back and
#    until when; the state keeps a "refused" record for each; m4 removed
#    from the server, its record is forgotten; past the retry time (two
#    poll intervals: 20 s), with the agent accepting now, m1 is downloaded
#    and delivered once and its record is gone; the run after downloads
#    nothing.
#  - IMAP, message 2 of 3 refused: the same, counted by the body FETCHes
#    (UID FETCH ... BODY.PEEK[]) of each connection.
#  - an agent killed by a signal for m1 said nothing of the message
#    (as LMTP's lost connections): tried again at the next run, held
#    back from the second failure in a row.
#  - kill -9 (MAILFETCHD_FAULT=pop3-mda-taken): killed before the refusal
#    was saved, the next run hands m1 over again (retried sooner, nothing
#    lost); killed after it was saved (with the next message taken), the
#    next run holds m1 back and hands over the message cut off.
#  - a retry time past the longest hold (a clock that ran ahead since):
#    due now (review r29 01).
# Takes about 25 s: one wait past the first retry time, shared.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init mdahold

# The agent: stores the message in DIR unless its Subject is one of the
# refused ones (exit 65) and DIR/.accept does not exist.
cat >"$T/agent.sh" <<'EOA'
#!/bin/sh
d=$1; f=$(mktemp "$d/.in.XXXXXX"); cat >"$f"
if [ ! -e "$d/.accept" ] &&
    grep -qE '^Subject: (m1|m4|scripted 2)$' "$f"; then
	rm -f "$f"; echo "malformed, says the test"; exit 65
fi
mv "$f" "$d/msg.${f##*.}"
EOA
chmod 755 "$T/agent.sh"

# agent_conf NAME PROTO [LINE...]: an account handing its mail to the
# agent storing into $T/got-NAME.
agent_conf()
{
	local name=$1 proto=$2

	shift 2
	mkdir -p "$T/got-$name"
	scripted_conf "$name" "$proto" 5s "deliver = mda" \
	    "mda_command = \"$T/agent.sh $T/got-$name\"" \
	    "poll_interval = 10s" "poll_interval_override = yes" "$@"
}

# The Subjects the agent stored for NAME, sorted, on one line.
got()
{
	cat "$T/got-$1"/msg.* 2>/dev/null | sed -n 's/^Subject: //p' |
	    sort | tr '\n' ' '
}

# The "refused" records of NAME's state file, their keys only.
held()
{
	sed -n 's/^refused [^ ]* \([^ ]*\) .*/\1/p' \
	    "$T/state-$1/$1.state" 2>/dev/null | tr '\n' ' '
}

# RETRs of message number $2 in pop3dir.py session $1.
retrs()
{
	grep -c "^$1 RETR $2\$" "$T/pop.log"
}

# Body FETCHes of imap_server.py connection $1 (their UID sets).
bodies()
{
	sed -n "s/^$1 [^ ]* UID FETCH \\([^ ]*\\) .*BODY.PEEK\\[\\].*/\\1/p" \
	    "$T/imap.log" | tr '\n' ' '
}

# The key of pop3dir.py's message FILE (UIDL $2) in a refused record:
# "UIDL<tab>SIZE" encoded, SIZE as LIST gives it (CRLF counted).
popkey()
{
	printf '%s%%09%d' "$2" $(($(wc -c <"$1") + $(wc -l <"$1")))
}

# POP3: four messages, m1 and m4 refused; keep = yes, so that the
# message numbers stay.
SCRIPTED_LOG=$T/pop.log
scripted_pop3dir_msgs "$T/drop" 4
u1=$(popkey "$T/drop/01_u1" u1)
u4=$(popkey "$T/drop/04_u4" u4)
scripted_pop3dir "$T/drop"
agent_conf pop pop3 "keep = yes"
scripted_once pop
tap_is "$rc" 8 "pop run 1: m1 and m4 refused: exit 8"
tap_is "$(got pop)" "m2 m3 " "pop run 1: the others delivered"
tap_is "$(retrs 1 1),$(retrs 1 4)" "1,1" "pop run 1: m1 and m4 downloaded once each"
tap_like "$err" "exited with status 65.*; the message stays on the server and is handed over again after [0-9-]+ [0-9:]+ \\(not downloaded before\\)" \
    "pop run 1: the refusal says when the message is tried again"
tap_is "$(held pop)" "$u1 $u4 " "pop run 1: a refused record for each, saved"

scripted_once pop
tap_is "$rc" 1 "pop run 2: nothing new (exit 1)"
tap_is "$(retrs 2 1),$(retrs 2 4)" "0,0" \
    "pop run 2, right after: neither refused message downloaded again"
tap_like "$err" "2 messages the delivery agent refused held back, not downloaded again until its retry time \\(the first at [0-9-]+ [0-9:]+\\)" \
    "pop run 2: the log says how many are held back and until when"
tap_is "$(held pop)" "$u1 $u4 " "pop run 2: both records kept"

rm -f "$T"/drop/04_u4
scripted_once pop
tap_is "$(held pop)" "$u1 " \
    "pop run 3: m4 gone from the server: its record forgotten, m1's kept"

# IMAP: three messages, message 2 refused.
scripted_start "$T/imap.log" "$top_srcdir/tests/fault/imap_server.py" good \
    --bad 0 --manifest "$T/manifest" --msgs 3 --linger 60
agent_conf imap imap
scripted_once imap
tap_is "$rc" 8 "imap run 1: message 2 refused: exit 8"
tap_is "$(got imap)" "scripted 1 scripted 3 " "imap run 1: the others delivered"
tap_like "$(bodies 1)" "^1:3 $" "imap run 1: one body FETCH of the three"
tap_like "$(held imap)" "^[0-9]+\\.2 $" "imap run 1: a refused record for UID 2"
scripted_once imap
tap_is "$(bodies 2)" "" "imap run 2, right after: no body FETCH (UID 2 held back)"
tap_like "$err" "1 message the delivery agent refused held back" \
    "imap run 2: the log says so"
tap_like "$(held imap)" "^[0-9]+\\.2 $" "imap run 2: the record kept (UID 2 still owed)"

# Past the first retry time (two poll intervals after the refusals).
sleep 21
touch "$T/got-pop/.accept" "$T/got-imap/.accept"
scripted_once imap
tap_is "$rc" 0 "imap run 3, past the retry time: exit 0"
tap_is "$(bodies 3)" "2 " "imap run 3: UID 2 downloaded again, alone"
tap_is "$(got imap)" "scripted 1 scripted 2 scripted 3 " \
    "imap run 3: message 2 delivered, once"
tap_is "$(held imap)" "" "imap run 3: its record gone"
scripted_once imap
tap_is "$(bodies 4)" "" "imap run 4: nothing downloaded"

# (pop3dir.py again, as imap_server.py took its place: its sessions
# counted from 1 in a log of their own.)
SCRIPTED_LOG=$T/pop2.log scripted_pop3dir "$T/drop"
agent_conf pop pop3 "keep = yes"
scripted_once pop
tap_is "$rc" 0 "pop run 4, past the retry time: exit 0"
tap_is "$(grep -c '^1 RETR 1$' "$T/pop2.log")" 1 "pop run 4: m1 downloaded again"
tap_is "$(got pop)" "m1 m2 m3 " "pop run 4: m1 delivered, once"
tap_is "$(held pop)" "" "pop run 4: its record gone"
scripted_once pop
tap_is "$(grep -c ' RETR ' "$T/pop2.log")" 1 "pop run 5: nothing downloaded"
tap_is "$(got pop)" "m1 m2 m3 " "pop run 5: each message once"

# An agent killed by a signal for m1: no hold the first time.
cat >"$T/sig.sh" <<'EOA'
#!/bin/sh
f=$(mktemp "$1/.in.XXXXXX"); cat >"$f"
grep -q '^Subject: m1$' "$f" && kill -KILL $$
mv "$f" "$1/msg.${f##*.}"
EOA
chmod 755 "$T/sig.sh"
mkdir -p "$T/got-sig"
SCRIPTED_LOG=$T/sig.log scripted_pop3dir_msgs "$T/drop-sig" 2
SCRIPTED_LOG=$T/sig.log scripted_pop3dir "$T/drop-sig"
scripted_conf sig pop3 5s "deliver = mda" "keep = yes" \
    "mda_command = \"$T/sig.sh $T/got-sig\"" "poll_interval = 10s" \
    "poll_interval_override = yes"
scripted_once sig
tap_is "$rc" 8 "sig run 1: m1's agent killed: exit 8"
scripted_once sig
tap_is "$(grep -c '^2 RETR 1$' "$T/sig.log")" 1 \
    "sig run 2, right after: m1 downloaded again (a killed agent said nothing of it)"
scripted_once sig
tap_is "$(grep -c '^3 RETR 1$' "$T/sig.log")" 0 \
    "sig run 3, right after: held back after the second failure in a row"
tap_is "$(got sig)" "m2 " "sig: m2 delivered once"

# killed NAME N SAVED AGAIN DELIVERED: three messages, m1 refused, the run
# killed as the agent took its Nth message; then the refused record SAVED
# (its key or ""), and the next run downloads m1 AGAIN times and
# delivers DELIVERED (a pattern of the Subjects).
killed()
{
	SCRIPTED_LOG=$T/$1.log scripted_pop3dir_msgs "$T/drop-$1" 3
	SCRIPTED_LOG=$T/$1.log scripted_pop3dir "$T/drop-$1"
	agent_conf "$1" pop3 "keep = yes"
	MAILFETCHD_FAULT=pop3-mda-taken:$2 scripted_once "$1"
	tap_is "$rc" 137 "$1: killed at message taken $2"
	tap_is "$(held "$1")" "$3" "$1: the refused record after the kill: '$3'"
	scripted_once "$1"
	tap_is "$(grep -c '^2 RETR 1$' "$T/$1.log")" "$4" \
	    "$1: the next run downloads m1 $4 time(s)"
	tap_like "$(got "$1")" "$5" "$1: m2 and m3 delivered, nothing lost"
	tap_is "$(held "$1")" "$u1 " "$1: m1 held back now"
}

# kill -9 before the refusal was saved (m1 refused, then killed as m2
# was taken, before that save): the next run hands m1 over again
# (retried sooner, not lost). After it was saved (killed as m3 was
# taken; m2's save, with m1's record, done): the next run holds m1 back
# and delivers m3.
killed k1 1 "" 1 "^m2 (m2 )?m3 $"
killed k2 2 "$u1 " 0 "^m2 m3 (m3 )?$"

# A retry time past the longest hold (a day): set by a clock that ran
# ahead since (review r29 01). Due now, not held for months.
SCRIPTED_LOG=$T/clk.log scripted_pop3dir_msgs "$T/clkdrop" 2
SCRIPTED_LOG=$T/clk.log scripted_pop3dir "$T/clkdrop"
agent_conf clk pop3 "keep = yes"
scripted_once clk
tap_is "$(held clk)" "$(popkey "$T/clkdrop/01_u1" u1) " "clk: m1 refused and held"
far=$(($(date +%s) + 400 * 86400))
# The record's time moved, and the state file's "end" line (its record
# count and the SHA-256 of the lines before it) made to match.
python3 - "$T/state-clk/clk.state" "$far" <<'PY'
import hashlib, re, sys
lines = open(sys.argv[1]).read().split("\n")
body = [re.sub(r"^(refused \S+ \S+ \d+) \d+$", r"\1 " + sys.argv[2], l)
        for l in lines if l and not l.startswith("end ")]
text = "".join(l + "\n" for l in body)
open(sys.argv[1], "w").write(text + "end %d %s\n" % (len(body) - 1,
    hashlib.sha256(text.encode()).hexdigest()))
PY
touch "$T/got-clk/.accept"
scripted_once clk
tap_is "$(got clk)" "m1 m2 " \
    "clk: a retry time 400 days ahead (a clock that ran ahead) is due now: m1 delivered"

tap_done
