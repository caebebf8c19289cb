#!/bin/bash
# budget_unsized_dele.sh: POP3, keep = no, LIST gives no sizes, a
# daily_limit (review r22, finding 09). The RETR of a message LIST gives
# no size for is read no further than the budget left, and a cut there
# closes the connection without QUIT, which rolls back the DELEs sent
# before it in that session (RFC 1939: deletions happen at QUIT). So the
# next day re-checked and re-deleted the same messages, spent the budget
# on them and was cut at the same message again: for ever. Now a session
# that has DELEs to commit ends with QUIT before such a RETR; the next
# session asks for that message first, with nothing to roll back. Over a
# few "days" (the daily_limit raised by one day's worth each time: the
# window holds the days before) every message is delivered once and the
# maildrop ends empty, the budget never passed. tests/fault/pop3dir.py.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init budgetunsized

# budget: the bytes in the account's saved budget (every slot).
budget() {
	grep '^budget ' "$T/state-u/u.state" 2>/dev/null |
	    tr ' ' '\n' | awk -F: 'NF == 2 { s += $2 } END { print s + 0 }'
}

# Six messages of about 2 KB (25 lines of 80 octets).
mkdir -p "$T/drop"
for i in 1 2 3 4 5 6; do
	{
		printf 'From: a@example.net\nSubject: m%s\n\n' "$i"
		for l in $(seq 25); do printf '%079d\n' "$l"; done
	} >"$T/drop/${i}_u$i"
done

spid=
tap_cleanup_add '[ -n "$spid" ] && kill "$spid" 2>/dev/null'
env POP3DIR_PIPELINING=1 POP3DIR_LISTOMIT="*" python3 \
    "$top_srcdir/tests/fault/pop3dir.py" "$T/drop" "$T/u.pop3" \
    >"$T/port" 2>>"$T/server.err" &
spid=$!
_scripted_port pop3dir.py

# Four days of 5000 bytes, three polls a day: two messages a day fit.
over= cuts=0 quits=0
for day in 1 2 3 4; do
	scripted_conf u pop3 10s 'keep = no' "daily_limit = $((day * 5000))"
	for poll in 1 2 3; do
		scripted_once u
		(($(budget) <= day * 5000)) || over="$over day $day: $(budget)"
		[[ $err =~ "LIST gave no size for this message, and its answer goes on past" ]] &&
		    cuts=$((cuts + 1))
		[[ $err =~ "ending this session with QUIT first" ]] &&
		    quits=$((quits + 1))
	done
done
tap_is "$over" "" "the budget is never passed"
tap_is "$(scripted_subjects u)" "m1 m2 m3 m4 m5 m6 " \
    "every message delivered, once"
tap_is "$(ls "$T/drop" | wc -l)" 0 "the maildrop ends empty: every DELE committed"
[ "$cuts" -gt 0 ]
ok $? "RETRs were cut at the budget ($cuts)"
[ "$quits" -gt 0 ]
ok $? "sessions ended with QUIT before such a RETR, said so ($quits)"
tap_done
