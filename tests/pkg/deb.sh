#!/bin/bash
# deb.sh: the Debian package (debian/), end to end. From a copy of the
# source tree as a release tarball holds it (make distdir),
# dpkg-buildpackage -b builds mailfetchd_*.deb (Debian's hardening flags,
# -Werror, the unit tests); lintian reports no error and no warning on the
# .deb, the .buildinfo and the .changes (the distdir must hold every file
# of debian/). The package is then installed with
# dpkg -i into a throwaway copy-on-write view of this machine's root file
# system (this test runs in a mount namespace of its own: overlayfs over /
# with a tmpfs upper layer, and chroot), so neither the machine's dpkg
# database nor a mailfetchd installed by `make install` is touched, and
# everything the package changed is visible in the upper layer. There:
#   - the files are where Debian wants them, /etc/mailfetchd.conf is a
#     conffile with no account, the unit runs the installed binary;
#   - the system unit is enabled as systemctl sees it without systemd
#     running (deb-systemd-helper's symlink), the user unit is not; the
#     sysusers file made the mailfetchd user;
#   - the unit's ExecCondition (debian/unconfigured.conf), run as the
#     unit's User= as systemd runs it, skips the start with the shipped
#     conffile and with /etc/mailfetchd.conf deleted, and lets it through
#     with an account or with a configuration --check-config rejects;
#   - the check the conffile, README.Debian and README.md give before
#     `systemctl restart mailfetchd` runs as the service's user: it
#     refuses a password file only root can read;
#   - the installed /usr/sbin/mailfetchd checks a configuration and
#     fetches from a Dovecot (--once);
#   - dpkg -i of the same .deb again (postinst configure with the old
#     version: an upgrade's path), dpkg -r, dpkg -i again: each succeeds,
#     asks nothing and keeps the administrator's edited conffile; dpkg -r
#     leaves only the conffile and the state;
#   - after dpkg --purge, every file dpkg -L listed is gone, and so are
#     /etc/mailfetchd.conf, /var/lib/mailfetchd and the enablement; nothing
#     else is left but dpkg's records and the mailfetchd user (Debian
#     leaves system users in place on purge).
# Needs root, unshare(1), overlayfs, and debhelper, lintian and the build
# dependencies (tests/lib/deps.sh). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir/_build}
. "$top_srcdir/tests/lib/tap.sh"

[ "$(id -u)" -eq 0 ] || tap_bail "needs root (dpkg -i in a private overlay)"
# Everything below runs in a mount namespace of its own: the overlay and
# its bind mounts vanish with the test's last process, however it ends.
if [ -z "${MFD_DEB_PRIVATE_NS:-}" ]; then
	command -v unshare >/dev/null ||
	    tap_bail "unshare not found (apt-get install -y util-linux)"
	unshare --mount --propagation private true ||
	    tap_bail "cannot make a mount namespace (unshare --mount): this test needs CAP_SYS_ADMIN"
	MFD_DEB_PRIVATE_NS=1 exec unshare --mount --propagation private \
	    "$BASH" "$0" "$@"
fi

for c in dpkg-buildpackage dh dh_installsysusers lintian chroot; do
	command -v "$c" >/dev/null ||
	    tap_bail "$c not found (apt-get install -y debhelper lintian dpkg-dev)"
done
[ -f "$top_builddir/Makefile" ] || tap_bail "no configured build in $top_builddir"
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"

W=$(mktemp -d /tmp/mfd-deb.XXXXXX) || tap_bail "mktemp failed"
R=$W/ovl	# tmpfs: upper/ work/ and the overlay at root/
C=$R/root	# the chroot
# Unmount before removing: rm must never reach /dev through a bind mount
# (--one-file-system is the second guard).
tap_cleanup_add 'umount -R "$R" 2>/dev/null || umount -Rl "$R" 2>/dev/null;
    rm -rf --one-file-system "$W"'

# --- Build, from what a release tarball holds. ------------------------------
# The make that runs the tests must not hand its job server or its
# command-line variables (TESTS=...) to the package's own make.
unset MAKEFLAGS MFLAGS MAKELEVEL
mkdir -p "$W/src" &&
    make -s -C "$top_builddir" distdir distdir="$W/src/mailfetchd" >"$W/distdir.log" 2>&1
ok $? "make distdir copies the source tree, debian/ included" "$(tail -20 "$W/distdir.log")"
[ -x "$W/src/mailfetchd/debian/rules" ] ||
    tap_bail "no executable debian/rules in the distdir (EXTRA_DIST?)"
# The package built here must be the one dpkg-buildpackage builds from
# the tree (README): a file in debian/ that DEBIAN_DIST (Makefile.am)
# does not list, a maintainer script say, would be missing from it.
# (dpkg-buildpackage's products, as .gitignore lists them, are not sources.)
debian_files() {
	(cd "$1/debian" && find . -type f ! -path './.debhelper/*' \
	    ! -path './mailfetchd/*' ! -path './tmp/*' ! -name files \
	    ! -name '*.substvars' ! -name '*.debhelper' ! -name '*.log' \
	    ! -name debhelper-build-stamp ! -name 'autoreconf.*' | LC_ALL=C sort)
}
tap_is "$(LC_ALL=C comm -23 <(debian_files "$top_srcdir") \
    <(debian_files "$W/src/mailfetchd") | tr '\n' ' ')" "" \
    "the distdir holds every file of debian/ (DEBIAN_DIST lists them all)"
start=$(date +%s)
(cd "$W/src/mailfetchd" &&
    env -u top_srcdir -u top_builddir -u MAILFETCHD DEB_BUILD_OPTIONS=parallel=2 \
    dpkg-buildpackage -b -uc -us) >"$W/build.log" 2>&1
rc=$?
tap_diag "dpkg-buildpackage -b took $(($(date +%s) - start)) s"
ok $rc "dpkg-buildpackage -b -uc -us succeeds" "$(tail -40 "$W/build.log")"
deb=$(ls "$W"/src/mailfetchd_*_*.deb 2>/dev/null | head -1)
changes=$(ls "$W"/src/mailfetchd_*.changes 2>/dev/null | head -1)
[ -n "$deb" ] && [ -n "$changes" ] ||
    tap_bail "no mailfetchd_*.deb or .changes in $W/src: $(tail -20 "$W/build.log")"
grep -q -- '-Werror .*-D_FORTIFY_SOURCE=[23] .*-fstack-protector-strong' "$W/build.log"
ok $? "the build compiles with -Werror, _FORTIFY_SOURCE and the stack protector"
grep -Eq '^# FAIL: +0$' "$W/build.log" && grep -Eq '^# PASS: +[1-9]' "$W/build.log"
ok $? "the build ran the unit tests, none failed" \
    "$(grep -E '^# [A-Z]+:' "$W/build.log")"

# --- lintian, at its default level. -------------------------------------------
lintian "$changes" >"$W/lintian.out" 2>&1
rc=$?
lint=$(grep -v '^running with root privileges is not recommended!$' "$W/lintian.out")
tap_diag "lintian $(lintian --version | sed 's/^Lintian //') on $(basename "$changes"): ${lint:-no tags}"
tap_unlike "$lint" '^[EW]: ' "lintian: no error, no warning (.deb, .buildinfo, .changes)"
ok $rc "lintian exits 0" "$lint"

# --- The test configuration and the Dovecot, before the overlay. ------------
# They are bind-mounted into the chroot at the same paths, so the
# installed binary reads them and its Maildir is seen from here.
# (mfd_init wants a binary out here: $T made by hand.)
T=$(mktemp -d /tmp/mfd-imaptest.XXXXXX) || tap_bail "mktemp failed"
chmod 700 "$T" && : >"$T/all-output"
tap_cleanup_add 'rm -rf "$T"'
dovecot_start
dovecot_add_user debuser pw-deb-58c1
dovecot_load_samples debuser
mfd_account debuser pw-deb-58c1
mfd_conf debuser
sed 's/^account /acount /' "$T/debuser/mailfetchd.conf" >"$T/broken.conf"

# --- The overlay. -------------------------------------------------------------
mkdir -p "$R" && mount -t tmpfs -o mode=0755 mfd-deb "$R" &&
    mkdir "$R/upper" "$R/work" "$C" &&
    mount -t overlay mfd-deb -o "lowerdir=/,upperdir=$R/upper,workdir=$R/work" "$C" ||
    tap_bail "cannot mount an overlay over / (overlayfs in a mount namespace)"
# /run a tmpfs: systemd is not running there, whatever the machine runs.
mount --bind /dev "$C/dev" && mount -t proc proc "$C/proc" &&
    mount -t tmpfs -o mode=0755 mfd-deb-run "$C/run" &&
    mkdir -p "$C$T" "$C$DC_DIR" "$C$W/src" &&
    mount --bind "$T" "$C$T" && mount --bind "$DC_DIR" "$C$DC_DIR" &&
    mount --bind "$W/src" "$C$W/src" ||
    tap_bail "cannot bind /dev, /proc, /run, $T, $DC_DIR into the overlay"
in_root() { chroot "$C" "$@"; }

# A mailfetchd from `make install` (or an earlier package) is hidden in
# the overlay only, so that dpkg installs afresh.
if in_root dpkg-query -W -f='${Status}' mailfetchd 2>/dev/null | grep -q installed; then
	tap_diag "this machine has a mailfetchd package: purged in the overlay first"
	in_root dpkg --purge mailfetchd >/dev/null 2>&1
fi
for f in $(dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }'); do
	if [ -e "$C$f" ] || [ -L "$C$f" ]; then
		tap_diag "hidden in the overlay (not from this package): $f"
		rm -f "$C$f"
	fi
done
# No man-db index run in the triggers (seconds, and beside the point).
rm -f "$C/var/lib/man-db/auto-update"
# What the upper layer holds before dpkg: the purge is compared with it.
snapshot() { (cd "$R/upper" && find . -mindepth 1 -printf '%y %P\n' | LC_ALL=C sort); }
snapshot >"$W/before"

# --- dpkg -i. --------------------------------------------------------------
out=$(in_root dpkg -i "$deb" 2>&1)
ok $? "dpkg -i $(basename "$deb") succeeds" "$out"
tap_is "$(in_root dpkg-query -W -f='${Status}' mailfetchd 2>&1)" "install ok installed" \
    "dpkg: mailfetchd is installed"
in_root dpkg -L mailfetchd >"$W/listed" 2>&1
for f in /usr/sbin/mailfetchd /etc/mailfetchd.conf \
    /lib/systemd/system/mailfetchd.service \
    /lib/systemd/system/mailfetchd.service.d/unconfigured.conf \
    /usr/lib/systemd/user/mailfetchd.service /usr/lib/sysusers.d/mailfetchd.conf \
    /usr/share/man/man8/mailfetchd.8.gz /usr/share/man/man5/mailfetchd.conf.5.gz \
    /usr/share/doc/mailfetchd/examples/mailfetchd.conf \
    /usr/share/doc/mailfetchd/README.Debian; do
	grep -qxF "$f" "$W/listed" && [ -f "$C$f" ]
	ok $? "installed and listed by dpkg -L: $f"
done
tap_like "$(in_root dpkg-query -W -f='${Conffiles}' mailfetchd)" \
    '^ /etc/mailfetchd\.conf [0-9a-f]{32}$' "/etc/mailfetchd.conf is the only conffile"
cmp -s "$C/usr/share/doc/mailfetchd/examples/mailfetchd.conf" "$top_srcdir/etc/mailfetchd.conf"
ok $? "the example is etc/mailfetchd.conf as it is"
grep -qx 'ExecStart=/usr/sbin/mailfetchd -c /etc/mailfetchd.conf' \
    "$C/lib/systemd/system/mailfetchd.service"
ok $? "the system unit runs /usr/sbin/mailfetchd with /etc/mailfetchd.conf"
tap_like "$(in_root getent passwd mailfetchd)" \
    '^mailfetchd:x:[0-9]+:[0-9]+:[^:]*:/var/lib/mailfetchd:/(usr/)?s?bin/nologin$' \
    "systemd-sysusers made the mailfetchd system user"

# Enabled the Debian way, as systemctl sees it without systemd running.
# (deb-systemd-helper answers maintainer scripts only: it is asked as one.)
out=$(in_root env DPKG_MAINTSCRIPT_PACKAGE=mailfetchd \
    deb-systemd-helper is-enabled mailfetchd.service 2>&1)
ok $? "deb-systemd-helper is-enabled mailfetchd.service" "$out"
tap_is "$(in_root systemctl is-enabled mailfetchd.service 2>&1)" enabled \
    "systemctl is-enabled mailfetchd.service says enabled"
tap_is "$(readlink "$C/etc/systemd/system/multi-user.target.wants/mailfetchd.service")" \
    /lib/systemd/system/mailfetchd.service "multi-user.target wants mailfetchd.service"
tap_is "$(in_root systemctl --global is-enabled mailfetchd.service 2>&1)" disabled \
    "the user unit is left for each user to enable"
out=$(in_root systemd-analyze verify mailfetchd.service 2>&1)
ok $? "systemd-analyze verify: the unit with its drop-in" "$out"
tap_unlike "$out" 'mailfetchd' "verify prints nothing about mailfetchd"

# --- The shipped configuration and the unit's condition. -------------------
out=$(in_root /usr/sbin/mailfetchd --check-config 2>&1)
ok $? "installed binary: --check-config accepts the shipped /etc/mailfetchd.conf" "$out"
tap_unlike "$out" '^account ' "the shipped /etc/mailfetchd.conf has no account"
in_root /usr/sbin/mailfetchd --once >/dev/null 2>&1
tap_is "$?" 2 "without an account the daemon would exit 2 (what the condition spares it)"
# The ExecCondition command as systemd runs it: continued lines joined
# with a space, $$ for $, the outer quotes of sh -c's argument dropped.
# systemd runs it as the unit's User= (no "+" or "!" prefix): so does this.
unit_user=$(sed -n 's/^User=//p' "$C/lib/systemd/system/mailfetchd.service")
tap_is "$unit_user" mailfetchd "the system unit runs as User=mailfetchd"
cond_line=$(grep '^ExecCondition=' \
    "$C/lib/systemd/system/mailfetchd.service.d/unconfigured.conf")
tap_like "$cond_line" "^ExecCondition=/bin/sh -c '" \
    "ExecCondition= has no + or ! prefix: it runs as User=, like the daemon"
cond=$(sed -n '/^ExecCondition=/,/[^\\]$/p' \
    "$C/lib/systemd/system/mailfetchd.service.d/unconfigured.conf" |
    sed -e 's/\\$//' | tr '\n' ' ' |
    sed -e "s|^ExecCondition=/bin/sh -c '||" -e "s|' *\$||" -e 's/\$\$/$/g')
[ -n "$cond" ] || tap_bail "no ExecCondition= in unconfigured.conf"
as_unit_user() { in_root setpriv --reuid="$unit_user" --regid="$unit_user" \
    --init-groups "$@"; }
err=$(as_unit_user /bin/sh -c "$cond" 2>&1)
tap_is "$?" 1 "ExecCondition: the shipped configuration skips the start"
tap_like "$err" 'no account in /etc/mailfetchd.conf' "and says why"
cp "$C/etc/mailfetchd.conf" "$W/shipped.conf"

# An account as an administrator adds one (README.Debian): its password
# file first readable by root only, the mistake the documented check must
# catch, since the service (User=mailfetchd) could not read it and would
# fail to start.
mkdir -p "$C/etc/mailfetchd" "$C/var/mail/acct" &&
    printf 'pw\n' >"$C/etc/mailfetchd/acct.pass" &&
    chmod 600 "$C/etc/mailfetchd/acct.pass" &&
    in_root chown "$unit_user:" /var/mail/acct ||
    tap_bail "cannot make the account's password file and Maildir"
{ cat "$W/shipped.conf"; cat <<'EOF'
account "acct" {
  protocol = imap
  host = "127.0.0.1"
  port = 1
  user = "u"
  password_file = "/etc/mailfetchd/acct.pass"
  maildir = "/var/mail/acct"
  folder "INBOX" { }
}
EOF
} >"$W/acct.conf"
cp "$W/acct.conf" "$C/etc/mailfetchd.conf"
# The documented check before `systemctl restart mailfetchd`, wherever
# an administrator reads it: it must check as the service's user.
checks=$(grep -h -- '--check-config && systemctl restart mailfetchd' \
    "$C/etc/mailfetchd.conf" "$C/usr/share/doc/mailfetchd/README.Debian" \
    "$top_srcdir/README.md" |
    sed -e 's/ && systemctl restart mailfetchd.*//' -e 's/^[#[:space:]]*//' \
    -e 's/^[0-9]*\.[[:space:]]*//' | LC_ALL=C sort -u)
tap_is "$(grep -c -- '--check-config && systemctl restart mailfetchd' \
    "$C/etc/mailfetchd.conf" "$C/usr/share/doc/mailfetchd/README.Debian" \
    "$top_srcdir/README.md" | grep -c ':0$')" 0 \
    "the conffile, README.Debian and README.md document the check"
while read -r check; do
	[ -n "$check" ] || continue
	err=$(in_root /bin/sh -c "$check" 2>&1)
	rc=$?
	[ "$rc" -ne 0 ] && printf '%s\n' "$err" | grep -q 'acct.pass.* is not readable'
	ok $? "documented '$check', as root, refuses a password file only root can read" \
	    "exit status $rc: $err"
done <<<"$checks"
err=$(as_unit_user /usr/sbin/mailfetchd --check-config 2>&1)
tap_like "$err" 'acct.pass.* is not readable' \
    "(the daemon as User=mailfetchd cannot read it)"
err=$(as_unit_user /bin/sh -c "$cond" 2>&1)
tap_is "$?" 0 "ExecCondition: an account whose password file $unit_user cannot read starts (the daemon fails with its message)"
in_root chown "$unit_user:" /etc/mailfetchd/acct.pass
while read -r check; do
	[ -n "$check" ] || continue
	err=$(in_root /bin/sh -c "$check" 2>&1)
	ok $? "documented '$check' accepts the password file given to $unit_user" "$err"
done <<<"$checks"
err=$(as_unit_user /bin/sh -c "$cond" 2>&1)
ok $? "ExecCondition: a configuration with an account starts" "$err"
tap_is "$err" "" "and says nothing"
cp "$T/broken.conf" "$C/etc/mailfetchd.conf"
as_unit_user /bin/sh -c "$cond"
tap_is "$?" 0 "ExecCondition: a configuration --check-config rejects starts (and fails loudly)"
# A deleted conffile stays deleted (dpkg): the daemon could only exit 2.
rm "$C/etc/mailfetchd.conf"
err=$(as_unit_user /bin/sh -c "$cond" 2>&1)
tap_is "$?" 1 "ExecCondition: a deleted /etc/mailfetchd.conf skips the start"
tap_like "$err" '/etc/mailfetchd.conf does not exist' "and says why"
cp "$W/acct.conf" "$C/etc/mailfetchd.conf"

# --- The installed binary fetches. -------------------------------------------
out=$(in_root /usr/sbin/mailfetchd -c "$T/debuser/mailfetchd.conf" --check-config 2>&1)
ok $? "installed binary: --check-config on a test configuration" "$out"
mfd_run() { in_root /usr/sbin/mailfetchd -c "$T/$1/mailfetchd.conf" --once >"$T/out" 2>"$T/err"
	rc=$?; out=$(cat "$T/out"); err=$(cat "$T/err"); }
mfd_run_ok debuser 0 "installed binary: --once fetches from Dovecot"
mfd_expect "$T/debuser/Maildir" "" "$DC_SAMPLES"/0[1-4]-*.eml

# --- Reinstall, remove, install again. ---------------------------------------
# dpkg -i over the installed package runs the maintainer scripts of an
# upgrade (postinst configure with the old version); an administrator's
# configuration survives it, and survives dpkg -r, with no question asked
# (as apt runs dpkg non-interactively: --force-confdef --force-confold).
cp "$W/acct.conf" "$C/etc/mailfetchd.conf" &&
    echo "# admin edit $$" >>"$C/etc/mailfetchd.conf" &&
    cp "$C/etc/mailfetchd.conf" "$W/admin.conf" ||
    tap_bail "cannot edit /etc/mailfetchd.conf in the overlay"
# State as the service would leave it (StateDirectory=).
mkdir -p "$C/var/lib/mailfetchd" && echo state >"$C/var/lib/mailfetchd/some-state"
dpkg_i() { in_root dpkg --force-confdef --force-confold -i "$deb" </dev/null 2>&1; }
installed_ok() {	# $1: what happened before
	tap_is "$(in_root dpkg-query -W -f='${Status}' mailfetchd 2>&1)" \
	    "install ok installed" "$1: mailfetchd is installed"
	cmp -s "$W/admin.conf" "$C/etc/mailfetchd.conf"
	ok $? "$1: the edited /etc/mailfetchd.conf is kept as it was" \
	    "$(diff "$W/admin.conf" "$C/etc/mailfetchd.conf" 2>&1 | head -5)"
	tap_is "$(in_root systemctl is-enabled mailfetchd.service 2>&1)" enabled \
	    "$1: mailfetchd.service is enabled"
	out=$(as_unit_user /usr/sbin/mailfetchd --check-config 2>&1)
	ok $? "$1: the installed binary, as $unit_user, accepts the kept configuration" "$out"
}
out=$(dpkg_i)
ok $? "dpkg -i of the same .deb again (postinst configure with the old version)" "$out"
tap_unlike "$out" 'onfiguration file|\*\*\*' "dpkg asks nothing about /etc/mailfetchd.conf"
installed_ok "reinstalled"
out=$(in_root dpkg -r mailfetchd 2>&1)
ok $? "dpkg -r mailfetchd succeeds" "$out"
tap_is "$(in_root dpkg-query -W -f='${Status}' mailfetchd 2>&1)" \
    "deinstall ok config-files" "dpkg -r: only the configuration files are left"
left=""
while read -r f; do
	[ -d "$C$f" ] || [ "$f" = /etc/mailfetchd.conf ] && continue
	{ [ -e "$C$f" ] || [ -L "$C$f" ]; } && left="$left $f"
done <"$W/listed"
tap_is "$left" "" "dpkg -r: every file dpkg -L listed but the conffile is gone"
cmp -s "$W/admin.conf" "$C/etc/mailfetchd.conf"
ok $? "dpkg -r: the edited /etc/mailfetchd.conf is kept"
[ -f "$C/var/lib/mailfetchd/some-state" ]
ok $? "dpkg -r: the state in /var/lib/mailfetchd is kept"
out=$(dpkg_i)
ok $? "dpkg -i after dpkg -r succeeds" "$out"
tap_unlike "$out" 'onfiguration file|\*\*\*' "dpkg asks nothing about /etc/mailfetchd.conf"
installed_ok "installed again"

# --- dpkg --purge. -------------------------------------------------------------
out=$(in_root dpkg --purge mailfetchd 2>&1)
ok $? "dpkg --purge mailfetchd succeeds" "$out"
tap_like "$(in_root dpkg-query -W -f='${Status}' mailfetchd 2>&1)" \
    'not-installed|no packages found' "dpkg: mailfetchd is gone"
left=""
while read -r f; do
	[ -d "$C$f" ] && continue	# /, /usr, /lib (a link to usr/lib)...
	{ [ -e "$C$f" ] || [ -L "$C$f" ]; } && left="$left $f"
done <"$W/listed"
tap_is "$left" "" "every file dpkg -L listed is gone"
[ ! -e "$C/etc/mailfetchd.conf" ]
ok $? "/etc/mailfetchd.conf (modified) is gone after the purge"
[ ! -e "$C/var/lib/mailfetchd" ]
ok $? "/var/lib/mailfetchd is gone after the purge"
[ ! -e "$C/etc/systemd/system/multi-user.target.wants/mailfetchd.service" ] &&
    [ -z "$(find "$C/var/lib/systemd" -name '*mailfetchd*' 2>/dev/null)" ]
ok $? "the enablement and deb-systemd-helper's state are gone"
in_root getent passwd mailfetchd >/dev/null
ok $? "the mailfetchd system user remains (Debian leaves system users on purge)"
[ -d "$C/var/mail/acct" ] && [ -f "$C/etc/mailfetchd/acct.pass" ]
ok $? "the Maildir and the password file the administrator made remain"
rm -rf "$C/var/mail/acct" "$C/etc/mailfetchd"
# Everything else the upper layer gained since the snapshot: dpkg's own
# records and log, the user and group databases (the user above), man's
# cache of formatted pages (made by systemd-analyze verify's man: lookups,
# not by the package), and directories only copied up because something
# inside changed.
snapshot >"$W/after"
new=$(LC_ALL=C comm -13 "$W/before" "$W/after" | grep -Ev \
    '^f (var/lib/dpkg/|var/log/dpkg\.log$|etc/(passwd|group|shadow|gshadow)-?$|etc/\.pwd\.lock$|var/cache/man/)')
extra=""
while read -r type path; do
	[ -z "$path" ] && continue
	# A directory the machine already had, copied up: not a leftover.
	[ "$type" = d ] && [ -d "/$path" ] && continue
	extra="$extra
$type $path"
done <<<"$new"
tap_is "$extra" "" "nothing else is left in the overlay after the purge"
tap_done
