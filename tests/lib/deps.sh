# deps.sh: the Debian packages mailfetchd needs to build and test, and a
# function that installs the missing ones (root only). Sourced by
# tests/run.sh and tests/demo.sh.

MFD_PKGS="build-essential autoconf automake pkg-config libevent-dev libssl-dev
libconfuse-dev libsystemd-dev zlib1g-dev libcmocka-dev dovecot-imapd dovecot-pop3d dovecot-lmtpd dovecot-sieve
openssl procmail maildrop python3 python3-jsonschema python3-prometheus-client python3-yaml mandoc clang util-linux iproute2 procps strace
debhelper lintian systemd
dosfstools exfatprogs exfat-fuse fusefat"

# _mfd_missing PKG...: the ones not installed, each with a leading space.
_mfd_missing() {
	local p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			printf ' %s' "$p"
	done
}

# Installs whatever of MFD_PKGS is missing; returns non-zero on failure.
mfd_install_packages() {
	local missing
	missing=$(_mfd_missing $MFD_PKGS)
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing packages:$missing (run as root, or apt-get install them)" >&2
		return 1
	fi
	echo "== installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null &&
		apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

# npm packages of the interop tests, kept out of the tree and out of the
# system's node paths: hoodiecrow-imap, an in-memory IMAP server with
# Gmail's extensions (tests/lib/hoodiecrow.sh).
MFD_NPM_PKGS="hoodiecrow-imap@2.1.0"
MFD_NPM_PREFIX=${MFD_NPM_PREFIX:-/var/cache/mailfetchd-tests}

# node and npm from Debian (nodejs, npm) unless the commands are there:
# a machine may have a node build that ships its own npm and conflicts
# with Debian's npm package.
mfd_install_node() {
	local missing=""

	command -v node >/dev/null || missing="nodejs"
	command -v npm >/dev/null || missing="$missing npm"
	[ -z "$missing" ] && return 0
	MFD_PKGS=$missing mfd_install_packages
}

# Installs MFD_NPM_PKGS into MFD_NPM_PREFIX unless they are there at their
# version (root only, as mfd_install_packages); returns non-zero on failure.
mfd_install_npm() {
	local missing="" p have

	mfd_install_node || return 1
	for p in $MFD_NPM_PKGS; do
		have=$(sed -n 's/^ *"version": *"\(.*\)",*$/\1/p' \
		    "$MFD_NPM_PREFIX/node_modules/${p%@*}/package.json" 2>/dev/null)
		[ "$have" = "${p##*@}" ] || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing npm packages:$missing (run as root: . tests/lib/deps.sh && mfd_install_npm)" >&2
		return 1
	fi
	echo "== installing (npm, into $MFD_NPM_PREFIX):$missing"
	mkdir -p "$MFD_NPM_PREFIX" &&
		npm install --prefix "$MFD_NPM_PREFIX" --no-audit --no-fund \
		    --no-save --loglevel=error $missing >/dev/null
}

# Cyrus IMAP and Courier-IMAP for the interoperability matrix (tests/interop).
# Their imapd/pop3d packages conflict with Dovecot's (all provide the virtual
# imap-server/pop3-server), so only their non-conflicting dependencies are
# installed with apt-get; the conflicting packages are downloaded and
# unpacked with dpkg -x into a private prefix the tests run them from:
#   MFD_INTEROP_PREFIX/cyrus    cyrus-common cyrus-imapd cyrus-pop3d
#   MFD_INTEROP_PREFIX/courier  courier-imap courier-pop
# (courier-base, courier-authdaemon and the userdb tools do not conflict and
# come from apt). A policy-rc.d that refuses keeps apt from starting any of
# their services. Nothing is configured in /etc: the tests write their own.
MFD_INTEROP_PREFIX=${MFD_INTEROP_PREFIX:-/var/cache/mailfetchd-tests}
MFD_INTEROP_APT="sasl2-bin db-util gawk libclamav12 libical3 libxapian30
libzephyr4 libwrap0 courier-base courier-authdaemon courier-authlib-userdb
gamin"
MFD_INTEROP_CYRUS_DEBS="cyrus-common cyrus-imapd cyrus-pop3d"
MFD_INTEROP_COURIER_DEBS="courier-imap courier-pop"

# _mfd_apt_noservice CMD...: run apt-get with a policy-rc.d that refuses to
# start services, unless the system already has one.
_mfd_apt_noservice() {
	local own="" rc
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d &&
			chmod 0755 /usr/sbin/policy-rc.d && own=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 "$@"
	rc=$?
	[ -n "$own" ] && rm -f /usr/sbin/policy-rc.d
	return $rc
}

# _mfd_unpack DIR DEBS...: apt-get download DEBS and dpkg -x them into DIR,
# once (DIR/.unpacked lists what is there).
_mfd_unpack() {
	local dir=$1 tmp d; shift
	[ -f "$dir/.unpacked" ] && [ "$(cat "$dir/.unpacked")" = "$*" ] && return 0
	tmp=$(mktemp -d /tmp/mfd-debs.XXXXXX) || return 1
	# apt-get download writes into the current directory, as user _apt.
	chmod 0777 "$tmp"
	(cd "$tmp" && apt-get download -qq "$@" >/dev/null) || { rm -rf "$tmp"; return 1; }
	rm -rf "$dir" && mkdir -p "$dir" || { rm -rf "$tmp"; return 1; }
	for d in "$tmp"/*.deb; do
		dpkg -x "$d" "$dir" || { rm -rf "$tmp"; return 1; }
	done
	rm -rf "$tmp"
	echo "$*" >"$dir/.unpacked"
}

# Installs what the interoperability tests need (root only), idempotent;
# returns non-zero on failure.
mfd_install_interop() {
	local missing
	missing=$(_mfd_missing $MFD_INTEROP_APT)
	if [ -n "$missing" ] || [ ! -f "$MFD_INTEROP_PREFIX/cyrus/.unpacked" ] ||
	    [ ! -f "$MFD_INTEROP_PREFIX/courier/.unpacked" ]; then
		if [ "$(id -u)" -ne 0 ]; then
			echo "interop servers missing (run tests/run.sh as root)" >&2
			return 1
		fi
		# The package lists may be stale or absent on a fresh machine.
		apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null || return 1
	fi
	if [ -n "$missing" ]; then
		echo "== installing (interop):$missing"
		_mfd_apt_noservice install -y -qq --no-install-recommends $missing \
		    >/dev/null || return 1
	fi
	_mfd_unpack "$MFD_INTEROP_PREFIX/cyrus" $MFD_INTEROP_CYRUS_DEBS &&
		_mfd_unpack "$MFD_INTEROP_PREFIX/courier" $MFD_INTEROP_COURIER_DEBS
}
