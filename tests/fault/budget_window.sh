#!/bin/bash
# budget_window.sh: POP3's daily budget holds while a batch's RETRs go
# out (review r19). A batch is fitted to the budget by LIST sizes; a
# server listing each message far smaller than it sends (but within the
# lie bound, 2 x LIST + 1 MiB) took a whole pipelined batch past
# daily_limit (r19 04): now no RETR goes out whose bound does not fit
# what the answers before it left, so such a server costs the budget one
# message's lie at most. A message LIST gives no size has no lie bound
# but max_message_size: it is asked for alone and read no further than
# the budget left; one the whole daily_limit cannot hold is passed over
# for good (r19 13). With keep = no, reading an owed DELE's message
# again to check it counts in the budget too: a check the budget does not
# allow is not made, and its DELE stays owed, never sent unchecked (r19
# 01). tests/fault/pop3dir.py. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init budgetwindow

# budget NAME: the bytes in the account's saved budget (every slot).
budget() {
	grep '^budget ' "$T/state-$1/$1.state" 2>/dev/null |
	    tr ' ' '\n' | awk -F: 'NF == 2 { s += $2 } END { print s + 0 }'
}

# at_most A B TEXT: A <= B, A a number.
at_most() {
	[[ $1 =~ ^[0-9]+$ ]] && (($1 <= $2))
	ok $? "$3 ($1 <= $2)"
}

# body SUBJECT: a message of 20 KB (250 lines of 80 octets).
body() {
	printf 'From: a@example.net\nSubject: %s\n\n' "$1"
	for i in $(seq 250); do printf '%079d\n' "$i"; done
}

# drop NAME N: N messages of 20 KB into $T/drop-NAME (file names taken
# from the arguments after N: "LIE" in one lists it as 10 octets).
drop() {
	local i

	mkdir -p "$T/drop-$1"
	for i in $(seq -w 1 "$2"); do
		body "m$i" >"$T/drop-$1/${i}_$3$i"
	done
}

# serve NAME [ENV=VALUE...]: pop3dir.py on $T/drop-NAME, RETRs logged in
# $T/NAME.pop3.
serve() {
	local name=$1

	shift
	SCRIPTED_LOG=$T/$name.pop3 scripted_pop3dir "$T/drop-$name" "$@"
}

# retrs NAME: the RETRs the server received.
retrs() {
	grep -c ' RETR ' "$T/$1.pop3" 2>/dev/null
}

spid=
tap_cleanup_add '[ -n "$spid" ] && kill "$spid" 2>/dev/null'

# ---- r19 04: PIPELINING, 12 messages listed 10 octets, sent 20 KB ----
drop lie 12 LIE
serve lie POP3DIR_PIPELINING=1
scripted_conf lie pop3 10s 'keep = yes' 'daily_limit = 30000'
scripted_once lie
# Message 1 fits by its LIST size, and so does message 2 with what is
# left after it; then the budget is used up.
at_most "$(budget lie)" $((30000 + 20600)) \
    "lie: the budget is passed by one message's lie at most"
at_most "$(retrs lie)" 2 "lie: no RETR past the budget"
tap_like "$err" 'daily budget reached' "lie: the rest waits, said so"
scripted_once lie
tap_is "$(retrs lie)" 2 "lie: the next run sends no RETR"

# ---- the same, sizes honest: all 12 within a budget that holds them ----
drop honest 12 u
serve honest POP3DIR_PIPELINING=1
scripted_conf honest pop3 10s 'keep = yes' 'daily_limit = 300000'
scripted_once honest
tap_is "$rc:$(scripted_count honest)" 0:12 "honest: all fetched"
at_most "$(budget honest)" 300000 "honest: within the budget"

# ---- r19 13: LIST names no message; three of 20 KB, 50000 a day ----
drop omit 3 u
serve omit POP3DIR_PIPELINING=1 POP3DIR_LISTOMIT="*"
scripted_conf omit pop3 10s 'keep = yes' 'daily_limit = 50000'
scripted_once omit
tap_is "$rc:$(scripted_count omit)" 5:2 "omit: two fit; the third is cut"
at_most "$(budget omit)" 50000 "omit: the budget is not passed"
tap_like "$err" 'uid=3: LIST gave no size for this message, and its answer goes on past what the daily budget had left \(daily_limit 50000; [0-9]+ bytes of the message read\): closing the connection rather than pass it; fetched once' \
    "omit: the cut names the message and why"

# ---- r19 13: LIST names no message; one of 20 KB, 15000 a day ----
drop never 2 u
serve never POP3DIR_LISTOMIT="*"
scripted_conf never pop3 10s 'keep = yes' 'daily_limit = 15000'
scripted_once never
tap_is "$rc:$(scripted_count never)" 5:0 "never: the first is cut"
at_most "$(budget never)" 15000 "never: the budget is not passed"
tap_like "$err" 'uid=1: .*passed over for good' \
    "never: larger than the whole daily_limit: passed over for good"
scripted_conf never pop3 10s 'keep = yes' 'daily_limit = 60000'
scripted_once never
tap_is "$rc:$(scripted_count never):$(grep -c ' RETR 1$' "$T/never.pop3")" \
    0:1:1 "never: with more a day the second is fetched, the first not again"

# ---- r19 01: keep = no, 3 DELEs owed (run 1 killed at pop3-saved);
# run 2 has 30000 a day: one check fits, the others wait, not deleted ----
drop owed 3 u
serve owed
scripted_conf owed pop3 10s 'keep = no'
MAILFETCHD_FAULT=pop3-saved scripted_once owed
tap_is "$(scripted_count owed):$(ls "$T/drop-owed" | wc -l)" 3:3 \
    "owed: run 1 delivered 3, its DELEs owed"
scripted_conf owed pop3 10s 'keep = no' 'daily_limit = 30000'
scripted_once owed
at_most "$(budget owed)" 30000 "owed: the checks stay within the budget"
tap_is "$(grep -c '^2 RETR' "$T/owed.pop3"):$(grep -c '^2 DELE' "$T/owed.pop3")" \
    1:1 "owed: one message checked, that one deleted"
tap_like "$err" 'daily budget reached .* 2 message\(s\) whose DELE is owed not read again' \
    "owed: the others wait, said so"
scripted_once owed
tap_is "$(grep -c '^3 UIDL' "$T/owed.pop3"):$(grep -c '^3 \(RETR\|DELE\)' "$T/owed.pop3")" \
    1:0 "owed: the next poll, budget nearly used up: nothing deleted unchecked"
scripted_conf owed pop3 10s 'keep = no' 'daily_limit = 200000'
scripted_once owed
tap_is "$(scripted_count owed):$(ls "$T/drop-owed" | wc -l)" 3:0 \
    "owed: with more a day the two are checked and deleted, none fetched twice"

tap_done
