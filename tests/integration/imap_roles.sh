#!/bin/bash
# imap_roles.sh: folders configured by their special-use role (RFC 6154;
# issue 15, "what users need" point 1): folder "\\Junk" is the server's
# \Junk folder whatever its name ("Спам"), against a Dovecot that has
# SPECIAL-USE, and against a scripted server that announces no
# SPECIAL-USE but gives the attributes in LIST, in Yandex's '|' and
# Gmail's XLIST-era \Spam. Local folder: the resolved name through the
# usual mapping; a role the server has no folder for is an error naming
# it; --diagnose lists the roles. keep = no with trash_folder = '\Trash'
# moves to the server's \Trash folder (point 2); without a trash_folder
# it deletes, \Trash folder or not (not Gmail: review r11 02, 05);
# trash_folder takes another role too. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"
. "$top_srcdir/tests/lib/scripted.sh"

S=$DC_SAMPLES
DC_EXTRA_CONF='namespace inbox {
  mailbox "Спам" {
    special_use = \Junk
  }
  mailbox "Отправленные" {
    special_use = \Sent
  }
  mailbox "Корзина" {
    special_use = \Trash
  }
  mailbox "Архив" {
    special_use = \Archive
  }
}'
mfd_init
dovecot_start

gen() { "$(_dc_python)" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }
SPAM=$(dovecot_mutf7 'Спам')
SENT=$(dovecot_mutf7 'Отправленные')
TRASH=$(dovecot_mutf7 'Корзина')

# --- Dovecot (SPECIAL-USE): "\Junk" is "Спам". ----------------------------
dovecot_add_user ru pw-ru-61
mfd_account ru pw-ru-61
gen plain "$T/spam1.eml" spam1
gen plain "$T/sent1.eml" sent1
dovecot_add_message ru INBOX "$S/01-plain.eml"
dovecot_add_message ru "$SPAM" "$T/spam1.eml"
dovecot_add_message ru "$SENT" "$T/sent1.eml"
mfd_conf ru -- 'folder "INBOX" { }' 'folder "\\Junk" { }'
MD=$T/ru/Maildir
mfd_run_ok ru 0 'Dovecot: folder "\\Junk"'
mfd_expect "$MD" "" "$S/01-plain.eml"
mfd_expect "$MD" "Спам" "$T/spam1.eml"
tap_is "$(mfd_local_folders "$MD" | tr '\n' ' ')" ".Спам " \
    "the local folder is the resolved name (.Спам), not .\\Junk"
tap_like "$err" 'folder "\\Junk" is the server.s "Спам"' \
    "the log says which folder the role is"
mfd_run_ok ru 1 'Dovecot: folder "\\Junk", second run: nothing new'
mfd_expect "$MD" "Спам" "$T/spam1.eml"

# A role written '\Sent' (single quotes), with local = ...
mfd_conf ru -- "folder '\\Sent' { local = \"Sent\" }"
mfd_run_ok ru 0 "Dovecot: folder '\\Sent' with local"
mfd_expect "$MD" Sent "$T/sent1.eml"

# A role the server has no folder for: an error naming it, like a folder
# that does not exist; the other folders are fetched.
gen plain "$T/in2.eml" in2
dovecot_add_message ru INBOX "$T/in2.eml"
mfd_conf ru -- 'folder "\\Archive" { }' 'folder "INBOX" { }'
mfd_run_ok ru 7 'Dovecot: folder "\\Archive" (none): partial'
tap_like "$err" 'folder "\\Archive": the server has no folder with this special-use role' \
    "the error names the role and says the server has none"
mfd_expect "$MD" "" "$S/01-plain.eml" "$T/in2.eml"
mfd_conf ru -- 'folder "\\Archive" { }'
mfd_run_ok ru 5 'Dovecot: only folder "\\Archive" (none): as a missing folder'

# An unknown role is a configuration error that says how to name a real
# folder beginning with '\'.
mfd_conf ru -- 'folder "\\Spamm" { }'
mfd_run_ok ru 2 'folder "\\Spamm": configuration error'
tap_like "$err" "folder '.Spamm': no such special-use role .* written with it doubled" \
    "the error lists the roles and the escape"

# --diagnose: the roles found, and the role folder resolved.
mfd_conf ru -- 'folder "\\Junk" { }'
"$MAILFETCHD" -c "$T/ru/mailfetchd.conf" --diagnose >"$T/out" 2>&1
rc=$?
out=$(cat "$T/out")
tap_is "$rc" 0 "--diagnose: exit 0" "$out"
tap_like "$out" 'special-use folders: .*\\Junk "Спам", \\Sent "Отправленные"' \
    "--diagnose lists the roles it found"
tap_like "$out" 'folder "\\Junk": the server.s "Спам"' "--diagnose resolves \\Junk"
tap_like "$out" 'folder "\\Junk": 1 message' "--diagnose: its STATUS"

diag_like()	# USER ERE NAME: the --diagnose output of USER matches ERE
{
	"$MAILFETCHD" -c "$T/$1/mailfetchd.conf" --diagnose >"$T/out" 2>&1
	tap_like "$(cat "$T/out")" "$2" "$3"
}

# --- keep = no, trash_folder = '\Trash': the server's \Trash folder. ----
dovecot_add_user del pw-del-62
mfd_account del pw-del-62
dovecot_add_folder del "$TRASH"
gen plain "$T/d1.eml" d1
gen plain "$T/d2.eml" d2
dovecot_add_message del INBOX "$T/d1.eml"
dovecot_add_message del INBOX "$T/d2.eml"
mfd_conf del 'keep = no' "trash_folder = '\\Trash'"
mfd_run_ok del 0 "keep = no, trash_folder = '\\Trash', a \\Trash folder \"Корзина\""
mfd_expect "$T/del/Maildir" "" "$T/d1.eml" "$T/d2.eml"
tap_like "$err" 'trash_folder "\\Trash" is the server.s "Корзина"' \
    "the log names the trash folder chosen"
tap_is "$(mfd_server_count del pw-del-62 INBOX)" 0 "keep = no: INBOX is empty on the server"
tap_is "$(mfd_server_count del pw-del-62 "$TRASH")" 2 "keep = no: both are in Корзина"
"$MAILFETCHD" -c "$T/del/mailfetchd.conf" --diagnose >"$T/out" 2>&1
tap_like "$(cat "$T/out")" 'trash folder "\\Trash": the server.s "Корзина"' \
    "--diagnose says where keep = no moves them"

# The \Trash folder itself, fetched with keep = no: deleted there, not
# moved into itself (it would come back on every run). A fresh state:
# with the one above, Корзина is remembered as the folder mailfetchd
# moved d1 and d2 into, and only mail arriving later would be fetched
# from it (review r11 01; imap_trash_remembered.sh (e)).
rm -rf "$T/del/state"
mfd_conf del 'keep = no' -- "folder '\\Trash' { }"
mfd_run_ok del 0 "keep = no, folder '\\Trash': fetched"
mfd_expect "$T/del/Maildir" "Корзина" "$T/d1.eml" "$T/d2.eml"
tap_is "$(mfd_server_count del pw-del-62 "$TRASH")" 0 "and expunged from Корзина"
mfd_run_ok del 1 "keep = no, folder '\\Trash': nothing new the second time"

# Without a trash_folder: deleted (\Deleted, EXPUNGE), with a \Trash
# folder on the server or without one.
dovecot_add_user deldef pw-deldef-64
mfd_account deldef pw-deldef-64
dovecot_add_folder deldef "$TRASH"
dovecot_add_message deldef INBOX "$T/d1.eml"
mfd_conf deldef 'keep = no'
mfd_run_ok deldef 0 'keep = no, no trash_folder, a \Trash folder "Корзина"'
mfd_expect "$T/deldef/Maildir" "" "$T/d1.eml"
tap_is "$(mfd_server_count deldef pw-deldef-64 INBOX) $(mfd_server_count deldef pw-deldef-64 "$TRASH")" \
    "0 0" "keep = no: expunged, nothing moved to Корзина"
diag_like deldef 'keep = no: delivered messages are flagged \\Deleted and expunged' \
    "--diagnose says keep = no deletes"
dovecot_add_user nodel pw-nodel-63
mfd_account nodel pw-nodel-63
dovecot_add_message nodel INBOX "$T/d1.eml"
mfd_conf nodel 'keep = no'
mfd_run_ok nodel 0 'keep = no, no \Trash folder'
mfd_expect "$T/nodel/Maildir" "" "$T/d1.eml"
tap_unlike "$err" 'moved|Trash' "the log speaks of no move"
tap_is "$(mfd_server_count nodel pw-nodel-63 INBOX)" 0 "keep = no: expunged"
tap_is "$(dovecot_imap_cmd nodel pw-nodel-63 'LIST "" "*"' | grep -c LIST)" 1 \
    "no folder was created for it (only INBOX)"

# trash_folder by role: keep = no moves to the server's \Archive folder.
dovecot_add_user arc pw-arc-64
mfd_account arc pw-arc-64
ARCH=$(dovecot_mutf7 'Архив')
dovecot_add_folder arc "$ARCH"
dovecot_add_message arc INBOX "$T/d1.eml"
mfd_conf arc 'keep = no' "trash_folder = '\\Archive'"
mfd_run_ok arc 0 "keep = no, trash_folder = '\\Archive'"
tap_like "$err" 'trash_folder "\\Archive" is the server.s "Архив"' "the log names the folder"
tap_is "$(mfd_server_count arc pw-arc-64 INBOX) $(mfd_server_count arc pw-arc-64 "$ARCH")" \
    "0 1" "moved from INBOX to Архив"
diag_like arc 'trash folder "\\Archive": the server.s "Архив"' \
    "--diagnose resolves the trash_folder role"
# A role the server has none of: the messages are delivered and stay.
dovecot_add_message arc INBOX "$T/d2.eml"
mfd_conf arc 'keep = no' "trash_folder = '\\Drafts'"
mfd_run_ok arc 2 "trash_folder = '\\Drafts' (none): the folder fails as for a bad trash_folder"
tap_like "$err" 'trash_folder "\\Drafts": the server has no folder with this special-use role' \
    "the error names the role"
mfd_expect "$T/arc/Maildir" "" "$T/d1.eml" "$T/d2.eml"
tap_is "$(mfd_server_count arc pw-arc-64 INBOX)" 1 "the delivered message stays on the server"
mfd_conf arc 'keep = no' "trash_folder = '\\Bin'"
mfd_run_ok arc 2 "trash_folder = '\\Bin': configuration error"
tap_like "$err" "trash_folder = '.Bin': no such special-use role" "the error says why"

# Dovecot answers the RETURN (SPECIAL-USE) form mailfetchd sends it.
tap_like "$(dovecot_imap_cmd ru pw-ru-61 'LIST "" "*" RETURN (SPECIAL-USE)')" \
    "^\* LIST \(.*\\\\Junk.*\) \"/\" \"?$SPAM" "Dovecot: LIST RETURN (SPECIAL-USE) gives \\Junk"

# --- A scripted server without SPECIAL-USE: Yandex ('|', "Спам") and
# Gmail's XLIST-era \Spam. -------------------------------------------------
scripted_box()	# CAPS DELIM SPAMNAME SPAMFLAG [LIST_RETURN]
{
	python3 - "$T/box.json" "$1" "$2" "$3" "$4" "${5:-}" <<'PY'
import json, sys
path, caps, delim, spam, flag, ret = sys.argv[1:]
msg = lambda u, s: {"uid": u, "body": "Message-ID: <%s@test>\nSubject: %s\n\n%s\n" % (s, s, s)}
box = {"caps": caps, "root": {"mode": "ok", "delim": delim},
       "folders": {
           "INBOX": {"delim": delim, "flags": [], "uidvalidity": 1,
                     "uidnext": 2, "msgs": [msg(1, "inbox1")]},
           spam: {"delim": delim, "flags": ["\\HasNoChildren", flag],
                  "uidvalidity": 1, "uidnext": 3,
                  "msgs": [msg(1, "spam1"), msg(2, "spam2")]},
           "Archive": {"delim": delim, "flags": ["\\HasNoChildren"],
                       "uidvalidity": 1, "uidnext": 1, "msgs": []}}}
if ret:
    box["list_return"] = ret
json.dump(box, open(path, "w"))
PY
}
# folders_server.py on $T/box.json (tests/lib/scripted.sh).
fserver()
{
	scripted_folders "$T/box.json"
	MFD_PORT=$port
}
MFD_TLS=none

# Yandex: no SPECIAL-USE, '|' separator, \Junk on "Спам".
scripted_box "IMAP4rev1 UIDPLUS MOVE" "|" "$SPAM" '\Junk'
fserver
mfd_account ya pw-ya
mfd_conf ya -- 'folder "\\Junk" { }'
mfd_run_ok ya 0 'no SPECIAL-USE, "Спам" with \Junk: folder "\\Junk"'
tap_is "$(mfd_count "$T/ya/Maildir" "Спам" new)" 2 "both messages of Спам delivered to .Спам"
tap_like "$(cat "$T/server.log")" 'LIST "" "\*"' "it listed every folder"
tap_unlike "$(cat "$T/server.log")" 'RETURN' \
    "no RETURN (SPECIAL-USE) to a server that does not announce SPECIAL-USE"
tap_like "$(cat "$T/server.log")" "(SELECT|EXAMINE) \"$SPAM\"" "it selected \"Спам\" as the server spells it"

# Gmail before SPECIAL-USE (XLIST names): \Spam is \Junk.
scripted_box "IMAP4rev1 UIDPLUS MOVE X-GM-EXT-1" "/" "[Gmail]/Spam" '\Spam'
fserver
mfd_account gx pw-gx
mfd_conf gx -- 'folder "\\Junk" { }'
mfd_run_ok gx 0 'XLIST-era \Spam: folder "\\Junk"'
tap_is "$(mfd_count "$T/gx/Maildir" "[Gmail]/Spam" new)" 2 \
    "\\Spam is the \\Junk folder: [Gmail]/Spam delivered"

# SPECIAL-USE announced, RETURN (SPECIAL-USE) refused: asked again plainly.
scripted_box "IMAP4rev1 UIDPLUS MOVE SPECIAL-USE" "|" "$SPAM" '\Junk' bad
fserver
mfd_account sb pw-sb
mfd_conf sb -- 'folder "\\Junk" { }'
mfd_run_ok sb 0 'RETURN (SPECIAL-USE) refused: plain LIST'
tap_like "$(cat "$T/server.log")" 'LIST "" "\*" RETURN \(SPECIAL-USE\)' \
    "RETURN (SPECIAL-USE) asked first"
tap_is "$(mfd_count "$T/sb/Maildir" "Спам" new)" 2 "then the plain LIST resolved \\Junk"

# No folder has the role: the error names it.
mfd_conf sb -- 'folder "\\Trash" { }'
mfd_run_ok sb 5 'no \Trash folder: exit as for a missing folder'
tap_like "$err" 'folder "\\Trash": the server has no folder with this special-use role' \
    "the error names \\Trash"

# keep = no, trash_folder = '\Trash' on a server without SPECIAL-USE whose
# LIST marks "Корзина" \Trash: moved there.
scripted_box "IMAP4rev1 UIDPLUS MOVE" "|" "$SPAM" '\Junk'
python3 - "$T/box.json" "$TRASH" <<'PY'
import json, sys
box = json.load(open(sys.argv[1]))
box["folders"][sys.argv[2]] = {"delim": "|", "flags": ["\\HasNoChildren", "\\Trash"],
                               "uidvalidity": 1, "uidnext": 1, "msgs": []}
json.dump(box, open(sys.argv[1], "w"))
PY
fserver
mfd_account yd pw-yd
mfd_conf yd 'keep = no' "trash_folder = '\\Trash'"
mfd_run_ok yd 0 "no SPECIAL-USE, keep = no, trash_folder = '\\Trash', \"Корзина\" with \\Trash"
tap_like "$(cat "$T/server.log")" "UID MOVE 1 \"$TRASH\"" "moved to Корзина"
tap_is "$(python3 -c 'import json,sys; b=json.load(open(sys.argv[1]))["folders"]; print(len(b["INBOX"]["msgs"]), len(b[sys.argv[2]]["msgs"]))' "$T/box.json" "$TRASH")" \
    "0 1" "INBOX empty, the message in Корзина"

mfd_no_sanitizer
tap_done
