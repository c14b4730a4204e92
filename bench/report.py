#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""make bench, on the host: turn the guest runs (bench.jsonl of each boot,
see guest-bench.py) into a table on stdout, results/bench/report.md,
results/bench/results.json and results/bench/chart.png (gnuplot), ending
with one line per headline ratio, exactly `ratio NAME VALUE`.

    report.py --outdir DIR [--meta KEY=VALUE ...] BOOT.jsonl...

Every figure is the median of the repetitions of a case.  All ratios
compare cases of the same boot, except ours_vs_base612_null_4k (our
kernel and the base kernel are two boots).  Exit status 1 when a ratio
could not be computed or a run failed.
"""

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.dont_write_bytecode = True     # no __pycache__ in the repo
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cases as C  # noqa: E402

LABELS = ["ours", "base"]
SERIES = [("ours", "ublk_copy"), ("ours", "ublk_user"), ("ours", "ublk_zc"),
          ("ours", "ublk_auto_zc"), ("base", "ublk_copy"), ("base", "ublk_user")]


class Data:
    def __init__(self, paths):
        self.runs = {}          # (label, group, workload, target) -> [rec]
        self.skips = {}         # same key -> reason
        self.fails = []
        self.info = {}          # label -> info record
        self.devices = {}       # label -> [device records]
        for p in paths:
            if not os.path.exists(p):
                continue
            with open(p) as f:
                for line in f:
                    line = line.strip()
                    if not line.startswith("{"):
                        continue
                    try:
                        r = json.loads(line)
                    except ValueError:
                        continue
                    self.add(r)
        self.med = {k: self.summarise(v) for k, v in self.runs.items()}

    def add(self, r):
        lab = r.get("label", "ours")
        t = r.get("type")
        if t == "info":
            self.info[lab] = r
        elif t == "device":
            self.devices.setdefault(lab, []).append(r)
        elif t in ("run", "skip", "fail"):
            k = (lab, r["group"], r["workload"], r["target"])
            if t == "run":
                self.runs.setdefault(k, []).append(r)
            elif t == "skip":
                self.skips[k] = r.get("reason", "")
            else:
                self.fails.append(r)

    @staticmethod
    def summarise(recs):
        s = {"n": len(recs)}
        for key in ("iops", "mib_s", "p50_us", "p99_us"):
            vals = [r[key] for r in recs if r.get(key) is not None]
            s[key] = statistics.median(vals) if vals else None
            if key in ("iops",) and vals and s[key]:
                s["spread"] = (max(vals) - min(vals)) / s[key]
        return s

    def get(self, label, group, workload, target):
        if target == "best":
            for t in C.BEST_ORDER:
                if (label, group, workload, t) in self.med:
                    return t, self.med[(label, group, workload, t)]
            return None, None
        return target, self.med.get((label, group, workload, target))

    def metric(self, label, g, w, target):
        _, m = self.get(label, g.name, w.name, target)
        return m[w.metric] if m else None


def ratio(data, r):
    """Geometric mean of the pairs' ratios of medians; the ublk target that
    "best" resolved to (or None)."""
    vals, best = [], None
    for num, den in r.pairs:
        w = {x.name: x for x in C.GROUP_BY_NAME[num[1]].workloads}[num[2]]
        tn, mn = data.get(*num)
        if num[3] == "best":
            best = tn
        _, md = data.get(*den)
        if not mn or not md or not mn.get(w.metric) or not md.get(w.metric):
            return None, best
        vals.append(mn[w.metric] / md[w.metric])
    return math.exp(sum(math.log(v) for v in vals) / len(vals)), best


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def case_rows(data, label, g):
    """Rows of one boot's group table."""
    rows = []
    for w in g.workloads:
        ref = data.metric(label, g, w, g.ref)
        for t in C.targets(g):
            k = (label, g.name, w.name, t)
            m = data.med.get(k)
            if m is None:
                if k in data.skips:
                    continue        # listed once under the table
                elif any(f.get("label") == label and (f["group"], f["workload"],
                         f["target"]) == k[1:] for f in data.fails):
                    note = "FAILED"
                else:
                    continue        # not selected (BENCH_CASES)
                rows.append([w.name, t, "-", "-", "-", "-", "-", "-", note])
                continue
            rel = m[w.metric] / ref if ref and m.get(w.metric) else None
            rows.append([w.name, t, fmt(m["iops"], ".0f"), fmt(m["mib_s"], ".1f"),
                         fmt(m["p50_us"], ".1f"), fmt(m["p99_us"], ".1f"),
                         fmt(rel, ".2f"),
                         fmt(m.get("spread") * 100 if m.get("spread") is not None else None, ".0f"),
                         "%d run(s)" % m["n"] if m["n"] != data_reps(data, label) else ""])
    return rows


def data_reps(data, label):
    return data.info.get(label, {}).get("reps")


HEAD = ["workload", "target", "IOPS", "MiB/s", "p50 us", "p99 us",
        "vs ref", "spread %", "note"]


def text_table(rows, head=HEAD):
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    out = []
    for r in [head] + rows:
        out.append("  ".join(str(c).ljust(widths[i]) if i < 2 or i == len(head) - 1
                             else str(c).rjust(widths[i]) for i, c in enumerate(r)).rstrip())
    return "\n".join(out)


def numeric(rows, i):
    vals = [str(r[i]) for r in rows if str(r[i]) not in ("", "-")]
    try:
        return bool(vals) and all(float(v) or True for v in vals)
    except ValueError:
        return False


def md_table(rows, head=HEAD):
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join("---:" if numeric(rows, i) else "---"
                          for i in range(len(head))) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out)


def cross_rows(data):
    rows = []
    for g in C.GROUPS:
        for w in g.workloads:
            for t in [g.ref, "ublk_copy", "ublk_user"]:
                a = data.metric("ours", g, w, t)
                b = data.metric("base", g, w, t)
                if a is None and b is None:
                    continue
                rows.append(["%s/%s" % (g.name, w.name), t,
                             fmt(a, ".1f"), fmt(b, ".1f"),
                             fmt(a / b if a and b else None, ".2f"), w.metric])
    return rows


CROSS_HEAD = ["workload", "target", "ours", "base", "ours/base", "metric"]


def goal_rows(data):
    rows, lines = [], []
    for r in C.RATIOS:
        v, best = ratio(data, r)
        if r.goal is None:
            verdict = "no goal"
        elif v is None:
            verdict = "not measured"
        else:
            verdict = "met" if v >= r.goal else "NOT MET"
        rows.append([r.name, fmt(v, ".2f"),
                     ">= %.2f" % r.goal if r.goal is not None else "-",
                     verdict, r.what + (" [best: %s]" % best if best else "")])
        lines.append("ratio %s %s" % (r.name, fmt(v, ".2f") if v is not None else "n/a"))
    return rows, lines


GOAL_HEAD = ["ratio", "value", "goal", "verdict", "definition"]


def normalised_cross(data):
    """ours/base at 4K null, each boot's ublk figure divided by its own
    null_blk: cancels a host that was faster in one boot than the other."""
    g = C.GROUP_BY_NAME["null"]
    w = {x.name: x for x in g.workloads}[C.RR4K]
    v = {}
    for lab in LABELS:
        u = data.metric(lab, g, w, "ublk_copy")
        n = data.metric(lab, g, w, "null_blk")
        v[lab] = u / n if u and n else None
    return v["ours"] / v["base"] if v["ours"] and v["base"] else None


# --- chart ------------------------------------------------------------
def chart(data, outdir):
    """chart.png: throughput of ublk relative to the kernel driver of the
    same boot (null_blk, kernel loop), per workload and mode, for both
    kernels; and QD1 completion latency."""
    files = {}
    for g in C.GROUPS:
        lines = ["# workload " + " ".join("%s:%s" % s for s in SERIES)]
        for w in g.workloads:
            cells = []
            for lab, t in SERIES:
                a = data.metric(lab, g, w, t)
                ref = data.metric(lab, g, w, g.ref)
                cells.append(fmt(a / ref if a and ref else None, ".3f"))
            lines.append('"%s" %s' % (w.name, " ".join(cells)))
        files[g.name] = os.path.join(outdir, "chart-%s.dat" % g.name)
        with open(files[g.name], "w") as f:
            f.write("\n".join(lines) + "\n")
    g = C.GROUP_BY_NAME["null"]
    lat = [w for w in g.workloads if w.qd == 1][0]
    lines = ["# target p50_us p99_us"]
    for lab in LABELS:
        for t in C.targets(g):
            _, m = data.get(lab, "null", lat.name, t)
            if m:
                lines.append('"%s %s" %s %s' % (lab, t.replace("ublk_", "ublk "),
                                               fmt(m["p50_us"], ".1f"), fmt(m["p99_us"], ".1f")))
    files["lat"] = os.path.join(outdir, "chart-lat.dat")
    with open(files["lat"], "w") as f:
        f.write("\n".join(lines) + "\n")

    titles = " ".join(("%s-%s" % s).replace("ublk_", "") for s in SERIES)
    gp = """\
# generated by bench/report.py
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
    set terminal pngcairo size 1800,620 font ",10"
} else {
    set terminal png size 1800,620
}
set output '%(png)s'
set termoption noenhanced
set datafile missing "-"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set key top right font ",8"
set xtics rotate by -30 font ",8"
titles = "%(titles)s"
set multiplot layout 1,3 title "make bench: %(title)s"
set title "ublk null / null_blk (same boot)"
set yrange [0:*]
set arrow 1 from graph 0, first 1 to graph 1, first 1 nohead dt 2 lc "black"
plot for [i=2:%(ncol)d] '%(null)s' using i:xtic(1) title word(titles, i-1)
set title "ublk loop / kernel loop (same boot)"
plot for [i=2:%(ncol)d] '%(loop)s' using i:xtic(1) title word(titles, i-1)
unset arrow 1
set title "4K randread QD1 completion latency (us, log scale)"
set key top left
set logscale y
set yrange [0.5:*]
plot '%(lat)s' using 2:xtic(1) title "p50", '' using 3 title "p99"
unset multiplot
""" % {"png": os.path.join(outdir, "chart.png"), "titles": titles,
       "ncol": len(SERIES) + 1, "null": files["null"], "loop": files["loop"],
       "lat": files["lat"], "title": time.strftime("%Y-%m-%d")}
    gpf = os.path.join(outdir, "chart.gp")
    with open(gpf, "w") as f:
        f.write(gp)
    if not shutil.which("gnuplot"):
        return "gnuplot not installed (apt-get install gnuplot-nox): chart.gp written, no chart.png"
    p = subprocess.run(["gnuplot", gpf], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if p.returncode != 0:
        return "gnuplot failed: " + p.stdout.strip()[-300:]
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--meta", action="append", default=[])
    ap.add_argument("--partial", action="store_true",
                    help="a subset of the cases ran: a ratio it cannot "
                    "compute is no failure")
    ap.add_argument("jsonl", nargs="+")
    a = ap.parse_args()
    meta = dict(m.split("=", 1) for m in a.meta)
    data = Data(a.jsonl)
    os.makedirs(a.outdir, exist_ok=True)

    out, md = [], []
    when = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    md.append("# ublk benchmark, %s\n" % when)
    head = [("date", when)]
    for lab in LABELS:
        i = data.info.get(lab)
        head.append(("kernel " + lab, "%s (%s)" % (i["kernel"], ", ".join(i["features"]) or "no features")
                     if i else "not run"))
    head += sorted(meta.items())
    i = data.info.get("ours") or data.info.get("base") or {}
    if i:
        head.append(("fio", "%s, io_uring, O_DIRECT, %gs + %gs ramp per run, %d runs per case "
                     "(medians), interleaved" % (i["fio"], i["runtime"], i["ramp"], i["reps"])))
        head.append(("guest", "%s vCPUs, %s kB, QEMU TCG; kernel cmdline extras: %s" % (
            i["cpus"], i["mem_kb"],
            " ".join(x for x in i["cmdline"].split() if x.startswith("null_blk.")))))
        if i.get("only"):
            head.append(("cases", "only those matching /%s/" % i["only"]))
    head.append(("devices", "scheduler none on all; ublk depth %d; null group %s, "
                 "loop group over a %s tmpfs file (kernel loop with --direct-io=on)" % (
                     C.DEPTH, C.GROUP_BY_NAME["null"].size, C.GROUP_BY_NAME["loop"].size)))
    for k, v in head:
        out.append("# %s: %s" % (k, v))
        md.append("- **%s**: %s" % (k, v))
    md.append("")

    for lab in LABELS:
        if lab not in data.info:
            continue
        for g in C.GROUPS:
            rows = case_rows(data, lab, g)
            if not rows:
                continue
            title = "%s kernel (%s), %s group: vs ref = / %s" % (
                lab, data.info[lab]["kernel"], g.name, g.ref)
            out += ["", "== " + title, text_table(rows)]
            md += ["## " + title, "", md_table(rows), ""]
            sk = sorted({(k[3], v) for k, v in data.skips.items()
                         if k[0] == lab and k[1] == g.name})
            if sk:
                note = "skipped (mode not advertised by the kernel): " + ", ".join(
                    "%s (%s)" % x for x in sk)
                out.append(note)
                md += [note, ""]

    if "ours" in data.info and "base" in data.info:
        rows = cross_rows(data)
        title = "our driver vs base 6.12 (ACROSS TWO BOOTS: host speed may differ)"
        out += ["", "== " + title, text_table(rows, CROSS_HEAD)]
        md += ["## " + title, "", md_table(rows, CROSS_HEAD), ""]
        n = normalised_cross(data)
        note = ("ours_vs_base612_null_4k normalised by each boot's null_blk "
                "(cancels host drift between the boots): %s" % fmt(n, ".2f"))
        out.append("note: " + note)
        md += ["Note: " + note, ""]

    err = chart(data, a.outdir)
    grows, rlines = goal_rows(data)
    title = ("headline ratios (medians; all within one boot except "
             "ours_vs_base612_null_4k, the only cross-boot ratio)")
    out += ["", "== " + title, text_table(grows, GOAL_HEAD)]
    md += ["## " + title, "", md_table(grows, GOAL_HEAD), ""]
    md += ["```"] + rlines + ["```", ""]
    if err:
        out.append("chart: " + err)
    else:
        md += ["![chart](chart.png)", ""]
        out.append("# chart: %s" % os.path.join(a.outdir, "chart.png"))
    for f in data.fails:
        out.append("FAILED %s/%s/%s/%s rep %d: %s" % (
            f.get("label"), f["group"], f["workload"], f["target"], f["rep"] + 1,
            f.get("error")))
    out.append("# report: %s" % os.path.join(a.outdir, "report.md"))
    out += rlines
    print("\n".join(out))

    with open(os.path.join(a.outdir, "report.md"), "w") as f:
        f.write("\n".join(md))
    with open(os.path.join(a.outdir, "results.json"), "w") as f:
        json.dump({"meta": dict(head), "info": data.info,
                   "medians": {"/".join(k): v for k, v in sorted(data.med.items())},
                   "skipped": {"/".join(k): v for k, v in sorted(data.skips.items())},
                   "ratios": {l.split()[1]: l.split()[2] for l in rlines},
                   "failed": data.fails}, f, indent=1, sort_keys=True)
    missing = not a.partial and any(l.endswith(" n/a") for l in rlines)
    return 1 if missing or data.fails else 0


if __name__ == "__main__":
    sys.exit(main())
