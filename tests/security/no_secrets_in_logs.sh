#!/bin/bash
# no_secrets_in_logs.sh: no password used by the test suite appears in any
# log of the test run ($top_builddir/tests/**/*.log, written by the
# automake harness: each test's whole output, mailfetchd's included).
#
# Runs last: Makefile.am makes its .log depend on every other test's .log.
# The passwords: the fixed list below, plus every literal the test scripts
# hand to mfd_account or dovecot_add_user or assign to SECRET, PW or
# SEC_PASSWORD, so that a new test's password is covered without an edit
# here. A match is reported as file:line and the password's number in the
# list, never the password itself (this log is read too). TAP.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir/_build}
. "$top_srcdir/tests/lib/tap.sh"

# Passwords set up by the test libraries or not caught by the patterns.
fixed=(
	's3cr3t-Pa55-cli'		# tests/integration/cli.sh
	'pop3-S3cret-fault'		# tests/integration/pop3_fault.sh
	'Tls-pw-5e1b-secret'		# tests/integration/imap_tls.sh
	'Sec-Hostile-pw-7731'		# tests/security/lib.sh
	'Zq9-very-secret'		# tests/unit/test_secret.c
	'hunter2'			# tests/unit/test_secret.c
)

# The literals the test scripts use as passwords (quotes removed). Values
# that expand a variable, and short common words, are left out.
extract()
{
	local re1 re2

	re1='(mfd_account|dovecot_add_user)[[:space:]]+[^[:space:]]+[[:space:]]+'
	re2='(^|[[:space:]])(SECRET|PW|SEC_PASSWORD)='
	find "$top_srcdir/tests" -name '*.sh' -type f -print0 |
	    xargs -0 grep -hE -- "(${re1}|${re2})" |
	    grep -vE '^[[:space:]]*#' |
	    grep -oE -- "(${re1}|${re2})[\"']?[^\"'[:space:]\$]+" |
	    sed -E "s/^.*[[:space:]=][\"']?//" |
	    grep -vE '^.{0,5}$|^[A-Z_:]+$'
}

mapfile -t passwords < <({ printf '%s\n' "${fixed[@]}"; extract; } |
    awk 'NF && !seen[$0]++')
tap_diag "${#passwords[@]} test passwords"
[ "${#passwords[@]}" -ge "${#fixed[@]}" ] || tap_bail "no password list"

# Every harness log but this test's own.
mapfile -t logs < <(find "$top_builddir/tests" -name '*.log' -type f \
    ! -name 'no_secrets_in_logs.log' ! -name 'test-suite.log' | sort)
tap_diag "${#logs[@]} test logs"
if [ "${#logs[@]}" -eq 0 ]; then
	tap_fail "there are test logs to search" \
	    "none under $top_builddir/tests: run it through make check"
	tap_done
fi
tap_ok "there are test logs to search (${#logs[@]})"

printf '%s\n' "${passwords[@]}" >"${TMPDIR:-/tmp}/mfd-pw.$$"
tap_cleanup_add 'rm -f "${TMPDIR:-/tmp}/mfd-pw.$$"'
for log in "${logs[@]}"; do
	rel=${log#"$top_builddir"/}
	hits=$(LC_ALL=C grep -naoF -f "${TMPDIR:-/tmp}/mfd-pw.$$" -- "$log" |
	    while IFS=: read -r line pw; do
		for i in "${!passwords[@]}"; do
			if [ "${passwords[$i]}" = "$pw" ]; then
				printf '%s:%s: password #%d\n' "$rel" "$line" \
				    "$((i + 1))"
			fi
		done
	    done)
	if [ -z "$hits" ]; then
		tap_ok "no test password in $rel"
	else
		tap_fail "no test password in $rel" "$hits"
	fi
done
tap_done
