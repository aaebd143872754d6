// Package assigntest runs the language-neutral assignment vectors of
// testdata/assignment against any implementation of the assignment contract:
// the assign package itself, and the Go SDK's local evaluation.
package assigntest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

// Vectors is the content of testdata/assignment/vectors.json.
type Vectors struct {
	Murmur3     []HashVector            `json:"murmur3"`
	Buckets     []BucketVector          `json:"buckets"`
	Experiments []experiment.Experiment `json:"experiments"`
	Cases       []Case                  `json:"cases"`
	// ChannelExperiments are multi-channel experiments, and ChannelCases
	// their units on each channel: the same answer on every channel but
	// the payload, which is the channel's.
	ChannelExperiments []experiment.Experiment `json:"channel_experiments"`
	ChannelCases       []ChannelCase           `json:"channel_cases"`
	// GlobalControl are units in or out of a deployment's global control
	// group.
	GlobalControl []GlobalControlVector `json:"global_control"`
}

// ChannelCase is a Case asked on one channel.
type ChannelCase struct {
	Case
	Channel experiment.Channel `json:"channel"`
}

// GlobalControlVector is one unit's global control hash under a salt and
// whether it is in a group of share percent.
type GlobalControlVector struct {
	Salt   string                 `json:"salt"`
	Share  experiment.BasisPoints `json:"share"`
	UnitID string                 `json:"unit_id"`
	Input  string                 `json:"input"`
	Hash   uint32                 `json:"hash"`
	Bucket int                    `json:"bucket"`
	In     bool                   `json:"in"`
}

// HashVector is one reference murmur3 x86 32-bit value.
type HashVector struct {
	Input string `json:"input"`
	Seed  uint32 `json:"seed"`
	Hash  uint32 `json:"hash"`
}

// BucketVector is one hash-to-bucket mapping.
type BucketVector struct {
	Hash   uint32 `json:"hash"`
	Bucket int    `json:"bucket"`
}

// Case is one unit of one experiment: the hash inputs the contract computes
// for it, in order, and the expected answer.
type Case struct {
	Name       string            `json:"name"`
	Experiment string            `json:"experiment"`
	UnitID     string            `json:"unit_id"`
	Attributes assign.Attributes `json:"attributes"`
	Hashes     []HashStep        `json:"hashes"`
	Want       Want              `json:"want"`
}

// HashStep is one hash input string, its hash and its bucket.
type HashStep struct {
	Input  string `json:"input"`
	Hash   uint32 `json:"hash"`
	Bucket int    `json:"bucket"`
}

// Want is the expected assignment.
type Want struct {
	InExperiment bool            `json:"in_experiment"`
	Holdout      bool            `json:"holdout"`
	Segment      string          `json:"segment"`
	Variant      string          `json:"variant"`
	Reason       assign.Reason   `json:"reason"`
	Buckets      assign.Buckets  `json:"buckets"`
	Payload      json.RawMessage `json:"payload"`
}

// Load reads a vectors file, failing tb if it cannot.
func Load(tb testing.TB, path string) *Vectors {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("read vectors: %v", err)
	}
	var v Vectors
	if err := json.Unmarshal(data, &v); err != nil {
		tb.Fatalf("decode vectors %s: %v", path, err)
	}
	if len(v.Cases) == 0 {
		tb.Fatalf("vectors %s hold no cases", path)
	}
	return &v
}

// AssignFunc is the implementation under test.
type AssignFunc func(experimentKey, unitID string, attrs assign.Attributes) (assign.Assignment, error)

// Run checks every case against f, one subtest per case, and the hash and
// bucket vectors against assign.Sum32 and assign.Bucket.
func Run(t *testing.T, v *Vectors, f AssignFunc) {
	t.Helper()
	for _, h := range v.Murmur3 {
		if got := assign.Sum32(h.Input); h.Seed == 0 && got != h.Hash {
			t.Errorf("Sum32(%q) = %d, want %d", h.Input, got, h.Hash)
		}
	}
	for _, b := range v.Buckets {
		if got := assign.Bucket(b.Hash); got != b.Bucket {
			t.Errorf("Bucket(%d) = %d, want %d", b.Hash, got, b.Bucket)
		}
	}
	for _, c := range v.Cases {
		t.Run(c.Name, func(t *testing.T) {
			for _, h := range c.Hashes {
				if got := assign.Sum32(h.Input); got != h.Hash || assign.Bucket(got) != h.Bucket {
					t.Errorf("hash of %q = %d (bucket %d), want %d (bucket %d)", h.Input, got, assign.Bucket(got), h.Hash, h.Bucket)
				}
			}
			got, err := f(c.Experiment, c.UnitID, c.Attributes)
			if err != nil {
				t.Fatalf("Assign(%q, %q) = %v", c.Experiment, c.UnitID, err)
			}
			if err := c.Check(got); err != nil {
				t.Errorf("Assign(%q, %q, %v): %v", c.Experiment, c.UnitID, c.Attributes, err)
			}
		})
	}
}

// Check compares an assignment with the case's expectation and describes
// every difference.
func (c Case) Check(got assign.Assignment) error {
	w := c.Want
	var diffs []string
	add := func(field string, g, w any) {
		if !reflect.DeepEqual(g, w) {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", field, g, w))
		}
	}
	add("experiment", got.Experiment, c.Experiment)
	add("in_experiment", got.InExperiment, w.InExperiment)
	add("holdout", got.Holdout, w.Holdout)
	add("segment", got.Segment, w.Segment)
	add("variant", got.Variant, w.Variant)
	add("reason", got.Reason, w.Reason)
	add("buckets", got.Buckets, w.Buckets)
	if !jsonEqual(got.Payload, w.Payload) {
		diffs = append(diffs, fmt.Sprintf("payload = %s, want %s", got.Payload, w.Payload))
	}
	if len(diffs) > 0 {
		return fmt.Errorf("%s", strings.Join(diffs, "; "))
	}
	return nil
}

func jsonEqual(a, b json.RawMessage) bool {
	a, b = bytes.TrimSpace(a), bytes.TrimSpace(b)
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(x, y)
}
