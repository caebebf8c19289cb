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

SRV_NAME=Cyrus
SRV_IMAP_PORT=$CY_IMAP_PORT
SRV_IMAPS_PORT=$CY_IMAPS_PORT
SRV_POP3_PORT=$CY_POP3_PORT
SRV_POP3S_PORT=$CY_POP3S_PORT
SRV_CA=$CY_CA
SRV_SEP=.
SRV_TOP=INBOX.
srv_user() { cyrus_add_user "$@"; }
srv_put() { cyrus_append "$@"; }
srv_cmd() { cyrus_imap_cmd "$@"; }

mx_imap_tls
mx_pop3_tls
mx_actions
mx_folders
mx_uidvalidity
mx_idle
mx_diagnose
tap_done
