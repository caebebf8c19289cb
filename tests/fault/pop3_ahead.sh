#!/bin/bash
# pop3_ahead.sh: with PIPELINING and keep = yes, the RETRs of the next
# batch go out before the batch is made durable, so that the server does
# not wait, silent, through each checkpoint (issue 20, the batch-end
# pipeline gap; bench/README.md); the durability order is unchanged:
#   - killed at the first batch's journal (pop3-journaled), the server had
#     the second batch's first RETR already, and the next run delivers
#     every message exactly once;
#   - keep = no: no RETR of the next batch before the batch's DELEs (its
#     checkpoint is followed by DELEs, answered in order).
# 300 messages: two batches of POP3_BATCH_MSGS (250). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init pop3ahead

# mkdrop DIR: 300 small messages, UIDL uN, Subject mN, in order.
mkdrop() {
	mkdir -p "$1"
	python3 - "$1" <<'PY' || tap_bail "cannot write the maildrop"
import sys
for i in range(1, 301):
    with open("%s/%04d_u%d" % (sys.argv[1], i, i), "w") as f:
        f.write("From: a@example.net\nSubject: m%d\n\nbody %d\n" % (i, i))
PY
}

# counts NAME: how many messages NAME's Maildir holds, and how many
# distinct subjects.
counts() {
	printf '%s:%s\n' "$(scripted_count "$1")" \
	    "$(scripted_subjects "$1" | tr ' ' '\n' | grep . | sort -u | wc -l)"
}

# ---- keep = yes ----
mkdrop "$T/y"
scripted_pop3dir "$T/y" POP3DIR_PIPELINING=1
scripted_conf y pop3 10s 'keep = yes'
MAILFETCHD_FAULT=pop3-journaled scripted_once y
tap_is "$rc" 137 "keep = yes: killed at the first batch's journal"
tap_is "$(grep -c '^1 RETR 251$' "$T/srv.log")" 1 \
    "keep = yes: the second batch's first RETR was sent before the first batch's checkpoint"
tap_is "$(counts y)" "0:0" "keep = yes: nothing visible yet"
scripted_once y
tap_is "$rc" 0 "keep = yes: the next run: exit status 0"
tap_is "$(counts y)" "300:300" \
    "keep = yes: every message delivered, each once (the journaled batch recovered)"
tap_is "$(grep -c '^2 RETR ' "$T/srv.log")" 50 \
    "keep = yes: the next run asks only for the 50 of the second batch"
scripted_once y
tap_is "$rc:$(counts y)" "1:300:300" "keep = yes: a third run finds nothing new"
tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
    "keep = yes: no sanitizer report"

# ---- keep = no ----
mkdrop "$T/n"
scripted_pop3dir "$T/n" POP3DIR_PIPELINING=1
scripted_conf n pop3 10s 'keep = no'
scripted_once n
tap_is "$rc:$(counts n)" "0:300:300" "keep = no: every message delivered, each once"
tap_is "$(ls "$T/n" | wc -l | tr -d ' ')" 0 "keep = no: all deleted on the server"
tap_is "$(awk '/^1 DELE 250$/ { d = NR } /^1 RETR 251$/ { r = NR } END { print (d && r && d < r) }' "$T/srv.log")" 1 \
    "keep = no: the second batch's first RETR comes after the first batch's DELEs"
tap_unlike "$err" 'runtime error:|AddressSanitizer|LeakSanitizer' \
    "keep = no: no sanitizer report"

tap_done
