// Command loadtest is Splitcast's load and fault suite (`make loadtest`),
// on loopback only and never part of `make test`. It builds bin/splitcast,
// starts a ClickHouse of its own on free ports under .data/loadtest, one
// `splitcast serve` without rate limits and the trivial baselines of
// scripts/benchbaseline and cmd/trackbench, and then:
//
//   - loads each route with wrk (assign, pixel, redirect, events, track; bulk
//     assignment with its own streaming client) and prints requests/s, p50,
//     p99, errors (answers >= 400 and socket errors) and the ratio against
//     the baseline measured in the same run;
//   - changes a running experiment on one server and measures how long a
//     second server on the same ClickHouse takes to give a sample of units
//     the same answers (bound: the snapshot refresh interval + 1s);
//   - soaks: events and pixels for a minute while ClickHouse is killed
//     (SIGKILL) and restarted, waits for the spool to drain, and compares
//     the distinct events per kind in ClickHouse with what was accepted.
//
// It fails (exit 1) on any error answer, a lost or extra event, or a
// convergence over its bound; it stops by itself within -timeout and
// stops everything it started on the way out, Ctrl-C included. Absolute
// figures depend on the machine and its other load: compare the ratios.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/clickhouse/chserver"
)

// options are the suite's knobs; the defaults keep it under ten minutes on
// two cores.
type options struct {
	dir          string
	duration     time.Duration
	bulkUnits    int
	soak         time.Duration
	pixelRate    int
	batchRate    int
	refresh      time.Duration
	timeout      time.Duration
	onlyScenario string
	rounds       int
	profiles     string
	caps         string // "TOTAL,PER_CHANNEL" caps of the caps part, "" for none
}

const (
	sdkKey   = "dev-sdk-key"
	adminKey = "dev-admin-key"
	database = "loadtest"
)

func main() {
	var o options
	flag.StringVar(&o.dir, "dir", ".data/loadtest", "working folder (emptied at start; logs stay after the run)")
	flag.DurationVar(&o.duration, "duration", 12*time.Second, "length of each wrk run")
	flag.IntVar(&o.bulkUnits, "bulk-units", 200_000, "units in the bulk assignment list")
	flag.DurationVar(&o.soak, "soak", 60*time.Second, "length of the soak; ClickHouse is killed at a third and restarted a quarter later")
	flag.IntVar(&o.pixelRate, "soak-pixels", 1500, "pixel requests per second during the soak")
	flag.IntVar(&o.batchRate, "soak-batches", 20, "POST /v1/events batches of 100 per second during the soak")
	flag.DurationVar(&o.refresh, "refresh", 2*time.Second, "SPLITCAST_SNAPSHOT_REFRESH of both servers")
	flag.DurationVar(&o.timeout, "timeout", 9*time.Minute, "stop everything and fail after this long")
	flag.StringVar(&o.onlyScenario, "only", "", "run only these parts, comma-separated: load, caps, converge, soak; or of load: assign, bulk, pixel, redirect, events, track")
	flag.IntVar(&o.rounds, "rounds", 3, "wrk runs of each of splitcast and its baseline per route, in alternating order; the ratios are their medians")
	flag.StringVar(&o.profiles, "cpuprofile", "", "folder for a CPU profile of splitcast during each route's first run (go tool pprof)")
	flag.StringVar(&o.caps, "caps", "", "also load assign and bulk on a server with these frequency caps (TOTAL,PER_CHANNEL, e.g. 3/168h,1/24h) beside one without, in one run")
	flag.Parse()
	if o.rounds < 1 {
		fmt.Fprintln(os.Stderr, "loadtest: -rounds must be at least 1")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	s := &suite{opts: o, out: os.Stdout, start: time.Now()}
	err := s.run(ctx)
	ended := ctx.Err() // before cancel, which sets it
	s.close()
	cancel()
	stop()
	if len(s.failures) > 0 {
		err = errors.Join(err, fmt.Errorf("%d check(s) failed:\n  %s", len(s.failures), strings.Join(s.failures, "\n  ")))
	}
	switch {
	case errors.Is(ended, context.DeadlineExceeded):
		err = fmt.Errorf("stopped after -timeout %v: %w", o.timeout, err)
	case errors.Is(ended, context.Canceled):
		err = errors.New("interrupted")
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadtest: FAIL: %v\n(logs in %s)\n", err, o.dir)
		os.Exit(1)
	}
	fmt.Fprintf(s.out, "\nloadtest: PASS in %v\n", time.Since(s.start).Round(time.Second))
}

// suite is one run: what it started, what it measured, what failed.
type suite struct {
	opts  options
	out   io.Writer
	start time.Time

	bin, scripts string // folders of the built binaries and the wrk scripts
	splitcast    string // the binary
	ch           *chserver.Server
	conn         driver.Conn
	children     []*child
	a            *server // the server every scenario loads
	assignBase   string  // address of scripts/benchbaseline
	gifBase      string  // address of trackbench gif
	assignProc   *child  // the baselines' processes, for their CPU time
	gifProc      *child

	rows     []row
	loadAvg  string   // when the load scenarios ended
	verdicts []string // one line per converge and soak check, for the summary
	failures []string
}

// server is a `splitcast serve` child and its client.
type server struct {
	*child
	addr string
	api  apiClient
}

// row is one line of the summary table, "-" where a figure does not apply.
type row struct {
	scenario, rps, p50, p99, errors string
	throughput                      string // units/s or events/s where a request carries many
	baseline, ratio                 string
	cpuRatio                        string // the baseline's CPU time per request over splitcast's
}

// wrkRow is the row of a wrk run.
func wrkRow(scenario string, r wrkRun, throughput, baseline, ratio string) row {
	return row{scenario: scenario, rps: fmt.Sprintf("%.0f", r.RPS()), p50: ms(r.P50), p99: ms(r.P99),
		errors: fmt.Sprint(r.Errors()), throughput: throughput, baseline: baseline, ratio: ratio}
}

func (s *suite) logf(format string, args ...any) {
	fmt.Fprintf(s.out, "[%5.1fs] %s\n", time.Since(s.start).Seconds(), fmt.Sprintf(format, args...))
}

func (s *suite) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	s.failures = append(s.failures, msg)
	s.logf("FAIL: %s", msg)
}

func (s *suite) wants(part string) bool {
	if s.opts.onlyScenario == "" {
		return true
	}
	for _, p := range strings.Split(s.opts.onlyScenario, ",") {
		if strings.TrimSpace(p) == part {
			return true
		}
	}
	return false
}

func (s *suite) run(ctx context.Context) error {
	if err := s.setup(ctx); err != nil {
		return err
	}
	if s.wants("load") || slices.ContainsFunc(loadParts, s.wants) {
		steps := map[string]func(context.Context) error{"assign": s.loadAssign, "bulk": s.loadBulk, "pixel": s.loadPixel,
			"redirect": s.loadRedirect, "events": s.loadEvents, "track": s.loadTrack}
		for _, part := range loadParts {
			if !s.wants("load") && !s.wants(part) {
				continue
			}
			if err := steps[part](ctx); err != nil {
				return err
			}
		}
		s.loadAvg = loadAverage()
		fmt.Fprintln(s.out)
		s.printTable()
	}
	if s.opts.caps != "" && s.wants("caps") {
		if err := s.loadCaps(ctx); err != nil {
			return err
		}
	}
	if s.wants("converge") {
		if err := s.converge(ctx); err != nil {
			return err
		}
	}
	if s.wants("soak") {
		if err := s.soak(ctx); err != nil {
			return err
		}
	}
	fmt.Fprintf(s.out, "\n== summary\n")
	if len(s.rows) > 0 {
		s.printTable()
	}
	for _, v := range s.verdicts {
		fmt.Fprintln(s.out, v)
	}
	return nil
}

// loadParts are the load scenarios, in the order they run.
var loadParts = []string{"assign", "bulk", "pixel", "redirect", "events", "track"}

// setup builds the binaries, starts ClickHouse, the server and the
// baselines, and waits until each answers.
func (s *suite) setup(ctx context.Context) error {
	if err := os.RemoveAll(s.opts.dir); err != nil {
		return err
	}
	if s.opts.profiles != "" {
		if err := os.MkdirAll(s.opts.profiles, 0o755); err != nil {
			return err
		}
	}
	s.bin, s.scripts = filepath.Join(s.opts.dir, "bin"), filepath.Join(s.opts.dir, "wrk")
	for _, d := range []string{s.bin, s.scripts} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := writeScripts(s.scripts); err != nil {
		return err
	}
	s.logf("building bin/splitcast and the baselines")
	s.splitcast = filepath.Join("bin", "splitcast")
	for out, pkg := range map[string]string{s.splitcast: "./cmd/splitcast",
		filepath.Join(s.bin, "benchbaseline"): "./scripts/benchbaseline", filepath.Join(s.bin, "trackbench"): "./cmd/trackbench"} {
		if err := goBuild(ctx, out, pkg); err != nil {
			return err
		}
	}
	ch, err := chserver.Start(ctx, chserver.Config{Dir: filepath.Join(s.opts.dir, "clickhouse")})
	if err != nil {
		return fmt.Errorf("start ClickHouse: %w", err)
	}
	s.ch = ch
	s.logf("ClickHouse on %s (pid %d), data in %s", ch.Addr(), ch.PID(), ch.Dir())
	if s.a, err = s.startServer(ctx, "serve-a"); err != nil {
		return err
	}
	if s.conn, err = clickhouse.Dial(clickhouse.Options{Addr: ch.Addr(), Database: database}); err != nil {
		return err
	}
	if s.assignBase, err = freeAddr(); err != nil {
		return err
	}
	if s.gifBase, err = freeAddr(); err != nil {
		return err
	}
	ab, err := startChild(s.opts.dir, "benchbaseline", nil, filepath.Join(s.bin, "benchbaseline"), "-addr", s.assignBase)
	if err != nil {
		return err
	}
	s.children = append(s.children, ab)
	s.assignProc = ab
	gb, err := startChild(s.opts.dir, "trackbench-gif", nil, filepath.Join(s.bin, "trackbench"), "gif", "-addr", s.gifBase)
	if err != nil {
		return err
	}
	s.children = append(s.children, gb)
	s.gifProc = gb
	if err := gb.waitHTTP(ctx, "http://"+s.gifBase+"/x.gif", 200); err != nil {
		return err
	}
	// benchbaseline has only POST /v1/assign: anything answering means up.
	if err := ab.waitHTTP(ctx, "http://"+s.assignBase+"/", 404); err != nil {
		return err
	}
	if err := s.a.api.createStart(ctx, "welcome-email"); err != nil {
		return err
	}
	s.logf("splitcast serve on %s, baselines on %s (assign) and %s (GIF)", s.a.addr, s.assignBase, s.gifBase)
	return nil
}

// startServer runs `splitcast serve` against the suite's ClickHouse, with
// its own spool folder, no rate limits and the suite's refresh interval.
func (s *suite) startServer(ctx context.Context, name string, env ...string) (*server, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	c, err := startChild(s.opts.dir, name, append([]string{"SPLITCAST_RATE_PER_KEY=0", "SPLITCAST_RATE_PER_IP=0"}, env...), s.splitcast, "serve",
		"-addr", addr, "-data-dir", filepath.Join(s.opts.dir, name), "-clickhouse-addr", s.ch.Addr(),
		"-clickhouse-database", database, "-snapshot-refresh", s.opts.refresh.String(), "-log-level", "warn")
	if err != nil {
		return nil, err
	}
	s.children = append(s.children, c)
	if err := c.waitHTTP(ctx, "http://"+addr+"/readyz", 200); err != nil {
		return nil, err
	}
	return &server{child: c, addr: addr, api: newAPIClient("http://" + addr)}, nil
}

// close stops what setup started, servers first so that they flush into a
// ClickHouse that is still there.
func (s *suite) close() {
	for i := len(s.children) - 1; i >= 0; i-- {
		s.children[i].stop(30 * time.Second)
	}
	if s.conn != nil {
		s.conn.Close()
	}
	if s.ch != nil {
		s.ch.Stop()
	}
}

// printTable prints the load scenarios' table.
func (s *suite) printTable() {
	fmt.Fprintf(s.out, "load: %v per wrk run on 127.0.0.1, %d cores, load average %s at the end; ratios against the baseline run in the same minute\n",
		s.opts.duration, runtime.NumCPU(), s.loadAvg)
	w := tabwriter.NewWriter(s.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "scenario\trequests/s\tp50\tp99\terrors\tthroughput\tbaseline\tratio\tCPU ratio\t")
	for _, r := range s.rows {
		cpu := r.cpuRatio
		if cpu == "" {
			cpu = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.scenario, r.rps, r.p50, r.p99, r.errors, r.throughput, r.baseline, r.ratio, cpu)
	}
	w.Flush()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
