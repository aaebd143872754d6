package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/splitcast/splitcast/analytics/bandit"
	"github.com/splitcast/splitcast/analytics/clickhouse"
	"github.com/splitcast/splitcast/analytics/clickhouse/chserver"
	"github.com/splitcast/splitcast/analytics/fatigue"
	"github.com/splitcast/splitcast/analytics/imports"
	"github.com/splitcast/splitcast/analytics/ingest"
	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/analytics/retire"
	"github.com/splitcast/splitcast/analytics/traits"
	"github.com/splitcast/splitcast/api"
	"github.com/splitcast/splitcast/api/importapi"
	"github.com/splitcast/splitcast/api/tracking"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
	"github.com/splitcast/splitcast/experiment/apikey"
	"github.com/splitcast/splitcast/migrations"
)

// Main is the running program: what Run starts, Close stops, in reverse.
type Main struct {
	Config Config
	stdout io.Writer
	logger *slog.Logger

	ch             *chserver.Server // the local ClickHouse, when this process started it
	conn           driver.Conn
	ingest         *ingest.Ingester
	refresher      *assign.Refresher
	chAddr         string
	closeOnce      sync.Once
	closeErr       error
	stopBackground context.CancelFunc
	server         *api.Server
	ln             net.Listener
	served         chan error
	// retirement is the retirement loop over the server's store; Run
	// starts it when Config.Retire is set.
	retirement *retire.Loop
	// bandit is the bandit loop over the server's store; Run starts it
	// when Config.Bandit is set.
	bandit *bandit.Loop
	// traits is the server's behavioural-trait cache; the demo refreshes
	// it once its replayed history is stored.
	traits *traits.Cache
	// now is the clock of the API and the retirement loop (nil: time.Now);
	// only the demo sets it, to replay days of traffic in minutes.
	now func() time.Time
}

// retireInterval is how often serve -retire looks at every running
// experiment. Looking often is safe: the loop decides by always-valid
// p-values only.
const retireInterval = time.Duration(experiment.DefaultInterval)

// NewMain returns a Main for cfg, logging JSON to stderr.
func NewMain(cfg Config, stdout, stderr io.Writer) *Main {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	return &Main{
		Config: cfg,
		stdout: stdout,
		logger: slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level})),
	}
}

// Addr is the address serve listens on, once Run has returned.
func (m *Main) Addr() string { return m.ln.Addr().String() }

// Run starts ClickHouse (local, unless an external one is configured),
// migrates, opens the ingest path and serves HTTP. It returns once the
// listener is open.
func (m *Main) Run(ctx context.Context) error {
	for _, d := range m.Config.dev {
		m.logger.Warn("using a development default; set it for production", "setting", d)
	}
	if err := m.connect(ctx); err != nil {
		return err
	}
	bg, cancel := context.WithCancel(context.Background())
	m.stopBackground = cancel
	prepared, err := m.migrateOrDefer(ctx, bg)
	if err != nil {
		return err
	}
	reg := prometheus.NewRegistry()
	if err := m.openIngest(reg); err != nil {
		return err
	}
	reg.MustRegister(&ingestCollector{src: m.ingest})
	// Every retirement saved through this store counts, the API's and the
	// retirement loop's alike.
	store := CountRetirements(reg, clickhouse.NewExperimentStore(m.conn))
	if err := m.startSnapshots(ctx, bg, store, prepared); err != nil {
		return err
	}
	base := clickhouse.NewAggregateReader(m.conn)
	base.Rollups = m.rollups()
	// Reports and loops read bandit experiments with their per-version
	// counts, the strata of their estimates; custom metrics are read by a
	// query of their own, merged in.
	bandits := clickhouse.NewBanditAggregates(m.conn, base, store)
	aggregates := results.CustomMerged{Main: bandits, Custom: clickhouse.NewCustomMetricReader(m.conn), Experiments: store}
	m.startRetirement(bg, store, aggregates)
	// The report's CUPED, per-channel and fatigue sections read the same
	// rollups, as the report's aggregates folded them.
	units, channels, armFatigue := clickhouse.NewUnitReader(m.conn), clickhouse.NewChannelReader(m.conn), clickhouse.NewFatigueReader(m.conn)
	units.Rollups, channels.Rollups, armFatigue.Rollups = base.Rollups, base.Rollups, base.Rollups
	m.startBandit(bg, store, aggregates)
	if err := m.startTraits(bg); err != nil {
		return err
	}
	gate, err := m.startFatigue(ctx, bg)
	if err != nil {
		return err
	}
	keyring, err := m.startKeys(ctx, bg)
	if err != nil {
		return err
	}
	tokens, err := m.tokenKeyring()
	if err != nil {
		return err
	}
	domains, err := tracking.NewDomains(list(m.Config.LinkDomains))
	if err != nil {
		return err
	}
	if err := m.listen(); err != nil {
		return err
	}
	m.serve(api.Config{
		Store: store, Snapshots: m.refresher, Refresh: m.refresher.Refresh,
		Events: fatigue.Logger{Logger: m.ingest, Gate: gate}, Ingest: m.ingest, Traits: m.traits, Aggregates: aggregates,
		Units:    units,
		Profiles: m.profileStore(),
		Import:   m.importer(store),
		Fatigue:  gate, ArmFatigue: armFatigue, Channels: channels,
		GlobalControl: clickhouse.NewGlobalControlReader(m.conn),
		Tokens:        tokens, Keys: keyring, Registry: reg, Ready: m.ready, LinkDomains: domains,
		BaseURL: strings.TrimRight(m.Config.BaseURL, "/"),
		RateLimits: api.RateLimits{
			PerKey:          api.Rate{PerSecond: m.Config.RatePerKey},
			PerIP:           api.Rate{PerSecond: m.Config.RatePerIP},
			FailedAuthPerIP: api.Rate{PerSecond: m.Config.RateFailedAuthPerIP},
		},
		BulkIdleTimeout: m.Config.BulkIdleTimeout, BulkStreamsPerKey: m.Config.BulkStreamsPerKey,
		CORSOrigins:    list(m.Config.CORSOrigins),
		TrustedProxies: list(m.Config.TrustedProxies),
		Logger:         m.logger,
		Now:            m.now,
	})
	return nil
}

// migrateOrDefer brings the schema up to date. An outage at start must not take
// the pixel and the redirect down: they need no ClickHouse, and their
// events spool until it returns. Migrations then run in the background (bg)
// as soon as it answers, and prepared closes when they are done; a changed
// migration file, or any error that is not an outage, still stops the
// server.
func (m *Main) migrateOrDefer(ctx, bg context.Context) (prepared chan struct{}, err error) {
	prepared = make(chan struct{})
	if err := m.prepare(ctx); experiment.ErrorCode(err) == experiment.EUNAVAILABLE {
		m.logger.Error("clickhouse unavailable at start: serving, spooling events, and retrying migrations", "err", err)
		go m.prepareLater(bg, prepared)
	} else if err != nil {
		return nil, err
	} else {
		close(prepared)
	}
	return prepared, nil
}

// openIngest opens the queue and the spool in front of ClickHouse.
func (m *Main) openIngest(reg prometheus.Registerer) error {
	ing, err := ingest.Open(ingest.Config{
		Sink:          InstrumentSink(reg, clickhouse.NewEventSink(m.conn)),
		Dir:           filepath.Join(m.Config.DataDir, "spool"),
		FlushInterval: m.Config.FlushInterval,
		Logger:        m.logger,
	})
	if err != nil {
		return fmt.Errorf("open ingest: %w", err)
	}
	m.ingest = ing
	return nil
}

// startSnapshots loads the running experiments and keeps them fresh; an
// outage leaves the snapshot empty until migrations (prepared) and the
// store are back.
func (m *Main) startSnapshots(ctx, bg context.Context, store experiment.Store, prepared <-chan struct{}) error {
	m.refresher = assign.NewRefresher(store, m.logger)
	if err := m.refresher.Refresh(ctx); err != nil && experiment.ErrorCode(err) != experiment.EUNAVAILABLE {
		return fmt.Errorf("load running experiments: %w", err)
	}
	go func() {
		select {
		case <-prepared:
			_ = m.refresher.Refresh(bg)
		case <-bg.Done():
		}
	}()
	go m.refresher.Run(bg, m.Config.SnapshotRefresh)
	return nil
}

// startRetirement makes the retirement loop, and runs it when serve
// -retire asks for it.
func (m *Main) startRetirement(bg context.Context, store experiment.Store, aggregates results.AggregateReader) {
	m.retirement = &retire.Loop{Store: store, Reader: aggregates, Now: m.now, Logger: m.logger}
	if m.Config.Retire {
		go m.retirement.Run(bg, retireInterval)
	}
}

// startBandit makes the bandit loop, and runs it when serve -bandit asks
// for it. It looks every banditLook; each segment's own interval says when
// a look reweights it.
func (m *Main) startBandit(bg context.Context, store experiment.Store, aggregates results.AggregateReader) {
	m.bandit = &bandit.Loop{Store: store, Reader: aggregates, Now: m.now, Logger: m.logger}
	if m.Config.Bandit {
		go m.bandit.Run(bg, banditLook)
	}
}

// banditLook is how often serve -bandit looks for bandit segments due for
// an update: the shortest update interval a segment may set.
const banditLook = time.Duration(experiment.MinBanditInterval)

// startTraits loads traits in the background: assignment never waits for
// them, and units get the default traits until the first refresh ends. A
// trait catalogue file that does not load is an error, naming the file.
func (m *Main) startTraits(bg context.Context) error {
	cat, err := loadCatalogue(m.Config.TraitCatalogue)
	if err != nil {
		return err
	}
	reader := clickhouse.NewTraitReader(m.conn)
	reader.Rollups = m.activityRollups()
	if m.Config.ClickHouseCluster != "" {
		// A node lists only its own running inserts.
		reader.FixedMargin, reader.Margin = true, clickhouse.TraitMargin(ingest.DefaultWriteTimeout)
	}
	c := traits.NewCache(traits.CacheConfig{Reader: reader, UserReader: reader, Catalogue: cat, ProfileReader: reader,
		Interval: m.Config.TraitRefresh, MaxUnits: m.Config.TraitMaxUnits, Logger: m.logger})
	m.traits = c
	go func() {
		if err := c.Refresh(bg); err != nil && bg.Err() == nil {
			m.logger.Warn("load traits", "err", err)
		}
		c.Run(bg)
	}()
	return nil
}

// loadCatalogue reads the computed traits' catalogue file, the embedded
// default when path is empty.
func loadCatalogue(path string) (*traits.Catalogue, error) {
	if path == "" {
		return traits.DefaultCatalogue(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("trait catalogue: %w", err)
	}
	cat, err := traits.ParseCatalogue(data)
	if err != nil {
		return nil, fmt.Errorf("trait catalogue %s: %w", path, err)
	}
	return cat, nil
}

// startKeys makes the keyring of the configured keys and the stored ones,
// reloaded every KeyRefresh.
func (m *Main) startKeys(ctx, bg context.Context) (*api.KeyCache, error) {
	keyring := api.NewKeyCache(api.KeyList{
		api.NewKey("admin", m.Config.AdminKey, apikey.ScopeAdmin, apikey.ScopeRead),
		api.NewKey("sdk", m.Config.SDKKey, apikey.ScopeSDK),
		api.NewKey("read", m.Config.ReadKey, apikey.ScopeRead),
	}, clickhouse.NewKeyStore(m.conn), m.logger)
	if err := keyring.Refresh(ctx); err != nil && experiment.ErrorCode(err) != experiment.EUNAVAILABLE {
		return nil, err
	}
	go keyring.Run(bg, m.Config.KeyRefresh)
	return keyring, nil
}

// tokenKeyring is the keyring that signs and verifies tracking tokens.
func (m *Main) tokenKeyring() (*tracking.Keyring, error) {
	keys, signing, err := m.Config.tokenKeys()
	if err != nil {
		return nil, err
	}
	tokens, err := tracking.NewKeyring(signing, keys)
	if err != nil {
		return nil, fmt.Errorf("token keys: %w", err)
	}
	return tokens, nil
}

// listen opens the listener. A base URL defaulted from "-addr host:0"
// names the port the listener got, so that tracking links work in tests
// and ad hoc runs.
func (m *Main) listen() error {
	var err error
	if m.ln, err = net.Listen("tcp", m.Config.Addr); err != nil {
		return fmt.Errorf("listen on %s: %w", m.Config.Addr, err)
	}
	if strings.HasSuffix(m.Config.Addr, ":0") && m.Config.BaseURL == "http://"+m.Config.Addr {
		m.Config.BaseURL = "http://" + m.ln.Addr().String()
	}
	return nil
}

// serve starts the API on the listener.
func (m *Main) serve(cfg api.Config) {
	m.server = api.New(cfg)
	m.served = make(chan error, 1)
	go func() { m.served <- m.server.Serve(m.ln) }()
	m.logger.Info("serving", "addr", m.Addr(), "base_url", m.Config.BaseURL)
}

// ready is /readyz's check: ClickHouse answers.
func (m *Main) ready(ctx context.Context) error { return m.conn.Ping(ctx) }

// Close stops serving, flushes or spools the queued events, and stops the
// ClickHouse this process started. The HTTP shutdown and the event flush
// have budgets of their own, so that a client holding a connection open
// cannot eat the time the queue needs to reach ClickHouse or the spool.
// Calling it again returns the first call's result.
func (m *Main) Close() error {
	m.closeOnce.Do(func() { m.closeErr = m.close() })
	return m.closeErr
}

func (m *Main) close() error {
	var errs []error
	if m.server != nil {
		ctx, cancel := context.WithTimeout(context.Background(), min(5*time.Second, m.Config.ShutdownTimeout/2))
		if err := m.server.Shutdown(ctx); err != nil {
			m.logger.Warn("connections still open at shutdown: closing them", "err", err)
			_ = m.ln.Close()
		}
		cancel()
		if err := <-m.served; err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, err)
		}
	}
	if m.stopBackground != nil {
		m.stopBackground()
	}
	if m.ingest != nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
		errs = append(errs, m.ingest.Close(ctx))
		cancel()
	}
	if m.conn != nil {
		errs = append(errs, m.conn.Close())
	}
	if m.ch != nil {
		errs = append(errs, m.ch.Stop())
	}
	return errors.Join(errs...)
}

// connect opens the ClickHouse connection, first starting the local server
// when no external one is configured.
func (m *Main) connect(ctx context.Context) error {
	addr := m.Config.ClickHouseAddr
	local := m.localConfig(false)
	if addr == "" && chserver.Ping(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(local.HTTPPort))) == nil {
		// The local ClickHouse is already up (make clickhouse-start, or
		// serve running beside migrate): use it, and leave it running.
		addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(local.TCPPort))
	}
	if addr == "" {
		ch, err := chserver.Start(ctx, local)
		if err != nil {
			return fmt.Errorf("start local clickhouse: %w", err)
		}
		m.ch, addr = ch, ch.Addr()
	}
	conn, err := clickhouse.Dial(m.clickhouseOptions(addr))
	if err != nil {
		return fmt.Errorf("clickhouse %s: %w", addr, err)
	}
	m.conn, m.chAddr = conn, addr
	return nil
}

// prepare creates the database and applies the migrations.
func (m *Main) prepare(ctx context.Context) error {
	if err := clickhouse.CreateDatabase(ctx, m.clickhouseOptions(m.chAddr)); err != nil {
		return err
	}
	return m.migrate(ctx)
}

// prepareLater retries prepare until ClickHouse answers, then closes done.
func (m *Main) prepareLater(ctx context.Context, done chan struct{}) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
		err := m.prepare(ctx)
		if err == nil {
			m.logger.Info("clickhouse is back: migrated")
			close(done)
			return
		}
		if experiment.ErrorCode(err) != experiment.EUNAVAILABLE {
			m.logger.Error("migrations failed; assignment stays on the snapshot it has", "err", err)
			return
		}
	}
}

// clickhouseOptions are the connection options for the server at addr.
func (m *Main) clickhouseOptions(addr string) clickhouse.Options {
	o := clickhouse.Options{
		Addr: addr, User: m.Config.ClickHouseUser, Password: m.Config.ClickHousePassword, Database: m.Config.ClickHouseDatabase,
	}
	if m.Config.ClickHouseCluster != "" {
		// A write returns once every shard has its rows, or fails and
		// is spooled (see package migrations).
		o.Settings = map[string]any{"insert_distributed_sync": 1}
	}
	return o
}

// profileStore is the stored profiles' store; on a cluster it deletes a
// unit on every node.
func (m *Main) profileStore() *clickhouse.ProfileStore {
	p := clickhouse.NewProfileStore(m.conn)
	if m.Config.ClickHouseCluster != "" {
		p.Nodes = m.eachNode
	}
	return p
}

// eachNode runs fn on a connection to each node of the cluster, for
// statements a Distributed table refuses (mutations, OPTIMIZE).
func (m *Main) eachNode(ctx context.Context, fn func(clickhouse.Execer) error) error {
	return m.runner().EachNode(ctx, func(c migrations.Conn) error { return fn(c) })
}

// runner migrates the database, on every node of the cluster if one is
// configured.
func (m *Main) runner() *migrations.Runner {
	return &migrations.Runner{Conn: m.conn, Cluster: m.Config.ClickHouseCluster,
		Dial: func(ctx context.Context, addr string) (migrations.NodeConn, error) {
			return clickhouse.Open(ctx, m.clickhouseOptions(addr))
		}}
}

func (m *Main) localConfig(detached bool) chserver.Config {
	return chserver.Config{
		Dir:      filepath.Join(m.Config.DataDir, "clickhouse"),
		TCPPort:  m.Config.LocalClickHouseTCPPort,
		HTTPPort: m.Config.LocalClickHouseHTTPPort,
		Detached: detached,
		Logger:   m.logger,
	}
}

func (m *Main) migrate(ctx context.Context) error {
	ran, err := m.runner().Up(ctx)
	for _, name := range ran {
		m.logger.Info("applied migration", "file", name)
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return m.afterMigrations(ctx, func(rollup string, done, of int) {
		m.logger.Info("back-filling the rollups from the stored events", "rollup", rollup, "bucket", done, "of", of)
	}, func(table string) {
		m.logger.Info("compacting a back-filled rollup into one part (OPTIMIZE FINAL)", "table", table)
	}, func(advice string) { m.logger.Warn(advice) })
}

// afterMigrations back-fills what the migrations left to fill and
// compacts what it back-filled (backfill), then warns of a server setting
// that slows the rollups down (compressionAdvice).
func (m *Main) afterMigrations(ctx context.Context, progress func(rollup string, done, of int), compacting, warn func(string)) error {
	if err := m.backfill(ctx, progress, compacting); err != nil {
		return err
	}
	if advice := m.compressionAdvice(ctx); advice != "" {
		warn(advice)
	}
	return nil
}

// compressionAdvice says what to change when the server compresses in
// blocks larger than the rollups' lookups want (see
// clickhouse.LookupBlockBytes), else "". The local ClickHouse is set so;
// one of the operator's may not be, and reports then cost several times
// more without being wrong.
func (m *Main) compressionAdvice(ctx context.Context) string {
	n, err := clickhouse.CompressBlockBytes(ctx, m.conn)
	if err != nil || n <= clickhouse.LookupBlockBytes {
		return ""
	}
	return fmt.Sprintf("ClickHouse compresses in blocks of at least %d bytes: reports and folds read several times slower than at %d; "+
		"set min_compress_block_size to %[2]d in the default profile of its users.xml and restart it (README, Using an external ClickHouse)",
		n, clickhouse.LookupBlockBytes)
}

// rollups is the report rollups of the server's database.
func (m *Main) rollups() *clickhouse.Rollups { return m.clustered(clickhouse.NewRollups(m.conn)) }

// activityRollups is the trait refresh's rollup of the server's database.
func (m *Main) activityRollups() *clickhouse.Rollups {
	return m.clustered(clickhouse.NewActivityRollups(m.conn))
}

// clustered sets what r needs on a cluster: a node lists only its own
// running inserts, so the fold mark keeps the fixed margin of the
// ingesters' write timeout, and tables are compacted on each node.
func (m *Main) clustered(r *clickhouse.Rollups) *clickhouse.Rollups {
	if m.Config.ClickHouseCluster != "" {
		r.FixedMargin, r.Margin = true, clickhouse.TraitMargin(ingest.DefaultWriteTimeout)
		r.Nodes = m.eachNode
	}
	return r
}

// backfill folds the events stored before the rollups existed, once: a
// deployment upgraded in place reports the same numbers after as before.
// After the report rollup's back-fill it saves every experiment's report
// sums (AggregateReader.PrimeSums), so that no process's first report or
// retirement pass sums an experiment's whole history.
func (m *Main) backfill(ctx context.Context, progress func(rollup string, done, of int), compacting func(table string)) error {
	reports := m.rollups()
	did, err := reports.BackfillPending(ctx, func(done, of int) { progress(reports.Name(), done, of) })
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if did {
		if err := reports.Compact(ctx, compacting); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		sums := clickhouse.NewAggregateReader(m.conn)
		sums.Rollups = reports
		if err := sums.PrimeSums(ctx, func(_ string, done, of int) { progress("report sums", done, of) }); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	activity := m.activityRollups()
	did, err = activity.BackfillPending(ctx, func(done, of int) { progress(activity.Name(), done, of) })
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if did {
		if err := activity.Compact(ctx, compacting); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	return nil
}

// Migrate is the migrate command: connect, apply, report.
func (m *Main) Migrate(ctx context.Context) error {
	if err := m.connect(ctx); err != nil {
		return err
	}
	if err := clickhouse.CreateDatabase(ctx, m.clickhouseOptions(m.chAddr)); err != nil {
		return err
	}
	ran, err := m.runner().Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(ran) == 0 {
		fmt.Fprintln(m.stdout, "migrations: nothing to apply")
	}
	for _, name := range ran {
		fmt.Fprintln(m.stdout, "migrations: applied", name)
	}
	return m.afterMigrations(ctx, func(rollup string, done, of int) {
		fmt.Fprintf(m.stdout, "rollups: %s: back-filled %d of %d\n", rollup, done, of)
	}, func(table string) {
		fmt.Fprintf(m.stdout, "rollups: compacting %s into one part\n", table)
	}, func(advice string) { fmt.Fprintln(m.stdout, "warning:", advice) })
}

// StartLocalClickHouse starts the project's ClickHouse and leaves it running.
func (m *Main) StartLocalClickHouse(ctx context.Context) error {
	ch, err := chserver.Start(ctx, m.localConfig(true))
	if err != nil {
		return err
	}
	fmt.Fprintf(m.stdout, "clickhouse: running, pid %d, native %s, http %s, data %s\n", ch.PID(), ch.Addr(), ch.HTTPAddr(), ch.Dir())
	return nil
}

// StopLocalClickHouse stops the project's ClickHouse by its pid file.
func (m *Main) StopLocalClickHouse() error {
	if err := chserver.StopPIDFile(m.localConfig(true).Dir, 30*time.Second); err != nil {
		return err
	}
	fmt.Fprintln(m.stdout, "clickhouse: stopped")
	return nil
}

// importer is the API's import: imports.Run into store, writing the checked
// events straight to ClickHouse (not through the ingest queue: the caller
// waits for the whole file, and a retry is idempotent), its temporary file
// under the data folder.
func (m *Main) importer(store experiment.Store) importapi.Run {
	sink := clickhouse.NewEventSink(m.conn)
	dir := filepath.Join(m.Config.DataDir, "imports")
	return func(ctx context.Context, key string, in io.Reader, f imports.Format, author string) (imports.Summary, error) {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return imports.Summary{}, fmt.Errorf("import: %w", err)
		}
		return imports.Run(ctx, store, key, in, f, sink, author, imports.Options{TempDir: dir, Now: m.now})
	}
}
