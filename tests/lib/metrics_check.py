#!/usr/bin/env python3
"""metrics_check.py: checks mailfetchd's metrics file (metrics_file).

usage: metrics_check.py get FILE EXPR
       metrics_check.py watch FILE SECONDS

get: parses FILE with prometheus_client's text-format parser
(python3-prometheus-client), checks that every family has HELP and TYPE
lines, and prints EXPR evaluated with v(NAME, LABEL=VALUE...) the value
of that sample (None if absent; class_= for the label class), `names`
the set of sample names and env(NAME) an environment variable. Exits 1 with the reason if the file does not parse or a family lacks
its HELP or TYPE.

watch: reads FILE as often as it can for SECONDS; every read must be a
whole file (it parses, and it ends with the generated-timestamp line the
daemon writes last). Prints "reads N distinct M torn K missing J".
"""
import os, sys, time

from prometheus_client.parser import text_string_to_metric_families

LAST = "mailfetchd_metrics_generated_timestamp_seconds "


def parse(text):
    samples = {}
    for fam in text_string_to_metric_families(text):
        if fam.type == "unknown" or not fam.documentation:
            raise ValueError("family %s without TYPE or HELP" % fam.name)
        for s in fam.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def whole(text):
    lines = text.split("\n")
    return text.endswith("\n") and lines[-2].startswith(LAST)


if sys.argv[1] == "get":
    text = open(sys.argv[2]).read()
    try:
        samples = parse(text)
    except Exception as e:
        print("does not parse: %s" % e)
        sys.exit(1)
    names = {k[0] for k in samples}
    env = os.environ.get

    def v(name, **labels):
        # class_= for the label "class" (a Python keyword).
        labels = {k.rstrip("_"): x for k, x in labels.items()}
        return samples.get((name, frozenset(labels.items())))

    print(eval(sys.argv[3]))
else:
    end = time.time() + float(sys.argv[3])
    reads = torn = missing = 0
    seen = set()
    while time.time() < end:
        try:
            text = open(sys.argv[2]).read()
        except FileNotFoundError:
            missing += 1
            continue
        reads += 1
        seen.add(text)
        try:
            parse(text)
            ok = whole(text)
        except Exception:
            ok = False
        if not ok:
            torn += 1
            sys.stderr.write("torn read:\n" + text[-300:] + "\n")
    print("reads %d distinct %d torn %d missing %d" %
          (reads, len(seen), torn, missing))
