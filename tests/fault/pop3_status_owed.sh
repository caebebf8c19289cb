#!/bin/bash
# pop3_status_owed.sh: keep = no against a server that adds "Status: RO"
# to a message after its RETR (qpopper, UW ipop3d: tests/fault/pop3dir.py
# POP3DIR_SIZES=status). A DELE owed to a later session (a run killed
# between its state save and QUIT; a DELE the server refused once) is
# sent once that session has read the message listed under the UIDL
# again and found it the one delivered: the header the server added must
# not make it another message, fetched again (review r24, finding 12:
# every such message was delivered twice). An owed set the previous
# version saved (the whole message's digest, "m") is still checked as it
# was: deleted when the message is unchanged; with the header added,
# fetched again (a duplicate), never deleted on weaker evidence.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init pop3statusowed

# drop NAME LETTER [VAR=VALUE...]: messages LETTER1 to LETTER3 (UIDLs u1
# to u3) in the maildrop $T/NAME, pop3dir.py on it with the knobs given,
# an account NAME with keep = no.
drop() {
	local name=$1 letter=$2 i

	shift 2
	mkdir -p "$T/$name"
	for i in 1 2 3; do
		printf 'From: a@example.net\nSubject: %s%d\nMessage-ID: <%s%d@x>\n\nbody %d\n' \
		    "$letter" "$i" "$letter" "$i" "$i" >"$T/$name/0${i}_u$i"
	done
	scripted_pop3dir "$T/$name" "$@"
	scripted_conf "$name" pop3 10s 'keep = no'
}

# killed NAME: run 1 of account NAME killed at pop3-saved, its 3 DELEs
# owed.
killed() {
	MAILFETCHD_FAULT=pop3-saved scripted_once "$1"
	tap_is "$rc:$(scripted_count "$1"):$(ls "$T/$1" | wc -l)" "137:3:3" \
	    "$1: killed at pop3-saved, 3 delivered, their DELEs owed"
}

# ---- killed: the owed set checked with "Status: RO" added ----
drop killed m POP3DIR_SIZES=status
killed killed
scripted_once killed
tap_unlike "$err" 'is not the one delivered' \
    "killed: the check takes each message, Status added, for the one delivered"
tap_is "$(ls "$T/killed" | wc -l)" 0 "killed: all three checked and deleted"
tap_is "$(scripted_subjects killed)" "m1 m2 m3 " \
    "killed: each message delivered once"

# ---- refused: u2's DELE refused in session 1, accepted in session 2 ----
drop refused n POP3DIR_SIZES=status POP3DIR_DELEERR=u2
scripted_once refused
tap_is "$rc:$(ls "$T/refused" | tr '\n' ' ')" "7:02_u2 " \
    "refused: u2's DELE refused, its DELE kept owed"
scripted_pop3dir "$T/refused" POP3DIR_SIZES=status
scripted_conf refused pop3 10s 'keep = no'
scripted_once refused
tap_unlike "$err" 'is not the one delivered' \
    "refused: the check takes u2, Status added, for the one delivered"
tap_is "$(ls "$T/refused" | wc -l)" 0 "refused: u2 checked and deleted"
tap_is "$(scripted_subjects refused)" "n1 n2 n3 " \
    "refused: each message delivered once"

# oldform NAME: the owed set of account NAME rewritten as the previous
# version wrote it: each digest that of the whole message delivered
# ("m"), taken from its file in the Maildir.
oldform() {
	python3 - "$T/state-$1/$1.state" "$T/Maildir-$1" <<'PY'
import glob, hashlib, re, sys
d = {}
for f in glob.glob(sys.argv[2] + "/*/*"):
    b = open(f, "rb").read()
    k = re.search(rb"^Subject: [a-z]([0-9])$", b, re.M).group(1)
    d["u" + k.decode()] = hashlib.sha256(b).hexdigest()[:16]
def entry(m):
    return m.group(1) + m.group(2) + "m" + d[m.group(1)]
def line(l):
    if not l.startswith("pending INBOX "):
        return l
    return re.sub(r"(u[0-9])(%09[0-9]+%09)s[0-9a-f]{16}", entry, l)
s = open(sys.argv[1]).read().split("\n")
open(sys.argv[1], "w").write("\n".join(line(l) for l in s))
PY
	scripted_pop3_restate "$T/state-$1/$1.state" "pending " ""
	tap_like "$(grep '^pending INBOX ' "$T/state-$1/$1.state")" \
	    '^pending INBOX u1%09[0-9]+%09m[0-9a-f]{16}%20u2%09[0-9]+%09m[0-9a-f]{16}%20u3%09[0-9]+%09m[0-9a-f]{16}$' \
	    "$1: the owed set is in the previous version's form"
}

# ---- oldsame: a previous version's owed set, the messages unchanged ----
drop oldsame o
killed oldsame
oldform oldsame
scripted_once oldsame
tap_is "$rc:$(ls "$T/oldsame" | wc -l):$(scripted_subjects oldsame)" \
    "1:0:o1 o2 o3 " \
    "oldsame: each checked by the whole message's digest and deleted, none fetched again"

# ---- oldstatus: the same with "Status: RO" added: the whole message
# differs; not deleted on the content digest, fetched again ----
drop oldstatus p POP3DIR_SIZES=status
killed oldstatus
oldform oldstatus
scripted_once oldstatus
tap_like "$err" 'UIDL "u2" is not the one delivered \(its content differs\): not deleted; fetched as a new message' \
    "oldstatus: the previous version's entry is checked by the whole message, as before"
tap_is "$(scripted_subjects oldstatus)" "p1 p1 p2 p2 p3 p3 " \
    "oldstatus: so each message is fetched again (a duplicate, never a DELE on weaker evidence)"
tap_done
