package analytics_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/experiment"
)

var edgeNow = time.Date(2026, 3, 2, 10, 30, 15, 500_000_000, time.UTC)

func TestExposureID(t *testing.T) {
	ids := analytics.NewIDs()
	arm := analytics.Arm{Experiment: "welcome", Version: 3, Segment: "pro", Variant: "b", Unit: "u-1", SendID: "send-9"}
	a := analytics.Exposure(ids, arm, "email", edgeNow)
	b := analytics.Exposure(ids, arm, "push", edgeNow.Add(time.Hour))
	if a.ID != b.ID || !strings.HasPrefix(a.ID, "x:") {
		t.Errorf("Exposure of one send twice = ids %q and %q, want one x: id", a.ID, b.ID)
	}
	if a.SendID != "send-9" || a.Kind != analytics.KindExposure || a.Channel != "email" || a.Variant != "b" || a.Version != 3 {
		t.Errorf("Exposure = %+v, want the arm's fields, kind exposure, channel email", a)
	}
	if !a.Time.Equal(edgeNow.Truncate(time.Second)) {
		t.Errorf("Exposure time = %v, want %v truncated to the second", a.Time, edgeNow)
	}
	other := arm
	other.Unit = "u-2"
	if c := analytics.Exposure(ids, other, "email", edgeNow); c.ID == a.ID {
		t.Errorf("two units' exposures of one send id share id %q", c.ID)
	}

	arm.SendID = ""
	x, y := analytics.Exposure(ids, arm, "", edgeNow), analytics.Exposure(ids, arm, "", edgeNow)
	if x.ID == y.ID || x.SendID == "" || x.ID != "x:"+x.SendID {
		t.Errorf("Exposures without a send id = %q (send %q) and %q, want fresh ids, the send id the id's digits", x.ID, x.SendID, y.ID)
	}
}

func TestTracked(t *testing.T) {
	ids := analytics.NewIDs()
	arm := analytics.Arm{Experiment: "welcome", Version: 1, Segment: "s", Variant: "a", Unit: "u", SendID: "m"}
	o := analytics.Tracked(ids, analytics.KindOpen, arm, "", edgeNow, true, analytics.ReasonAppleMPP)
	c := analytics.Tracked(ids, analytics.KindClick, arm, "https://example.com/x", edgeNow, false, "")
	if !strings.HasPrefix(o.ID, "o:") || len(o.ID) != 34 || !strings.HasPrefix(c.ID, "c:") {
		t.Errorf("Tracked ids = %q, %q, want o: and c: and 32 hex digits", o.ID, c.ID)
	}
	if !o.Machine || o.MachineReason != analytics.ReasonAppleMPP || c.URL != "https://example.com/x" || c.SendID != "m" {
		t.Errorf("Tracked = %+v, %+v", o, c)
	}
}

func TestCheckAssign(t *testing.T) {
	for _, tc := range []struct {
		unit, send, channel, field string
	}{
		{"u-1", "", "", ""},
		{"u-1", "s", "push", ""},
		{"", "", "", "unit_id"},
		{strings.Repeat("u", analytics.MaxIDLen), "", "", ""},
		{strings.Repeat("u", analytics.MaxIDLen+1), "", "", "unit_id"},
		{"u", strings.Repeat("s", analytics.MaxIDLen+1), "", "send_id"},
		{"u", "", "fax", "channel"},
	} {
		err := analytics.CheckAssign(tc.unit, tc.send, tc.channel)
		if got := experiment.ErrorField(err); got != tc.field || (tc.field == "") != (err == nil) {
			t.Errorf("CheckAssign(%d-byte unit, %d-byte send, %q) = %v, want field %q", len(tc.unit), len(tc.send), tc.channel, err, tc.field)
		}
	}
}

func TestServerEvents(t *testing.T) {
	val := func(f float64) *float64 { return &f }
	at := func(t time.Time) *time.Time { return &t }
	tokenArm := analytics.Arm{Experiment: "welcome", Version: 2, Segment: "pro", Variant: "b", Unit: "u-7", SendID: "m-1"}
	open := func(tok string) (analytics.Arm, error) {
		if tok != "good" {
			return analytics.Arm{}, errors.New("bad signature")
		}
		return tokenArm, nil
	}
	known := func(key string) bool { return key != "ghost" }
	conv := func(mod func(e *analytics.ServerEvent)) analytics.ServerEvent {
		e := analytics.ServerEvent{Kind: "conversion", Experiment: "welcome", UnitID: "u-1", ID: "order-1", Value: val(12.5)}
		if mod != nil {
			mod(&e)
		}
		return e
	}
	for _, tc := range []struct {
		name  string
		in    analytics.ServerEvent
		field string
	}{
		{"conversion", conv(nil), ""},
		{"no kind", conv(func(e *analytics.ServerEvent) { e.Kind = "" }), "kind"},
		{"exposure is not a server event", conv(func(e *analytics.ServerEvent) { e.Kind = "exposure" }), "kind"},
		{"no experiment", conv(func(e *analytics.ServerEvent) { e.Experiment = "" }), "experiment"},
		{"bad experiment key", conv(func(e *analytics.ServerEvent) { e.Experiment = "Not A Key" }), "experiment"},
		{"no unit", conv(func(e *analytics.ServerEvent) { e.UnitID = "" }), "unit_id"},
		{"long name", conv(func(e *analytics.ServerEvent) { e.Name = strings.Repeat("n", analytics.MaxIDLen+1) }), "name"},
		{"NaN value", conv(func(e *analytics.ServerEvent) { e.Value = val(math.NaN()) }), "value"},
		{"huge value", conv(func(e *analytics.ServerEvent) { e.Value = val(2e12) }), "value"},
		{"future", conv(func(e *analytics.ServerEvent) { e.Time = at(edgeNow.Add(analytics.MaxSkew + time.Second)) }), "time"},
		{"within skew", conv(func(e *analytics.ServerEvent) { e.ID, e.Time = "order-2", at(edgeNow.Add(analytics.MaxSkew)) }), ""},
		{"older than MaxAge", conv(func(e *analytics.ServerEvent) { e.Time = at(edgeNow.Add(-analytics.MaxAge - time.Second)) }), "time"},
		{"within MaxAge", conv(func(e *analytics.ServerEvent) { e.ID, e.Time = "order-2", at(edgeNow.Add(-analytics.MaxAge)) }), ""},
		{"same id, another unit", conv(func(e *analytics.ServerEvent) { e.UnitID = "u-2" }), "id"},
		{"same id, same event", conv(nil), ""},
		{"unknown experiment", conv(func(e *analytics.ServerEvent) { e.Experiment = "ghost" }), "experiment"},
		{"negative value", conv(func(e *analytics.ServerEvent) { e.Value = val(-1) }), "value"},
		{"the report's -1e12", conv(func(e *analytics.ServerEvent) { e.Value = val(-1e12) }), "value"},
		{"refund", conv(func(e *analytics.ServerEvent) { e.ID, e.Name, e.Value = "order-2", analytics.RefundName, val(-12.5) }), ""},
		{"refund beyond MaxValue", conv(func(e *analytics.ServerEvent) { e.Name, e.Value = analytics.RefundName, val(-2e9) }), "value"},
		{"over MaxValue", conv(func(e *analytics.ServerEvent) { e.Value = val(1.5e9) }), "value"},
		{"before 2000", conv(func(e *analytics.ServerEvent) { e.Time = at(time.Date(1999, 12, 31, 0, 0, 0, 0, time.UTC)) }), "time"},
		{"id and key differ", conv(func(e *analytics.ServerEvent) { e.IdempotencyKey = "other" }), "idempotency_key"},
		{"long id", conv(func(e *analytics.ServerEvent) { e.ID = strings.Repeat("i", analytics.MaxIDLen+1) }), "id"},
		{"token", analytics.ServerEvent{Kind: "conversion", Token: "good"}, ""},
		{"bad token", analytics.ServerEvent{Kind: "conversion", Token: "forged"}, "token"},
		{"token of another experiment", analytics.ServerEvent{Kind: "conversion", Token: "good", Experiment: "other"}, "experiment"},
		{"token of another unit", analytics.ServerEvent{Kind: "conversion", Token: "good", UnitID: "u-8"}, "unit_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok := conv(nil)
			out, err := analytics.ServerEvents(analytics.NewIDs(), []analytics.ServerEvent{ok, tc.in}, 10, open, known, edgeNow)
			if tc.field != "" {
				if want := "events[1]." + tc.field; experiment.ErrorField(err) != want || out != nil {
					t.Fatalf("ServerEvents = %d events, %v; want none and field %q", len(out), err, want)
				}
				return
			}
			if err != nil || len(out) != 2 {
				t.Fatalf("ServerEvents = %d events, %v; want 2", len(out), err)
			}
			if tc.in.Token != "" && (out[1].Variant != "b" || out[1].SendID != "m-1" || out[1].Unit != "u-7") {
				t.Errorf("token event = %+v, want the token's arm", out[1])
			}
		})
	}
}

// TestServerEventIdempotency: one key within one experiment is one id,
// whether sent as id or as idempotency_key; no key is a fresh id each time.
func TestServerEventIdempotency(t *testing.T) {
	ids := analytics.NewIDs()
	mk := func(e analytics.ServerEvent) analytics.Event {
		t.Helper()
		e.Kind, e.UnitID = "conversion", "u-1"
		if e.Experiment == "" {
			e.Experiment = "welcome"
		}
		ev, err := analytics.NewServerEvent(ids, &e, nil, edgeNow)
		if err != nil {
			t.Fatal(err)
		}
		return ev
	}
	byID, byKey := mk(analytics.ServerEvent{ID: "k"}), mk(analytics.ServerEvent{IdempotencyKey: "k"})
	both := mk(analytics.ServerEvent{ID: "k", IdempotencyKey: "k"})
	if byID.ID != byKey.ID || byID.ID != both.ID || !strings.HasPrefix(byID.ID, "e:") {
		t.Errorf("ids of key k = %q, %q, %q, want one e: id", byID.ID, byKey.ID, both.ID)
	}
	if other := mk(analytics.ServerEvent{ID: "k", Experiment: "other"}); other.ID == byID.ID {
		t.Errorf("key k in two experiments has one id %q", other.ID)
	}
	if a, b := mk(analytics.ServerEvent{}), mk(analytics.ServerEvent{}); a.ID == b.ID {
		t.Errorf("two events without a key share id %q", a.ID)
	}
}

func TestServerEventsBatchSize(t *testing.T) {
	ids := analytics.NewIDs()
	if _, err := analytics.ServerEvents(ids, nil, 10, nil, nil, edgeNow); experiment.ErrorField(err) != "events" {
		t.Errorf("ServerEvents of none = %v, want field events", err)
	}
	in := make([]analytics.ServerEvent, 3)
	_, err := analytics.ServerEvents(ids, in, 2, nil, nil, edgeNow)
	if experiment.ErrorCode(err) != experiment.ETOOLARGE || experiment.ErrorField(err) != "events" {
		t.Errorf("ServerEvents of 3 with at most 2 = %v, want ETOOLARGE on events", err)
	}
}
