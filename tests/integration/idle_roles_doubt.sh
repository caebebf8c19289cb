#!/bin/bash
# idle_roles_doubt.sh: the daemon with folder '\Junk' { idle = yes } (the
# server's "Spam") and folder "Spam" { } polled (issue 15, review r11 06).
# The poll passes over "Spam" because the IDLE connection holds it, which
# it knows only from its own LIST of the special-use folders. When the
# server refuses that LIST (NO [UNAVAILABLE]), the poll fetched "Spam"
# beside the IDLE session (2 messages, 4 files), and a refused IDLE
# session said "IDLE: the folder is not on the server":
# (1) every LIST "" "*" refused: the poll does not fetch "Spam" that run
#     (an error says why), the IDLE session says the roles are not known,
#     not that the folder is missing;
# (2) the 2nd and 3rd LIST "" "*" refused (whichever session is refused,
#     the r11 race), also with the roles marked only for RETURN
#     (SPECIAL-USE): never a message twice.
# Against tests/integration/folders_server.py with threads and IDLE.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"

scripted_init idle_roles_doubt

# box SU_ONLY_RETURN REFUSE-JSON: INBOX empty, Spam (\Junk) with 2.
box()
{
	python3 - "$T/box.json" "$1" "$2" <<'PY'
import json, sys
path, only, refuse = sys.argv[1:]
msg = lambda u, s: {"uid": u, "body": "Message-ID: <%s@test>\nSubject: %s\n\n%s\n" % (s, s, s)}
box = {"caps": "IMAP4rev1 UIDPLUS MOVE SPECIAL-USE LIST-EXTENDED IDLE",
       "threads": True, "su_only_return": only == "yes",
       "refuse_list_star": json.loads(refuse),
       "root": {"mode": "ok", "delim": "/"},
       "folders": {"INBOX": {"delim": "/", "flags": [], "uidvalidity": 1, "uidnext": 1, "msgs": []},
                   "Spam": {"delim": "/", "flags": ["\\HasNoChildren", "\\Junk"],
                            "uidvalidity": 1, "uidnext": 3, "msgs": [msg(1, "s1"), msg(2, "s2")]}}}
json.dump(box, open(path, "w"))
PY
}
files()	# files delivered into $T/Maildir-$1, its folders too
{
	find "$T/Maildir-$1" -type f \( -path '*/new/*' -o -path '*/cur/*' \) |
	    wc -l
}
ids()	# the Message-IDs delivered more than once, one line
{
	find "$T/Maildir-$1" -type f \( -path '*/new/*' -o -path '*/cur/*' \) \
	    -exec grep -h '^Message-ID:' {} + | tr -d '\r' | sort | uniq -d |
	    tr '\n' ' '
}
# daemon NAME UNTIL: the daemon on $T/NAME.conf until its log matches the
# ERE UNTIL (at most 20 s), then stopped; its log in $T/NAME.log.
daemon()
{
	local i

	"$MAILFETCHD" -c "$T/$1.conf" >"$T/$1.log" 2>&1 &
	dpid=$!
	for i in $(seq 200); do
		grep -qE "$2" "$T/$1.log" && break
		sleep 0.1
	done
	sleep 1		# what follows the awaited line (a fetch) lands
	scripted_daemon_stop "$dpid"
	dpid=
	tap_unlike "$(cat "$T/$1.log")" 'runtime error:|AddressSanitizer|LeakSanitizer' \
	    "$1: no sanitizer report"
}
dpid=
tap_cleanup_add '[ -n "$dpid" ] && kill -KILL "$dpid" 2>/dev/null'
conf()	# NAME
{
	scripted_conf "$1" imap 10s 'poll_interval = 10s' \
	    'poll_interval_override = yes' "folder '\\Junk' { idle = yes }" \
	    'folder "Spam" { }'
}

# --- (1) every LIST "" "*" refused. --------------------------------------
box no "$(seq -s, 1 50 | sed 's/^/[/; s/$/]/')"
scripted_folders "$T/box.json"
conf all
daemon all 'folder "Spam": 1 folder.s. not fetched this run|folder=Spam: fetched'
log=$(cat "$T/all.log")
tap_is "$(files all)" 0 "(1) roles not known: nothing fetched from Spam"
tap_like "$log" 'error: .*folder "Spam": 1 folder.s. not fetched this run: the special-use roles are not known this session .* it may be the folder an IDLE connection holds' \
    "(1) the poll says why Spam is not fetched this run"
tap_unlike "$log" 'IDLE: the folder is not on the server' \
    "(1) the IDLE session does not call the folder missing"
tap_like "$log" 'folder "\\Junk": the LIST of the special-use folders failed' \
    "(1) the IDLE session says its role is not known"

# --- (2) the 2nd and 3rd refused (r11 06's race). -------------------------
k=0
for only in no no yes yes; do
	k=$((k + 1))
	box $only '[2, 3]'
	scripted_folders "$T/box.json"
	conf race$k
	daemon race$k 'folder=.?.?Junk.?: fetched|folder=Spam: fetched|not fetched this run'
	sleep 1
	n=$(files race$k)
	if [ "$n" -le 2 ]; then
		tap_ok "(2.$k, RETURN-only $only) at most 2 files for 2 messages ($n)"
	else
		tap_fail "(2.$k, RETURN-only $only) at most 2 files for 2 messages" \
		    "got $n: $(grep -vE debug "$T/race$k.log")"
	fi
	tap_is "$(ids race$k)" "" "(2.$k) no Message-ID twice"
done

tap_done
