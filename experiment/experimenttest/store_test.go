package experimenttest_test

import (
	"context"
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/splitcast/splitcast/experiment"
	"github.com/splitcast/splitcast/experiment/experimenttest"
)

func TestStore(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	data, err := os.ReadFile("../../docs/examples/experiment.json")
	if err != nil {
		t.Fatal(err)
	}
	var e experiment.Experiment
	if err := json.Unmarshal(data, &e); err != nil {
		t.Fatal(err)
	}
	v1, err := experiment.Create(e, "ana", "", now)
	if err != nil {
		t.Fatal(err)
	}
	s := experimenttest.NewStore()
	if err := s.Create(ctx, v1); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if err := s.Create(ctx, v1); experiment.ErrorCode(err) != experiment.ECONFLICT {
		t.Errorf("Create twice = %v, want ECONFLICT", err)
	}
	if _, err := s.Get(ctx, "nope"); experiment.ErrorCode(err) != experiment.ENOTFOUND {
		t.Errorf("Get(nope) = %v, want ENOTFOUND", err)
	}
	if run, _ := s.ListRunning(ctx); len(run) != 0 {
		t.Errorf("ListRunning = %d experiments, want 0", len(run))
	}

	// Two writers start from version 1: exactly one wins.
	v2, err := experiment.Start(v1.Definition, "ana", "", now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Save(ctx, v2)
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch experiment.ErrorCode(err) {
		case "":
			won++
		case experiment.ECONFLICT:
		default:
			t.Errorf("Save = %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d concurrent saves of version 2 won, want 1", won)
	}

	got, err := s.Get(ctx, e.Key)
	if err != nil || got.Version != 2 || got.Status != experiment.StatusRunning {
		t.Fatalf("Get = version %d status %s, %v", got.Version, got.Status, err)
	}
	got.Segments[0].Key = "mutated"
	if again, _ := s.Get(ctx, e.Key); again.Segments[0].Key == "mutated" {
		t.Errorf("Get returned shared state")
	}
	h, err := s.History(ctx, e.Key)
	if err != nil || len(h) != 2 || h[0].Action != experiment.ActionCreate || h[1].Action != experiment.ActionStart {
		t.Fatalf("History = %+v, %v", h, err)
	}
	if run, _ := s.ListRunning(ctx); len(run) != 1 {
		t.Errorf("ListRunning = %d experiments, want 1", len(run))
	}
	if l, _ := s.List(ctx, experiment.Filter{Channel: experiment.ChannelPush}); len(l) != 0 {
		t.Errorf("List(push) = %d experiments, want 0", len(l))
	}
}
