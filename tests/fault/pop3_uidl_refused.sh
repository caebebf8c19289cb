#!/bin/bash
# pop3_uidl_refused.sh: keep = no, a run killed with its DELEs owed
# (pop3-saved), then a session whose UIDL is refused although the server
# lists UIDL in its CAPA and gave UIDLs before (tests/fault/pop3dir.py
# POP3DIR_UIDLERR). That refusal must end the session, tried again later,
# not switch to "no UIDL: fetch and delete every message", which ignored
# the owed DELEs and delivered every message again (review r19, finding
# 24): "-ERR [SYS/TEMP]" ends it as temporary (exit 4), a plain -ERR as a
# protocol error (exit 5). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init pop3uidlrefused

# check NAME TEXT RC: run 1 killed with 3 DELEs owed; session 2's UIDL
# answered "-ERR TEXT": exit RC, nothing fetched again; session 3 checks
# and deletes the 3, each delivered once.
check() {
	local name=$1

	scripted_pop3dir_msgs "$T/$name" 3
	scripted_pop3dir "$T/$name" POP3DIR_UIDLERR=2 \
	    "POP3DIR_UIDLERRTEXT=$2"
	scripted_conf "$name" pop3 10s 'keep = no'
	MAILFETCHD_FAULT=pop3-saved scripted_once "$name"
	tap_is "$rc:$(scripted_count "$name")" "137:3" \
	    "$name: killed with the 3 delivered, their DELEs owed"
	scripted_once "$name"
	tap_is "$rc:$(scripted_count "$name"):$(ls "$T/$name" | wc -l)" \
	    "$3:3:3" "$name: UIDL refused: the session ends, nothing fetched or deleted"
	tap_like "$err" 'UIDL refused .*not fetching without UIDLs' \
	    "$name: the log says why"
	tap_unlike "$err" 'does not support UIDL' "$name: no switch to no-UIDL"
	scripted_once "$name"
	tap_is "$rc:$(scripted_count "$name"):$(ls "$T/$name" | wc -l)" \
	    "1:3:0" "$name: the next session checks and deletes the 3, none twice"
}

check temp '[SYS/TEMP] UIDL unavailable right now' 4
check plain 'try again' 5

tap_done
