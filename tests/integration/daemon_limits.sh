#!/bin/bash
# daemon_limits.sh: the daemon's cheap polls and limits against a real
# Dovecot. A polled folder fetched before is checked with STATUS (UIDNEXT
# UIDVALIDITY MESSAGES) and not selected while nothing is new; new mail
# makes the poll select and fetch it. An IDLE folder stops fetching once
# the daily download budget is used up: later mail stays on the server
# and the log says once when fetching resumes. --status and STATUS= show
# which folders IDLE and which are polled, the connection count, and an
# account whose OAuth2 grant must be renewed ("re-authorisation needed").
# max_connections_per_host = 2 with two IDLE accounts and a polled one on
# one host: IDLE takes one connection, never the last, so the other IDLE
# folder is polled instead (logged once) and the polls and a fetch now
# still deliver; an account capped at 1 connection polls its IDLE folder;
# Dovecot's own log never shows more connections than the caps allow.
# A folder given up to the polls is polled within seconds, not at the
# next poll_interval; one refused IDLE because polls filled the cap (a
# relay holds them) takes IDLE when a poll's connection leaves room,
# logged once each way, and then gets new mail pushed; a reload resets a
# cap that the server's "[ALERT] Too many simultaneous connections"
# lowered (a scripted server), even for an account it leaves unchanged.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"

mfd_init
dovecot_start
PY=$(_dc_python)
gen() { "$PY" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }

# block NAME LINE...: an IMAPS account on the test's Dovecot (host name
# BHOST, default localhost; port BPORT, default Dovecot's; timeout
# BTIMEOUT, default 20s); the lines give its poll interval and folders.
block()
{
	local acct=$1 line

	shift
	printf 'account "%s" {\n' "$acct"
	printf '  protocol = imap\n  host = "%s"\n' "${BHOST:-localhost}"
	printf '  port = %s\n  tls = implicit\n' "${BPORT:-$DC_IMAPS_PORT}"
	printf '  ca_file = "%s"\n' "$DC_CA"
	printf '  user = "%s"\n' "$acct"
	printf '  password_file = "%s"\n' "$T/$acct/pass"
	printf '  maildir = "%s"\n' "$T/$acct/Maildir"
	printf '  timeout = %s\n' "${BTIMEOUT:-20s}"
	for line in "$@"; do
		printf '  %s\n' "$line"
	done
	printf '}\n'
}

# count ERE: lines of the daemon's log matching ERE.
count() { grep -Ec -- "$1" "$DLOG"; }

# newcount DIR: files in DIR/new.
newcount() { find "$1/new" -maxdepth 1 -type f 2>/dev/null | wc -l; }

# waitnew DIR N SECONDS: waits until DIR/new holds N files (or more).
waitnew()
{
	local i

	for ((i = 0; i < $3 * 10; i++)); do
		[ "$(newcount "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

# status: the daemon's --status answer.
status() { "$MAILFETCHD" -c "$CONF" --status 2>&1; }

for u in sa bud st ca cb cc cd; do
	dovecot_add_user "$u" "pw-$u-5d1a"
	mfd_account "$u" "pw-$u-5d1a"
done
dovecot_add_folder sa Work
dovecot_add_folder st Work
for i in 1 2 3; do
	gen plain "$T/s$i.eml" "status-$i"
	gen big "$T/b$i.eml" 3000
	sed -i "s/^Subject: .*/Subject: budget-$i/;s/^Message-ID: .*/Message-ID: <budget-$i@gen.example>/" \
	    "$T/b$i.eml"
done
dovecot_add_message sa INBOX "$T/s1.eml"

CONF=$T/daemon.conf
{
	printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state"
	printf 'control_socket = "%s"\n' "$T/control"
	block sa 'poll_interval = 10s' 'poll_interval_override = yes' \
	    'folder "INBOX" { }' 'folder "Work" { }'
	block bud 'poll_interval = 1h' 'idle = yes' 'daily_limit = 1k' \
	    'folder "INBOX" { }'
	block st 'poll_interval = 1h' 'folder "INBOX" { idle = yes }' \
	    'folder "Work" { }'
	printf 'account "oa" {\n  protocol = imap\n  host = "localhost"\n'
	printf '  port = %s\n  tls = implicit\n  ca_file = "%s"\n' \
	    "$DC_IMAPS_PORT" "$DC_CA"
	printf '  user = "oa"\n  maildir = "%s"\n' "$T/oa/Maildir"
	printf '  poll_interval = 1h\n  folder "INBOX" { }\n'
	printf '  oauth2 {\n    client_id = "test-client"\n'
	# No grant in state_dir/oa.oauth2: the refresh fails before any
	# request is made.
	printf '    token_url = "https://127.0.0.1:9/token"\n'
	printf '    device_url = "https://127.0.0.1:9/device"\n'
	printf '    scope = "mail"\n  }\n}\n'
} >"$CONF" || tap_bail "cannot write $CONF"
mkdir -p "$T/oa"

daemon_notify_listen
daemon_start "$CONF"

# --- 1. Polls: STATUS first, SELECT only when something is new. ---
daemon_wait_log 'account=sa folder=INBOX: fetched 1 message' 20
ok $? "the first poll selects INBOX and fetches its message" \
    "$(grep 'account=sa' "$DLOG" | tail -20)"
daemon_wait_log 'account=sa folder=INBOX: > m[0-9]+ STATUS "INBOX" \(UIDNEXT UIDVALIDITY MESSAGES\)' 40 2
ok $? "later polls check INBOX with STATUS (two seen)" \
    "$(grep 'account=sa' "$DLOG" | tail -20)"
daemon_wait_log 'account=sa folder=INBOX: nothing new \(STATUS: UIDNEXT 2' 5
ok $? "STATUS with an unchanged UIDNEXT: nothing new, not selected"
tap_is "$(count 'account=sa folder=INBOX: > m[0-9]+ (SELECT|EXAMINE) ')" 1 \
    "INBOX is selected once (the first poll), not on the polls after it"
dovecot_append sa Work "$T/s2.eml" >/dev/null || tap_bail "APPEND failed"
waitnew "$T/sa/Maildir/.Work" 1 20
mfd_expect "$T/sa/Maildir" "Work" "$T/s2.eml"
tap_like "$(grep 'account=sa folder=Work: > ' "$DLOG" | tail -4)" \
    '(SELECT|EXAMINE) "Work"' \
    "new mail in Work: STATUS showed it, so the poll selected and fetched it"
n=$(count 'account=sa folder=Work: > m[0-9]+ (SELECT|EXAMINE) ')
daemon_wait_log 'account=sa folder=Work: > m[0-9]+ STATUS "Work"' 25 \
    $(($(count 'account=sa folder=Work: > m[0-9]+ STATUS "Work"') + 1))
tap_is "$(count 'account=sa folder=Work: > m[0-9]+ (SELECT|EXAMINE) ')" "$n" \
    "after that fetch, Work is not selected again while nothing is new"

# --- 2. The daily budget with IDLE. ---
daemon_wait_log 'account=bud folder=INBOX: .*-> IDLING' 20
ok $? "bud's INBOX reaches IDLE"
dovecot_append bud INBOX "$T/b1.eml" >/dev/null || tap_bail "APPEND failed"
waitnew "$T/bud/Maildir" 1 10
tap_is "$(newcount "$T/bud/Maildir")" 1 \
    "the first message (3 KB, budget 1 KB) is fetched by IDLE"
dovecot_append bud INBOX "$T/b2.eml" >/dev/null || tap_bail "APPEND failed"
daemon_wait_log 'account=bud: daily download budget reached; resuming at [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2} \(in ' 10
ok $? "a wake-up over budget logs when fetching resumes" \
    "$(grep 'account=bud' "$DLOG" | tail -10)"
dovecot_append bud INBOX "$T/b3.eml" >/dev/null || tap_bail "APPEND failed"
sleep 3
tap_is "$(newcount "$T/bud/Maildir")" 1 \
    "the next messages stay on the server while the budget is used up"
tap_is "$(count 'daily download budget reached')" 1 \
    "the pause is logged once, not for each wake-up"
tap_is "$(mfd_server_count bud pw-bud-5d1a INBOX 2>/dev/null)" 3 \
    "the server still has the three messages"
tap_like "$(status)" '^bud: waiting; idle on INBOX; connections 1; .*IDLE mail waits for the daily budget until [0-9-]{10} [0-9:]{5};' \
    "--status says the IDLE mail waits for the budget, and until when"

# --- 3. --status and STATUS=: IDLE, polled folders, connections,
# re-authorisation. ---
daemon_wait_log 'account=st folder=INBOX: .*-> IDLING' 20
ok $? "st's INBOX reaches IDLE"
out=$(status)
tap_like "$out" '^st: [a-z ]+; idle on INBOX; polling Work; connections 1; last success ' \
    "--status lists the IDLE and the polled folders and the connections" "$out"
daemon_wait_log 'account=oa: .*re-authorisation needed' 20
ok $? "the OAuth2 account without a grant fails with re-authorisation needed"
out=$(status)
tap_like "$out" '^oa: re-authorisation needed; polling INBOX; connections 0; ' \
    "--status shows the account that needs re-authorisation" "$out"
daemon_wait_file "$T/notify" '^STATUS=4 accounts: .*; 2 IDLE, [0-9]+ connections?; .*re-authorisation needed: oa' 20
ok $? "STATUS= counts the IDLE connections and names the account to re-authorise" \
    "$(tail -5 "$T/notify")"

kill -TERM "$DPID"
daemon_wait_exit 15
tap_is "$drc" 0 "SIGTERM stops the daemon"

# --- 4. Caps: IDLE never takes the last connection. ---
# localhost: ca and cb want IDLE; after the first reload cc polls there
# every 10 s. 127.0.0.1 is another host name for the caps: cd wants IDLE
# but may hold 1 connection.
# capconf PER_HOST [cc]: the configuration, with cc or without.
capconf()
{
	printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state"
	printf 'control_socket = "%s"\n' "$T/control"
	printf 'max_connections_per_host = %s\n' "$1"
	block ca 'poll_interval = 1h' 'idle = yes' 'folder "INBOX" { }'
	block cb 'poll_interval = 1h' 'idle = yes' 'folder "INBOX" { }'
	[ "${2:-}" = cc ] && block cc 'poll_interval = 10s' \
	    'poll_interval_override = yes' 'folder "INBOX" { }'
	BHOST=127.0.0.1 block cd 'poll_interval = 1h' 'idle = yes' \
	    'max_connections = 1' 'folder "INBOX" { }'
}
# reconf FUNC ARGS...: FUNC ARGS as the new configuration, SIGHUP, and
# the reload's log line.
reconf()
{
	local n

	n=$(count ' reloaded: ')
	"$@" >"$CONF" || tap_bail "cannot write $CONF"
	kill -HUP "$DPID"
	daemon_wait_log ' reloaded: ' 10 $((n + 1)) ||
	    tap_bail "no reload: $(tail -5 "$DLOG")"
}
# reload PER_HOST [cc]: reconf with capconf.
reload() { reconf capconf "$@"; }
# maxconns ERE [FILE]: the most sessions of users matching ERE that
# Dovecot had open at once, replaying its log (Login +1, Disconnected -1,
# by the imap process id).
maxconns()
{
	awk -v re="$1" '
	    /imap-login: .*Login: user=</ {
		u = $0; sub(/.*user=</, "", u); sub(/>.*/, "", u)
		p = $0; sub(/.*mpid=/, "", p); sub(/[^0-9].*/, "", p)
		if (u ~ re) { open[p] = 1; n++; if (n > max) max = n }
	    }
	    /imap\([a-z]+\)<[0-9]+>.*Disconnected/ {
		p = $0; sub(/[^<]*</, "", p); sub(/>.*/, "", p)
		if (p in open) { delete open[p]; n-- }
	    }
	    END { print max + 0 }' "${2:-$DC_LOG}"
}
CONF=$T/cap.conf
capconf 2 >"$CONF" || tap_bail "cannot write $CONF"
"$MAILFETCHD" -c "$CONF" --check-config >"$T/check.out" 2>&1
tap_is "$?" 0 "max_connections_per_host is a valid option" "$(cat "$T/check.out")"
for u in ca cb cc cd; do
	for i in 1 2; do
		gen plain "$T/cap-$u$i.eml" "cap-$u$i"
	done
done
# The first daemon's log goes where the sanitizer check looks.
cat "$DLOG" >>"$T/all-output"
: >"$T/daemon.log"
daemon_start "$CONF"
daemon_wait_log 'account=c[ab] folder=INBOX: .*-> IDLING' 20
ok $? "one of the two IDLE accounts on localhost IDLEs"
daemon_wait_log 'account=c[ab] folder=INBOX: account c[ab]: no new IDLE connection to localhost: the per-host limit of 2 connections keeps one free for polls; polling this folder instead of IDLE' 10
ok $? "the other one's folder is polled instead: IDLE leaves one connection free" \
    "$(tail -20 "$DLOG")"
daemon_wait_log 'account=cd folder=INBOX: account cd: no new IDLE connection to 127.0.0.1: the account.s limit of 1 connection keeps it free for polls; polling this folder instead of IDLE' 10
ok $? "an account capped at 1 connection polls its IDLE folder" \
    "$(grep 'account=cd' "$DLOG" | tail -10)"
idler=$(grep -Eo 'account=c[ab] folder=INBOX: .*-> IDLING' "$DLOG" |
    head -1 | cut -c9-10)
[ -n "$idler" ] || tap_bail "no IDLE account"
polled=ca
[ "$idler" = ca ] && polled=cb

# A polled account joins the host IDLE uses: its polls get the free
# connection (before, IDLE could hold every one and they waited).
reload 2 cc
daemon_wait_log 'account=cc: ' 20
dovecot_append cc INBOX "$T/cap-cc1.eml" >/dev/null || tap_bail "APPEND failed"
dovecot_append "$idler" INBOX "$T/cap-${idler}1.eml" >/dev/null ||
    tap_bail "APPEND failed"
start=$(_dc_now_ms)
waitnew "$T/cc/Maildir" 1 30
tap_is "$(newcount "$T/cc/Maildir")" 1 \
    "the polled account's new message arrives while IDLE holds a connection" \
    "$(grep -E 'account=cc' "$DLOG" | tail -10)"
tap_diag "cc's message delivered $(($(_dc_now_ms) - start)) ms after APPEND"
tap_is "$(newcount "$T/$idler/Maildir")" 1 \
    "the IDLE account's message arrives too"
# Fetch now for the folders left to polling: a connection is free for it
# on each host.
dovecot_append "$polled" INBOX "$T/cap-${polled}1.eml" >/dev/null ||
    tap_bail "APPEND failed"
dovecot_append cd INBOX "$T/cap-cd1.eml" >/dev/null || tap_bail "APPEND failed"
timeout 60 "$MAILFETCHD" -c "$CONF" --once >"$T/once.out" 2>&1
tap_is "$?" 0 "fetch now through the daemon gets a connection and new mail" \
    "$(cat "$T/once.out")"
tap_is "$(newcount "$T/$polled/Maildir")$(newcount "$T/cd/Maildir")" 11 \
    "the IDLE folders left to polling are fetched by it"
tap_is "$(count 'account=c[ab] folder=INBOX: IDLE: connecting to ')" 1 \
    "only one IDLE connection to localhost"
tap_is "$(count 'polling this folder instead of IDLE')" 2 \
    "each fallback is logged once (a reload only adding an account keeps them)"
out=$(status)
tap_like "$out" "$polled: [a-z ]+; polling INBOX; connections 0; " \
    "--status shows the capped account's INBOX as polled" "$out"
sleep 1
cp "$DC_LOG" "$T/dc-cap2.log"
tap_is "$(maxconns '^c[abc]$' "$T/dc-cap2.log")" 2 \
    "Dovecot saw at most 2 sessions to localhost's accounts at once (and 2 were used)"
tap_is "$(maxconns '^cd$' "$T/dc-cap2.log")" 1 \
    "and at most 1 session of the capped account"

# A reload raising the cap: the polled folder tries IDLE again, gets it.
reload 3 cc
daemon_wait_log "account=$polled folder=INBOX: .*-> IDLING" 20
ok $? "after a reload raising the cap to 3, $polled's INBOX IDLEs too" \
    "$(grep "account=$polled" "$DLOG" | tail -10)"
# And lowering it again gives one IDLE up (the newest), gracefully, and
# its folder goes back to the polls.
n=$(grep -c "imap($polled).*Logged out" "$DC_LOG")
np=$(count "account=$polled: polling localhost")
reload 2 cc
daemon_wait_log "account=$polled folder=INBOX: a lowered connection cap leaves this IDLE connection no room; polling this folder instead of IDLE" 10
ok $? "a reload lowering the cap gives the newest IDLE connection up" \
    "$(tail -10 "$DLOG")"
start=$(_dc_now_ms)
daemon_wait_file "$DC_LOG" "imap\\($polled\\).*Logged out" 10 $((n + 1))
ok $? "that IDLE session logs out" "$(grep "imap($polled)" "$DC_LOG" | tail -3)"
# Its account polls every hour, and its last poll was a while ago: the
# folder given up is polled now, not up to an hour later.
daemon_wait_log "account=$polled: polling localhost" 15 $((np + 1))
ok $? "the folder given up is polled within seconds (poll_interval 1h)" \
    "$(grep "account=$polled" "$DLOG" | tail -10)"
tap_diag "first poll $(($(_dc_now_ms) - start)) ms after the IDLE session ended"
out=$(status)
# (connections 1 while that poll runs)
tap_like "$out" "$polled: [a-z ]+; polling INBOX; connections [01]; " \
    "--status shows its INBOX as polled again" "$out"
tap_like "$out" "$idler: [a-z ]+; idle on INBOX; connections 1; " \
    "the other IDLE connection stays" "$out"
dovecot_append cc INBOX "$T/cap-cc2.eml" >/dev/null || tap_bail "APPEND failed"
dovecot_append "$polled" INBOX "$T/cap-${polled}2.eml" >/dev/null ||
    tap_bail "APPEND failed"
waitnew "$T/cc/Maildir" 2 30
tap_is "$(newcount "$T/cc/Maildir")" 2 "cc's polls still get a connection"
timeout 60 "$MAILFETCHD" -c "$CONF" --once --account "$polled" \
    >"$T/once.out" 2>&1
tap_is "$(newcount "$T/$polled/Maildir")" 2 \
    "and a fetch now of the folder given up" "$(cat "$T/once.out")"

kill -TERM "$DPID"
daemon_wait_exit 15
tap_is "$drc" 0 "SIGTERM stops the daemon"

# --- 5. IDLE refused while polls fill the cap takes it when one ends.
# 127.0.0.1 allows 3: ia IDLEs (direct), pa and pb poll every 10 s
# through a relay that can hold their sessions. ib, added by a reload
# while both polls hang, finds the cap full and is polled; when the relay
# lets the polls finish, ib takes IDLE. al (section 6, added later: its
# polls change caps) polls a scripted server answering every login with
# [ALERT] Too many simultaneous connections.
: >"$T/alert.port"
# Never exits on its own: the daemon polls it only now and then.
"$PY" "$MFD_LIBDIR/refuse.py" imap \
    'NO [ALERT] Too many simultaneous connections. (Failure)' 0 \
    >"$T/alert.port" &
APID=$!
tap_cleanup_add "kill $APID 2>/dev/null; wait $APID 2>/dev/null"
ALERT_PORT=""
for ((i = 0; i < 100; i++)); do
	read -r ALERT_PORT <"$T/alert.port" 2>/dev/null && break
	sleep 0.05
done
[ -n "$ALERT_PORT" ] || tap_bail "refuse.py did not start"
mfd_relay "$DC_IMAPS_PORT" "$T/relay.capture"
for u in ia ib pa pb; do
	dovecot_add_user "$u" "pw-$u-5d1a"
	mfd_account "$u" "pw-$u-5d1a"
done
gen plain "$T/room-ib1.eml" "room-ib1"
mkdir -p "$T/al"
printf 'pw-al\n' >"$T/al/pass" && chmod 600 "$T/al/pass"
# roomconf [ib [al]]: the configuration, with ib and al or without.
roomconf()
{
	printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state"
	printf 'control_socket = "%s"\n' "$T/control"
	printf 'max_connections_per_host = 3\n'
	BHOST=127.0.0.1 block ia 'poll_interval = 1h' 'idle = yes' \
	    'folder "INBOX" { }'
	for u in pa pb; do
		BHOST=127.0.0.1 BPORT=$RELAY_PORT BTIMEOUT=90s block "$u" \
		    'poll_interval = 10s' 'poll_interval_override = yes' \
		    'folder "INBOX" { }'
	done
	[ "${1:-}" = ib ] && BHOST=127.0.0.1 block ib 'poll_interval = 1h' \
	    'idle = yes' 'folder "INBOX" { }'
	[ "${2:-}" = al ] || return 0
	printf 'account "al" {\n  protocol = imap\n  host = "localhost"\n'
	printf '  port = %s\n  tls = none\n  user = "al"\n' "$ALERT_PORT"
	printf '  password_file = "%s"\n' "$T/al/pass"
	printf '  maildir = "%s"\n  poll_interval = 1h\n' "$T/al/Maildir"
	printf '  max_connections = 3\n  folder "INBOX" { }\n}\n'
}
# roomreload [ib [al]]: reconf with roomconf.
roomreload() { reconf roomconf "$@"; }
CONF=$T/room.conf
roomconf >"$CONF" || tap_bail "cannot write $CONF"
cat "$DLOG" >>"$T/all-output"
: >"$T/daemon.log"
dclines=$(wc -l <"$DC_LOG")
# A simulated suspend (src/fault.h) lets section 6 pass the 5 minutes a
# busy server asked for.
echo 0 >"$T/suspend" || tap_bail "cannot write $T/suspend"
MAILFETCHD_SUSPEND=$T/suspend:1 daemon_start "$CONF"
daemon_wait_log 'account=ia folder=INBOX: .*-> IDLING' 20
ok $? "ia's INBOX IDLEs"
daemon_wait_log 'account=p[ab]: nothing new; next poll in' 20 2
ok $? "pa and pb poll through the relay" "$(tail -10 "$DLOG")"
# Hold the polls: each next one hangs, holding its connection.
kill -USR1 "$RELAY_PID"
na=$(count 'account=pa: polling 127.0.0.1')
nb=$(count 'account=pb: polling 127.0.0.1')
daemon_wait_log 'account=pa: polling 127.0.0.1' 20 $((na + 1)) &&
    daemon_wait_log 'account=pb: polling 127.0.0.1' 20 $((nb + 1))
ok $? "pa and pb are polling, held by the relay" "$(tail -10 "$DLOG")"
roomreload ib
daemon_wait_log 'account=ib folder=INBOX: account ib: no new IDLE connection to 127.0.0.1: the per-host limit of 3 connections reached; polling this folder instead of IDLE' 10
ok $? "ib's IDLE finds the cap full of polls: its folder is polled" \
    "$(grep 'account=ib' "$DLOG" | tail -10)"
out=$(status)
tap_like "$out" 'ib: [a-z ]+; polling INBOX; ' \
    "--status shows ib's INBOX polled" "$out"
kill -USR2 "$RELAY_PID"
start=$(_dc_now_ms)
daemon_wait_log 'account=ib folder=INBOX: a connection is free for IDLE again; IDLE instead of polling this folder' 30
ok $? "once the polls end, ib's folder leaves the polls for IDLE" \
    "$(grep -E 'account=(ib|pa|pb)' "$DLOG" | tail -15)"
daemon_wait_log 'account=ib folder=INBOX: .*-> IDLING' 20
ok $? "ib's INBOX IDLEs" "$(grep 'account=ib' "$DLOG" | tail -10)"
tap_diag "ib in IDLE $(($(_dc_now_ms) - start)) ms after the relay let the polls go"
np=$(count 'account=ib: polling 127.0.0.1')
dovecot_append ib INBOX "$T/room-ib1.eml" >/dev/null || tap_bail "APPEND failed"
start=$(_dc_now_ms)
waitnew "$T/ib/Maildir" 1 10
tap_is "$(newcount "$T/ib/Maildir")" 1 \
    "new mail in ib's INBOX is pushed within 10 s (poll_interval 1h)" \
    "$(grep 'account=ib' "$DLOG" | tail -10)"
tap_diag "delivered $(($(_dc_now_ms) - start)) ms after APPEND"
tap_is "$(count 'account=ib: polling 127.0.0.1')" "$np" \
    "by IDLE, not by a poll"
# pa and pb go on polling over the one slot IDLE leaves them: ib keeps
# IDLE, and nothing switches back and forth.
n=$(count 'account=p[ab]: nothing new; next poll in')
daemon_wait_log 'account=p[ab]: nothing new; next poll in' 30 $((n + 3))
ok $? "pa and pb go on polling next to two IDLE connections"
got="$(count 'info: account=ib folder=INBOX: .*polling this folder instead of IDLE') $(count 'account=ib folder=INBOX: a connection is free for IDLE again')"
tap_is "$got" "1 1" \
    "one fallback and one return to IDLE logged, no flip-flopping"
[ "$got" = "1 1" ] || tap_diag "$(grep -E 'account=ib' "$DLOG" | head -40)"
out=$(status)
tap_like "$out" 'ib: [a-z ]+; idle on INBOX; connections 1; ' \
    "--status shows ib's INBOX IDLE" "$out"
sleep 1
tail -n +$((dclines + 1)) "$DC_LOG" >"$T/dc-room.log"
tap_is "$(maxconns '^(ia|ib|pa|pb)$' "$T/dc-room.log")" 3 \
    "Dovecot saw at most 3 sessions to 127.0.0.1's accounts at once"

# --- 6. A reload resets the cap [ALERT] lowered, even unchanged. ---
roomreload ib al
daemon_wait_log 'account=al: .*too many simultaneous connections; using at most 2 from now on \(until reload\)' 10
ok $? "[ALERT] Too many simultaneous connections lowers al's cap from 3 to 2" \
    "$(grep 'account=al' "$DLOG" | tail -5)"
roomreload ib al
daemon_wait_log 'account=al: the connection cap lowered after the server reported too many connections is reset by the reload' 5
ok $? "a reload leaving al unchanged says its cap is reset" \
    "$(grep 'account=al' "$DLOG" | tail -5)"
tap_like "$(grep ' reloaded: ' "$DLOG" | tail -1)" \
    '0 accounts added, 0 removed, 0 changed' "(the reload changed no account)"
# The server asked al to wait (a busy refusal): a fetch now does not
# log in before that (fetch_now_busy.sh), a reload does not shorten it.
timeout 60 "$MAILFETCHD" -c "$CONF" --once --account al >"$T/once.out" 2>&1
tap_is "$?" 10 "a fetch now of al is deferred: the server asked to wait" \
    "$(cat "$T/once.out")"
# Six minutes later (a suspend: every account is checked at once) al
# logs in again.
echo 360000 >"$T/suspend.new" && mv "$T/suspend.new" "$T/suspend" ||
    tap_bail "cannot write $T/suspend"
daemon_wait_log 'account=al: .*using at most 2 from now on' 15 2
ok $? "the next [ALERT] lowers it from 3 again, to 2" \
    "$(grep 'account=al' "$DLOG" | tail -5)"
tap_is "$(count 'account=al: .*using at most 1 ')" 0 \
    "and not from the lowered cap (to 1)"

kill -TERM "$DPID"
daemon_wait_exit 15
tap_is "$drc" 0 "SIGTERM stops the daemon"
cat "$DLOG" >>"$T/all-output"
mfd_no_sanitizer
tap_done
