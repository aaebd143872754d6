package api

import (
	"context"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// TestRequestIDHeaderSpelling: the response carries the id under the key
// c.Set wrote before, byte for byte, for an incoming id and a fresh one.
func TestRequestIDHeaderSpelling(t *testing.T) {
	app := fiber.New()
	app.Get("/", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderXRequestID, "x")
		return nil
	})
	var want fasthttp.RequestCtx
	want.Request.SetRequestURI("/")
	app.Handler()(&want)
	if !strings.Contains(want.Response.Header.String(), "\r\n"+string(hdrRequestID)+": x\r\n") {
		t.Fatalf("c.Set writes %q, not %s", want.Response.Header.String(), hdrRequestID)
	}

	s := New(Config{})
	for _, in := range []string{"trace-42.a:b", ""} {
		var ctx fasthttp.RequestCtx
		ctx.Request.SetRequestURI("/healthz")
		if in != "" {
			ctx.Request.Header.Set(fiber.HeaderXRequestID, in)
		}
		s.App().Handler()(&ctx)
		raw := ctx.Response.Header.String()
		got := string(ctx.Response.Header.Peek(fiber.HeaderXRequestID))
		if !strings.Contains(raw, "\r\n"+string(hdrRequestID)+": "+got+"\r\n") || got == "" || in != "" && got != in {
			t.Errorf("request id %q answered as %q in %q", in, got, raw)
		}
	}
}

// TestRequestContext: handlers find the request id in their user context
// and in the locals, and every other value of the context still comes
// from its parent.
func TestRequestContext(t *testing.T) {
	s := New(Config{})
	var fromCtx, fromLocals string
	s.App().Get("/probe", func(c *fiber.Ctx) error {
		fromCtx, fromLocals = RequestID(c.UserContext()), requestIDOf(c)
		return nil
	})
	var ctx fasthttp.RequestCtx
	ctx.Request.SetRequestURI("/probe")
	ctx.Request.Header.Set(fiber.HeaderXRequestID, "probe-1")
	s.App().Handler()(&ctx)
	if fromCtx != "probe-1" || fromLocals != "probe-1" {
		t.Errorf("handler saw request id %q in its context and %q in its locals, want probe-1", fromCtx, fromLocals)
	}

	type otherKey struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), otherKey{}, "kept"))
	rc := &requestContext{Context: parent, id: "r-1"}
	child, stop := context.WithCancel(rc)
	defer stop()
	if RequestID(child) != "r-1" || child.Value(otherKey{}) != "kept" {
		t.Errorf("child context: request id %q, parent value %v", RequestID(child), child.Value(otherKey{}))
	}
	cancel()
	<-child.Done() // cancelling the parent reaches through the request context
}
