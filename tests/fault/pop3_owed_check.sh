#!/bin/bash
# pop3_owed_check.sh: keep = no, a run killed with its DELEs owed
# (pop3-saved); the next session reads each owed message again (RETR) to
# check it is the one delivered before its DELE. That check must not
# take the message delivered for another one, and fetch it again:
#   - unlisted: a LIST that leaves the messages out (says 0 octets,
#     tests/fault/pop3dir.py POP3DIR_LISTOMIT) cut the check of any
#     message over 64 KiB (review r19, finding 14);
#   - lowered: max_message_size lowered below the messages' size after
#     their delivery cut every check (review r19, finding 23).
# And a DELE the server refuses (tests/fault/pop3dir.py POP3DIR_DELEERR)
# stays owed, not counted deleted at QUIT and forgotten: the message was
# left on the server for good (review r19, finding 03).
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init pop3owedcheck

# start NAME [VAR=VALUE...]: 2 messages of about 100 KB in $T/NAME,
# pop3dir.py with the knobs given, an account NAME with keep = no; run 1
# is killed with both DELEs owed.
start() {
	local name=$1 i

	shift
	mkdir -p "$T/$name"
	for i in 1 2; do
		{ printf 'From: a@example.net\nSubject: m%d\n\n' "$i"
		  for j in $(seq 1300); do printf '%079d\n' "$j"; done
		} >"$T/$name/0${i}_u$i"
	done
	scripted_pop3dir "$T/$name" "$@"
	scripted_conf "$name" pop3 10s 'keep = no'
	MAILFETCHD_FAULT=pop3-saved scripted_once "$name"
	tap_is "$rc:$(scripted_count "$name")" "137:2" \
	    "$name: killed with the 2 delivered, their DELEs owed"
}

# ---- unlisted: LIST names no message in session 2 ----
start unlisted POP3DIR_LISTOMIT=2
scripted_once unlisted
tap_unlike "$err" 'is not the one delivered' \
    "unlisted: the check takes each message for the one delivered"
tap_is "$rc:$(ls "$T/unlisted" | wc -l)" "1:0" \
    "unlisted: both checked and deleted"
scripted_once unlisted
tap_is "$rc:$(scripted_count unlisted)" "1:2" "unlisted: none fetched twice"

# ---- lowered: max_message_size = 20000 after the delivery ----
start lowered
scripted_conf lowered pop3 10s 'keep = no' 'max_message_size = 20000'
scripted_once lowered
tap_unlike "$err" 'is not the one delivered' \
    "lowered: the check takes each message for the one delivered"
tap_is "$rc:$(ls "$T/lowered" | wc -l)" "1:0" \
    "lowered: both checked and deleted"
scripted_once lowered
tap_is "$rc:$(scripted_count lowered)" "1:2" "lowered: none fetched twice"

# ---- refused: DELE of u2 answered -ERR in the first session ----
scripted_pop3dir_msgs "$T/refused" 3
scripted_pop3dir "$T/refused" POP3DIR_DELEERR=u2
scripted_conf refused pop3 10s 'keep = no'
scripted_once refused
tap_is "$rc:$(scripted_count refused):$(ls "$T/refused" | tr '\n' ' ')" \
    "7:3:02_u2 " "refused: 3 delivered, u2's DELE refused (partial failure)"
tap_like "$err" 'uid=2: DELE refused: .*its DELE stays owed' \
    "refused: the log says the DELE stays owed"
tap_like "$err" 'deleted 2 on the server' \
    "refused: the summary counts the 2 deletions the server accepted"
tap_like "$(sed -n 's/^pending INBOX //p' "$T/state-refused/refused.state")" \
    '^u2%09' "refused: the state keeps u2's DELE owed"
scripted_pop3dir "$T/refused"
scripted_conf refused pop3 10s 'keep = no'
scripted_once refused
tap_is "$rc:$(scripted_count refused):$(ls "$T/refused" | wc -l)" "1:3:0" \
    "refused: the next session checks u2 and deletes it, not fetched twice"

tap_done
