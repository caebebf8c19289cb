#!/bin/bash
# hoodiecrow_gmail.sh: hoodiecrow-imap set up like a Russian-language
# Gmail: '/' separator, X-GM-EXT-1, the \Noselect "[Gmail]" level with
# special-use folders in Cyrillic ("[Gmail]/Корзина" is \Trash), labels
# as nested folders (issue 15). IMAPS first and second run, a nested
# label and a pattern, keep = no into "[Gmail]/Корзина" (named, and by
# default as the \Trash folder), folders by role (\All), mark_read,
# --diagnose, byte-exact delivery. The scenarios that do not depend on
# the separator (STARTTLS, IDLE, UIDVALIDITY) run in hoodiecrow_yandex.sh.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/hoodiecrow.sh"
. "$top_srcdir/tests/lib/mfd.sh"

S=$DC_SAMPLES
mfd_init
gen() { "$(_dc_python)" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }
for m in proj1 proj2 ops1 spam1 mr1 del1 del2 arch1; do
	gen plain "$T/$m.eml" "$m"
done
cat >"$T/spec.json" <<EOF
{ "separator": "/", "gmail": true,
  "users": { "me@gmail.com": "app-pw-9d1e" },
  "folders": {
    "INBOX": { "messages": [
        { "file": "$S/01-plain.eml", "gmid": "1001" },
        { "file": "$S/04-dot-lines.eml", "gmid": "1002" } ] },
    "[Gmail]/Вся почта": { "special-use": "\\\\All", "messages": [
        { "file": "$S/01-plain.eml", "gmid": "1001" },
        { "file": "$S/04-dot-lines.eml", "gmid": "1002" },
        { "file": "$T/proj1.eml", "gmid": "1003" },
        { "file": "$T/arch1.eml", "gmid": "1004" } ] },
    "[Gmail]/Корзина": { "special-use": "\\\\Trash" },
    "[Gmail]/Спам": { "special-use": "\\\\Junk",
        "messages": [ { "file": "$T/spam1.eml" } ] },
    "[Gmail]/Отправленные": { "special-use": "\\\\Sent" },
    "Work/Projects": { "messages": [ { "file": "$T/proj1.eml", "gmid": "1003" },
        { "file": "$T/proj2.eml", "flags": ["\\\\Seen"] } ] },
    "Work/Ops": { "messages": [ { "file": "$T/ops1.eml" } ] },
    "Newsletters": { "messages": [ { "file": "$T/mr1.eml" } ] },
    "Cleanup": { "messages": [ { "file": "$T/del1.eml" },
        { "file": "$T/del2.eml" } ] } } }
EOF
hc_start "$T/spec.json"
HC_USER=me@gmail.com HC_PASS=app-pw-9d1e


# --- INBOX, a nested label, a pattern, a Cyrillic special-use folder. ----
hc_conf gm -- 'folder "INBOX" { }' 'folder "Work/*" { }' \
    'folder "[Gmail]/Спам" { local = "Spam" }'
MD=$T/gm/Maildir
mfd_run_ok gm 0 "first run: INBOX, Work/*, [Gmail]/Спам"
mfd_expect "$MD" "" "$S/01-plain.eml" "$S/04-dot-lines.eml"
mfd_expect "$MD" Work/Projects "$T/proj1.eml" "$T/proj2.eml"
mfd_expect "$MD" Work/Ops "$T/ops1.eml"
mfd_expect "$MD" Spam "$T/spam1.eml"
tap_is "$(mfd_local_folders "$MD" | tr '\n' ' ')" \
    ".Spam .Work.Ops .Work.Projects " "one local folder per fetched folder"
mfd_run_ok gm 1 "second run: nothing new"

# --- folder "*": every label, not \All, \Junk or \Trash (issue 15). ------
hc_conf star -- 'folder "*" { }'
MD=$T/star/Maildir
mfd_run_ok star 0 "folder \"*\""
tap_is "$(mfd_local_folders "$MD" | tr '\n' ' ')" \
    ".Cleanup .Newsletters .Work.Ops .Work.Projects .[Gmail].Отправленные " \
    "\"*\" fetches the labels, not [Gmail]/Вся почта, Спам or Корзина"
mfd_expect "$MD" "" "$S/01-plain.eml" "$S/04-dot-lines.eml"
mfd_expect "$MD" Work/Projects "$T/proj1.eml" "$T/proj2.eml"
hc_conf allmail -- 'folder "[Gmail]/Вся почта" { local = "All" }'
mfd_run_ok allmail 0 "[Gmail]/Вся почта named: fetched"
mfd_expect "$T/allmail/Maildir" All "$S/01-plain.eml" "$S/04-dot-lines.eml" \
    "$T/proj1.eml" "$T/arch1.eml"

# --- mark_read on a label. -------------------------------------------------
hc_conf mr 'mark_read = yes' -- 'folder "Newsletters" { }'
mfd_run_ok mr 0 "mark_read = yes"
mfd_expect "$T/mr/Maildir" Newsletters "$T/mr1.eml"
tap_is "$(hc_flags Newsletters)" "1 \\Seen" "mark_read: \\Seen on the server"

# --- keep = no into "[Gmail]/Корзина" (issue 15 point 3). ---------------
hc_conf del 'keep = no' 'trash_folder = "[Gmail]/Корзина"' -- 'folder "Cleanup" { }'
mfd_run_ok del 0 "keep = no, trash_folder = \"[Gmail]/Корзина\""
mfd_expect "$T/del/Maildir" Cleanup "$T/del1.eml" "$T/del2.eml"
tap_is "$(hc_count Cleanup)" 0 "keep = no: Cleanup is empty on the server"
tap_is "$(hc_count '[Gmail]/Корзина')" 2 "keep = no: both are in [Gmail]/Корзина"
mfd_run_ok del 1 "keep = no: the second run has nothing new"
# keep = no without a trash_folder: Gmail's \Trash folder, found by its
# role ("[Gmail]/Корзина"): on Gmail deleting is moving there (an
# expunge from a label's folder only takes the label off).
gen plain "$T/del3.eml" del3
gen plain "$T/del4.eml" del4
hc_append Cleanup "$T/del3.eml"
hc_append Cleanup "$T/del4.eml"
hc_conf deldef 'keep = no' -- 'folder "Cleanup" { }'
mfd_run_ok deldef 0 "keep = no, no trash_folder"
mfd_expect "$T/deldef/Maildir" Cleanup "$T/del3.eml" "$T/del4.eml"
tap_like "$err" 'moved to the server.s \\Trash folder "\[Gmail\]/Корзина"' \
    "keep = no: the log names [Gmail]/Корзина, the \\Trash folder"
tap_is "$(hc_count Cleanup)" 0 "keep = no: Cleanup is empty on the server"
tap_is "$(hc_count '[Gmail]/Корзина')" 4 "keep = no: moved to [Gmail]/Корзина"

# --- --diagnose. -----------------------------------------------------------
"$MAILFETCHD" -c "$T/gm/mailfetchd.conf" --diagnose >"$T/out" 2>&1
rc=$?
out=$(cat "$T/out")
cat "$T/out" >>"$T/all-output"
tap_is "$rc" 0 "--diagnose: exit 0" "$out"
tap_like "$out" '"\[Gmail\]/Корзина"' "--diagnose lists [Gmail]/Корзина in UTF-8"
tap_unlike "$out" '\\3[0-7][0-7]' "--diagnose prints no octal escapes"
tap_like "$out" 'folder pattern "Work/\*": matches 2' "--diagnose: the pattern matches both labels"
hc_conf star -- 'folder "*" { }'
"$MAILFETCHD" -c "$T/star/mailfetchd.conf" --diagnose >"$T/out" 2>&1
out=$(cat "$T/out")
cat "$T/out" >>"$T/all-output"
tap_like "$out" 'note: 3 more \\All, \\Junk or \\Trash folders not fetched' \
    "--diagnose: \"*\" leaves out the three special-use folders, and says so"
tap_unlike "$out" 'matches [0-9]+: .*Вся почта' "--diagnose: \"*\" does not list All Mail"

# --- Gmail labels: one message, several folders, delivered once (issue 15).
hc_conf labels -- 'folder "INBOX" { }' 'folder "Work/Projects" { }' \
    'folder "[Gmail]/Вся почта" { local = "All" }'
MD=$T/labels/Maildir
mfd_run_ok labels 0 "labels: INBOX, Work/Projects and All Mail"
mfd_expect "$MD" "" "$S/01-plain.eml" "$S/04-dot-lines.eml"
mfd_expect "$MD" Work/Projects "$T/proj1.eml" "$T/proj2.eml"
mfd_expect "$MD" All "$T/arch1.eml"
tap_like "$err" '3 message\(s\) delivered before from another Gmail label' \
    "labels: All Mail's copies of labelled messages are not fetched again"
mfd_run_ok labels 1 "labels: the second run has nothing new"
HC_GMID=1001 hc_append Work/Projects "$S/01-plain.eml"
mfd_run_ok labels 1 "labels: an INBOX message labelled Work later is not new"
mfd_expect "$MD" Work/Projects "$T/proj1.eml" "$T/proj2.eml"
gen plain "$T/proj3.eml" proj3
hc_append Work/Projects "$T/proj3.eml"
mfd_run_ok labels 0 "labels: a new message in Work/Projects is fetched"
mfd_expect "$MD" Work/Projects "$T/proj1.eml" "$T/proj2.eml" "$T/proj3.eml"
# The same with All Mail named by its role (issue 15 "what users need"):
# "\All" is whatever the server marks \All, here "[Gmail]/Вся почта",
# and the rule holds: each message once, into the first configured folder
# that holds it.
hc_conf rolelabels -- 'folder "INBOX" { }' 'folder "Work/Projects" { }' \
    'folder "\\All" { }'
RMD=$T/rolelabels/Maildir
mfd_run_ok rolelabels 0 'labels: INBOX, Work/Projects and "\\All"'
tap_like "$err" 'folder "\\All" is the server.s "\[Gmail\]/Вся почта"' \
    '"\\All" is [Gmail]/Вся почта'
mfd_expect "$RMD" "" "$S/01-plain.eml" "$S/04-dot-lines.eml"
mfd_expect "$RMD" Work/Projects "$T/proj1.eml" "$T/proj2.eml" "$T/proj3.eml"
mfd_expect "$RMD" "[Gmail]/Вся почта" "$T/arch1.eml"
mfd_run_ok rolelabels 1 'labels by role: the second run has nothing new'
hc_conf rolefirst -- 'folder "\\All" { local = "All" }' 'folder "INBOX" { }'
mfd_run_ok rolefirst 0 '"\\All" first: All Mail delivers every message'
mfd_expect "$T/rolefirst/Maildir" All "$S/01-plain.eml" "$S/04-dot-lines.eml" \
    "$T/proj1.eml" "$T/arch1.eml"
mfd_expect "$T/rolefirst/Maildir" ""

# A different message under an X-GM-MSGID delivered before (a buggy or
# hostile server): the X-GM-MSGID alone does not make it a label's copy
# (review r8 01: it was passed over, never delivered).
gen plain "$T/other.eml" other-message-same-gmid
HC_GMID=1003 hc_append INBOX "$T/other.eml"
mfd_run_ok labels 0 "labels: another message under a delivered X-GM-MSGID is delivered"
mfd_expect "$MD" "" "$S/01-plain.eml" "$S/04-dot-lines.eml" "$T/other.eml"
# An entry logged in the old form (the X-GM-MSGID alone, size 0) confirms
# nothing: its message is delivered (once more at worst), not passed over.
gen plain "$T/legacy.eml" legacy-message
HC_GMID=7000 hc_append INBOX "$T/legacy.eml"
hc_conf legacy -- 'folder "INBOX" { }'
mkdir -p "$T/legacy/state"
python3 - "$T/legacy/state/legacy.ids" <<'PY'
import hashlib, sys
h = lambda b: hashlib.sha256(b).hexdigest()[:16]
with open(sys.argv[1], "w") as f:
    f.write("%s %s %s\n" % (h(b"\x01X-GM-MSGID\0"), h(b"7000\0" + b"0"), "0" * 32))
PY
mfd_run_ok legacy 0 "labels: an old-form entry (X-GM-MSGID alone) does not pass a message over"
mfd_expect "$T/legacy/Maildir" "" "$S/01-plain.eml" "$S/04-dot-lines.eml" \
    "$T/other.eml" "$T/legacy.eml"

mfd_no_sanitizer
tap_done
