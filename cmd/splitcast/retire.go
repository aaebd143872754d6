package main

import (
	"context"
	"fmt"
	"io"

	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/retire"
)

// RetireOnce is `splitcast retire-once`: one pass of the retirement loop
// over every running experiment with automatic retirement, against the
// configured ClickHouse, printing what it decided. A running server sees
// the new versions within its SPLITCAST_SNAPSHOT_REFRESH.
func (m *Main) RetireOnce(ctx context.Context) error {
	if err := m.connectForCommand(ctx); err != nil {
		return err
	}
	if err := m.migrate(ctx); err != nil {
		return err
	}
	base := clickhouse.NewAggregateReader(m.conn)
	base.Rollups = m.rollups()
	store := clickhouse.NewExperimentStore(m.conn)
	loop := &retire.Loop{Store: store, Reader: clickhouse.NewBanditAggregates(m.conn, base, store), Logger: m.logger}
	applied, err := loop.RunOnce(ctx)
	printApplied(m.stdout, applied)
	return err
}

// printApplied prints the decisions of a retirement pass.
func printApplied(w io.Writer, applied []retire.Applied) {
	if len(applied) == 0 {
		fmt.Fprintln(w, "retirement: nothing decided")
	}
	for _, a := range applied {
		fmt.Fprintf(w, "retirement: %s v%d: %s %s/%s\n  %s\n", a.Experiment, a.Version, a.Kind, a.Segment, a.Variant, a.Reason)
	}
}
