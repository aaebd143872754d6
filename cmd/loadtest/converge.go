package main

import (
	"context"
	"fmt"
	"net/http"
	"text/tabwriter"
	"time"
)

// convergeUnits is the sample both servers must agree on.
const convergeUnits = 500

// converge starts a second server on the same ClickHouse, changes a running
// experiment through the first, and measures how long the second takes to
// give every sampled unit the first's answer. Bound: the refresh interval
// plus a second.
func (s *suite) converge(ctx context.Context) error {
	const key = "loadtest-converge"
	b, err := s.startServer(ctx, "serve-b")
	if err != nil {
		return err
	}
	defer b.stop(30 * time.Second)
	// A server that does not know the experiment yet answers a bulk call
	// 404 before reading its body, and reads the rest of the body as the
	// next request on that connection: B's polls each use a new one.
	bc := newAPIClient("http://" + b.addr)
	bc.http.Transport = &http.Transport{DisableKeepAlives: true}
	c := &convergeRun{s: s, key: key, b: bc, lines: units("converge", convergeUnits), bound: s.opts.refresh + time.Second}
	s.logf("converge: servers A %s and B %s, refresh %v, %d units, bound %v", s.a.addr, b.addr, s.opts.refresh, convergeUnits, c.bound)

	if err := c.step(ctx, "start", func() error { return s.a.api.createStart(ctx, key) }); err != nil {
		return err
	}
	if err := c.step(ctx, "retire everyone/personal", func() error {
		return s.a.api.must(ctx, http.StatusOK, "POST", "/v1/experiments/"+key+"/segments/everyone/variants/personal/retire", adminKey,
			[]byte(`{"reason":"loadtest converge"}`), nil)
	}); err != nil {
		return err
	}
	if err := c.step(ctx, "allocation 100 -> 60", func() error {
		return s.a.api.must(ctx, http.StatusOK, "POST", "/v1/experiments/"+key+"/allocation", adminKey,
			[]byte(`{"allocation":60,"reason":"loadtest converge"}`), nil)
	}); err != nil {
		return err
	}
	return c.report()
}

// convergeRun is the converge scenario: experiment key changed on server A
// and polled on B for the units in lines, and the results so far.
type convergeRun struct {
	s       *suite
	key     string
	b       apiClient
	lines   []byte
	bound   time.Duration
	results []convergeResult
}

// convergeResult is one change on A: the units it moved there, and how long
// B took to agree (err when over the bound).
type convergeResult struct {
	change string
	moved  int
	delay  time.Duration
	err    error
}

// step makes the change act on A and records how long B takes to answer as
// A does. An error is returned only when A misbehaves; B over the bound is a
// failed check, recorded.
func (c *convergeRun) step(ctx context.Context, change string, act func() error) error {
	var before []answer
	if change != "start" {
		var err error
		if before, err = c.s.a.api.bulk(ctx, c.key, c.lines); err != nil {
			return err
		}
	}
	if err := act(); err != nil {
		return err
	}
	changed := time.Now()
	// A refreshes its snapshot before it answers the change.
	want, err := c.s.a.api.bulk(ctx, c.key, c.lines)
	if err != nil {
		return err
	}
	moved := 0
	for i := range want {
		if before != nil && want[i].place() != before[i].place() {
			moved++
		}
		if before != nil && want[i].Version == before[i].Version {
			return fmt.Errorf("%s: server A still answers version %d", change, want[i].Version)
		}
	}
	delay, err := waitSame(ctx, c.b, c.key, c.lines, want, changed, c.bound)
	c.results = append(c.results, convergeResult{change, moved, delay, err})
	if err != nil {
		c.s.fail("converge, %s: %v", change, err)
	}
	return nil
}

// report writes the table of results and adds a verdict per change.
func (c *convergeRun) report() error {
	s := c.s
	fmt.Fprintf(s.out, "\n== converge: change on A, poll B until all %d units get A's answers (refresh %v, bound %v)\n", convergeUnits, s.opts.refresh, c.bound)
	w := tabwriter.NewWriter(s.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "change on A\tunits moved on A\tB agrees after\tresult")
	for _, r := range c.results {
		verdict := "ok"
		if r.err != nil {
			verdict = "OVER THE BOUND"
		}
		moved := fmt.Sprint(r.moved)
		if r.change == "start" {
			moved = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%v\t%s\n", r.change, moved, r.delay.Round(time.Millisecond), verdict)
		s.verdicts = append(s.verdicts, fmt.Sprintf("converge: %-26s server B agreed after %v (bound %v): %s", r.change+":", r.delay.Round(time.Millisecond), c.bound, verdict))
	}
	return w.Flush()
}

// waitSame polls c until it answers want for every unit and returns how
// long after since that was; an error if longer than bound.
func waitSame(ctx context.Context, c apiClient, key string, lines []byte, want []answer, since time.Time, bound time.Duration) (time.Duration, error) {
	var last string
	for {
		got, err := c.bulk(ctx, key, lines)
		if err == nil {
			differ := 0
			for i := range got {
				if !got[i].same(want[i]) {
					differ++
				}
			}
			if differ == 0 {
				return time.Since(since), nil
			}
			last = fmt.Sprintf("%d of %d units differ", differ, len(want))
		} else {
			last = err.Error()
		}
		if time.Since(since) > bound {
			return time.Since(since), fmt.Errorf("server B still differs after %v (bound %v): %s", time.Since(since).Round(time.Millisecond), bound, last)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}
