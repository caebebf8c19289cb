#!/bin/bash
# imap_trash_role_moved.sh: on a real Dovecot, keep = no with
# trash_folder = '\Trash' and folder "*" (issue 15, review r11 01c). Run 1
# moves INBOX's messages into "Trash" (the \Trash folder); the admin then
# gives \Trash to "Deleted Messages" and restarts. The pattern must not
# fetch "Trash", which holds everything run 1 delivered: mailfetchd
# remembers the folders it moved mail into (the state's "trashed"
# records). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"

DC_EXTRA_CONF='namespace inbox {
  mailbox "Trash" {
    special_use = \Trash #T1
  }
  mailbox "Deleted Messages" {
    #T2
  }
}'
mfd_init
dovecot_start
S=$DC_SAMPLES
dovecot_add_user u pw-u-91
dovecot_add_folder u Trash
dovecot_add_folder u "Deleted Messages"
dovecot_add_message u INBOX "$S/01-plain.eml"
dovecot_add_message u INBOX "$S/05-reply.eml"
mfd_account u pw-u-91
mfd_conf u 'keep = no' "trash_folder = '\\Trash'" -- 'folder "INBOX" { }' \
    'folder "*" { }'
MD=$T/u/Maildir
files() { find "$MD" -type f \( -path '*/new/*' -o -path '*/cur/*' \) | wc -l; }
server() { echo "$(mfd_server_count u pw-u-91 INBOX) $(mfd_server_count u pw-u-91 Trash) $(mfd_server_count u pw-u-91 'Deleted Messages')"; }

mfd_run_ok u 0 "run 1: fetched"
tap_is "$(files) $(server)" "2 0 2 0" "run 1: 2 delivered, moved into Trash"
sed -i 's/special_use = \\Trash #T1/#T1/; s/#T2/special_use = \\Trash/' \
    "$DC_CONF" || tap_bail "cannot edit $DC_CONF"
dovecot_restart
tap_like "$(dovecot_imap_cmd u pw-u-91 'LIST "" "*" RETURN (SPECIAL-USE)')" \
    'LIST \([^)]*\\Trash[^)]*\) "/" "Deleted Messages"' \
    "the \\Trash role is now \"Deleted Messages\""
mfd_run_ok u 1 "run 2: nothing new"
tap_like "$err" 'trash_folder "\\Trash" is the server.s "Deleted Messages"' \
    "run 2: the trash is the new \\Trash folder"
tap_is "$(files) $(server)" "2 0 2 0" \
    "run 2: Trash (what run 1 moved there) not fetched again"
mfd_run_ok u 1 "run 3: nothing new"
mfd_expect "$MD" "" "$S/01-plain.eml" "$S/05-reply.eml"
tap_is "$(files)" 2 "run 3: still 2 files for 2 messages"

tap_done
