#!/bin/bash
# systemd_units.sh: the service units as `make install` writes them pass
# `systemd-analyze verify` with no message at all about them (works
# without systemd running as init), and the system unit's offline security
# review scores OK or better. TAP output.
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
for f in "$W/units/mailfetchd.service" "$W/units/mailfetchd-user.service"; do
	grep -q '@[a-z]*@' "$f"
	tap_is "$?" 1 "$(basename "$f"): every @variable@ is substituted"
done

out=$(cd "$W/units" && MANPATH=$W/man systemd-analyze verify \
    ./mailfetchd.service 2>&1)
rc=$?
tap_is "$rc" 0 "systemd-analyze verify mailfetchd.service succeeds"
tap_is "$out" "" "verify prints nothing about the system unit"

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

grep -Eq '^u mailfetchd - ".*" /var/lib/mailfetchd' \
    "$top_srcdir/systemd/mailfetchd.sysusers"
ok $? "the sysusers file declares the mailfetchd user"
tap_done
