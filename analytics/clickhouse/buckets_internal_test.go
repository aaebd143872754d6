package clickhouse

import (
	"errors"
	"slices"
	"testing"
)

// TestEachBucketSplitsTooBig: a bucket whose read is too big is read again
// as its two halves, with every bucket of its size still to be read, until
// each fits; together the buckets read cover every hash exactly once, and
// any other error stops the reads.
func TestEachBucketSplitsTooBig(t *testing.T) {
	errBig, errOther := errors.New("too big"), errors.New("broken")
	// A bucket fits when it holds at most 4 of the 64 hashes 0..63.
	const hashes = 64
	holds := func(mod, rem uint64) []uint64 {
		var in []uint64
		for h := range uint64(hashes) {
			if h%mod == rem {
				in = append(in, h)
			}
		}
		return in
	}
	var read []uint64
	refused := 0
	err := eachBucket(3, func(mod, rem uint64) error {
		in := holds(mod, rem)
		if len(in) > 4 {
			refused++
			return errBig
		}
		read = append(read, in...)
		return nil
	}, func(err error) bool { return errors.Is(err, errBig) })
	if err != nil {
		t.Fatal(err)
	}
	// One refusal per size: a bucket of a size refused is not tried (3, 6
	// and 12 buckets hold up to 22, 11 and 6 hashes; 24 fit).
	if refused != 3 {
		t.Errorf("reads refused = %d, want 3: one per bucket size too big", refused)
	}
	slices.Sort(read)
	for i, h := range read {
		if uint64(i) != h || len(read) != hashes {
			t.Fatalf("hashes read = %v, want each of 0..%d once", read, hashes-1)
		}
	}

	calls := 0
	err = eachBucket(4, func(mod, rem uint64) error {
		calls++
		if rem == 1 {
			return errOther
		}
		return nil
	}, func(err error) bool { return errors.Is(err, errBig) })
	if !errors.Is(err, errOther) || calls != 2 {
		t.Errorf("eachBucket with a broken read = %v after %d reads, want errOther after 2", err, calls)
	}

	// Past maxBuckets a bucket too big is an error, not an endless split.
	err = eachBucket(1, func(uint64, uint64) error { return errBig }, func(err error) bool { return errors.Is(err, errBig) })
	if !errors.Is(err, errBig) {
		t.Errorf("eachBucket always too big = %v, want errBig", err)
	}
}
