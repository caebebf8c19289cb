#!/bin/bash
# manexamples.sh: every configuration example in mailfetchd.conf(5) is
# accepted by `mailfetchd --check-config` (the files it names are made in a
# temporary directory). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/tap.sh"

T=$(mktemp -d /tmp/mfd-manex.XXXXXX)
tap_cleanup_add 'rm -rf "$T"'
page="$top_srcdir/doc/mailfetchd.conf.5"

# The literal blocks of EXAMPLES that hold an account section.
awk '/^\.Sh EXAMPLES/ { on = 1; next } /^\.Sh / { on = 0 }
     on && /^\.Bd -literal/ { n++; inblk = 1; next }
     on && /^\.Ed/ { inblk = 0; next }
     on && inblk { print > (dir "/ex" n ".raw") }' dir="$T" "$page"
n=0
for raw in "$T"/ex*.raw; do
	grep -q '^account ' "$raw" || continue
	n=$((n + 1))
	conf="$T/$(basename "$raw" .raw).conf"
	# Every absolute path moves under $T; the files exist, mode 600.
	sed -e "s|\"/|\"$T/root/|g" -e 's/\\e/\\/g' "$raw" >"$conf"
	printf 'state_dir = "%s/state"\n' "$T" >>"$conf"
	for f in $(grep -oE '(password_file|client_secret_file|ca_file) = "[^"]+"' "$conf" |
	    sed 's/.*= "//; s/"$//'); do
		mkdir -p "$(dirname "$f")"
		printf 'x\n' >"$f"
		chmod 600 "$f"
	done
	out=$("$MAILFETCHD" -c "$conf" --check-config 2>&1 >/dev/null)
	tap_is "$?:$out" "0:" "example $n of mailfetchd.conf(5) is accepted"
done
[ "$n" -ge 5 ]
ok $? "the page has at least five account examples ($n)"
tap_done
