#!/bin/bash
# trash_roundtrip.sh: keep = no, a folder fetched by name ("Bin", its
# first fetch done) becomes the trash (the server gives it the \Trash
# role, or trash_folder is edited to name it): it is refused, and INBOX's
# new message c is moved into it. Once it stops being the trash, it is
# fetched only for the mail that arrives in it from then on
# (mailfetchd.conf(5), trash_folder): c, delivered from INBOX, is not
# delivered again from Bin; mail that arrives in Bin later is. Before, Bin
# was fetched from its old last_uid and c delivered twice (review r18,
# finding 04). With and without UIDNEXT in SELECT; the role moved and the
# configuration edited. Mail that arrived in Bin before it became the
# trash (m) is fetched all the same: its UIDNEXT then (STATUS) bounds what
# may have been moved there; before, m was never delivered (review r24,
# finding 03); without that UIDNEXT, c comes twice rather than m never.
# tests/integration/folders_server.py. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init trashrt

# box FILE NOUIDNEXT: INBOX a, b; Bin x; Trash (the \Trash role) empty.
box()
{
	python3 - "$1" "$2" <<'PY'
import json, sys
msg = lambda u, s: {"uid": u, "body": "Message-ID: <%s@test>\nSubject: %s\n\n%s\n" % (s, s, s)}
f = lambda fl, ms: {"delim": "/", "flags": fl, "uidvalidity": 1,
                    "uidnext": len(ms) + 1, "msgs": ms}
json.dump({"caps": "IMAP4rev1 UIDPLUS MOVE SPECIAL-USE", "nouidnext": sys.argv[2] == "1",
           "root": {"mode": "ok", "delim": "/"},
           "folders": {"INBOX": f([], [msg(1, "a"), msg(2, "b")]),
                       "Bin": f(["\\HasNoChildren"], [msg(1, "x")]),
                       "Trash": f(["\\HasNoChildren", "\\Trash"], [])}},
          open(sys.argv[1], "w"))
PY
}
# role FILE FROM TO: the \Trash role moves from folder FROM to TO.
role()
{
	python3 - "$@" <<'PY'
import json, sys
b = json.load(open(sys.argv[1])); f = b["folders"]
f[sys.argv[2]]["flags"] = ["\\HasNoChildren"]
f[sys.argv[3]]["flags"] = ["\\HasNoChildren", "\\Trash"]
json.dump(b, open(sys.argv[1], "w"))
PY
}
# held FILE FOLDER: the subjects FOLDER holds on the server.
held()
{
	python3 -c 'import json, sys; print(" ".join(m["body"].split("Subject: ")[1][0] for m in json.load(open(sys.argv[1]))["folders"][sys.argv[2]]["msgs"]))' "$@"
}

# conf NAME TRASH-FOLDER: keep = no, INBOX and Bin named.
conf()
{
	scripted_conf "$1" imap 10s 'keep = no' "trash_folder = \"$2\"" \
	    'folder "INBOX" { }' 'folder "Bin" { }'
}
# trash_is NAME HOW FOLDER: FOLDER becomes the trash, by the \Trash role
# (HOW "role", from the other of Trash and Bin) or trash_folder ("conf").
trash_is()
{
	if [ "$2" = conf ]; then
		conf "$1" "$([ "$3" = Trash ] && echo '\\Trash' || echo "$3")"
	elif [ "$3" = Bin ]; then
		role "$T/$1.json" Trash Bin
	else
		role "$T/$1.json" Bin Trash
	fi
}
# roundtrip NAME NOUIDNEXT HOW: HOW "role" moves the \Trash role to Bin
# and back; "conf" edits trash_folder to "Bin" and back.
roundtrip()
{
	local n=$1 what="$1"

	box "$T/$n.json" "$2"
	scripted_folders "$T/$n.json"
	conf "$n" '\\Trash'
	scripted_once "$n"
	tap_is "$rc:$(scripted_subjects "$n")" "0:a b x " "$what: run 1 fetches INBOX and Bin" "$err"
	scripted_box_add "$T/$n.json" INBOX c
	trash_is "$n" "$3" Bin
	scripted_once "$n"
	tap_is "$(scripted_subjects "$n"):$(held "$T/$n.json" Bin)" "a b c x :c" \
	    "$what: Bin is the trash: refused, c delivered and moved there" "$err"
	trash_is "$n" "$3" Trash
	scripted_once "$n"
	tap_is "$(scripted_subjects "$n")" "a b c x " \
	    "$what: Bin is no longer the trash: c not delivered again" "$err"
	tap_like "$err" 'was the trash since it was last fetched' \
	    "$what: ... the log says why"
	scripted_box_add "$T/$n.json" Bin y
	scripted_once "$n"
	tap_is "$rc:$(scripted_subjects "$n")" "0:a b c x y " \
	    "$what: mail that arrives in Bin later is fetched" "$err"
	scripted_once "$n"
	tap_is "$rc:$(scripted_subjects "$n")" "1:a b c x y " "$what: then nothing new"
}

roundtrip role 0 role
roundtrip nouidnext 1 role
roundtrip conf 0 conf

# before NAME HOW STATUS: Bin (fetched by name) gets a genuine new message
# m while it is still an ordinary folder; then it becomes the trash (HOW
# as in roundtrip) and INBOX's new c is moved there, then it is no longer
# the trash. STATUS "no": the server refuses STATUS (Bin's UIDNEXT when it
# became the trash is not known).
before()
{
	local n=$1 what="$1" want how

	box "$T/$n.json" 0
	[ "$3" = no ] && python3 - "$T/$n.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1])); b["status_no"] = "not now"
json.dump(b, open(sys.argv[1], "w"))
PY
	scripted_folders "$T/$n.json"
	conf "$n" '\\Trash'
	scripted_once "$n"
	scripted_box_add "$T/$n.json" Bin m
	scripted_box_add "$T/$n.json" INBOX c
	trash_is "$n" "$2" Bin
	scripted_once "$n"
	tap_is "$(scripted_subjects "$n"):$(held "$T/$n.json" Bin)" "a b c x :m c" \
	    "$what: Bin is the trash: refused, c delivered and moved there" "$err"
	if [ "$3" = no ]; then
		tap_like "$err" 'a duplicate rather than a loss' \
		    "$what: ... the log says c may come twice"
		want="a b c c m x " how="again (its bound unknown)"
	else
		tap_like "$err" \
		    'trash "Bin" was fetched as a folder before: UIDs 2 to 2, there' \
		    "$what: ... the log says m is still owed"
		want="a b c m x " how="not again"
	fi
	trash_is "$n" "$2" Trash
	scripted_once "$n"
	tap_is "$rc:$(scripted_subjects "$n")" "0:$want" \
	    "$what: Bin no longer the trash: m, there before, delivered; c $how" \
	    "$err"
	scripted_once "$n"
	tap_is "$rc" 1 "$what: then nothing new" "$err"
}

before before_role role yes
before before_conf conf yes
before before_nostatus role no

# A first fetch (first_fetch = unseen) of Bin not through when it becomes
# the trash: the unread message w it still owes (UID 2, under its bound)
# is fetched once Bin is no longer the trash, not passed over with what
# was moved there (c: then delivered twice, a duplicate rather than a
# loss). The unfinished first fetch is written into the state of run 1.
box "$T/u.json" 0
scripted_folders "$T/u.json"
conf u '\\Trash'
scripted_once u
scripted_box_add "$T/u.json" Bin w
python3 - "$T/state-u/u.state" <<'PY'
import hashlib, sys
body = [l for l in open(sys.argv[1]).read().splitlines()
        if not l.startswith("end ")] + ["first_fetch Bin unseen 2"]
out = "".join(l + "\n" for l in body)
out += "end %d %s\n" % (len(body) - 1, hashlib.sha256(out.encode()).hexdigest())
open(sys.argv[1], "w").write(out)
PY
scripted_box_add "$T/u.json" INBOX c
trash_is u role Bin
scripted_once u
tap_is "$(scripted_subjects u):$(held "$T/u.json" Bin)" "a b c x :w c" \
    "unseen first fetch not through: Bin is the trash, c moved there" "$err"
trash_is u role Trash
scripted_once u
tap_like "$(scripted_subjects u)" '^a b c .*w x $' \
    "... Bin no longer the trash: the unread w it owed is fetched" "$err"
# late HOW: review r26 02. c is moved into Bin while it is the trash;
# then Bin is no longer the trash, and the session that finds so is
# killed (kill -9 at imap-journaled, delivering INBOX's d) before it
# reaches Bin; a genuine m then arrives in Bin. Bin's bound is the one
# recorded after c was moved there (its STATUS), not its next SELECT's
# UIDNEXT: m is delivered, c not again. Before, m was passed over for
# good.
late()
{
	local n=late$1

	box "$T/$n.json" 0
	scripted_folders "$T/$n.json"
	conf "$n" '\\Trash'
	scripted_once "$n"
	scripted_box_add "$T/$n.json" INBOX c
	trash_is "$n" "$1" Bin
	scripted_once "$n"
	trash_is "$n" "$1" Trash
	scripted_box_add "$T/$n.json" INBOX d
	MAILFETCHD_FAULT=imap-journaled scripted_once "$n"
	tap_is "$rc:$(scripted_subjects "$n")" "137:a b c x " \
	    "$n: killed delivering d, before Bin" "$err"
	scripted_box_add "$T/$n.json" Bin m
	scripted_once "$n"
	tap_is "$rc:$(scripted_subjects "$n")" "0:a b c d m x " \
	    "$n: m, arrived in Bin after it stopped being the trash, delivered; c not again" \
	    "$err"
}

late role
late conf

# review r26 09: while Bin becomes the trash, its STATUS answers a wrong
# UIDNEXT (4000000000; SELECT and the UIDs stay honest). Once it is no
# longer the trash, its SELECT's UIDNEXT bounds that: y and z, arriving
# later, are delivered (c may come again: a duplicate, said). Before,
# last_uid stayed at 3999999999 and all later mail was passed over.
box "$T/lie.json" 0
scripted_folders "$T/lie.json"
conf lie '\\Trash'
scripted_once lie
scripted_box_add "$T/lie.json" INBOX c
trash_is lie role Bin
setnext() { python3 - "$T/lie.json" "$1" <<'PY'
import json, sys
b = json.load(open(sys.argv[1])); f = b["folders"]["Bin"]
if sys.argv[2] == "honest": f.pop("status_uidnext", None)
else: f["status_uidnext"] = int(sys.argv[2])
json.dump(b, open(sys.argv[1], "w"))
PY
}
setnext 4000000000
scripted_once lie
setnext honest
trash_is lie role Trash
scripted_once lie
tap_like "$err" 'above its UIDNEXT now \(3\): a wrong STATUS answer' \
    "lie: the wrong STATUS bound is noticed at Bin's SELECT"
scripted_box_add "$T/lie.json" Bin y
scripted_once lie
scripted_box_add "$T/lie.json" Bin z
scripted_once lie
tap_like "$(scripted_subjects lie)" '^a b c .*x y z $' \
    "lie: y and z, arriving in Bin later, are delivered" "$err"

# review r26 16: a case-insensitive server (Exchange-like, "ci"),
# trash_folder edited to "bin" for the fetched Bin (the manual: a name
# differing only in ASCII case counts as the trash folder too). m arrives
# in Bin before, c in INBOX and is moved there. Bin's record is found in
# any case, so it is marked: m delivered, c not again. Before, the record
# was looked up by the exact name: no mark, c delivered twice, silently.
box "$T/ci.json" 0
python3 - "$T/ci.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1])); b["ci"] = True
json.dump(b, open(sys.argv[1], "w"))
PY
scripted_folders "$T/ci.json"
conf ci '\\Trash'
scripted_once ci
scripted_box_add "$T/ci.json" Bin m
scripted_box_add "$T/ci.json" INBOX c
conf ci bin
scripted_once ci
tap_is "$(scripted_subjects ci):$(held "$T/ci.json" Bin)" "a b c x :m c" \
    "ci: trash_folder \"bin\": Bin refused, c moved there" "$err"
conf ci '\\Trash'
scripted_once ci
tap_is "$rc:$(scripted_subjects ci)" "0:a b c m x " \
    "ci: Bin no longer the trash: m delivered, c not again" "$err"

# review r26 12: keep = no, folders fetched by the pattern "*". m arrives
# in Bin, c in INBOX; Bin becomes the trash (the log says m is fetched
# once it is no longer the trash), c is moved there; then it is no
# longer the trash. The pattern fetches what Bin owes, once: m, not c.
# Before, a pattern never fetched a former trash: m never delivered.
box "$T/pat.json" 0
scripted_folders "$T/pat.json"
scripted_conf pat imap 10s 'keep = no' 'trash_folder = "\\Trash"' \
    'folder "*" { }'
scripted_once pat
scripted_box_add "$T/pat.json" Bin m
scripted_box_add "$T/pat.json" INBOX c
trash_is pat role Bin
scripted_once pat
tap_like "$err" 'UIDs 2 to 2, there before it became the trash, are fetched' \
    "pat: Bin is the trash: the log says m is still owed"
trash_is pat role Trash
scripted_once pat
tap_is "$rc:$(scripted_subjects pat)" "0:a b c m x " \
    "pat: Bin no longer the trash: the pattern fetches m, not c" "$err"
scripted_once pat
tap_is "$rc:$(scripted_subjects pat)" "1:a b c m x " "pat: then nothing new" \
    "$err"

# review r26 08: m arrives in Bin, c in INBOX; Bin becomes the trash, c
# is moved there; while it is the trash the server migrates Bin (the same
# messages, UIDVALIDITY 1 -> 77, new UIDs). Once it is no longer the
# trash, the mark (in UID space) and the matching pass (Bin's own
# deliveries) cannot tell c from Bin's own mail: m is delivered, c may
# come again (a duplicate rather than a loss), and a warning says so.
# Before, c came again silently.
box "$T/uv.json" 0
scripted_folders "$T/uv.json"
conf uv '\\Trash'
scripted_once uv
scripted_box_add "$T/uv.json" Bin m
scripted_box_add "$T/uv.json" INBOX c
trash_is uv role Bin
scripted_once uv
python3 - "$T/uv.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1])); f = b["folders"]["Bin"]
f["uidvalidity"] = 77
for i, m in enumerate(f["msgs"]): m["uid"] = 100 + i
f["uidnext"] = 100 + len(f["msgs"])
json.dump(b, open(sys.argv[1], "w"))
PY
trash_is uv role Trash
scripted_once uv
tap_like "$err" 'was the trash, and its UIDVALIDITY changed since: .*duplicate rather than a loss' \
    "uv: Bin's UIDVALIDITY changed while it was the trash: a warning says c may come again"
tap_like "$(scripted_subjects uv)" '^a b c .*m x $' "uv: m delivered" "$err"

# review r28 03: a case-sensitive server with two real folders, Bin
# (fetched) and bin (never fetched); bin gets the \Trash role. Bin is not
# the trash: it must not be marked, and its bound not raised after the
# moves into bin. m2 arrives in Bin while bin is the trash (after a move
# there); the role goes back: m and m2 are delivered. Before, Bin's
# record was taken for bin's (any ASCII case): STATUS "Bin" after each
# move raised its bound over m2, never delivered.
box "$T/tw.json" 0
python3 - "$T/tw.json" <<'PY'
import json, sys
b = json.load(open(sys.argv[1]))
b["folders"]["bin"] = {"delim": "/", "flags": ["\\HasNoChildren"],
                       "uidvalidity": 1, "uidnext": 1, "msgs": []}
json.dump(b, open(sys.argv[1], "w"))
PY
scripted_folders "$T/tw.json"
conf tw '\\Trash'
scripted_once tw
role "$T/tw.json" Trash bin
scripted_box_add "$T/tw.json" Bin m
scripted_box_add "$T/tw.json" INBOX c
scripted_once tw
scripted_box_add "$T/tw.json" Bin m2
scripted_box_add "$T/tw.json" INBOX d
scripted_once tw
tap_is "$(held "$T/tw.json" bin)" "c d" "tw: c and d moved into bin" "$err"
role "$T/tw.json" bin Trash
scripted_once tw
scripted_once tw
tap_is "$(scripted_subjects tw):$(held "$T/tw.json" Bin)" \
    "a b c d m m2 x :" "tw: Bin's m and m2 delivered once, Bin left empty" \
    "$err"

# review r28 04: a trash mark an older version wrote (no "bounded" in
# its first_fetch record; its bound the STATUS UIDNEXT when Bin became
# the trash, nothing raised after its moves there): m arrives in Bin, c
# is moved there, and the state is written back as that version left it
# (Bin's last_uid 2, below c). The new version binds it at its next
# SELECT, as that version did: c not delivered again, m delivered.
# Before, the mark was taken as bounded after each move: c came twice.
box "$T/old.json" 0
scripted_folders "$T/old.json"
conf old '\\Trash'
scripted_once old
scripted_box_add "$T/old.json" Bin m
scripted_box_add "$T/old.json" INBOX c
trash_is old role Bin
scripted_once old
tap_like "$(grep '^first_fetch Bin ' "$T/state-old/old.state")" \
    ' 4294967295 bounded$' "old: the new version's mark says it is bounded"
python3 - "$T/state-old/old.state" <<'PY'
import hashlib, re, sys
def old(l):
    l = re.sub(r"^(first_fetch Bin unseen 4294967295) bounded$", r"\1", l)
    return re.sub(r"^(folder [0-9]+) 3 Bin$", r"\1 2 Bin", l)
body = [old(l) for l in open(sys.argv[1]).read().splitlines()
        if not l.startswith("end ")]
out = "".join(l + "\n" for l in body)
out += "end %d %s\n" % (len(body) - 1, hashlib.sha256(out.encode()).hexdigest())
open(sys.argv[1], "w").write(out)
PY
tap_is "$(grep '^first_fetch Bin \|^folder [0-9]* [0-9]* Bin$' "$T/state-old/old.state" | tr '\n' ,)" \
    "folder 1 2 Bin,first_fetch Bin unseen 4294967295," \
    "old: the state as the older version wrote it"
trash_is old role Trash
scripted_once old
tap_is "$rc:$(scripted_subjects old):$(held "$T/old.json" Bin)" \
    "0:a b c m x :c" "old: m delivered, c not again (left in Bin)" "$err"

tap_done
