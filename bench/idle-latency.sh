#!/bin/bash
# idle-latency.sh: IMAP IDLE push latency, APPEND on the server to a file
# in the Maildir's new/, 100 samples, measured in the same run as a bare
# IDLE client's wake-up (APPEND to the untagged EXISTS): that client is the
# floor (Dovecot waits ~0.5 s before it notifies). Optional peers:
# fetchmail (`idle`) and getmail6 (`--idle`), if installed. Each client
# idles on its own Dovecot user's INBOX, next to a bare client of its
# own, and the APPENDs go round-robin to the users: every client is timed
# in the same run against the floor of the same APPEND, without the
# others waking (and taking the 2 cores) at the same instant. SHARED=1
# puts every client on one INBOX instead, all woken by each APPEND.
#
#	bash bench/idle-latency.sh	# as root; MAILFETCHD=..., SAMPLES=100,
#					# PEERS="fetchmail getmail" ("" for none),
#					# SHARED=1, RAW=FILE (every sample, TSV)
set -u
top_srcdir=$(cd "$(dirname "$0")/.." && pwd)
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
SAMPLES=${SAMPLES:-100}
PEERS=${PEERS-fetchmail getmail}
GETMAIL_USER=${GETMAIL_USER:-nobody}
SHARED=${SHARED:-0}
. "$top_srcdir/tests/lib/daemon.sh"
TAP_DONE=1	# not a test: tap.sh's EXIT trap only cleans up
# Dovecot also checks an idling mailbox every 30 s; when that check falls
# inside a sample's 0.5 s it wakes that session early, and a floor or a
# client woken early is not the notification being measured.
DC_EXTRA_CONF="mailbox_idle_check_interval = 1 hour"

mfd_init
dovecot_start
PW=pw-bench-idle-4c1
dovecot_add_user bench "$PW"
mfd_account bench "$PW"
CONF=$T/mfd.conf
{
	printf 'state_dir = "%s"\nlog_level = info\n' "$T/state"
	daemon_block bench 'idle = yes' 'poll_interval = 1h'
} | grep -v 'poll_interval = 10s' >"$CONF"
daemon_start "$CONF"
watch=$T/bench/Maildir names=mailfetchd users=bench
pids=()

for p in $PEERS; do
	d=$T/$p/Maildir
	u=bench
	if [ "$SHARED" != 1 ]; then
		u=bench-$p
		dovecot_add_user "$u" "$PW"
	fi
	mkdir -p "$d/new" "$d/cur" "$d/tmp" "$T/$p/home"
	case $p in
	fetchmail)
		command -v fetchmail >/dev/null || continue
		# keep without fetchall: each wake fetches the unseen (new)
		# message only; with fetchall it delivered every message in
		# the INBOX again on every wake.
		cat >"$T/$p/rc" <<-RC
		poll localhost service $DC_IMAPS_PORT protocol IMAP
		  user "$u" password "$PW" ssl sslcertfile "$DC_CA" sslcertck
		  idle keep
		  mda "sh -c 'f=$d/tmp/\$(date +%s%N).\$\$; cat >\$f && mv \$f $d/new/'"
		RC
		chmod 600 "$T/$p/rc"
		HOME=$T/$p/home fetchmail -f "$T/$p/rc" -N --nosyslog \
		    --pidfile "$T/$p/pid" >"$T/$p/log" 2>&1 &
		;;
	getmail)
		command -v getmail >/dev/null || continue
		# getmail6 refuses to deliver to a Maildir as root (its
		# delivery child exits 127, the message stays unseen and
		# the sample never lands): it needs the destination's
		# `user`, which must reach the Maildir through $T (0700).
		chmod 711 "$T" "$T/$p"
		chown -R "$GETMAIL_USER:" "$d"
		cat >"$T/$p/rc" <<-RC
		[retriever]
		type = SimpleIMAPSSLRetriever
		server = localhost
		port = $DC_IMAPS_PORT
		username = $u
		password = $PW
		ca_certs = $DC_CA
		mailboxes = ("INBOX",)
		[destination]
		type = Maildir
		path = $d/
		user = $GETMAIL_USER
		[options]
		read_all = false
		delete = false
		RC
		getmail --rcfile="$T/$p/rc" --getmaildir="$T/$p" \
		    --idle=INBOX >"$T/$p/log" 2>&1 &
		;;
	*)
		continue
		;;
	esac
	pids+=($!)
	tap_cleanup_add "kill $! 2>/dev/null"
	watch=$watch,$d names=$names,$p users=$users,$u
done
# Everyone logged in and idling (getmail6 needs a few seconds to start).
sleep "${SETTLE:-8}"
"$(_dc_python)" "$top_srcdir/bench/idle_bench.py" latency \
    --port "$DC_IMAPS_PORT" --ca "$DC_CA" --user "$users" --password "$PW" \
    --samples "$SAMPLES" --watch "$watch" --names "$names" \
    ${RAW:+--raw "$RAW"}
rc=$?
# A peer that never delivered usually says why in its log.
if [ "$rc" != 0 ]; then
	echo "== mailfetchd log (last lines):" >&2
	tail -n 5 "$DLOG" >&2
	for p in $PEERS; do
		[ -f "$T/$p/log" ] || continue
		echo "== $p log (last lines):" >&2
		tail -n 5 "$T/$p/log" >&2
	done
fi
kill -TERM "$DPID"
daemon_wait_exit 10
exit $rc
