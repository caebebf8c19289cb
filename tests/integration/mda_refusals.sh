#!/bin/bash
# mda_refusals.sh: what a delivery agent (deliver = mda, lmtp) refusing
# messages does to the daemon's schedule and --status (review r23 05, 06;
# against scripted servers: tests/integration/pop3_server.py,
# tests/fault/imap_server.py, lmtp_server.py):
#  - every message refused (agent exit 65 / 1 / 75, LMTP 550 / 451; POP3
#    and IMAP): the poll took none of what it handed over, so the account
#    backs off as after any failed poll and the log says why, instead of
#    downloading the whole maildrop again every poll_interval; --status
#    says "backing off", how many messages are refused and since when,
#    and "last success never", as do the status JSON ("refused") and the
#    metrics (mailfetchd_refused_messages); each message refused (not
#    75, 451: those are tried again at the next poll the first time) is
#    held back until its retry time (--status: "3 held back until", JSON
#    refused.held_back), so a --once right after downloads none of them
#    (exit 1, the log says so: mda_holdback.sh); with the state moved
#    away, --once exits 8 (75 too, at once: none was taken).
# (One message refused of three: mda_scripted.sh.)
# Short: a few seconds per daemon (each stopped after its first poll).
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init mdarefusals
POP3SRV=$top_srcdir/tests/integration/pop3_server.py
python3 -c 'import jsonschema' 2>/dev/null ||
    tap_bail "python3-jsonschema is missing (tests/lib/deps.sh installs it)"

# The agent: reads the message, says why not, exits with $1.
cat >"$T/agent.sh" <<'EOA'
#!/bin/sh
cat >/dev/null; echo "refused by the test"; exit "$1"
EOA
chmod 755 "$T/agent.sh"

# all_refused NAME N HELD: the daemon's first poll handed N messages over
# and every one was refused, HELD of them held back (0 or N).
all_refused()
{
	local held="" jheld=False

	[ "$3" -gt 0 ] && held=", $3 held back until [0-9-]+ [0-9:]+"
	[ "$3" -gt 0 ] && jheld=True
	sed -i "1i metrics_file = \"$T/$1.prom\"" "$T/$1.conf"
	scripted_daemon_poll "$1"
	tap_like "$log" "account=$1: poll failed \\(local delivery error\\): the delivery agent took none of the $2 messages handed over, which stay on the server; backing off, next try in" \
	    "$1: every message refused: the account backs off, and the log says why"
	tap_unlike "$log" "next poll in" "$1: no poll at poll_interval"
	tap_like "$status" "^$1: backing off; .*last success never; .*; $2 messages refused by the delivery agent since [0-9-]+ [0-9:]+$held; last error local delivery error \\(now\\)" \
	    "$1: --status: backing off, no success, the refusals since when, $3 held back"
	printf '%s\n' "$json" >"$T/$1.json"
	tap_is "$(python3 "$top_srcdir/tests/lib/status_check.py" \
	    "$top_srcdir/doc/status.schema.json" "$T/$1.json" \
	    "a('$1')['refused']['messages'], a('$1')['refused']['since'] is not None, a('$1')['refused']['held_back'], a('$1')['refused']['until'] is not None" 2>&1)" \
	    "($2, True, $3, $jheld)" \
	    "$1: --status --json (valid against the schema): refused.messages $2, refused.since set, refused.held_back $3, refused.until set when held"
	tap_like "$(cat "$T/$1.prom" 2>/dev/null)" "mailfetchd_refused_messages\\{account=\"$1\"\\} $2" \
	    "$1: the metrics file: mailfetchd_refused_messages $2"
}

# agent_conf NAME PROTO CODE: an account whose agent exits CODE.
agent_conf()
{
	scripted_conf "$1" "$2" 5s "deliver = mda" \
	    "mda_command = \"$T/agent.sh $3\"" \
	    "poll_interval = 10s" "poll_interval_override = yes"
}

for code in 65 75; do
	scripted_server "$POP3SRV" plain
	agent_conf pop$code pop3 "$code"
	held=3
	[ "$code" = 75 ] && held=0
	all_refused pop$code 3 $held
	if [ "$code" = 65 ]; then
		scripted_once pop$code
		tap_is "$rc" 1 "pop$code: --once right after: all three held back, nothing new (exit 1)"
		tap_like "$err" "3 messages the delivery agent refused held back" \
		    "pop$code: --once right after: the log says so"
		rm -rf "$T/state-pop$code"
	fi
	scripted_once pop$code
	tap_is "$rc" 8 "pop$code: --once (65: with the state moved away; 75: tried at the next run): none taken, exit 8"
done

scripted_start "$T/imap.log" "$top_srcdir/tests/fault/imap_server.py" good \
    --bad 0 --manifest "$T/manifest" --msgs 3
agent_conf imap1 imap 1
all_refused imap1 3 3

for mode in t550 t451; do
	scripted_lmtp $mode
	scripted_server "$POP3SRV" plain
	scripted_conf lmtp$mode pop3 5s "deliver = lmtp" \
	    "lmtp = \"unix:$T/lmtp.$mode\"" "mda_timeout = 10s" \
	    "poll_interval = 10s" "poll_interval_override = yes"
	held=3
	[ "$mode" = t451 ] && held=0
	all_refused lmtp$mode 3 $held
	tap_is "$(grep -c '^Subject' "$T/lmtp.$mode.data")" 3 \
	    "lmtp$mode: the three messages reached the LMTP server, once each"
done

tap_done
