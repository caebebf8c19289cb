#!/bin/bash
# idle.sh: IMAP IDLE push (RFC 2177) in the daemon against a real Dovecot:
# a message appended through IMAP lands in the Maildir within seconds
# without a poll; two folders of two accounts IDLE at once; a server
# restart mid-IDLE is followed by a reconnect and nothing is lost or
# doubled; a reload that adds and removes accounts leaves the other
# account's IDLE connection alone (no new login) and logs the removed one
# out politely; SIGTERM while idling sends DONE/LOGOUT ("Logged out" in
# Dovecot's log) and exits 0 quickly. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"

mfd_init
dovecot_start
gen() { "$(_dc_python)" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }

# idle_block NAME FOLDER-LINE...: an account whose polls are an hour
# apart, so that only IDLE can bring mail within the test's waits.
idle_block()
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
	printf '  timeout = 20s\n  poll_interval = 1h\n'
	for line in "$@"; do
		printf '  %s\n' "$line"
	done
	printf '}\n'
}

# write_conf NAME...: the global lines and each named account's block.
write_conf()
{
	local acct

	{
		printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state"
		for acct in "$@"; do
			case $acct in
			one)	idle_block one 'idle = yes' 'folder "INBOX" { }' ;;
			two)	idle_block two 'folder "INBOX" { }' \
				    'folder "Work" { idle = yes }' ;;
			three)	idle_block three 'idle = yes' \
				    'folder "INBOX" { }' ;;
			esac
		done
	} >"$CONF" || tap_bail "cannot write $CONF"
}

# landed MAILDIR-DIR COUNT SECONDS: waits until new/ holds COUNT files;
# prints the milliseconds it took.
landed()
{
	local t0 i

	t0=$(date +%s%3N)
	for ((i = 0; i < $3 * 50; i++)); do
		if [ "$(find "$1/new" -maxdepth 1 -type f 2>/dev/null |
		    wc -l)" -ge "$2" ]; then
			echo $(($(date +%s%3N) - t0))
			return 0
		fi
		sleep 0.02
	done
	return 1
}

# logins USER: Dovecot's count of IMAP logins of the user so far.
logins()
{
	grep -Ec "imap-login: (Info: )?Login: user=<$1>" "$DC_LOG"
}

for u in one two three; do
	dovecot_add_user "$u" "pw-$u-77c2"
	mfd_account "$u" "pw-$u-77c2"
done
dovecot_add_folder two Work
for i in 1 2 3 4 5 6; do
	gen plain "$T/m$i.eml" "idle-$i"
done
dovecot_add_message one INBOX "$T/m1.eml"
CONF=$T/daemon.conf
write_conf one two

daemon_start "$CONF"

# --- The first round: SELECT, fetch what is there, IDLE. ---
daemon_wait_log 'account=one folder=INBOX: .*-> IDLING' 20 &&
    daemon_wait_log 'account=two folder=Work: .*-> IDLING' 20
ok $? "both IDLE folders reach IDLE" "$(tail -20 "$DLOG")"
mfd_expect "$T/one/Maildir" "" "$T/m1.eml"

# --- --status: an account whose every folder is pushed has no poll to
# count down to; one with a polled folder still has. ---
out=$("$MAILFETCHD" -c "$CONF" --status 2>&1)
tap_like "$out" '^one: [^;]*; idle on INBOX; .*; no polls: push \(IDLE\) on 1 folder;' \
    "--status: the all-IDLE account says push (IDLE), not a poll countdown"
tap_unlike "$(printf '%s\n' "$out" | grep '^one:')" 'next poll' \
    "--status: no \"next poll\" for the all-IDLE account"
tap_like "$out" '^two: .*; next poll in [0-9hms ]+;' \
    "--status: the account with a polled folder still counts down"

# --- IDLE push: an APPEND lands without a poll. ---
dovecot_append one INBOX "$T/m2.eml" >/dev/null || tap_bail "APPEND failed"
ms=$(landed "$T/one/Maildir" 2 5)
ok $? "a message appended to an idling INBOX lands within 5 s (${ms:-?} ms)" \
    "$(tail -20 "$DLOG")"
mfd_expect "$T/one/Maildir" "" "$T/m1.eml" "$T/m2.eml"

# --- Two folders of two accounts at once. ---
dovecot_append one INBOX "$T/m3.eml" >/dev/null &&
    dovecot_append two Work "$T/m4.eml" >/dev/null ||
    tap_bail "APPEND failed"
landed "$T/one/Maildir" 3 5 >/dev/null &&
    landed "$T/two/Maildir/.Work" 1 5 >/dev/null
ok $? "appends to two accounts' IDLE folders both land within 5 s" \
    "$(tail -20 "$DLOG")"
mfd_expect "$T/two/Maildir" "Work" "$T/m4.eml"
n=$(grep -c "account=two folder=Work: .*UID FETCH .*BODY.PEEK" "$DLOG")
tap_is "$n" 1 "the Work folder is fetched by its IDLE session only"

# --- Server restart mid-IDLE: reconnect, nothing lost or doubled. ---
dovecot_restart
daemon_wait_log 'account=one folder=INBOX: IDLE connection ended' 10
ok $? "the restart ends the IDLE session" "$(tail -20 "$DLOG")"
daemon_wait_log 'account=one folder=INBOX: .*-> IDLING' 20 2
ok $? "the daemon reconnects and IDLEs again" "$(tail -20 "$DLOG")"
dovecot_append one INBOX "$T/m5.eml" >/dev/null || tap_bail "APPEND failed"
landed "$T/one/Maildir" 4 5 >/dev/null
ok $? "a message appended after the restart lands" "$(tail -20 "$DLOG")"
mfd_expect "$T/one/Maildir" "" "$T/m1.eml" "$T/m2.eml" "$T/m3.eml" \
    "$T/m5.eml"
daemon_wait_log 'account=two folder=Work: .*-> IDLING' 20 2
ok $? "the other account's IDLE folder reconnects too"

# --- Reload: add "three", remove "two"; "one" keeps its connection. ---
before=$(logins one)
[ "$before" -ge 2 ]
ok $? "Dovecot logged the account's logins so far ($before)"
write_conf one three
kill -HUP "$DPID"
daemon_wait_log 'reloaded: 1 account added, 1 removed, 0 changed, 1 unchanged' 10
ok $? "the reload adds one account and removes one" "$(tail -20 "$DLOG")"
daemon_wait_log 'account=three folder=INBOX: .*-> IDLING' 20
ok $? "the added account IDLEs" "$(tail -20 "$DLOG")"
daemon_wait_file "$DC_LOG" 'imap\(two\).*Logged out' 10
ok $? "the removed account's IDLE session logs out (DONE, LOGOUT)" \
    "$(grep 'imap(two)' "$DC_LOG" | tail -5)"
# (dovecot_append logs in too: counted before the next one.)
tap_is "$(logins one)" "$before" \
    "the untouched account did not log in again (its IDLE connection stayed)"
dovecot_append one INBOX "$T/m6.eml" >/dev/null || tap_bail "APPEND failed"
landed "$T/one/Maildir" 5 5 >/dev/null
ok $? "the untouched account still gets pushed mail after the reload"

# --- SIGTERM while idling: DONE, LOGOUT, exit 0 at once. ---
lo=$(grep -c 'imap(one).*Logged out' "$DC_LOG")
t0=$(date +%s%3N)
kill -TERM "$DPID"
daemon_wait_exit 10
t1=$(date +%s%3N)
tap_is "$drc" 0 "SIGTERM while idling exits 0"
grep -q 'stopping; closing 2 IDLE connections$' "$DLOG"
ok $? "the stop says it closes 2 IDLE connections" \
    "$(grep 'stopping' "$DLOG")"
grep -q 'polls\? in progress' "$DLOG"
ok $((!$?)) "and does not call them polls in progress"
[ $((t1 - t0)) -lt 3000 ]
ok $? "and quickly ($((t1 - t0)) ms)"
daemon_wait_file "$DC_LOG" 'imap\(one\).*Logged out' 5 $((lo + 1)) &&
    daemon_wait_file "$DC_LOG" 'imap\(three\).*Logged out' 5
ok $? "both IDLE sessions logged out politely (Logged out, not Disconnected)" \
    "$(grep -E 'imap\((one|three)\)' "$DC_LOG" | tail -6)"
mfd_expect "$T/one/Maildir" "" "$T/m1.eml" "$T/m2.eml" "$T/m3.eml" \
    "$T/m5.eml" "$T/m6.eml"
grep -Eq ' error: |AddressSanitizer|runtime error' "$DLOG"
ok $((!$?)) "no error or sanitizer report in the daemon's log" \
    "$(grep -E ' error: |AddressSanitizer|runtime error' "$DLOG" | head)"
tap_done
