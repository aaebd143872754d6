#!/usr/bin/python3
"""Generate the reference vectors for package analytics/stats.

Run from the repository root with Debian's Python (python3-scipy, python3-statsmodels,
python3-mpmath):

    /usr/bin/python3 testdata/stats/generate.py

It writes testdata/stats/*.json. The output is deterministic: inputs are fixed in this file
or drawn from numpy's PCG64 with fixed seeds, and floats are written with repr (shortest
round-trip). Every expected value comes from scipy, statsmodels or mpmath, or from formulas
written here independently of the Go code; where no library defines a value (an empty arm, a
zero standard error) the case says "convention": true and states the package's convention.
"""

import json
import math
import os
import sys

import mpmath
import numpy as np
import scipy
import statsmodels
from scipy import integrate, optimize, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_effectsize,
    proportions_ztest,
)

OUT = os.path.dirname(os.path.abspath(__file__))


def header(desc, tolerance):
    return {
        "description": desc,
        "generator": "testdata/stats/generate.py",
        "versions": {"scipy": scipy.__version__, "statsmodels": statsmodels.__version__,
                     "numpy": np.__version__, "mpmath": mpmath.__version__},
        "tolerance": tolerance,
    }


def write(name, doc):
    path = os.path.join(OUT, name)
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True, allow_nan=False)
        f.write("\n")
    print(f"{name}: {len(doc['cases'])} cases")
    return len(doc["cases"])


def f(x):
    x = float(x)
    assert math.isfinite(x), x
    return x


def iv(lo, hi):
    return {"lower": f(lo), "upper": f(hi)}


def rel_lift(x1, x2, var1, var2, alpha):
    """Relative lift (x2 - x1)/|x1| and its delta-method interval (normal quantile), with its
    status: None for the lift when x1 is 0, None for the interval when its variance is 0."""
    if x1 == 0:
        return "zero_control", None, None
    r = (x2 - x1) / abs(x1)
    v = var2 / x1**2 + x2**2 * var1 / x1**4
    if v == 0:
        return "no_variance", f(r), None
    h = stats.norm.ppf(1 - alpha / 2) * math.sqrt(v)
    return "ok", f(r), iv(r - h, r + h)


ZERO_IV = iv(0, 0)


# Nothing tested: an empty arm, too few units. Every lift, interval, statistic and p-value is
# null (the package's convention: no library defines them).
UNTESTED = {"abs_lift": None, "abs_ci": None, "rel_status": "untested", "rel_lift": None,
            "rel_ci": None, "statistic": None, "p_value": None}


# ---------------------------------------------------------------- proportions


def proportions_case(name, c, t, alpha=0.05):
    x1, n1 = c
    x2, n2 = t
    case = {"name": name, "alpha": alpha,
            "control": {"successes": f(x1), "trials": f(n1)},
            "treatment": {"successes": f(x2), "trials": f(n2)}}
    if n1 == 0 or n2 == 0:
        case["convention"] = True
        case["expect"] = {"status": "empty_arm", "control": f(x1 / n1 if n1 else 0),
                          "treatment": f(x2 / n2 if n2 else 0), **UNTESTED}
        return case
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    status = "ok"
    if pooled in (0.0, 1.0):
        # statsmodels returns nan here: the statistic and p-value are undefined (null).
        case["convention"] = True
        status = "no_variance"
        z, p = None, None
    else:
        z, p = proportions_ztest([x2, x1], [n2, n1], value=0, alternative="two-sided",
                                 prop_var=False)
        z, p = f(z), f(p)
    var1, var2 = p1 * (1 - p1) / n1, p2 * (1 - p2) / n2
    if var1 + var2 == 0:
        # The Wald interval has a zero standard error: undefined (null).
        case["convention"] = True
        status = "no_variance"
        ci = None
    else:
        lo, hi = confint_proportions_2indep(x2, n2, x1, n1, method="wald", compare="diff",
                                            alpha=alpha)
        ci = iv(lo, hi)
    rs, r, rci = rel_lift(p1, p2, var1, var2, alpha)
    case["expect"] = {"status": status, "control": f(p1), "treatment": f(p2),
                      "abs_lift": f(p2 - p1), "abs_ci": ci, "rel_status": rs,
                      "rel_lift": r, "rel_ci": rci, "statistic": z, "p_value": p}
    return case


def gen_proportions():
    cases = [
        proportions_case("typical open rate", (2000, 10000), (2150, 10000)),
        proportions_case("typical click rate, unequal n", (310, 12000), (365, 11870)),
        proportions_case("negative lift", (5000, 20000), (4700, 20000)),
        proportions_case("alpha 0.01", (480, 4000), (560, 4100), 0.01),
        proportions_case("alpha 0.10", (48, 400), (61, 410), 0.10),
        proportions_case("identical rates", (123, 1000), (123, 1000)),
        proportions_case("control zero successes", (0, 500), (7, 500)),
        proportions_case("treatment zero successes", (9, 500), (0, 480)),
        proportions_case("both zero successes", (0, 1000), (0, 1000)),
        proportions_case("both all successes", (300, 300), (250, 250)),
        proportions_case("control all successes", (100, 100), (95, 100)),
        proportions_case("zero against all", (0, 20), (20, 20)),
        proportions_case("one trial each, one success", (0, 1), (1, 1)),
        proportions_case("one trial each, no success", (0, 1), (0, 1)),
        proportions_case("tiny counts", (1, 3), (2, 4)),
        proportions_case("empty control", (0, 0), (3, 10)),
        proportions_case("empty treatment", (3, 10), (0, 0)),
        proportions_case("huge counts 1e9", (200_000_000, 1_000_000_000),
                         (200_040_000, 1_000_000_000)),
        proportions_case("huge counts, tiny rate", (1_000, 1_000_000_000),
                         (1_150, 1_000_000_000)),
        proportions_case("huge counts, p-value underflow region", (200_000_000, 1_000_000_000),
                         (201_000_000, 1_000_000_000)),
        proportions_case("beyond 2^32", (1e10, 5e10), (1.0001e10, 5e10)),
    ]
    doc = header(
        "Two-proportion z-test (statsmodels proportions_ztest, pooled), Wald CI of the "
        "difference (statsmodels confint_proportions_2indep method=wald compare=diff), "
        "relative lift p2/p1-1 with a delta-method CI (formula in generate.py).",
        {"p_value": "relative 1e-9", "statistic": "relative 1e-9, absolute 1e-12",
         "intervals and lifts": "relative 1e-9, absolute 1e-12"})
    doc["cases"] = cases
    return write("proportions.json", doc)


# ---------------------------------------------------------------- means


def moments_of(x):
    x = np.asarray(x, dtype=np.float64)
    return {"n": f(len(x)), "sum": f(x.sum()), "sum_sq": f((x * x).sum())}


def moments_from(n, mean, sd):
    return {"n": f(n), "sum": f(n * mean), "sum_sq": f((n - 1) * sd * sd + n * mean * mean)}


def mean_var(m):
    n = m["n"]
    if n == 0:
        return 0.0, 0.0
    mean = m["sum"] / n
    if n < 2:
        return mean, 0.0
    return mean, max(0.0, (m["sum_sq"] - mean * m["sum"]) / (n - 1))


def t_ppf(q, df):
    # scipy 1.10's t.ppf is good to ~4e-10 relative at small df (its t.cdf to ~1e-16):
    # polish with Newton steps on the cdf.
    x = stats.t.ppf(q, df)
    for _ in range(3):
        x -= (stats.t.cdf(x, df) - q) / stats.t.pdf(x, df)
    return x


def means_case(name, c, t, alpha=0.05, raw=None):
    case = {"name": name, "alpha": alpha, "control": c, "treatment": t}
    m1, v1 = mean_var(c)
    m2, v2 = mean_var(t)
    n1, n2 = c["n"], t["n"]
    if n1 == 0 or n2 == 0 or n1 < 2 or n2 < 2:
        case["convention"] = True
        case["expect"] = {"status": "empty_arm" if n1 == 0 or n2 == 0 else "too_few_units",
                          "control": f(m1), "treatment": f(m2), **UNTESTED}
        return case
    a, b = v1 / n1, v2 / n2
    d = m2 - m1
    if a + b == 0:
        # scipy returns nan: with no variance the statistic, p-value and interval are null.
        case["convention"] = True
        rs, r, rci = rel_lift(m1, m2, a, b, alpha)
        case["expect"] = {"status": "no_variance", "control": f(m1), "treatment": f(m2),
                          "abs_lift": f(d), "abs_ci": None, "rel_status": rs,
                          "rel_lift": r, "rel_ci": rci, "statistic": None, "p_value": None}
        return case
    res = stats.ttest_ind_from_stats(m2, math.sqrt(v2), n2, m1, math.sqrt(v1), n1,
                                     equal_var=False)
    df = (a + b) ** 2 / (a * a / (n1 - 1) + b * b / (n2 - 1))
    # The Welch–Satterthwaite df above must be the one scipy used.
    assert abs(2 * stats.t.sf(abs(res.statistic), df) - res.pvalue) <= 1e-12 + 1e-9 * res.pvalue
    if raw is not None:
        r2 = stats.ttest_ind(raw[1], raw[0], equal_var=False)
        assert abs(r2.pvalue - res.pvalue) <= 1e-9 * res.pvalue + 1e-15, (r2, res)
    h = t_ppf(1 - alpha / 2, df) * math.sqrt(a + b)
    rs, r, rci = rel_lift(m1, m2, a, b, alpha)
    case["expect"] = {"status": "ok", "control": f(m1), "treatment": f(m2), "abs_lift": f(d),
                      "abs_ci": iv(d - h, d + h), "rel_status": rs, "rel_lift": r,
                      "rel_ci": rci, "statistic": f(res.statistic), "df": f(df),
                      "p_value": f(res.pvalue)}
    return case


def gen_means():
    rng = np.random.default_rng(20240601)
    cases = []
    for i, (n1, n2, mu1, mu2, s1, s2) in enumerate([
            (500, 520, 3.0, 3.4, 2.0, 2.5), (40, 25, 10.0, 12.0, 4.0, 9.0),
            (5000, 5000, 1.2, 1.25, 3.0, 3.1), (3, 4, 1.0, 2.0, 0.5, 0.7)]):
        x1 = np.round(rng.normal(mu1, s1, n1), 2)
        x2 = np.round(rng.normal(mu2, s2, n2), 2)
        cases.append(means_case(f"raw sample {i}", moments_of(x1), moments_of(x2), raw=(x1, x2)))
    # Revenue per recipient: mostly zeros, a few purchases.
    x1 = np.where(rng.random(20000) < 0.02, np.round(rng.gamma(2.0, 25.0, 20000), 2), 0.0)
    x2 = np.where(rng.random(20000) < 0.023, np.round(rng.gamma(2.0, 25.0, 20000), 2), 0.0)
    cases.append(means_case("revenue per recipient, zero-inflated", moments_of(x1), moments_of(x2),
                            raw=(x1, x2)))
    cases += [
        means_case("alpha 0.01", moments_from(800, 5.0, 2.0), moments_from(700, 5.3, 2.4), 0.01),
        means_case("two units each", moments_of([1.0, 3.0]), moments_of([2.0, 6.0])),
        means_case("negative control mean", moments_from(300, -2.0, 1.0),
                   moments_from(300, -1.8, 1.1)),
        means_case("control mean zero", moments_of([-1.0, 1.0, -2.0, 2.0]),
                   moments_of([0.5, 1.5, 2.5, 0.5])),
        means_case("one arm constant", moments_of([2.0] * 10), moments_of([1.0, 2.0, 3.0, 4.0])),
        means_case("both constant, equal", moments_of([2.0] * 5), moments_of([2.0] * 7)),
        means_case("both constant, different", moments_of([0.0] * 5), moments_of([5.0] * 7)),
        means_case("one unit in an arm", moments_of([4.0]), moments_of([1.0, 2.0, 3.0])),
        means_case("empty arm", moments_of([]), moments_of([1.0, 2.0, 3.0])),
        means_case("huge n 1e9", moments_from(1e9, 5.0, 10.0), moments_from(1e9, 5.001, 10.0)),
        means_case("huge n 1e9, unequal", moments_from(1e9, 0.8, 12.0),
                   moments_from(2e8, 0.81, 15.0)),
        means_case("df near 1e5 switch", moments_from(50001, 1.0, 2.0),
                   moments_from(50001, 1.03, 2.0)),
    ]
    doc = header(
        "Welch's t-test from n, sum and sum of squares (scipy ttest_ind_from_stats, "
        "equal_var=False; raw-sample cases also checked against ttest_ind on the data), CI of "
        "the difference with the Welch–Satterthwaite df and scipy's t quantile (Newton-polished), "
        "relative lift with a delta-method CI.",
        {"p_value": "relative 1e-8", "statistic and df": "relative 1e-9",
         "intervals and lifts": "relative 1e-9, absolute 1e-12"})
    doc["cases"] = cases
    return write("means.json", doc)


# ---------------------------------------------------------------- SRM


def srm_case(name, observed, weights):
    obs = np.asarray(observed, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    total = obs.sum()
    pos = w > 0
    # Expected counts share out the observations of the arms that have weight; observations
    # in zero-weight arms are flagged, not tested.
    exp_all = obs[pos].sum() * w / w.sum()
    empty = [int(i) for i in np.flatnonzero(pos & (obs == 0))] if total > 0 else []
    unexpected = [int(i) for i in np.flatnonzero(~pos & (obs > 0))]
    if obs[pos].sum() == 0:
        chi, p, dof = 0.0, 1.0, 0
    elif pos.sum() < 2:
        chi, p, dof = 0.0, 1.0, 0
    else:
        chi, p = stats.chisquare(obs[pos], exp_all[pos])
        dof = int(pos.sum()) - 1
    mismatch = bool(p < 0.001 or empty or unexpected)
    return {"name": name, "observed": [f(x) for x in obs], "weights": [f(x) for x in w],
            "expect": {"total": f(total), "expected": [f(x) for x in exp_all],
                       "chi_square": f(chi), "df": dof, "p_value": f(p),
                       "empty_arms": empty, "unexpected_arms": unexpected,
                       "mismatch": mismatch}}


def gen_srm():
    cases = [
        srm_case("balanced, no mismatch", [10013, 9987], [1, 1]),
        srm_case("three arms 50/25/25, fine", [5030, 2480, 2490], [2, 1, 1]),
        srm_case("three arms, mismatch", [5300, 2300, 2400], [2, 1, 1]),
        srm_case("four arms equal", [2510, 2470, 2530, 2490], [1, 1, 1, 1]),
        srm_case("zero in an arm with weight", [30, 0, 28], [1, 1, 1]),
        srm_case("tiny counts, zero arm", [1, 0], [1, 1]),
        srm_case("observations in a zero-weight arm", [500, 480, 3], [1, 1, 0]),
        srm_case("zero-weight arm empty, ignored", [500, 480, 0], [1, 1, 0]),
        srm_case("no observations", [0, 0, 0], [1, 1, 1]),
        srm_case("huge counts, slight imbalance", [1_000_050_000, 999_950_000], [1, 1]),
        srm_case("huge counts, balanced", [1_000_010_000, 999_990_000], [1, 1]),
        srm_case("huge counts, weights 9:1", [900_000_000, 100_010_000], [9, 1]),
    ]
    doc = header("Sample ratio mismatch: scipy.stats.chisquare against configured weights; "
                 "arms of zero weight left out of the statistic.",
                 {"chi_square": "relative 1e-12", "p_value": "relative 1e-9, absolute 1e-300"})
    doc["cases"] = cases
    return write("srm.json", doc)


# ---------------------------------------------------------------- multiple testing


def gen_adjust():
    rng = np.random.default_rng(7)
    inputs = [
        [0.01, 0.04, 0.03],
        [0.001, 0.2, 0.03, 0.04, 0.5],
        [0.05, 0.05, 0.05],
        [0.0, 1.0, 0.5],
        [0.3],
        [0.02, 0.0001, 0.9, 0.04, 0.011, 0.6, 0.0003],
        list(rng.uniform(0, 0.1, 10)),
    ]
    cases = []
    for p in inputs:
        holm = multipletests(p, method="holm")[1]
        bh = multipletests(p, method="fdr_bh")[1]
        cases.append({"name": f"{len(p)} p-values", "p": [f(x) for x in p],
                      "holm": [f(x) for x in holm], "bh": [f(x) for x in bh]})
    doc = header("Holm and Benjamini–Hochberg adjusted p-values (statsmodels multipletests).",
                 {"adjusted": "absolute 1e-15"})
    doc["cases"] = cases
    return write("adjust.json", doc)


# ---------------------------------------------------------------- Bayesian


def prob_beat_exact(aC, bC, aT, bT):
    """P(θT > θC) for integer-parameter Betas: Evan Miller's closed form, in mpmath."""
    mpmath.mp.dps = 40

    def one(aA, bA, aB, bB):  # P(B > A), summing over aB terms
        total = mpmath.mpf(0)
        base = mpmath.log(mpmath.beta(aA, bA))
        for i in range(int(aB)):
            total += mpmath.exp(mpmath.log(mpmath.beta(aA + i, bA + bB)) - mpmath.log(bB + i)
                                - mpmath.log(mpmath.beta(1 + i, bB)) - base)
        return total

    if aT <= aC:
        return float(one(aC, bC, aT, bT))
    return float(1 - one(aT, bT, aC, bC))


def log_rel(a, b, mean, dx):
    if not (-mean < dx < 1 - mean):
        return -math.inf
    out = 0.0
    if a != 1:
        out += (a - 1) * math.log1p(dx / mean)
    if b != 1:
        out += (b - 1) * math.log1p(-dx / (1 - mean))
    return out


def prob_beat_quad(aC, bC, aT, bT):
    """P(θT > θC) by nested adaptive quadrature in standardised coordinates (for counts where
    the closed form's sum is too long). Densities relative to their mean; normalised by their
    own integral."""
    def moments(a, b):
        m = a / (a + b)
        return m, math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))

    mC, sC = moments(aC, bC)
    mT, sT = moments(aT, bT)
    gC = lambda u: math.exp(log_rel(aC, bC, mC, sC * u))
    gT = lambda v: math.exp(log_rel(aT, bT, mT, sT * v))
    L = 40.0
    # Standardised windows: ±L sd, clipped to the support (0, 1).
    loC, hiC = max(-L, -mC / sC), min(L, (1 - mC) / sC)
    loT, hiT = max(-L, -mT / sT), min(L, (1 - mT) / sT)
    zC = integrate.quad(gC, loC, hiC, epsabs=0, epsrel=1e-13, limit=200)[0]
    zT = integrate.quad(gT, loT, hiT, epsabs=0, epsrel=1e-13, limit=200)[0]

    def inner(u):
        v0 = (mC + sC * u - mT) / sT
        if v0 >= hiT:
            return 0.0
        return integrate.quad(gT, max(v0, loT), hiT, epsabs=1e-16, epsrel=1e-13, limit=200)[0]

    num = integrate.quad(lambda u: gC(u) * inner(u), loC, hiC, epsabs=1e-16, epsrel=1e-12,
                         limit=200)[0]
    return num / (zC * zT)


def gen_prob_beat():
    cases = []

    def add(name, c, t, prior=(1, 1), method="exact"):
        aC, bC = prior[0] + c[0], prior[1] + c[1] - c[0]
        aT, bT = prior[0] + t[0], prior[1] + t[1] - t[0]
        if method == "exact":
            p = prob_beat_exact(aC, bC, aT, bT)
        else:
            p = prob_beat_quad(aC, bC, aT, bT)
        cases.append({"name": name, "method": method,
                      "prior": {"alpha": f(prior[0]), "beta": f(prior[1])},
                      "control": {"successes": f(c[0]), "trials": f(c[1])},
                      "treatment": {"successes": f(t[0]), "trials": f(t[1])},
                      "expect": f(p)})

    add("no data", (0, 0), (0, 0))
    add("one trial each", (0, 1), (1, 1))
    add("tiny counts", (1, 3), (2, 4))
    add("both zero successes", (0, 100), (0, 80))
    add("all successes", (50, 50), (49, 50))
    add("typical", (200, 1000), (230, 1000))
    add("typical, prior Beta(2,8)", (200, 1000), (230, 1000), prior=(2, 8))
    add("unequal n", (40, 2000), (900, 30000))
    add("treatment worse", (3000, 10000), (2850, 10000))
    add("large counts exact", (20000, 100000), (20300, 100000))
    # The quadrature reference must agree with the closed form where both apply.
    exact = prob_beat_exact(2001, 8001, 2101, 7901)
    quad = prob_beat_quad(2001, 8001, 2101, 7901)
    assert abs(exact - quad) < 1e-10, (exact, quad)
    add("medium, quadrature", (2000, 10000), (2100, 10000), method="quad")
    add("huge 1e9", (200_000_000, 1_000_000_000), (200_020_000, 1_000_000_000), method="quad")
    add("huge 1e9 vs small", (200_000_000, 1_000_000_000), (230, 1000), method="quad")
    add("huge tiny rate", (1_000, 1_000_000_000), (1_050, 1_000_000_000), method="quad")
    doc = header("Probability that the treatment's rate beats the control's under Beta "
                 "posteriors: Evan Miller's closed form in mpmath (exact for integer parameters) "
                 "or nested adaptive quadrature (scipy.integrate.quad) for huge counts.",
                 {"probability": "absolute 1e-9"})
    doc["cases"] = cases
    return write("prob_beat.json", doc)


def gen_prob_best():
    cases = []

    def add(name, arms, prior=(1, 1)):
        params = [(prior[0] + x, prior[1] + n - x) for x, n in arms]
        dists = [stats.beta(a, b) for a, b in params]
        probs = []
        for i, d in enumerate(dists):
            lo, hi = d.ppf(1e-15), d.isf(1e-15)
            # Break the range where another arm's CDF rises, so that a narrow arm beside a
            # broad one is not stepped over by the adaptive rule.
            pts = sorted({float(q) for j, e in enumerate(dists) if j != i
                          for q in e.ppf([1e-12, 1e-6, 0.01, 0.25, 0.5, 0.75, 0.99, 1 - 1e-6, 1 - 1e-12])
                          if lo < q < hi})
            fn = lambda x, i=i, d=d: d.pdf(x) * np.prod(
                [dists[j].cdf(x) for j in range(len(dists)) if j != i])
            probs.append(integrate.quad(fn, lo, hi, points=pts or None, epsabs=1e-14, epsrel=1e-12,
                                        limit=2000)[0])
        assert abs(sum(probs) - 1) < 1e-9, (name, probs, sum(probs))
        cases.append({"name": name, "prior": {"alpha": f(prior[0]), "beta": f(prior[1])},
                      "arms": [{"successes": f(x), "trials": f(n)} for x, n in arms],
                      "expect": [f(p) for p in probs]})

    add("four arms", [(200, 1000), (215, 1000), (190, 1000), (230, 1000)])
    add("three arms, clear winner", [(100, 2000), (160, 2000), (110, 2000)])
    add("two arms", [(30, 100), (36, 100)])
    add("no data", [(0, 0), (0, 0), (0, 0)])
    add("tiny counts", [(0, 2), (1, 2), (2, 3)])
    add("narrow beside broad", [(3, 10), (30000, 100000), (310, 1000)])
    add("five arms, close", [(5000, 25000), (5100, 25000), (5050, 25000), (4950, 25000), (5080, 25000)])
    add("six arms, mixed sizes", [(12, 80), (130, 800), (1450, 8000), (15, 80), (0, 0), (14000, 80000)])
    add("rates near 1", [(999990, 1000000), (999995, 1000000), (999980, 1000000)])
    add("rare events, large counts", [(12, 2000000), (20, 2000000), (15, 2000000)])
    add("prior Beta(2, 8)", [(20, 100), (25, 100), (18, 100)], prior=(2, 8))
    add("all zero successes", [(0, 5000), (0, 6000), (0, 4000)])
    doc = header("Probability to be best among k arms by numerical integration "
                 "(scipy.integrate.quad of f_i·∏F_j, broken where the other arms' CDFs rise); "
                 "the Go code integrates with a composite Gauss–Legendre rule.",
                 {"probability": "absolute 1e-9"})
    doc["cases"] = cases
    return write("prob_best.json", doc)


# ---------------------------------------------------------------- CUPED


def cuped_fit(formula, df, alpha):
    """statsmodels OLS with HC0 standard errors (normal p-values and intervals, as fit gives for a
    robust covariance): the treatment coefficient and, for the adjusted model, the covariate's."""
    import statsmodels.formula.api as smf
    res = smf.ols(formula, df).fit(cov_type="HC0")
    se = float(res.bse["treatment"])
    est = {"diff": f(res.params["treatment"]), "std_err": f(se)}
    if se > 0:
        lo, hi = res.conf_int(alpha=alpha).loc["treatment"]
        est.update(ci=iv(lo, hi), statistic=f(res.tvalues["treatment"]), p_value=f(res.pvalues["treatment"]))
    else:
        est.update(ci=None, statistic=None, p_value=None)
    return res, est


def cuped_case(name, yc, xc, yt, xt, alpha=0.05):
    import pandas as pd
    case = {"name": name, "alpha": alpha,
            "control": {"y": [f(v) for v in yc], "x": [f(v) for v in xc]},
            "treatment": {"y": [f(v) for v in yt], "x": [f(v) for v in xt]}}
    df = pd.DataFrame({"y": np.concatenate([yc, yt]), "covariate": np.concatenate([xc, xt]),
                       "treatment": np.r_[np.zeros(len(yc)), np.ones(len(yt))]})
    _, unadj = cuped_fit("y ~ treatment", df, alpha)
    within = sum(((np.asarray(x) - np.mean(x)) ** 2).sum() for x in (xc, xt))
    if within == 0:
        case["convention"] = True  # statsmodels' design is singular: the adjusted model is undefined
        case["expect"] = {"status": "constant_covariate", "theta": None, "adjusted": None,
                          "unadjusted": unadj, "variance_reduction": None}
        return case
    res, adj = cuped_fit("y ~ treatment + covariate", df, alpha)
    status = "ok" if adj["p_value"] is not None and unadj["p_value"] is not None else "no_variance"
    vr = 1 - adj["std_err"] ** 2 / unadj["std_err"] ** 2 if unadj["std_err"] > 0 else None
    case["expect"] = {"status": status, "theta": f(res.params["covariate"]), "adjusted": adj,
                      "unadjusted": unadj, "variance_reduction": None if vr is None else f(vr)}
    return case


def gen_cuped():
    rng = np.random.default_rng(20251214)
    cases = []

    def binary(n, p_pre, lift, rho):
        """A rate metric: pre-period indicator x, outcome y more likely after a pre-period event."""
        x = (rng.random(n) < p_pre).astype(float)
        y = (rng.random(n) < 0.1 + lift + rho * x).astype(float)
        return y, x

    def revenue(n, lift):
        """Heavy-tailed revenue: most units 0, the rest lognormal; the pre-period spend predicts it."""
        x = np.where(rng.random(n) < 0.3, rng.lognormal(2.0, 1.2, n), 0.0)
        base = 0.6 * x + np.where(rng.random(n) < 0.25, rng.lognormal(1.8, 1.3, n), 0.0)
        return np.round(base * (1 + lift), 2), np.round(x, 2)

    yc, xc = binary(1500, 0.3, 0.0, 0.25)
    yt, xt = binary(1400, 0.3, 0.02, 0.25)
    cases.append(cuped_case("open rate, correlated pre-period", yc, xc, yt, xt))
    yc, xc = revenue(1200, 0.0)
    yt, xt = revenue(1300, 0.08)
    cases.append(cuped_case("heavy-tailed revenue", yc, xc, yt, xt))
    yc, xc = revenue(800, 0.0)
    yt, xt = revenue(700, 0.0)
    cases.append(cuped_case("revenue, alpha 0.1", yc, xc, yt, xt, alpha=0.1))
    yc, xc = binary(600, 0.5, 0.0, 0.0)
    yt, xt = binary(650, 0.5, 0.0, 0.0)
    cases.append(cuped_case("uncorrelated covariate", yc, xc, yt, xt))
    yc, xc = revenue(500, 0.0)
    yt, xt = revenue(500, 0.05)
    # Centring matters: the design has a column near 1e3. (At 1e6, float64 itself cannot give a
    # difference of 0.4 to 1e-9: summing 500 values of 1e6 leaves ~1e-10 in the mean, on either side.)
    cases.append(cuped_case("large offset", yc + 1e3, xc + 5e2, yt + 1e3, xt + 5e2))
    yc, _ = binary(400, 0.0, 0.0, 0.0)
    yt, _ = binary(420, 0.0, 0.05, 0.0)
    cases.append(cuped_case("no pre-period history", yc, np.zeros(400), yt, np.zeros(420)))
    cases.append(cuped_case("two units per arm", np.array([1.0, 3.0]), np.array([0.0, 2.0]),
                            np.array([2.0, 5.0]), np.array([1.0, 2.0])))
    cases.append(cuped_case("imbalanced covariate", *binary(900, 0.2, 0.0, 0.3), *binary(950, 0.35, 0.0, 0.3)))
    doc = header("CUPED: the treatment coefficient of statsmodels OLS y ~ treatment + covariate with "
                 "HC0 standard errors (normal intervals and p-values), beside y ~ treatment, on "
                 "per-unit data.", {"estimates": "relative 1e-9, absolute 1e-12"})
    doc["cases"] = cases
    return write("cuped.json", doc)


# ---------------------------------------------------------------- mSPRT


def msprt_ref(d, varC, varT, nC, nT, alpha, tau2std):
    """Johari, Pekelis, Walsh (2017): mixture likelihood ratio with θ ~ N(0, τ²), and the
    confidence sequence found by root-finding on the test's rejection boundary (not by the
    closed form the Go code uses)."""
    V = varC / nC + varT / nT
    tau2 = tau2std * (varC + varT) / 2
    if not (V > 0 and tau2 > 0):
        return {"defined": False, "log_lr": 0.0, "p_value": 1.0, "ci": ZERO_IV}

    def loglr(delta):  # log Λ for H0: θ = d - delta
        return 0.5 * math.log(V / (V + tau2)) + tau2 * delta * delta / (2 * V * (V + tau2))

    ll = loglr(d)
    target = math.log(1 / alpha)
    # loglr is increasing in |delta|; find the half-width where it crosses log(1/α).
    hi = math.sqrt(V)
    while loglr(hi) < target:
        hi *= 2
    half = optimize.brentq(lambda x: loglr(x) - target, 0, hi, xtol=1e-300, rtol=1e-15,
                           maxiter=500)
    return {"defined": True, "log_lr": f(ll), "p_value": f(min(1.0, math.exp(-ll))),
            "ci": iv(d - half, d + half), "tau2": f(tau2), "std_err": f(math.sqrt(V))}


def msprt_prop(c, t, alpha=0.05, tau2=0.0025):
    (x1, n1), (x2, n2) = c, t
    if n1 == 0 or n2 == 0:
        return {"defined": False, "log_lr": 0.0, "p_value": 1.0, "ci": ZERO_IV}
    p1, p2 = x1 / n1, x2 / n2
    return msprt_ref(p2 - p1, p1 * (1 - p1), p2 * (1 - p2), n1, n2, alpha, tau2)


def msprt_means(c, t, alpha=0.05, tau2=0.0025):
    m1, v1 = mean_var(c)
    m2, v2 = mean_var(t)
    if c["n"] < 2 or t["n"] < 2:
        return {"defined": False, "log_lr": 0.0, "p_value": 1.0, "ci": ZERO_IV}
    return msprt_ref(m2 - m1, v1, v2, c["n"], t["n"], alpha, tau2)


def gen_msprt():
    cases = []

    def prop(name, c, t, alpha=0.05, tau2=0.0025):
        cases.append({"name": name, "kind": "proportions", "alpha": alpha, "tau2": tau2,
                      "control": {"successes": f(c[0]), "trials": f(c[1])},
                      "treatment": {"successes": f(t[0]), "trials": f(t[1])},
                      "expect": msprt_prop(c, t, alpha, tau2)})

    def means(name, c, t, alpha=0.05, tau2=0.0025):
        cases.append({"name": name, "kind": "means", "alpha": alpha, "tau2": tau2,
                      "control": c, "treatment": t, "expect": msprt_means(c, t, alpha, tau2)})

    prop("typical, no evidence", (2000, 10000), (2050, 10000))
    prop("typical, strong evidence", (2000, 10000), (2300, 10000))
    prop("unequal n", (310, 12000), (420, 11000))
    prop("tau2 0.01, alpha 0.1", (2000, 10000), (2150, 10000), 0.1, 0.01)
    prop("tau2 1e-4", (20000, 100000), (20600, 100000), 0.05, 1e-4)
    prop("zero successes in control", (0, 400), (12, 400))
    prop("zero successes in both", (0, 400), (0, 400))
    prop("one trial each", (0, 1), (1, 1))
    prop("empty arm", (0, 0), (5, 10))
    prop("huge 1e9", (200_000_000, 1_000_000_000), (200_100_000, 1_000_000_000))
    prop("huge 1e9, overwhelming", (200_000_000, 1_000_000_000), (210_000_000, 1_000_000_000))
    means("means typical", moments_from(5000, 3.0, 4.0), moments_from(5000, 3.2, 4.1))
    means("means alpha 0.01 tau2 0.04", moments_from(800, 10.0, 5.0),
          moments_from(900, 11.0, 6.0), 0.01, 0.04)
    means("means constant", moments_of([1.0, 1.0, 1.0]), moments_of([1.0, 1.0]))
    means("means one unit", moments_of([1.0]), moments_of([1.0, 2.0]))
    means("means huge", moments_from(1e9, 5.0, 10.0), moments_from(1e9, 5.002, 10.0))

    # Sequences of cumulative looks: running minimum p-value, running intersection CI.
    seqs = []
    rng = np.random.default_rng(99)
    for name, pc, pt in [("A/A looks", 0.2, 0.2), ("A/B looks", 0.2, 0.23)]:
        x = np.cumsum(rng.random((20, 2, 250)) < np.array([pc, pt])[None, :, None], axis=2)
        looks, run_p, run_ci = [], 1.0, None
        c = t = (0, 0)
        for k in range(20):
            c = (c[0] + int(x[k, 0, -1]), c[1] + 250)
            t = (t[0] + int(x[k, 1, -1]), t[1] + 250)
            e = msprt_prop(c, t)
            run_p = min(run_p, e["p_value"])
            if run_ci is None:
                run_ci = dict(e["ci"])
            else:
                lo = max(run_ci["lower"], e["ci"]["lower"])
                hi = min(run_ci["upper"], e["ci"]["upper"])
                run_ci = {"lower": lo, "upper": hi} if lo <= hi else dict(e["ci"])
            looks.append({"control": {"successes": f(c[0]), "trials": f(c[1])},
                          "treatment": {"successes": f(t[0]), "trials": f(t[1])},
                          "p_value": f(e["p_value"]), "running_p_value": f(run_p),
                          "running_ci": iv(run_ci["lower"], run_ci["upper"])})
        seqs.append({"name": name, "alpha": 0.05, "tau2": 0.0025, "looks": looks})
    doc = header(
        "mSPRT for a difference of proportions and of means (Johari, Pekelis, Walsh 2017) with "
        "mixture N(0, tau2·(σC²+σT²)/2): log Λ from the closed form, the confidence sequence "
        "by brentq on the rejection boundary; sequences of looks with the running minimum "
        "p-value and the running intersection of intervals.",
        {"log_lr and p_value": "relative 1e-9, absolute 1e-300",
         "intervals": "relative 1e-9, absolute 1e-12"})
    doc["cases"] = cases
    doc["sequences"] = seqs
    return write("msprt.json", doc)


# ---------------------------------------------------------------- power


def gen_power():
    cases = []
    solver = NormalIndPower()

    def prop(name, baseline, value, relative, alpha=0.05, power=0.8):
        p2 = baseline * (1 + value) if relative else baseline + value
        h = abs(proportion_effectsize(p2, baseline))
        n = solver.solve_power(effect_size=h, nobs1=None, alpha=alpha, power=power, ratio=1.0,
                               alternative="two-sided")
        n = float(np.squeeze(n))
        # solve_power's root must satisfy the power equation it states.
        got = solver.power(effect_size=h, nobs1=n, alpha=alpha, ratio=1.0, alternative="two-sided")
        assert abs(got - power) < 1e-7, (got, power)
        cases.append({"name": name, "kind": "proportions", "baseline": f(baseline),
                      "effect": {"value": f(value), "relative": relative}, "alpha": alpha,
                      "power": power, "expect": f(n)})

    def means(name, mean, variance, value, relative, alpha=0.05, power=0.8):
        delta = mean * value if relative else value
        d = abs(delta) / math.sqrt(variance)
        n = float(np.squeeze(solver.solve_power(effect_size=d, nobs1=None, alpha=alpha,
                                                power=power, ratio=1.0,
                                                alternative="two-sided")))
        cases.append({"name": name, "kind": "means", "mean": f(mean), "variance": f(variance),
                      "effect": {"value": f(value), "relative": relative}, "alpha": alpha,
                      "power": power, "expect": f(n)})

    prop("20% open rate, +10% relative", 0.20, 0.10, True)
    prop("20% open rate, +2pp absolute", 0.20, 0.02, False)
    prop("3% click rate, +15% relative, power 0.9", 0.03, 0.15, True, 0.05, 0.9)
    prop("0.5% conversion, -20% relative", 0.005, -0.20, True)
    prop("50%, +1pp, alpha 0.01", 0.50, 0.01, False, 0.01, 0.8)
    prop("large effect, tiny n", 0.10, 0.40, False, 0.05, 0.8)
    prop("baseline zero, absolute", 0.0, 0.01, False)
    means("revenue +5% relative", 2.5, 400.0, 0.05, True)
    means("mean +0.1 absolute, power 0.95", 10.0, 4.0, 0.1, False, 0.05, 0.95)
    means("mean -1 absolute, alpha 0.1", 0.0, 25.0, -1.0, False, 0.1, 0.8)
    doc = header("Sample size per arm: statsmodels NormalIndPower().solve_power, two-sided, "
                 "ratio 1, effect size Cohen's h (proportion_effectsize) for rates and Δ/σ for "
                 "means; unrounded.",
                 {"n": "relative 1e-6 (statsmodels' root finder)"})
    doc["cases"] = cases
    return write("power.json", doc)


def main():
    total = 0
    for g in (gen_proportions, gen_means, gen_srm, gen_adjust, gen_prob_beat, gen_prob_best,
              gen_msprt, gen_power, gen_cuped):
        total += g()
    print(f"total: {total} cases")


if __name__ == "__main__":
    main()
