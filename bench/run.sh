#!/bin/bash
# run.sh: mailfetchd against its peers, on one generated corpus, in one run.
#
#	bash bench/run.sh			# as root; see bench/README.md
#
# Installs what is missing (apt-get), builds mailfetchd (or takes
# MAILFETCHD=path), starts a throwaway Dovecot (tests/lib/dovecot.sh), puts
# an N-message corpus (bench/make-corpus.py) into its INBOX, warms it up
# (untimed), then for each run and each peer: restores the server's Maildir
# and index to the warmed-up snapshot, gives the peer an empty Maildir and
# empty state, times the fetch over IMAPS or POP3S with GNU time and
# checks the result with bench/verify.py. Runs go round-robin (run 1 of
# every peer, then run 2, ...) so drift on the machine hits all alike.
# Also times the server's raw streaming floor (bench/rawstream.py; over
# POP3S too when a peer speaks POP3) and, for the peers in RSS_PEERS, peak
# RSS on a small corpus whose largest message is 1 MiB against the same
# with one 50 MiB message.
#
# COMPRESS=DEFLATE (RFC 4978): with mailfetchd-compress in PEERS, Dovecot
# loads imap_zlib (DC_COMPRESS=1) and so advertises COMPRESS=DEFLATE to
# every peer; mailfetchd-compress is mailfetchd with compress = always
# (the server is on loopback, where compress = yes would not compress) and
# log_level = debug (the config's warning plus -v -v is only info), whose
# debug line "compression: received N bytes, inflated to M"
# gives the compressed and the plain size of what the server sent. Then
# one untimed fetch each of mailfetchd and mailfetchd-compress through
# bench/wirecount.py counts the TCP bytes on the wire both ways, the same
# way for both. mbsync 1.4 and the other peers do not send COMPRESS.
#
# Knobs (environment):
#   N=10000		messages in the main corpus
#   RUNS=3		runs per peer; the table shows medians
#   PEERS="mailfetchd mbsync"	any of: mailfetchd mbsync fetchmail getmail
#			fdm mpop, and mailfetchd-pop3 and mailfetchd-compress
#			(IMAPS with COMPRESS=DEFLATE); fetchmail, getmail
#			and fdm take a -pop3 or -imap suffix. mpop and
#			*-pop3 speak POP3S, the others IMAPS; unsuffixed
#			fetchmail, getmail and fdm speak POP3S when
#			mailfetchd-pop3 is in PEERS and mailfetchd is not
#			(PEERS="mailfetchd-pop3 mpop getmail fetchmail fdm"
#			is the POP3 comparison; PEERS="mailfetchd
#			mailfetchd-compress" N=2000 the COMPRESS one)
#   RSS_PEERS		peers of the RSS variants (default: those of
#			mailfetchd mailfetchd-pop3 mbsync mpop in PEERS)
#   SEED=42		corpus seed
#   RSS_N=300		messages in the RSS variants; RSS_N=0 skips them
#   MAILFETCHD=path	use this binary instead of building one
#   BENCH_DIR=dir	scratch space (default a fresh /tmp/mfd-bench.XXXXXX;
#			needs about 2 x the corpus size free)
#   KEEP_DOVECOT=1	keep Dovecot's instance directory afterwards
#   KEEP_LOCAL=1	keep every fetched Maildir (else removed at the end;
#			needs room for RUNS x peers x the corpus meanwhile)
#   TIMEOUT=1800	seconds one fetch may take
#   PROFILE=strace	run each peer under strace -c -f (counts in
#			$BENCH_DIR/runs/*/strace; PROFILE=massif: valgrind
#			massif heap profiles); wall times then mean nothing
#
# Output: the Markdown tables on stdout; the raw per-run figures in
# $BENCH_DIR/results.tsv and every peer's configuration and log beside it.
set -u
BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH/.." && pwd)
N=${N:-10000}
RUNS=${RUNS:-3}
PEERS=${PEERS:-mailfetchd mbsync}
SEED=${SEED:-42}
RSS_N=${RSS_N:-300}
RSS_PEERS=${RSS_PEERS:-}
TIMEOUT=${TIMEOUT:-1800}
KEEP_LOCAL=${KEEP_LOCAL:-0}
BENCH_USER=mfd-bench
MUSER=bench
MPASS=bench-pw-$$
T_START=$EPOCHREALTIME

# Progress goes to stderr, the tables to stdout.
say()
{
	printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2
}

die()
{
	say "error: $*"
	exit 1
}

# Install the Debian packages this run needs and does not have.
install_packages()
{
	local want="dovecot-imapd dovecot-pop3d isync" p

	for p in $PEERS; do
		case ${p%-*} in
		fetchmail) want="$want fetchmail procmail" ;;
		getmail) want="$want getmail6" ;;
		fdm) want="$want fdm" ;;
		mpop) want="$want mpop" ;;
		mailfetchd*|mbsync) ;;
		esac
	done
	install_missing $want
}

# Install those of the Debian packages given, and of the tools every run
# needs, that are missing.
install_missing()
{
	local missing="" p

	for p in "$@" time python3 openssl iproute2 procps util-linux; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		    grep -q 'ok installed' || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	say "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null &&
	    apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# Spell every peer of PEERS with its protocol (getmail -> getmail-pop3 in
# a POP3 comparison, getmail-imap -> getmail), check the names, and make
# the default RSS_PEERS.
resolve_peers()
{
	local p out="" pop3=0

	case " $PEERS " in
	*" mailfetchd "*) ;;
	*" mailfetchd-pop3 "*) pop3=1 ;;
	esac
	for p in $PEERS; do
		case $p in
		mailfetchd|mailfetchd-pop3|mailfetchd-compress|mbsync|mpop) ;;
		fetchmail|getmail|fdm) [ "$pop3" = 1 ] && p=$p-pop3 ;;
		fetchmail-pop3|getmail-pop3|fdm-pop3) ;;
		fetchmail-imap|getmail-imap|fdm-imap) p=${p%-imap} ;;
		*) die "unknown peer '$p' (mailfetchd mailfetchd-pop3 mailfetchd-compress mbsync fetchmail getmail fdm mpop; -pop3 or -imap after fetchmail, getmail, fdm)" ;;
		esac
		out="$out $p"
	done
	PEERS=${out# }
	if [ -z "$RSS_PEERS" ]; then
		for p in $PEERS; do
			case $p in
			mailfetchd|mailfetchd-pop3|mbsync|mpop)
				RSS_PEERS="$RSS_PEERS $p" ;;
			esac
		done
		RSS_PEERS=${RSS_PEERS# }
	fi
}

# Whether mailfetchd-compress is in PEERS.
any_compress()
{
	case " $PEERS " in
	*" mailfetchd-compress "*) return 0 ;;
	esac
	return 1
}

# Whether a peer of PEERS speaks POP3.
any_pop3()
{
	case " $PEERS " in
	*-pop3" "*|*" mpop "*) return 0 ;;
	esac
	return 1
}

# Build mailfetchd out of tree unless MAILFETCHD names a binary.
build_mailfetchd()
{
	local b=$BENCH_DIR/build

	if [ -n "${MAILFETCHD:-}" ]; then
		[ -x "$MAILFETCHD" ] || die "MAILFETCHD=$MAILFETCHD is not executable"
		return 0
	fi
	. "$ROOT/tests/lib/deps.sh"
	mfd_install_packages || die "cannot install the build dependencies"
	if [ ! -x "$ROOT/configure" ]; then
		(cd "$ROOT" && autoreconf -fi >/dev/null 2>&1) ||
		    die "autoreconf failed"
	fi
	say "building mailfetchd in $b"
	mkdir -p "$b" && (cd "$b" && "$ROOT/configure" -q) >/dev/null ||
	    die "configure failed"
	make -s -C "$b" -j2 mailfetchd >"$b/make.log" 2>&1 ||
	    die "make failed: $(tail -5 "$b/make.log")"
	MAILFETCHD=$b/mailfetchd
}

# The unprivileged user every peer runs as.
bench_user()
{
	getent passwd "$BENCH_USER" >/dev/null ||
	    useradd --system --user-group --no-create-home \
		--home-dir /nonexistent --shell /usr/sbin/nologin "$BENCH_USER" ||
	    die "cannot create user $BENCH_USER"
	BUID=$(id -u "$BENCH_USER")
	BGID=$(id -g "$BENCH_USER")
}

# Run a command as the benchmark user.
as_bench()
{
	setpriv --reuid="$BUID" --regid="$BGID" --clear-groups -- "$@"
}

# Put corpus DIR into USER's INBOX (hard links), warm it up, snapshot it.
load_corpus()
{
	local user=$1 dir=$2 md

	dovecot_add_user "$user" "$MPASS"
	md=$(dovecot_folder_path "$user" INBOX)
	rm -rf "$md"
	cp -al "$dir/Maildir" "$md" && chown -R "$DC_MAIL_USER:" "$md" ||
	    die "cannot load the corpus into $md"
	# Dovecot indexes a new Maildir on first SELECT, and caches what a
	# client asks for; one full fetch here, so no peer pays for that.
	python3 "$BENCH/rawstream.py" 127.0.0.1 "$DC_IMAPS_PORT" "$DC_CA" \
	    "$user" "$MPASS" >&2 || die "warm-up fetch failed"
	python3 "$ROOT/tests/lib/imap_client.py" --port "$DC_IMAPS_PORT" \
	    --ca "$DC_CA" --user "$user" --password "$MPASS" cmd 'SELECT INBOX' \
	    'UID FETCH 1:* (UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])' \
	    >/dev/null || die "warm-up metadata fetch failed"
	# POP3 lists sizes and UIDLs from its own cache fields.
	if any_pop3; then
		python3 "$BENCH/rawstream.py" --pop3 --list-only 127.0.0.1 \
		    "$DC_POP3S_PORT" "$DC_CA" "$user" "$MPASS" >&2 ||
		    die "warm-up POP3 listing failed"
	fi
	wait_sessions
	rm -rf "$dir/pristine"
	cp -a "$md" "$dir/pristine" || die "cannot snapshot $md"
}

# Wait until no IMAP/POP3 session process of the instance is left.
wait_sessions()
{
	local i

	for ((i = 0; i < 300; i++)); do
		pgrep -f -- "^dovecot-$DC_NAME/(imap|pop3)( |$)" >/dev/null ||
		    return 0
		sleep 0.05
	done
	say "warning: Dovecot sessions still open after 15 s"
}

# Make USER's Maildir the snapshot again: messages hard-linked (never
# changed in place), Dovecot's index files copied (they are).
restore_server()
{
	local user=$1 dir=$2 md f

	wait_sessions
	md=$(dovecot_folder_path "$user" INBOX)
	rm -rf "$md"
	cp -al "$dir/pristine" "$md" || die "cannot restore $md"
	(cd "$dir/pristine" && find . -type f -name 'dovecot*') |
	    while read -r f; do
		rm -f "$md/$f"
		cp -p "$dir/pristine/$f" "$md/$f"
	done
}

# fetchmail's rc for USER's INBOX over IMAPS, then the lines given (how
# it delivers).
fetchmail_imap_rc()
{
	local user=$1 line

	shift
	cat <<-EOF
	set no syslog
	set no bouncemail
	poll localhost with proto IMAP service $DC_IMAPS_PORT
	  user "$user" there with password "$MPASS"
	  ssl sslcertck sslcertfile "$DC_CA"
	  keep fetchall
	EOF
	for line in "$@"; do
		printf '  %s\n' "$line"
	done
}

# getmail's rc for USER's INBOX over IMAPS, its destination section the
# lines given.
getmail_imap_rc()
{
	local user=$1

	shift
	cat <<-EOF
	[retriever]
	type = SimpleIMAPSSLRetriever
	server = localhost
	port = $DC_IMAPS_PORT
	username = $user
	password = $MPASS
	mailboxes = ("INBOX",)
	ca_certs = $DC_CA

	[destination]
	EOF
	printf '%s\n' "$@"
	cat <<-EOF

	[options]
	read_all = false
	delete = false
	verbose = 0
	EOF
}

# Write PEER's configuration into state directory ST for Maildir LOC, and
# set CMD to its command line. Every peer keeps its default durability.
# IMAP_PORT, when set, replaces Dovecot's IMAPS port (bench/wirecount.py);
# MFD_EXTRA, lines added to mailfetchd's account (bench/lmtp.sh).
peer_setup()
{
	local peer=$1 user=$2 st=$3 loc=$4 zip="" lvl=warning

	printf '%s\n' "$MPASS" >"$st/pass"
	chmod 600 "$st/pass"
	case $peer in
	mailfetchd|mailfetchd-pop3|mailfetchd-compress)
		# keep = yes and mark_read = no (the defaults): the server
		# is only read. mailfetchd fsyncs every delivery, always.
		if [ "$peer" = mailfetchd-pop3 ]; then
			set -- pop3 "$DC_POP3S_PORT" ''
		else
			set -- imap "${IMAP_PORT:-$DC_IMAPS_PORT}" 'folder "INBOX" { }'
		fi
		# The compression counters are logged at debug level (the
		# log goes to $d/log); the other peers log only warnings.
		if [ "$peer" = mailfetchd-compress ]; then
			zip="compress = always"
			lvl=debug
		fi
		cat >"$st/mailfetchd.conf" <<-EOF
		state_dir = "$st/state"
		log_level = $lvl
		account "bench" {
			protocol = $1
			host = "localhost"
			port = $2
			tls = implicit
			ca_file = "$DC_CA"
			user = "$user"
			password_file = "$st/pass"
			maildir = "$loc"
			keep = yes
			timeout = 300s
			$zip
			${MFD_EXTRA:-}
			$3
		}
		EOF
		CMD=("$MAILFETCHD" -c "$st/mailfetchd.conf" --once)
		;;
	mbsync)
		# FSync yes is the default: fsync per message and journal.
		# Sync Pull: far to near only, so the server is only read.
		cat >"$st/mbsyncrc" <<-EOF
		FSync yes
		IMAPAccount far
		Host localhost
		Port $DC_IMAPS_PORT
		User $user
		PassCmd "cat $st/pass"
		SSLType IMAPS
		SystemCertificates no
		CertificateFile $DC_CA
		Timeout 300

		IMAPStore far
		Account far

		MaildirStore near
		Path $loc/
		Inbox $loc

		Channel bench
		Far :far:INBOX
		Near :near:INBOX
		Sync Pull
		Create Near
		Expunge None
		SyncState $st/
		EOF
		CMD=(mbsync -c "$st/mbsyncrc" -q bench)
		;;
	fetchmail)
		# procmail delivers to the Maildir (trailing / = Maildir).
		cat >"$st/procmailrc" <<-EOF
		SHELL=/bin/sh
		:0
		$loc/
		EOF
		fetchmail_imap_rc "$user" \
		    "mda \"/usr/bin/procmail -f %F $st/procmailrc\"" \
		    >"$st/fetchmailrc"
		chmod 600 "$st/fetchmailrc"
		CMD=(fetchmail -f "$st/fetchmailrc" -i "$st/fetchids"
		    --pidfile "$st/fetchmail.pid" --nodetach --silent)
		;;
	fetchmail-pop3)
		# uidl: fetchmail's own record of what it fetched (-i file).
		cat >"$st/procmailrc" <<-EOF
		SHELL=/bin/sh
		:0
		$loc/
		EOF
		cat >"$st/fetchmailrc" <<-EOF
		set no syslog
		set no bouncemail
		poll localhost with proto POP3 service $DC_POP3S_PORT uidl
		  user "$user" there with password "$MPASS"
		  ssl sslcertck sslcertfile "$DC_CA"
		  keep fetchall
		  mda "/usr/bin/procmail -f %F $st/procmailrc"
		EOF
		chmod 600 "$st/fetchmailrc"
		CMD=(fetchmail -f "$st/fetchmailrc" -i "$st/fetchids"
		    --pidfile "$st/fetchmail.pid" --nodetach --silent)
		;;
	getmail)
		getmail_imap_rc "$user" "type = Maildir" "path = $loc/" \
		    >"$st/getmailrc"
		CMD=(getmail --rcfile "$st/getmailrc" --getmaildir "$st" --quiet)
		;;
	getmail-pop3)
		# read_all = false: getmail keeps the UIDLs it fetched
		# (oldmail-* in --getmaildir).
		cat >"$st/getmailrc" <<-EOF
		[retriever]
		type = SimplePOP3SSLRetriever
		server = localhost
		port = $DC_POP3S_PORT
		username = $user
		password = $MPASS
		ca_certs = $DC_CA

		[destination]
		type = Maildir
		path = $loc/

		[options]
		read_all = false
		delete = false
		verbose = 0
		EOF
		CMD=(getmail --rcfile "$st/getmailrc" --getmaildir "$st" --quiet)
		;;
	fdm)
		cat >"$st/fdm.conf" <<-EOF
		set lock-file "$st/fdm.lock"
		set verify-certificates
		account "bench" imaps server "localhost" port $DC_IMAPS_PORT
		    user "$user" pass "$MPASS" keep
		action "md" maildir "$loc"
		match all action "md"
		EOF
		chmod 600 "$st/fdm.conf"
		CMD=(env SSL_CERT_FILE="$DC_CA" fdm -q -f "$st/fdm.conf" fetch)
		;;
	fdm-pop3)
		cat >"$st/fdm.conf" <<-EOF
		set lock-file "$st/fdm.lock"
		set verify-certificates
		account "bench" pop3s server "localhost" port $DC_POP3S_PORT
		    user "$user" pass "$MPASS" keep
		action "md" maildir "$loc"
		match all action "md"
		EOF
		chmod 600 "$st/fdm.conf"
		CMD=(env SSL_CERT_FILE="$DC_CA" fdm -q -f "$st/fdm.conf" fetch)
		;;
	mpop)
		cat >"$st/mpoprc" <<-EOF
		defaults
		tls on
		tls_starttls off
		tls_trust_file $DC_CA
		keep on
		only_new on
		uidls_file $st/uidls
		delivery maildir $loc
		timeout 300

		account bench
		host localhost
		port $DC_POP3S_PORT
		user $user
		passwordeval cat $st/pass
		EOF
		chmod 600 "$st/mpoprc"
		CMD=(mpop -C "$st/mpoprc" -q bench)
		;;
	esac
}

# A fresh run directory D: D/state, and an empty Maildir D/Maildir.
run_dir()
{
	rm -rf "$1"
	mkdir -p "$1/state" "$1/Maildir/cur" "$1/Maildir/new" "$1/Maildir/tmp"
	chmod 700 "$1" "$1/Maildir"
}

# CMD, timed, as the benchmark user (run directory D given to it): D/command,
# D/log, D/time. Sets RC, WALL (s), U, S (user and sys s), RSS (KB).
timed_run()
{
	local d=$1 t0 t1

	chown -R "$BUID:$BGID" "$d"
	printf '%q ' "${CMD[@]}" >"$d/command"
	# Nothing of an earlier run may still be on its way to the disk.
	sync
	t0=$EPOCHREALTIME
	/usr/bin/time -f '%e %U %S %M' -o "$d/time" \
	    setpriv --reuid="$BUID" --regid="$BGID" --clear-groups -- \
	    env HOME="$d/state" timeout -k 10 "$TIMEOUT" "${CMD[@]}" \
	    >"$d/log" 2>&1 </dev/null
	RC=$?
	t1=$EPOCHREALTIME
	WALL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
	# The last line is ours; a failed command adds one before it.
	read -r _ U S RSS < <(tail -1 "$d/time")
}

# PROFILE=strace or massif: run CMD under strace -c -f (system call counts
# into DIR/strace) or valgrind's massif (heap profile into DIR/massif).
# The wall times of such a run mean nothing; the counts do.
profile_wrap()
{
	case ${PROFILE:-} in
	"") ;;
	strace) CMD=(strace -c -f -o "$1/strace" "${CMD[@]}") ;;
	massif) CMD=(valgrind -q --tool=massif --massif-out-file="$1/massif"
	    "${CMD[@]}") ;;
	*) die "PROFILE is strace or massif, not '$PROFILE'" ;;
	esac
}

# One timed fetch: LABEL PEER USER CORPUSDIR RUN. Appends a line to
# results.tsv: label peer run wall user sys rss_kb rc verify...
run_one()
{
	local label=$1 peer=$2 user=$3 dir=$4 run=$5 d v nsrv

	d=$BENCH_DIR/runs/$label-$peer-$run
	restore_server "$user" "$dir"
	run_dir "$d"
	peer_setup "$peer" "$user" "$d/state" "$d/Maildir"
	profile_wrap "$d"
	timed_run "$d"
	v=$(python3 "$BENCH/verify.py" "$dir/manifest.tsv" "$d/Maildir")
	nsrv=$(find "$(dovecot_folder_path "$user" INBOX)"/cur \
	    "$(dovecot_folder_path "$user" INBOX)"/new -type f | wc -l)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$peer" \
	    "$run" "$WALL" "$U" "$S" "$RSS" "$RC" "$nsrv" "$v" \
	    >>"$BENCH_DIR/results.tsv"
	say "$label $peer run $run: ${WALL}s user ${U}s sys ${S}s rss ${RSS}KB exit $RC; $v; server $nsrv"
	[ "$peer" = mailfetchd-compress ] && compress_counters "$label" "$run" "$d/log"
}

# LABEL RUN LOG: mailfetchd's compression counters of one run into
# compress.tsv: label run received-wire inflated sent-wire deflated-from
# (summed over the run's connections; none: the run did not compress).
compress_counters()
{
	local c

	c=$(sed -nE 's/.*compression: received ([0-9]+) bytes, inflated to ([0-9]+); sent ([0-9]+) bytes, deflated from ([0-9]+).*/\1 \2 \3 \4/p' "$3" |
	    awk '{ a += $1; b += $2; c += $3; d += $4 } END { if (NR) print a, b, c, d }')
	[ -n "$c" ] || { say "warning: $1 mailfetchd-compress run $2 did not compress (no counters in $3)"; return 0; }
	printf '%s\t%s\t%s\n' "$1" "$2" "${c// /$'\t'}" >>"$BENCH_DIR/compress.tsv"
	say "$1 mailfetchd-compress run $2: compression counters (in-wire in-data out-wire out-data) $c"
}

# PEER: one untimed fetch of the main corpus through bench/wirecount.py;
# appends "peer down up" (TCP payload bytes, all connections) to wire.tsv.
measure_wire()
{
	local peer=$1 d=$BENCH_DIR/runs/wire-$1 pid port i

	restore_server "$MUSER" "$BENCH_DIR/main"
	rm -rf "$d"
	mkdir -p "$d/state" "$d/Maildir/cur" "$d/Maildir/new" "$d/Maildir/tmp"
	: >"$d/counts"
	: >"$d/port"
	python3 "$BENCH/wirecount.py" "$DC_IMAPS_PORT" "$d/counts" >"$d/port" &
	pid=$!
	for ((i = 0; i < 100; i++)); do
		read -r port <"$d/port" 2>/dev/null && break
		sleep 0.05
	done
	[ -n "${port:-}" ] || die "wirecount.py did not start"
	IMAP_PORT=$port peer_setup "$peer" "$MUSER" "$d/state" "$d/Maildir"
	chown -R "$BUID:$BGID" "$d"
	as_bench env HOME="$d/state" timeout -k 10 "$TIMEOUT" "${CMD[@]}" \
	    >"$d/log" 2>&1 </dev/null
	# The relay writes a connection's line once both sides closed.
	for ((i = 0; i < 100; i++)); do
		[ -s "$d/counts" ] && break
		sleep 0.05
	done
	sleep 0.2
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	printf '%s\t%s\n' "$peer" "$(awk '{ a += $1; b += $2 } END { print a "\t" b }' "$d/counts")" \
	    >>"$BENCH_DIR/wire.tsv"
	say "wire bytes of $peer (down, up): $(tail -1 "$BENCH_DIR/wire.tsv" | cut -f2-)"
}

# The server's floor: RUNS timed raw streams of USER's INBOX, over IMAPS
# (label main) or POP3S (label main-pop3).
run_floor()
{
	local label=$1 user=$2 dir=$3 run out

	for ((run = 1; run <= RUNS; run++)); do
		restore_server "$user" "$dir"
		if [ "$label" = main-pop3 ]; then
			out=$(python3 "$BENCH/rawstream.py" --pop3 127.0.0.1 \
			    "$DC_POP3S_PORT" "$DC_CA" "$user" "$MPASS")
		else
			out=$(python3 "$BENCH/rawstream.py" 127.0.0.1 \
			    "$DC_IMAPS_PORT" "$DC_CA" "$user" "$MPASS")
		fi || die "rawstream failed"
		say "$label floor run $run: $out"
		printf '%s\t%s\t%s\t%s\n' "$label" "$run" \
		    "$(sed -n 's/.* in \([0-9.]*\) s (.*/\1/p' <<<"$out")" \
		    "$out" >>"$BENCH_DIR/floor.tsv"
	done
}

# BENCH_DIR made (a fresh one by default), mailfetchd built, the user.
bench_setup()
{
	if [ -z "${BENCH_DIR:-}" ]; then
		BENCH_DIR=$(mktemp -d /tmp/mfd-bench.XXXXXX) ||
		    die "mktemp failed"
	fi
	mkdir -p "$BENCH_DIR" && chmod 755 "$BENCH_DIR"
	build_mailfetchd
	bench_user
}

# bench/lmtp.sh sources the functions above (BENCH_LIB=1): nothing runs.
[ "${BENCH_LIB:-0}" = 1 ] && return 0

[ "$(id -u)" -eq 0 ] || die "run me as root (Dovecot, packages, users)"
[[ $N =~ ^[0-9]+$ && $RUNS =~ ^[1-9][0-9]*$ ]] || die "N and RUNS are numbers"
resolve_peers
install_packages || die "apt-get install failed"
bench_setup
: >"$BENCH_DIR/results.tsv"
: >"$BENCH_DIR/floor.tsv"
: >"$BENCH_DIR/compress.tsv"
: >"$BENCH_DIR/wire.tsv"
say "scratch space $BENCH_DIR; N=$N RUNS=$RUNS PEERS=$PEERS SEED=$SEED; load $(cut -d' ' -f1-3 /proc/loadavg)"

. "$ROOT/tests/lib/dovecot.sh"
TAP_DONE=1		# not a test: tap.sh's EXIT trap only cleans up
any_compress && DC_COMPRESS=1
dovecot_start
say "Dovecot $(dovecot --version | cut -d' ' -f1) on 127.0.0.1:$DC_IMAPS_PORT (IMAPS), :$DC_POP3S_PORT (POP3S)"

say "$(python3 "$BENCH/make-corpus.py" "$N" "$SEED" "$BENCH_DIR/main")"
load_corpus "$MUSER" "$BENCH_DIR/main"
case " $PEERS " in
*" mailfetchd "*|*" mbsync "*|*" fetchmail "*|*" getmail "*|*" fdm "*)
	run_floor main "$MUSER" "$BENCH_DIR/main" ;;
esac
any_pop3 && run_floor main-pop3 "$MUSER" "$BENCH_DIR/main"
for ((run = 1; run <= RUNS; run++)); do
	for peer in $PEERS; do
		run_one main "$peer" "$MUSER" "$BENCH_DIR/main" "$run"
	done
done
if any_compress; then
	measure_wire mailfetchd
	measure_wire mailfetchd-compress
fi

if [ "$RSS_N" -gt 0 ]; then
	# Same small corpus twice, every message at most 1 MiB, the last one
	# 1 MiB in one and 50 MiB in the other.
	for big in 1 50; do
		say "$(python3 "$BENCH/make-corpus.py" "$RSS_N" "$SEED" \
		    "$BENCH_DIR/rss$big" --max-size 1048576 --huge "$big")"
		load_corpus "rss$big" "$BENCH_DIR/rss$big"
		for ((run = 1; run <= RUNS; run++)); do
			for peer in $RSS_PEERS; do
				run_one "rss$big" "$peer" "rss$big" \
				    "$BENCH_DIR/rss$big" "$run"
			done
		done
	done
fi

dovecot_stop
# Fetched Maildirs go only now: ext4 skips inodes freed in the last minute
# or more when it allocates new ones (recently_deleted), so removing 10,000
# files just before a run makes every file the next peer creates cost a
# scan, up to ten times the normal cost of a create.
[ "$KEEP_LOCAL" = 1 ] || rm -rf "$BENCH_DIR/runs"
T_TOTAL=$(awk -v a="$T_START" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.0f", b - a }')
python3 "$BENCH/summarize.py" "$BENCH_DIR" "$N" "$T_TOTAL" \
    "$("$MAILFETCHD" -V 2>/dev/null | head -1)" \
    "$(for p in $PEERS; do
	case $p in
	mbsync) mbsync --version ;;
	mpop) mpop --version | head -1 ;;
	getmail*) getmail --version 2>&1 | head -1 ;;
	fetchmail*) fetchmail --version 2>/dev/null | head -1 | cut -d, -f1 ;;
	fdm*) dpkg-query -W -f='fdm ${Version}\n' fdm 2>/dev/null ;;
	esac
done | sort -u | paste -sd, | sed 's/,/, /g')"
