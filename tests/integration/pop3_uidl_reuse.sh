#!/bin/bash
# pop3_uidl_reuse.sh: POP3 with keep = yes, a UIDL freed and given again
# (RFC 1939 section 7 forbids the reuse only while the first message
# exists). Another client deletes message 1 between two runs, and the
# server gives its UIDL to a new message 4 of another size
# (tests/integration/pop3_server.py uidlreuse): the next run fetches the
# new message, once. The state records each delivered UIDL's size, and
# takes the sizes of a state written without them (an older version)
# without fetching anything again. A new message of the same size under
# the freed UIDL (uidlsame) is the documented limit: not fetched
# (mailfetchd.conf(5)). LIST sizes that flap between two values (sizeflap)
# fetch each message again once, not on every run. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init pop3reuse

# server MODE: (re)starts the scripted POP3 server, its log emptied.
server() {
	scripted_start "$T/log" "$top_srcdir/tests/integration/pop3_server.py" \
	    "$@"
}

# has NAME PATTERN: delivered messages that hold PATTERN.
has() {
	cat "$T/Maildir-$1"/new/* "$T/Maildir-$1"/cur/* 2>/dev/null |
	    grep -c -- "$2"
}

# retrs CONN: the RETR commands of connection CONN.
retrs() {
	grep -E "^$1 RETR " "$T/log" | tr '\n' ,
}

# A freed UIDL given to a new message of another size.
server uidlreuse
scripted_conf reuse pop3 5s "keep = yes"
scripted_once reuse
tap_is "$rc:$(scripted_count reuse)" "0:3" "freed UIDL: the first run delivers 1-3"
tap_like "$(grep '^uidl uid-1 ' "$T/state-reuse/reuse.state")" \
    '^uidl uid-1 [0-9]+$' "freed UIDL: the state records uid-1 with its size"
scripted_once reuse
tap_is "$rc" 0 "freed UIDL: the next run has new mail"
tap_is "$(retrs 2)" "2 RETR 3," \
    "freed UIDL: the new message (now message 3, under uid-1) is fetched"
tap_is "$(has reuse 'never fetched')" 1 \
    "freed UIDL: the new message is in the Maildir"
tap_is "$(scripted_count reuse)" 4 "freed UIDL: nothing else delivered"
tap_like "$err" 'UIDL of a message delivered before \([0-9]+ bytes\) now names one of [0-9]+ bytes' \
    "freed UIDL: the log says why it is fetched"
scripted_once reuse
tap_is "$rc:$(scripted_count reuse):$(retrs 3)" "1:4:" \
    "freed UIDL: then nothing new, nothing twice"

# A state an older version wrote (no sizes): the sizes listed are taken,
# nothing is fetched again.
server uidlreuse
scripted_conf old pop3 5s "keep = yes"
scripted_once old
scripted_pop3_restate "$T/state-old/old.state" "uidl " ' [0-9]+$'
tap_is "$(grep -cE '^uidl [^ ]+ [0-9]+$' "$T/state-old/old.state")" 0 \
    "older state: written without sizes"
scripted_once old
tap_is "$rc:$(scripted_count old)" "1:3" \
    "older state: the uid-1 now listed (another message) is taken as delivered: nothing new"
tap_is "$(grep -cE '^uidl [^ ]+ [0-9]+$' "$T/state-old/old.state")" 3 \
    "older state: the sizes listed are recorded"

# LIST leaves a delivered message out (UIDL still names it): no size
# says another message holds its UIDL, nothing is fetched again.
server listomit
scripted_conf lo pop3 5s "keep = yes"
scripted_once lo
scripted_once lo
tap_is "$rc:$(scripted_count lo):$(retrs 2)" "1:3:" \
    "LIST without a message: not taken for a reused UIDL"

# The same size under the freed UIDL: not told apart without downloading
# (the documented limit).
server uidlsame
scripted_conf same pop3 5s "keep = yes"
scripted_once same
scripted_once same
tap_is "$rc:$(scripted_count same):$(retrs 2)" "1:3:" \
    "freed UIDL, same size: not fetched (the documented limit)"

# LIST sizes that flap (LF counts one session, CRLF the next), the
# messages unchanged: each is fetched again once (taken for a reused
# UIDL), then never again, however often the size changes.
server sizeflap
scripted_conf flap pop3 5s "keep = yes"
for run in 1 2 3 4 5; do
	scripted_once flap
done
tap_is "$(scripted_count flap)" 6 \
    "flapping sizes: each message fetched again at most once (3 + 3 after 5 runs)"
tap_is "$(grep -c ' RETR ' "$T/log")" 6 \
    "flapping sizes: RETR only at the first two runs"
tap_is "$(grep -cE '^uidl [^ ]+ [0-9]+ resized$' "$T/state-flap/flap.state")" 3 \
    "flapping sizes: the state marks each UIDL fetched again for a size change"

# A UIDL whose first message was skipped as larger than max_message_size
# (never fetched, its UIDL remembered) does not count as fetched: the
# next message under it, of another size, is the first fetched there,
# not the once for a size change, so that a third, of another size again,
# is fetched as the reused UIDL it is; a fourth, after that once, is the
# documented limit (mailfetchd.conf(5), keep). It was taken for the
# once, and the third never fetched (long chaos run, seed 664240303:
# missing). tests/fault/pop3dir.py, each message replacing the one
# before under the UIDL u1 between runs.
big() {
	printf 'From: a@example.net\nSubject: %s\n\n%s\n' "$1" "$2" \
	    >"$T/big/01_u1"
}
mkdir -p "$T/big"
big A "$(printf '%0300d' 0)"
scripted_pop3dir "$T/big"
scripted_conf big pop3 5s "keep = yes" "max_message_size = 200"
scripted_once big
tap_is "$rc:$(scripted_count big)" "1:0" "too big: A skipped"
big B "$(printf '%040d' 0)"
scripted_once big
tap_is "$rc:$(has big '^Subject: B')" "0:1" "too big: B under its UIDL fetched"
big C "$(printf '%080d' 0)"
scripted_once big
tap_is "$rc:$(has big '^Subject: C')" "0:1" \
    "too big: C, of another size than B, fetched (the once for a size change)"
big D "$(printf '%020d' 0)"
scripted_once big
tap_is "$rc:$(has big '^Subject: D')" "1:0" \
    "too big: D after that once not fetched (the documented limit)"

tap_done
