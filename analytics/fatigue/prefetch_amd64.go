package fatigue

// prefetch asks the CPU to start loading the cache line at addr and goes
// on at once (PREFETCHT0: it never faults, whatever addr is, and waits for
// nothing), so that the line is there when a check reads it a few hundred
// nanoseconds later. Go has no portable prefetch; elsewhere it does nothing.
//
//go:noescape
func prefetch(addr uintptr)
