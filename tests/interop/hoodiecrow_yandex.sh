#!/bin/bash
# hoodiecrow_yandex.sh: the core scenarios against hoodiecrow-imap set up
# like Yandex: '|' as the hierarchy separator, Cyrillic folder names, a
# Cyrillic \Trash (issue 15). IMAPS and STARTTLS, a first run exiting 0
# and a second 1, nested folders and a pattern written with '/', non-ASCII
# and '&' folders, mark_read, keep = no into the Cyrillic trash named
# and by role ('\Trash'), without a trash_folder deleting, IDLE push, UIDVALIDITY recovery,
# --diagnose, byte-exact delivery, no stray local folder, every folder
# missing = exit 5. One server for the whole file:
# hoodiecrow has one mailbox for every login, so each scenario that
# changes the server has folders of its own.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/hoodiecrow.sh"
. "$top_srcdir/tests/lib/mfd.sh"
. "$top_srcdir/tests/lib/daemon.sh"

S=$DC_SAMPLES
mfd_init
gen() { "$(_dc_python)" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }
for m in dev1 dev2 ann1 work1 tom1 read1 read2 del1 del2 exp1 exp2 idle1 idle2 uv1 uv2 uv3 slash under spam1; do
	gen plain "$T/$m.eml" "$m"
done
cat >"$T/spec.json" <<EOF
{ "separator": "|",
  "users": { "alice": "pw-alice-5c" },
  "folders": {
    "INBOX": { "uidvalidity": 11, "messages": [
        { "file": "$S/01-plain.eml" }, { "file": "$S/02-utf8.eml" },
        { "file": "$S/03-multipart.eml", "flags": ["\\\\Seen"] } ] },
    "Lists|dev": { "messages": [ { "file": "$T/dev1.eml" },
        { "file": "$T/dev2.eml", "flags": ["\\\\Seen"] } ] },
    "Lists|announce": { "messages": [ { "file": "$T/ann1.eml" } ] },
    "Работа": { "messages": [ { "file": "$T/work1.eml" } ] },
    "Tom&Jerry": { "messages": [ { "file": "$T/tom1.eml" } ] },
    "Спам": { "special-use": "\\\\Junk",
        "messages": [ { "file": "$T/spam1.eml" } ] },
    "Удалённые": { "special-use": "\\\\Trash" },
    "Read|me": { "messages": [ { "file": "$T/read1.eml" },
        { "file": "$T/read2.eml" } ] },
    "Del": { "messages": [ { "file": "$T/del1.eml" },
        { "file": "$T/del2.eml" } ] },
    "Expunge": { "messages": [ { "file": "$T/exp1.eml" },
        { "file": "$T/exp2.eml", "flags": ["\\\\Seen"] } ] },
    "Idle": { "messages": [ { "file": "$T/idle1.eml" } ] },
    "A/B": { "special-use": "\\\\Archive",
        "messages": [ { "file": "$T/slash.eml" } ] },
    "A_B": { "messages": [ { "file": "$T/under.eml" } ] },
    "Uv": { "uidvalidity": 5, "messages": [ { "file": "$T/uv1.eml" },
        { "file": "$T/uv2.eml" } ] } } }
EOF
hc_start "$T/spec.json"
HC_USER=alice HC_PASS=pw-alice-5c


# --- IMAPS: INBOX, a pattern written with '/', non-ASCII and '&'. -------
hc_conf ya -- 'folder "INBOX" { }' 'folder "Lists/*" { }' \
    'folder "Работа" { }' 'folder "Tom&Jerry" { }'
MD=$T/ya/Maildir
mfd_run_ok ya 0 "IMAPS, first run: INBOX, Lists/*, Работа, Tom&Jerry"
mfd_expect "$MD" "" "$S/01-plain.eml" "$S/02-utf8.eml" "$S/03-multipart.eml"
mfd_expect "$MD" Lists/dev "$T/dev1.eml" "$T/dev2.eml"
mfd_expect "$MD" Lists/announce "$T/ann1.eml"
mfd_expect "$MD" "Работа" "$T/work1.eml"
mfd_expect "$MD" "Tom&Jerry" "$T/tom1.eml"
tap_is "$(mfd_local_folders "$MD" | tr '\n' ' ')" \
    ".Lists.announce .Lists.dev .Tom&Jerry .Работа " \
    "one local folder per server folder, '|' made '.' (no .Lists|dev)"
mfd_run_ok ya 1 "IMAPS, second run: nothing new"
mfd_expect "$MD" "" "$S/01-plain.eml" "$S/02-utf8.eml" "$S/03-multipart.eml"
tap_is "$(hc_flags INBOX | tr '\n' ';')" "1;2;3 \\Seen;" \
    "keep = yes: the server's messages and flags are as they were"

# --- STARTTLS, a nested folder named with '/'. ---------------------------
MFD_PORT=$HC_IMAP_PORT MFD_TLS=starttls hc_conf st -- 'folder "INBOX" { }' \
    'folder "Lists/dev" { }'
mfd_run_ok st 0 "STARTTLS, first run"
mfd_expect "$T/st/Maildir" "" "$S/01-plain.eml" "$S/02-utf8.eml" "$S/03-multipart.eml"
mfd_expect "$T/st/Maildir" Lists/dev "$T/dev1.eml" "$T/dev2.eml"
mfd_run_ok st 1 "STARTTLS, second run: nothing new"

# --- mark_read. ------------------------------------------------------------
hc_conf mr 'mark_read = yes' -- 'folder "Read/me" { }'
mfd_run_ok mr 0 "mark_read = yes on Read/me"
mfd_expect "$T/mr/Maildir" Read/me "$T/read1.eml" "$T/read2.eml"
tap_is "$(hc_flags 'Read|me' | tr '\n' ';')" "1 \\Seen;2 \\Seen;" \
    "mark_read: both messages are \\Seen on the server"

# --- keep = no into the Cyrillic \Trash. ----------------------------------
hc_conf del 'keep = no' 'trash_folder = "Удалённые"' -- 'folder "Del" { }'
mfd_run_ok del 0 "keep = no, trash_folder = \"Удалённые\""
mfd_expect "$T/del/Maildir" Del "$T/del1.eml" "$T/del2.eml"
tap_is "$(hc_count Del)" 0 "keep = no: Del is empty on the server"
tap_is "$(hc_count 'Удалённые')" 2 "keep = no: both messages are in Удалённые"
mfd_run_ok del 1 "keep = no: the second run has nothing new"

# --- keep = no without a trash_folder: deleted (\Deleted, UID EXPUNGE),
# not moved to the \Trash folder "Удалённые": that is Gmail's only
# (review r11 02, 05). -------------------------------------------------------
hc_conf exp 'keep = no' -- 'folder "Expunge" { }'
mfd_run_ok exp 0 "keep = no without trash_folder"
mfd_expect "$T/exp/Maildir" Expunge "$T/exp1.eml" "$T/exp2.eml"
tap_unlike "$err" 'moved|Удалённые' "keep = no without trash_folder: the log speaks of no move"
tap_is "$(hc_count Expunge)" 0 "keep = no: both messages are gone from Expunge"
tap_is "$(hc_count 'Удалённые')" 2 "keep = no without trash_folder: nothing moved to Удалённые"
mfd_run_ok exp 1 "keep = no without trash_folder: the second run has nothing new"
# trash_folder = '\Trash': the server's \Trash folder, "Удалённые"
# (issue 15, what users need 2).
gen plain "$T/exp3.eml" exp3
gen plain "$T/exp4.eml" exp4
hc_append Expunge "$T/exp3.eml"
hc_append Expunge "$T/exp4.eml"
hc_conf exprole 'keep = no' "trash_folder = '\\Trash'" -- 'folder "Expunge" { }'
mfd_run_ok exprole 0 "keep = no, trash_folder = '\\Trash'"
mfd_expect "$T/exprole/Maildir" Expunge "$T/exp3.eml" "$T/exp4.eml"
tap_like "$err" 'trash_folder "\\Trash" is the server.s "Удалённые"' \
    "trash_folder = '\\Trash': the log names Удалённые"
tap_is "$(hc_count Expunge)" 0 "trash_folder = '\\Trash': both messages are gone from Expunge"
tap_is "$(hc_count 'Удалённые')" 4 "trash_folder = '\\Trash': moved to Удалённые, the \\Trash folder"

# --- UIDVALIDITY recovery: nothing twice, new mail still comes. ----------
hc_conf uv -- 'folder "Uv" { }'
mfd_run_ok uv 0 "UIDVALIDITY: the first run"
hc_uidvalidity Uv 77
mfd_run_ok uv 1 "UIDVALIDITY changed: the messages are recognised, nothing new"
tap_like "$err" 'UIDVALIDITY changed from 5 to 77' "UIDVALIDITY: the change is seen and logged"
mfd_expect "$T/uv/Maildir" Uv "$T/uv1.eml" "$T/uv2.eml"
hc_append Uv "$T/uv3.eml"
mfd_run_ok uv 0 "UIDVALIDITY changed: new mail after it is fetched"
mfd_expect "$T/uv/Maildir" Uv "$T/uv1.eml" "$T/uv2.eml" "$T/uv3.eml"

# --- --diagnose: UTF-8, '/' between levels, the separator named. --------
"$MAILFETCHD" -c "$T/ya/mailfetchd.conf" --diagnose >"$T/out" 2>&1
rc=$?
out=$(cat "$T/out")
cat "$T/out" >>"$T/all-output"
tap_is "$rc" 0 "--diagnose: exit 0" "$out"
tap_like "$out" '"Работа"' "--diagnose lists Работа in UTF-8"
tap_like "$out" '"Lists/dev"' "--diagnose lists Lists|dev as Lists/dev"
tap_unlike "$out" '\\3[0-7][0-7]' "--diagnose prints no octal escapes"
tap_like "$out" "separates folder levels with '\\|'" "--diagnose names the '|' separator"

# --- Every folder missing: exit 5, no local folder. ----------------------
hc_conf none -- 'folder "Nosuch" { }' 'folder "Нет/такой" { }'
mfd_run_ok none 5 "every configured folder missing"
tap_is "$(mfd_local_folders "$T/none/Maildir")" "" "no local folder for a missing one"

# --- IDLE push. ------------------------------------------------------------
hc_conf idle 'idle = yes' 'poll_interval = 1h' -- 'folder "Idle" { }'
sed -i 's/^log_level = info/log_level = debug/' "$T/idle/mailfetchd.conf"
daemon_start "$T/idle/mailfetchd.conf"
daemon_wait_log 'folder=Idle: .*-> IDLING' 20
ok $? "IDLE: the daemon reaches IDLE on Idle" "$(tail -20 "$DLOG")"
hc_append Idle "$T/idle2.eml"
for ((i = 0; i < 250; i++)); do
	[ "$(mfd_count "$T/idle/Maildir" Idle new)" -ge 2 ] && break
	sleep 0.02
done
tap_is "$(mfd_count "$T/idle/Maildir" Idle new)" 2 \
    "IDLE: a message appended while idling lands within 5 s"
kill -TERM "$DPID"
daemon_wait_exit 10
tap_is "$drc" 0 "IDLE: the daemon stops cleanly"
mfd_expect "$T/idle/Maildir" Idle "$T/idle1.eml" "$T/idle2.eml"
cat "$DLOG" >>"$T/all-output"

# --- Two server folders, one local name, one of them held by IDLE. -------
# "A/B" (a '/' inside a name here) and "A_B" both map to local "A_B": the
# polling session refuses the pattern's "A/B" as --once does, though
# "A_B" is another session's (review r8 04: both went into .A_B).
hc_conf clash 'poll_interval = 1h' -- 'folder "A_B" { idle = yes }' \
    'folder "A*" { }'
sed -i 's/^log_level = info/log_level = debug/' "$T/clash/mailfetchd.conf"
: >"$T/daemon.log"
daemon_start "$T/clash/mailfetchd.conf"
daemon_wait_log 'folder=A_B: .*-> IDLING' 20
ok $? "clash: the daemon reaches IDLE on A_B" "$(tail -20 "$DLOG")"
daemon_wait_log 'folders "A_B" \(held open with IDLE\) and "A/B" would both be delivered to local folder "A_B"' 20
ok $? "clash: the polling session refuses A/B, naming both" "$(grep -E 'error|fetched' "$DLOG")"
kill -TERM "$DPID"
daemon_wait_exit 10
tap_is "$drc" 0 "clash: the daemon stops cleanly"
mfd_expect "$T/clash/Maildir" A_B "$T/under.eml"
cat "$DLOG" >>"$T/all-output"

# --- Two IDLE sessions, one local folder or one server folder. ----------
# The server's \Archive is "A/B" (local "A_B", as "A_B"'s) and its \Junk
# is "Спам": of two IDLE folders that would mix two server folders in one
# local folder, or fetch one server folder side by side, the one
# configured later is refused, whichever session starts first (each IDLE
# session checked only itself: .A_B got both, Спам was fetched twice).
hc_conf idle2 'poll_interval = 1h' -- 'folder "A_B" { idle = yes }' \
    "folder '\\Archive' { idle = yes }" 'folder "Спам" { idle = yes }' \
    "folder '\\Junk' { idle = yes }"
: >"$T/daemon.log"
daemon_start "$T/idle2/mailfetchd.conf"
# idle2_saw ERE WHAT: the daemon's log says ERE within 20 s.
idle2_saw()
{
	daemon_wait_log "$1" 20
	ok $? "idle2: $2" "$(grep -E 'error|fetched' "$DLOG")"
}
idle2_saw 'folders "A_B" \(held open with IDLE\) and "A/B" would both be delivered to local folder "A_B"' \
    'the \Archive session refuses A/B, naming A_B'
idle2_saw 'folders "Спам" \(held open with IDLE\) and "\\Junk" are the same server folder "Спам"' \
    'the \Junk session refuses Спам, fetched by the "Спам" one'
idle2_saw 'folder=A_B: fetched 1 message' 'A_B fetched'
idle2_saw 'folder=Спам: fetched 1 message' 'Спам fetched'
kill -TERM "$DPID"
daemon_wait_exit 10
tap_is "$drc" 0 "idle2: the daemon stops cleanly"
mfd_expect "$T/idle2/Maildir" A_B "$T/under.eml"
mfd_expect "$T/idle2/Maildir" Спам "$T/spam1.eml"
tap_is "$(mfd_local_folders "$T/idle2/Maildir" | tr '\n' ' ')" ".A_B .Спам " \
    "idle2: no other local folder"
cat "$DLOG" >>"$T/all-output"

mfd_no_sanitizer
tap_done
