// Package api is Splitcast's HTTP interface: a Fiber app whose handlers are
// grouped by audience (sdk, tracking, admin, reports, operations). It is the
// only package that imports Fiber, and its error handler is the one place
// that maps experiment.Error codes to HTTP statuses.
package api

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/fatigue"
	"github.com/splitcast/splitcast/analytics/ingest"
	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/api/audience"
	"github.com/splitcast/splitcast/api/importapi"
	"github.com/splitcast/splitcast/api/tracking"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
	"github.com/splitcast/splitcast/experiment/apikey"
)

// Config holds what the API needs. Zero values of optional fields are
// replaced by the defaults named on them.
type Config struct {
	// Store keeps experiment definitions and their history. Required.
	Store experiment.Store
	// Snapshots serves the running experiments from memory (an
	// *assign.Refresher). Required.
	Snapshots interface{ Snapshot() *assign.Snapshot }
	// Refresh, when set, rebuilds this server's snapshot at once after an
	// admin change.
	Refresh func(ctx context.Context) error
	// Events receives exposures, opens, clicks and conversions. Required.
	Events analytics.Logger
	// Tokens signs and verifies tracking tokens. Required.
	Tokens *tracking.Keyring
	// BaseURL is this server's public URL, for pixel and click links.
	BaseURL string
	// LinkDomains, when not zero, are the only hosts /v1/links and
	// /v1/render make click URLs for: a click URL is a redirect signed by
	// this server, which an sdk key must not be able to point anywhere.
	LinkDomains tracking.Domains
	// Keys are the API keys. Required.
	Keys Keyring
	// Machine sets the machine-traffic thresholds (zero: defaults).
	Machine analytics.MachineConfig
	// MaxEventsPerRequest bounds a POST /v1/events batch (default 1000).
	MaxEventsPerRequest int
	// Ready reports whether the server can do its work (ClickHouse
	// reachable); /readyz answers 503 while it returns an error. Nil means
	// always ready.
	Ready func(ctx context.Context) error
	// Ingest, when set, has its queue and spool gauges on /readyz and
	// /metrics.
	Ingest interface{ Stats() ingest.Stats }
	// Registry receives the API's metrics; nil creates a fresh one.
	Registry *prometheus.Registry
	// RateLimits bound requests per API key and per client address
	// (zero: no limits).
	RateLimits RateLimits
	// CORSOrigins may call the SDK routes from a browser ("*" for any);
	// empty allows no cross-origin calls.
	CORSOrigins []string
	// TrustedProxies are the load balancers whose X-Forwarded-For names
	// the client address (for the per-address limit); empty trusts none.
	TrustedProxies []string
	// BodyLimit bounds request bodies (default 1 MiB); bulk assignment is
	// streamed and not bound by it.
	BodyLimit int
	// BulkIdleTimeout closes a bulk assignment stream that neither sent a
	// byte nor took one of its answers for this long, once its complete
	// lines are answered (default DefaultBulkIdleTimeout).
	BulkIdleTimeout time.Duration
	// BulkStreamsPerKey bounds the bulk streams one API key has open at
	// once; one more is answered 429 (default DefaultBulkStreamsPerKey).
	BulkStreamsPerKey int
	// Aggregates reads the event counts that reports are built from; nil
	// makes the report routes answer 503.
	Aggregates results.AggregateReader
	// Units gives reports CUPED and breakdowns (nil: none); Import takes
	// POST /v1/experiments/{key}/import (nil: 503).
	Units  results.UnitReader
	Import importapi.Run
	// Traits, when set, gives segment rules each unit's behavioural traits
	// (trait.<name>, an *traits.Cache); the caller's attribute of
	// the same name wins.
	Traits TraitSource
	// Profiles stores units' attributes and deletes units' data on
	// request; nil makes those routes answer 503.
	Profiles audience.Profiles
	// Fatigue, when set, withholds messages from suppressed, capped and
	// global-control units (assign answers them suppressed).
	Fatigue *fatigue.Gate
	// ArmFatigue, when set, adds the fatigue section to reports.
	ArmFatigue results.FatigueReader
	// Channels, when set, adds each metric per channel to reports.
	Channels results.ChannelReader
	// GlobalControl, when set with Fatigue, serves the global control
	// report.
	GlobalControl results.GlobalControlReader
	Logger        *slog.Logger
	// Now tells the time (default time.Now).
	Now func() time.Time
}

// Server is the Splitcast HTTP API.
type Server struct {
	cfg    Config
	app    *fiber.App
	reg    *prometheus.Registry
	bursts *analytics.BurstDetector
	// machine classifies opens and clicks, remembering user agents.
	machine *analytics.Classifier
	// ids makes request and tracking event ids.
	ids    *analytics.IDs
	obs    *observer
	perKey *limiter
	perIP  *limiter
	// authFail counts failed authentications per client address.
	authFail *limiter
	// bulk counts the open bulk streams per API key.
	bulk streamCount
	// audience serves user events and what they tell of units.
	audience *audience.Handlers
	// bodies are limitBody's read buffers (*bytes.Buffer).
	bodies sync.Pool
}

// New builds the app and its routes.
func New(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BodyLimit == 0 {
		cfg.BodyLimit = 1 << 20
	}
	if cfg.BulkIdleTimeout == 0 {
		cfg.BulkIdleTimeout = DefaultBulkIdleTimeout
	}
	if cfg.BulkStreamsPerKey == 0 {
		cfg.BulkStreamsPerKey = DefaultBulkStreamsPerKey
	}
	if cfg.MaxEventsPerRequest == 0 {
		cfg.MaxEventsPerRequest = 1000
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	s := &Server{cfg: cfg, reg: cfg.Registry, bursts: analytics.NewBurstDetector(cfg.Machine, cfg.Now),
		machine: analytics.NewClassifier(cfg.Machine), ids: analytics.NewIDs(),
		obs: newObserver(cfg.Registry, cfg.Snapshots), perKey: newLimiter(cfg.RateLimits.PerKey, cfg.Now), perIP: newLimiter(cfg.RateLimits.PerIP, cfg.Now),
		authFail: newLimiter(cfg.RateLimits.FailedAuthPerIP, cfg.Now)}
	s.cfg.Events = s.countExposures(cfg.Events)
	s.audience = audience.New(audience.Config{Events: s.cfg.Events, IDs: s.ids,
		MaxEventsPerRequest: cfg.MaxEventsPerRequest, Now: cfg.Now, Catalogue: s.catalogue, Traits: cfg.Traits, Profiles: cfg.Profiles})
	s.app = fiber.New(fiber.Config{
		AppName:               "splitcast",
		DisableStartupMessage: true,
		BodyLimit:             cfg.BodyLimit,
		// Bulk assignment reads its NDJSON body as a stream; other routes
		// are bounded by limitBody.
		StreamRequestBody: true,
		ErrorHandler:      s.handleError,
		ReadTimeout:       30 * time.Second,
		// A tracked URL can be as long as the largest token it signs:
		// fasthttp's default 4 KiB buffer answered 431 to such a click
		// behind a browser's usual headers.
		ReadBufferSize: readBufferSize(cfg.BaseURL),
		IdleTimeout:    120 * time.Second,
		// c.IP() reads X-Forwarded-For only from these proxies.
		ProxyHeader:             fiber.HeaderXForwardedFor,
		EnableTrustedProxyCheck: true,
		TrustedProxies:          cfg.TrustedProxies,
	})
	s.routes()
	return s
}

// maxHeaderBytes is what a request's headers may take beside its request
// line: a browser's usual headers with a site's cookies, as much as
// nginx's default large_client_header_buffers (8 KiB) passes on.
const maxHeaderBytes = 8 << 10

// readBufferSize fits the request line of the longest tracked URL this
// server signs ("GET " + base path + "/c/" + token + " HTTP/1.1") and
// maxHeaderBytes of headers.
func readBufferSize(baseURL string) int {
	return len("GET ") + len(baseURL) + len("/c/") + tracking.MaxTokenLen + len(" HTTP/1.1\r\n") + maxHeaderBytes
}

// App exposes the Fiber app, for app.Test in handler tests.
func (s *Server) App() *fiber.App { return s.app }

// Serve answers requests on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown stops accepting connections and waits for requests in flight,
// until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error { return s.app.ShutdownWithContext(ctx) }

func (s *Server) routes() {
	s.app.Use(s.observe)
	s.app.Get("/healthz", s.healthz)
	s.app.Get("/readyz", s.readyz)
	s.app.Get("/metrics", s.metrics())
	s.app.Get("/openapi.json", s.openapi)
	s.trackingRoutes()
	s.app.Use(s.limitBody)
	if h := s.corsHandler(); h != nil {
		s.app.Use(sdkPaths, h)
	}
	s.app.Use("/v1", s.limitIP)
	s.app.Get("/debug/pprof/*", s.require(apikey.ScopeAdmin), pprofHandler())
	s.adminRoutes()
	s.reportRoutes()
	s.sdkRoutes()
	s.traitRoutes()
	s.consoleRoutes()
}

// errorBody is the JSON shape of every error answer.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
	Line    int    `json:"line,omitempty"` // of an uploaded file
}

var statusOf = map[string]int{
	experiment.EINVALID:      fiber.StatusBadRequest,
	experiment.EUNAUTHORIZED: fiber.StatusUnauthorized,
	experiment.EFORBIDDEN:    fiber.StatusForbidden,
	experiment.ENOTFOUND:     fiber.StatusNotFound,
	experiment.ECONFLICT:     fiber.StatusConflict,
	experiment.ETOOLARGE:     fiber.StatusRequestEntityTooLarge,
	experiment.EUNAVAILABLE:  fiber.StatusServiceUnavailable,
	experiment.EINTERNAL:     fiber.StatusInternalServerError,
}

// handleError is the one translation of errors into HTTP answers, and the
// one place internal errors are logged.
func (s *Server) handleError(c *fiber.Ctx, err error) error {
	if c.Request().IsBodyStream() {
		// A large body still streaming in was refused before it was read:
		// close the connection rather than parse its rest as a request.
		c.Context().SetConnectionClose()
		s.discardBody(c)
	}
	var fe *fiber.Error
	if errors.As(err, &fe) {
		// Fiber's own errors: unknown route, body over the limit, ...
		code := experiment.EINVALID
		switch fe.Code {
		case fiber.StatusNotFound:
			code = experiment.ENOTFOUND
		case fiber.StatusRequestEntityTooLarge:
			code = experiment.ETOOLARGE
			c.Context().SetConnectionClose()
		case fiber.StatusMethodNotAllowed:
			code = experiment.EINVALID
		}
		return c.Status(fe.Code).JSON(errorBody{errorDetail{Code: code, Message: fe.Message}})
	}
	code := experiment.ErrorCode(err)
	if code == experiment.ETOOLARGE {
		// The unread rest of the body would be parsed as the next request
		// on a kept-alive connection: close it instead.
		c.Context().SetConnectionClose()
	}
	status, ok := statusOf[code]
	if !ok {
		status = fiber.StatusInternalServerError
	}
	if code == experiment.EINTERNAL {
		s.log(c).Error("internal error", "method", c.Method(), "route", c.Route().Path, "err", err)
	}
	if code == experiment.EUNAVAILABLE {
		c.Set(fiber.HeaderRetryAfter, "5")
	}
	return c.Status(status).JSON(errorBody{errorDetail{
		Code: code, Message: experiment.ErrorMessage(err), Field: experiment.ErrorField(err), Line: experiment.ErrorLine(err),
	}})
}
