# Splitcast. `make run` serves on 127.0.0.1:8080 with a local ClickHouse;
# `make test` runs every test against a real ClickHouse that it starts.
GO        ?= go
BIN       := bin/splitcast
# Debian installs clickhouse-server in /usr/sbin, which a non-login shell may
# not have on PATH.
export PATH := $(PATH):/usr/sbin
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build run test faulttest bench-tracking loadtest unit lint deps bench demo demo-reengagement screenshot bench-report bench-retire clickhouse-start clickhouse-stop testdata-stats testdata-assignment bench-bandit

all: build

build:
	$(GO) build -o $(BIN) ./cmd/splitcast

deps:
	@scripts/deps.sh base browser

# Installs what is missing, starts the local ClickHouse, migrates and serves.
# Ctrl-C stops the server and the ClickHouse it started.
run: deps build
	exec $(BIN) serve -dev

# Lint, then every test. Integration tests start their own ClickHouse
# servers (analytics/clickhouse/chtest); none is skipped for want of one.
test: deps lint
	$(GO) test -race -count=1 -timeout 20m ./...
	$(MAKE) notebooks

# The analysts' notebooks, executed headless against a ClickHouse and an API
# of their own seeded by `splitcast demo` and notebooks/seed_http.py: fails
# if a notebook is committed with outputs, if any cell fails, or if the
# readout's numbers differ from GET /v1/experiments/{key}/results. Renders
# notebooks/out/experiment_readout.html.
.PHONY: notebooks
notebooks: build
	@scripts/deps.sh base notebooks
	notebooks/run.sh

# Load figures, on loopback only and never part of test: the in-process
# assignment benchmark, then POST /v1/assign under wrk as a ratio against a
# trivial Fiber handler (with and without trait rules), and 1M units of
# bulk assignment (units/s, RSS).
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./assign
	scripts/bench-assign.sh

# Replays five days of a simulated experiment through the API (segment pro:
# b +15% on clicks, c -10%; segment everyone: no difference), lets the
# retirement loop act after each day, prints the report and the page URL,
# and keeps serving on 127.0.0.1:8080 until Ctrl-C (SPLITCAST_DEMO_EXIT=1:
# seed the data and exit).
demo: deps build
	$(BIN) demo

# docs/examples/reengagement.json on recipients whose lifecycle stages
# (dormant, at risk, active) come from 50 days of replayed history; see
# README.
demo-reengagement: deps build
	$(BIN) demo -scenario reengagement

# A PNG of the demo's report page in headless Chromium: bin/report.png; and
# the console's pages at 1400 and 400 px wide (bin/console-*.png), from the
# browser test that checks them, against a ClickHouse of its own.
screenshot: deps build
	scripts/screenshot.sh bin/report.png
	SPLITCAST_SCREENSHOTS=$(abspath bin) $(GO) test -count=1 -run '^TestConsolePages$$' ./cmd/splitcast

# GET /results against the bare aggregate SQL on 10M events; never in test.
bench-report: deps build
	scripts/bench-report.sh

# A retirement pass over 20 running experiments of 500k events each
# (scripts/bench-retire.sh; EXPERIMENTS, EVENTS). Never in test.
bench-retire: deps build
	scripts/bench-retire.sh

# The fault test alone and without the race detector, so that it also
# holds the pixel to p99 < 50ms; make test runs it without that bound.
# It also runs the crash test (SIGKILL mid-stream) 20 times; make test runs it 5 times.
faulttest: deps
	SPLITCAST_FAULTTEST=1 SPLITCAST_CRASH_RUNS=20 $(GO) test -count=1 -run 'TestFaultsLoseNothing|TestCrashLosesNothingAnswered' -v -timeout 15m ./cmd/splitcast

# Load figures of the tracking path against baselines in the same run (wrk).
bench-tracking:
	scripts/bench-tracking.sh

# The load and fault suite (cmd/loadtest), on loopback and never part of
# test; about 5 minutes, at most LOADTEST_FLAGS' -timeout (9m). Fails on an
# error answer, a lost event in the ClickHouse-kill soak, or a second server
# slower than the refresh interval + 1s to follow a change. See README.
loadtest:
	@scripts/deps.sh base load
	$(GO) build -o bin/loadtest ./cmd/loadtest
	bin/loadtest $(LOADTEST_FLAGS)

lint:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

clickhouse-start: deps build
	$(BIN) clickhouse start

clickhouse-stop: build
	$(BIN) clickhouse stop

# Regenerate the reference vectors from their independent implementations.
testdata-stats:
	@scripts/deps.sh stats
	/usr/bin/python3 testdata/stats/generate.py
	/usr/bin/python3 testdata/stats/generate_bandit.py

testdata-assignment:
	/usr/bin/python3 testdata/assignment/generate.py > testdata/assignment/vectors.json
	/usr/bin/python3 testdata/assignment/generate_reweight.py > testdata/assignment/reweight.json

# The bandit simulation at full size: 500 seeded runs per scenario through
# assign, retire, bandit and the stratified estimator (make test runs 40);
# prints the table of docs/bandit.md.
bench-bandit:
	SPLITCAST_BANDIT_RUNS=500 $(GO) test -count=1 -run '^TestSimulation$$' -v -timeout 30m ./analytics/bandit
