package clickhouse_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports keeps the package on clickhouse-go's public API: its code
// imports neither reflect nor unsafe, through which the sink once read
// v2.26's unexported columns and so held the driver to one version's
// internals.
func TestImports(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports " "}}`, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, out)
	}
	imports := strings.Fields(string(out))
	if len(imports) < 5 {
		t.Fatalf("go list listed only %q", imports)
	}
	for _, imp := range imports {
		if imp == "reflect" || imp == "unsafe" {
			t.Errorf("the package imports %s: use clickhouse-go's public API", imp)
		}
	}
}
