#!/bin/bash
# daemon_reload_tls.sh: reloads keep the daemon's memory flat. Each
# reload retires the shared TLS contexts (the CA files may have
# changed); a retired one must be freed once the last IDLE session
# borrowing it ends, not kept until exit. Twenty rounds of a reload that
# changes the account (so that its IDLE folder reconnects on a new
# context) against a real Dovecot; the daemon logs how many contexts are
# still in use after each reload (debug), which must stay small, and its
# resident memory must not grow round after round. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"

ROUNDS=20

mfd_init
dovecot_start
dovecot_add_user tls "pw-tls-0c41"
mfd_account tls "pw-tls-0c41"
CONF=$T/daemon.conf

# write_conf TIMEOUT: one account with an IDLE INBOX; a new timeout makes
# the reload restart its IDLE session.
write_conf()
{
	{
		printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state"
		daemon_block tls "idle = yes" | sed "s/timeout = 20s/timeout = $1s/"
	} >"$CONF" || tap_bail "cannot write $CONF"
}

# rss: the daemon's resident memory in kB.
rss()
{
	awk '/^VmRSS:/ { print $2 }' "/proc/$DPID/status"
}

write_conf 20
daemon_start "$CONF"
daemon_wait_log 'account=tls folder=INBOX: .*-> IDLING' 20
ok $? "the IDLE folder reaches IDLE" "$(tail -20 "$DLOG")"

for ((r = 1; r <= ROUNDS; r++)); do
	write_conf $((20 + r % 2))
	kill -HUP "$DPID"
	daemon_wait_log 'reloaded: .* 1 changed' 10 "$r" &&
	    daemon_wait_log 'account=tls folder=INBOX: .*-> IDLING' 20 \
	    $((r + 1)) || break
	[ "$r" -eq 5 ] && rss5=$(rss)
done
tap_is "$((r - 1))" "$ROUNDS" "$ROUNDS reloads each reconnect the IDLE folder"
counts=$(sed -n 's/.*TLS contexts still in use: \([0-9]*\).*/\1/p' "$DLOG")
tap_is "$(echo "$counts" | wc -l)" "$ROUNDS" \
    "each reload logs the TLS contexts still in use"
max=$(echo "$counts" | sort -n | tail -1)
[ "${max:-99}" -le 2 ]
ok $? "at most 2 TLS contexts live after any reload (saw at most ${max:-none})" \
    "$(echo $counts)"
rss_end=$(rss)
# Under --enable-asan the allocator's quarantine and shadow memory grow
# on their own: the count above is the check there.
if grep -q __asan_init "$MAILFETCHD"; then
	tap_diag "AddressSanitizer build: resident memory not compared" \
	    "(round 5 ${rss5} kB, round $ROUNDS ${rss_end} kB)"
else
	[ "$rss_end" -le $((rss5 + 192)) ]
	ok $? "resident memory stays flat (round 5 ${rss5} kB, round $ROUNDS ${rss_end} kB)"
fi

kill -TERM "$DPID"
daemon_wait_exit 10
tap_is "$drc" 0 "SIGTERM exits 0"
grep -Eq 'AddressSanitizer|runtime error' "$DLOG"
ok $((!$?)) "no sanitizer report in the daemon's log" \
    "$(grep -E 'AddressSanitizer|runtime error' "$DLOG" | head)"
tap_done
