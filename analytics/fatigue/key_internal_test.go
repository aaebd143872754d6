package fatigue

import "testing"

// TestMurmur64A pins murmur64A to values ClickHouse 18.16 gave for
// murmurHash2_64 (analytics/clickhouse's TestFatigueKeys holds the two
// equal on many more ids, against a real server).
func TestMurmur64A(t *testing.T) {
	for s, want := range map[string]uint64{"": 0, "abc": 11297775770902552315} {
		if got := murmur64A(s); got != want {
			t.Errorf("murmur64A(%q) = %d, want %d", s, got, want)
		}
	}
}
