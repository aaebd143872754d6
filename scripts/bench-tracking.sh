#!/usr/bin/env bash
# Load figures for the tracking path, each as a ratio against a baseline
# measured on the same machine in the same run (absolute numbers depend on
# the machine; the ratios are the figures to compare):
#
#   1. pixel requests/s of splitcast's GET /o/{token}.gif against a trivial
#      Fiber handler serving the same GIF (target ratio >= 0.6), with the
#      opens landing in ClickHouse meanwhile;
#   2. events/s into ClickHouse through POST /v1/events, batches of
#      BENCH_BATCH (100) conversions with unique ids, from the first request
#      to the last event landed, against a bare clickhouse-go batch insert
#      of as many rows of the same shape in batches of the ingester's
#      MaxBatch (target ratio >= 0.5). The bare insert appends row by row,
#      as clickhouse-go documents; the same insert appending whole columns
#      (closer to what the sink does) is printed beside it, with its ratio,
#      for information.
#
# Everything runs on 127.0.0.1: its own ClickHouse, one splitcast serve and
# the baselines of cmd/trackbench. Not part of make test; run it with
# `make bench-tracking` or directly. Knobs (environment): BENCH_DURATION
# (seconds per wrk run, 10), BENCH_THREADS (2), BENCH_CONNECTIONS (64),
# BENCH_EVENT_CONNECTIONS (8), BENCH_BATCH (100), BENCH_INGEST_BATCH
# (default: trackbench's, the ingester's MaxBatch), BENCH_BARE_BATCHES (extra bare
# batch sizes to print, "1000 10000 100000"), BENCH_*_PORT.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin"
scripts/deps.sh base load

dur=${BENCH_DURATION:-10}
threads=${BENCH_THREADS:-2}
conns=${BENCH_CONNECTIONS:-64}
event_conns=${BENCH_EVENT_CONNECTIONS:-8}
batch=${BENCH_BATCH:-100}
# -batch only when set: trackbench defaults to the ingester's MaxBatch.
ingest_batch=${BENCH_INGEST_BATCH:+-batch $BENCH_INGEST_BATCH}
bare_batches=${BENCH_BARE_BATCHES:-1000 10000 100000}
api=127.0.0.1:${BENCH_API_PORT:-18680}
gif=127.0.0.1:${BENCH_GIF_PORT:-18681}
ch_tcp=${BENCH_CH_TCP_PORT:-19680}
ch_http=${BENCH_CH_HTTP_PORT:-18682}
ua='Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36'

work=$(mktemp -d /tmp/splitcast-bench.XXXXXX)
serve_pid="" gif_pid=""
cleanup() {
  [ -n "$serve_pid" ] && kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null || true
  [ -n "$gif_pid" ] && kill "$gif_pid" 2>/dev/null && wait "$gif_pid" 2>/dev/null || true
  "$work/splitcast" clickhouse stop -data-dir "$work/data" \
    -local-clickhouse-tcp-port "$ch_tcp" -local-clickhouse-http-port "$ch_http" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "building splitcast and trackbench" >&2
go build -o "$work/splitcast" ./cmd/splitcast
go build -o "$work/trackbench" ./cmd/trackbench

wait_http() { # url: wait up to a minute for a 200
  for _ in $(seq 600); do curl -fs -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "bench: $1 did not answer" >&2; return 1
}
chq() { clickhouse-client --port "$ch_tcp" -q "$1"; }
now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.${2:-0}f\", $1 }"; }
rps() { awk '/^Requests\/sec:/ { print $2 }'; }
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # user+system CPU of a process, in clock ticks
hz=$(getconf CLK_TCK)

"$work/splitcast" clickhouse start -data-dir "$work/data" \
  -local-clickhouse-tcp-port "$ch_tcp" -local-clickhouse-http-port "$ch_http" >&2
# No rate limits: the figures are about throughput, not about the limiter.
SPLITCAST_RATE_PER_KEY=0 SPLITCAST_RATE_PER_IP=0 "$work/splitcast" serve -addr "$api" -data-dir "$work/data" -clickhouse-addr "127.0.0.1:$ch_tcp" \
  -clickhouse-database bench -log-level warn 2>"$work/serve.log" &
serve_pid=$!
"$work/trackbench" gif -addr "$gif" &
gif_pid=$!
wait_http "http://$api/healthz"
wait_http "http://$gif/x.gif"

# An experiment, and a unit outside its holdout: its token makes the opens.
curl -fsS -o /dev/null -H 'Authorization: Bearer dev-admin-key' -X POST "http://$api/v1/experiments" \
  --data-binary @docs/examples/experiment.json
curl -fsS -o /dev/null -H 'Authorization: Bearer dev-admin-key' -X POST "http://$api/v1/experiments/welcome-email/start"
token=""
for i in $(seq 100); do
  token=$(curl -fsS -H 'Authorization: Bearer dev-sdk-key' -X POST "http://$api/v1/assign" \
    -d "{\"experiment\":\"welcome-email\",\"unit_id\":\"bench-$i\"}" | jq -r '.token // empty')
  [ -n "$token" ] && break
done
[ -n "$token" ] || { echo "bench: no unit got a token" >&2; exit 1; }
cmp -s <(curl -fsS "http://$api/o/$token.gif") <(curl -fsS "http://$gif/x.gif") ||
  { echo "bench: the baseline does not serve the pixel's bytes" >&2; exit 1; }

# Wait until the ingester has written everything it accepted (queue and
# spool empty, its written counter still for 1.5s), then count in
# ClickHouse; prints the count and the time the counter last moved, which
# is when the last insert was acknowledged. The count runs once: polling a
# uniqExact over millions of rows every 100ms took most of ClickHouse's CPU
# while the ingester was still writing, slowing what was being measured
# (the bare insert it is compared with has no such load).
written() { curl -fsS "http://$api/metrics" | awk '/^splitcast_events_written_total / { print $2 }'; }
settle() { # sql
  local last=-1 seen=0 n
  for _ in $(seq 1200); do
    n=$(written)
    if [ "$n" != "$last" ]; then
      last=$n seen=$(now)
    elif awk "BEGIN { exit !($(now) - $seen > 1.5) }" &&
         curl -fs "http://$api/readyz" | jq -e '.spool.queue_depth == 0 and .spool.spool_batches == 0' >/dev/null; then
      echo "$(chq "$1") $seen"
      return 0
    fi
    sleep 0.1
  done
  echo "bench: $1 did not settle" >&2
  return 1
}

echo "pixel: ${dur}s per run, $threads threads, $conns connections, baseline and splitcast alternated twice" >&2
opens_before=$(chq "SELECT uniqExact(event_id) FROM bench.events WHERE kind = 'open'")
ch_pid=$(cat "$work/data/clickhouse/clickhouse.pid")
base_sum=0 pix_sum=0 pix_requests=0 base_requests=0 base_cpu=0 pix_cpu=0 ch_cpu=0
for round in 1 2; do
  g0=$(ticks "$gif_pid")
  out=$(wrk -t"$threads" -c"$conns" -d"${dur}s" -H "User-Agent: $ua" "http://$gif/o/x.gif")
  base_cpu=$((base_cpu + $(ticks "$gif_pid") - g0))
  b=$(echo "$out" | rps)
  base_requests=$((base_requests + $(echo "$out" | awk '/requests in/ { print $1 }')))
  s0=$(ticks "$serve_pid") c0=$(ticks "$ch_pid")
  out=$(wrk -t"$threads" -c"$conns" -d"${dur}s" -H "User-Agent: $ua" "http://$api/o/$token.gif")
  pix_cpu=$((pix_cpu + $(ticks "$serve_pid") - s0)) ch_cpu=$((ch_cpu + $(ticks "$ch_pid") - c0))
  p=$(echo "$out" | rps)
  pix_requests=$((pix_requests + $(echo "$out" | awk '/requests in/ { print $1 }')))
  opens_now=$(chq "SELECT uniqExact(event_id) FROM bench.events WHERE kind = 'open'")
  echo "  round $round: baseline $b req/s, splitcast $p req/s; opens in ClickHouse so far: $((opens_now - opens_before))" >&2
  base_sum=$(calc "$base_sum + $b" 2) pix_sum=$(calc "$pix_sum + $p" 2)
done
read -r opens _ < <(settle "SELECT uniqExact(event_id) FROM bench.events WHERE kind = 'open'")
opens=$((opens - opens_before))
pixel_ratio=$(calc "$pix_sum / $base_sum" 3)

echo "events: ${dur}s of POST /v1/events, $batch events per request, $event_conns connections" >&2
t0=$(now)
BENCH_RUN="r$$" BENCH_BATCH=$batch wrk -t"$threads" -c"$event_conns" -d"${dur}s" -s scripts/bench-events.lua "http://$api" >"$work/events.out"
t_wrk=$(now)
read -r events t_land < <(settle "SELECT uniqExact(event_id) FROM bench.events WHERE kind = 'conversion'")
wrk_line=$(grep '^wrk_requests=' "$work/events.out")
# How the ingester carried them: straight from the queue, or through the
# disk spool when the queue was full.
ingest=$(curl -fsS "http://$api/metrics" | awk '/^splitcast_events_(accepted|written|spooled|replayed)_total |^splitcast_clickhouse_write_failures_total / { sub("splitcast_", ""); printf "%s=%s ", $1, $2 }')
events_rate=$(calc "$events / ($t_land - $t0)")
http_rate=$(calc "$events / ($t_wrk - $t0)")

echo "bare insert of $events rows" >&2
bare=$("$work/trackbench" insert -clickhouse-addr "127.0.0.1:$ch_tcp" -rows "$events" $ingest_batch)
bare_rate=$(echo "$bare" | sed -n 's/.*rows_per_s=\([0-9]*\).*/\1/p')
events_ratio=$(calc "$events_rate / $bare_rate" 3)
bare_col=$("$work/trackbench" insert -clickhouse-addr "127.0.0.1:$ch_tcp" -rows "$events" $ingest_batch -columnar)
bare_col_rate=$(echo "$bare_col" | sed -n 's/.*rows_per_s=\([0-9]*\).*/\1/p')
extra=""
for b in $bare_batches; do
  extra="$extra$("$work/trackbench" insert -clickhouse-addr "127.0.0.1:$ch_tcp" -rows "$events" -batch "$b")"$'\n'
done

verdict() { awk "BEGIN { exit !($1 >= $2) }" && echo "target >= $2 met" || echo "BELOW the target of $2"; }
cat <<EOF

== pixel: GET /o/{token}.gif, wrk -t$threads -c$conns, 2 x ${dur}s each
baseline (trivial Fiber GIF handler)  $(calc "$base_sum / 2") req/s
splitcast pixel                       $(calc "$pix_sum / 2") req/s
ratio                                 $pixel_ratio   ($(verdict "$pixel_ratio" 0.6))
opens landed in ClickHouse            $opens (wrk counted $pix_requests pixel responses)
CPU per request, baseline             $(calc "$base_cpu / $hz * 1e6 / $base_requests" 1) us
CPU per request, splitcast            $(calc "$pix_cpu / $hz * 1e6 / $pix_requests" 1) us, and ClickHouse $(calc "$ch_cpu / $hz * 1e6 / $pix_requests" 1) us for the insert
load average at the end               $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores (other work on the machine skews req/s, less so CPU per request)

== events: POST /v1/events, $batch per request, wrk -t$threads -c$event_conns -d${dur}s
$wrk_line
events in ClickHouse                  $events (distinct ids)
ingester counters (whole run)         $ingest
accepted over HTTP                    $http_rate events/s (first request to last response)
into ClickHouse                       $events_rate events/s (first request to last event landed)
bare clickhouse-go insert             $bare_rate rows/s ($bare)
ratio                                 $events_ratio   ($(verdict "$events_ratio" 0.5))
bare insert, columnar appends         $bare_col_rate rows/s ($bare_col), ratio $(calc "$events_rate / $bare_col_rate" 3)

== bare insert at other batch sizes, for the ingester's MaxBatch
$extra
EOF
