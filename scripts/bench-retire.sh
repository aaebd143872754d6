#!/usr/bin/env bash
# A retirement pass (`splitcast retire-once`) over EXPERIMENTS running
# experiments (default 20) of EVENTS/EXPERIMENTS events each (default 10M
# in all: 500k each), in a ClickHouse of its own (loopback, scratch data
# under .data/bench-retire, removed at the end). Pass 1 is a process new to
# the experiments, with no report sums saved (each experiment's units are
# summed whole once); later passes, also new processes, start from the
# sums the first saved, after TRICKLE new events (default 1000) each.
# Target: a pass within 10 s. Never in test.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin"
events=${EVENTS:-10000000}
experiments=${EXPERIMENTS:-20}
passes=${PASSES:-3}
data=.data/bench-retire
# Binaries of its own: a rebuild of bin/ during a run changes nothing here.
bin=$data/bin/splitcast bench=$data/bin/benchreport
tcp=19610 http=18610
rm -rf "$data"
mkdir -p "$data/bin"
go build -o "$bin" ./cmd/splitcast
go build -o "$bench" ./cmd/benchreport
ch=(-data-dir "$data" -local-clickhouse-tcp-port "$tcp" -local-clickhouse-http-port "$http")
cleanup() {
  "$bin" clickhouse stop "${ch[@]}" >/dev/null 2>&1 || true
  rm -rf "$data"
}
trap cleanup EXIT
"$bin" clickhouse start "${ch[@]}"
"$bench" seed -clickhouse-addr "127.0.0.1:$tcp" -database benchretire -events "$events" -experiments "$experiments"
export SPLITCAST_CLICKHOUSE_ADDR="127.0.0.1:$tcp" SPLITCAST_CLICKHOUSE_DATABASE=benchretire SPLITCAST_LOG_LEVEL=warn SPLITCAST_DATA_DIR="$data/cmd"
t0=$(date +%s.%N)
"$bin" migrate | tail -1
echo "migrate and back-fill: $(echo "$(date +%s.%N) - $t0" | bc) s"
for pass in $(seq "$passes"); do
  if [ "$pass" -gt 1 ]; then
    "$bench" news -clickhouse-addr "127.0.0.1:$tcp" -database benchretire -trickle "${TRICKLE:-1000}" -experiments "$experiments"
  fi
  t0=$(date +%s.%N)
  "$bin" retire-once >"$data/pass.out"
  t=$(echo "$(date +%s.%N) - $t0" | bc)
  echo "pass $pass in a new process (splitcast retire-once) over $experiments experiments: $t s, $(grep -c "^retirement: bench" "$data/pass.out" || true) decisions"
done
# Passes in one process, as the server's loop runs them: sums kept in memory.
"$bench" retire -clickhouse-addr "127.0.0.1:$tcp" -database benchretire -rounds "$passes" -trickle "${TRICKLE:-1000}" -experiments "$experiments"
