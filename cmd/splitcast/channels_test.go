package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"testing"
	"time"
)

// multiChannelExperiment sends on email and push, each variant with a
// payload per channel.
const multiChannelExperiment = `{
  "key": "one-voice", "channel": "email", "channels": ["email", "push"],
  "allocation": 100, "primary_metric": "conversion_rate",
  "segments": [{"key": "all", "variants": [
    {"key": "control", "weight": 1, "control": true,
     "payloads": {"email": {"subject": "Your week", "body": "Here is your week.", "cta": "Open"},
                  "push": {"title": "Your week", "body": "Tap to see it"}}},
    {"key": "bold", "weight": 1,
     "payloads": {"email": {"subject": "Big week!", "body": "You did a lot.", "cta": "See it"},
                  "push": {"title": "Big week!", "body": "You did a lot"}}}
  ]}]
}`

// TestMultiChannel: a two-channel experiment gives a unit the same variant
// on both channels, each with the variant's payload for it; tokens carry
// the channel, so opens and unsubscribes land on it; the report shows each
// metric per channel, matching a hand count.
func TestMultiChannel(t *testing.T) {
	_, db := env.NewDatabase(t)
	m, _ := MustMain(t, db)
	c := fatigueClient(m)
	c.mustCall(t, http.StatusCreated, "POST", "/v1/experiments", devAdminKey, []byte(multiChannelExperiment), nil)
	c.mustCall(t, http.StatusOK, "POST", "/v1/experiments/one-voice/start", devAdminKey, []byte(`{"reason":"channels test"}`), nil)
	var def struct {
		Segments []struct {
			Variants []struct {
				Key      string                     `json:"key"`
				Payloads map[string]json.RawMessage `json:"payloads"`
			} `json:"variants"`
		} `json:"segments"`
	}
	if err := json.Unmarshal([]byte(multiChannelExperiment), &def); err != nil {
		t.Fatal(err)
	}
	payload := map[[2]string]any{}
	for _, v := range def.Segments[0].Variants {
		for ch, p := range v.Payloads {
			var x any
			_ = json.Unmarshal(p, &x)
			payload[[2]string{v.Key, ch}] = x
		}
	}

	const n = 120
	type hand struct{ exposed, opensEmail, unsubsPush, converters int64 }
	counts := map[string]*hand{"control": {}, "bold": {}}
	for i := range n {
		u := fmt.Sprint("voice-", i)
		var variant string
		for _, ch := range []string{"email", "push"} {
			got := assignUnit(t, c, "one-voice", u, "weekly-"+ch, ch)
			if variant == "" {
				variant = got.Variant
			} else if got.Variant != variant {
				t.Fatalf("%s: variant %q on email, %q on push", u, variant, got.Variant)
			}
			var p any
			if err := json.Unmarshal(got.Payload, &p); err != nil || !reflect.DeepEqual(p, payload[[2]string{variant, ch}]) {
				t.Fatalf("%s on %s: payload %s, want %v", u, ch, got.Payload, payload[[2]string{variant, ch}])
			}
			switch {
			case ch == "email" && i%3 == 0:
				openPixel(t, c, got.Token)
				counts[variant].opensEmail++
			case ch == "push" && i%4 == 0:
				postEvents(t, c, map[string]any{"kind": "unsubscribe", "token": got.Token})
				counts[variant].unsubsPush++
			}
		}
		counts[variant].exposed++
		if i%5 == 0 {
			postEvents(t, c, map[string]any{"kind": "conversion", "experiment": "one-voice", "unit_id": u, "value": 10, "id": "order-" + u})
			counts[variant].converters++
		}
	}
	if status, _ := c.call(t, "POST", "/v1/assign", devSDKKey, map[string]any{"experiment": "one-voice", "unit_id": "x", "channel": "sms"}); status != http.StatusBadRequest {
		t.Errorf("assign on sms, which the experiment does not send on = %d, want 400", status)
	}

	// The stored opens and unsubscribes carry their token's channel.
	waitUntil(t, time.Now(), 15*time.Second, func() string {
		var wrong, total uint64
		if err := m.conn.QueryRow(context.Background(), `SELECT countIf(kind = 'open' AND channel != 'email') + countIf(kind = 'unsubscribe' AND channel != 'push'),
			countIf(kind IN ('open', 'unsubscribe')) FROM events WHERE experiment = 'one-voice'`).Scan(&wrong, &total); err != nil {
			t.Fatal(err)
		}
		if want := counts["control"].opensEmail + counts["bold"].opensEmail + counts["control"].unsubsPush + counts["bold"].unsubsPush; int64(total) != want || wrong != 0 {
			return fmt.Sprintf("%d opens and unsubscribes stored (want %d), %d on the wrong channel", total, want, wrong)
		}
		return ""
	})

	var r struct {
		Channels []struct {
			Channel  string `json:"channel"`
			Segments []struct {
				Arms []struct {
					Variant string `json:"variant"`
					Counts  struct {
						Exposed      int64 `json:"exposed"`
						Opens        struct{ Units int64 }
						Unsubscribes struct{ Units int64 }
						Conversions  struct{ Units int64 }
					} `json:"counts"`
				} `json:"arms"`
				Metrics []struct {
					Metric string `json:"metric"`
					Rows   []struct {
						Variant string  `json:"variant"`
						Value   float64 `json:"value"`
					} `json:"rows"`
				} `json:"metrics"`
			} `json:"segments"`
		} `json:"channels"`
	}
	c.mustCall(t, http.StatusOK, "GET", "/v1/experiments/one-voice/results", devReadKey, nil, &r)
	if len(r.Channels) != 2 || r.Channels[0].Channel != "email" || r.Channels[1].Channel != "push" {
		t.Fatalf("report channels = %+v, want email and push", r.Channels)
	}
	for _, ch := range r.Channels {
		for _, a := range ch.Segments[0].Arms {
			h := counts[a.Variant]
			wantOpens, wantUnsubs := h.opensEmail, int64(0)
			if ch.Channel == "push" {
				wantOpens, wantUnsubs = 0, h.unsubsPush
			}
			got := a.Counts
			if got.Exposed != h.exposed || got.Opens.Units != wantOpens || got.Unsubscribes.Units != wantUnsubs || got.Conversions.Units != h.converters {
				t.Errorf("%s/%s: exposed %d opens %d unsubscribes %d converters %d, hand count %d %d %d %d", ch.Channel, a.Variant,
					got.Exposed, got.Opens.Units, got.Unsubscribes.Units, got.Conversions.Units, h.exposed, wantOpens, wantUnsubs, h.converters)
			}
		}
		if len(ch.Segments[0].Metrics) != 7 {
			t.Errorf("%s: %d metrics, want the report's 7", ch.Channel, len(ch.Segments[0].Metrics))
		}
	}
}

// openPixel loads a token's open pixel as a mail client would.
func openPixel(tb testing.TB, c apiClient, token string) {
	tb.Helper()
	req, err := http.NewRequest("GET", c.base+"/o/"+token+".gif", nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("User-Agent", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36")
	resp, err := c.http.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("pixel = %d", resp.StatusCode)
	}
}
