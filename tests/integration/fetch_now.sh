#!/bin/bash
# fetch_now.sh: a fetch now (mailfetchd --once while the daemon runs)
# honours what the daemon's own polls honour, against a real Dovecot:
#  - bad: a wrong password; after the refusal the daemon backs off for
#    half an hour; five --once calls each exit 10 at once, saying when
#    the next attempt is allowed, and Dovecot sees no more logins.
#  - gm: a Gmail preset account (10-minute minimum interval) that just
#    polled: --once exits 10 with the provider's minimum interval and the
#    time, and makes no login.
#  - bi: an IDLE folder whose login was refused: --once does not
#    reconnect it (no login), as a reload would.
#  - ld, lz: POP3 logins refused with -ERR [LOGIN-DELAY]
#    (tests/integration/pop3_server.py), the CAPA naming 900 s (ld) or
#    no delay (lz, 15 min assumed): the daemon waits that long, and each
#    --once exits 10 saying so, with no PASS sent.
#  - ok: an account with no limit pending is still fetched at once.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"

mfd_init
dovecot_start
gen() { "$(_dc_python)" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }

for u in bad gm bi ok; do
	dovecot_add_user "$u" "pw-$u-91d0"
done
mfd_account bad "not-the-password"
mfd_account gm "pw-gm-91d0"
mfd_account bi "not-the-password"
mfd_account ok "pw-ok-91d0"
gen plain "$T/g1.eml" gm-1
gen plain "$T/o1.eml" ok-1
gen plain "$T/o2.eml" ok-2
dovecot_add_message gm INBOX "$T/g1.eml"
dovecot_add_message ok INBOX "$T/o1.eml"

# pop3 NAME MODE: a scripted POP3 server for account NAME, its port in
# $T/NAME.port, the lines it received in $T/NAME.pop.
pop3()
{
	python3 "$top_srcdir/tests/integration/pop3_server.py" "$2" \
	    --log "$T/$1.pop" >"$T/$1.port" 2>>"$T/$1.err" &
	tap_cleanup_add "kill $! 2>/dev/null"
	daemon_wait_file "$T/$1.port" '^[0-9]+$' 5 ||
	    tap_bail "pop3_server.py $2 did not start"
	mkdir -p "$T/$1/Maildir"
}
pop3 ld logindelay
pop3 lz logindelay0
printf 'pw\n' >"$T/pop3.pass"
chmod 600 "$T/pop3.pass"
# pop3_block NAME: its account, polled hourly.
pop3_block()
{
	printf 'account "%s" {\n  protocol = pop3\n  host = "127.0.0.1"\n' "$1"
	printf '  port = %s\n  tls = none\n  user = "%s"\n' \
	    "$(cat "$T/$1.port")" "$1"
	printf '  password_file = "%s"\n  maildir = "%s"\n' "$T/pop3.pass" \
	    "$T/$1/Maildir"
	printf '  timeout = 5s\n  poll_interval = 1h\n}\n'
}

CONF=$T/daemon.conf
{
	printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state"
	daemon_block bad
	# The preset's servers are Gmail's: these lines point it here. No
	# poll_interval: the preset's minimum (10 minutes) applies.
	daemon_block gm 'provider = gmail' |
	    sed '/poll_interval/d'
	daemon_block bi 'idle = yes' 'poll_interval = 1h'
	daemon_block ok
	pop3_block ld
	pop3_block lz
} >"$CONF" || tap_bail "cannot write $CONF"

# attempts USER: the logins of USER Dovecot has seen (refused or not).
attempts()
{
	grep -Ec "imap-login: .*user=<$1>" "$DC_LOG"
}

daemon_start "$CONF"
daemon_wait_log 'account=bad: .*authentication failed \(1 time in a row\); next attempt in' 20
ok $? "bad: the refused login backs off" "$(grep 'account=bad' "$DLOG")"
daemon_wait_log 'account=gm: fetched 1 message' 20
ok $? "gm: the first poll fetches" "$(grep 'account=gm' "$DLOG")"
daemon_wait_log 'account=bi folder=INBOX: IDLE connection ended \(authentication' 20
ok $? "bi: the refused IDLE login waits to reconnect" \
    "$(grep 'account=bi' "$DLOG")"
daemon_wait_log 'account=ok: fetched 1 message' 20
ok $? "ok: the first poll fetches" "$(grep 'account=ok' "$DLOG")"
for u in ld lz; do
	daemon_wait_log "account=$u: .*LOGIN-DELAY" 20
	ok $? "$u: the first poll is refused with [LOGIN-DELAY]" \
	    "$(grep "account=$u" "$DLOG")"
done
sleep 1
bad0=$(attempts bad)
gm0=$(attempts gm)
bi0=$(attempts bi)

# --- bad: five fetch nows in a row, none logs in. ---
for i in 1 2 3 4 5; do
	timeout 20 "$MAILFETCHD" -c "$CONF" --once --account bad \
	    >"$T/bad.out.$i" 2>&1
	echo $? >"$T/bad.rc.$i"
done
tap_is "$(cat "$T"/bad.rc.* | sort -u | tr '\n' ' ')" "10 " \
    "bad: each --once exits 10 (not yet allowed)" "$(cat "$T"/bad.out.*)"
tap_like "$(cat "$T/bad.out.5")" 'login was refused.*next attempt allowed in (2[0-9]|3[0-9])m.* \(at [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{5}\)' \
    "bad: the answer says why and when the next attempt is allowed" \
    "$(cat "$T/bad.out.5")"
sleep 1
tap_is "$(attempts bad)" "$bad0" "bad: Dovecot saw no login from the five" \
    "$(grep 'user=<bad>' "$DC_LOG" | tail -8)"

# --- gm: inside the provider's minimum interval. ---
timeout 20 "$MAILFETCHD" -c "$CONF" --once --account gm >"$T/gm.out" 2>&1
tap_is "$?" 10 "gm: --once right after a poll exits 10" "$(cat "$T/gm.out")"
tap_like "$(cat "$T/gm.out")" "provider's minimum interval.*next attempt allowed in ([0-9]m|10m)" \
    "gm: the answer names the minimum interval and the time" "$(cat "$T/gm.out")"
sleep 1
tap_is "$(attempts gm)" "$gm0" "gm: no login" \
    "$(grep 'user=<gm>' "$DC_LOG" | tail -5)"

# --- bi: the refused IDLE login is not retried by a fetch now. ---
timeout 20 "$MAILFETCHD" -c "$CONF" --once --account bi >"$T/bi.out" 2>&1
tap_is "$?" 10 "bi: --once exits 10" "$(cat "$T/bi.out")"
tap_like "$(cat "$T/bi.out")" 'not fetched: the IDLE login was refused; a reload retries it now' \
    "bi: the answer says why, and that a reload retries" "$(cat "$T/bi.out")"
tap_unlike "$(cat "$T/bi.out")" 'reconnecting IDLE now' \
    "bi: the answer does not claim an IDLE reconnection" "$(cat "$T/bi.out")"
sleep 1
tap_is "$(attempts bi)" "$bi0" "bi: no login" \
    "$(grep 'user=<bi>' "$DC_LOG" | tail -5)"

# --- ld, lz: [LOGIN-DELAY]: no PASS before the server's delay. ---
# passes NAME: the PASS commands the scripted server NAME received.
passes() { grep -c ' PASS ' "$T/$1.pop"; }
for u in ld lz; do
	p0=$(passes "$u")
	for i in 1 2 3; do
		timeout 20 "$MAILFETCHD" -c "$CONF" --once --account "$u" \
		    >"$T/$u.out.$i" 2>&1
		echo $? >"$T/$u.rc.$i"
	done
	tap_is "$(cat "$T/$u".rc.* | sort -u | tr '\n' ' ')" "10 " \
	    "$u: each --once exits 10" "$(cat "$T/$u".out.*)"
	tap_like "$(cat "$T/$u.out.3")" 'server asked to wait before the next login \(\[LOGIN-DELAY\]\) [0-9hms ]+ ago; next attempt allowed in 1[45]m' \
	    "$u: the answer names the server's delay and the time" \
	    "$(cat "$T/$u.out.3")"
	tap_is "$(passes "$u")" "$p0" "$u: no PASS from the three" \
	    "$(cat "$T/$u.pop")"
done
# The daemon's own retry: after the server's delay (15 min), not in a
# minute as after a network error.
"$MAILFETCHD" -c "$CONF" --status >"$T/status.out" 2>&1
tap_like "$(grep '^ld:' "$T/status.out")" 'next poll in 1[45]m' \
    "ld: the daemon's next poll is after the server's delay" \
    "$(cat "$T/status.out")"

# --- ok: nothing pending, the fetch now fetches. ---
dovecot_append ok INBOX "$T/o2.eml" >/dev/null || tap_bail "APPEND failed"
timeout 20 "$MAILFETCHD" -c "$CONF" --once --account ok >"$T/ok.out" 2>&1
tap_is "$?" 0 "ok: --once fetches the new message (exit 0)" "$(cat "$T/ok.out")"
mfd_expect "$T/ok/Maildir" "" "$T/o1.eml" "$T/o2.eml"

kill -TERM "$DPID"
daemon_wait_exit 10
tap_is "$drc" 0 "SIGTERM exits 0"
cat "$DLOG" "$T"/*.out* >>"$T/all-output"
mfd_no_sanitizer
tap_done
