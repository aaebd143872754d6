package main

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/ingest"
	"github.com/splitcast/splitcast/experiment"
)

// The metrics of the wiring's own wrappers: they instrument a sink and a
// store where cmd puts them together, so that neither api nor the packages
// they wrap import Prometheus for them.

// InstrumentSink wraps sink so that the latency and the outcome of every
// ClickHouse write are on reg: splitcast_clickhouse_write_duration_seconds
// by result (ok, error).
func InstrumentSink(reg prometheus.Registerer, sink ingest.Sink) ingest.Sink {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "splitcast_clickhouse_write_duration_seconds",
		Help:    "Latency of event batch writes to ClickHouse, by result (ok, error).",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"result"})
	reg.MustRegister(h)
	return timedSink{sink: sink, h: h}
}

type timedSink struct {
	sink ingest.Sink
	h    *prometheus.HistogramVec
}

func (t timedSink) Write(ctx context.Context, events []analytics.Event) error {
	start := time.Now()
	err := t.sink.Write(ctx, events)
	result := "ok"
	if err != nil {
		result = "error"
	}
	t.h.WithLabelValues(result).Observe(time.Since(start).Seconds())
	return err
}

// CountRetirements wraps store so that every saved retirement and
// conclusion counts on reg, whoever saves it (the API or the retirement
// loop): splitcast_retirements_total by action (retire, conclude).
// Labels are bounded: the experiment is not one of them.
func CountRetirements(reg prometheus.Registerer, store experiment.Store) experiment.Store {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "splitcast_retirements_total",
		Help: "Variants retired (retire) and segments concluded with a winner (conclude).",
	}, []string{"action"})
	reg.MustRegister(c)
	return retireCounter{Store: store, c: c}
}

type retireCounter struct {
	experiment.Store
	c *prometheus.CounterVec
}

func (r retireCounter) Save(ctx context.Context, v experiment.Version) error {
	if err := r.Store.Save(ctx, v); err != nil {
		return err
	}
	if v.Action == experiment.ActionRetire || v.Action == experiment.ActionConclude {
		r.c.WithLabelValues(string(v.Action)).Inc()
	}
	return nil
}
