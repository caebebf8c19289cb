#!/bin/bash
# idle_trash_stale.sh: the daemon, keep = no with trash_folder = '\Trash',
# INBOX held with IDLE and folder "*" polled (issue 15, review r11 13).
# The user gives the \Trash role to another folder ("Bin": a webmail
# setting, no restart). The IDLE session resolved the trash when it
# connected and moved every later message into the old "Trash" for as
# long as the connection lived; the polls then fetched them back from
# there. Now a poll that finds the role on "Bin" makes it the account's
# trash, the IDLE session reconnects before its next round, and new mail
# goes to "Bin"; nothing is delivered twice. Against
# tests/integration/folders_server.py with threads and IDLE. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"

scripted_init idle_trash_stale

python3 - "$T/box.json" <<'PY'
import json, sys
msg = lambda u, s: {"uid": u, "body": "Message-ID: <%s@test>\nSubject: %s\n\n%s\n" % (s, s, s)}
f = lambda fl: {"delim": "/", "flags": fl, "uidvalidity": 1, "uidnext": 1, "msgs": []}
json.dump({"caps": "IMAP4rev1 UIDPLUS MOVE SPECIAL-USE LIST-EXTENDED IDLE",
           "threads": True, "root": {"mode": "ok", "delim": "/"},
           "folders": {"INBOX": {"delim": "/", "flags": [], "uidvalidity": 1,
                                 "uidnext": 2, "msgs": [msg(1, "m1")]},
                       "Bin": f(["\\HasNoChildren"]),
                       "Trash": f(["\\HasNoChildren", "\\Trash"])}},
          open(sys.argv[1], "w"))
PY
# edit PYTHON: runs PYTHON on the box as b (its folders as f).
edit()
{
	python3 - "$T/box.json" "$1" <<'PY'
import json, sys
b = json.load(open(sys.argv[1])); f = b["folders"]
exec(sys.argv[2])
json.dump(b, open(sys.argv[1], "w"))
PY
}
n()	# messages the server holds in folder $1
{
	python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["folders"][sys.argv[2]]["msgs"]))' "$T/box.json" "$1"
}
files()	# files delivered, all local folders
{
	find "$T/Maildir-d" -type f \( -path '*/new/*' -o -path '*/cur/*' \) |
	    wc -l
}
# wait_for ERE: until the daemon's log matches (at most 30 s); 0 if so.
wait_for()
{
	local i

	for i in $(seq 300); do
		grep -qE "$1" "$T/d.log" && return 0
		sleep 0.1
	done
	return 1
}

scripted_folders "$T/box.json"
scripted_conf d imap 10s 'keep = no' "trash_folder = '\\Trash'" \
    'poll_interval = 10s' 'poll_interval_override = yes' \
    'folder "INBOX" { idle = yes }' 'folder "*" { }'
"$MAILFETCHD" -c "$T/d.conf" >"$T/d.log" 2>&1 &
dpid=$!
tap_cleanup_add '[ -n "$dpid" ] && kill -KILL "$dpid" 2>/dev/null'

wait_for 'folder=INBOX: fetched 1 message'
tap_is "$(n INBOX) $(n Trash) $(files)" "0 1 1" \
    "m1 delivered by the IDLE session, moved into Trash"
edit 'f["Trash"]["flags"] = ["\\HasNoChildren"]; f["Bin"]["flags"] = ["\\HasNoChildren", "\\Trash"]'
wait_for 'account=d: trash_folder "\\Trash" is the server.s "Bin"'
tap_is $? 0 "a poll finds the \\Trash role on Bin"
edit 'f["INBOX"]["msgs"].append({"uid": 2, "body": "Message-ID: <m2@test>\nSubject: m2\n\nm2\n"}); f["INBOX"]["uidnext"] = 3'
for i in $(seq 100); do
	[ "$(n INBOX)" = 0 ] && break
	sleep 0.1
done
sleep 12	# a poll after the move, which must not fetch either trash
scripted_daemon_stop "$dpid"
dpid=
log=$(cat "$T/d.log")
tap_is "$(n INBOX) $(n Trash) $(n Bin)" "0 1 1" \
    "m2 moved into Bin, the new trash, not the old one"
tap_like "$log" 'notice: .*folder=INBOX: keep = no: the trash is now "Bin" .*reconnecting' \
    "the IDLE session says why it reconnects"
tap_is "$(files)" 2 "2 messages, 2 files: nothing fetched back from a trash"
tap_unlike "$log" 'runtime error:|AddressSanitizer|LeakSanitizer' \
    "no sanitizer report"

tap_done
