#!/bin/bash
# courier.sh: the interoperability matrix (tests/interop/matrix.sh) against
# Courier-IMAP 5.0 and courier-pop from Debian's packages
# (tests/lib/courier.sh): IMAPS, STARTTLS, POP3S and STLS, mark_read,
# keep = no with and without a trash folder (Courier has no MOVE), nested
# folders and a pattern, UIDVALIDITY recovery, IDLE push, --diagnose;
# every delivery byte for byte. One server for the whole file.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/courier.sh"
. "$top_srcdir/tests/lib/daemon.sh"
. "$top_srcdir/tests/interop/matrix.sh"

mfd_init
courier_start

mx_use courier Courier CR . INBOX.
# Outside the personal namespace: refused.
MX_UNCREATABLE=Bin

mx_all
tap_done
