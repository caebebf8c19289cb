#!/bin/bash
# nouidl_record_kept.sh: without UIDL (keep = no, tests/fault/pop3dir.py
# POP3DIR_NOUIDL=1), a message whose DELE the server refused is recorded
# by its content ("=SIZE:sDIGEST" in the state's INBOX record), so that it
# is not delivered again. The record must outlive what the session may
# still commit (review r27):
#   fail (14): u2's DELE refused in batch 1 of 300 messages; batch 2's
#     fsync fails (tests/fault/fsshim.c fsynceio, from RETR 260 on): the
#     session still QUITs, committing batch 1's DELEs; the record was
#     written only at a normal end, so u2 was delivered again.
#   uidlfail (14, with UIDL): the same failure; the count of u2's refused
#     DELE ("w4" in its owed entry) was lost with it.
#   omit (05): session 2's listing leaves u2 out (POP3DIR_HIDE) or lists
#     nothing (POP3DIR_EMPTY): the record was dropped ("read every
#     message listed"), and session 3 delivered u2 again. A record is
#     dropped after 2 such sessions in a row (u2 gone).
#   quitcut (01): session 2 meets the record and sends u2's DELE again,
#     but the connection is cut at QUIT (nothing committed): the record
#     was dropped before QUIT, so session 3 delivered u2 again.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
CC=${CC:-cc}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init nouidlrecordkept
# An ASan build wants its runtime first; the shim comes before it.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0"
"$CC" -shared -fPIC -O2 -o "$T/fsshim.so" "$top_srcdir/tests/fault/fsshim.c" \
    -ldl 2>"$T/cc.err" || tap_bail "cannot build fsshim.so: $(cat "$T/cc.err")"

m2count() {
	scripted_subjects "$1" | tr ' ' '\n' | grep -c '^m2$'
}

# three_hundred NAME: messages m1 to m300 (UIDLs u1 to u300) in $T/NAME.
three_hundred() {
	mkdir -p "$T/$1"
	python3 - "$T/$1" <<'PY'
import sys
for i in range(1, 301):
    with open("%s/%04d_u%d" % (sys.argv[1], i, i), "w") as f:
        f.write("From: a@example.net\nSubject: m%d\n\nbody %d\n" % (i, i))
PY
}

# failing_run NAME: a run of account NAME whose fsyncs in its Maildir
# fail EIO once the server is asked for message 260 (batch 2).
failing_run() {
	rm -f "$T/slow-1-260"
	MFD_FSSHIM=fsynceio MFD_FSSHIM_EIO_IF="$T/slow-1-260" \
	    MFD_FSSHIM_EIO_UNDER="$T/Maildir-$1" MFD_FSSHIM_LOG="$T/shim.log" \
	    LD_PRELOAD="$T/fsshim.so${LD_PRELOAD:+:$LD_PRELOAD}" scripted_once "$1"
}

# ---- fail ----
three_hundred fail
scripted_pop3dir "$T/fail" POP3DIR_NOUIDL=1 POP3DIR_DELEERR=u2 \
    POP3DIR_DELEERRS=1 POP3DIR_SLOW=1:260:0.3
scripted_conf fail pop3 10s 'keep = no'
failing_run fail
tap_like "$err" 'fsync: Input/output error; this batch will be fetched again' \
    "fail: run 1: batch 2 lost to the failing fsync"
tap_is "$rc:$(ls "$T/fail" | head -1)" "7:0002_u2" \
    "fail: run 1: batch 1's DELEs committed but u2's (refused)"
tap_like "$(grep '^pending INBOX ' "$T/state-fail/fail.state")" \
    '^pending INBOX =[0-9]+:s[0-9a-f]{16}$' \
    "fail: run 1: u2's record saved with the state"
scripted_once fail
tap_is "$(m2count fail):$(scripted_count fail)" "1:300" \
    "fail: run 2: m2 not delivered again, every message once"

# ---- uidlfail ----
three_hundred uf
scripted_pop3dir "$T/uf" POP3DIR_DELEERR=u2 POP3DIR_SLOW=1:260:0.3
scripted_conf uf pop3 10s 'keep = no'
failing_run uf
tap_like "$err" 'fsync: Input/output error' \
    "uidlfail: run 1: batch 2 lost to the failing fsync"
tap_like "$(grep '^pending INBOX ' "$T/state-uf/uf.state" |
    grep -oE 'u2%09[0-9]+%09s[0-9a-f]{16}(%09w[0-9]+)?')" \
    '^u2%09[0-9]+%09s[0-9a-f]{16}%09w4$' \
    "uidlfail: run 1: u2's refusal counted in the state"

# ---- omit ----
for how in POP3DIR_HIDE=2:u2 POP3DIR_EMPTY=2; do
	a=om${how#POP3DIR_}; a=${a%%=*}
	scripted_pop3dir_msgs "$T/$a" 3
	scripted_pop3dir "$T/$a" POP3DIR_NOUIDL=1 POP3DIR_DELEERR=u2 $how
	scripted_conf "$a" pop3 10s 'keep = no'
	for r in 1 2 3; do
		scripted_once "$a"
	done
	tap_is "$(scripted_subjects "$a"):$(ls "$T/$a" | tr '\n' ' ')" \
	    "m1 m2 m3 :02_u2 " "omit $how: 3 runs, m2 delivered once"
done
rm "$T/omHIDE/02_u2"
printf 'From: a@example.net\nSubject: m4\n\nbody 4\n' >"$T/omHIDE/04_u4"
scripted_pop3dir "$T/omHIDE" POP3DIR_NOUIDL=1
scripted_conf omHIDE pop3 10s 'keep = no'
scripted_once omHIDE
tap_like "$(grep '^pending INBOX ' "$T/state-omHIDE/omHIDE.state")" \
    '^pending INBOX =[0-9]+:s[0-9a-f]{16}:1$' \
    "omit: u2 gone: its record kept through one session, counted"
printf 'From: a@example.net\nSubject: m5\n\nbody 5\n' >"$T/omHIDE/05_u5"
scripted_once omHIDE
tap_is "$(grep -c '^pending INBOX ' "$T/state-omHIDE/omHIDE.state")" 0 \
    "omit: and dropped after the second"

# ---- quitcut ----
scripted_pop3dir_msgs "$T/qc" 3
scripted_pop3dir "$T/qc" POP3DIR_NOUIDL=1 POP3DIR_DELEERR=u2 \
    POP3DIR_DELEERRS=1 POP3DIR_QUITCUT=2
scripted_conf qc pop3 3s 'keep = no'
scripted_once qc
tap_is "$rc:$(ls "$T/qc" | tr '\n' ' ')" "7:02_u2 " \
    "quitcut: run 1: u2's DELE refused"
scripted_once qc
tap_is "$(m2count qc):$(ls "$T/qc" | tr '\n' ' ')" "1:02_u2 " \
    "quitcut: run 2: u2 met, its DELE sent again, cut at QUIT"
scripted_once qc
tap_is "$(m2count qc):$(ls "$T/qc" | wc -l)" "1:0" \
    "quitcut: run 3: u2 not delivered again, deleted"
tap_done
