#!/bin/bash
# progress.sh: on a terminal, --once shows a live progress line per
# account (messages done of expected, megabytes, rate) and clears it
# before log lines; without a terminal, no such line. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"

command -v script >/dev/null || tap_bail "script(1) is missing (bsdutils)"
mfd_init
dovecot_start
dovecot_add_user prog pw-prog-77
mfd_account prog pw-prog-77
# Enough mail that the fetch outlasts a few redraws (4 a second).
"$(_dc_python)" - "$T/big" <<'PY'
import os, sys
d = sys.argv[1]
os.makedirs(d)
for i in range(400):
    with open(os.path.join(d, "m%03d.eml" % i), "w") as f:
        f.write("From: a@example.org\nTo: b@example.org\n"
                "Subject: progress %d\nMessage-ID: <p%d@example.org>\n\n" % (i, i))
        f.write(("line %d of a message that is a little long\n" % i) * 6000)
PY
for f in "$T"/big/*.eml; do dovecot_add_message prog INBOX "$f"; done
mfd_conf prog

script -qfec "$MAILFETCHD -c $T/prog/mailfetchd.conf --once" "$T/tty" >/dev/null 2>&1
tap_is "$?" 0 "--once on a terminal: exit status 0"
tty=$(tr '\r' '\n' <"$T/tty")
tap_like "$tty" "prog [0-9]+/400 [0-9.]+ MB [0-9.]+ MB/s" \
    "a progress line: account, done/expected, MB, rate"
tap_like "$tty" "prog 400/400|fetched 400 message" "it reaches the end"
tap_like "$(cat "$T/tty")" $'\033\\[Kprog' "the line is redrawn in place"

rm -rf "$T/prog/Maildir" "$T/prog/state"
mfd_run prog
tap_is "$rc" 0 "--once without a terminal: exit status 0"
tap_unlike "$err" "MB/s" "without a terminal: no progress line"
tap_is "$(mfd_count "$T/prog/Maildir" "" new)" 400 "all 400 messages delivered"
tap_done
