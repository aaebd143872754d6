package migrations_test

import (
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/splitcast/splitcast/migrations"
)

func TestDirectivesAreNotInTheChecksum(t *testing.T) {
	plain := "-- a table\nCREATE TABLE IF NOT EXISTS t (x UInt8) ENGINE = Memory;\n"
	files, err := migrations.Load(fstest.MapFS{
		"0001_a.sql": {Data: []byte(plain)},
		"0002_b.sql": {Data: []byte("-- a table\n-- splitcast:shard t cityHash64(x)\nCREATE TABLE IF NOT EXISTS t (x UInt8) ENGINE = Memory;\n")},
		"0003_c.sql": {Data: []byte(plain + "-- edited\n")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if files[0].Checksum != files[1].Checksum {
		t.Errorf("a directive changed the checksum: %.12s vs %.12s", files[0].Checksum, files[1].Checksum)
	}
	if files[0].Checksum == files[2].Checksum {
		t.Errorf("a comment did not change the checksum")
	}
}

// TestEveryTableIsSharded fails when a migration creates a table without a
// sharding key: cluster mode could not apply it.
func TestEveryTableIsSharded(t *testing.T) {
	files, err := migrations.Files()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := migrations.ShardKeys(files)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		for _, stmt := range migrations.Statements(f.SQL) {
			if _, err := migrations.ClusterSteps(stmt, "c", "db", keys); err != nil {
				t.Errorf("%s: %v", f.Name, err)
			}
		}
	}
	if keys["events"] != "cityHash64(unit)" {
		t.Errorf("events shard by %q, want cityHash64(unit): a unit's events must stay on one shard", keys["events"])
	}
}

func TestShardKeysRejectsBadDirectives(t *testing.T) {
	for _, sql := range []string{
		"-- splitcast:shrad t x\n",
		"-- splitcast:shard t\n",
		"-- splitcast:shard t a\n-- splitcast:shard t b\n",
	} {
		if _, err := migrations.ShardKeys([]migrations.File{{Name: "f.sql", SQL: sql}}); err == nil {
			t.Errorf("ShardKeys(%q) succeeded, want an error", sql)
		}
	}
}

func TestClusterSteps(t *testing.T) {
	keys := map[string]string{"events": "cityHash64(unit)", "traits": "cityHash64(unit)"}
	type s = [2]any
	for _, tc := range []struct {
		stmt string
		want [][2]any
	}{
		{"CREATE TABLE IF NOT EXISTS events (x UInt8) ENGINE = MergeTree ORDER BY x", [][2]any{
			s{"CREATE TABLE IF NOT EXISTS events_local (x UInt8) ENGINE = MergeTree ORDER BY x", false},
			s{"CREATE TABLE IF NOT EXISTS `events` AS `events_local` ENGINE = Distributed('c1', 'db', 'events_local', cityHash64(unit))", false},
		}},
		{"ALTER TABLE events ADD COLUMN events UInt8 DEFAULT 0", [][2]any{
			s{"ALTER TABLE events_local ADD COLUMN events UInt8 DEFAULT 0", false},
			s{"ALTER TABLE events ADD COLUMN events UInt8 DEFAULT 0", false},
		}},
		{"ALTER TABLE events DELETE WHERE kind = 'events'", [][2]any{
			s{"ALTER TABLE events_local DELETE WHERE kind = 'events'", false},
		}},
		{"DROP TABLE IF EXISTS `events`", [][2]any{
			s{"DROP TABLE IF EXISTS `events`", false},
			s{"DROP TABLE IF EXISTS `events_local`", false},
		}},
		{"CREATE MATERIALIZED VIEW IF NOT EXISTS traits_mv TO traits AS SELECT unit, count() AS events FROM events GROUP BY unit", [][2]any{
			s{"CREATE MATERIALIZED VIEW IF NOT EXISTS traits_mv TO traits_local AS SELECT unit, count() AS events FROM events_local GROUP BY unit", false},
		}},
		{"CREATE VIEW v AS SELECT * FROM events", [][2]any{s{"CREATE VIEW v AS SELECT * FROM events", false}}},
		{"INSERT INTO traits SELECT unit, 1 FROM events", [][2]any{s{"INSERT INTO traits SELECT unit, 1 FROM events", true}}},
		{"OPTIMIZE TABLE events FINAL", [][2]any{s{"OPTIMIZE TABLE events_local FINAL", false}}},
		// A rename moves a node's local table aside; the Distributed
		// table, which names the local one, then reads what replaces it.
		{"RENAME TABLE events TO traits", [][2]any{s{"RENAME TABLE events_local TO traits_local", false}}},
	} {
		got, err := migrations.ClusterSteps(tc.stmt, "c1", "db", keys)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ClusterSteps(%q) = %q, %v\nwant %q", tc.stmt, got, err, tc.want)
		}
	}
	_, err := migrations.ClusterSteps("CREATE TABLE IF NOT EXISTS other (x UInt8) ENGINE = Memory", "c1", "db", keys)
	if err == nil || !strings.Contains(err.Error(), "splitcast:shard other") {
		t.Errorf("ClusterSteps of an unsharded table = %v, want an error naming the directive to add", err)
	}
}
