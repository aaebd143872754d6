package experiment_test

import (
	"testing"

	"github.com/splitcast/splitcast/experiment/deptest"
)

// TestDeps keeps the domain root free of infrastructure: the package layout
// in DESIGN.md depends on it.
func TestDeps(t *testing.T) {
	deptest.BadDeps(t, []string{".", "./experimenttest"}, map[string]string{
		"github.com/gofiber/fiber/v2":            "HTTP belongs in api",
		"github.com/ClickHouse/clickhouse-go/v2": "ClickHouse belongs in analytics/clickhouse",
		"gonum.org/v1/gonum":                     "statistics belong in analytics/stats",
		"github.com/spaolacci/murmur3":           "hashing belongs in assign",
	})
}
