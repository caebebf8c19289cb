#!/bin/bash
# budget_bounds.sh: the daily budget is not passed by mailfetchd's own
# choice of what to download (review r14). POP3: a "suspect" (a message
# the server once sent far larger than LIST said) is asked for again only
# when the budget left covers the most its RETR may download (r14 12).
# An account named twice by --once --account is fetched once, in its
# budget (r14 01).
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"

scripted_init budget_bounds
POP3_SERVER=$top_srcdir/tests/integration/pop3_server.py

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

# check_suspect NAME: POP3 message 2 is listed as 10 octets and sent as
# 1.3 MB: the first run reads about 1 MiB of it and makes it a suspect;
# with 1.5 MB a day the second run has less left than asking for it
# again may cost: it fetches message 3, leaves the suspect on the server
# and says so, within the budget.
check_suspect() {
	local name=$1

	scripted_start "$T/server.log" "$POP3_SERVER" sizelie
	scripted_conf "$name" pop3 30 'keep = yes' 'daily_limit = 1500000' \
	    'max_message_size = 0'
	scripted_once "$name"
	tap_is "$rc" 5 "$name: the first run ends at the lie (status 5)"
	at_most "$(budget "$name")" 1500000 "$name: within the budget so far"
	scripted_once "$name"
	tap_like "$err" 'message 2, which the server once sent far larger than LIST said, waits on the server' \
	    "$name: the second run leaves the suspect, says why"
	tap_unlike "$(grep '^2 RETR' "$T/server.log")" 'RETR 2' \
	    "$name: the second run does not ask for it"
	tap_is "$(scripted_count "$name" | tr -d ' ')" 2 \
	    "$name: messages 1 and 3 are delivered"
	at_most "$(budget "$name")" 1500000 \
	    "$name: the budget is not exceeded"
}

# check_twice NAME [CONF-LINE]: --once --account NAME --account NAME
# fetches the account once, within its budget (130 bytes: 2 of the 3
# messages of 61 bytes as sent), and records what it downloaded; with
# max_connections = 1 (CONF-LINE) as without a cap (r14 01).
check_twice() {
	local name=$1 out

	scripted_start "$T/server.log" "$POP3_SERVER" plain
	scripted_conf "$name" pop3 10 'daily_limit = 130' 'keep = yes'
	[ $# -gt 1 ] && sed -i "1i $2" "$T/$name.conf"
	out=$(timeout 30 "$MAILFETCHD" -c "$T/$name.conf" --once \
	    --account "$name" --account "$name" 2>&1)
	tap_is "$?" 0 "$name: --once with the account named twice delivers"
	tap_unlike "$out" 'already being fetched' \
	    "$name: no lock conflict with itself"
	tap_is "$(grep -c ' RETR ' "$T/server.log")" 2 \
	    "$name: 2 messages asked for, within the budget"
	tap_is "$(scripted_count "$name" | tr -d ' ')" 2 \
	    "$name: 2 messages delivered"
	at_most "$(budget "$name")" 130 "$name: the budget is not exceeded"
	tap_is "$(budget "$name")" 122 "$name: and it is recorded"
}

check_suspect suspect
check_twice twicecap 'max_connections = 1'
check_twice twice

tap_done
