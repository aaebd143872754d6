package client_test

import (
	"testing"

	"github.com/splitcast/splitcast/experiment/deptest"
)

// TestDeps keeps the SDK light enough to embed in any Go program: it brings
// the assignment code and net/http, never the server's web framework or
// database driver.
func TestDeps(t *testing.T) {
	deptest.BadDeps(t, []string{"."}, map[string]string{
		"github.com/gofiber/fiber/v2":               "Fiber is the server's framework (package api)",
		"github.com/valyala/fasthttp":               "Fiber's HTTP stack is the server's",
		"github.com/ClickHouse/clickhouse-go/v2":    "ClickHouse belongs in analytics/clickhouse",
		"gonum.org/v1/gonum":                        "statistics belong in analytics/stats",
		"github.com/splitcast/splitcast/api$":       "the SDK must not import the server",
		"github.com/splitcast/splitcast/analytics$": "events are the server's business",
	})
}
