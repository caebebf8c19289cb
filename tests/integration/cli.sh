#!/bin/bash
# cli.sh: the command line, --check-config and the local side of --once
# (lock, state, Maildir preparation, exit statuses). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/tap.sh"

T=$(mktemp -d /tmp/mfd-cli.XXXXXX)
tap_cleanup_add 'rm -rf "$T"'
SECRET='s3cr3t-Pa55-cli'
printf '%s\n' "$SECRET" > "$T/pass"
chmod 600 "$T/pass"

# conf FILE: a valid one-account configuration.
conf() {
	cat > "$1" <<EOF
state_dir = "$T/state"
account "work" {
    protocol = imap
    host = "localhost"
    port = 1
    tls = implicit
    user = "me@example.com"
    password_file = "$T/pass"
    maildir = "$T/Maildir"
    folder "INBOX" { }
    folder "Lists/dev" { local = "Lists/dev" }
}
EOF
}
conf "$T/good.conf"

# run ARGS...: runs mailfetchd, sets $rc, $out (stdout) and $err (stderr).
run() {
	"$MAILFETCHD" "$@" >"$T/out" 2>"$T/err"
	rc=$?
	out=$(cat "$T/out")
	err=$(cat "$T/err")
	cat "$T/out" "$T/err" >> "$T/all-output"
}

run --version
tap_is "$rc:$out" "0:mailfetchd 0.1.0" "--version prints the version"

run --help
tap_is "$rc" 0 "--help exits 0"
tap_like "$out" "--once" "--help lists --once"

run --bogus
tap_is "$rc" 2 "an unknown flag exits 2"
tap_like "$err" "usage: mailfetchd" "an unknown flag prints the usage"

run -c "$T/good.conf" stray
tap_is "$rc" 2 "a stray argument exits 2"
tap_like "$err" "unexpected argument 'stray'" "a stray argument is named"

run -c "$T/good.conf" --account work
tap_is "$rc" 2 "--account without --once exits 2"

run -c "$T/nonexistent.conf" --check-config
tap_is "$rc" 2 "a missing configuration file exits 2"
tap_like "$err" "$T/nonexistent.conf" "the missing file is named"

run -c "$T/good.conf" --check-config
tap_is "$rc" 0 "--check-config accepts a valid file"
tap_like "$out" 'account "work"' "--check-config prints the account"
tap_like "$out" "$T/pass" "--check-config names the password file"

run -c "$T/good.conf" --once --account nosuch
tap_is "$rc" 2 "--once with an unknown account exits 2"
tap_like "$err" 'no account "nosuch"' "the unknown account is named"

# A stale (40 h) and a fresh temporary file in an existing Maildir.
mkdir -p "$T/Maildir/tmp" "$T/Maildir/new" "$T/Maildir/cur"
echo stale > "$T/Maildir/tmp/stale.1"
echo fresh > "$T/Maildir/tmp/fresh.1"
touch -d '40 hours ago' "$T/Maildir/tmp/stale.1"
run -c "$T/good.conf" --once -v -v
tap_is "$rc" 4 "--once to a closed port exits 4 (network) after the local checks"
tap_like "$err" "127.0.0.1:1: Connection refused" "the network error names the address"
# A folder is made when the server has it (imap_folder_names.sh), not on
# the configuration's word alone.
[ ! -e "$T/Maildir/.Lists.dev" ]
ok $? "--once makes no Maildir++ folder before the server names it"
[ ! -e "$T/Maildir/tmp/stale.1" ] && [ -e "$T/Maildir/tmp/fresh.1" ]
ok $? "--once removes tmp/ files older than 36 hours, keeps fresh ones"
tap_is "$(stat -c %a "$T/state" 2>&1)" 700 "the state directory is created with mode 700"

# The account lock held by another process: exit 6.
if command -v flock >/dev/null; then
	flock "$T/state/work.lock" sleep 5 &
	holder=$!
	for i in $(seq 50); do
		flock -n "$T/state/work.lock" true 2>/dev/null || break
		sleep 0.1
	done
	run -c "$T/good.conf" --once
	tap_is "$rc" 6 "--once exits 6 while another process holds the account lock"
	tap_like "$err" "work" "the lock message names the account"
	# The sleep holds the lock too (it inherited the descriptor).
	pkill -P "$holder" sleep 2>/dev/null; kill "$holder" 2>/dev/null
	wait "$holder" 2>/dev/null
else
	tap_fail "flock(1) missing (util-linux)"
fi

# A Maildir path that is a regular file: local delivery error, named.
sed "s|$T/Maildir|$T/notadir|" "$T/good.conf" > "$T/bad-md.conf"
echo x > "$T/notadir"
run -c "$T/bad-md.conf" --once
tap_is "$rc" 8 "--once exits 8 when the Maildir cannot be prepared"
tap_like "$err" "$T/notadir" "the Maildir error names the path"

# Without --once: the daemon, in the foreground, until SIGTERM.
"$MAILFETCHD" -c "$T/good.conf" >"$T/out" 2>"$T/err" &
dpid=$!
for ((i = 0; i < 50; i++)); do
	grep -q 'started' "$T/err" && break
	sleep 0.1
done
kill -TERM "$dpid" 2>/dev/null
wait "$dpid"
rc=$?
err=$(cat "$T/err")
cat "$T/out" "$T/err" >> "$T/all-output"
tap_is "$rc" 0 "without --once the daemon runs until SIGTERM, then exits 0"
tap_like "$err" "started: 1 account" "the daemon says it started"

# No output of this whole test may contain the password.
if grep -qF "$SECRET" "$T/all-output"; then
	tap_fail "the password never appears in any output" "found in output"
else
	tap_ok "the password never appears in any output"
fi
tap_done
