package api

import (
	"context"
	"encoding/hex"
	"strings"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// TestIDSource: ids are 32 lowercase hex digits, never repeat within a
// source, even from many goroutines, and two sources (two processes, or one
// restarted) start far apart.
func TestIDSource(t *testing.T) {
	s := newIDSource()
	const goroutines, each = 8, 2000
	ids := make(chan string, goroutines*each)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				ids <- string(s.appendID(nil))
			}
		})
	}
	wg.Wait()
	close(ids)
	seen := map[string]bool{}
	for id := range ids {
		if b, err := hex.DecodeString(id); err != nil || len(b) != 16 || strings.ToLower(id) != id {
			t.Fatalf("id %q is not 32 lowercase hex digits", id)
		}
		if seen[id] {
			t.Fatalf("id %q made twice", id)
		}
		seen[id] = true
	}

	// Consecutive ids share nothing visible: a counter would leave the
	// upper half unchanged.
	if a, b := string(s.appendID(nil)), string(s.appendID(nil)); a[:16] == b[:16] {
		t.Errorf("consecutive ids %q and %q share their upper half", a, b)
	}
	other := newIDSource()
	if a, b := string(s.appendID(nil)), string(other.appendID(nil)); a[:16] == b[:16] {
		t.Errorf("two sources share the upper half %q of their ids", a[:16])
	}
	if got := string(s.appendID([]byte("o:"))); !strings.HasPrefix(got, "o:") || len(got) != 34 {
		t.Errorf("appendID(\"o:\") = %q, want o: and 32 hex digits", got)
	}
}

// TestIDSourceWraps: the counter wraps without a carry, so the ids after
// the wrap are ones this source has not made; each id is the counter block
// encrypted.
func TestIDSourceWraps(t *testing.T) {
	s := newIDSource()
	s.hi = 7
	s.lo.Store(^uint64(0) - 1)
	var got []string
	for range 2 {
		b, err := hex.DecodeString(string(s.appendID(nil)))
		if err != nil {
			t.Fatal(err)
		}
		s.block.Decrypt(b, b)
		got = append(got, hex.EncodeToString(b))
	}
	want := []string{"0000000000000007ffffffffffffffff", "00000000000000070000000000000000"}
	if got[0] != want[0] || got[1] != want[1] {
		t.Errorf("decrypted ids around the wrap = %q, want %q", got, want)
	}
}

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
