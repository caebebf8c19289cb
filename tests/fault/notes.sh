#!/bin/bash
# notes.sh: answers that never complete, made only of notes, streamed at
# 2 KiB/s (twice the pacing floor), timeout 2 s: a body FETCH answered by
# "* 5 EXISTS", UID SEARCH by "* OK still working", by the same
# "* SEARCH 1 2 3", or by a new UID a line far past what the folder holds,
# LIST by the same INBOX line. Each ends in exit status 4 saying so, and
# the next run delivers every message exactly once. An honest big answer
# at the same rate (a LIST of 2400 names for 38 s) is not cut. Split from
# trickle.sh so that the two run side by side. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"

scripted_init notes
IMAP="$top_srcdir/tests/fault/imap_server.py"

# The same answers that never complete, streamed at 2 KiB/s (twice the
# pacing floor), timeout 2 s: a body FETCH answered by "* 5 EXISTS", UID
# SEARCH by "* OK still working", by the same "* SEARCH 1 2 3", or by a
# new UID a line far past what the folder holds, LIST by the same INBOX
# line. Notes count towards the note windows at any byte rate (review r13
# 03: before, each window that brought 1 KiB/s passed, and the account
# was held as long as the server streamed: 120 s here).
for m in existsflood:'"* 5 EXISTS" in a body FETCH' \
    okflood:'"* OK still working" to UID SEARCH' \
    searchrep:'"* SEARCH 1 2 3" to UID SEARCH' \
    searchcount:'"* SEARCH k", k counting up, to UID SEARCH' \
    listrep:'the same INBOX line to LIST'; do
	case ${m%%:*} in
	list*)	line='folder "*" { }' ;;
	search*|ok*) line='first_fetch = unseen' ;;
	*)	line='keep = yes' ;;
	esac
	scripted_server "$IMAP" "${m%%:*}" --manifest "$T/manifest"
	scripted_conf "${m%%:*}" imap 2s "$line"
	scripted_once "${m%%:*}"
	tap_like "$err" 'only notes .* and its answer did not end' \
	    "IMAP ${m#*:} at 2 KiB/s: cut after the note windows"
	scripted_trickled "${m%%:*}" "IMAP ${m#*:} at 2 KiB/s"
done
# An honest big answer that brings new results at about twice the floor
# for far more windows than notes may pass (2400 folder names in 38 s,
# timeout 2 s) is not cut.
scripted_server "$IMAP" listlong --manifest "$T/manifest" --bad 0
scripted_conf listlong imap 2s 'folder "*" { }'
scripted_once listlong
tap_is "$rc" 0 "IMAP LIST of 2400 folders at 2.3 KiB/s for 38 s: delivered (exit 0)"
scripted_exact listlong "IMAP LIST of 2400 folders at 2.3 KiB/s for 38 s"

tap_done
