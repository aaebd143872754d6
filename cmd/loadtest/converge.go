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
	bound := s.opts.refresh + time.Second
	lines := units("converge", convergeUnits)
	s.logf("converge: servers A %s and B %s, refresh %v, %d units, bound %v", s.a.addr, b.addr, s.opts.refresh, convergeUnits, bound)

	type result struct {
		change string
		moved  int
		delay  time.Duration
		err    error
	}
	var results []result
	step := func(change string, act func() error) error {
		var before []answer
		if change != "start" {
			var err error
			if before, err = s.a.api.bulk(ctx, key, lines); err != nil {
				return err
			}
		}
		if err := act(); err != nil {
			return err
		}
		changed := time.Now()
		// A refreshes its snapshot before it answers the change.
		want, err := s.a.api.bulk(ctx, key, lines)
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
		delay, err := waitSame(ctx, bc, key, lines, want, changed, bound)
		results = append(results, result{change, moved, delay, err})
		if err != nil {
			s.fail("converge, %s: %v", change, err)
		}
		return nil
	}
	if err := step("start", func() error { return s.a.api.createStart(ctx, key) }); err != nil {
		return err
	}
	if err := step("retire everyone/personal", func() error {
		return s.a.api.must(ctx, http.StatusOK, "POST", "/v1/experiments/"+key+"/segments/everyone/variants/personal/retire", adminKey,
			[]byte(`{"reason":"loadtest converge"}`), nil)
	}); err != nil {
		return err
	}
	if err := step("allocation 100 -> 60", func() error {
		return s.a.api.must(ctx, http.StatusOK, "POST", "/v1/experiments/"+key+"/allocation", adminKey,
			[]byte(`{"allocation":60,"reason":"loadtest converge"}`), nil)
	}); err != nil {
		return err
	}

	fmt.Fprintf(s.out, "\n== converge: change on A, poll B until all %d units get A's answers (refresh %v, bound %v)\n", convergeUnits, s.opts.refresh, bound)
	w := tabwriter.NewWriter(s.out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "change on A\tunits moved on A\tB agrees after\tresult")
	for _, r := range results {
		verdict := "ok"
		if r.err != nil {
			verdict = "OVER THE BOUND"
		}
		moved := fmt.Sprint(r.moved)
		if r.change == "start" {
			moved = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%v\t%s\n", r.change, moved, r.delay.Round(time.Millisecond), verdict)
		s.verdicts = append(s.verdicts, fmt.Sprintf("converge: %-26s server B agreed after %v (bound %v): %s", r.change+":", r.delay.Round(time.Millisecond), bound, verdict))
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
