// hoodiecrow.js: starts hoodiecrow-imap 2.1 (npm; a scriptable in-memory
// IMAP server with Gmail's X-GM-EXT-1) for the interop tests, and talks to
// it while it runs. Driven by tests/lib/hoodiecrow.sh; needs NODE_PATH to
// hold the node_modules directory that has hoodiecrow-imap.
//
//   node hoodiecrow.js serve SPEC.json DIR
//       Listens on 127.0.0.1, two dynamic ports: IMAP over implicit TLS
//       and IMAP with STARTTLS (both with DIR/tls/chain.pem and
//       DIR/tls/server.key, the test CA's). Writes "IMAPS IMAP" (the two
//       port numbers) to DIR/ports once both listen, and serves a control
//       socket DIR/ctl. Runs until killed.
//   node hoodiecrow.js ctl DIR JSON
//       Sends one request to the control socket, prints the JSON answer;
//       exit 1 when the answer says "error".
//
// SPEC (written by the test):
//   { "separator": "|",                    hierarchy separator ('/' Gmail,
//                                          '|' Yandex, '.' Cyrus)
//     "gmail": true,                       X-GM-EXT-1 (X-GM-MSGID)
//     "users": { "alice": "pw" },
//     "folders": {                         UTF-8 names with the separator;
//       "INBOX": { "uidvalidity": 7,       encoded to modified UTF-7 here
//                  "messages": [ { "file": "/x.eml", "flags": ["\\Seen"],
//                                  "gmid": "1001" } ] },   X-GM-MSGID
//       "Lists|dev": { },
//       "Корзина": { "special-use": "\\Trash" } } }
// A level of a name that is not itself in "folders" is made \Noselect
// ("[Gmail]" for "[Gmail]/All Mail"). Message files are read as bytes, LF
// line ends made CRLF as on a real server.
//
// Control requests (one JSON line each, one JSON line answered):
//   {"op":"append","folder":F,"file":P,"flags":[...],"gmid":G}
//       a new message; the folder's IDLE clients see EXISTS at once
//   {"op":"uidvalidity","folder":F,"value":N}
//       a new UIDVALIDITY, the messages numbered again from UID 1 (what a
//       server migration does)
//   {"op":"list","folder":F}
//       {"messages":[{"uid":U,"flags":[...]}...]}
// Everything lives in memory: a restart starts from SPEC again.
"use strict";

var fs = require("fs");
var net = require("net");
var tls = require("tls");
var path = require("path");

var PLUGINS = ["STARTTLS", "ENABLE", "ID", "IDLE", "NAMESPACE", "UNSELECT",
    "SASL-IR", "AUTH-PLAIN", "LITERALPLUS", "SPECIAL-USE", "UIDPLUS", "MOVE"];

// UTF-8 to modified UTF-7 (RFC 3501 5.1.3), one name.
function mutf7(s) {
    var out = "", i, run = [], cp, b64;

    function flush() {
        if (run.length === 0)
            return;
        var buf = Buffer.alloc(run.length * 2);
        run.forEach(function(u, k) { buf.writeUInt16BE(u, k * 2); });
        b64 = buf.toString("base64").replace(/=+$/, "").replace(/\//g, ",");
        out += "&" + b64 + "-";
        run = [];
    }
    for (i = 0; i < s.length; i++) {
        cp = s.charCodeAt(i);
        if (cp >= 0x20 && cp <= 0x7e) {
            flush();
            out += cp === 0x26 ? "&-" : s[i];
        } else
            run.push(cp);	/* UTF-16 units, surrogates as they are */
    }
    flush();
    return out;
}

function readRaw(file) {
    var raw = fs.readFileSync(file).toString("binary");

    return raw.replace(/\r?\n/g, "\r\n");
}

function message(spec) {
    var m = { raw: readRaw(spec.file), flags: [].concat(spec.flags || []) };

    if (spec.gmid)
        m["X-GM-MSGID"] = String(spec.gmid);
    return m;
}

// The storage object hoodiecrow takes: INBOX, and one personal namespace
// "" with the separator, folders nested by level.
function storage(spec) {
    var sep = spec.separator || "/", root = {}, inbox = { messages: [] };

    Object.keys(spec.folders || {}).forEach(function(name) {
        var f = spec.folders[name], box = {
            messages: (f.messages || []).map(message),
            uidvalidity: f.uidvalidity || 1
        }, levels, parent = root, k, node;

        if (f["special-use"])
            box["special-use"] = f["special-use"];
        if (name.toUpperCase() === "INBOX") {
            inbox = box;
            return;
        }
        levels = name.split(sep).map(mutf7);
        for (k = 0; k < levels.length - 1; k++) {
            node = parent[levels[k]] = parent[levels[k]] ||
                { flags: ["\\Noselect"], messages: [] };
            node.folders = node.folders || {};
            parent = node.folders;
        }
        node = parent[levels[levels.length - 1]];
        if (node !== undefined) {	/* made as a level before */
            box.folders = node.folders;
        }
        parent[levels[levels.length - 1]] = box;
    });
    return { "INBOX": inbox, "": { separator: sep, folders: root } };
}

function mailbox(server, name) {
    var sep = server.storage[""].separator;
    var wire = name.toUpperCase() === "INBOX" ? "INBOX" :
        name.split(sep).map(mutf7).join(sep);
    var box = server.getMailbox(wire);

    if (!box)
        throw new Error("no folder " + JSON.stringify(name));
    return box;
}

function control(server, req) {
    var box = mailbox(server, req.folder), n = 0;

    switch (req.op) {
    case "append":
        var m = message(req);
        box.messages.push(m);
        server.processMessage(m, box);
        server.notify({ tag: "*", attributes: [box.messages.length,
            { type: "ATOM", value: "EXISTS" }] }, box);
        return { uid: m.uid };
    case "uidvalidity":
        box.uidvalidity = req.value;
        box.messages.forEach(function(msg) { msg.uid = ++n; });
        box.uidnext = n + 1;
        return { uidvalidity: box.uidvalidity };
    case "list":
        return { messages: box.messages.map(function(msg) {
            return { uid: msg.uid, flags: msg.flags };
        }) };
    }
    throw new Error("unknown op " + req.op);
}

function serve(specFile, dir) {
    var hoodiecrow = require("hoodiecrow-imap");
    var spec = JSON.parse(fs.readFileSync(specFile, "utf8"));
    var creds = {
        key: fs.readFileSync(path.join(dir, "tls", "server.key")),
        cert: fs.readFileSync(path.join(dir, "tls", "chain.pem"))
    };
    var users = {}, server, imaps, ctl, listening = 0;

    Object.keys(spec.users || {}).forEach(function(u) {
        users[u] = { password: spec.users[u] };
    });
    // One server (one storage, one set of IDLE clients) behind two
    // listeners: hoodiecrow's own plain one for STARTTLS, and TLS.
    server = hoodiecrow({ plugins: spec.gmail ?
        PLUGINS.concat(["X-GM-EXT-1"]) : PLUGINS, storage: storage(spec),
        users: users, credentials: creds, secureConnection: false });
    // Its X-GM-EXT-1 plugin serves X-GM-MSGID and X-GM-LABELS but does
    // not announce them as Gmail does.
    if (spec.gmail)
        server.registerCapability("X-GM-EXT-1");
    server.connectionHandlers.push(function(conn) {
        if (conn.socket && conn.socket.encrypted)
            conn.secureConnection = true;	/* no STARTTLS offered */
    });
    imaps = tls.createServer(creds, server.createClient.bind(server));

    function ready() {
        if (++listening < 2)
            return;
        fs.writeFileSync(path.join(dir, "ports.tmp"),
            imaps.address().port + " " + server.server.address().port + "\n");
        fs.renameSync(path.join(dir, "ports.tmp"), path.join(dir, "ports"));
    }
    server.server.listen(0, "127.0.0.1", ready);
    imaps.listen(0, "127.0.0.1", ready);

    ctl = net.createServer(function(sock) {
        var buf = "";

        sock.on("data", function(d) {
            var nl, ans;

            buf += d.toString("utf8");
            if ((nl = buf.indexOf("\n")) < 0)
                return;
            try {
                ans = control(server, JSON.parse(buf.slice(0, nl)));
            } catch (e) {
                ans = { error: String(e.message || e) };
            }
            sock.end(JSON.stringify(ans) + "\n");
        });
    });
    ctl.listen(path.join(dir, "ctl"));
    // A test killed before its cleanup ran must not leave us behind:
    // gone with the shell that started us.
    var parent = process.ppid;
    setInterval(function() {
        if (process.ppid !== parent)
            process.exit(0);
    }, 500);
}

function ctlRequest(dir, json) {
    var sock = net.connect(path.join(dir, "ctl")), ans = "";

    sock.setTimeout(10000, function() {
        console.error("hoodiecrow.js: no answer from the control socket");
        process.exit(2);
    });
    sock.on("connect", function() { sock.write(json + "\n"); });
    sock.on("data", function(d) { ans += d.toString("utf8"); });
    sock.on("end", function() {
        process.stdout.write(ans);
        process.exit(JSON.parse(ans).error ? 1 : 0);
    });
    sock.on("error", function(e) {
        console.error("hoodiecrow.js: " + e.message);
        process.exit(2);
    });
}

if (process.argv[2] === "serve")
    serve(process.argv[3], process.argv[4]);
else if (process.argv[2] === "ctl")
    ctlRequest(process.argv[3], process.argv[4]);
else {
    console.error("usage: hoodiecrow.js serve SPEC DIR | ctl DIR JSON");
    process.exit(2);
}
