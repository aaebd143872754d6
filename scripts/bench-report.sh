#!/usr/bin/env bash
# GET /v1/experiments/{key}/results against the bare SQL it runs, on EVENTS
# events (default 10M) in a ClickHouse of its own (loopback, scratch data
# under .data/bench-report, removed at the end). Prints each round and the
# medians; the ratio is the figure to watch (target <= 1.5). Never in test.
# Usage: scripts/bench-report.sh   (EVENTS=1000000 ROUNDS=3 for a quick run;
# SCALE=8 for about 6 events per exposed unit instead of 1.6; RAW=0 leaves
# out the raw events reader, which takes minutes a round past 10M events).
# Then the trait refresh after 1,000 new events, and the write side (CPU of
# inserting WRITE_EVENTS events, default 1M, against the rollups' upkeep).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin"
events=${EVENTS:-10000000}
rounds=${ROUNDS:-5}
data=.data/bench-report
# Binaries of its own: a rebuild of bin/ during a run changes nothing here.
bin=$data/bin/splitcast bench=$data/bin/benchreport
tcp=19600 http=18600 api=127.0.0.1:18601
rm -rf "$data"
mkdir -p "$data/bin"
go build -o "$bin" ./cmd/splitcast
go build -o "$bench" ./cmd/benchreport
ch=(-data-dir "$data" -local-clickhouse-tcp-port "$tcp" -local-clickhouse-http-port "$http")
serve_pid=""
cleanup() {
  [ -n "$serve_pid" ] && kill -INT "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null || true
  "$bin" clickhouse stop "${ch[@]}" >/dev/null 2>&1 || true
  # The server's log outlives the scratch data, for a failed run.
  cp "$data/serve.log" "${TMPDIR:-/tmp}/bench-report-serve.log" 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT
"$bin" clickhouse start "${ch[@]}"
"$bench" seed -clickhouse-addr "127.0.0.1:$tcp" -database benchreport -events "$events" -scale "${SCALE:-1}"
SPLITCAST_CLICKHOUSE_ADDR="127.0.0.1:$tcp" SPLITCAST_CLICKHOUSE_DATABASE=benchreport SPLITCAST_LOG_LEVEL=warn \
  SPLITCAST_DATA_DIR="$data/serve" "$bin" serve -addr "$api" 2>"$data/serve.log" &
serve_pid=$!
# serve migrates and back-fills the rollups before it listens: minutes at
# tens of millions of events.
for _ in $(seq 9000); do
  curl -fsS "http://$api/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
echo "serve ready (it back-fills the rollups before it listens)"
# Then it loads every unit's traits once, in the background: minutes of
# ClickHouse at tens of millions of events, which would run beside the
# rounds. Wait for it (the cache's refreshed_at is zero until then).
for _ in $(seq 9000); do
  curl -fsS -H "Authorization: Bearer dev-read-key" "http://$api/v1/units/bench-probe/traits" 2>/dev/null |
    grep -q '"refreshed_at":"0001-01-01' || break
  sleep 0.2
done
echo "traits loaded"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB; ClickHouse $(clickhouse-client --version 2>/dev/null | grep -o "[0-9][0-9.]*" | head -1)"
"$bench" time -clickhouse-addr "127.0.0.1:$tcp" -database benchreport -url "http://$api" -key dev-read-key -rounds "$rounds" \
  -trickle "${TRICKLE:-1000}" -raw="$([ "${RAW:-1}" = 1 ] && echo true || echo false)"
# The trait refresh: 1,000 new events over the same history.
"$bench" traits -clickhouse-addr "127.0.0.1:$tcp" -database benchreport -trickle "${TRICKLE:-1000}"
# The write side, in a database of its own on the same server: CPU of the
# events' inserts against the rollups' upkeep.
"$bench" write -clickhouse-addr "127.0.0.1:$tcp" -database benchwrite -events "${WRITE_EVENTS:-1000000}"
