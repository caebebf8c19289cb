#!/bin/bash
# systemd_units.sh: the service units (and the template mailfetchd@.service,
# as an instance) as `make install` writes them pass
# `systemd-analyze verify` with no message at all about them (works
# without systemd running as init), and the system unit's offline security
# review scores OK or better. Neither unit restarts the daemon after exit
# status 2 (a configuration error); the user unit's start is skipped while
# the user has no configuration file. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/tap.sh"
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}

command -v systemd-analyze >/dev/null ||
    tap_bail "systemd-analyze not found (apt-get install -y systemd)"
[ -x "$MAILFETCHD" ] || tap_bail "no mailfetchd at $MAILFETCHD"
W=$(mktemp -d /tmp/mfd-units.XXXXXX) || tap_bail "mktemp failed"
tap_cleanup_add 'rm -rf "$W"'
# verify runs the Documentation= man: lookups: give it our pages.
mkdir -p "$W/man/man8" "$W/man/man5" "$W/units" "$W/run" &&
    cp "$top_srcdir/doc/mailfetchd.8" "$W/man/man8/" &&
    cp "$top_srcdir/doc/mailfetchd.conf.5" "$W/man/man5/" ||
    tap_bail "cannot set up $W"
chmod 700 "$W/run"
# What make install substitutes, with the binary under test.
subst() {
	sed -e "s|@sbindir@/mailfetchd|$MAILFETCHD|g" \
	    -e "s|@sysconfdir@|/etc|g" "$1" >"$2"
}
subst "$top_srcdir/systemd/mailfetchd.service.in" "$W/units/mailfetchd.service"
subst "$top_srcdir/systemd/mailfetchd-user.service.in" \
    "$W/units/mailfetchd-user.service"
subst "$top_srcdir/systemd/mailfetchd@.service.in" "$W/units/mailfetchd@.service"
for f in "$W/units/mailfetchd.service" "$W/units/mailfetchd-user.service" \
    "$W/units/mailfetchd@.service"; do
	grep -q '@[a-z]*@' "$f"
	tap_is "$?" 1 "$(basename "$f"): every @variable@ is substituted"
done

out=$(cd "$W/units" && MANPATH=$W/man systemd-analyze verify \
    ./mailfetchd.service 2>&1)
rc=$?
tap_is "$rc" 0 "systemd-analyze verify mailfetchd.service succeeds"
tap_is "$out" "" "verify prints nothing about the system unit"

# The template, as an instance: %i must reach --shard as K-of-N.
ln -s mailfetchd@.service "$W/units/mailfetchd@3-of-8.service"
out=$(cd "$W/units" && MANPATH=$W/man systemd-analyze verify \
    ./mailfetchd@3-of-8.service 2>&1)
rc=$?
tap_is "$rc" 0 "systemd-analyze verify mailfetchd@3-of-8.service succeeds"
tap_is "$out" "" "verify prints nothing about the template unit"
line=$(grep '^ExecStart=' "$W/units/mailfetchd@.service")
inst=${line//%i/3-of-8}
inst=${inst#ExecStart=}
tap_like "$inst" "--shard 3-of-8\$" "the template's ExecStart passes the instance name to --shard"
# The very command line the instance runs (without its config: the
# shard is checked before the file is read).
out=$(${inst%% -c *} --shard 3-of-8 --help 2>&1 >/dev/null; echo "rc=$?")
tap_is "$out" "rc=0" "mailfetchd accepts --shard 3-of-8"
out=$(${inst%% -c *} --shard 9-of-8 --help 2>&1; echo "rc=$?")
tap_like "$(printf '%s' "$out" | tr '\n' ' ')" 'K/N needs 1 <= K <= N.* rc=2' \
    "an instance name out of range is refused (9-of-8)"

out=$(cd "$W/units" && MANPATH=$W/man XDG_RUNTIME_DIR=$W/run \
    systemd-analyze --user verify ./mailfetchd-user.service 2>&1)
rc=$?
tap_is "$rc" 0 "systemd-analyze --user verify on the user unit succeeds"
tap_is "$out" "" "verify prints nothing about the user unit"

score=$(cd "$W/units" && systemd-analyze security --offline=true \
    ./mailfetchd.service 2>&1 | sed -n 's/.*Overall exposure level for mailfetchd.service: \([0-9.]*\) \([A-Z]*\).*/\1 \2/p')
tap_diag "systemd-analyze security --offline=true: $score"
case "$score" in
*" OK"|*" SAFE") tap_ok "security review: exposure $score (OK or better)" ;;
*) tap_fail "security review scores OK or better" "got '$score'" ;;
esac

# Exit status 2 is the daemon's configuration error (mailfetchd(8)):
# no unit restarts it, since the same file would fail the same way
# every 30 s; on-failure still restarts every other failure.
for f in "$W/units/mailfetchd.service" "$W/units/mailfetchd-user.service" \
    "$W/units/mailfetchd@.service"; do
	tap_is "$(grep -E '^Restart(PreventExitStatus)?=' "$f" | tr '\n' ' ')" \
	    "Restart=on-failure RestartPreventExitStatus=2 " \
	    "$(basename "$f"): restarts on failure, but not after exit status 2"
done
"$MAILFETCHD" -c "$W/no-such.conf" >/dev/null 2>&1
tap_is "$?" 2 "the daemon exits 2 when its configuration file is missing"
printf 'state_dir = "%s"\n' "$W/state" >"$W/no-account.conf"
"$MAILFETCHD" -c "$W/no-account.conf" >/dev/null 2>&1
tap_is "$?" 2 "the daemon exits 2 when its configuration has no account"

# The user unit's start is skipped while the user has no configuration
# (the daemon would only exit 2), as `systemd-analyze condition` evaluates
# the unit's conditions for a user whose $HOME is $W/home.
mkdir -p "$W/user-units" "$W/home" &&
    cp "$W/units/mailfetchd-user.service" "$W/user-units/mailfetchd.service" ||
    tap_bail "cannot set up $W/user-units"
user_cond() {
	env -u XDG_CONFIG_HOME HOME="$W/home" XDG_RUNTIME_DIR="$W/run" \
	    SYSTEMD_UNIT_PATH="$W/user-units:" \
	    systemd-analyze --user condition --unit=mailfetchd.service 2>&1
}
out=$(user_cond)
tap_is "$?" 1 "user unit: no ~/.config/mailfetchd/mailfetchd.conf, the start is skipped"
tap_like "$out" "ConditionPathExists=$W/home/.config/mailfetchd/mailfetchd.conf failed" \
    "and the condition names the file"
mkdir -p "$W/home/.config/mailfetchd" &&
    : >"$W/home/.config/mailfetchd/mailfetchd.conf"
out=$(user_cond)
ok $? "user unit: with ~/.config/mailfetchd/mailfetchd.conf it starts" "$out"
grep -qx 'ExecStart=.* -c %E/mailfetchd/mailfetchd.conf' \
    "$W/user-units/mailfetchd.service"
ok $? "user unit: the daemon reads the file its condition checks"

grep -Eq '^u mailfetchd - ".*" /var/lib/mailfetchd' \
    "$top_srcdir/systemd/mailfetchd.sysusers"
ok $? "the sysusers file declares the mailfetchd user"
tap_done
