#!/bin/bash
# pop3_dele_temp.sh: keep = no, a server that refuses one message's DELE
# "for the moment" at every session (-ERR [SYS/TEMP] message locked,
# tests/fault/pop3dir.py POP3DIR_DELEERRTEXT). Such refusals were not
# counted: the message was downloaded whole again (the check before its
# DELE) at every poll, for ever, and the warning said "refused 0 time(s)
# of 3" (review r27 09). Now they count, with more patience: given up
# after 12 (one for good counts as 4), then not read again.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init pop3deletemp

scripted_pop3dir_msgs "$T/drop" 3
scripted_pop3dir "$T/drop" POP3DIR_DELEERR=u2 \
    POP3DIR_DELEERRTEXT='[SYS/TEMP] message locked'
scripted_conf a pop3 10s 'keep = no'
scripted_once a
tap_like "$err" 'uid=2: DELE refused for the moment: \[SYS/TEMP\] message locked; not deleted: its DELE stays owed .*given up after 3 refusals, or 12 for the moment: 1 of 12 counted so far' \
    "run 1: the warning counts the refusal for the moment"
for r in $(seq 2 12); do
	scripted_once a
done
tap_like "$err" 'the server refused to delete the message under UIDL "u2" too often \(3 times, or 12 for the moment\): given up' \
    "run 12: given up, with an error"
scripted_once a
tap_is "$(grep -c '^13 RETR' "$T/srv.log")" 0 \
    "run 13: u2 not downloaded again"
tap_is "$(scripted_subjects a):$(ls "$T/drop" | tr '\n' ' ')" "m1 m2 m3 :02_u2 " \
    "each message delivered once, u2 left on the server"
tap_done
