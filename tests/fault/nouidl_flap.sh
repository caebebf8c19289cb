#!/bin/bash
# nouidl_flap.sh: a POP3 server without UIDL (keep = no) and a message
# whose RETR answer runs far past its LIST size (a liar), listed as 10
# octets in one session and 11 in the next (tests/fault/pop3dir.py
# POP3DIR_LIEFLAP). The record of the liar, by number and size, must
# still know it: the session after a cut passes it over and the others
# are delivered, not cut by it on every run, nothing ever delivered
# (review r19, finding 15). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init nouidlflap

mkdir -p "$T/drop"
printf 'From: a@example.net\nSubject: r1\n\nreal 1\n' >"$T/drop/01_a"
python3 -c 'import sys; sys.stdout.write("Subject: liar\n\n" +
    "".join("%079d\n" % i for i in range(20000)))' >"$T/drop/02_LIE"
printf 'From: a@example.net\nSubject: r3\n\nreal 3\n' >"$T/drop/03_c"
scripted_pop3dir "$T/drop" POP3DIR_NOUIDL=1 POP3DIR_LIEFLAP=1
scripted_conf a pop3 10s 'keep = no'

scripted_once a
tap_is "$rc:$(scripted_count a)" "5:0" "the liar (listed 10) cuts the first session"
scripted_once a
tap_like "$err" 'message 2 \(10 bytes\) is passed over this time' \
    "the next session (listed 11) knows it and passes it over"
tap_is "$rc:$(scripted_count a)" "0:2" "and delivers the two others"
tap_is "$(ls "$T/drop" | tr '\n' ' ')" "02_LIE " \
    "the others are deleted, the liar stays on the server"
scripted_once a
scripted_once a
tap_is "$(scripted_count a)" 2 "nothing twice in the runs after"

tap_done
