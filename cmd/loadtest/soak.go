package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// Soak workers: enough that a slow answer does not hold the pacing back.
const (
	soakPixelWorkers = 8
	soakEventWorkers = 4
	soakUnits        = 2000
)

// soakPhase says what ClickHouse is doing while a pixel is requested.
type soakPhase int32

const (
	phaseUp soakPhase = iota
	phaseDown
	phaseRestarted
	phaseCount
)

func (p soakPhase) String() string {
	return [...]string{"before the kill", "ClickHouse down", "after the restart"}[p]
}

// soakLoad is the soak's clients and what the server accepted from them.
type soakLoad struct {
	api        apiClient
	key, runID string
	tokens     []string
	exposures  int

	phase      atomic.Int32
	opens      atomic.Int64 // pixels answered 200: one open each
	pixelLost  atomic.Int64 // pixels without an answer: an open or not, no one knows
	conversion atomic.Int64 // events of batches answered 202
	unsent     atomic.Int64 // batches never accepted, retries included
	retries    atomic.Int64 // batch retries (an error answer or none)
	statuses   sync.Map     // answer status -> *atomic.Int64, for the report

	mu        sync.Mutex
	latencies [phaseCount][]time.Duration
}

// soak sends pixels and event batches at a steady pace while ClickHouse is
// killed and restarted, then waits for the spool to drain and compares the
// distinct events per kind in ClickHouse with what the server accepted.
func (s *suite) soak(ctx context.Context) error {
	const key = "loadtest-soak"
	l, err := s.exposeSoak(ctx, key)
	if err != nil {
		return err
	}
	before := s.a.api.metrics(ctx)
	dur := s.opts.soak
	killAt, restartAt := (dur / 3).Round(100*time.Millisecond), (dur/3 + dur/4).Round(100*time.Millisecond)
	s.logf("soak: %v of %d pixels/s and %d batches of %d events/s; ClickHouse SIGKILLed at %v, restarted at %v",
		dur, s.opts.pixelRate, s.opts.batchRate, eventBatch, killAt, restartAt)

	start := time.Now()
	faults := make(chan error, 1)
	go func() { faults <- s.killAndRestart(ctx, l, start, killAt, restartAt) }()
	l.run(ctx, start, dur, s.opts.pixelRate, s.opts.batchRate)
	if err := <-faults; err != nil {
		return fmt.Errorf("soak: fault schedule: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.logf("soak: load done; waiting for the spool to drain")
	if err := s.a.api.drained(ctx, 3*time.Minute); err != nil {
		return err
	}
	drainedAt := time.Since(start)
	after := s.a.api.metrics(ctx)

	want := map[string]uint64{"exposure": uint64(l.exposures), "open": uint64(l.opens.Load()), "conversion": uint64(l.conversion.Load())}
	got, err := s.settledCounts(ctx, key)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "\n== soak: %v of events and pixels, ClickHouse SIGKILLed at %v and restarted at %v; spool drained at %v\n",
		dur, killAt, restartAt, drainedAt.Round(100*time.Millisecond))
	s.compareCounts(want, got)
	l.report(s.out, before, after)
	if l.unsent.Load() > 0 || l.pixelLost.Load() > 0 {
		s.fail("soak: %d batches never accepted and %d pixels without an answer", l.unsent.Load(), l.pixelLost.Load())
	}
	return nil
}

// exposeSoak starts experiment key and exposes the soak's units to it: one
// exposure per answer in the experiment (no send id: each is a new send),
// and the tokens of those outside the holdout to make the opens.
func (s *suite) exposeSoak(ctx context.Context, key string) (*soakLoad, error) {
	if err := s.a.api.createStart(ctx, key); err != nil {
		return nil, err
	}
	l := &soakLoad{api: s.a.api, key: key, runID: fmt.Sprintf("soak%d", time.Now().UnixNano())}
	answers, err := s.a.api.bulk(ctx, key, units("soak", soakUnits))
	if err != nil {
		return nil, err
	}
	for _, a := range answers {
		if a.InExperiment {
			l.exposures++
		}
		if a.Token != "" {
			l.tokens = append(l.tokens, a.Token)
		}
	}
	return l, nil
}

// killAndRestart SIGKILLs ClickHouse killAt after start and restarts it at
// restartAt, moving l's phase along; it returns nil early if ctx ends.
func (s *suite) killAndRestart(ctx context.Context, l *soakLoad, start time.Time, killAt, restartAt time.Duration) error {
	if !sleepCtx(ctx, killAt) {
		return nil
	}
	l.phase.Store(int32(phaseDown))
	if err := s.ch.Kill(); err != nil {
		return err
	}
	s.logf("soak: ClickHouse killed (SIGKILL)")
	if !sleepCtx(ctx, restartAt-time.Since(start)) {
		return nil
	}
	if err := s.ch.Restart(ctx); err != nil {
		return err
	}
	l.phase.Store(int32(phaseRestarted))
	s.logf("soak: ClickHouse restarted (pid %d) after %v down", s.ch.PID(), (time.Since(start) - killAt).Round(100*time.Millisecond))
	return nil
}

// eventCounts returns the distinct events per kind of experiment key in
// ClickHouse.
func (s *suite) eventCounts(ctx context.Context, key string) (map[string]uint64, error) {
	rs, err := s.conn.Query(ctx, "SELECT kind, uniqExact(event_id) FROM events WHERE experiment = ? GROUP BY kind", key)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	got := map[string]uint64{}
	for rs.Next() {
		var kind string
		var n uint64
		if err := rs.Scan(&kind, &n); err != nil {
			return nil, err
		}
		got[kind] = n
	}
	return got, rs.Err()
}

// settledCounts returns eventCounts once their total stops moving: drained
// means handed to ClickHouse, and the last batch may still be on its way in.
func (s *suite) settledCounts(ctx context.Context, key string) (map[string]uint64, error) {
	var got map[string]uint64
	total := func(m map[string]uint64) (n uint64) {
		for _, v := range m {
			n += v
		}
		return n
	}
	if _, _, err := settle(ctx, func() (uint64, error) {
		var err error
		got, err = s.eventCounts(ctx, key)
		return total(got), err
	}); err != nil {
		return nil, err
	}
	return got, nil
}

// compareCounts writes the table of events accepted and stored per kind,
// adds a verdict per kind and fails the suite on any difference.
func (s *suite) compareCounts(want, got map[string]uint64) {
	w := tabwriter.NewWriter(s.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "kind\taccepted (2xx)\tin ClickHouse (uniqExact)\tresult\t")
	kinds := []string{"exposure", "open", "conversion"}
	for k := range got {
		if !slices.Contains(kinds, k) {
			kinds = append(kinds, k)
		}
	}
	for _, k := range kinds {
		verdict := "equal"
		if got[k] != want[k] {
			verdict = "DIFFERENT"
			s.fail("soak: %s: %d accepted, %d distinct in ClickHouse", k, want[k], got[k])
		}
		fmt.Fprintf(w, "%s\t%d\t%d\t%s\t\n", k, want[k], got[k], verdict)
		s.verdicts = append(s.verdicts, fmt.Sprintf("soak: %-11s %d accepted, %d in ClickHouse: %s", k+":", want[k], got[k], verdict))
	}
	w.Flush()
}

// report writes to out the clients' retries and losses, what the ingester
// did between the metrics before and after, and the pixel latency per
// phase.
func (l *soakLoad) report(out io.Writer, before, after map[string]float64) {
	var codes []string
	l.statuses.Range(func(k, v any) bool {
		codes = append(codes, fmt.Sprintf("%v x%d", k, v.(*atomic.Int64).Load()))
		return true
	})
	slices.Sort(codes)
	fmt.Fprintf(out, "event batches retried %d times (answers other than 202: %s); batches never accepted: %d; pixels without an answer: %d\n",
		l.retries.Load(), orNone(strings.Join(codes, ", ")), l.unsent.Load(), l.pixelLost.Load())
	delta := func(name string) float64 { return after[name] - before[name] }
	fmt.Fprintf(out, "ingester during the soak: %.0f events written, %.0f spooled to disk, %.0f replayed from it, %.0f failed writes, %.0f lost, %.0f rejected\n",
		delta("splitcast_events_written_total"), delta("splitcast_events_spooled_total"), delta("splitcast_events_replayed_total"),
		delta("splitcast_clickhouse_write_failures_total"), delta("splitcast_events_lost_total"), delta("splitcast_events_rejected_total"))
	for ph := range phaseCount {
		lat := l.latencyOf(ph)
		if len(lat) == 0 {
			continue
		}
		fmt.Fprintf(out, "pixel latency %-18s %6d requests, p50 %s, p99 %s, max %s\n", ph.String()+":", len(lat),
			ms(lat[len(lat)/2]), ms(lat[len(lat)*99/100]), ms(lat[len(lat)-1]))
	}
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// run paces pixelRate pixels and batchRate batches per second over dur.
func (l *soakLoad) run(ctx context.Context, start time.Time, dur time.Duration, pixelRate, batchRate int) {
	pixels := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: soakPixelWorkers}}
	events := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: soakEventWorkers}}
	var wg sync.WaitGroup
	// Worker w sends the requests w, w+W, w+2W, ... each at its time on the
	// schedule, late ones at once.
	paced := func(workers, rate int, send func(worker, i int)) {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; ; i += workers {
					at := time.Duration(float64(i) / float64(rate) * float64(time.Second))
					if at >= dur || ctx.Err() != nil {
						return
					}
					if wait := at - time.Since(start); wait > 0 {
						time.Sleep(wait)
					}
					send(w, i)
				}
			}()
		}
	}
	paced(soakPixelWorkers, pixelRate, func(_, i int) { l.pixel(ctx, pixels, l.tokens[i%len(l.tokens)]) })
	paced(soakEventWorkers, batchRate, func(_, i int) { l.batch(ctx, events, i, start.Add(dur+time.Minute)) })
	wg.Wait()
}

func (l *soakLoad) pixel(ctx context.Context, c *http.Client, token string) {
	ph := soakPhase(l.phase.Load())
	t0 := time.Now()
	req, _ := http.NewRequestWithContext(ctx, "GET", l.api.base+"/o/"+token+".gif", nil)
	req.Header.Set("User-Agent", "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko)")
	resp, err := c.Do(req)
	if err != nil {
		l.pixelLost.Add(1)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	d := time.Since(t0)
	l.mu.Lock()
	l.latencies[ph] = append(l.latencies[ph], d)
	l.mu.Unlock()
	if resp.StatusCode == http.StatusOK {
		l.opens.Add(1)
	} else {
		l.status(resp.StatusCode)
	}
}

// batch sends batch i of eventBatch conversions with ids of its own, and
// resends it, same ids, until it is accepted or until giveUp: a client
// that lost the answer must resend, and the ids make that count once.
func (l *soakLoad) batch(ctx context.Context, c *http.Client, i int, giveUp time.Time) {
	var b strings.Builder
	b.WriteString(`{"events":[`)
	for j := range eventBatch {
		if j > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":"%s-%d-%d","kind":"conversion","experiment":%q,"unit_id":"soak-%d","value":%d}`, l.runID, i, j, l.key, (i*eventBatch+j)%soakUnits, j%50)
	}
	b.WriteString(`]}`)
	body := []byte(b.String())
	for attempt := 0; ; attempt++ {
		req, _ := http.NewRequestWithContext(ctx, "POST", l.api.base+"/v1/events", strings.NewReader(string(body)))
		req.Header.Set("Authorization", "Bearer "+sdkKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusAccepted {
				l.conversion.Add(eventBatch)
				return
			}
			l.status(resp.StatusCode)
		}
		if time.Now().After(giveUp) || ctx.Err() != nil {
			l.unsent.Add(1)
			return
		}
		l.retries.Add(1)
		time.Sleep(min(time.Duration(attempt+1)*100*time.Millisecond, time.Second))
	}
}

func (l *soakLoad) status(code int) {
	v, _ := l.statuses.LoadOrStore(code, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (l *soakLoad) latencyOf(ph soakPhase) []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := slices.Clone(l.latencies[ph])
	slices.Sort(out)
	return out
}
