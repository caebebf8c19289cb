#!/bin/bash
# pop3_dele_refused.sh: POP3 keep = no, a server that refuses the DELE of
# one message for good ("-ERR cannot delete": tests/fault/pop3dir.py
# POP3DIR_DELEERR). The DELE stays owed (611e920), and each next session
# read the whole message again to check it before sending the DELE
# refused again: one full download per poll, for ever, with a notice
# blaming "an interrupted run" (review r24, finding 06). Now the message
# is given up after 3 refusals, with an error naming its UIDL: no more
# RETR or DELE of it, and it is not fetched again, though the server
# added "Status: RO" to it after the RETRs (POP3DIR_SIZES=status: its
# LIST size changed since its delivery).
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init pop3delerefused

scripted_pop3dir_msgs "$T/drop" 3
scripted_pop3dir "$T/drop" POP3DIR_DELEERR=u2 POP3DIR_SIZES=status
scripted_conf a pop3 10s 'keep = no'

# The RETR and DELE commands the server has received so far.
sent() {
	printf '%s:%s' "$(grep -c ' RETR ' "$T/srv.log")" \
	    "$(grep -c ' DELE ' "$T/srv.log")"
}

scripted_once a
tap_is "$rc:$(ls "$T/drop" | tr '\n' ' '):$(sent)" "7:02_u2 :3:3" \
    "run 1: 3 delivered, u2's DELE refused (partial failure)"
tap_like "$err" 'uid=2: DELE refused: cannot delete; not deleted: its DELE stays owed .*given up after 3 refusals, or 12 for the moment: 4 of 12 counted so far' \
    "run 1: the log says the DELE stays owed, and counts the refusal"
scripted_once a
tap_like "$err" 'deleting 1 delivered message\(s\) whose DELE the server refused before' \
    "run 2: the notice says the DELE was refused before"
tap_unlike "$err" 'interrupted run' "run 2: and blames no interrupted run"
tap_is "$rc:$(sent)" "7:4:4" "run 2: u2 checked, its DELE refused again"
scripted_once a
tap_is "$rc:$(sent)" "7:5:5" "run 3: u2 checked, its DELE refused a third time"
tap_like "$err" 'error: account=a uid=[0-9]+: DELE refused: cannot delete; the server refused to delete the message under UIDL "u2" too often \(3 times, or 12 for the moment\): given up, it stays on the server .*delete it there by hand' \
    "run 3: an error names the message given up"
for r in 4 5; do
	scripted_once a
	tap_is "$rc:$(sent)" "1:5:5" \
	    "run $r: nothing new, u2 neither read again nor its DELE sent"
done
tap_is "$(ls "$T/drop" | tr '\n' ' ')" "02_u2 " "u2 stays on the server"
tap_is "$(scripted_subjects a)" "m1 m2 m3 " \
    "each message delivered once (u2 not fetched again for its Status header)"
tap_done
