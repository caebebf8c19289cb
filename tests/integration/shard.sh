#!/bin/bash
# shard.sh: many instances, one set of accounts (shard = K/N), against a
# real Dovecot with 200 users, one configuration and one shared state_dir:
#  - the --check-config listings of 4 instances cover the 200 accounts,
#    each exactly once; 4 concurrent --once runs fetch each account in
#    exactly one instance (the one that lists it), each message once;
#  - 4 -> 5 instances: the accounts that move are the ones the listings
#    say (rendezvous hashing: only to the new instance, 10%-30% of them),
#    and 5 concurrent --once runs deliver the second message of every
#    account once: a moved account's new instance continues from the
#    state its old one left in the shared state_dir, no message doubled;
#  - a re-shard in flight: an old daemon (K of 4) still runs when the new
#    daemon 5 of 5 starts; the new one does not exit (it did: "another
#    mailfetchd is fetching accounts"), it skips each account the old one
#    holds, logged once over several polls, while the old one fetches
#    it; when the old one stops, the new one takes the account over and
#    fetches its next message; every message delivered once;
#  - Dovecot's log of logins: no account had two sessions at the same
#    moment over the whole test;
#  - --once --account of another instance's account: refused (exit 2),
#    naming the owner; --shard 0/4 and 5/4: refused; --status names the
#    instance's share.
# 200 users: dovecot_add_user is a few forks per user (~10 s in all).
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"

NUSERS=200
mfd_init
dovecot_start

users=()
for ((i = 0; i < NUSERS; i++)); do
	users+=("$(printf 'u%03d' "$i")")
done
# msg USER N: the Nth message of USER into its Dovecot INBOX.
msg()
{
	printf 'From: s@example.org\nTo: %s@example.net\nSubject: %s-%s\nMessage-ID: <%s.%s@shard.test>\n\nbody %s %s\n' \
	    "$1" "$1" "$2" "$1" "$2" "$1" "$2" >"$T/m.eml"
	dovecot_add_message "$1" INBOX "$T/m.eml"
}
for u in "${users[@]}"; do
	dovecot_add_user "$u" "pw-$u-7f3"
	mfd_account "$u" "pw-$u-7f3"
	msg "$u" 1
done
CONF=$T/shard.conf
daemon_conf "$CONF" "${users[@]}"
# 200 accounts to one server: the default per-host cap is none; keep the
# load polite.
printf 'max_connections = 16\n' >>"$CONF"

tap_plan 32

# owned K N: the accounts instance K of N lists, one per line, sorted.
owned()
{
	"$MAILFETCHD" -c "$CONF" --shard "$1/$2" --check-config |
	    sed -n 's/^account "\(.*\)" {$/\1/p' | sort
}
# fetched LOG: the accounts a log says it fetched a message of, sorted.
fetched()
{
	sed -n 's/.*account=\([^ :]*\)[^:]*: fetched [1-9][0-9]* message.*/\1/p' "$1" |
	    sort -u
}
# delivered COUNT: the accounts whose Maildir does not hold COUNT messages.
delivered_not()
{
	local u n

	for u in "${users[@]}"; do
		n=$(($(mfd_count "$T/$u/Maildir" "" new) +
		    $(mfd_count "$T/$u/Maildir" "" cur)))
		[ "$n" = "$1" ] || printf '%s:%s ' "$u" "$n"
	done
}
# once_all N: --once of every instance of N at the same time; logs in
# $T/once-K-of-N.log, exit statuses in $T/once-N.rc.
once_all()
{
	local k pids=()

	for ((k = 1; k <= $1; k++)); do
		"$MAILFETCHD" -c "$CONF" --shard "$k/$1" --once \
		    >"$T/once-$k-of-$1.log" 2>&1 &
		pids+=($!)
	done
	: >"$T/once-$1.rc"
	for k in "${pids[@]}"; do
		wait "$k"
		printf '%s ' "$?" >>"$T/once-$1.rc"
	done
}

# --- 4 instances --------------------------------------------------------
for k in 1 2 3 4; do
	owned "$k" 4 >"$T/own-$k-of-4"
done
tap_is "$(cat "$T"/own-?-of-4 | sort | uniq -d | wc -l)" 0 \
    "4 instances: no account listed by two"
tap_is "$(cat "$T"/own-?-of-4 | sort -u | wc -l)" "$NUSERS" \
    "4 instances: every account listed by one"
tap_like "$("$MAILFETCHD" -c "$CONF" --shard 2-of-4 --check-config)" \
    "^# shard 2/4: $(wc -l <"$T/own-2-of-4") of $NUSERS accounts" \
    "--check-config says how many of how many (K-of-N accepted too)"

once_all 4
tap_is "$(cat "$T/once-4.rc")" "0 0 0 0 " "4 --once instances: exit 0 each"
bad=
for k in 1 2 3 4; do
	fetched "$T/once-$k-of-4.log" | cmp -s - "$T/own-$k-of-4" || bad="$bad $k"
done
tap_is "$bad" "" "each instance fetched exactly the accounts it lists"
tap_is "$(delivered_not 1)" "" "every account: its message delivered once"

# --- 5 instances --------------------------------------------------------
for k in 1 2 3 4 5; do
	owned "$k" 5 >"$T/own-$k-of-5"
done
# owner-of-4, owner-of-5 per account: what moved, and where to.
for n in 4 5; do
	for ((k = 1; k <= n; k++)); do
		sed "s/\$/ $k/" "$T/own-$k-of-$n"
	done | sort >"$T/map-$n"
done
join "$T/map-4" "$T/map-5" | awk '$2 != $3' >"$T/moved"
nmoved=$(wc -l <"$T/moved")
tap_diag "moved from 4 to 5 instances: $nmoved of $NUSERS"
if [ "$nmoved" -ge $((NUSERS / 10)) ] && [ "$nmoved" -le $((NUSERS * 3 / 10)) ]; then
	tap_ok "4 -> 5: about a fifth of the accounts move ($nmoved)"
else
	tap_fail "4 -> 5: about a fifth of the accounts move" "moved $nmoved"
fi
tap_is "$(awk '$3 != 5' "$T/moved" | wc -l)" 0 \
    "4 -> 5: an account moves only to the new instance"
tap_is "$(cut -d' ' -f1 "$T/moved")" "$(cat "$T/own-5-of-5")" \
    "4 -> 5: the new instance owns exactly the moved accounts"

for u in "${users[@]}"; do
	msg "$u" 2
done
once_all 5
tap_is "$(cat "$T/once-5.rc")" "0 0 0 0 0 " "5 --once instances: exit 0 each"
bad=
for k in 1 2 3 4 5; do
	fetched "$T/once-$k-of-5.log" | cmp -s - "$T/own-$k-of-5" || bad="$bad $k"
done
tap_is "$bad" "" "5 instances: each fetched exactly the accounts it lists"
tap_is "$(delivered_not 2)" "" \
    "every account: 2 messages, none doubled (moved ones continue the shared state)"

# --- a re-shard in flight -----------------------------------------------
# The old instance that holds the most moved accounts keeps running as
# "K of 4" while "5 of 5" starts.
old=$(awk '{print $2}' "$T/moved" | sort | uniq -c | sort -rn | awk 'NR == 1 {print $2}')
awk -v k="$old" '$2 == k {print $1}' "$T/moved" >"$T/held"
nheld=$(wc -l <"$T/held")
first=$(head -1 "$T/held")
msg "$first" 3
DLOG_OLD=$T/old.log
"$MAILFETCHD" -c "$CONF" --shard "$old/4" >"$DLOG_OLD" 2>&1 &
OLDPID=$!
tap_cleanup_add 'kill -9 "$OLDPID" 2>/dev/null; wait "$OLDPID" 2>/dev/null'
daemon_wait_file "$DLOG_OLD" "account=$first: fetched 1 message" 30 ||
    tap_diag "the old daemon did not fetch $first: $(tail -5 "$DLOG_OLD")"
daemon_start "$CONF" --shard 5/5
daemon_wait_log 'started' 20 || tap_diag "$(tail -5 "$DLOG")"
daemon_wait_log "shard 5/5: $(wc -l <"$T/own-5-of-5") of $NUSERS accounts" 5
tap_is "$?" 0 "the new daemon logs its share"
# Three more attempts of the new daemon (a fetch now each, --once asks
# the running instance) while the old one holds the account.
msg "$first" 4
for i in 1 2 3; do
	"$MAILFETCHD" -c "$CONF" --shard 5/5 --once --account "$first" \
	    >"$T/now-$i" 2>&1
	printf '%s ' "$?" >>"$T/now.rc"
done
tap_is "$(cat "$T/now.rc")" "6 6 6 " "fetch now of a held account: exit 6 (locked) each time"
tap_like "$(cat "$T/now-1")" "not fetched: another instance holds the account's lock" \
    "... saying why"
"$MAILFETCHD" -c "$CONF" --shard "$old/4" --once --account "$first" >"$T/old-now" 2>&1
tap_like "$(cat "$T/old-now")" "account=$first: fetched 1 message" \
    "the old instance fetches it meanwhile"
if kill -0 "$DPID" 2>/dev/null; then
	tap_ok "the new daemon runs beside the old one (it did exit 6)"
else
	tap_fail "the new daemon runs beside the old one" "$(tail -5 "$DLOG")"
fi
bad=
for u in $(cat "$T/held"); do
	n=$(grep -c "account=$u: .*skipped (another instance" "$DLOG")
	[ "$n" = 1 ] || bad="$bad $u:$n"
done
tap_is "$bad" "" "each of the $nheld held accounts: skipped, said once over several polls"
tap_is "$(grep -c "account=$first: fetched" "$DLOG")" 0 \
    "the new daemon fetched nothing of a held account"
tap_unlike "$(grep -E 'error|poll failed' "$DLOG")" "account=($(paste -sd'|' "$T/held")):" \
    "no error and no backoff for a held account"
st=$("$MAILFETCHD" -c "$CONF" --shard 5/5 --status 2>&1)
tap_like "$st" "^shard 5/5: [0-9]+ of $NUSERS accounts" "--status names the share"

kill -TERM "$OLDPID"
wait "$OLDPID" 2>/dev/null
msg "$first" 5
daemon_wait_log "account=$first: fetched 1 message" 30
tap_is "$?" 0 "the old daemon stopped: the new one fetches the account"
tap_is "$(grep -c "account=$first: the other instance released" "$DLOG")" 1 \
    "the take-over is said once"
kill -TERM "$DPID"
daemon_wait_exit 20
n=$(($(mfd_count "$T/$first/Maildir" "" new) + $(mfd_count "$T/$first/Maildir" "" cur)))
tap_is "$n" 5 "the account held across the re-shard: 5 messages, each once"

# --- Dovecot's own view: never two sessions of one account at once -----
# The server's log of logins: each session's login line and its end line
# ("Disconnected"), paired by Dovecot's session id. Two sessions of one
# account whose spans in the log intersect would be two instances (or two
# fetches) on one account at the same moment. A span runs from the first
# to the last of its two lines, not from login to end: the login process
# and the session's process hand their lines to Dovecot's log process
# through pipes of their own, so a short session's end can be written
# before its login (seen). Between different sessions of one account the
# test leaves seconds (a poll interval, a separate --once), so such a
# reordering cannot make two spans meet.
sessions_overlap()
{
	awk '
	/imap-login: .*Login: user=</ {
		u = $0; sub(/.*user=</, "", u); sub(/>.*/, "", u)
		s = $0; sub(/.*session=</, "", s); sub(/>.*/, "", s)
		who[s] = u; seen(s); logins++
	}
	/imap\([^)]*\)<[0-9]+><[^>]*>: .*Disconnected/ {
		s = $0; sub(/^[^<]*<[0-9]+></, "", s); sub(/>.*/, "", s)
		seen(s); ends[s] = 1
	}
	function seen(s) {
		if (!(s in first)) first[s] = NR
		last[s] = NR
	}
	END {
		for (s in who) if (s in ends) nends++
		for (a in who) for (b in who)
			if (a < b && who[a] == who[b] &&
			    first[a] <= last[b] && first[b] <= last[a])
				over = over " " who[a]
		printf "%d %d%s\n", logins, nends, over
	}' "$DC_LOG"
}
read -r nlogins nends overlaps <<<"$(sessions_overlap)"
tap_diag "Dovecot's log: $nlogins logins, $nends session ends"
# Every account logged in at least twice (the 4- and the 5-instance
# rounds) and $first three more times: a log the check cannot read would
# show too few.
if [ "$nlogins" -ge $((NUSERS * 2 + 3)) ] && [ "$nends" = "$nlogins" ]; then
	tap_ok "Dovecot's log: every login read, every session ended"
else
	tap_fail "Dovecot's log: every login read, every session ended" \
	    "logins $nlogins, ends $nends; $(grep -m3 'Login:\|Disconnected' "$DC_LOG")"
fi
tap_is "$overlaps" "" "Dovecot's log: no account had two sessions at the same moment"
for u in $overlaps; do
	tap_diag "$(grep -E "user=<$u>|imap\\($u\\)" "$DC_LOG" | tail -8)"
done

# --- refusals -----------------------------------------------------------
other=$(head -1 "$T/own-2-of-4")
"$MAILFETCHD" -c "$CONF" --shard 1/4 --once --account "$other" >"$T/o" 2>&1
tap_is "$?" 2 "--once --account of another instance's account: exit 2"
tap_like "$(cat "$T/o")" "\"$other\" belongs to shard 2/4, not to this instance \(1/4\)" \
    "... naming its owner"
out=$("$MAILFETCHD" -c "$CONF" --shard 0/4 --check-config 2>&1; echo "rc=$?")
tap_like "$(printf '%s' "$out" | tr '\n' ' ')" "--shard: shard \"0/4\": K/N needs 1 <= K <= N.* rc=2" \
    "--shard 0/4: exit 2, why"
# A file of one account: the instance of 2 that does not own it.
{ sed -n '1,/^}/p' "$CONF"; } >"$T/one.conf"
one=$(sed -n 's/^account "\(.*\)" {$/\1/p' "$T/one.conf")
for k in 1 2; do
	"$MAILFETCHD" -c "$T/one.conf" --shard "$k/2" --check-config |
	    grep -q "^account \"$one\"" || break
done
"$MAILFETCHD" -c "$T/one.conf" --shard "$k/2" >"$T/none" 2>&1
tap_is "$?" 2 "a daemon whose shard owns no account: exit 2"
tap_like "$(cat "$T/none")" "shard $k/2 owns none of the 1 account in it" "... saying so"
cat "$T"/once-*.log "$DLOG_OLD" "$DLOG" "$T"/now-* "$T/old-now" "$T/o" \
    >>"$T/all-output"
mfd_no_sanitizer
tap_done
