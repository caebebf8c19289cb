#!/bin/bash
# daemon_limits.sh: the daemon's cheap polls and limits against a real
# Dovecot. A polled folder fetched before is checked with STATUS (UIDNEXT
# UIDVALIDITY MESSAGES) and not selected while nothing is new; new mail
# makes the poll select and fetch it. An IDLE folder stops fetching once
# the daily download budget is used up: later mail stays on the server
# and the log says once when fetching resumes. --status and STATUS= show
# which folders IDLE and which are polled, the connection count, and an
# account whose OAuth2 grant must be renewed ("re-authorisation needed").
# max_connections_per_host = 1 with two IDLE accounts on one host: one
# IDLEs, the other's folder is polled instead, logged once. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"

mfd_init
dovecot_start
PY=$(_dc_python)
gen() { "$PY" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }

# block NAME LINE...: an IMAPS account on the test's Dovecot; the lines
# give its poll interval and folders.
block()
{
	local acct=$1 line

	shift
	printf 'account "%s" {\n' "$acct"
	printf '  protocol = imap\n  host = "localhost"\n'
	printf '  port = %s\n  tls = implicit\n' "$DC_IMAPS_PORT"
	printf '  ca_file = "%s"\n' "$DC_CA"
	printf '  user = "%s"\n' "$acct"
	printf '  password_file = "%s"\n' "$T/$acct/pass"
	printf '  maildir = "%s"\n' "$T/$acct/Maildir"
	printf '  timeout = 20s\n'
	for line in "$@"; do
		printf '  %s\n' "$line"
	done
	printf '}\n'
}

# count ERE: lines of the daemon's log matching ERE.
count() { grep -Ec -- "$1" "$DLOG"; }

# newcount DIR: files in DIR/new.
newcount() { find "$1/new" -maxdepth 1 -type f 2>/dev/null | wc -l; }

# status: the daemon's --status answer.
status() { "$MAILFETCHD" -c "$CONF" --status 2>&1; }

for u in sa bud st ca cb; do
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
for ((i = 0; i < 200; i++)); do
	[ "$(newcount "$T/sa/Maildir/.Work")" -ge 1 ] && break
	sleep 0.1
done
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
for ((i = 0; i < 100; i++)); do
	[ "$(newcount "$T/bud/Maildir")" -ge 1 ] && break
	sleep 0.1
done
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
tap_like "$(status)" '^bud: idle; idle on INBOX; connections 1; .*IDLE mail waits for the daily budget until [0-9-]{10} [0-9:]{5};' \
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

# --- 4. max_connections_per_host: IDLE connections count. ---
CONF=$T/cap.conf
{
	printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state"
	printf 'control_socket = "%s"\n' "$T/control"
	printf 'max_connections_per_host = 1\n'
	block ca 'poll_interval = 1h' 'idle = yes' 'folder "INBOX" { }'
	block cb 'poll_interval = 1h' 'idle = yes' 'folder "INBOX" { }'
} >"$CONF" || tap_bail "cannot write $CONF"
"$MAILFETCHD" -c "$CONF" --check-config >"$T/check.out" 2>&1
tap_is "$?" 0 "max_connections_per_host is a valid option" "$(cat "$T/check.out")"
# The first daemon's log goes where the sanitizer check looks.
cat "$DLOG" >>"$T/all-output"
: >"$T/daemon.log"
daemon_start "$CONF"
daemon_wait_log 'account=c[ab] folder=INBOX: .*-> IDLING' 20
ok $? "one of the two accounts IDLEs"
daemon_wait_log 'per-host limit of 1 connection reached; polling this folder instead of IDLE' 10
ok $? "the other one's folder is polled instead, saying why" \
    "$(tail -20 "$DLOG")"
sleep 3
tap_is "$(count 'account=c[ab] folder=INBOX: .*-> IDLING')" 1 \
    "only one IDLE connection to the host"
tap_is "$(count 'polling this folder instead of IDLE')" 1 \
    "the fallback is logged once"
out=$(status)
tap_like "$out" 'c[ab]: [a-z ]+; polling INBOX; connections 0; ' \
    "--status shows the capped account's INBOX as polled" "$out"
kill -TERM "$DPID"
daemon_wait_exit 15
tap_is "$drc" 0 "SIGTERM stops the daemon"
cat "$DLOG" >>"$T/all-output"
mfd_no_sanitizer
tap_done
