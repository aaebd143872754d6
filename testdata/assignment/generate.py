#!/usr/bin/python3
"""Generate Splitcast assignment test vectors from an independent implementation.

This file re-implements docs/assignment.md from the text alone, in plain
Python 3 with no third-party packages (its own murmur3 included), so that the
Go code is checked against a second reading of the contract rather than
against itself. Run from the repository root:

    /usr/bin/python3 testdata/assignment/generate.py > testdata/assignment/vectors.json

The output is deterministic: running it again must give the same file.
"""

import json
import re
import sys

# --- murmur3 x86 32-bit --------------------------------------------------------

def murmur3_32(data: bytes, seed: int = 0) -> int:
    c1, c2 = 0xCC9E2D51, 0x1B873593
    mask = 0xFFFFFFFF
    h = seed & mask
    n = len(data)
    nblocks = n // 4
    for i in range(nblocks):
        k = int.from_bytes(data[4 * i:4 * i + 4], "little")
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    tail = data[4 * nblocks:]
    k = 0
    for i, b in enumerate(tail):
        k |= b << (8 * i)
    if tail:
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
    h ^= n
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    h ^= h >> 16
    return h


def bucket(h: int) -> int:
    return (h * 10000) >> 32


# --- rule semantics --------------------------------------------------------------

NUMBER_RE = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
DATE_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
DATETIME_RE = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(\.[0-9]{1,9})?([Zz]|[+-][0-9]{2}:[0-9]{2})")


def is_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def parse_number(s):
    if NUMBER_RE.fullmatch(s) is None:
        return None
    return float(s)  # overflow gives inf, as in every IEEE-754 parser


def as_number(v):
    if is_number(v):
        return float(v)
    if isinstance(v, str):
        return parse_number(v)
    return None


def days_from_civil(y, m, d):
    # Howard Hinnant's algorithm: days since 1970-01-01.
    y -= m <= 2
    era = (y if y >= 0 else y - 399) // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def days_in(y, m):
    if m == 2:
        return 29 if (y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)) else 28
    return 30 if m in (4, 6, 9, 11) else 31


def parse_date(s):
    """Returns (unix seconds, nanoseconds) or None."""
    m = DATE_RE.fullmatch(s)
    if m:
        y, mo, d = map(int, m.groups())
        if y < 1 or not 1 <= mo <= 12 or not 1 <= d <= days_in(y, mo):
            return None
        return (days_from_civil(y, mo, d) * 86400, 0)
    m = DATETIME_RE.fullmatch(s)
    if not m:
        return None
    y, mo, d, hh, mi, ss = map(int, m.groups()[:6])
    frac, zone = m.group(7), m.group(8)
    if y < 1 or not 1 <= mo <= 12 or not 1 <= d <= days_in(y, mo):
        return None
    if hh > 23 or mi > 59 or ss > 59:
        return None
    nanos = int(frac[1:].ljust(9, "0")) if frac else 0
    offset = 0
    if zone not in ("Z", "z"):
        oh, om = int(zone[1:3]), int(zone[4:6])
        if oh > 23 or om > 59:
            return None
        offset = (oh * 3600 + om * 60) * (1 if zone[0] == "+" else -1)
    secs = days_from_civil(y, mo, d) * 86400 + hh * 3600 + mi * 60 + ss - offset
    return (secs, nanos)


def scalar_equals(rv, v):
    if isinstance(rv, bool):
        return isinstance(v, bool) and v == rv
    if isinstance(rv, str):
        return isinstance(v, str) and v == rv
    n = as_number(v)
    return n is not None and n == float(rv)


def scalar_in(values, v):
    if isinstance(v, bool):
        return any(isinstance(x, bool) and x == v for x in values)
    if isinstance(v, str) and any(isinstance(x, str) and x == v for x in values):
        return True
    n = as_number(v)
    return n is not None and any(is_number(x) and float(x) == n for x in values)


def any_element(v, f):
    if v is None:
        return False
    if isinstance(v, list):
        return any(f(e) for e in v)
    return f(v)


def match(rule, attrs):
    if rule is None:
        return True
    if "all" in rule:
        return all(match(r, attrs) for r in rule["all"])
    if "any" in rule:
        return any(match(r, attrs) for r in rule["any"])
    if "not" in rule:
        return not match(rule["not"], attrs)
    v = attrs.get(rule["attr"])
    op = rule["op"]
    if op == "exists":
        return v is not None
    if op == "not_exists":
        return v is None
    if op in ("equals", "not_equals"):
        r = any_element(v, lambda e: scalar_equals(rule["value"], e))
        return r if op == "equals" else not r
    if op in ("in", "not_in"):
        r = any_element(v, lambda e: scalar_in(rule["values"], e))
        return r if op == "in" else not r
    if op in ("gt", "gte", "lt", "lte"):
        if v is None or isinstance(v, list):
            return False
        n = as_number(v)
        if n is None:
            return False
        x = float(rule["value"])
        return {"gt": n > x, "gte": n >= x, "lt": n < x, "lte": n <= x}[op]
    if op in ("before", "after"):
        if not isinstance(v, str):
            return False
        t = parse_date(v)
        if t is None:
            return False
        ref = parse_date(rule["value"])
        return t < ref if op == "before" else t > ref
    raise ValueError("unknown op " + op)


# --- assignment --------------------------------------------------------------------

def ends(weights):
    total = sum(weights)
    out, cum = [], 0
    for w in weights:
        cum += w
        out.append(cum * 10000 // total)
    return out


def pick(range_ends, b):
    for i, e in enumerate(range_ends):
        if b < e:
            return i
    raise AssertionError("bucket beyond the last range")


def assign(exp, unit, attrs):
    hashes = []

    def hb(text):
        h = murmur3_32(text.encode("utf-8"))
        hashes.append({"input": text, "hash": h, "bucket": bucket(h)})
        return bucket(h)

    salt = exp.get("salt") or exp["key"]
    bk = {"layer": -1, "allocation": -1, "holdout": -1, "variant": -1, "reroute": -1, "reroutes": 0}
    want = {"in_experiment": False, "holdout": False, "segment": "", "variant": "", "reason": "", "buckets": bk}
    seg = next((s for s in exp["segments"] if match(s.get("rule"), attrs)), None)
    if seg is None:
        want["reason"] = "no_segment"
        return want, hashes
    want["segment"] = seg["key"]
    layer = exp.get("layer")
    if layer:
        slot = hb(layer["name"] + ":layer:" + unit)
        bk["layer"] = slot
        if not layer["slot_start"] <= slot < layer["slot_end"]:
            want["reason"] = "layer"
            return want, hashes
    b = hb(salt + ":alloc:" + unit)
    bk["allocation"] = b
    if b >= round(exp.get("allocation", 100) * 100):
        want["reason"] = "allocation"
        return want, hashes
    want["in_experiment"] = True
    holdout = round(exp.get("holdout", 0) * 100)
    if holdout > 0:
        b = hb(salt + ":holdout:" + unit)
        bk["holdout"] = b
        if b < holdout:
            want["holdout"] = True
            want["reason"] = "holdout"
            return want, hashes
    variants = seg["variants"]
    if seg.get("winner"):
        want["variant"], want["reason"] = seg["winner"], "concluded"
        return want, hashes
    all_ends = ends([v["weight"] for v in variants])
    b = hb(salt + ":variant:" + seg["key"] + ":" + unit)
    bk["variant"] = b
    i = pick(all_ends, b)
    want["reason"] = "variant"
    if variants[i].get("retired"):
        want["reason"] = "reroute"
        i = None
        for n in range(1, 33):
            b = hb(salt + ":reroute:" + seg["key"] + ":" + str(n) + ":" + unit)
            bk["reroute"], bk["reroutes"] = b, n
            j = pick(all_ends, b)
            if not variants[j].get("retired"):
                i = j
                break
        if i is None:
            active = [j for j, v in enumerate(variants) if not v.get("retired")]
            i = active[pick(ends([variants[j]["weight"] for j in active]), b)]
    want["variant"] = variants[i]["key"]
    return want, hashes


# --- the experiments and cases --------------------------------------------------------

STAMP = "2025-03-01T09:00:00Z"


def experiment(key, segments, **kw):
    e = {
        "key": key, "channel": kw.pop("channel", "email"), "status": "running", "version": kw.pop("version", 2),
        "allocation": kw.pop("allocation", 100), "holdout": kw.pop("holdout", 0),
        "segments": segments, "primary_metric": "click_rate",
        "created_at": STAMP, "updated_at": STAMP, "started_at": STAMP,
    }
    e.update(kw)
    return e


def variants(*weights, retired=(), payload=False):
    out = []
    for i, w in enumerate(weights):
        k = "abcdefghij"[i]
        v = {"key": k, "weight": w}
        if i == 0:
            v["control"] = True
        if k in retired:
            v.update(retired=True, retired_at=STAMP, retired_reason="worse than control")
        if payload:
            v["payload"] = {"subject": "Subject " + k.upper()}
        out.append(v)
    return out


def op_experiment(key, rule):
    return experiment(key, [
        {"key": "match", "rule": rule, "variants": variants(1, 1)},
        {"key": "rest", "variants": variants(1, 1)},
    ])


OP_CASES = [
    # (experiment key, rule, [attribute values for attr "x"; None = absent])
    ("op-equals-string", {"attr": "x", "op": "equals", "value": "pro"},
     ["pro", "Pro", "pro ", "", 1, True, ["free", "pro"], ["free"], [], None, {"a": 1}]),
    ("op-equals-number", {"attr": "x", "op": "equals", "value": 30},
     [30, 30.0, "30", "30.0", "3e1", "030", " 30", "+30", 31, True, [29, "30"], None]),
    ("op-equals-bool", {"attr": "x", "op": "equals", "value": True},
     [True, False, "true", 1, [False, True], None]),
    ("op-not-equals", {"attr": "x", "op": "not_equals", "value": "free"},
     ["free", "pro", 1, None, ["free", "pro"], ["pro"], []]),
    ("op-in", {"attr": "x", "op": "in", "values": ["FR", "DE", 7, False]},
     ["FR", "fr", "DE", "US", 7, 7.0, "7", "7.5", 8, False, True, ["US", "DE"], ["US"], None, 0]),
    ("op-not-in", {"attr": "x", "op": "not_in", "values": ["FR", "DE"]},
     ["FR", "US", None, ["US", "FR"], ["US"], 3]),
    ("op-gt", {"attr": "x", "op": "gt", "value": 10},
     [11, 10, 10.0001, 9, "11", "1e2", "abc", "", True, None, [11], -11]),
    ("op-gte", {"attr": "x", "op": "gte", "value": 10},
     [10, 9.999, "10", "10.0", 11, None, False]),
    ("op-lt", {"attr": "x", "op": "lt", "value": -2.5},
     [-3, -2.5, -2, "-3", "-2.50", 0, None, "x"]),
    ("op-lte", {"attr": "x", "op": "lte", "value": 0},
     [0, -0.0, "-0", 1e-9, -1e-9, "0.0", None, "1e400", "-1e400"]),
    ("op-before-date", {"attr": "x", "op": "before", "value": "2024-06-01"},
     ["2024-05-31", "2024-06-01", "2024-06-01T00:00:00Z", "2024-05-31T23:59:59.999999999Z",
      "2024-06-01T01:00:00+02:00", "2024-06-01T00:00:00-00:01", "2024-5-31", "2024-02-30",
      "yesterday", 1717200000, None, "2024-05-31T23:59:59"]),
    ("op-after-datetime", {"attr": "x", "op": "after", "value": "2024-06-01T12:30:00+02:00"},
     ["2024-06-01T10:30:00Z", "2024-06-01T10:30:00.000000001Z", "2024-06-01T10:30:00z",
      "2024-06-01t12:30:01+02:00", "2024-06-02", "2024-06-01", "2024-06-01T24:00:00Z", None, True]),
    ("op-exists", {"attr": "x", "op": "exists"},
     ["", 0, False, [], None, "yes"]),
    ("op-not-exists", {"attr": "x", "op": "not_exists"},
     ["", 0, None, "yes"]),
]

NESTED_RULE = {"any": [
    {"all": [{"attr": "plan", "op": "equals", "value": "pro"},
             {"not": {"attr": "country", "op": "in", "values": ["US", "CA"]}}]},
    {"all": [{"attr": "opens_30d", "op": "gte", "value": 3},
             {"attr": "signup", "op": "after", "value": "2024-01-01"}]},
]}
NESTED_ATTRS = [
    {}, {"plan": "pro"}, {"plan": "pro", "country": "US"}, {"plan": "pro", "country": "FR"},
    {"opens_30d": 5}, {"opens_30d": 5, "signup": "2024-03-01"}, {"opens_30d": "3", "signup": "2023-12-31"},
    {"plan": "free", "opens_30d": 2, "signup": "2024-03-01"}, {"plan": "pro", "country": ["FR", "US"]},
    {"plan": "pro", "country": None},
]

UNITS = ["user-%d" % i for i in range(40)] + [
    "u", "42", "ünïcødé-用户-🙂", "alice@example.com",
    "2f1c9a4e-8b7d-4e21-9f3a-6c5d4b3a2918", "x" * 200, "with:colons:in:it", "with space",
]


def main():
    exps, cases = [], []

    def add_case(exp, name, unit, attrs):
        want, hashes = assign(exp, unit, attrs)
        seg = next((s for s in exp["segments"] if s["key"] == want["segment"]), None)
        if want["variant"] and seg:
            v = next(v for v in seg["variants"] if v["key"] == want["variant"])
            if "payload" in v:
                want["payload"] = v["payload"]
        cases.append({"name": name, "experiment": exp["key"], "unit_id": unit, "attributes": attrs,
                      "hashes": hashes, "want": want})

    # Every rule operator, with matching, mismatching, coerced and missing values.
    for key, rule, values in OP_CASES:
        exp = op_experiment(key, rule)
        exps.append(exp)
        for i, v in enumerate(values):
            attrs = {} if v is None else {"x": v}
            add_case(exp, "%s/%d" % (key, i), "user-%d" % i, attrs)

    nested = op_experiment("rule-nested", NESTED_RULE)
    exps.append(nested)
    for i, attrs in enumerate(NESTED_ATTRS):
        add_case(nested, "rule-nested/%d" % i, "user-%d" % i, attrs)

    # The main flow: segments, allocation, holdout, payloads.
    main_exp = experiment("welcome", [
        {"key": "pro", "rule": {"attr": "plan", "op": "equals", "value": "pro"}, "variants": variants(1, 1, 1, payload=True)},
        {"key": "fr", "rule": {"attr": "country", "op": "in", "values": ["FR", "BE"]}, "variants": variants(2, 1, 1, payload=True)},
    ], allocation=60, holdout=12.5)
    exps.append(main_exp)
    for i, u in enumerate(UNITS):
        attrs = [{"plan": "pro"}, {"country": "FR"}, {"country": "US"}, {}][i % 4]
        add_case(main_exp, "welcome/%d" % i, u, attrs)

    # A heavy holdout, so that many vectors are held out.
    held = experiment("holdout-heavy", [{"key": "all", "variants": variants(1, 1)}], holdout=40, channel="sms")
    exps.append(held)
    for u in UNITS:
        add_case(held, "holdout-heavy/" + u, u, {})

    # Allocation ramp: same units at 10% and 50%, different salt.
    for alloc in (10, 50):
        e = experiment("ramp-%d" % alloc, [{"key": "all", "variants": variants(1, 1, 1)}],
                       allocation=alloc, salt="ramp")
        exps.append(e)
        for u in UNITS[:30]:
            add_case(e, "ramp-%d/%s" % (alloc, u), u, {})

    # Layers: two experiments sharing a layer, one outside it.
    for key, lo, hi in (("layer-left", 0, 3000), ("layer-right", 3000, 10000), ("layer-mid", 2500, 2600)):
        e = experiment(key, [{"key": "all", "variants": variants(1, 1)}],
                       layer={"name": "homepage", "slot_start": lo, "slot_end": hi})
        exps.append(e)
        for u in UNITS[:30]:
            add_case(e, "%s/%s" % (key, u), u, {})

    # Retired variants: one, then two of four; a nearly all-retired segment
    # that exercises the fallback; a concluded segment.
    retire_sets = (("retired-none", ()), ("retired-b", ("b",)), ("retired-bc", ("b", "c")))
    for key, retired in retire_sets:
        e = experiment(key, [{"key": "all", "variants": variants(2, 1, 1, 2, retired=retired)}], salt="retire-salt")
        exps.append(e)
        for u in UNITS:
            add_case(e, "%s/%s" % (key, u), u, {})
    fallback = experiment("retired-fallback", [{"key": "all", "variants": [
        {"key": "a", "weight": 1, "control": True},
        {"key": "b", "weight": 9997, "retired": True, "retired_at": STAMP},
        {"key": "c", "weight": 2},
    ]}])
    exps.append(fallback)
    for u in UNITS[:20]:
        add_case(fallback, "retired-fallback/" + u, u, {})
    concluded = experiment("concluded", [
        {"key": "done", "rule": {"attr": "plan", "op": "exists"}, "winner": "b", "concluded_at": STAMP,
         "variants": variants(1, 1, 1)},
        {"key": "open", "variants": variants(1, 1)},
    ], holdout=10)
    exps.append(concluded)
    for i, u in enumerate(UNITS[:20]):
        add_case(concluded, "concluded/" + u, u, {"plan": "x"} if i % 2 == 0 else {})

    # Multi-channel: one unit, the same variant on every channel (no hash
    # reads the channel), each channel's payload, or the variant's payload
    # where it has none for that channel. Its own sections, so that the
    # vectors above stay as they were.
    multi = experiment("multi-channel", [{"key": "all", "variants": [
        {"key": "a", "weight": 1, "control": True, "payload": {"subject": "Fallback A"},
         "payloads": {"email": {"subject": "Hello A", "body": "Email body A", "cta": "Start"},
                      "push": {"title": "A", "body": "Push body A"}}},
        {"key": "b", "weight": 2, "payload": {"subject": "Fallback B"},
         "payloads": {"email": {"subject": "Hello B", "body": "Email body B", "cta": "Go"},
                      "sms": {"text": "SMS B"}}},
    ]}], channels=["email", "push", "sms"], holdout=10)
    channel_cases = []
    for u in UNITS[:20]:
        want, hashes = assign(multi, u, {})
        for ch in multi["channels"]:
            w = dict(want)
            if w["variant"]:
                v = next(v for v in multi["segments"][0]["variants"] if v["key"] == w["variant"])
                w["payload"] = v["payloads"].get(ch, v["payload"])
            channel_cases.append({"name": "multi-channel/%s/%s" % (u, ch), "experiment": "multi-channel",
                                  "unit_id": u, "attributes": {}, "channel": ch, "hashes": hashes, "want": w})

    # The global control group: bucket(murmur3(salt:global_control:unit)) < share.
    global_control = []
    for salt, share in (("splitcast-global-control", 10), ("another-deployment", 2.5)):
        for u in UNITS[:30]:
            text = "%s:global_control:%s" % (salt, u)
            h = murmur3_32(text.encode("utf-8"))
            global_control.append({"salt": salt, "share": share, "unit_id": u, "input": text, "hash": h,
                                   "bucket": bucket(h), "in": bucket(h) < round(share * 100)})

    refs = ["", "a", "ab", "abc", "abcd", "abcde", "hello", "test", "Hello, world!",
            "The quick brown fox jumps over the lazy dog", "\x00\x00\x00\x00", "héllo wörld ✓",
            "🙂", "welcome-email:alloc:user-42", "x" * 1000]
    out = {
        "comment": "Generated by testdata/assignment/generate.py; see docs/assignment.md. Do not edit by hand.",
        "murmur3": [{"input": s, "seed": 0, "hash": murmur3_32(s.encode("utf-8"))} for s in refs],
        "buckets": [{"hash": h, "bucket": bucket(h)} for h in (0, 1, 429496, 429497, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)],
        "experiments": exps,
        "cases": cases,
        "channel_experiments": [multi],
        "channel_cases": channel_cases,
        "global_control": global_control,
    }
    json.dump(out, sys.stdout, ensure_ascii=False, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    assert murmur3_32(b"") == 0
    assert murmur3_32(b"hello") == 0x248BFA47
    assert murmur3_32(b"The quick brown fox jumps over the lazy dog") == 0x2E4FF723
    main()
