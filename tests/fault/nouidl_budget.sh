#!/bin/bash
# nouidl_budget.sh: a POP3 server without UIDL (keep = no) and a message
# whose RETR answer runs far past its LIST size (a liar): the record of it
# ("#MSGNO:SIZE" / "!MSGNO:SIZE", by number and size alone) must never
# pass over another message for good (tests/fault/pop3dir.py
# POP3DIR_NOUIDL):
#   - budget: a daily_limit below what asking for the liar again may
#     cost (review r19, finding 02): the record is asked for with its
#     answer cut at what the budget left allows, so the real message that
#     took the number is delivered, and a liar still there is cut within
#     the budget.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init nouidlbudget

# liar FILE LINES: a message whose answer runs far past LIST's 10 octets.
liar() {
	python3 -c 'import sys; sys.stdout.write("Subject: liar\n\n" +
	    "".join("%079d\n" % i for i in range(int(sys.argv[1]))))' "$2" >"$1"
}

# mk FILE NAME: a small message with Subject NAME.
mk() {
	printf 'From: a@example.net\nSubject: %s\n\nreal %s\n' "$2" "$2" >"$1"
}

# subjects NAME: the subjects delivered into $T/Maildir-NAME, sorted
# ("S:" for a message of 10 octets).
subjects() {
	cat "$T/Maildir-$1"/new/* 2>/dev/null | sed -n 's/^S\(ubject: \|:\)//p' |
	    sort | tr '\n' ' '
}

# budget NAME: the bytes the state's budget record counts.
budget() {
	sed -n 's/^budget [0-9]*://p' "$T/state-$1/$1.state"
}

# ---- budget: asking for the liar may cost more than the daily_limit ----
# max_message_size 100000: the liar's ask costs 2 x (100000 + 16 KiB),
# above daily_limit = 200000 itself.
# first NAME: the liar cuts the first session, the next passes it over.
first() {
	mkdir -p "$T/$1"
	mk "$T/$1/01_a" a
	liar "$T/$1/02_LIE" 4000
	mk "$T/$1/03_c" c
	scripted_pop3dir "$T/$1" POP3DIR_NOUIDL=1
	scripted_conf $1 pop3 10s 'keep = no' 'max_message_size = 100000' \
	    'daily_limit = 200000'
	scripted_once $1
	tap_is "$rc" 5 "budget $1: the liar cuts the first session"
	scripted_once $1
	tap_is "$rc:$(subjects $1)" "0:a c " \
	    "budget $1: the next one passes it over, the others delivered"
}
first b
# b: the liar is deleted elsewhere; a real message of the same LIST size
# (10 octets) takes its number 1, then another arrives.
rm "$T/b/02_LIE"
printf 'S:e\n\nx\n' >"$T/b/04_e"
mk "$T/b/05_f" f
scripted_once b
tap_is "$rc:$(subjects b)" "0:a c e f " \
    "budget: the message that took the liar's number is delivered"
tap_is "$(ls "$T/b" | tr '\n' ' ')" "" "budget: and deleted, as the others"
tap_like "$err" 'message 1, which the server once sent far larger than LIST said, is asked for with its answer cut at [0-9]+ bytes' \
    "budget: the log says it is asked for within the budget left"
scripted_once b
tap_is "$rc:$(subjects b)" "1:a c e f " "budget: nothing twice next time"
# c: the liar is still there: asked for, it lies again, and is cut within
# the budget.
first c
scripted_once c
tap_is "$rc:$(ls "$T/c" | tr '\n' ' ')" "5:02_LIE " \
    "budget: a liar still there lies again: the session is cut"
tap_like "$err" 'past what the daily budget left allows' \
    "budget: the cut names the budget"
tap_is "$(( $(budget c) <= 200000 ))" 1 \
    "budget: the downloads stay within daily_limit ($(budget c))"
scripted_once c
tap_is "$rc:$(subjects c)" "1:a c " \
    "budget: the liar is passed over next time, nothing twice"

tap_done
