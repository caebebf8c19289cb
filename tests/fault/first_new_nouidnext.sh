#!/bin/bash
# first_new_nouidnext.sh: first_fetch = new against a server whose SELECT
# gives no [UIDNEXT] (RFC 3501 allows it: "the client can not make any
# assumptions about the next unique identifier value"). The first run
# must fetch none of the mail already there (with keep = no: delete none
# of it) and take the bound from the UIDs the folder lists; mail that
# arrives later is fetched. The same holds for a named folder that was the
# trash (fetched "as first_fetch = new", db6f4d9): what keep = no moved
# there is not delivered again. Before, both fell through to a full first
# fetch (review r18, finding 09). tests/integration/folders_server.py
# with "nouidnext". TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init firstnew

# box FILE TRASH-FOLDER-FLAGS: INBOX with a, b, c; Trash and Bin empty.
box()
{
	python3 - "$1" "$2" <<'PY'
import json, sys
msg = lambda u, s: {"uid": u, "body": "Message-ID: <%s@test>\nSubject: %s\n\n%s\n" % (s, s, s)}
f = lambda fl, ms: {"delim": "/", "flags": fl, "uidvalidity": 1,
                    "uidnext": len(ms) + 1, "msgs": ms}
json.dump({"caps": "IMAP4rev1 UIDPLUS MOVE SPECIAL-USE", "nouidnext": True,
           "root": {"mode": "ok", "delim": "/"},
           "folders": {"INBOX": f([], [msg(1, "a"), msg(2, "b"), msg(3, "c")]),
                       "Bin": f(["\\HasNoChildren"], []),
                       "Trash": f(["\\HasNoChildren"] + sys.argv[2].split(), [])}},
          open(sys.argv[1], "w"))
PY
}
left() { python3 -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["folders"][sys.argv[2]]["msgs"]))' "$@"; }

# ---- first_fetch = new, keep = no --------------------------------------
box "$T/box.json" '\Trash'
scripted_folders "$T/box.json"
scripted_conf n imap 10s 'keep = no' 'first_fetch = new'
scripted_once n
tap_is "$rc:$(scripted_subjects n)" "1:" \
    "first_fetch = new without UIDNEXT: nothing fetched (exit 1)" "$err"
tap_is "$(left "$T/box.json" INBOX):$(left "$T/box.json" Trash)" "3:0" \
    "... and nothing moved or deleted on the server"
tap_unlike "$(cat "$T/server.log")" 'BODY\[\]|UID (STORE|MOVE|EXPUNGE)' \
    "... no body fetched, no server action sent"
tap_like "$err" 'only mail arriving from now on' "... the log says why"
scripted_box_add "$T/box.json" INBOX d
scripted_once n
tap_is "$rc:$(scripted_subjects n)" "0:d " "the next message is fetched"
tap_is "$(left "$T/box.json" INBOX):$(grep -E 'UID (STORE|MOVE|COPY)' "$T/server.log" | sed 's/^[^ ]* //' | tr '\n' ' ')" \
    "3:UID STORE 4 +FLAGS.SILENT (\\Seen \\Deleted) " \
    "... and only it acted on (keep = no) on the server"

# ---- a named folder that was the trash, then is not --------------------
box "$T/box2.json" '\Trash'
scripted_folders "$T/box2.json"
scripted_conf t imap 10s 'keep = no' "trash_folder = \"\\\\Trash\"" \
    'folder "INBOX" { }' 'folder "Trash" { }'
scripted_once t
tap_is "$(scripted_subjects t):$(left "$T/box2.json" Trash)" "a b c :3" \
    "keep = no: INBOX fetched and moved into Trash (refused as a folder while it is the trash)"
python3 - "$T/box2.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
b["folders"]["Trash"]["flags"] = ["\\HasNoChildren"]
b["folders"]["Bin"]["flags"] = ["\\HasNoChildren", "\\Trash"]
json.dump(b, open(sys.argv[1], "w"))
PY
scripted_once t
tap_is "$(scripted_subjects t)" "a b c " \
    "the role moves to Bin: what was moved into Trash is not delivered again" "$err"
scripted_box_add "$T/box2.json" Trash e
scripted_once t
tap_is "$(scripted_subjects t)" "a b c e " "mail that arrives in Trash later is fetched"

# ---- no UIDNEXT, and the first sizes answer leaves out the newest -------
# (review r22 05): the listing cannot bound the first fetch; nothing is
# fetched until a listing holds what the folder holds, and the newest is
# never taken for new mail (keep = no: never deleted).
for mode in new unseen; do
	MFD_PLAN='{"nouidnext": true, "omitsize": {"1": [5]}}' \
	    SCRIPTED_LOG=$T/plan-$mode.log scripted_server \
	    "$top_srcdir/tests/fault/imap_server.py" plan --bad 0 \
	    --manifest "$T/manifest-$mode" --linger 60 --seen 5
	scripted_conf o$mode imap 5s 'keep = no' "first_fetch = $mode"
	scripted_once o$mode
	tap_is "$rc:$(scripted_count o$mode)" "5:0" \
	    "$mode, the newest left out once: nothing fetched, the run says why" "$err"
	tap_like "$err" 'gives no UIDNEXT and listed 4 of the 5 messages' \
	    "$mode: ... the log names the shortfall"
	scripted_once o$mode
	scripted_once o$mode
	tap_is "$(scripted_count o$mode)" "$([ $mode = new ] && echo 0 || echo 4)" \
	    "$mode: then $([ $mode = new ] && echo nothing || echo 'the 4 unread') fetched"
	tap_unlike "$(grep -E 'UID (STORE|EXPUNGE)' "$T/plan-$mode.log")" \
	    '(STORE|EXPUNGE) ([0-9,:]*[,:])?5( |$)' \
	    "$mode: message 5, there before the first fetch, is never deleted"
done
tap_done
