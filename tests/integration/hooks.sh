#!/bin/bash
# hooks.sh: new_mail_command and failure_command (hook.h) against a real
# Dovecot:
#  - one: the daemon in IDLE; each delivery round runs the hook once, with
#    MAILFETCHD_ACCOUNT, _FOLDERS, _NEW and the new files' paths on stdin
#    (files that exist, in new/); an APPEND's run holds exactly that
#    message, and the next APPEND's run exactly the next (so the first
#    APPEND ran the hook once, not twice).
#  - burst: 50 APPENDs while the hook's first run is held (it waits for a
#    release file, created once all 50 are in the Maildir): every arrival
#    during a run is coalesced into exactly one more run, so 1 or 2 runs
#    (1 when the first round took all 50), never overlapping, and their
#    paths together are the 50 files, each once.
#  - once: --once runs the hook once for its 3 messages, and waits for it
#    (the hook's last act is there when --once has exited).
#  - hang: a hook that never ends (and started a child of its own) is
#    killed at hook_timeout, child included, and logged; --once still
#    exits 0 with the mail delivered and the state saved (a second --once
#    finds nothing new).
#  - fail, nobin: a hook exiting 3, and one that does not exist, are
#    logged; the Maildir and the state are as without a hook.
#  - stop: SIGTERM while a hook runs: the daemon waits for it (within its
#    grace) and it runs to its end, logged as run. kill: a daemon killed
#    (kill -9) while a run is held and 3 messages wait for the next one:
#    the 4 files are kept in state_dir/ACCOUNT.hook, and the next start
#    runs the hook once for the 4 (the killed run's again: at least once),
#    then removes the file.
#  - reload: a reload that edits only new_mail_command and hook_timeout
#    changes no account (the IDLE session goes on, no new login), and
#    the next delivery runs the new command.
#  - chain: a hook whose descendants are a chain of 400 processes, each
#    in a process group of its own, is killed at hook_timeout with all of
#    them. detach: a hook that leaves a detached (setsid) process behind:
#    `out=$(mailfetchd --once 2>&1)` ends while that process still runs
#    (the hook's output is a pipe the daemon logs, not its stderr); the
#    hook's stdout and stderr lines are logged, escaped.
#  - crash: a run killed after its batch's journal (IMAP before and after
#    the files reach new/, POP3 after): the next run's recovery delivers
#    the 3 messages and runs the hook once for them, their 3 paths.
#  - bad: failure_command runs once when the login is refused, not again
#    at the retry a reload makes; after a success (the password fixed, a
#    reload) and a new refusal (a fetch now) it runs again (once per
#    change of state), with MAILFETCHD_CLASS=auth. badidle: an IDLE
#    session's refused login gives it the line the daemon logged
#    ("IDLE connection ended (...); reconnecting in ..."), not a word.
# Bounded waits only. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"

mfd_init
dovecot_start
gen() { "$(_dc_python)" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }

# The hook: records each run in DIR/run.N (its MAILFETCHD_* variables, one
# file each; the paths on stdin; those not found), DIR/overlap if two runs
# overlap; with DIR/block it waits (at most 60 s) for DIR/release; its
# last act is DIR/run.N/done.
HOOK=$T/hook.sh
cat >"$HOOK" <<'EOF' || tap_bail "cannot write $HOOK"
#!/bin/bash
d=$1
mkdir "$d/active" 2>/dev/null || : >"$d/overlap"
for ((i = 1; i < 1000; i++)); do
	mkdir "$d/run.$i" 2>/dev/null && break
done
r=$d/run.$i
for v in ACCOUNT FOLDERS NEW LISTED HOOK CLASS STATUS MESSAGE; do
	n=MAILFETCHD_$v
	[ -n "${!n+set}" ] && printf '%s\n' "${!n}" >"$r/$v"
done
cat >"$r/paths"
while IFS= read -r p; do
	[ -f "$p" ] || printf '%s\n' "$p" >>"$r/missing"
done <"$r/paths"
if [ -e "$d/block" ]; then
	for ((j = 0; j < 600; j++)); do
		[ -e "$d/release" ] && break
		sleep 0.1
	done
fi
[ -n "${HOOK_SLOW:-}" ] && sleep 1
rmdir "$d/active"
: >"$r/done"
EOF
chmod 755 "$HOOK"

# runs DIR: how many runs began.
runs() { find "$1" -maxdepth 1 -name 'run.*' | wc -l; }
# wait_path PATH SECONDS: until PATH exists.
wait_path()
{
	local i

	for ((i = 0; i < $2 * 10; i++)); do
		[ -e "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
# wait_done DIR N SECONDS: until DIR/run.N/done exists.
wait_done() { wait_path "$1/run.$2/done" "$3"; }
# msgid FILE...: the Message-ID lines of the files, sorted.
msgid() { grep -h -m1 -i '^Message-ID:' "$@" | tr -d '\r' | sort; }
# in_new MAILDIR PATHS-FILE: every path is MAILDIR/new/X or MAILDIR/cur/X.
in_new()
{
	local p

	while IFS= read -r p; do
		case $p in
		"$1"/new/*|"$1"/cur/*) ;;
		*) return 1 ;;
		esac
	done <"$2"
}

for u in one burst once hang fail nobin bad badidle; do
	dovecot_add_user "$u" "pw-$u-h00k"
	mfd_account "$u" "pw-$u-h00k"
	mkdir -p "$T/h-$u"
done
for i in 1 2 3; do
	gen plain "$T/one$i.eml" "hook-one-$i"
done

# ---------------------------------------------------------------------
# The daemon in IDLE: one run per delivery round.
# ---------------------------------------------------------------------
dovecot_add_message one INBOX "$T/one1.eml"
CONF=$T/daemon.conf
{
	printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state"
	printf 'new_mail_command = "%s %s"\n' "$HOOK" "$T/h-one"
	daemon_block one 'idle = yes' 'poll_interval = 1h'
	daemon_block burst 'idle = yes' 'poll_interval = 1h' \
	    "new_mail_command = \"$HOOK $T/h-burst\""
	daemon_block bad 'poll_interval = 1h' 'new_mail_command = ""' \
	    "failure_command = \"$HOOK $T/h-bad\""
	daemon_block badidle 'idle = yes' 'poll_interval = 1h' \
	    'new_mail_command = ""' "failure_command = \"$HOOK $T/h-badidle\""
} >"$CONF" || tap_bail "cannot write $CONF"
printf 'not-the-password\n' >"$T/bad/pass"
printf 'not-the-password\n' >"$T/badidle/pass"
: >"$T/h-burst/block"

daemon_start "$CONF"
daemon_wait_log 'account=one folder=INBOX: .*-> IDLING' 20
ok $? "the IDLE folder reaches IDLE" "$(tail -20 "$DLOG")"
wait_done "$T/h-one" 1 20
ok $? "the first round's delivery ran the hook" "$(tail -20 "$DLOG")"
tap_is "$(cat "$T/h-one/run.1/ACCOUNT" "$T/h-one/run.1/FOLDERS" \
    "$T/h-one/run.1/NEW" "$T/h-one/run.1/HOOK" 2>&1)" \
    "$(printf 'one\nINBOX\n1\nnew_mail')" \
    "its environment: the account, the folder, the count, the hook"

dovecot_append one INBOX "$T/one2.eml" >/dev/null || tap_bail "APPEND failed"
wait_done "$T/h-one" 2 20
ok $? "an APPEND pushed by IDLE runs the hook" "$(tail -20 "$DLOG")"
r=$T/h-one/run.2
tap_is "$(wc -l <"$r/paths")" 1 "one path on stdin"
tap_is "$(xargs -d '\n' cat <"$r/paths" | grep -i '^Message-ID:' | tr -d '\r')" \
    "$(msgid "$T/one2.eml")" "it is the appended message"
in_new "$T/one/Maildir" "$r/paths"
ok $? "the path is in the Maildir's new/ or cur/" "$(cat "$r/paths")"
[ ! -e "$r/missing" ]
ok $? "the file exists when the hook runs" "$(cat "$r/missing" 2>&1)"
tap_is "$(cat "$r/NEW")" 1 "MAILFETCHD_NEW=1"

dovecot_append one INBOX "$T/one3.eml" >/dev/null || tap_bail "APPEND failed"
wait_done "$T/h-one" 3 20
ok $? "the next APPEND runs the hook again" "$(tail -20 "$DLOG")"
tap_is "$(xargs -d '\n' cat <"$T/h-one/run.3/paths" | grep -i '^Message-ID:' | tr -d '\r')" \
    "$(msgid "$T/one3.eml")" \
    "that run holds exactly the next message (the first APPEND ran once)"
tap_is "$(runs "$T/h-one")" 3 "three runs for three delivery rounds"
daemon_wait_log "account=one: new_mail_command '$HOOK' ran for 1 new message" 10 3
ok $? "each run is logged" "$(grep new_mail_command "$DLOG")"

# --status --json keeps the last run: a hook's only trace besides the log.
# lasthook ACCOUNT: "hook ok" of its last_hook, after validating the
# document against the schema; "none" for null.
PY=$(_dc_python)
lasthook() {
	timeout 30 "$MAILFETCHD" -c "$CONF" --status --json "$1" 2>&1 |
	    "$PY" -c '
import json, sys, jsonschema
d = json.load(sys.stdin)
jsonschema.validate(d, json.load(open(sys.argv[1])))
h = d["accounts"][0]["last_hook"]
print("none" if h is None else "%s %s %s" % (h["hook"], h["ok"], h["time"] > 0))
' "$top_srcdir/doc/status.schema.json" 2>&1
}
tap_is "$(lasthook one)" "new_mail_command True True" \
    "--status --json shows the last hook run, valid against the schema"

# ---------------------------------------------------------------------
# A burst of 50 while a run is held: coalesced into one more run.
# ---------------------------------------------------------------------
daemon_wait_log 'account=burst folder=INBOX: .*-> IDLING' 20 ||
    tap_bail "burst: no IDLE" 
for i in $(seq 1 50); do
	gen plain "$T/b$i.eml" "hook-burst-$i"
	dovecot_append burst INBOX "$T/b$i.eml" >/dev/null ||
	    tap_bail "APPEND $i failed"
done
for ((i = 0; i < 600; i++)); do
	[ "$(find "$T/burst/Maildir/new" -type f | wc -l)" -ge 50 ] && break
	sleep 0.1
done
tap_is "$(find "$T/burst/Maildir/new" -type f | wc -l)" 50 \
    "all 50 messages are delivered while the first run is held"
: >"$T/h-burst/release"
for ((i = 0; i < 300; i++)); do
	n=$(cat "$T"/h-burst/run.*/paths 2>/dev/null | wc -l)
	[ "$n" -ge 50 ] && [ ! -d "$T/h-burst/active" ] && break
	sleep 0.1
done
nr=$(runs "$T/h-burst")
[ "$nr" -ge 1 ] && [ "$nr" -le 2 ]
ok $? "the burst ran the hook 1 or 2 times (got $nr)" "$(grep 'account=burst' "$DLOG" | tail)"
[ ! -e "$T/h-burst/overlap" ]
ok $? "no two runs of the account overlap"
tap_is "$(cat "$T"/h-burst/run.*/paths | sort)" \
    "$(find "$T/burst/Maildir/new" -type f | sort)" \
    "the paths of the runs are the 50 files, each once"
tap_is "$(cat "$T"/h-burst/run.*/NEW | awk '{ n += $1 } END { print n }')" 50 \
    "their MAILFETCHD_NEW add up to 50"
[ -z "$(cat "$T"/h-burst/run.*/missing 2>/dev/null)" ]
ok $? "every path exists when its run starts"

# ---------------------------------------------------------------------
# failure_command: once per state, not per retry.
# ---------------------------------------------------------------------
wait_done "$T/h-bad" 1 30
ok $? "a refused login runs failure_command" "$(grep 'account=bad' "$DLOG")"
tap_is "$(cat "$T/h-bad/run.1/ACCOUNT" "$T/h-bad/run.1/CLASS" \
    "$T/h-bad/run.1/HOOK" 2>&1)" "$(printf 'bad\nauth\nfailure')" \
    "its environment: the account, the class, the hook"
tap_like "$(cat "$T/h-bad/run.1/MESSAGE" 2>&1)" 'authentication' \
    "MAILFETCHD_MESSAGE says what went wrong"
nref=$(grep -c 'account=bad: .*authentication' "$DLOG")
kill -HUP "$DPID"
daemon_wait_log 'account=bad: .*authentication' 30 $((nref + 1))
ok $? "a reload retries the refused login, refused again" "$(grep 'account=bad' "$DLOG")"
printf 'pw-bad-h00k\n' >"$T/bad/pass"
kill -HUP "$DPID"
daemon_wait_log 'account=bad: nothing new' 30
ok $? "with the right password the login works" "$(grep 'account=bad' "$DLOG")"
printf 'not-the-password\n' >"$T/bad/pass"
# A fetch now (--once while the daemon runs) polls the account at once.
timeout 30 "$MAILFETCHD" -c "$CONF" --once --account bad >"$T/now.out" 2>&1
tap_is "$?" 3 "a fetch now is refused the login again"
wait_done "$T/h-bad" 2 30
ok $? "a refusal after a success runs failure_command again" "$(grep 'account=bad' "$DLOG")"
tap_is "$(runs "$T/h-bad")" 2 \
    "two runs: the retry of the first refusal ran none"
tap_is "$(lasthook bad)" "failure_command True True" \
    "--status --json shows the failure hook's run"
wait_done "$T/h-badidle" 1 30
ok $? "an IDLE session's refused login runs failure_command" "$(grep 'account=badidle' "$DLOG")"
tap_is "$(cat "$T/h-badidle/run.1/CLASS" 2>&1)" auth "... MAILFETCHD_CLASS=auth"
tap_like "$(cat "$T/h-badidle/run.1/MESSAGE" 2>&1)" \
    '^IDLE connection ended \(authentication failure.*\); reconnecting in ' \
    "... its MAILFETCHD_MESSAGE is the line the daemon logged"

kill -TERM "$DPID"
daemon_wait_exit 20
tap_is "$drc" 0 "the daemon stops"

# ---------------------------------------------------------------------
# --once: one run, waited for.
# ---------------------------------------------------------------------
for i in 1 2 3; do
	gen plain "$T/o$i.eml" "hook-once-$i"
	dovecot_add_message once INBOX "$T/o$i.eml"
done
mfd_conf once "new_mail_command = \"env HOOK_SLOW=1 $HOOK $T/h-once\""
mfd_run_ok once 0 "--once with a new_mail_command"
[ -e "$T/h-once/run.1/done" ]
ok $? "--once waited for the hook's end" "$err"
tap_is "$(runs "$T/h-once")" 1 "--once ran the hook once"
tap_is "$(cat "$T/h-once/run.1/NEW"; wc -l <"$T/h-once/run.1/paths")" \
    "$(printf '3\n3')" "for its 3 messages, all 3 paths on stdin"
in_new "$T/once/Maildir" "$T/h-once/run.1/paths"
ok $? "the paths are in the Maildir's new/ or cur/"
mfd_run_ok once 1 "--once again: nothing new"
tap_is "$(runs "$T/h-once")" 1 "nothing new runs no hook"

# ---------------------------------------------------------------------
# A hook that hangs: killed at hook_timeout with what it started.
# ---------------------------------------------------------------------
cat >"$T/hang.sh" <<EOF
#!/bin/bash
sleep 1000 &
echo \$! >"$T/hang.child"
sleep 1000
EOF
chmod 755 "$T/hang.sh"
gen plain "$T/hang1.eml" hook-hang-1
dovecot_add_message hang INBOX "$T/hang1.eml"
mfd_conf hang "new_mail_command = \"$T/hang.sh\"" 'hook_timeout = 2s'
mfd_run_ok hang 0 "--once with a hook that hangs"
tap_like "$err" "account=hang: .*new_mail_command '$T/hang.sh' timed out after 2 seconds and was killed" \
    "the timeout is logged"
child=$(cat "$T/hang.child" 2>/dev/null)
[ -n "$child" ] && ! kill -0 "$child" 2>/dev/null
ok $? "the hook's own child is killed too (pid ${child:-?})"
mfd_expect "$T/hang/Maildir" "" "$T/hang1.eml"
mfd_run_ok hang 1 "the state was saved: a second --once finds nothing new"

# ---------------------------------------------------------------------
# Hooks that fail: logged, nothing else changes.
# ---------------------------------------------------------------------
gen plain "$T/fail1.eml" hook-fail-1
dovecot_add_message fail INBOX "$T/fail1.eml"
mfd_conf fail "new_mail_command = \"sh -c 'exit 3'\""
mfd_run_ok fail 0 "--once with a hook that exits 3"
tap_like "$err" "account=fail: .*new_mail_command 'sh' exited with status 3" \
    "the failure is logged with the status"
mfd_expect "$T/fail/Maildir" "" "$T/fail1.eml"
mfd_run_ok fail 1 "the state is saved as without a hook"

gen plain "$T/nobin1.eml" hook-nobin-1
dovecot_add_message nobin INBOX "$T/nobin1.eml"
mfd_conf nobin 'new_mail_command = "/nonexistent/hook --x"'
mfd_run_ok nobin 0 "--once with a hook that does not exist"
tap_like "$err" "account=nobin: .*new_mail_command: cannot run '/nonexistent/hook': No such file or directory" \
    "the missing binary is logged"
mfd_expect "$T/nobin/Maildir" "" "$T/nobin1.eml"
mfd_run_ok nobin 1 "the state is saved as without a hook"

# ---------------------------------------------------------------------
# A stop: the running hook finishes in the grace; what a daemon killed
# with a run in progress and mail waiting owed runs at its next start.
# ---------------------------------------------------------------------
cat "$DLOG" >>"$T/all-output"
for u in stop kill; do
	dovecot_add_user "$u" "pw-$u-h00k"
	mfd_account "$u" "pw-$u-h00k"
	mkdir -p "$T/h-$u"
	for i in 1 2 3 4; do
		gen plain "$T/$u$i.eml" "hook-$u-$i"
	done
	dovecot_add_message "$u" INBOX "$T/${u}1.eml"
	{
		printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state-$u"
		daemon_block "$u" 'idle = yes' 'poll_interval = 1h' \
		    "new_mail_command = \"$HOOK $T/h-$u\""
	} >"$T/$u.conf" || tap_bail "cannot write $T/$u.conf"
	: >"$T/h-$u/block"
done

: >"$DLOG"
daemon_start "$T/stop.conf"
wait_path "$T/h-stop/run.1" 20 || tap_bail "stop: the hook did not start"
kill -TERM "$DPID"
daemon_wait_log 'waiting up to .* for 1 hook still running' 5
ok $? "SIGTERM with a hook running: the daemon waits for it" "$(tail "$DLOG")"
: >"$T/h-stop/release"
daemon_wait_exit 20
tap_is "$drc" 0 "... and stops once it has ended"
[ -e "$T/h-stop/run.1/done" ]
ok $? "the hook ran to its end" "$(grep new_mail_command "$DLOG")"
! grep -q 'killed: mailfetchd is stopping' "$DLOG" &&
    grep -q "account=stop: new_mail_command '$HOOK' ran for 1 new message" "$DLOG"
ok $? "it is logged as run, not killed" "$(grep new_mail_command "$DLOG")"
[ ! -e "$T/state-stop/stop.hook" ]
ok $? "nothing is owed once it ran"

cat "$DLOG" >>"$T/all-output"
: >"$DLOG"
daemon_start "$T/kill.conf"
wait_path "$T/h-kill/run.1" 20 || tap_bail "kill: the hook did not start"
for i in 2 3 4; do
	dovecot_append kill INBOX "$T/kill$i.eml" >/dev/null ||
	    tap_bail "APPEND failed"
done
for ((i = 0; i < 200; i++)); do
	[ "$(grep -c '^path ' "$T/state-kill/kill.hook" 2>/dev/null)" = 4 ] &&
	    break
	sleep 0.1
done
tap_is "$(grep -c '^path ' "$T/state-kill/kill.hook" 2>&1)" 4 \
    "kill: the running run's file and the 3 waiting are kept in state_dir"
kill -KILL "$DPID"
daemon_wait_exit 20
rm -f "$T/h-kill/block"
daemon_start "$T/kill.conf"
wait_done "$T/h-kill" 2 30
ok $? "after kill -9, the next start runs the hook again" "$(tail "$DLOG")"
tap_is "$(cat "$T/h-kill/run.2/NEW" 2>&1)" 4 \
    "... for the 4 messages it owed (the killed run's one again)"
tap_is "$(sort "$T/h-kill/run.2/paths" 2>&1)" \
    "$(find "$T/kill/Maildir/new" -type f | sort)" \
    "... their 4 paths"
for ((i = 0; i < 50; i++)); do
	[ -e "$T/state-kill/kill.hook" ] || break
	sleep 0.1
done
[ ! -e "$T/state-kill/kill.hook" ]
ok $? "nothing is owed once it ran"
kill -TERM "$DPID"
daemon_wait_exit 20
tap_is "$drc" 0 "the daemon stops"

# ---------------------------------------------------------------------
# A reload that edits only a hook restarts nothing; the next run takes it.
# ---------------------------------------------------------------------
cat "$DLOG" >>"$T/all-output"
dovecot_add_user reload pw-reload-h00k
mfd_account reload pw-reload-h00k
mkdir -p "$T/h-reload" "$T/h-reload2"
for i in 1 2; do
	gen plain "$T/reload$i.eml" "hook-reload-$i"
done
dovecot_add_message reload INBOX "$T/reload1.eml"
# reload_conf HOOK-DIR TIMEOUT: the daemon's configuration.
reload_conf()
{
	{
		printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state-reload"
		daemon_block reload 'idle = yes' 'poll_interval = 1h' \
		    "new_mail_command = \"$HOOK $1\"" "hook_timeout = $2"
	} >"$T/reload.conf" || tap_bail "cannot write $T/reload.conf"
}
reload_conf "$T/h-reload" 60s
: >"$DLOG"
daemon_start "$T/reload.conf"
wait_done "$T/h-reload" 1 20 || tap_bail "reload: no first run"
daemon_wait_log 'account=reload folder=INBOX: .*-> IDLING' 20 ||
    tap_bail "reload: no IDLE"
nlogin=$(grep -c 'account=reload.*logged in as' "$DLOG")
reload_conf "$T/h-reload2" 30s
kill -HUP "$DPID"
daemon_wait_log 'reloaded: .* 0 changed, 1 unchanged' 20
ok $? "a reload that edits only the hook changes no account" "$(grep -i reload "$DLOG")"
! grep -q 'account=reload: changed by the reload' "$DLOG"
ok $? "... and restarts no session" "$(grep -i reload "$DLOG")"
dovecot_append reload INBOX "$T/reload2.eml" >/dev/null ||
    tap_bail "APPEND failed"
wait_done "$T/h-reload2" 1 20
ok $? "the next delivery runs the new command" "$(tail "$DLOG")"
tap_is "$(runs "$T/h-reload")" 1 "... not the old one"
tap_is "$(grep -c 'account=reload.*logged in as' "$DLOG")" "$nlogin" \
    "no login since the reload: the IDLE session went on"
kill -TERM "$DPID"
daemon_wait_exit 20

# ---------------------------------------------------------------------
# A timeout kills a chain of process groups whole; a detached process
# the hook leaves cannot hold --once's output.
# ---------------------------------------------------------------------
CHAIN=${top_builddir:-.}/tests/tools/proc_chain
[ -x "$CHAIN" ] || tap_bail "$CHAIN not built (make check builds it)"
cat >"$T/chain.sh" <<EOF
#!/bin/bash
"$CHAIN" 400 "$T/chain.pids" &
sleep 1000
EOF
cat >"$T/detach.sh" <<EOF
#!/bin/sh
echo "hook says hello"
printf 'to stderr: a\033b\n' >&2
setsid sh -c 'echo \$\$ >"$T/detached.pid"; exec sleep 30' &
sleep 0.5
EOF
chmod 755 "$T/chain.sh" "$T/detach.sh"
# running PID: whether it runs (a zombie does not: this namespace's init
# may never reap one).
running() { [ -n "$1" ] && grep -qv '^[^)]*) Z' "/proc/$1/stat" 2>/dev/null; }
# alive FILE: how many of the pids in FILE still run.
alive()
{
	local p n=0

	while read -r p; do
		running "$p" && n=$((n + 1))
	done <"$1"
	echo "$n"
}
tap_cleanup_add 'for p in $(cat "$T/chain.pids" "$T/detached.pid" 2>/dev/null); do kill -9 "$p" 2>/dev/null; done'
for u in chain detach; do
	dovecot_add_user "$u" "pw-$u-h00k"
	mfd_account "$u" "pw-$u-h00k"
	gen plain "$T/$u-1.eml" "hook-$u-1"
	dovecot_add_message "$u" INBOX "$T/$u-1.eml"
	# Time to build the chain on a loaded machine (400 forks of a
	# sanitizer build took more than 10 s at a load of 10).
	mfd_conf "$u" "new_mail_command = \"$T/$u.sh\"" \
	    "hook_timeout = $([ "$u" = chain ] && echo 25s || echo 10s)"
done
mfd_run_ok chain 0 "--once with a hook whose chain of 400 process groups hangs"
tap_like "$(cat "$T/chain.pids.done" 2>&1)" '^done 400$' \
    "the chain was whole when the timeout came"
tap_like "$err" "account=chain: .*new_mail_command '$T/chain.sh' timed out after 25 seconds and was killed" \
    "the timeout is logged"
for ((i = 0; i < 50; i++)); do
	[ "$(alive "$T/chain.pids")" = 0 ] && break
	sleep 0.1
done
tap_is "$(alive "$T/chain.pids")" 0 "none of the chain's 400 processes is left"

out=$(timeout 60 "$MAILFETCHD" -c "$T/detach/mailfetchd.conf" --once 2>&1)
tap_is "$?" 0 "--once with a hook that leaves a detached (setsid) process"
echo "$out" >>"$T/all-output"
running "$(cat "$T/detached.pid" 2>/dev/null)"
ok $? "its output ended while that process still runs (it does not hold it)" "$out"
tap_like "$out" "account=detach: new_mail_command: hook says hello" \
    "the hook's stdout is logged, a line each"
tap_like "$out" 'account=detach: new_mail_command: to stderr: a\\033b$' \
    "... and its stderr, control characters escaped"

# ---------------------------------------------------------------------
# A run killed after the batch's journal: the recovery's run hooks them.
# ---------------------------------------------------------------------
k=0
for point in imap-journaled imap-synced pop3-synced; do
	k=$((k + 1))
	a=crash$k
	dovecot_add_user "$a" "pw-$a-h00k"
	mfd_account "$a" "pw-$a-h00k"
	mkdir -p "$T/h-$a"
	for i in 1 2 3; do
		gen plain "$T/$a-$i.eml" "hook-$a-$i"
		dovecot_add_message "$a" INBOX "$T/$a-$i.eml"
	done
	if [ "$point" = pop3-synced ]; then
		MFD_PROTO=pop3 mfd_conf "$a" \
		    "new_mail_command = \"$HOOK $T/h-$a\"" 'keep = yes'
	else
		mfd_conf "$a" "new_mail_command = \"$HOOK $T/h-$a\""
	fi
	MAILFETCHD_FAULT=$point mfd_run "$a"
	tap_is "$(runs "$T/h-$a")" 0 "$point: the killed run ran no hook"
	mfd_run_ok "$a" 0 "$point: the next run recovers the 3 messages"
	tap_is "$(runs "$T/h-$a")" 1 "$point: ... and runs the hook once"
	tap_is "$(cat "$T/h-$a/run.1/NEW" 2>&1; wc -l <"$T/h-$a/run.1/paths" 2>&1)" \
	    "$(printf '3\n3')" "$point: for the 3 recovered messages, 3 paths"
	in_new "$T/$a/Maildir" "$T/h-$a/run.1/paths" &&
	    [ ! -e "$T/h-$a/run.1/missing" ]
	ok $? "$point: the paths are the recovered files in new/"
done

cat "$DLOG" "$T/now.out" >>"$T/all-output"
mfd_no_sanitizer
tap_done
