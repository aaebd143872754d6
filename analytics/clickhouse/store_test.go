package clickhouse_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/experiment"
	"github.com/splitcast/splitcast/experiment/experimenttest"
)

func TestExperimentStore(t *testing.T) {
	experimenttest.RunStoreTests(t, func(t *testing.T) experiment.Store {
		conn, _ := env.NewDatabase(t)
		return clickhouse.NewExperimentStore(conn)
	})
}

// insertVersion writes v as another process's Save would, without checks.
func insertVersion(t *testing.T, conn driver.Conn, v experiment.Version) {
	t.Helper()
	def, err := json.Marshal(v.Definition)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO experiment_versions (experiment, version, created_at, author, action, reason, status, definition)")
	if err != nil {
		t.Fatal(err)
	}
	if err := batch.Append(v.Experiment, v.Version, v.CreatedAt, v.Author, string(v.Action), v.Reason, string(v.Definition.Status), string(def)); err != nil {
		t.Fatal(err)
	}
	if err := batch.Send(); err != nil {
		t.Fatal(err)
	}
}

// edit returns version 2 of cur, renamed, by author.
func edit(t *testing.T, cur experiment.Experiment, name, author string, now time.Time) experiment.Version {
	t.Helper()
	e := cur.Clone()
	e.Name = name
	v, err := experiment.EditDraft(cur, e, author, "", now)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestExperimentStoreCrossProcessRace puts a rival's version 2 in the table
// between a Save's check and its insert, as another process would. The row
// first in (created_at, author, SHA-256 of the definition) wins; reads agree
// with it, before and after ReplacingMergeTree merges the duplicates.
func TestExperimentStoreCrossProcessRace(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name        string
		mine, rival string // authors: the smaller wins at equal created_at
		rivalLater  time.Duration
		wantCode    string
	}{
		{"RivalWinsOnAuthor", "zed", "amy", 0, experiment.ECONFLICT},
		{"MineWinsOnAuthor", "amy", "zed", 0, ""},
		{"MineWinsOnTime", "zed", "amy", time.Second, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, _ := env.NewDatabase(t)
			s := clickhouse.NewExperimentStore(conn)
			v1 := experimenttest.MustCreate(t, s, experimenttest.NewExperiment("welcome", experiment.ChannelEmail))
			mine := edit(t, v1.Definition, "mine", tc.mine, now)
			rival := edit(t, v1.Definition, "rival", tc.rival, now.Add(tc.rivalLater))
			s.SetBeforeInsert(func() { insertVersion(t, conn, rival) })

			err := s.Save(ctx, mine)
			if code := experiment.ErrorCode(err); code != tc.wantCode {
				t.Fatalf("Save with a rival = %v, want code %q", err, tc.wantCode)
			}
			s.SetBeforeInsert(nil)
			want := "mine"
			if tc.wantCode != "" {
				want = "rival"
			}
			check := func(when string) {
				t.Helper()
				got, err := s.Get(ctx, "welcome")
				if err != nil || got.Name != want {
					t.Errorf("%s: Get = %q, %v; want %q", when, got.Name, err, want)
				}
				h, err := s.History(ctx, "welcome")
				if err != nil || len(h) != 2 || h[1].Definition.Name != want {
					t.Errorf("%s: History = %d versions, %v; want 2, the last %q", when, len(h), err, want)
				}
				l, err := s.List(ctx, experiment.Filter{})
				if err != nil || len(l) != 1 || l[0].Name != want {
					t.Errorf("%s: List = %d experiments, %v; want 1, %q", when, len(l), err, want)
				}
			}
			check("before merge")
			if err := conn.Exec(ctx, "OPTIMIZE TABLE experiment_versions FINAL"); err != nil {
				t.Fatal(err)
			}
			check("after merge")

			// Whoever won, version 3 builds on it.
			cur, err := s.Get(ctx, "welcome")
			if err != nil {
				t.Fatal(err)
			}
			v3, err := experiment.Start(cur, "bo", "", now.Add(time.Hour))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Save(ctx, v3); err != nil {
				t.Errorf("Save(version 3) = %v", err)
			}
		})
	}
}

// TestExperimentStoreTwoStores races two stores, as two processes, through
// Save: the rival saves in full inside the first store's check-to-insert
// window, so it sees only its row and succeeds; the first store must then
// lose, since the rival's row sorts first.
func TestExperimentStoreTwoStores(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	conn, _ := env.NewDatabase(t)
	a, b := clickhouse.NewExperimentStore(conn), clickhouse.NewExperimentStore(conn)
	v1 := experimenttest.MustCreate(t, a, experimenttest.NewExperiment("welcome", experiment.ChannelEmail))
	var rivalErr error
	a.SetBeforeInsert(func() { rivalErr = b.Save(ctx, edit(t, v1.Definition, "b", "amy", now)) })
	err := a.Save(ctx, edit(t, v1.Definition, "a", "bo", now))
	if rivalErr != nil {
		t.Errorf("rival Save = %v, want success", rivalErr)
	}
	if experiment.ErrorCode(err) != experiment.ECONFLICT {
		t.Errorf("Save after the rival's = %v, want ECONFLICT", err)
	}
	for name, s := range map[string]*clickhouse.ExperimentStore{"a": a, "b": b} {
		if got, err := s.Get(ctx, "welcome"); err != nil || got.Name != "b" {
			t.Errorf("store %s: Get = %q, %v; want the rival's %q", name, got.Name, err, "b")
		}
	}
}
