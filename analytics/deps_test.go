package analytics_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the domain free of infrastructure (STYLE.md, after
// tailscale's deptest): analytics and analytics/stats decide and compute;
// HTTP lives in api and ClickHouse in analytics/clickhouse.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".", "./stats").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, out)
	}
	bad := map[string]string{
		"github.com/gofiber/fiber":            "HTTP belongs in api",
		"github.com/ClickHouse/clickhouse-go": "ClickHouse belongs in analytics/clickhouse",
		"github.com/prometheus/":              "metrics are exported by api from Stats()",
	}
	for _, dep := range strings.Fields(string(out)) {
		for prefix, why := range bad {
			if strings.HasPrefix(dep, prefix) {
				t.Errorf("analytics imports %s: %s", dep, why)
			}
		}
	}
}

// TestClickHouseDeps keeps Fiber out of the storage layer: api depends on
// storage through interfaces, never the other way round.
func TestClickHouseDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./clickhouse/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.HasPrefix(dep, "github.com/gofiber/") {
			t.Errorf("analytics/clickhouse imports %s: HTTP belongs in api", dep)
		}
	}
}
