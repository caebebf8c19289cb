#!/bin/bash
# flagsync.sh: what one poll of local_flags = mirror costs on a folder
# already fetched, with and without CONDSTORE, and what mbsync's flag
# sync of the same mailbox costs.
#
#	bash bench/flagsync.sh			# as root; N=5000
#	N=100000 bash bench/flagsync.sh		# the full mode
#
# Starts a throwaway Dovecot (tests/lib/dovecot.sh), puts N small messages
# (about 600 bytes each) into a user's INBOX, and for each mode fetches
# them once (untimed), then RUNS times: another client changes the flags
# of CHANGED messages spread over the folder (\Seen and \Flagged, set and
# taken off in turn), and one poll goes through bench/wirecount.py, which
# counts the TCP bytes each way; the wall time of the poll is taken around
# it, and the Maildir is checked to carry exactly the changed flags.
#
#   condstore	mailfetchd --once, Dovecot as it is (CONDSTORE, ENABLE):
#		UID FETCH 1:N (UID FLAGS) (CHANGEDSINCE m)
#   full	mailfetchd --once, Dovecot restarted with CONDSTORE and
#		QRESYNC masked out of its capabilities (imap_capability):
#		UID FETCH 1:N (UID FLAGS) on every poll
#   mbsync	mbsync (isync) with Sync Pull on the same mailbox (when
#		installed)
#   select	the floor of any of them: a Python client that logs in,
#		SELECTs INBOX (Dovecot syncs its index with the Maildir)
#		and logs out (tests/lib/imap_client.py), after the same
#		change
#
# Knobs: N (5000), CHANGED (10), RUNS (3; the table shows medians),
# MAILFETCHD (default _build/mailfetchd), KEEP_DOVECOT=1, KEEP_BENCH=1
# (the scratch directory, with every log and results, is left).
# Not part of make check: a benchmark, not a test.
set -u
BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
N=${N:-5000}
CHANGED=${CHANGED:-10}
RUNS=${RUNS:-3}
MAILFETCHD=${MAILFETCHD:-$ROOT/_build/mailfetchd}
BENCH_USER=mfd-bench
MUSER=flags
MPASS=flags-pw-$$

say() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (Dovecot, the benchmark user)"
[ -x "$MAILFETCHD" ] || die "no mailfetchd at $MAILFETCHD (set MAILFETCHD)"
getent passwd "$BENCH_USER" >/dev/null ||
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
	--shell /usr/sbin/nologin "$BENCH_USER" || die "cannot add $BENCH_USER"
BUID=$(id -u "$BENCH_USER")
BGID=$(id -g "$BENCH_USER")
as_bench() { setpriv --reuid="$BUID" --regid="$BGID" --clear-groups -- "$@"; }

W=$(mktemp -d /tmp/mfd-flagbench.XXXXXX) || die "mktemp failed"
chmod 755 "$W"
. "$ROOT/tests/lib/dovecot.sh"
TAP_DONE=1		# not a test: tap.sh's EXIT trap only cleans up
[ "${KEEP_BENCH:-0}" = 1 ] || tap_cleanup_add 'rm -rf "$W"'
tap_cleanup_add '[ -n "${RPID:-}" ] && kill "$RPID" 2>/dev/null'
dovecot_start
say "Dovecot $(dovecot --version | cut -d' ' -f1), N=$N CHANGED=$CHANGED RUNS=$RUNS"

client() {
	python3 "$ROOT/tests/lib/imap_client.py" --port "$DC_IMAPS_PORT" \
	    --ca "$DC_CA" --user "$MUSER" --password "$MPASS" cmd "$@"
}

# N messages straight into the server's Maildir, then indexed once.
dovecot_add_user "$MUSER" "$MPASS"
MD=$(dovecot_folder_path "$MUSER" INBOX)
python3 - "$MD/new" "$N" <<'EOF' || die "cannot write the messages"
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
os.makedirs(d, exist_ok=True)
for i in range(1, n + 1):
    with open(os.path.join(d, "%d.M%dP1.bench" % (1700000000 + i, i)),
              "w") as f:
        f.write("From: a@example.org\nTo: b@example.net\n"
                "Subject: message %d\nMessage-ID: <%d@flags.bench>\n"
                "Date: Mon, 3 Feb 2025 10:00:00 +0000\n\n%s\n"
                % (i, i, ("body of message %d. " % i) * 20))
EOF
chown -R "$DC_MAIL_USER:" "$MD"
client 'SELECT INBOX' 'UID FETCH 1:* (UID FLAGS)' >/dev/null ||
    die "indexing fetch failed"

# The UIDs whose flags change: CHANGED of them, spread over the folder.
UIDS=$(awk -v n="$N" -v k="$CHANGED" 'BEGIN { for (i = 1; i <= k; i++)
    printf "%s%d", (i > 1 ? "," : ""), int(i * n / (k + 1)) }')
# change RUN: \Seen \Flagged set on odd runs, taken off on even ones.
change() {
	local op=+
	[ $(($1 % 2)) -eq 0 ] && op=-
	client 'SELECT INBOX' "UID STORE $UIDS ${op}FLAGS.SILENT (\\Seen \\Flagged)" \
	    >/dev/null || die "UID STORE failed"
}
# flagged DIR: files in DIR's cur/ carrying F.
flagged() { find "$1/cur" -type f -name '*:2,*F*' | wc -l; }

# The relay that counts the bytes: one per run of the script.
: >"$W/counts"
: >"$W/rport"
python3 "$BENCH/wirecount.py" "$DC_IMAPS_PORT" "$W/counts" >"$W/rport" &
RPID=$!
for ((i = 0; i < 100; i++)); do
	read -r RPORT <"$W/rport" 2>/dev/null && break
	sleep 0.05
done
[ -n "${RPORT:-}" ] || die "wirecount.py did not start"

# measure MODE CMD...: one timed poll through the relay; appends
# "MODE wall_s down up" to results.
measure() {
	local mode=$1 lines t0 t1 i rc

	shift
	lines=$(wc -l <"$W/counts")
	t0=$EPOCHREALTIME
	# The Python client runs as root: pyenv's python3 may be out of
	# the benchmark user's reach.
	if [ "$mode" = select ]; then
		"$@" >>"$W/$mode.log" 2>&1 </dev/null
	else
		as_bench "$@" >>"$W/$mode.log" 2>&1 </dev/null
	fi
	rc=$?
	# 1: nothing new, what a poll of an unchanged folder says.
	[ "$rc" -le 1 ] || say "$mode: exit $rc"
	t1=$EPOCHREALTIME
	for ((i = 0; i < 100; i++)); do
		[ "$(wc -l <"$W/counts")" -gt "$lines" ] && break
		sleep 0.05
	done
	tail -n +"$((lines + 1))" "$W/counts" | awk -v m="$mode" \
	    -v t="$(echo "$t1 - $t0" | bc)" \
	    '{ d += $1; u += $2 } END { printf "%s %.3f %d %d\n", m, t, d, u }' \
	    >>"$W/results"
}

# mfd_mode MODE: a fresh Maildir and state, the first fetch (direct,
# untimed), then RUNS polls through the relay after each change.
mfd_mode() {
	local mode=$1 d=$W/$1 run

	mkdir -p "$d/state"
	printf '%s\n' "$MPASS" >"$d/pass"
	chmod 600 "$d/pass"
	for port in "$DC_IMAPS_PORT" "$RPORT"; do
		cat >"$d/conf.$port" <<-EOF
		state_dir = "$d/state"
		log_level = info
		account "bench" {
			protocol = imap
			host = "localhost"
			port = $port
			ca_file = "$DC_CA"
			user = "$MUSER"
			password_file = "$d/pass"
			maildir = "$d/Maildir"
			local_flags = mirror
			timeout = 300s
		}
		EOF
	done
	chown -R "$BUID:$BGID" "$d"
	as_bench "$MAILFETCHD" -c "$d/conf.$DC_IMAPS_PORT" --once \
	    >>"$W/$mode.log" 2>&1 ||
	    die "$mode: the first fetch failed: $(tail -3 "$W/$mode.log")"
	for ((run = 1; run <= RUNS; run++)); do
		change "$run"
		measure "$mode" "$MAILFETCHD" -c "$d/conf.$RPORT" --once
		[ "$(flagged "$d/Maildir")" -eq $((run % 2 * CHANGED)) ] ||
		    die "$mode run $run: $(flagged "$d/Maildir") files flagged"
	done
}

mbsync_mode() {
	local d=$W/mbsync run

	mkdir -p "$d/state" "$d/Maildir"
	printf '%s\n' "$MPASS" >"$d/pass"
	for port in "$DC_IMAPS_PORT" "$RPORT"; do
		cat >"$d/rc.$port" <<-EOF
		IMAPAccount far
		Host localhost
		Port $port
		User $MUSER
		PassCmd "cat $d/pass"
		SSLType IMAPS
		SystemCertificates no
		CertificateFile $DC_CA

		IMAPStore far
		Account far

		MaildirStore near
		Path $d/Maildir/
		Inbox $d/Maildir

		Channel bench
		Far :far:INBOX
		Near :near:INBOX
		Sync Pull
		Create Near
		Expunge None
		SyncState $d/state/
		EOF
	done
	chown -R "$BUID:$BGID" "$d"
	as_bench env HOME="$d" mbsync -c "$d/rc.$DC_IMAPS_PORT" -q bench \
	    >>"$W/mbsync.log" 2>&1 || die "mbsync: the first sync failed"
	for ((run = 1; run <= RUNS; run++)); do
		change "$run"
		measure mbsync env HOME="$d" mbsync -c "$d/rc.$RPORT" -q bench
		[ "$(flagged "$d/Maildir")" -eq $((run % 2 * CHANGED)) ] ||
		    die "mbsync run $run: $(flagged "$d/Maildir") files flagged"
	done
}

# The floor: log in, SELECT, log out, through the relay.
select_mode() {
	local run

	for ((run = 1; run <= RUNS; run++)); do
		change "$run"
		measure select python3 "$ROOT/tests/lib/imap_client.py" \
		    --port "$RPORT" --ca "$DC_CA" --user "$MUSER" \
		    --password "$MPASS" cmd 'SELECT INBOX'
	done
}

: >"$W/results"
select_mode
mfd_mode condstore
command -v mbsync >/dev/null && mbsync_mode
# The same server without CONDSTORE (and QRESYNC, which implies it).
caps=$(client CAPABILITY | sed -n 's/^\* CAPABILITY //p' |
    tr ' ' '\n' | grep -v -x -e CONDSTORE -e QRESYNC | tr '\n' ' ')
printf 'imap_capability = %s\n' "$caps" >>"$DC_CONF"
dovecot_restart
client CAPABILITY | grep -q CONDSTORE && die "CONDSTORE still offered"
mfd_mode full

printf '\nN=%s messages, %s changed per poll; medians of %s polls\n\n' \
    "$N" "$CHANGED" "$RUNS"
printf '| mode | wall s | bytes from the server | bytes to it |\n'
printf '|---|---|---|---|\n'
for mode in select condstore full mbsync; do
	grep -q "^$mode " "$W/results" || continue
	printf '| %s |' "$mode"
	for col in 2 3 4; do
		printf ' %s |' "$(awk -v m="$mode" -v c="$col" '$1 == m { print $c }' \
		    "$W/results" | sort -g | awk '{ v[NR] = $1 }
		    END { print v[int((NR + 1) / 2)] }')"
	done
	printf '\n'
done
