#!/bin/bash
# suspect_budget.sh: a suspect (a message the server once sent far larger
# than it announced, asked for alone after the others) whose size is then
# larger than the whole daily_limit can never be fetched within it. It
# must be passed over as the normal pass passes such a message over
# (budget_never.sh), not stop the poll: before, the suspect pass hit
# "daily budget reached ... wait on the server for later" at every run,
# and every later folder of the account was never fetched (review r18,
# finding 10). tests/fault/imap_server.py mode plan: message 3 of INBOX
# lies on the first connection, and every later sizes pass says
# 3,000,000 bytes for it; the account fetches INBOX and Other (the same
# messages), daily_limit = 2M. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init suspectbudget

others() { find "$T/Maildir-s/.Other/new" "$T/Maildir-s/.Other/cur" -type f 2>/dev/null | wc -l; }
inbox() { find "$T/Maildir-s/new" "$T/Maildir-s/cur" -type f 2>/dev/null | wc -l; }

export MFD_PLAN='{"folders": ["Other"], "lie": {"1": [3]},
    "sizelie": {"2+": {"3": 3000000}}}'
scripted_server "$top_srcdir/tests/fault/imap_server.py" plan --bad 0 \
    --manifest "$T/manifest" --linger 60
scripted_conf s imap 5s 'daily_limit = 2M' 'folder "INBOX" { }' \
    'folder "Other" { }'
scripted_once s
tap_is "$rc:$(inbox)" "5:2" "run 1: message 3 lies, the session ends (exit 5) after 1 and 2"
scripted_once s
tap_is "$(inbox):$(others)" "4:4" \
    "run 2: the suspect, now larger than the daily_limit, is passed over; Other is fetched" "$err"
tap_like "$err" 'uid=3: message of 3000000 bytes is larger than the whole daily_limit' \
    "... with the reason"
tap_unlike "$err" 'daily budget reached' "... not as a budget used up"
scripted_once s
tap_is "$rc:$(inbox):$(others)" "1:4:4" "run 3: nothing new, nothing held"
tap_like "$(grep -c 'larger than the whole daily_limit' <<<"$err")" '^[12]$' \
    "... the suspect asked for again and passed over again"
tap_like "$(cat "$T/state-s/s.state")" 'suspect INBOX ' \
    "the suspect stays recorded (fetched once daily_limit is raised)"
scripted_conf s imap 5s 'daily_limit = 8M' 'folder "INBOX" { }' \
    'folder "Other" { }'
scripted_once s
tap_is "$(inbox)" 5 "daily_limit raised: the suspect is fetched" "$err"
tap_done
