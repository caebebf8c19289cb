#!/bin/bash
# killloop.sh: mailfetchd --once killed with SIGKILL at random moments
# while it fetches a corpus of 2,000 messages (2-20 KB) from the harness
# Dovecot, restarted, killed again, until a run ends on its own; then the
# Maildir is compared with the corpus by Message-ID and body hash: zero
# missing, zero duplicates, zero partial files, tmp/ empty, and the server
# side matches (mark_read: every message \Seen; keep = no: server empty).
# Variants: IMAP keep, IMAP mark_read, IMAP keep = no, POP3 keep,
# POP3 keep = no. TAP output.
#
# Knobs: MFD_FAULT_SEED=N replays a schedule (printed as "# seed N");
# MFD_FAULT_LONG=1 aims at 105 kills per variant (at least 500 in all)
# instead of 12 (at least 50 in all; a variant whose fetch completes
# early stops short of its share, and more rounds make up the total);
# MFD_FAULT_MSGS=N changes the corpus size (default 2000);
# MFD_FAULT_ONLY=TEXT runs only the variants whose name holds TEXT.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"

SEED=${MFD_FAULT_SEED:-$(( $(date +%s) % 100000 ))}
NMSG=${MFD_FAULT_MSGS:-2000}
if [ "${MFD_FAULT_LONG:-0}" = 1 ]; then
	KILLS=105
	MIN_KILLS=500
	MAX_ROUNDS=60
else
	KILLS=12
	MIN_KILLS=50
	MAX_ROUNDS=8
fi
tap_diag "seed $SEED (replay: MFD_FAULT_SEED=$SEED${MFD_FAULT_LONG:+ MFD_FAULT_LONG=$MFD_FAULT_LONG})"
PY=$(_dc_python)
FL="$top_srcdir/tests/fault/faultlib.py"

mfd_init
dovecot_start
TOTAL_RUNS=0
TOTAL_KILLS=0

# variant NAME PROTO ACCOUNT-LINES...: a fresh user holding the corpus,
# fetched under the kill loop, then checked.
variant() {
	local name=$1 proto=$2 acct res sum n uid gid md v
	shift 2
	n=${n_var:-0}; n=$((n + 1)); n_var=$n
	acct="kl$n"
	ACCT=""
	case "$name" in
	*"${MFD_FAULT_ONLY:-}"*) ;;
	*) return 1 ;;
	esac
	dovecot_add_user "$acct" "pw-$acct"
	mfd_account "$acct" "pw-$acct"
	md=$(dovecot_folder_path "$acct" INBOX)
	"$PY" "$FL" corpus "$NMSG" "$SEED" "$md" "$T/$acct.manifest" ||
	    tap_bail "corpus generation failed"
	uid=$(id -u "$DC_MAIL_USER") && gid=$(id -g "$DC_MAIL_USER")
	chown -R "$uid:$gid" "$md"
	if [ "$proto" = pop3 ]; then
		MFD_PROTO=pop3 mfd_conf "$acct" "$@"
	else
		mfd_conf "$acct" "$@"
	fi
	res=$("$PY" "$FL" killloop "$((SEED * 10 + n))" "$KILLS" "$NMSG" \
	    "$T/$acct/Maildir" "$T/$acct.log" -- \
	    "$MAILFETCHD" -c "$T/$acct/mailfetchd.conf" --once)
	v=$?
	tap_diag "$name: $res"
	set -- $res
	TOTAL_RUNS=$((TOTAL_RUNS + ${1#runs=}))
	TOTAL_KILLS=$((TOTAL_KILLS + ${2#kills=}))
	cat "$T/$acct.log" >>"$T/all-output"
	ok "$v" "$name: every unkilled run ended with status 0 or 1" \
	    "$res; log: $(grep -B3 'ended with status' "$T/$acct.log" | tail -20)"
	sum=$("$PY" "$FL" compare "$T/$acct.manifest" "$T/$acct/Maildir" 2>&1)
	tap_diag "$name: $sum"
	tap_like "$sum" "^delivered=$NMSG missing=0 duplicate=0 partial=0 tmp=0" \
	    "$name: all $NMSG messages exactly once, nothing partial, tmp/ empty"
	mfd_run "$acct"
	tap_is "$rc" 1 "$name: one more run finds nothing new" \
	    "$(tail -30 "$T/$acct.log"; echo "--- that run:"; printf '%s\n' "$err")"
	sum=$("$PY" "$FL" compare "$T/$acct.manifest" "$T/$acct/Maildir" 2>&1)
	tap_like "$sum" "^delivered=$NMSG missing=0 duplicate=0 partial=0 tmp=0" \
	    "$name: after that run still all $NMSG messages exactly once"
	ACCT=$acct
	return 0
}

if variant "IMAP keep" imap; then
	tap_is "$(mfd_server_count "$ACCT" "pw-$ACCT" INBOX)" "$NMSG" \
	    "IMAP keep: the server still holds $NMSG messages"
	tap_is "$(mfd_server_flags "$ACCT" "pw-$ACCT" INBOX | grep -c Seen)" 0 \
	    "IMAP keep: nothing marked \\Seen"
fi
if variant "IMAP mark_read" imap 'mark_read = yes'; then
	tap_is "$(mfd_server_flags "$ACCT" "pw-$ACCT" INBOX | grep -c Seen)" \
	    "$NMSG" "IMAP mark_read: all $NMSG messages \\Seen on the server"
fi
if variant "IMAP keep = no" imap 'keep = no'; then
	tap_is "$(mfd_server_count "$ACCT" "pw-$ACCT" INBOX)" 0 \
	    "IMAP keep = no: the server is empty"
fi
if variant "POP3 keep" pop3; then
	tap_is "$(mfd_server_count "$ACCT" "pw-$ACCT" INBOX)" "$NMSG" \
	    "POP3 keep: the server still holds $NMSG messages"
fi
if variant "POP3 keep = no" pop3 'keep = no'; then
	tap_is "$(mfd_server_count "$ACCT" "pw-$ACCT" INBOX)" 0 \
	    "POP3 keep = no: the server is empty"
fi

# A variant whose fetch outran its kills (a fast or a loaded machine)
# leaves the total short: more full rounds, alternately IMAP and POP3,
# until the quota is met (bounded).
extra=0
while [ -z "${MFD_FAULT_ONLY:-}" ] && [ "$TOTAL_KILLS" -lt "$MIN_KILLS" ] &&
    [ "$extra" -lt "$MAX_ROUNDS" ]; do
	extra=$((extra + 1))
	if [ $((extra % 2)) = 1 ]; then
		variant "IMAP mark_read, round $extra" imap 'mark_read = yes' &&
		tap_is "$(mfd_server_flags "$ACCT" "pw-$ACCT" INBOX | grep -c Seen)" \
		    "$NMSG" "IMAP mark_read, round $extra: all \\Seen on the server"
	else
		variant "POP3 keep = no, round $extra" pop3 'keep = no' &&
		tap_is "$(mfd_server_count "$ACCT" "pw-$ACCT" INBOX)" 0 \
		    "POP3 keep = no, round $extra: the server is empty"
	fi
done

tap_diag "total: runs=$TOTAL_RUNS kills=$TOTAL_KILLS (seed $SEED)"
if [ -n "${MFD_FAULT_ONLY:-}" ]; then
	:
elif [ "$TOTAL_KILLS" -ge "$MIN_KILLS" ]; then
	tap_ok "at least $MIN_KILLS kills in all ($TOTAL_KILLS)"
else
	tap_fail "at least $MIN_KILLS kills in all" "only $TOTAL_KILLS"
fi
mfd_no_sanitizer
tap_done
