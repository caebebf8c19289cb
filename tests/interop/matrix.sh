# matrix.sh: the core scenarios of the interoperability matrix, run by
# tests/interop/SERVER.sh against one server (bash; sourced after mfd.sh
# and daemon.sh). The server's test file starts the server once and calls
#
#   mx_use HARNESS NAME VAR-PREFIX SEPARATOR TOP
#	e.g. mx_use cyrus Cyrus CY . INBOX.
#
# and may set MX_UNCREATABLE to a folder name the server refuses to use.
# keep = no without a trash_folder expunges (these are not Gmail: the
# default move to \Trash is Gmail's only). mx_special needs
# HARNESS_create_special USER FOLDER USE
# (RFC 6154's CREATE ... (USE (...))).
#
# HARNESS is the tests/lib helper's function prefix (HARNESS_add_user USER
# PASSWORD, HARNESS_append USER FOLDER FILE [IMAP-FLAGS] creating a missing
# folder, HARNESS_imap_cmd USER PASSWORD CMD..., and for mx_imap_tls
# HARNESS_load_samples USER: four samples into INBOX, 03 \Seen), NAME names the server in
# the test names, VAR-PREFIX_{IMAP,IMAPS,POP3,POP3S}_PORT and
# VAR-PREFIX_CA are its exports, SEPARATOR its hierarchy separator, TOP
# the prefix of a personal folder ("INBOX." or "").
#
# Each scenario has users of its own, so scenarios do not see each other's
# mail; messages are the sample files (LF line ends), and what mailfetchd
# delivers must equal them byte for byte (the server stores and serves
# CRLF). Local folder names are left to mailfetchd's mapping: nested and
# pattern scenarios check the messages wherever they landed in the Maildir.

S=$DC_SAMPLES

# mx_use HARNESS NAME VAR-PREFIX SEPARATOR TOP: see the top.
mx_use()
{
	local v=$3

	MX_HARNESS=$1
	SRV_NAME=$2
	SRV_IMAP_PORT=$(eval "echo \$${v}_IMAP_PORT")
	SRV_IMAPS_PORT=$(eval "echo \$${v}_IMAPS_PORT")
	SRV_POP3_PORT=$(eval "echo \$${v}_POP3_PORT")
	SRV_POP3S_PORT=$(eval "echo \$${v}_POP3S_PORT")
	SRV_CA=$(eval "echo \$${v}_CA")
	SRV_SEP=$4
	SRV_TOP=$5
}

srv_user() { "${MX_HARNESS}_add_user" "$@"; }
srv_put() { "${MX_HARNESS}_append" "$@"; }
srv_cmd() { "${MX_HARNESS}_imap_cmd" "$@"; }

# mx_conf ACCOUNT [ACCOUNT-LINE...] [-- FOLDER-LINE...]: mfd_conf for the
# server over IMAPS (MX_TLS=starttls, MX_PROTO=pop3 to change).
mx_conf()
{
	local port

	case "${MX_PROTO:-imap}/${MX_TLS:-implicit}" in
	imap/implicit)	port=$SRV_IMAPS_PORT ;;
	imap/starttls)	port=$SRV_IMAP_PORT ;;
	pop3/implicit)	port=$SRV_POP3S_PORT ;;
	pop3/starttls)	port=$SRV_POP3_PORT ;;
	esac
	MFD_PROTO=${MX_PROTO:-imap} MFD_TLS=${MX_TLS:-implicit} MFD_PORT=$port \
	    MFD_CA=$SRV_CA mfd_conf "$@"
}

# mx_user USER: a server login and a mailfetchd account of that name.
mx_user()
{
	srv_user "$1" "pw-$1-x"
	mfd_account "$1" "pw-$1-x"
	MX_PASSWORDS+=("pw-$1-x")
}
MX_PASSWORDS=()

# mx_put USER FOLDER FILE [FLAGS]: srv_put that bails out on failure.
mx_put()
{
	srv_put "$@" >/dev/null || tap_bail "$SRV_NAME: APPEND to $2 for $1 failed"
}

# mx_count USER FOLDER: messages in FOLDER on the server ("" if none).
mx_count()
{
	srv_cmd "$1" "pw-$1-x" "STATUS \"$2\" (MESSAGES)" 2>/dev/null |
	    sed -n 's/^\* STATUS .*(MESSAGES \([0-9]*\)).*/\1/p'
}

# mx_flags USER FOLDER: the flags of every message, one line each.
mx_flags()
{
	srv_cmd "$1" "pw-$1-x" "EXAMINE \"$2\"" 'FETCH 1:* (FLAGS)' 2>/dev/null |
	    sed -n 's/^\* [0-9]* FETCH (FLAGS (\([^)]*\))).*/\1/p'
}

# mx_where USER: where the user's messages are on the server: "FOLDER=N"
# for each selectable folder that holds any (names as LIST gives them),
# space-separated, "" for none.
mx_where()
{
	local name cmds=()

	while IFS= read -r name; do
		cmds+=("STATUS \"$name\" (MESSAGES)")
	done < <(srv_cmd "$1" "pw-$1-x" 'LIST "" "*"' 2>/dev/null | tr -d '\r' |
	    grep -v '\\Noselect' |
	    sed -n 's/^\* LIST ([^)]*) \("[^"]*"\|NIL\) "\{0,1\}\([^"]*\)"\{0,1\}$/\2/p')
	[ ${#cmds[@]} -gt 0 ] || return 0
	srv_cmd "$1" "pw-$1-x" "${cmds[@]}" 2>/dev/null | tr -d '\r' |
	    sed -n 's/^\* STATUS "\{0,1\}\([^"]*\)"\{0,1\} (MESSAGES \([1-9][0-9]*\))$/\1=\2/p' |
	    LC_ALL=C sort | tr '\n' ' ' | sed 's/ $//'
}

# mx_everywhere MAILDIR WHAT FILE...: the Maildir (all its folders) holds
# exactly FILE..., byte for byte, each once.
mx_everywhere()
{
	local md=$1 what=$2 got want

	shift 2
	got=$(find "$md" \( -path '*/new/*' -o -path '*/cur/*' \) -type f -print0 |
	    xargs -0r sha256sum | cut -d' ' -f1 | sort)
	want=$(sha256sum -- "$@" | cut -d' ' -f1 | sort)
	if [ "$got" = "$want" ]; then
		tap_ok "$SRV_NAME: $what: the Maildir holds exactly the $# message(s), byte for byte"
	else
		tap_fail "$SRV_NAME: $what: the Maildir holds exactly the $# message(s), byte for byte" \
		    "$(find "$md" -type f | sed "s|^$md/||")"
	fi
}

# mx_first_second USER WHAT: a run exits 0, the next one 1 (nothing new).
mx_first_second()
{
	mfd_run_ok "$1" 0 "$SRV_NAME: $2: first run"
	mfd_run_ok "$1" 1 "$SRV_NAME: $2: second run, nothing new"
}

# --- IMAPS and STARTTLS: 0 then 1, byte-exact delivery (CRLF -> LF) -------
mx_imap_tls()
{
	mx_user mxs
	"${MX_HARNESS}_load_samples" mxs
	mx_conf mxs
	mx_first_second mxs IMAPS
	mfd_expect "$T/mxs/Maildir" "" "$S/01-plain.eml" "$S/02-utf8.eml" \
	    "$S/03-multipart.eml" "$S/04-dot-lines.eml"

	mx_user mxt
	mx_put mxt INBOX "$S/05-reply.eml"
	MX_TLS=starttls mx_conf mxt
	mx_first_second mxt STARTTLS
	mfd_expect "$T/mxt/Maildir" "" "$S/05-reply.eml"
}

# --- POP3S and STLS ---------------------------------------------------------
mx_pop3_tls()
{
	mx_user mps
	mx_put mps INBOX "$S/02-utf8.eml"
	mx_put mps INBOX "$S/04-dot-lines.eml"
	MX_PROTO=pop3 mx_conf mps
	mx_first_second mps POP3S
	mfd_expect "$T/mps/Maildir" "" "$S/02-utf8.eml" "$S/04-dot-lines.eml"

	mx_user mpt
	mx_put mpt INBOX "$S/06-list.eml"
	MX_PROTO=pop3 MX_TLS=starttls mx_conf mpt
	mx_first_second mpt STLS
	mfd_expect "$T/mpt/Maildir" "" "$S/06-list.eml"
}

# --- mark_read and keep = no (with and without a trash folder) ------------
mx_actions()
{
	local trash=${SRV_TOP}Trash

	mx_user mmr
	mx_put mmr INBOX "$S/01-plain.eml"
	mx_conf mmr 'mark_read = yes'
	mfd_run_ok mmr 0 "$SRV_NAME: mark_read"
	tap_like "$(mx_flags mmr INBOX)" '\\Seen' \
	    "$SRV_NAME: mark_read: the message is \\Seen on the server"

	mx_user mkn
	mx_put mkn INBOX "$S/01-plain.eml"
	mx_put mkn INBOX "$S/02-utf8.eml"
	mx_conf mkn 'keep = no'
	mfd_run_ok mkn 0 "$SRV_NAME: keep = no"
	mx_keep_no_where mkn "" 2
	mfd_expect "$T/mkn/Maildir" "" "$S/01-plain.eml" "$S/02-utf8.eml"

	mx_user mkt
	srv_cmd mkt pw-mkt-x "CREATE \"$trash\"" >/dev/null ||
	    tap_bail "$SRV_NAME: CREATE $trash failed"
	mx_put mkt INBOX "$S/01-plain.eml"
	mx_put mkt INBOX "$S/02-utf8.eml"
	mx_conf mkt 'keep = no' "trash_folder = \"$trash\""
	mfd_run_ok mkt 0 "$SRV_NAME: keep = no, trash_folder"
	tap_is "$(mx_count mkt INBOX)" 0 "$SRV_NAME: trash_folder: INBOX is empty"
	tap_is "$(mx_count mkt "$trash")" 2 "$SRV_NAME: trash_folder: both are in $trash"
	mfd_expect "$T/mkt/Maildir" "" "$S/01-plain.eml" "$S/02-utf8.eml"
}

# mx_keep_no_where USER TRASH N: after a keep = no run, the N messages
# are in the server's \Trash folder TRASH (trash_folder = '\Trash'), as
# the log says, or with TRASH "" (no trash_folder) expunged, in no folder.
mx_keep_no_where()
{
	if [ -n "$2" ]; then
		tap_like "$err" "trash_folder \"\\\\Trash\" is the server's \"$2\"" \
		    "$SRV_NAME: keep = no: the log names the \\Trash folder $2"
		tap_is "$(mx_where "$1")" "$2=$3" \
		    "$SRV_NAME: keep = no: the $3 are in $2, nowhere else"
	else
		tap_unlike "$err" 'moved|Trash' \
		    "$SRV_NAME: keep = no: the log speaks of no move"
		tap_is "$(mx_where "$1")" "" \
		    "$SRV_NAME: keep = no: expunged, in no folder on the server"
	fi
}

# --- keep = no with a trash_folder that does not exist: created on the
# server's [TRYCREATE], once, and the messages moved there -----------------
mx_trash_missing()
{
	local trash=${SRV_TOP}Bin

	mx_user mtm
	mx_put mtm INBOX "$S/01-plain.eml"
	mx_put mtm INBOX "$S/02-utf8.eml"
	mx_conf mtm 'keep = no' "trash_folder = \"$trash\""
	mfd_run_ok mtm 0 "$SRV_NAME: keep = no, missing trash_folder"
	tap_like "$err" "trash_folder \"$trash\" does not exist on the server: creating it" \
	    "$SRV_NAME: missing trash_folder: its creation is logged"
	tap_is "$(mx_count mtm INBOX)" 0 "$SRV_NAME: missing trash_folder: INBOX is empty"
	tap_is "$(mx_count mtm "$trash")" 2 \
	    "$SRV_NAME: missing trash_folder: created, both messages in it"
	mfd_expect "$T/mtm/Maildir" "" "$S/01-plain.eml" "$S/02-utf8.eml"
	mx_put mtm INBOX "$S/03-multipart.eml"
	mfd_run_ok mtm 0 "$SRV_NAME: missing trash_folder: the next run"
	tap_unlike "$err" "creating it" "$SRV_NAME: missing trash_folder: created only once"
	tap_is "$(mx_count mtm "$trash")" 3 "$SRV_NAME: missing trash_folder: the next one moved too"

	# A name the server refuses (outside the personal namespace; no
	# [TRYCREATE] then): an error naming the folder, nothing deleted.
	[ -n "${MX_UNCREATABLE:-}" ] || return 0
	mx_user mtu
	mx_put mtu INBOX "$S/01-plain.eml"
	mx_conf mtu 'keep = no' "trash_folder = \"$MX_UNCREATABLE\""
	mfd_run_ok mtu 5 "$SRV_NAME: trash_folder the server refuses"
	tap_like "$err" "trash_folder \"$MX_UNCREATABLE\".* failed.*not deleted" \
	    "$SRV_NAME: trash_folder the server refuses: an error naming it"
	tap_is "$(mx_count mtu INBOX)" 1 \
	    "$SRV_NAME: trash_folder the server refuses: the message stays"
}

# --- nested folders and a pattern --------------------------------------------
mx_folders()
{
	local lists=${SRV_TOP}Lists

	mx_user mnf
	mx_put mnf "$lists${SRV_SEP}dev" "$S/05-reply.eml"
	mx_put mnf "$lists${SRV_SEP}dev${SRV_SEP}old" "$S/06-list.eml"
	mx_put mnf "$lists${SRV_SEP}ops" "$S/01-plain.eml"
	# Configured with '/' whatever the server's separator (mailfetchd
	# maps it); one local folder per remote one, no stray empty ones.
	local conf_lists=${lists//$SRV_SEP//}
	mx_conf mnf -- "folder \"$conf_lists/dev\" { }" \
	    "folder \"$conf_lists/dev/old\" { }"
	mx_first_second mnf "nested folders"
	mx_everywhere "$T/mnf/Maildir" "nested folders" "$S/05-reply.eml" \
	    "$S/06-list.eml"
	tap_is "$(cd "$T/mnf/Maildir" && ls -d .[!.]* 2>/dev/null | wc -l)" 2 \
	    "$SRV_NAME: nested folders: two local folders, no stray ones ($(cd "$T/mnf/Maildir" && ls -d .[!.]* 2>/dev/null | tr '\n' ' '))"

	mx_user mpa
	mx_put mpa "$lists${SRV_SEP}dev" "$S/05-reply.eml"
	mx_put mpa "$lists${SRV_SEP}ops" "$S/06-list.eml"
	mx_put mpa "${SRV_TOP}Other" "$S/01-plain.eml"
	mx_conf mpa -- "folder \"$lists${SRV_SEP}*\" { }"
	mx_first_second mpa "pattern $lists${SRV_SEP}*"
	mx_everywhere "$T/mpa/Maildir" "pattern" "$S/05-reply.eml" \
	    "$S/06-list.eml"
}

# --- special-use folders and a non-ASCII name: folder '\Junk' is the
# server's \Junk folder, "Черновики/Старые" nested and in modified UTF-7,
# and keep = no, trash_folder = '\Trash' moves what each delivers to the
# server's \Trash -------------------------------------------------------------
mx_special()
{
	local trash=${SRV_TOP}Trash junk=${SRV_TOP}Spam cyr cyr_conf

	cyr_conf="${SRV_TOP//$SRV_SEP//}Черновики/Старые"
	cyr=$(dovecot_mutf7 "${SRV_TOP}Черновики")$SRV_SEP$(dovecot_mutf7 "Старые")
	mx_user msu
	"${MX_HARNESS}_create_special" msu "$trash" '\Trash'
	"${MX_HARNESS}_create_special" msu "$junk" '\Junk'
	mx_put msu INBOX "$S/01-plain.eml"
	mx_put msu INBOX "$S/02-utf8.eml"
	mx_put msu "$junk" "$S/06-list.eml"
	mx_put msu "$cyr" "$S/05-reply.eml"
	mx_conf msu 'keep = no' "trash_folder = '\\Trash'" -- 'folder "INBOX" { }' \
	    "folder '\\Junk' { }" \
	    "folder \"$cyr_conf\" { }"
	mx_first_second msu "special-use and non-ASCII folders"
	mx_keep_no_where msu "$trash" 4
	mfd_expect "$T/msu/Maildir" "" "$S/01-plain.eml" "$S/02-utf8.eml"
	mfd_expect "$T/msu/Maildir" "${junk//$SRV_SEP//}" "$S/06-list.eml"
	mfd_expect "$T/msu/Maildir" "$cyr_conf" "$S/05-reply.eml"
	tap_like "$(cat "$T/all-output")" "folder \"\\\\Junk\" is the server's \"$junk\"" \
	    "$SRV_NAME: special-use: the log names the \\Junk folder"
}

# --- UIDVALIDITY recovery: the folder deleted and created again with the
# same messages and one new one; only the new one is delivered. ---------------
mx_uidvalidity()
{
	local f=${SRV_TOP}Proj v1 v2 i

	mx_user muv
	mx_put muv "$f" "$S/05-reply.eml"
	mx_put muv "$f" "$S/06-list.eml"
	mx_conf muv -- "folder \"$f\" { }"
	mfd_run_ok muv 0 "$SRV_NAME: UIDVALIDITY: first run"
	v1=$(srv_cmd muv pw-muv-x "STATUS \"$f\" (UIDVALIDITY)" |
	    sed -n 's/.*UIDVALIDITY \([0-9]*\).*/\1/p')
	# Some servers (Cyrus) take the time in seconds as UIDVALIDITY.
	for ((i = 0; i < 5; i++)); do
		srv_cmd muv pw-muv-x "DELETE \"$f\"" "CREATE \"$f\"" >/dev/null
		v2=$(srv_cmd muv pw-muv-x "STATUS \"$f\" (UIDVALIDITY)" |
		    sed -n 's/.*UIDVALIDITY \([0-9]*\).*/\1/p')
		[ -n "$v2" ] && [ "$v2" != "$v1" ] && break
		sleep 1
	done
	[ -n "$v1" ] && [ -n "$v2" ] && [ "$v1" != "$v2" ]
	ok $? "$SRV_NAME: UIDVALIDITY changed ($v1 -> $v2)"
	mx_put muv "$f" "$S/05-reply.eml"
	mx_put muv "$f" "$S/06-list.eml"
	mx_put muv "$f" "$S/03-multipart.eml"
	mfd_run_ok muv 0 "$SRV_NAME: UIDVALIDITY: the run after the change"
	mx_everywhere "$T/muv/Maildir" "UIDVALIDITY: the old messages not again" \
	    "$S/05-reply.eml" "$S/06-list.eml" "$S/03-multipart.eml"
}

# --- IDLE push in the daemon, a polled folder beside it (its poll ends
# with LOGOUT), and a clean end after SIGTERM ---------------------------------
mx_idle()
{
	local conf i n polled=${SRV_TOP}Polled

	mx_user mid
	mx_put mid INBOX "$S/01-plain.eml"
	mx_put mid "$polled" "$S/05-reply.eml"
	mx_conf mid 'poll_interval = 1h' 'poll_interval_override = yes' -- \
	    'folder "INBOX" { idle = yes }' "folder \"$polled\" { }"
	conf=$T/mid/mailfetchd.conf
	# The state changes (-> IDLING) are logged at debug level.
	sed -i 's/^log_level = info$/log_level = debug/' "$conf"
	daemon_start "$conf"
	daemon_wait_log 'folder=INBOX: .*-> IDLING' 20
	ok $? "$SRV_NAME: IDLE: the daemon idles on INBOX" "$(tail -n 20 "$DLOG")"
	daemon_wait_log "folder=$polled: fetched 1 message" 20 &&
	    daemon_wait_log 'account=mid: fetched 1 message .*; next poll in' 20
	ok $? "$SRV_NAME: daemon: the polled folder's poll fetches and ends" \
	    "$(tail -n 20 "$DLOG")"
	mx_put mid INBOX "$S/02-utf8.eml"
	for ((i = 0; i < 100; i++)); do
		n=$(mfd_count "$T/mid/Maildir" "" new)
		[ "$n" -ge 2 ] && break
		sleep 0.1
	done
	tap_is "$n" 2 "$SRV_NAME: IDLE: an APPEND lands within 10 s (poll: 1 h)"
	kill -TERM "$DPID"
	daemon_wait_exit 20
	tap_is "$drc" 0 "$SRV_NAME: IDLE: the daemon stops with status 0 on SIGTERM"
	tap_unlike "$(grep -E ' (error|warning):' "$DLOG")" . \
	    "$SRV_NAME: daemon: no error or warning in its log (poll, IDLE, stop)"
	mfd_expect "$T/mid/Maildir" "" "$S/01-plain.eml" "$S/02-utf8.eml"
	mx_everywhere "$T/mid/Maildir" "daemon" "$S/01-plain.eml" \
	    "$S/02-utf8.eml" "$S/05-reply.eml"
}

# mx_diag ACCOUNT: mailfetchd --diagnose; sets rc and out (both streams).
mx_diag()
{
	"$MAILFETCHD" -c "$T/$1/mailfetchd.conf" --diagnose >"$T/out" 2>&1
	rc=$?
	out=$(cat "$T/out")
	cat "$T/out" >>"$T/all-output"
}

# --- --diagnose ---------------------------------------------------------------
mx_diagnose()
{
	mx_user mdg
	mx_put mdg INBOX "$S/01-plain.eml"
	mx_put mdg "${SRV_TOP}Archive" "$S/02-utf8.eml"
	mx_conf mdg -- 'folder "INBOX" { }' "folder \"${SRV_TOP}Archive\" { }"
	mx_diag mdg
	tap_is "$rc" 0 "$SRV_NAME: --diagnose: exit 0"
	tap_like "$out" '\[ ok \] logout' "$SRV_NAME: --diagnose: logs out cleanly"
	tap_unlike "$out" '\[FAIL\]' "$SRV_NAME: --diagnose: no [FAIL] line"
	tap_like "$out" "folder \"${SRV_TOP}Archive\": 1 message" \
	    "$SRV_NAME: --diagnose: the nested folder is found"

	# keep = no: the trash folder is checked too.
	mx_diag_trash "${SRV_TOP}Archive" 'ok \] trash folder "%s": exists'
	mx_diag_trash "${SRV_TOP}Nowhere" 'warn\] trash folder "%s": does not exist on the server; mailfetchd creates it'
}

# mx_diag_trash FOLDER ERE: --diagnose with keep = no and FOLDER as the
# trash folder exits 0 and prints a line matching ERE (%s: FOLDER).
mx_diag_trash()
{
	local want

	# shellcheck disable=SC2059
	want=$(printf "$2" "$1")
	mx_conf mdg 'keep = no' "trash_folder = \"$1\""
	mx_diag mdg
	tap_is "$rc" 0 "$SRV_NAME: --diagnose, trash_folder $1: exit 0"
	tap_like "$out" "$want" "$SRV_NAME: --diagnose, trash_folder $1: checked"
}

# mx_all: every scenario above, in order.
mx_all()
{
	mx_imap_tls
	mx_pop3_tls
	mx_actions
	mx_trash_missing
	mx_folders
	mx_uidvalidity
	mx_idle
	mx_diagnose
	mx_no_secret
}

# mx_no_secret: no password of the scenarios in any output of mailfetchd
# (the runs, the daemon's log, --diagnose).
mx_no_secret()
{
	[ -f "$T/daemon.log" ] && cat "$T/daemon.log" >>"$T/all-output"
	mfd_no_secret "${MX_PASSWORDS[@]}"
}
