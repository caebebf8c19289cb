#!/bin/bash
# secrets.sh: secrets hygiene seen from outside: --check-config never runs
# a password_command; a password_file readable by others or owned by
# someone else is refused before any connection; password_command runs
# without a shell; tls = none off loopback needs allow_insecure and is
# then loudly warned about; the password never appears in any output. TAP.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/security/lib.sh"

sec_init

# ---- --check-config runs nothing -----------------------------------------
sec_server imap plain
SEC_SECRET="password_command = \"sh -c 'echo MARKER-4417; touch $T/ran'\"" \
    sec_conf imap none
"$MAILFETCHD" -c "$T/acct.conf" --check-config >"$T/out" 2>&1
rc=$?
out=$(cat "$T/out")
tap_is "$rc" 0 "--check-config with a password_command: valid"
tap_like "$out" "password_command = \"sh -c 'echo MARKER-4417" \
    "--check-config prints the command"
tap_unlike "$out" '^MARKER-4417|[^ ]MARKER-4417' \
    "--check-config never prints the command's output"
test ! -e "$T/ran"
ok $? "--check-config did not run the command"
tap_is "$(wc -c <"$capture")" 0 "--check-config did not connect"

# ---- password_file permissions --------------------------------------------
chmod 640 "$T/pass"
sec_conf imap none
sec_run
# Checked when the configuration is loaded: a configuration error.
tap_is "$rc" 2 "group-readable password_file: refused (exit 2)"
tap_like "$err" "acct.conf:[0-9]+: password_file '$T/pass' has mode 0640: .*chmod 600" \
    "the refusal names the file, its mode and the fix"
sec_no_credentials "group-readable password_file"
chmod 604 "$T/pass"
sec_run
tap_like "$rc:$err" "^2:.*mode 0604" "other-readable password_file: refused"
chmod 600 "$T/pass"

if [ "$(id -u)" = 0 ]; then
	chown 65534 "$T/pass"
	sec_run
	tap_like "$rc:$err" "^2:.*password_file $T/pass: owned by uid 65534, not by the user mailfetchd runs as \(uid 0\)" \
	    "password_file owned by another user: refused, naming both uids"
	sec_no_credentials "password_file owned by another user"
	chown 0 "$T/pass"
else
	# Only root can give a file away; say so rather than pass.
	echo "ok $((TAP_N + 1)) # SKIP not root: cannot chown the password file"
	echo "ok $((TAP_N + 2)) # SKIP not root: cannot chown the password file"
	TAP_N=$((TAP_N + 2))
fi

# ---- password_command: no shell --------------------------------------------
# Control: the password read by a command does reach an honest server.
SEC_SECRET="password_command = \"cat $T/pass\"" sec_conf imap none
sec_run
tap_is "$rc" 1 "password_command run directly (cat FILE): login works"
grep -qF -- "$SEC_PASSWORD" "$capture" ||
    grep -qF -- "$(printf '\0%s\0%s' "$SEC_USER" "$SEC_PASSWORD" | base64 -w0)" \
    "$capture"
ok $? "and the server received the password it printed"
# No shell: ';' and '$(...)' are plain arguments of echo.
: >"$capture"
SEC_SECRET="password_command = \"echo pw; touch $T/injected\"" sec_conf imap none
sec_run
test ! -e "$T/injected"
ok $? "password_command: ';' does not start a second command"
SEC_SECRET="password_command = \"sh -c 'exit 7'\"" sec_conf imap none
sec_run
tap_like "$rc:$err" "^2:.*password_command 'sh' exited with status 7" \
    "a failing password_command is reported with its name and status"
SEC_SECRET="password_command = \"/nonexistent/pw-helper\"" sec_conf imap none
sec_run
tap_like "$err" "password_command: cannot run '/nonexistent/pw-helper': No such file" \
    "a missing program is named"

# ---- tls = none off loopback ---------------------------------------------
# 192.0.2.2-style addresses of this machine: not loopback, still local.
addr=$(ip -4 -o addr show scope global 2>/dev/null |
    sed -n 's/.* inet \([0-9.]*\)\/.*/\1/p' | head -n 1)
SEC_HOST=${addr:-192.0.2.1} sec_conf imap none
"$MAILFETCHD" -c "$T/acct.conf" --check-config >"$T/out" 2>&1
rc=$?
tap_like "$rc:$(cat "$T/out")" \
    "^2:.*tls = none would send the password in clear text to '${addr:-192.0.2.1}'" \
    "tls = none to a non-loopback host: refused by --check-config"
if [ -n "$addr" ]; then
	sec_server imap plain good "$addr"
	SEC_HOST=$addr sec_conf imap none "allow_insecure = yes"
	sec_run
	tap_is "$rc" 1 "allow_insecure = yes: the fetch runs"
	tap_like "$err" "warning: .*WARNING: tls = none to $addr .* not a loopback address: the password and all mail cross the network in clear text" \
	    "allow_insecure = yes: a loud warning at the connection"
	sec_server imap plain
	sec_conf imap none
	sec_run
	tap_unlike "$err" "WARNING: tls = none" "no such warning for loopback"
else
	for i in 1 2 3; do
		echo "ok $((TAP_N + 1)) # SKIP no non-loopback address on this machine"
		TAP_N=$((TAP_N + 1))
	done
fi

sec_no_password_output
tap_done
