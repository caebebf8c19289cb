#!/bin/bash
# status_json.sh: `mailfetchd --status --json` against a real Dovecot and
# a scripted server that refuses every login. The document is one line
# that validates against doc/status.schema.json (python3-jsonschema) in
# every account state the test can produce: fetched ok (waiting), backoff
# after a refused login, stopped (its password file gone: a configuration
# error), re-authorisation needed (an OAuth2 account without a grant),
# push (every folder in IDLE), budget exhausted (an IDLE delivery over
# daily_limit). Its numbers match what was fetched (3 messages polled ->
# fetched.messages 3, and bytes the sum of the delivered files; 1 message
# pushed by IDLE -> 1); folder names with quotes, a backslash and UTF-8
# round-trip through json.loads; `--status NAME` (with and without
# --json) limits it to that account; an account that is not configured,
# or that the running daemon does not run, is exit status 2 with a
# message; no daemon is exit status 4; after a reload that failed,
# --status with the broken file still shows the reload_error; an
# unsharded daemon's shard is null (shard_reload.sh: "K/N"). TAP
# output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"

mfd_init
dovecot_start
PY=$(_dc_python)
"$PY" -c 'import jsonschema' 2>/dev/null ||
    tap_bail "python3-jsonschema is missing (tests/lib/deps.sh installs it)"
SCHEMA=$top_srcdir/doc/status.schema.json
CHECK=$top_srcdir/tests/lib/status_check.py
gen() { "$PY" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }

# block NAME LINE...: an IMAPS account on the test's Dovecot.
block()
{
	local acct=$1 line

	shift
	printf 'account "%s" {\n  protocol = imap\n' "$acct"
	printf '  host = "localhost"\n  port = %s\n' "${BPORT:-$DC_IMAPS_PORT}"
	printf '  tls = %s\n  ca_file = "%s"\n' "${BTLS:-implicit}" "$DC_CA"
	printf '  user = "%s"\n  password_file = "%s"\n' "$acct" "$T/$acct/pass"
	printf '  maildir = "%s"\n  timeout = 20s\n' "$T/$acct/Maildir"
	for line in "$@"; do
		printf '  %s\n' "$line"
	done
	printf '}\n'
}

# sj [ARGS...]: --status --json ARGS into $T/st.json; src is its exit
# status, its stderr in $T/st.err.
sj()
{
	"$MAILFETCHD" -c "$SCONF" --status --json "$@" >"$T/st.json" 2>"$T/st.err"
	src=$?
	cat "$T/st.err" >>"$T/all-output"
}

# jq EXPR: EXPR on the last document (status_check.py), after checking
# it against the schema.
jq() { "$PY" "$CHECK" "$SCHEMA" "$T/st.json" "$1"; }

# jwait EXPR SECONDS: asks again until EXPR is True; 1 on timeout.
jwait()
{
	local i

	for ((i = 0; i < $2 * 4; i++)); do
		sj
		[ "$(jq "$1" 2>&1)" = True ] && return 0
		sleep 0.25
	done
	return 1
}

for u in ok idl bud stp odd; do
	dovecot_add_user "$u" "pw-$u-61b2"
	mfd_account "$u" "pw-$u-61b2"
done
mfd_account bad "wrong"
mkdir -p "$T/oa"
for i in 1 2 3; do
	gen plain "$T/m$i.eml" "status-json-$i"
	dovecot_add_message ok INBOX "$T/m$i.eml"
done
gen plain "$T/p1.eml" "pushed-1"
gen big "$T/big.eml" 3000
dovecot_add_message odd INBOX "$T/m1.eml"
# Not on the server (tests/lib/dovecot.sh refuses such names): only the
# name's way through the status matters here.
ODD='Quo"te \back ünï €'
export ODD

# A server that refuses every login (the account "bad" backs off).
daemon_refuse_start

CONF=$T/daemon.conf
{
	printf 'state_dir = "%s"\nlog_level = debug\n' "$T/state"
	printf 'control_socket = "%s"\n' "$T/control"
	block ok 'poll_interval = 1h' 'folder "INBOX" { }'
	BPORT=$RPORT BTLS=none block bad 'poll_interval = 1h' \
	    'folder "INBOX" { }'
	block idl 'idle = yes' 'folder "INBOX" { }'
	block bud 'idle = yes' 'daily_limit = 1k' 'folder "INBOX" { }'
	block stp 'poll_interval = 10s' 'poll_interval_override = yes' \
	    'folder "INBOX" { }'
	block odd 'poll_interval = 1h' 'folder "INBOX" { }' \
	    'folder "Quo\"te \\back ünï €" { }'
	printf 'account "oa" {\n  protocol = imap\n  host = "localhost"\n'
	printf '  port = %s\n  tls = implicit\n  ca_file = "%s"\n' \
	    "$DC_IMAPS_PORT" "$DC_CA"
	printf '  user = "oa"\n  maildir = "%s"\n' "$T/oa/Maildir"
	printf '  poll_interval = 1h\n  folder "INBOX" { }\n'
	printf '  oauth2 {\n    client_id = "test-client"\n'
	printf '    token_url = "https://127.0.0.1:9/token"\n'
	printf '    device_url = "https://127.0.0.1:9/device"\n'
	printf '    scope = "mail"\n  }\n}\n'
} >"$CONF" || tap_bail "cannot write $CONF"
out=$("$MAILFETCHD" -c "$CONF" --check-config 2>&1) || tap_bail "bad configuration: $out"
# The client's copy: stp's password file goes away below (which stops
# the account in the daemon), and the client loads its configuration too.
SCONF=$T/client.conf
sed "s|$T/stp/pass|$T/stp/pass.client|" "$CONF" >"$SCONF"
cp "$T/stp/pass" "$T/stp/pass.client"

# No daemon yet: exit status 4, nothing on stdout.
sj
tap_is "$src" 4 "--status --json without a daemon: exit status 4" "$(cat "$T/st.err")"
tap_is "$(wc -c <"$T/st.json")" 0 "... and nothing on stdout"

daemon_start "$CONF"
daemon_wait_log 'account=ok: fetched 3 messages' 20 ||
    tap_diag "$(tail -20 "$DLOG")"

# --- fetched ok: waiting, with the numbers of what was delivered.
jwait 'a("ok")["state"] == "waiting" and a("ok")["fetched"]["messages"] == 3' 20
ok $? "ok: state waiting, fetched.messages 3 after 3 delivered" "$(cat "$T/st.json")"
tap_is "$src" 0 "--status --json: exit status 0"
tap_is "$(jq 1)" 1 "the document validates against doc/status.schema.json" \
    "$(jq 1; head -c 2000 "$T/st.json")"
bytes=$(cat "$T"/ok/Maildir/new/* "$T"/ok/Maildir/cur/* 2>/dev/null | wc -c)
tap_is "$(jq 'a("ok")["fetched"]["bytes"]')" "$bytes" \
    "ok: fetched.bytes is the size of the delivered files"
tap_is "$(jq 'a("ok")["today"]')" "{'messages': 3, 'bytes': $bytes}" \
    "ok: today's counts too"
tap_is "$(jq 'd["schema_version"], len(d["daemons"]), d["daemons"][0]["config"]')" \
    "(1, 1, '$CONF')" "schema_version 1; one daemon, its configuration file"
tap_is "$(jq 'd["daemons"][0]["shard"]')" None "an unsharded daemon: shard null"
tap_is "$(jq '[x["name"] for x in d["accounts"]]')" \
    "['ok', 'bad', 'idl', 'bud', 'stp', 'odd', 'oa']" \
    "every account, in configuration order"
tap_is "$(jq 'a("ok")["last_failure"], a("ok")["last_success"] > 0, a("ok")["next_poll"] > d["generated"] + 3000')" \
    "(None, True, True)" "ok: no failure, a last success, the next poll in about an hour"

# --- backoff after a refused login (the scripted server).
jwait 'a("bad")["state"] == "backoff"' 20
ok $? "bad: state backoff after the refused login" "$(jq 'a("bad")')"
tap_is "$(jq 'a("bad")["last_failure"]["class"], a("bad")["last_failure"]["exit_status"], a("bad")["last_failure"]["current"], a("bad")["failures_by_class"]')" \
    "('authentication', 3, True, {'authentication': 1})" \
    "bad: last failure of class authentication, current, counted by class"
tap_is "$(jq 'a("bad")["backoff_until"] == a("bad")["next_poll"] > d["generated"], a("bad")["consecutive_failures"]')" \
    "(True, 1)" "bad: backoff_until is the next poll, in the future; 1 failure"

# --- push: every folder in IDLE; a pushed message is counted.
jwait 'a("idl")["state"] == "push" and f("idl", "INBOX")["state"] == "idling"' 20
ok $? "idl: state push, INBOX idling" "$(jq 'a("idl")')"
tap_is "$(jq 'a("idl")["connections"]["open"], a("idl")["connections"]["idle"], a("idl")["next_poll"], f("idl", "INBOX")["idle"]')" \
    "(1, 1, None, True)" "idl: one connection, in IDLE; no next poll"
dovecot_append idl INBOX "$T/p1.eml" >/dev/null || tap_bail "APPEND failed"
jwait 'a("idl")["fetched"]["messages"] == 1' 20
ok $? "idl: the pushed message counts in fetched.messages" "$(jq 'a("idl")')"

# --- budget exhausted: an IDLE delivery over daily_limit (1 KiB).
jwait 'f("bud", "INBOX")["state"] == "idling"' 20
ok $? "bud: INBOX idling"
dovecot_append bud INBOX "$T/big.eml" >/dev/null || tap_bail "APPEND failed"
jwait 'a("bud")["fetched"]["messages"] == 1' 20
ok $? "bud: the first big message is fetched" "$(jq 'a("bud")')"
dovecot_append bud INBOX "$T/p1.eml" >/dev/null || tap_bail "APPEND failed"
jwait 'a("bud")["state"] == "budget_exhausted"' 20
ok $? "bud: state budget_exhausted once the budget is used up" "$(jq 'a("bud")')"
tap_is "$(jq 'a("bud")["budget"]["limit_bytes"], a("bud")["budget"]["used_bytes"] >= 3000, a("bud")["budget"]["exhausted_until"] > d["generated"]')" \
    "(1024, True, True)" "bud: the budget, what was used, until when"

# --- stopped: a configuration error (the password file gone).
jwait 'a("stp")["fetched"]["messages"] == 0 and a("stp")["last_success"] is not None' 20
ok $? "stp: polled once"
rm -f "$T/stp/pass"
jwait 'a("stp")["state"] == "stopped"' 30
ok $? "stp: state stopped after a configuration error" "$(jq 'a("stp")'; grep 'account=stp' "$DLOG" | tail -3)"
tap_is "$(jq 'a("stp")["next_poll"], a("stp")["last_failure"]["class"], a("stp")["last_failure"]["current"]')" \
    "(None, 'configuration', True)" "stp: no next poll, the configuration failure"

# --- re-authorisation needed: the OAuth2 account without a grant.
jwait 'a("oa")["state"] == "reauth_needed"' 20
ok $? "oa: state reauth_needed" "$(jq 'a("oa")')"

# --- names with quotes, a backslash and UTF-8 round-trip.
tap_is "$(jq '[x["name"] for x in a("odd")["folders"]] == ["INBOX", env("ODD")]')" \
    True "a folder name with quotes, a backslash and UTF-8 round-trips" \
    "$(jq 'a("odd")["folders"]')"
grep -q 'Quo\\"te \\\\back ünï €' "$T/st.json"
ok $? "... escaped as JSON wants it, UTF-8 as it is" "$(grep -o '"Quo[^]]*' "$T/st.json")"

# --- one account.
sj idl
tap_is "$src:$(jq '[x["name"] for x in d["accounts"]], len(d["daemons"])')" \
    "0:(['idl'], 1)" "--status idl --json: that account only"
# More names than one command line holds (each at most 64 bytes; here
# 40 of them): several commands, one document, one daemon record.
sj $(for ((i = 0; i < 40; i++)); do printf 'ok idl '; done) odd
tap_is "$src:$(jq 'len(d["daemons"]), len(d["accounts"]), [x["name"] for x in d["accounts"]] == ["ok", "idl"] * 40 + ["odd"]')" \
    "0:(1, 81, True)" "--status --json with 81 names: every one, one daemon record" \
    "$(cat "$T/st.err")"
out=$("$MAILFETCHD" -c "$SCONF" --status ok 2>&1)
tap_like "$out" '^ok: waiting; polling INBOX; ' "--status ok: its text line" "$out"
tap_is "$(printf '%s\n' "$out" | wc -l)" 1 "... and no other"
sj nosuch
tap_is "$src" 2 "--status nosuch --json: exit status 2" "$(cat "$T/st.err")"
tap_like "$(cat "$T/st.err")" 'no account nosuch' "... saying why"
out=$("$MAILFETCHD" -c "$SCONF" --status nosuch 2>&1)
tap_is "$?" 2 "--status nosuch: exit status 2" "$out"
# Configured since, but not run by the daemon (no reload yet).
cp "$SCONF" "$T/new.conf"
mfd_account late "pw-late"
block late 'folder "INBOX" { }' >>"$T/new.conf"
"$MAILFETCHD" -c "$T/new.conf" --status late --json >"$T/st.json" 2>"$T/st.err"
tap_is "$?" 2 "an account the daemon does not run: exit status 2"
tap_like "$(cat "$T/st.err")" 'does not run account late' "... saying so"

# A reload that fails: --status with that very file (which does not
# parse) still asks the daemon at the control_socket it names and shows
# the reload_error, with a warning (review r16, low).
cp "$CONF" "$T/good.conf"
printf 'this is = { not a configuration\n' >>"$CONF"
kill -HUP "$DPID"
daemon_wait_log 'reload failed, keeping the running configuration' 20 ||
    tap_diag "$(tail -5 "$DLOG")"
"$MAILFETCHD" -c "$CONF" --status --json >"$T/st.json" 2>"$T/st.err"
src=$?
tap_is "$src:$(jq 'd["daemons"][0]["reload_error"] is not None, len(d["accounts"]) > 0' 2>&1)" \
    "0:(True, True)" "--status --json -c the file a reload failed on: the daemon's reload_error"
tap_like "$(cat "$T/st.err")" "does not parse; asking the daemon at .*control" \
    "... with a warning that the file does not parse"
out=$("$MAILFETCHD" -c "$CONF" --status ok 2>/dev/null)
tap_like "$?:$out" '^0:ok: ' "--status ok -c that file: its text line"
cp "$T/good.conf" "$CONF"

# The daemon stops: every state above was validated; no daemon again.
kill -TERM "$DPID"
daemon_wait_exit 20
tap_is "$drc" 0 "the daemon stops cleanly"
sj
tap_is "$src" 4 "after the daemon stopped: exit status 4"
cat "$DLOG" >>"$T/all-output"
mfd_no_sanitizer
tap_done
