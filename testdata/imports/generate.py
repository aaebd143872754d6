#!/usr/bin/python3
"""A realistic campaign sent by another tool, and what its report must say, from the file alone.

Usage: generate.py OUT_DIR [UNITS]

Writes OUT_DIR/campaign.csv, the events of testdata/imports/experiment.json's campaign in the import
format (docs/import.md), and OUT_DIR/expected.json, every count, rate, lift, interval and p-value of its
report computed here with scipy and statsmodels from the CSV's rows alone, not from any Splitcast code.

The campaign: UNITS recipients (default 40,000) in two segments of three arms by the definition's weights
(2:1:1 for vip, 1:1:1 for everyone), exposure times over three days written as RFC 3339 or Unix seconds;
opens (and Apple-style machine opens, flagged), clicks, conversions with heavy-tailed revenue (lognormal
with a Pareto tail, some units buying twice), unsubscribes and complaints, with real effects in some arms;
1% of units exposed a second time later in another arm; opens of units never exposed; 10% of rows with
the other tool's event_id; 20% of exposures sent by push; and 2% of rows duplicated, in shuffled order.
expected.json also has the report of each channel's units alone: what a breakdown by channel shows.

The report's rules that the expectations follow are the documented ones (README, "Import"): an event is
one per event_id, or, without one, per (unit, kind, time to the second, segment, variant, value, channel
defaulted to the experiment's, machine); a unit counts in the arm of its first exposure; only exposed units
count; machine-flagged events are not human. Deterministic: numpy's PCG64 with a fixed seed.
"""
import csv
import datetime
import json
import math
import os
import sys

import numpy as np
from scipy import stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

HERE = os.path.dirname(os.path.abspath(__file__))
COLUMNS = ["unit", "kind", "time", "segment", "variant", "value", "event_id", "channel", "machine"]
METRICS = ["open_rate", "click_rate", "click_to_open", "conversion_rate", "revenue_per_recipient",
           "unsubscribe_rate", "complaint_rate"]
T0 = int(datetime.datetime(2025, 3, 3, 8, 0, tzinfo=datetime.timezone.utc).timestamp())


def generate(units, rng, definition):
    rows = []
    segs = definition["segments"]
    effect = {("vip", "urgency"): (1.10, 1.25), ("vip", "discount"): (1.0, 1.6),
              ("everyone", "urgency"): (1.05, 1.0), ("everyone", "discount"): (0.97, 1.3)}
    ext = 0

    def stamp(t):
        if rng.random() < 0.3:
            return str(int(t))
        return datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def add(unit, kind, t, seg="", var="", value="", channel="", machine=""):
        nonlocal ext
        eid = ""
        if rng.random() < 0.1:
            ext += 1
            eid = f"esp-{ext:07d}"
        rows.append([unit, kind, stamp(t), seg, var, value, eid, channel, machine])

    for i in range(units):
        unit = f"r{i:06d}"
        s = segs[0] if rng.random() < 0.25 else segs[1]
        weights = np.array([v["weight"] for v in s["variants"]], float)
        v = s["variants"][rng.choice(len(weights), p=weights / weights.sum())]["key"]
        t = T0 + int(rng.integers(0, 3 * 86400))
        add(unit, "exposure", t, s["key"], v, channel=("push" if rng.random() < 0.2 else ""))
        if rng.random() < 0.01:  # sent again a day later, in another arm: the first exposure decides
            other = [x["key"] for x in s["variants"] if x["key"] != v][int(rng.integers(0, 2))]
            add(unit, "exposure", t + 86400 + int(rng.integers(0, 3600)), s["key"], other)
        lift_open, lift_conv = effect.get((s["key"], v), (1.0, 1.0))
        channel = "push" if rng.random() < 0.05 else ""
        if rng.random() < 0.06:  # a privacy proxy fetches the pixel at delivery
            add(unit, "open", t + int(rng.integers(1, 60)), channel=channel, machine="true")
        if rng.random() < (0.30 if s["key"] == "vip" else 0.22) * lift_open:
            to = t + int(rng.integers(60, 2 * 86400))
            add(unit, "open", to, channel=channel, machine=("false" if rng.random() < 0.5 else ""))
            if rng.random() < 0.35:
                tc = to + int(rng.integers(5, 3600))
                add(unit, "click", tc, channel=channel)
                if rng.random() < 0.12 * lift_conv:
                    for _ in range(1 + int(rng.random() < 0.15)):
                        revenue = rng.lognormal(3.2, 0.9) if rng.random() < 0.95 else 200 * (1 + rng.pareto(1.5))
                        add(unit, "conversion", tc + int(rng.integers(30, 86400)), value=f"{revenue:.2f}")
        elif rng.random() < 0.01:  # a scanner clicks every link
            add(unit, "click", t + int(rng.integers(1, 30)), machine="1")
        if rng.random() < 0.004:
            add(unit, "unsubscribe", t + int(rng.integers(60, 86400)))
        if rng.random() < 0.001:
            add(unit, "complaint", t + int(rng.integers(60, 86400)))
    for i in range(50):  # never exposed in this campaign: counts nowhere
        add(f"stranger{i}", "open", T0 + int(rng.integers(0, 86400)))
    dups = [list(rows[int(k)]) for k in rng.integers(0, len(rows), size=len(rows) // 50)]
    rows.extend(dups)
    order = rng.permutation(len(rows))
    return [rows[int(k)] for k in order]


def seconds(text):
    if text.isdigit():
        return int(text)
    return int(datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


def events_of(path, channel):
    """The file's distinct events, by the documented identity rule."""
    seen, out = set(), []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            t = seconds(r["time"])
            value = float(r["value"]) if r["value"] else 0.0
            machine = r["machine"] in ("true", "1")
            ident = r["event_id"] or (r["unit"], r["kind"], t, r["segment"], r["variant"], value,
                                      r["channel"] or channel, machine)
            if ident in seen:
                continue
            seen.add(ident)
            out.append({"unit": r["unit"], "kind": r["kind"], "time": t, "segment": r["segment"],
                        "variant": r["variant"], "value": value, "machine": machine,
                        "channel": r["channel"] or channel})
    return out


def per_unit(events):
    first = {}
    for e in events:
        if e["kind"] == "exposure" and (e["unit"] not in first or e["time"] < first[e["unit"]]["time"]):
            first[e["unit"]] = e
    units = {u: {"segment": e["segment"], "variant": e["variant"], "channel": e["channel"], "open": False, "click": False,
                 "conversion": False, "unsubscribe": False, "complaint": False, "revenue": 0.0}
             for u, e in first.items()}
    for e in events:
        u = units.get(e["unit"])
        if u is None or e["kind"] == "exposure" or e["machine"]:
            continue
        u[e["kind"]] = True
        if e["kind"] == "conversion":
            u["revenue"] += e["value"]
    return units


def rate_parts(metric, us):
    n = len(us)
    if metric == "click_to_open":
        return sum(u["open"] and u["click"] for u in us), sum(u["open"] for u in us)
    kind = {"open_rate": "open", "click_rate": "click", "conversion_rate": "conversion",
            "unsubscribe_rate": "unsubscribe", "complaint_rate": "complaint"}[metric]
    return sum(u[kind] for u in us), n


def relative(x1, x2, var1, var2, zc):
    if x1 == 0:
        return None, None, None
    r = (x2 - x1) / abs(x1)
    v = var2 / x1 ** 2 + x2 ** 2 * var1 / x1 ** 4
    if v == 0:
        return r, None, None
    h = zc * math.sqrt(v)
    return r, r - h, r + h


def compare(metric, cu, tu, alpha):
    zc = stats.norm.ppf(1 - alpha / 2)
    if metric == "revenue_per_recipient":
        a = np.array([u["revenue"] for u in cu])
        b = np.array([u["revenue"] for u in tu])
        res = stats.ttest_ind(b, a, equal_var=False)
        v1, v2 = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        df = (v1 + v2) ** 2 / (v1 ** 2 / (len(a) - 1) + v2 ** 2 / (len(b) - 1))
        d = b.mean() - a.mean()
        h = stats.t.ppf(1 - alpha / 2, df) * math.sqrt(v1 + v2)
        r, rlo, rhi = relative(a.mean(), b.mean(), v1, v2, zc)
        return {"abs_lift": d, "abs_ci": [d - h, d + h], "rel_lift": r, "rel_ci": [rlo, rhi],
                "p_value": float(res.pvalue), "statistic": float(res.statistic), "df": df}
    x1, n1 = rate_parts(metric, cu)
    x2, n2 = rate_parts(metric, tu)
    p1, p2 = x1 / n1, x2 / n2
    z, p, lo, hi = None, None, None, None  # undefined where a standard error is 0, as the report says
    if 0 < (x1 + x2) / (n1 + n2) < 1:
        z, p = proportions_ztest([x2, x1], [n2, n1])
        z, p = float(z), float(p)
    if p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2 > 0:
        lo, hi = confint_proportions_2indep(x2, n2, x1, n1, method="wald", compare="diff", alpha=alpha)
        lo, hi = float(lo), float(hi)
    r, rlo, rhi = relative(p1, p2, p1 * (1 - p1) / n1, p2 * (1 - p2) / n2, zc)
    return {"abs_lift": p2 - p1, "abs_ci": [lo, hi], "rel_lift": r, "rel_ci": [rlo, rhi],
            "p_value": p, "statistic": z}


def expected(units, definition):
    """The report's segments; with breakdown_channel, each channel's units' report too (a breakdown by
    the exposure's channel)."""
    out = segments_of(units, definition)
    out["breakdown_channel"] = {}
    for value in sorted({u["channel"] for u in units.values()}):
        sub = {k: u for k, u in units.items() if u["channel"] == value}
        out["breakdown_channel"][value] = segments_of(sub, definition)["segments"]
    return out


def segments_of(units, definition):
    alpha = definition["retirement"]["alpha"]
    out = {"alpha": alpha, "segments": {}}
    for s in definition["segments"]:
        arms = [v["key"] for v in s["variants"]]
        control = next(v["key"] for v in s["variants"] if v.get("control"))
        by_arm = {a: [u for u in units.values() if u["segment"] == s["key"] and u["variant"] == a] for a in arms}
        seg = {"exposed": {a: len(by_arm[a]) for a in arms}, "metrics": {}}
        weights = np.array([v["weight"] for v in s["variants"]], float)
        observed = np.array([len(by_arm[a]) for a in arms], float)
        chi, p = stats.chisquare(observed, observed.sum() * weights / weights.sum())
        seg["srm"] = {"chi_square": float(chi), "p_value": float(p)}
        for m in METRICS:
            rows = {}
            for a in arms:
                if m == "revenue_per_recipient":
                    num, den = sum(u["revenue"] for u in by_arm[a]), len(by_arm[a])
                else:
                    num, den = rate_parts(m, by_arm[a])
                rows[a] = {"numerator": float(num), "denominator": float(den), "value": num / den}
                if a != control:
                    rows[a]["comparison"] = compare(m, by_arm[control], by_arm[a], alpha)
            treated = [a for a in arms if a != control and rows[a]["comparison"]["p_value"] is not None]
            for a in arms:
                if a != control:
                    rows[a]["comparison"]["p_value_holm"] = None
            if treated:
                holm = multipletests([rows[a]["comparison"]["p_value"] for a in treated], method="holm")[1]
                for a, h in zip(treated, holm):
                    rows[a]["comparison"]["p_value_holm"] = float(h)
            seg["metrics"][m] = rows
        out["segments"][s["key"]] = seg
    return out


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__.split("\n\n")[1])
    out_dir = sys.argv[1]
    units = int(sys.argv[2]) if len(sys.argv) == 3 else 40000
    with open(os.path.join(HERE, "experiment.json")) as f:
        definition = json.load(f)
    rng = np.random.default_rng(20260301)
    path = os.path.join(out_dir, "campaign.csv")
    rows = generate(units, rng, definition)
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        w.writerows(rows)
    events = events_of(path, definition["channel"])
    exp = expected(per_unit(events), definition)
    exp.update(rows=len(rows), events=len(events), units=units)
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(exp, f, indent=1, allow_nan=False)
    print(f"{path}: {len(rows)} rows, {len(events)} distinct events, {units} units")


if __name__ == "__main__":
    main()
