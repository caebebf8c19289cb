#!/bin/bash
# hardening.sh: the mailfetchd binary carries the hardening configure asked
# for (checksec-like, with readelf and file): PIE, full RELRO (GNU_RELRO
# and BIND_NOW), a non-executable stack, the stack protector, and
# _FORTIFY_SOURCE's checked functions. What configure left out
# (--disable-hardening, -O0 for fortify, a sanitizer build) is reported as
# a skip, read from HARDEN_CFLAGS in the build's Makefile. TAP.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir/_build}
MAILFETCHD=${MAILFETCHD:-$top_builddir/mailfetchd}
. "$top_srcdir/tests/lib/tap.sh"

for tool in readelf file; do
	command -v "$tool" >/dev/null || tap_bail "$tool not found"
done
[ -x "$MAILFETCHD" ] || tap_bail "no mailfetchd at $MAILFETCHD"
harden=$(sed -n 's/^HARDEN_CFLAGS *= *//p' "$top_builddir/Makefile" 2>/dev/null)
hardenld=$(sed -n 's/^HARDEN_LDFLAGS *= *//p' "$top_builddir/Makefile" 2>/dev/null)
tap_diag "HARDEN_CFLAGS: ${harden:-none}" "HARDEN_LDFLAGS: ${hardenld:-none}"

# skip WHY: one check reported as skipped.
skip()
{
	TAP_N=$((TAP_N + 1))
	printf 'ok %d # SKIP %s\n' "$TAP_N" "$1"
}

# wanted FLAG-ERE FLAGS: whether configure chose a flag.
wanted()
{
	printf '%s\n' "$2" | grep -qE -- "$1"
}

header=$(readelf -hW "$MAILFETCHD")
segments=$(readelf -lW "$MAILFETCHD")
dynamic=$(readelf -dW "$MAILFETCHD")
symbols=$(readelf --dyn-syms -W "$MAILFETCHD")

if wanted '(^| )-pie( |$)' "$hardenld"; then
	tap_like "$(printf '%s\n' "$header" | grep Type:)" 'Type: +DYN' \
	    "PIE: ELF type DYN"
	tap_like "$(file -L "$MAILFETCHD")" 'pie executable|shared object' \
	    "PIE: file(1) agrees"
	tap_like "$(printf '%s\n' "$dynamic" | grep FLAGS_1)" '\(FLAGS_1\).*PIE' \
	    "PIE: DF_1_PIE set"
else
	skip "configure did not choose -pie"
	skip "configure did not choose -pie"
	skip "configure did not choose -pie"
fi
if wanted 'relro,-z,now' "$hardenld"; then
	printf '%s\n' "$segments" | grep -q 'GNU_RELRO'
	ok $? "RELRO: a GNU_RELRO segment" "no GNU_RELRO program header"
	tap_like "$(printf '%s\n' "$dynamic" | grep -E 'BIND_NOW|FLAGS')" \
	    '\(BIND_NOW\)|\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*NOW' \
	    "full RELRO: BIND_NOW"
else
	skip "configure did not choose -z relro -z now"
	skip "configure did not choose -z relro -z now"
fi
stack=$(printf '%s\n' "$segments" | grep GNU_STACK)
tap_unlike "$stack" 'RWE' "the stack is not executable ($stack)"
if wanted 'stack-protector' "$harden"; then
	printf '%s\n' "$symbols" | grep -q '__stack_chk_fail'
	ok $? "stack protector: __stack_chk_fail is referenced" \
	    "no __stack_chk_fail among the dynamic symbols"
else
	skip "configure did not choose -fstack-protector-strong"
fi
if wanted '_FORTIFY_SOURCE=[23]' "$harden"; then
	n=$(printf '%s\n' "$symbols" | grep -cE '__[a-z_]+_chk(@|$| )')
	tap_like "$n" '^([5-9]|[1-9][0-9]+)$' \
	    "_FORTIFY_SOURCE: checked functions used ($n of __*_chk)"
else
	skip "_FORTIFY_SOURCE not chosen (-O0 or a sanitizer build)"
fi
tap_done
