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
# in "#shared/" ('/'), one message each in the last two; "#shared" is
# listed as the root of its namespace (what LIST "" "#shared" answers).
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
           "#shared": {"delim": "/", "flags": ["\\Noselect"]},
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

# ns_case ACCOUNT CAPS WHAT: a run and --diagnose for "#shared/team" and
# "Lists/dev" on the server with CAPS; each message in its local folder,
# each name sent with its own namespace's separator, --diagnose finds
# both. $T/server.log and $T/diag are left for more checks.
ns_case()
{
	local a=$1 what=$3

	ns_box "$2"
	scripted_folders "$T/box.json"
	scripted_conf "$a" imap 10s 'folder "#shared/team" { }' \
	    'folder "Lists/dev" { }'
	scripted_once "$a"
	ns_rc "$what"
	tap_like "$(cat "$T/server.log")" 'LIST "" "#shared/team"' \
	    "$what: \"#shared/team\" is sent with the shared namespace's '/'"
	tap_like "$(cat "$T/server.log")" 'LIST "" "Lists\.dev"' \
	    "$what: \"Lists/dev\" is sent with the personal namespace's '.'"
	tap_is "$(ls "$T/Maildir-$a/.#shared.team/new" 2>/dev/null | wc -l)" 1 \
	    "$what: the team message is in .#shared.team"
	tap_is "$(ls "$T/Maildir-$a/.Lists.dev/new" 2>/dev/null | wc -l)" 1 \
	    "$what: the dev message is in .Lists.dev"
	timeout -s KILL 60 "$MAILFETCHD" -c "$T/$a.conf" --diagnose >"$T/diag" 2>&1
	rc=$? err=$(cat "$T/diag")
	ns_rc "$what: --diagnose"
	tap_like "$(cat "$T/diag")" 'folder "#shared/team": 1 message' \
	    "$what: --diagnose finds \"#shared/team\""
}

ns_case ns "IMAP4rev1 UIDPLUS MOVE NAMESPACE" "NAMESPACE"
tap_like "$(cat "$T/diag")" "namespace \"#shared/\" the server separates levels with '/'" \
    "NAMESPACE: --diagnose names the namespace's own separator"

# NAMESPACE not announced: LIST "" "#shared" says that namespace's
# separator (RFC 3501 5.1.2's '#'); the personal one is LIST "" ""'s.
# --diagnose takes it from its LIST of all folders.
ns_case nons "IMAP4rev1 UIDPLUS MOVE" "no NAMESPACE"
tap_unlike "$(cat "$T/server.log")" 'NAMESPACE' \
    "no NAMESPACE sent to a server that does not announce it"
tap_like "$(cat "$T/server.log")" 'LIST "" "#shared"$' \
    "no NAMESPACE: the separator of \"#shared\" asked with LIST \"\" \"#shared\""

# ns_variant ACCOUNT PYTHON WHAT: the box edited by PYTHON (box is the
# JSON), a run for "#shared/team" alone: exit 0, sent with its '/'.
ns_variant()
{
	python3 -c "import json, sys
box = json.load(open(sys.argv[1]))
$2
json.dump(box, open(sys.argv[1], 'w'))" "$T/box.json" || tap_bail "box edit"
	: >"$T/server.log"
	scripted_conf "$1" imap 10s 'folder "#shared/team" { }'
	scripted_once "$1"
	ns_rc "$3"
	tap_like "$(cat "$T/server.log")" 'LIST "" "#shared/team"' \
	    "$3: \"#shared/team\" is sent with '/'"
	tap_is "$(ls "$T/Maildir-$1/.#shared.team/new" 2>/dev/null | wc -l)" 1 \
	    "$3: the team message is in .#shared.team"
}

# The answer may name the namespace's root, "#shared/", instead.
ns_variant root 'box["list_raw"] = {"#shared": "* LIST (\\Noselect) \"/\" \"#shared/\"\r\n"}' \
    'no NAMESPACE, root "#shared/" answered'
tap_unlike "$(cat "$T/server.log")" 'LIST "" "#shared\*"' \
    'no NAMESPACE, root "#shared/" answered: taken, no LIST "" "#shared*"'
# Or nothing (review r8 08's server): LIST "" "#shared*" then.
ns_variant wild 'del box["list_raw"]; del box["folders"]["#shared"]' \
    'no NAMESPACE, no answer for "#shared"'
tap_like "$(cat "$T/server.log")" 'LIST "" "#shared\*"' \
    'no NAMESPACE, no answer for "#shared": LIST "" "#shared*" asked'

tap_done
