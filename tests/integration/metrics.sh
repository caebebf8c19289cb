#!/bin/bash
# metrics.sh: the metrics file (metrics_file) of a daemon against a real
# Dovecot and a scripted server that refuses every login. The file
# parses with prometheus_client's text-format parser
# (python3-prometheus-client), every family with HELP and TYPE; it is
# mode 0644; its counters match what was fetched (3 messages polled, 5
# pushed by IDLE, the bytes of the delivered files) and the refused
# logins (failures_total, class authentication); the states and gauges
# say what --status --json says. It is replaced atomically: a reader
# reading it in a loop while the IDLE account fetches message after
# message (a write after each) never sees it half-written or missing,
# and sees it change; no temporary file is left beside it. A directory
# that is not there is a warning, logged once, and the daemon goes on.
# A reload that changes an account keeps its counts. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"

mfd_init
dovecot_start
PY=$(_dc_python)
"$PY" -c 'import prometheus_client' 2>/dev/null ||
    tap_bail "python3-prometheus-client is missing (tests/lib/deps.sh installs it)"
MC=$top_srcdir/tests/lib/metrics_check.py
gen() { "$PY" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }

# mget EXPR: EXPR on the metrics file (metrics_check.py get).
mget() { "$PY" "$MC" get "$PROM" "$1" 2>&1; }

# mwait EXPR SECONDS: until EXPR is True; 1 on timeout.
mwait()
{
	local i

	for ((i = 0; i < $2 * 4; i++)); do
		[ "$(mget "$1")" = True ] && return 0
		sleep 0.25
	done
	return 1
}

for u in mpoll midl; do
	dovecot_add_user "$u" "pw-$u-4f0c"
	mfd_account "$u" "pw-$u-4f0c"
done
mfd_account mbad "wrong"
for i in 1 2 3; do
	gen plain "$T/m$i.eml" "metrics-poll-$i"
	dovecot_add_message mpoll INBOX "$T/m$i.eml"
done
for i in 1 2 3 4 5; do
	gen plain "$T/p$i.eml" "metrics-push-$i"
done

daemon_refuse_start

mkdir -m 755 "$T/textfile"
PROM=$T/textfile/mailfetchd.prom
CONF=$T/daemon.conf
{
	printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state"
	printf 'control_socket = "%s"\n' "$T/control"
	printf 'metrics_file = "%s"\n' "$PROM"
	daemon_block mpoll
	daemon_block mbad | sed "s/port = $DC_IMAPS_PORT/port = $RPORT/;s/tls = implicit/tls = none/"
	daemon_block midl 'idle = yes'
} >"$CONF" || tap_bail "cannot write $CONF"
out=$("$MAILFETCHD" -c "$CONF" --check-config 2>&1) || tap_bail "bad configuration: $out"

umask 077
daemon_start "$CONF"
daemon_wait_log 'account=mpoll: fetched 3 messages' 20 ||
    tap_diag "$(tail -20 "$DLOG")"
mwait 'v("mailfetchd_messages_fetched_total", account="mpoll") == 3' 20
ok $? "messages_fetched_total of mpoll is 3 after 3 delivered" "$(mget 1; cat "$PROM")"
tap_is "$(stat -c %a "$PROM")" 644 "the file is mode 0644 (the daemon's umask is 077)"
tap_is "$(mget 1)" 1 "it parses, each family with HELP and TYPE" "$(mget 1)"
bytes=$(cat "$T"/mpoll/Maildir/new/* "$T"/mpoll/Maildir/cur/* 2>/dev/null | wc -c)
tap_is "$(mget 'v("mailfetchd_fetched_bytes_total", account="mpoll")')" "$bytes.0" \
    "fetched_bytes_total of mpoll: the size of the delivered files"
tap_is "$(mget 'v("mailfetchd_account_up", account="mpoll"), v("mailfetchd_account_state", account="mpoll", state="waiting"), v("mailfetchd_account_state", account="mpoll", state="backoff")')" \
    "(1.0, 1.0, 0.0)" "mpoll: up, in state waiting (and not backoff)"
tap_is "$(mget 'v("mailfetchd_last_success_timestamp_seconds", account="mpoll") > 1.7e9, v("mailfetchd_budget_limit_bytes", account="mpoll"), v("mailfetchd_budget_used_bytes", account="mpoll") > 0')" \
    "(True, None, True)" "mpoll: a last success timestamp; no budget limit, bytes used"

mwait 'v("mailfetchd_failures_total", account="mbad", class_="authentication") >= 1' 20
ok $? "mbad: failures_total{class=\"authentication\"} counts the refused login" "$(cat "$PROM")"
tap_is "$(mget 'v("mailfetchd_account_up", account="mbad"), v("mailfetchd_account_state", account="mbad", state="backoff"), v("mailfetchd_failures_total", account="mbad", class_="network")')" \
    "(0.0, 1.0, 0.0)" "mbad: down, in backoff; other classes at 0"

mwait 'v("mailfetchd_idle_connections", account="midl") == 1' 20
ok $? "midl: one IDLE connection" "$(grep midl "$PROM")"
tap_is "$(mget 'v("mailfetchd_connections", account="midl"), v("mailfetchd_account_state", account="midl", state="push")')" \
    "(1.0, 1.0)" "midl: one connection open, in state push"

# Atomic replacement: a reader in a loop while IDLE fetches 5 messages,
# one at a time (the file is written after each).
"$PY" "$MC" watch "$PROM" 12 >"$T/watch.out" 2>"$T/watch.err" &
WPID=$!
for i in 1 2 3 4 5; do
	dovecot_append midl INBOX "$T/p$i.eml" >/dev/null || tap_bail "APPEND failed"
	daemon_wait_log "account=midl.*fetched" 10 "$i" || tap_diag "push $i not seen"
done
wait "$WPID"
read -r _ reads _ distinct _ torn _ missing <"$T/watch.out"
tap_is "$torn:$missing" "0:0" "the reader never saw the file half-written or missing ($reads reads)" \
    "$(cat "$T/watch.out" "$T/watch.err" | head -20)"
ok $(( distinct >= 2 ? 0 : 1 )) "... while it changed ($distinct versions)" "$(cat "$T/watch.out")"
mwait 'v("mailfetchd_messages_fetched_total", account="midl") == 5' 10
ok $? "midl: messages_fetched_total 5 after 5 pushed" "$(grep midl "$PROM")"
tap_is "$(find "$T/textfile" -type f | wc -l)" 1 "no temporary file is left beside it" \
    "$(ls -la "$T/textfile")"

# The numbers are those of --status --json.
"$MAILFETCHD" -c "$CONF" --status --json >"$T/st.json" 2>&1
tap_is "$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sorted((a["name"], a["fetched"]["messages"]) for a in d["accounts"]))' "$T/st.json")" \
    "[('mbad', 0), ('midl', 5), ('mpoll', 3)]" "--status --json counts the same"

# A reload that changes mpoll re-creates it: its counts since the start
# (and today's) carry over; a counter never goes down but at a restart
# (review r16 08).
sed -i '/^account "mpoll"/,/^}/ s/poll_interval = 10s/poll_interval = 11s/' "$CONF"
t_reload=$(date +%s)
kill -HUP "$DPID"
daemon_wait_log 'account=mpoll: changed by the reload' 20 ||
    tap_diag "$(tail -5 "$DLOG")"
mwait "v(\"mailfetchd_metrics_generated_timestamp_seconds\") > $t_reload" 20 ||
    tap_diag "no metrics write after the reload"
tap_is "$(mget 'v("mailfetchd_messages_fetched_total", account="mpoll"), v("mailfetchd_fetched_bytes_total", account="mpoll") > 0')" \
    "(3.0, True)" "a reload that changes mpoll: its counters keep their counts" \
    "$(grep mpoll "$PROM")"
"$MAILFETCHD" -c "$CONF" --status --json mpoll >"$T/st.json" 2>&1
tap_is "$("$PY" -c 'import json,sys; a=json.load(open(sys.argv[1]))["accounts"][0]; print(a["fetched"]["messages"], a["today"]["messages"], a["poll_interval_seconds"])' "$T/st.json")" \
    "3 3 11" "... and --status --json: fetched and today still 3 (poll_interval now 11)" \
    "$(cat "$T/st.json")"

# A directory that is not there: a warning, once, and the daemon goes on.
sed -i "s|^metrics_file = .*|metrics_file = \"$T/nosuch/m.prom\"|" "$CONF"
kill -HUP "$DPID"
daemon_wait_log "metrics_file $T/nosuch/m.prom: cannot create a temporary file beside it: No such file or directory" 80
ok $? "an unwritable metrics_file is a warning naming it and why" "$(tail -5 "$DLOG")"
gen plain "$T/p6.eml" "metrics-push-6"
dovecot_append midl INBOX "$T/p6.eml" >/dev/null || tap_bail "APPEND failed"
daemon_wait_log "account=midl.*fetched" 10 6
ok $? "the daemon goes on fetching"
tap_is "$(grep -c "metrics_file $T/nosuch/m.prom: cannot" "$DLOG")" 1 \
    "... and the warning is not repeated at each write"

kill -TERM "$DPID"
daemon_wait_exit 20
tap_is "$drc" 0 "the daemon stops cleanly"
cat "$DLOG" >>"$T/all-output"
mfd_no_sanitizer
tap_done
