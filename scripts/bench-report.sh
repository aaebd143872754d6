#!/usr/bin/env bash
# GET /v1/experiments/{key}/results against the bare SQL it runs, on EVENTS
# events (default 10M) in a ClickHouse of its own (loopback, scratch data
# under .data/bench-report, removed at the end). Prints each round and the
# medians; the ratio is the figure to watch (target <= 1.5). Never in test.
# Usage: scripts/bench-report.sh   (EVENTS=1000000 ROUNDS=3 for a quick run;
# SCALE=8 for about 6 events per exposed unit instead of 1.6; RAW=0 leaves
# out the raw events reader, which takes minutes a round past 10M events)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin"
events=${EVENTS:-10000000}
rounds=${ROUNDS:-5}
bin=bin/splitcast
data=.data/bench-report
tcp=19600 http=18600 api=127.0.0.1:18601
go build -o "$bin" ./cmd/splitcast
go build -o bin/benchreport ./cmd/benchreport
rm -rf "$data"
mkdir -p "$data"
ch=(-data-dir "$data" -local-clickhouse-tcp-port "$tcp" -local-clickhouse-http-port "$http")
serve_pid=""
cleanup() {
  [ -n "$serve_pid" ] && kill -INT "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null || true
  "$bin" clickhouse stop "${ch[@]}" >/dev/null 2>&1 || true
  rm -rf "$data"
}
trap cleanup EXIT
"$bin" clickhouse start "${ch[@]}"
bin/benchreport seed -clickhouse-addr "127.0.0.1:$tcp" -database benchreport -events "$events" -scale "${SCALE:-1}"
SPLITCAST_CLICKHOUSE_ADDR="127.0.0.1:$tcp" SPLITCAST_CLICKHOUSE_DATABASE=benchreport SPLITCAST_LOG_LEVEL=warn \
  SPLITCAST_DATA_DIR="$data/serve" "$bin" serve -addr "$api" 2>"$data/serve.log" &
serve_pid=$!
# serve migrates and back-fills the rollups before it listens: minutes at
# tens of millions of events.
for _ in $(seq 9000); do
  curl -fsS "http://$api/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
echo "serve ready after back-filling the rollups: $(grep -c 'back-filled bucket' "$data/serve.log" || true) buckets"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GB; ClickHouse $(clickhouse-client --version 2>/dev/null | grep -o "[0-9][0-9.]*" | head -1)"
bin/benchreport time -clickhouse-addr "127.0.0.1:$tcp" -database benchreport -url "http://$api" -key dev-read-key -rounds "$rounds" \
  -trickle "${TRICKLE:-1000}" -raw="$([ "${RAW:-1}" = 1 ] && echo true || echo false)"
