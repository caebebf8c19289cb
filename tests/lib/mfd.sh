# mfd.sh: running mailfetchd in the integration tests and checking what it
# delivered (bash; sources tap.sh). Used with dovecot.sh:
#
#	. "$top_srcdir/tests/lib/mfd.sh"
#	mfd_init			# work directory $T, removed at exit
#	mfd_account alice pw-alice	# password file, config defaults
#	mfd_conf alice 'mark_read = yes' -- 'folder "INBOX" { }'
#	mfd_run alice			# sets rc, out, err
#	mfd_expect "$T/alice/Maildir" "" a.eml b.eml
#
# mfd_conf ACCOUNT [ACCOUNT-LINE...] [-- FOLDER-LINE...] writes
# $T/ACCOUNT/mailfetchd.conf: one IMAP account over implicit TLS to the
# running Dovecot, with its own state_dir and Maildir under $T/ACCOUNT.
# Lines before "--" go into the account section (they come first, so they
# may override nothing but add options; set MFD_PORT, MFD_TLS, MFD_CA,
# MFD_PASSFILE to change the connection, MFD_PROTO=pop3 for POP3S), lines
# after it are the folders (default: INBOX only; none for POP3).
#
# Needs dovecot.sh sourced first (its python3, DC_* variables).
#
# Every mfd_run appends stdout and stderr to $T/all-output, so that a test
# can check at the end that no password ever appears in any output.

[ -n "${MFD_LOADED:-}" ] && return 0
MFD_LOADED=1

MFD_LIBDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$MFD_LIBDIR/tap.sh"
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}

# Make the work directory $T (removed at exit unless KEEP_DOVECOT=1).
mfd_init()
{
	[ -x "$MAILFETCHD" ] || tap_bail "no mailfetchd at $MAILFETCHD (set MAILFETCHD)"
	T=$(mktemp -d "${TMPDIR:-/tmp}/mfd-imaptest.XXXXXX") || tap_bail "mktemp failed"
	chmod 700 "$T"
	tap_cleanup_add '[ "${KEEP_DOVECOT:-0}" = 1 ] || rm -rf "$T"'
	: >"$T/all-output"
}

# mfd_account NAME PASSWORD: the account's directory and password file
# (the same password as its Dovecot user, added by the caller).
mfd_account()
{
	mkdir -p "$T/$1" || tap_bail "cannot create $T/$1"
	printf '%s\n' "$2" >"$T/$1/pass" && chmod 600 "$T/$1/pass" ||
	    tap_bail "cannot write $T/$1/pass"
}

# mfd_conf ACCOUNT [ACCOUNT-LINE...] [-- FOLDER-LINE...]: see the top.
mfd_conf()
{
	local acct=$1 line folders=0 f="$T/$1/mailfetchd.conf"

	shift
	{
		printf 'state_dir = "%s"\nlog_level = info\n' "$T/$acct/state"
		printf 'account "%s" {\n' "$acct"
		printf '  protocol = %s\n  host = "localhost"\n' \
		    "${MFD_PROTO:-imap}"
		if [ "${MFD_PROTO:-imap}" = pop3 ]; then
			printf '  port = %s\n' "${MFD_PORT:-$DC_POP3S_PORT}"
			folders=1
		else
			printf '  port = %s\n' "${MFD_PORT:-$DC_IMAPS_PORT}"
		fi
		printf '  tls = %s\n' "${MFD_TLS:-implicit}"
		printf '  ca_file = "%s"\n' "${MFD_CA:-$DC_CA}"
		printf '  user = "%s"\n' "$acct"
		printf '  password_file = "%s"\n' "${MFD_PASSFILE:-$T/$acct/pass}"
		printf '  maildir = "%s"\n' "$T/$acct/Maildir"
		printf '  timeout = 20s\n'
		for line in "$@"; do
			if [ "$line" = -- ]; then
				folders=1
				continue
			fi
			printf '  %s\n' "$line"
		done
		[ "$folders" = 1 ] || printf '  folder "INBOX" { }\n'
		printf '}\n'
	} >"$f" || tap_bail "cannot write $f"
}

# mfd_run ACCOUNT [ARGS...]: mailfetchd --once for the account's config;
# sets rc, out (stdout) and err (stderr).
mfd_run()
{
	local acct=$1

	shift
	"$MAILFETCHD" -c "$T/$acct/mailfetchd.conf" --once "$@" \
	    >"$T/out" 2>"$T/err"
	rc=$?
	out=$(cat "$T/out")
	err=$(cat "$T/err")
	cat "$T/out" "$T/err" >>"$T/all-output"
}

# mfd_run_ok ACCOUNT EXPECTED-STATUS WHAT: mfd_run plus a check of the
# exit status, with stderr as the diagnostic on failure.
mfd_run_ok()
{
	mfd_run "$1"
	if [ "$rc" = "$2" ]; then
		tap_ok "$3: exit status $2"
	else
		tap_fail "$3: exit status $2" "got $rc; stderr:
$err"
	fi
}

# Checksums of FILES..., one per line, sorted.
_mfd_sums()
{
	[ $# -eq 0 ] && return 0
	sha256sum -- "$@" | cut -d' ' -f1 | sort
}

# mfd_expect MAILDIR FOLDER FILE...: the local folder FOLDER of MAILDIR
# ("" for the root; a Maildir++ name like "Lists/dev" otherwise) holds
# exactly the messages FILE... (LF line ends): the same count, each
# byte-exact, none twice, no other file in new/ or cur/, tmp/ empty.
mfd_expect()
{
	local md=$1 folder=$2 dir got want what

	shift 2
	if [ -n "$folder" ]; then
		dir=$md/.${folder//\//.}
		what="folder \"$folder\""
	else
		dir=$md
		what="the Maildir root"
	fi
	if [ ! -d "$dir/new" ] || [ ! -d "$dir/cur" ] || [ ! -d "$dir/tmp" ]; then
		tap_fail "$what holds $# message(s)" "no Maildir at $dir"
		return
	fi
	got=$(find "$dir/new" "$dir/cur" -maxdepth 1 -type f -print0 |
	    xargs -0r sha256sum | cut -d' ' -f1 | sort)
	want=$(_mfd_sums "$@")
	if [ "$got" = "$want" ]; then
		tap_ok "$what holds exactly the $# expected message(s), byte for byte"
	else
		tap_fail "$what holds exactly the $# expected message(s), byte for byte" \
		    "$(printf 'in %s:\n%s\n' "$dir" "$(cd "$dir" && ls -l new cur 2>&1)")"
	fi
	if [ -z "$(ls -A "$dir/tmp")" ]; then
		tap_ok "$what: tmp/ is empty"
	else
		tap_fail "$what: tmp/ is empty" "$(ls -l "$dir/tmp")"
	fi
}

# mfd_count MAILDIR FOLDER SUBDIR: how many files in new/ or cur/.
mfd_count()
{
	local dir=$1

	[ -n "$2" ] && dir=$1/.${2//\//.}
	find "$dir/$3" -maxdepth 1 -type f 2>/dev/null | wc -l
}

# mfd_where MAILDIR FILE: where the delivered copy of FILE is, "new/" or
# "cur/:2,FLAGS" (nothing when it is in neither).
mfd_where()
{
	local f

	for f in "$1"/new/* "$1"/cur/*; do
		cmp -s "$f" "$2" || continue
		case $f in
		*/new/*) echo "new/" ;;
		*) echo "cur/:${f##*:}" ;;
		esac
	done
}

# mfd_local_folders MAILDIR: its Maildir++ folders (".A.B"), one per line,
# sorted.
mfd_local_folders()
{
	(cd "$1" && find . -maxdepth 1 -name '.?*' -type d -printf '%f\n' | LC_ALL=C sort)
}

# mfd_no_secret SECRET...: no output of any mailfetchd run holds a secret.
mfd_no_secret()
{
	local s found=""

	for s in "$@"; do
		grep -qF -- "$s" "$T/all-output" && found="$found $s"
	done
	if [ -z "$found" ]; then
		tap_ok "no password appears in any output ($(wc -l <"$T/all-output") lines checked)"
	else
		tap_fail "no password appears in any output" "found:$found"
	fi
}

# mfd_server_flags USER PASSWORD FOLDER: one line "UID FLAGS..." per
# message in UID order, from a separate IMAP session (EXAMINE: the query
# changes nothing); \Recent (a session artefact) left out.
mfd_server_flags()
{
	dovecot_imap_cmd "$1" "$2" "EXAMINE \"$3\"" 'UID FETCH 1:* (FLAGS)' |
	    sed -nE 's/^\* [0-9]+ FETCH \((.*)\)$/\1/p' |
	    sed -E 's/^FLAGS (\([^)]*\)) UID ([0-9]+)$/UID \2 FLAGS \1/' |
	    sed -E 's/^UID ([0-9]+) FLAGS \(([^)]*)\)$/\1 \2/; s/ ?\\Recent//' |
	    sort -n
}

# mfd_server_count USER PASSWORD FOLDER: messages in FOLDER on the server.
mfd_server_count()
{
	dovecot_imap_cmd "$1" "$2" "STATUS \"$3\" (MESSAGES)" |
	    sed -n 's/^\* STATUS .*(MESSAGES \([0-9]*\)).*/\1/p'
}

# mfd_fetched ACCOUNT: the account's first "fetched N message(s), B bytes"
# in the output of every run so far (the recovery run's, after mfd_crash).
mfd_fetched()
{
	grep -oE "account=$1( folder=[^:]*)?: fetched [0-9]+ message\(s\), \
[0-9]+ bytes" "$T/all-output" | head -n 1
}

# mfd_crash PREFIX STATUS POINT[:N] [ACCOUNT-LINE...]: a fresh account
# (PREFIXn, mfd_conf with these lines; MFD_PROTO picks the protocol) with
# the six messages $T/m[1-6].eml, killed at the fault POINT
# (MAILFETCHD_FAULT), then run to the end, which exits STATUS (0: it
# finished the interrupted batch; 1: the killed run had recorded it
# already); every message exactly once, then a run with nothing new and
# nothing twice, and the intent journal empty. Sets ACCT.
mfd_crash()
{
	local prefix=$1 want=$2 point=$3 acct i what

	shift 3
	MFD_NCRASH=$((${MFD_NCRASH:-0} + 1))
	acct="$prefix$MFD_NCRASH"
	what="$point${*:+ ($*)}"
	dovecot_add_user "$acct" "pw-$acct-x7"
	mfd_account "$acct" "pw-$acct-x7"
	for i in 1 2 3 4 5 6; do
		dovecot_add_message "$acct" INBOX "$T/m$i.eml"
	done
	mfd_conf "$acct" "$@"
	MAILFETCHD_FAULT=$point mfd_run "$acct"
	tap_is "$rc" 137 "$what: killed at the point"
	mfd_run_ok "$acct" "$want" "$what: the next run completes"
	mfd_expect "$T/$acct/Maildir" "" "$T"/m[1-6].eml
	mfd_run_ok "$acct" 1 "$what: then nothing new, nothing twice"
	mfd_expect "$T/$acct/Maildir" "" "$T"/m[1-6].eml
	tap_is "$(grep -c '^inflight ' "$T/$acct/state/$acct.state")" 0 \
	    "$what: the journal is empty"
	ACCT=$acct
}

# _mfd_crash_setup ACCOUNT POINT [ACCOUNT-LINE...]: a fresh account
# (mfd_conf with these lines; MFD_PROTO picks the protocol) with the six
# messages $T/m[1-6].eml, run until it is killed at the fault POINT.
_mfd_crash_setup()
{
	local acct=$1 point=$2 i

	shift 2
	dovecot_add_user "$acct" "pw-$acct-x7"
	mfd_account "$acct" "pw-$acct-x7"
	for i in 1 2 3 4 5 6; do
		dovecot_add_message "$acct" INBOX "$T/m$i.eml"
	done
	mfd_conf "$acct" "$@"
	MAILFETCHD_FAULT=$point mfd_run "$acct"
	tap_is "$rc" 137 "$acct: killed at $point"
}

# _mfd_journal_empty ACCOUNT: no intent journal entry is left.
_mfd_journal_empty()
{
	tap_is "$(grep -c '^inflight ' "$T/$1/state/$1.state")" 0 \
	    "$1: the journal is empty"
}

# mfd_crash_server_gone ACCOUNT POINT: killed at POINT (the batch durable
# in tmp/ and journaled), then the server's copies are expunged (another
# client, a filter, a retention rule): the journaled files are all there
# is, and the next run must still move them into new/ (they are no dead
# run's leftovers for maildir_tmp_remove).
mfd_crash_server_gone()
{
	_mfd_crash_setup "$1" "$2"
	dovecot_imap_cmd "$1" "pw-$1-x7" 'SELECT INBOX' \
	    'STORE 1:* +FLAGS (\Deleted)' EXPUNGE >/dev/null
	tap_is "$(mfd_server_count "$1" "pw-$1-x7" INBOX)" 0 \
	    "$1: the server has no copy left"
	mfd_run_ok "$1" 0 "$1: the next run completes"
	mfd_expect "$T/$1/Maildir" "" "$T"/m[1-6].eml
	_mfd_journal_empty "$1"
}

# mfd_crash_reader ACCOUNT POINT TAG1 TAG2 [ACCOUNT-LINE...]: killed at
# POINT (after the renames, before the state records them); then a mail
# reader deletes the message holding TAG1 and reads the one holding TAG2
# (new/ -> cur/ with ":2,S"). The next run finds the read one in cur/ and
# not the deleted one: nothing comes back, nothing is doubled, the read
# one keeps its name. The recovering run's stderr is left in
# MFD_RECOVERY_ERR.
mfd_crash_reader()
{
	local md=$T/$1/Maildir f1 f2

	_mfd_crash_setup "$1" "$2" "${@:5}"
	f1=$(grep -l -- "$3" "$md"/new/* | head -1)
	f2=$(grep -l -- "$4" "$md"/new/* | head -1)
	[ -n "$f1" ] && [ -n "$f2" ] && rm -f "$f1" &&
	    mv "$f2" "$md/cur/${f2##*/}:2,S"
	ok $? "$1: one message deleted, one read (moved to cur/ with :2,S)"
	mfd_run_ok "$1" 0 "$1: the next run completes"
	MFD_RECOVERY_ERR=$err
	mfd_expect "$md" "" "$T"/m[2-6].eml
	tap_is "$(ls "$md/cur")" "${f2##*/}:2,S" \
	    "$1: the read message keeps its name and flags"
	mfd_run_ok "$1" 1 "$1: then nothing new"
	mfd_expect "$md" "" "$T"/m[2-6].eml
	_mfd_journal_empty "$1"
}

# mfd_crash_reader_keep_no ACCOUNT POINT TAG1 TAG2: mfd_crash_reader with
# keep = no. The read message, found in cur/, is deleted on the server;
# the deleted one, found nowhere in the Maildir, is counted as delivered
# (not fetched again) but left on the server, with a warning: its absence
# from the Maildir is no proof that the killed run delivered it.
mfd_crash_reader_keep_no()
{
	mfd_crash_reader "$1" "$2" "$3" "$4" 'keep = no'
	tap_like "$MFD_RECOVERY_ERR" \
	    '1 message\(s\) not found in the Maildir after an interrupted run.*left on the server' \
	    "$1: one warning names the message found nowhere"
	tap_is "$(mfd_server_count "$1" "pw-$1-x7" INBOX)" 1 \
	    "$1: one message left on the server"
	dovecot_imap_cmd "$1" "pw-$1-x7" 'EXAMINE INBOX' \
	    'FETCH 1:* (BODY.PEEK[])' | grep -q -- "$3"
	ok $? "$1: the one left on the server is the one the reader deleted"
}

# mfd_crash_tmp_gone ACCOUNT POINT: keep = no, killed at POINT (the batch
# durable in tmp/ and journaled); then the journaled tmp/ files are
# removed (by another program, or by hand). The next run must not take
# their absence for a move by the killed run: nothing is deleted on the
# server, a warning names the count, and none is fetched again.
mfd_crash_tmp_gone()
{
	local md=$T/$1/Maildir

	_mfd_crash_setup "$1" "$2" 'keep = no'
	[ "$(find "$md/tmp" -type f | wc -l)" = 6 ] && rm -f "$md"/tmp/*
	ok $? "$1: the six journaled tmp/ files removed"
	mfd_run_ok "$1" 1 "$1: the next run completes"
	tap_like "$err" \
	    '6 message\(s\) not found in the Maildir after an interrupted run.*left on the server' \
	    "$1: one warning names the six messages found nowhere"
	tap_is "$(mfd_server_count "$1" "pw-$1-x7" INBOX)" 6 \
	    "$1: the server keeps all six"
	mfd_run_ok "$1" 1 "$1: then nothing new (none fetched again)"
	mfd_expect "$md" ""
	tap_is "$(mfd_server_count "$1" "pw-$1-x7" INBOX)" 6 \
	    "$1: the server still keeps all six"
	_mfd_journal_empty "$1"
}

# mfd_relay TARGET-PORT CAPTURE-FILE [CUT-AFTER]: start tests/lib/relay.py
# in the background (stopped at exit); its port is left in RELAY_PORT.
# MFD_RELAY=throttle.py mfd_relay TARGET-PORT RATE: tests/lib/throttle.py.
mfd_relay()
{
	local i

	: >"$T/relay.port"
	RELAY_PORT=""
	"$(_dc_python)" "$MFD_LIBDIR/${MFD_RELAY:-relay.py}" "$@" \
	    >"$T/relay.port" &
	RELAY_PID=$!
	tap_cleanup_add "kill $RELAY_PID 2>/dev/null; wait $RELAY_PID 2>/dev/null"
	for ((i = 0; i < 250; i++)); do
		read -r RELAY_PORT <"$T/relay.port" 2>/dev/null && break
		sleep 0.02
	done
	[ -n "${RELAY_PORT:-}" ] || tap_bail "relay.py did not start"
}

# mfd_no_sanitizer: no run reported an ASan/UBSan error (in a sanitizer
# build a report may not change the exit status).
mfd_no_sanitizer()
{
	if grep -qE 'runtime error:|AddressSanitizer|LeakSanitizer' "$T/all-output"; then
		tap_fail "no sanitizer report in any output" \
		    "$(grep -E -m5 'runtime error:|Sanitizer' "$T/all-output")"
	else
		tap_ok "no sanitizer report in any output"
	fi
}
