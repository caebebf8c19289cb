#!/bin/bash
# imap_folder_names.sh: folder names against a Dovecot whose hierarchy
# separator is '.', as Cyrus and Courier have it (issue 15, points 3-7):
# configured names are UTF-8 with '/' between levels, whatever the
# server's separator; a Cyrillic trash_folder is sent in modified UTF-7;
# a name with '&' is never taken as already encoded; one local folder per
# server folder (no stray empty ones); --diagnose prints UTF-8; a run in
# which every folder failed exits 5, not 7 (partial).
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"

S=$DC_SAMPLES
DC_SEPARATOR=.
mfd_init
dovecot_start

gen() { "$(_dc_python)" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }
TRASH=$(dovecot_mutf7 'Корзина')
TOM=$(dovecot_mutf7 'Tom&Jennifer-Wedding')

# --- '/' in the configuration on a '.' server; a pattern too. ---------
dovecot_add_user sep pw-sep-31
mfd_account sep pw-sep-31
gen plain "$T/dev1.eml" dev1
gen plain "$T/ann1.eml" ann1
dovecot_add_message sep INBOX "$S/01-plain.eml"
dovecot_add_message sep Lists.dev "$T/dev1.eml"
dovecot_add_message sep Lists.announce "$T/ann1.eml"
mfd_conf sep -- 'folder "INBOX" { }' 'folder "Lists/dev" { }'
MD=$T/sep/Maildir
mfd_run_ok sep 0 "'.' server: folder \"Lists/dev\" is the server's Lists.dev"
mfd_expect "$MD" Lists/dev "$T/dev1.eml"
tap_is "$(mfd_local_folders "$MD")" ".Lists.dev" \
    "one local folder, .Lists.dev (no .Lists%2Edev)"
mfd_conf sep -- 'folder "Lists/*" { }'
mfd_run_ok sep 0 "'.' server: pattern \"Lists/*\" matches Lists.announce"
mfd_expect "$MD" Lists/announce "$T/ann1.eml"
mfd_expect "$MD" Lists/dev "$T/dev1.eml"

# --- The server's own separator in a name: the same folder, one local
# folder, none for a configured name the server does not have. ---------
dovecot_add_user old pw-old-44
mfd_account old pw-old-44
dovecot_add_message old Lists.dev "$T/dev1.eml"
mfd_conf old -- 'folder "Lists.dev" { }' 'folder "No.Such" { }'
MD=$T/old/Maildir
mfd_run_ok old 7 "'.' server: \"Lists.dev\" fetched, \"No.Such\" missing"
mfd_expect "$MD" Lists/dev "$T/dev1.eml"
tap_is "$(mfd_local_folders "$MD")" ".Lists.dev" \
    "no stray local folder (.Lists%2Edev, .No%2ESuch)"

# --- A configured name with '&' that is valid modified UTF-7 by chance. --
dovecot_add_user amp pw-amp-58
mfd_account amp pw-amp-58
gen plain "$T/tom1.eml" tom1
dovecot_add_message amp "$TOM" "$T/tom1.eml"
mfd_conf amp -- 'folder "Tom&Jennifer-Wedding" { }'
MD=$T/amp/Maildir
mfd_run_ok amp 0 "folder \"Tom&Jennifer-Wedding\" is sent as Tom&-Jennifer-Wedding"
mfd_expect "$MD" "Tom&Jennifer-Wedding" "$T/tom1.eml"

# A name written in modified UTF-7 is UTF-8 now: the error says how to
# write it.
dovecot_add_folder amp "$(dovecot_mutf7 'Entwürfe')"
mfd_conf amp -- 'folder "Tom&Jennifer-Wedding" { }' 'folder "Entw&APw-rfe" { }'
mfd_run_ok amp 7 "a name written in modified UTF-7 is not taken as such"
tap_like "$err" 'Entw&APw-rfe" does not exist .*write "Entwürfe"' \
    "the error names the UTF-8 spelling"

# --- keep = no into a Cyrillic trash folder. -------------------------
dovecot_add_user tr pw-tr-62
mfd_account tr pw-tr-62
dovecot_add_folder tr "$TRASH"
dovecot_add_message tr INBOX "$S/01-plain.eml"
dovecot_add_message tr INBOX "$S/02-utf8.eml"
mfd_conf tr 'keep = no' 'trash_folder = "Корзина"' -- 'folder "INBOX" { }'
MD=$T/tr/Maildir
mfd_run_ok tr 0 "keep = no, trash_folder = \"Корзина\" (sent as $TRASH)"
mfd_expect "$MD" "" "$S/01-plain.eml" "$S/02-utf8.eml"
tap_is "$(mfd_server_count tr pw-tr-62 INBOX)" 0 "the server's INBOX is empty"
tap_is "$(mfd_server_count tr pw-tr-62 "$TRASH")" 2 \
    "both messages are in the server's Корзина"
mfd_run_ok tr 1 "keep = no with the trash: the second run has nothing new"

# --- keep = no: a pattern never fetches the trash_folder (review r8 02:
# "*" fetched "Trash" back and moved it into itself, every run again). --
dovecot_add_user ot pw-ot-21
mfd_account ot pw-ot-21
dovecot_add_message ot INBOX "$S/01-plain.eml"
dovecot_add_message ot INBOX "$S/04-dot-lines.eml"
mfd_conf ot 'keep = no' 'trash_folder = "Trash"' -- 'folder "*" { }'
MD=$T/ot/Maildir
mfd_run_ok ot 0 "keep = no, folder \"*\": the first run creates Trash"
tap_is "$(mfd_server_count ot pw-ot-21 Trash)" 2 "both messages are in the server's Trash"
mfd_run_ok ot 1 "keep = no, folder \"*\": the second run does not fetch the trash"
mfd_run_ok ot 1 "keep = no, folder \"*\": nor the third"
mfd_expect "$MD" "" "$S/01-plain.eml" "$S/04-dot-lines.eml"
tap_is "$(mfd_local_folders "$MD")" "" "no local .Trash"
tap_is "$(mfd_server_count ot pw-ot-21 Trash)" 2 "the server's Trash still holds the 2"
# Named, it is refused with both names, and nothing moves.
mfd_conf ot 'keep = no' 'trash_folder = "Trash"' -- 'folder "INBOX" { }' \
    'folder "Trash" { }'
mfd_run ot
tap_like "$err" 'folder "Trash" is the trash_folder "Trash" and keep = no' \
    "a folder named that is the trash_folder, keep = no: refused, naming both"
tap_like "$rc" "^(2|7)$" "the refusal is an error exit (2 or 7), not a success"
tap_is "$(mfd_server_count ot pw-ot-21 Trash)" 2 "the server's Trash is untouched"
mfd_expect "$MD" "" "$S/01-plain.eml" "$S/04-dot-lines.eml"

# --- The same, trash_folder "inbox/Trash": a child of INBOX spelled in
# lower case, which Dovecot lists as "INBOX.Trash" (RFC 3501 5.1: INBOX
# in any case, and what starts with it and the separator is under it).
# Review r9 02: "*" fetched it back and moved it into itself every run.
dovecot_add_user it pw-it-29
mfd_account it pw-it-29
dovecot_add_message it INBOX "$S/01-plain.eml"
dovecot_add_message it INBOX "$S/04-dot-lines.eml"
mfd_conf it 'keep = no' 'trash_folder = "inbox/Trash"' -- 'folder "*" { }'
MD=$T/it/Maildir
mfd_run_ok it 0 "trash_folder \"inbox/Trash\", folder \"*\": the first run creates it"
tap_is "$(mfd_server_count it pw-it-29 INBOX.Trash)" 2 \
    "both messages are in the server's INBOX.Trash"
mfd_run_ok it 1 "trash_folder \"inbox/Trash\": the second run does not fetch the trash"
mfd_run_ok it 1 "trash_folder \"inbox/Trash\": nor the third"
mfd_expect "$MD" "" "$S/01-plain.eml" "$S/04-dot-lines.eml"
tap_is "$(mfd_local_folders "$MD")" "" "no local .INBOX.Trash"

# --- Every folder failed: exit 5, not 7 (partial). -------------------
dovecot_add_user none pw-none-7
mfd_account none pw-none-7
mfd_conf none -- 'folder "Nosuch" { }' 'folder "Nada/x" { }'
mfd_run_ok none 5 "every configured folder missing"
tap_like "$err" 'Nosuch.*does not exist' "the error names the folder"
tap_is "$(mfd_local_folders "$T/none/Maildir")" "" "no local folder for either"

# --- --diagnose: the server's folders in UTF-8, with '/'. ---------------
dovecot_add_user diag pw-diag-3
mfd_account diag pw-diag-3
dovecot_add_folder diag "$TRASH"
dovecot_add_folder diag "$TOM"
dovecot_add_folder diag Lists.dev
mfd_conf diag -- 'folder "INBOX" { }' 'folder "Корзина" { }' \
    'folder "Tom&Jennifer-Wedding" { }' 'folder "Lists/dev" { }'
"$MAILFETCHD" -c "$T/diag/mailfetchd.conf" --diagnose >"$T/out" 2>&1
rc=$?
out=$(cat "$T/out")
cat "$T/out" >>"$T/all-output"
tap_is "$rc" 0 "--diagnose: every configured folder found"
tap_like "$out" '"Корзина"' "--diagnose lists Корзина in UTF-8"
tap_unlike "$out" '\\320' "--diagnose prints no octal escapes"
tap_like "$out" '"Tom&Jennifer-Wedding"' "--diagnose lists Tom&Jennifer-Wedding decoded"
tap_like "$out" '"Lists/dev"' "--diagnose lists Lists.dev as configured, Lists/dev"
tap_like "$out" "separates folder levels with '\\.'" "--diagnose names the separator"
mfd_conf diag -- 'folder "Nosuch" { }'
"$MAILFETCHD" -c "$T/diag/mailfetchd.conf" --diagnose >"$T/out" 2>&1
tap_is "$?" 5 "--diagnose: the only folder missing: exit 5"
cat "$T/out" >>"$T/all-output"

mfd_no_sanitizer
tap_done
