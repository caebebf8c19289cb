#!/bin/bash
# daemon_stop.sh: SIGTERM during a large fetch (300 messages of 200 KB):
# the daemon exits 0 within its bound (FETCH_STOP_GRACE, 10 s, plus a
# margin), leaves no partial file in new/ or cur/, and a following --once
# fetches the rest with no duplicate (by Message-ID). Then a wrong
# password: the daemon backs off (the log says the next attempt is in
# about 30 minutes) and does not log in again within the test's window.
# Then the same for an all-IDLE account: once the password file is fixed,
# --once --account does not retry the refused login (exit 10, saying that
# a reload does, no login); the reload makes its IDLE folder reconnect at
# once and the waiting message comes through IDLE.
# Then SIGTERM while a poll still waits for its password_command: it has
# not connected, so it is dropped at once (the command killed), with no
# word of messages discarded and no wait for a poll in progress.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"

mfd_init
dovecot_start
N=300

dovecot_add_user big pw-big-77e1
mfd_account big pw-big-77e1
mkdir -p "$T/src" || tap_bail "mkdir"
gen_big() {
"$(_dc_python)" - "$T/src" "$1" "$2" <<'EOF' || tap_bail "cannot write messages"
import os, random, sys
out, first, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(5)
alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
for i in range(first, first + n):
    head = ("From: a@example.org\nTo: b@example.net\n"
            "Subject: big %d\nMessage-ID: <big-%d@stop.example>\n\n" % (i, i))
    line = "".join(rnd.choice(alphabet) for _ in range(76))
    body = (line + "\n") * (200 * 1024 // 77)
    with open(os.path.join(out, "m%03d.eml" % i), "w") as f:
        f.write(head + body)
EOF
}
gen_big 0 "$N"
for f in "$T"/src/*.eml; do
	dovecot_add_message big INBOX "$f"
done
sha256sum "$T"/src/*.eml | cut -d' ' -f1 | sort >"$T/src.sums"
CONF=$T/daemon.conf
daemon_conf "$CONF" big
MD=$T/big/Maildir

# wait_staged: until the poll has staged messages in tmp/.
wait_staged() {
	for ((i = 0; i < 600; i++)); do
		[ "$(ls -A "$MD/tmp" 2>/dev/null | wc -l)" -ge 10 ] && return 0
		sleep 0.02
	done
	tap_bail "nothing staged in $MD/tmp"
}

# --- SIGTERM shortly after the fetch starts: the poll may finish. ---
daemon_start "$CONF"
wait_staged
start=${EPOCHREALTIME/[.,]/}
kill -TERM "$DPID"
daemon_wait_exit 20
took=$(( (${EPOCHREALTIME/[.,]/} - start) / 1000 ))
tap_is "$drc" 0 "SIGTERM during a large fetch: exit status 0"
[ "$took" -le 12000 ]
ok $? "the daemon stopped within the 10 s bound (took ${took} ms)"
got=$(mfd_count "$MD" "" new)
tap_diag "delivered before the stop: $got of $N$(grep -q 'aborting' \
    "$DLOG" && echo ' (the poll was aborted)')"
bad=0
for f in "$MD"/new/* "$MD"/cur/*; do
	[ -f "$f" ] || continue
	grep -qx "$(sha256sum <"$f" | cut -d' ' -f1)" "$T/src.sums" ||
	    bad=$((bad + 1))
done
tap_is "$bad" 0 "no partial or altered file in new/ or cur/"
tap_is "$(ls -A "$MD/tmp" | wc -l)" 0 "tmp/ is empty after the stop"

mfd_run_ok_conf() { "$MAILFETCHD" -c "$CONF" --once >"$T/once.out" 2>&1; rc=$?; }
mfd_run_ok_conf
[ "$rc" = 0 ] || [ "$rc" = 1 ]
ok $? "--once after the stop succeeds" "exit $rc: $(tail -3 "$T/once.out")"
tap_is "$(daemon_msgids "$MD" | wc -l)" "$N" "all $N messages are in the Maildir"
tap_is "$(daemon_msgids "$MD" | uniq -d | wc -l)" 0 "no Message-ID twice"

# --- A second SIGTERM aborts the poll at once: staged messages are
# discarded, nothing partial is left, and --once fetches them again. ---
# 300 messages of 200 KB: the rest of the poll after the first SIGTERM
# must take longer than the 50 ms before the second (100 did not always).
M=300
gen_big "$N" "$M"
for ((k = N; k < N + M; k++)); do
	dovecot_add_message big INBOX "$T/src/m$k.eml"
done
sha256sum "$T"/src/*.eml | cut -d' ' -f1 | sort >"$T/src.sums"
daemon_start "$CONF"
wait_staged
kill -TERM "$DPID"
sleep 0.05
kill -TERM "$DPID"
daemon_wait_exit 5
tap_is "$drc" 0 "a second SIGTERM stops at once with exit status 0"
grep -q 'aborting the poll in progress' "$DLOG"
ok $? "the poll in progress was aborted" "$(tail -5 "$DLOG")"
bad=0
for f in "$MD"/new/* "$MD"/cur/*; do
	[ -f "$f" ] || continue
	grep -qx "$(sha256sum <"$f" | cut -d' ' -f1)" "$T/src.sums" ||
	    bad=$((bad + 1))
done
tap_is "$bad" 0 "after the abort: no partial or altered file in new/ or cur/"
tap_is "$(ls -A "$MD/tmp" | wc -l)" 0 "after the abort: tmp/ is empty"
before=$(( $(mfd_count "$MD" "" new) - N ))
tap_diag "delivered before the abort: $before of $M"
mfd_run_ok_conf
# A fast machine may finish the batch inside the grace period: then
# nothing is left and --once says so (1); otherwise it fetches the rest (0).
if [ "$before" -lt "$M" ]; then want=0; else want=1; fi
tap_is "$rc" "$want" "--once after the abort fetches the rest (exit $want)"
tap_is "$(daemon_msgids "$MD" | wc -l)" "$((N + M))" \
    "all $((N + M)) messages are in the Maildir"
tap_is "$(daemon_msgids "$MD" | uniq -d | wc -l)" 0 \
    "after the abort and --once: no Message-ID twice"

# --- A wrong password backs off for about 30 minutes. ---
dovecot_add_user wrong pw-right-0c1d
mfd_account wrong pw-wrong-0c1d
daemon_conf "$CONF" wrong
: >"$DLOG"
daemon_start "$CONF"
daemon_wait_log 'account=wrong: .*authentication failed \(1 time in a row\); next attempt in [23][0-9]m' 20
ok $? "an authentication failure backs off for about 30 minutes" \
    "$(cat "$DLOG")"
sleep 12	# longer than poll_interval (10 s)
n=$(grep -c 'auth failed.*user=<wrong>' "$DC_LOG")
tap_is "$n" 1 "no second login attempt after a poll interval (Dovecot log)"
# The user fixes the password file; the configuration file is unchanged,
# so only the reload says "try again": it must, at once.
printf '%s\n' pw-right-0c1d >"$T/wrong/pass"
printf 'From: a@example.org\r\nSubject: after the fix\r\nMessage-ID: <fix-0c1d@example.org>\r\n\r\nbody\r\n' >"$T/fix.eml"
dovecot_add_message wrong INBOX "$T/fix.eml"
kill -HUP "$DPID"
daemon_wait_log 'account=wrong: the last login was refused; trying again now, after the reload' 10
ok $? "a reload retries an account whose login was refused, although its configuration is unchanged" \
    "$(tail -5 "$DLOG")"
for _ in $(seq 1 150); do
	[ "$(ls "$T/wrong/Maildir/new" 2>/dev/null | wc -l)" -ge 1 ] && break
	sleep 0.1
done
tap_is "$(ls "$T/wrong/Maildir/new" 2>/dev/null | wc -l)" 1 \
    "with the fixed password the message is fetched right after the reload"
kill -TERM "$DPID"
daemon_wait_exit 10
tap_is "$drc" 0 "an idle daemon stops at once on SIGTERM"

# --- The same for an account whose only folder is IDLE: its refused
# login reconnects in an hour; the user fixes the password file. A fetch
# now does not retry a refused login (each refusal brings the provider
# closer to locking the account): it says so at once (exit 10, no
# login); the reload reconnects at once. ---
# dclogins USER: Dovecot's successful logins of USER.
dclogins() { grep -Ec "imap-login: (Info: )?Login: user=<$1>" "$DC_LOG"; }
# dcattempts USER: Dovecot's logins of USER, refused or not.
dcattempts() { grep -Ec "imap-login: .*user=<$1>" "$DC_LOG"; }
dovecot_add_user idlefix pw-idlefix-3b9a
mfd_account idlefix pw-wrong-3b9a
printf 'From: a@example.org\r\nSubject: waiting\r\nMessage-ID: <idlefix-3b9a@example.org>\r\n\r\nbody\r\n' >"$T/idlefix.eml"
dovecot_add_message idlefix INBOX "$T/idlefix.eml"
daemon_conf "$CONF"
daemon_block idlefix | sed 's/folder "INBOX" { }/folder "INBOX" { idle = yes }/' \
    >>"$CONF"
: >"$DLOG"
daemon_start "$CONF"
daemon_wait_log 'account=idlefix folder=INBOX: IDLE connection ended \([a-z ]+\); reconnecting in ' 20
line=$(grep 'account=idlefix folder=INBOX: IDLE connection ended' "$DLOG")
tap_like "$line" 'reconnecting in ([45][0-9]m|1h)' \
    "idlefix: the refused IDLE login reconnects only after a long backoff" \
    "$(cat "$DLOG")"
tap_is "$(dclogins idlefix)" 0 "idlefix: no login succeeded yet"
printf '%s\n' pw-idlefix-3b9a >"$T/idlefix/pass"
tries=$(dcattempts idlefix)
timeout 30 "$MAILFETCHD" -c "$CONF" --once --account idlefix \
    >"$T/once.out" 2>&1
tap_is "$?" 10 "idlefix: --once exits 10 (not yet allowed), not waiting for IDLE" \
    "$(cat "$T/once.out")"
tap_like "$(cat "$T/once.out")" \
    'account=idlefix: not fetched: the IDLE login was refused; a reload retries it now' \
    "idlefix: --once says why, and that a reload retries" \
    "$(cat "$T/once.out")"
sleep 1
tap_is "$(dcattempts idlefix)" "$tries" "idlefix: the fetch now made no login" \
    "$(grep 'user=<idlefix>' "$DC_LOG" | tail -3)"
start=$(_dc_now_ms)
kill -HUP "$DPID"
daemon_wait_file "$DC_LOG" "imap-login: (Info: )?Login: user=<idlefix>" 10
ok $? "idlefix: after the reload the server sees a new login within 10 s ($(($(_dc_now_ms) - start)) ms)" \
    "$(grep 'account=idlefix' "$DLOG" | tail -5)"
for ((i = 0; i < 150; i++)); do
	[ "$(ls "$T/idlefix/Maildir/new" 2>/dev/null | wc -l)" -ge 1 ] && break
	sleep 0.1
done
tap_is "$(daemon_msgids "$T/idlefix/Maildir")" "Message-ID: <idlefix-3b9a@example.org>" \
    "idlefix: the waiting message comes through the IDLE connection"
for ((i = 0; i < 100; i++)); do
	out=$("$MAILFETCHD" -c "$CONF" --status 2>&1)
	[[ $out == *'; idle on INBOX;'* ]] && break
	sleep 0.1
done
tap_like "$out" '^idlefix: [a-z ]+; idle on INBOX; connections 1;' \
    "idlefix: --status shows INBOX in IDLE" "$out"
tap_is "$(dclogins idlefix)" 1 "idlefix: one login, the IDLE connection's (no poll)"
kill -TERM "$DPID"
daemon_wait_exit 10
tap_is "$drc" 0 "the daemon stops on SIGTERM"

# --- SIGTERM while a poll waits for its password_command. ---
dovecot_add_user cmdwait pw-cmdwait-5c21
mfd_account cmdwait pw-cmdwait-5c21
cat >"$T/cmdwait-pw.sh" <<EOF
#!/bin/sh
echo \$\$ >>"$T/cmdwait.pids"
sleep 30
cat "$T/cmdwait/pass"
EOF
chmod 700 "$T/cmdwait-pw.sh"
daemon_conf "$CONF"
daemon_block cmdwait | sed "s|password_file = .*|password_command = \"$T/cmdwait-pw.sh\"|" \
    >>"$CONF"
: >"$DLOG"
daemon_start "$CONF"
daemon_wait_file "$T/cmdwait.pids" '^[0-9]+$' 10 ||
    tap_bail "the password_command did not start"
cpid=$(head -1 "$T/cmdwait.pids")
kill -TERM "$DPID"
daemon_wait_exit 20
tap_is "$drc" 0 "cmdwait: SIGTERM while the password_command runs: exit 0"
tap_unlike "$(cat "$DLOG")" 'aborting the poll|not yet synced|discarded' \
    "cmdwait: no word of an aborted poll or discarded messages" "$(cat "$DLOG")"
tap_unlike "$(grep 'SIGTERM' "$DLOG")" 'waiting up to .* poll' \
    "cmdwait: the stop does not wait for a poll that has not connected" \
    "$(cat "$DLOG")"
for ((i = 0; i < 50; i++)); do
	kill -0 "$cpid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$cpid" 2>/dev/null
tap_is "$?" 1 "cmdwait: the password_command was ended with the daemon"
tap_done
