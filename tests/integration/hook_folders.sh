#!/bin/bash
# hook_folders.sh: what new_mail_command is told of folders a server
# named (review r15 06, 11), against tests/integration/folders_server.py:
#  - a folder whose modified UTF-7 name decodes to a line feed
#    ("Archive.&AAo-INBOX") is one line of MAILFETCHD_FOLDERS, the line
#    feed escaped (\012): no fake "INBOX" line; the daemon's log lines
#    carry it escaped too (no line of the log starts with "INBOX");
#  - 100 folders of 190-byte names (19 KB of names) that each got mail:
#    MAILFETCHD_FOLDERS lists whole names within 16384 bytes, and
#    MAILFETCHD_FOLDER_COUNT says 100 (an unbounded list passes the
#    kernel's 128 KiB per environment string with some 700 such
#    folders, and then the hook cannot start at all).
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"

scripted_init hookfolders

# box FILE NAME...: one message in each folder NAME ('.' separated).
box()
{
	python3 - "$@" <<'PY'
import json, sys
path, names = sys.argv[1], sys.argv[2:]
f = {}
for i, name in enumerate(names):
    f[name] = {"delim": ".", "flags": [], "uidvalidity": 1, "uidnext": 2,
               "msgs": [{"uid": 1, "flags": [], "body":
                   "From: a@b\r\nMessage-ID: <hf-%d@x>\r\n\r\nbody\r\n" % i}]}
json.dump({"caps": "IMAP4rev1 UIDPLUS", "root": {"mode": "ok", "delim": "."},
           "folders": f}, open(path, "w"))
PY
}
# The hook keeps its variables, one file each.
cat >"$T/hook.sh" <<HOOK
#!/bin/sh
printf '%s\n' "\$MAILFETCHD_FOLDERS" >"$T/folders"
printf '%s\n' "\${MAILFETCHD_FOLDER_COUNT-unset}" >"$T/count"
printf '%s\n' "\$MAILFETCHD_NEW" >"$T/new"
HOOK
chmod 755 "$T/hook.sh"

# ---- a name that decodes to a line feed ------------------------------------
box "$T/box1.json" 'Archive.&AAo-INBOX' Archive.x
scripted_folders "$T/box1.json"
scripted_conf nl imap 20 "new_mail_command = \"$T/hook.sh\"" \
    'folder "Archive.*" { }'
scripted_once nl
tap_is "$rc" 0 "two folders, one named with a line feed: exit 0 (new mail)"
tap_is "$(cat "$T/new" 2>&1)" 2 "the hook ran for the 2 messages"
tap_is "$(sort "$T/folders" 2>&1)" "$(printf 'Archive.\\012INBOX\nArchive.x')" \
    "MAILFETCHD_FOLDERS: two lines, the line feed escaped"
tap_is "$(cat "$T/count" 2>&1)" 2 "MAILFETCHD_FOLDER_COUNT=2"
tap_is "$(printf '%s\n' "$err" | grep -c '^INBOX')" 0 \
    "no line of the log starts with the name's tail"
tap_like "$err" 'folder=Archive\.\\012INBOX: ' \
    "the log shows the name escaped"

# ---- 100 long names --------------------------------------------------------
x180=$(printf 'x%.0s' $(seq 180))
names=()
for ((i = 0; i < 100; i++)); do
	names+=("$(printf 'Long.%04d-%s' "$i" "$x180")")
done
box "$T/box2.json" "${names[@]}"
scripted_folders "$T/box2.json"
rm -f "$T/folders" "$T/count" "$T/new"
scripted_conf many imap 60 "new_mail_command = \"$T/hook.sh\"" \
    'folder "Long.*" { }'
scripted_once many
tap_is "$rc" 0 "100 folders of 190-byte names: exit 0 (new mail)"
tap_is "$(cat "$T/new" 2>&1)" 100 "the hook ran for the 100 messages"
tap_is "$(cat "$T/count" 2>&1)" 100 "MAILFETCHD_FOLDER_COUNT=100"
len=$(($(wc -c <"$T/folders") - 1))
[ "$len" -le 16384 ] && [ "$len" -gt 16000 ]
tap_is "$?" 0 "MAILFETCHD_FOLDERS is cut at 16384 bytes (got $len)"
tap_is "$(grep -cvE '^Long\.[0-9]{4}-x{180}$' "$T/folders")" 0 \
    "... at a line end: every line a whole name"
tap_done
