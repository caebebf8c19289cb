#!/bin/bash
# idle_roles.sh: IMAP IDLE in the daemon on a folder named by its
# special-use role (issue 15, what users need 1): folder '\Sent' with
# idle = yes holds the server's \Sent folder ("Отправленные") open and
# delivers what is appended there within seconds; the polls, whose
# pattern "*" also matches that folder, pass over it (the IDLE session
# holds it) rather than fetch it twice or refuse it as a second folder
# delivering to the same local folder. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"

DC_EXTRA_CONF='namespace inbox {
  mailbox "Отправленные" {
    special_use = \Sent
  }
}'
mfd_init
dovecot_start
gen() { "$(_dc_python)" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }

SENT=$(dovecot_mutf7 'Отправленные')
dovecot_add_user ir pw-ir-71
mfd_account ir pw-ir-71
dovecot_add_folder ir "$SENT"
dovecot_add_folder ir Lists
for i in 1 2 3; do
	gen plain "$T/m$i.eml" "idle-role-$i"
done
dovecot_add_message ir "$SENT" "$T/m1.eml"
dovecot_add_message ir Lists "$T/m2.eml"
CONF=$T/daemon.conf
{
	printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state"
	daemon_block ir "folder '\\Sent' { idle = yes }" 'folder "*" { }'
} >"$CONF" || tap_bail "cannot write $CONF"

daemon_start "$CONF"
daemon_wait_log 'account=ir.*-> IDLING' 20
tap_is $? 0 "the '\\Sent' folder reaches IDLE" "$(tail -20 "$DLOG")"
daemon_wait_log 'account=ir.*fetched 1 message' 20 2
tap_is $? 0 "the IDLE session and the poll each fetch their folder" \
    "$(tail -20 "$DLOG")"
mfd_expect "$T/ir/Maildir" "Отправленные" "$T/m1.eml"
mfd_expect "$T/ir/Maildir" Lists "$T/m2.eml"

dovecot_append ir "$SENT" "$T/m3.eml" >/dev/null
for ((i = 0; i < 500; i++)); do	# 10 s at most: IDLE, not the poll
	[ "$(find "$T/ir/Maildir/.Отправленные/new" -type f | wc -l)" -ge 2 ] &&
	    break
	sleep 0.02
done
mfd_expect "$T/ir/Maildir" "Отправленные" "$T/m1.eml" "$T/m3.eml"

# A second poll of "*" (every 10 s) meets "Отправленные" again.
daemon_wait_log 'account=ir.*(nothing new|fetched)' 25 3
tap_is $? 0 "a later poll ran" "$(tail -20 "$DLOG")"
log=$(cat "$DLOG")
tap_unlike "$log" 'would both be delivered' \
    "the poll passes over the folder the IDLE session holds by role"
tap_unlike "$log" ' error: ' "no error logged"
tap_like "$log" 'folder "\\Sent" is the server.s "Отправленные"' \
    "the IDLE session resolved the role"

mfd_no_sanitizer
tap_done
