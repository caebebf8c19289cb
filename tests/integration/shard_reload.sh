#!/bin/bash
# shard_reload.sh: a reload may not change the shard an instance runs as
# (review r17 11; no Dovecot: a scripted POP3 server refuses every login,
# only the shares and the control sockets matter here):
#  - daemon A runs as 1/2 (shard = "1/2" in its file); the file says
#    "2/2" and A gets SIGHUP: the reload is refused, saying a restart is
#    needed; A keeps its accounts (none removed), --status --shard 1/2
#    still lists 1/2's accounts (it listed 2/2's: A answered under the
#    old socket name with the new share), and its JSON (valid against
#    doc/status.schema.json) names the reload error and its shard, 1/2;
#  - the real instance 2/2 (--shard 2/2) starts beside A and polls each
#    of its accounts without finding one held by A (A held them all);
#  - a file without the shard line (unsharded) is refused the same way;
#  - --shard on the command line wins over the file: B's reload with a
#    file that says another shard is no change, and is done;
#  - A's file back to "1/2": the reload is done, the error is gone;
#    both daemons stop with exit status 0, no sanitizer report.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"

mfd_init
PY=$(_dc_python)
SCHEMA=$top_srcdir/doc/status.schema.json
CHECK=$top_srcdir/tests/lib/status_check.py
"$PY" -c 'import jsonschema' 2>/dev/null ||
    tap_bail "python3-jsonschema is missing (tests/lib/deps.sh installs it)"
tap_plan 14

daemon_refuse_start pop3 '-ERR [AUTH] refused'

printf 'pw\n' >"$T/pass" && chmod 600 "$T/pass" || tap_bail "cannot write $T/pass"
ACCTS="a b c d e f g h"
# conf FILE [GLOBAL-LINE...]: the 8 accounts, every instance's.
conf()
{
	local f=$1 u line

	shift
	{
		printf 'state_dir = "%s"\nlog_level = info\n' "$T/state"
		for line in "$@"; do
			printf '%s\n' "$line"
		done
		for u in $ACCTS; do
			printf 'account "%s" {\n  protocol = pop3\n' "$u"
			printf '  host = "127.0.0.1"\n  port = %s\n' "$RPORT"
			printf '  tls = none\n  user = "%s"\n' "$u"
			printf '  password_file = "%s"\n' "$T/pass"
			printf '  maildir = "%s"\n  keep = yes\n' "$T/$u/Maildir"
			printf '  poll_interval = 1h\n'
			printf '  poll_interval_override = yes\n}\n'
		done
	} >"$f" || tap_bail "cannot write $f"
}
# owned K: the accounts instance K of 2 lists, sorted, on one line.
owned()
{
	"$MAILFETCHD" -c "$T/b.conf" --shard "$1/2" --check-config |
	    sed -n 's/^account "\(.*\)" {$/\1/p' | sort | paste -sd' '
}
# listed: the accounts of a --status answer (on stdin), sorted, one line.
listed() { sed -n 's/^\([a-h]\): .*/\1/p' | sort | paste -sd' '; }
# sj K: --status --json --shard K/2 into $T/st.json; jq EXPR on it (after
# checking it against the schema).
sj()
{
	"$MAILFETCHD" -c "$T/b.conf" --shard "$1/2" --status --json \
	    >"$T/st.json" 2>"$T/st.err"
	cat "$T/st.err" >>"$T/all-output"
}
jq() { "$PY" "$CHECK" "$SCHEMA" "$T/st.json" "$1"; }

conf "$T/b.conf"
OWN1=$(owned 1)
OWN2=$(owned 2)
[ -n "$OWN1" ] && [ -n "$OWN2" ] ||
    tap_bail "a shard of 2 owns no account of 8 ('$OWN1' / '$OWN2')"

# --- A runs as 1/2; its file says 2/2, SIGHUP: refused. ---------------
conf "$T/a.conf" 'shard = "1/2"'
daemon_start "$T/a.conf"
APID=$DPID ALOG=$DLOG
daemon_wait_log "shard 1/2: $(wc -w <<<"$OWN1") of 8 accounts" 10 ||
    tap_bail "A did not start: $(tail -5 "$ALOG")"
conf "$T/a.conf" 'shard = "2/2"'
kill -HUP "$APID"
daemon_wait_log 'reload failed|reloaded' 10
tap_like "$(grep -E 'reload failed|reloaded|control socket stays' "$ALOG")" \
    "reload failed, keeping the running configuration: $T/a.conf: shard 2/2, but this daemon runs as shard 1/2: a change of shard needs a restart" \
    "a reload from shard 1/2 to 2/2 is refused: a restart is needed"
tap_is "$(grep -c 'by the reload' "$ALOG")" 0 \
    "... no account removed or added by it" "$(grep 'by the reload' "$ALOG")"
st=$("$MAILFETCHD" -c "$T/b.conf" --shard 1/2 --status 2>&1)
printf '%s\n' "$st" >>"$T/all-output"
tap_is "$(listed <<<"$st")" "$OWN1" \
    "--status --shard 1/2 lists shard 1/2's accounts (A's, still)" "$st"
sj 1
tap_is "$(jq 'd["daemons"][0]["reload_error"]')" \
    "$T/a.conf: shard 2/2, but this daemon runs as shard 1/2: a change of shard needs a restart" \
    "... its JSON names the reload error" "$(cat "$T/st.json")"
tap_is "$(jq 'd["daemons"][0]["shard"]')" 1/2 \
    "... and its shard, 1/2 (valid against the schema)" "$(cat "$T/st.json")"

# --- the real 2/2 starts beside A and gets each of its accounts. ------
DLOG=$T/b.log
"$MAILFETCHD" -c "$T/b.conf" --shard 2/2 >>"$DLOG" 2>&1 &
BPID=$!
tap_cleanup_add 'kill -9 "$BPID" 2>/dev/null; wait "$BPID" 2>/dev/null'
# Each of its accounts logs its first poll: refused by the server, or
# skipped because another daemon holds its lock.
n2=$(wc -w <<<"$OWN2")
daemon_wait_log 'account=[a-h]: (.*refused|.*skipped)' 15 "$n2"
tap_is "$(grep -c 'skipped (another instance' "$DLOG")" 0 \
    "the instance 2/2 starts and finds none of its accounts held by A" \
    "$(grep -E 'error|notice' "$DLOG" | head -10)"
polled=$(sed -n 's/.*account=\([a-h]\): .*refused.*/\1/p' "$DLOG" | sort -u | paste -sd' ')
tap_is "$polled" "$OWN2" "... and polls each of them"

# --- unsharded in the file: refused the same way. ---------------------
conf "$T/a.conf"
kill -HUP "$APID"
daemon_wait_file "$ALOG" 'reload failed' 10 2
tap_like "$(grep 'reload failed' "$ALOG" | tail -1)" \
    "$T/a.conf: shard none, but this daemon runs as shard 1/2: a change of shard needs a restart" \
    "a reload to no shard at all is refused too"

# --- --shard on the command line wins over the file. ------------------
conf "$T/b.conf" 'shard = "1/2"'
kill -HUP "$BPID"
daemon_wait_log 'reload failed|reloaded' 10
tap_like "$(grep -E 'reload failed|reloaded' "$DLOG")" \
    'reloaded: 0 accounts added, 0 removed, 0 changed' \
    "--shard 2/2 with shard = \"1/2\" in the file: the reload is no change"
tap_unlike "$(cat "$DLOG")" 'reload failed' "... and not refused"

# --- A's file back to 1/2: reloaded, the error gone. ------------------
conf "$T/a.conf" 'shard = "1/2"'
kill -HUP "$APID"
daemon_wait_file "$ALOG" 'reloaded' 10
tap_like "$(grep 'reloaded' "$ALOG")" \
    'reloaded: 0 accounts added, 0 removed, 0 changed' \
    "A's file back to shard 1/2: the reload is done"
sj 1
tap_is "$(jq 'd["daemons"][0]["reload_error"]')" None \
    "... and the reload error is gone"

# Both stop cleanly (SIGTERM: exit 0).
kill "$APID" "$BPID"
DPID=$APID daemon_wait_exit 15
arc=$drc
DPID=$BPID daemon_wait_exit 15
tap_is "$arc $drc" "0 0" "both daemons stop on SIGTERM with exit status 0"
cat "$ALOG" "$T/b.log" >>"$T/all-output"
mfd_no_sanitizer
tap_done
