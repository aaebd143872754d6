#!/usr/bin/python3
"""Reference vectors for the bandit's statistics in analytics/stats: the
phase-stratified estimate (stratified.json) and the probability to be best
of normal posteriors (prob_best_normal.json).

Run from the repository root: /usr/bin/python3 testdata/stats/generate_bandit.py

One-stratum cases are checked against statsmodels (confint_proportions_2indep
with the Wald method for rates; CompareMeans.zconfint_diff with unequal
variances for means); several strata against the stratified formula written
here with numpy and scipy.stats.norm. Probabilities to be best come from
scipy.integrate.quad of f_i * prod F_j.
"""
import json
import math
import os

import numpy as np
from scipy import integrate, stats
from statsmodels.stats.proportion import confint_proportions_2indep
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

OUT = os.path.dirname(os.path.abspath(__file__))
RNG = np.random.Generator(np.random.PCG64(20261202))


def f(x):
    x = float(x)
    assert math.isfinite(x)
    return x


def summary_rate(x, n):
    p = x / n
    return {"n": f(n), "mean": f(p), "var": f(p * (1 - p))}


def summary_values(vals):
    vals = np.asarray(vals, dtype=float)
    return {"n": f(len(vals)), "mean": f(vals.mean()), "var": f(vals.var(ddof=1))}


def stratified(strata, alpha):
    use = [s for s in strata if s["weight"] > 0 and s["control"]["n"] >= 2 and s["treatment"]["n"] >= 2]
    W = sum(s["weight"] for s in use)
    w = np.array([s["weight"] / W for s in use])
    mc = np.array([s["control"]["mean"] for s in use])
    mt = np.array([s["treatment"]["mean"] for s in use])
    vc = np.array([s["control"]["var"] / s["control"]["n"] for s in use])
    vt = np.array([s["treatment"]["var"] / s["treatment"]["n"] for s in use])
    C, T = float(w @ mc), float(w @ mt)
    V = float(w**2 @ (vc + vt))
    se = math.sqrt(V)
    z = stats.norm.ppf(1 - alpha / 2)
    d = T - C
    varC, varT = float(w**2 @ vc), float(w**2 @ vt)
    r = T / C - 1
    rse = math.sqrt(varT / C**2 + T**2 * varC / C**4)
    return {"defined": True, "control": f(C), "treatment": f(T), "diff": f(d), "std_err": f(se),
            "ci": {"lower": f(d - z * se), "upper": f(d + z * se)}, "p_value": f(2 * stats.norm.sf(abs(d) / se)),
            "rel_lift": f(r), "rel_ci": {"lower": f(r - z * rse), "upper": f(r + z * rse)},
            "strata": len(use), "dropped": len(strata) - len(use)}


def gen_stratified():
    cases = []
    # One stratum, rates: statsmodels' Wald interval of p2 - p1.
    for x1, n1, x2, n2 in ((120, 1000, 150, 1000), (30, 400, 22, 380), (5, 50, 9, 61)):
        s = [{"weight": 1.0, "control": summary_rate(x1, n1), "treatment": summary_rate(x2, n2)}]
        e = stratified(s, 0.05)
        lo, hi = confint_proportions_2indep(x2, n2, x1, n1, method="wald", compare="diff", alpha=0.05)
        assert abs(lo - e["ci"]["lower"]) < 1e-12 and abs(hi - e["ci"]["upper"]) < 1e-12, (lo, hi, e)
        cases.append({"name": "one stratum rate %d/%d vs %d/%d" % (x1, n1, x2, n2), "alpha": 0.05, "strata": s, "expect": e})
    # One stratum, means: statsmodels' normal interval with unequal variances.
    a, b = RNG.gamma(2.0, 10.0, 300), RNG.gamma(2.2, 10.0, 280)
    s = [{"weight": 1.0, "control": summary_values(a), "treatment": summary_values(b)}]
    e = stratified(s, 0.1)
    lo, hi = CompareMeans(DescrStatsW(b), DescrStatsW(a)).zconfint_diff(alpha=0.1, usevar="unequal")
    assert abs(lo - e["ci"]["lower"]) < 1e-9 and abs(hi - e["ci"]["upper"]) < 1e-9
    cases.append({"name": "one stratum mean", "alpha": 0.1, "strata": s, "expect": e})
    # Phases of a bandit: traffic weights, moving shares, a drifting baseline;
    # one phase with an arm too small to use.
    s = []
    for w, base, nc, nt in ((3000, 0.10, 1500, 1500), (2800, 0.14, 900, 1900), (3100, 0.08, 400, 2700), (500, 0.1, 1, 499)):
        xc = RNG.binomial(nc, base)
        xt = RNG.binomial(nt, base * 1.15)
        s.append({"weight": float(w), "control": summary_rate(xc, nc), "treatment": summary_rate(xt, nt)})
    cases.append({"name": "four phases, one unusable", "alpha": 0.05, "strata": s, "expect": stratified(s, 0.05)})
    s = []
    for w in (100.0, 250.0, 90.0):
        a, b = RNG.normal(5, 2, int(w)), RNG.normal(5.5, 3, int(w * 0.6))
        s.append({"weight": w, "control": summary_values(a), "treatment": summary_values(b)})
    cases.append({"name": "three phases, means", "alpha": 0.05, "strata": s, "expect": stratified(s, 0.05)})
    return {"description": "Phase-stratified difference of an arm against the control (see generate_bandit.py)",
            "generator": "testdata/stats/generate_bandit.py", "tolerance": "relative 1e-9 + absolute 1e-12", "cases": cases}


def gen_prob_best_normal():
    cases = []
    for name, arms in (("two arms", [(0.10, 0.0001), (0.11, 0.00012)]),
                       ("three arms", [(5.0, 0.04), (5.3, 0.05), (4.9, 0.03)]),
                       ("one wide", [(1.0, 0.01), (1.0, 1.0), (1.1, 0.02)])):
        probs = []
        for i, (m, v) in enumerate(arms):
            sd = math.sqrt(v)
            fn = lambda x, i=i, m=m, sd=sd: stats.norm.pdf(x, m, sd) * np.prod(
                [stats.norm.cdf(x, mj, math.sqrt(vj)) for j, (mj, vj) in enumerate(arms) if j != i])
            probs.append(integrate.quad(fn, m - 40 * sd, m + 40 * sd, epsabs=1e-13, epsrel=1e-11, limit=400)[0])
        assert abs(sum(probs) - 1) < 1e-8
        cases.append({"name": name, "arms": [{"mean": f(m), "var": f(v)} for m, v in arms], "expect": [f(p) for p in probs]})
    return {"description": "Probability each normal posterior is the highest (scipy quad)",
            "generator": "testdata/stats/generate_bandit.py", "tolerance": "4 Monte Carlo standard errors + 1e-9", "cases": cases}


def main():
    for name, doc in (("stratified.json", gen_stratified()), ("prob_best_normal.json", gen_prob_best_normal())):
        with open(os.path.join(OUT, name), "w") as fh:
            json.dump(doc, fh, indent=1, sort_keys=True, allow_nan=False)
            fh.write("\n")
        print(f"{name}: {len(doc['cases'])} cases")


if __name__ == "__main__":
    main()
