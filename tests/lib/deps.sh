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
