#!/bin/bash
# idle_inbox_case.sh: INBOX is INBOX in any case as the first hierarchy
# level too (RFC 3501 5.1; review r9 08): folder "inbox/Sub" with idle =
# yes and folder "*" in the daemon. Dovecot lists the folder as
# "INBOX/Sub"; the polls pass over it (the IDLE session holds it) rather
# than fetch it too, into the same local folder, racing that session
# (before, only a bare "INBOX" was compared without case). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"

S=$DC_SAMPLES
mfd_init
dovecot_start
dovecot_add_user ix pw-ix-19
mfd_account ix pw-ix-19
dovecot_add_message ix INBOX/Sub "$S/01-plain.eml"
dovecot_add_message ix INBOX "$S/03-multipart.eml"
CONF=$T/daemon.conf
{
	printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state"
	daemon_block ix 'folder "inbox/Sub" { idle = yes }' 'folder "*" { }'
} >"$CONF" || tap_bail "cannot write $CONF"

daemon_start "$CONF"
daemon_wait_log 'account=ix.*-> IDLING' 20
tap_is $? 0 "the \"inbox/Sub\" folder reaches IDLE" "$(tail -20 "$DLOG")"
daemon_wait_log 'account=ix folder=INBOX: fetched' 20
tap_is $? 0 "the first poll fetches INBOX" "$(tail -20 "$DLOG")"

dovecot_append ix INBOX/Sub "$S/04-dot-lines.eml" >/dev/null
for ((i = 0; i < 500; i++)); do	# 10 s at most: IDLE, not the poll
	[ "$(find "$T/ix/Maildir/.INBOX.Sub/new" -type f 2>/dev/null |
	    wc -l)" -ge 2 ] && break
	sleep 0.02
done
# A second poll of "*" (every 10 s) meets "INBOX/Sub" again.
daemon_wait_log 'account=ix folder=INBOX: fetched' 25 2
tap_is $? 0 "a later poll ran" "$(tail -20 "$DLOG")"
mfd_expect "$T/ix/Maildir" INBOX/Sub "$S/01-plain.eml" "$S/04-dot-lines.eml"
mfd_expect "$T/ix/Maildir" "" "$S/03-multipart.eml"
# Each session that takes a folder goes on from its LIST to SELECT (or to
# STATUS first, in a poll): only the IDLE session's connections may.
opened=$(grep -cE 'account=ix folder=INBOX/Sub: LIST -> ' "$DLOG")
connects=$(grep -c 'account=ix folder=inbox/Sub: IDLE: connecting' "$DLOG")
tap_is "$opened" "$connects" \
    "only the IDLE session takes INBOX/Sub: the polls pass over it"
tap_unlike "$(cat "$DLOG")" ' error: ' "no error logged"

mfd_no_sanitizer
tap_done
