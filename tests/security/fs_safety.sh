#!/bin/bash
# fs_safety.sh: a Maildir whose tmp/, new/ or cur/ is a symlink is refused
# by mailfetchd --once, naming the path, and nothing is written through
# the link; the state directory is 0700 and its files (state, lock) 0600.
# Against the hostile server's honest clear-text mode on loopback. TAP.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/security/lib.sh"

sec_init
umask 022	# the modes must not depend on a careful umask

# ---- state modes ------------------------------------------------------------
sec_server imap plain
sec_conf imap none
sec_run
tap_is "$rc" 1 "a clean run against the honest server (exit 1)"
if [ -d "$T/state" ]; then
	tap_is "$(stat -c %a "$T/state")" 700 "the state directory is 0700"
	bad=$(find "$T/state" -mindepth 1 \( -type f -o -type s \) \
	    ! -perm 600 -printf '%p %m\n')
	n=$(find "$T/state" -mindepth 1 -type f | wc -l)
	tap_is "$bad" "" "every state file is 0600 ($n files)"
	sub=$(find "$T/state" -mindepth 1 -type d ! -perm 700 -printf '%p %m\n')
	tap_is "$sub" "" "every directory under the state directory is 0700"
else
	tap_fail "the state directory is 0700" "no $T/state"
	tap_fail "every state file is 0600"
	tap_fail "every directory under the state directory is 0700"
fi

# ---- symlinked Maildir subdirectories --------------------------------------
for sub in tmp new cur; do
	rm -rf "$T/Maildir" "$T/elsewhere"
	mkdir -p "$T/Maildir/tmp" "$T/Maildir/new" "$T/Maildir/cur" \
	    "$T/elsewhere"
	rmdir "$T/Maildir/$sub"
	ln -s "$T/elsewhere" "$T/Maildir/$sub"
	sec_run
	tap_is "$rc" 8 "symlinked $sub/: mailfetchd --once fails (exit 8, local)"
	tap_like "$err" "$T/Maildir/$sub.*(symlink|symbolic link|Too many levels)|(symlink|symbolic link).*$T/Maildir/$sub" \
	    "symlinked $sub/: the error names the path and the symlink"
	tap_is "$(find "$T/elsewhere" -mindepth 1 | wc -l)" 0 \
	    "symlinked $sub/: nothing written through the link"
done
tap_done
