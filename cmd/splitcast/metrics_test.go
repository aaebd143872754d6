package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/experiment"
	"github.com/splitcast/splitcast/experiment/experimenttest"
)

type failingSink struct{ fail bool }

func (f failingSink) Write(context.Context, []analytics.Event) error {
	if f.fail {
		return errors.New("clickhouse down")
	}
	return nil
}

// TestInstrumentSinkAndRetirements: a write's outcome and a saved
// retirement are on the registry, and the wrapped sink's error still
// reaches the caller.
func TestInstrumentSinkAndRetirements(t *testing.T) {
	reg := prometheus.NewRegistry()
	ok := InstrumentSink(reg, failingSink{})
	if err := ok.Write(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	store := CountRetirements(reg, experimenttest.NewStore())
	now := time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)
	v := experimenttest.MustCreate(t, store, experimenttest.NewExperiment("r", experiment.ChannelEmail))
	v, err := experiment.Start(v.Definition, "t", "", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	v, err = experiment.Retire(v.Definition, "pro", "short", "loop", "worse", now)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Save(context.Background(), v); err != nil {
		t.Fatal(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			label := ""
			for _, l := range m.GetLabel() {
				label = l.GetValue()
			}
			switch {
			case m.GetHistogram() != nil:
				got[f.GetName()+"/"+label] = float64(m.GetHistogram().GetSampleCount())
			case m.GetCounter() != nil:
				got[f.GetName()+"/"+label] = m.GetCounter().GetValue()
			}
		}
	}
	for name, want := range map[string]float64{
		"splitcast_clickhouse_write_duration_seconds/ok": 1,
		"splitcast_retirements_total/retire":             1,
	} {
		if got[name] != want {
			t.Errorf("%s = %v, want %v (all: %v)", name, got[name], want, got)
		}
	}
	bad := InstrumentSink(prometheus.NewRegistry(), failingSink{fail: true})
	if err := bad.Write(context.Background(), nil); err == nil {
		t.Error("instrumented sink swallowed the error")
	}
}
