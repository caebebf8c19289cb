#!/bin/bash
# cuts.sh: a relay (tests/lib/relay.py --fault) between mailfetchd and the
# harness Dovecot, over implicit TLS, IMAP and POP3. cut: the first
# connections are dropped at random byte offsets (inside the TLS
# handshake, mid-command, mid-literal, mid dot-stuffed line); the fetch
# completes within a bounded number of runs, every failed run says so
# with exit status 4, and the Maildir then holds every message exactly
# once, nothing partial. stall: forwarding stops; the run ends by its
# timeout (timeout = 3s) with exit 4 and says "timeout". drip: one byte
# per send; the fetch completes. TAP output.
#
# MFD_FAULT_SEED=N replays the offsets (printed as "# seed N").
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"

SEED=${MFD_FAULT_SEED:-$(( $(date +%s) % 100000 ))}
tap_diag "seed $SEED (replay: MFD_FAULT_SEED=$SEED)"
PY=$(_dc_python)
FL="$top_srcdir/tests/fault/faultlib.py"
NMSG=60			# about 0.7 MB with dot-stuffed lines
CUTS=8			# connections cut per protocol
ATTEMPTS=$((CUTS + 3))

mfd_init
dovecot_start
N=0
TOTAL_CUTS=0

# relay MODE TARGET-PORT FIRST MAX: a faulty relay; sets RELAY_PORT.
relay() {
	"$PY" "$top_srcdir/tests/lib/relay.py" "$2" "$T/capture" --fault "$1" \
	    --seed "$((SEED * 10 + N))" --first "$3" --max "$4" \
	    --events "$T/events.$N" >"$T/relay.port.$N" &
	RELAY_PID=$!
	tap_cleanup_add "kill $RELAY_PID 2>/dev/null"
	RELAY_PORT=""
	for ((i = 0; i < 250; i++)); do
		{ read -r RELAY_PORT <"$T/relay.port.$N"; } 2>/dev/null && break
		sleep 0.02
	done
	[ -n "$RELAY_PORT" ] || tap_bail "relay.py did not start"
}

# account PROTO NMSG ACCOUNT-LINES...: a fresh user with a corpus; sets
# ACCT, MD, and TARGET (the Dovecot port to relay to).
account() {
	local proto=$1 n=$2 uid gid md

	shift 2
	N=$((N + 1))
	ACCT="cut$N"
	dovecot_add_user "$ACCT" "pw-$ACCT"
	mfd_account "$ACCT" "pw-$ACCT"
	md=$(dovecot_folder_path "$ACCT" INBOX)
	"$PY" "$FL" corpus "$n" "cut$N" "$md" "$T/$ACCT.manifest" || tap_bail corpus
	uid=$(id -u "$DC_MAIL_USER") && gid=$(id -g "$DC_MAIL_USER")
	chown -R "$uid:$gid" "$md"
	MD="$T/$ACCT/Maildir"
	if [ "$proto" = pop3 ]; then
		TARGET=$DC_POP3S_PORT
	else
		TARGET=$DC_IMAPS_PORT
	fi
}

# conf PROTO ACCOUNT-LINES...: the account through the relay, timeout 3s.
conf() {
	local proto=$1

	shift
	if [ "$proto" = pop3 ]; then
		MFD_PROTO=pop3 MFD_PORT=$RELAY_PORT mfd_conf "$ACCT" \
		    'timeout = 3s' "$@"
	else
		MFD_PORT=$RELAY_PORT mfd_conf "$ACCT" 'timeout = 3s' "$@"
	fi
}

exact() {
	local sum

	sum=$("$PY" "$FL" compare "$T/$ACCT.manifest" "$MD" 2>&1)
	tap_like "$sum" "missing=0 duplicate=0 partial=0 tmp=0" \
	    "$1: every message exactly once ($sum)"
}

# cuts NAME PROTO MAX-OFFSET ACCOUNT-LINES...
cuts() {
	local name=$1 proto=$2 max=$3 runs=0 bad="" ncut

	shift 3
	account "$proto" "$NMSG"
	: >"$T/events.$N"
	relay cut "$TARGET" "$CUTS" "$max"
	conf "$proto" "$@"
	while [ "$runs" -lt "$ATTEMPTS" ]; do
		runs=$((runs + 1))
		mfd_run "$ACCT"
		case "$rc" in
		0|1) break ;;
		4) ;;
		*) bad="$bad run $runs: status $rc: $(tail -3 "$T/err")" ;;
		esac
	done
	ncut=$(wc -l <"$T/events.$N")
	TOTAL_CUTS=$((TOTAL_CUTS + ncut))
	tap_diag "$name: runs=$runs cuts=$ncut at $(cut -d' ' -f3 "$T/events.$N" | tr '\n' ' ')"
	tap_like "$rc" '^(0|1)$' "$name: the fetch completes within $ATTEMPTS runs"
	tap_is "$bad" "" "$name: every cut run ended with exit status 4"
	exact "$name"
	case "$*" in
	*'keep = no'*)
		tap_is "$(mfd_server_count "$ACCT" "pw-$ACCT" INBOX)" 0 \
		    "$name: the server is empty" ;;
	*mark_read*)
		tap_is "$(mfd_server_flags "$ACCT" "pw-$ACCT" INBOX | grep -c Seen)" \
		    "$NMSG" "$name: all \\Seen" ;;
	esac
}

# stall NAME PROTO: the first connection stalls.
stall() {
	local name=$1 proto=$2 t0 t1

	account "$proto" 20
	relay stall "$TARGET" 1 200000
	conf "$proto"
	t0=$(date +%s)
	mfd_run "$ACCT"
	t1=$(date +%s)
	tap_is "$rc" 4 "$name stalled: exit status 4"
	tap_like "$err" "[Tt]ime(d)? ?out" "$name stalled: the error says timeout"
	tap_like "$((t1 - t0))" '^([0-9]|1[0-9])$' \
	    "$name stalled: ended within 20 s ($((t1 - t0)) s)"
	mfd_run "$ACCT"
	tap_is "$rc" 0 "$name after the stall: the next run completes"
	exact "$name after the stall"
}

# drip NAME PROTO: every byte its own send.
drip() {
	local name=$1 proto=$2

	account "$proto" 5
	relay drip "$TARGET" 0 0
	conf "$proto"
	mfd_run "$ACCT"
	tap_is "$rc" 0 "$name dripped one byte at a time: exit status 0"
	exact "$name dripped"
}

cuts "IMAP cuts (mark_read)" imap 450000 'mark_read = yes'
cuts "POP3 cuts (keep = no)" pop3 450000 'keep = no'
# Offsets below 3000 bytes: inside the TLS handshake or the login.
cuts "IMAP cuts early" imap 3000
cuts "POP3 cuts early" pop3 3000
stall "IMAP" imap
stall "POP3" pop3
drip "IMAP" imap
drip "POP3" pop3
tap_diag "total cuts: $TOTAL_CUTS (seed $SEED)"
mfd_no_sanitizer
tap_done
