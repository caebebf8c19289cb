#!/bin/bash
# nouidl_dele_refused.sh: a POP3 server without UIDL (keep = no,
# tests/fault/pop3dir.py POP3DIR_NOUIDL=1) refuses the DELE of one message
# (POP3DIR_DELEERR=u2). Nothing told the next session that message was
# delivered: every poll fetched it again, one more copy each time, for
# ever (review r24, finding 13). Now it is remembered by its content
# digest: read again (as every message without UIDLs) but not delivered
# again, its DELE sent again; deleted once the server accepts, and the
# record dropped then.
#   refused: the DELE refused at every poll; a new message of the same
#     size arriving meanwhile is delivered (another content); a server
#     adding "Status: RO" after each RETR (POP3DIR_SIZES=status) changes
#     nothing.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init nouidldelerefused

scripted_pop3dir_msgs "$T/drop" 3
scripted_pop3dir "$T/drop" POP3DIR_NOUIDL=1 POP3DIR_DELEERR=u2 \
    POP3DIR_SIZES=status
scripted_conf a pop3 10s 'keep = no'
scripted_once a
tap_is "$rc:$(scripted_count a):$(ls "$T/drop" | tr '\n' ' ')" "7:3:02_u2 " \
    "run 1: 3 delivered, u2's DELE refused (partial failure)"
tap_like "$err" 'uid=2: DELE refused: cannot delete; not deleted: without UIDLs it is remembered by its content, read again at every poll but not delivered again' \
    "run 1: the log says it will not be delivered again"
for r in 2 3; do
	scripted_once a
	tap_is "$rc:$(scripted_count a):$(ls "$T/drop" | tr '\n' ' ')" \
	    "7:3:02_u2 " "run $r: u2 read, not delivered again, its DELE refused again"
	tap_like "$err" 'uid=1: delivered before, when the server refused its DELE .*not delivered again; its DELE is sent again' \
	    "run $r: the log says so"
done
# m4: the same size as u2 (m2), another content: a new message.
printf 'From: a@example.net\nSubject: m4\n\nbody 4\n' >"$T/drop/04_u4"
scripted_once a
tap_is "$rc:$(scripted_subjects a):$(ls "$T/drop" | tr '\n' ' ')" \
    "7:m1 m2 m3 m4 :02_u2 " \
    "run 4: m4, of u2's size, delivered; u2 not again"
# The server accepts the DELE now: deleted, and the record goes.
scripted_pop3dir "$T/drop" POP3DIR_NOUIDL=1 POP3DIR_SIZES=status
scripted_conf a pop3 10s 'keep = no'
scripted_once a
tap_is "$rc:$(scripted_count a):$(ls "$T/drop" | wc -l)" "1:4:0" \
    "run 5: u2's DELE accepted, nothing delivered again"
tap_is "$(grep -c '^pending INBOX ' "$T/state-a/a.state")" 0 \
    "run 5: the record of the refused DELE is dropped"
printf 'From: a@example.net\nSubject: m2\n\nbody 2\n' >"$T/drop/05_u5"
scripted_once a
tap_is "$rc:$(scripted_subjects a)" "0:m1 m2 m2 m3 m4 " \
    "run 6: a copy of m2 arriving later is a new message, delivered"
tap_done
