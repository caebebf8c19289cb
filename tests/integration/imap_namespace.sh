#!/bin/bash
# imap_namespace.sh: a server whose separator differs per namespace (RFC
# 2342; review r8 08): personal '.', "#shared/" with '/'. A configured
# name is sent with the separator of the namespace it falls in (the
# NAMESPACE answer), so "#shared/team" is the server's "#shared/team",
# not "#shared.team", and "Lists/dev" still the personal "Lists.dev";
# --diagnose finds both. Against tests/integration/folders_server.py.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"

scripted_init namespace

# ns_box CAPS: INBOX and Lists.dev in the personal namespace ('.'), team
# in "#shared/" ('/'), one message each in the last two.
ns_box()
{
	python3 - "$T/box.json" "$1" <<'PY'
import json, sys
path, caps = sys.argv[1:]
msg = lambda s: [{"uid": 1, "body": "Message-ID: <%s@test>\nSubject: %s\n\n%s\n" % (s, s, s)}]
box = {"caps": caps, "root": {"mode": "ok", "delim": "."},
       "namespace": '(("" ".")) NIL (("#shared/" "/"))',
       "folders": {
           "INBOX": {"delim": ".", "uidvalidity": 1, "uidnext": 1, "msgs": []},
           "Lists.dev": {"delim": ".", "uidvalidity": 1, "uidnext": 2, "msgs": msg("dev")},
           "#shared/team": {"delim": "/", "uidvalidity": 1, "uidnext": 2, "msgs": msg("team")}}}
json.dump(box, open(path, "w"))
PY
}
# ns_rc WHAT: exit status 0, else the run's stderr as the diagnostic.
ns_rc()
{
	tap_is "$rc" 0 "$1: exit status 0"
	[ "$rc" = 0 ] || tap_diag "$err"
}

ns_box "IMAP4rev1 UIDPLUS MOVE NAMESPACE"
scripted_folders "$T/box.json"
scripted_conf ns imap 10s 'folder "#shared/team" { }' 'folder "Lists/dev" { }'
scripted_once ns
ns_rc "'#shared/' with '/' beside personal '.'"
tap_like "$(cat "$T/server.log")" 'LIST "" "#shared/team"' \
    "\"#shared/team\" is sent with the shared namespace's '/'"
tap_like "$(cat "$T/server.log")" 'LIST "" "Lists\.dev"' \
    "\"Lists/dev\" is sent with the personal namespace's '.'"
tap_is "$(ls "$T/Maildir-ns/.#shared.team/new" 2>/dev/null | wc -l)" 1 \
    "the team message is in .#shared.team"
tap_is "$(ls "$T/Maildir-ns/.Lists.dev/new" 2>/dev/null | wc -l)" 1 \
    "the dev message is in .Lists.dev"

timeout -s KILL 60 "$MAILFETCHD" -c "$T/ns.conf" --diagnose >"$T/diag" 2>&1
rc=$? err=$(cat "$T/diag")
ns_rc "--diagnose"
tap_like "$(cat "$T/diag")" 'folder "#shared/team": 1 message' \
    "--diagnose finds \"#shared/team\""
tap_like "$(cat "$T/diag")" "namespace \"#shared/\" the server separates levels with '/'" \
    "--diagnose names the namespace's own separator"

# NAMESPACE not announced: the one separator of LIST "" "", as before.
ns_box "IMAP4rev1 UIDPLUS MOVE"
scripted_folders "$T/box.json"
scripted_conf nons imap 10s 'folder "Lists/dev" { }'
scripted_once nons
ns_rc "no NAMESPACE"
tap_unlike "$(cat "$T/server.log")" 'NAMESPACE' \
    "no NAMESPACE sent to a server that does not announce it"
tap_is "$(ls "$T/Maildir-nons/.Lists.dev/new" 2>/dev/null | wc -l)" 1 \
    "no NAMESPACE: the dev message is in .Lists.dev"

tap_done
