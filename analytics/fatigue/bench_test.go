package fatigue_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/splitcast/splitcast/analytics/fatigue"
	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

// BenchmarkAdmit measures what the fatigue check adds to an assignment, in
// one run: "assign" is the assignment alone (AssignOn, the example
// experiment), "assign+admit" the same followed by Gate.Admit with both
// caps on (3/168h, 1/24h), half the units having a recent send already; a
// unit cycles through 4 send ids (exposure ids as analytics makes them),
// so sends are admitted and capped. The check is made as the server makes
// it: Prefetch before the assignment, AdmitKey after. Two state sizes:
// 1,024 units, whose state stays in the CPU's caches (the check's own
// instructions), and 262,144 units (a 32 MB table), where each check
// misses the caches once, a miss Prefetch overlaps with the assignment.
// Compare the two sub-benchmarks of one run, never a number from another
// run:
//
//	go test -run '^$' -bench Admit -benchtime 2s -count 5 ./analytics/fatigue
func BenchmarkAdmit(b *testing.B) {
	e, snap := exampleSnapshot(b)
	attrs := assign.Attributes{"plan": "free", "country": "US"}
	sends := exposureIDs()
	for _, shift := range []uint{10, 18} {
		units := 1 << shift
		ids, g := warmGate(b, units)
		b.Run(fmt.Sprintf("units=%d/assign", units), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if _, _, err := snap.AssignOn(e.Key, ids[i&(units-1)], attrs, nil, ""); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("units=%d/assign+admit", units), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				u := ids[i&(units-1)]
				k := g.Prefetch(u)
				a, target, err := snap.AssignOn(e.Key, u, attrs, nil, "")
				if err != nil {
					b.Fatal(err)
				}
				if a.InExperiment {
					g.AdmitKey(k, u, target, sends[(i>>shift)&3], t0)
				}
			}
		})
	}
}

// exampleSnapshot is docs/examples/experiment.json, running, compiled.
func exampleSnapshot(tb testing.TB) (experiment.Experiment, *assign.Snapshot) {
	data, err := os.ReadFile("../../docs/examples/experiment.json")
	if err != nil {
		tb.Fatal(err)
	}
	e, err := experiment.Decode(data)
	if err != nil {
		tb.Fatal(err)
	}
	e.Status, e.Version = experiment.StatusRunning, 1
	snap, err := assign.NewSnapshot([]experiment.Experiment{e})
	if err != nil {
		tb.Fatal(err)
	}
	return e, snap
}

// exposureIDs are 4 exposure ids as analytics makes them.
func exposureIDs() []string {
	return []string{"x:0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a0a", "x:1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b1b",
		"x:2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c2c", "x:3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d"}
}

// warmGate is a gate with both caps (3/168h, 1/24h) and the ids of units
// units, half of which have a push sent already.
func warmGate(tb testing.TB, units int) ([]string, *fatigue.Gate) {
	g := fatigue.NewGate(fatigue.Config{Policy: fatigue.Policy{Total: mustCap(tb, "3/168h"), PerChannel: mustCap(tb, "1/24h")}})
	ids := make([]string, units)
	for i := range ids {
		ids[i] = fmt.Sprintf("user-%07d", i)
		if i%2 == 0 {
			g.Admit(ids[i], on(experiment.ChannelPush), "warm", t0)
		}
	}
	return ids, g
}
