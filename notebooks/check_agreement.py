#!/usr/bin/python3
"""Checks that experiment_readout.ipynb and the API's report agree.

Usage: check_agreement.py NOTEBOOK_JSON API_URL [EXPERIMENT]

NOTEBOOK_JSON is what the readout notebook wrote (SPLITCAST_NOTEBOOK_RESULTS);
the report is GET API_URL/v1/experiments/EXPERIMENT/results with the read key
of SPLITCAST_READ_KEY (default dev-read-key). EXPERIMENT defaults to the one
the notebook read.

Compared, per segment x variant x metric (the experiment's custom metrics
included: the notebook reads them from user_events with its own SQL): numerator, denominator, value,
absolute lift and its interval, relative lift and its interval, the
fixed-horizon p-value, its Holm adjustment and its adjustment by the policy's
correction, the always-valid (mSPRT) p-value, its two adjustments and its
confidence sequence, and each arm's probability to be best (within 1e-9
absolute: two different quadratures); the breakdown by channel
(?breakdown=channel) and by each attribute dimension the notebook computed
(?breakdown=country, ...: every attribute dimension of the definition must be
there): each value's rows and BH-adjusted p-values, within 1e-8 relative, see
BREAKDOWN_REL;
per segment and phase the SRM chi-square, p-value, verdict and observed
counts; and each arm's cumulative daily metrics. Both sides must list the same
segments, arms and metrics. A number undefined on one side (None, null in
the report's JSON) must be undefined on the other.

Two numbers a and b agree when |a - b| <= max(1e-9 * max(|a|, |b|), 1e-12):
1e-9 relative, with an absolute floor of 1e-12 so that values that are zero on
one side and a rounding residue on the other (a lift of 0 against 1e-17, a
p-value of 1e-300 against 0) are not failures. Exits 1 on any disagreement,
listing them, and 2 when the inputs cannot be read.
"""
import datetime
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

REL, ABS = 1e-9, 1e-12
# Probabilities to be best come from two different quadratures (Gauss-Legendre in the report, scipy's
# adaptive quad here), each good to ~1e-12 absolute: compared within 1e-9 absolute, as in testdata/stats.
PROB_ABS = 1e-9
# A breakdown's per-arm sums come from different summation orders on each side (the report adds its units' revenue in
# Go, this notebook in ClickHouse): in a small group, Welch's variance from sums of squares and its few degrees of
# freedom turn the last bits into ~1e-9 of an interval's bound. Breakdown comparisons: 1e-8 relative.
BREAKDOWN_REL = 1e-8

METRICS = ["open_rate", "click_rate", "click_to_open", "conversion_rate", "revenue_per_recipient",
           "unsubscribe_rate", "complaint_rate"]  # the order of the report's daily metrics


class Check:
    def __init__(self):
        self.compared = 0
        self.problems = []
        self.worst = (0.0, "")

    def num(self, where, mine, theirs, floor=ABS, rel=REL):
        self.compared += 1
        if mine is None or theirs is None:
            if mine is not theirs:
                self.problems.append(f"{where}: notebook {mine}, report {theirs}")
            return
        a, b = float(mine), float(theirs)
        diff = abs(a - b)
        if diff > max(rel * max(abs(a), abs(b)), floor):
            self.problems.append(f"{where}: notebook {a!r}, report {b!r} (relative difference {diff / max(abs(a), abs(b)):.3g})")
        elif diff > 0 and floor == ABS:  # within a wider floor, a relative difference means nothing
            rel = diff / max(abs(a), abs(b))
            if rel > self.worst[0]:
                self.worst = (rel, where)

    def same(self, where, mine, theirs):
        self.compared += 1
        if mine != theirs:
            self.problems.append(f"{where}: notebook {mine!r}, report {theirs!r}")


def fetch(api, key, read_key, query="", path="/results"):
    req = urllib.request.Request(f"{api.rstrip('/')}/v1/experiments/{key}{path}{query}",
                                 headers={"Authorization": "Bearer " + read_key})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.load(resp)
    except (urllib.error.URLError, ValueError) as e:
        sys.exit(f"check_agreement: GET {path or 'definition'} of {key}: {e}")


def compare_breakdown(c, mine_rows, report, dimension="channel"):
    """The breakdown by dimension: every row's value and comparison, and the BH-adjusted p-value."""
    b = report.get("breakdown")
    if not b or b.get("dimension") != dimension:
        c.problems.append(f"the report has no breakdown by {dimension}")
        return
    if not mine_rows:
        c.problems.append(f"the notebook has no rows of the breakdown by {dimension}")
        return
    theirs = {}
    for s in b["segments"]:
        for v in s["values"]:
            for m in v["metrics"]:
                for r in m["rows"]:
                    theirs[(s["key"], v["value"], r["variant"], m["metric"])] = r
    mine = {(r["segment"], r["dim_value"], r["variant"], r["metric"]): r for r in mine_rows}
    for k in sorted(set(mine) ^ set(theirs)):
        c.problems.append(f"breakdown by {dimension} {'/'.join(k)}: only in the {'notebook' if k in mine else 'report'}")
    for k in sorted(set(mine) & set(theirs)):
        n, r, w = mine[k], theirs[k], f"breakdown by {dimension} " + "/".join(k)
        for f in ("numerator", "denominator", "value"):
            c.num(f"{w} {f}", n[f], r[f])
        cmp = r.get("comparison")
        if n["control"] or cmp is None:
            c.same(f"{w} compared with the control", not n["control"], cmp is not None)
            continue
        fh = cmp["fixed_horizon"]
        ci = fh["abs_ci"] or {"lower": None, "upper": None}
        for f, mine_v, theirs_v in (("abs_lift", n["abs_lift"], fh["abs_lift"]), ("abs_ci.lower", n["abs_ci_lower"], ci["lower"]),
                                    ("abs_ci.upper", n["abs_ci_upper"], ci["upper"]), ("p_value", n["p_value"], fh["p_value"]),
                                    ("p_value_holm", n["p_value_holm"], cmp["p_value_holm"]),
                                    ("p_value_bh", n.get("p_value_bh"), r.get("p_value_bh"))):
            c.num(f"{w} {f}", mine_v, theirs_v, rel=BREAKDOWN_REL)


def compare(nb, report, breakdown=None, attr_breakdowns=None):
    c = Check()
    c.num("alpha", nb["alpha"], report["alpha"])
    c.same("correction", nb.get("correction", "holm"), report["correction"])
    mine = {(r["segment"], r["variant"], r["metric"]): r for r in nb["rows"]}
    theirs = {}
    for s in report["segments"]:
        for m in s["metrics"]:
            for r in m["rows"]:
                theirs[(s["key"], r["variant"], m["metric"])] = r
    for k in sorted(set(mine) ^ set(theirs)):
        c.problems.append(f"{'/'.join(k)}: only in the {'notebook' if k in mine else 'report'}")
    for k in sorted(set(mine) & set(theirs)):
        n, r, w = mine[k], theirs[k], "/".join(k)
        for f in ("numerator", "denominator", "value"):
            c.num(f"{w} {f}", n[f], r[f])
        c.num(f"{w} prob_best", n.get("prob_best"), r.get("prob_best"), floor=PROB_ABS)
        cmp = r.get("comparison")
        if n["control"] or cmp is None:
            c.same(f"{w} compared with the control", not n["control"], cmp is not None)
            continue
        if cmp.get("error"):
            c.problems.append(f"{w}: the report could not compare: {cmp['error']}")
            continue
        fh, seq = cmp["fixed_horizon"], cmp["sequential"]
        c.num(f"{w} abs_lift", n["abs_lift"], fh["abs_lift"])
        ci, rci = fh["abs_ci"] or {"lower": None, "upper": None}, fh["rel_ci"] or {"lower": None, "upper": None}
        c.num(f"{w} abs_ci.lower", n["abs_ci_lower"], ci["lower"])
        c.num(f"{w} abs_ci.upper", n["abs_ci_upper"], ci["upper"])
        c.num(f"{w} rel_lift", n["rel_lift"], fh["rel_lift"])
        c.num(f"{w} rel_ci.lower", n["rel_ci_lower"], rci["lower"])
        c.num(f"{w} rel_ci.upper", n["rel_ci_upper"], rci["upper"])
        c.num(f"{w} p_value", n["p_value"], fh["p_value"])
        c.num(f"{w} p_value_holm", n["p_value_holm"], cmp["p_value_holm"])
        c.num(f"{w} p_value_adjusted", n["p_value_adjusted"], cmp["p_value_adjusted"])
        c.num(f"{w} always-valid p adjusted", n["always_valid_p_adjusted"], cmp["sequential_p_value_adjusted"])
        c.num(f"{w} always-valid p", n["always_valid_p"], seq["p_value"])
        c.num(f"{w} always-valid p holm", n["always_valid_p_holm"], cmp["sequential_p_value_holm"])
        c.same(f"{w} sequential defined", n["seq_ci_lower"] is not None, seq["defined"])
        if n["seq_ci_lower"] is not None and seq["defined"]:
            c.num(f"{w} sequential ci.lower", n["seq_ci_lower"], seq["ci"]["lower"])
            c.num(f"{w} sequential ci.upper", n["seq_ci_upper"], seq["ci"]["upper"])

    srm = {}
    for s in report["segments"]:
        srm[(s["key"], "all")] = s["srm"]
        for p in s["phase_srm"]:
            srm[(s["key"], p["phase"])] = p
    mine_srm = {(x["segment"], x["phase"]): x for x in nb["srm"]}
    for k in sorted(set(mine_srm) ^ set(srm), key=str):
        c.problems.append(f"SRM {k}: only in the {'notebook' if k in mine_srm else 'report'}")
    for k in sorted(set(mine_srm) & set(srm), key=str):
        n, r, w = mine_srm[k], srm[k], f"SRM {k[0]} phase {k[1]}"
        c.num(f"{w} chi_square", n["chi_square"], r["chi_square"])
        c.num(f"{w} p_value", n["p_value"], r["p_value"])
        c.same(f"{w} mismatch", n["mismatch"], r["mismatch"])
        c.same(f"{w} observed", [float(x) for x in n["observed"]], [float(x) for x in r["observed"]])

    if breakdown is not None:
        compare_breakdown(c, nb.get("breakdown_channel", []), breakdown)
    for dim, b in (attr_breakdowns or {}).items():
        compare_breakdown(c, nb.get("breakdowns", {}).get(dim, []), b, dim)

    days = {(d["segment"], d["variant"], d["day"]): d for d in nb["daily"]}
    seen = set()
    for s in report["segments"]:
        for a in s["arms"]:
            for p in a["daily"]:
                k = (s["key"], a["variant"], epoch_day(p["day"]))
                n = days.get(k)
                if n is None:
                    # An arm the definition has but no unit reached: the report lists zeros.
                    if p["exposed"] != 0:
                        c.problems.append(f"daily {k}: only in the report")
                    continue
                seen.add(k)
                c.same(f"daily {k} exposed", n["exposed"], p["exposed"])
                for i, m in enumerate(METRICS):
                    c.num(f"daily {k} {m}", n[m], p["metrics"][i])
    for k in sorted(set(days) - seen):
        c.problems.append(f"daily {k}: only in the notebook")
    return c


def epoch_day(stamp):
    """Whole UTC days since 1970 of an RFC 3339 midnight, the notebook's day numbers."""
    d = datetime.date.fromisoformat(stamp[:10])
    return (d - datetime.date(1970, 1, 1)).days


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__.split("\n\n")[1])
    try:
        with open(sys.argv[1]) as f:
            nb = json.load(f)
    except (OSError, ValueError) as e:
        print(f"check_agreement: {e}", file=sys.stderr)
        sys.exit(2)
    key = sys.argv[3] if len(sys.argv) == 4 else nb["experiment"]
    read_key = os.environ.get("SPLITCAST_READ_KEY", "dev-read-key")
    report = fetch(sys.argv[2], key, read_key)
    breakdown = fetch(sys.argv[2], key, read_key, "?breakdown=channel") if "breakdown_channel" in nb else None
    # Every attribute dimension of the definition, whether or not the notebook computed it.
    definition = fetch(sys.argv[2], key, read_key, path="")
    dims = [d for d in (definition.get("dimensions") or []) if d != "channel"]
    attr = {d: fetch(sys.argv[2], key, read_key, "?breakdown=" + urllib.parse.quote(d)) for d in dims}
    c = compare(nb, report, breakdown, attr)
    if c.problems:
        print(f"check_agreement: {key}: {len(c.problems)} of {c.compared} numbers disagree "
              f"(beyond {REL:g} relative, {ABS:g} absolute):", file=sys.stderr)
        for p in c.problems[:40]:
            print("  " + p, file=sys.stderr)
        if len(c.problems) > 40:
            print(f"  ... and {len(c.problems) - 40} more", file=sys.stderr)
        sys.exit(1)
    worst = f"largest relative difference {c.worst[0]:.2g} ({c.worst[1]})" if c.worst[1] else "all identical"
    print(f"check_agreement: {key}: {c.compared} numbers agree within {REL:g} relative ({ABS:g} absolute floor); {worst}")


if __name__ == "__main__":
    main()
