package assign_test

import (
	"testing"

	"github.com/splitcast/splitcast/experiment/deptest"
)

// TestDeps keeps assignment pure and portable: no HTTP, no database, no
// statistics library, so the Go SDK can embed it.
func TestDeps(t *testing.T) {
	deptest.BadDeps(t, []string{".", "./assigntest"}, map[string]string{
		"github.com/gofiber/fiber/v2":            "HTTP belongs in api",
		"github.com/ClickHouse/clickhouse-go/v2": "ClickHouse belongs in analytics/clickhouse",
		"gonum.org/v1/gonum":                     "statistics belong in analytics/stats",
		"net/http":                               "assignment never calls out",
	})
}
