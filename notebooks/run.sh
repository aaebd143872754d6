#!/usr/bin/env bash
# make notebooks: checks that the committed notebooks carry no outputs, starts
# a ClickHouse and an API of their own on free loopback ports, seeds two
# experiments (`splitcast demo`: days of traffic with known effects and a
# retirement; seed_http.py: a holdout, units exposed in two arms, retried
# events, machine traffic of every kind, breakdown dimensions, user events
# for three custom metrics; and a campaign imported with `splitcast
# import`), executes every notebook headless
# (any failing cell fails the run), checks that the readout agrees with
# GET /v1/experiments/{key}/results for both experiments, and renders the
# readout to HTML with its charts. Outputs go to notebooks/out (git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=/usr/bin/python3 # Debian's, where the notebook packages are installed
OUT=notebooks/out
BIN=${SPLITCAST_BIN:-bin/splitcast} # another build, to try a change to the report
UNITS=${SPLITCAST_NOTEBOOK_UNITS:-15000}

"$PY" notebooks/strip.py --check notebooks/*.ipynb
mkdir -p "$OUT"
rm -f "$OUT"/*.ipynb "$OUT"/*.html "$OUT"/*.json "$OUT"/*.log

data=$(mktemp -d "${TMPDIR:-/tmp}/splitcast-notebooks.XXXXXX")
read -r ch_tcp ch_http api_port < <("$PY" -c '
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])')

# Every setting explicit: the caller's SPLITCAST_* must not send the seeding
# to their own ClickHouse.
export SPLITCAST_DATA_DIR="$data" SPLITCAST_LOCAL_CLICKHOUSE_TCP_PORT="$ch_tcp" \
  SPLITCAST_LOCAL_CLICKHOUSE_HTTP_PORT="$ch_http" SPLITCAST_ADDR="127.0.0.1:$api_port" \
  SPLITCAST_BASE_URL="" SPLITCAST_CLICKHOUSE_USER=default SPLITCAST_CLICKHOUSE_PASSWORD="" \
  SPLITCAST_CLICKHOUSE_DATABASE=splitcast SPLITCAST_CLICKHOUSE_CLUSTER="" \
  SPLITCAST_ADMIN_KEY=dev-admin-key SPLITCAST_SDK_KEY=dev-sdk-key SPLITCAST_READ_KEY=dev-read-key \
  SPLITCAST_RATE_PER_KEY=0 SPLITCAST_RATE_PER_IP=0 SPLITCAST_RETIRE=false
unset SPLITCAST_CLICKHOUSE_ADDR SPLITCAST_TOKEN_KEYS

serve_pid=""
cleanup() {
  status=$?
  if [ -n "$serve_pid" ]; then kill "$serve_pid" 2>/dev/null && wait "$serve_pid" 2>/dev/null || true; fi
  SPLITCAST_CLICKHOUSE_ADDR="" "$BIN" clickhouse stop >/dev/null 2>&1 || true
  rm -rf "$data"
  exit $status
}
trap cleanup EXIT

"$BIN" clickhouse start >"$OUT/clickhouse.log" 2>&1
export SPLITCAST_CLICKHOUSE_ADDR="127.0.0.1:$ch_tcp"
api="http://127.0.0.1:$api_port"

"$BIN" demo -exit -units "$UNITS" -days 7 >"$OUT/demo.log" 2>"$OUT/demo.err" || {
  tail -20 "$OUT/demo.log" "$OUT/demo.err" >&2
  exit 1
}
demo_key=$(sed -n 's/^demo: experiment \([^:]*\):.*/\1/p' "$OUT/demo.log")
[ -n "$demo_key" ] || { echo "notebooks: no experiment key in $OUT/demo.log" >&2; exit 1; }

"$BIN" serve >"$OUT/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 1 100); do
  "$PY" -c "import urllib.request as u; u.urlopen('$api/readyz', timeout=1)" 2>/dev/null && break
  kill -0 "$serve_pid" 2>/dev/null || { tail -20 "$OUT/serve.log" >&2; exit 1; }
  sleep 0.2
done
edge_key=notebook-edges
"$PY" notebooks/seed_http.py "$api" docs/examples/experiment.json "$edge_key"

# A campaign sent by another tool (testdata/imports/generate.py), created and
# imported as an analyst would: the readout must work on it and agree too.
import_key=spring-sale
mkdir -p "$data/import"
"$PY" testdata/imports/generate.py "$data/import" "${SPLITCAST_NOTEBOOK_IMPORT_UNITS:-10000}" >"$OUT/import.log"
"$PY" -c '
import sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/v1/experiments", data=open(sys.argv[2], "rb").read(), method="POST",
                             headers={"Authorization": "Bearer dev-admin-key", "Content-Type": "application/json"})
urllib.request.urlopen(req, timeout=60).read()' "$api" testdata/imports/experiment.json
"$BIN" import -url "$api" -key dev-admin-key -experiment "$import_key" "$data/import/campaign.csv" >>"$OUT/import.log"

# Runs a notebook headless on one experiment; a cell that raises makes
# nbconvert exit non-zero, and this prints the end of its log.
execute() { # notebook experiment output-name
  if ! PYDEVD_DISABLE_FILE_VALIDATION=1 SPLITCAST_EXPERIMENT="$2" \
    SPLITCAST_NOTEBOOK_RESULTS="$PWD/$OUT/$3.json" \
    "$PY" -m nbconvert --to notebook --execute --ExecutePreprocessor.kernel_name=python3 \
    --ExecutePreprocessor.timeout=300 --output-dir "$OUT" --output "$3" "notebooks/$1.ipynb" >"$OUT/$3.log" 2>&1; then
    tail -40 "$OUT/$3.log" >&2
    echo "notebooks: $1 failed on $2 (log: $OUT/$3.log)" >&2
    return 1
  fi
}

for nb in notebooks/*.ipynb; do
  name=$(basename "$nb" .ipynb)
  execute "$name" "$demo_key" "$name"
done
execute experiment_readout "$edge_key" experiment_readout-edges
execute experiment_readout "$import_key" experiment_readout-imported

"$PY" notebooks/check_agreement.py "$OUT/experiment_readout.json" "$api" "$demo_key"
"$PY" notebooks/check_agreement.py "$OUT/experiment_readout-edges.json" "$api" "$edge_key"
"$PY" notebooks/check_agreement.py "$OUT/experiment_readout-imported.json" "$api" "$import_key"

"$PY" -m nbconvert --to html --output-dir "$OUT" "$OUT/experiment_readout.ipynb" 2>&1 | grep -v '^\[NbConvertApp\] Converting' || true
# The readout draws three charts; each must be in the page as a PNG of some
# size (the page's own icons are a few hundred bytes).
charts=$("$PY" -c '
import re, sys
print(sum(len(p) > 5000 for p in re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", open(sys.argv[1]).read())))' \
  "$OUT/experiment_readout.html")
if [ "$charts" -lt 3 ]; then
  echo "notebooks: $OUT/experiment_readout.html embeds $charts charts, want 3" >&2
  exit 1
fi
echo "notebooks: all executed; readout agrees with the API for $demo_key, $edge_key and the imported $import_key; $OUT/experiment_readout.html ($charts charts)"
