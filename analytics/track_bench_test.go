package analytics_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
)

// BenchmarkTrackEvents checks and encodes a batch of 100 orders with four
// typed properties each, the body cmd/loadtest's track part sends; ns/op
// is per batch, with a buffer of its own for each batch (TrackEvents) and
// with one kept from batch to batch (TrackBuffer, as POST /v1/track does).
func BenchmarkTrackEvents(b *testing.B) {
	in := make([]analytics.UserEvent, 100)
	for j := range in {
		in[j] = analytics.UserEvent{ID: fmt.Sprintf("r-1-1-%d", j), UnitID: fmt.Sprintf("u%d", j), Name: "order_completed"}
		props := fmt.Sprintf(`{"total":%d.5,"category":"shoes","gift":false,"tags":["sale","new"]}`, j)
		if err := json.Unmarshal([]byte(props), &in[j].Properties); err != nil {
			b.Fatal(err)
		}
	}
	ids := analytics.NewIDs()
	now := time.Now()
	b.Run("fresh", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := analytics.TrackEvents(ids, in, 1000, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	// As the handler does: one buffer from batch to batch.
	b.Run("buffer", func(b *testing.B) {
		b.ReportAllocs()
		var buf analytics.TrackBuffer
		for b.Loop() {
			if _, err := buf.Events(ids, in, 1000, now); err != nil {
				b.Fatal(err)
			}
			buf.Reset()
		}
	})
}
