# hoodiecrow.sh: a throwaway hoodiecrow-imap 2.1 (npm) for the interop
# tests (bash; sources tap.sh and dovecot.sh for the test CA and its
# helpers, but starts no Dovecot): an in-memory IMAP server with Gmail's
# extensions (X-GM-EXT-1), special-use folders and any hierarchy separator,
# on 127.0.0.1 with the test CA, one instance per test file.
#
#	. "$top_srcdir/tests/lib/hoodiecrow.sh"
#	hc_start "$T/spec.json"		# bails out if it cannot
#	hc_append INBOX "$T/new.eml"	# while it runs: IDLE clients see it
#	hc_uidvalidity INBOX 77		# renumbers the folder's messages
#	hc_count INBOX			# messages in a folder
#	HC_USER=alice HC_PASS=pw hc_conf acct -- 'folder "INBOX" { }'
#	...				# hc_stop runs from the EXIT trap
#
# The SPEC file (JSON) says the separator, the users and the folders with
# their messages, flags, special-use and UIDVALIDITY: see the top of
# tests/lib/hoodiecrow.js. Folder names there and in these functions are
# UTF-8 with the server's separator ("Lists|dev", "Корзина"); the server
# lists them in modified UTF-7.
#
# hc_start exports:
#   HC_DIR         the instance directory (ports, control socket, log, tls/)
#   HC_IMAPS_PORT  IMAP over implicit TLS    \ 127.0.0.1, dynamic
#   HC_IMAP_PORT   IMAP, STARTTLS offered    /
#   DC_CA          the CA certificate clients must trust (as dovecot.sh)
#
# hoodiecrow-imap lives outside the tree, in HC_NODE_MODULES (default
# /var/cache/mailfetchd-tests/node_modules), installed by the test command
# (tests/lib/deps.sh, mfd_install_npm); a test without it bails out with
# the command that installs it. Needs node (Debian's nodejs).

[ -n "${HC_LOADED:-}" ] && return 0
HC_LOADED=1

HC_LIBDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$HC_LIBDIR/dovecot.sh"
. "$HC_LIBDIR/deps.sh"
HC_NODE_MODULES=${HC_NODE_MODULES:-$MFD_NPM_PREFIX/node_modules}
HC_DIR=""
HC_PID=""

# Say why not, or nothing when node and hoodiecrow-imap are there.
_hc_check()
{
	command -v node >/dev/null ||
	    { echo "no node: apt-get install nodejs"; return 1; }
	[ -f "$HC_NODE_MODULES/hoodiecrow-imap/package.json" ] ||
	    { echo "no hoodiecrow-imap in $HC_NODE_MODULES: run (as root)" \
	    "'. tests/lib/deps.sh && mfd_install_npm'"; return 1; }
}

_hc_node()
{
	NODE_PATH=$HC_NODE_MODULES node "$HC_LIBDIR/hoodiecrow.js" "$@"
}

# hc_start SPEC: start the server with the folders of SPEC; bails out.
hc_start()
{
	local spec=$1 why i ports

	why=$(_hc_check) || tap_bail "$why"
	[ -z "$HC_DIR" ] || tap_bail "hc_start: already running in $HC_DIR"
	HC_DIR=$(mktemp -d /tmp/mfd-hc.XXXXXX) || tap_bail "mktemp failed"
	tap_cleanup_add hc_stop
	# The test CA of dovecot.sh, made in our directory.
	DC_DIR=$HC_DIR _dc_make_tls ||
	    tap_bail "cannot make the test certificates: $(cat "$HC_DIR/tls/openssl.err")"
	# node itself in the background (not a function, whose subshell
	# would be the PID killed, leaving node behind).
	NODE_PATH=$HC_NODE_MODULES node "$HC_LIBDIR/hoodiecrow.js" serve \
	    "$spec" "$HC_DIR" >"$HC_DIR/log" 2>&1 &
	HC_PID=$!
	for ((i = 0; i < 200; i++)); do
		[ -s "$HC_DIR/ports" ] && break
		kill -0 "$HC_PID" 2>/dev/null || break
		sleep 0.05
	done
	read -r HC_IMAPS_PORT HC_IMAP_PORT <"$HC_DIR/ports" 2>/dev/null ||
	    tap_bail "hoodiecrow did not start: $(cat "$HC_DIR/log")"
	export HC_DIR HC_IMAPS_PORT HC_IMAP_PORT DC_CA
}

# Stop the server (bounded) and remove its directory.
hc_stop()
{
	local i

	[ -n "$HC_DIR" ] || return 0
	tap_cleanup_del hc_stop
	if [ -n "$HC_PID" ]; then
		kill -TERM "$HC_PID" 2>/dev/null
		for ((i = 0; i < 100; i++)); do
			kill -0 "$HC_PID" 2>/dev/null || break
			sleep 0.02
		done
		kill -KILL "$HC_PID" 2>/dev/null
		wait "$HC_PID" 2>/dev/null
	fi
	if [ "${KEEP_DOVECOT:-0}" = 1 ]; then
		tap_diag "KEEP_DOVECOT=1: hoodiecrow files kept in $HC_DIR"
	else
		rm -rf "$HC_DIR"
	fi
	HC_DIR="" HC_PID=""
}

# hc_ctl JSON: one control request; prints the answer, status 0 if it
# worked.
hc_ctl()
{
	_hc_node ctl "$HC_DIR" "$1"
}

# A JSON string of $1.
_hc_json()
{
	"$(_dc_python)" -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$1"
}

# hc_append FOLDER FILE [FLAG...]: a new message, as delivery would make
# it; with HC_GMID set, that X-GM-MSGID (the same message under another
# Gmail label). Bails out on failure.
hc_append()
{
	local folder file flags="" f gmid=""

	folder=$(_hc_json "$1") file=$(_hc_json "$2")
	shift 2
	for f in "$@"; do
		flags="$flags${flags:+,}$(_hc_json "$f")"
	done
	[ -n "${HC_GMID:-}" ] && gmid=",\"gmid\":$(_hc_json "$HC_GMID")"
	hc_ctl "{\"op\":\"append\",\"folder\":$folder,\"file\":$file,\"flags\":[$flags]$gmid}" \
	    >/dev/null || tap_bail "hc_append $folder $file failed"
}

# hc_uidvalidity FOLDER N: the folder gets UIDVALIDITY N and new UIDs.
hc_uidvalidity()
{
	hc_ctl "{\"op\":\"uidvalidity\",\"folder\":$(_hc_json "$1"),\"value\":$2}" \
	    >/dev/null || tap_bail "hc_uidvalidity $1 $2 failed"
}

# hc_count FOLDER: how many messages the folder holds (empty on error).
hc_count()
{
	hc_ctl "{\"op\":\"list\",\"folder\":$(_hc_json "$1")}" |
	    "$(_dc_python)" -c 'import json, sys; print(len(json.load(sys.stdin)["messages"]))'
}

# hc_flags FOLDER: "UID FLAG..." per message, in UID order.
hc_flags()
{
	hc_ctl "{\"op\":\"list\",\"folder\":$(_hc_json "$1")}" |
	    "$(_dc_python)" -c 'import json, sys
for m in sorted(json.load(sys.stdin)["messages"], key=lambda m: m["uid"]):
    print(" ".join([str(m["uid"])] + sorted(m["flags"])))'
}

# hc_conf ACCOUNT [ACCOUNT-LINE...] [-- FOLDER-LINE...]: mfd_conf (mfd.sh)
# for the running server, logging in as HC_USER with the password HC_PASS
# (hoodiecrow has one mailbox for all its users); IMAPS unless MFD_PORT
# and MFD_TLS say otherwise.
hc_conf()
{
	mfd_account "$1" "$HC_PASS"
	MFD_PORT=${MFD_PORT:-$HC_IMAPS_PORT} mfd_conf "$@"
	sed -i "s/^  user = .*/  user = \"$HC_USER\"/" "$T/$1/mailfetchd.conf" ||
	    tap_bail "cannot write $T/$1/mailfetchd.conf"
}
