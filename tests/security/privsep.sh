#!/bin/bash
# privsep.sh: mailfetchd started as root for several local users (accounts
# with an owner) writes each owner's Maildir and state as that owner only:
# --once fills two users' Maildirs with every file and directory owned by
# the right user (nothing created by the fetch belongs to root), each
# owner's new_mail_command (and a deliver = mda agent) runs as that owner,
# the state lives in state_dir/owner/USER (0700, the user's); a user's Maildir
# replaced by a symlink to /etc is written as the user, so the fetch fails
# with EACCES and nothing appears in /etc; an account without owner next
# to owners is refused unless allow_root = yes; an unknown owner is a
# configuration error with file:line; the daemon runs one worker per owner
# with the owner's uid/gid (/proc/PID/status), starts a third one when a
# SIGHUP adds a third owner, and stops them all on SIGTERM within the
# bound; --status (text and --json) as root asks every owner's daemon and
# makes one document, and the supervisor writes one metrics file for
# every owner's accounts; an owner that replaces its worker's control
# socket with a listener of its own (poison, forged records, terminal
# escapes, a drip) changes none of root's outputs for the other owners,
# nor holds the supervisor's SIGTERM, nor is asked by root's --once; two shard instances (shard = K/N)
# as root with one owner's accounts on both each run a worker for that
# owner, and each fetches its share. Needs root (it creates the users,
# and runs Dovecot). TAP.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"
export A B

[ "$(id -u)" = 0 ] || tap_bail "privsep.sh must run as root (it creates users)"
for tool in useradd userdel runuser pgrep; do
	command -v "$tool" >/dev/null || tap_bail "$tool not found"
done

mfd_init
# Owners must reach their homes and state directories under $T.
chmod 711 "$T"
dovecot_start

# Three local users with unique names, removed at exit.
PFX=mfps$$
USERS=("${PFX}a" "${PFX}b" "${PFX}c")
mkdir -p "$T/home" && chmod 711 "$T/home" || tap_bail "cannot create $T/home"
for u in "${USERS[@]}"; do
	useradd --system --create-home --home-dir "$T/home/$u" \
	    --shell /usr/sbin/nologin "$u" >/dev/null 2>&1 ||
	    tap_bail "useradd $u failed"
	tap_cleanup_add "userdel '$u' >/dev/null 2>&1"
	chmod 700 "$T/home/$u"
	dovecot_add_user "$u" "pw-$u-9c1"
	dovecot_load_samples "$u"
	# The password file is the owner's (mailfetchd reads it as the owner).
	printf 'pw-%s-9c1\n' "$u" >"$T/home/$u/pass" &&
	    chown "$u:" "$T/home/$u/pass" && chmod 600 "$T/home/$u/pass" ||
	    tap_bail "cannot write $T/home/$u/pass"
done
A=${USERS[0]} B=${USERS[1]} C=${USERS[2]}
INBOX=("$DC_SAMPLES/01-plain.eml" "$DC_SAMPLES/02-utf8.eml"
    "$DC_SAMPLES/03-multipart.eml" "$DC_SAMPLES/04-dot-lines.eml")

# owned_block USER [LINE...]: an account of USER's, owned by USER, with
# its Maildir in USER's home.
owned_block()
{
	local u=$1 line

	shift
	printf 'account "%s" {\n  owner = "%s"\n' "$u" "$u"
	printf '  protocol = imap\n  host = "localhost"\n'
	printf '  port = %s\n  tls = implicit\n' "$DC_IMAPS_PORT"
	printf '  ca_file = "%s"\n  user = "%s"\n' "$DC_CA" "$u"
	printf '  password_file = "%s"\n' "$T/home/$u/pass"
	printf '  maildir = "%s"\n  timeout = 20s\n' "$T/home/$u/Maildir"
	printf '  poll_interval = 10s\n  poll_interval_override = yes\n'
	for line in "$@"; do
		printf '  %s\n' "$line"
	done
	printf '}\n'
}

# write_conf FILE [GLOBAL-LINE...] -- USER...: state_dir $T/state.
write_conf()
{
	local f=$1 u

	shift
	{
		printf 'state_dir = "%s"\nlog_level = info\n' "$T/state"
		while [ $# -gt 0 ] && [ "$1" != -- ]; do
			printf '%s\n' "$1"
			shift
		done
		shift
		for u in "$@"; do
			owned_block "$u"
		done
	} >"$f" || tap_bail "cannot write $f"
}

# run_once CONF [ARGS...]: sets rc, err.
run_once()
{
	local conf=$1

	shift
	"$MAILFETCHD" -c "$conf" --once "$@" >"$T/out" 2>"$T/err"
	rc=$?
	err=$(cat "$T/err")
	cat "$T/out" "$T/err" >>"$T/all-output"
}

# ---- --once as root for two owners ------------------------------------------
CONF=$T/two.conf
# The hook (mailfetchd.conf(5) HOOKS) records who ran it, and the
# environment it was started with, in the owner's home.
cat >"$T/envhook.sh" <<'EOF'
#!/bin/sh
d=${0%/*}/home/$MAILFETCHD_ACCOUNT
id -un >"$d/hook.id"
tr '\0' '\n' </proc/$$/environ | sort >"$d/hook.env"
EOF
chmod 755 "$T/envhook.sh"
write_conf "$CONF" "new_mail_command = \"$T/envhook.sh\"" -- "$A" "$B"
umask 022
# Root's environment (a variable of root's own among it) must not reach a
# process of the owner's; the locale and the time zone do.
HOME=/root USER=root LOGNAME=root SHELL=/bin/bash ROOT_ONLY_TOKEN=s3cr3t \
    LANG=C.UTF-8 TZ=UTC run_once "$CONF"
tap_is "$rc" 0 "--once as root for two owners: exit 0 (new mail)"
[ "$rc" = 0 ] || tap_diag "$err"
for u in "$A" "$B"; do
	tap_is "$(cat "$T/home/$u/hook.id" 2>&1)" "$u" \
	    "$u: new_mail_command ran as $u, not as root"
	env=$(grep -v -e '^MAILFETCHD_' -e '^LC_' "$T/home/$u/hook.env" 2>&1)
	tap_is "$(echo "$env" | cut -d= -f1 | tr '\n' ' ')" \
	    "HOME LANG LOGNAME PATH SHELL TZ USER " \
	    "$u: the hook's environment is the owner's, none of root's"
	tap_is "$(echo "$env" | grep -E '^(HOME|USER|LOGNAME|SHELL)=' | tr '\n' ' ')" \
	    "HOME=$T/home/$u LOGNAME=$u SHELL=/usr/sbin/nologin USER=$u " \
	    "$u: ... HOME, USER, LOGNAME and SHELL from $u's passwd entry"
	rm -f "$T/home/$u/hook.id" "$T/home/$u/hook.env"
done
for u in "$A" "$B"; do
	mfd_expect "$T/home/$u/Maildir" "" "${INBOX[@]}"
	bad=$(find "$T/home/$u/Maildir" ! -user "$u" -printf '%p %u\n')
	n=$(find "$T/home/$u/Maildir" | wc -l)
	tap_is "$bad" "" "$u: every file and directory of the Maildir is $u's ($n)"
	bad=$(find "$T/home/$u/Maildir" ! -group "$(id -gn "$u")" -printf '%p %g\n')
	tap_is "$bad" "" "$u: ... and of $u's group"
	sd=$T/state/owner/$u
	tap_is "$(stat -c '%U %a' "$sd" 2>&1)" "$u 700" \
	    "$u: state_dir/owner/$u is $u's, mode 0700"
	n=$(find "$sd" -mindepth 1 -type f | wc -l)
	bad=$(find "$sd" ! -user "$u" -printf '%p %u\n')
	if [ "$n" -gt 0 ] && [ -z "$bad" ]; then
		tap_ok "$u: the state files ($n) under state_dir/owner/$u are $u's"
	else
		tap_fail "$u: the state files under state_dir/owner/$u are $u's" \
		    "files: $n; not $u's: $bad"
	fi
done
# Root made only state_dir and state_dir/owner (the admin's directories).
got=$(find "$T/state" "$T/home" -user root -printf '%p\n' | sort)
want=$(printf '%s\n' "$T/home" "$T/state" "$T/state/owner" | sort)
tap_is "$got" "$want" "no file or directory created by the fetch belongs to root"
tap_is "$(stat -c '%U %a' "$T/state/owner")" "root 711" \
    "state_dir/owner is root's, mode 0711 (search only)"
tap_like "$(cat "$T/all-output")" "account=$A folder=INBOX: fetched 4 message" \
    "the worker of $A logged its fetch"

# ---- deliver = mda as root: the agent runs as the owner --------------------
# A configuration of its own (fresh state): A's four messages to an agent
# that records who ran it and appends what it got in A's home.
cat >"$T/mdaid.sh" <<'EOF'
#!/bin/sh
d=${0%/*}/home/$1
id -un >"$d/mda.id"
cat >>"$d/mda.msgs"
EOF
chmod 755 "$T/mdaid.sh"
MCONF=$T/mda.conf
{
	printf 'state_dir = "%s"\nlog_level = info\n' "$T/state-mda"
	owned_block "$A" 'deliver = mda' "mda_command = \"$T/mdaid.sh %u\"" |
	    sed "s|$T/home/$A/Maildir|$T/home/$A/Spool|"
} >"$MCONF" || tap_bail "cannot write $MCONF"
run_once "$MCONF"
tap_is "$rc" 0 "deliver = mda as root: exit 0"
[ "$rc" = 0 ] || tap_diag "$err"
tap_is "$(cat "$T/home/$A/mda.id" 2>&1)" "$A" "deliver = mda: the agent ran as $A, not as root"
tap_is "$(stat -c %U "$T/home/$A/mda.msgs" 2>&1)" "$A" "deliver = mda: what it wrote is $A's"
tap_is "$(cat "${INBOX[@]}" | sha256sum)" "$(sha256sum <"$T/home/$A/mda.msgs")" \
    "deliver = mda: it got $A's four messages, byte for byte"
tap_is "$(find "$T/home/$A/Spool" -type f | wc -l)" 0 \
    "deliver = mda: the spool Maildir holds no file"
rm -rf "$T/state-mda" "$T/home/$A/Spool" "$T/home/$A/mda.id" "$T/home/$A/mda.msgs"

# ---- a Maildir replaced by a symlink to /etc --------------------------------
for d in tmp new cur; do
	[ -e "/etc/$d" ] && tap_bail "/etc/$d exists: cannot run the symlink check"
done
gen() { "$(_dc_python)" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }
gen plain "$T/new-a.eml" privsep-new-a
dovecot_add_message "$A" INBOX "$T/new-a.eml"
mv "$T/home/$A/Maildir" "$T/home/$A/Maildir.real"
runuser -u "$A" -- ln -s /etc "$T/home/$A/Maildir" ||
    tap_bail "cannot plant the symlink as $A"
touch "$T/marker"
sleep 1
run_once "$CONF"
tap_is "$rc" 7 "Maildir -> /etc: exit 7 (that owner failed, the other had nothing new)"
tap_diag "$err"
tap_like "$err" "account=$A.*(/etc|$T/home/$A/Maildir).*Permission denied" \
    "Maildir -> /etc: the error names the path and EACCES"
new=$(find /etc -newer "$T/marker" 2>/dev/null | head -5)
tap_is "$new$(ls -d /etc/tmp /etc/new /etc/cur 2>/dev/null)" "" \
    "Maildir -> /etc: nothing written or created in /etc"
rm -f "$T/home/$A/Maildir"
mv "$T/home/$A/Maildir.real" "$T/home/$A/Maildir"
run_once "$CONF" --account "$A"
tap_is "$rc" 0 "the Maildir back: the held message is fetched (exit 0)"
tap_is "$(mfd_count "$T/home/$A/Maildir" "" new)" 5 \
    "the Maildir back: $A's new/ holds the new message too (5)"

# ---- an account without owner, next to owners --------------------------------
dovecot_add_user rootacct pw-rootacct-9c1
dovecot_add_message rootacct INBOX "$DC_SAMPLES/01-plain.eml"
mfd_account rootacct pw-rootacct-9c1
noowner_block()
{
	printf 'account "rootacct" {\n  protocol = imap\n  host = "localhost"\n'
	printf '  port = %s\n  tls = implicit\n  ca_file = "%s"\n' \
	    "$DC_IMAPS_PORT" "$DC_CA"
	printf '  user = "rootacct"\n  password_file = "%s"\n' "$T/rootacct/pass"
	printf '  maildir = "%s"\n}\n' "$T/rootacct/Maildir"
}
MIX=$T/mixed.conf
write_conf "$MIX" -- "$A"
noowner_block >>"$MIX"
line=$(grep -c '' "$MIX")
run_once "$MIX"
tap_is "$rc" 2 "as root, an account without owner next to owners: exit 2"
tap_like "$err" "$MIX:$line: account 'rootacct' has no owner.*allow_root = yes" \
    "... with FILE:LINE, the account and the way out"
tap_is "$(ls -A "$T/rootacct" | grep -c Maildir)" 0 "... and nothing was fetched"
"$MAILFETCHD" -c "$MIX" --check-config >/dev/null 2>"$T/err"
tap_is "$?" 2 "--check-config as root reports it too (exit 2)"

write_conf "$MIX" 'allow_root = yes' -- "$A"
noowner_block >>"$MIX"
run_once "$MIX"
tap_is "$rc" 0 "allow_root = yes: the account without owner runs too (exit 0)"
tap_is "$(mfd_count "$T/rootacct/Maildir" "" new)" 1 \
    "allow_root = yes: its message was delivered"
tap_is "$(stat -c %U "$T/rootacct/Maildir")" root \
    "allow_root = yes: (as root, its Maildir is root's)"
"$MAILFETCHD" -c "$MIX" --check-config >"$T/out" 2>&1
tap_like "$(cat "$T/out")" "owner = \"$A\"" "--check-config prints the owner"

# ---- an unknown owner --------------------------------------------------------
BAD=$T/bad.conf
write_conf "$BAD" -- "$A"
sed -i "s/owner = \"$A\"/owner = \"${PFX}nosuch\"/" "$BAD"
line=$(grep -n 'owner =' "$BAD" | cut -d: -f1)
run_once "$BAD"
tap_is "$rc" 2 "an unknown owner: exit 2"
tap_like "$err" "$BAD:$line: owner '${PFX}nosuch': no such local user" \
    "an unknown owner: FILE:LINE and the name"
sed -i "s/owner = \"${PFX}nosuch\"/owner = \"root\"/" "$BAD"
run_once "$BAD"
tap_like "$rc $err" "^2 .*owner 'root' is root" "owner = root is refused"

# ---- the daemon as root --------------------------------------------------------
# worker_uids: "UID GID" of each child of the daemon, sorted.
worker_uids()
{
	local p

	for p in $(pgrep -P "$DPID"); do
		awk '/^Uid:/ { u = $2 " " $3 " " $4 " " $5 }
		    /^Gid:/ { g = $2 } END { print u " " g }' "/proc/$p/status"
	done | sort
}
# want_uids USER...: what worker_uids prints for these owners.
want_uids()
{
	local u i g

	for u in "$@"; do
		i=$(id -u "$u") g=$(id -g "$u")
		printf '%s %s %s %s %s\n' "$i" "$i" "$i" "$i" "$g"
	done | sort
}
# wait_uids SECONDS USER...: until the workers are exactly these owners.
wait_uids()
{
	local i t=$1

	shift
	for ((i = 0; i < t * 10; i++)); do
		[ "$(worker_uids)" = "$(want_uids "$@")" ] && return 0
		sleep 0.1
	done
	return 1
}

DCONF=$T/daemon.conf
mkdir -m 755 "$T/prom"
PROM=$T/prom/mailfetchd.prom
write_conf "$DCONF" "metrics_file = \"$PROM\"" -- "$A" "$B"
gen plain "$T/d-b.eml" privsep-daemon-b
dovecot_add_message "$B" INBOX "$T/d-b.eml"
daemon_start "$DCONF"
wait_uids 10 "$A" "$B"
ok $? "daemon as root: one worker per owner, each with the owner's uids and gid" \
    "got:
$(worker_uids)
want:
$(want_uids "$A" "$B")"
tap_is "$(awk '/^Uid:/ { print $2 }' "/proc/$DPID/status")" 0 \
    "daemon as root: the supervisor itself fetches nothing (it stays root to start workers)"
daemon_wait_log "account=$B: fetched 1 message" 20
ok $? "daemon as root: $B's worker fetches the new message" "$(cat "$DLOG")"
bad=$(find "$T/home/$B/Maildir" "$T/state/owner/$B" ! -user "$B" -printf '%p %u\n')
tap_is "$bad" "" "daemon as root: everything $B's worker wrote is $B's"

# --status as root asks each owner's daemon; --json makes one document of
# their records (validated against the schema).
"$MAILFETCHD" -c "$DCONF" --status --json >"$T/st.json" 2>"$T/st.err"
tap_is "$?" 0 "--status --json as root: exit status 0" "$(cat "$T/st.err")"
jq() { "$(_dc_python)" "$top_srcdir/tests/lib/status_check.py" \
    "$top_srcdir/doc/status.schema.json" "$T/st.json" "$1"; }
tap_is "$(jq 'len(d["daemons"]), sorted(x["name"] for x in d["accounts"]) == sorted([env("A"), env("B")]), a(env("B"))["fetched"]["messages"], a(env("B"))["owner"] == env("B")')" \
    "(2, True, 1, True)" \
    "--status --json as root: both owners' daemons and accounts in one valid document" \
    "$(jq 1; cat "$T/st.json")"
"$MAILFETCHD" -c "$DCONF" --status --json "$B" >"$T/st.json" 2>"$T/st.err"
tap_is "$?:$(jq '[x["name"] for x in d["accounts"]] == [env("B")], len(d["daemons"])')" \
    "0:(True, 1)" "--status --json $B as root: that account, from its owner's daemon" \
    "$(cat "$T/st.err")"
out=$("$MAILFETCHD" -c "$DCONF" --status "$A" 2>&1)
tap_like "$?:$out" "^0:$A: " "--status $A as root: its text line" "$out"

# A configuration that does not parse (an edit not yet reloaded): the
# supervisor has no socket, so --status asks the owners' daemons it finds
# under state_dir/owner (review r20 08: it said "no daemon answers").
BROKEN=$T/broken.conf
{ cat "$DCONF"; echo 'this line does not parse'; } >"$BROKEN"
"$MAILFETCHD" -c "$BROKEN" --status >"$T/st.txt" 2>"$T/st.err"
tap_is "$?:$(grep -c "^$A: " "$T/st.txt"):$(grep -c "^$B: " "$T/st.txt")" "0:1:1" \
    "--status as root, the configuration does not parse: each owner's daemon answers" \
    "$(cat "$T/st.txt" "$T/st.err")"
"$MAILFETCHD" -c "$BROKEN" --status --json >"$T/st.json" 2>"$T/st.err"
tap_is "$?:$(jq 'len(d["daemons"]), sorted(x["name"] for x in d["accounts"]) == sorted([env("A"), env("B")])')" \
    "0:(2, True)" "... and --status --json makes one valid document of both" \
    "$(cat "$T/st.err" "$T/st.json")"

# The metrics file: written by the supervisor (root) from every owner's
# daemon, readable by others.
mget() { "$(_dc_python)" "$top_srcdir/tests/lib/metrics_check.py" get "$PROM" "$1" 2>&1; }
for ((i = 0; i < 160; i++)); do
	[ "$(mget 'v("mailfetchd_messages_fetched_total", account=env("B")) == 1 and v("mailfetchd_messages_fetched_total", account=env("A")) is not None')" = True ] && break
	sleep 0.25
done
tap_is "$(mget 'v("mailfetchd_messages_fetched_total", account=env("B")), v("mailfetchd_messages_fetched_total", account=env("A"))')" \
    "(1.0, 0.0)" "metrics_file as root: one file with both owners' accounts and their counts" \
    "$(cat "$PROM" 2>&1 | grep messages_fetched)"
tap_is "$(stat -c '%U %a' "$PROM")" "root 644" \
    "metrics_file as root: written by the supervisor, mode 0644"

# SIGHUP with a third owner.
write_conf "$DCONF" -- "$A" "$B" "$C"
kill -HUP "$DPID"
wait_uids 10 "$A" "$B" "$C"
ok $? "SIGHUP adding a third owner's account starts a third worker, as that owner" \
    "got:
$(worker_uids)"
daemon_wait_log "account=$C: fetched 4 messages" 20
ok $? "the third worker fetches $C's mail" "$(cat "$DLOG")"
bad=$(find "$T/home/$C/Maildir" ! -user "$C" -printf '%p %u\n')
tap_is "$bad" "" "... into $C's Maildir, as $C"

# SIGHUP that only adds a hook: the workers run it from then on (the
# daemon without privsep reloads hooks without a restart; a worker gets
# them by one).
rm -f "$T/home/$A/hook.id"
# Each time, --status at once: the workers are restarting, their sockets
# gone for a moment; that is no "no daemon answers" (review r20 13: exit
# 4), root waits a little. Three reloads: the moment is short.
reloaded="$DCONF reloaded: 0 owners added, 0 removed, 3 changed"
src=
for t in 30s 31s ""; do
	nr=$(grep -c "$reloaded" "$DLOG")
	write_conf "$DCONF" "new_mail_command = \"$T/envhook.sh\"" \
	    ${t:+"hook_timeout = $t"} -- "$A" "$B" "$C"
	kill -HUP "$DPID"
	"$MAILFETCHD" -c "$DCONF" --status --json >"$T/st.json" 2>"$T/st.err"
	src="$src $?:$(jq 'len(d["accounts"])')"
	[ -s "$T/st.err" ] && tap_diag "$(cat "$T/st.err")"
	for ((i = 0; i < 100; i++)); do
		[ "$(grep -c "$reloaded" "$DLOG")" -gt "$nr" ] && break
		sleep 0.1
	done
done
[ "$(grep -c "$reloaded" "$DLOG")" -ge 3 ]
ok $? "SIGHUP adding a hook: the workers take it" "$(tail "$DLOG")"
tap_is "$src" " 0:3 0:3 0:3" \
    "--status --json right after a reload that restarts the workers: every owner's daemon answers"
wait_uids 15 "$A" "$B" "$C" || tap_diag "workers: $(worker_uids)"
# Those restarts keep the counts (review r20 11: "fetched" and "today"
# went back to 0): $B's worker had fetched 1 message, $C's 4.
export C
for ((i = 0; i < 100; i++)); do
	[ "$(grep -c "worker of $C stopped; starting it with the new configuration" "$DLOG")" -ge 3 ] &&
	    grep -q "worker of $C started" <(tail -n +"$(grep -n "worker of $C stopped; starting" "$DLOG" | tail -1 | cut -d: -f1)" "$DLOG") &&
	    break
	sleep 0.1
done
"$MAILFETCHD" -c "$DCONF" --status --json >"$T/st.json" 2>"$T/st.err"
got=$(jq '[(a(x)["fetched"]["messages"], a(x)["today"]["messages"]) for x in (env("B"), env("C"))]')
tap_is "$got" "[(1, 1), (4, 4)]" \
    "... and the restarted workers keep their accounts' fetched and today counts"
[ "$got" = "[(1, 1), (4, 4)]" ] || tap_diag "$(cat "$T/st.err" "$T/st.json"; grep "worker of\|reload" "$DLOG")"
gen plain "$T/d-a2.eml" privsep-daemon-a2
dovecot_add_message "$A" INBOX "$T/d-a2.eml"
for ((i = 0; i < 300; i++)); do
	[ -s "$T/home/$A/hook.id" ] && break
	sleep 0.1
done
tap_is "$(cat "$T/home/$A/hook.id" 2>&1)" "$A" \
    "... the next delivery runs the new hook, as $A"

# SIGHUP without the first owner: its worker stops, the others stay.
before=$(pgrep -P "$DPID" | sort)
write_conf "$DCONF" "new_mail_command = \"$T/envhook.sh\"" -- "$B" "$C"
kill -HUP "$DPID"
wait_uids 15 "$B" "$C"
ok $? "SIGHUP removing an owner stops its worker" "got:
$(worker_uids)"
after=$(pgrep -P "$DPID" | sort)
tap_is "$(comm -13 <(echo "$before") <(echo "$after"))" "" \
    "... and leaves the unchanged workers running (no new pid)"

# A worker killed behind the supervisor's back comes back.
victim=$(pgrep -P "$DPID" | head -1)
kill -9 "$victim"
wait_uids 10 "$B" "$C" && ! pgrep -P "$DPID" | grep -qx "$victim"
ok $? "a worker that dies is started again" "$(tail -5 "$DLOG")"

# ---- an owner's own listener at its worker's control socket ------------------
# The socket root asks (state_dir/owner/USER/control) is in a directory
# its owner controls: $B replaces it with a listener of its own (review
# r16 03, 04, 06, 12). Its first `metrics` answer is poison (a repeated
# series, a repeated label, an unescaped quote, $C's account), later ones
# drip a byte every 1.5 s; `status-json` answers a forged record for
# $C's account and a truncated one, `status` a line for $C's account and
# terminal escapes. Root's outputs must stay valid and hold $C's truth.
export C
write_conf "$DCONF" "metrics_file = \"$PROM\"" -- "$B" "$C"
kill -HUP "$DPID"
# The reload drops the hook set above, which restarts the workers: ask
# until $C's new worker answers (bounded).
for ((i = 0; i < 50; i++)); do
	"$MAILFETCHD" -c "$DCONF" --status --json "$C" >"$T/st-c.json" 2>&1 &&
	    "$(_dc_python)" -c 'import json, sys
sys.exit(0 if json.load(open(sys.argv[1]))["accounts"] else 1)' \
	    "$T/st-c.json" 2>/dev/null && break
	sleep 0.2
done
[ "$i" -lt 50 ] || tap_diag "--status --json $C: $(cat "$T/st-c.json")"
"$(_dc_python)" - "$T/st-c.json" "$T/forged" <<'PYEOF'
import json, sys
rec = json.load(open(sys.argv[1]))["accounts"][0]
rec["host"] = "forged.example"
c, b = rec["name"], rec["name"].replace("c", "b")
with open(sys.argv[2] + ".json", "w") as f:
    f.write('daemon {"pid": 1\n')
    f.write("account " + json.dumps(rec, separators=(",", ":")) + "\n")
    f.write('account {"name":"%s","owner":"%s",\n.\n' % (b, b))
with open(sys.argv[2] + ".text", "w") as f:
    f.write("%s: ok; forged line\n" % c)
    f.write("%s: \x1b]0;owned-title\x07\x1b[2K polling"
            " \u009d0;c1-title\u009c\u009b2K\n.\n" % b)
with open(sys.argv[2] + ".fetch", "w") as f:
    f.write("%s 0 99 12345 x\n" % c)
    f.write("%s 2 0 0 \x1b]0;owned-title\x07\x1b[2K forged \u009b2J\n" % b)
with open(sys.argv[2] + ".prom", "w") as f:
    for l in ('mailfetchd_account_up{account="%s"} 1' % b,
              'mailfetchd_account_up{account="%s"} 1' % b,
              'mailfetchd_account_up{account="%s",account="x"} 1' % b,
              'mailfetchd_account_up{account="%s",x="a"b"} 1' % b,
              'mailfetchd_messages_fetched_total{account="%s"} 999' % c):
        f.write(l + "\n")
    f.write(".\n")
PYEOF
chmod 644 "$T"/forged.*
FAKE=$T/home/$B/fake
runuser -u "$B" -- "$(_dc_python)" - "$T/state/owner/$B/control" "$T/forged" "$FAKE" <<'PYEOF' &
import os, socket, sys, time
path, forged, marker = sys.argv[1:4]
answers = {c: open(forged + "." + e, "rb").read()
           for c, e in ((b"status-json", "json"), (b"status", "text"), (b"metrics", "prom"),
                        (b"fetch", "fetch"))}
os.unlink(path)
s = socket.socket(socket.AF_UNIX)
s.bind(path)
s.listen(16)
open(marker + ".ready", "w").close()
s.settimeout(1)
end, nmetrics = time.time() + 150, 0
while time.time() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    c.settimeout(5)
    try:
        words = c.recv(4096).split(b"\n")[0].split()
        if words and words[0] == b"metrics":
            nmetrics += 1
            if nmetrics > 1:
                open(marker + ".drip", "a").write("x\n")
                for ch in b'mailfetchd_account_up{account="x"} 1\n' * 2:
                    c.sendall(bytes([ch]))
                    time.sleep(1.5)
        if words:
            c.sendall(answers.get(words[0], b"error what\n.\n"))
        if words and words[0] == b"fetch":
            time.sleep(20)          # and never ends the answer
    except OSError:
        pass
    c.close()
PYEOF
FPID=$!
tap_cleanup_add 'kill "$FPID" 2>/dev/null; wait "$FPID" 2>/dev/null'
for ((i = 0; i < 50; i++)); do
	[ -e "$FAKE.ready" ] && break
	sleep 0.1
done
[ -e "$FAKE.ready" ] || tap_bail "$B's listener did not start"
t_ready=$(date +%s)

"$MAILFETCHD" -c "$DCONF" --status --json >"$T/st.json" 2>"$T/st.err"
src=$?
tap_is "$(jq 'sorted((x["name"], x["owner"], x["host"]) for x in d["accounts"]) == [(env("C"), env("C"), "localhost")], [x["pid"] for x in d["daemons"]] != [1]')" \
    "(True, True)" \
    "an owner's listener: root's --status --json is valid and holds $C's own record only (no forged one)" \
    "$(cat "$T/st.json" "$T/st.err")"
tap_like "$src:$(cat "$T/st.err")" "^4:.*owner/$B/control: the listener there is not a daemon worker of root's" \
    "... and says that $B's listener was not asked, not being a worker of root's (exit status 4)"
"$MAILFETCHD" -c "$DCONF" --status >"$T/st.txt" 2>"$T/st.err"
ok $(LC_ALL=C grep -qP '\x1b|\x07|\xc2[\x80-\x9f]' "$T/st.txt"; echo $((! $?))) \
    "an owner's listener: text --status prints no control byte (C0 or C1) to root's terminal" \
    "$(cat -A "$T/st.txt")"
tap_is "$(grep -c "forged" "$T/st.txt"):$(grep -c "^$C: " "$T/st.txt")" "0:1" \
    "... and no line for another owner's account" "$(cat -A "$T/st.txt" "$T/st.err")"
# The same with a configuration that does not parse: the sockets found
# under state_dir/owner are asked only if a worker of root's listens.
{ cat "$DCONF"; echo 'this line does not parse'; } >"$BROKEN"
"$MAILFETCHD" -c "$BROKEN" --status >"$T/st.txt" 2>"$T/st.err"
tap_is "$?:$(grep -c "forged" "$T/st.txt"):$(grep -c "^$C: " "$T/st.txt"):$(LC_ALL=C grep -cP '\x1b|\x07|\xc2[\x80-\x9f]' "$T/st.txt")" \
    "4:0:1:0" "an owner's listener, the configuration does not parse: $C's line only, no control byte, exit status 4" \
    "$(cat -A "$T/st.txt" "$T/st.err")"
tap_like "$(cat "$T/st.err")" "owner/$B/control: the listener there is not a daemon worker of root's" \
    "... and says why $B's listener was not asked"

# Root's --once (a cron job) asks each owner's daemon: $B's listener is
# not one (its parent is no process of root's), so it is not asked: it
# would answer `fetch` with a line for $C's account, terminal escapes,
# and never end (review r20 12: root's --once hung for ever).
timeout 15 "$MAILFETCHD" -c "$DCONF" --once >"$T/once-fake.out" 2>&1
orc=$?
ok $((orc == 124)) "an owner's listener: root's --once ends (exit status $orc)" \
    "$(cat -A "$T/once-fake.out")"
tap_is "$(grep -c "99 messages" "$T/once-fake.out"):$(LC_ALL=C grep -cP '\x1b|\x07|\xc2[\x80-\x9f]' "$T/once-fake.out")" \
    "0:0" "... and logs no forged line and no control byte" \
    "$(cat -A "$T/once-fake.out")"
tap_like "$(cat "$T/once-fake.out")" "owner/$B/control: the listener there is not a daemon worker of root's" \
    "... and says why $B's listener was not asked"
tap_like "$(cat "$T/once-fake.out")" "account=$C: .*by the running daemon" \
    "... while $C's own daemon worker was asked"

# The supervisor's next write: $B's listener is not asked (it is not the
# worker's daemon), the file parses and holds $C's samples.
gen_ts() { mget 'v("mailfetchd_metrics_generated_timestamp_seconds")' | cut -d. -f1; }
for ((i = 0; i < 160; i++)); do
	ts=$(gen_ts)
	[ "${ts:-0}" -gt "$t_ready" ] 2>/dev/null && break
	sleep 0.25
done
tap_is "$(mget 1)" 1 "an owner's listener: the metrics file still parses" \
    "$(cat "$PROM" | head -30)"
tap_is "$(mget 'v("mailfetchd_account_up", account=env("C")) is not None, v("mailfetchd_messages_fetched_total", account=env("C")) != 999')" \
    "(True, True)" "... and holds $C's own samples" "$(grep -c . "$PROM")"
daemon_wait_log "metrics of $B: .* not the daemon" 1
ok $? "... and the supervisor says why $B's listener was not asked" \
    "$(grep -i metrics "$DLOG" | tail -5)"
# A stop while the listener drips: wait for a round that would ask it
# again (a drip, or a second refusal).
for ((i = 0; i < 200; i++)); do
	[ -e "$FAKE.drip" ] && break
	[ "$(grep -c "metrics of $B: .* not the daemon" "$DLOG")" -ge 2 ] && break
	sleep 0.1
done

# SIGTERM stops everything within the bound.
workers=$(pgrep -P "$DPID")
start=$(date +%s)
kill -TERM "$DPID"
daemon_wait_exit 20
took=$(($(date +%s) - start))
tap_is "$drc" 0 "SIGTERM: the daemon exits 0 (in ${took}s)"
alive=""
for p in $workers; do
	kill -0 "$p" 2>/dev/null && alive="$alive $p"
done
tap_is "$alive" "" "SIGTERM: every worker is gone"
if [ "$took" -le 15 ]; then
	tap_ok "SIGTERM: stopped within the bound (${took}s <= 15s)"
else
	tap_fail "SIGTERM: stopped within the bound" "${took}s"
fi

# ---- two shard instances as root, one owner's accounts on both ---------------
# Each instance starts a worker for the owner; the two workers share
# state_dir/owner/USER and must not share its control socket (the second
# refused to start: "another mailfetchd answers on it", and that shard's
# accounts of the owner were fetched by nobody).
SCONF=$T/shards.conf
# shard_conf N: N accounts of $A's (names $A-s1..N, Maildir-s1..N).
shard_conf()
{
	local k

	printf 'state_dir = "%s"\nlog_level = info\n' "$T/state"
	for ((k = 1; k <= $1; k++)); do
		owned_block "$A" | sed -e "s/^account \"$A\"/account \"$A-s$k\"/" \
		    -e "s|$T/home/$A/Maildir|$T/home/$A/Maildir-s$k|"
	done
}
# Enough accounts that both instances get some (SipHash of the names).
for ((n = 4; n <= 40; n++)); do
	shard_conf "$n" >"$SCONF"
	for k in 1 2; do
		eval "in$k=\$(\"\$MAILFETCHD\" -c \"\$SCONF\" --shard $k/2 --check-config | grep -c '^account ')"
	done
	[ "$in1" -gt 0 ] && [ "$in2" -gt 0 ] && break
done
names=()
for ((k = 1; k <= n; k++)); do
	names+=("$A-s$k")
done
tap_is "$((in1 > 0 && in2 > 0))" 1 \
    "shards: $A has accounts on both instances ($in1 and $in2)"
for k in 1 2; do
	"$MAILFETCHD" -c "$SCONF" --shard "$k/2" >"$T/shard$k.log" 2>&1 &
	eval "SPID$k=\$!"
	tap_cleanup_add "kill -9 \$SPID$k 2>/dev/null"
done
missing=
for ((i = 0; i < 300; i++)); do
	missing=
	for n in "${names[@]}"; do
		[ "$(mfd_count "$T/home/$A/Maildir-${n##*-}" "" new)" -ge 4 ] ||
		    missing="$missing $n"
	done
	[ -z "$missing" ] && break
	sleep 0.1
done
tap_is "$missing" "" "shards: every account of $A fetched, on both instances" \
    "$(cat "$T/shard1.log" "$T/shard2.log")"
tap_unlike "$(cat "$T/shard1.log" "$T/shard2.log")" "answers on it" \
    "shards: neither instance's worker met the other's control socket"
for k in 1 2; do
	out=$("$MAILFETCHD" -c "$SCONF" --shard "$k/2" --status 2>&1)
	tap_is "$?:$(grep -c "^$A-s" <<<"$out")" "0:$(eval echo \$in$k)" \
	    "shards: --status --shard $k/2 as root: that instance's accounts of $A" "$out"
done
kill -TERM "$SPID1" "$SPID2"
wait "$SPID1" "$SPID2"

mfd_no_secret "pw-$A-9c1" "pw-$B-9c1" "pw-$C-9c1" pw-rootacct-9c1
tap_done
