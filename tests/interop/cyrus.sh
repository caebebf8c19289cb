#!/bin/bash
# cyrus.sh: the interoperability matrix (tests/interop/matrix.sh) against
# Cyrus IMAP 3.6 from Debian's packages (tests/lib/cyrus.sh): IMAPS,
# STARTTLS, POP3S and STLS, mark_read, keep = no with and without a trash
# folder, nested folders and a pattern, UIDVALIDITY recovery, IDLE push,
# --diagnose; every delivery byte for byte. One server for the whole file.
# TAP output.
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
tap_done
