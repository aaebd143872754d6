package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// loadCaps measures what frequency caps cost a loaded server: a second
// server on the same ClickHouse with the caps of -caps (every unit fresh,
// so every send is admitted, counted and kept, and every refresh reads the
// other server's sends too), and the server without caps, loaded in turn
// (ABBA) with the same assign wrk run and bulk lists of the same shape.
// The rows give each against the same baseline run, the caps rows their
// ratios to no caps, and each server's own CPU time per request or unit:
// on a machine shared with other work the rates swing with that work, the
// CPU a server spends per unit much less.
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
	var offCPU, onCPU time.Duration // the servers' CPU time during their runs
	for _, srv := range []*server{s.a, c, c, s.a} {
		cpu0, err := srv.cpuTime()
		if err != nil {
			return err
		}
		r, err := runWrk(ctx, s.scripts, "http://"+srv.addr, spec)
		if err != nil {
			return err
		}
		cpu1, err := srv.cpuTime()
		if err != nil {
			return err
		}
		if srv == c {
			on, onCPU = on.plus(r), onCPU+cpu1-cpu0
		} else {
			off, offCPU = off.plus(r), offCPU+cpu1-cpu0
		}
	}
	perReq := func(cpu time.Duration, r wrkRun) float64 { return cpu.Seconds() * 1e6 / float64(r.Requests) }
	base := fmt.Sprintf("%.0f req/s (trivial Fiber JSON)", b.RPS())
	s.rows = append(s.rows, wrkRow("assign, no caps (2 runs)", off, fmt.Sprintf("%.1f cpu-us/req", perReq(offCPU, off)), base, fmt.Sprintf("%.2f", off.RPS()/b.RPS())),
		wrkRow("assign, caps "+s.opts.caps+" (2 runs)", on, fmt.Sprintf("%.1f cpu-us/req; %.2f req/s, %.2f cpu of no caps", perReq(onCPU, on),
			on.RPS()/off.RPS(), perReq(onCPU, on)/perReq(offCPU, off)), base, fmt.Sprintf("%.2f", on.RPS()/b.RPS())))
	s.checkErrors("assign, no caps", off)
	s.checkErrors("assign, caps", on)
	var cpu [2]time.Duration // no caps, caps: the servers' CPU time for their bulk runs
	for i, srv := range []*server{s.a, c, c, s.a} {
		name := "no caps"
		if srv == c {
			name = "caps " + s.opts.caps
		}
		cpu0, err := srv.cpuTime()
		if err != nil {
			return err
		}
		if err := s.bulkOn(ctx, "bulk assign, "+name, srv.addr, fmt.Sprint("bulk-caps-", i)); err != nil {
			return err
		}
		cpu1, err := srv.cpuTime()
		if err != nil {
			return err
		}
		k := map[bool]int{false: 0, true: 1}[srv == c]
		cpu[k] += cpu1 - cpu0
		s.rows[len(s.rows)-1].throughput += fmt.Sprintf(", %.2f cpu-us/unit", (cpu1-cpu0).Seconds()*1e6/float64(s.opts.bulkUnits))
	}
	s.rows = append(s.rows, row{scenario: "bulk assign, caps/no caps", rps: "-", p50: "-", p99: "-", errors: "-",
		throughput: fmt.Sprintf("%.2f server cpu per unit (2 runs each)", cpu[1].Seconds()/cpu[0].Seconds()), baseline: "-", ratio: "-"})
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

// cpuTime is the CPU time (user and system) the server's process has used
// so far, from /proc/PID/stat: a measure of its own work that the rest of
// a shared machine's load stretches far less than its wall-clock rates.
func (srv *server) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", srv.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name's ")": state is the 3rd field of
	// the line, utime and stime the 14th and 15th, in clock ticks (USER_HZ,
	// 100 on Linux).
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 13 {
		return 0, fmt.Errorf("parse /proc/%d/stat: %q", srv.cmd.Process.Pid, b)
	}
	var ticks int64
	for _, x := range f[11:13] {
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse /proc/%d/stat: %w", srv.cmd.Process.Pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}
