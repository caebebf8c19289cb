#!/bin/bash
# daemon_reload.sh: the long-running daemon against a real Dovecot: the
# sd_notify protocol through a test NOTIFY_SOCKET (READY=1, STATUS=,
# RELOADING=1 with MONOTONIC_USEC then READY=1, STOPPING=1), polling (a
# message appended between polls lands), a reload that adds one account
# and removes another while a third keeps running and keeps its lock, and
# a bad configuration on reload that keeps the old one. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"

mfd_init
dovecot_start
gen() { "$(_dc_python)" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }

for u in keep gone added; do
	dovecot_add_user "$u" "pw-$u-51ad"
	mfd_account "$u" "pw-$u-51ad"
done
gen plain "$T/k1.eml" keep1
gen plain "$T/k2.eml" keep2
gen plain "$T/g1.eml" gone1
gen plain "$T/a1.eml" added1
dovecot_add_message keep INBOX "$T/k1.eml"
dovecot_add_message gone INBOX "$T/g1.eml"
dovecot_add_message added INBOX "$T/a1.eml"
CONF=$T/daemon.conf
daemon_conf "$CONF" keep gone

daemon_notify_listen
daemon_start "$CONF"

# --- Start: READY=1 and a STATUS= line; both accounts fetched. ---
daemon_wait_file "$T/notify" '^READY=1$' 10
ok $? "READY=1 is sent once the loop runs" "$(cat "$T/notify")"
daemon_wait_log 'account=keep: fetched 1 message ' 20 &&
    daemon_wait_log 'account=gone: fetched 1 message ' 20
ok $? "the first poll of each account fetches and logs one line" \
    "$(cat "$DLOG")"
daemon_wait_file "$T/notify" '^STATUS=2 accounts: .*last fetch 2' 10
ok $? "STATUS= summarises the accounts and the last fetch" "$(cat "$T/notify")"
mfd_expect "$T/keep/Maildir" "" "$T/k1.eml"

# --- Polling: a message appended between polls lands at the next poll. ---
dovecot_append keep INBOX "$T/k2.eml" >/dev/null ||
    tap_bail "APPEND to keep failed"
daemon_wait_log 'account=keep: fetched 1 message ' 25 2
ok $? "a message appended between polls is fetched by the next poll" \
    "$(cat "$DLOG")"
mfd_expect "$T/keep/Maildir" "" "$T/k1.eml" "$T/k2.eml"
n=$(grep -c 'account=keep: nothing new' "$DLOG")
tap_is "$n" 0 "polls that find nothing are not logged at info level"

# --- The daemon holds every account's lock: a --once that cannot reach
# its control socket (control.sh tests the one that can) is refused. ---
# local_conf: $CONF with a control socket where no daemon answers.
local_conf() {
	{ printf 'control_socket = "%s"\n' "$T/no-daemon/control"; cat "$CONF"; } \
	    >"$T/local.conf" || tap_bail "cannot write $T/local.conf"
}
local_conf
"$MAILFETCHD" -c "$T/local.conf" --once --account keep >"$T/once.out" 2>&1
tap_is "$?" 6 "mailfetchd --once on a daemon's account exits 6 (locked)"
grep -q "already being fetched by another mailfetchd (pid $DPID)" \
    "$T/once.out"
ok $? "the refusal names the daemon's pid" "$(cat "$T/once.out")"
"$MAILFETCHD" -c "$CONF" >"$T/second.out" 2>&1
tap_is "$?" 6 "a second daemon on the same state directory refuses to start"

# --- Reload: add "added", remove "gone", leave "keep" alone. ---
: >"$T/notify"
daemon_conf "$CONF" keep added
kill -HUP "$DPID"
daemon_wait_file "$T/notify" '^READY=1$' 10
ok $? "READY=1 follows the reload" "$(cat "$T/notify")"
grep -Eq '^RELOADING=1\|MONOTONIC_USEC=[0-9]+$' "$T/notify"
ok $? "RELOADING=1 is sent with MONOTONIC_USEC" "$(cat "$T/notify")"
[ "$(grep -n -m1 RELOADING "$T/notify" | cut -d: -f1)" -lt \
    "$(grep -n -m1 '^READY=1$' "$T/notify" | cut -d: -f1)" ]
ok $? "RELOADING=1 comes before READY=1"
daemon_wait_log 'reloaded: 1 account added, 1 removed, 0 changed, 1 unchanged' 5
ok $? "the reload logs what changed" "$(tail -5 "$DLOG")"
daemon_wait_log 'account=added: fetched 1 message ' 20
ok $? "the added account is polled at once" "$(tail -5 "$DLOG")"
mfd_expect "$T/added/Maildir" "" "$T/a1.eml"
local_conf
"$MAILFETCHD" -c "$T/local.conf" --once --account keep >"$T/once.out" 2>&1
tap_is "$?" 6 "the unchanged account keeps its lock across the reload"
daemon_conf "$T/gone.conf" gone
"$MAILFETCHD" -c "$T/gone.conf" --once >"$T/once.out" 2>&1
tap_is "$?" 1 "the removed account's lock is released (--once: nothing new)"

# --- A bad configuration on reload keeps the running one. ---
: >"$T/notify"
cp "$CONF" "$T/good.conf"
printf 'account "broken" {\n  protocol = imap\n  bogus_option = 1\n}\n' >>"$CONF"
kill -HUP "$DPID"
daemon_wait_log 'reload failed, keeping the running configuration' 5
ok $? "a bad configuration on reload is logged" "$(tail -5 "$DLOG")"
grep -q 'bogus_option' "$DLOG"
ok $? "the log says what is wrong in the file"
daemon_wait_file "$T/notify" '^STATUS=.*reload failed: ' 5 &&
    daemon_wait_file "$T/notify" '^READY=1$' 5
ok $? "STATUS= carries the reload error, then READY=1" "$(cat "$T/notify")"
kill -0 "$DPID" 2>/dev/null
ok $? "the daemon keeps running after a bad reload"
gen plain "$T/k3.eml" keep3
dovecot_append keep INBOX "$T/k3.eml" >/dev/null ||
    tap_bail "APPEND to keep failed"
daemon_wait_log 'account=keep: fetched 1 message ' 25 3
ok $? "the old configuration keeps polling" "$(tail -5 "$DLOG")"

# --- SIGTERM: STOPPING=1 and exit 0. ---
kill -TERM "$DPID"
daemon_wait_exit 15
tap_is "$drc" 0 "SIGTERM stops the daemon with exit status 0"
grep -q '^STOPPING=1$' "$T/notify"
ok $? "STOPPING=1 is sent on SIGTERM" "$(cat "$T/notify")"
mfd_expect "$T/keep/Maildir" "" "$T/k1.eml" "$T/k2.eml" "$T/k3.eml"
"$MAILFETCHD" -c "$T/good.conf" --once --account keep >"$T/once.out" 2>&1
tap_is "$?" 1 "after the stop, --once runs and finds nothing new"
tap_done
