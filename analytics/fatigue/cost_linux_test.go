package fatigue_test

import (
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/splitcast/splitcast/assign"
)

// BenchmarkAdmitCost is what the cap check adds to an assignment, in CPU
// time of the benchmark's own thread, so that other processes on a shared
// machine (which stretch wall-clock ns/op by whatever they take) weigh on
// it as little as they can: blocks of 256 assignments alone and of 256
// assignments with the check (Prefetch before, AdmitKey after, as the
// server does) alternate, on BenchmarkAdmit's experiment, caps and units,
// each block its own units (a block never finds the next one's ids in the
// caches). check-cpu-ns/op is the difference per assignment; the target
// is under 100. Run:
//
//	go test -run '^$' -bench AdmitCost -benchtime 4000000x -count 3 ./analytics/fatigue
func BenchmarkAdmitCost(b *testing.B) {
	e, snap := exampleSnapshot(b)
	attrs := assign.Attributes{"plan": "free", "country": "US"}
	sends := exposureIDs()
	for _, shift := range []uint{10, 18} {
		units := 1 << shift
		ids, g := warmGate(b, units)
		b.Run(fmt.Sprintf("units=%d", units), func(b *testing.B) {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			const block = 256
			var alone, checked time.Duration
			next := 0
			unit := func() string { next++; return ids[next&(units-1)] }
			assignOnly := func() {
				for range block {
					if _, _, err := snap.AssignOn(e.Key, unit(), attrs, nil, ""); err != nil {
						b.Fatal(err)
					}
				}
			}
			withCheck := func() {
				for range block {
					u := unit()
					k := g.Prefetch(u)
					a, target, err := snap.AssignOn(e.Key, u, attrs, nil, "")
					if err != nil {
						b.Fatal(err)
					}
					if a.InExperiment {
						g.AdmitKey(k, u, target, sends[(next>>shift)&3], t0)
					}
				}
			}
			timed := func(f func()) time.Duration {
				c0 := threadCPU(b)
				f()
				return threadCPU(b) - c0
			}
			n := 0
			for ; n < b.N; n += block {
				if n/block%2 == 0 { // every other pair in the other order
					alone += timed(assignOnly)
					checked += timed(withCheck)
				} else {
					checked += timed(withCheck)
					alone += timed(assignOnly)
				}
			}
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
