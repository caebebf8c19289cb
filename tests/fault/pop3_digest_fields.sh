#!/bin/bash
# pop3_digest_fields.sh: the check of an owed DELE (a run killed between
# its state save and QUIT, keep = no) and, without UIDL, the record of a
# refused DELE, leave out the header fields a mailbox server adds after a
# RETR ("Status: RO"), so that a server adding them does not make the
# message delivered look like another. A DIFFERENT message that differs
# from the delivered one only in such fields must not be taken for it:
# deleted on the server without ever being delivered (review r27, 04 and
# 11): a sender's "Status: FIRING" then "Status: RESOLVED", or a message
# with X-Keywords, Content-Length and X-UID a server would not write.
#   uidlkw: u2 replaced under the reused UIDL by m2 with "X-Keywords:
#     $Important NEW-ONE", Content-Length, X-UID.
#   uidlstatus: u1 ("Status: FIRING") replaced by "Status: RESOLVED".
#   oldc: an owed set as the previous version wrote it ("c": the digest
#     without those fields, whatever they said) proves nothing: each
#     message fetched again (a duplicate), none deleted on it.
#   nouidl: without UIDL, u1's DELE refused ("Status: FIRING"); the user
#     deletes it, a "Status: RESOLVED" copy arrives.
# TAP output.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
MAILFETCHD=${MAILFETCHD:-$top_srcdir/_build/mailfetchd}
. "$top_srcdir/tests/lib/scripted.sh"
scripted_init pop3digestfields

alert() {	# alert FILE STATUS [EXTRA-HEADER-LINE]
	printf 'From: monitor@example.net\nSubject: disk /srv\nStatus: %s\n%s\nsee dashboard\n' \
	    "$2" "${3:+$3
}" >"$1"
}

# ---- uidlkw ----
scripted_pop3dir_msgs "$T/kw" 3
scripted_pop3dir "$T/kw"
scripted_conf kw pop3 10s 'keep = no'
MAILFETCHD_FAULT=pop3-saved scripted_once kw
tap_is "$rc:$(scripted_count kw):$(ls "$T/kw" | wc -l)" "137:3:3" \
    "uidlkw: killed at pop3-saved, 3 delivered, their DELEs owed"
printf 'From: a@example.net\nSubject: m2\nX-Keywords: $Important NEW-ONE\nContent-Length: 7\nX-UID: 99\n\nbody 2\n' >"$T/kw/02_u2"
scripted_once kw
tap_is "$(grep -lr 'NEW-ONE' "$T/Maildir-kw" | wc -l)" 1 \
    "uidlkw: the new message under u2 is delivered"
tap_like "$err" 'UIDL "u2" is not the one delivered' \
    "uidlkw: the log says it is another message"

# ---- uidlstatus ----
mkdir -p "$T/st"
alert "$T/st/01_u1" FIRING
scripted_pop3dir "$T/st"
scripted_conf st pop3 10s 'keep = no'
MAILFETCHD_FAULT=pop3-saved scripted_once st
tap_is "$rc:$(scripted_count st):$(ls "$T/st" | wc -l)" "137:1:1" \
    "uidlstatus: killed at pop3-saved, FIRING delivered, its DELE owed"
alert "$T/st/01_u1" RESOLVED
scripted_once st
tap_is "$(grep -lr 'RESOLVED' "$T/Maildir-st" | wc -l)" 1 \
    "uidlstatus: the RESOLVED message under u1 is delivered"

# ---- oldc ----
scripted_pop3dir_msgs "$T/oc" 3
scripted_pop3dir "$T/oc"
scripted_conf oc pop3 10s 'keep = no'
MAILFETCHD_FAULT=pop3-saved scripted_once oc
# A message without those fields: the "c" digest is the same number.
sed -i '/^pending INBOX /s/%09s\([0-9a-f]\{16\}\)/%09c\1/g' \
    "$T/state-oc/oc.state"
scripted_pop3_restate "$T/state-oc/oc.state" "pending " ""
tap_like "$(grep '^pending INBOX ' "$T/state-oc/oc.state")" \
    '^pending INBOX u1%09[0-9]+%09c[0-9a-f]{16}%20u2' \
    "oldc: the owed set is in the previous version's form"
scripted_once oc
tap_like "$err" 'UIDL "u2" was recorded with a digest that left out the Status' \
    "oldc: the log says the entry proves nothing"
tap_is "$(scripted_subjects oc)" "m1 m1 m2 m2 m3 m3 " \
    "oldc: each message fetched again, a duplicate, never deleted on it"

# ---- nouidl ----
mkdir -p "$T/nu"
alert "$T/nu/01_u1" FIRING
scripted_pop3dir "$T/nu" POP3DIR_NOUIDL=1 POP3DIR_DELEERR=u1 \
    POP3DIR_DELEERRS=1
scripted_conf nu pop3 10s 'keep = no'
scripted_once nu
tap_is "$rc:$(ls "$T/nu" | tr '\n' ' ')" "7:01_u1 " \
    "nouidl: FIRING delivered, its DELE refused"
rm "$T/nu/01_u1"
alert "$T/nu/02_u2" RESOLVED 'X-Keywords: NEW'
scripted_once nu
tap_is "$(grep -lr 'RESOLVED' "$T/Maildir-nu" | wc -l)" 1 \
    "nouidl: the RESOLVED message is delivered, not taken for FIRING"
tap_done
