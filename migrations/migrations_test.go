package migrations_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/splitcast/splitcast/analytics/clickhouse/chtest"
	"github.com/splitcast/splitcast/migrations"
)

var env *chtest.Env

func TestMain(m *testing.M) { os.Exit(chtest.Main(m, &env)) }

func TestUpIsIdempotent(t *testing.T) {
	conn, _ := env.NewDatabase(t) // applies every file once
	ctx := context.Background()
	ran, err := (&migrations.Runner{Conn: conn}).Up(ctx)
	if err != nil {
		t.Fatalf("second Up: %v", err)
	}
	if len(ran) != 0 {
		t.Fatalf("second Up applied %v, want nothing", ran)
	}
	for _, table := range []string{"events", "experiment_versions"} {
		var n uint64
		if err := conn.QueryRow(ctx, "SELECT count() FROM system.tables WHERE database = currentDatabase() AND name = ?", table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Errorf("table %s: found %d, want 1", table, n)
		}
	}
}

func TestUpRefusesChangedFile(t *testing.T) {
	conn, _ := env.NewDatabase(t)
	files, err := migrations.Files()
	if err != nil {
		t.Fatal(err)
	}
	files[0].SQL += "\n-- edited\n"
	files[0].Checksum = "0000changed"
	_, err = (&migrations.Runner{Conn: conn, Files: files}).Up(context.Background())
	if err == nil || !strings.Contains(err.Error(), files[0].Name) {
		t.Fatalf("Up with a changed file = %v, want an error naming %s", err, files[0].Name)
	}
}

func TestUpAppliesNewFileOnly(t *testing.T) {
	conn, _ := env.NewDatabase(t)
	files, err := migrations.Files()
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, migrations.File{Name: "9999_extra.sql", SQL: "CREATE TABLE IF NOT EXISTS extra (x UInt8) ENGINE = Memory;", Checksum: "x"})
	ran, err := (&migrations.Runner{Conn: conn, Files: files}).Up(context.Background())
	if err != nil || len(ran) != 1 || ran[0] != "9999_extra.sql" {
		t.Fatalf("Up = %v, %v; want [9999_extra.sql]", ran, err)
	}
}

func TestStatements(t *testing.T) {
	got := migrations.Statements("-- c\nCREATE TABLE a (x UInt8)\nENGINE = Memory;\n\nCREATE TABLE b (y UInt8) ENGINE = Memory;\n")
	if len(got) != 2 || !strings.HasPrefix(got[0], "CREATE TABLE a") || strings.HasSuffix(got[1], ";") {
		t.Fatalf("Statements = %q", got)
	}
}
