#!/bin/bash
# lmtp.sh: delivery through an LMTP server: mailfetchd (deliver = lmtp)
# against fetchmail (lmtp, smtphost) and getmail6 (MDA_lmtp), on one
# generated corpus, in one run.
#
#	bash bench/lmtp.sh		# as root; see bench/README.md
#	N=2000 bash bench/lmtp.sh	# a quick run
#
# Reuses bench/run.sh's pieces (sourced with BENCH_LIB=1): the package
# install, the mailfetchd build, the benchmark user, the corpus
# (bench/make-corpus.py) loaded and warmed up in a throwaway Dovecot
# (tests/lib/dovecot.sh), the server restored to its snapshot before each
# run, GNU time, bench/verify.py. Dovecot also runs its LMTP server
# (dovecot-lmtpd) on 127.0.0.1, TCP; every peer fetches the INBOX over
# IMAPS (keep: the server is only read) and hands each message to that
# LMTP server for a recipient of its own, a fresh Dovecot user per run,
# whose INBOX verify.py --trace then checks (the LMTP server's
# Return-Path and Delivered-To, and a peer's Received lines, aside). Runs
# go round-robin (run 1 of every peer, then run 2, ...).
#
# What is timed is the peer's process (GNU time: wall, its user and sys
# time, its peak RSS); the LMTP server's work (Dovecot's lmtp processes
# writing the recipient's Maildir) is in the wall time only.
#
# Knobs (environment):
#   N=10000		messages in the corpus
#   RUNS=1		runs per peer; the table shows medians
#   PEERS="mailfetchd fetchmail getmail"
#   SEED=42		corpus seed
#   MAILFETCHD=path	use this binary instead of building one
#   BENCH_DIR=dir	scratch space (default a fresh /tmp/mfd-bench.XXXXXX)
#   KEEP_DOVECOT=1	keep Dovecot's instance directory afterwards
#   TIMEOUT=1800	seconds one fetch may take
#
# Output: a Markdown table on stdout; the raw per-run figures in
# $BENCH_DIR/lmtp.tsv and every peer's configuration and log beside it.
set -u
BENCH=$(cd "$(dirname "$0")" && pwd)
# Ours, before run.sh sets its own defaults.
LMTP_PEERS=${PEERS:-mailfetchd fetchmail getmail}
LMTP_RUNS=${RUNS:-1}
BENCH_LIB=1 . "$BENCH/run.sh"
PEERS=$LMTP_PEERS
RUNS=$LMTP_RUNS

# The Debian packages this run needs and does not have.
lmtp_packages()
{
	local want="dovecot-imapd dovecot-lmtpd" p

	for p in $PEERS; do
		case $p in
		fetchmail) want="$want fetchmail" ;;
		getmail) want="$want getmail6" ;;
		mailfetchd) ;;
		*) die "unknown peer '$p' (mailfetchd fetchmail getmail)" ;;
		esac
	done
	install_missing $want
}

# PEER's configuration in ST, fetching USER's INBOX, handing every message
# to the LMTP server for RCPT (mailfetchd stages in Maildir LOC); CMD its
# command line.
lmtp_setup()
{
	local peer=$1 user=$2 st=$3 loc=$4 rcpt=$5

	printf '%s\n' "$MPASS" >"$st/pass"
	chmod 600 "$st/pass"
	case $peer in
	mailfetchd)
		# run.sh's, with these lines.
		MFD_EXTRA="deliver = lmtp
			lmtp = \"127.0.0.1:$LMTP_PORT\"
			lmtp_recipient = \"$rcpt\"" \
		    peer_setup mailfetchd "$user" "$st" "$loc"
		;;
	fetchmail)
		# lmtp with smtphost HOST/PORT: fetchmail speaks LMTP there,
		# RCPT TO the local name ("is ... here").
		fetchmail_imap_rc "$user" "is \"$rcpt\" here" \
		    "lmtp smtphost \"127.0.0.1/$LMTP_PORT\"" >"$st/fetchmailrc"
		chmod 600 "$st/fetchmailrc"
		CMD=(fetchmail -f "$st/fetchmailrc" -i "$st/fetchids"
		    --pidfile "$st/fetchmail.pid" --nodetach --silent)
		;;
	getmail)
		getmail_imap_rc "$user" "type = MDA_lmtp" "host = 127.0.0.1" \
		    "port = $LMTP_PORT" "override = $rcpt" >"$st/getmailrc"
		CMD=(getmail --rcfile "$st/getmailrc" --getmaildir "$st" --quiet)
		;;
	esac
}

# One timed fetch: PEER RUN. Appends to lmtp.tsv: peer run wall user sys
# rss_kb rc verify...
lmtp_one()
{
	local peer=$1 run=$2 d rcpt v

	d=$BENCH_DIR/runs/lmtp-$peer-$run
	rcpt=rcpt-$peer-$run
	restore_server "$MUSER" "$BENCH_DIR/main"
	dovecot_add_user "$rcpt" "$MPASS-$rcpt"
	run_dir "$d"
	lmtp_setup "$peer" "$MUSER" "$d/state" "$d/Maildir" "$rcpt"
	timed_run "$d"
	v=$(python3 "$BENCH/verify.py" --trace "$BENCH_DIR/main/manifest.tsv" \
	    "$(dovecot_folder_path "$rcpt" INBOX)")
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$peer" "$run" "$WALL" \
	    "$U" "$S" "$RSS" "$RC" "$v" >>"$BENCH_DIR/lmtp.tsv"
	say "lmtp $peer run $run: ${WALL}s user ${U}s sys ${S}s rss ${RSS}KB exit $RC; $v"
}

# The table: per peer the median wall, user, sys and peak RSS, and every
# run's exit status and verdict.
lmtp_table()
{
	python3 - "$BENCH_DIR/lmtp.tsv" "$N" <<'EOF'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    rows.setdefault(f[0], []).append(f)
print("LMTP delivery of %s messages (medians of %d run(s) each)\n" %
      (sys.argv[2], max(len(r) for r in rows.values())))
print("| peer | wall s | user s | sys s | peak RSS MiB | exit | verify |")
print("|---|---:|---:|---:|---:|---|---|")
for peer, rs in rows.items():
    med = lambda i: statistics.median(float(r[i]) for r in rs)
    print("| %s | %.2f | %.2f | %.2f | %.1f | %s | %s |" % (
        peer, med(2), med(3), med(4), med(5) / 1024,
        " ".join(r[6] for r in rs), "; ".join(sorted(set(r[7] for r in rs)))))
EOF
}

[ "$(id -u)" -eq 0 ] || die "run me as root (Dovecot, packages, users)"
[[ $N =~ ^[0-9]+$ && $RUNS =~ ^[1-9][0-9]*$ ]] || die "N and RUNS are numbers"
lmtp_packages || die "apt-get install failed"
bench_setup
: >"$BENCH_DIR/lmtp.tsv"
say "scratch space $BENCH_DIR; N=$N RUNS=$RUNS PEERS=$PEERS SEED=$SEED; load $(cut -d' ' -f1-3 /proc/loadavg)"

. "$ROOT/tests/lib/dovecot.sh"
TAP_DONE=1		# not a test: tap.sh's EXIT trap only cleans up
# RCPT TO user@domain is looked up as user.
LMTP_PORT=$(dovecot_pick_port)
DC_EXTRA_CONF="protocols = imap pop3 lmtp
lmtp_add_received_header = no
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}
protocol lmtp {
  auth_username_format = %Ln
}"
dovecot_start
say "Dovecot $(dovecot --version | cut -d' ' -f1) on 127.0.0.1:$DC_IMAPS_PORT (IMAPS), LMTP on 127.0.0.1:$LMTP_PORT"

say "$(python3 "$BENCH/make-corpus.py" "$N" "$SEED" "$BENCH_DIR/main")"
load_corpus "$MUSER" "$BENCH_DIR/main"
for ((run = 1; run <= RUNS; run++)); do
	for peer in $PEERS; do
		lmtp_one "$peer" "$run"
	done
done
dovecot_stop
[ "${KEEP_LOCAL:-0}" = 1 ] || rm -rf "$BENCH_DIR/runs"
lmtp_table
