#!/bin/bash
# privsep_stop.sh: root's --once with accounts of an owner forks a worker
# that runs as that owner; the owner may SIGSTOP it (same uid). Root's run
# (a cron job) must not wait for it for ever (review r25 04): the stopped
# worker is killed, said so, its accounts count as not fetched, and root's
# own account is fetched and reported; a job stopped and continued as a
# whole (kill -STOP, -CONT of its group) kills no worker (review r29 07);
# a FIFO the owner puts as its state file is refused, not waited on (r29 02).
# No Dovecot: a POP3 server that
# greets after 2 s, an empty maildrop. Needs root (creates a user). TAP.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/tap.sh"
MAILFETCHD=${MAILFETCHD:-$PWD/mailfetchd}

[ "$(id -u)" = 0 ] || tap_bail "privsep_stop.sh must run as root (it creates a user)"
for tool in useradd userdel runuser python3 timeout; do
	command -v "$tool" >/dev/null || tap_bail "$tool not found"
done
tap_plan 8
T=$(mktemp -d /tmp/mfd-pstop.XXXXXX) || tap_bail "mktemp"
chmod 711 "$T"
tap_cleanup_add 'rm -rf "$T"'
U=mfdstop$$
mkdir -m 711 "$T/home"
useradd --system --create-home --home-dir "$T/home/$U" \
    --shell /usr/sbin/nologin "$U" >/dev/null 2>&1 || tap_bail "useradd $U"
tap_cleanup_add "pkill -KILL -u '$U' 2>/dev/null; userdel '$U' >/dev/null 2>&1"
chmod 700 "$T/home/$U"
printf 'pw\n' >"$T/home/$U/pass"
chown "$U:" "$T/home/$U/pass"
chmod 600 "$T/home/$U/pass"
printf 'pw\n' >"$T/rootpass"
chmod 600 "$T/rootpass"

# The server: each connection greeted after 2 s, an empty maildrop.
python3 - >"$T/port" 2>/dev/null <<'PY' &
import socket, threading, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(8)
s.settimeout(120)
print(s.getsockname()[1], flush=True)
def serve(c):
    c.settimeout(30)
    try:
        time.sleep(2)
        c.sendall(b"+OK slow\r\n")
        for line in c.makefile("rb"):
            cmd = line.decode(errors="replace").split(" ")[0].strip().upper()
            if cmd == "QUIT":
                c.sendall(b"+OK bye\r\n")
                break
            reply = {"STAT": b"+OK 0 0\r\n", "LIST": b"+OK\r\n.\r\n",
                     "UIDL": b"+OK\r\n.\r\n",
                     "CAPA": b"+OK\r\nUIDL\r\nUSER\r\n.\r\n"}
            c.sendall(reply.get(cmd, b"+OK\r\n"))
    except OSError:
        pass
    c.close()
end = time.time() + 120
while time.time() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        break
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
SP=$!
tap_cleanup_add "kill $SP 2>/dev/null"
for ((i = 0; i < 50; i++)); do
	[ -s "$T/port" ] && break
	sleep 0.1
done
PORT=$(cat "$T/port")
[ -n "$PORT" ] || tap_bail "the server did not start"
acct()
{
	printf 'account "%s" {\n  %s\n  protocol = pop3\n  host = "127.0.0.1"\n' "$1" "$2"
	printf '  port = %s\n  tls = none\n  user = "x"\n  password_file = "%s"\n' "$PORT" "$3"
	printf '  maildir = "%s"\n  timeout = 20s\n}\n' "$4"
}
{
	printf 'state_dir = "%s/state"\nallow_root = yes\nlog_level = info\n' "$T"
	acct "$U" "owner = \"$U\"" "$T/home/$U/pass" "$T/home/$U/Maildir"
	acct rootacct "" "$T/rootpass" "$T/Maildir-root"
} >"$T/c.conf"

# The owner stops every mailfetchd of its uid (its worker), for 40 s.
runuser -u "$U" -- python3 - 40 >"$T/stopped" 2>&1 <<'PY' &
import os, signal, sys, time
end = time.time() + float(sys.argv[1])
me, done = os.getuid(), set()
while time.time() < end:
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) in done:
            continue
        try:
            if os.stat("/proc/" + p).st_uid != me:
                continue
            if open("/proc/%s/comm" % p).read().strip() != "mailfetchd":
                continue
            os.kill(int(p), signal.SIGSTOP)
            done.add(int(p))
            print(p, flush=True)
        except OSError:
            pass
    time.sleep(0.01)
PY
STP=$!
tap_cleanup_add "kill $STP 2>/dev/null"
sleep 0.5
t0=$(date +%s)
timeout -s KILL 60 "$MAILFETCHD" -c "$T/c.conf" --once >"$T/once.out" 2>&1
rc=$?
took=$(($(date +%s) - t0))
tap_diag "root's --once with the owner stopping its worker: rc $rc after ${took}s"
[ -s "$T/stopped" ]
ok $? "the owner stopped its worker" "$(cat "$T/once.out")"
[ "$rc" != 137 ] && [ "$took" -lt 40 ]
ok $? "root's --once ends while the owner's worker is stopped (rc $rc, ${took}s)" \
    "$(cat "$T/once.out")"
tap_like "$(cat "$T/once.out")" "worker of $U \(pid [0-9]+\) was stopped for [0-9]+ s: killed" \
    "... saying the worker was stopped and killed"
tap_is "$rc:$(grep -c 'finished: partial failure (exit status 7)' "$T/once.out")" 7:1 \
    "root's run finishes: the stopped owner's account failed, root's own fetched (partial failure, exit 7)"
wait "$STP" 2>/dev/null

# The job stopped and continued as a whole (kill -STOP then -CONT of its
# process group, as a shell's "kill -STOP %1" / "fg" or a batch scheduler
# does; review r29 07): the workers stopped with root are not killed.
setsid "$MAILFETCHD" -c "$T/c.conf" --once >"$T/once2.out" 2>&1 &
OP=$!
sleep 0.5
kill -STOP -"$OP"
sleep 1
kill -CONT -"$OP"
t0=$(date +%s)
for ((i = 0; i < 300; i++)); do
	kill -0 "$OP" 2>/dev/null || break
	sleep 0.1
done
kill -KILL -"$OP" 2>/dev/null
wait "$OP"
rc2=$?
tap_is "$rc2" 1 "a job stopped and continued as a whole: its run ends as usual (nothing new)" \
    "$(cat "$T/once2.out")"
tap_unlike "$(cat "$T/once2.out")" 'was stopped .*killed' "... no worker killed"
# The owner puts a FIFO where its account's state file is (its state
# directory is its own; review r29 02): the worker refuses it at once, it
# does not block in open(), and root's run ends.
sf=$(find "$T/state/owner" -name "$U.state" 2>/dev/null | head -1)
[ -n "$sf" ] || sf=$T/state/owner/$U/$U.state
rm -f "$sf"
runuser -u "$U" -- mkfifo "$sf" || tap_bail "mkfifo $sf"
timeout -s KILL 60 "$MAILFETCHD" -c "$T/c.conf" --once >"$T/once3.out" 2>&1
rc3=$?
tap_is "$rc3:$(grep -c 'is not a regular file' "$T/once3.out")" 7:1 \
    "a FIFO as the owner's state file: refused, root's run ends (partial failure)" \
    "$(cat "$T/once3.out")"
tap_unlike "$(cat "$T/once.out" "$T/once2.out" "$T/once3.out")" 'runtime error:|AddressSanitizer|LeakSanitizer' \
    "no sanitizer report"
tap_done
