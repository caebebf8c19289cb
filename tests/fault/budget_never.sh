#!/bin/bash
# budget_never.sh: a message larger than the whole daily_limit can never
# be fetched within it; it must not stop every poll before it, the
# messages behind it (and, with IMAP, every later folder) never fetched
# (review r14, finding 11). It is passed over with a warning at each poll,
# left on the server, and fetched once daily_limit is raised; the others
# are fetched. A POP3 warning names the bound it compares, the most the
# download may take, not the LIST size alone (r19 07). POP3
# (tests/fault/pop3dir.py) and IMAP
# (tests/integration/folders_server.py, INBOX and a second folder). TAP
# output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init budgetnever

# files NAME: the messages delivered into $T/Maildir-NAME, its folders'
# too.
files() {
	find "$T/Maildir-$1" -type f \( -path '*/new/*' -o -path '*/cur/*' \) |
	    wc -l
}

# big: a message of about 3 KB.
big() {
	printf 'From: a@example.net\nSubject: big\nMessage-ID: <big@x>\n\n'
	for i in $(seq 60); do printf '%049d\n' "$i"; done
}

# ---- POP3: message 1 of 3 KB, two small ones, daily_limit = 2000 ----
mkdir -p "$T/drop"
big >"$T/drop/01_uid-1"
for i in 2 3; do
	printf 'From: a@example.net\nSubject: small %d\n\nbody\n' "$i" \
	    >"$T/drop/0${i}_uid-$i"
done
python3 "$top_srcdir/tests/fault/pop3dir.py" "$T/drop" "$T/pop3.log" \
    >"$T/port" 2>>"$T/server.err" &
spid=$!
_scripted_port pop3dir.py
scripted_conf p pop3 10s 'keep = no' 'daily_limit = 2000'
scripted_once p
tap_is "$rc:$(files p)" "0:2" "pop3: the two messages that fit are fetched"
tap_like "$err" 'uid=1: message of [0-9]+ bytes, up to [0-9]+ as sent .*, is larger than the whole daily_limit \(2000\).*passed over' \
    "pop3: the one that never fits is named, with the reason"
tap_like "$err" 'fetched 2 message\(s\).*, passed over 1 \(left on the server; the warnings above say why\)' \
    "pop3: the summary counts it as passed over, not as too large"
tap_is "$(ls "$T/drop" | tr '\n' ' ')" "01_uid-1 " \
    "pop3: it stays on the server (keep = no deletes the others)"
scripted_once p
tap_is "$rc:$(files p)" "1:2" "pop3: the next poll passes it over again"
tap_like "$err" 'larger than the whole daily_limit' \
    "pop3: with the warning again"
scripted_conf p pop3 10s 'keep = no' 'daily_limit = 8000'
scripted_once p
tap_is "$rc:$(files p):$(ls "$T/drop" | wc -l)" "0:3:0" \
    "pop3: daily_limit raised, it is fetched (and deleted)"

# ---- POP3: LIST 811 octets under daily_limit = 1000, up to 1085 as
# sent: the warning says what passes the limit, the bound (r19 07) ----
rm -f "$T"/drop/*
{ printf 'Subject: s\n\n'; for i in $(seq 10); do printf '%077d\n' "$i"; done
  printf '%0.s-' $(seq 5); printf '\n'; } >"$T/drop/01_uid-9"
scripted_conf q pop3 10s 'keep = yes' 'daily_limit = 1000'
scripted_once q
tap_like "$err" 'uid=1: message of 811 bytes, up to 1085 as sent \(dot-stuffed lines, the final "\."\), is larger than the whole daily_limit \(1000\)' \
    "pop3: below daily_limit by LIST: the warning names the bound that is not"
kill "$spid" 2>/dev/null
wait "$spid" 2>/dev/null
spid=

# ---- IMAP: INBOX holds the big one and a small one, Lists a small one --
python3 - "$T/box.json" <<'PY'
import json, sys
big = ("Message-ID: <big@test>\nSubject: big\n\n" +
       "".join("%049d\n" % i for i in range(60)))
def msg(u, s, b=None):
    return {"uid": u, "body": b or
            "Message-ID: <%s@test>\nSubject: %s\n\n%s\n" % (s, s, s)}
box = {"caps": "IMAP4rev1 UIDPLUS MOVE", "root": {"mode": "ok", "delim": "/"},
       "folders": {
           "INBOX": {"delim": "/", "flags": [], "uidvalidity": 1,
                     "uidnext": 3, "msgs": [msg(1, "big", big), msg(2, "in2")]},
           "Lists": {"delim": "/", "flags": ["\\HasNoChildren"],
                     "uidvalidity": 1, "uidnext": 2,
                     "msgs": [msg(1, "list1")]}}}
json.dump(box, open(sys.argv[1], "w"))
PY
scripted_folders "$T/box.json"
scripted_conf i imap 10s 'keep = yes' 'daily_limit = 2000' \
    'folder "INBOX" { }' 'folder "Lists" { }'
scripted_once i
tap_is "$rc:$(files i)" "0:2" \
    "imap: INBOX's small message and the other folder's are fetched"
tap_like "$err" 'folder=INBOX uid=1: message of [0-9]+ bytes is larger than the whole daily_limit \(2000\).*passed over' \
    "imap: the one that never fits is named, with the reason"
scripted_once i
tap_is "$rc:$(files i)" "1:2" "imap: the next poll passes it over again"
tap_like "$err" 'uid=1: message of [0-9]+ bytes is larger than the whole daily_limit' \
    "imap: asked for again, with the warning again"
tap_unlike "$err" 'no longer asked for' \
    "imap: and still asked for (not taken for an expunged one)"
scripted_conf i imap 10s 'keep = yes' 'daily_limit = 8000' \
    'folder "INBOX" { }' 'folder "Lists" { }'
scripted_once i
tap_is "$rc:$(files i)" "0:3" "imap: daily_limit raised, it is fetched"
scripted_once i
tap_is "$rc:$(files i)" "1:3" "imap: then nothing twice"

tap_done
