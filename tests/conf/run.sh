#!/bin/sh
# run.sh: the configuration corpus, in TAP. Every good/*.conf must pass
# "mailfetchd --check-config" (exit 0), and what it prints must pass again
# and print the same. Every bad/*.conf must fail with exit status 2 (a
# configuration error) and print exactly its .err on stderr.
#
# The .conf files are templates: @TMP@ stands for a temporary directory in
# which this script creates the files they name (pw, mode 600; pw644, mode
# 644; ca.pem) and the expanded .conf files themselves. In the .err files
# the same directory is written @TMP@, so paths do not matter.
#
# Environment: MAILFETCHD (the binary) and top_srcdir, as set by
# "make check"; both default to this checkout.
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/mailfetchd}
dir=$top_srcdir/tests/conf
# libconfuse translates its messages; the .err files are in English.
LC_ALL=C
export LC_ALL

if [ ! -x "$MAILFETCHD" ]; then
	echo "Bail out! $MAILFETCHD is not built"
	exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mfd-conf.XXXXXX") || {
	echo "Bail out! cannot create a temporary directory"
	exit 1
}
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

(umask 077 && printf 'secret\n' >"$tmp/pw") &&
    printf 'secret\n' >"$tmp/pw644" && chmod 644 "$tmp/pw644" &&
    printf 'not a real CA\n' >"$tmp/ca.pem" || {
	echo "Bail out! cannot create the password files"
	exit 1
}

n=0
failed=0

# pass NAME
pass() {
	n=$((n + 1))
	echo "ok $n - $1"
}

# fail NAME DIAGNOSTIC-FILE...: the files' lines become TAP comments.
fail() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	shift
	for f in "$@"; do
		sed 's/^/# /' "$f"
	done
}

# expand TEMPLATE OUT: writes TEMPLATE with @TMP@ replaced.
expand() {
	sed "s|@TMP@|$tmp|g" "$1" >"$2"
}

# check FILE OUT ERR: runs --check-config; prints the exit status.
check() {
	"$MAILFETCHD" --check-config -c "$1" >"$2" 2>"$3"
	echo $?
}

set -- "$dir"/good/*.conf
ngood=$#
set -- "$dir"/bad/*.conf
nbad=$#
echo "1..$((ngood * 2 + nbad))"

for src in "$dir"/good/*.conf; do
	name=good/$(basename "$src" .conf)
	conf=$tmp/$(basename "$src")
	expand "$src" "$conf"
	rc=$(check "$conf" "$tmp/out" "$tmp/err")
	if [ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ]; then
		pass "$name"
	else
		echo "exit status $rc" >"$tmp/rc"
		fail "$name" "$tmp/rc" "$tmp/err"
	fi
	# What --check-config prints is a configuration with every default.
	mv "$tmp/out" "$tmp/printed.conf"
	rc=$(check "$tmp/printed.conf" "$tmp/out" "$tmp/err")
	if [ "$rc" -eq 0 ] && cmp -s "$tmp/printed.conf" "$tmp/out"; then
		pass "$name (printed configuration reads back the same)"
	else
		echo "exit status $rc" >"$tmp/rc"
		diff -u "$tmp/printed.conf" "$tmp/out" >"$tmp/diff"
		fail "$name (printed configuration reads back the same)" \
		    "$tmp/rc" "$tmp/err" "$tmp/diff"
	fi
done

for src in "$dir"/bad/*.conf; do
	name=bad/$(basename "$src" .conf)
	conf=$tmp/$(basename "$src")
	expand "$src" "$conf"
	rc=$(check "$conf" "$tmp/out" "$tmp/err.raw")
	sed "s|$tmp|@TMP@|g" "$tmp/err.raw" >"$tmp/err"
	if [ "$rc" -eq 2 ] && [ ! -s "$tmp/out" ] &&
	    cmp -s "${src%.conf}.err" "$tmp/err"; then
		pass "$name"
	else
		echo "exit status $rc (want 2)" >"$tmp/rc"
		diff -u "${src%.conf}.err" "$tmp/err" >"$tmp/diff"
		fail "$name" "$tmp/rc" "$tmp/diff"
	fi
done

[ "$failed" -eq 0 ]
