#!/bin/bash
# pop3_flap.sh: a POP3 server whose LIST sizes flap (LF counts in one
# session, CRLF in the next; tests/integration/pop3_server.py sizeflap),
# the messages unchanged, costs at most the one documented duplicate of
# each message (mailfetchd.conf(5), keep), even when the session that
# fetches them again is cut before it records them (review r14):
#   - killed (kill -9) at pop3-journaled or pop3-synced: the recovery
#     keeps the "resized" mark (finding 04);
#   - stopped by the daily budget after one of the three: the two left
#     keep their mark (finding 05);
#   - keep = no, killed at pop3-saved with the DELEs owed: the next run,
#     which lists the other size, checks the messages by content and
#     deletes them, no duplicate at all (finding 10).
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init pop3flap

# server: (re)starts the flapping server (connection 1 counts CRLF, 2 LF,
# 3 CRLF...), its log emptied.
server() {
	scripted_start "$T/log" "$top_srcdir/tests/integration/pop3_server.py" \
	    sizeflap
}

# copies NAME: how many times each of m1-m3 is in the Maildir.
copies() {
	local i

	for i in 1 2 3; do
		printf '%s ' "$(cat "$T/Maildir-$1"/new/* 2>/dev/null |
		    grep -c "^Subject: m$i\$")"
	done
}

# A kill -9 in the run that fetches them again (the 2nd), then 3 runs.
for point in pop3-journaled pop3-synced; do
	n=${point#pop3-}
	server
	scripted_conf "$n" pop3 5s "keep = yes"
	scripted_once "$n"
	MAILFETCHD_FAULT=$point scripted_once "$n"
	tap_is "$rc" 137 "$point: the second run is killed there"
	for run in 3 4 5; do
		scripted_once "$n"
	done
	tap_is "$(copies "$n")" "2 2 2 " \
	    "$point: each message twice at most after 5 runs (the one duplicate)"
	tap_is "$(grep -cE '^uidl [^ ]+ [0-9]+ resized$' \
	    "$T/state-$n/$n.state")" 3 \
	    "$point: the recovery keeps the resized marks"
done

# The daily budget stops the run that fetches them again after one.
server
scripted_conf budget pop3 5s "keep = yes"
scripted_once budget
scripted_conf budget pop3 5s "keep = yes" "daily_limit = 100"
scripted_once budget
tap_is "$(scripted_count budget)" 4 "budget: the second run fetches one again"
tap_is "$(grep -cE '^uidl [^ ]+ [0-9]+ resized refetch$' \
    "$T/state-budget/budget.state")" 2 \
    "budget: the two left are saved with their mark, owed a refetch"
scripted_conf budget pop3 5s "keep = yes"
for run in 3 4 5 6; do
	scripted_once budget
done
tap_is "$(copies budget)" "2 2 2 " \
    "budget: each message twice at most after 6 runs (the one duplicate)"
tap_is "$(grep -cE '^uidl [^ ]+ [0-9]+ resized$' \
    "$T/state-budget/budget.state")" 3 \
    "budget: then every UIDL is delivered with its mark"

# keep = no, killed with the DELEs owed: checked by content, deleted.
server
scripted_conf owed pop3 5s "keep = no"
MAILFETCHD_FAULT=pop3-saved scripted_once owed
tap_is "$rc:$(scripted_count owed)" "137:3" \
    "owed: the first run is killed after recording the three"
scripted_once owed
tap_is "$(copies owed)" "1 1 1 " \
    "owed: the other size listed, no message is fetched twice"
tap_is "$(grep -cE '^2 DELE ' "$T/log")" 3 \
    "owed: the three owed DELEs are sent after the content check"
tap_unlike "$err" 'not the one delivered' \
    "owed: no message is taken for another"
scripted_once owed
tap_is "$rc:$(grep -c ' RETR ' "$T/log"):$(copies owed)" "1:6:1 1 1 " \
    "owed: then the maildrop is empty, nothing fetched"

tap_done
