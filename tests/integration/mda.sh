#!/bin/bash
# mda.sh: deliver = mda (src/mda.h) against a real Dovecot, POP3S and
# IMAPS:
#  - procmail (POP3): Debian's procmail (-m, a Maildir as DEFAULT) takes
#    the messages; its Maildir holds them byte for byte (LF line ends),
#    the account's own Maildir holds nothing (its tmp/ only staged them),
#    and a second run fetches nothing.
#  - maildrop (POP3): Debian's maildrop (a filter file naming a Maildir)
#    takes the messages byte for byte; keep = no deletes them.
#  - lda (POP3): Dovecot's dovecot-lda (-d, another user of the test
#    Dovecot) delivers them byte for byte into that user's INBOX.
#  - big, head (POP3): a 3 MB message reaches the agent byte for byte
#    through the pipe; an agent that reads one line and exits 0 took the
#    message (keep = no deletes it), with a warning saying so.
#  - lmtp (POP3): deliver = lmtp to Dovecot's LMTP server on a Unix
#    socket, another user as lmtp_recipient: the six messages in that
#    user's INBOX byte for byte (after Dovecot's trace headers), deleted
#    on the server with keep = no; an unknown recipient's 550 is
#    reported, exit 8, nothing deleted.
#  - lmtp tcp (POP3): the same to Dovecot's LMTP on 127.0.0.1:PORT.
#  - sender: a message's Return-Path is %s for an agent, and LMTP's
#    MAIL FROM (Dovecot's first Return-Path line).
#  - lmtp 451: a scripted LMTP server answering 451 to the data: the
#    answer logged, nothing deleted (keep = no), exit 8 (none taken);
#    the next run, to Dovecot's LMTP, delivers the six once.
#  - lmtp dots: lines of dots pass the dot-stuffing unchanged.
#  - lmtp + sieve (POP3): killed after the LMTP server took the second
#    message (pop3-mda-taken:2); the next run sends it again with the
#    same X-Mailfetchd-Id, and the user's Sieve script (duplicate
#    :header) discards it, once; message 3 is filed by its Subject.
#  - lmtp crash (POP3, IMAP): killed at PROTO-mda-taken:1 and :6, after
#    Dovecot's LMTP took the batch's first or last message, no guard:
#    the next run hands that message over again, only it, loses none,
#    empties the server (keep = no); killed at imap-saved: no duplicate,
#    the owed deletions applied by the next run.
#  - hang (POP3): an agent that never ends (with a child of its own) is
#    killed at mda_timeout, child included, and logged; nothing deleted.
# And for each protocol:
#  - placeholders: %a %f %% reach the agent's argv; keep = no deletes
#    what the agent took; new_mail_command runs once for the messages
#    the agent took (MAILFETCHD_NEW 6, no paths listed).
#  - tempfail: an agent exiting 75 (EX_TEMPFAIL): keep = no deletes
#    nothing, the run says so (IMAP: not as a message the server failed
#    to return); with a working agent the next run delivers everything
#    once and only then empties the server.
#  - fail: an agent exiting 1 after writing to stderr: reported with its
#    status and its words, exit status 8, keep = no deletes nothing (IMAP
#    with mark_read = yes: no \Seen either).
#  - crash: killed (MAILFETCHD_FAULT=PROTO-mda-taken:2) after the agent
#    took the second message, before the state recorded it: the next run
#    hands that one over again (one duplicate, with the same
#    X-Mailfetchd-Id, mda_id_header = yes), loses none, empties the
#    server; a third run fetches nothing.
#  - per folder (IMAP): deliver = maildir in a folder section keeps that
#    folder in the Maildir while INBOX goes to the account's agent.
#  - daemon (IMAP IDLE): an APPENDed message pushed by IDLE reaches the
#    agent byte for byte and, keep = no, then leaves the server.
#    An agent refusing the message pushed by IDLE: logged as a poll's
#    refusal, in --status, and the message stays on the server (r23 05).
# Short: seconds. TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$top_srcdir/tests/lib/daemon.sh"

# deps.sh installs procmail and maildrop (MFD_PKGS); missing, the test
# fails.
[ -x /usr/bin/procmail ] || tap_bail "procmail is not installed (tests/lib/deps.sh MFD_PKGS)"
[ -x /usr/bin/maildrop ] || tap_bail "maildrop is not installed (tests/lib/deps.sh MFD_PKGS)"

# Dovecot's LMTP server too, on a Unix socket and on TCP (127.0.0.1,
# dovecot_pick_port) (dovecot-lmtpd, MFD_PKGS).
[ -x /usr/lib/dovecot/lmtp ] || tap_bail "dovecot-lmtpd is not installed (tests/lib/deps.sh MFD_PKGS)"
LMTP_PORT=$(dovecot_pick_port)
# With Sieve (dovecot-sieve) on LMTP: a user's ~/.dovecot.sieve files.
DC_EXTRA_CONF=$(dovecot_lmtp_conf lmtp-test "$LMTP_PORT")
mfd_init
dovecot_start
LMTP=$DC_DIR/run/lmtp-test
gen() { "$(_dc_python)" "$top_srcdir/tests/lib/gen_msg.py" "$@" || tap_bail "gen_msg.py $*"; }
for i in 1 2 3 4 5 6; do
	gen plain "$T/m$i.eml" "mda$i"
done
export MFD_PROTO=pop3

# The script agent: MODE (its first word) ok: stdin into a new file of
# DIR (its second word; the argv into DIR/argv); temp: exit 75; fail: a
# line on stderr, exit 1; hang: a child sleeping, both wait for ever;
# head: reads one line, exit 0.
AGENT=$T/agent.sh
cat >"$AGENT" <<'EOF' || tap_bail "cannot write $AGENT"
#!/bin/sh
case $1 in
ok)	printf '%s\n' "$@" >"$2/argv"
	n=$(ls "$2" | wc -l)
	cat >"$2/.tmp.$n" && mv "$2/.tmp.$n" "$2/msg.$n" ;;
temp)	exit 75 ;;
fail)	echo "agent: mailbox quota exceeded" >&2; exit 1 ;;
hang)	sleep 1000.25 & wait ;;
head)	read -r line; exit 0 ;;
esac
EOF
chmod 755 "$AGENT"

# new_mail_command: its environment and the lines of its stdin, appended
# to FILE (its one argument).
NEWMAIL=$T/newmail.sh
cat >"$NEWMAIL" <<'EOF' || tap_bail "cannot write $NEWMAIL"
#!/bin/sh
echo "$MAILFETCHD_HOOK $MAILFETCHD_ACCOUNT $MAILFETCHD_FOLDERS $MAILFETCHD_NEW $MAILFETCHD_LISTED" >>"$1"
echo "stdin $(wc -l)" >>"$1"
EOF
chmod 755 "$NEWMAIL"

# account NAME [ACCOUNT-LINE...]: a fresh POP3 account with the six
# messages (those numbered in MSGS) and these lines.
account()
{
	local acct=$1 i

	shift
	dovecot_add_user "$acct" "pw-$acct-x7"
	mfd_account "$acct" "pw-$acct-x7"
	for i in ${MSGS-1 2 3 4 5 6}; do
		dovecot_add_message "$acct" INBOX "$T/m$i.eml"
	done
	mfd_conf "$acct" "$@"
}

server_left() { mfd_server_count "$1" "pw-$1-x7" INBOX; }

# same_set DIR WHAT: DIR's msg.* files are exactly m1..m6, byte for byte.
same_set()
{
	local got want

	got=$(sha256sum "$1"/msg.* 2>/dev/null | cut -d' ' -f1 | sort)
	want=$(sha256sum "$T"/m[1-6].eml | cut -d' ' -f1 | sort)
	tap_is "$got" "$want" "$2"
}

# procmail into a Maildir.
account pm 'deliver = mda' \
    "mda_command = \"/usr/bin/procmail -m $T/pm/rc\""
mkdir -p "$T/pm/Out"
printf 'MAILDIR=%s\nDEFAULT=%s/\n' "$T/pm/Out" "$T/pm/Out" >"$T/pm/rc"
mfd_run_ok pm 0 "procmail"
mfd_expect "$T/pm/Out" "" "$T"/m[1-6].eml
tap_is "$(mfd_count "$T/pm/Maildir" "" new)$(mfd_count "$T/pm/Maildir" "" cur)$(ls -A "$T/pm/Maildir/tmp" | wc -l)" \
    000 "procmail: the account's own Maildir holds nothing"
mfd_run_ok pm 1 "procmail: the second run"
mfd_expect "$T/pm/Out" "" "$T"/m[1-6].eml
tap_is "$(server_left pm)" 6 "procmail (keep = yes): the server keeps all six"

# maildrop into a Maildir, named by its filter file (which maildrop
# wants private), keep = no.
account md 'deliver = mda' 'keep = no' \
    "mda_command = \"/usr/bin/maildrop $T/md/rc\""
mkdir -p "$T/md/Out/new" "$T/md/Out/cur" "$T/md/Out/tmp"
printf 'to "%s/"\n' "$T/md/Out" >"$T/md/rc"
chmod 600 "$T/md/rc"
mfd_run_ok md 0 "maildrop"
mfd_expect "$T/md/Out" "" "$T"/m[1-6].eml
tap_is "$(mfd_count "$T/md/Maildir" "" new)$(mfd_count "$T/md/Maildir" "" cur)$(ls -A "$T/md/Maildir/tmp" | wc -l)" \
    000 "maildrop: the account's own Maildir holds nothing"
tap_is "$(server_left md)" 0 "maildrop (keep = no): deleted once maildrop took them"
mfd_run_ok md 1 "maildrop: the second run"

# Dovecot's LDA as the agent, into another user of the test Dovecot (its
# userdb through the running server's auth socket).
dovecot_add_user ldarcpt pw-ldarcpt-x7
account lda 'deliver = mda' \
    "mda_command = \"/usr/lib/dovecot/dovecot-lda -c $DC_CONF -d ldarcpt\""
mfd_run_ok lda 0 "dovecot-lda"
mfd_expect "$(dovecot_folder_path ldarcpt INBOX)" "" "$T"/m[1-6].eml

# An agent that hangs, with a child (two messages: a second each).
MSGS="1 2" account hang 'deliver = mda' 'keep = no' 'mda_timeout = 1s' \
    "mda_command = \"$AGENT hang\""
mfd_run_ok hang 8 "hang"
tap_like "$err" "'$AGENT' timed out after 1 seconds and was killed" \
    "hang: killed at mda_timeout, logged"
tap_is "$(pgrep -fc 'sleep 1000[.]25')" 0 "hang: its child killed too"
tap_is "$(server_left hang)" 2 "hang (keep = no): nothing deleted"

# A big message streams through the pipe; one the agent does not read
# to its end, exit 0, counts as taken, with a warning.
gen big "$T/big.eml" 3000000
MSGS= account big 'deliver = mda' "mda_command = \"$AGENT ok $T/big/out\""
dovecot_add_message big INBOX "$T/big.eml"
mkdir -p "$T/big/out"
mfd_run_ok big 0 "big"
tap_is "$(cmp "$T/big.eml" "$T"/big/out/msg.* 2>&1 && echo same)" same \
    "big: the agent got the 3 MB message byte for byte"
MSGS= account head 'deliver = mda' 'keep = no' "mda_command = \"$AGENT head\""
dovecot_add_message head INBOX "$T/big.eml"
mfd_run_ok head 0 "head"
tap_like "$err" "'$AGENT' exited 0 without reading the whole message; counted as delivered" \
    "head: an agent that stops reading and exits 0: taken, with a warning"
tap_is "$(server_left head)" 0 "head (keep = no): deleted, as the agent took it"

# lmtp_out USER [FOLDER]: the messages LMTP delivered to USER's folder
# (INBOX), each without the header lines Dovecot's LMTP and
# mda_id_header put first (Return-Path, Delivered-To, X-Mailfetchd-Id),
# as sha256 sums, sorted.
lmtp_out()
{
	local f d

	d=$(dovecot_folder_path "$1" "${2:-INBOX}")
	for f in "$d"/new/* "$d"/cur/*; do
		[ -f "$f" ] || continue
		sed -E '1,/^$/{/^(Return-Path|Delivered-To|X-Mailfetchd-Id):/d}' "$f" |
		    sha256sum | cut -d' ' -f1
	done | sort
}

# deliver = lmtp to Dovecot's LMTP server, into another user (named by
# lmtp_recipient); a second run fetches nothing; an unknown recipient
# (5xx) is reported and keep = no deletes nothing.
dovecot_add_user lmtprcpt pw-lmtprcpt-x7
account lmtp 'deliver = lmtp' "lmtp = \"unix:$LMTP\"" \
    'lmtp_recipient = "lmtprcpt"' 'keep = no'
mfd_run_ok lmtp 0 "lmtp"
tap_is "$(lmtp_out lmtprcpt)" "$(sha256sum "$T"/m[1-6].eml | cut -d' ' -f1 | sort)" \
    "lmtp: the six messages in the recipient's INBOX, byte for byte after Dovecot's trace headers"
tap_is "$(server_left lmtp)" 0 "lmtp (keep = no): deleted once the LMTP server took them"
mfd_run_ok lmtp 1 "lmtp: the second run"
# The same over TCP (lmtp = "127.0.0.1:PORT"), Dovecot's inet_listener.
dovecot_add_user lmtptcprcpt pw-lmtptcprcpt-x7
account lmtptcp 'deliver = lmtp' "lmtp = \"127.0.0.1:$LMTP_PORT\"" \
    'lmtp_recipient = "lmtptcprcpt"' 'keep = no'
mfd_run_ok lmtptcp 0 "lmtp over TCP"
tap_is "$(lmtp_out lmtptcprcpt)" "$(sha256sum "$T"/m[1-6].eml | cut -d' ' -f1 | sort)" \
    "lmtp over TCP: the six messages in the recipient's INBOX, byte for byte after Dovecot's trace headers"
tap_is "$(server_left lmtptcp)" 0 "lmtp over TCP (keep = no): deleted once the LMTP server took them"
account lmtpbad 'deliver = lmtp' "lmtp = \"unix:$LMTP\"" \
    'lmtp_recipient = "nosuchuser"' 'keep = no'
mfd_run_ok lmtpbad 8 "lmtp, unknown recipient"
tap_like "$err" "LMTP unix:$LMTP: RCPT TO refused: 550" \
    "lmtp, unknown recipient: the server's refusal reported"
tap_is "$(server_left lmtpbad)" 6 "lmtp, unknown recipient (keep = no): nothing deleted"

# An LMTP server that answers 451 to every message's data: the messages
# stay on the server (keep = no), the run says why and, as it delivered
# none of them, exits 8 (r23 05); pointed at Dovecot's, the next run
# delivers them all.
"$(_dc_python)" "$top_srcdir/tests/integration/lmtp_server.py" t451 \
    "$T/lmtp451" &
LMTP451_PID=$!
tap_cleanup_add "kill $LMTP451_PID 2>/dev/null"
for i in 1 2 3 4 5 6 7 8 9 10; do
	[ -S "$T/lmtp451" ] && break
	sleep 0.2
done
dovecot_add_user lmtptemprcpt pw-lmtptemprcpt-x7
account lmtptemp 'deliver = lmtp' "lmtp = \"unix:$T/lmtp451\"" \
    'lmtp_recipient = "lmtptemprcpt"' 'keep = no'
mfd_run_ok lmtptemp 8 "lmtp 451"
tap_like "$err" "LMTP unix:$T/lmtp451: end of data refused: 451 4.3.0 try again later; the message stays on the server" \
    "lmtp 451: the server's answer logged"
tap_is "$(server_left lmtptemp)" 6 "lmtp 451 (keep = no): nothing deleted"
sed -i "s|unix:$T/lmtp451|unix:$LMTP|" "$T/lmtptemp/mailfetchd.conf"
mfd_run_ok lmtptemp 0 "lmtp 451: the next run, to Dovecot's LMTP"
tap_is "$(lmtp_out lmtptemprcpt)" "$(sha256sum "$T"/m[1-6].eml | cut -d' ' -f1 | sort)" \
    "lmtp 451: then all six delivered, once"
tap_is "$(server_left lmtptemp)" 0 "lmtp 451: then the server is emptied"

# The sender: a message's Return-Path gives %s to an agent and MAIL FROM
# to LMTP (which Dovecot records as the first Return-Path).
{ printf 'Return-Path: <bounce+x@example.org>\n'; cat "$T/m1.eml"; } >"$T/rp.eml"
MSGS= account snd 'deliver = mda' "mda_command = \"$AGENT ok $T/snd/out %s\""
dovecot_add_message snd INBOX "$T/rp.eml"
mkdir -p "$T/snd/out"
mfd_run_ok snd 0 "sender"
tap_is "$(tail -n1 "$T/snd/out/argv")" "bounce+x@example.org" \
    "sender: %s is the message's Return-Path address"
dovecot_add_user sndrcpt pw-sndrcpt-x7
MSGS= account sndlmtp 'deliver = lmtp' "lmtp = \"unix:$LMTP\"" \
    'lmtp_recipient = "sndrcpt"'
dovecot_add_message sndlmtp INBOX "$T/rp.eml"
mfd_run_ok sndlmtp 0 "sender, LMTP"
tap_is "$(head -qn1 "$(dovecot_folder_path sndrcpt INBOX)"/new/* 2>&1)" \
    "Return-Path: <bounce+x@example.org>" \
    "sender, LMTP: MAIL FROM is the message's Return-Path"

# No LMTP server at the socket: reported, nothing deleted.
account lmtpnone 'deliver = lmtp' "lmtp = \"unix:$T/nosuch.sock\"" 'keep = no'
mfd_run_ok lmtpnone 8 "lmtp, no server"
tap_like "$err" "LMTP unix:$T/nosuch.sock: .*(No such file|connect)" \
    "lmtp, no server: reported"
tap_is "$(server_left lmtpnone)" 6 "lmtp, no server (keep = no): nothing deleted"

# Lines starting with dots go through LMTP's dot-stuffing unchanged.
printf 'From: a@example.org\nSubject: dots\n\n.\n..\n.x\n..y\nend .\n.\n' >"$T/dots.eml"
MSGS= account lmtpdots 'deliver = lmtp' "lmtp = \"unix:$LMTP\"" \
    'lmtp_recipient = "lmtpdotsrcpt"'
dovecot_add_user lmtpdotsrcpt pw-lmtpdotsrcpt-x7
dovecot_add_message lmtpdots INBOX "$T/dots.eml"
mfd_run_ok lmtpdots 0 "lmtp, dots"
tap_is "$(lmtp_out lmtpdotsrcpt)" "$(sha256sum <"$T/dots.eml" | cut -d' ' -f1)" \
    "lmtp, dots: lines of dots arrive as they were"

# Killed after the LMTP server took the second message: the duplicate
# the next run sends carries the same X-Mailfetchd-Id, and the user's
# Sieve script (RFC 7352 duplicate, on that header) discards it; it
# also files message 3 by its Subject. Exactly the six, once each.
dovecot_add_user sieverpt pw-sieverpt-x7
printf '%s\n' 'require ["fileinto", "mailbox", "duplicate"];' \
    'if duplicate :header "X-Mailfetchd-Id" { discard; stop; }' \
    'if header :contains "Subject" "mda3" { fileinto :create "Three"; }' \
    >"$(_dc_home sieverpt)/.dovecot.sieve"
chown -R "$DC_MAIL_USER" "$(_dc_home sieverpt)"
account sieve 'deliver = lmtp' "lmtp = \"unix:$LMTP\"" \
    'lmtp_recipient = "sieverpt"' 'keep = no' 'mda_id_header = yes'
MAILFETCHD_FAULT=pop3-mda-taken:2 mfd_run sieve
tap_is "$rc" 137 "lmtp + sieve: killed at pop3-mda-taken:2"
mfd_run_ok sieve 0 "lmtp + sieve: the next run"
tap_is "$(lmtp_out sieverpt)" "$(sha256sum "$T"/m[12456].eml | cut -d' ' -f1 | sort)" \
    "lmtp + sieve: the INBOX holds messages 1 2 4 5 6 once each (the duplicate discarded)"
tap_is "$(grep -c 'lmtp(sieverpt).*discard action' "$DC_LOG")" 1 \
    "lmtp + sieve: Sieve discarded exactly one message, the duplicate"
tap_is "$(lmtp_out sieverpt Three)" "$(sha256sum <"$T/m3.eml" | cut -d' ' -f1)" \
    "lmtp + sieve: message 3 filed into Three by its Subject"
tap_is "$(server_left sieve)" 0 "lmtp + sieve: the server is emptied"

# Crash points with LMTP and no guard, keep = no, for each protocol:
# killed at PROTO-mda-taken:N (the batch's first and last message),
# after Dovecot's LMTP took message N, before the state recorded it: the
# next run hands that one message over again, and only it (the one
# duplicate mailfetchd.conf(5) allows for the kill), loses none and
# empties the server; a third run hands nothing over. At imap-saved
# (the batch recorded, the server not yet told): no duplicate, the owed
# deletions applied by the next run.
# lmtp_crash PROTO POINT DUPLICATED: a fresh account killed at POINT,
# DUPLICATED the number (1-6) of the message expected twice, or "" (then
# the next run has nothing new to deliver: exit status 1).
lmtp_crash()
{
	local a=lc$1${2##*[-:]} want twice="none twice" next=1

	[ -n "$3" ] && twice="only message $3 twice" && next=0

	dovecot_add_user "${a}r" "pw-${a}r-x7"
	MFD_PROTO=$1 account "$a" 'deliver = lmtp' "lmtp = \"unix:$LMTP\"" \
	    "lmtp_recipient = \"${a}r\"" 'keep = no' 'mda_id_header = yes'
	MAILFETCHD_FAULT=$2 mfd_run "$a"
	tap_is "$rc" 137 "lmtp crash $2: killed at the point"
	mfd_run_ok "$a" "$next" "lmtp crash $2: the next run"
	mfd_run_ok "$a" 1 "lmtp crash $2: then nothing new"
	want=$(sha256sum "$T"/m[1-6].eml ${3:+"$T/m$3.eml"} | cut -d' ' -f1 | sort)
	tap_is "$(lmtp_out "${a}r")" "$want" \
	    "lmtp crash $2: the six delivered, $twice"
	tap_is "$(server_left "$a")" 0 "lmtp crash $2: the server is emptied"
}
lmtp_crash pop3 pop3-mda-taken:1 1
lmtp_crash pop3 pop3-mda-taken:6 6
lmtp_crash imap imap-mda-taken:1 1
lmtp_crash imap imap-mda-taken:6 6
lmtp_crash imap imap-saved ""

# common PREFIX: the agent's placeholders, exit 75, exit 1 and a crash
# for accounts of MFD_PROTO, named PREFIX...
common()
{
	local p=$1 f got seen=

	# The placeholders, and keep = no with an agent that takes everything;
	# new_mail_command runs for what the agent took.
	account ${p}args 'deliver = mda' 'keep = no' \
	    "mda_command = \"$AGENT ok $T/${p}args/out %a %f 100%%\"" \
	    "new_mail_command = \"$NEWMAIL $T/${p}args/hook\""
	mkdir -p "$T/${p}args/out"
	mfd_run_ok ${p}args 0 "$MFD_PROTO placeholders"
	same_set "$T/${p}args/out" "$MFD_PROTO placeholders: the agent got the six messages"
	tap_is "$(tr '\n' ' ' <"$T/${p}args/out/argv")" "ok $T/${p}args/out ${p}args INBOX 100% " \
	    "$MFD_PROTO placeholders: %a %f %% replaced in the agent's argv"
	tap_is "$(server_left ${p}args)" 0 "$MFD_PROTO keep = no: deleted once the agent took them"
	tap_is "$(cat "$T/${p}args/hook" 2>&1)" \
	    "$(printf 'new_mail %sargs INBOX 6 0\nstdin 0' "$p")" \
	    "$MFD_PROTO new mail: new_mail_command ran once for the six the agent took (no paths)"

	# EX_TEMPFAIL, then a working agent.
	account ${p}temp 'deliver = mda' 'keep = no' "mda_command = \"$AGENT temp\""
	mfd_run ${p}temp
	tap_like "$err" "asked to try again later \(exit status 75, EX_TEMPFAIL\); the message stays on the server" \
	    "$MFD_PROTO tempfail: logged"
	tap_is "$(server_left ${p}temp)" 6 "$MFD_PROTO tempfail (keep = no): nothing deleted"
	tap_unlike "$err" "not returned by the server" \
	    "$MFD_PROTO tempfail: not reported as the server's failure"
	mkdir -p "$T/${p}temp/out"
	sed -i "s|$AGENT temp|$AGENT ok $T/${p}temp/out|" "$T/${p}temp/mailfetchd.conf"
	mfd_run_ok ${p}temp 0 "$MFD_PROTO tempfail: the next run with a working agent"
	same_set "$T/${p}temp/out" "$MFD_PROTO tempfail: the next run delivered all six, once"
	tap_is "$(server_left ${p}temp)" 0 "$MFD_PROTO tempfail: then the server is emptied"

	# Exit 1 with words on stderr.
	[ "$MFD_PROTO" = imap ] && seen='mark_read = yes'
	account ${p}fail 'deliver = mda' 'keep = no' ${seen:+"$seen"} "mda_command = \"$AGENT fail\""
	mfd_run_ok ${p}fail 8 "$MFD_PROTO fail"
	tap_like "$err" "'$AGENT' exited with status 1; it said: agent: mailbox quota exceeded; the message stays on the server" \
	    "$MFD_PROTO fail: the status and the agent's stderr reported"
	tap_is "$(server_left ${p}fail)" 6 "$MFD_PROTO fail (keep = no): nothing deleted"
	[ "$MFD_PROTO" = imap ] &&
	    tap_is "$(mfd_server_flags ${p}fail pw-${p}fail-x7 INBOX | grep -c Seen)" 0 \
	    "imap fail (mark_read = yes): no message marked \\Seen"

	# Killed between the agent's exit 0 and the state's save.
	account ${p}crash 'deliver = mda' 'keep = no' 'mda_id_header = yes' \
	    "mda_command = \"$AGENT ok $T/${p}crash/out\""
	mkdir -p "$T/${p}crash/out"
	MAILFETCHD_FAULT=$MFD_PROTO-mda-taken:2 mfd_run ${p}crash
	tap_is "$rc" 137 "$MFD_PROTO crash: killed at $MFD_PROTO-mda-taken:2"
	mfd_run_ok ${p}crash 0 "$MFD_PROTO crash: the next run"
	tap_is "$(ls "$T/${p}crash/out"/msg.* | wc -l)" 7 "$MFD_PROTO crash: seven hand-overs for six messages"
	got=$(for f in "$T/${p}crash/out"/msg.*; do sed 1d "$f" | sha256sum | cut -d' ' -f1; done | sort -u)
	tap_is "$got" "$(sha256sum "$T"/m[1-6].eml | cut -d' ' -f1 | sort)" \
	    "$MFD_PROTO crash: each of the six reached the agent, X-Mailfetchd-Id first"
	tap_is "$(head -qn1 "$T/${p}crash/out"/msg.* | sort | uniq -d | wc -l)" 1 \
	    "$MFD_PROTO crash: the one duplicate carries the same X-Mailfetchd-Id"
	tap_is "$(head -qn1 "$T/${p}crash/out"/msg.* | grep -cE '^X-Mailfetchd-Id: <[0-9a-f]{32}@mailfetchd>$')" 7 \
	    "$MFD_PROTO crash: every hand-over starts with its X-Mailfetchd-Id"
	tap_is "$(server_left ${p}crash)" 0 "$MFD_PROTO crash: the server is emptied"
	mfd_run_ok ${p}crash 1 "$MFD_PROTO crash: then nothing new"
	tap_is "$(ls "$T/${p}crash/out"/msg.* | wc -l)" 7 "$MFD_PROTO crash: nothing handed over again"
	tap_is "$(find "$T/${p}crash/Maildir" -type f | wc -l)" 0 \
	    "$MFD_PROTO crash: the spool Maildir holds no file any more"
}

common p
MFD_PROTO=imap common i

# Per folder: the account's agent for INBOX, the Maildir for "Lists"
# (deliver = maildir in its folder section).
dovecot_add_user perf pw-perf-x7
mfd_account perf pw-perf-x7
dovecot_add_message perf INBOX "$T/m1.eml"
dovecot_add_folder perf Lists
dovecot_add_message perf Lists "$T/m2.eml"
mkdir -p "$T/perf/out"
MFD_PROTO=imap mfd_conf perf 'deliver = mda' "mda_command = \"$AGENT ok $T/perf/out\"" \
    -- 'folder "INBOX" { }' 'folder "Lists" { deliver = maildir }'
mfd_run_ok perf 0 "per folder"
tap_is "$(cmp "$T/m1.eml" "$T"/perf/out/msg.* 2>&1 && echo same)" same \
    "per folder: INBOX's message went to the agent (only it)"
mfd_expect "$T/perf/Maildir" Lists "$T/m2.eml"
mfd_expect "$T/perf/Maildir" "" 

# The daemon: a message pushed by IDLE goes to the agent, and with
# keep = no leaves the server only after the agent took it.
# idlrej: its agent refuses every message (exit 1).
dovecot_add_user idl pw-idl-x7
mfd_account idl pw-idl-x7
dovecot_add_user idlrej pw-idlrej-x7
mfd_account idlrej pw-idlrej-x7
mkdir -p "$T/idl/out"
{
	printf 'state_dir = "%s"\nlog_level = debug\n' "$T/dstate"
	printf 'control_socket = "%s"\n' "$T/dctl"
	daemon_block idl 'idle = yes' 'poll_interval = 1h' 'deliver = mda' \
	    'keep = no' "mda_command = \"$AGENT ok $T/idl/out\""
	daemon_block idlrej 'idle = yes' 'poll_interval = 1h' \
	    'deliver = mda' 'keep = no' "mda_command = \"$AGENT fail\""
} >"$T/daemon.conf" || tap_bail "cannot write $T/daemon.conf"
daemon_start "$T/daemon.conf"
daemon_wait_log 'account=idl folder=INBOX: .*-> IDLING' 20
ok $? "daemon: the IDLE folder reaches IDLE" "$(tail -20 "$DLOG")"
dovecot_append idl INBOX "$T/m1.eml" >/dev/null || tap_bail "APPEND failed"
for ((i = 0; i < 200; i++)); do
	[ "$(server_left idl)" = 0 ] && break
	sleep 0.1
done
tap_is "$(cmp "$T/m1.eml" "$T"/idl/out/msg.* 2>&1 && echo same)" same \
    "daemon: the pushed message reached the agent, byte for byte"
tap_is "$(server_left idl)" 0 "daemon (keep = no): then it left the server"
daemon_wait_log 'account=idlrej folder=INBOX: .*-> IDLING' 20
ok $? "daemon: idlrej's IDLE folder reaches IDLE" "$(tail -20 "$DLOG")"
dovecot_append idlrej INBOX "$T/m2.eml" >/dev/null || tap_bail "APPEND failed"
daemon_wait_log 'account=idlrej folder=INBOX: IDLE: fetched 0 messages; 1 refused by the delivery agent stay on the server' 20
ok $? "daemon: a refusal in IDLE is reported, as a poll's" "$(tail -20 "$DLOG")"
status=$(timeout 20 "$MAILFETCHD" -c "$T/daemon.conf" --status 2>&1)
tap_like "$status" "idlrej: .*; 1 message refused by the delivery agent since [0-9-]+ [0-9:]+; last error local delivery error \\(now\\)" \
    "daemon: --status shows the refusal in IDLE"
tap_is "$(server_left idlrej)" 1 "daemon (keep = no): the refused message stays on the server"
kill -TERM "$DPID"
daemon_wait_exit 15
tap_is "$drc" 0 "daemon: stops on SIGTERM"

mfd_no_secret pw-pm-x7 pw-pcrash-x7 pw-icrash-x7
tap_done
