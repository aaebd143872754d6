package api

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"syscall"
	"testing"
	"time"

	"github.com/splitcast/splitcast/analytics"
	"github.com/splitcast/splitcast/analytics/fatigue"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

// discardLog takes exposures and keeps nothing.
type discardLog struct{}

func (discardLog) Log(context.Context, ...analytics.Event) error { return nil }

func (discardLog) Append(...analytics.Event) (analytics.Ticket, error) { return 0, nil }

func (discardLog) Commit(context.Context, analytics.Ticket) error { return nil }

// BenchmarkAssignCapCost is what the cap check adds to a single
// assignment as the server makes it (Server.assign: the assignment, the
// exposure, the check and the token), in CPU time of the benchmark's own
// thread: blocks of 256 assignments with the fatigue rules off and on
// (both caps, 3/168h and 1/24h) alternate, each block its own units. The
// clock moves 56 hours every pass over the units, so that every send is
// admitted and counted, as in a send list (a unit then has at most 3 sends
// in any 7 days); it starts in 1980 so that it stays within the uint32
// seconds the gate keeps (to 2106) for 20,000 passes. Two state sizes: 1,024 units,
// whose cap state stays in the CPU's caches, and 262,144 (a 32 MB table),
// where every check misses them once. check-cpu-ns/op is the difference
// per assignment (issue 19: under 100). Run:
//
//	go test -run '^$' -bench AssignCapCost -benchtime 8000000x -count 3 ./api
func BenchmarkAssignCapCost(b *testing.B) {
	s := bulkServer(b, discardLog{})
	snap := s.cfg.Snapshots.Snapshot()
	t0 := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	policy := fatigue.Policy{Total: fatigue.Cap{Limit: 3, Window: 168 * time.Hour}, PerChannel: fatigue.Cap{Limit: 1, Window: 24 * time.Hour}}
	for _, shift := range []uint{10, 18} {
		units := 1 << shift
		b.Run(fmt.Sprintf("units=%d", units), func(b *testing.B) {
			// A gate of its own for each run of the sub-benchmark: its
			// clock starts again at t0.
			g := fatigue.NewGate(fatigue.Config{Policy: policy})
			ids := make([]string, units)
			for i := range ids {
				ids[i] = fmt.Sprintf("user-%07d", i)
				g.Admit(ids[i], assign.Target{Channel: experiment.ChannelPush}, "warm", t0)
			}
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			next := 0
			const block = 256
			s.cfg.Now = func() time.Time { return t0.Add(time.Duration(next>>shift+1) * 56 * time.Hour) }
			req := assignRequest{Experiment: "welcome-email", Attributes: assign.Attributes{"plan": "pro_trial", "country": "IT"}, Channel: "email"}
			var ev exposureScratch
			run := func(gate *fatigue.Gate) time.Duration {
				s.cfg.Fatigue = gate
				c0 := threadCPU(b)
				for range block {
					next++
					req.UnitID = ids[next&(units-1)]
					resp, exposed, err := s.assign(snap, req, &ev)
					if err != nil || !exposed || resp.Suppressed != nil || resp.Token == "" && !resp.Holdout {
						b.Fatalf("assign %s at %v (%d): %+v %+v, exposed %v, %v", req.UnitID, s.cfg.Now(), next, resp, resp.Suppressed, exposed, err)
					}
				}
				return threadCPU(b) - c0
			}
			// The collector runs between blocks, untimed: its assists would
			// land in whichever block allocated past the goal, blocks of
			// either kind, and swing the difference by more than it is.
			defer debug.SetGCPercent(debug.SetGCPercent(-1))
			var alone, checked time.Duration
			n := 0
			for ; n < b.N; n += block {
				if n/block%64 == 0 {
					runtime.GC()
				}
				if n/block%2 == 0 { // every other pair in the other order
					alone += run(nil)
					checked += run(g)
				} else {
					checked += run(g)
					alone += run(nil)
				}
			}
			s.cfg.Fatigue = nil
			b.ReportMetric(float64(alone)/float64(n), "assign-cpu-ns/op")
			b.ReportMetric(float64(checked-alone)/float64(n), "check-cpu-ns/op")
		})
	}
}

// threadCPU is the CPU time of the calling thread (RUSAGE_THREAD, 1 on
// Linux; not in package syscall's names).
func threadCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(1, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
