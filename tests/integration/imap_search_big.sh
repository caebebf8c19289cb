#!/bin/bash
# imap_search_big.sh: first_fetch = unseen on a real Dovecot folder of
# 14,000 unread messages (and 50 read ones). Dovecot answers UID SEARCH
# UNSEEN with one "* SEARCH" line of 14,000 UIDs and over 72 KB, more
# than the parser keeps of one line (64 KiB; 16,384 items is the other
# cap, tests/unit/test_imap_parse.c passes both): the session takes the
# UIDs in batches as the line streams in, fetches every unread message
# exactly once and none of the read ones, and a second run finds nothing
# new. 14,000 and not more: each message fetched costs the run about a
# millisecond. The messages are written straight into Dovecot's Maildir
# (APPEND of 14,000 would take minutes). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/dovecot.sh"
. "$top_srcdir/tests/lib/mfd.sh"

NUNSEEN=14000
NSEEN=50
PY=$(_dc_python)
mfd_init
dovecot_start

# Small messages, each with its own Message-ID: unread ones in new/, read
# ones (":2,S") in cur/.
dovecot_add_user big pw-big
mfd_account big pw-big
md=$(dovecot_folder_path big INBOX)
"$PY" - "$md" "$NUNSEEN" "$NSEEN" <<'PYEOF'
import os, sys, time
md, nunseen, nseen = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for d in ("new", "cur", "tmp"):
    os.makedirs(os.path.join(md, d), exist_ok=True)
now = int(time.time())
for i in range(1, nunseen + nseen + 1):
    seen = i > nunseen
    msg = ("From: Sender <sender@example.org>\nTo: Receiver "
           "<rcpt@example.net>\nSubject: %s %d\nDate: Mon, 3 Feb 2025 "
           "10:00:00 +0000\nMessage-ID: <big-%06d@example.org>\n\n"
           "Message %d.\n" % ("read" if seen else "unread", i, i, i))
    name = "%d.M%dP%d.big" % (now, i, os.getpid())
    path = os.path.join(md, "cur", name + ":2,S") if seen else \
        os.path.join(md, "new", name)
    with open(path, "w") as f:
        f.write(msg)
PYEOF
[ $? = 0 ] || tap_bail "corpus generation failed"
chown -R "$(id -u "$DC_MAIL_USER"):$(id -g "$DC_MAIL_USER")" "$md"

mfd_conf big 'first_fetch = unseen'
mfd_run big
tap_is "$rc" 0 "first run: exit status 0" "$(printf '%s\n' "$err" | tail -20)"
tap_unlike "$err" 'line too long|too many items' \
    "no parser cap is hit by the long SEARCH line"
RD="$T/big/Maildir"
n=$(find "$RD/new" "$RD/cur" -type f | wc -l)
tap_is "$n" "$NUNSEEN" "all $NUNSEEN unread messages delivered"
n=$(cat "$RD"/new/* "$RD"/cur/* 2>/dev/null | grep '^Message-ID:' |
    sort -u | wc -l)
tap_is "$n" "$NUNSEEN" "each exactly once (distinct Message-IDs)"
n=$(cat "$RD"/new/* "$RD"/cur/* 2>/dev/null | grep -c '^Subject: read')
tap_is "$n" 0 "none of the $NSEEN read messages"
mfd_run_ok big 1 "second run: nothing new"
n=$(find "$RD/new" "$RD/cur" -type f | wc -l)
tap_is "$n" "$NUNSEEN" "still $NUNSEEN messages after the second run"

mfd_no_secret pw-big
mfd_no_sanitizer
tap_done
