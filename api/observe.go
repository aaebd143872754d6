package api

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/pprof"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/assign"
)

// observer holds the per-request metrics of a Server.
type observer struct {
	requests *prometheus.HistogramVec
	limited  *prometheus.CounterVec

	routesOnce sync.Once
	routes     map[routeKey]*routeMetrics // every route, by method and pattern

	// assignments counts exposures by experiment key (*atomic.Uint64): a
	// sync.Map, whose reads of a key already there take no lock, because
	// every exposure of a bulk send's parallel workers counts here.
	assignments sync.Map
}

type routeKey struct{ method, path string }

// routeMetrics holds a route's histograms by status class (1xx..5xx),
// looked up once: WithLabelValues hashes the labels and takes a lock on
// every call. A class's series is created on its first request, as
// WithLabelValues would, so that /metrics lists only what happened.
type routeMetrics struct {
	byClass [6]atomic.Pointer[routeObserver]
}

type routeObserver struct{ prometheus.Observer }

func newObserver(reg prometheus.Registerer, snaps interface{ Snapshot() *assign.Snapshot }) *observer {
	o := &observer{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "splitcast_http_request_duration_seconds",
			Help:    "HTTP requests by method, route pattern and status class (2xx...), and their latency.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 10},
		}, []string{"method", "route", "status"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "splitcast_rate_limited_total",
			Help: "Requests refused with 429, by limit (key or ip).",
		}, []string{"limit"}),
	}
	reg.MustRegister(o.requests, o.limited)
	if snaps != nil {
		reg.MustRegister(assignmentCollector{o: o, snaps: snaps})
	}
	return o
}

// observeRequest records the latency of a request by method, route
// pattern (or "unmatched": never the raw path, whose tokens and keys would
// make the series unbounded) and status class, and returns the route label.
func (o *observer) observeRequest(app *fiber.App, c *fiber.Ctx, status int, elapsed time.Duration) string {
	o.routesOnce.Do(func() {
		o.routes = map[routeKey]*routeMetrics{}
		for _, r := range app.GetRoutes(true) {
			o.routes[routeKey{r.Method, r.Path}] = &routeMetrics{}
		}
	})
	r := c.Route()
	rm, ok := o.routes[routeKey{r.Method, r.Path}]
	if !ok {
		// The method is copied: the label outlives the request's buffers.
		o.requests.WithLabelValues(strings.Clone(c.Method()), "unmatched", statusClass(status)).Observe(elapsed.Seconds())
		return "unmatched"
	}
	// A matched route's method and pattern are the route's own strings,
	// equal to the request's method: Fiber matches within one method.
	class := status / 100
	if class < 1 || class >= len(rm.byClass) {
		o.requests.WithLabelValues(r.Method, r.Path, statusClass(status)).Observe(elapsed.Seconds())
		return r.Path
	}
	h := rm.byClass[class].Load()
	if h == nil {
		h = &routeObserver{o.requests.WithLabelValues(r.Method, r.Path, statusClass(status))}
		rm.byClass[class].Store(h)
	}
	h.Observe(elapsed.Seconds())
	return r.Path
}

func statusClass(code int) string { return strconv.Itoa(code/100) + "xx" }

const localRequestID = "splitcast.request_id"

// requestIDOf is the request's id, as answered in X-Request-ID.
func requestIDOf(c *fiber.Ctx) string {
	if rc, ok := c.Locals(localRequestID).(*requestContext); ok {
		return rc.id
	}
	return ""
}

// saneRequestID keeps an incoming X-Request-ID only when it is short and
// made of characters that cannot forge log lines or headers.
func saneRequestID(id []byte) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.' || r == ':'
		if !ok {
			return false
		}
	}
	return true
}

// hdrRequestID is X-Request-ID as fasthttp normalizes it, the spelling
// c.Set would write.
var hdrRequestID = []byte("X-Request-Id")

type requestIDKey struct{}

// requestContext is a request's user context: the one it had, with the
// request id as the value of requestIDKey. It does in one allocation what
// context.WithValue and the boxing of the id into an interface did in two,
// and c.Locals holds the same pointer.
type requestContext struct {
	context.Context
	id string
}

// Value returns the request id for requestIDKey and asks the parent for
// any other key.
func (r *requestContext) Value(key any) any {
	if _, ok := key.(requestIDKey); ok {
		return r.id
	}
	return r.Context.Value(key)
}

// RequestID returns the id of the request that ctx (a handler's
// c.UserContext()) belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}

// log is the server's logger with the request's id.
func (s *Server) log(c *fiber.Ctx) *slog.Logger {
	return s.cfg.Logger.With("request_id", requestIDOf(c))
}

// observe runs first on every request: it gives the request an id
// (X-Request-ID, the caller's when sane), answers errors through the one
// error handler so that their status is known here, and records the
// latency by route pattern and status class.
func (s *Server) observe(c *fiber.Ctx) error {
	start := time.Now()
	var fresh [32]byte
	idb := c.Request().Header.Peek(fiber.HeaderXRequestID)
	if !saneRequestID(idb) {
		idb = s.ids.AppendID(fresh[:0])
	}
	// Fiber's strings point into buffers reused by the next request: the
	// id is copied, since it outlives the handler (contexts, log records).
	rc := &requestContext{Context: c.UserContext(), id: string(idb)}
	id := rc.id
	c.Locals(localRequestID, rc)
	c.SetUserContext(rc)
	c.Response().Header.SetCanonical(hdrRequestID, idb)
	if err := c.Next(); err != nil {
		if herr := s.handleError(c, err); herr != nil {
			c.Status(fiber.StatusInternalServerError)
		}
	}
	status := c.Response().StatusCode()
	elapsed := time.Since(start)
	route := s.obs.observeRequest(s.app, c, status, elapsed)
	if status == fiber.StatusTooManyRequests {
		limit := "key"
		if c.Locals(localKey) == nil {
			limit = "ip"
		}
		s.obs.limited.WithLabelValues(limit).Inc()
	}
	// Checked first: the arguments of a disabled Debug cost allocations
	// all the same. The path is left out: it carries tracking tokens and
	// experiment keys.
	if s.cfg.Logger.Enabled(context.Background(), slog.LevelDebug) {
		s.cfg.Logger.Debug("request", "request_id", id, "method", strings.Clone(c.Method()), "route", route,
			"status", status, "duration_ms", float64(elapsed.Microseconds())/1000)
	}
	return nil
}

// pprofHandler serves net/http/pprof under /debug/pprof/, behind the admin
// scope: profiles expose memory contents and cost CPU.
func pprofHandler() fiber.Handler { return pprof.New() }

// countExposures wraps the event logger so that each logged exposure (one
// per assignment in an experiment) counts for its experiment.
func (s *Server) countExposures(l analytics.Logger) analytics.Logger {
	if l == nil {
		return nil
	}
	return exposureCounter{Logger: l, o: s.obs}
}

type exposureCounter struct {
	analytics.Logger
	o *observer
}

func (e exposureCounter) Log(ctx context.Context, events ...analytics.Event) error {
	err := e.Logger.Log(ctx, events...)
	if err != nil {
		return err
	}
	e.count(events)
	return nil
}

func (e exposureCounter) Append(events ...analytics.Event) (analytics.Ticket, error) {
	t, err := e.Logger.Append(events...)
	if err != nil {
		return 0, err
	}
	e.count(events)
	return t, nil
}

func (e exposureCounter) count(events []analytics.Event) {
	for _, ev := range events {
		if ev.Kind == analytics.KindExposure {
			e.o.assigned(ev.Experiment)
		}
	}
}

func (o *observer) assigned(key string) {
	n, ok := o.assignments.Load(key)
	if !ok {
		n, _ = o.assignments.LoadOrStore(strings.Clone(key), new(atomic.Uint64))
	}
	n.(*atomic.Uint64).Add(1)
}

var descAssignments = prometheus.NewDesc("splitcast_assignments_total",
	"Units assigned into an experiment (exposures), by experiment; only running experiments are exported.",
	[]string{"experiment"}, nil)

// assignmentCollector exports assignments of the experiments running now,
// so that the series stay as few as the running experiments.
type assignmentCollector struct {
	o     *observer
	snaps interface{ Snapshot() *assign.Snapshot }
}

func (a assignmentCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descAssignments }

func (a assignmentCollector) Collect(ch chan<- prometheus.Metric) {
	snap := a.snaps.Snapshot()
	a.o.assignments.Range(func(k, n any) bool {
		key := k.(string)
		if _, running := snap.Version(key); running {
			ch <- prometheus.MustNewConstMetric(descAssignments, prometheus.CounterValue, float64(n.(*atomic.Uint64).Load()), key)
		}
		return true
	})
}
