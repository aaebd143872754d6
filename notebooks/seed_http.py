#!/usr/bin/python3
"""Seeds an experiment through Splitcast's HTTP API only, for the notebooks.

Usage: seed_http.py API_URL EXPERIMENT_JSON [KEY]

Creates and starts the experiment, assigns units in bulk (two sends, some units
twice), retires a variant half way (a second SRM phase and units exposed in
two arms), then sends opens and clicks through the pixel and the redirect with
human, Apple-prefetch and bot user agents (some clicks within the scanner
window), conversions, unsubscribes and complaints through POST /v1/events,
some of them twice with the same id, and orders and tickets through POST
/v1/track for the experiment's custom metrics. It ends when the server has written every
event: its ingest queue is empty and the events table stops growing.

The outcome rates differ by arm, so the notebooks have real lifts to show.
Everything is drawn from a seeded random generator: a run gives the same
events (their times are the server's clock).
"""
import http.client
import json
import os
import random
import sys
import time
import urllib.parse

ADMIN = os.environ.get("SPLITCAST_ADMIN_KEY", "dev-admin-key")
SDK = os.environ.get("SPLITCAST_SDK_KEY", "dev-sdk-key")
HUMAN_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
APPLE_MPP_UA = "Mozilla/5.0"
BOT_UA = "Barracuda Sentinel (EE)"

# Per arm: open, click given open, conversion given click, mean revenue,
# unsubscribe and complaint rates.
RATES = {
    ("pro-trial", "control"): (0.40, 0.30, 0.40, 40.0, 0.010, 0.002),
    ("pro-trial", "benefit"): (0.46, 0.38, 0.40, 45.0, 0.010, 0.002),
    ("pro-trial", "social-proof"): (0.38, 0.28, 0.35, 40.0, 0.020, 0.004),
    ("everyone", "control"): (0.30, 0.25, 0.30, 20.0, 0.010, 0.002),
    ("everyone", "short"): (0.33, 0.32, 0.32, 20.0, 0.012, 0.002),
    ("everyone", "personal"): (0.30, 0.24, 0.30, 25.0, 0.008, 0.001),
}


class API:
    """A keep-alive HTTP connection to the server."""

    def __init__(self, base):
        u = urllib.parse.urlsplit(base)
        self.host, self.port = u.hostname, u.port
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)

    def call(self, method, path, body=None, key=None, ua=HUMAN_UA, want=(200, 201, 202)):
        headers = {"User-Agent": ua}
        if key:
            headers["Authorization"] = "Bearer " + key
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
            headers["Content-Type"] = "application/json"
        for attempt in range(3):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, ConnectionError):
                # The server may close a keep-alive connection between calls.
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
                if attempt == 2:
                    raise
        if resp.status not in want:
            raise SystemExit(f"seed: {method} {path}: {resp.status} {data[:300]!r}")
        return resp.status, data


def path_of(url):
    u = urllib.parse.urlsplit(url)
    return u.path + (("?" + u.query) if u.query else "")


def bulk(api, key, lines):
    body = "".join(json.dumps(line) + "\n" for line in lines)
    _, data = api.call("POST", "/v1/assign/bulk?experiment=" + urllib.parse.quote(key), body, key=SDK)
    out = [json.loads(x) for x in data.decode().splitlines() if x.strip()]
    bad = [x for x in out if "error" in x]
    if bad or len(out) != len(lines):
        raise SystemExit(f"seed: bulk assign: {len(out)} answers for {len(lines)} lines: {bad[:3]}")
    for line, answer in zip(lines, out):
        answer["unit_id"] = line["unit_id"]
    return out


def attributes(rng):
    if rng.random() < 0.4:
        return {"plan": "pro_trial", "country": rng.choice(["FR", "DE", "ES", "IT", "NL"])}
    return {"plan": rng.choice(["free", "team"]), "country": rng.choice(["US", "GB", "FR", "BR"])}


def wait_written(api, timeout=60):
    """Waits until the server's ingest queue and spool are empty twice in a row."""
    deadline = time.time() + timeout
    calm = 0
    while time.time() < deadline:
        _, data = api.call("GET", "/readyz", want=(200, 503))
        spool = json.loads(data).get("spool", {})
        if spool.get("queue_depth", 1) == 0 and spool.get("spool_batches", 1) == 0:
            calm += 1
            if calm >= 3:
                return
        else:
            calm = 0
        time.sleep(1)
    raise SystemExit("seed: the server did not write its events in time")


def main():
    base, path = sys.argv[1], sys.argv[2]
    with open(path) as f:
        exp = json.load(f)
    if len(sys.argv) > 3:
        exp["key"] = sys.argv[3]
    key = exp["key"]
    # This experiment adjusts by Benjamini-Hochberg, the demo's by Holm: the notebook must follow the policy.
    exp.setdefault("retirement", {})["correction"] = "bh"
    # Breakdowns by caller attributes: the readout recomputes each from the exposures' dim_keys/dim_values.
    exp.setdefault("dimensions", ["country", "plan", "channel"])
    # Custom metrics of user events (POST /v1/track), which the notebook reproduces with its own SQL.
    exp["custom_metrics"] = CUSTOM_METRICS
    rng = random.Random(20240607)
    api = API(base)
    api.call("POST", "/v1/experiments", exp, key=ADMIN)
    api.call("POST", f"/v1/experiments/{key}/start", key=ADMIN)
    time.sleep(3)  # the snapshot refresh (2s by default) picks up the start

    units = {f"u{i:05d}": attributes(rng) for i in range(3000)}
    first = list(units)[:1800]
    later = list(units)[1800:]
    sends = []  # assignment answers, each a message to track

    def channel():
        return "email" if rng.random() < 0.8 else "push"

    sends += bulk(api, key, [{"unit_id": u, "attributes": units[u], "send_id": "s1", "channel": channel()} for u in first])

    # Scanners click every link of a few messages at once: flagged scanner_fast.
    for a in rng.sample([s for s in sends if s.get("token")], 60):
        click(api, a, ua=HUMAN_UA)

    # A second phase: retire one variant, then send to new units, and send
    # again to some units of the retired variant, who now get another arm.
    api.call("POST", f"/v1/experiments/{key}/segments/everyone/variants/personal/retire",
             {"reason": "seeded retirement for the notebooks"}, key=ADMIN)
    time.sleep(3)
    again = [a for a in sends if a.get("segment") == "everyone" and a.get("variant") == "personal"][:150]
    sends += bulk(api, key, [{"unit_id": u, "attributes": units[u], "send_id": "s2", "channel": channel()} for u in later])
    sends += bulk(api, key, [{"unit_id": a["unit_id"], "attributes": units[a["unit_id"]], "send_id": "s2",
                              "channel": "email"} for a in again])
    t_last = time.time()

    # People take more than the scanner window (10s) to click.
    time.sleep(max(0.0, 11.5 - (time.time() - t_last)))
    events = []
    for a in sends:
        if not a.get("token"):
            continue  # held out: no message
        r = RATES.get((a["segment"], a["variant"]))
        if r is None:
            continue
        p_open, p_click, p_conv, revenue, p_unsub, p_compl = r
        u = rng.random()
        if u < 0.05:
            api.call("GET", path_of(a["pixel_url"]), ua=APPLE_MPP_UA)  # prefetch: machine
        elif u < 0.07:
            api.call("GET", path_of(a["pixel_url"]), ua=BOT_UA)
        if rng.random() < p_open:
            api.call("GET", path_of(a["pixel_url"]))
            if rng.random() < 0.1:
                api.call("GET", path_of(a["pixel_url"]))  # opened twice: one opener
            if rng.random() < p_click:
                click(api, a, ua=HUMAN_UA)
                if rng.random() < p_conv:
                    ev = {"id": "conv-" + a["token"][-16:], "kind": "conversion", "token": a["token"],
                          "value": round(rng.expovariate(1 / revenue), 2)}
                    events.append(ev)
                    if rng.random() < 0.1:
                        events.append(dict(ev))  # a retry: same id, counts once
        if rng.random() < p_unsub:
            events.append({"kind": "unsubscribe", "token": a["token"]})
        if rng.random() < p_compl:
            events.append({"kind": "complaint", "token": a["token"]})
    for i in range(0, len(events), 200):
        api.call("POST", "/v1/events", {"events": events[i:i + 200]}, key=SDK)
    tracked = user_events(rng, sends)
    for i in range(0, len(tracked), 500):
        api.call("POST", "/v1/track", {"events": tracked[i:i + 500]}, key=SDK)
    wait_written(api)
    print(f"seed: {key}: {len(units)} units, {len(sends)} sends, {len(events)} server events, "
          f"{len(tracked)} user events", file=sys.stderr)


# The custom metrics of the seeded experiment: a conversion, a sum and a count (lower is better).
CUSTOM_METRICS = [
    {"key": "ordered", "kind": "conversion", "event": "order_completed", "window_hours": 24},
    {"key": "order_revenue", "kind": "sum", "event": "order_completed", "property": "total", "window_hours": 24},
    {"key": "tickets", "kind": "count", "event": "ticket_opened", "window_hours": 24, "lower_is_better": True},
]


def user_events(rng, sends):
    """Orders and tickets after the sends, with the edges the custom metrics must get right: an order before
    the unit's exposure (outside the window), an order without a total, a retried order (same id: counts once),
    several tickets of one unit, events of units never exposed."""
    exposed = sorted({a["unit_id"] for a in sends if a.get("segment")})
    arm = {a["unit_id"]: (a.get("segment"), a.get("variant")) for a in reversed(sends) if a.get("segment")}
    long_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3 * 86400))
    out = []
    for u in exposed:
        lift = 1.3 if arm[u][1] in ("benefit", "short") else 1.0
        if rng.random() < 0.15 * lift:
            ev = {"id": "o-" + u, "unit_id": u, "name": "order_completed",
                  "properties": {"total": round(rng.expovariate(1 / 30), 2), "category": rng.choice(["shoes", "bags"])}}
            if rng.random() < 0.1:
                del ev["properties"]["total"]  # an order without a total: converts, adds nothing to the sum
            out.append(ev)
            if rng.random() < 0.1:
                out.append(json.loads(json.dumps(ev)))  # a retry: same id and content, counts once
        if rng.random() < 0.03:
            out.append({"id": "old-" + u, "unit_id": u, "name": "order_completed", "time": long_ago,
                        "properties": {"total": 99.0}})  # before the exposure: outside the window
        for k in range(rng.choice([0, 0, 0, 0, 1, 2, 3])):
            out.append({"id": f"t{k}-{u}", "unit_id": u, "name": "ticket_opened", "properties": {"urgency": "low"}})
    for u in [f"stranger-{i}" for i in range(50)]:
        out.append({"id": "o-" + u, "unit_id": u, "name": "order_completed", "properties": {"total": 10.0}})
    return out


def click(api, a, ua):
    _, data = api.call("POST", "/v1/links", {"token": a["token"], "urls": ["https://example.com/start"]}, key=SDK)
    tracked = json.loads(data)["links"][0]["tracked_url"]
    api.call("GET", path_of(tracked), ua=ua, want=(302, 303, 307))


if __name__ == "__main__":
    main()
