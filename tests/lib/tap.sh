# tap.sh: tiny TAP producer for the project's shell tests (bash).
#
# Source it, run checks, end with tap_done:
#
#	. "$top_srcdir/tests/lib/tap.sh"
#	tap_plan 3			# optional; without it tap_done prints 1..N
#	test -s "$f"; ok $? "file written"
#	tap_is "$(wc -l <"$f")" 3 "three lines"
#	tap_ok "reached the end"
#	tap_done
#
# The test exits 0 only if every check passed and the plan was met;
# tap_bail stops the whole test ("Bail out!" tells the automake driver the
# run is broken, not merely failing). Anything else printed to stdout must
# not start with "ok" or "not ok"; use tap_diag for notes.
#
# Cleanup: tap_cleanup_add CMD registers CMD (eval'd, most recent first) for
# the EXIT trap this file installs; INT/TERM/HUP are turned into exits so the
# trap runs on ^C and on kill too. Do not replace the EXIT trap; add to it.

[ -n "${TAP_LOADED:-}" ] && return 0
TAP_LOADED=1

TAP_N=0			# checks run so far
TAP_FAILED=0		# of which failed
TAP_PLANNED=""		# N given to tap_plan, empty when planning at the end
TAP_DONE=0		# tap_done or tap_bail ran
TAP_CLEANUPS=()		# commands for the EXIT trap

# Print each argument line as a TAP diagnostic ("# ...").
tap_diag()
{
	local line

	# printf, not echo: a message may start with "-n" or hold backslashes.
	printf '%s\n' "$*" | while IFS= read -r line; do
		printf '# %s\n' "$line"
	done
}

# Declare the number of checks up front.
tap_plan()
{
	TAP_PLANNED=$1
	printf '1..%s\n' "$1"
}

# Record a passing check.
tap_ok()
{
	TAP_N=$((TAP_N + 1))
	printf 'ok %d - %s\n' "$TAP_N" "$1"
}

# Record a failing check, with an optional (multi-line) diagnostic.
tap_fail()
{
	TAP_N=$((TAP_N + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	printf 'not ok %d - %s\n' "$TAP_N" "$1"
	if [ -n "${2:-}" ]; then
		tap_diag "$2"
	fi
	return 0
}

# ok STATUS NAME [DIAG]: pass when STATUS (an exit status) is 0.
ok()
{
	if [ "$1" -eq 0 ] 2>/dev/null; then
		tap_ok "$2"
	else
		tap_fail "$2" "${3:-exit status $1}"
	fi
}

# tap_is GOT EXPECTED NAME: pass when the two strings are equal.
tap_is()
{
	if [ "$1" = "$2" ]; then
		tap_ok "$3"
	else
		tap_fail "$3" "$(printf '     got: %s\nexpected: %s' "$1" "$2")"
	fi
}

# tap_like GOT ERE NAME: pass when GOT matches the extended regex ERE.
tap_like()
{
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		tap_ok "$3"
	else
		tap_fail "$3" "$(printf '%s\ndoes not match /%s/' "$1" "$2")"
	fi
}

# tap_unlike GOT ERE NAME: pass when GOT does not match ERE.
tap_unlike()
{
	if printf '%s\n' "$1" | grep -Eq -- "$2"; then
		tap_fail "$3" "$(printf '%s\nmatches /%s/' "$1" "$2")"
	else
		tap_ok "$3"
	fi
}

# Abort the whole test: the run cannot go on (setup broken, not a failure).
tap_bail()
{
	TAP_DONE=1
	printf 'Bail out! %s\n' "$1"
	exit 1
}

# Print the plan if none was given and exit with the verdict.
tap_done()
{
	TAP_DONE=1
	if [ -z "$TAP_PLANNED" ]; then
		printf '1..%d\n' "$TAP_N"
	elif [ "$TAP_PLANNED" -ne "$TAP_N" ]; then
		tap_diag "planned $TAP_PLANNED checks but ran $TAP_N"
		exit 1
	fi
	if [ "$TAP_FAILED" -ne 0 ]; then
		tap_diag "failed $TAP_FAILED of $TAP_N"
		exit 1
	fi
	exit 0
}

# Register CMD to run (eval'd) when the test exits, most recent first.
tap_cleanup_add()
{
	TAP_CLEANUPS+=("$1")
}

# Remove a command registered with tap_cleanup_add (it ran already).
tap_cleanup_del()
{
	local i

	for i in "${!TAP_CLEANUPS[@]}"; do
		if [ "${TAP_CLEANUPS[$i]}" = "$1" ]; then
			unset 'TAP_CLEANUPS[i]'
		fi
	done
}

# EXIT trap: run the cleanups and make an unfinished test fail.
_tap_exit()
{
	local rc=$? i idx

	# A second signal (timeout(1), a process-group kill) must not cut the
	# cleanup short and leave a server behind; every cleanup is bounded.
	trap '' INT TERM HUP
	set +e
	# Reverse order: things started last usually depend on things started first.
	idx=("${!TAP_CLEANUPS[@]}")
	for ((i = ${#idx[@]} - 1; i >= 0; i--)); do
		eval "${TAP_CLEANUPS[${idx[$i]}]}"
	done
	TAP_CLEANUPS=()
	# A test that dies half way (set -e, a typo) must not look like a pass.
	if [ "$TAP_DONE" -eq 0 ]; then
		tap_diag "test exited early (status $rc) after $TAP_N checks"
		[ "$rc" -eq 0 ] && rc=1
	fi
	exit "$rc"
}

trap _tap_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
