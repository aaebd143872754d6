package api_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/splitcast/splitcast/analytics/fatigue"
	"github.com/splitcast/splitcast/api"
)

// BenchmarkAssignHandler runs POST /v1/assign through the served handler
// (routing, auth, middleware, decoding, assignment, exposure, token,
// response), without the network, beside a trivial JSON handler of the
// same size measured in the same run: the in-process form of
// scripts/bench-assign.sh's wrk ratio.
func BenchmarkAssignHandler(b *testing.B) {
	h := runningExample(b, func(c *api.Config) { c.Events = &countingLog{} })
	body := []byte(`{"experiment":"welcome-email","unit_id":"user-1234567","attributes":{"plan":"pro_trial","country":"IT","opens_30d":3},"send_id":"send-42","channel":"email"}`)
	serve := h.srv.App().Handler()
	run := func(b *testing.B, handler fasthttp.RequestHandler, path string) {
		b.ReportAllocs()
		var ctx fasthttp.RequestCtx
		for b.Loop() {
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.Request.Header.SetMethod("POST")
			ctx.Request.SetRequestURI(path)
			ctx.Request.Header.Set("Authorization", "Bearer "+hSDK)
			ctx.Request.Header.SetContentType("application/json")
			ctx.Request.SetBody(body)
			handler(&ctx)
			if ctx.Response.StatusCode() != 200 || !bytes.Contains(ctx.Response.Body(), []byte(`"token"`)) {
				b.Fatalf("%d %s", ctx.Response.StatusCode(), ctx.Response.Body())
			}
		}
	}
	b.Run("assign", func(b *testing.B) { run(b, serve, "/v1/assign") })
	b.Run("trivial", func(b *testing.B) {
		// The same answer size, as bench-assign.sh's trivial Fiber handler.
		answer := append([]byte(`{"token":"`), bytes.Repeat([]byte("x"), 500)...)
		answer = append(answer, `"}`...)
		run(b, func(ctx *fasthttp.RequestCtx) {
			ctx.SetContentType("application/json")
			ctx.SetBody(answer)
		}, "/v1/assign")
	})
}

// BenchmarkBulk sends a send list of b.N lines to POST /v1/assign/bulk on
// a loopback listener and reads every answer: units/s is the figure of
// issue 3's 1M-unit target. cpu-ns/op is the CPU time the process spent
// per unit (server, client and GC), which other processes on the machine
// sway less than they do ns/op.
func BenchmarkBulk(b *testing.B) {
	h := runningExample(b, func(c *api.Config) { c.Events = &countingLog{} })
	base := h.listen(b)
	var list bytes.Buffer
	for i := range b.N {
		fmt.Fprintf(&list, `{"unit_id":"user-%d","attributes":{"plan":"pro_trial","country":"IT"},"channel":"email"}`+"\n", i)
	}
	cpu0 := processCPU()
	b.ResetTimer()
	req, err := http.NewRequest("POST", base+"/v1/assign/bulk?experiment=welcome-email", &list)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+hSDK)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || resp.StatusCode != 200 {
		b.Fatalf("bulk: %d, %d bytes, %v", resp.StatusCode, n, err)
	}
	b.StopTimer()
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	if lines := n / 300; b.N > 100 && lines < int64(b.N) {
		b.Fatalf("bulk answered %d bytes for %d lines", n, b.N)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "units/s")
}

// BenchmarkFatigueHandler is BenchmarkAssignHandler's assign with the
// fatigue rules off and on (both caps; a fresh unit per request, so every
// send is admitted and counted, the state growing as in a send), in one
// run: their ratio is what the rules cost a single assignment end to end.
func BenchmarkFatigueHandler(b *testing.B) {
	capped := fatigue.Policy{Total: fatigue.Cap{Limit: 3, Window: 168 * time.Hour}, PerChannel: fatigue.Cap{Limit: 1, Window: 24 * time.Hour}}
	for _, tc := range []struct {
		name string
		gate *fatigue.Gate
	}{{"off", nil}, {"caps", fatigue.NewGate(fatigue.Config{Policy: capped})}} {
		b.Run(tc.name, func(b *testing.B) {
			h := runningExample(b, func(c *api.Config) { c.Events = &countingLog{}; c.Fatigue = tc.gate })
			serve := h.srv.App().Handler()
			b.ReportAllocs()
			var ctx fasthttp.RequestCtx
			cpu0 := processCPU()
			i := 0
			for b.Loop() {
				i++
				ctx.Request.Reset()
				ctx.Response.Reset()
				ctx.Request.Header.SetMethod("POST")
				ctx.Request.SetRequestURI("/v1/assign")
				ctx.Request.Header.Set("Authorization", "Bearer "+hSDK)
				ctx.Request.Header.SetContentType("application/json")
				ctx.Request.SetBody(fmt.Appendf(nil, `{"experiment":"welcome-email","unit_id":"user-%d","attributes":{"plan":"pro_trial","country":"IT"},"send_id":"s","channel":"email"}`, i))
				serve(&ctx)
				if ctx.Response.StatusCode() != 200 || bytes.Contains(ctx.Response.Body(), []byte(`"suppressed"`)) {
					b.Fatalf("%d %s", ctx.Response.StatusCode(), ctx.Response.Body())
				}
			}
			b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// BenchmarkBulkFatigue is BenchmarkBulk with the fatigue rules off and on
// (both caps, every unit fresh), in one run: cpu-ns/op of the two is what
// the rules cost a bulk send per unit in-process (the refresh from
// ClickHouse, which a server adds, is not in it).
func BenchmarkBulkFatigue(b *testing.B) {
	capped := fatigue.Policy{Total: fatigue.Cap{Limit: 3, Window: 168 * time.Hour}, PerChannel: fatigue.Cap{Limit: 1, Window: 24 * time.Hour}}
	for _, on := range []bool{false, true} {
		b.Run(map[bool]string{false: "off", true: "caps"}[on], func(b *testing.B) {
			h := runningExample(b, func(c *api.Config) {
				c.Events = &countingLog{}
				if on {
					c.Fatigue = fatigue.NewGate(fatigue.Config{Policy: capped})
				}
			})
			base := h.listen(b)
			var list bytes.Buffer
			for i := range b.N {
				fmt.Fprintf(&list, `{"unit_id":"user-%d","attributes":{"plan":"pro_trial","country":"IT"},"channel":"email"}`+"\n", i)
			}
			cpu0 := processCPU()
			b.ResetTimer()
			req, err := http.NewRequest("POST", base+"/v1/assign/bulk?experiment=welcome-email", &list)
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+hSDK)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("bulk: %d, %d bytes, %v", resp.StatusCode, n, err)
			}
			b.StopTimer()
			b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}
