#!/bin/bash
# manpages.sh: mailfetchd(8) and mailfetchd.conf(5) render without warnings
# (mandoc -T lint), and every command-line option the program knows is
# documented in mailfetchd(8). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/tap.sh"

command -v mandoc >/dev/null || tap_bail "mandoc is missing (apt-get install mandoc)"
for page in doc/mailfetchd.8 doc/mailfetchd.conf.5; do
	# STYLE notes about manuals not installed here are not defects.
	out=$(mandoc -T lint -W warning "$top_srcdir/$page" 2>&1)
	tap_is "$out" "" "$page: mandoc -T lint -W warning is clean"
	out=$(mandoc -T utf8 "$top_srcdir/$page" 2>&1 >/dev/null)
	tap_is "$out" "" "$page: renders with no message"
done

# Every long option in --help appears in mailfetchd(8).
opts=$("$MAILFETCHD" --help | grep -oE -- '--[a-z][a-z0-9-]+' | sort -u)
[ -n "$opts" ] || tap_fail "--help lists options"
page=$(sed 's/\\-/-/g' "$top_srcdir/doc/mailfetchd.8")
for o in $opts; do
	name=${o#--}
	if printf '%s\n' "$page" | grep -qE -- "(Fl -$name|--$name)([^a-z0-9-]|$)"; then
		tap_ok "mailfetchd(8) documents $o"
	else
		tap_fail "mailfetchd(8) documents $o"
	fi
done
tap_done
