//go:build !linux

package fatigue

// mapSlots is refused here: the slots come from Go's heap (see
// pages_linux.go).
func mapSlots(int) ([]slot, *mapping) { return nil, nil }

type mapping struct{}

func (*mapping) free() {}
