package fatigue

import (
	"runtime"
	"syscall"
	"unsafe"
)

// mapSlots returns n slots, n*64 bytes a multiple of hugePage, in memory
// mapped for them alone, outside Go's heap, and asks the kernel to back
// it with 2 MB pages (MADV_HUGEPAGE; transparent huge pages are usually
// enabled for such requests only). Beyond the CPU's caches a check's cost
// was the page walk more than the miss: with the table in 4 KB pages, 32
// MB of them, PREFETCHT0 waits for the walk to find the line, so the
// prefetch held the assignment up instead of overlapping with it (in a
// CPU profile, 220 ns a prefetch, 75 with 2 MB pages). Go's heap gives no
// way to ask for them. slots is nil when the mapping failed; the caller
// then takes them from the heap. Without huge pages in
// the kernel the mapping is kept in 4 KB pages, as the heap's would be.
func mapSlots(n int) (slots []slot, m *mapping) {
	size := n * int(unsafe.Sizeof(slot{}))
	// One page more than asked, to start the slots on a 2 MB boundary:
	// the kernel maps a huge page only where one fits whole.
	b, err := syscall.Mmap(-1, 0, size+hugePage, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return nil, nil
	}
	off := int(-uintptr(unsafe.Pointer(&b[0])) & (hugePage - 1))
	_ = syscall.Madvise(b[off:off+size], syscall.MADV_HUGEPAGE) // a hint: without it, 4 KB pages
	m = &mapping{}
	// A gate dropped without its tables being rebuilt (a test's, a
	// replaced policy's) returns its mappings once it is collected.
	m.cleanup = runtime.AddCleanup(m, unmap, b)
	m.b = b
	return unsafe.Slice((*slot)(unsafe.Pointer(&b[off])), n), m
}

// mapping is memory of mapSlots, until free or, if never freed, until
// nothing refers to it.
type mapping struct {
	b       []byte
	cleanup runtime.Cleanup
}

// free unmaps m at once: its table has been rebuilt elsewhere.
func (m *mapping) free() {
	m.cleanup.Stop()
	unmap(m.b)
}

func unmap(b []byte) { _ = syscall.Munmap(b) }
