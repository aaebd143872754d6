package assign_test

import (
	"bytes"
	"os"
	"os/exec"
	"testing"

	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/assign/assigntest"
)

const vectorsPath = "../testdata/assignment/vectors.json"

// TestVectors runs the vectors of the independent Python implementation.
func TestVectors(t *testing.T) {
	v := assigntest.Load(t, vectorsPath)
	s, err := assign.NewSnapshot(v.Experiments)
	if err != nil {
		t.Fatalf("NewSnapshot(vectors) = %v", err)
	}
	if s.Len() != len(v.Experiments) {
		t.Fatalf("snapshot holds %d of %d experiments", s.Len(), len(v.Experiments))
	}
	if len(v.Cases) < 300 {
		t.Errorf("only %d vectors", len(v.Cases))
	}
	assigntest.Run(t, v, func(key, unit string, attrs assign.Attributes) (assign.Assignment, error) {
		return s.Assign(key, unit, attrs)
	})
}

// TestVectorsUpToDate regenerates the vectors, so that the file and the
// generator beside it cannot drift apart.
func TestVectorsUpToDate(t *testing.T) {
	const py = "/usr/bin/python3"
	if _, err := os.Stat(py); err != nil {
		t.Skip("no /usr/bin/python3")
	}
	cmd := exec.Command(py, "testdata/assignment/generate.py")
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("generate.py: %v", err)
	}
	want, err := os.ReadFile(vectorsPath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, want) {
		t.Errorf("testdata/assignment/vectors.json is stale: run /usr/bin/python3 testdata/assignment/generate.py > testdata/assignment/vectors.json")
	}
}
