#!/bin/bash
# pop3_empty_listing.sh: one session in which the POP3 server lists no
# message (a passing fault: tests/fault/pop3dir.py POP3DIR_EMPTY) must
# not make mailfetchd forget the UIDLs it delivered, nor the DELEs it
# owes: the next session fetched the whole maildrop again (review r19,
# finding 20). keep = yes, and keep = no after a run killed with its
# DELEs owed (pop3-saved). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init pop3emptylisting

# start NAME KEEP: 3 messages in $T/NAME, pop3dir.py showing it empty in
# its session 2, an account NAME with keep = KEEP.
start() {
	scripted_pop3dir_msgs "$T/$1" 3
	scripted_pop3dir "$T/$1" POP3DIR_EMPTY=2
	scripted_conf "$1" pop3 10s "keep = $2"
}

start y yes
scripted_once y
tap_is "$rc:$(scripted_count y)" "0:3" "keep = yes: the 3 delivered"
scripted_once y
tap_is "$rc:$(scripted_count y)" "1:3" "keep = yes: an empty listing: nothing"
tap_like "$err" 'notice: .*the server lists no message: the 3 UIDL\(s\) of delivered messages are kept' \
    "keep = yes: the log says the UIDLs are kept"
scripted_once y
tap_is "$rc:$(scripted_count y)" "1:3" \
    "keep = yes: the next session fetches none of them again"

start n no
MAILFETCHD_FAULT=pop3-saved scripted_once n
tap_is "$rc:$(scripted_count n)" "137:3" \
    "keep = no: killed with the 3 delivered, their DELEs owed"
scripted_once n
tap_is "$rc:$(ls "$T/n" | wc -l)" "1:3" "keep = no: an empty listing: nothing"
tap_like "$err" 'warning: .*the server lists no message: the 3 UIDL\(s\) of delivered messages, some of them owed their DELE, are kept' \
    "keep = no: the log warns that the owed DELEs are kept"
scripted_once n
tap_is "$rc:$(scripted_count n):$(ls "$T/n" | wc -l)" "1:3:0" \
    "keep = no: the next session checks and deletes the 3, none twice"

tap_done
