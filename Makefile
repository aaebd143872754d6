# Splitcast. `make run` serves on 127.0.0.1:8080 with a local ClickHouse;
# `make test` runs every test against a real ClickHouse that it starts.
GO        ?= go
BIN       := bin/splitcast
# Debian installs clickhouse-server in /usr/sbin, which a non-login shell may
# not have on PATH.
export PATH := $(PATH):/usr/sbin
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build run test unit lint deps bench clickhouse-start clickhouse-stop testdata-stats testdata-assignment

all: build

build:
	$(GO) build -o $(BIN) ./cmd/splitcast

deps:
	@scripts/deps.sh base browser

# Installs what is missing, starts the local ClickHouse, migrates and serves.
# Ctrl-C stops the server and the ClickHouse it started.
run: deps build
	exec $(BIN) serve

# Lint, then every test. Integration tests start their own ClickHouse
# servers (analytics/clickhouse/chtest); none is skipped for want of one.
test: deps lint
	$(GO) test -race -count=1 -timeout 20m ./...

# Load figures, on loopback only and never part of test: the in-process
# assignment benchmark, then POST /v1/assign under wrk as a ratio against a
# trivial Fiber handler, and 1M units of bulk assignment (units/s, RSS).
bench: build
	$(GO) test -run '^$$' -bench . -benchmem ./assign
	scripts/bench-assign.sh

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

testdata-assignment:
	/usr/bin/python3 testdata/assignment/generate.py > testdata/assignment/vectors.json
