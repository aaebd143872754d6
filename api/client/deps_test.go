package client_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the SDK light enough to embed in any Go program: it brings
// the assignment code and net/http, never the server's web framework or
// database driver.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v: %s", err, out)
	}
	badPrefix := map[string]string{
		"github.com/gofiber/fiber":            "Fiber is the server's framework (package api)",
		"github.com/valyala/fasthttp":         "Fiber's HTTP stack is the server's",
		"github.com/ClickHouse/clickhouse-go": "ClickHouse belongs in analytics/clickhouse",
		"gonum.org/v1/gonum":                  "statistics belong in analytics/stats",
	}
	badExact := map[string]string{
		"github.com/splitcast/splitcast/api":       "the SDK must not import the server",
		"github.com/splitcast/splitcast/analytics": "events are the server's business",
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed only %q", deps)
	}
	for _, dep := range deps {
		if why, ok := badExact[dep]; ok {
			t.Errorf("api/client imports %s: %s", dep, why)
		}
		for prefix, why := range badPrefix {
			if strings.HasPrefix(dep, prefix) {
				t.Errorf("api/client imports %s: %s", dep, why)
			}
		}
	}
}
