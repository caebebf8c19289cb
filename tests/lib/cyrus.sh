# cyrus.sh: a throwaway Cyrus IMAP 3.6 (IMAP, IMAPS, POP3, POP3S) for the
# interoperability tests (bash; sources interop.sh, hence tap.sh and
# dovecot.sh). One instance per test file, everything under one temporary
# directory, nothing read from /etc/cyrus*, loopback only.
#
#	. "$top_srcdir/tests/lib/cyrus.sh"
#	cyrus_start			# bails out if it cannot
#	cyrus_start fastmail		# the other layout (below)
#	cyrus_add_user alice pw-alice	# sasldb user and its INBOX
#	cyrus_append alice INBOX.Archive "$DC_SAMPLES/01-plain.eml" '\Seen'
#	cyrus_imap_cmd alice pw-alice 'STATUS INBOX (MESSAGES)'
#	cyrus_load_samples bob		# 4 in INBOX, 2 in INBOX.Archive
#	...				# cyrus_stop runs from the EXIT trap
#
# The binaries are Debian's cyrus-common/-imapd/-pop3d unpacked into
# MFD_INTEROP_PREFIX/cyrus (tests/lib/deps.sh); they run with
# LD_LIBRARY_PATH for Cyrus' private libraries. Needs root (the master
# drops to the system user "cyrus", created here in group mail).
#
# cyrus_start exports:
#   CY_DIR         the instance directory, /tmp/mfd-cy.XXXXXX
#   CY_CONF        CY_DIR/imapd.conf (cyrus.conf beside it)
#   CY_IMAP_PORT   IMAP, STARTTLS offered (LOGINDISABLED before it)  \
#   CY_IMAPS_PORT  IMAP over implicit TLS                            | on
#   CY_POP3_PORT   POP3, STLS offered                                | 127.0.0.1
#   CY_POP3S_PORT  POP3 over implicit TLS                           /
#   CY_CA          CA certificate (PEM) clients must trust
#   CY_FP_SHA256   server certificate fingerprint, sha256:<hex>
#   CY_ADMIN, CY_ADMIN_PW  the admin (creates the users' mailboxes)
#
# What a client sees: hierarchy separator '.', personal folders under
# "INBOX." ("INBOX.Lists.dev"); FOLDER arguments are IMAP names as sent.
# With "fastmail" (Fastmail runs Cyrus so: unixhierarchysep and
# altnamespace): separator '/', personal folders beside INBOX
# ("Lists/dev"), special-use folders made with CREATE ... (USE (...))
# (cyrus_create_special).
# Cyrus closes the TCP connection after LOGOUT's tagged OK without a TLS
# close_notify. It refuses APPEND of bare LF lines: cyrus_append sends CRLF.
# imapidlepoll is 1 s (IDLE push, with idled), popminpoll 0.
#
# Setup functions (cyrus_start, cyrus_add_user) bail out on failure and
# must run in the test's own shell; query functions return a status.

[ -n "${CY_LOADED:-}" ] && return 0
CY_LOADED=1

CY_LIBDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$CY_LIBDIR/interop.sh"
CY_PREFIX=$MFD_INTEROP_PREFIX/cyrus
CY_BIN=$CY_PREFIX/usr/lib/cyrus/bin
CY_ADMIN=cyradm
CY_ADMIN_PW=pw-cyradm-$$
CY_DIR=""
CY_SID=""
CY_LAYOUT=classic
CY_SEP=.

# The system user the master runs its services as (compiled in: "cyrus").
_cy_user()
{
	getent passwd cyrus >/dev/null && return 0
	(
		flock 9
		getent passwd cyrus >/dev/null ||
		    useradd --system --gid mail --no-create-home \
			--home-dir /nonexistent --shell /usr/sbin/nologin cyrus
	) 9>/tmp/mfd-cy.useradd.lock
	getent passwd cyrus >/dev/null
}

# Write imapd.conf and cyrus.conf for ports BASE..BASE+3.
_cy_write_conf()
{
	local b=$1 d=$CY_DIR svc

	cat >"$CY_CONF" <<EOF
# Throwaway test instance written by tests/lib/cyrus.sh.
configdirectory: $d/conf
partition-default: $d/part
sievedir: $d/sieve
proc_path: $d/run/proc
mboxname_lockpath: $d/run/lock
idlesocket: $d/run/idle
lmtpsocket: $d/run/lmtp
notifysocket: $d/run/notify
servername: localhost
# The classic layout (hosting providers): '.' and folders under "INBOX.";
# Cyrus 3 defaults to '/' and no "INBOX." prefix (Fastmail's layout).
unixhierarchysep: $([ "$CY_LAYOUT" = fastmail ] && echo yes || echo no)
altnamespace: $([ "$CY_LAYOUT" = fastmail ] && echo yes || echo no)
admins: $CY_ADMIN
sasl_pwcheck_method: auxprop
sasl_auxprop_plugin: sasldb
sasl_sasldb_path: $d/conf/sasldb2
sasl_mech_list: PLAIN LOGIN
tls_server_cert: $d/tls/chain.pem
tls_server_key: $d/tls/server.key
# LOGIN over STARTTLS (and USER/PASS over STLS) as users do.
allowplaintext: yes
# IDLE push within a second (idled), POP3 logins without a minimum gap.
imapidlepoll: 1
popminpoll: 0
syslog_prefix: mfd-cyrus
EOF
	svc="-C $CY_CONF"
	cat >"$CY_DIR/cyrus.conf" <<EOF
START {
  recover cmd="$CY_BIN/ctl_cyrusdb $svc -r"
}
SERVICES {
  imap cmd="$CY_BIN/imapd $svc" listen="127.0.0.1:$b" prefork=0
  imaps cmd="$CY_BIN/imapd -s $svc" listen="127.0.0.1:$((b + 1))" prefork=0
  pop3 cmd="$CY_BIN/pop3d $svc" listen="127.0.0.1:$((b + 2))" prefork=0
  pop3s cmd="$CY_BIN/pop3d -s $svc" listen="127.0.0.1:$((b + 3))" prefork=0
}
EVENTS {
}
DAEMON {
  idled cmd="$CY_BIN/idled $svc"
}
EOF
}

# Start the master on BASE..BASE+3 (srv_start_on_free_ports' contract),
# in a session of its own: cyrus_stop ends all of it.
_cy_try_start()
{
	local b=$1 rc

	_cy_write_conf "$b" || return 1
	rm -f "$CY_DIR/run/master.pid"
	srv_launch "$b" "$CY_DIR/master.log" \
	    env LD_LIBRARY_PATH="$CY_PREFIX/usr/lib/x86_64-linux-gnu" \
	    "$CY_BIN/master" -C "$CY_CONF" -M "$CY_DIR/cyrus.conf" \
	    -p "$CY_DIR/run/master.pid" -D
	rc=$?
	[ "$rc" -eq 0 ] || return $rc
	CY_SID=$SRV_SID
	CY_IMAP_PORT=$b
	CY_IMAPS_PORT=$((b + 1))
	CY_POP3_PORT=$((b + 2))
	CY_POP3S_PORT=$((b + 3))
}

# Start the instance; export CY_* (see the top of this file). $1:
# "fastmail" for that layout, else the classic one.
cyrus_start()
{
	local d

	CY_LAYOUT=${1:-classic}
	CY_SEP=.
	[ "$CY_LAYOUT" = fastmail ] && CY_SEP=/
	srv_need_prefix "$CY_PREFIX"
	[ -z "$CY_DIR" ] || tap_bail "cyrus_start: already running in $CY_DIR"
	command -v saslpasswd2 >/dev/null ||
	    tap_bail "no saslpasswd2: apt-get install sasl2-bin"
	_cy_user || tap_bail "cannot create the system user cyrus"
	CY_DIR=$(mktemp -d /tmp/mfd-cy.XXXXXX) || tap_bail "mktemp failed"
	tap_cleanup_add cyrus_stop
	d=$CY_DIR
	CY_CONF=$d/imapd.conf
	chmod 0755 "$d"
	srv_make_tls "$d" ||
	    tap_bail "cannot make the test certificates: $(cat "$d/tls/openssl.err")"
	CY_CA=$SRV_CA
	CY_FP_SHA256=$SRV_FP_SHA256
	# Per-user logs appear under conf/log/USER when that directory exists.
	mkdir -p "$d/conf/log" "$d/part" "$d/sieve" "$d/run" &&
	    chown -R cyrus:mail "$d/conf" "$d/part" "$d/sieve" "$d/run" "$d/tls" ||
	    tap_bail "cannot populate $d"
	_cy_saslpasswd "$CY_ADMIN" "$CY_ADMIN_PW"
	srv_start_on_free_ports "Cyrus" _cy_try_start
	export CY_DIR CY_CONF CY_CA CY_FP_SHA256 CY_IMAP_PORT CY_IMAPS_PORT \
	    CY_POP3_PORT CY_POP3S_PORT
}

# Stop the master and every service process, remove CY_DIR.
cyrus_stop()
{
	[ -n "$CY_DIR" ] || return 0
	tap_cleanup_del cyrus_stop
	srv_stop_session "$CY_SID"
	if [ "${KEEP_DOVECOT:-0}" = 1 ]; then
		tap_diag "KEEP_DOVECOT=1: Cyrus instance files kept in $CY_DIR"
	else
		rm -rf "$CY_DIR"
	fi
	CY_DIR=""
	CY_SID=""
}

# _cy_saslpasswd USER PASSWORD: the sasldb entry (realm localhost).
_cy_saslpasswd()
{
	printf '%s' "$2" | saslpasswd2 -p -f "$CY_DIR/conf/sasldb2" -u localhost \
	    -c "$1" && chown cyrus:mail "$CY_DIR/conf/sasldb2" ||
	    tap_bail "saslpasswd2 for $1 failed"
}

# cyrus_add_user USER PASSWORD: the login and its INBOX (user.USER).
cyrus_add_user()
{
	local out

	[ -n "$CY_DIR" ] || tap_bail "cyrus_add_user: cyrus_start first"
	[[ $1 =~ ^[a-z0-9][a-z0-9_-]*$ ]] ||
	    tap_bail "cyrus_add_user: bad user name '$1'"
	_cy_saslpasswd "$1" "$2"
	out=$(cyrus_imap_cmd "$CY_ADMIN" "$CY_ADMIN_PW" \
	    "CREATE user$CY_SEP$1" 2>&1) ||
	    tap_bail "CREATE user$CY_SEP$1 failed: $out"
	printf '%s\n' "$2" >"$CY_DIR/pw.$1"
}

# cyrus_create_special USER FOLDER USE: FOLDER (as sent) created by USER
# with the special-use attribute USE ("\Trash"), RFC 6154's CREATE.
cyrus_create_special()
{
	local out

	out=$(cyrus_imap_cmd "$1" "$(cat "$CY_DIR/pw.$1")" \
	    "CREATE \"$2\" (USE ($3))" 2>&1) ||
	    tap_bail "CREATE $2 (USE ($3)) failed: $out"
}

# cyrus_imap_cmd USER PASSWORD CMD...: over IMAPS, print the responses.
cyrus_imap_cmd()
{
	local user=$1 pass=$2

	shift 2
	srv_imap "$CY_IMAPS_PORT" "$CY_CA" "$user" "$pass" cmd "$@"
}

# cyrus_append USER FOLDER FILE [IMAP-FLAGS]: APPEND (CRLF) as USER,
# creating FOLDER first when it is not there.
cyrus_append()
{
	local pass

	pass=$(cat "$CY_DIR/pw.$1" 2>/dev/null) || return 2
	srv_append "$CY_IMAPS_PORT" "$CY_CA" "$1" "$pass" "${@:2}"
}

# cyrus_load_samples USER: the sample messages (tests/lib/sample-mail): four
# into INBOX (03 \Seen), two into INBOX.Archive (05 \Seen).
cyrus_load_samples()
{
	srv_load_samples cyrus_append "$1"
}
