#!/bin/bash
# tls_close.sh: how a TLS session may end. A server that closes the TCP
# connection without TLS close_notify after answering LOGOUT (QUIT), as
# Cyrus does, ends the session normally; the same close before that (a
# command left unanswered) is a possible truncation and fails the run with
# exit status 4. IMAP and POP3 over implicit TLS against
# hostile_server.py's dirtyend and dirtycut modes. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/security/lib.sh"

sec_init
for proto in imap pop3; do
	sec_server "$proto" dirtyend good
	sec_conf "$proto" implicit
	sec_run
	tap_is "$rc" 1 "$proto: no close_notify after the LOGOUT/QUIT answer: a normal end (nothing new)" "$err"
	tap_unlike "$err" 'close_notify|error' "$proto: ... and no error logged"
	sec_run
	tap_is "$rc" 1 "$proto: ... and again on the next run" "$err"

	sec_server "$proto" dirtycut good
	sec_conf "$proto" implicit
	sec_run
	tap_is "$rc" 4 "$proto: no close_notify before LOGOUT/QUIT: a network failure" "$err"
	tap_like "$err" 'connection closed without TLS close_notify \(data may be truncated\)' \
	    "$proto: ... named as a possible truncation"
done

sec_no_password_output
tap_done
