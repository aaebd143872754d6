package analytics_test

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/experiment"
)

// TestTrackBufferReuse: batches of every size through one TrackBuffer give
// what TrackEvents gives each alone, an id of an earlier batch is no
// conflict in a later one, and a conflict within a batch still is.
func TestTrackBufferReuse(t *testing.T) {
	ids := analytics.NewIDs()
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	batch := func(n int, name string) []analytics.UserEvent {
		in := make([]analytics.UserEvent, n)
		for i := range in {
			in[i] = analytics.UserEvent{ID: fmt.Sprint("e", i%4), UnitID: fmt.Sprint("u", i%4), Name: name}
		}
		return in
	}
	var b analytics.TrackBuffer
	for _, in := range [][]analytics.UserEvent{batch(6, "order_completed"), batch(2, "page_viewed"), batch(9, "order_completed"), batch(1, "x")} {
		want, err := analytics.TrackEvents(ids, in, 1000, now)
		if err != nil {
			t.Fatal(err)
		}
		got, err := b.Events(ids, in, 1000, now)
		if err != nil {
			t.Fatalf("batch of %d after others: %v", len(in), err)
		}
		if !reflect.DeepEqual(slices.Clone(got), want) {
			t.Errorf("batch of %d: %+v, want %+v", len(in), got, want)
		}
		b.Reset()
	}
	conflict := batch(2, "a")
	conflict[1] = analytics.UserEvent{ID: "e0", UnitID: "u0", Name: "b"}
	var e *experiment.Error
	if _, err := b.Events(ids, conflict, 1000, now); !errors.As(err, &e) || e.Code != experiment.ECONFLICT || e.Field != "events[1].id" {
		t.Errorf("a conflict within a batch: %v, want ECONFLICT on events[1].id", err)
	}
	b.Reset()
	if got, err := b.Events(ids, batch(1, "a"), 1000, now); err != nil || len(got) != 1 {
		t.Errorf("after a refused batch: %v, %v", got, err)
	}
}
