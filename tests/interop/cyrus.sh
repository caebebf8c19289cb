#!/bin/bash
# cyrus.sh: the interoperability matrix (tests/interop/matrix.sh) against
# Cyrus IMAP 3.6 from Debian's packages (tests/lib/cyrus.sh): IMAPS,
# STARTTLS, POP3S and STLS, mark_read, keep = no with and without a trash
# folder, nested folders and a pattern, UIDVALIDITY recovery, IDLE push,
# --diagnose; every delivery byte for byte. Then the core scenarios once
# more against a Cyrus laid out as Fastmail runs it (unixhierarchysep and
# altnamespace: '/', folders beside INBOX, special-use folders): first
# and second run, nested, non-ASCII and special-use folders, a pattern,
# keep = no into the server's \Trash. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/cyrus.sh"
. "$top_srcdir/tests/lib/daemon.sh"
. "$top_srcdir/tests/interop/matrix.sh"

mfd_init
cyrus_start

mx_use cyrus Cyrus CY . INBOX.
# Outside the personal namespace: refused.
MX_UNCREATABLE=Bin

mx_all
cyrus_stop

# Fastmail's layout, in a work directory of its own (the same users).
T_CLASSIC=$T
T=$T_CLASSIC/fastmail
mkdir "$T" && : >"$T/all-output" || tap_bail "cannot make $T"
cyrus_start fastmail
mx_use cyrus "Cyrus (Fastmail)" CY / ""
mx_folders
mx_special
mx_no_secret
T=$T_CLASSIC
tap_done
