#!/bin/bash
# hook_owed.sh: what new_mail_command owes is durable in state_dir before
# anything that could lose it (hook.c), against a real Dovecot:
#  - started: --once killed (MAILFETCHD_FAULT=hook-started) the instant
#    after the hook's run started: state_dir/ACCOUNT.hook holds its 3
#    files, and the next --once runs the hook once for them (the file was
#    written before the run started, not after).
# Bounded waits only. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"

mfd_init
dovecot_start
gen() { "$(_dc_python)" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }

# The hook: DIR/run.N per run, with MAILFETCHD_NEW in NEW and the paths of
# its stdin in paths.
HOOK=$T/hook.sh
cat >"$HOOK" <<'EOF' || tap_bail "cannot write $HOOK"
#!/bin/bash
d=$1
for ((i = 1; i < 1000; i++)); do
	mkdir "$d/run.$i" 2>/dev/null && break
done
printf '%s\n' "$MAILFETCHD_NEW" >"$d/run.$i/NEW"
cat >"$d/run.$i/paths"
EOF
chmod 755 "$HOOK"

# runs DIR: how many runs began.
runs() { find "$1" -maxdepth 1 -name 'run.*' | wc -l; }
# given DIR: the Message-IDs of the files the hook's runs were given,
# sorted, one per line.
given()
{
	cat "$1"/run.*/paths 2>/dev/null | while IFS= read -r p; do
		grep -h -m1 -i '^Message-ID:' "$p" | tr -d '\r'
	done | sort
}
# ids PREFIX N...: the Message-ID lines gen gives PREFIX-N..., sorted.
ids()
{
	local p=$1 i

	shift
	for i in "$@"; do
		grep -h -m1 -i '^Message-ID:' "$T/$p-$i.eml" | tr -d '\r'
	done | sort
}
# account NAME [CONF-LINES...]: a Dovecot user with 3 messages in INBOX,
# NAME-1..3, and its configuration with the hook (HDIR=$T/h-NAME).
account()
{
	local a=$1 i

	shift
	dovecot_add_user "$a" "pw-$a-0wed"
	mfd_account "$a" "pw-$a-0wed"
	mkdir -p "$T/h-$a"
	for i in 1 2 3; do
		gen plain "$T/$a-$i.eml" "owed-$a-$i"
		dovecot_add_message "$a" INBOX "$T/$a-$i.eml"
	done
	mfd_conf "$a" "new_mail_command = \"$HOOK $T/h-$a\"" "$@"
}

# ---------------------------------------------------------------------
# Killed the instant after the run started: the pending file was first.
# ---------------------------------------------------------------------
account started
MAILFETCHD_FAULT=hook-started mfd_run started
tap_is "$rc" 137 "started: killed just after the hook's run started"
[ -s "$T/started/state/started.hook" ]
ok $? "started: state_dir/started.hook is kept" \
    "$(ls -l "$T/started/state" 2>&1)"
mfd_run_ok started 1 "started: the next --once (nothing new)"
tap_is "$(given "$T/h-started")" "$(ids started 1 2 3)" \
    "started: the hook was given the 3 messages"
[ ! -e "$T/started/state/started.hook" ]
ok $? "started: ... and the pending file is gone"

mfd_no_sanitizer
tap_done
