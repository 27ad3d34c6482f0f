#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""e2e_report.py - part 1 of bench/e2e.sh: its CSV rows, tables and targets.

  header     --csv F --phases-csv F: writes the two CSV headers
  row        --json LOADGEN.json --sched F --load L --config C --run R ...:
             appends one row to inference.csv, one per phase to phases.csv;
             F: lines "KEY VALUE [MS]" (inflight_at_death N, rebuilds0/1
             COUNT MS: the agent's rebuild counter at the load's start/end)
  tables     --csv F --phases-csv F --loads "90 70" --cfgs "..." --slo-ms MS
             [--dat-dir D]: per load and configuration the median (min-max)
             over the runs, the per-phase medians, the targets (printed,
             never asserted); the charts' .dat files in D
  trace-rate --file TRACE --start S --duration D --scale F --load L
             --batch B --prefill-us P --token-ms "10 10 20 10": prints
             "RATE MEAN_PROMPT MEAN_OUTPUT ROWS" (see trace_rate)

Values are numbers or "inf" (loadgen: a failed, refused or dropped request
has an infinite TTFT); a missing value is empty.
"""
import argparse
import csv
import datetime
import json
import math
import os
import sys

INF_COLS = ["load", "config", "requests", "ok", "errors", "refused", "broken",
            "http_error", "timeout", "other", "ttft_p50", "ttft_p90",
            "ttft_p99", "ttft_p999", "b4_inflight_at_death", "b4_requests",
            "dropped", "refused_at_connect",
            # since the scoring over all arrivals
            "run", "rate", "arrivals", "good", "goodput", "ttft_p50_all",
            "ttft_p90_all", "ttft_p95_all", "ttft_p99_all", "ttft_p95",
            "rebuilds", "rebuilds_per_s"]
PHASE_COLS = ["load", "config", "run", "phase", "arrivals", "ok", "good",
              "goodput", "ttft_p99_all", "ttft_p99_ok", "start_s", "end_s",
              "errors", "dropped"]
AGENT_CFGS = ("agent", "agent-maglev", "agent-p2c")
NAMES = {"lc": "least-conn", "static": "static-equal"}


def num(v):
    """a CSV/JSON value as a float (inf for "inf"), None when missing"""
    if v is None or v == "":
        return None
    if isinstance(v, str) and v.strip().lower() in ("inf", "infinity", "+inf"):
        return math.inf
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def out(v):
    """a JSON value for the CSV: numbers as they are, "inf", or empty"""
    x = num(v)
    if x is None:
        return ""
    if math.isinf(x):
        return "inf"
    return ("%.3f" % x).rstrip("0").rstrip(".")


# ---- header, row --------------------------------------------------------
def cmd_header(a):
    with open(a.csv, "w") as f:
        f.write(",".join(INF_COLS) + "\n")
    with open(a.phases_csv, "w") as f:
        f.write(",".join(PHASE_COLS) + "\n")


def cmd_row(a):
    try:
        d = json.load(open(a.json))
    except (OSError, ValueError) as e:
        print("e2e_report: %s: %s" % (a.json, e), file=sys.stderr)
        return 1
    sched = {}		# KEY VALUE [MS]
    try:
        for line in open(a.sched):
            p = line.split()
            if len(p) >= 2:
                sched[p[0]] = p[1:]
    except OSError:
        pass
    o = d.get("outcomes", {})
    t = d.get("ttft_ms", {})
    ta = d.get("ttft_all_ms", {})
    b4 = d.get("backends", {}).get("b4", {})
    req = d.get("requests", 0)
    rb = ""
    rbs = ""
    r0, r1 = sched.get("rebuilds0", []), sched.get("rebuilds1", [])
    if len(r0) == 2 and len(r1) == 2 and float(r1[1]) > float(r0[1]):
        rb = "%d" % (float(r1[0]) - float(r0[0]))
        rbs = "%.2f" % ((float(r1[0]) - float(r0[0])) * 1000 /
                        (float(r1[1]) - float(r0[1])))
    row = {
        "load": a.load, "config": a.config, "requests": req,
        "ok": o.get("ok", 0), "errors": req - o.get("ok", 0),
        "refused": o.get("refused", 0), "broken": o.get("broken", 0),
        "http_error": o.get("http_error", 0), "timeout": o.get("timeout", 0),
        "other": o.get("other", 0),
        "ttft_p50": out(t.get("p50")), "ttft_p90": out(t.get("p90")),
        "ttft_p99": out(t.get("p99")), "ttft_p999": out(t.get("p99.9")),
        "b4_inflight_at_death": sched.get("inflight_at_death", ["?"])[0],
        "b4_requests": b4.get("requests", 0), "dropped": d.get("dropped", 0),
        "refused_at_connect": d.get("refused_at_connect", o.get("refused", 0)),
        "run": a.run, "rate": a.rate,
        "arrivals": ta.get("n", req + d.get("dropped", 0)),
        "good": d.get("good", ""), "goodput": out(d.get("goodput")),
        "ttft_p50_all": out(ta.get("p50")), "ttft_p90_all": out(ta.get("p90")),
        "ttft_p95_all": out(ta.get("p95")), "ttft_p99_all": out(ta.get("p99")),
        "ttft_p95": out(t.get("p95")), "rebuilds": rb, "rebuilds_per_s": rbs,
    }
    with open(a.csv, "a") as f:
        f.write(",".join(str(row[c]) for c in INF_COLS) + "\n")
    with open(a.phases_csv, "a") as f:
        for p in d.get("phases", []):
            pa = p.get("ttft_all_ms", {})
            po = p.get("ttft_ms", {})
            r = {"load": a.load, "config": a.config, "run": a.run,
                 "phase": p.get("name", "?"), "arrivals": p.get("arrivals", ""),
                 "ok": p.get("ok", ""), "good": p.get("good", ""),
                 "goodput": out(p.get("goodput")),
                 "ttft_p99_all": out(pa.get("p99")),
                 "ttft_p99_ok": out(po.get("p99")),
                 "start_s": out(p.get("start_s")), "end_s": out(p.get("end_s")),
                 "errors": p.get("errors", ""), "dropped": p.get("dropped", "")}
            f.write(",".join(str(r[c]) for c in PHASE_COLS) + "\n")
    if "ttft_all_ms" not in d or "goodput" not in d:
        print("e2e_report: %s has no ttft_all_ms/goodput (loadgen without "
              "--slo-ms?)" % a.json, file=sys.stderr)
    return 0


# ---- tables -------------------------------------------------------------
def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    if n % 2:
        return xs[n // 2]
    lo, hi = xs[n // 2 - 1], xs[n // 2]
    return hi if math.isinf(hi) else (lo + hi) / 2


def spread(xs):
    xs = [x for x in xs if x is not None]
    return (min(xs), max(xs)) if xs else (None, None)


def fmt(x, prec=0):
    if x is None:
        return "-"
    if math.isinf(x):
        return "inf"
    return "%.*f" % (prec, x)


def cell(xs, prec=0, scale=1.0):
    """median (min-max) of xs, scaled; one value without a spread"""
    xs = [None if x is None else x * scale for x in xs]
    m = median(xs)
    lo, hi = spread(xs)
    if m is None:
        return "-"
    if len([x for x in xs if x is not None]) < 2:
        return fmt(m, prec)
    return "%s (%s-%s)" % (fmt(m, prec), fmt(lo, prec), fmt(hi, prec))


def read_csv(path):
    try:
        with open(path) as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


def name(c):
    return NAMES.get(c, c)


def cmd_tables(a):
    rows = read_csv(a.csv)
    prows = read_csv(a.phases_csv)
    loads = a.loads.split()
    cfgs = a.cfgs.split()
    if not rows:
        print("no results (inference.csv is empty)")
        return 1
    by = {}		# (load, cfg) -> [row]
    for r in rows:
        by.setdefault((r["load"], r["config"]), []).append(r)
    pby = {}		# (load, cfg, phase) -> [row]
    phases = []
    for r in prows:
        pby.setdefault((r["load"], r["config"], r["phase"]), []).append(r)
        if r["phase"] not in phases:
            phases.append(r["phase"])

    def col(load, cfg, key, scale=1.0):
        return [None if num(r.get(key)) is None else num(r.get(key)) * scale
                for r in by.get((load, cfg), [])]

    def med(load, cfg, key, scale=1.0):
        return median(col(load, cfg, key, scale))

    def failed(r):
        e, dr = num(r.get("errors")), num(r.get("dropped"))
        return None if e is None else e + (dr or 0)

    for load in loads:
        present = [c for c in cfgs if (load, c) in by]
        if not present:
            continue
        nruns = max(len(by[(load, c)]) for c in present)
        rate = med(load, present[0], "rate")
        print("-- load %s%% = %s req/s, %d run(s): median (min-max) over the runs"
              % (load, fmt(rate, 1), nruns))
        w = [13, 20, 20, 20, 20, 14, 14]
        hdr = ["config", "goodput %", "TTFT p99 all ms", "TTFT p95 all ms",
               "TTFT p99 ok ms", "errors", "rebuilds/s"]
        print(" ".join(h.ljust(w[i]) if i == 0 else h.rjust(w[i])
                       for i, h in enumerate(hdr)))
        for c in present:
            rs = by[(load, c)]
            vals = [name(c),
                    cell(col(load, c, "goodput", 100), 1),
                    cell(col(load, c, "ttft_p99_all")),
                    cell(col(load, c, "ttft_p95_all")),
                    cell(col(load, c, "ttft_p99")),
                    cell([failed(r) for r in rs]),
                    cell(col(load, c, "rebuilds_per_s"), 1)
                    if c in AGENT_CFGS else "-"]
            print(" ".join(v.ljust(w[i]) if i == 0 else v.rjust(w[i])
                           for i, v in enumerate(vals)))
        if phases:
            print("per phase (medians): goodput %, TTFT p99 over all arrivals ms")
            print("%-13s" % "config" + "".join("%24s" % p for p in phases))
            for c in present:
                line = "%-13s" % name(c)
                for p in phases:
                    pr = pby.get((load, c, p), [])
                    g = median([None if num(r["goodput"]) is None
                                else num(r["goodput"]) * 100 for r in pr])
                    t = median([num(r["ttft_p99_all"]) for r in pr])
                    line += "%24s" % ("%s %%  %s" % (fmt(g, 1), fmt(t)))
                print(line)
        lost = []
        for c in present:
            if c not in AGENT_CFGS:
                continue
            xs = []
            for r in by[(load, c)]:
                e, b, rf, rc = (num(r.get(k)) for k in
                                ("errors", "broken", "refused", "refused_at_connect"))
                if None not in (e, b, rf, rc):
                    xs.append(e - (b + rf - rc))
            if xs:
                lost.append("%s %s" % (c, fmt(median(xs))))
        if lost:
            print("info: failed requests beyond those in flight on b4 when it died"
                  " (median): " + ", ".join(lost))
        print("errors: arrivals not ok (failed, refused, timed out, dropped);"
              " goodput: TTFT <= %s ms" % a.slo_ms)
        print()
        if a.dat_dir:
            write_dat(a.dat_dir, load, present, col)

    targets(loads, cfgs, by, pby, med)
    return 0


def write_dat(d, load, present, col):
    with open(os.path.join(d, "goodput-%s.dat" % load), "w") as f:
        for c in present:
            g = col(load, c, "goodput", 100)
            m = median(g)
            lo, hi = spread(g)
            if m is not None:
                f.write("%s %.2f %.2f %.2f\n" % (name(c), m, lo, hi))
    with open(os.path.join(d, "ttft-%s.dat" % load), "w") as f:
        for c in present:
            ms = [median(col(load, c, k)) for k in
                  ("ttft_p50", "ttft_p90", "ttft_p99", "ttft_p999")]
            if None not in ms and not any(math.isinf(x) for x in ms):
                f.write("%s %s\n" % (name(c), " ".join("%.1f" % x for x in ms)))


def targets(loads, cfgs, by, pby, med):
    def verdict(ok):
        return "met" if ok else "NOT met"

    def best_alt(load):
        alts = [(med(load, c, "goodput"), c) for c in cfgs
                if c != "agent" and (load, c) in by]
        alts = [x for x in alts if x[0] is not None]
        return max(alts) if alts else (None, None)

    print("targets (printed, never asserted; medians over the runs; the best "
          "alternative = the configuration other than agent with the highest "
          "median goodput):")
    ag = {ld: med(ld, "agent", "goodput") for ld in loads}
    # (a)
    if "90" in loads and ag.get("90") is not None and best_alt("90")[0] is not None:
        g, c = best_alt("90")
        d = (ag["90"] - g) * 100
        print("(a) at 90%%: agent goodput %.1f%% >= best alternative (%s, %.1f%%) "
              "+ 10 points: %+.1f points: %s" % (ag["90"] * 100, name(c), g * 100,
                                                 d, verdict(d >= 10)))
    else:
        print("(a) at 90%: not measured (needs load 90 with agent and another configuration)")
    # (b)
    hp = None
    for r in pby:
        if r[2] == "healthy":
            hp = "healthy"
    done = False
    for ld in loads:
        if hp is None:
            break
        a_ = median([num(r["ttft_p99_all"]) for r in pby.get((ld, "agent", hp), [])])
        l_ = median([num(r["ttft_p99_all"]) for r in pby.get((ld, "lc", hp), [])])
        if a_ is None or l_ is None:
            continue
        done = True
        print("(b) at %s%%, healthy phase: agent TTFT p99 (all arrivals) %s ms <= "
              "least-conn's %s ms: %s%s" % (ld, fmt(a_), fmt(l_), verdict(a_ <= l_),
                                            " (both inf)" if math.isinf(a_) and
                                            math.isinf(l_) else ""))
    if not done:
        print("(b) healthy phase: not measured (needs agent and lc, and loadgen phases)")
    # (c)
    if "70" in loads and ag.get("70") is not None and best_alt("70")[0] is not None:
        g, c = best_alt("70")
        d = (ag["70"] - g) * 100
        print("(c) at 70%%: agent goodput %.1f%% within 1 point of the best "
              "alternative (%s, %.1f%%) or above: %+.1f points: %s"
              % (ag["70"] * 100, name(c), g * 100, d, verdict(d >= -1)))
    else:
        print("(c) at 70%: not measured (needs load 70 with agent and another configuration)")
    # (d)
    done = False
    for ld in loads:
        g, c = best_alt(ld)
        a_ = med(ld, "agent", "ttft_p99_all")
        if c is None or a_ is None:
            continue
        done = True
        b_ = med(ld, c, "ttft_p99_all")
        if b_ is None or math.isinf(b_):
            print("(d) at %s%%: best alternative (%s) TTFT p99 (all arrivals) is %s: "
                  "n/a (agent's %s ms)" % (ld, name(c), fmt(b_), fmt(a_)))
            continue
        print("(d) at %s%%: agent TTFT p99 (all arrivals) %s ms <= 0.7 x best "
              "alternative's (%s, %s ms) = %s ms: %s"
              % (ld, fmt(a_), name(c), fmt(b_), fmt(0.7 * b_),
                 verdict(a_ <= 0.7 * b_)))
    if not done:
        print("(d) not measured (needs agent and another configuration)")
    # (e)
    xs = []
    for c in AGENT_CFGS:
        if ("90", c) in by:
            vals = [num(r.get("rebuilds_per_s")) for r in by[("90", c)]]
            xs.append("%s %s" % (c, cell(vals, 2)))
    print("(e) at 90%%, agent table rebuilds/s (median (min-max); info, no "
          "bound given): %s" % (", ".join(xs) if xs else "not measured"))


# ---- trace-rate ---------------------------------------------------------
def trace_rows(path):
    """(seconds since the first row, prompt tokens, output tokens) per row"""
    rows = []
    t0 = None
    with open(path) as f:
        r = csv.reader(f)
        for rec in r:
            if len(rec) < 3 or not rec[0].strip():
                continue
            try:
                p, o = int(rec[1]), int(rec[2])
            except ValueError:
                continue	# the header
            ts = rec[0].strip()
            try:		# a number of seconds
                t = float(ts)
            except ValueError:	# YYYY-MM-DD HH:MM:SS[.fffffff]
                if "." in ts:	# keep microseconds
                    head, frac = ts.split(".", 1)
                    ts = head + "." + (frac + "000000")[:6]
                else:
                    ts += ".000000"
                t = datetime.datetime.strptime(ts, "%Y-%m-%d %H:%M:%S.%f")
                t = (t - datetime.datetime(1970, 1, 1)).total_seconds()
            if t0 is None:
                t0 = t
            rows.append((t - t0, p, o))
    rows.sort(key=lambda x: x[0])
    return rows


def scaled(x, f):
    return max(1, int(x * f + 0.5))


def cmd_trace_rate(a):
    """
    The rate of a load (a % of the fleet's capacity) for the requests loadgen
    replays: the first round(rate x duration) rows from --start. Their mean
    token counts give the capacity (per worker batch / ((out + 1) x token_ms
    + prompt x prefill_us)), which gives the rate, which gives the rows:
    start from the means of the hour from --start and iterate (5 times at
    most, until the rate moves by < 0.5 %).
    """
    rows = [r for r in trace_rows(a.file) if r[0] >= a.start]
    if not rows:
        print("e2e_report: no trace rows from %s s on" % a.start, file=sys.stderr)
        return 1
    tms = [float(x) for x in a.token_ms.split()]

    def means(rs):
        n = len(rs)
        return (sum(scaled(r[1], a.scale) for r in rs) / n,
                sum(scaled(r[2], a.scale) for r in rs) / n)

    def rate_of(mp, mo):
        cap = sum(a.batch * 1000.0 / ((mo + 1) * t + mp * a.prefill_us / 1000.0)
                  for t in tms)
        return cap * a.load / 100.0

    hour = [r for r in rows if r[0] < a.start + 3600] or rows
    mp, mo = means(hour)
    rate = rate_of(mp, mo)
    n = len(hour)
    for _ in range(5):
        n = max(1, min(len(rows), int(rate * a.duration + 0.5)))
        mp, mo = means(rows[:n])
        new = rate_of(mp, mo)
        done = abs(new - rate) < 0.005 * rate
        rate = new
        if done:
            break
    print("%.2f %.1f %.1f %d" % (rate, mp, mo, n))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sp = ap.add_subparsers(dest="cmd", required=True)
    h = sp.add_parser("header")
    h.add_argument("--csv", required=True)
    h.add_argument("--phases-csv", required=True)
    r = sp.add_parser("row")
    r.add_argument("--json", required=True)
    r.add_argument("--sched", required=True)
    r.add_argument("--load", required=True)
    r.add_argument("--config", required=True)
    r.add_argument("--run", required=True)
    r.add_argument("--rate", required=True)
    r.add_argument("--csv", required=True)
    r.add_argument("--phases-csv", required=True)
    t = sp.add_parser("tables")
    t.add_argument("--csv", required=True)
    t.add_argument("--phases-csv", required=True)
    t.add_argument("--loads", required=True)
    t.add_argument("--cfgs", required=True)
    t.add_argument("--slo-ms", default="1000")
    t.add_argument("--dat-dir", default="")
    tr = sp.add_parser("trace-rate")
    tr.add_argument("--file", required=True)
    tr.add_argument("--start", type=float, default=0.0)
    tr.add_argument("--duration", type=float, required=True)
    tr.add_argument("--scale", type=float, default=1.0)
    tr.add_argument("--load", type=float, required=True)
    tr.add_argument("--batch", type=int, required=True)
    tr.add_argument("--prefill-us", type=float, required=True)
    tr.add_argument("--token-ms", required=True)
    a = ap.parse_args()
    return {"header": cmd_header, "row": cmd_row, "tables": cmd_tables,
            "trace-rate": cmd_trace_rate}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
