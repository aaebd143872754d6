package main

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// loadCaps measures what frequency caps cost a loaded server: a second
// server on the same ClickHouse with the caps of -caps (every unit fresh,
// so every send is admitted, counted and kept, and every refresh reads the
// other server's sends too), loaded right after the server without caps
// with the same assign wrk run and the same bulk list. The rows give each
// against the same baseline run, and the caps row its ratio to no caps.
func (s *suite) loadCaps(ctx context.Context) error {
	total, perChannel, ok := strings.Cut(s.opts.caps, ",")
	if !ok {
		return fmt.Errorf("-caps %q: want TOTAL,PER_CHANNEL, e.g. 3/168h,1/24h", s.opts.caps)
	}
	c, err := s.startServer(ctx, "serve-caps", "SPLITCAST_CAP_TOTAL="+total, "SPLITCAST_CAP_PER_CHANNEL="+perChannel)
	if err != nil {
		return err
	}
	defer c.stop(30 * time.Second)
	if err := c.api.waitExperiment(ctx, "welcome-email"); err != nil {
		return err
	}
	spec := wrkSpec{script: "assign", threads: 1, conns: assignConns, duration: s.opts.duration}
	warm := spec
	warm.duration, warm.conns = warmUp, 8
	for _, base := range []string{s.assignBase, s.a.addr, c.addr} {
		if _, err := runWrk(ctx, s.scripts, "http://"+base, warm); err != nil {
			return err
		}
	}
	// ABBA: no caps, caps, caps, no caps, so that a drift of the
	// machine's other load over the minute weighs on both alike.
	s.logf("caps %s: assign, wrk -t%d -c%d for %v against the baseline, then splitcast without caps, with, with, without", s.opts.caps, spec.threads, spec.conns, spec.duration)
	b, err := runWrk(ctx, s.scripts, "http://"+s.assignBase, spec)
	if err != nil {
		return err
	}
	var off, on wrkRun
	for _, addr := range []string{s.a.addr, c.addr, c.addr, s.a.addr} {
		r, err := runWrk(ctx, s.scripts, "http://"+addr, spec)
		if err != nil {
			return err
		}
		if addr == c.addr {
			on = on.plus(r)
		} else {
			off = off.plus(r)
		}
	}
	base := fmt.Sprintf("%.0f req/s (trivial Fiber JSON)", b.RPS())
	s.rows = append(s.rows, wrkRow("assign, no caps (2 runs)", off, "-", base, fmt.Sprintf("%.2f", off.RPS()/b.RPS())),
		wrkRow("assign, caps "+s.opts.caps+" (2 runs)", on, fmt.Sprintf("%.2f of no caps", on.RPS()/off.RPS()), base, fmt.Sprintf("%.2f", on.RPS()/b.RPS())))
	s.checkErrors("assign, no caps", off)
	s.checkErrors("assign, caps", on)
	for i, run := range []struct{ name, addr string }{{"no caps", s.a.addr}, {"caps " + s.opts.caps, c.addr}, {"caps " + s.opts.caps, c.addr}, {"no caps", s.a.addr}} {
		if err := s.bulkOn(ctx, "bulk assign, "+run.name, run.addr, fmt.Sprint("bulk-caps-", i)); err != nil {
			return err
		}
	}
	s.loadAvg = loadAverage()
	fmt.Fprintln(s.out)
	s.printTable()
	return nil
}

// waitExperiment waits until the server assigns in experiment key (it
// learns of it from ClickHouse on its snapshot refresh).
func (c apiClient) waitExperiment(ctx context.Context, key string) error {
	body := []byte(`{"experiment":"` + key + `","unit_id":"loadtest-probe","channel":"email"}`)
	for {
		status, _, err := c.do(ctx, "POST", "/v1/assign", sdkKey, body)
		if err == nil && status == 200 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s on %s: %w (last status %d, %v)", key, c.base, ctx.Err(), status, err)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// plus is r and o as one run: their requests, time and errors added, and
// their latencies averaged (a percentile of the two together is not kept).
func (r wrkRun) plus(o wrkRun) wrkRun {
	if r.Requests == 0 {
		return o
	}
	return wrkRun{Requests: r.Requests + o.Requests, Duration: r.Duration + o.Duration,
		P50: (r.P50 + o.P50) / 2, P99: (r.P99 + o.P99) / 2,
		StatusErrors: r.StatusErrors + o.StatusErrors, SocketErrors: r.SocketErrors + o.SocketErrors}
}
