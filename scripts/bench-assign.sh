#!/usr/bin/env bash
# Load figures of assignment over HTTP, on loopback only:
#  1. POST /v1/assign requests/s and p99 under wrk, against `splitcast serve`
#     (with its own ClickHouse, exposures logged) and against a trivial Fiber
#     JSON handler (scripts/benchbaseline) measured in the same run; the
#     figure that matters is the ratio (target >= 0.6); then the same
#     load on a copy of the experiment whose first segment is chosen by
#     behavioural traits (target: a ratio within 20% of the one without);
#     then rules on computed traits (orders and revenue from POST /v1/track,
#     for a pool of BENCH_TRAIT_UNITS units) against the same rules on the
#     same values sent as attributes (target: within 20%).
#  2. POST /v1/assign/bulk of N units (default 1,000,000) through curl:
#     units/s (target >= 250,000) and the server's peak RSS (VmHWM) before
#     and after, to show memory stays flat while the list streams.
# The server runs without its rate limits (SPLITCAST_RATE_PER_KEY=0,
# SPLITCAST_RATE_PER_IP=0): one client on loopback is the whole load.
# Not part of `make test`: run it with `make bench` or directly. Settings:
#   BENCH_DURATION (10s) BENCH_CONNECTIONS (32) BENCH_THREADS (1)
#   BENCH_ROUNDS (2) BENCH_UNITS (1000000) BENCH_TRAIT_UNITS (20000)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin" # Debian's clickhouse-server

duration=${BENCH_DURATION:-10s}
conns=${BENCH_CONNECTIONS:-32}
threads=${BENCH_THREADS:-1}
rounds=${BENCH_ROUNDS:-2}
units=${BENCH_UNITS:-1000000}
trait_units=${BENCH_TRAIT_UNITS:-20000}
dir=.data/bench-assign
sc_addr=127.0.0.1:18480
base_addr=127.0.0.1:18481
admin_key=dev-admin-key
sdk_key=dev-sdk-key
read_key=dev-read-key

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

echo "== computed traits: $trait_units units' orders tracked, rules on them against the same values as attributes =="
# Unit ct-k has k % 4 orders of 60, tracked now.
awk -v n="$trait_units" 'BEGIN {
	b = 0
	for (k = 0; k < n; k++) for (o = 0; o < k % 4; o++) {
		if (b % 1000 == 0) { if (b > 0) print "]}"; printf "{\"events\":[" } else printf ","
		printf "{\"id\":\"o-%d\",\"unit_id\":\"ct-%d\",\"name\":\"order_completed\",\"properties\":{\"total\":60}}", o, k
		b++
	}
	if (b > 0) print "]}"
}' >"$dir/orders.jsonl"
while IFS= read -r line; do
	curl -fsS -o /dev/null -X POST "http://$sc_addr/v1/track" -H "Authorization: Bearer $sdk_key" \
		-H 'Content-Type: application/json' --data-binary "$line"
done <"$dir/orders.jsonl"
last=$((trait_units - 1 - (trait_units - 4) % 4)) # a unit with 3 orders
for _ in $(seq 1 120); do
	curl -fsS "http://$sc_addr/v1/units/ct-$last/traits" -H "Authorization: Bearer $read_key" |
		grep -q '"trait.purchases.orders_30d":3' && break
	sleep 1
done
curl -fsS "http://$sc_addr/v1/units/ct-$last/traits" -H "Authorization: Bearer $read_key" | grep -q '"trait.purchases.orders_30d":3' ||
	{ echo "bench-assign: the tracked orders did not reach the traits of ct-$last in 2 minutes" >&2; exit 1; }
for variant in computed attrs; do
	prefix=trait.purchases.
	[ "$variant" = attrs ] && prefix=
	jq --arg key "welcome-email-$variant" --arg p "$prefix" '.key = $key | .segments[0].rule = {"all": [
		{"attr": ($p + "orders_30d"), "op": "gte", "value": 2},
		{"attr": ($p + "revenue_90d"), "op": "gte", "value": 100}]}' docs/examples/experiment.json |
		curl -fsS -o /dev/null -X POST "http://$sc_addr/v1/experiments" \
			-H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' --data-binary @-
	curl -fsS -o /dev/null -X POST "http://$sc_addr/v1/experiments/welcome-email-$variant/start" \
		-H "Authorization: Bearer $admin_key"
done
# The same unit's answer from both: the rules see the same values.
for k in 0 1 2 3 $last; do
	a=$(curl -fsS -X POST "http://$sc_addr/v1/assign" -H "Authorization: Bearer $sdk_key" -H 'Content-Type: application/json' \
		-d "{\"experiment\":\"welcome-email-computed\",\"unit_id\":\"ct-$k\",\"attributes\":{\"plan\":\"pro_trial\",\"country\":\"FR\"}}" | jq -r .segment)
	b=$(curl -fsS -X POST "http://$sc_addr/v1/assign" -H "Authorization: Bearer $sdk_key" -H 'Content-Type: application/json' \
		-d "{\"experiment\":\"welcome-email-attrs\",\"unit_id\":\"ct-$k\",\"attributes\":{\"plan\":\"pro_trial\",\"country\":\"FR\",\"orders_30d\":$((k % 4)),\"revenue_90d\":$((60 * (k % 4)))}}" | jq -r .segment)
	[ "$a" = "$b" ] || { echo "bench-assign: ct-$k is in segment $a by traits but $b by attributes" >&2; exit 1; }
done
run_pool() { # experiment attrs(0|1) -> "rps p99_ms"
	BENCH_POOL=$trait_units BENCH_ORDER_ATTRS=$2 run_wrk "http://$sc_addr" "$1"
}
sum_ct=0 sum_at=0
for r in $(seq 1 "$rounds"); do
	if ((r % 2)); then
		read -r at_rps at_p99 < <(run_pool welcome-email-attrs 1)
		read -r ct_rps ct_p99 < <(run_pool welcome-email-computed 0)
	else
		read -r ct_rps ct_p99 < <(run_pool welcome-email-computed 0)
		read -r at_rps at_p99 < <(run_pool welcome-email-attrs 1)
	fi
	printf 'round %d: values as attributes %8.0f req/s p99 %6.2f ms | computed traits %8.0f req/s p99 %6.2f ms | ratio %.2f\n' \
		"$r" "$at_rps" "$at_p99" "$ct_rps" "$ct_p99" "$(echo "$ct_rps / $at_rps" | bc -l)"
	sum_ct=$(echo "$sum_ct + $ct_rps" | bc -l)
	sum_at=$(echo "$sum_at + $at_rps" | bc -l)
done
printf 'assign with computed-trait rules: %.2f of the same rules on attributes  (target: within 20%%)\n' \
	"$(echo "$sum_ct / $sum_at" | bc -l)"

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
