package experiment_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDeps keeps the domain root free of infrastructure: the package layout
// in DESIGN.md depends on it.
func TestDeps(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".", "./experimenttest").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v: %s", err, out)
	}
	bad := map[string]string{
		"github.com/gofiber/fiber/v2":         "HTTP belongs in api",
		"github.com/ClickHouse/clickhouse-go": "ClickHouse belongs in analytics/clickhouse",
		"gonum.org/v1/gonum":                  "statistics belong in analytics/stats",
		"github.com/spaolacci/murmur3":        "hashing belongs in assign",
	}
	for _, dep := range strings.Fields(string(out)) {
		for prefix, why := range bad {
			if strings.HasPrefix(dep, prefix) {
				t.Errorf("experiment imports %s: %s", dep, why)
			}
		}
	}
}
