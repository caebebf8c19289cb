#!/bin/bash
# daemon_watchdog.sh: the systemd watchdog, through a test NOTIFY_SOCKET
# whose listener records each message's time and sender pid (as systemd
# sees them). With WATCHDOG_USEC=2s and WATCHDOG_PID naming the daemon,
# WATCHDOG=1 comes from the daemon's pid about every second (half the
# period), never two seconds apart, from shortly after READY=1 until
# STOPPING=1; a stopped process (SIGSTOP) sends none, and pings resume on
# SIGCONT. Without WATCHDOG_USEC, or with WATCHDOG_PID naming another
# process, there is no ping at all. As root with accounts that have an
# owner, the supervising process pings and sends READY=1, STATUS= and
# STOPPING=1, and its workers send nothing (they would be ignored under
# the units' NotifyAccess=main, which the units keep). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"

mfd_init
# Owners must reach their homes and the CA under $T (privsep case).
chmod 711 "$T"
dovecot_start
unset WATCHDOG_USEC WATCHDOG_PID
dovecot_add_user wd "pw-wd-5b0e"
mfd_account wd "pw-wd-5b0e"
CONF=$T/daemon.conf
daemon_conf "$CONF" wd
daemon_notify_listen

# Starts the daemon through a shell that keeps its pid across exec (as
# systemd's fork does), so that WATCHDOG_PID=self can name the daemon.
cat >"$T/wd-exec" <<EOF || tap_bail "cannot write $T/wd-exec"
#!/bin/bash
[ "\${WATCHDOG_PID:-}" = self ] && export WATCHDOG_PID=\$\$
exec "$MAILFETCHD" "\$@"
EOF
chmod +x "$T/wd-exec"

# wd_start [VAR=VALUE...]: a fresh notify log, then the daemon with that
# environment (DPID); waits for READY=1 and sets t_ready (ms).
wd_start()
{
	local kv

	: >"$T/notify"
	: >"$T/notify.log"
	for kv in "$@"; do
		export "${kv?}"
	done
	MAILFETCHD=$T/wd-exec daemon_start "$CONF"
	for kv in "$@"; do
		unset "${kv%%=*}"
	done
	daemon_wait_file "$T/notify" '^READY=1$' 15 ||
	    tap_bail "no READY=1 from the daemon" "$(tail "$DLOG")"
	t_ready=$(awk '$3 == "READY=1" { print $1; exit }' "$T/notify.log")
}

# wd_stop: SIGTERM, and the daemon is gone within 15 s.
wd_stop()
{
	kill -TERM "$DPID"
	daemon_wait_exit 15 || tap_bail "the daemon did not stop" "$(tail "$DLOG")"
}

# pings FROM TO: the WATCHDOG=1 messages received in [FROM, TO) (ms).
pings()
{
	awk -v a="$1" -v b="$2" '$3 == "WATCHDOG=1" && $1 >= a && $1 < b' \
	    "$T/notify.log" | wc -l
}

# max_gap: the longest time between two WATCHDOG=1 in a row (ms).
max_gap()
{
	awk '$3 == "WATCHDOG=1" { if (n++ && $1 - p > g) g = $1 - p; p = $1 }
	    END { printf "%.0f\n", g }' "$T/notify.log"
}

# now: the wall clock in ms, as the listener writes it.
now()
{
	date +%s%3N
}

# --- No WATCHDOG_USEC: no ping. ---
wd_start
sleep 3
tap_is "$(pings 0 "$(now)")" 0 "without WATCHDOG_USEC, no WATCHDOG=1 (3 s)"
wd_stop

# --- WATCHDOG_PID names another process: not ours, no ping. ---
wd_start WATCHDOG_USEC=2000000 WATCHDOG_PID=$$
sleep 3
tap_is "$(pings 0 "$(now)")" 0 \
    "with WATCHDOG_PID naming another process, no WATCHDOG=1 (3 s)"
wd_stop

# --- WATCHDOG_USEC=2s for this process: a ping every second. ---
wd_start WATCHDOG_USEC=2000000 WATCHDOG_PID=self
t0=$(now)
sleep 6
t1=$(now)
n=$(pings "$t0" "$t1")
[ "$n" -ge 4 ] && [ "$n" -le 8 ]
ok $? "WATCHDOG=1 about every second: $n in $((t1 - t0)) ms" \
    "$(cat "$T/notify.log")"
first=$(awk '$3 == "WATCHDOG=1" { print $1; exit }' "$T/notify.log")
[ -n "$first" ] && [ $((first - t_ready)) -lt 2000 ]
ok $? "the first ping comes within the period after READY=1 ($((${first:-0} - t_ready)) ms)"
gap=$(max_gap)
[ "$gap" -lt 2000 ]
ok $? "never 2 s (WATCHDOG_USEC) without a ping: longest gap $gap ms" \
    "$(cat "$T/notify.log")"
others=$(awk -v p="$DPID" '$2 != p' "$T/notify.log")
tap_is "$others" "" "every message comes from the daemon's pid ($DPID)"

# --- A stopped process does not ping; SIGCONT and it pings again. ---
ts=$(now)
kill -STOP "$DPID"
sleep 3
tc=$(now)
kill -CONT "$DPID"
# (100 ms for a ping sent just before the stop to reach the listener.)
tap_is "$(pings $((ts + 100)) "$tc")" 0 "no ping while the daemon is stopped"
for ((i = 0; i < 30; i++)); do
	[ "$(pings "$tc" "$(now)")" -ge 2 ] && break
	sleep 0.1
done
[ "$(pings "$tc" "$(now)")" -ge 2 ]
ok $? "pings resume after SIGCONT" "$(tail -5 "$T/notify.log")"
wd_stop
stop=$(awk '$3 == "STOPPING=1" { print $1; exit }' "$T/notify.log")
[ -n "$stop" ]
ok $? "STOPPING=1 is sent" "$(tail -5 "$T/notify.log")"
last=$(awk '$3 == "WATCHDOG=1" { l = $1 } END { printf "%.0f\n", l }' \
    "$T/notify.log")
sleep 1.5
tap_is "$(pings $((last + 1)) "$(now)")" 0 "no ping after the last one once stopped"

# --- The units: a watchdog, and only the main process notifies. ---
for u in mailfetchd.service.in mailfetchd-user.service.in; do
	f=$top_srcdir/systemd/$u
	grep -Eq '^WatchdogSec=[1-9]' "$f" && grep -q '^Type=notify' "$f"
	ok $? "$u: Type=notify with WatchdogSec="
	na=$(sed -n 's/^NotifyAccess=//p' "$f")
	[ -z "$na" ] || [ "$na" = main ]
	ok $? "$u: NotifyAccess is main (the default)" "NotifyAccess=$na"
done

# --- Root with an owner: the supervisor notifies, its worker does not. ---
if [ "$(id -u)" != 0 ] || ! command -v useradd >/dev/null; then
	tap_ok "the supervisor notifies, its workers do not # SKIP needs root and useradd"
	tap_done
	exit 0
fi
U=mfwd$$
mkdir -p "$T/home" && chmod 711 "$T/home" || tap_bail "cannot create $T/home"
useradd --system --create-home --home-dir "$T/home/$U" \
    --shell /usr/sbin/nologin "$U" >/dev/null 2>&1 || tap_bail "useradd $U failed"
tap_cleanup_add "userdel '$U' >/dev/null 2>&1"
chmod 700 "$T/home/$U"
dovecot_add_user "$U" "pw-$U-e1"
printf 'pw-%s-e1\n' "$U" >"$T/home/$U/pass" &&
    chown "$U:" "$T/home/$U/pass" && chmod 600 "$T/home/$U/pass" ||
    tap_bail "cannot write $T/home/$U/pass"
{
	printf 'state_dir = "%s"\nlog_level = info\n' "$T/state-root"
	daemon_block "$U" "owner = \"$U\"" |
	    sed -e "s|$T/$U/pass|$T/home/$U/pass|" \
	    -e "s|$T/$U/Maildir|$T/home/$U/Maildir|"
} >"$CONF" || tap_bail "cannot write $CONF"
# A period under the supervisor's 1 s wait: it must wake up to ping.
wd_start WATCHDOG_USEC=1000000 WATCHDOG_PID=self
daemon_wait_log "account=$U: " 20
workers=$(pgrep -P "$DPID" | tr '\n' ' ')
[ -n "$workers" ]
ok $? "the supervisor runs a worker ($workers)" "$(tail -5 "$DLOG")"
t0=$(now)
sleep 4
n=$(pings "$t0" "$(now)")
[ "$n" -ge 5 ] && [ "$n" -le 12 ]
ok $? "the supervisor pings about every 0.5 s ($n in 4 s)" \
    "$(cat "$T/notify.log")"
gap=$(max_gap)
[ "$gap" -lt 1000 ]
ok $? "never 1 s (WATCHDOG_USEC) without a ping: longest gap $gap ms"
others=$(awk -v p="$DPID" '$2 != p' "$T/notify.log")
tap_is "$others" "" "every message comes from the supervisor ($DPID), none from its worker"
grep -q '^STATUS=' "$T/notify"
ok $? "the supervisor sends STATUS=" "$(cat "$T/notify")"
wd_stop
grep -q '^STOPPING=1$' "$T/notify"
ok $? "and STOPPING=1" "$(tail -3 "$T/notify")"
tap_done
