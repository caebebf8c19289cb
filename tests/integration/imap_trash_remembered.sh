#!/bin/bash
# imap_trash_remembered.sh: "a folder pattern never fetches the trash
# folder" also when the server does not say this run which folder it is
# (issue 15, review r11 01). keep = no moves delivered mail into the
# trash; a pattern passing over it only by this session's roles fetched
# everything earlier runs moved there (every message delivered twice):
# (a) the roles LIST "" "*" refused once (NO [UNAVAILABLE]);
# (b) the \Trash role moved to another folder ("Bin");
# (c) only the RETURN (SPECIAL-USE) form refused for now: not retried as
#     a plain LIST (on this server it marks no roles: "no \Trash" would
#     be taken for known);
# (d) Gmail (X-GM-EXT-1), the default trash, its role moved;
# (e) a folder named "Trash": after the role moved, only what arrives
#     later is fetched from it;
# r11 12: on a case-insensitive server, the trash_folder spelled in
#     another case than the server lists it: not fetched back.
# Each: 2 messages, 2 files over 3 runs; the trash is remembered in the
# account's state ("trashed" record); with the roles not known, a
# pattern's folders but INBOX are not fetched that run (error, exit 7).
# Against the scripted tests/integration/folders_server.py. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"

scripted_init trash_remembered

# box CAPS: INBOX with 2 messages, Trash (\Trash, marked only for LIST
# ... RETURN (SPECIAL-USE)), Bin (no role yet).
box()
{
	python3 - "$T/box.json" "$1" <<'PY'
import json, sys
path, caps = sys.argv[1:]
msg = lambda u, s: {"uid": u, "gmid": u, "body": "Message-ID: <%s@test>\nSubject: %s\n\n%s\n" % (s, s, s)}
f = lambda fl: {"delim": "/", "flags": fl, "uidvalidity": 1, "uidnext": 1, "msgs": []}
box = {"caps": caps, "su_only_return": True, "root": {"mode": "ok", "delim": "/"},
       "folders": {"INBOX": {"delim": "/", "flags": [], "uidvalidity": 1,
                             "uidnext": 3, "msgs": [msg(1, "a"), msg(2, "b")]},
                   "Bin": f(["\\HasNoChildren"]),
                   "Trash": f(["\\HasNoChildren", "\\Trash"])}}
json.dump(box, open(path, "w"))
PY
}
# set KEY JSON: changes the box ("-" as JSON removes KEY).
set_box()
{
	python3 - "$T/box.json" "$1" "$2" <<'PY'
import json, sys
path, k, v = sys.argv[1:]
b = json.load(open(path))
if v == "-": b.pop(k, None)
else: b[k] = json.loads(v)
json.dump(b, open(path, "w"))
PY
}
move_role()	# the \Trash role from Trash to Bin
{
	python3 - "$T/box.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1])); f = b["folders"]
f["Trash"]["flags"] = ["\\HasNoChildren"]
f["Bin"]["flags"] = ["\\HasNoChildren", "\\Trash"]
json.dump(b, open(sys.argv[1], "w"))
PY
}
files()	# files delivered into $T/Maildir-$1, its folders too
{
	find "$T/Maildir-$1" -type f \( -path '*/new/*' -o -path '*/cur/*' \) |
	    wc -l
}
n()	# messages the server holds in folder $1
{
	python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["folders"][sys.argv[2]]["msgs"]))' "$T/box.json" "$1"
}

SU="IMAP4rev1 UIDPLUS MOVE SPECIAL-USE LIST-EXTENDED"
for v in a b c d; do
	caps=$SU trash="trash_folder = '\\Trash'" pat='%'
	case $v in
	b) pat='*' ;;
	d) caps="$SU X-GM-EXT-1" trash='' pat='*' ;;
	esac
	box "$caps"
	scripted_folders "$T/box.json"
	scripted_conf $v imap 10s 'keep = no' "$trash" "folder \"$pat\" { }"
	scripted_once $v
	tap_is "$rc $(n INBOX) $(n Trash) $(files $v)" "0 0 2 2" \
	    "($v) run 1: INBOX moved into Trash, 2 delivered"
	tap_like "$(cat "$T/state-$v/$v.state")" 'trashed Trash' \
	    "($v) the state remembers Trash as a trash folder"
	case $v in
	a) set_box list_all '"NO [UNAVAILABLE] try again later"' ;;
	b|d) move_role ;;
	c) set_box list_return '"NO [UNAVAILABLE] try again later"' ;;
	esac
	scripted_once $v
	tap_is "$(files $v)" 2 \
	    "($v) run 2: nothing fetched from Trash, nothing twice"
	tap_is "$(n Trash)" 2 "($v) run 2: Trash untouched"
	case $v in
	a|c)
		tap_is "$rc" 7 "($v) run 2: exit 7 (folders not fetched)"
		tap_like "$err" 'LIST of the special-use folders refused: \[UNAVAILABLE\]' \
		    "($v) run 2: the refusal is logged, roles not known"
		tap_like "$err" 'error: .*folder "%": 2 folder.s. not fetched this run: the special-use roles are not known' \
		    "($v) run 2: the pattern's folders but INBOX are not fetched this run"
		set_box list_all -
		set_box list_return -
		;;
	b|d)
		tap_like "$err" 'pattern "\*": not fetching Trash \(mailfetchd moved delivered messages there as the trash\)' \
		    "($v) run 2: the log says why Trash is passed over"
		out=$("$MAILFETCHD" -c "$T/$v.conf" --diagnose 2>&1)
		tap_like "$out" 'folder pattern "\*": matches 1: "INBOX"$' \
		    "($v) --diagnose: the pattern matches INBOX only" "$out"
		tap_like "$out" 'note: 1 more folder mailfetchd moved delivered mail into as the trash not fetched' \
		    "($v) --diagnose says why Trash is not matched"
		;;
	esac
	scripted_once $v
	tap_is "$(files $v) $(n Trash)" "2 2" \
	    "($v) run 3: still 2 delivered, Trash untouched"
done

# --- (e) a folder named "Trash", refused while it is the trash; after
# the role moved to "Bin" it is fetched, but only what arrives from then
# on (what run 1 moved there was delivered already). ------------------
box "$SU"
scripted_folders "$T/box.json"
scripted_conf e imap 10s 'keep = no' "trash_folder = '\\Trash'" \
    'folder "INBOX" { }' 'folder "Trash" { }'
scripted_once e
tap_is "$rc $(n Trash) $(files e)" "7 2 2" \
    "(e) run 1: Trash named is refused (the trash); INBOX moved into it"
move_role
scripted_once e
tap_is "$(files e) $(n Trash)" "2 2" \
    "(e) run 2: Trash, no longer the trash, is not fetched back"
tap_like "$err" 'folder=Trash: first run: only mail arriving from now on .*as mailfetchd moved delivered mail into this folder as the trash' \
    "(e) run 2: the log says why"
set_box folders "$(python3 -c 'import json,sys; b=json.load(open(sys.argv[1]))["folders"]; t=b["Trash"]; t["msgs"].append({"uid": t["uidnext"], "body": "Message-ID: <c@test>\nSubject: c\n\nc\n"}); t["uidnext"] += 1; print(json.dumps(b))' "$T/box.json")"
scripted_once e
tap_is "$(files e) $(n Trash) $(n Bin)" "3 2 1" \
    "(e) run 3: what arrives in Trash later is fetched (and moved to Bin), the rest left"

# --- r11 12: a case-insensitive server (Exchange-like: "deleted items" is
# "Deleted Items"), trash_folder = "deleted items": the trash is not
# fetched back, named (refused) or by a pattern (passed over). --------
for v in named pattern; do
	python3 - "$T/box.json" <<'PY'
import json, sys
msg = lambda u, s: {"uid": u, "body": "Message-ID: <%s@test>\nSubject: %s\n\n%s\n" % (s, s, s)}
json.dump({"caps": "IMAP4rev1 UIDPLUS MOVE", "ci": True, "root": {"mode": "ok", "delim": "/"},
           "folders": {"INBOX": {"delim": "/", "flags": [], "uidvalidity": 1, "uidnext": 3,
                                 "msgs": [msg(1, "a"), msg(2, "b")]},
                       "Deleted Items": {"delim": "/", "flags": ["\\HasNoChildren"],
                                         "uidvalidity": 1, "uidnext": 1, "msgs": []}}},
          open(sys.argv[1], "w"))
PY
	scripted_folders "$T/box.json"
	if [ $v = named ]; then
		f1='folder "INBOX" { }' f2='folder "Deleted Items" { }'
	else
		f1='folder "*" { }' f2=
	fi
	scripted_conf ci$v imap 10s 'keep = no' 'trash_folder = "deleted items"' \
	    "$f1" "$f2"
	for i in 1 2 3; do
		scripted_once ci$v
		[ $i = 1 ] && out1=$err
	done
	tap_is "$(files ci$v) $(n INBOX) $(n 'Deleted Items')" "2 0 2" \
	    "(12 $v) 2 files over 3 runs; INBOX moved to Deleted Items"
	if [ $v = named ]; then
		tap_like "$out1" 'error: .*folder "Deleted Items" is the trash_folder "deleted items"' \
		    "(12 $v) naming the trash in another case is refused, naming both"
	else
		tap_like "$out1" 'pattern "\*": not fetching Deleted Items' \
		    "(12 $v) the pattern passes over it"
	fi
done

tap_done
