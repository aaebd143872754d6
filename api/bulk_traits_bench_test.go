package api_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/traits"
	"github.com/splitcast/splitcast/api"
)

// heldUsers is a traits.UserReader of n units, each with an order and a
// ticket, read once.
type heldUsers struct {
	n    int
	done bool
}

func (h *heldUsers) changedUsers(_ context.Context, _ time.Time, from int32) ([]traits.UnitEvents, time.Time, error) {
	if h.done {
		return nil, time.Now(), nil
	}
	h.done = true
	at := int64(analytics.Day(time.Now())) * 86400
	out := make([]traits.UnitEvents, h.n)
	for i := range out {
		out[i] = traits.UnitEvents{Unit: "user-" + strconv.Itoa(i), Events: []traits.UserEvent{
			{Time: at, Name: "order_completed", Props: []analytics.Prop{{Key: "total", Type: analytics.PropNumber, Num: float64(i % 100)}}},
			{Time: at, Name: "ticket_opened", Props: []analytics.Prop{{Key: "urgency", Type: analytics.PropString, Str: "low"}}},
		}}
	}
	return out, time.Now(), nil
}

type noMessages struct{}

func (noMessages) ChangedActivity(context.Context, time.Time, int32) ([]traits.UnitActivity, time.Time, error) {
	return nil, time.Now(), nil
}
func (noMessages) Activity(context.Context, []string, int32) ([]traits.UnitActivity, error) {
	return nil, nil
}

// bulkTraitsExperiment segments on computed traits (prefix "trait.") or on
// the same names sent as attributes (prefix "").
func bulkTraitsExperiment(p string) string {
	v := `"variants": [{"key": "a", "weight": 1, "control": true}, {"key": "b", "weight": 1}]`
	return fmt.Sprintf(`{"key": "bulk-traits", "channel": "email", "allocation": 100, "holdout": 0,
  "segments": [
    {"key": "urgent", "rule": {"all": [{"attr": "%[1]ssupport.open_tickets", "op": "gt", "value": 0},
                                      {"attr": "%[1]ssupport.last_ticket_urgency", "op": "equals", "value": "urgent"}]}, %[2]s},
    {"key": "big", "rule": {"attr": "%[1]spurchases.revenue_90d", "op": "gte", "value": 1000}, %[2]s},
    {"key": "rest", %[2]s}],
  "primary_metric": "click_rate"}`, p, v)
}

// BenchmarkBulkComputedTraits sends 1M units (b.N is ignored: one pass)
// through POST /v1/assign/bulk with rules on computed traits while the
// cache holds 4M units', and the same 1M units with the values sent as
// attributes to a server without traits; it reports both rates (wall
// clock, one pass each), the units per CPU second of the whole process
// (server, its collector and the in-process client) and their ratio.
func BenchmarkBulkComputedTraits(b *testing.B) {
	const units = 1_000_000
	held := 4_000_000
	cache := traits.NewCache(traits.CacheConfig{Reader: noMessages{}, Catalogue: traits.DefaultCatalogue(), UserReader: &heldUsers{n: held}})
	if err := cache.Refresh(context.Background()); err != nil {
		b.Fatal(err)
	}
	type pass struct{ wall, cpu float64 } // units/s, units per CPU second
	rate := func(withTraits bool) pass {
		h := newHarness(b, nil, func(c *api.Config) {
			c.Events = &countingLog{}
			if withTraits {
				c.Traits = cache
			}
		})
		p, attrs := "trait.", `{}`
		if !withTraits {
			p, attrs = "", `{"support.open_tickets":1,"support.last_ticket_urgency":"low","purchases.revenue_90d":42}`
		}
		h.must(b, http.StatusCreated, "POST", "/v1/experiments", hAdmin, bulkTraitsExperiment(p))
		h.must(b, http.StatusOK, "POST", "/v1/experiments/bulk-traits/start", hAdmin, "")
		base := h.listen(b)
		var list bytes.Buffer
		for i := range units {
			fmt.Fprintf(&list, `{"unit_id":"user-%d","attributes":%s}`+"\n", i, attrs)
		}
		req, err := http.NewRequest("POST", base+"/v1/assign/bulk?experiment=bulk-traits", &list)
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+hSDK)
		cpu0 := cpuTime()
		start := time.Now()
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || n < units*100 {
			b.Fatalf("bulk: %d, %d bytes, %v", resp.StatusCode, n, err)
		}
		wall := time.Since(start).Seconds()
		return pass{units / wall, units / (cpuTime() - cpu0)}
	}
	b.ResetTimer()
	attrs := rate(false)
	tr := rate(true)
	b.ReportMetric(attrs.wall, "attrs-units/s")
	b.ReportMetric(tr.wall, "traits-units/s")
	b.ReportMetric(attrs.cpu, "attrs-units/cpu-s")
	b.ReportMetric(tr.cpu, "traits-units/cpu-s")
	b.ReportMetric(tr.cpu/attrs.cpu, "traits/attrs-cpu")
}

// cpuTime returns the CPU time (user and system) the process has used, in
// seconds: on a shared machine the wall-clock rate says more about the
// neighbours than about the server, and the CPU a pass costs does not.
func cpuTime() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// EachChangedUser hands over what changedUsers returns, a unit at a time.
func (h *heldUsers) EachChangedUser(ctx context.Context, since time.Time, from int32, fn func(*traits.UnitEvents)) (time.Time, error) {
	units, mark, err := h.changedUsers(ctx, since, from)
	for i := range units {
		fn(&units[i])
	}
	return mark, err
}
