#!/usr/bin/env bash
# Load figures of assignment over HTTP, on loopback only:
#  1. POST /v1/assign requests/s and p99 under wrk, against `splitcast serve`
#     (with its own ClickHouse, exposures logged) and against a trivial Fiber
#     JSON handler (scripts/benchbaseline) measured in the same run; the
#     figure that matters is the ratio (target >= 0.6); then the same
#     load on a copy of the experiment whose first segment is chosen by
#     behavioural traits (target: a ratio within 20% of the one without).
#  2. POST /v1/assign/bulk of N units (default 1,000,000) through curl:
#     units/s (target >= 250,000) and the server's peak RSS (VmHWM) before
#     and after, to show memory stays flat while the list streams.
# The server runs without its rate limits (SPLITCAST_RATE_PER_KEY=0,
# SPLITCAST_RATE_PER_IP=0): one client on loopback is the whole load.
# Not part of `make test`: run it with `make bench` or directly. Settings:
#   BENCH_DURATION (10s) BENCH_CONNECTIONS (32) BENCH_THREADS (1)
#   BENCH_ROUNDS (2) BENCH_UNITS (1000000)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin" # Debian's clickhouse-server

duration=${BENCH_DURATION:-10s}
conns=${BENCH_CONNECTIONS:-32}
threads=${BENCH_THREADS:-1}
rounds=${BENCH_ROUNDS:-2}
units=${BENCH_UNITS:-1000000}
dir=.data/bench-assign
sc_addr=127.0.0.1:18480
base_addr=127.0.0.1:18481
admin_key=dev-admin-key
sdk_key=dev-sdk-key

for tool in wrk curl go clickhouse-server; do
	command -v "$tool" >/dev/null || { echo "bench-assign: $tool is missing (apt-get install -y wrk curl)" >&2; exit 1; }
done

rm -rf "$dir"
mkdir -p "$dir"
go build -o "$dir/splitcast" ./cmd/splitcast
go build -o "$dir/benchbaseline" ./scripts/benchbaseline

pids=()
cleanup() {
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
}
trap cleanup EXIT

SPLITCAST_ADDR=$sc_addr SPLITCAST_DATA_DIR=$dir/data \
	SPLITCAST_LOCAL_CLICKHOUSE_TCP_PORT=29000 SPLITCAST_LOCAL_CLICKHOUSE_HTTP_PORT=28123 \
	SPLITCAST_LOG_LEVEL=warn SPLITCAST_SNAPSHOT_REFRESH=1s \
	SPLITCAST_RATE_PER_KEY=0 SPLITCAST_RATE_PER_IP=0 \
	"$dir/splitcast" serve >"$dir/serve.out" 2>"$dir/serve.log" &
sc_pid=$!
pids+=("$sc_pid")
"$dir/benchbaseline" -addr "$base_addr" 2>"$dir/baseline.log" &
pids+=("$!")

wait_up() { # url name
	for _ in $(seq 1 600); do
		curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "bench-assign: $2 did not come up; see $dir/*.log" >&2
	exit 1
}
wait_up "http://$sc_addr/readyz" splitcast
for _ in $(seq 1 100); do
	code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://$base_addr/v1/assign" -H 'Content-Type: application/json' -d '{}' || true)
	[ "$code" = 200 ] && break
	sleep 0.1
done

curl -fsS -o /dev/null -X POST "http://$sc_addr/v1/experiments" \
	-H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' \
	--data-binary @docs/examples/experiment.json
curl -fsS -o /dev/null -X POST "http://$sc_addr/v1/experiments/welcome-email/start" \
	-H "Authorization: Bearer $admin_key"
# The same experiment with its first segment chosen by behavioural traits
# (two conditions, as the original's), for the cost of trait rules.
jq '.key = "welcome-email-traits" | .segments[0].rule = {"all": [
	{"attr": "trait.lifecycle_stage", "op": "in", "values": ["active", "re_engaged"]},
	{"attr": "trait.engagement_level", "op": "in", "values": ["medium", "high"]}]}' docs/examples/experiment.json |
	curl -fsS -o /dev/null -X POST "http://$sc_addr/v1/experiments" \
		-H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' --data-binary @-
curl -fsS -o /dev/null -X POST "http://$sc_addr/v1/experiments/welcome-email-traits/start" \
	-H "Authorization: Bearer $admin_key"

vm() { # field: VmHWM or VmRSS of splitcast serve, in MiB
	awk -v f="$1:" '$1 == f { printf "%.1f", $2 / 1024 }' "/proc/$sc_pid/status"
}

run_wrk() { # url [experiment] -> "rps p99_ms"
	BENCH_EXPERIMENT=${2:-welcome-email} SPLITCAST_SDK_KEY=$sdk_key wrk -t"$threads" -c"$conns" -d"$duration" --latency \
		-s scripts/bench-assign.lua "$1" | tee -a "$dir/wrk.out" |
		awk '/^RESULT/ { split($2, r, "="); split($3, p, "="); split($5, e, "="); split($6, s, "=");
			if (e[2] + s[2] > 0) { print "bench-assign: errors in run: " $0 > "/dev/stderr"; exit 1 }
			print r[2], p[2] }'
}

echo "== POST /v1/assign under wrk: $threads thread(s), $conns connections, $duration per run, $rounds rounds, 2 cores shared =="
# Warm both up (JIT-free, but connection pools, page cache, ClickHouse).
SPLITCAST_SDK_KEY=$sdk_key wrk -t1 -c8 -d2s -s scripts/bench-assign.lua "http://$sc_addr" >/dev/null
SPLITCAST_SDK_KEY=$sdk_key wrk -t1 -c8 -d2s -s scripts/bench-assign.lua "http://$base_addr" >/dev/null
sum_sc=0 sum_tr=0 sum_base=0
for r in $(seq 1 "$rounds"); do
	read -r base_rps base_p99 < <(run_wrk "http://$base_addr")
	# The server slows as it holds more units: the two experiments take
	# turns at running first.
	if ((r % 2)); then
		read -r sc_rps sc_p99 < <(run_wrk "http://$sc_addr")
		read -r tr_rps tr_p99 < <(run_wrk "http://$sc_addr" welcome-email-traits)
	else
		read -r tr_rps tr_p99 < <(run_wrk "http://$sc_addr" welcome-email-traits)
		read -r sc_rps sc_p99 < <(run_wrk "http://$sc_addr")
	fi
	printf 'round %d: baseline %8.0f req/s p99 %6.2f ms | splitcast %8.0f req/s p99 %6.2f ms | ratio %.2f | trait rules %8.0f req/s p99 %6.2f ms | ratio %.2f\n' \
		"$r" "$base_rps" "$base_p99" "$sc_rps" "$sc_p99" "$(echo "$sc_rps / $base_rps" | bc -l)" \
		"$tr_rps" "$tr_p99" "$(echo "$tr_rps / $base_rps" | bc -l)"
	sum_sc=$(echo "$sum_sc + $sc_rps" | bc -l)
	sum_tr=$(echo "$sum_tr + $tr_rps" | bc -l)
	sum_base=$(echo "$sum_base + $base_rps" | bc -l)
done
printf 'assign ratio (splitcast / trivial Fiber, mean of %d rounds): %.2f  (target >= 0.60)\n' \
	"$rounds" "$(echo "$sum_sc / $sum_base" | bc -l)"
printf 'assign ratio with trait rules: %.2f, %.2f of the ratio without  (target: within 20%%)\n' \
	"$(echo "$sum_tr / $sum_base" | bc -l)" "$(echo "$sum_tr / $sum_sc" | bc -l)"

echo "== POST /v1/assign/bulk of $units units through curl =="
awk -v n="$units" 'BEGIN {
	for (i = 0; i < n; i++) {
		if (i % 2) printf "{\"unit_id\":\"bulk-%d\",\"send_id\":\"s-%d\",\"attributes\":{\"plan\":\"pro_trial\",\"country\":\"DE\"}}\n", i, i
		else printf "{\"unit_id\":\"bulk-%d\",\"send_id\":\"s-%d\"}\n", i, i
	}
}' >"$dir/units.ndjson"
hwm_before=$(vm VmHWM)
rss_before=$(vm VmRSS)
# The answers (about 700 bytes a unit) go to a file, as a sending system
# would keep them, and are counted after the clock stops: counting them
# through pipes meanwhile took CPU from the server on a 2-core machine.
start=$(date +%s.%N)
curl -fsS -X POST -T "$dir/units.ndjson" -o "$dir/bulk.out" \
	-H "Authorization: Bearer $sdk_key" -H 'Content-Type: application/x-ndjson' \
	"http://$sc_addr/v1/assign/bulk?experiment=welcome-email"
end=$(date +%s.%N)
lines=$(wc -l <"$dir/bulk.out")
errors=$(grep -c -F '{"line":' "$dir/bulk.out" || true)
rm -f "$dir/bulk.out"
secs=$(echo "$end - $start" | bc -l)
printf 'bulk: %d units in %.2f s = %.0f units/s (target >= 250000); %s answer lines, %s error lines\n' \
	"$units" "$secs" "$(echo "$units / $secs" | bc -l)" "$lines" "$errors"
printf 'bulk: server VmHWM %s MiB before, %s MiB after; VmRSS %s MiB before, %s MiB after\n' \
	"$hwm_before" "$(vm VmHWM)" "$rss_before" "$(vm VmRSS)"
[ "$lines" = "$units" ] || { echo "bench-assign: $lines answers for $units units" >&2; exit 1; }
