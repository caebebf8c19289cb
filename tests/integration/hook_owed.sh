#!/bin/bash
# hook_owed.sh: what new_mail_command owes is durable in state_dir before
# anything that could lose it (hook.c), against a real Dovecot:
#  - started: --once killed (MAILFETCHD_FAULT=hook-started) the instant
#    after the hook's run started: state_dir/ACCOUNT.hook holds its 3
#    files, and the next --once runs the hook once for them (the file was
#    written before the run started, not after).
#  - saved: killed after a batch's state save (imap-saved, pop3-saved with
#    keep yes and no), and a recovery killed after its journal replay
#    (imap-recovered): the journal no longer names the 3 files, yet the
#    next --once runs the hook for them (state_dir/ACCOUNT.hook was
#    written with the batch, before the save). daemon: the same for the
#    daemon's first poll killed at imap-saved, then started again.
#    nohook: an account without new_mail_command writes no ACCOUNT.hook.
#  - reload, term: a poll aborted after its INBOX was fetched and saved,
#    while folder Later still downloads (through tests/lib/throttle.py):
#    by a reload that changes the account (the daemon runs the hook for
#    INBOX's 3 at once, Later's 3 come with the next poll), and by two
#    SIGTERMs to --once (ACCOUNT.hook keeps INBOX's 3 for the next
#    --once): every delivered message is given to the hook.
#  - statedir: a reload that changes state_dir while a run is held moves
#    ACCOUNT.hook into the new directory; after a kill -9, a --once with
#    the new configuration runs the hook for the held run's 3 messages.
#  - dirsync: (strace) the rename of ACCOUNT.hook is followed by an fsync
#    of state_dir, as the state file's and the Maildir's are: else a power
#    cut may undo it.
# Bounded waits only. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"
command -v strace >/dev/null || tap_bail "strace not found"

mfd_init
dovecot_start
gen() { "$(_dc_python)" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }

# The hook: DIR/run.N per run, with MAILFETCHD_NEW in NEW and the paths of
# its stdin in paths; then, while DIR/block exists, it waits (60 s at most).
HOOK=$T/hook.sh
cat >"$HOOK" <<'EOF' || tap_bail "cannot write $HOOK"
#!/bin/bash
d=$1
for ((i = 1; i < 1000; i++)); do
	mkdir "$d/run.$i" 2>/dev/null && break
done
printf '%s\n' "$MAILFETCHD_NEW" >"$d/run.$i/NEW"
cat >"$d/run.$i/paths"
for ((j = 0; j < 600; j++)); do
	[ -e "$d/block" ] || break
	sleep 0.1
done
EOF
chmod 755 "$HOOK"

# runs DIR: how many runs began.
runs() { find "$1" -maxdepth 1 -name 'run.*' | wc -l; }
# given DIR: the Message-IDs of the files the hook's runs were given,
# sorted, one per line.
given()
{
	cat "$1"/run.*/paths 2>/dev/null | while IFS= read -r p; do
		grep -h -m1 -i '^Message-ID:' "$p" | tr -d '\r'
	done | sort
}
# ids PREFIX N...: the Message-ID lines gen gives PREFIX-N..., sorted.
ids()
{
	local p=$1 i

	shift
	for i in "$@"; do
		grep -h -m1 -i '^Message-ID:' "$T/$p-$i.eml" | tr -d '\r'
	done | sort
}
# wait_given DIR N SECONDS: until the hook was given N messages.
wait_given()
{
	local i

	for ((i = 0; i < $3 * 10; i++)); do
		[ "$(given "$1" | wc -l)" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
# account NAME [CONF-LINES...]: a Dovecot user with 3 messages in INBOX,
# NAME-1..3, and its configuration with the hook (HDIR=$T/h-NAME).
account()
{
	local a=$1 i

	shift
	dovecot_add_user "$a" "pw-$a-0wed"
	mfd_account "$a" "pw-$a-0wed"
	mkdir -p "$T/h-$a"
	for i in 1 2 3; do
		gen plain "$T/$a-$i.eml" "owed-$a-$i"
		dovecot_add_message "$a" INBOX "$T/$a-$i.eml"
	done
	mfd_conf "$a" "new_mail_command = \"$HOOK $T/h-$a\"" "$@"
}

# ---------------------------------------------------------------------
# Killed the instant after the run started: the pending file was first.
# ---------------------------------------------------------------------
account started
MAILFETCHD_FAULT=hook-started mfd_run started
tap_is "$rc" 137 "started: killed just after the hook's run started"
[ -s "$T/started/state/started.hook" ]
ok $? "started: state_dir/started.hook is kept" \
    "$(ls -l "$T/started/state" 2>&1)"
# The killed run may have begun (it dies with the daemon): only what the
# next --once gives counts.
rm -rf "$T/h-started"/run.*
mfd_run_ok started 1 "started: the next --once (nothing new)"
tap_is "$(given "$T/h-started")" "$(ids started 1 2 3)" \
    "started: the hook was given the 3 messages"
[ ! -e "$T/started/state/started.hook" ]
ok $? "started: ... and the pending file is gone"

# ---------------------------------------------------------------------
# Killed after the state save that makes the journal forget the batch.
# ---------------------------------------------------------------------
k=0
for c in imap-saved pop3-saved:keep pop3-saved imap-recovered; do
	k=$((k + 1))
	a=saved$k
	point=${c%%:*}
	case $c in
	pop3-saved:keep) MFD_PROTO=pop3 account "$a" 'keep = yes' ;;
	pop3-saved) MFD_PROTO=pop3 account "$a" 'keep = no' ;;
	*) account "$a" ;;
	esac
	if [ "$point" = imap-recovered ]; then
		MAILFETCHD_FAULT=imap-synced mfd_run "$a"
		tap_is "$rc" 137 "$c: killed at imap-synced first"
	fi
	MAILFETCHD_FAULT=$point mfd_run "$a"
	tap_is "$rc:$(runs "$T/h-$a")" 137:0 "$c: killed there, no hook ran"
	mfd_run "$a"
	tap_is "$(given "$T/h-$a")" "$(ids "$a" 1 2 3)" \
	    "$c: the next --once gave the hook the 3 messages"
	tap_is "$(runs "$T/h-$a")" 1 "$c: ... in one run"
	[ ! -e "$T/$a/state/$a.hook" ]
	ok $? "$c: ... and the pending file is gone"
done

dovecot_add_user nohook pw-nohook-0wed
mfd_account nohook pw-nohook-0wed
gen plain "$T/nohook-1.eml" owed-nohook-1
dovecot_add_message nohook INBOX "$T/nohook-1.eml"
mfd_conf nohook
MAILFETCHD_FAULT=imap-saved mfd_run nohook
tap_is "$rc:$(find "$T/nohook/state" -name '*.hook*' | wc -l)" 137:0 \
    "nohook: without new_mail_command, no pending file is written"

account daemon 'poll_interval = 1h' 'poll_interval_override = yes'
: >"$T/daemon.log"
MAILFETCHD_FAULT=imap-saved daemon_start "$T/daemon/mailfetchd.conf"
daemon_wait_exit 30
tap_is "$drc:$(runs "$T/h-daemon")" 137:0 "daemon: killed at imap-saved, no hook ran"
daemon_start "$T/daemon/mailfetchd.conf"
wait_given "$T/h-daemon" 3 30
tap_is "$(given "$T/h-daemon")" "$(ids daemon 1 2 3)" \
    "daemon: started again, it gave the hook the 3 messages"
kill -TERM "$DPID"
daemon_wait_exit 20
cat "$DLOG" >>"$T/all-output"

# ---------------------------------------------------------------------
# A poll aborted in its middle: a reload, a stopped --once.
# ---------------------------------------------------------------------
MFD_RELAY=throttle.py mfd_relay "$DC_IMAPS_PORT" 20000
TPORT=$RELAY_PORT
# later NAME: folder Later with NAME-4..6, 30 KB each (4.5 s at 20 KB/s).
later()
{
	local i

	dovecot_add_folder "$1" Later
	for i in 4 5 6; do
		gen plain "$T/$1-$i.eml" "owed-$1-$i"
		head -c 30000 /dev/zero | tr '\0' x | fold -w 70 >>"$T/$1-$i.eml"
		dovecot_add_message "$1" Later "$T/$1-$i.eml"
	done
}
FOLDERS=('--' 'folder "INBOX" { }' 'folder "Later" { }')

MFD_PORT=$TPORT account reload 'poll_interval = 1h' \
    'poll_interval_override = yes' "${FOLDERS[@]}"
later reload
daemon_start "$T/reload/mailfetchd.conf"
daemon_wait_log 'account=reload folder=INBOX: fetched 3' 30
ok $? "reload: the poll fetched INBOX" "$(cat "$DLOG")"
sed -i 's/poll_interval = 1h/poll_interval = 2h/' "$T/reload/mailfetchd.conf"
kill -HUP "$DPID"
daemon_wait_log 'account=reload: aborting the poll in progress' 10
ok $? "reload: the reload aborted the poll during Later" "$(cat "$DLOG")"
wait_given "$T/h-reload" 6 40
tap_is "$(given "$T/h-reload")" "$(ids reload 1 2 3 4 5 6)" \
    "reload: the hook was given the 6 messages (INBOX's too)"
tap_is "$(find "$T/reload/Maildir" -path '*/new/*' -type f | wc -l)" 6 \
    "reload: ... the 6 delivered"
kill -TERM "$DPID"
daemon_wait_exit 20
tap_is "$drc" 0 "reload: the daemon stopped"
cat "$DLOG" >>"$T/all-output"

MFD_PORT=$TPORT account term "${FOLDERS[@]}"
later term
"$MAILFETCHD" -c "$T/term/mailfetchd.conf" --once >"$T/term.log" 2>&1 &
OPID=$!
daemon_wait_file "$T/term.log" 'account=term folder=INBOX: fetched 3' 30
ok $? "term: --once fetched INBOX" "$(cat "$T/term.log")"
kill -TERM "$OPID"
daemon_wait_file "$T/term.log" 'SIGTERM' 10
kill -TERM "$OPID"
for ((i = 0; i < 100; i++)); do
	kill -0 "$OPID" 2>/dev/null || break
	sleep 0.1
done
wait "$OPID" 2>/dev/null
cat "$T/term.log" >>"$T/all-output"
tap_like "$(cat "$T/term.log")" 'account=term: aborting the fetch in progress' \
    "term: two SIGTERMs aborted the fetch during Later"
[ -s "$T/term/state/term.hook" ]
ok $? "term: state_dir/term.hook is kept" "$(ls -l "$T/term/state" 2>&1)"
MFD_PORT=$DC_IMAPS_PORT mfd_conf term \
    "new_mail_command = \"$HOOK $T/h-term\"" "${FOLDERS[@]}"
mfd_run_ok term 0 "term: the next --once"
tap_is "$(given "$T/h-term")" "$(ids term 1 2 3 4 5 6)" \
    "term: ... gave the hook the 6 messages (INBOX's too)"

# ---------------------------------------------------------------------
# A reload that changes state_dir while a run is held.
# ---------------------------------------------------------------------
account sdir 'poll_interval = 1h' 'poll_interval_override = yes'
: >"$T/h-sdir/block"
: >"$T/daemon.log"
daemon_start "$T/sdir/mailfetchd.conf"
wait_given "$T/h-sdir" 3 30
ok $? "statedir: the run for the 3 messages is held" "$(cat "$DLOG")"
mkdir -p "$T/sdir/stateB"
sed -i "s|^state_dir = .*|state_dir = \"$T/sdir/stateB\"|" \
    "$T/sdir/mailfetchd.conf"
kill -HUP "$DPID"
daemon_wait_log 'reloaded: ' 20
ok $? "statedir: reloaded" "$(cat "$DLOG")"
tap_is "$([ -s "$T/sdir/stateB/sdir.hook" ] && echo B)$([ -e \
    "$T/sdir/state/sdir.hook" ] && echo A)" B \
    "statedir: sdir.hook moved to the new state_dir"
kill -9 "$DPID"
daemon_wait_exit 10
cat "$DLOG" >>"$T/all-output"
rm -f "$T/h-sdir/block"
mv "$T/h-sdir/run.1" "$T/sdir-held"
mfd_run sdir
# The held run's files themselves (the new state_dir has no state: the
# --once fetches the 3 messages again, into other files).
tap_is "$(cat "$T"/h-sdir/run.*/paths 2>/dev/null | sort | comm -13 - \
    <(sort "$T/sdir-held/paths") | wc -l):$(wc -l <"$T/sdir-held/paths")" \
    0:3 "statedir: after a kill -9, the next --once ran the hook for the \
held run's 3 files"

# ---------------------------------------------------------------------
# The pending file's rename is made durable.
# ---------------------------------------------------------------------
account dirsync
# LeakSanitizer (the ASan build) cannot run under ptrace.
ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
    strace -qq -f -y -e trace=fsync,rename,renameat,renameat2 \
    -o "$T/dirsync.trace" "$MAILFETCHD" -c "$T/dirsync/mailfetchd.conf" \
    --once >>"$T/all-output" 2>&1
tap_is "$?" 0 "dirsync: --once under strace"
# The first call after the first rename to dirsync.hook, in that process.
after=$(awk '/rename.*dirsync\.hook\.tmp.*dirsync\.hook"/ && !pid {
	pid = $1; next } pid && $1 == pid { print; exit }' "$T/dirsync.trace")
tap_like "$after" "fsync\\([0-9]+<$T/dirsync/state>\\) += 0" \
    "dirsync: the rename of dirsync.hook is followed by an fsync of state_dir"

mfd_no_sanitizer
tap_done
