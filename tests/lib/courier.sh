# courier.sh: a throwaway Courier-IMAP 5.0 and courier-pop (IMAP, IMAPS,
# POP3, POP3S) for the interoperability tests (bash; sources interop.sh,
# hence tap.sh and dovecot.sh). One instance per test file, everything
# under one temporary directory, loopback only.
#
#	. "$top_srcdir/tests/lib/courier.sh"
#	courier_start			# bails out if it cannot
#	courier_add_user alice pw-alice	# userdb entry and its Maildir
#	courier_append alice INBOX.Archive "$DC_SAMPLES/01-plain.eml" '\Seen'
#	courier_imap_cmd alice pw-alice 'STATUS INBOX (MESSAGES)'
#	courier_load_samples bob		# 4 in INBOX, 2 in INBOX.Archive
#	...				# courier_stop runs from the EXIT trap
#
# imapd, imaplogin, courierpop3d and courierpop3login come from Debian's
# courier-imap/courier-pop unpacked into MFD_INTEROP_PREFIX/courier
# (tests/lib/deps.sh); couriertcpd, couriertls and the authentication
# daemon (courier-base, courier-authdaemon, courier-authlib-userdb) are
# installed. The authentication library has its paths compiled in
# (/etc/courier/authdaemonrc, /etc/courier/userdb.dat, the socket in
# /run/courier/authdaemon), so the instance runs in a mount namespace of
# its own (unshare -m) where CR_DIR/etc and CR_DIR/run are mounted over
# those two directories: the system's files are never read or changed,
# and two instances do not see each other. Needs root.
#
# The servers are couriertcpd listeners, couriertls -server -tcpd in front
# for implicit TLS; their settings are environment variables (the
# package's etc/courier/imapd, imapd-ssl, pop3d, pop3d-ssl), set in
# CR_DIR/start.sh. IDLE: Debian's default mode (IMAP_ENHANCEDIDLE=0) with
# IMAP_IDLE_TIMEOUT=1, so an IDLE session looks at the Maildir every
# second. imapd still starts gamin's gam_server, which leaves the
# instance's session (and would exit ~30 s after its last client):
# courier_stop ends the ones whose environment names CR_DIR.
#
# courier_start exports:
#   CR_DIR         the instance directory, /tmp/mfd-cr.XXXXXX
#   CR_IMAP_PORT   IMAP, STARTTLS offered   \
#   CR_IMAPS_PORT  IMAP over implicit TLS    | all on 127.0.0.1
#   CR_POP3_PORT   POP3, STLS offered        |
#   CR_POP3S_PORT  POP3 over implicit TLS   /
#   CR_CA          CA certificate (PEM) clients must trust
#
# What a client sees: hierarchy separator '.', personal folders under
# "INBOX." ("INBOX.Lists.dev"), no MOVE; FOLDER arguments are IMAP names
# as sent. Users' mail belongs to dovecot.sh's DC_MAIL_USER.
#
# Setup functions (courier_start, courier_add_user) bail out on failure
# and must run in the test's own shell; query functions return a status.

[ -n "${CR_LOADED:-}" ] && return 0
CR_LOADED=1

CR_LIBDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$CR_LIBDIR/interop.sh"
CR_PREFIX=$MFD_INTEROP_PREFIX/courier
CR_DIR=""
CR_SID=""

# Check the installed half (the unpacked half: srv_need_prefix).
_cr_check_packages()
{
	local f

	for f in /usr/sbin/couriertcpd /usr/bin/couriertls \
	    /usr/lib/courier/courier-authlib/authdaemond /usr/sbin/makeuserdb \
	    /usr/bin/maildirmake.courier; do
		[ -x "$f" ] || {
			printf 'missing %s: run as root: bash -c ". tests/lib/deps.sh && mfd_install_interop"\n' "$f"
			return 1
		}
	done
}

# Write CR_DIR/start.sh, run in the new mount namespace: the bind mounts,
# the authentication daemon, and the four listeners on BASE..BASE+3.
_cr_write_start()
{
	local b=$1 d=$CR_DIR l=$CR_PREFIX/usr/lib/courier/courier
	local tcpd="/usr/sbin/couriertcpd -address=127.0.0.1 -nodnslookup -noidentlookup -maxprocs=100 -maxperip=100"
	local imap="$l/imaplogin $CR_PREFIX/usr/bin/imapd Maildir"
	local pop3="$l/courierpop3login $l/courierpop3d Maildir"
	local tls="/usr/bin/couriertls -server -tcpd"

	cat >"$d/start.sh" <<EOF
#!/bin/bash
# Written by tests/lib/courier.sh; runs under unshare -m. On TERM it stops
# the servers and waits for them, so none is left to init.
trap 'kill \$(jobs -p) 2>/dev/null; wait; exit 0' TERM
mount --bind "$d/etc" /etc/courier || exit 1
mount --bind "$d/run" /run/courier || exit 1
set -a
. /etc/courier/authdaemonrc
/usr/lib/courier/courier-authlib/authdaemond &
IMAP_CAPABILITY="IMAP4rev1 UIDPLUS CHILDREN NAMESPACE IDLE"
IMAP_CAPABILITY_TLS="\$IMAP_CAPABILITY AUTH=PLAIN"
IMAP_STARTTLS=YES
IMAP_TLS_REQUIRED=0
POP3AUTH=""
POP3AUTH_TLS="LOGIN PLAIN"
POP3_STARTTLS=YES
POP3_TLS_REQUIRED=0
COURIERTLS=/usr/bin/couriertls
TLS_CERTFILE=$d/tls/server-key-cert.pem
TLS_VERIFYPEER=NONE
IMAP_ENHANCEDIDLE=0
IMAP_IDLE_TIMEOUT=1
IMAP_KEYWORDS=1
IMAP_ACL=1
IMAP_USELOCKS=1
IMAP_MAILBOX_SANITY_CHECK=1
IMAP_UMASK=022
IMAP_ULIMITD=131072
$tcpd $b $imap &
$tcpd $((b + 1)) $tls $imap &
$tcpd $((b + 2)) $pop3 &
$tcpd $((b + 3)) $tls $pop3 &
wait
EOF
	chmod 0755 "$d/start.sh"
}

# Start on BASE..BASE+3 (srv_start_on_free_ports' contract), in a
# session and a mount namespace of its own.
_cr_try_start()
{
	local b=$1 rc

	_cr_write_start "$b" || return 1
	srv_launch "$b" "$CR_DIR/courier.log" \
	    unshare -m --propagation private "$CR_DIR/start.sh"
	rc=$?
	[ "$rc" -eq 0 ] || return $rc
	CR_SID=$SRV_SID
	CR_IMAP_PORT=$b
	CR_IMAPS_PORT=$((b + 1))
	CR_POP3_PORT=$((b + 2))
	CR_POP3S_PORT=$((b + 3))
}

# Start the instance; export CR_* (see the top of this file).
courier_start()
{
	local d why

	srv_need_prefix "$CR_PREFIX"
	why=$(_cr_check_packages) || tap_bail "$why"
	[ -z "$CR_DIR" ] || tap_bail "courier_start: already running in $CR_DIR"
	_dc_mail_user || tap_bail "cannot create the system user $DC_MAIL_USER"
	CR_DIR=$(mktemp -d /tmp/mfd-cr.XXXXXX) || tap_bail "mktemp failed"
	tap_cleanup_add courier_stop
	d=$CR_DIR
	chmod 0755 "$d"
	srv_make_tls "$d" ||
	    tap_bail "cannot make the test certificates: $(cat "$d/tls/openssl.err")"
	CR_CA=$SRV_CA
	# couriertls wants the key and the chain in one file; for STARTTLS
	# it runs as the login process, as user courier.
	cat "$d/tls/server.key" "$d/tls/chain.pem" >"$d/tls/server-key-cert.pem" &&
	    chgrp courier "$d/tls/server-key-cert.pem" &&
	    chmod 0640 "$d/tls/server-key-cert.pem" && chmod 0755 "$d/tls" ||
	    tap_bail "cannot write the TLS file"
	# The mount points (courier-base makes them; be sure).
	mkdir -p /etc/courier /run/courier "$d/etc" "$d/run/authdaemon" "$d/home" &&
	    chown courier:courier "$d/run/authdaemon" && chmod 0750 "$d/run/authdaemon" &&
	    : >"$d/etc/userdb" && chmod 0600 "$d/etc/userdb" ||
	    tap_bail "cannot populate $d"
	makeuserdb -f "$d/etc/userdb" || tap_bail "makeuserdb failed"
	# authdaemond reads it, and authlib's clients find the socket by it.
	printf '%s\n' 'authmodulelist="authuserdb"' 'daemons=2' \
	    'authdaemonvar=/run/courier/authdaemon' 'DEBUG_LOGIN=0' \
	    'DEFAULTOPTIONS=""' 'LOGGEROPTS=""' >"$d/etc/authdaemonrc" ||
	    tap_bail "cannot write $d/etc/authdaemonrc"
	srv_start_on_free_ports "Courier" _cr_try_start
	export CR_DIR CR_CA CR_IMAP_PORT CR_IMAPS_PORT CR_POP3_PORT CR_POP3S_PORT
}

# gam_server processes started by this instance's imapd (they inherit
# its environment, which names CR_DIR): TERM, and wait up to 2 s.
_cr_stop_gamin()
{
	local p pids="" i

	for p in $(pgrep -x gam_server); do
		grep -qzF -- "$CR_DIR/" "/proc/$p/environ" 2>/dev/null &&
		    pids="$pids $p"
	done
	[ -n "$pids" ] || return 0
	kill -TERM $pids 2>/dev/null
	for ((i = 0; i < 100; i++)); do
		kill -0 $pids 2>/dev/null || return 0
		sleep 0.02
	done
}

# Stop every process of the instance (its session), remove CR_DIR.
courier_stop()
{
	[ -n "$CR_DIR" ] || return 0
	tap_cleanup_del courier_stop
	srv_stop_session "$CR_SID"
	_cr_stop_gamin
	if [ "${KEEP_DOVECOT:-0}" = 1 ]; then
		tap_diag "KEEP_DOVECOT=1: Courier instance files kept in $CR_DIR"
	else
		rm -rf "$CR_DIR"
	fi
	CR_DIR=""
	CR_SID=""
}

# courier_add_user USER PASSWORD: a userdb entry (MD5-crypt password) and
# an empty Maildir owned by DC_MAIL_USER; works while running.
courier_add_user()
{
	local user=$1 home uid gid hash

	[ -n "$CR_DIR" ] || tap_bail "courier_add_user: courier_start first"
	[[ $user =~ ^[a-z0-9][a-z0-9_-]*$ ]] ||
	    tap_bail "courier_add_user: bad user name '$user'"
	home=$CR_DIR/home/$user
	uid=$(id -u "$DC_MAIL_USER") && gid=$(id -g "$DC_MAIL_USER") &&
	    mkdir -p "$home" && /usr/bin/maildirmake.courier "$home/Maildir" &&
	    chown -R "$uid:$gid" "$home" || tap_bail "cannot make $home/Maildir"
	hash=$(printf '%s' "$2" | openssl passwd -1 -stdin) ||
	    tap_bail "openssl passwd failed"
	printf '%s\tuid=%s|gid=%s|home=%s|mail=%s|systempw=%s\n' "$user" \
	    "$uid" "$gid" "$home" "$home/Maildir" "$hash" >>"$CR_DIR/etc/userdb" &&
	    makeuserdb -f "$CR_DIR/etc/userdb" || tap_bail "makeuserdb failed"
	printf '%s\n' "$2" >"$CR_DIR/pw.$user"
}

# courier_imap_cmd USER PASSWORD CMD...: over IMAPS, print the responses.
courier_imap_cmd()
{
	local user=$1 pass=$2

	shift 2
	srv_imap "$CR_IMAPS_PORT" "$CR_CA" "$user" "$pass" cmd "$@"
}

# courier_append USER FOLDER FILE [IMAP-FLAGS]: APPEND as USER, creating
# FOLDER first when it is not there.
courier_append()
{
	local pass

	pass=$(cat "$CR_DIR/pw.$1" 2>/dev/null) || return 2
	srv_append "$CR_IMAPS_PORT" "$CR_CA" "$1" "$pass" "${@:2}"
}

# courier_load_samples USER: the sample messages (tests/lib/sample-mail): four
# into INBOX (03 \Seen), two into INBOX.Archive (05 \Seen).
courier_load_samples()
{
	srv_load_samples courier_append "$1"
}
