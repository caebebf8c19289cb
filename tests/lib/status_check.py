#!/usr/bin/env python3
"""status_check.py: checks a `mailfetchd --status --json` document.

usage: status_check.py SCHEMA FILE [EXPR]

Parses FILE (one JSON document, one line) with json.loads, validates it
against SCHEMA (doc/status.schema.json, JSON Schema draft 2020-12, with
python3-jsonschema), and prints EXPR evaluated with `d` the document and
`a(NAME)` the account NAME (None if absent), `f(NAME, FOLDER)` one of its
folders, `env(NAME)` an environment variable. Exits 1 (with the reason on stdout) if the file is not exactly
one line of valid UTF-8 JSON or does not validate; 2 if EXPR raises.
"""
import json, os, sys

import jsonschema

schema_path, path = sys.argv[1], sys.argv[2]
expr = sys.argv[3] if len(sys.argv) > 3 else "'valid'"
raw = open(path, "rb").read()
try:
    text = raw.decode("utf-8")
except UnicodeDecodeError as e:
    print("not UTF-8:", e)
    sys.exit(1)
if text.count("\n") != 1 or not text.endswith("\n"):
    print("not one line: %d newlines" % text.count("\n"))
    sys.exit(1)
try:
    d = json.loads(text)
except ValueError as e:
    print("not JSON:", e, text[:300])
    sys.exit(1)
schema = json.load(open(schema_path))
v = jsonschema.Draft202012Validator(schema)
errors = sorted(v.iter_errors(d), key=lambda e: list(e.path))
if errors:
    for e in errors[:5]:
        print("invalid at /%s: %s" % ("/".join(map(str, e.path)), e.message))
    sys.exit(1)


def a(name):
    for x in d["accounts"]:
        if x["name"] == name:
            return x
    return None


def f(name, folder):
    for x in a(name)["folders"]:
        if x["name"] == folder:
            return x
    return None


env = os.environ.get

try:
    print(eval(expr))
except Exception as e:
    print("error: %r" % e)
    sys.exit(2)
