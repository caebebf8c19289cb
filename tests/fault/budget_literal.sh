#!/bin/bash
# budget_literal.sh: an IMAP session stops at the daily budget while a
# BODY[] literal streams in, not only before the FETCH (doc/DESIGN.md:
# provider limits never exceeded). A scripted server (tests/fault/
# imap_server.py bigbody) lists message 2 at its RFC822.SIZE (544 bytes)
# and sends its BODY[] 20,000 bytes longer: within the bound of a lie
# (twice the size plus 1 MiB), so read as any, yet past a daily_limit of
# 10000 bytes that the batch, planned by the listed sizes, fits in. The
# first run stops at that literal without reading it: message 1 is
# delivered and counted once, the budget holds no more than the limit;
# the next run fetches the others first, then message 2 alone, which
# stops again and blocks none of them. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init budget_literal

# budget: the bytes in the account's saved budget (every slot).
budget() {
	grep '^budget ' "$T/state-lit/lit.state" 2>/dev/null |
	    tr ' ' '\n' | awk -F: 'NF == 2 { s += $2 } END { print s + 0 }'
}

# within TEXT: the saved budget is a number no larger than the limit.
within() {
	local b

	b=$(budget)
	[[ $b =~ ^[0-9]+$ ]] && ((b > 0 && b <= 10000))
	ok $? "$1: the saved budget is within the daily_limit ($b <= 10000)"
}

scripted_start "$T/server.log" "$top_srcdir/tests/fault/imap_server.py" \
    bigbody --bad 100 --manifest "$T/manifest"
scripted_conf lit imap 3s 'daily_limit = 10000'
scripted_once lit
tap_is "$rc" 0 "first run: exit status 0 (new mail)"
tap_like "$err" 'uid=2: daily budget reached inside a batch: the server announced a message of 20564 bytes \(listed as 544\) and the budget leaves 9456' \
    "first run: the log says the literal would pass the budget"
tap_is "$(scripted_count lit)" 1 "first run: message 1 delivered, nothing past it"
within "first run"
scripted_once lit
tap_is "$rc" 0 "second run: exit status 0 (new mail)"
tap_like "$(grep -E '^2 [^ ]+ UID FETCH [^ ]+ \(UID FLAGS' "$T/server.log" |
    cut -d' ' -f5 | tr '\n' ';')" '^3:5;2;$' \
    "second run: the others first, then message 2 alone"
tap_like "$err" 'uid=2: daily budget reached inside a batch' \
    "second run: message 2 alone stops at the budget again"
within "second run"
scripted_exact lit "after the second run"
tap_done
