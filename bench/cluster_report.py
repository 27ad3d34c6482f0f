#!/usr/bin/env python3
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
"""cluster_report.py - bench/cluster.sh's tables.

The rows are bench/e2e_report.py's (its `row` scored each loadgen run:
goodput = share of arrivals with TTFT <= the SLO, failures infinite); this
only reads them, with the bench's per-host new-flow counts (hosts.csv:
load,config,run,lb1,lb2,lb3) and loadgen's per-worker request counts, and
prints per load and configuration the median (min-max) over the runs, then
each configuration's goodput difference to the baseline, paired by run (the
same seed in a run), next to the target.

  cluster_report.py --csv inference.csv --hosts-csv hosts.csv --loads "90"
      --cfgs "1host 3host ..." --slo-ms 1000 --seconds 30 --base 1host
      --target 3host --points 5 --json-dir DIR
"""
import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_report import cell, fmt, median, num, read_csv, spread  # noqa: E402


def shares(counts):
    """"a/b/c" percentages of a list of counts, or "-" """
    t = sum(counts)
    if t <= 0:
        return "-"
    return "/".join("%.0f" % (100.0 * c / t) for c in counts)


def worker_counts(path, n=3):
    """requests per worker b1..bn from a loadgen JSON (X-Backend names)"""
    try:
        d = json.load(open(path))
    except (OSError, ValueError):
        return None
    be = d.get("backends", {})
    return [be.get("b%d" % i, {}).get("requests", 0) for i in range(1, n + 1)]


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--csv", required=True)
    ap.add_argument("--hosts-csv", required=True)
    ap.add_argument("--loads", required=True)
    ap.add_argument("--cfgs", required=True)
    ap.add_argument("--slo-ms", default="1000")
    ap.add_argument("--seconds", type=float, required=True)
    ap.add_argument("--base", default="1host")
    ap.add_argument("--target", default="3host")
    ap.add_argument("--points", type=float, default=5.0)
    ap.add_argument("--json-dir", default="")
    a = ap.parse_args()

    rows = read_csv(a.csv)
    if not rows:
        print("no results (inference.csv is empty)")
        return 1
    hosts = {(r["load"], r["config"], r["run"]): [int(r["lb1"]), int(r["lb2"]), int(r["lb3"])]
             for r in read_csv(a.hosts_csv)}
    by = {}
    for r in rows:
        by.setdefault((r["load"], r["config"]), []).append(r)
    cfgs = a.cfgs.split()
    verdicts = []

    for load in a.loads.split():
        present = [c for c in cfgs if (load, c) in by]
        if not present:
            continue
        nruns = max(len(by[(load, c)]) for c in present)
        rate = median([num(r["rate"]) for r in by[(load, present[0])]])
        print("-- load %s%% = %s req/s, %d run(s) of %g s: median (min-max) over the runs"
              % (load, fmt(rate, 1), nruns, a.seconds))
        w = [11, 18, 16, 18, 18, 12, 15, 15]
        hdr = ["config", "goodput %", "good req/s", "TTFT p50 all ms",
               "TTFT p99 all ms", "failures", "flows lb1/2/3 %", "reqs b1/2/3 %"]
        print(" ".join(h.ljust(w[i]) if i == 0 else h.rjust(w[i]) for i, h in enumerate(hdr)))
        for c in present:
            rs = by[(load, c)]
            good_s = [None if num(r["good"]) is None else num(r["good"]) / a.seconds for r in rs]
            fails = []
            for r in rs:
                e, dr = num(r.get("errors")), num(r.get("dropped"))
                fails.append(None if e is None else e + (dr or 0))
            hs = [0, 0, 0]
            wk = [0, 0, 0]
            for r in rs:
                h = hosts.get((load, c, r["run"]))
                if h:
                    hs = [x + y for x, y in zip(hs, h)]
                if a.json_dir:
                    k = worker_counts(os.path.join(a.json_dir, "inf-%s-%s-r%s.json"
                                                   % (load, c, r["run"])))
                    if k:
                        wk = [x + y for x, y in zip(wk, k)]
            vals = [c, cell([None if num(r["goodput"]) is None else num(r["goodput"]) * 100
                             for r in rs], 1),
                    cell(good_s, 1), cell([num(r["ttft_p50_all"]) for r in rs]),
                    cell([num(r["ttft_p99_all"]) for r in rs]), cell(fails),
                    shares(hs), shares(wk)]
            print(" ".join(v.ljust(w[i]) if i == 0 else v.rjust(w[i]) for i, v in enumerate(vals)))
        print("goodput: arrivals with TTFT <= %s ms (bench/e2e_report.py row; failed, refused,"
              " dropped: TTFT infinite); failures: arrivals not ok; flows: new flows per host"
              " (lbctl stats), reqs: requests per worker (X-Backend), both summed over the runs"
              % a.slo_ms)
        # paired differences to the baseline, run by run
        base = {r["run"]: num(r["goodput"]) for r in by.get((load, a.base), [])}
        for c in present:
            if c == a.base or not base:
                continue
            ds = []
            for r in by[(load, c)]:
                g, b = num(r["goodput"]), base.get(r["run"])
                if g is not None and b is not None:
                    ds.append((g - b) * 100)
            if not ds:
                continue
            m = median(ds)
            lo, hi = spread(ds)
            line = ("%s vs %s at %s%%: goodput %+.1f points (runs %+.1f..%+.1f)"
                    % (c, a.base, load, m, lo, hi))
            if c == a.target:
                ok = m >= -a.points
                line += ("; target: no more than %g points below: %s%s"
                         % (a.points, "met" if ok else "NOT met",
                            "" if (lo >= -a.points) == ok else " (not in every run)"))
                verdicts.append(ok)
            print(line)
        print()
    if not verdicts:
        print("target (%s within %g points of %s): not measured" % (a.target, a.points, a.base))
    return 0


if __name__ == "__main__":
    sys.exit(main())
