package jsonwire

import (
	"testing"
)

// TestJSONScannerNumber: number takes JSON's grammar and no more, leaving
// the scanner after what it read.
func TestJSONScannerNumber(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ok   bool
		read int
	}{
		{"0", true, 1}, {"-0", true, 2}, {"12.5e+3,", true, 7}, {"1E2}", true, 3}, {"01", true, 1},
		{"", false, 0}, {"-", false, 1}, {"+1", false, 0}, {".5", false, 0}, {"1.", false, 2}, {"1e", false, 2}, {"1e+", false, 3},
	} {
		p := NewScanner([]byte(tc.in))
		if ok := p.Number(); ok != tc.ok || ok && p.i != tc.read {
			t.Errorf("number(%q) = %v after %d bytes, want %v after %d", tc.in, ok, p.i, tc.ok, tc.read)
		}
	}
}

// TestJSONScannerNext: next reads a comma or the closing byte, after white
// space, and refuses anything else.
func TestJSONScannerNext(t *testing.T) {
	for _, tc := range []struct {
		in       string
		more, ok bool
	}{
		{",", true, true}, {" \n,", true, true}, {"}", false, true}, {"\t}", false, true},
		{"]", false, false}, {"", false, false}, {" x", false, false},
	} {
		p := NewScanner([]byte(tc.in))
		if more, ok := p.Next('}'); more != tc.more || ok != tc.ok {
			t.Errorf("next(%q) = %v, %v, want %v, %v", tc.in, more, ok, tc.more, tc.ok)
		}
	}
}
