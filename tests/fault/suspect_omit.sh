#!/bin/bash
# suspect_omit.sh: a message that every sizes pass leaves out (UID FETCH
# (UID RFC822.SIZE) answers nothing for it) and that the server once sent
# far larger than announced (a suspect) is not lost (doc/DESIGN.md
# promise 1). A scripted server (tests/fault/imap_server.py omitdrip...)
# leaves message 3 out of every sizes pass, and its second connection
# announces message 3's BODY[] as 200 MB: that run ends (exit 5) and
# message 3 becomes a suspect. The third run's suspect pass is left
# without message 3 by its sizes FETCH too: UID SEARCH finds it, so it is
# fetched without its size and delivered, not forgotten as gone
# (omitdrip; omitdripnosize: no RFC822.SIZE for it anywhere). A UID
# SEARCH UID that leaves it out too is no proof either: UID SEARCH ALL
# lists it (omitdripsearch). Only a message the server shows gone (not
# found by UID SEARCH UID nor listed by UID SEARCH ALL) is no longer
# asked for (omitdripgone). TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init suspomit

# server MODE: (re)start the scripted IMAP server, its log emptied.
server() {
	scripted_start "$T/server.log" "$top_srcdir/tests/fault/imap_server.py" \
	    "$1" --lit 200000000 --manifest "$T/manifest"
}

# suspect NAME: the state's suspect record.
suspect() {
	grep '^suspect ' "$T/state-$1/$1.state"
}

# lied NAME MODE: runs 1 and 2 on a fresh server in MODE; the second ends
# with message 3 a suspect.
lied() {
	server "$2"
	scripted_conf "$1" imap 3s
	scripted_once "$1"
	tap_is "$(scripted_count "$1")" 4 "$1: the first run delivers four"
	scripted_once "$1"
	tap_is "$rc" 5 "$1: the second run ends at the lie (exit status 5)"
	tap_like "$(suspect "$1")" '%203$' "$1: message 3 is a suspect"
}

# A suspect that UID SEARCH finds is delivered by the suspect pass.
for mode in omitdrip omitdripnosize omitdripsearch; do
	lied "$mode" "$mode"
	scripted_once "$mode"
	tap_is "$rc" 0 "$mode: the third run delivers it (exit status 0)"
	tap_unlike "$err" 'no longer asked for' \
	    "$mode: the log does not say it is no longer asked for"
	tap_is "$(suspect "$mode")" "" "$mode: no longer a suspect"
	scripted_once "$mode"
	tap_is "$rc" 1 "$mode: then nothing new"
	scripted_exact "$mode" "$mode: after the fourth run"
done
tap_like "$(grep -E '^3 [^ ]+ UID SEARCH' "$T/server.log" | cut -d' ' -f3- |
    tr '\n' ';')" '^UID SEARCH UID 3;UID SEARCH ALL;$' \
    "omitdripsearch: UID SEARCH UID leaves it out, UID SEARCH ALL is asked"

# Expunged after the lie: the server shows it gone, so it is no longer
# asked for (not owed for ever).
lied gone omitdripgone
scripted_once gone
tap_is "$rc" 1 "gone: the third run has nothing new"
tap_like "$(grep -E '^3 [^ ]+ UID SEARCH' "$T/server.log" | cut -d' ' -f3- |
    tr '\n' ';')" '^UID SEARCH UID 3;UID SEARCH ALL;$' \
    "gone: asked about by UID SEARCH UID, then UID SEARCH ALL"
tap_like "$err" 'are gone \(not listed, not found by UID SEARCH UID nor by UID SEARCH ALL\): no longer asked for' \
    "gone: the log says it is no longer asked for"
tap_is "$(suspect gone)" "" "gone: no longer a suspect"
scripted_exact gone "gone: after the third run"
tap_done
