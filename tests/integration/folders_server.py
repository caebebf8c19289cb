#!/usr/bin/env python3
"""folders_server.py BOX LOG: scripted multi-folder IMAP server (plain,
127.0.0.1), for servers no real one in the tests stands for: no
SPECIAL-USE capability yet special-use attributes in LIST (Gmail's
XLIST-era \\Spam, Yandex's localized names with '|'). First written for
review r8 (fimap.py). BOX (JSON, re-read per command, written after
changes):
{"caps": "IMAP4rev1 UIDPLUS MOVE", "root": {"mode": "ok"|"no"|"none"|"raw",
 "delim": ".", "raw": "..."},
 "create": "ok"|"noop"|"no",        CREATE makes the folder / says OK only / NO
 "list_return": "bad"|"NO TEXT",    LIST ... RETURN (...) answered BAD
                                    (or NO TEXT, a transient refusal)
 "su_only_return": true,            special-use attributes only in the
                                    answer to LIST ... RETURN (SPECIAL-USE)
                                    (RFC 6154 allows it; review r10 02)
 "list_all": "NO TEXT"|"BAD TEXT",  LIST "" "*" answered so
 "list_many": N,                    LIST "" "*" names N more folders first
 "move_no": "TEXT",                 UID MOVE and UID COPY answered NO TEXT
 "list_raw": {"PATTERN": "* LIST ...\r\n"},  LIST "" PATTERN answered so
 "namespace": "(...) NIL ((...))",  the NAMESPACE answer (RFC 2342) as sent
                                    (announce NAMESPACE in caps); absent: BAD
 "ci": true,                         folder names case-insensitive (LIST,
                                    SELECT, STATUS, COPY/MOVE: Exchange-like;
                                    review r11 12)
 "threads": true,                   connections served side by side (one
                                    command at a time), for the daemon;
                                    with IDLE in caps, IDLE pushes EXISTS
                                    when the selected folder grows
 "nouidnext": true,                 SELECT answers without [UIDNEXT] (RFC 3501
                                    allows it; review r18 09)
 "status_no": "TEXT",               STATUS answered NO TEXT (review r24 03)
 folder "status_uidnext": N          STATUS of that folder answers UIDNEXT N
                                    (a wrong answer; SELECT and the UIDs
                                    stay honest; review r26 09)
 "refuse_list_star": [N, ...],      the Nth LIST "" "*" (RETURN or not,
                                    counted over all connections) answered
                                    NO [UNAVAILABLE] (review r11 06)
 "folders": {"WIRE": {"delim": ".", "flags": [], "uidvalidity": 1,
             "uidnext": N, "msgs": [{"uid":1,"body":"...","flags":[],"gmid":5}]}}}
COPY/MOVE to a missing folder: NO [TRYCREATE]. Prints the port."""
import json, os, re, select, socket, sys, threading, time
LOCK = threading.RLock(); NSTAR = [0]
SU = ("\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash")
boxf, logf = sys.argv[1], sys.argv[2]
def load():
    # A test edits the box while sessions run; a write caught half done
    # is read again (it killed an IDLE thread: the connection closed).
    for _ in range(100):
        try:
            with open(boxf) as fp: return json.load(fp)
        except ValueError: time.sleep(0.02)
    with open(boxf) as fp: return json.load(fp)
def save(b):
    with open(boxf + ".tmp", "w") as fp: json.dump(b, fp, indent=1)
    os.replace(boxf + ".tmp", boxf)
def log(l):
    with open(logf, "a") as f: f.write(l + "\n")
def crlf(b): return b.replace("\r\n", "\n").replace("\n", "\r\n").encode()
def q(s): return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
def args(s):
    out = []; i = 0
    while i < len(s):
        if s[i] == ' ': i += 1; continue
        if s[i] == '"':
            j = i + 1; v = ""
            while s[j] != '"':
                if s[j] == '\\': j += 1
                v += s[j]; j += 1
            out.append(v); i = j + 1
        else:
            j = s.find(' ', i); j = len(s) if j < 0 else j
            out.append(s[i:j]); i = j
    return out
def pat_re(p, d):
    r = ""
    for ch in p:
        if ch == '*': r += ".*"
        elif ch == '%': r += "[^" + re.escape(d) + "]*" if d else ".*"
        else: r += re.escape(ch)
    return re.compile("^" + r + "$")
def parse_set(t, uids):
    out = set(); mx = max(uids) if uids else 0
    for p in t.split(","):
        a, _, b = p.partition(":")
        a = mx if a == "*" else int(a); b = a if not b else (mx if b == "*" else int(b))
        out |= {u for u in uids if min(a, b) <= u <= max(a, b)}
    return sorted(out)
def serve(c):
    f = c.makefile("rb"); send = lambda d: c.sendall(d.encode() if isinstance(d, str) else d)
    box = load(); caps = box.get("caps", "IMAP4rev1 UIDPLUS MOVE")
    send("* OK [CAPABILITY %s] ready\r\n" % caps); sel = None
    while True:
        line = f.readline()
        if not line: return
        line = line.decode(errors="replace").rstrip("\r\n"); log(line)
        tag, _, rest = line.partition(" "); cmd, _, rest = rest.partition(" "); cmd = cmd.upper()
        if cmd == "UID":
            sub, _, rest = rest.partition(" "); cmd = "UID " + sub.upper()
        if cmd == "IDLE" and "IDLE" in caps.split() and sel is not None:
            if idle(c, f, send, sel) == "quit": return
            send("%s OK idle done\r\n" % tag); continue
        with LOCK:
            if command(tag, cmd, rest, c, f, send, caps, sel, box) == "quit": return
            sel = SEL[0]
SEL = [None]
def idle(c, f, send, sel):
    with LOCK: n0 = len(load()["folders"][sel]["msgs"])
    send("+ idling\r\n")
    while True:
        r, _, _ = select.select([c], [], [], 0.2)
        if not r:
            with LOCK: n1 = len(load()["folders"][sel]["msgs"])
            if n1 > n0: send("* %d EXISTS\r\n" % n1); n0 = n1
            continue
        d = f.readline()
        if not d: return "quit"
        if d.strip().upper() == b"DONE": return
def command(tag, cmd, rest, c, f, send, caps, sel, box):
    SEL[0] = sel
    for _ in (0,):
        box = load(); F = box["folders"]
        if cmd == "CAPABILITY": send("* CAPABILITY %s\r\n%s OK done\r\n" % (caps, tag))
        elif cmd in ("LOGIN", "ID", "NOOP", "CHECK", "ENABLE"): send("%s OK done\r\n" % tag)
        elif cmd == "LOGOUT": send("* BYE bye\r\n%s OK done\r\n" % tag); return "quit"
        elif cmd == "NAMESPACE" and "namespace" in box:
            send("* NAMESPACE %s\r\n%s OK done\r\n" % (box["namespace"], tag))
        elif cmd == "LIST":
            if "RETURN" in rest.upper() and box.get("list_return"):
                lr = box["list_return"]
                send("%s %s\r\n" % (tag, "BAD no LIST-EXTENDED here" if lr == "bad" else lr)); continue
            ref, pat = args(rest)[:2]
            if pat == "*":
                NSTAR[0] += 1
                if NSTAR[0] in box.get("refuse_list_star", []):
                    log("refused LIST * #%d" % NSTAR[0])
                    send("%s NO [UNAVAILABLE] busy, try later\r\n" % tag); continue
            if pat in box.get("list_raw", {}):
                send(box["list_raw"][pat] + "%s OK done\r\n" % tag); continue
            if pat == "":
                r = box.get("root", {"mode": "ok", "delim": "."})
                if r["mode"] == "no": send("%s NO no root\r\n" % tag); continue
                if r["mode"] == "ok":
                    d = r.get("delim"); send('* LIST (\\Noselect) %s ""\r\n' % (q(d) if d else "NIL"))
                if r["mode"] == "raw": send(r["raw"])
                send("%s OK done\r\n" % tag); continue
            if pat == "*" and box.get("list_all"):
                send("%s %s\r\n" % (tag, box["list_all"])); continue
            if pat == "*":
                send("".join('* LIST (\\HasNoChildren) "/" "many/u%d"\r\n' % i for i in range(box.get("list_many", 0))))
            for name, fo in F.items():
                if pat_re(pat, fo.get("delim") or "").match(name) or (box.get("ci") and pat_re(pat.lower(), fo.get("delim") or "").match(name.lower())):
                    d = fo.get("delim"); fl = fo.get("flags", [])
                    if box.get("su_only_return") and "RETURN" not in rest.upper():
                        fl = [x for x in fl if x not in SU]
                    send('* LIST (%s) %s %s\r\n' % (" ".join(fl), q(d) if d else "NIL", q(name)))
            send("%s OK done\r\n" % tag)
        elif cmd == "CREATE":
            n = args(rest)[0]; mode = box.get("create", "ok")
            if mode == "no": send("%s NO cannot\r\n" % tag); continue
            if mode == "ok" and n not in F:
                F[n] = {"delim": box.get("root", {}).get("delim", "."), "uidvalidity": 9, "uidnext": 1, "msgs": []}; save(box)
            send("%s OK created\r\n" % tag)
        elif cmd in ("SELECT", "EXAMINE", "STATUS"):
            n = args(rest)[0]
            if box.get("ci"): n = next((k for k in F if k.lower() == n.lower()), n)
            if n not in F: send("%s NO no such mailbox\r\n" % tag); continue
            fo = F[n]
            if cmd == "STATUS" and box.get("status_no"):
                send("%s NO %s\r\n" % (tag, box["status_no"])); continue
            if cmd == "STATUS":
                send('* STATUS %s (MESSAGES %d UIDNEXT %d UIDVALIDITY %d UNSEEN %d)\r\n%s OK done\r\n' % (q(n), len(fo["msgs"]), fo.get("status_uidnext", fo["uidnext"]), fo["uidvalidity"], len(fo["msgs"]), tag)); continue
            sel = SEL[0] = n
            nx = "" if box.get("nouidnext") else "* OK [UIDNEXT %d] x\r\n" % fo["uidnext"]
            send("* %d EXISTS\r\n* OK [UIDVALIDITY %d] x\r\n%s%s OK [READ-WRITE] done\r\n" % (len(fo["msgs"]), fo["uidvalidity"], nx, tag))
        elif cmd == "UID SEARCH":
            fo = F[sel]; r = []
            for m in fo["msgs"]:
                fl = m.get("flags", [])
                if "UNSEEN" in rest.upper() and "\\Seen" not in fl: r.append(m["uid"])
                if "DELETED" in rest.upper() and "\\Deleted" in fl: r.append(m["uid"])
            send("* SEARCH %s\r\n%s OK done\r\n" % (" ".join(map(str, r)), tag))
        elif cmd == "UID FETCH" and any(x in rest.upper() for x in box.get("bad_items", [])):
            send("%s BAD unknown fetch item\r\n" % tag)
        elif cmd == "UID FETCH":
            fo = F[sel]; msgs = fo["msgs"]; uids = [m["uid"] for m in msgs]
            st, _, items = rest.partition(" "); want = parse_set(st, uids)
            if not want and uids and "*" in st: want = [max(uids)]
            for u in want:
                i = uids.index(u); m = msgs[i]; b = crlf(m["body"])
                out = b"* %d FETCH (UID %d RFC822.SIZE %d" % (i + 1, u, len(b))
                if "X-GM-MSGID" in items.upper() and "gmid" in m: out += b" X-GM-MSGID %s" % str(m["gmid"]).encode()
                if "FLAGS" in items.upper(): out += b" FLAGS (%s)" % " ".join(m.get("flags", [])).encode()
                if "MESSAGE-ID" in items.upper():
                    mm = re.search(r"(?im)^message-id:[^\r\n]*", m["body"]); h = (mm.group(0) + "\r\n\r\n").encode() if mm else b"\r\n"
                    out += b" BODY[HEADER.FIELDS (MESSAGE-ID)] {%d}\r\n" % len(h) + h
                if "BODY.PEEK[]" in items.upper(): out += b" BODY[] {%d}\r\n" % len(b) + b
                send(out + b")\r\n")
            send("%s OK done\r\n" % tag)
        elif cmd == "UID STORE":
            fo = F[sel]; uids = [m["uid"] for m in fo["msgs"]]; st, _, fl = rest.partition(" ")
            for u in parse_set(st, uids):
                m = fo["msgs"][uids.index(u)]
                for x in ("\\Seen", "\\Deleted"):
                    if x in fl and x not in m.setdefault("flags", []): m["flags"].append(x)
            save(box); send("%s OK done\r\n" % tag)
        elif cmd in ("UID COPY", "UID MOVE"):
            fo = F[sel]; uids = [m["uid"] for m in fo["msgs"]]; st, _, dest = rest.partition(" "); dest = args(dest)[0]
            if box.get("ci"): dest = next((k for k in F if k.lower() == dest.lower()), dest)
            if dest not in F: send("%s NO [TRYCREATE] no such mailbox\r\n" % tag); continue
            if box.get("move_no"): send("%s NO %s\r\n" % (tag, box["move_no"])); continue
            d = F[dest]
            for u in parse_set(st, uids):
                m = dict(fo["msgs"][uids.index(u)]); m["uid"] = d["uidnext"]; d["uidnext"] += 1; d["msgs"].append(m)
            if cmd == "UID MOVE": fo["msgs"] = [m for m in fo["msgs"] if m["uid"] not in parse_set(st, uids)]
            save(box); send("%s OK done\r\n" % tag)
        elif cmd in ("UID EXPUNGE", "EXPUNGE"):
            fo = F[sel]; uids = [m["uid"] for m in fo["msgs"]]
            ss = parse_set(rest.strip(), uids) if cmd == "UID EXPUNGE" else uids
            fo["msgs"] = [m for m in fo["msgs"] if not (m["uid"] in ss and "\\Deleted" in m.get("flags", []))]
            save(box); send("%s OK done\r\n" % tag)
        else: send("%s BAD unknown\r\n" % tag)
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 0)); s.listen(5); print(s.getsockname()[1], flush=True); s.settimeout(60)
def serve_close(c):
    try: serve(c)
    except Exception as e: log("EXC %r" % e)
    c.close()
threads = []
while True:
    try: c, _ = s.accept()
    except socket.timeout: break
    if load().get("threads"):
        threads.append(threading.Thread(target=serve_close, args=(c,), daemon=True)); threads[-1].start()
    else: serve_close(c)
for t in threads: t.join()
