package assign_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps assignment pure and portable: no HTTP, no database, no
// statistics library, so the Go SDK can embed it.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".", "./assigntest").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v: %s", err, out)
	}
	bad := map[string]string{
		"github.com/gofiber/fiber/v2":         "HTTP belongs in api",
		"github.com/ClickHouse/clickhouse-go": "ClickHouse belongs in analytics/clickhouse",
		"gonum.org/v1/gonum":                  "statistics belong in analytics/stats",
		"net/http":                            "assignment never calls out",
	}
	for _, dep := range strings.Fields(string(out)) {
		for prefix, why := range bad {
			if strings.HasPrefix(dep, prefix) {
				t.Errorf("assign imports %s: %s", dep, why)
			}
		}
	}
}
