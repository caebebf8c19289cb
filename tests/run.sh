#!/bin/bash
# The test command. On a fresh Debian 12 machine, as root:
#     bash tests/run.sh
# installs what is missing (apt-get; npm for hoodiecrow-imap into
# /var/cache/mailfetchd-tests), builds from scratch with -Werror, runs
# every test (unit, config corpus, command line, integration against a real
# Dovecot on 127.0.0.1, the interoperability matrix against Cyrus and
# Courier), then the unit and script tests again in an
# ASan+UBSan build, and ends with one line "N passed, N failed".
# Exit status 0 only when nothing failed.
#
# Then each libFuzzer target (IMAP parser, POP3 parser, config loader,
# OAuth2 JSON) runs
# for MFD_FUZZ_SECONDS (default 20) from its seed corpus; a crash fails it.
#
# Environment: MFD_SKIP_ASAN=1 skips the sanitizer build and MFD_SKIP_FUZZ=1
# the fuzzing (for a quick local run; CI sets neither). MFD_JOBS sets make's
# -j for the builds (default 2), MFD_TEST_JOBS for the tests (default 4:
# the tests mostly wait on servers' drips and daemons' timers, and 4 at a
# time keep two cores busier than 2 do).
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=${MFD_JOBS:-2}
TEST_JOBS=${MFD_TEST_JOBS:-4}

. "$ROOT/tests/lib/deps.sh"

say() { printf '== %s\n' "$*"; }

# The one closing line, from the .trs files of every build that ran.
summary() {
	local pass=0 fail=0 skip=0 trs r
	for trs in $(find "$ROOT"/_build "$ROOT"/_build-asan -name '*.trs' 2>/dev/null); do
		while read -r r; do
			case "$r" in
			PASS) pass=$((pass + 1)) ;;
			SKIP) skip=$((skip + 1)) ;;
			*) fail=$((fail + 1)) ;;	# FAIL XFAIL XPASS ERROR
			esac
		done < <(sed -n 's/^:test-result: *\([A-Z]*\).*/\1/p' "$trs")
	done
	pass=$((pass + FUZZ_PASS))
	fail=$((fail + FUZZ_FAIL + ${1:-0}))
	if [ "$skip" -gt 0 ]; then
		echo "$pass passed, $fail failed, $skip skipped"
	else
		echo "$pass passed, $fail failed"
	fi
	[ "$fail" -eq 0 ]
}

# build DIR CONFIGURE-ARGS...: configure and build in DIR from scratch.
build() {
	local dir=$1; shift
	rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" &&
		"$ROOT/configure" -q --enable-werror --sysconfdir=/etc \
		    --localstatedir=/var "$@" &&
		make -s -j"$JOBS" >/dev/null && make -s -j"$JOBS" check TESTS= >/dev/null
	local rc=$?
	cd "$ROOT"
	return $rc
}

# check DIR [make args]: run the suite; failures are counted from .trs.
check() {
	local dir=$1; shift
	(cd "$dir" && make -j"$TEST_JOBS" check "$@" >"$dir/check.out" 2>&1)
	grep -E '^(PASS|FAIL|ERROR|XPASS|SKIP):' "$dir/check.out" | grep -v '^PASS' | sed 's/^/   /'
	grep -E '^# (TOTAL|PASS|FAIL|ERROR|SKIP)' "$dir/check.out" | tr '\n' ' '; echo
	# The slowest tests bound the run's time (tests/lib/timed_driver.sh).
	[ -f "$dir/test-times" ] && echo "   slowest (s): $(sort -rn "$dir/test-times" |
	    head -n 6 | awk '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1 }')"
	# A failing test's log, so CI output says why.
	for log in $(grep -lE '^:test-result: (FAIL|ERROR|XPASS)' $(find "$dir" -name '*.trs') 2>/dev/null); do
		echo "---- ${log%.trs}.log"
		tail -n 40 "${log%.trs}.log"
	done
}

# fuzz: builds the libFuzzer targets with clang and runs each for a while.
FUZZ_PASS=0
FUZZ_FAIL=0
fuzz() {
	local dir="$ROOT/_build-fuzz" secs=${MFD_FUZZ_SECONDS:-20} t name corpus dict
	rm -rf "$dir" && mkdir -p "$dir" && cd "$dir" &&
		CC=clang "$ROOT/configure" -q --enable-fuzzing >/dev/null &&
		make -s -j"$JOBS" tests/fuzz/fuzz_imap_parse tests/fuzz/fuzz_pop3_parse \
		    tests/fuzz/fuzz_config tests/fuzz/fuzz_oauth2_json \
		    tests/fuzz/fuzz_state >/dev/null
	local rc=$?
	cd "$ROOT"
	if [ $rc -ne 0 ]; then
		echo "   fuzz build failed"; FUZZ_FAIL=$((FUZZ_FAIL + 1)); return
	fi
	for t in imap_parse pop3_parse config oauth2_json state; do
		name="fuzz_$t"
		corpus=$(mktemp -d /tmp/mfd-fuzz.XXXXXX)
		dict=""
		[ -f "$ROOT/tests/fuzz/$t.dict" ] && dict="-dict=$ROOT/tests/fuzz/$t.dict"
		if "$dir/tests/fuzz/$name" -max_total_time="$secs" -max_len=4096 \
		    -rss_limit_mb=1024 -print_final_stats=1 -artifact_prefix="$dir/" \
		    $dict "$corpus" \
		    "$ROOT/tests/fuzz/corpus/$t" >"$dir/$name.log" 2>&1; then
			FUZZ_PASS=$((FUZZ_PASS + 1))
			echo "   $name: $(grep -m1 'stat::number_of_executed_units' "$dir/$name.log" | awk '{print $2}') runs in ${secs}s, no crash"
		else
			FUZZ_FAIL=$((FUZZ_FAIL + 1))
			echo "FAIL: $name (see below; the crashing input is in $dir)"
			tail -n 30 "$dir/$name.log"
		fi
		rm -rf "$corpus"
	done
}

rm -rf "$ROOT"/_build "$ROOT"/_build-asan "$ROOT"/_build-fuzz
if ! mfd_install_packages || ! mfd_install_npm; then summary 1; exit 1; fi
# Cyrus and Courier for tests/interop: unpacked into a private prefix, as
# their packages would remove Dovecot's (tests/lib/deps.sh).
if ! mfd_install_interop; then
	echo "installing the interop servers failed"; summary 1; exit 1
fi

say "autoreconf"
if ! autoreconf -fi >/dev/null 2>&1; then
	autoreconf -fi; echo "autoreconf failed"; summary 1; exit 1
fi

say "build (-Werror) in _build"
if ! build "$ROOT/_build"; then echo "build failed"; summary 1; exit 1; fi
say "tests"
check "$ROOT/_build"

if [ "${MFD_SKIP_ASAN:-0}" != 1 ]; then
	say "build with ASan+UBSan in _build-asan"
	if ! build "$ROOT/_build-asan" --enable-asan; then
		echo "sanitizer build failed"; summary 1; exit 1
	fi
	say "tests under ASan+UBSan"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
		check "$ROOT/_build-asan"
fi

if [ "${MFD_SKIP_FUZZ:-0}" != 1 ]; then
	say "fuzzing (${MFD_FUZZ_SECONDS:-20} s per target)"
	fuzz
fi

summary
