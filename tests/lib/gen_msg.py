#!/usr/bin/env python3
"""gen_msg.py: write a test message with LF line ends (Dovecot's on-disk
form, and what mailfetchd must deliver byte for byte).

usage: gen_msg.py KIND OUT [ARG]

KIND:
  plain TAG       a short message whose subject and body name TAG
  big BYTES       base64-like text in 76-column lines, about BYTES long
  8bit            raw UTF-8 in headers and body, no MIME encoding
  nul             NUL bytes inside body lines
  latin1          ISO-8859-1 bytes that are not valid UTF-8
  longline BYTES  one body line of BYTES characters without a break
  series N        N messages into the directory OUT (named 0001.eml ...),
                  the odd-numbered ones about 4 KB, the even ones small
The output is deterministic for a given KIND and ARG.
"""
import random
import sys


def head(subject, extra=b""):
    """Headers of a message; subject is bytes."""
    return (b"From: Sender <sender@example.org>\n"
            b"To: Receiver <rcpt@example.net>\n"
            b"Subject: " + subject + b"\n"
            b"Date: Mon, 3 Feb 2025 10:00:00 +0000\n"
            b"Message-ID: <" + subject.replace(b" ", b".")[:60].hex().encode()
            + b"@gen.example>\n" + extra + b"\n")


def main():
    kind, out = sys.argv[1], sys.argv[2]
    arg = sys.argv[3] if len(sys.argv) > 3 else ""
    rnd = random.Random(kind + arg)
    if kind == "plain":
        t = arg.encode()
        data = head(b"message " + t) + b"This is message " + t + b".\n"
    elif kind == "big":
        n = int(arg)
        alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        body = bytearray()
        line = bytes(rnd.choice(alphabet) for _ in range(76 * 64))
        while len(body) < n:
            # Vary the lines so no two 4 KB blocks are alike.
            k = rnd.randrange(0, 76 * 63)
            body += line[k:k + 76] + b"\n"
        data = head(b"big message " + arg.encode()) + bytes(body)
    elif kind == "8bit":
        data = head("Grüße aus Köln – ½ €".encode(),
                    b"Content-Type: text/plain; charset=utf-8\n"
                    b"Content-Transfer-Encoding: 8bit\n") + \
            "Ünïcödé body: 日本語, Ελληνικά, emoji \U0001F600.\n".encode() * 20
    elif kind == "nul":
        data = head(b"NUL bytes") + b"before\x00after\n\x00\x00\nend\x00\n"
    elif kind == "latin1":
        data = head(b"Latin-1 \xe9t\xe9",
                    b"Content-Type: text/plain; charset=iso-8859-1\n") + \
            b"Caf\xe9, na\xefve, \xff\xfe\x80\x81 invalid UTF-8\n" * 10
    elif kind == "longline":
        n = int(arg)
        letters = b"abcdefghijklmnopqrstuvwxyz"
        line = bytes(letters[i % 26] for i in range(n))
        data = head(b"line of " + arg.encode() + b" bytes") + \
            b"start\n" + line + b"\nend\n"
    elif kind == "series":
        for i in range(1, int(arg) + 1):
            t = b"%04d" % i
            data = head(b"series " + t) + b"Message " + t + b".\n"
            if i % 2 == 1:
                data += (b"padding " + t + b" " + b"x" * 60 + b"\n") * 56
            with open("%s/%04d.eml" % (out, i), "wb") as f:
                f.write(data)
        return
    else:
        sys.exit("gen_msg.py: unknown kind " + kind)
    with open(out, "wb") as f:
        f.write(data)


if __name__ == "__main__":
    main()
