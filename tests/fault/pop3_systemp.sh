#!/bin/bash
# pop3_systemp.sh: one message the POP3 server refuses with
# "-ERR [SYS/TEMP]" on every RETR (a file it cannot read, for now or for
# ever: tests/fault/pop3dir.py POP3DIR_TEMP) must not hold the others
# (review r14, finding 13):
#   - keep = yes: the messages before and after it are delivered (the
#     refusal dropped the whole batch, so nothing was ever delivered);
#     the refused one is tried again at every run, and delivered once
#     the server reads it again;
#   - keep = no, its DELE owed (a run killed at pop3-saved): its check is
#     refused, its DELE stays owed (not sent, checked again next time),
#     and the other owed DELE and new mail go on (the session ended there,
#     so new mail waited for ever); once the server reads it again, it is
#     checked and deleted, never delivered twice;
#   - a server that refuses every RETR for now gets no more than 5
#     refused RETRs in a row in a session, not one per message.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init pop3systemp

# start DIR [UIDL]: (re)starts pop3dir.py on DIR, refusing RETR of UIDL
# (a new port: scripted_conf again).
start() {
	[ -n "$spid" ] && kill "$spid" 2>/dev/null && wait "$spid" 2>/dev/null
	rm -f "$T/port"
	: >"$T/srv.log"
	POP3DIR_TEMP=${2:-} python3 "$top_srcdir/tests/fault/pop3dir.py" \
	    "$1" "$T/srv.log" >"$T/port" 2>>"$T/server.err" &
	spid=$!
	_scripted_port pop3dir.py
}

# mk FILE NAME: a small message with Subject NAME.
mk() {
	printf 'From: a@example.net\nSubject: %s\nMessage-ID: <%s@x>\n\nbody of %s\n' \
	    "$2" "$2" "$2" >"$1"
}

# subjects NAME: the subjects delivered into $T/Maildir-NAME, sorted.
subjects() {
	cat "$T/Maildir-$1"/new/* 2>/dev/null | sed -n 's/^Subject: //p' |
	    sort | tr '\n' ' '
}

# ---- keep = yes: u2 of u1..u4 unreadable ----
mkdir -p "$T/b"
for i in 1 2 3 4; do mk "$T/b/0${i}_u$i" "m$i"; done
start "$T/b" u2
scripted_conf b pop3 10s 'keep = yes'
scripted_once b
tap_is "$(subjects b)" "m1 m3 m4 " \
    "keep = yes: the messages before and after the refused one are delivered"
tap_like "$err" 'uid=2: RETR refused: \[SYS/TEMP\]' \
    "keep = yes: the refusal is logged with the message"
tap_is "$rc" 7 "keep = yes: the run says partial failure (status 7)"
scripted_once b
tap_is "$(subjects b)" "m1 m3 m4 " "keep = yes: nothing twice at the next run"
tap_is "$(grep -c '^2 RETR ' "$T/srv.log")" 1 \
    "keep = yes: the next run tries the refused one again, and only it"
start "$T/b"
scripted_conf b pop3 10s 'keep = yes'
scripted_once b
tap_is "$rc:$(subjects b)" "0:m1 m2 m3 m4 " \
    "keep = yes: once the server reads it, it is delivered"

# ---- keep = no: u1's and u2's DELEs owed, then u1 unreadable ----
mkdir -p "$T/a"
mk "$T/a/01_u1" m1
mk "$T/a/02_u2" m2
start "$T/a"
scripted_conf a pop3 10s 'keep = no'
MAILFETCHD_FAULT=pop3-saved scripted_once a
tap_is "$rc:$(subjects a)" "137:m1 m2 " "keep = no: killed with both DELEs owed"
mk "$T/a/04_u4" m4
mk "$T/a/05_u5" m5
start "$T/a" u1
scripted_conf a pop3 10s 'keep = no'
scripted_once a
tap_is "$(subjects a)" "m1 m2 m4 m5 " \
    "keep = no: the new mail is fetched despite the refused check"
tap_is "$(ls "$T/a" | tr '\n' ' ')" "01_u1 " \
    "keep = no: the other owed DELE and the new mail's are applied, not u1's"
tap_like "$err" 'uid=1: RETR refused: \[SYS/TEMP\].*its DELE stays owed' \
    "keep = no: the log says u1's DELE stays owed"
tap_like "$(sed -n 's/^pending INBOX //p' "$T/state-a/a.state")" '^u1%09' \
    "keep = no: the state keeps u1's DELE owed"
scripted_once a
tap_is "$(subjects a):$(ls "$T/a" | tr '\n' ' ')" "m1 m2 m4 m5 :01_u1 " \
    "keep = no: the next run neither fetches nor deletes u1"
start "$T/a"
scripted_conf a pop3 10s 'keep = no'
scripted_once a
tap_is "$(subjects a):$(ls "$T/a" | wc -l)" "m1 m2 m4 m5 :0" \
    "keep = no: once the server reads it, u1 is checked and deleted, not fetched again"
tap_is "$(grep -c '^pending' "$T/state-a/a.state")" 0 \
    "keep = no: nothing owed is left"

# ---- the server refuses every RETR for now ([SYS/TEMP] for all) ----
# Not one refused RETR per message of the maildrop: after a few in a row
# the session asks for no more; the next poll tries again.
mkdir -p "$T/c"
for i in 1 2 3 4 5 6 7 8 9; do mk "$T/c/0${i}_u$i" "m$i"; done
start "$T/c" '*'
scripted_conf c pop3 10s 'keep = yes'
scripted_once c
tap_is "$rc:$(scripted_count c):$(grep -c '^1 RETR ' "$T/srv.log")" "7:0:5" \
    "all refused: 5 RETRs refused in a row, then no more this session"
tap_like "$err" 'refused 5 RETRs in a row for the moment .*no more this session' \
    "all refused: the log says why it stops"
start "$T/c"
scripted_conf c pop3 10s 'keep = yes'
scripted_once c
tap_is "$rc:$(scripted_count c)" "0:9" \
    "all refused: once the server reads them, all 9 are delivered"

tap_done
