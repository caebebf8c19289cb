#!/bin/bash
# killloop.sh: mailfetchd --once killed with SIGKILL at random moments
# while it fetches a corpus of 2,000 messages (2-20 KB) from the harness
# Dovecot, restarted, killed again, until a run ends on its own; then the
# Maildir is compared with the corpus by Message-ID and body hash: zero
# missing, zero duplicates, zero partial files, tmp/ empty, and the server
# side matches (mark_read: every message \Seen; keep = no: server empty).
# Variants: IMAP keep, IMAP mark_read, IMAP keep = no, POP3 keep,
# POP3 keep = no.
# And through a delivery agent (mailfetchd.conf(5) DELIVERY AGENTS),
# each keep = no: the server is empty at the end; the agent's Maildir
# holds every message (after the header lines the agent put first),
# nothing partial, none missing; a duplicate is allowed only in the
# documented window, between the agent's acceptance and the state's
# save, one per kill at most (one folder per account): duplicates <=
# kills; one more run hands nothing over; the spool Maildir holds no
# file.
#  - MDA IMAP, MDA POP3: deliver = mda, a script agent (stdin staged,
#    then renamed into its Maildir).
#  - LMTP IMAP, LMTP POP3: deliver = lmtp to Dovecot's LMTP (a Unix
#    socket), into another user's INBOX.
#  - MDA guard POP3: mda_id_header = yes and an agent that links each
#    message into its Maildir under its X-Mailfetchd-Id, dropping one
#    whose id is there already (as the manual suggests): 0 duplicates,
#    0 missing (the id is stable across hand-overs and distinct between
#    messages); the drops counted, <= kills.
#  - LMTP Sieve guard IMAP: mda_id_header = yes and the recipient's
#    Sieve script of the manual (duplicate :header "X-Mailfetchd-Id"):
#    0 duplicates; Sieve's discards counted, <= kills.
# Their counts (runs, kills, duplicates, drops) are TAP diagnostics
# ("agents total: ..."), kept apart from the Maildir variants' quota.
# TAP output.
#
# Knobs: MFD_FAULT_SEED=N replays a schedule (printed as "# seed N");
# MFD_FAULT_LONG=1 aims at 105 kills per variant (at least 500 in all)
# instead of 12 (at least 50 in all; a variant whose fetch completes
# early stops short of its share, and more rounds make up the total);
# MFD_FAULT_MSGS=N changes the corpus size (default 2000; the agent
# variants' default is 40 messages and 6 kills each, the full corpus and
# 105 kills with MFD_FAULT_LONG=1);
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
# The agent variants hand each message to a process or an LMTP
# transaction of its own (and polls its exit every 50 ms): a smaller
# corpus and fewer kills keep them to seconds by default.
if [ "${MFD_FAULT_LONG:-0}" = 1 ]; then
	AGENT_NMSG=$NMSG
	AGENT_QUOTA=$KILLS
else
	AGENT_NMSG=${MFD_FAULT_MSGS:-40}
	AGENT_QUOTA=6
fi
PY=$(_dc_python)
FL="$top_srcdir/tests/fault/faultlib.py"

# Dovecot's LMTP (dovecot-lmtpd) with Sieve (dovecot-sieve), MFD_PKGS;
# missing, the test fails.
[ -x /usr/lib/dovecot/lmtp ] ||
    tap_bail "dovecot-lmtpd is not installed (tests/lib/deps.sh MFD_PKGS)"
[ -f /usr/lib/dovecot/modules/lib90_sieve_plugin.so ] ||
    tap_bail "dovecot-sieve is not installed (tests/lib/deps.sh MFD_PKGS)"
DC_EXTRA_CONF=$(dovecot_lmtp_conf lmtp-kill)
mfd_init
dovecot_start
LMTP=$DC_DIR/run/lmtp-kill
TOTAL_RUNS=0
TOTAL_KILLS=0
AGENT_RUNS=0
AGENT_KILLS=0
AGENT_DUPS=0
AGENT_DROPS=0

# The script agent: MODE OUT STAGE [DROPS]; the message on stdin is
# staged in STAGE (outside the Maildir OUT: a copy killed half-written
# stays there), then plain: renamed into OUT/new under a name of its
# own; guard: linked into OUT/new under its X-Mailfetchd-Id, an atomic
# test and delivery (a link to an id already there fails: that copy is
# dropped, its id appended to DROPS).
AGENT=$T/agent.sh
cat >"$AGENT" <<'EOF' || tap_bail "cannot write $AGENT"
#!/bin/sh
f=$3/$$
cat >"$f" || exit 75
[ "$1" = plain ] && exec mv "$f" "$2/new/$$.$(date +%s%N)"
IFS= read -r line <"$f"
case $line in
"X-Mailfetchd-Id: <"*"@mailfetchd>") ;;
*) echo "guard: no X-Mailfetchd-Id first" >&2; exit 1 ;;
esac
id=${line#X-Mailfetchd-Id: <}
id=${id%@mailfetchd>}
if ! ln "$f" "$2/new/$id" 2>/dev/null; then
	[ -f "$2/new/$id" ] || exit 75
	echo "$id" >>"$4"
fi
rm -f "$f"
EOF
chmod 755 "$AGENT" || tap_bail "cannot chmod $AGENT"

# agent_setup ACCT: for the variant's DELIVER (mda, guard, lmtp, sieve),
# the agent's Maildir in OUT and its account lines in ALINES.
agent_setup() {
	local acct=$1 rcpt=${1}rcpt
	case $DELIVER in
	mda|guard)
		OUT=$T/$acct/out
		mkdir -p "$OUT/new" "$OUT/cur" "$OUT/tmp" "$T/$acct/stage" ||
		    tap_bail "cannot create $OUT"
		ALINES=("deliver = mda" "mda_command = \"$AGENT plain $OUT $T/$acct/stage\"")
		[ "$DELIVER" = guard ] &&
		    ALINES=("deliver = mda" "mda_id_header = yes"
		    "mda_command = \"$AGENT guard $OUT $T/$acct/stage $T/$acct/drops\"")
		;;
	lmtp|sieve)
		dovecot_add_user "$rcpt" "pw-$rcpt"
		OUT=$(dovecot_folder_path "$rcpt" INBOX)
		ALINES=("deliver = lmtp" "lmtp = \"unix:$LMTP\""
		    "lmtp_recipient = \"$rcpt\"")
		[ "$DELIVER" = sieve ] || return 0
		ALINES+=("mda_id_header = yes")
		printf '%s\n' 'require ["duplicate"];' \
		    'if duplicate :header "X-Mailfetchd-Id" { discard; stop; }' \
		    >"$(_dc_home "$rcpt")/.dovecot.sieve" &&
		    chown -R "$DC_MAIL_USER" "$(_dc_home "$rcpt")" ||
		    tap_bail "cannot write $rcpt's Sieve script"
		;;
	*) tap_bail "unknown DELIVER=$DELIVER" ;;
	esac
}

# agent_drops ACCT: how many copies the variant's guard dropped.
agent_drops() {
	case $DELIVER in
	guard) cat "$T/$1/drops" 2>/dev/null | wc -l ;;
	sieve) grep -c "lmtp(${1}rcpt).*discard action" "$DC_LOG" ;;
	*) echo 0 ;;
	esac
}

# agent_check NAME ACCT RES SUM: the checks of an agent variant (see the
# top) after the kill loop's result RES and the compare's SUM.
agent_check() {
	local name=$1 acct=$2 sum=$4 kills dup drops
	set -- $3
	kills=${2#kills=}
	AGENT_RUNS=$((AGENT_RUNS + ${1#runs=}))
	AGENT_KILLS=$((AGENT_KILLS + kills))
	tap_like "$sum" "^delivered=[0-9]+ missing=0 duplicate=[0-9]+ partial=0 tmp=0" \
	    "$name: every one of the $NMSG messages delivered, nothing partial, tmp/ empty"
	dup=$(sed -E 's/.*duplicate=([0-9]+).*/\1/' <<<"$sum")
	drops=$(agent_drops "$acct")
	AGENT_DUPS=$((AGENT_DUPS + dup))
	AGENT_DROPS=$((AGENT_DROPS + drops))
	tap_diag "$name: runs=${1#runs=} kills=$kills duplicates=$dup dropped by the guard=$drops"
	case $DELIVER in
	guard|sieve)
		tap_is "$dup" 0 "$name: no duplicate delivered (the guard on X-Mailfetchd-Id)"
		ok "$((drops > kills))" \
		    "$name: the guard dropped at most one copy per kill ($drops for $kills kills)"
		;;
	*)
		ok "$((dup > kills))" \
		    "$name: at most one duplicate per kill ($dup for $kills kills)"
		;;
	esac
}

# variant NAME PROTO ACCOUNT-LINES...: a fresh user holding the corpus,
# fetched under the kill loop, then checked. DELIVER=mda|guard|lmtp|sieve
# makes it an agent variant (see the top).
variant() {
	local name=$1 proto=$2 acct res sum n uid gid md v OUT ALINES=()
	local NMSG=$NMSG KILLS=$KILLS cmp=
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
	OUT=$T/$acct/Maildir
	if [ -n "${DELIVER:-}" ]; then
		NMSG=$AGENT_NMSG
		KILLS=$AGENT_QUOTA
		cmp=--agent
		agent_setup "$acct"
	fi
	md=$(dovecot_folder_path "$acct" INBOX)
	"$PY" "$FL" corpus "$NMSG" "$SEED" "$md" "$T/$acct.manifest" ||
	    tap_bail "corpus generation failed"
	uid=$(id -u "$DC_MAIL_USER") && gid=$(id -g "$DC_MAIL_USER")
	chown -R "$uid:$gid" "$md"
	if [ "$proto" = pop3 ]; then
		MFD_PROTO=pop3 mfd_conf "$acct" "${ALINES[@]}" "$@"
	else
		mfd_conf "$acct" "${ALINES[@]}" "$@"
	fi
	res=$("$PY" "$FL" killloop "$((SEED * 10 + n))" "$KILLS" "$NMSG" \
	    "$OUT" "$T/$acct.log" -- \
	    "$MAILFETCHD" -c "$T/$acct/mailfetchd.conf" --once)
	v=$?
	tap_diag "$name: $res"
	cat "$T/$acct.log" >>"$T/all-output"
	ok "$v" "$name: every unkilled run ended with status 0 or 1" \
	    "$res; log: $(grep -B3 'ended with status' "$T/$acct.log" | tail -20)"
	sum=$("$PY" "$FL" compare "$T/$acct.manifest" "$OUT" $cmp 2>&1)
	tap_diag "$name: $sum"
	if [ -n "${DELIVER:-}" ]; then
		agent_check "$name" "$acct" "$res" "$sum"
	else
		set -- $res
		TOTAL_RUNS=$((TOTAL_RUNS + ${1#runs=}))
		TOTAL_KILLS=$((TOTAL_KILLS + ${2#kills=}))
		tap_like "$sum" "^delivered=$NMSG missing=0 duplicate=0 partial=0 tmp=0" \
		    "$name: all $NMSG messages exactly once, nothing partial, tmp/ empty"
	fi
	mfd_run "$acct"
	tap_is "$rc" 1 "$name: one more run finds nothing new" \
	    "$(tail -30 "$T/$acct.log"; echo "--- that run:"; printf '%s\n' "$err")"
	tap_is "$("$PY" "$FL" compare "$T/$acct.manifest" "$OUT" $cmp 2>&1)" "$sum" \
	    "$name: after that run the same messages, none handed over again"
	[ -n "${DELIVER:-}" ] &&
	    tap_is "$(find "$T/$acct/Maildir" -type f | wc -l)" 0 \
	    "$name: the spool Maildir holds no file"
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

# Through the delivery agents, keep = no (see the top).
for v in "MDA IMAP:mda:imap" "MDA POP3:mda:pop3" "LMTP IMAP:lmtp:imap" \
    "LMTP POP3:lmtp:pop3" "MDA guard POP3:guard:pop3" \
    "LMTP Sieve guard IMAP:sieve:imap"; do
	IFS=: read -r vname vdeliver vproto <<<"$v"
	DELIVER=$vdeliver variant "$vname keep = no" "$vproto" 'keep = no' &&
	tap_is "$(mfd_server_count "$ACCT" "pw-$ACCT" INBOX)" 0 \
	    "$vname keep = no: the server is empty"
done

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
tap_diag "agents total: runs=$AGENT_RUNS kills=$AGENT_KILLS duplicates=$AGENT_DUPS dropped by the guards=$AGENT_DROPS (seed $SEED)"
if [ -n "${MFD_FAULT_ONLY:-}" ]; then
	:
elif [ "$TOTAL_KILLS" -ge "$MIN_KILLS" ]; then
	tap_ok "at least $MIN_KILLS kills in all ($TOTAL_KILLS)"
else
	tap_fail "at least $MIN_KILLS kills in all" "only $TOTAL_KILLS"
fi
mfd_no_sanitizer
tap_done
