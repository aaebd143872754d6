package audience

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkDecodeTrack decodes the body cmd/loadtest's track part sends:
// 100 orders with four typed properties; ns/op is per body.
func BenchmarkDecodeTrack(b *testing.B) {
	parts := make([]string, 100)
	for j := range parts {
		parts[j] = fmt.Sprintf(`{"id":"r-1-1-%d","unit_id":"u%d","name":"order_completed",`+
			`"properties":{"total":%d.5,"category":"shoes","gift":false,"tags":["sale","new"]}}`, j, j, j)
	}
	body := []byte(`{"events":[` + strings.Join(parts, ",") + `]}`)
	b.ReportAllocs()
	for b.Loop() {
		var req trackRequest
		if err := decodeTrack(body, &req); err != nil || len(req.Events) != 100 {
			b.Fatal(err)
		}
	}
}
