#!/bin/bash
# fsfallback.sh: delivery where renameat2(RENAME_NOREPLACE) is missing
# (src/maildir.c, maildir_move): link()+unlink() on an ext4 image, also
# when link() reports EEXIST for a link it made (NFS after a lost reply:
# the message must count as delivered once, not failed and then doubled);
# and on vfat and exFAT images, which have no hard links at all (a checked
# rename). The images are made and mounted by the test (we run as root;
# mkfs.vfat, mkfs.exfat and the FUSE drivers from tests/lib/deps.sh): by
# the kernel where it can (loop device), else through FUSE (fusefat,
# exfat-fuse), which is also what real USB sticks often get. The missing
# RENAME_NOREPLACE and the NFS-like EEXIST come from an LD_PRELOAD shim
# (tests/fault/fsshim.c), which logs what it changed; exfat-fuse needs no
# shim (no RENAME_NOREPLACE, no links). Where an image cannot be mounted
# at all, the test says so and uses a plain directory with the shim's
# "nolink" (EPERM, as vfat) instead. POP3 against the scripted server
# (tests/integration/pop3_server.py). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/tap.sh"

command -v python3 >/dev/null || tap_bail "python3 not found"
CC=${CC:-cc}
command -v "$CC" >/dev/null || tap_bail "no C compiler ($CC) for the shim"
T=$(mktemp -d /tmp/mfd-fsfb.XXXXXX)
tap_cleanup_add 'rm -rf "$T"'
printf 'fsfallback-pw\n' >"$T/pass"
chmod 600 "$T/pass"
. "$top_srcdir/tests/lib/scripted.sh"
# An ASan build wants its runtime first; the shim comes before it.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

"$CC" -shared -fPIC -O2 -o "$T/fsshim.so" "$top_srcdir/tests/fault/fsshim.c" \
    -ldl 2>"$T/cc.err" || tap_bail "cannot build fsshim.so: $(cat "$T/cc.err")"

# server: (re)starts the scripted POP3 server with 3 messages; sets $port.
server() {
	scripted_start "$T/server.log" \
	    "$top_srcdir/tests/integration/pop3_server.py" plain
}

# fs TYPE: an image of TYPE (ext4, vfat, exfat) mounted at $T/TYPE and
# unmounted at exit: by the kernel (mount -o loop), else by FUSE (fusefat
# for vfat; exfat-fuse on a loop device for exFAT). Sets FS_HOW, or ""
# with a plain directory when no way works here (said in the output).
fs() {
	local img="$T/$1.img" mnt="$T/$1" dev

	mkdir -p "$mnt"
	FS_HOW=""
	truncate -s 32M "$img" || tap_bail "truncate $img"
	if [ "$(id -u)" != 0 ] || ! "mkfs.$1" "$img" >"$T/mkfs.out" 2>&1; then
		tap_diag "cannot make a $1 image here (not root, or no mkfs.$1)"
	elif mount -o loop "$img" "$mnt" 2>"$T/mount.err"; then
		FS_HOW="$1 image (kernel)"
	elif [ "$1" = vfat ] && command -v fusefat >/dev/null &&
	    fusefat -o rw+ "$img" "$mnt" >"$T/fuse.out" 2>&1; then
		FS_HOW="vfat image (fusefat; no vfat in this kernel)"
	elif [ "$1" = exfat ] && command -v mount.exfat-fuse >/dev/null &&
	    dev=$(losetup -f --show "$img" 2>>"$T/mount.err") &&
	    tap_cleanup_add "losetup -d '$dev' 2>/dev/null" &&
	    mount.exfat-fuse "$dev" "$mnt" >"$T/fuse.out" 2>&1; then
		FS_HOW="exfat image (exfat-fuse)"
	else
		tap_diag "cannot mount a $1 image here: $(cat "$T/mount.err" \
		    "$T/fuse.out" 2>/dev/null | tr '\n' ' ')"
	fi
	[ -n "$FS_HOW" ] && tap_cleanup_add "umount -l '$mnt' 2>/dev/null"
	tap_diag "$1: ${FS_HOW:-a plain directory}"
}

# run NAME MAILDIR SHIM: one mailfetchd --once through the shim; sets rc
# and err.
run() {
	cat >"$T/$1.conf" <<EOC
state_dir = "$T/state-$1"
account "$1" {
    protocol = pop3
    host = "127.0.0.1"
    port = $port
    tls = none
    user = "fault@example.net"
    password_file = "$T/pass"
    maildir = "$2"
    timeout = 10s
}
EOC
	MFD_FSSHIM=$3 MFD_FSSHIM_LOG="$T/shim-$1.log" \
	    LD_PRELOAD="$T/fsshim.so${LD_PRELOAD:+:$LD_PRELOAD}" \
	    "$MAILFETCHD" -c "$T/$1.conf" --once >"$T/out" 2>"$T/err"
	rc=$?
	err=$(cat "$T/err")
}

# in_new MAILDIR: files in new/ and cur/; tmp/ must be empty.
in_new() {
	echo "$(find "$1/new" "$1/cur" -type f | wc -l)/$(find "$1/tmp" -type f | wc -l)"
}

# shim_count NAME WORD: how many calls the shim changed or saw.
shim_count() {
	grep -cx "$2" "$T/shim-$1.log" 2>/dev/null
}

# ---- ext4 without RENAME_NOREPLACE: link() + unlink() --------------------
fs ext4
EXT4=$T/ext4
what=${FS_HOW:-plain directory}
server
run lnk "$EXT4/lnk" norename2
tap_is "$rc" 0 "$what, no RENAME_NOREPLACE: the run succeeds"
tap_is "$(in_new "$EXT4/lnk")" "3/0" "$what, no RENAME_NOREPLACE: 3 delivered, tmp/ empty"
tap_is "$(shim_count lnk link)" 3 "$what, no RENAME_NOREPLACE: delivered by link()"
server
run lnk "$EXT4/lnk" norename2
tap_is "$rc:$(in_new "$EXT4/lnk")" "1:3/0" "$what, no RENAME_NOREPLACE: then nothing new, nothing twice"

# ---- link() made, but reported EEXIST (NFS after a lost reply) -----------
server
run eex "$EXT4/eex" norename2,linkeexist
tap_is "$rc" 0 "$what, link() reports EEXIST after linking: counted as delivered"
tap_is "$(in_new "$EXT4/eex")" "3/0" "$what, link() reports EEXIST: 3 delivered, tmp/ empty"
tap_is "$(shim_count eex linkeexist)" 3 "$what, link() reports EEXIST: the shim said so 3 times"
server
run eex "$EXT4/eex" norename2,linkeexist
tap_is "$rc:$(in_new "$EXT4/eex")" "1:3/0" \
    "$what, link() reports EEXIST: then nothing new, nothing twice"

# ---- no hard links at all (vfat, exFAT) ----------------------------------
# nolinks TYPE SHIM: the checks on a file system of TYPE; SHIM for the
# first runs (the second pair runs with nothing changed by the shim).
nolinks() {
	local md="$T/$1/$1" what

	fs "$1"
	what=${FS_HOW:-plain directory, links refused by the shim}
	if [ -n "$FS_HOW" ]; then
		: >"$T/$1/probe"
		! ln "$T/$1/probe" "$T/$1/probe2" 2>/dev/null
		ok $? "$what: the file system really has no hard links"
		rm -f "$T/$1/probe" "$T/$1/probe2"
	else
		set -- "$1" "$2,nolink"
	fi
	server
	run "$1" "$md" "$2"
	tap_is "$rc" 0 "$what, no RENAME_NOREPLACE: the run succeeds"
	tap_is "$(in_new "$md")" "3/0" "$what, no RENAME_NOREPLACE: 3 delivered, tmp/ empty"
	tap_is "$(shim_count "$1" norename2)" 3 \
	    "$what: renameat2(RENAME_NOREPLACE) was refused 3 times"
	server
	run "$1" "$md" "$2"
	tap_is "$rc:$(in_new "$md")" "1:3/0" "$what: then nothing new, nothing twice"
	# And as the file system has it, the shim changing nothing.
	server
	run "$1k" "$md-k" ""
	tap_is "$rc:$(in_new "$md-k")" "0:3/0" "$what, as it is: 3 delivered"
}
nolinks vfat norename2
nolinks exfat norename2

tap_done
