#!/bin/bash
# idle_mirror.sh: local_flags = mirror in the daemon's IDLE session
# against Dovecot. Each IDLE round ends with the flag sync, asked with
# CHANGEDSINCE even when the SELECT's HIGHESTMODSEQ was synced (the round
# comes later than the SELECT): a flag another client changed reaches the
# Maildir with the next round (here the one an APPEND wakes), and the
# session goes back to IDLE. A flag change alone wakes no round. TAP
# output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"

mfd_init
dovecot_start
for i in 1 2; do
	"$(_dc_python)" "$top_srcdir/tests/lib/gen_msg.py" plain "$T/m$i.eml" \
	    "mirror-$i" || tap_bail "gen_msg.py failed"
done
dovecot_add_user im pw-im-5eed
mfd_account im pw-im-5eed
dovecot_add_message im INBOX "$T/m1.eml"
CONF=$T/daemon.conf
{
	printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state"
	daemon_block im 'idle = yes' 'local_flags = mirror'
} >"$CONF" || tap_bail "cannot write $CONF"

daemon_start "$CONF"
daemon_wait_log 'account=im folder=INBOX: .*-> IDLING' 20
ok $? "the first round fetches and reaches IDLE" "$(tail -20 "$DLOG")"
mfd_expect "$T/im/Maildir" "" "$T/m1.eml"
tap_is "$(mfd_where "$T/im/Maildir" "$T/m1.eml")" "new/" "m1 unread: new/"

dovecot_imap_cmd im pw-im-5eed 'SELECT INBOX' 'UID STORE 1 +FLAGS (\Seen)' \
    >/dev/null
ok $? "another client marks m1 read"
dovecot_append im INBOX "$T/m2.eml" >/dev/null || tap_bail "APPEND failed"
daemon_wait_log 'account=im folder=INBOX: .*-> IDLING' 20 2
ok $? "the round the APPEND wakes goes back to IDLE" "$(tail -20 "$DLOG")"
mfd_expect "$T/im/Maildir" "" "$T/m1.eml" "$T/m2.eml"
tap_is "$(mfd_where "$T/im/Maildir" "$T/m1.eml")" "cur/:2,S" \
    "m1 read on the server: :2,S after the round"
tap_like "$(grep -c 'account=im folder=INBOX: > [A-Za-z0-9]* UID FETCH 1:[0-9]* (UID FLAGS) (CHANGEDSINCE [0-9]*)$' "$DLOG")" \
    '^[12]$' "the rounds ask with CHANGEDSINCE"
kill -TERM "$DPID"
daemon_wait_exit 15
tap_is "$drc" 0 "SIGTERM: exit 0"
tap_like "$(grep '^modseq INBOX ' "$T/state/im.state")" \
    '^modseq INBOX [0-9]+ [1-9][0-9]*$' "the HIGHESTMODSEQ is saved"
mfd_no_sanitizer

tap_done
