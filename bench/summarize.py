#!/usr/bin/env python3
"""summarize.py BENCH_DIR N TOTAL_S MFD_VERSION MBSYNC_VERSION

Turn bench/run.sh's results.tsv and floor.tsv into the Markdown tables:
medians over the runs, the worst delivery verdict of any run, and the
targets (mailfetchd wall <= 0.67 x mbsync's, peak RSS < 8 MiB and the same
with a 1 MiB or a 50 MiB largest message; over POP3S, mailfetchd-pop3 at
least 1.5 x faster than the fastest other POP3 peer, and the same RSS
targets).
"""
import os
import platform
import statistics
import subprocess
import sys
import time

def proto(peer):
    """The protocol a peer of run.sh speaks."""
    return "POP3S" if peer == "mpop" or peer.endswith("-pop3") else "IMAPS"


def label(peer):
    """The peer as the tables name it."""
    base = peer[:-len("-pop3")] if peer.endswith("-pop3") else peer
    return "%s (%s)" % (base, proto(peer))


def load(path):
    """Rows of results.tsv as dicts."""
    rows = []
    with open(path) as f:
        for line in f:
            c = line.rstrip("\n").split("\t")
            v = c[9].split()
            rows.append({
                "label": c[0], "peer": c[1], "run": int(c[2]),
                "wall": float(c[3]), "cpu": float(c[4]) + float(c[5]),
                "user": float(c[4]), "sys": float(c[5]),
                "rss": int(c[6]) / 1024.0, "rc": c[7], "server": c[8],
                "v": dict(zip(v[0::2], v[1::2])),
            })
    return rows


def groups(rows, label):
    """peer -> its rows for corpus label, in PEERS order."""
    out = {}
    for r in rows:
        if r["label"] == label:
            out.setdefault(r["peer"], []).append(r)
    return out


def delivered(rs, n):
    """'intact/dups/missing' over the worst run, with any extras noted."""
    worst = max(rs, key=lambda r: (int(r["v"]["missing"]) +
                                   int(r["v"]["dups"]) + int(r["v"]["bad"])))
    v = worst["v"]
    ok = int(v["intact"]) + int(v["added"])
    s = "%d/%d / %s / %s" % (ok, n, v["dups"], v["missing"])
    notes = []
    if int(v["added"]):
        notes.append("%s with header lines added" % v["added"])
    if int(v["bad"]):
        notes.append("%s corrupted" % v["bad"])
    if notes:
        s += " (" + ", ".join(notes) + ")"
    return s, v["lineends"]


def machine():
    """A one-line description of this machine."""
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return "%s, %d cores, %.0f GiB, %s %s" % (
        cpu, os.cpu_count(), mem, platform.system(), platform.release())


def read_tsv(path):
    """The rows of a tab-separated file, or [] when it is missing."""
    try:
        with open(path) as f:
            return [line.rstrip("\n").split("\t") for line in f if line.strip()]
    except FileNotFoundError:
        return []


def compress_table(bdir, med):
    """mailfetchd with and without COMPRESS=DEFLATE: wall time, the TCP
    bytes of one untimed fetch each through bench/wirecount.py, and
    mailfetchd's own counters of the compressed runs."""
    wire = {r[0]: (int(r[1]), int(r[2])) for r in
            read_tsv(os.path.join(bdir, "wire.tsv")) if len(r) == 3 and r[1]}
    ctr = [[int(x) for x in r[2:6]] for r in
           read_tsv(os.path.join(bdir, "compress.tsv")) if r[0] == "main"]
    if "mailfetchd-compress" not in med or "mailfetchd" not in med:
        return
    print("COMPRESS=DEFLATE (RFC 4978; Dovecot's imap_zlib, mailfetchd "
          "compress = always): TCP payload bytes of one fetch of the whole "
          "corpus, counted by a relay (untimed, TLS records included), and "
          "wall time of the timed runs:")
    print()
    print("| peer | wall s (median) | bytes server -> client | "
          "bytes client -> server |")
    print("|---|---|---|---|")
    for p in ("mailfetchd", "mailfetchd-compress"):
        d, u = wire.get(p, (0, 0))
        print("| %s | %.2f | %s | %s |" % (label(p), med[p][0],
              "{:,}".format(d) if d else "-", "{:,}".format(u) if u else "-"))
    print()
    if ctr:
        iw = statistics.median(c[0] for c in ctr)
        idata = statistics.median(c[1] for c in ctr)
        print("- mailfetchd's counters (median of the runs): received %s "
              "compressed bytes, inflated to %s (%.2f); sent %s, deflated "
              "from %s" % ("{:,.0f}".format(iw), "{:,.0f}".format(idata),
                           iw / idata if idata else 0,
                           "{:,.0f}".format(statistics.median(c[2] for c in ctr)),
                           "{:,.0f}".format(statistics.median(c[3] for c in ctr))))
    if wire.get("mailfetchd") and wire.get("mailfetchd-compress"):
        print("- bytes on the wire with / without compression: %.2f; wall "
              "time with / without: %.2f" % (
                  wire["mailfetchd-compress"][0] / wire["mailfetchd"][0],
                  med["mailfetchd-compress"][0] / med["mailfetchd"][0]))
    print()


def main():
    """Print the tables."""
    bdir, n, total, mver, sver = sys.argv[1:6]
    n = int(n)
    rows = load(os.path.join(bdir, "results.tsv"))
    floor = {"main": [], "main-pop3": []}
    with open(os.path.join(bdir, "floor.tsv")) as f:
        for line in f:
            c = line.split("\t")
            if c[0] in floor and c[2]:
                floor[c[0]].append(float(c[2]))
    main_g = groups(rows, "main")
    runs = max((len(v) for v in main_g.values()), default=0)
    print("## Fetch benchmark, %s" % time.strftime("%Y-%m-%d"))
    print()
    print("N = %d messages over IMAPS or POP3S (as the peer column says) "
          "from a local Dovecot into an empty Maildir, median of %d runs; "
          "%s; %s, %s; whole run %s s." % (n, runs, machine(), mver or
                                            "mailfetchd ?", sver, total))
    print()
    print("| peer | wall s (median) | msg/s | user+sys s | peak RSS MiB | "
          "delivered intact / duplicates / missing | line ends written | "
          "exit |")
    print("|---|---|---|---|---|---|---|---|")
    if floor["main"]:
        f = statistics.median(floor["main"])
        print("| server floor (IMAPS: raw `UID FETCH 1:* BODY.PEEK[]`, "
              "discarded) | %.2f | %.0f | - | - | - | - | - |" % (f, n / f))
    if floor["main-pop3"]:
        f = statistics.median(floor["main-pop3"])
        print("| server floor (POP3S: raw `RETR` of every message, "
              "pipelined, discarded) | %.2f | %.0f | - | - | - | - | - |" %
              (f, n / f))
    med = {}
    for peer, rs in main_g.items():
        wall = statistics.median(r["wall"] for r in rs)
        cpu = statistics.median(r["cpu"] for r in rs)
        rss = statistics.median(r["rss"] for r in rs)
        med[peer] = (wall, rss)
        d, ends = delivered(rs, n)
        rcs = ",".join(sorted(set(r["rc"] for r in rs)))
        print("| %s | %.2f | %.0f | %.2f | %.1f | %s | %s | %s |" % (
            label(peer), wall, n / wall, cpu, rss, d, ends, rcs))
    print()
    compress_table(bdir, med)
    rss_g = {lab: groups(rows, lab) for lab in ("rss1", "rss50")}
    if rss_g["rss1"]:
        print("Peak RSS against the size of the largest message (small "
              "corpus, median of the runs):")
        print()
        print("| peer | largest 1 MiB: RSS MiB | largest 50 MiB: RSS MiB | "
              "wall s (1 / 50) | delivered (1 / 50) |")
        print("|---|---|---|---|---|")
        for peer in rss_g["rss1"]:
            a, b = rss_g["rss1"][peer], rss_g["rss50"].get(peer, [])
            if not b:
                continue
            na = len(open(os.path.join(bdir, "rss1", "manifest.tsv"))
                     .readlines()) - 1
            print("| %s | %.1f | %.1f | %.2f / %.2f | %s; %s |" % (
                label(peer), statistics.median(r["rss"] for r in a),
                statistics.median(r["rss"] for r in b),
                statistics.median(r["wall"] for r in a),
                statistics.median(r["wall"] for r in b),
                delivered(a, na)[0], delivered(b, na)[0]))
        print()
    print("Targets:")
    print()
    if "mailfetchd" in med and "mbsync" in med:
        ratio = med["mailfetchd"][0] / med["mbsync"][0]
        print("- wall time mailfetchd / mbsync = %.2f (target <= 0.67): %s" %
              (ratio, "met" if ratio <= 0.67 else "MISSED"))
    pop3 = {p: v for p, v in med.items()
            if proto(p) == "POP3S" and p != "mailfetchd-pop3"}
    if "mailfetchd-pop3" in med and pop3:
        best = min(pop3, key=lambda p: pop3[p][0])
        speed = pop3[best][0] / med["mailfetchd-pop3"][0]
        print("- POP3S: mailfetchd is %.2fx as fast as the fastest other "
              "POP3 peer, %s (target >= 1.5): %s" %
              (speed, best, "met" if speed >= 1.5 else "MISSED"))
    for m in ("mailfetchd", "mailfetchd-pop3"):
        if m in med:
            r = med[m][1]
            kib = sorted(int(x["rss"] * 1024) for x in main_g[m])
            print("- %s peak RSS %.2f MiB, median (runs: %s KiB; GNU time "
                  "%%M) (target < 8, read as MiB): %s" %
                  (label(m), r, ", ".join("{:,}".format(k) for k in kib),
                   "met" if r < 8 else "MISSED"))
        if rss_g["rss1"].get(m) and rss_g["rss50"].get(m):
            a = statistics.median(r["rss"] for r in rss_g["rss1"][m])
            b = statistics.median(r["rss"] for r in rss_g["rss50"][m])
            print("- %s peak RSS with a 50 MiB message %.1f MiB vs %.1f MiB "
                  "with 1 MiB (target: the same, within 1 MiB, and < 8): %s"
                  % (label(m), b, a, "met" if abs(b - a) <= 1.0 and b < 8
                     else "MISSED"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
