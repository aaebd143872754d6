package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/retire"
)

// demoFlags are the flags of `splitcast demo` beyond the shared config.
type demoFlags struct {
	units    *int
	days     *int
	seed     *uint64
	exit     *bool
	scenario *string
	file     *string
}

func addDemoFlags(fs *flag.FlagSet, cmd string, getenv func(string) string) demoFlags {
	var f demoFlags
	if cmd == "demo" {
		exit, _ := strconv.ParseBool(getenv("SPLITCAST_DEMO_EXIT"))
		f.units = fs.Int("units", 15000, "recipients to simulate, spread over the days")
		f.days = fs.Int("days", 5, "days of traffic to replay")
		f.seed = fs.Uint64("seed", 1, "seed of the simulated behaviour: the same seed gives the same events")
		f.exit = fs.Bool("exit", exit, "exit once the data is in, instead of serving until Ctrl-C (env SPLITCAST_DEMO_EXIT)")
		f.scenario = fs.String("scenario", "digest", "digest: a subject-line test with known effects in a pro segment; "+
			"reengagement: -experiment-file's win-back test on units whose lifecycle stage comes from a replayed history; "+
			"bandit: the digest's traffic on a bandit segment (Thompson sampling moves the weights every day after its burn-in); "+
			"support-notification, onboarding-nudge, purchase-promotion, interest-campaign: the audience examples beside -experiment-file, "+
			"on units whose user events imply their segment, with a planted winner")
		f.file = fs.String("experiment-file", "docs/examples/reengagement.json", "the experiment of -scenario reengagement")
	}
	return f
}

// The demo's truth, on the primary metric (click rate = open rate x click
// given open). In segment "pro", variant b clicks 15% more than the
// control and c 10% less; in segment "everyone", every variant is the same.
const (
	demoOpenRate     = 0.50
	demoClickPerOpen = 0.60
	demoProShare     = 0.60 // of recipients in segment "pro"
	demoMPPShare     = 0.10 // recipients whose Apple Mail prefetches the pixel
	demoScannerShare = 0.03 // recipients behind a link-scanning gateway
	demoConvPerClick = 0.25
)

// demoLift is the true relative effect of a variant on clicks.
func demoLift(segment, variant string) float64 {
	if segment != "pro" {
		return 1
	}
	switch variant {
	case "b":
		return 1.15
	case "c":
		return 0.90
	}
	return 1
}

// The user agents of the simulated traffic: people's mail clients, Apple's
// privacy proxy, and a browser driven by a security gateway.
const (
	demoMailUA    = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148"
	demoBrowserUA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15"
	demoMPPUA     = "Mozilla/5.0"
	demoScannerUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36"
)

// demoClock is the demo server's clock: the real time minus an offset that
// the demo shrinks day by day, so that days of traffic (send, then opens
// hours later, then clicks) are replayed in seconds and land on their own
// days, and the clock is the real one again when the demo is done.
type demoClock struct{ offset atomic.Int64 }

func (c *demoClock) Now() time.Time { return time.Now().Add(-time.Duration(c.offset.Load())) }

// setAt turns the clock so that it reads t now.
func (c *demoClock) setAt(t time.Time) { c.offset.Store(int64(time.Since(t))) }

// reset makes the clock the real one.
func (c *demoClock) reset() { c.offset.Store(0) }

// Demo is `splitcast demo`: it serves (as serve does, on a clock that
// replays the past days), creates an experiment with known effects,
// simulates its traffic through the real HTTP endpoints, runs the
// retirement loop at the end of every day, and prints the report. Then it
// serves until ctx ends, or returns at once with -exit.
func (m *Main) Demo(ctx context.Context, f demoFlags, stderr io.Writer) error {
	if *f.units < 100 || *f.days < 1 {
		return errors.New("demo: want -units >= 100 and -days >= 1")
	}
	audience, isAudience := audienceScenario(*f.scenario)
	if *f.scenario != "digest" && *f.scenario != "reengagement" && *f.scenario != "bandit" && !isAudience {
		return fmt.Errorf("demo: unknown -scenario %q: want digest, reengagement, bandit, support-notification, onboarding-nudge, purchase-promotion or interest-campaign", *f.scenario)
	}
	if m.Config.LogLevel != "debug" {
		// The demo talks on stdout and stderr; the server's info lines
		// would drown it.
		m.logger = slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	m.useRunningLocalClickHouse(ctx)
	// Day 0 is days ago; every simulated day sends at 08:00 UTC and its
	// loop looks at 20:00, so that each lands on one UTC day of the charts.
	day0 := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -*f.days)
	clock := &demoClock{}
	clock.setAt(day0.Add(7 * time.Hour))
	m.now = clock.Now
	// The simulated recipients are many and quick; the limits are for
	// strangers.
	m.Config.RatePerKey, m.Config.RatePerIP = 0, 0
	if m.Config.FlushInterval > 200*time.Millisecond {
		m.Config.FlushInterval = 200 * time.Millisecond
	}
	if err := m.Run(ctx); err != nil {
		return err
	}
	d := &demo{m: m, clock: clock, day0: day0, f: f, stderr: stderr, base: "http://" + m.Addr(),
		http: &http.Client{Timeout: time.Minute, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		key:  "demo-" + time.Now().UTC().Format("20060102-150405")}
	var err error
	switch {
	case isAudience:
		err = d.runAudience(ctx, audience)
	case *f.scenario == "reengagement":
		err = d.runReengagement(ctx)
	case *f.scenario == "bandit":
		err = d.runBandit(ctx)
	default:
		d.behave = digestBehaviour
		err = d.run(ctx)
	}
	clock.reset()
	if err != nil {
		return err
	}
	if *f.exit {
		return nil
	}
	fmt.Fprintf(m.stdout, "\nServing on %s; Ctrl-C stops.\n", m.Addr())
	<-ctx.Done()
	return nil
}

// useRunningLocalClickHouse points the demo at the local ClickHouse that
// `make run` or `splitcast clickhouse start` left running, if any: starting
// a second one on the same data would stop it.
func (m *Main) useRunningLocalClickHouse(ctx context.Context) {
	if m.Config.ClickHouseAddr != "" {
		return
	}
	addr := fmt.Sprintf("127.0.0.1:%d", m.Config.LocalClickHouseTCPPort)
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn, err := clickhouse.Open(pctx, clickhouse.Options{Addr: addr, User: m.Config.ClickHouseUser, Password: m.Config.ClickHousePassword})
	if err == nil {
		conn.Close()
		m.Config.ClickHouseAddr = addr
	}
}

// demo is one run of the simulation.
type demo struct {
	m      *Main
	clock  *demoClock
	day0   time.Time
	f      demoFlags
	stderr io.Writer
	base   string
	http   *http.Client
	key    string

	events  atomic.Int64 // events the server accepted, to wait for in ClickHouse
	applied []retire.Applied
	// keys are the experiments whose events waitForEvents counts.
	keys []string
	// behave gives a recipient's open rate and click rate given an open.
	behave func(r *recipient) (open, clickPerOpen float64)
	// definition and intro replace the digest's experiment and its
	// description in run (the bandit scenario).
	definition func() map[string]any
	intro      string
}

// digestBehaviour is the digest scenario's truth: the same rates
// everywhere, times demoLift on clicks.
func digestBehaviour(r *recipient) (open, clickPerOpen float64) {
	return demoOpenRate, demoClickPerOpen * demoLift(r.segment, r.variant)
}

// recipient is one simulated unit and what its assignment answered.
type recipient struct {
	unit     string
	pro      bool
	segment  string
	variant  string
	token    string
	pixelURL string
	rng      *rand.Rand
	clicked  bool
	cohort   string // reengagement: the stage its replayed history makes
}

func (d *demo) run(ctx context.Context) error {
	out := d.m.stdout
	def, intro := d.demoDefinition(), "segment pro: b clicks 15% more than the control, c 10% less; segment everyone: no difference"
	if d.definition != nil {
		def, intro = d.definition(), d.intro
	}
	if err := d.createAndStart(ctx, def); err != nil {
		return err
	}
	fmt.Fprintf(out, "demo: experiment %s: %s\n", d.key, intro)
	fmt.Fprintf(out, "demo: replaying %d days, %d recipients, seed %d\n", *d.f.days, *d.f.units, *d.f.seed)
	days := *d.f.days
	perDay := *d.f.units / days
	start := time.Now()
	for day := range days {
		at := func(hour, minute, second int) {
			d.clock.setAt(d.day0.AddDate(0, 0, day).Add(time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute + time.Duration(second)*time.Second))
		}
		rs := make([]*recipient, perDay)
		for i := range rs {
			n := day*perDay + i
			rng := rand.New(rand.NewPCG(*d.f.seed, uint64(n)))
			rs[i] = &recipient{unit: fmt.Sprintf("user-%06d", n), pro: rng.Float64() < demoProShare, rng: rng}
		}
		bar := d.progress(fmt.Sprintf("day %d/%d", day+1, days))
		at(8, 0, 0)
		if err := d.send(ctx, rs); err != nil {
			return err
		}
		bar(1, 5)
		// Gateways scan links seconds after delivery.
		at(8, 0, 3)
		if err := d.each(ctx, rs, d.scan); err != nil {
			return err
		}
		bar(2, 5)
		// People read their mail over the next hours.
		at(11, 0, 0)
		if err := d.each(ctx, rs, d.open); err != nil {
			return err
		}
		bar(3, 5)
		at(11, 5, 0)
		if err := d.each(ctx, rs, d.click); err != nil {
			return err
		}
		bar(4, 5)
		at(13, 0, 0)
		if err := d.convert(ctx, rs); err != nil {
			return err
		}
		bar(5, 5)
		fmt.Fprintln(d.stderr)
		// The retirement loop's look at the end of the day.
		at(20, 0, 0)
		if err := d.retire(ctx); err != nil {
			return err
		}
	}
	return d.finish(ctx, start)
}

// finish prints how long the traffic took, then the report and its page's
// URL, on the real clock again.
func (d *demo) finish(ctx context.Context, start time.Time) error {
	out := d.m.stdout
	fmt.Fprintf(out, "demo: %d events sent through the API in %s\n\n", d.events.Load(), time.Since(start).Round(100*time.Millisecond))
	d.clock.reset()
	r, err := fetchReport(ctx, d.http, d.base, d.m.Config.ReadKey, d.key, "")
	if err != nil {
		return err
	}
	if err := writeReportTable(out, r); err != nil {
		return err
	}
	fmt.Fprintf(out, "\nReport page: %s/experiments/%s?key=%s\n", strings.TrimRight(d.m.Config.BaseURL, "/"), d.key, d.m.Config.ReadKey)
	return nil
}

// progress returns a function that draws a progress bar for step of steps
// on stderr.
func (d *demo) progress(label string) func(step, steps int) {
	return func(step, steps int) {
		const width = 30
		n := width * step / steps
		fmt.Fprintf(d.stderr, "\r%-10s [%s%s] %3d%%  %d events", label, strings.Repeat("#", n), strings.Repeat(".", width-n),
			100*step/steps, d.events.Load())
	}
}

// demoDefinition is the experiment: two segments (pro plan first, then a
// catch-all), three variants each, click rate as the primary metric, and
// automatic retirement that may act after a day with 500 units per arm.
func (d *demo) demoDefinition() map[string]any {
	variants := func() []map[string]any {
		return []map[string]any{
			{"key": "control", "name": "Current subject", "weight": 1, "control": true,
				"payload": map[string]any{"subject": "Your weekly digest", "cta": map[string]string{"text": "Read more", "url": "https://example.com/digest"}}},
			{"key": "b", "name": "Question subject", "weight": 1,
				"payload": map[string]any{"subject": "Did you see what your team shipped?", "cta": map[string]string{"text": "See it", "url": "https://example.com/digest"}}},
			{"key": "c", "name": "Long subject", "weight": 1,
				"payload": map[string]any{"subject": "Your weekly digest of projects, comments, mentions and more", "cta": map[string]string{"text": "Open the digest", "url": "https://example.com/digest"}}},
		}
	}
	return map[string]any{
		// A fixed salt: the same seed then gives the same arms, whatever the
		// key.
		"key": d.key, "salt": "splitcast-demo", "name": "Demo: weekly digest subject line", "channel": "email", "allocation": 100,
		"description": "splitcast demo: in segment pro, b is 15% better than the control on clicks and c 10% worse; in everyone, all are equal",
		"segments": []map[string]any{
			{"key": "pro", "name": "Pro plan", "rule": map[string]any{"attr": "plan", "op": "equals", "value": "pro"}, "variants": variants()},
			{"key": "everyone", "name": "Everyone else", "variants": variants()},
		},
		"primary_metric":    "click_rate",
		"guardrail_metrics": []string{"unsubscribe_rate", "complaint_rate"},
		"retirement":        map[string]any{"auto": true, "alpha": 0.05, "min_sample_per_arm": 500, "min_runtime": "24h", "interval": "1h"},
	}
}

// send assigns the day's recipients in one bulk request, as a sender would
// with its send list.
func (d *demo) send(ctx context.Context, rs []*recipient) error {
	return d.sendTo(ctx, d.key, rs, func(r *recipient) map[string]any {
		plan := "free"
		if r.pro {
			plan = "pro"
		}
		return map[string]any{"unit_id": r.unit, "attributes": map[string]string{"plan": plan}, "send_id": "digest-" + r.unit, "channel": "email"}
	})
}

// sendTo assigns rs to experiment key in one bulk request of the lines
// line makes, and keeps each recipient's arm and token (none when it is
// not in the experiment).
func (d *demo) sendTo(ctx context.Context, key string, rs []*recipient, line func(*recipient) map[string]any) error {
	var in bytes.Buffer
	enc := json.NewEncoder(&in)
	for _, r := range rs {
		_ = enc.Encode(line(r))
	}
	body, err := d.call(ctx, "POST", "/v1/assign/bulk?experiment="+key, d.m.Config.SDKKey, "application/x-ndjson", in.Bytes(), http.StatusOK)
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	i := 0
	for sc.Scan() {
		var a struct {
			Line         int                       `json:"line"`
			Segment      string                    `json:"segment"`
			Variant      string                    `json:"variant"`
			InExperiment bool                      `json:"in_experiment"`
			Token        string                    `json:"token"`
			PixelURL     string                    `json:"pixel_url"`
			Error        *struct{ Message string } `json:"error"`
		}
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			return fmt.Errorf("demo: bulk answer %q: %w", sc.Text(), err)
		}
		if a.Error != nil {
			return fmt.Errorf("demo: bulk line %d: %s", i+1, a.Error.Message)
		}
		if i >= len(rs) {
			return errors.New("demo: more bulk answers than lines")
		}
		r := rs[i]
		r.segment, r.variant, r.token, r.pixelURL, r.clicked = "", "", "", "", false
		if a.InExperiment {
			r.segment, r.variant, r.token, r.pixelURL = a.Segment, a.Variant, a.Token, a.PixelURL
			d.events.Add(1)
		}
		i++
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if i != len(rs) {
		return fmt.Errorf("demo: %d bulk answers for %d lines", i, len(rs))
	}
	return nil
}

// each runs fn for every recipient with a message, on a few workers.
func (d *demo) each(ctx context.Context, rs []*recipient, fn func(context.Context, *recipient) error) error {
	const workers = 8
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	jobs := make(chan *recipient)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range jobs {
				if err := fn(ctx, r); err != nil {
					errs <- err
					cancel()
					for range jobs {
					}
					return
				}
			}
		}()
	}
	for _, r := range rs {
		if r.token == "" {
			continue
		}
		select {
		case jobs <- r:
		case <-ctx.Done():
		}
	}
	close(jobs)
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return ctx.Err()
	}
}

// Each recipient draws its behaviour from its own generator, in a fixed
// order (scan, MPP, open, click, convert), so that the events depend on
// the seed only, never on the scheduling of the workers.

// scan: a security gateway follows the message's link seconds after
// delivery, with a browser's user agent: only its timing gives it away.
func (d *demo) scan(ctx context.Context, r *recipient) error {
	if r.rng.Float64() >= demoScannerShare {
		return nil
	}
	return d.visitLink(ctx, r, demoScannerUA)
}

// open: Apple Mail's privacy proxy fetches some pixels, then people open.
func (d *demo) open(ctx context.Context, r *recipient) error {
	if r.rng.Float64() < demoMPPShare {
		if err := d.get(ctx, r.pixelURL, demoMPPUA, http.StatusOK); err != nil {
			return err
		}
	}
	openRate, clickPerOpen := d.behave(r)
	if r.rng.Float64() >= openRate {
		return nil
	}
	r.clicked = r.rng.Float64() < clickPerOpen
	return d.get(ctx, r.pixelURL, demoMailUA, http.StatusOK)
}

// click: the openers who click follow the message's tracked link.
func (d *demo) click(ctx context.Context, r *recipient) error {
	if !r.clicked {
		return nil
	}
	return d.visitLink(ctx, r, demoBrowserUA)
}

// visitLink asks for the message's tracked link, as the sender does when
// it renders the message, and follows it to its redirect.
func (d *demo) visitLink(ctx context.Context, r *recipient, ua string) error {
	body, _ := json.Marshal(map[string]any{"token": r.token, "urls": []string{"https://example.com/digest?utm_campaign=" + d.key}})
	resp, err := d.call(ctx, "POST", "/v1/links", d.m.Config.SDKKey, "application/json", body, http.StatusOK)
	if err != nil {
		return err
	}
	var links struct {
		Links []struct {
			TrackedURL string `json:"tracked_url"`
		} `json:"links"`
	}
	if err := json.Unmarshal(resp, &links); err != nil || len(links.Links) != 1 {
		return fmt.Errorf("demo: links answer %s: %v", resp, err)
	}
	return d.get(ctx, links.Links[0].TrackedURL, ua, http.StatusFound)
}

// convert posts the day's conversions (a purchase by some clickers) in
// batches, idempotently keyed.
func (d *demo) convert(ctx context.Context, rs []*recipient) error {
	var batch []map[string]any
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		body, _ := json.Marshal(map[string]any{"events": batch})
		if _, err := d.call(ctx, "POST", "/v1/events", d.m.Config.SDKKey, "application/json", body, http.StatusAccepted); err != nil {
			return err
		}
		d.events.Add(int64(len(batch)))
		batch = batch[:0]
		return nil
	}
	for _, r := range rs {
		if !r.clicked || r.rng.Float64() >= demoConvPerClick {
			continue
		}
		value := 20 + float64(r.rng.IntN(8000))/100
		batch = append(batch, map[string]any{"idempotency_key": "order-" + r.unit, "kind": "conversion", "token": r.token, "name": "purchase", "value": value})
		if len(batch) == 500 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// retire waits until ClickHouse holds every event sent so far, then runs
// one pass of the retirement loop on the demo clock and reloads the
// server's snapshot, so that the next day's assignments see the result.
func (d *demo) retire(ctx context.Context) error {
	if err := d.waitForEvents(ctx); err != nil {
		return err
	}
	applied, err := d.m.retirement.RunOnce(ctx)
	if err != nil {
		return err
	}
	for _, a := range applied {
		if a.Experiment != d.key {
			continue
		}
		d.applied = append(d.applied, a)
		fmt.Fprintf(d.m.stdout, "demo: the retirement loop made v%d: %s %s/%s\n", a.Version, a.Kind, a.Segment, a.Variant)
	}
	if err := d.reweight(ctx); err != nil {
		return err
	}
	return d.m.refresher.Refresh(ctx)
}

func (d *demo) waitForEvents(ctx context.Context) error {
	want := uint64(d.events.Load())
	deadline := time.Now().Add(time.Minute)
	keys := d.keys
	if len(keys) == 0 {
		keys = []string{d.key}
	}
	for {
		var n uint64
		for _, key := range keys {
			var k uint64
			if err := d.m.conn.QueryRow(ctx, "SELECT count() FROM events WHERE experiment = ?", key).Scan(&k); err != nil {
				return fmt.Errorf("demo: count events: %w", err)
			}
			n += k
		}
		if n >= want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("demo: ClickHouse holds %d of the %d events sent after a minute", n, want)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// get requests a tracking URL (pixel or click) from the demo's server, and
// counts the event it records.
func (d *demo) get(ctx context.Context, u, ua string, want int) error {
	// Tracking URLs name the public base URL; the demo talks to the
	// listener it started.
	u = d.base + strings.TrimPrefix(u, strings.TrimRight(d.m.Config.BaseURL, "/"))
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("User-Agent", ua)
	resp, err := d.http.Do(req)
	if err != nil {
		return fmt.Errorf("demo: GET %s: %w", u, err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		return fmt.Errorf("demo: GET %s: %s, want %d", u, resp.Status, want)
	}
	d.events.Add(1)
	return nil
}

// call sends an API request and returns the body of an answer with status
// want, retrying after a 429.
func (d *demo) call(ctx context.Context, method, path, key, contentType string, body []byte, want int) ([]byte, error) {
	for attempt := 0; ; attempt++ {
		req, err := http.NewRequestWithContext(ctx, method, d.base+path, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("X-Splitcast-Author", "splitcast demo")
		resp, err := d.http.Do(req)
		if err != nil {
			return nil, fmt.Errorf("demo: %s %s: %w", method, path, err)
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("demo: %s %s: %w", method, path, err)
		}
		if resp.StatusCode == http.StatusTooManyRequests && attempt < 10 {
			time.Sleep(500 * time.Millisecond)
			continue
		}
		if resp.StatusCode != want {
			return nil, fmt.Errorf("demo: %s %s: %s %s", method, path, resp.Status, data)
		}
		return data, nil
	}
}
