#!/bin/sh
# example.sh: etc/mailfetchd.conf must be a working configuration once its
# password files exist, and it and mailfetchd.conf(5) must mention every
# option --check-config knows. TAP output.
#
# The example names password files under /etc/mailfetchd/; they are
# rewritten to files created here with mode 600. Environment: MAILFETCHD
# and top_srcdir, as set by "make check".
set -u

top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/mailfetchd}
example=$top_srcdir/etc/mailfetchd.conf
man=$top_srcdir/doc/mailfetchd.conf.5
LC_ALL=C
export LC_ALL

if [ ! -x "$MAILFETCHD" ]; then
	echo "Bail out! $MAILFETCHD is not built"
	exit 1
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mfd-example.XXXXXX") || {
	echo "Bail out! cannot create a temporary directory"
	exit 1
}
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

n=0
failed=0

# pass NAME
pass() {
	n=$((n + 1))
	echo "ok $n - $1"
}

# fail NAME [DIAGNOSTIC-FILE...]
fail() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
	shift
	for f in "$@"; do
		sed 's/^/# /' "$f"
	done
}

echo "1..5"

# The password files the example names, as an administrator would make
# them.
mkdir "$tmp/pass"
for f in $(sed -n 's|^[^#]*password_file = "/etc/mailfetchd/\([^"]*\)".*|\1|p' \
    "$example"); do
	(umask 077 && printf 'secret\n' >"$tmp/pass/$f")
done
sed "s|\"/etc/mailfetchd/|\"$tmp/pass/|" "$example" >"$tmp/example.conf"

if ls "$tmp/pass" | grep -q .; then
	pass "the example names its password files under /etc/mailfetchd/"
else
	fail "the example names its password files under /etc/mailfetchd/"
fi

"$MAILFETCHD" --check-config -c "$tmp/example.conf" >"$tmp/out" 2>"$tmp/err"
rc=$?
if [ "$rc" -eq 0 ] && [ ! -s "$tmp/err" ]; then
	pass "--check-config accepts etc/mailfetchd.conf"
else
	echo "exit status $rc" >"$tmp/rc"
	fail "--check-config accepts etc/mailfetchd.conf" "$tmp/rc" "$tmp/err"
fi

if grep -q '^account "work" {' "$tmp/out" &&
    grep -q '^account "home" {' "$tmp/out" &&
    grep -q '^	folder "\[Gmail\]/Spam" {' "$tmp/out"; then
	pass "both example accounts and their folders are loaded"
else
	fail "both example accounts and their folders are loaded" "$tmp/out"
fi

# Every option name: what --check-config prints for the example and for the
# corpus file that sets every option.
sed "s|@TMP@|$tmp/pass|g" "$top_srcdir/tests/conf/good/full.conf" \
    >"$tmp/full.conf"
(umask 077 && printf 'x\n' >"$tmp/pass/pw" && printf 'x\n' >"$tmp/pass/ca.pem")
"$MAILFETCHD" --check-config -c "$tmp/full.conf" >>"$tmp/out" 2>>"$tmp/err"
sed -n 's/^[ 	]*\([a-z_]*\) = .*/\1/p; s/^[ 	]*\([a-z_]*\) ".*{$/\1/p' \
    "$tmp/out" >"$tmp/options.raw"
# Printed only when set, and set in neither file:
echo password_command >>"$tmp/options.raw"
sort -u "$tmp/options.raw" >"$tmp/options"
: >"$tmp/missing"
while read -r opt; do
	grep -Eq "(^|[[:space:]#])$opt( |\$)" "$example" ||
	    echo "$opt" >>"$tmp/missing"
done <"$tmp/options"
if [ "$(wc -l <"$tmp/options")" -ge 29 ] && [ ! -s "$tmp/missing" ]; then
	pass "etc/mailfetchd.conf mentions every option"
else
	fail "etc/mailfetchd.conf mentions every option" "$tmp/missing"
fi

: >"$tmp/missing"
while read -r opt; do
	grep -q "^\.It Ic $opt\$" "$man" ||
	    grep -q "^\.It Ic $opt " "$man" || echo "$opt" >>"$tmp/missing"
done <"$tmp/options"
if [ -f "$man" ] && [ ! -s "$tmp/missing" ]; then
	pass "mailfetchd.conf(5) documents every option"
else
	fail "mailfetchd.conf(5) documents every option" "$tmp/missing"
fi

[ "$failed" -eq 0 ]
