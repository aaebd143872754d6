//go:build linux

package assign

import (
	"runtime"
	"slices"
	"syscall"
	"time"
	"unsafe"
)

// threadCPU is the CPU time of the calling thread (CLOCK_THREAD_CPUTIME_ID):
// unlike the wall clock, it stops while another process has the core, which
// on a shared machine is most of the noise of a benchmark.
func threadCPU() time.Duration {
	var ts syscall.Timespec
	const clockThreadCPUTime = 3
	syscall.RawSyscall(syscall.SYS_CLOCK_GETTIME, clockThreadCPUTime, uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}

// CPURatio runs f(chunk) and base(chunk) in turns, rounds times (which
// goes first alternates), each turn timed by the thread's CPU clock, and returns the median of the rounds'
// ratios f/base. Turns of a millisecond or so see the same machine: a
// ratio taken this way holds where ns/op of two benchmarks run a second
// apart moved by half. f and base each loop over their own n, so that no
// call through a func value is counted per operation.
func CPURatio(rounds, chunk int, f, base func(n int)) float64 {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f(chunk) // warm the caches and the branch predictors for both
	base(chunk)
	ratios := make([]float64, rounds)
	for i := range ratios {
		var tf, tb time.Duration
		if i%2 == 0 {
			tf, tb = timed(f, chunk), timed(base, chunk)
		} else {
			tb, tf = timed(base, chunk), timed(f, chunk)
		}
		ratios[i] = float64(tf) / float64(max(tb, 1))
	}
	slices.Sort(ratios)
	return ratios[len(ratios)/2]
}

func timed(f func(n int), n int) time.Duration {
	t0 := threadCPU()
	f(n)
	return threadCPU() - t0
}
