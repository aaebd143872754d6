package analytics_test

import (
	"testing"

	"github.com/splitcast/splitcast/experiment/deptest"
)

// TestDeps keeps the domain free of infrastructure (STYLE.md): analytics and
// its steps (ingest, traits, stats, results, retire) decide and compute;
// HTTP lives in api and ClickHouse in analytics/clickhouse.
func TestDeps(t *testing.T) {
	deptest.BadDeps(t, []string{".", "./ingest", "./traits", "./stats", "./results/...", "./retire"}, map[string]string{
		"github.com/gofiber/fiber/v2":            "HTTP belongs in api",
		"github.com/ClickHouse/clickhouse-go/v2": "ClickHouse belongs in analytics/clickhouse",
		"github.com/prometheus/":                 "metrics are exported by api from Stats()",
		"github.com/splitcast/splitcast/api":     "the analytics steps never call back into HTTP",
	})
}

// TestClickHouseDeps keeps Fiber out of the storage layer: api depends on
// storage through interfaces, never the other way round.
func TestClickHouseDeps(t *testing.T) {
	deptest.BadDeps(t, []string{"./clickhouse/..."}, map[string]string{
		"github.com/gofiber/": "HTTP belongs in api",
		"github.com/valyala/": "HTTP belongs in api",
	})
}
