#!/bin/bash
# dovecot.sh: the scenarios of the interoperability matrix
# (tests/interop/matrix.sh) that the Dovecot integration tests do not
# cover already: mark_read and keep = no with and without a trash folder
# through MOVE, and a trash_folder that does not exist yet (created on
# [TRYCREATE]), and --diagnose checking the trash folder. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"
. "$top_srcdir/tests/interop/matrix.sh"

mfd_init
dovecot_start

# The matrix's harness calls, on dovecot.sh's functions.
dcmx_add_user() { dovecot_add_user "$@"; }
dcmx_imap_cmd() { dovecot_imap_cmd "$@"; }
dcmx_append()
{
	dovecot_add_folder "$1" "$2"
	dovecot_append "$@"
}

mx_use dcmx Dovecot DC / ""

mx_actions
mx_trash_missing
mx_diagnose
mx_no_secret
tap_done
