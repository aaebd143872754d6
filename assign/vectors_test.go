package assign_test

import (
	"bytes"
	"os"
	"os/exec"
	"testing"

	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/assign/assigntest"
	"github.com/splitcast/splitcast/experiment"
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

// TestChannelVectors: a multi-channel experiment gives a unit the same
// answer on each of its channels, with the channel's payload.
func TestChannelVectors(t *testing.T) {
	v := assigntest.Load(t, vectorsPath)
	s, err := assign.NewSnapshot(v.ChannelExperiments)
	if err != nil || s.Len() != len(v.ChannelExperiments) || len(v.ChannelCases) == 0 {
		t.Fatalf("NewSnapshot(channel experiments) = %v; %d of %d, %d cases", err, s.Len(), len(v.ChannelExperiments), len(v.ChannelCases))
	}
	variants := map[string]string{}
	for _, c := range v.ChannelCases {
		t.Run(c.Name, func(t *testing.T) {
			got, target, err := s.AssignOn(c.Experiment, c.UnitID, c.Attributes, nil, c.Channel)
			if err != nil {
				t.Fatalf("AssignOn(%q, %q, %s) = %v", c.Experiment, c.UnitID, c.Channel, err)
			}
			if err := c.Check(got); err != nil {
				t.Errorf("AssignOn(%q, %q, %s): %v", c.Experiment, c.UnitID, c.Channel, err)
			}
			if target.Channel != c.Channel {
				t.Errorf("AssignOn(..., %s) target channel %s", c.Channel, target.Channel)
			}
			if prev, ok := variants[c.UnitID]; ok && prev != got.Variant {
				t.Errorf("unit %s: variant %q on %s, %q on another channel", c.UnitID, got.Variant, c.Channel, prev)
			}
			variants[c.UnitID] = got.Variant
		})
	}
	if _, _, err := s.AssignOn("multi-channel", "u", nil, nil, experiment.ChannelInApp); experiment.ErrorField(err) != "channel" {
		t.Errorf("AssignOn on a channel the experiment does not send on = %v, want an error on channel", err)
	}
	if _, _, err := s.AssignOn("multi-channel", "u", nil, nil, "fax"); experiment.ErrorField(err) != "channel" {
		t.Errorf("AssignOn on an unknown channel = %v, want an error on channel", err)
	}
}

func TestGlobalControlVectors(t *testing.T) {
	v := assigntest.Load(t, vectorsPath)
	if len(v.GlobalControl) == 0 {
		t.Fatal("no global control vectors")
	}
	for _, g := range v.GlobalControl {
		if h := assign.Hash(g.Salt, assign.GlobalControlPurpose, g.UnitID); h != g.Hash || assign.HashInput(g.Salt, assign.GlobalControlPurpose, g.UnitID) != g.Input {
			t.Errorf("global control hash of %q = %d, want %d", g.Input, h, g.Hash)
		}
		if in := assign.InGlobalControl(g.Salt, g.UnitID, g.Share); in != g.In {
			t.Errorf("InGlobalControl(%q, %q, %v) = %v, want %v", g.Salt, g.UnitID, g.Share, in, g.In)
		}
	}
}
