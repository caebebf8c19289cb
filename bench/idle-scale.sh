#!/bin/bash
# idle-scale.sh: N (1,000) Dovecot users, each with IDLE on INBOX, in one
# mailfetchd process. Reports the daemon's peak RSS once every session
# idles (target < 64 MB), its CPU seconds over 60 idle seconds (target
# near zero: no busy polling), and the time from the first of 100 APPENDs
# (to 100 random users) until the last of those messages lands, next to
# 100 bare IDLE clients woken the same way.
#
#	bash bench/idle-scale.sh	# as root; N=1000, IDLE_SECS=60, WAKE=100
#
# Raises fs.inotify.max_user_instances (Dovecot needs ~2 per IDLE session;
# restored at exit) and Dovecot's process/client limits (DC_EXTRA_CONF).
set -u
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
N=${N:-1000}
IDLE_SECS=${IDLE_SECS:-60}
WAKE=${WAKE:-100}
DC_EXTRA_CONF="
default_process_limit = $((N + 2 * WAKE + 100))
default_client_limit = $((N * 3 + 100))
service imap-login {
  service_count = 0
  process_min_avail = 2
  client_limit = $((N * 2 + 100))
}
service imap {
  # the daemon's N, the WAKE bare clients and the WAKE APPEND sessions
  process_limit = $((N + 2 * WAKE + 100))
  client_limit = 1
}
service anvil {
  client_limit = $((N * 3 + 100))
}
service auth {
  client_limit = $((N * 3 + 100))
}
"
export DC_EXTRA_CONF
. "$top_srcdir/tests/lib/daemon.sh"
TAP_DONE=1	# not a test: tap.sh's EXIT trap only cleans up

old_inotify=$(sysctl -n fs.inotify.max_user_instances)
sysctl -q -w fs.inotify.max_user_instances=$((N * 3 + 256)) ||
    tap_bail "cannot raise fs.inotify.max_user_instances"
tap_cleanup_add "sysctl -q -w fs.inotify.max_user_instances=$old_inotify"
ulimit -n $((N * 4 + 1024))

mfd_init
dovecot_start
PW=pw-scale-9d2
printf '%s\n' "$PW" >"$T/pass"
CONF=$T/mfd.conf
{
	printf 'state_dir = "%s"\nlog_level = info\n' "$T/state"
	printf 'max_connections = %d\n' "$N"
} >"$CONF"
for ((i = 0; i < N; i++)); do
	u=u$i
	dovecot_add_user "$u" "$PW"
	printf 'account "%s" {\n  protocol = imap\n  host = "localhost"\n' "$u"
	printf '  port = %s\n  tls = implicit\n  ca_file = "%s"\n' \
	    "$DC_IMAPS_PORT" "$DC_CA"
	printf '  user = "%s"\n  password_file = "%s"\n' "$u" "$T/pass"
	printf '  maildir = "%s"\n  idle = yes\n  poll_interval = 1h\n' \
	    "$T/$u/Maildir"
	printf '  folder "INBOX" { }\n}\n'
done >>"$CONF"
chmod 600 "$T/pass"

t0=$(date +%s%3N)
daemon_start "$CONF"
# Every session idles: Dovecot logs one login each and the daemon none
# of its own errors.
for ((i = 0; i < 1200; i++)); do
	[ "$(grep -Ec 'imap-login: (Info: )?Login: ' "$DC_LOG")" -ge "$N" ] && break
	sleep 0.1
done
logged=$(grep -Ec 'imap-login: (Info: )?Login: ' "$DC_LOG")
sleep 5
t1=$(date +%s%3N)
echo "logins: $logged of $N in $((t1 - t0 - 5000)) ms (+5 s settle)"
cpu() { awk '{print $14 + $15}' "/proc/$DPID/stat"; }
c0=$(cpu)
sleep "$IDLE_SECS"
c1=$(cpu)
hz=$(getconf CLK_TCK)
echo "CPU over $IDLE_SECS idle seconds: $(echo "scale=2; ($c1 - $c0) / $hz" | bc) s"
echo "RSS: $(awk '/VmHWM/ {print $2 " kB peak,"} /VmRSS/ {print $2 " kB now"}' \
    "/proc/$DPID/status" | tr '\n' ' ')"
echo "fds: $(ls /proc/$DPID/fd | wc -l)"
users=$(shuf -i 0-$((N - 1)) -n "$WAKE" | sed 's/^/u/' | paste -sd,)
"$(_dc_python)" "$top_srcdir/bench/idle_bench.py" wake --port "$DC_IMAPS_PORT" \
    --ca "$DC_CA" --password-file "$T/pass" --users "$users" \
    --watch-root "$T"
users=$(shuf -i 0-$((N - 1)) -n "$WAKE" | sed 's/^/u/' | paste -sd,)
"$(_dc_python)" "$top_srcdir/bench/idle_bench.py" wake --port "$DC_IMAPS_PORT" \
    --ca "$DC_CA" --password-file "$T/pass" --users "$users" --bare
echo "RSS after the wake: $(awk '/VmHWM/ {print $2 " kB peak"}' "/proc/$DPID/status")"
grep -c ' error: ' "$DLOG" | sed 's/^/daemon errors logged: /'
kill -TERM "$DPID"
daemon_wait_exit 20
echo "SIGTERM: exit $drc"
