package analytics

import (
	"encoding/hex"
	"strings"
	"sync"
	"testing"
)

// TestIDs: ids are 32 lowercase hex digits, never repeat within a
// source, even from many goroutines, and two sources (two processes, or one
// restarted) start far apart.
func TestIDs(t *testing.T) {
	s := NewIDs()
	const goroutines, each = 8, 2000
	ids := make(chan string, goroutines*each)
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range each {
				ids <- string(s.AppendID(nil))
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
	if a, b := string(s.AppendID(nil)), string(s.AppendID(nil)); a[:16] == b[:16] {
		t.Errorf("consecutive ids %q and %q share their upper half", a, b)
	}
	other := NewIDs()
	if a, b := string(s.AppendID(nil)), string(other.AppendID(nil)); a[:16] == b[:16] {
		t.Errorf("two sources share the upper half %q of their ids", a[:16])
	}
	if got := string(s.AppendID([]byte("o:"))); !strings.HasPrefix(got, "o:") || len(got) != 34 {
		t.Errorf("AppendID(\"o:\") = %q, want o: and 32 hex digits", got)
	}
}

// TestIDsWraps: the counter wraps without a carry, so the ids after
// the wrap are ones this source has not made; each id is the counter block
// encrypted.
func TestIDsWraps(t *testing.T) {
	s := NewIDs()
	s.hi = 7
	s.lo.Store(^uint64(0) - 1)
	var got []string
	for range 2 {
		b, err := hex.DecodeString(string(s.AppendID(nil)))
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

// TestNextIDs: the ids of exposures and events without a key (send ids,
// when the caller gave none) are prefix + 32 lowercase hex digits and do
// not repeat.
func TestNextIDs(t *testing.T) {
	ids := NewIDs()
	seen := map[string]bool{}
	for range 5000 {
		id := ids.Next("x:")
		if b, err := hex.DecodeString(strings.TrimPrefix(id, "x:")); err != nil || len(b) != 16 || !strings.HasPrefix(id, "x:") || strings.ToLower(id) != id {
			t.Fatalf("Next(\"x:\") = %q, want x: and 32 lowercase hex digits", id)
		}
		if seen[id] {
			t.Fatalf("next made %q twice", id)
		}
		seen[id] = true
	}
}
