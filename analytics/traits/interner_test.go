package traits

import (
	"strings"
	"testing"
	"unsafe"
)

// TestInternerKeepsCopies: a value kept by the interner is a copy, not a
// slice of the string it came in (the ClickHouse reader hands out slices
// of each event's whole row, which a kept slice would keep alive).
func TestInternerKeepsCopies(t *testing.T) {
	row := strings.Repeat("x", 4096) + "shoes" + "books"
	str, list := row[4096:4101], []string{row[4101:4106]}
	in := newInterner()
	a, b := in.id(str), in.id(list)
	if in.id("shoes") != a || in.id([]string{"books"}) != b || a == b {
		t.Fatalf("ids %d, %d: not one per value", a, b)
	}
	within := func(s string) bool {
		p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(row)))
		return p >= lo && p < lo+uintptr(len(row))
	}
	if s := in.boxed[a].(string); s != "shoes" || within(s) {
		t.Errorf("kept %q, within the row: %v", s, within(s))
	}
	if l := in.boxed[b].([]string); len(l) != 1 || l[0] != "books" || within(l[0]) {
		t.Errorf("kept %q, within the row: %v", l, within(l[0]))
	}
}
