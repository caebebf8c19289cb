#!/bin/bash
# mirror_race.sh: local_flags = mirror when the Maildir moves under the
# flag sync, against Dovecot without CONDSTORE (every flag fetched at
# each poll):
#  - a mail reader moves new/X to cur/X:2, (mutt opening the folder) in
#    the instant between the lookup and the rename of the sync
#    (tests/fault/fsshim.c "readerrace"): the server's \Flagged is not
#    recorded as applied; it reaches cur/X:2,F at the next poll. Before
#    (review r26 04) the map recorded it as known and it never came.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"

CC=${CC:-cc}
command -v "$CC" >/dev/null || tap_bail "no C compiler ($CC) for the shim"
S=$DC_SAMPLES
mfd_init
dovecot_start
"$CC" -shared -fPIC -O2 -o "$T/fsshim.so" "$top_srcdir/tests/fault/fsshim.c" \
    -ldl 2>"$T/cc.err" || tap_bail "cannot build fsshim.so: $(cat "$T/cc.err")"
# An ASan build wants its runtime first; the shim comes before it.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"

dovecot_add_user rr pw-rr-c0ffee
mfd_account rr pw-rr-c0ffee
dovecot_add_message rr INBOX "$S/01-plain.eml"
mfd_conf rr 'local_flags = mirror'
dovecot_without_caps rr pw-rr-c0ffee CONDSTORE QRESYNC
M=$T/rr/Maildir
mfd_run rr
tap_is "$rc:$(mfd_where "$M" "$S/01-plain.eml")" "0:new/" "race: 01 delivered, new/"
dovecot_imap_cmd rr pw-rr-c0ffee 'SELECT INBOX' 'UID STORE 1 +FLAGS (\Flagged)' >/dev/null
MFD_FSSHIM=readerrace MFD_FSSHIM_LOG=$T/shim.log \
    LD_PRELOAD="$T/fsshim.so${LD_PRELOAD:+:$LD_PRELOAD}" mfd_run rr -v
tap_is "$(cat "$T/shim.log" 2>/dev/null)" readerrace \
    "race: the reader moved 01 to cur/ under the sync's rename"
mfd_run rr -v
tap_is "$rc" 1 "race: the next poll, nothing new"
tap_is "$(mfd_where "$M" "$S/01-plain.eml")" "cur/:2,F" \
    "race: the server's \\Flagged reaches the file the reader moved"
mfd_expect "$M" "" "$S/01-plain.eml"

dovecot_add_user kb pw-kb-c0ffee
mfd_account kb pw-kb-c0ffee
dovecot_add_message kb INBOX "$S/01-plain.eml"
mfd_conf kb 'local_flags = mirror'
M=$T/kb/Maildir
mfd_run kb
tap_is "$rc:$(mfd_where "$M" "$S/01-plain.eml")" "0:new/" "kill: 01 delivered, new/"
dovecot_imap_cmd kb pw-kb-c0ffee 'SELECT INBOX' 'UID STORE 1 +FLAGS (\Flagged)' >/dev/null
MAILFETCHD_FAULT=imap-flags-renamed mfd_run kb
tap_is "$rc:$(mfd_where "$M" "$S/01-plain.eml")" "137:cur/:2,F" \
    "kill: killed after the rename to :2,F, before the map has it"
dovecot_imap_cmd kb pw-kb-c0ffee 'SELECT INBOX' 'UID STORE 1 -FLAGS (\Flagged)' >/dev/null
mfd_run kb -v
tap_is "$rc:$(mfd_where "$M" "$S/01-plain.eml")" "1:cur/:2," \
    "kill: the server took \\Flagged back: the next poll follows"
mfd_run kb
tap_is "$(mfd_where "$M" "$S/01-plain.eml")" "cur/:2," "kill: and the poll after"
mfd_expect "$M" "" "$S/01-plain.eml"
mfd_no_sanitizer

tap_done
