package assign_test

import (
	"bytes"
	"os"
	"os/exec"
	"testing"

	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/assign/assigntest"
)

const reweightPath = "../testdata/assignment/reweight.json"

// TestReweightVectors runs the weight-change vectors (a bandit segment's
// successive versions) and checks the stickiness rule of
// docs/assignment.md section 6 on them: between two versions a unit keeps
// its variant bucket, and it changes variant exactly when that bucket
// falls in another variant's range under the new weights.
func TestReweightVectors(t *testing.T) {
	v := assigntest.Load(t, reweightPath)
	s, err := assign.NewSnapshot(v.Experiments)
	if err != nil {
		t.Fatalf("NewSnapshot(reweight vectors) = %v", err)
	}
	assigntest.Run(t, v, func(key, unit string, attrs assign.Attributes) (assign.Assignment, error) {
		return s.Assign(key, unit, attrs)
	})
	byUnit := map[string][]assign.Assignment{}
	for _, e := range v.Experiments {
		for _, c := range v.Cases {
			if c.Experiment != e.Key {
				continue
			}
			a, err := s.Assign(e.Key, c.UnitID, nil)
			if err != nil {
				t.Fatal(err)
			}
			byUnit[c.UnitID] = append(byUnit[c.UnitID], a)
		}
	}
	moved := 0
	for unit, as := range byUnit {
		for i := 1; i < len(as); i++ {
			prev, cur := as[i-1], as[i]
			if prev.Holdout != cur.Holdout || (!cur.Holdout && prev.Buckets.Variant != cur.Buckets.Variant) {
				t.Errorf("unit %s: holdout or variant bucket changed with the weights (%+v -> %+v)", unit, prev.Buckets, cur.Buckets)
			}
			if prev.Variant != cur.Variant {
				moved++
			}
		}
	}
	if moved == 0 {
		t.Errorf("no unit changed variant across the weight changes: the vectors do not exercise re-sends")
	}
}

// TestReweightVectorsUpToDate regenerates the weight-change vectors.
func TestReweightVectorsUpToDate(t *testing.T) {
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	cmd := exec.Command(py, "testdata/assignment/generate_reweight.py")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("generate_reweight.py: %v", err)
	}
	want, err := os.ReadFile(reweightPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, want) {
		t.Errorf("%s is stale: run /usr/bin/python3 testdata/assignment/generate_reweight.py > testdata/assignment/reweight.json", reweightPath)
	}
}
