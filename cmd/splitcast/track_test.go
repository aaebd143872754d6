package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTrackReachesClickHouse: user events sent to POST /v1/track, and sent
// again as a client retrying would, reach the user_events table through the
// ingest path, each id once after deduplication.
func TestTrackReachesClickHouse(t *testing.T) {
	conn, db := env.NewDatabase(t)
	m, closeMain := MustMain(t, db)
	c := apiClient{base: "http://" + m.Addr(), http: &http.Client{Timeout: 10 * time.Second}}
	var b strings.Builder
	b.WriteString(`{"events":[`)
	const n = 300
	for i := range n {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":"o-%d","unit_id":"u-%d","name":"order_completed","properties":{"total":%d,"category":"c%d"}}`, i, i%50, i, i%3)
	}
	b.WriteString(`]}`)
	for range 2 {
		c.mustCall(t, http.StatusAccepted, "POST", "/v1/track", devSDKKey, []byte(b.String()), nil)
	}
	// Close flushes the ingest queue: everything accepted is then stored.
	if err := closeMain(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	var distinct, units uint64
	var total float64
	q := "SELECT uniqExact(event_id), uniqExact(unit), sum(n_vals[1]) FROM (SELECT event_id, any(unit) AS unit, any(n_vals) AS n_vals FROM user_events GROUP BY event_id)"
	if err := conn.QueryRow(context.Background(), q).Scan(&distinct, &units, &total); err != nil {
		t.Fatal(err)
	}
	if distinct != n || units != 50 || total != n*(n-1)/2 {
		t.Errorf("user_events: %d distinct events of %d units, total %v; want %d of 50, %d", distinct, units, total, n, n*(n-1)/2)
	}
}
