package clickhouse_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/clickhouse/chserver"
	"github.com/splitcast/splitcast/analytics/clickhouse/chtest"
	"github.com/splitcast/splitcast/analytics/traits"
	"github.com/splitcast/splitcast/experiment"
	"github.com/splitcast/splitcast/experiment/apikey"
	"github.com/splitcast/splitcast/experiment/experimenttest"
	"github.com/splitcast/splitcast/migrations"
)

// testCluster is the cluster name in the remote_servers of both servers.
const testCluster = "splitcast_test"

// cluster is two ClickHouse servers, each one shard of testCluster. They
// run without ZooKeeper, as the migrations' cluster mode expects.
type cluster struct {
	nodes [2]*chserver.Server
}

// startCluster starts the two servers side by side and stops them when the
// test ends.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	root, err := chtest.DataRoot()
	if err != nil {
		t.Fatal(err)
	}
	var ports [2]int
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	var shards strings.Builder
	for _, p := range ports {
		fmt.Fprintf(&shards, "<shard><replica><host>127.0.0.1</host><port>%d</port></replica></shard>", p)
	}
	remote := "<" + testCluster + ">" + shards.String() + "</" + testCluster + ">"
	c := &cluster{}
	errs := make(chan error, len(ports))
	for i, p := range ports {
		dir, err := os.MkdirTemp(root, "cluster-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(dir) })
		go func() {
			s, err := chserver.Start(context.Background(), chserver.Config{Dir: filepath.Join(dir, "ch"), TCPPort: p, RemoteServers: remote})
			c.nodes[i] = s
			errs <- err
		}()
	}
	for range ports {
		if err := <-errs; err != nil {
			t.Errorf("start a shard: %v", err)
		}
	}
	t.Cleanup(func() {
		for _, s := range c.nodes {
			if s != nil {
				s.Stop()
			}
		}
	})
	if t.Failed() {
		t.FailNow()
	}
	return c
}

// open connects to database db on the node at addr, as serve does in
// cluster mode.
func (c *cluster) open(t *testing.T, addr, db string) driver.Conn {
	t.Helper()
	conn, err := clickhouse.Open(context.Background(), clickhouseClusterOptions(addr, db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func clickhouseClusterOptions(addr, db string) clickhouse.Options {
	return clickhouse.Options{Addr: addr, Database: db, Settings: map[string]any{"insert_distributed_sync": 1}}
}

// runner migrates db in cluster mode through conn.
func (c *cluster) runner(conn driver.Conn, db string) *migrations.Runner {
	return &migrations.Runner{Conn: conn, Cluster: testCluster,
		Dial: func(ctx context.Context, addr string) (migrations.NodeConn, error) {
			return clickhouse.Open(ctx, clickhouseClusterOptions(addr, db))
		}}
}

// newDatabase creates a database migrated in cluster mode and returns a
// connection to it on each node.
func (c *cluster) newDatabase(t *testing.T) (a, b driver.Conn, db string) {
	t.Helper()
	var r [6]byte
	rand.Read(r[:])
	db = "cluster_" + hex.EncodeToString(r[:])
	a, b = c.open(t, c.nodes[0].Addr(), db), c.open(t, c.nodes[1].Addr(), db)
	if _, err := c.runner(a, db).Up(context.Background()); err != nil {
		t.Fatalf("migrate %s on cluster %s: %v", db, testCluster, err)
	}
	t.Cleanup(func() {
		for _, conn := range []driver.Conn{a, b} {
			conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+db)
		}
	})
	return a, b, db
}

// TestCluster migrates a database on two shards, writes through the
// Distributed tables of either node, and checks that every reader answers
// as it does on a single node with the same rows.
func TestCluster(t *testing.T) {
	ctx := context.Background()
	c := startCluster(t)
	a, b, db := c.newDatabase(t)
	files, err := migrations.Files()
	if err != nil {
		t.Fatal(err)
	}

	t.Run("schema", func(t *testing.T) {
		// The tables the migrations leave: a later DROP undoes a CREATE (a
		// table a migration copies through, say).
		var tables []string
		for _, f := range files {
			for _, stmt := range migrations.Statements(f.SQL) {
				switch w := strings.Fields(stmt); {
				case strings.HasPrefix(stmt, "CREATE TABLE IF NOT EXISTS "):
					if !slices.Contains(tables, w[5]) {
						tables = append(tables, w[5])
					}
				case strings.HasPrefix(stmt, "DROP TABLE IF EXISTS "):
					tables = slices.DeleteFunc(tables, func(t string) bool { return t == w[4] })
				}
			}
		}
		for i, conn := range []driver.Conn{a, b} {
			for _, table := range tables {
				var engines []struct {
					Name   string `ch:"name"`
					Engine string `ch:"engine"`
				}
				if err := conn.Select(ctx, &engines, "SELECT name, engine FROM system.tables WHERE database = currentDatabase() AND name IN (?, ?) ORDER BY name",
					table, table+"_local"); err != nil {
					t.Fatal(err)
				}
				if len(engines) != 2 || engines[0].Engine != "Distributed" || !strings.HasSuffix(engines[1].Engine, "MergeTree") {
					t.Errorf("node %d, %s: tables %+v, want %[2]s Distributed and %[2]s_local a MergeTree", i, table, engines)
				}
			}
		}
		// 0017 renamed each node's user_events_local aside and made a new
		// one, which the Distributed user_events reads by its name.
		for i, conn := range []driver.Conn{a, b} {
			var create string
			if err := conn.QueryRow(ctx, "SHOW CREATE TABLE user_events_local").Scan(&create); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(create, "ReplacingMergeTree(first_copy)") {
				t.Errorf("node %d: %s, want 0017's engine", i, create)
			}
		}
		ran, err := c.runner(b, db).Up(ctx)
		if err != nil || len(ran) != 0 {
			t.Errorf("second Up through the other node = %v, %v; want nothing applied", ran, err)
		}
		_, err = (&migrations.Runner{Conn: a}).Up(ctx)
		if err == nil || !strings.Contains(err.Error(), testCluster) {
			t.Errorf("single-node Up of a cluster database = %v, want an error naming the cluster", err)
		}
		single, _ := env.NewDatabase(t)
		_, err = c.runner(single, "unused").Up(ctx)
		if err == nil || !strings.Contains(err.Error(), "not in the server's remote_servers") {
			t.Errorf("cluster Up on a server without the cluster = %v, want an error", err)
		}
	})

	t.Run("aggregates", func(t *testing.T) {
		events := aggSeed(1)
		batches := [][]analytics.Event{events[:len(events)/2], aggReplays(events, 2), events[len(events)/2:], aggReplays(events, 3)}
		// Half the batches through each node: any node takes writes.
		aggInsert(t, a, batches[0], batches[1])
		aggInsert(t, b, batches[2], batches[3])
		single, _ := env.NewDatabase(t)
		aggInsert(t, single, batches...)

		var rows, units [2]uint64
		for i, conn := range []driver.Conn{a, b} {
			if err := conn.QueryRow(ctx, "SELECT count(), uniqExact(unit) FROM events_local").Scan(&rows[i], &units[i]); err != nil {
				t.Fatal(err)
			}
		}
		var total, totalUnits uint64
		if err := a.QueryRow(ctx, "SELECT count(), uniqExact(unit) FROM events").Scan(&total, &totalUnits); err != nil {
			t.Fatal(err)
		}
		written := len(batches[0]) + len(batches[1]) + len(batches[2]) + len(batches[3])
		if rows[0] == 0 || rows[1] == 0 || rows[0]+rows[1] != uint64(written) || total != uint64(written) {
			t.Errorf("rows on the shards %v (through Distributed %d), want %d in all, on both", rows, total, written)
		}
		if units[0]+units[1] != totalUnits {
			t.Errorf("units on the shards %v, %d in all: a unit's events are split across shards", units, totalUnits)
		}
		t.Logf("%d rows written: %d on shard 1, %d on shard 2", written, rows[0], rows[1])

		want, err := clickhouse.NewAggregateReader(single).Aggregates(ctx, "exp")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(want, aggWant(events, "exp")) {
			t.Fatalf("single-node Aggregates differ from the Go computation: see TestAggregates")
		}
		for i, conn := range []driver.Conn{a, b} {
			got, err := clickhouse.NewAggregateReader(conn).Aggregates(ctx, "exp")
			if err != nil {
				t.Fatalf("node %d: Aggregates: %v", i, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("node %d: Aggregates on the cluster differ from a single node:\n got %+v\nwant %+v", i, got.Arms, want.Arms)
			}
		}
		// How much the fan-out costs, against the single node in this run.
		timeIt := func(conn driver.Conn) time.Duration {
			best := time.Duration(1 << 62)
			for range 5 {
				start := time.Now()
				if _, err := clickhouse.NewAggregateReader(conn).Aggregates(ctx, "exp"); err != nil {
					t.Fatal(err)
				}
				best = min(best, time.Since(start))
			}
			return best
		}
		one, two := timeIt(single), timeIt(a)
		t.Logf("Aggregates, best of 5: single node %v, two shards %v (%.2fx)", one, two, float64(two)/float64(one))
	})

	t.Run("report sections", func(t *testing.T) {
		// CUPED's units, the per-channel and the fatigue sections from the
		// rollups on two shards, against the raw events' queries of a
		// single node.
		events := channelSeed(3, 300)
		for i, e := range unitsSeed(3) {
			e.ID = fmt.Sprintf("cl-%d", i)
			events = append(events, e)
		}
		a, b, _ := c.newDatabase(t) // without the other subtests' events
		single, _ := env.NewDatabase(t)
		aggInsert(t, a, events[:len(events)/2], aggReplays(events, 4))
		aggInsert(t, b, events[len(events)/2:])
		aggInsert(t, single, events, aggReplays(events, 4))
		wantCh, err := clickhouse.NewChannelReader(single).ChannelCounts(ctx, "exp")
		if err != nil {
			t.Fatal(err)
		}
		wantF, err := clickhouse.NewFatigueReader(single).ArmFatigue(ctx, "exp")
		if err != nil {
			t.Fatal(err)
		}
		wantU, err := clickhouse.NewUnitReader(single).Units(ctx, "exp", 14, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i, conn := range []driver.Conn{a, b} {
			rollups := clickhouse.NewRollups(conn)
			rollups.FixedMargin = true // as the server on a cluster sets it (wiring)
			ch, f, u := clickhouse.NewChannelReader(conn), clickhouse.NewFatigueReader(conn), clickhouse.NewUnitReader(conn)
			ch.Rollups, f.Rollups, u.Rollups = rollups, rollups, rollups
			if err := rollups.Fold(ctx); err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				// Compacted on every node's local tables, as migrate does
				// after a back-fill: the Distributed tables refuse it.
				if err := rollups.Compact(ctx, nil); err == nil {
					t.Errorf("Compact through the Distributed tables succeeded: want it refused")
				}
				rollups.Nodes = func(ctx context.Context, fn func(clickhouse.Execer) error) error {
					return c.runner(a, db).EachNode(ctx, func(conn migrations.Conn) error { return fn(conn) })
				}
				if err := rollups.Compact(ctx, nil); err != nil {
					t.Fatalf("Compact on each node: %v", err)
				}
			}
			gotCh, err := ch.ChannelCounts(ctx, "exp")
			if err != nil {
				t.Fatalf("node %d: ChannelCounts: %v", i, err)
			}
			if len(gotCh) != len(wantCh) || len(wantCh) == 0 {
				t.Fatalf("node %d: %d arm-channels, a single node's raw events %d", i, len(gotCh), len(wantCh))
			}
			for j := range wantCh {
				g, w := gotCh[j], wantCh[j]
				if math.Abs(g.Counts.Value-w.Counts.Value) > 1e-9*math.Abs(w.Counts.Value) {
					t.Errorf("node %d: %s/%s on %q: value %v, single raw %v", i, w.Segment, w.Variant, w.Channel, g.Counts.Value, w.Counts.Value)
				}
				g.Counts.Value, w.Counts.Value, g.Counts.ValueSumSq, w.Counts.ValueSumSq = 0, 0, 0, 0
				if !reflect.DeepEqual(g, w) {
					t.Errorf("node %d: channel counts %+v, single raw %+v", i, g, w)
				}
			}
			gotF, err := f.ArmFatigue(ctx, "exp")
			if err != nil {
				t.Fatalf("node %d: ArmFatigue: %v", i, err)
			}
			if !reflect.DeepEqual(gotF, wantF) {
				t.Errorf("node %d: arm fatigue %+v, single raw %+v", i, gotF, wantF)
			}
			gotU, err := u.Units(ctx, "exp", 14, nil)
			if err != nil {
				t.Fatalf("node %d: Units: %v", i, err)
			}
			if g, w := weightedUnits(gotU), weightedUnits(wantU); !reflect.DeepEqual(g, w) {
				t.Errorf("node %d: units %v, single raw %v", i, g, w)
			}
		}
	})

	t.Run("traits", func(t *testing.T) {
		h, want := traitFixture(t)
		single, _ := env.NewDatabase(t)
		a, b, _ := c.newDatabase(t) // without the other subtests' events
		for _, conn := range []driver.Conn{single, a} {
			if err := clickhouse.NewEventSink(conn).Write(ctx, h.events); err != nil {
				t.Fatal(err)
			}
		}
		units := make([]string, 0, len(want))
		for u := range want {
			units = append(units, u)
		}
		read := func(conn driver.Conn, rolled bool) ([]traits.UnitActivity, []string) {
			r := clickhouse.NewTraitReader(conn)
			if rolled {
				// As the server on a cluster sets it (wiring).
				r.Rollups = clickhouse.NewActivityRollups(conn)
				r.Rollups.FixedMargin = true
			}
			acts, err := r.Activity(ctx, units, traitToday)
			if err != nil {
				t.Fatalf("Activity: %v", err)
			}
			changed, _, err := r.ChangedUnits(ctx, time.Time{}, traitToday-(traits.WindowDays-1))
			if err != nil {
				t.Fatalf("ChangedUnits: %v", err)
			}
			// Row order is not part of the contract.
			sort.Slice(acts, func(i, j int) bool { return acts[i].Unit < acts[j].Unit })
			sort.Strings(changed)
			return acts, changed
		}
		wantActs, wantChanged := read(single, false)
		if len(wantActs) < 6 {
			t.Fatalf("single node: activity of %d units, want the fixture's", len(wantActs))
		}
		for _, rolled := range []bool{false, true} {
			gotActs, gotChanged := read(b, rolled)
			if !reflect.DeepEqual(gotActs, wantActs) || !reflect.DeepEqual(gotChanged, wantChanged) {
				t.Errorf("traits on the cluster (from unit_activity: %v) differ from a single node:\n got %+v %v\nwant %+v %v",
					rolled, gotActs, gotChanged, wantActs, wantChanged)
			}
		}
	})

	t.Run("experiments", func(t *testing.T) {
		experimenttest.RunStoreTests(t, func(t *testing.T) experiment.Store {
			a, _, _ := c.newDatabase(t)
			return clickhouse.NewExperimentStore(a)
		})
		// A version written through one node is read at once through the
		// other, and a write through the other sees it.
		sa, sb := clickhouse.NewExperimentStore(a), clickhouse.NewExperimentStore(b)
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		for i := range 20 {
			e := experimenttest.NewExperiment(fmt.Sprintf("exp-%02d", i), experiment.ChannelEmail)
			v, err := experiment.Create(e, "ann", "cluster test", now)
			if err != nil {
				t.Fatal(err)
			}
			if err := sa.Create(ctx, v); err != nil {
				t.Fatalf("Create %s through node 0: %v", e.Key, err)
			}
			if _, err := sb.Get(ctx, e.Key); err != nil {
				t.Errorf("Get %s through node 1: %v", e.Key, err)
			}
			if err := sb.Create(ctx, v); experiment.ErrorCode(err) != experiment.ECONFLICT {
				t.Errorf("Create %s again through node 1 = %v, want %s", e.Key, err, experiment.ECONFLICT)
			}
		}
		var onShards [2]uint64
		for i, conn := range []driver.Conn{a, b} {
			if err := conn.QueryRow(ctx, "SELECT count() FROM experiment_versions_local").Scan(&onShards[i]); err != nil {
				t.Fatal(err)
			}
		}
		if onShards[0] == 0 || onShards[1] == 0 {
			t.Errorf("experiment versions on the shards: %v, want some on each", onShards)
		}
	})

	t.Run("keys", func(t *testing.T) {
		ka, kb := clickhouse.NewKeyStore(a), clickhouse.NewKeyStore(b)
		now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		var ids []string
		for i := range 6 {
			_, r, err := apikey.New(fmt.Sprintf("key-%d", i), []apikey.Scope{apikey.ScopeRead}, now)
			if err != nil {
				t.Fatal(err)
			}
			if err := ka.CreateKey(ctx, r); err != nil {
				t.Fatalf("CreateKey through node 0: %v", err)
			}
			ids = append(ids, r.ID)
		}
		if _, err := kb.RevokeKey(ctx, ids[0], now.Add(time.Hour)); err != nil {
			t.Fatalf("RevokeKey through node 1: %v", err)
		}
		list, err := ka.ListKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		revoked := 0
		for _, r := range list {
			if r.Revoked() {
				revoked++
			}
		}
		if len(list) != len(ids) || revoked != 1 {
			t.Errorf("ListKeys through node 0: %d keys, %d revoked; want %d, 1", len(list), revoked, len(ids))
		}
	})

	t.Run("delete unit", func(t *testing.T) {
		// DELETE /v1/units/{unit} on a cluster: the mutations run on every
		// node's local tables (a Distributed table refuses them), so a unit
		// goes whichever shard holds it, and the other units stay.
		a, b, db := c.newDatabase(t)
		var events []analytics.Event
		var profiles []analytics.ProfileWrite
		t0 := time.Now().UTC().Truncate(time.Second)
		for i := range 40 {
			u := fmt.Sprintf("del-%02d", i)
			events = append(events,
				analytics.Event{ID: u + "-x", Kind: analytics.KindExposure, Time: t0, Experiment: "exp", Segment: "s", Variant: "a", Unit: u},
				analytics.Event{ID: u + "-t", Kind: analytics.KindTrack, Time: t0, Unit: u, Name: "order_completed"})
			profiles = append(profiles, analytics.ProfileWrite{Unit: u, Attrs: `{"plan":"pro"}`})
		}
		if err := clickhouse.NewEventSink(a).Write(ctx, events); err != nil {
			t.Fatal(err)
		}
		store := clickhouse.NewProfileStore(a)
		if err := store.Write(ctx, profiles); err != nil {
			t.Fatal(err)
		}
		// rows counts unit's rows on each node's local tables (a profile
		// row with attributes: the tombstone has none).
		rows := func(unit string) (n [2]uint64) {
			for i, conn := range []driver.Conn{a, b} {
				if err := conn.QueryRow(ctx, `SELECT (SELECT count() FROM events_local WHERE unit = ?) +
					(SELECT count() FROM user_events_local WHERE unit = ?) +
					(SELECT count() FROM unit_profiles_local WHERE unit = ? AND attrs != '')`, unit, unit, unit).Scan(&n[i]); err != nil {
					t.Fatal(err)
				}
			}
			return n
		}
		// One unit held by each shard.
		var victims []string
		for node := range 2 {
			for i := range 40 {
				u := fmt.Sprintf("del-%02d", i)
				if n := rows(u); n[node] == 3 && n[1-node] == 0 {
					victims = append(victims, u)
					break
				}
			}
		}
		if len(victims) != 2 {
			t.Fatalf("no unit on each shard among 40: %v", victims)
		}
		if err := store.DeleteUnit(ctx, victims[0]); err == nil {
			t.Errorf("DeleteUnit through the Distributed tables succeeded: want the mutation refused (it would delete nothing)")
		}
		store.Nodes = func(ctx context.Context, fn func(clickhouse.Execer) error) error {
			return c.runner(a, db).EachNode(ctx, func(conn migrations.Conn) error { return fn(conn) })
		}
		for _, u := range victims {
			if err := store.DeleteUnit(ctx, u); err != nil {
				t.Fatalf("DeleteUnit(%s) on the cluster: %v", u, err)
			}
		}
		deadline := time.Now().Add(60 * time.Second)
		for _, u := range victims {
			for n := rows(u); n != [2]uint64{}; n = rows(u) {
				if time.Now().After(deadline) {
					t.Fatalf("%s still has rows %v on the nodes after its deletion", u, n)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
		for i := range 40 {
			u := fmt.Sprintf("del-%02d", i)
			if slices.Contains(victims, u) {
				continue
			}
			if n := rows(u); n[0]+n[1] != 3 {
				t.Errorf("%s, not deleted, has %v rows on the nodes, want its 3", u, n)
			}
		}
		// The tombstones went through the Distributed table: every
		// server's trait cache forgets the units.
		var tombs uint64
		if err := b.QueryRow(ctx, "SELECT count() FROM unit_profiles WHERE unit IN (?, ?) AND attrs = ''", victims[0], victims[1]).Scan(&tombs); err != nil {
			t.Fatal(err)
		}
		if tombs < 2 {
			t.Errorf("%d tombstones of the deleted units, want one each", tombs)
		}
	})

	t.Run("shard down", func(t *testing.T) {
		// A write that cannot reach a shard fails, so that the ingest
		// spool keeps the batch rather than leaving it in a node's queue;
		// the retry duplicates what reached the other shard, and that
		// counts once.
		sink := clickhouse.NewEventSink(a)
		batch := aggSeed(5)[:50]
		for i := range batch {
			batch[i].Experiment = "down"
		}
		if err := c.nodes[1].Kill(); err != nil {
			t.Fatal(err)
		}
		err := sink.Write(ctx, batch)
		if rerr := c.nodes[1].Restart(ctx); rerr != nil {
			t.Fatalf("restart: %v", rerr)
		}
		if err == nil {
			t.Fatalf("Write with a shard down succeeded, want an error")
		}
		t.Logf("Write with a shard down: %v", err)
		if err := sink.Write(ctx, batch); err != nil {
			t.Fatalf("Write after the shard returned: %v", err)
		}
		var rows, ids uint64
		if err := b.QueryRow(ctx, "SELECT count(), uniqExact(event_id) FROM events WHERE experiment = 'down'").Scan(&rows, &ids); err != nil {
			t.Fatal(err)
		}
		if ids != uint64(len(batch)) || rows < ids {
			t.Errorf("after the retry: %d rows, %d distinct events; want all %d events", rows, ids, len(batch))
		}
	})
}
