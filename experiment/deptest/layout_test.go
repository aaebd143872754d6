package deptest

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/splitcast/splitcast/"

// layout is the import table of docs/architecture.md: per package of the
// module (relative path), the module packages and outside modules it may
// import directly; a nil list for "*".
type layout struct {
	allow   map[string][]string
	modules map[string]string // short name -> module path
}

// readLayout parses the two tables of docs/architecture.md that TestLayout
// enforces: "| package | may import |" and "| name | module |".
func readLayout(t *testing.T, path string) layout {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l := layout{allow: map[string][]string{}, modules: map[string]string{}}
	var table string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "|") {
			table = ""
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		switch {
		case len(cells) == 2 && cells[0] == "package" && cells[1] == "may import":
			table = "imports"
			continue
		case len(cells) == 2 && cells[0] == "name" && cells[1] == "module":
			table = "modules"
			continue
		case table == "" || strings.HasPrefix(cells[0], "---"):
			continue
		}
		name := strings.Trim(cells[0], "`")
		switch table {
		case "imports":
			var allowed []string
			for _, a := range strings.Split(cells[1], ",") {
				if a = strings.Trim(strings.TrimSpace(a), "`"); a != "" {
					allowed = append(allowed, a)
				}
			}
			if slices.Equal(allowed, []string{"*"}) {
				allowed = nil
			} else if allowed == nil {
				allowed = []string{}
			}
			l.allow[name] = allowed
		case "modules":
			l.modules[name] = strings.Trim(cells[1], "`")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(l.allow) < 10 || len(l.modules) < 3 {
		t.Fatalf("%s: found %d packages and %d modules in its tables; is the table's header still | package | may import |?", path, len(l.allow), len(l.modules))
	}
	return l
}

// violations returns, for package pkg importing imports (full paths), one
// message per import that its row does not allow.
func (l layout) violations(pkg string, imports []string) []string {
	allowed, ok := l.allow[pkg]
	if !ok {
		return []string{pkg + " is not in the import table of docs/architecture.md: add its row"}
	}
	if allowed == nil {
		return nil
	}
	var out []string
	for _, imp := range imports {
		if !l.allows(allowed, imp) {
			out = append(out, pkg+" imports "+imp+", which its row in docs/architecture.md does not allow ("+strings.Join(allowed, ", ")+")")
		}
	}
	return out
}

func (l layout) allows(allowed []string, imp string) bool {
	if first, _, _ := strings.Cut(imp, "/"); !strings.Contains(first, ".") {
		return true // the standard library
	}
	if rel, ok := strings.CutPrefix(imp, module); ok {
		return slices.Contains(allowed, rel)
	}
	for _, a := range allowed {
		if m, ok := l.modules[a]; ok && (imp == m || strings.HasPrefix(imp, m+"/")) {
			return true
		}
	}
	return false
}

// TestLayout holds every package of the module to its row of the import
// table in docs/architecture.md.
func TestLayout(t *testing.T) {
	l := readLayout(t, filepath.Join("..", "..", "docs", "architecture.md"))
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}}", module+"...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v: %s", err, out)
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], module)
		for _, v := range l.violations(pkg, f[1:]) {
			t.Error(v)
		}
		seen++
	}
	if seen < 20 {
		t.Fatalf("go list listed %d packages", seen)
	}
}

// TestLayoutCatches: the table's checks fail for an import a row does not
// allow, inside the module and outside it, and for a package with no row.
func TestLayoutCatches(t *testing.T) {
	l := readLayout(t, filepath.Join("..", "..", "docs", "architecture.md"))
	for _, tc := range []struct {
		pkg, imp string
		bad      bool
	}{
		{"analytics", module + "api", true},
		{"analytics/ingest", module + "analytics/results", true},
		{"assign", "github.com/gofiber/fiber/v2", true},
		{"analytics/results", "github.com/ClickHouse/clickhouse-go/v2/lib/driver", true},
		{"analytics/clickhouse", module + "api/tracking", true},
		{"analytics/clickhouse", "github.com/ClickHouse/clickhouse-go/v2/lib/driver", false},
		{"analytics/stats", "gonum.org/v1/gonum/stat/distuv", false},
		{"api", "github.com/gofiber/fiber/v2/middleware/cors", false},
		{"analytics", "strings", false},
		{"cmd/splitcast", module + "api", false},
		{"analytics/newthing", "strings", true},
	} {
		if got := len(l.violations(tc.pkg, []string{tc.imp})) > 0; got != tc.bad {
			t.Errorf("%s importing %s: violation %v, want %v", tc.pkg, tc.imp, got, tc.bad)
		}
	}
}
