package api_test

import (
	"bytes"
	"context"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/api"
	"github.com/splitcast/splitcast/api/tracking"
)

// benchGIF is the trivial baseline of scripts/bench-tracking.sh
// (cmd/trackbench gif): Fiber with its defaults answering every GET with a
// GIF. Its bytes do not matter here, only the work around them.
var benchGIF = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")

// benchUA is the user agent bench-tracking.sh sends.
const benchUA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"

// countingLog counts what it is given and keeps nothing, so that a long
// benchmark measures the handler rather than a growing slice.
type countingLog struct{ n atomic.Int64 }

func (l *countingLog) Log(_ context.Context, evs ...analytics.Event) error {
	l.n.Add(int64(len(evs)))
	return nil
}

// Append logs at once: there is nothing to commit.
func (l *countingLog) Append(evs ...analytics.Event) (analytics.Ticket, error) {
	return 0, l.Log(context.Background(), evs...)
}

func (*countingLog) Commit(context.Context, analytics.Ticket) error { return nil }

// benchServer is a Server as New builds it for splitcast serve (observe
// middleware, metrics, error handler), logging into a countingLog.
func benchServer(tb testing.TB) (*api.Server, *countingLog, tracking.Claims, *tracking.Keyring) {
	tb.Helper()
	events := &countingLog{}
	var tokens *tracking.Keyring
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	// A second passes per request: a send is clicked now and then, not a
	// million times within the burst window.
	var ticks atomic.Int64
	h := newHarness(tb, nil, func(c *api.Config) {
		c.Events = events
		c.Now = func() time.Time { return now.Add(time.Duration(ticks.Add(1)) * time.Second) }
		tokens = c.Tokens
	})
	claims := tracking.Claims{
		Experiment: "welcome-email", Version: 3, Segment: "new-users", Variant: "short-subject",
		Unit: "user-0000012345", SendID: "send-7f3a9c", IssuedAt: now.Add(-time.Hour),
	}
	return h.srv, events, claims, tokens
}

// inProcess serves one request through a handler as fasthttp's server
// would, without a socket: the same RequestCtx reused, its response reset.
type inProcess struct {
	handler fasthttp.RequestHandler
	ctx     fasthttp.RequestCtx
}

func newInProcess(handler fasthttp.RequestHandler, method, uri string) *inProcess {
	p := &inProcess{handler: handler}
	var req fasthttp.Request
	req.Header.SetMethod(method)
	req.SetRequestURI(uri)
	req.Header.Set(fiber.HeaderUserAgent, benchUA)
	p.ctx.Init(&req, &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}, nil)
	return p
}

func (p *inProcess) serve() *fasthttp.Response {
	p.ctx.Response.Reset()
	p.handler(&p.ctx)
	return &p.ctx.Response
}

// serveInProcess benchmarks one handler, checking its answer before and
// after.
func serveInProcess(b *testing.B, handler fasthttp.RequestHandler, method, uri string, check func(*fasthttp.Response)) {
	b.Helper()
	p := newInProcess(handler, method, uri)
	check(p.serve())
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		p.serve()
	}
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
	check(&p.ctx.Response)
}

// processCPU is the CPU time used by this process so far, all threads (the
// garbage collector's included). On a machine shared with other work it
// is a steadier measure of cost than the wall time of ns/op.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPixel serves GET /o/{token}.gif through the whole Fiber app of
// splitcast serve, and the trivial GIF handler of bench-tracking.sh in the
// same run: the ratio of their ns/op is the req/s ratio without
// wrk, the kernel and the event writer.
func BenchmarkPixel(b *testing.B) {
	b.Run("baseline", func(b *testing.B) {
		app := fiber.New(fiber.Config{DisableStartupMessage: true})
		app.Get("/*", func(c *fiber.Ctx) error {
			c.Set(fiber.HeaderContentType, "image/gif")
			return c.Send(benchGIF)
		})
		serveInProcess(b, app.Handler(), fiber.MethodGet, "/o/x.gif", func(r *fasthttp.Response) {
			if r.StatusCode() != fiber.StatusOK || !bytes.Equal(r.Body(), benchGIF) {
				b.Fatalf("baseline answered %d %q", r.StatusCode(), r.Body())
			}
		})
	})
	b.Run("splitcast", func(b *testing.B) {
		srv, events, claims, tokens := benchServer(b)
		open, err := tokens.Open(claims)
		if err != nil {
			b.Fatal(err)
		}
		serveInProcess(b, srv.App().Handler(), fiber.MethodGet, "/o/"+open+".gif", func(r *fasthttp.Response) {
			if r.StatusCode() != fiber.StatusOK || string(r.Header.ContentType()) != "image/gif" || len(r.Body()) == 0 {
				b.Fatalf("pixel answered %d %s %q", r.StatusCode(), r.Header.ContentType(), r.Body())
			}
		})
		if events.n.Load() == 0 {
			b.Fatal("the pixel recorded no open")
		}
	})
}

// BenchmarkPixelRatio alternates blocks of requests to the trivial GIF
// handler and to splitcast's pixel, and reports the CPU per request of
// each and their ratio (baseline/splitcast): what the req/s ratio
// would be if the kernel's share of a request were zero. Alternating
// keeps the two under the same load from the rest of the machine.
func BenchmarkPixelRatio(b *testing.B) {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/*", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, "image/gif")
		return c.Send(benchGIF)
	})
	base := newInProcess(app.Handler(), fiber.MethodGet, "/o/x.gif")
	srv, events, claims, tokens := benchServer(b)
	open, err := tokens.Open(claims)
	if err != nil {
		b.Fatal(err)
	}
	pixel := newInProcess(srv.App().Handler(), fiber.MethodGet, "/o/"+open+".gif")
	if r := pixel.serve(); r.StatusCode() != fiber.StatusOK || events.n.Load() != 1 {
		b.Fatalf("pixel answered %d and recorded %d opens", r.StatusCode(), events.n.Load())
	}
	const block = 256
	var baseCPU, pixelCPU time.Duration
	n := 0
	for b.Loop() {
		t0 := processCPU()
		for range block {
			base.serve()
		}
		t1 := processCPU()
		for range block {
			pixel.serve()
		}
		pixelCPU += processCPU() - t1
		baseCPU += t1 - t0
		n += block
	}
	b.ReportMetric(float64(baseCPU)/float64(n), "base-cpu-ns/req")
	b.ReportMetric(float64(pixelCPU)/float64(n), "pixel-cpu-ns/req")
	b.ReportMetric(float64(baseCPU)/float64(pixelCPU), "ratio")
	if got := events.n.Load(); got != int64(n)+1 {
		b.Errorf("%d pixel requests recorded %d opens", n+1, got)
	}
}

// BenchmarkClick serves GET /c/{token} through the whole app.
func BenchmarkClick(b *testing.B) {
	srv, events, claims, tokens := benchServer(b)
	click, err := tokens.Click(claims, 2, "https://shop.example/spring-sale?utm_source=email")
	if err != nil {
		b.Fatal(err)
	}
	serveInProcess(b, srv.App().Handler(), fiber.MethodGet, "/c/"+click, func(r *fasthttp.Response) {
		if r.StatusCode() != fiber.StatusFound || string(r.Header.Peek(fiber.HeaderLocation)) != "https://shop.example/spring-sale?utm_source=email" {
			b.Fatalf("click answered %d, Location %q", r.StatusCode(), r.Header.Peek(fiber.HeaderLocation))
		}
	})
	if events.n.Load() == 0 {
		b.Fatal("the click recorded nothing")
	}
}
