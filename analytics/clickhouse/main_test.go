package clickhouse_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics/clickhouse/chtest"
	"github.com/splitcast/splitcast/migrations"
)

// env is the ClickHouse that every test of this package talks to.
var env *chtest.Env

func TestMain(m *testing.M) { os.Exit(chtest.Main(m, &env)) }

// undoMigration puts conn's database back to before migration upgrade, for
// a test of a deployment upgraded in place: table is dropped and made
// again by its CREATE in migration from (whose text must contain want),
// and every migration but upgrade is recorded as applied. The returned
// func records them so again (after a run cut short, say).
func undoMigration(t *testing.T, conn driver.Conn, upgrade, from, table, want string) (record func()) {
	t.Helper()
	ctx := context.Background()
	files, err := migrations.Files()
	if err != nil {
		t.Fatal(err)
	}
	var old string
	for _, f := range files {
		if f.Name == from {
			for _, stmt := range migrations.Statements(f.SQL) {
				if strings.HasPrefix(stmt, "CREATE TABLE IF NOT EXISTS "+table+" ") {
					old = stmt
				}
			}
		}
	}
	if !strings.Contains(old, want) {
		t.Fatalf("%s's %s not found (got %q)", from, table, old)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if err := conn.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	record = func() {
		t.Helper()
		exec("TRUNCATE TABLE schema_migrations")
		for _, f := range files {
			if f.Name != upgrade {
				exec("INSERT INTO schema_migrations (name, checksum, applied_at) SELECT ?, ?, now()", f.Name, f.Checksum)
			}
		}
	}
	exec("DROP TABLE " + table)
	exec(old)
	record()
	return record
}

// applyUpgrade migrates conn's database, which must have upgrade alone to
// apply, and checks that table's definition then contains want.
func applyUpgrade(t *testing.T, conn driver.Conn, upgrade, table, want string) {
	t.Helper()
	ctx := context.Background()
	ran, err := (&migrations.Runner{Conn: conn}).Up(ctx)
	if err != nil || len(ran) != 1 || ran[0] != upgrade {
		t.Fatalf("migrate = %v, %v; want %s applied", ran, err, upgrade)
	}
	var create string
	if err := conn.QueryRow(ctx, "SHOW CREATE TABLE "+table).Scan(&create); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(create, want) {
		t.Fatalf("%s after %s: %s; want %s in it", table, upgrade, create, want)
	}
}
