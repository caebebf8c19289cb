# deps.sh: the Debian packages mailfetchd needs to build and test, and a
# function that installs the missing ones (root only). Sourced by
# tests/run.sh and tests/demo.sh.

MFD_PKGS="build-essential autoconf automake pkg-config libevent-dev libssl-dev
libconfuse-dev libsystemd-dev zlib1g-dev libcmocka-dev dovecot-imapd dovecot-pop3d
openssl python3 mandoc clang util-linux iproute2 procps strace
dosfstools exfatprogs exfat-fuse fusefat"

# Installs whatever of MFD_PKGS is missing; returns non-zero on failure.
mfd_install_packages() {
	local missing="" p
	for p in $MFD_PKGS; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing="$missing $p"
	done
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
