#!/bin/bash
# idle_roles.sh: IMAP IDLE in the daemon on a folder named by its
# special-use role (issue 15, what users need 1): folder '\Sent' with
# idle = yes holds the server's \Sent folder ("Отправленные") open and
# delivers what is appended there within seconds; the polls, whose
# pattern "*" also matches that folder, pass over it (the IDLE session
# holds it) rather than fetch it twice or refuse it as a second folder
# delivering to the same local folder. Review r10 01 and 07: keep = no
# with the \Trash folder held by IDLE deletes rather than moving mail
# there (it would be delivered again); an IDLE role folder the server
# has none of is logged as that, not as a protocol error. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"

DC_EXTRA_CONF='namespace inbox {
  mailbox "Отправленные" {
    special_use = \Sent
  }
  mailbox "Trash" {
    special_use = \Trash
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

# --- keep = no, folder '\Trash' { idle = yes }, and a missing role. -----
kill -TERM "$DPID" 2>/dev/null
daemon_wait_exit 20 || tap_bail "the daemon did not stop"
dovecot_add_user iz pw-iz-72
mfd_account iz pw-iz-72
dovecot_add_folder iz Trash
gen plain "$T/z1.eml" idle-trash-1
gen plain "$T/z2.eml" idle-trash-2
dovecot_add_message iz INBOX "$T/z1.eml"
dovecot_add_message iz INBOX "$T/z2.eml"
{
	printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state"
	daemon_block iz 'keep = no' "folder '\\Trash' { idle = yes }" \
	    "folder '\\Archive' { idle = yes }"
} >"$CONF" || tap_bail "cannot write $CONF"
: >"$DLOG"
daemon_start "$CONF"
daemon_wait_log 'account=iz folder=INBOX: fetched 2 message' 20
tap_is $? 0 "the poll fetched INBOX" "$(tail -20 "$DLOG")"
daemon_wait_log 'account=iz folder=Trash.*-> IDLING' 20
tap_is $? 0 "the '\\Trash' folder reaches IDLE" "$(tail -20 "$DLOG")"
for ((i = 0; i < 100; i++)); do	# 5 s: the IDLE session would have them
	[ -n "$(find "$T/iz/Maildir/.Trash/new" -type f 2>/dev/null)" ] && break
	sleep 0.05
done
mfd_expect "$T/iz/Maildir" "" "$T/z1.eml" "$T/z2.eml"
tap_is "$(find "$T/iz/Maildir/.Trash/new" -type f 2>/dev/null | wc -l)" 0 \
    "nothing delivered a second time from Trash (IDLE)"
tap_is "$(mfd_server_count iz pw-iz-72 INBOX) $(mfd_server_count iz pw-iz-72 Trash)" \
    "0 0" "INBOX expunged, nothing moved into the Trash the IDLE session holds"
daemon_wait_log "account=iz folder=.Archive: IDLE: the folder is not on the server" 20
tap_is $? 0 "the missing IDLE role folder is logged as missing" \
    "$(grep -i archive "$DLOG" | tail -5)"
tap_unlike "$(grep -i 'folder=.Archive' "$DLOG")" 'server protocol error' \
    "not as a server protocol error"

mfd_no_sanitizer
tap_done
