#!/bin/bash
# disk.sh: the Maildir on a small tmpfs made by the test (we run as root).
# Full mid-fetch: exit 8, an error naming the path, nothing partial in
# new/ or cur/, and no server-side action for what was not delivered
# (mark_read: only delivered messages \Seen; keep = no: only they are
# deleted); once space returns, the next run completes exactly once.
# Read-only Maildir: exit 8, a clear error, nothing on the server touched.
# A POP3 state directory too full for the UIDL scratch file: exit 8 before
# anything is fetched, then everything exactly once.
# IMAP and POP3. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"

[ "$(id -u)" = 0 ] || tap_bail "needs root (mount -t tmpfs)"
PY=$(_dc_python)
FL="$top_srcdir/tests/fault/faultlib.py"
NMSG=900		# about 10 MB: the first batch (500) fits in 7 MB, not more

mfd_init
dovecot_start
MNT_N=0

# tmpfs ACCOUNT SIZE: mount a tmpfs of SIZE as the account's Maildir
# (unmounted at exit).
tmpfs() {
	local m="$T/$1/Maildir"

	mkdir -p "$m" || tap_bail "mkdir $m"
	mount -t tmpfs -o "size=$2,mode=0700" "mfd-fault-disk" "$m" ||
	    tap_bail "mount -t tmpfs on $m failed"
	tap_cleanup_add "umount -l '$m' 2>/dev/null"
}

# account PROTO ACCOUNT-LINES...: a fresh user holding the corpus; sets
# ACCT and MD (the local Maildir).
account() {
	local proto=$1 uid gid md

	shift
	MNT_N=$((MNT_N + 1))
	ACCT="disk$MNT_N"
	dovecot_add_user "$ACCT" "pw-$ACCT"
	mfd_account "$ACCT" "pw-$ACCT"
	md=$(dovecot_folder_path "$ACCT" INBOX)
	"$PY" "$FL" corpus "$NMSG" "disk$MNT_N" "$md" "$T/$ACCT.manifest" ||
	    tap_bail "corpus"
	uid=$(id -u "$DC_MAIL_USER") && gid=$(id -g "$DC_MAIL_USER")
	chown -R "$uid:$gid" "$md"
	if [ "$proto" = pop3 ]; then
		MFD_PROTO=pop3 mfd_conf "$ACCT" "$@"
	else
		mfd_conf "$ACCT" "$@"
	fi
	MD="$T/$ACCT/Maildir"
}

delivered() {
	find "$MD/new" "$MD/cur" -maxdepth 1 -type f 2>/dev/null | wc -l
}

seen() {
	mfd_server_flags "$ACCT" "pw-$ACCT" INBOX | grep -c Seen
}

# full NAME PROTO ACCOUNT-LINES...: fill the disk, check, free, recover.
full() {
	local name=$1 proto=$2 sum n

	shift 2
	account "$proto" "$@"
	tmpfs "$ACCT" 7m
	mfd_run "$ACCT"
	tap_is "$rc" 8 "$name, disk full: exit status 8"
	tap_like "$err" "$MD.*(No space left|space)" \
	    "$name, disk full: the error names the Maildir and the cause"
	sum=$("$PY" "$FL" compare "$T/$ACCT.manifest" "$MD" 2>&1)
	tap_like "$sum" "duplicate=0 partial=0" \
	    "$name, disk full: nothing partial or doubled ($sum)"
	n=$(delivered)
	tap_diag "$name: $n of $NMSG delivered before the disk filled"
	case "$*" in
	*mark_read*)
		tap_is "$(seen)" "$n" \
		    "$name, disk full: \\Seen on the server exactly for the $n delivered"
		;;
	*'keep = no'*)
		# Deleting the delivered ones may wait for the next run
		# (POP3 owes its DELEs when the session fails): what matters
		# is that nothing undelivered is gone.
		left=$(mfd_server_count "$ACCT" "pw-$ACCT" INBOX)
		tap_diag "$name: $left left on the server"
		if [ "$left" -ge $((NMSG - n)) ]; then
			tap_ok "$name, disk full: nothing undelivered deleted on the server"
		else
			tap_fail "$name, disk full: nothing undelivered deleted on the server" \
			    "$left left, $n delivered of $NMSG"
		fi
		;;
	esac
	mount -o remount,size=64m "$MD" || tap_bail "remount $MD"
	mfd_run "$ACCT"
	tap_is "$rc" 0 "$name, space back: the next run delivers the rest"
	sum=$("$PY" "$FL" compare "$T/$ACCT.manifest" "$MD" 2>&1)
	tap_like "$sum" "missing=0 duplicate=0 partial=0 tmp=0" \
	    "$name, space back: every message exactly once ($sum)"
	case "$*" in
	*mark_read*)
		tap_is "$(seen)" "$NMSG" "$name, space back: all \\Seen" ;;
	*'keep = no'*)
		tap_is "$(mfd_server_count "$ACCT" "pw-$ACCT" INBOX)" 0 \
		    "$name, space back: the server is empty" ;;
	esac
}

# readonly NAME PROTO ACCOUNT-LINES...: a Maildir that cannot be written.
readonly_md() {
	local name=$1 proto=$2

	shift 2
	account "$proto" "$@"
	tmpfs "$ACCT" 8m
	mkdir -p "$MD/new" "$MD/cur" "$MD/tmp" && chmod 700 "$MD"/* ||
	    tap_bail "mkdir in $MD"
	mount -o remount,ro "$MD" || tap_bail "remount,ro $MD"
	mfd_run "$ACCT"
	tap_is "$rc" 8 "$name, read-only Maildir: exit status 8"
	tap_like "$err" "$MD.*(Read-only|read-only)" \
	    "$name, read-only Maildir: the error names the path and the cause"
	tap_is "$(mfd_server_count "$ACCT" "pw-$ACCT" INBOX)" "$NMSG" \
	    "$name, read-only Maildir: nothing deleted on the server"
	# (Dovecot's POP3 itself flags what was RETRieved: IMAP only.)
	[ "$proto" = imap ] && tap_is "$(seen)" 0 \
	    "$name, read-only Maildir: nothing \\Seen on the server"
}

# full_state NAME ACCOUNT-LINES...: a POP3 account whose state directory
# cannot hold the UIDL scratch file (72 bytes a UIDL, 900 UIDLs, 48 KiB of
# tmpfs): refused during the listing, before anything is fetched; once
# there is room, everything exactly once.
full_state() {
	local name=$1 sum

	shift
	account pop3 "$@"
	mkdir -p "$T/$ACCT/state" && mount -t tmpfs -o "size=48k,mode=0700" \
	    "mfd-fault-disk" "$T/$ACCT/state" || tap_bail "mount state tmpfs"
	tap_cleanup_add "umount -l '$T/$ACCT/state' 2>/dev/null"
	mfd_run "$ACCT"
	tap_is "$rc" 8 "$name, state directory full: exit status 8"
	tap_like "$err" "scratch file in $T/$ACCT/state: No space left" \
	    "$name, state directory full: the error names the directory and the cause"
	tap_is "$(delivered)" 0 "$name, state directory full: nothing fetched"
	tap_is "$(mfd_server_count "$ACCT" "pw-$ACCT" INBOX)" "$NMSG" \
	    "$name, state directory full: nothing deleted on the server"
	mount -o remount,size=4m "$T/$ACCT/state" ||
	    tap_bail "remount $T/$ACCT/state"
	mfd_run "$ACCT"
	tap_is "$rc" 0 "$name, room in the state directory: the next run fetches"
	sum=$("$PY" "$FL" compare "$T/$ACCT.manifest" "$MD" 2>&1)
	tap_like "$sum" "missing=0 duplicate=0 partial=0 tmp=0" \
	    "$name, room in the state directory: every message exactly once ($sum)"
	tap_is "$(mfd_server_count "$ACCT" "pw-$ACCT" INBOX)" 0 \
	    "$name, room in the state directory: the server is empty"
}

full "IMAP mark_read" imap 'mark_read = yes'
full "IMAP keep = no" imap 'keep = no'
full "POP3 keep = no" pop3 'keep = no'
readonly_md "IMAP" imap 'mark_read = yes' 'keep = no'
readonly_md "POP3" pop3 'keep = no'
full_state "POP3 keep = no" 'keep = no'
mfd_no_sanitizer
tap_done
