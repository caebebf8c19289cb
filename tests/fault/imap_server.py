#!/usr/bin/env python3
"""imap_server.py: a scripted IMAP server (plain TCP, 127.0.0.1) for
tests/fault/servers.sh: the faults Dovecot will not produce.

usage: imap_server.py MODE --log FILE --manifest FILE [--msgs N] [--bad N]
                      [--linger S] [--uidplus no] [--seen K,...] [--lit N]
                      [--seenmanifest yes] [--nilbelow U]

Listens on 127.0.0.1 port 0, prints the port on stdout, then serves
connections one after the other (until S, default 20, seconds pass
without one). Every
command line received is appended to the log ("<conn> <line>"). The
mailbox holds N (5) small messages, UIDs 1..N; STORE \\Deleted + EXPUNGE
remove them for later connections; UID COPY to any folder succeeds
(and changes nothing here), STATUS answers for INBOX whatever it is
asked, there is no MOVE, and UIDPLUS is offered
unless --uidplus no. MANIFEST receives "sha256<TAB>msgid"
of each message as a client must deliver it (LF line ends), for
tests/fault/faultlib.py compare.

--seen K,...: messages K are \\Seen from the start, under any UIDVALIDITY
(left out of the manifest: a client with first_fetch = unseen never takes
them; unless --seenmanifest yes: after a UIDVALIDITY change it does).

The first --bad (default 1) connections misbehave as MODE says; later
ones behave, so a test can check that the next run recovers.

Modes:
  good        nothing wrong
  modseqback  CONDSTORE and ENABLE offered; connection K's SELECT gives
              the K-th of --modseqs (default 100,200,50; the last one
              for the later connections) as its HIGHESTMODSEQ, as is
              (any text), and messages 1 to K-1 are \\Seen (read with
              another client). CHANGEDSINCE is taken and every message
              answered, after two unasked VANISHED lines: 1:4294967295,
              and 5,000 single UIDs
  bye         "* BYE" in the middle of the body FETCH (after message 2),
              then the connection closes
  expunge     "* 2 EXPUNGE" in the middle of the body FETCH (message 2 is
              gone for good); the FETCH goes on and ends OK
  dupuid      message 2 is sent twice in the body FETCH (same UID, same
              bytes), and a third time with other bytes (the manifest
              lists both versions: a client must deliver each once)
  dupbig      message 2 is sent a second time in the body FETCH, with
              other bytes over 20,000 long (over a max_message_size of
              8K): only the first is delivered
  bigdup      as dupbig, the long other message sent first
  dupnil      message 2 is sent a second time in the body FETCH, as
              BODY[] NIL
  nil         BODY[] NIL for message 3
  nilread     as nil; on the later connections message 3 is \\Seen (the
              user read it on the server meanwhile)
  nilreaduv   as nilread, and the second connection has a new
              UIDVALIDITY and new UIDs (as uidvalidity, once)
  omit        message 3 is left out of the body FETCH's answer
  litmore     message 2's BODY[] literal says 200 bytes more than are
              sent, then the connection closes
  bigdrip     message 2's BODY[] literal is announced as {4000000000}
              (or --lit N; RFC822.SIZE said ~700) and dripped at 1.7
              KiB/s, above the pacing floor, for at most 120 s (each
              --bad connection that asks for it; with --bad 2 or more
              the client passes it over for good: not in the manifest)
  hdrdrip     as bigdrip, the literal of message 2's Message-ID header
  fulllie     in the body FETCH of a --bad connection, message 2's
              BODY[] is 200 KB longer than its RFC822.SIZE (not a lie:
              within twice that plus 1 MiB; too big for a small Maildir),
              and message 3's literal is announced and dripped as in
              bigdrip (tests/fault/lie_after_fail.sh)
  bigdripseq  as bigdrip, with no UID before the literal (a client can
              only tell the message by its number)
  bigdripuv   as bigdrip, and the second connection has a new UIDVALIDITY
              and new UIDs (as uidvalidity, once)
  bigdripone  as bigdripseq, and every FETCH answer of a --bad connection
              carries message number 1 (a broken server: the number names
              no one message); message 2 is delivered by a later one
  gmsizesdrip X-GM-EXT-1 announced (the client asks every Message-ID in
              its sizes pass); on each --bad connection, the sizes pass's
              Message-ID header literal of the last message is announced
              as {4000000000} and dripped as in bigdrip (with --bad 2 or
              more it is passed over for good: not in the manifest)
  uidvhdrdrip the second connection has a new UIDVALIDITY and new UIDs
              (as uidvalidity, once), and in its sizes FETCH (which asks
              the Message-IDs) message 2's Message-ID header literal is
              announced as {4000000000} and dripped as in bigdrip; later
              connections keep that UIDVALIDITY and behave
  existsdrip  after message 1, the body FETCH answer is "* 5 EXISTS"
              every 1.5 s (for at most 120 s), never completed: each line
              comes before the timeout of a client that counts any
              untagged data as the server at work
  flagsdrip   as existsdrip, with "* 1 FETCH (UID 1 FLAGS ())"
  repdrip     as existsdrip, with message 1's whole FETCH response again
  existsflood as existsdrip, but "* 5 EXISTS" sent again and again at
              2 KiB/s (twice the client's pacing floor), for at most 120 s
  okflood     UID SEARCH on a --bad connection is answered by "* OK still
              working" again and again at 2 KiB/s, for at most 120 s,
              never completed
  searchrep   as okflood, with "* SEARCH 1 2 3" (the same UIDs again)
  searchcount as okflood, with "* SEARCH k" lines, k = 100, 101, ...:
              a new UID each time, far more than the folder holds
  listrep     as okflood, LIST "" "*" answered by the same INBOX line
  flagcount   UIDs 1, 2, then 3000000000 and up (as hugegap, every
              message in the sizes pass); a --bad connection answers the
              flag FETCH of local_flags = mirror ("(UID FLAGS)") with
              "* 1 FETCH (UID k FLAGS (\\Seen))", k = 100, 101, ...,
              at 32 KiB/s: a new UID below the last one delivered each
              time, far more than the folder holds
  listlong    honest but slow: LIST "" "*" is answered by INBOX and 2400
              \\Noselect shared folders at about 2.3 KiB/s (38 s; every
              connection)
  sizesdrip   the last message (--msgs) arrives for the second
              connection, which answers the sizes pass (UID FETCH without
              BODY.PEEK[]) with the FETCH line (UID and RFC822.SIZE) of
              the message before it, which the client has, every 1.5 s
              (for at most 120 s), never completed
  litless     message 2's BODY[] literal says 40 bytes fewer than are
              sent: the rest is garbage where the parser expects syntax
  uidvalidity every connection after the first has a new UIDVALIDITY and
              new UIDs (100 higher) for the same messages
  gapfetch    honest but slow: each body FETCH response is sent whole,
              1.8 s after the previous one (every connection)
  idlegap     as gapfetch, and IDLE offered (tests/fault/budget.sh)
  searchprog  honest but slow: UID SEARCH is answered after 6 progress
              lines "* OK Searched n% ..." one second apart (every
              connection)
  searchdrip  UID SEARCH on a --bad connection is answered by one
              "* SEARCH k" line every 1.5 s, k = 100, 101, ... (a new UID
              each time, one range), for at most 120 s, never completed
  listslow    honest but slow: LIST "" "*" is answered by INBOX and
              1000 \\Noselect shared folders, in 10 bursts of 100 names
              1.5 s apart (about 3 KB/s; every connection)
  listdrip    LIST "" "*" on a --bad connection is answered by one
              "* LIST () "/" Fk" line every 1.5 s (a new folder each
              time), for at most 120 s, never completed
  uidvnil     the second connection has a new UIDVALIDITY and new UIDs
              (as uidvalidity, once) and answers BODY[] NIL for message
              2; later connections keep that UIDVALIDITY and behave
  uidvnilnew  the last message (--msgs) is not there at first; the second
              connection has a new UIDVALIDITY and new UIDs (as
              uidvalidity, once) and answers BODY[] NIL for message 2,
              and so does the third, for which the last message arrives
              (its UID 100 above its number: above every UID the second
              connection listed); later connections behave (--bad is not
              used)
  uvsizelie   the second connection has a new UIDVALIDITY and new UIDs
              (as uidvalidity, once); its sizes pass announces
              RFC822.SIZE 900 for message 2, its body answer the true
              size; later connections keep that UIDVALIDITY and behave
  uidvbye     the second connection has a new UIDVALIDITY and new UIDs
              (as uidvalidity, once) and says "* BYE" in the middle of
              its body FETCH (after message 2), then closes; later
              connections keep that UIDVALIDITY and behave (--bad is
              not used)
  unseenbye   the even UIDs are \\Seen (left out of the manifest: a
              client with first_fetch = unseen never takes them); a bad
              connection says "* BYE" in the middle of its second body
              FETCH (after its message 2), then closes (use --msgs 600:
              a client's first batch is 250)
  longline    after login, an untagged response of 10 MB without CRLF,
              then the connection closes
  bigbody     message 2's BODY[] is 20,000 bytes longer than its
              RFC822.SIZE says (over a max_message_size of 8K, say); it
              is left out of the manifest: a client skips it and
              delivers the others (use --bad with a high count: the lie
              is told on every connection)
  toomany     LOGIN and AUTHENTICATE are refused with Gmail's
              "NO [ALERT] Too many simultaneous connections. (Failure)"
  unavailable LOGIN and AUTHENTICATE are refused with
              "NO [UNAVAILABLE] Temporary authentication failure"
  idledrop    the server offers IDLE, answers IDLE with "+ idling", then
              closes the connection (a proxy or NAT that drops idle
              connections at once)
  selectdrop  the server offers IDLE, takes the login, then answers SELECT
              (or EXAMINE) with "* BYE" and closes the connection (a
              failure after the login, before IDLE)
  copyfail    UID COPY is refused ("NO [TRYCREATE] no such mailbox"), and
              CREATE is an unknown command (BAD)
  trickle     the SELECT answer comes one byte every 0.3 s (for at most
              120 s; a 4 KB line that would take 20 minutes), each byte
              before the timeout of a client that restarts it on every
              byte
  okdrip      the SELECT answer is "* 5 EXISTS", then a complete
              "* OK still working" line every second (for at most 120 s),
              never the tagged OK: each line comes before the timeout of
              a client that paces only each response
  authdrip    AUTHENTICATE on a --bad connection is answered by a "+ "
              challenge every second, whatever the client says, never a
              tagged answer (for at most 120 s)
  donedrip    IDLE offered; on a --bad connection IDLE is answered with
              "+ idling" and "* 5 EXISTS" (the client leaves IDLE), then
              DONE with a "* OK still working" line every second, never
              the tagged OK (for at most 120 s)
  alertflood  the SELECT answer of a --bad connection starts with 100000
              identical "* OK [ALERT] Your mailbox is almost full" lines
              and 30 distinct "* OK [ALERT] notice N" ones, then is
              answered as usual
  tricklelit  message 2's BODY[] literal comes one byte every 0.3 s
  slowlit     honest but slow: messages of 22 KB whose BODY[] literals
              come at about 8 KiB/s (1 KiB every 0.125 s); every
              connection, not only the --bad ones
  searchflood IDLE offered; the last message (--msgs) arrives only during
              the first IDLE; unsolicited "* SEARCH" data is streamed
              before the SELECT answer's OK (--flood N UIDs, default
              2000000) and at the start of every IDLE (4 x N UIDs),
              distinct odd numbers that no range set can merge; then
              "* N EXISTS" for the new message (tests/fault/search.sh)
  searchbig   the answer to UID SEARCH carries 1000001 UIDs (in lines of
              5000)
  searchline  the same 1000001 UIDs in one line of about 14 MB
  searchrun   an honest huge folder: the answer to UID SEARCH carries
              1200000 consecutive UIDs (in lines of 5000)
  sizesflood  the answer to the sizes pass (UID FETCH without BODY.PEEK[])
              first repeats the folder's own messages' FETCH lines over
              and over (--flood N lines in all, default 2000000)
  sizesfake   as sizesflood, with 10,000 distinct UIDs above the
              folder's repeated instead: more than EXISTS can explain
  rootno      on a --bad connection LIST "" "" is refused (NO), UID COPY
              is answered "NO [TRYCREATE]" and CREATE would succeed
  xgmbad      X-GM-EXT-1 announced, but a UID FETCH that asks for
              X-GM-MSGID on a --bad connection is answered BAD
  listflood   the answer to LIST repeats "* LIST () "/" INBOX" (--flood N
              times, default 2000000)
  listfake    the answer to LIST names INBOX, then --flood N other
              folders ("f1", "f2"...)
  omitsize    the sizes pass (UID FETCH without BODY.PEEK[]) of a --bad
              connection leaves out message 3 (tests/fault/sizes_omit.sh)
  omitsizefirst  as omitsize, message 1
  omitsizegone   as omitsize, and message 3 is expunged (by another
              client) before the next connection (left out of the
              manifest)
  omitsizelast   as omitsize, the last message (--msgs)
  omitsize2   the second connection (not --bad) leaves message 3 out of
              its sizes pass; the others answer in full
  omitsearchno   connections 1 and 2 leave message 3 out of their sizes
              pass, and the second answers UID SEARCH with NO (a
              transient refusal); later connections behave
  hugegap     a sparse UID space: UIDs 1, 2, then 3000000000 and up; the
              sizes pass of a --bad connection leaves out message 2
  omituv      the last message (--msgs) is not there at first; the second
              connection has a new UIDVALIDITY and new UIDs (as
              uidvalidity, once), the third sees the last message arrive
              (its UID 100 above its number); the sizes pass of every
              connection leaves out message 3, which UID SEARCH finds
              (review r12, finding 04; --bad is not used)
  omitbig     message 3 is 1.2 MB (over twice a size of 0 plus 1 MiB) and
              the sizes pass of every connection leaves it out, while
              UID SEARCH finds it (--bad is not used)
  omitdrip    the sizes pass of every connection leaves message 3 out,
              while UID SEARCH finds it; the second connection announces
              its BODY[] literal as --lit N bytes and drips it as in
              bigdrip
  omitdripnosize  as omitdrip, and every body FETCH answer for message 3
              leaves out its RFC822.SIZE (no size known for it at all)
  omitdripsearch  as omitdrip, and UID SEARCH UID leaves message 3 out
              too: only UID SEARCH ALL lists it
  omitdripgone  as omitdrip, and message 3 is expunged (by another
              client) before the third connection (left out of the
              manifest)
  nilomit     the first connection answers BODY[] NIL for message 3, the
              second leaves it out of its sizes pass (asked for again),
              later ones behave (--bad is not used)
  nilbelow    every connection answers BODY[] NIL for the UIDs below
              --nilbelow U (messages it cannot read: tests/fault/
              suspect_cap.sh; --bad is not used)
  plan        a misbehaviour per connection number, from the JSON in
              $MFD_PLAN (first written for review r18): keys "lie",
              "nil", "omitsize", "omitbody", "nosize", "omitsearch",
              "bye" map a connection ("2", "2+" from the second on, "*"
              every one) to the messages (1..N) it does that to: lie =
              a 4 GB BODY[] literal dripped, then the cut; nil = BODY[]
              NIL; omitsize / omitbody = left out of the sizes / body
              FETCH answer; nosize = the body answer without RFC822.SIZE;
              omitsearch = left out of UID SEARCH; bye = BYE after it.
              "sizelie": {"2+": {"3": 3000000}} = the sizes FETCH
              announces that size; "folders": ["Other"] = LIST names them
              too (each serves the same messages); "nouidnext": true;
              "renum": [N] = new UIDVALIDITY at connection N; "idle":
              true = IDLE offered; "exists": N = SELECT says "* N
              EXISTS"; "toptells": true = omitsize leaves messages out
              of the sizes pass only (UID FETCH with RFC822.SIZE), not of
              UID FETCH * (UID); "sizesnouid" / "sizesnosize" = the sizes
              pass lists those messages without their UID / RFC822.SIZE
              (the top question too); "expungesize" = those messages
              are expunged (by another client) as the sizes pass comes
              to them: "* K EXPUNGE" instead of their line (the later
              lines numbered one lower, as RFC 3501 wants), and gone for
              later connections; "arrive": [N] = on connection N a
              message arrives once the sizes pass has listed the others
              ("* K EXISTS" before its tagged OK; the next UID, unread);
              "arrivetop": [N] = on connection N it arrives just as UID
              FETCH * (UID) is asked ("* K EXISTS", then the answer
              names it, as RFC 3501 wants); "arrivelist": [N] = it
              arrives just as the sizes pass is asked, and is listed
              ("arrivecount": K = K of them, one EXISTS);
              "expungelisted": [N] = on connection N another client
              expunges the first message just after the sizes pass's
              lines ("* 1 EXPUNGE" before its tagged OK); "expungetop":
              [N] = the same just after UID FETCH * (UID)'s answer line;
              "searchcount": [N] = connection
              N answers UID SEARCH as searchcount does (at "rate" bytes
              a second, default 2048, for at most "limit" s, default
              120)
UID SEARCH honours a "UID <set>" criterion (with ALL, UNSEEN, DELETED).
"""
import hashlib
import json
import os
import select
import socket
import sys
import time

LOGF = None
# bigdrip, hdrdrip: the size announced (--lit).
LIT = 4000000000
# slowlit: every message is padded to be larger than one pacing window.
PAD = 0
# omitbig: this message is padded past 1 MiB.
BIG = 0
# nilbelow: BODY[] NIL for the UIDs below this one (--nilbelow).
NIL_BELOW = 0
MODSEQS = ["100", "200", "50"]


def message(i):
    """Message i as the server sends it (CRLF)."""
    body = "".join("line %d of message %d\r\n" % (k, i) for k in range(20))
    body += "".join("padding line %05d of message %d\r\n" % (k, i)
                    for k in range(PAD))
    if i == BIG:
        body += "".join("big padding line %05d %s\r\n" % (k, "b" * 76)
                        for k in range(12000))
    return ("From: a@example.net\r\nTo: b@example.net\r\n"
            "Subject: scripted %d\r\nMessage-ID: <scripted-%d@fault.example>\r\n"
            "\r\n%s.dot line\r\n" % (i, i, body)).encode()


def dupuid_variant(i):
    """The other message mode dupuid sends under message i's UID."""
    return message(i).replace(b"line 3", b"LINE 3")


def msgid_header(i):
    return ("Message-ID: <scripted-%d@fault.example>\r\n\r\n" % i).encode()


class Conn:
    def __init__(self, sock, n):
        self.s = sock
        self.n = n
        self.buf = b""
        self.bodies = 0		# body FETCH commands so far
        self.arrived = False	# plan "arrive" done
        self.asked_in = False	# plan "arrivetop" / "arrivelist" done
        self.expunged = set()	# plan "expungelisted" / "expungetop" done

    def readline(self):
        while b"\r\n" not in self.buf:
            b = self.s.recv(65536)
            if not b:
                return None
            self.buf += b
        line, self.buf = self.buf.split(b"\r\n", 1)
        with open(LOGF, "ab") as f:
            f.write(b"%d %s\n" % (self.n, line))
        return line.decode("latin-1")

    def send(self, data):
        self.s.sendall(data.encode("latin-1") if isinstance(data, str)
                       else data)


def search_flood(c, count, start=1, one_line=False):
    """Streams count distinct odd UIDs as untagged SEARCH responses of
    5000 UIDs each (lines of at most 64 KiB), or as one line sent in
    pieces of 5000 UIDs."""
    uid = start
    first = True
    while count > 0:
        k = min(count, 5000)
        head = "* SEARCH" if first or not one_line else ""
        end = "\r\n" if k == count or not one_line else ""
        c.send(head + "".join(" %d" % (uid + 2 * j) for j in range(k))
               + end)
        first = False
        uid += 2 * k
        count -= k


# existsdrip, flagsdrip, repdrip: the line dripped (None: message 1's
# FETCH response).
DRIPS = {"existsdrip": b"* 5 EXISTS\r\n",
         "flagsdrip": b"* 1 FETCH (UID 1 FLAGS ())\r\n", "repdrip": None}


def drip(c, line):
    """Sends line every 1.5 s, for at most 120 s or until the client
    goes away (it says nothing meanwhile: readable is gone); a function
    line gives the k-th line (a new one each time)."""
    for k in range(80):
        c.send(line(k) if callable(line) else line)
        if select.select([c.s], [], [], 1.5)[0]:
            return


# existsflood, okflood, searchrep, searchcount, listrep: the line
# streamed (a function: the k-th line).
STREAMS = {"existsflood": b"* 5 EXISTS\r\n",
          "okflood": b"* OK still working\r\n",
          "searchrep": b"* SEARCH 1 2 3\r\n",
          "searchcount": lambda k: b"* SEARCH %d\r\n" % (100 + k),
          "listrep": b'* LIST (\\HasNoChildren) "/" INBOX\r\n',
          "flagcount":
          lambda k: b"* 1 FETCH (UID %d FLAGS (\\Seen))\r\n" % (100 + k)}


def stream(c, line, rate=2048, limit=120):
    """Sends line (a function: the k-th line) again and again, about
    rate bytes a second, for at most limit seconds or until the client
    goes away."""
    end = time.monotonic() + limit
    k = 0
    while time.monotonic() < end:
        out = b""
        while len(out) < rate // 10:
            out += line(k) if callable(line) else line
            k += 1
        try:
            c.send(out)
        except OSError:
            return
        time.sleep(0.1)


def trickle(c, data, pause=0.3, piece=1, limit=120):
    """Sends data piece bytes at a time, pause seconds apart, for at most
    limit seconds; False when the time ran out (the client never gave
    up), or the client went away."""
    end = time.monotonic() + limit
    for k in range(0, len(data), piece):
        if time.monotonic() > end:
            return False
        try:
            c.send(data[k:k + piece])
        except OSError:
            return False
        time.sleep(pause)
    return True


def parse_set(text, uids):
    """The UIDs of uids (sorted) that the sequence set text names."""
    top = uids[-1] if uids else 0
    out = set()
    for part in text.split(","):
        if ":" in part:
            a, b = part.split(":")
            a = top if a == "*" else int(a)
            b = top if b == "*" else int(b)
            lo, hi = min(a, b), max(a, b)
            out.update(u for u in uids if lo <= u <= hi)
        else:
            u = top if part == "*" else int(part)
            if u in uids:
                out.add(u)
    return sorted(out)


class Box:
    def __init__(self, n):
        self.msgs = {u: u for u in range(1, n + 1)}	# uid -> message no
        self.n = n					# messages at the start
        self.uidvalidity = 1000
        self.deleted = set()
        self.seen = set()
        self.seen_msgs = set()	# message numbers \\Seen in every epoch
        self.hidden = {}

    def uids(self):
        return sorted(self.msgs)

    def is_seen(self, uid):
        return uid in self.seen or self.msgs[uid] in self.seen_msgs

    def renumber(self):
        self.uidvalidity += 1
        self.msgs = {u + 100: k for u, k in self.msgs.items()}
        self.deleted = set()
        self.seen = set()


NIL = object()

# The message the sizes pass of a bad connection leaves out, by mode.
OMIT_SIZE = {"omitsize": 3, "omitsizefirst": 1, "omitsizegone": 3,
             "omitsize2": 3, "omitsearchno": 3, "hugegap": 2, "omituv": 3,
             "omitbig": 3, "omitdrip": 3, "omitdripnosize": 3,
             "omitdripsearch": 3, "omitdripgone": 3}
# mode "plan": what each connection does wrong (the module's doc).
PLAN = json.loads(os.environ.get("MFD_PLAN", "{}"))


def plan_has(key, n, k):
    """Whether connection n does key to message k."""
    v = PLAN.get(key, {})
    for kk, ks in v.items():
        if kk.endswith("+") and n >= int(kk[:-1]) and k in ks:
            return True
    return k in v.get(str(n), v.get("*", []))


def plan_size(n, k):
    """The size connection n's sizes pass announces for message k."""
    sl = {}
    for kk, vv in PLAN.get("sizelie", {}).items():
        if kk == str(n) or kk == "*" or \
                (kk.endswith("+") and n >= int(kk[:-1])):
            sl = vv
    return sl.get(str(k))


def plan_item(c, box, seq, uid, args, body):
    """mode plan's answer for one message: True when handled (sent or
    left out), False to answer as usual, None to end the session."""
    k = box.msgs[uid]
    if not body and plan_has("omitsize", c.n, k) and \
            not (PLAN.get("toptells") and "RFC822.SIZE" not in args):
        return True
    if not body and plan_has("expungesize", c.n, k):
        c.send(b"* %d EXPUNGE\r\n" % seq)
        del box.msgs[uid]
        return True
    if not body and plan_has("sizesnouid", c.n, k):
        c.send(fetch_item(box, seq, uid, args).replace(
            b"(UID %d " % uid, b"(", 1))
        return True
    if not body and plan_has("sizesnosize", c.n, k):
        c.send(nosize(fetch_item(box, seq, uid, args), box, uid))
        return True
    if not body and plan_size(c.n, k) is not None:
        c.send(fetch_item(box, seq, uid, args).replace(
            b" RFC822.SIZE %d" % len(message(k)),
            b" RFC822.SIZE %d" % plan_size(c.n, k)))
        return True
    if not body:
        return False
    if plan_has("omitbody", c.n, k):
        return True
    if plan_has("nil", c.n, k):
        c.send(fetch_item(box, seq, uid, args, body=NIL))
        return True
    if plan_has("nosize", c.n, k):
        c.send(nosize(fetch_item(box, seq, uid, args), box, uid))
        return True
    if plan_has("lie", c.n, k):
        item = fetch_item(box, seq, uid, args)
        c.send(item[:item.index(b"{", item.index(b"BODY[]"))] +
               b"{%d}\r\n" % LIT)
        trickle(c, b"x" * 4000, 0.25, 440)
        return None
    if plan_has("bye", c.n, k):
        c.send(fetch_item(box, seq, uid, args))
        c.send("* BYE going down\r\n")
        return None
    return False


# The modes that leave message 3 out of every sizes pass and lie about
# it (announce --lit bytes) in the second connection's body FETCH.
OMIT_DRIP = ("omitdrip", "omitdripnosize", "omitdripsearch", "omitdripgone")

# What the login of a bad connection gets, by mode.
REFUSALS = {
    "toomany": "NO [ALERT] Too many simultaneous connections. (Failure)",
    "unavailable": "NO [UNAVAILABLE] Temporary authentication failure",
}


def fetch_item(box, seq, uid, args, body=None, size=None):
    k = box.msgs[uid]
    data = message(k) if body is None else body
    flags = "(\\Seen)" if box.is_seen(uid) else "()"
    parts = [b"* %d FETCH (UID %d" % (seq, uid)]
    if "FLAGS" in args:
        parts.append(b" FLAGS " + flags.encode())
    parts.append(b" RFC822.SIZE %d" % len(message(k)))
    if "HEADER.FIELDS" in args:
        h = msgid_header(k)
        parts.append(b" BODY[HEADER.FIELDS (MESSAGE-ID)] {%d}\r\n" % len(h) + h)
    if "BODY.PEEK[]" in args:
        if data is NIL:
            parts.append(b" BODY[] NIL")
        else:
            n = len(data) if size is None else size
            parts.append(b" BODY[] {%d}\r\n" % n + data)
    parts.append(b")\r\n")
    return b"".join(parts)


def nosize(item, box, uid):
    """A FETCH answer without its RFC822.SIZE (omitdripnosize)."""
    return item.replace(b" RFC822.SIZE %d" % len(message(box.msgs[uid])),
                        b"", 1)


def sizes_flood(c, box, mode, count):
    """Streams count untagged FETCH lines of UID and RFC822.SIZE: the
    folder's messages (sizesflood) or 10,000 UIDs above them (sizesfake),
    over and over, in chunks."""
    uids = box.uids()
    if mode == "sizesfake":
        uids = [max(uids) + 1 + k for k in range(10000)]
    chunk = b"".join(b"* 1 FETCH (UID %d RFC822.SIZE 900)\r\n" % u
                     for u in uids)
    for _ in range(count // len(uids)):
        c.send(chunk)


def arrives_asked(c, sset, args):
    """Whether plan "arrivetop" / "arrivelist" has a message arrive as
    this UID FETCH is asked (once a connection)."""
    if c.asked_in or "BODY" in args:
        return False
    if "RFC822.SIZE" in args:
        return c.n in PLAN.get("arrivelist", [])
    return sset == "*" and c.n in PLAN.get("arrivetop", [])


def expunge_after(c, box, sset, args):
    """Plan "expungelisted" / "expungetop": another client expunges the
    first message once this UID FETCH has answered (once a connection
    each)."""
    if "BODY" in args:
        return
    key = "expungelisted" if "RFC822.SIZE" in args else \
        "expungetop" if sset == "*" else None
    if key is None or key in c.expunged or c.n not in PLAN.get(key, []):
        return
    c.expunged.add(key)
    del box.msgs[min(box.msgs)]
    c.send(b"* 1 EXPUNGE\r\n")


def do_fetch(c, box, tag, rest, bad, mode, flood=0):
    """UID FETCH; returns False when the connection must close."""
    sset, args = rest.split(" ", 1)
    if mode == "plan" and arrives_asked(c, sset, args):
        c.asked_in = True
        for _ in range(PLAN.get("arrivecount", 1)):
            box.msgs[max(box.msgs) + 1] = len(box.msgs) + 1
        c.send("* %d EXISTS\r\n" % len(box.msgs))
    uids = box.uids()
    want = parse_set(sset, uids)
    body = "BODY.PEEK[]" in args
    c.bodies += body
    if mode == "modseqback" and "CHANGEDSINCE" in args.upper():
        # Not asked for (no QRESYNC): a whole UID space gone, in one line
        # and in 5,000 UIDs (under the 64 KiB line bound).
        c.send(b"* VANISHED (EARLIER) 1:4294967295\r\n* VANISHED "
               + b",".join(b"%d" % (10 * k + 7) for k in range(5000))
               + b"\r\n")
    if bad and not body and mode in ("sizesflood", "sizesfake"):
        sizes_flood(c, box, mode, flood)
    if not body and mode == "sizesdrip" and c.n == 2:
        old = max(u for u in uids if u not in want)
        drip(c, b"* %d FETCH (UID %d RFC822.SIZE %d)\r\n"
             % (uids.index(old) + 1, old, len(message(box.msgs[old]))))
        return False
    gone = None
    for idx, uid in enumerate(want):
        if uid == gone:
            continue	# expunged just before: a server does not send it
        seq = 1 if bad and mode == "bigdripone" else uids.index(uid) + 1
        if mode == "plan":
            done = plan_item(c, box, seq, uid, args, body)
            if done is None:
                return False
            if uid not in box.msgs:
                uids = box.uids()	# expunged: later numbers move down
            if done:
                continue
        omit = bad or (mode == "omitsize2" and c.n == 2) or \
            mode in ("omituv", "omitbig") + OMIT_DRIP or \
            (mode == "omitsearchno" and c.n <= 2)
        if omit and not body and box.msgs[uid] == OMIT_SIZE.get(
                mode, box.n if mode == "omitsizelast" else None):
            continue
        if mode == "nilomit" and box.msgs[uid] == 3 and \
                c.n == (1 if body else 2):
            if body:
                c.send(fetch_item(box, seq, uid, args, body=NIL))
            continue
        if mode == "uvsizelie" and c.n == 2 and not body and \
                box.msgs[uid] == 2:
            # After the UIDVALIDITY change the sizes pass announces
            # another size than the body's answer will (Exchange's
            # RFC822.SIZE is known to be inexact).
            c.send(fetch_item(box, seq, uid, args).replace(
                b" RFC822.SIZE %d" % len(message(2)), b" RFC822.SIZE 900"))
            continue
        if body and mode in ("gapfetch", "idlegap"):
            if idx > 0:
                time.sleep(1.8)
            c.send(fetch_item(box, seq, uid, args))
            continue
        if body and box.msgs[uid] == 2 and (
                (mode == "uidvnil" and c.n == 2) or
                (mode == "uidvnilnew" and c.n in (2, 3))):
            c.send(fetch_item(box, seq, uid, args, body=NIL))
            continue
        if (bad and body and mode in ("nil", "nilread", "nilreaduv") and
                box.msgs[uid] == 3) or \
                (body and mode == "nilbelow" and uid < NIL_BELOW):
            c.send(fetch_item(box, seq, uid, args, body=NIL))
            continue
        if bad and body and mode == "omit" and box.msgs[uid] == 3:
            continue
        if bad and body and mode == "litmore" and idx == 1:
            c.send(fetch_item(box, seq, uid, args,
                              size=len(message(box.msgs[uid])) + 200))
            return False
        if bad and body and mode == "fulllie" and box.msgs[uid] == 2:
            c.send(fetch_item(box, seq, uid, args,
                              body=message(2) + (b"x" * 998 + b"\r\n") * 20))
            continue
        if bad and body and mode == "bigbody" and box.msgs[uid] == 2:
            c.send(fetch_item(box, seq, uid, args,
                              body=message(2) + b"padding line\r\n" * 1430))
            continue
        if bad and body and mode == "tricklelit" and idx == 1:
            item = fetch_item(box, seq, uid, args)
            head = item.index(b"}\r\n") + 3
            c.send(item[:head])
            # Slower than any honest server, never silent for a second.
            if not trickle(c, item[head:]):
                return False
            continue
        lie = (bad and body and box.msgs[uid] == 2 and
               mode in ("bigdrip", "hdrdrip", "bigdripseq", "bigdripone",
                        "bigdripuv")) or \
            (bad and body and box.msgs[uid] == 3 and mode == "fulllie") or \
            (body and box.msgs[uid] == 3 and
             mode in OMIT_DRIP and
             c.n == 2) or \
            (mode == "uidvhdrdrip" and c.n == 2 and not body and
             "HEADER.FIELDS" in args and box.msgs[uid] == 2) or \
            (mode == "gmsizesdrip" and bad and not body and
             "HEADER.FIELDS" in args and box.msgs[uid] == box.n)
        nosz = body and mode == "omitdripnosize" and box.msgs[uid] == 3
        if nosz and not lie:
            c.send(nosize(fetch_item(box, seq, uid, args), box, uid))
            continue
        if lie:
            item = fetch_item(box, seq, uid, args)
            if nosz:
                item = nosize(item, box, uid)
            if mode in ("bigdripseq", "bigdripone"):
                item = item.replace(b"(UID %d " % uid, b"(", 1)
            key = b"BODY[HEADER" if mode in ("hdrdrip", "uidvhdrdrip",
                                             "gmsizesdrip") \
                else b"BODY[]"
            c.send(item[:item.index(b"{", item.index(key))] +
                   b"{%d}\r\n" % LIT)
            # 1.7 KiB/s, above the pacing floor, for at most 120 s.
            trickle(c, b"x" * (1760 * 120), 0.25, 440)
            return False
        if bad and body and mode == "existsflood" and idx == 1:
            stream(c, STREAMS[mode])
            return False
        if bad and body and mode in DRIPS and idx == 1:
            drip(c, DRIPS[mode] or fetch_item(box, 1, want[0], args))
            return False
        if body and mode == "slowlit":
            if not trickle(c, fetch_item(box, seq, uid, args), 0.125, 1024):
                return False
            continue
        if bad and body and mode == "litless" and idx == 1:
            c.send(fetch_item(box, seq, uid, args,
                              size=len(message(box.msgs[uid])) - 40))
            continue
        other = message(2).replace(b"line 3", b"LINE 3") + \
            b"padding line\r\n" * 1430
        if bad and body and mode == "bigdup" and idx == 1:
            c.send(fetch_item(box, seq, uid, args, body=other))
        c.send(fetch_item(box, seq, uid, args))
        if bad and body and mode == "dupbig" and idx == 1:
            c.send(fetch_item(box, seq, uid, args, body=other))
        if bad and body and mode == "dupnil" and idx == 1:
            c.send(fetch_item(box, seq, uid, args, body=NIL))
        if bad and body and mode == "dupuid" and idx == 1:
            c.send(fetch_item(box, seq, uid, args))
            c.send(fetch_item(box, seq, uid, args,
                              body=dupuid_variant(box.msgs[uid])))
        if body and idx == 1 and ((bad and mode == "bye") or
                                  (mode == "uidvbye" and c.n == 2) or
                                  (bad and mode == "unseenbye" and
                                   c.bodies == 2)):
            c.send("* BYE going down for maintenance\r\n")
            return False
        if bad and body and mode == "expunge" and idx == 1 and \
                idx + 1 < len(want):
            # The next message vanishes in the middle of the FETCH.
            gone = want[idx + 1]
            c.send("* %d EXPUNGE\r\n" % (uids.index(gone) + 1))
            del box.msgs[gone]
            uids = box.uids()
    if mode == "plan" and not body and "RFC822.SIZE" in args and \
            c.n in PLAN.get("arrive", []) and not c.arrived:
        c.arrived = True
        box.msgs[max(box.msgs) + 1] = len(box.msgs) + 1
        c.send("* %d EXISTS\r\n" % len(box.msgs))
    if mode == "plan":
        expunge_after(c, box, sset, args)
    c.send("%s OK UID FETCH completed\r\n" % tag)
    return True


def idle(c, box, tag, flood):
    """IDLE; on the first one, the flood and the new message. False when
    the connection must close."""
    c.send("+ idling\r\n")
    if box.hidden:
        search_flood(c, 4 * flood)
        box.msgs.update(box.hidden)
        box.hidden = {}
        c.send("* %d EXISTS\r\n" % len(box.msgs))
    line = c.readline()
    if line is None or line.upper() != "DONE":
        return False
    c.send("%s OK IDLE terminated\r\n" % tag)
    return True


def serve(c, box, mode, bad, caps, flood):
    if mode == "sizesdrip" and c.n == 2:
        box.msgs.update(box.hidden)
        box.hidden = {}
    if mode in ("idledrop", "searchflood", "donedrip", "selectdrop",
                "idlegap"):
        caps += " IDLE"
    if mode in ("xgmbad", "gmsizesdrip"):
        caps += " X-GM-EXT-1"
    modseq = None
    if mode == "modseqback":
        caps += " CONDSTORE ENABLE"
        modseq = MODSEQS[min(c.n, len(MODSEQS)) - 1]
        box.seen_msgs.update(range(1, c.n))	# read with another client
    if (mode == "uidvalidity" and c.n > 1) or \
            (mode in ("uidvbye", "uidvnil", "uidvhdrdrip", "nilreaduv",
                      "bigdripuv", "uidvnilnew", "omituv", "uvsizelie")
             and c.n == 2):
        box.renumber()
    if mode in ("uidvnilnew", "omituv") and c.n == 3:
        box.msgs.update({u + 100: k for u, k in box.hidden.items()})
        box.hidden = {}
    if mode == "plan" and c.n in PLAN.get("renum", []):
        box.renumber()
    if mode == "plan" and PLAN.get("idle"):
        caps += " IDLE"
    if (mode == "omitsizegone" and c.n > 1) or \
            (mode == "omitdripgone" and c.n > 2):
        box.msgs = {u: k for u, k in box.msgs.items() if k != 3}
    if mode in ("nilread", "nilreaduv") and not bad:
        box.seen_msgs.add(3)	# the user read it on the server
    c.send("* OK [CAPABILITY %s] scripted IMAP ready\r\n" % caps)
    while True:
        line = c.readline()
        if line is None:
            return
        parts = line.split(" ", 2)
        tag = parts[0]
        cmd = parts[1].upper() if len(parts) > 1 else ""
        rest = parts[2] if len(parts) > 2 else ""
        if cmd == "UID" and rest:
            sub, _, rest = rest.partition(" ")
            cmd = "UID " + sub.upper()
        if cmd == "CAPABILITY":
            c.send("* CAPABILITY %s\r\n%s OK done\r\n" % (caps, tag))
        elif cmd == "LOGIN" and bad and mode in REFUSALS:
            c.send("%s %s\r\n" % (tag, REFUSALS[mode]))
        elif cmd == "LOGIN":
            c.send("%s OK logged in\r\n" % tag)
        elif cmd == "AUTHENTICATE" and bad and mode == "authdrip":
            # The client's answers (empty lines) are left unread.
            trickle(c, "+ \r\n" * 120, 1.0, 4)
            return
        elif cmd == "AUTHENTICATE":
            if " " not in rest:
                c.send("+ \r\n")
                if c.readline() is None:
                    return
            if bad and mode in REFUSALS:
                c.send("%s %s\r\n" % (tag, REFUSALS[mode]))
                continue
            c.send("%s OK [CAPABILITY %s] logged in\r\n" % (tag, caps))
            if bad and mode == "longline":
                chunk = b"x" * 65536
                c.send(b"* OK ")
                for _ in range(160):
                    c.send(chunk)
                return
        elif cmd == "ENABLE" and modseq is not None:
            c.send("* ENABLED CONDSTORE\r\n%s OK enabled\r\n" % tag)
        elif cmd == "ID":
            c.send("* ID NIL\r\n%s OK done\r\n" % tag)
        elif cmd == "LIST" and bad and mode in ("listflood", "listfake"):
            line = '* LIST (\\HasNoChildren) "/" %s\r\n'
            c.send(line % "INBOX")
            for k in range(0, flood, 10000):
                c.send("".join(line % ("INBOX" if mode == "listflood"
                                       else "f%d" % (k + j))
                               for j in range(10000)))
            c.send("%s OK done\r\n" % tag)
        elif cmd == "LIST" and bad and mode == "listdrip" and \
                rest.strip() == '"" "*"':
            drip(c, lambda k: b'* LIST () "/" F%d\r\n' % k)
            return
        elif cmd == "LIST" and bad and mode == "listrep" and \
                rest.strip() == '"" "*"':
            stream(c, STREAMS[mode])
            return
        elif cmd == "LIST" and mode in ("listslow", "listlong") and \
                rest.strip() == '"" "*"':
            # names, names a burst, pause between bursts
            n, per, pause = (1000, 100, 1.5) if mode == "listslow" else \
                (2400, 8, 0.125)
            c.send('* LIST (\\HasNoChildren) "/" INBOX\r\n')
            for k in range(0, n, per):
                time.sleep(pause)
                c.send("".join('* LIST (\\Noselect) "/" "shared/u%04d"\r\n'
                               % j for j in range(k, k + per)))
            c.send("%s OK done\r\n" % tag)
        elif cmd == "LIST" and bad and mode == "rootno" and \
                rest.strip() == '"" ""':
            c.send("%s NO LIST of the root not allowed\r\n" % tag)
        elif cmd == "LIST" and mode == "plan" and PLAN.get("folders"):
            pat = rest.split(" ", 1)[1].strip().strip('"')
            if pat == "":
                c.send('* LIST (\\Noselect) "/" ""\r\n')
            for nm in ["INBOX"] + PLAN["folders"]:
                if pat in ("*", "%") or nm == pat:
                    c.send('* LIST (\\HasNoChildren) "/" %s\r\n' % nm)
            c.send("%s OK done\r\n" % tag)
        elif cmd == "LIST":
            c.send('* LIST (\\HasNoChildren) "/" INBOX\r\n%s OK done\r\n' % tag)
        elif cmd in ("SELECT", "EXAMINE") and bad and mode == "selectdrop":
            c.send("* BYE going away\r\n")
            return
        elif cmd in ("SELECT", "EXAMINE") and bad and mode == "trickle":
            trickle(c, "* 5 EXISTS\r\n* OK " + "x" * 4000 + "\r\n")
            return
        elif cmd in ("SELECT", "EXAMINE") and bad and mode == "okdrip":
            still = "* OK still working\r\n"
            c.send("* 5 EXISTS\r\n")
            trickle(c, still * 120, 1.0, len(still))
            return
        elif cmd in ("SELECT", "EXAMINE"):
            u = box.uids()
            if bad and mode == "alertflood":
                same = "* OK [ALERT] Your mailbox is almost full\r\n"
                for _ in range(100):
                    c.send(same * 1000)
                c.send("".join("* OK [ALERT] notice %d\r\n" % k
                               for k in range(1, 31)))
            if mode == "searchflood":
                search_flood(c, flood)
            nx = "" if mode == "plan" and PLAN.get("nouidnext") else \
                "* OK [UIDNEXT %d] ok\r\n" % ((u[-1] if u else 0) + 1)
            ex = PLAN.get("exists", len(u)) if mode == "plan" else len(u)
            c.send("* %d EXISTS\r\n* 0 RECENT\r\n"
                   "* FLAGS (\\Seen \\Deleted)\r\n"
                   "* OK [UIDVALIDITY %d] ok\r\n%s"
                   "%s%s OK [READ-WRITE] selected\r\n"
                   % (ex, box.uidvalidity, nx,
                      "* OK [HIGHESTMODSEQ %s] ok\r\n" % modseq
                      if modseq is not None else "", tag))
        elif cmd == "STATUS":
            u = box.uids()
            c.send("* STATUS INBOX (UIDNEXT %d UIDVALIDITY %d MESSAGES %d)"
                   "\r\n%s OK done\r\n" % ((u[-1] if u else 0) + 1,
                                           box.uidvalidity, len(u), tag))
        elif cmd == "UID SEARCH" and mode == "searchbig":
            search_flood(c, 1000001)
            c.send("%s OK done\r\n" % tag)
        elif cmd == "UID SEARCH" and mode == "searchprog":
            # Dovecot's progress notes on a slow SEARCH, then the answer.
            for k in range(1, 7):
                time.sleep(1.0)
                c.send("* OK Searched %d%% of the mailbox, ETA 0:%02d\r\n"
                       % (k * 100 // 7, 6 - k))
            c.send("* SEARCH %s\r\n%s OK Search completed\r\n"
                   % (" ".join(str(x) for x in box.uids()), tag))
        elif cmd == "UID SEARCH" and bad and mode in ("okflood", "searchrep",
                                                      "searchcount"):
            stream(c, STREAMS[mode])
            return
        elif cmd == "UID SEARCH" and mode == "plan" and \
                c.n in PLAN.get("searchcount", []):
            stream(c, STREAMS["searchcount"], PLAN.get("rate", 2048),
                   PLAN.get("limit", 120))
            return
        elif cmd == "UID SEARCH" and bad and mode == "searchdrip":
            drip(c, lambda k: b"* SEARCH %d\r\n" % (100 + k))
            return
        elif cmd == "UID SEARCH" and mode == "searchrun":
            for lo in range(1, 1200001, 5000):
                c.send("* SEARCH" + "".join(" %d" % u for u in
                                            range(lo, lo + 5000)) + "\r\n")
            c.send("%s OK done\r\n" % tag)
        elif cmd == "UID SEARCH" and mode == "searchline":
            search_flood(c, 1000001, one_line=True)
            c.send("%s OK done\r\n" % tag)
        elif cmd == "IDLE" and mode in ("searchflood", "idlegap"):
            if not idle(c, box, tag, flood):
                return
        elif cmd == "UID SEARCH" and mode == "omitsearchno" and c.n == 2:
            c.send("%s NO [SERVERBUG] search temporarily unavailable\r\n"
                   % tag)
        elif cmd == "UID SEARCH":
            if "DELETED" in rest.upper():
                hits = sorted(box.deleted)
            elif "UNSEEN" in rest.upper():
                hits = [u for u in box.uids() if not box.is_seen(u)]
            else:
                hits = box.uids()
            crit = rest.split()
            if "UID" in [w.upper() for w in crit[:-1]]:
                k = [w.upper() for w in crit].index("UID")
                keep = set(parse_set(crit[k + 1], box.uids()))
                hits = [u for u in hits if u in keep and not (
                    mode == "omitdripsearch" and box.msgs[u] == 3)]
            if mode == "plan":
                hits = [u for u in hits
                        if not plan_has("omitsearch", c.n, box.msgs[u])]
            c.send("* SEARCH%s\r\n%s OK done\r\n"
                   % ("".join(" %d" % u for u in hits), tag))
        elif cmd == "UID FETCH" and bad and mode == "xgmbad" and \
                "X-GM-MSGID" in rest.upper():
            c.send("%s BAD unknown FETCH item X-GM-MSGID\r\n" % tag)
        elif cmd == "UID FETCH" and bad and mode == "flagcount" and \
                "(UID FLAGS)" in rest.upper():
            stream(c, STREAMS[mode], 32768)
            return
        elif cmd == "UID FETCH":
            if not do_fetch(c, box, tag, rest, bad, mode, flood):
                return
        elif cmd == "UID STORE":
            sset = rest.split(" ", 1)[0]
            for u in parse_set(sset, box.uids()):
                if "\\Deleted" in rest:
                    box.deleted.add(u)
                if "\\Seen" in rest:
                    box.seen.add(u)
            c.send("%s OK stored\r\n" % tag)
        elif cmd == "UID COPY" and bad and mode in ("copyfail", "rootno"):
            c.send("%s NO [TRYCREATE] no such mailbox\r\n" % tag)
        elif cmd == "UID COPY":
            c.send("%s OK copied\r\n" % tag)
        elif cmd == "UID EXPUNGE" and "UIDPLUS" not in caps:
            c.send("%s BAD unknown command\r\n" % tag)
        elif cmd in ("UID EXPUNGE", "EXPUNGE"):
            uids = box.uids()
            which = box.deleted if cmd == "EXPUNGE" else \
                set(parse_set(rest, uids)) & box.deleted
            for u in sorted(which, reverse=True):
                c.send("* %d EXPUNGE\r\n" % (box.uids().index(u) + 1))
                del box.msgs[u]
                box.deleted.discard(u)
            c.send("%s OK expunged\r\n" % tag)
        elif cmd == "IDLE" and mode == "donedrip" and bad:
            c.send("+ idling\r\n* %d EXISTS\r\n" % len(box.msgs))
            if c.readline() is None:
                return
            still = "* OK still working\r\n"
            trickle(c, still * 120, 1.0, len(still))
            return
        elif cmd == "IDLE" and mode == "idledrop":
            c.send("+ idling\r\n")
            if bad:
                return
            if c.readline() is None:
                return
            c.send("%s OK IDLE terminated\r\n" % tag)
        elif cmd == "CREATE" and mode == "rootno":
            c.send("%s OK created\r\n" % tag)
        elif cmd == "NOOP":
            c.send("%s OK\r\n" % tag)
        elif cmd == "LOGOUT":
            c.send("* BYE bye\r\n%s OK logged out\r\n" % tag)
            return
        else:
            c.send("%s BAD unknown command\r\n" % tag)


def main():
    global LOGF, PAD, LIT, BIG, NIL_BELOW, MODSEQS
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    mode = sys.argv[1]
    args = {"msgs": "5", "bad": "1", "linger": "20", "uidplus": "yes",
            "flood": "2000000"}
    rest = sys.argv[2:]
    while rest:
        args[rest[0].lstrip("-")] = rest[1]
        rest = rest[2:]
    LOGF = args["log"]
    MODSEQS = args.get("modseqs", "100,200,50").split(",")
    LIT = int(args.get("lit", LIT))
    NIL_BELOW = int(args.get("nilbelow", "0"))
    if mode == "slowlit":
        PAD = 600
    if mode == "omitbig":
        BIG = 3
    n = int(args["msgs"])
    seen = {int(k) for k in args.get("seen", "").split(",") if k}
    with open(args["manifest"], "w") as m:
        for i in range(1, n + 1):
            if mode == "expunge" and i == 3:
                continue	# expunged on the server before delivery
            if mode in ("omitsizegone", "omitdripgone") and i == 3:
                continue	# expunged before the client asks again
            if mode == "bigbody" and i == 2:
                continue	# over max_message_size: skipped
            if mode in ("bigdrip", "hdrdrip", "bigdripseq", "bigdripone") \
                    and i == 2 \
                    and int(args["bad"]) >= 2:
                continue	# a lie about its size, twice: passed over
            if mode == "gmsizesdrip" and i == n and int(args["bad"]) >= 2:
                continue	# the same, in the sizes pass
            if mode == "unseenbye" and i % 2 == 0:
                continue	# \Seen: first_fetch = unseen leaves it
            if i in seen and args.get("seenmanifest") != "yes":
                continue
            versions = [message(i)]
            if mode == "dupuid" and i == 2:
                versions.append(dupuid_variant(i))
            for v in versions:
                lf = v.replace(b"\r\n", b"\n")
                m.write("%s\t<scripted-%d@fault.example>\n"
                        % (hashlib.sha256(lf).hexdigest(), i))
    box = Box(n)
    box.seen_msgs = set(seen)
    if mode == "unseenbye":
        box.seen = {u for u in box.msgs if u % 2 == 0}
    if mode in ("hugegap", "flagcount"):
        box.msgs = {1: 1, 2: 2}
        box.msgs.update({3000000000 + k - 3: k for k in range(3, n + 1)})
    if mode in ("searchflood", "sizesdrip", "uidvnilnew", "omituv"):
        box.hidden = {n: box.msgs.pop(n)}
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(4)
    ls.settimeout(float(args["linger"]))
    print(ls.getsockname()[1], flush=True)
    conn = 0
    while True:
        try:
            sock, _ = ls.accept()
        except socket.timeout:
            return
        conn += 1
        sock.settimeout(10)
        try:
            serve(Conn(sock, conn), box, mode, conn <= int(args["bad"]),
                  "IMAP4rev1 AUTH=PLAIN SASL-IR" +
                  (" UIDPLUS" if args["uidplus"] == "yes" else ""),
                  int(args["flood"]))
        except (OSError, ValueError, IndexError) as e:
            print("imap_server: %s: %s" % (mode, e), file=sys.stderr)
        finally:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


if __name__ == "__main__":
    main()
