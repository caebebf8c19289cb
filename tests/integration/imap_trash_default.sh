#!/bin/bash
# imap_trash_default.sh: keep = no's default trash (the server's \Trash
# folder, issue 15), on Gmail-like servers (X-GM-EXT-1) only: elsewhere
# keep = no deletes (review r11 02, 05), review r10: not when the account fetches that folder
# itself (01: every message delivered twice); patterns pass over the
# resolved \Trash, \Junk and \All also on a server that marks them only
# in LIST ... RETURN (SPECIAL-USE) (02); trash_folder = "" deletes (03);
# a full trash does not keep the mailbox full (03); a failed roles LIST
# falls back to deleting instead of ending the session (12). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"
. "$top_srcdir/tests/lib/scripted.sh"

DC_EXTRA_CONF='namespace inbox {
  mailbox "Trash" {
    special_use = \Trash
  }
}'
mfd_init
dovecot_start
S=$DC_SAMPLES

dc_user()	# USER PASSWORD: a Dovecot user with Trash and 2 in INBOX
{
	dovecot_add_user "$1" "$2"
	dovecot_add_folder "$1" Trash
	dovecot_add_message "$1" INBOX "$S/01-plain.eml"
	dovecot_add_message "$1" INBOX "$S/04-dot-lines.eml"
	mfd_account "$1" "$2"
}

# --- 01: the \Trash folder is also fetched, by name or by role. ----------
for how in name role; do
	u=t$how
	dc_user $u pw-$u-81
	if [ $how = name ]; then
		f='folder "Trash" { }'
	else
		f="folder '\\Trash' { }"
	fi
	mfd_conf $u 'keep = no' -- 'folder "INBOX" { }' "$f"
	mfd_run_ok $u 0 "keep = no, Trash fetched by $how: first run"
	mfd_run_ok $u 1 "by $how: second run: nothing new"
	mfd_expect "$T/$u/Maildir" "" "$S/01-plain.eml" "$S/04-dot-lines.eml"
	tap_is "$(mfd_count "$T/$u/Maildir" Trash new)" 0 \
	    "by $how: nothing delivered a second time from Trash"
	tap_is "$(mfd_server_count $u pw-$u-81 INBOX) $(mfd_server_count $u pw-$u-81 Trash)" \
	    "0 0" "by $how: INBOX expunged, nothing moved to Trash"
	"$MAILFETCHD" -c "$T/$u/mailfetchd.conf" --diagnose >"$T/out" 2>&1
	tap_like "$(cat "$T/out")" 'keep = no: delivered messages are flagged \\Deleted and expunged' \
	    "by $how: --diagnose says keep = no deletes"
done

# --- r11 02/05: not Gmail: keep = no without trash_folder deletes; the
# move into \Trash only when asked for (trash_folder = '\Trash'). -------
for how in default role; do
	u=dc$how
	dc_user $u pw-$u-83
	if [ $how = default ]; then
		mfd_conf $u 'keep = no'
		want="0 0"
	else
		mfd_conf $u 'keep = no' "trash_folder = '\\Trash'"
		want="0 2"
	fi
	mfd_run_ok $u 0 "Dovecot with a \\Trash folder, keep = no ($how): fetched"
	mfd_expect "$T/$u/Maildir" "" "$S/01-plain.eml" "$S/04-dot-lines.eml"
	tap_is "$(mfd_server_count $u pw-$u-83 INBOX) $(mfd_server_count $u pw-$u-83 Trash)" \
	    "$want" "($how) INBOX emptied; Trash holds $want"
	if [ $how = default ]; then
		tap_unlike "$err" 'moved|Trash' "($how) the log does not speak of a move"
		"$MAILFETCHD" -c "$T/$u/mailfetchd.conf" --diagnose >"$T/out" 2>&1
		tap_like "$(cat "$T/out")" 'keep = no: delivered messages are flagged \\Deleted and expunged' \
		    "($how) --diagnose says keep = no deletes"
	fi
done

# --- Scripted servers (folders_server.py). --------------------------------
fserver()	# folders_server.py on $T/box.json (tests/lib/scripted.sh)
{
	scripted_folders "$T/box.json"
	MFD_PORT=$port
}
MFD_TLS=none
box()	# CAPS [KEY=JSON ...]: INBOX with 2 messages, Trash (\Trash), Spam (\Junk)
{
	python3 - "$T/box.json" "$@" <<'PY'
import json, sys
path, caps = sys.argv[1:3]
msg = lambda u, s: {"uid": u, "body": "Message-ID: <%s@test>\nSubject: %s\n\n%s\n" % (s, s, s)}
box = {"caps": caps, "root": {"mode": "ok", "delim": "/"},
       "folders": {
           "INBOX": {"delim": "/", "flags": [], "uidvalidity": 1,
                     "uidnext": 3, "msgs": [msg(1, "in1"), msg(2, "in2")]},
           "Trash": {"delim": "/", "flags": ["\\HasNoChildren", "\\Trash"],
                     "uidvalidity": 1, "uidnext": 1, "msgs": []},
           "Spam": {"delim": "/", "flags": ["\\HasNoChildren", "\\Junk"],
                    "uidvalidity": 1, "uidnext": 2, "msgs": [msg(1, "spam1")]}}}
for kv in sys.argv[3:]:
    k, _, v = kv.partition("=")
    box[k] = json.loads(v)
json.dump(box, open(path, "w"))
PY
}
counts()	# messages per server folder: "INBOX Trash Spam"
{
	python3 -c 'import json,sys; b=json.load(open(sys.argv[1]))["folders"]; print(len(b["INBOX"]["msgs"]), len(b["Trash"]["msgs"]), len(b["Spam"]["msgs"]))' "$T/box.json"
}

# --- 01 on Gmail (X-GM-EXT-1, where the default trash applies): not the
# \Trash folder the account fetches itself. --------------------------------
box "IMAP4rev1 UIDPLUS MOVE X-GM-EXT-1"
fserver
mfd_account gm1 pw-gm
mfd_conf gm1 'keep = no' -- 'folder "INBOX" { }' 'folder "Trash" { }'
mfd_run_ok gm1 0 'Gmail-like, keep = no, Trash fetched by name'
tap_like "$err" 'the server.s \\Trash folder "Trash" is one of the folders this account fetches' \
    "the log says the default trash does not apply"
tap_is "$(counts)" "0 0 1" "INBOX expunged, nothing moved to Trash"
"$MAILFETCHD" -c "$T/gm1/mailfetchd.conf" --diagnose >"$T/out" 2>&1
tap_like "$(cat "$T/out")" 'keep = no: the server.s \\Trash folder "Trash" is one of the folders this account fetches' \
    "--diagnose says so too"
# Not Gmail: the same server without X-GM-EXT-1 deletes.
box "IMAP4rev1 UIDPLUS MOVE"
fserver
mfd_account plain1 pw-gm
mfd_conf plain1 'keep = no'
mfd_run_ok plain1 0 'not Gmail, keep = no: fetched'
tap_is "$(counts)" "0 0 1" "INBOX expunged, nothing moved to Trash"

# --- 02: roles marked only in LIST ... RETURN (SPECIAL-USE) (RFC 6154). --
SU="IMAP4rev1 UIDPLUS MOVE SPECIAL-USE LIST-EXTENDED X-GM-EXT-1"
box "$SU" su_only_return=true
fserver
mfd_account pat pw-pat
mfd_conf pat 'keep = no' -- 'folder "*" { }'
mfd_run_ok pat 0 'keep = no, folder "*", roles only with RETURN: first run'
mfd_run_ok pat 1 'second run: nothing new (Trash not fetched)'
MD=$T/pat/Maildir
tap_is "$(mfd_count "$MD" "" new) $(mfd_count "$MD" Trash new) $(mfd_count "$MD" Spam new)" \
    "2 0 0" "the pattern fetched INBOX only, not Trash or Spam"
tap_is "$(counts)" "0 2 1" "INBOX moved to Trash; Spam untouched"
"$MAILFETCHD" -c "$T/pat/mailfetchd.conf" --diagnose >"$T/out" 2>&1
out=$(cat "$T/out")
tap_like "$out" 'special-use folders: .*\\Junk "Spam", \\Trash "Trash"' \
    "--diagnose: the roles the fetch uses" "$out"
tap_like "$out" 'keep = no: delivered messages are moved to the server.s \\Trash folder "Trash"' \
    "--diagnose: the default trash the fetch uses"
tap_like "$out" 'folder pattern "\*": matches 1: "INBOX"' \
    "--diagnose: the pattern does not match Trash or Spam"

# --- 12: the roles LIST fails: keep = no deletes, the session goes on. ---
# Past the LIST cap (100000 names: a big site's shared folders, or a
# hostile server), and answered NO.
n=0
for how in 'list_many=100001' 'list_all="NO no listing here"'; do
	n=$((n + 1))
	box "IMAP4rev1 UIDPLUS MOVE X-GM-EXT-1" "$how"
	fserver
	mfd_account big$n pw-big
	mfd_conf big$n 'keep = no' -- 'folder "INBOX" { }'
	mfd_run_ok big$n 0 "roles LIST fails ($how): INBOX fetched"
	tap_like "$err" 'warning: .*LIST of the special-use folders (named too many folders|refused: no listing here); their roles are not known' \
	    "($how) a warning says why"
	tap_like "$err" 'keep = no: the server.s \\Trash folder is not known; delivered messages are flagged \\Deleted and expunged' \
	    "($how) and that keep = no deletes"
	tap_is "$(mfd_count "$T/big$n/Maildir" "" new) $(counts)" "2 0 0 1" \
	    "($how) both delivered, expunged from INBOX, nothing moved"
done
# Only a folder configured by role fails for want of roles.
box "IMAP4rev1 UIDPLUS MOVE" 'list_all="NO no listing here"'
fserver
mfd_account big3 pw-big
mfd_conf big3 -- 'folder "INBOX" { }' 'folder "\\Junk" { }'
mfd_run_ok big3 7 'roles LIST refused, folder "\\Junk": partial'
tap_like "$err" 'folder "\\Junk": the LIST of the special-use folders failed' \
    "the role folder fails, naming why"
tap_is "$(mfd_count "$T/big3/Maildir" "" new)" 2 "INBOX fetched all the same"

# --- 03: trash_folder = "": delete, do not move. ---------------------------
dovecot_add_user none pw-none-82
dovecot_add_folder none Trash
dovecot_add_message none INBOX "$S/01-plain.eml"
mfd_account none pw-none-82
MFD_PORT='' MFD_TLS=implicit mfd_conf none 'keep = no' 'trash_folder = ""'
mfd_run_ok none 0 'keep = no, trash_folder = "": fetched'
tap_like "$err" 'keep = no, trash_folder = "": delivered messages are flagged \\Deleted and expunged' \
    "the log says keep = no deletes"
mfd_expect "$T/none/Maildir" "" "$S/01-plain.eml"
tap_is "$(mfd_server_count none pw-none-82 INBOX) $(mfd_server_count none pw-none-82 Trash)" \
    "0 0" 'trash_folder = "": expunged, not moved to Trash'
"$MAILFETCHD" -c "$T/none/mailfetchd.conf" --diagnose >"$T/out" 2>&1
tap_like "$(cat "$T/out")" 'keep = no, trash_folder = "": delivered messages are flagged \\Deleted and expunged' \
    '--diagnose says so'
tap_like "$("$MAILFETCHD" -c "$T/none/mailfetchd.conf" --check-config 2>&1)" 'trash_folder = ""' \
    '--check-config prints trash_folder = ""'

# --- 03: the move into the default \Trash refused [OVERQUOTA] / [LIMIT]. --
n=0
for v in 'IMAP4rev1 UIDPLUS MOVE X-GM-EXT-1|[OVERQUOTA] Quota exceeded' \
    'IMAP4rev1 UIDPLUS X-GM-EXT-1|[LIMIT] Too many messages'; do
	n=$((n + 1))
	box "${v%%|*}" "move_no=\"${v#*|}\""
	fserver
	mfd_account quota$n pw-q
	mfd_conf quota$n 'keep = no'
	mfd_run_ok quota$n 0 "default trash refused ${v#*|}: fetched"
	tap_like "$err" "warning: .*(moving|copying) delivered messages to the server.s \\\\Trash folder \"Trash\" refused \((OVERQUOTA|LIMIT)\).*flagging them \\\\Deleted and expunging instead" \
	    "($n) a warning names the reason and the fallback"
	tap_is "$(mfd_count "$T/quota$n/Maildir" "" new) $(counts)" "2 0 0 1" \
	    "($n) both delivered and expunged from INBOX"
	mfd_run_ok quota$n 1 "($n) second run: nothing new"
done
# A configured trash_folder refused so: nothing expunged, retried; the
# error names it.
box "IMAP4rev1 UIDPLUS MOVE" 'move_no="[OVERQUOTA] Quota exceeded"'
fserver
mfd_account quota3 pw-q
mfd_conf quota3 'keep = no' 'trash_folder = "Trash"'
mfd_run_ok quota3 5 'configured trash_folder refused [OVERQUOTA]: an error'
tap_like "$err" 'moving delivered messages to trash_folder "Trash" failed: .*not deleted' \
    "the error names the trash_folder"
tap_is "$(counts)" "2 0 1" "nothing expunged"
# The default trash refused otherwise: held, and the error does not call
# it a trash_folder.
box "IMAP4rev1 UIDPLUS MOVE X-GM-EXT-1" 'move_no="no reason"'
fserver
mfd_account held pw-q
mfd_conf held 'keep = no'
mfd_run_ok held 5 'default trash refused (no code): an error'
tap_like "$err" 'moving delivered messages to the server.s \\Trash folder "Trash" failed: .*not deleted' \
    'the error names the server'"'"'s \Trash folder, not a trash_folder'
tap_is "$(counts)" "2 0 1" "nothing expunged"

# --- 08: the default trash is the user's own: a \Trash folder in a shared
# ("Public/") or other users' namespace never qualifies (NAMESPACE).
pubbox()	# CAPS OWN(0|1): Public/Trash (\Trash) listed first
{
	python3 - "$T/box.json" "$1" "$2" <<'PY'
import json, sys
path, caps, own = sys.argv[1:]
msg = lambda u, s: {"uid": u, "body": "Message-ID: <%s@test>\nSubject: %s\n\n%s\n" % (s, s, s)}
F = {"Public/Trash": {"delim": "/", "flags": ["\\HasNoChildren", "\\Trash"],
                      "uidvalidity": 1, "uidnext": 1, "msgs": []},
     "INBOX": {"delim": "/", "flags": [], "uidvalidity": 1, "uidnext": 3,
               "msgs": [msg(1, "in1"), msg(2, "in2")]}}
if own == "1":
    F["Trash"] = {"delim": "/", "flags": ["\\HasNoChildren", "\\Trash"],
                  "uidvalidity": 1, "uidnext": 1, "msgs": []}
json.dump({"caps": caps, "root": {"mode": "ok", "delim": "/"},
           "namespace": '(("" "/")) (("Users/" "/")) (("Public/" "/"))',
           "folders": F}, open(path, "w"))
PY
}
pubcounts()
{
	python3 -c 'import json,sys; b=json.load(open(sys.argv[1]))["folders"]; print(" ".join("%s=%d" % (k, len(v["msgs"])) for k, v in sorted(b.items())))' "$T/box.json"
}
NS="IMAP4rev1 UIDPLUS MOVE SPECIAL-USE NAMESPACE X-GM-EXT-1"
pubbox "$NS" 0
fserver
mfd_account pub1 pw-pub
mfd_conf pub1 'keep = no'
mfd_run_ok pub1 0 'keep = no, only a public \Trash (NAMESPACE): fetched'
tap_is "$(pubcounts)" "INBOX=0 Public/Trash=0" \
    "nothing moved into Public/Trash; INBOX expunged"
tap_like "$err" 'keep = no: the server has no \\Trash folder; delivered messages are flagged \\Deleted and expunged' \
    "the log says keep = no deletes"
"$MAILFETCHD" -c "$T/pub1/mailfetchd.conf" --diagnose >"$T/out" 2>&1
tap_like "$(cat "$T/out")" 'keep = no: the server has no \\Trash folder' \
    "--diagnose does not take Public/Trash either"
pubbox "$NS" 1
fserver
mfd_account pub2 pw-pub
mfd_conf pub2 'keep = no'
mfd_run_ok pub2 0 'keep = no, a public \Trash listed before the own one'
tap_is "$(pubcounts)" "INBOX=0 Public/Trash=0 Trash=2" "moved to the user's own Trash"
# Without NAMESPACE: as before (every listed folder qualifies).
pubbox "IMAP4rev1 UIDPLUS MOVE SPECIAL-USE X-GM-EXT-1" 0
fserver
mfd_account pub3 pw-pub
mfd_conf pub3 'keep = no'
mfd_run_ok pub3 0 'keep = no, no NAMESPACE: as before'
tap_is "$(pubcounts)" "INBOX=0 Public/Trash=2" "the first listed \\Trash is taken"

mfd_no_sanitizer
tap_done
