package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The wrk shapes: one wrk thread for assign as in scripts/bench-assign.sh,
// two for the GETs, few connections for events since each carries 100.
const (
	assignConns   = 32
	getConns      = 64
	eventConns    = 8
	eventBatch    = 100
	pixelTokens   = 1000
	redirectLinks = 5 // tracked links per token for the redirect scenario
	warmUp        = 2 * time.Second
)

// loadAssign: POST /v1/assign against the trivial Fiber JSON handler.
func (s *suite) loadAssign(ctx context.Context) error {
	spec := wrkSpec{script: "assign", threads: 1, conns: assignConns, duration: s.opts.duration}
	warm := spec
	warm.duration, warm.conns = warmUp, 8
	for _, base := range []string{s.assignBase, s.a.addr} {
		if _, err := runWrk(ctx, s.scripts, "http://"+base, warm); err != nil {
			return err
		}
	}
	return s.versus(ctx, "assign", spec, s.assignBase, "trivial Fiber JSON", s.assignProc)
}

// versus runs spec against the baseline and against splitcast in
// alternating order, -rounds times, and adds the row with the median of
// each round's ratios: of requests/s, and of CPU time (user+sys) per
// request of the baseline over splitcast's, which holds better than the
// wall clock when other processes share the cores. With -cpuprofile, a
// CPU profile of splitcast is taken during its first run.
func (s *suite) versus(ctx context.Context, name string, spec wrkSpec, base, baseName string, baseProc *child) error {
	s.logf("%s: wrk -t%d -c%d for %v, %d rounds against %s and splitcast", name, spec.threads, spec.conns, spec.duration, s.opts.rounds, baseName)
	var rpsRatios, cpuRatios []float64
	var b, r wrkRun
	var bCPU, rCPU time.Duration
	for round := range s.opts.rounds {
		var err error
		// Each side once the server and ClickHouse are idle: the server's
		// background work after its run (the ingester landing the run's
		// events, the trait refresh folding them) would otherwise share
		// the cores with the baseline's run when that comes second.
		runBase := func() error {
			s.quiet(ctx, name)
			b, bCPU, err = s.measured(ctx, base, spec, baseProc, "", "")
			return err
		}
		runOurs := func() error {
			s.quiet(ctx, name)
			profile := ""
			if round == 0 && s.opts.profiles != "" {
				profile = filepath.Join(s.opts.profiles, strings.ReplaceAll(name, " ", "-")+".pprof")
			}
			r, rCPU, err = s.measured(ctx, s.a.addr, spec, s.a.child, name, profile)
			return err
		}
		if err := inTurn(round, runBase, runOurs); err != nil {
			return err
		}
		rpsRatios = append(rpsRatios, r.RPS()/b.RPS())
		cpuRatios = append(cpuRatios, perRequest(bCPU, b)/perRequest(rCPU, r))
		s.logf("%s round %d: baseline %.0f req/s %.1fus CPU/req, splitcast %.0f req/s %.1fus CPU/req: ratio %.2f, CPU ratio %.2f",
			name, round+1, b.RPS(), perRequest(bCPU, b)/1e3, r.RPS(), perRequest(rCPU, r)/1e3, rpsRatios[round], cpuRatios[round])
		s.checkErrors(name, r)
		if b.Errors() > 0 {
			s.fail("%s: the baseline answered %d errors", name, b.Errors())
		}
	}
	row := wrkRow(name, r, fmt.Sprintf("%.1fus CPU/req", perRequest(rCPU, r)/1e3), fmt.Sprintf("%.0f req/s (%s)", b.RPS(), baseName),
		fmt.Sprintf("%.2f", median(rpsRatios)))
	row.cpuRatio = fmt.Sprintf("%.2f", median(cpuRatios))
	s.rows = append(s.rows, row)
	return nil
}

// inTurn runs a then b in even rounds and b then a in odd ones, so that
// neither side of a comparison always runs second, on a machine warmed or
// a table grown by the other.
func inTurn(round int, a, b func() error) error {
	if round%2 == 1 {
		a, b = b, a
	}
	if err := a(); err != nil {
		return err
	}
	return b()
}

// measured is one wrk run against addr with the CPU time that proc spent
// meanwhile, and a CPU profile of it into profile if that is not "".
func (s *suite) measured(ctx context.Context, addr string, spec wrkSpec, proc *child, name, profile string) (wrkRun, time.Duration, error) {
	got := make(chan error, 1)
	if profile != "" {
		// The profile spans the middle of the run, away from its ramps.
		secs := max(int(spec.duration.Seconds())-2, 1)
		go func() {
			time.Sleep(time.Second)
			got <- s.a.api.profile(ctx, secs, profile)
		}()
	} else {
		got <- nil
	}
	cpu0 := proc.cpu()
	r, err := runWrk(ctx, s.scripts, "http://"+addr, spec)
	cpu := proc.cpu() - cpu0
	if perr := <-got; perr != nil {
		s.logf("%s: no CPU profile: %v", name, perr)
	}
	return r, cpu, err
}

func perRequest(cpu time.Duration, r wrkRun) float64 {
	return float64(cpu.Nanoseconds()) / float64(max(r.Requests, 1))
}

func median(xs []float64) float64 {
	ys := slices.Clone(xs)
	slices.Sort(ys)
	if n := len(ys); n%2 == 0 {
		return (ys[n/2-1] + ys[n/2]) / 2
	}
	return ys[len(ys)/2]
}

func (s *suite) checkErrors(name string, r wrkRun) {
	if r.Errors() > 0 {
		s.fail("%s: %d errors (%d answers >= 400, %d socket errors) in %d requests", name, r.Errors(), r.StatusErrors, r.SocketErrors, r.Requests)
	}
}

// loadBulk streams a send list through POST /v1/assign/bulk with a Go
// client (wrk measures requests, this measures units) and counts answers.
func (s *suite) loadBulk(ctx context.Context) error {
	return s.bulkOn(ctx, "bulk assign", s.a.addr, "bulk")
}

// bulkOn is loadBulk against the server at addr, its units named prefix-N,
// its row named name.
func (s *suite) bulkOn(ctx context.Context, name, addr, prefix string) error {
	n := s.opts.bulkUnits
	lines := units(prefix, n)
	s.logf("%s: %d units (%.1f MB of NDJSON) in one POST /v1/assign/bulk", name, n, float64(len(lines))/1e6)
	req, err := http.NewRequestWithContext(ctx, "POST", "http://"+addr+"/v1/assign/bulk?experiment=welcome-email", bytes.NewReader(lines))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+sdkKey)
	req.Header.Set("Content-Type", "application/x-ndjson")
	start := time.Now()
	resp, err := (&http.Client{Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		return fmt.Errorf("bulk: %w", err)
	}
	defer resp.Body.Close()
	answers, errLines := 0, 0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		answers++
		if bytes.HasPrefix(sc.Bytes(), []byte(`{"line":`)) {
			errLines++
		}
	}
	elapsed := time.Since(start)
	if err := sc.Err(); err != nil {
		return fmt.Errorf("bulk: read answers: %w", err)
	}
	errs := errLines
	if resp.StatusCode != http.StatusOK {
		errs++
	}
	if answers != n {
		s.fail("bulk: %d answer lines for %d units", answers, n)
	}
	if errs > 0 {
		s.fail("bulk: status %d, %d error lines", resp.StatusCode, errLines)
	}
	s.rows = append(s.rows, row{scenario: name, rps: "-", p50: "-", p99: "-", errors: fmt.Sprint(errs),
		throughput: fmt.Sprintf("%.0f units/s (%.1fs)", float64(n)/elapsed.Seconds(), elapsed.Seconds()), baseline: "-", ratio: "-"})
	return nil
}

// tokens returns open tokens of n units outside the holdout.
func (s *suite) tokens(ctx context.Context, key, prefix string, n int) ([]string, error) {
	answers, err := s.a.api.bulk(ctx, key, units(prefix, n+n/5))
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range answers {
		if a.Token != "" && len(out) < n {
			out = append(out, a.Token)
		}
	}
	if len(out) < n {
		return nil, fmt.Errorf("%d of %d units got a token", len(out), n)
	}
	return out, nil
}

// pathsFile writes one path per line for paths.lua.
func (s *suite) pathsFile(name string, paths []string) (string, error) {
	f := filepath.Join(s.scripts, name)
	return f, os.WriteFile(f, []byte(strings.Join(paths, "\n")+"\n"), 0o644)
}

// loadPixel: GET /o/{token}.gif of many units against a trivial Fiber
// handler serving the same GIF.
func (s *suite) loadPixel(ctx context.Context) error {
	toks, err := s.tokens(ctx, "welcome-email", "pixel", pixelTokens)
	if err != nil {
		return err
	}
	paths := make([]string, len(toks))
	for i, t := range toks {
		paths[i] = "/o/" + t + ".gif"
	}
	f, err := s.pathsFile("pixel.paths", paths)
	if err != nil {
		return err
	}
	return s.versus(ctx, "pixel", wrkSpec{script: "paths", threads: 2, conns: getConns, duration: s.opts.duration,
		env: []string{"LOADTEST_PATHS=" + f}}, s.gifBase, "trivial Fiber GIF", s.gifProc)
}

// loadRedirect: GET /c/{token} of tracked links from POST /v1/links; wrk
// follows no redirect, so each request is one 302. The baseline is the
// same trivial GET handler as the pixel's: Fiber answering a GET at once.
func (s *suite) loadRedirect(ctx context.Context) error {
	toks, err := s.tokens(ctx, "welcome-email", "click", pixelTokens/redirectLinks)
	if err != nil {
		return err
	}
	var paths []string
	for i, t := range toks {
		urls := make([]string, redirectLinks)
		for j := range urls {
			urls[j] = fmt.Sprintf("https://example.com/product/%d?link=%d", i, j)
		}
		body, _ := json.Marshal(map[string]any{"token": t, "urls": urls})
		var out struct {
			Links []struct {
				TrackedURL string `json:"tracked_url"`
			} `json:"links"`
		}
		if err := s.a.api.must(ctx, http.StatusOK, "POST", "/v1/links", sdkKey, body, &out); err != nil {
			return err
		}
		for _, l := range out.Links {
			p, ok := strings.CutPrefix(l.TrackedURL, "http://"+s.a.addr)
			if !ok || !strings.HasPrefix(p, "/c/") {
				return fmt.Errorf("tracked URL %q is not on %s/c/", l.TrackedURL, s.a.addr)
			}
			paths = append(paths, p)
		}
	}
	// One by hand: the redirect goes where the link said, and only there.
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get("http://" + s.a.addr + paths[0])
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "https://example.com/product/0?link=0" {
		return fmt.Errorf("GET %s = %d Location %q, want 302 to https://example.com/product/0?link=0", paths[0], resp.StatusCode, resp.Header.Get("Location"))
	}
	f, err := s.pathsFile("redirect.paths", paths)
	if err != nil {
		return err
	}
	return s.versus(ctx, "redirect", wrkSpec{script: "paths", threads: 2, conns: getConns, duration: s.opts.duration,
		env: []string{"LOADTEST_PATHS=" + f}}, s.gifBase, "trivial Fiber GIF", s.gifProc)
}

// loadEvents: POST /v1/events, 100 conversions with unique ids per request,
// then waits until they are all in ClickHouse; events/s from the first
// request to the last event landed, against a bare clickhouse-go batch
// insert of as many rows (cmd/trackbench) in the ingester's batch size.
func (s *suite) loadEvents(ctx context.Context) error {
	const key = "loadtest-events"
	// Events of an experiment that does not exist are refused (404): the
	// conversions' experiment is created first, under its own key so that
	// they are counted apart.
	if err := s.a.api.createStart(ctx, key); err != nil {
		return err
	}
	return s.loadIngest(ctx, "events", "LOADTEST_EXPERIMENT="+key,
		"FROM events WHERE experiment = '"+key+"' AND kind = 'conversion'", "events")
}

// loadTrack: POST /v1/track, 100 user events with typed properties and
// unique ids per request, measured as loadEvents is, against a bare insert
// of as many such rows into user_events (issue 18: at least 0.5 of it).
func (s *suite) loadTrack(ctx context.Context) error {
	return s.loadIngest(ctx, "track", "", "FROM user_events", "user_events")
}

// loadIngest runs wrk script for the route's duration, waits until the
// rows of from (a FROM clause) have stopped growing and the server has
// drained, checks that they hold exactly the distinct events accepted, and
// adds a row of the rate landed against trackbench's bare insert into
// table. Like versus, it alternates -rounds runs of each, and the ratio is
// the median of the rounds': the bare insert's rate swung from 140,000 to
// 530,000 rows/s between single runs on one machine within minutes (it
// shares ClickHouse with the merges of what the run before it inserted),
// which made a single round's ratio a draw.
func (s *suite) loadIngest(ctx context.Context, script, env, from, table string) error {
	query := func(q string) func() (uint64, error) {
		return func() (uint64, error) {
			var n uint64
			err := s.conn.QueryRow(ctx, q).Scan(&n)
			return n, err
		}
	}
	// Progress is polled with count(), distinct events counted once a run
	// has settled: a uniqExact of every id, every 100 ms, kept a core of
	// ClickHouse busy while the run's last inserts went in (3M ids by a
	// third round), slowing what it measured.
	progress, distinct := query("SELECT count() "+from), query("SELECT uniqExact(event_id) "+from)
	spec := wrkSpec{script: script, threads: 2, conns: eventConns, duration: s.opts.duration,
		env: []string{fmt.Sprintf("LOADTEST_BATCH=%d", eventBatch)}}
	if env != "" {
		spec.env = append(spec.env, env)
	}
	s.logf("%s: wrk -t%d -c%d for %v, %d events per request, %d rounds against a bare insert", script, spec.threads, spec.conns, spec.duration, eventBatch, s.opts.rounds)
	var (
		ratios       []float64
		r            wrkRun
		rate, bare   float64
		bareRows     uint64
		rates, bares []float64
	)
	for round := range s.opts.rounds {
		// Each side starts once the work the other side left has ended,
		// and the server is stopped while the bare insert runs: its trait
		// refresh reads back the user events of every unit that has new
		// ones, the bare insert's rows too, and a server left running
		// charged that to whichever side ran next (rounds of one run went
		// 0.70 with ours first and 0.33 with the bare insert first). What
		// the server's refresh does for its own events, during its run,
		// stays in its rate.
		runBare := func() (err error) {
			s.quiet(ctx, script)
			resume, err := s.a.pause()
			if err != nil {
				return err
			}
			defer func() {
				if rerr := resume(); err == nil {
					err = rerr
				}
			}()
			bare, err = s.bareInsert(ctx, table, bareRows)
			return err
		}
		runOurs := func() (err error) {
			s.quiet(ctx, script)
			var landed uint64
			r, rate, landed, err = s.ingestRun(ctx, spec, script, round, progress, distinct)
			bareRows = max(landed, 100_000)
			return err
		}
		// Ours first in even rounds, so that every bare insert is of as
		// many rows as a run of ours has landed.
		if err := inTurn(round, runOurs, runBare); err != nil {
			return err
		}
		ratios = append(ratios, rate/bare)
		rates, bares = append(rates, rate), append(bares, bare)
		s.logf("%s round %d: %.0f events/s landed, bare insert %.0f rows/s: ratio %.2f", script, round+1, rate, bare, rate/bare)
	}
	// Medians, each of its own column: they need not divide to the ratio's.
	s.rows = append(s.rows, wrkRow(fmt.Sprintf("%s (x%d)", script, eventBatch), r, fmt.Sprintf("%.0f events/s landed", median(rates)),
		fmt.Sprintf("%.0f rows/s (bare insert)", median(bares)), fmt.Sprintf("%.2f", median(ratios))))
	return nil
}

// ingestRun is one wrk run of spec, with its own event ids: it returns
// the run, the rate its events landed at (from its first request to the
// moment progress stopped moving) and how many distinct ones landed, after
// checking that that is exactly what was accepted.
func (s *suite) ingestRun(ctx context.Context, spec wrkSpec, script string, round int, progress, distinct func() (uint64, error)) (wrkRun, float64, uint64, error) {
	before, err := distinct()
	if err != nil {
		return wrkRun{}, 0, 0, err
	}
	spec.env = append(slices.Clip(spec.env), fmt.Sprintf("LOADTEST_RUN=r%d", time.Now().UnixNano()))
	profile := ""
	if round == 0 && s.opts.profiles != "" {
		profile = filepath.Join(s.opts.profiles, script+".pprof")
	}
	start := time.Now()
	r, _, err := s.measured(ctx, s.a.addr, spec, s.a.child, script, profile)
	if err != nil {
		return r, 0, 0, err
	}
	s.checkErrors(script, r)
	// Timed from the count, which moves while the ingester works; then
	// the server must be drained too, or the count was only paused.
	rows, at, err := settle(ctx, progress)
	if err != nil {
		return r, 0, 0, err
	}
	if err := s.a.api.drained(ctx, 2*time.Minute); err != nil {
		return r, 0, 0, err
	}
	if n, err := progress(); err != nil {
		return r, 0, 0, err
	} else if n != rows {
		if _, at, err = settle(ctx, progress); err != nil {
			return r, 0, 0, err
		}
	}
	landed, err := distinct()
	if err != nil {
		return r, 0, 0, err
	}
	landed -= before
	accepted := uint64(r.Requests-r.StatusErrors) * eventBatch
	// wrk does not count requests still in flight when it stops; the
	// server may have accepted them.
	if landed < accepted || landed > accepted+eventConns*eventBatch {
		s.fail("%s: %d distinct events in ClickHouse, wrk saw %d accepted (+ at most %d in flight)", script, landed, accepted, eventConns*eventBatch)
	}
	return r, float64(landed) / at.Sub(start).Seconds(), landed, nil
}

// quiet waits until the server and ClickHouse have each used less than a
// tenth of a core over half a second (merges and refreshes of the last
// run ended), for at most 30 seconds, and says so if they never did.
func (s *suite) quiet(ctx context.Context, script string) {
	const (
		window = 500 * time.Millisecond
		idle   = window / 10
	)
	pids := []int{s.a.cmd.Process.Pid, s.ch.PID()}
	deadline := time.Now().Add(30 * time.Second)
	for {
		before := make([]time.Duration, len(pids))
		for i, pid := range pids {
			before[i] = pidCPU(pid)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(window):
		}
		busy := false
		for i, pid := range pids {
			busy = busy || pidCPU(pid)-before[i] >= idle
		}
		if !busy {
			return
		}
		if time.Now().After(deadline) {
			s.logf("%s: the server or ClickHouse still busy after 30s; going on", script)
			return
		}
	}
}

// bareInsert is trackbench's bare batch insert of rows rows into table,
// in batches of 20,000; it returns its rows/s.
func (s *suite) bareInsert(ctx context.Context, table string, rows uint64) (float64, error) {
	out, err := exec.CommandContext(ctx, filepath.Join(s.bin, "trackbench"), "insert", "-clickhouse-addr", s.ch.Addr(),
		"-rows", fmt.Sprint(rows), "-batch", "20000", "-table", table).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("trackbench insert: %v\n%s", err, out)
	}
	var bare float64
	for _, f := range strings.Fields(string(out)) {
		if v, ok := strings.CutPrefix(f, "rows_per_s="); ok {
			fmt.Sscan(v, &bare)
		}
	}
	if bare == 0 {
		return 0, fmt.Errorf("trackbench insert: no rate in %q", out)
	}
	return bare, nil
}

// settle polls count until it has not moved for 1.5s and returns it with
// the time it was first seen.
func settle(ctx context.Context, count func() (uint64, error)) (uint64, time.Time, error) {
	deadline := time.Now().Add(3 * time.Minute)
	var last uint64
	var seen time.Time
	for time.Now().Before(deadline) {
		n, err := count()
		if err != nil {
			return 0, time.Time{}, err
		}
		if seen.IsZero() || n != last {
			last, seen = n, time.Now()
		} else if time.Since(seen) > 1500*time.Millisecond {
			return n, seen, nil
		}
		select {
		case <-ctx.Done():
			return 0, time.Time{}, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return 0, time.Time{}, fmt.Errorf("the count did not settle within 3 minutes (last %d)", last)
}
