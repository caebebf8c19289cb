#!/bin/bash
# chaos.sh: the short mode of tests/chaos (README.md there): a fixed number
# of randomized histories (a model IMAP and POP3 server misbehaving as a
# seeded random source draws, kill -9, SIGTERM, SIGHUP and crash points,
# the daemon and --once, another client and a mail reader at work), each
# judged by the exactly-once oracle. TAP output: one check per history,
# and one that the run drew kills, signals and misbehaviours at all.
#
# Needs python3 and openssl (TLS accounts: a test CA per run). Knobs:
# MFD_CHAOS_SEED=N replays one history; MFD_CHAOS_BASE=N replays a whole
# short run (its seeds are N*1000+i); MFD_CHAOS_HISTORIES=N (default 12);
# MFD_CHAOS_LONG=1 is the long mode (at least an hour and 10,000 sessions;
# run it by hand, see README.md); MFD_CHAOS_BINARY=PATH tests another
# build; MFD_CHAOS_POP3X=0 leaves out review r19's POP3 misbehaviours
# (README.md, "POP3 beyond the basics"; on by default since the r19
# fixes of src/pop3.c are in; the long mode draws them).
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/tap.sh"
MAILFETCHD=${MFD_CHAOS_BINARY:-${MAILFETCHD:-$top_srcdir/_build/mailfetchd}}
command -v python3 >/dev/null || tap_bail "python3 not found"
# The run's test CA and server certificates (TLS accounts).
command -v openssl >/dev/null || tap_bail "openssl not found"
[ -x "$MAILFETCHD" ] || tap_bail "no mailfetchd at $MAILFETCHD (set MAILFETCHD)"
T=$(mktemp -d "${TMPDIR:-/tmp}/mfd-chaos.XXXXXX") || tap_bail "mktemp failed"
tap_cleanup_add '[ "${MFD_CHAOS_KEEP:-0}" = 1 ] || [ "${rc:-1}" != 0 ] || rm -rf "$T"'

# Two histories at a time: they mostly wait (daemon runs, timeouts).
# The r19 POP3 draws are on unless the environment says 0.
export MFD_CHAOS_POP3X=${MFD_CHAOS_POP3X:-1}
args=(--binary "$MAILFETCHD" --workdir "$T" --jobs "${MFD_CHAOS_JOBS:-2}")
if [ -z "${MFD_CHAOS_SEED:-}" ] && [ -z "${MFD_CHAOS_HISTORY:-}" ]; then
	# The test command replays the same histories every run (a fixed
	# base), so that what it judges does not change between two runs of
	# one tree; MFD_CHAOS_BASE=random draws a new base from the clock
	# (as the long mode does unless given one).
	base=${MFD_CHAOS_BASE:-1}
	if [ "$base" = random ] || { [ "${MFD_CHAOS_LONG:-0}" = 1 ] &&
	    [ -z "${MFD_CHAOS_BASE:-}" ]; }; then
		base=$(( $(date +%s) % 1000000 ))
	fi
	args+=(--base "$base")
	[ "${MFD_CHAOS_LONG:-0}" = 1 ] ||
	    args+=(--histories "${MFD_CHAOS_HISTORIES:-12}")
	tap_diag "base seed $base (replay this run: MFD_CHAOS_BASE=$base;" \
	    "one history: MFD_CHAOS_SEED=<its seed>)"
fi
# A sanitizer build: its shadow memory makes RSS meaningless.
if grep -q __asan_init "$MAILFETCHD" 2>/dev/null; then
	export MFD_CHAOS_ASAN=1
	tap_diag "sanitizer build: the peak RSS ceiling is not checked"
fi
python3 "$top_srcdir/tests/chaos/chaos.py" "${args[@]}" >"$T/out" 2>&1
rc=$?
while IFS= read -r line; do
	case "$line" in
	"ok seed "*) tap_ok "${line#ok }" ;;
	"FAIL seed "*) tap_fail "${line#FAIL }" ;;
	*) tap_diag "${line#\# }" ;;
	esac
done <"$T/out"
sum=$(grep '^histories=' "$T/out")
kills=$(sed -n 's/.* kills=\([0-9]*\).*/\1/p' <<<"$sum")
signals=$(sed -n 's/.* signals=\([0-9]*\).*/\1/p' <<<"$sum")
mis=$(sed -n 's/.* misbehaviours=\([0-9]*\).*/\1/p' <<<"$sum")
# (A replay of one history may draw none of them.)
if [ -n "${MFD_CHAOS_SEED:-}${MFD_CHAOS_HISTORY:-}" ] && [ -n "$sum" ]; then
	tap_ok "one history replayed: $sum"
elif [ -n "$sum" ] && [ "${kills:-0}" -gt 0 ] && [ "${signals:-0}" -gt 0 ] &&
    [ "${mis:-0}" -gt 0 ]; then
	tap_ok "the run drew kills ($kills), signals ($signals) and misbehaviours ($mis)"
else
	tap_fail "the run drew kills, signals and misbehaviours" "${sum:-no summary line}"
fi
ok "$rc" "chaos.py exit status 0 (no violation)" "exit status $rc; see the lines above"
tap_done
