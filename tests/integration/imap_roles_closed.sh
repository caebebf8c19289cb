#!/bin/bash
# imap_roles_closed.sh: the special-use roles fail closed where the server
# leaves doubt (issue 15, review r11). Against the scripted
# tests/integration/folders_server.py, keep = no with
# trash_folder = '\Trash':
# 07: a \Trash folder in another namespace is never the trash, also when
#     that namespace was left out of the NAMESPACE answer (the 17th, one
#     of 2000) or its prefix is spelled in another case; the user's own
#     top-level Trash still is;
# 09: a NAMESPACE answer too long or malformed is passed over with a
#     warning and the session goes on (INBOX fetched), the roles then only
#     from top-level folders.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"

scripted_init roles_closed

# box NAMESPACE PUBLIC [OWN]: INBOX with 2 messages, the \Trash folder
# PUBLIC (in another namespace, listed first), and the user's own \Trash
# folder OWN if given; NAMESPACE announced and answered so.
box()
{
	python3 - "$T/box.json" "$@" <<'PY'
import json, sys
path, ns, pub = sys.argv[1:4]
msg = lambda u, s: {"uid": u, "body": "Message-ID: <%s@test>\nSubject: %s\n\n%s\n" % (s, s, s)}
trash = lambda: {"delim": "/", "flags": ["\\Trash"], "uidvalidity": 1, "uidnext": 1, "msgs": []}
box = {"caps": "IMAP4rev1 UIDPLUS MOVE SPECIAL-USE NAMESPACE",
       "namespace": ns, "root": {"mode": "ok", "delim": "/"},
       "folders": {pub: trash(),
                   "INBOX": {"delim": "/", "flags": [], "uidvalidity": 1,
                             "uidnext": 3, "msgs": [msg(1, "a"), msg(2, "b")]}}}
if len(sys.argv) > 4:
    box["folders"][sys.argv[4]] = trash()
json.dump(box, open(path, "w"))
PY
}
# n FOLDER: messages the server holds in FOLDER.
n()
{
	python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["folders"][sys.argv[2]]["msgs"]))' "$T/box.json" "$1"
}

# --- 07: namespaces left out, or a prefix in another case. ---------------
many=""; for i in $(seq 1 15); do many="$many(\"Other$i/\" \"/\")"; done
big=""; for i in $(seq 1 2000); do big="$big(\"x$i/\" \"/\")"; done
k=0
while IFS='|' read -r what ns; do
	k=$((k + 1))
	box "$ns" Public/Trash
	scripted_folders "$T/box.json"
	scripted_conf ns$k imap 10s 'keep = no' "trash_folder = '\\Trash'"
	scripted_once ns$k
	tap_is "$(n Public/Trash) $(n INBOX)" "0 2" \
	    "07 $what: nothing moved into the public Public/Trash"
	tap_like "$err" 'trash_folder "\\Trash": the server has no folder with this special-use role' \
	    "07 $what: the log says why the mail stays"
	[ $k = 3 ] || tap_like "$err" 'namespaces left out.*only from top-level folders' \
	    "07 $what: the log says the namespaces are not all known"
	# The user's own (top-level) Trash is still the trash.
	box "$ns" Public/Trash Trash
	scripted_folders "$T/box.json"
	scripted_conf ns$k-own imap 10s 'keep = no' "trash_folder = '\\Trash'"
	scripted_once ns$k-own
	tap_is "$rc $(n Public/Trash) $(n Trash) $(n INBOX)" "0 0 2 0" \
	    "07 $what: the user's own Trash is used"
	tap_is "$(scripted_count ns$k-own)" 2 "07 $what: both delivered"
done <<EOF
the public namespace is the 17th|(("" "/")) ($many) (("Public/" "/"))
2000 namespaces, the public one last|(("" "/")) ($big) (("Public/" "/"))
the public prefix in another case|(("" "/")) NIL (("public/" "/"))
EOF

# --- 09: a NAMESPACE answer that cannot be read. -------------------------
huge=""; for i in $(seq 1 5000); do huge="$huge(\"x$i/\" \"/\")"; done
k=0
while IFS='|' read -r what ns; do
	k=$((k + 1))
	box "$ns" Public/Trash Trash
	scripted_folders "$T/box.json"
	scripted_conf bad$k imap 10s 'keep = no' "trash_folder = '\\Trash'"
	scripted_once bad$k
	tap_is "$rc" 0 "09 $what: exit status 0"
	[ "$rc" = 0 ] || tap_diag "$err"
	tap_is "$(scripted_count bad$k)" 2 "09 $what: INBOX fetched"
	tap_is "$(n Public/Trash) $(n Trash) $(n INBOX)" "0 2 0" \
	    "09 $what: moved into the top-level Trash only"
	tap_like "$err" 'warning: .*NAMESPACE answer passed over' \
	    "09 $what: a warning says the answer was passed over"
done <<EOF
an answer over 64 KB|(("" "/")) (${huge}) (("Public/" "/"))
a malformed answer|(("" "/") ((("x
EOF

tap_done
