package experimenttest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/splitcast/splitcast/experiment"
)

// RunStoreTests runs the behaviour every experiment.Store must have against
// stores made by newStore, which must return an empty store for each call.
// Versions are built with the experiment package's own actions, with
// timestamps in whole seconds: a store may keep no finer time than that.
func RunStoreTests(t *testing.T, newStore func(t *testing.T) experiment.Store) {
	t.Run("CreateGet", func(t *testing.T) { testCreateGet(t, newStore(t)) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, newStore(t)) })
	t.Run("History", func(t *testing.T) { testHistory(t, newStore(t)) })
	t.Run("SaveConflict", func(t *testing.T) { testSaveConflict(t, newStore(t)) })
	t.Run("List", func(t *testing.T) { testList(t, newStore(t)) })
	t.Run("ConcurrentSave", func(t *testing.T) { testConcurrentSave(t, newStore(t)) })
	t.Run("ConcurrentCreate", func(t *testing.T) { testConcurrentCreate(t, newStore(t)) })
}

// suiteNow is the suite's clock origin: whole seconds, UTC.
var suiteNow = time.Date(2025, 3, 1, 9, 30, 0, 0, time.UTC)

// NewExperiment returns a valid definition, not yet created: an experiment
// with a rule segment and a catch-all, three variants each, with payloads.
func NewExperiment(key string, ch experiment.Channel) experiment.Experiment {
	payload := func(subject string) json.RawMessage {
		return json.RawMessage(fmt.Sprintf(`{"subject":%q,"cta":{"text":"Go","url":"https://example.com/start"}}`, subject))
	}
	variants := func() []experiment.Variant {
		return []experiment.Variant{
			{Key: "control", Name: "Current", Weight: 2, Control: true, Payload: payload("Welcome")},
			{Key: "short", Weight: 1, Payload: payload("You're in")},
			{Key: "personal", Weight: 1, Payload: payload("Hello from the founder")},
		}
	}
	return experiment.Experiment{
		Key:         key,
		Name:        "Welcome " + key,
		Description: `A "quoted" description with a comma, and unicode: é`,
		Channel:     ch,
		Allocation:  experiment.Full,
		Holdout:     500,
		Segments: []experiment.Segment{
			{Key: "pro", Rule: &experiment.Rule{Attr: "plan", Op: experiment.OpIn, Values: []any{"pro", "pro_trial"}}, Variants: variants()},
			{Key: "everyone", Variants: variants()},
		},
		PrimaryMetric: experiment.MetricClickRate,
	}
}

// MustCreate creates e in s and returns its version 1.
func MustCreate(t testing.TB, s experiment.Store, e experiment.Experiment) experiment.Version {
	t.Helper()
	v, err := experiment.Create(e, "ana", "first draft", suiteNow)
	if err != nil {
		t.Fatalf("experiment.Create(%s): %v", e.Key, err)
	}
	if err := s.Create(context.Background(), v); err != nil {
		t.Fatalf("Create(%s): %v", e.Key, err)
	}
	return v
}

// action is one of the experiment package's versioned lifecycle actions.
type action func(cur experiment.Experiment, author, reason string, now time.Time) (experiment.Version, error)

// mustSave applies act to the current definition of key and saves the
// result, one minute after the current version.
func mustSave(t testing.TB, s experiment.Store, key string, act action) experiment.Version {
	t.Helper()
	ctx := context.Background()
	cur, err := s.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	v, err := act(cur, "bo", "next step", cur.UpdatedAt.Add(time.Minute))
	if err != nil {
		t.Fatalf("action on %s version %d: %v", key, cur.Version, err)
	}
	if err := s.Save(ctx, v); err != nil {
		t.Fatalf("Save(%s version %d): %v", key, v.Version, err)
	}
	return v
}

func mustJSON(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func wantCode(t testing.TB, what string, err error, code string) {
	t.Helper()
	if got := experiment.ErrorCode(err); got != code {
		t.Errorf("%s = %v (code %q), want code %q", what, err, got, code)
	}
}

func keys(es []experiment.Experiment) string {
	var ks []string
	for _, e := range es {
		ks = append(ks, e.Key)
	}
	return strings.Join(ks, ",")
}

func testCreateGet(t *testing.T, s experiment.Store) {
	ctx := context.Background()
	v1 := MustCreate(t, s, NewExperiment("welcome", experiment.ChannelEmail))
	got, err := s.Get(ctx, "welcome")
	if err != nil {
		t.Fatalf("Get(welcome): %v", err)
	}
	if g, w := mustJSON(t, got), mustJSON(t, v1.Definition); g != w {
		t.Errorf("Get(welcome) =\n%s\nwant\n%s", g, w)
	}
	got.Segments[0].Variants[0].Key = "mutated"
	if again, _ := s.Get(ctx, "welcome"); again.Segments[0].Variants[0].Key == "mutated" {
		t.Errorf("Get returned state shared with the store")
	}

	wantCode(t, "Create(welcome) again", s.Create(ctx, v1), experiment.ECONFLICT)
	other, err := experiment.Create(NewExperiment("welcome", experiment.ChannelPush), "cy", "", suiteNow.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "Create(welcome) with another definition", s.Create(ctx, other), experiment.ECONFLICT)

	v2, err := experiment.Start(v1.Definition, "ana", "", suiteNow.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	v2.Experiment, v2.Definition.Key = "fresh", "fresh"
	wantCode(t, "Create(version 2)", s.Create(ctx, v2), experiment.EINVALID)
	if _, err := s.Get(ctx, "fresh"); experiment.ErrorCode(err) != experiment.ENOTFOUND {
		t.Errorf("Get(fresh) after a refused Create = %v, want ENOTFOUND", err)
	}
}

func testNotFound(t *testing.T, s experiment.Store) {
	ctx := context.Background()
	_, err := s.Get(ctx, "nope")
	wantCode(t, "Get(nope)", err, experiment.ENOTFOUND)
	_, err = s.History(ctx, "nope")
	wantCode(t, "History(nope)", err, experiment.ENOTFOUND)

	v1, err := experiment.Create(NewExperiment("nope", experiment.ChannelEmail), "ana", "", suiteNow)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := experiment.Start(v1.Definition, "ana", "", suiteNow.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "Save(nope version 2)", s.Save(ctx, v2), experiment.ENOTFOUND)

	l, err := s.List(ctx, experiment.Filter{})
	if err != nil || len(l) != 0 {
		t.Errorf("List of an empty store = %q, %v; want none", keys(l), err)
	}
	r, err := s.ListRunning(ctx)
	if err != nil || len(r) != 0 {
		t.Errorf("ListRunning of an empty store = %q, %v; want none", keys(r), err)
	}
}

func testHistory(t *testing.T, s experiment.Store) {
	ctx := context.Background()
	want := []experiment.Version{MustCreate(t, s, NewExperiment("welcome", experiment.ChannelEmail))}
	want = append(want, mustSave(t, s, "welcome", experiment.Start))
	want = append(want, mustSave(t, s, "welcome", experiment.Pause))
	want = append(want, mustSave(t, s, "welcome", experiment.Resume))
	want = append(want, mustSave(t, s, "welcome", func(cur experiment.Experiment, author, _ string, now time.Time) (experiment.Version, error) {
		return experiment.Retire(cur, "pro", "short", author, "worse than control: p=0.001", now)
	}))
	// Another experiment's versions must not show.
	MustCreate(t, s, NewExperiment("other", experiment.ChannelPush))
	mustSave(t, s, "other", experiment.Start)

	h, err := s.History(ctx, "welcome")
	if err != nil {
		t.Fatalf("History(welcome): %v", err)
	}
	if len(h) != len(want) {
		t.Fatalf("History(welcome) has %d versions, want %d", len(h), len(want))
	}
	for i := range want {
		g, w := h[i], want[i]
		if g.Experiment != w.Experiment || g.Version != w.Version || g.Action != w.Action ||
			g.Author != w.Author || g.Reason != w.Reason || !g.CreatedAt.Equal(w.CreatedAt) {
			t.Errorf("History(welcome)[%d] = %s v%d %s by %s at %v (%q), want %s v%d %s by %s at %v (%q)", i,
				g.Experiment, g.Version, g.Action, g.Author, g.CreatedAt, g.Reason,
				w.Experiment, w.Version, w.Action, w.Author, w.CreatedAt, w.Reason)
		}
		if gj, wj := mustJSON(t, g.Definition), mustJSON(t, w.Definition); gj != wj {
			t.Errorf("History(welcome)[%d].Definition =\n%s\nwant\n%s", i, gj, wj)
		}
	}
	got, err := s.Get(ctx, "welcome")
	if err != nil || got.Version != 5 || !got.Segments[0].Variants[1].Retired {
		t.Errorf("Get(welcome) = version %d, retired %v, %v; want version 5 with short retired",
			got.Version, got.Segments[0].Variants[1].Retired, err)
	}
}

func testSaveConflict(t *testing.T, s experiment.Store) {
	ctx := context.Background()
	v1 := MustCreate(t, s, NewExperiment("welcome", experiment.ChannelEmail))
	v2 := mustSave(t, s, "welcome", experiment.Start)

	wantCode(t, "Save(version 2) again", s.Save(ctx, v2), experiment.ECONFLICT)
	stale, err := experiment.Archive(v1.Definition, "cy", "", suiteNow.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "Save(stale version 2)", s.Save(ctx, stale), experiment.ECONFLICT)
	v3, err := experiment.Pause(v2.Definition, "cy", "", suiteNow.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	v4, err := experiment.Resume(v3.Definition, "cy", "", suiteNow.Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "Save(version 4 over version 2)", s.Save(ctx, v4), experiment.ECONFLICT)
	bad := v3
	bad.Definition.Version = 7
	wantCode(t, "Save(record and definition disagree)", s.Save(ctx, bad), experiment.EINVALID)

	if err := s.Save(ctx, v3); err != nil {
		t.Fatalf("Save(version 3): %v", err)
	}
	got, err := s.Get(ctx, "welcome")
	if err != nil || got.Version != 3 || got.Status != experiment.StatusPaused {
		t.Errorf("Get(welcome) = version %d %s, %v; want version 3 paused", got.Version, got.Status, err)
	}
	if h, err := s.History(ctx, "welcome"); err != nil || len(h) != 3 || h[1].Action != experiment.ActionStart {
		t.Errorf("History(welcome) = %d versions, %v; want create, start, pause", len(h), err)
	}
}

func testList(t *testing.T, s experiment.Store) {
	ctx := context.Background()
	layered := func(key string, ch experiment.Channel) experiment.Experiment {
		e := NewExperiment(key, ch)
		e.Layer = &experiment.Layer{Name: "hero", SlotStart: 0, SlotEnd: 5000}
		return e
	}
	// Created out of key order; each ends in the status its name says.
	MustCreate(t, s, NewExperiment("e-completed", experiment.ChannelEmail))
	mustSave(t, s, "e-completed", experiment.Start)
	mustSave(t, s, "e-completed", experiment.Complete)
	MustCreate(t, s, layered("d-paused", experiment.ChannelSMS))
	mustSave(t, s, "d-paused", experiment.Start)
	mustSave(t, s, "d-paused", experiment.Pause)
	MustCreate(t, s, NewExperiment("b-running", experiment.ChannelPush))
	mustSave(t, s, "b-running", experiment.Start)
	MustCreate(t, s, NewExperiment("a-draft", experiment.ChannelEmail))
	MustCreate(t, s, layered("c-running", experiment.ChannelEmail))
	mustSave(t, s, "c-running", experiment.Start)
	// An experiment whose payload mentions a channel and a layer must not
	// match filters on them.
	tricky := NewExperiment("f-draft", experiment.ChannelInApp)
	tricky.Segments[1].Variants[0].Payload = json.RawMessage(`{"channel":"email","layer":{"name":"hero"},"status":"running"}`)
	MustCreate(t, s, tricky)

	for _, tc := range []struct {
		f    experiment.Filter
		want string
	}{
		{experiment.Filter{}, "a-draft,b-running,c-running,d-paused,e-completed,f-draft"},
		{experiment.Filter{Status: experiment.StatusRunning}, "b-running,c-running"},
		{experiment.Filter{Status: experiment.StatusPaused}, "d-paused"},
		{experiment.Filter{Status: experiment.StatusArchived}, ""},
		{experiment.Filter{Channel: experiment.ChannelEmail}, "a-draft,c-running,e-completed"},
		{experiment.Filter{Layer: "hero"}, "c-running,d-paused"},
		{experiment.Filter{Layer: "hero", Status: experiment.StatusRunning}, "c-running"},
		{experiment.Filter{Offset: 1, Limit: 2}, "b-running,c-running"},
		{experiment.Filter{Limit: 10}, "a-draft,b-running,c-running,d-paused,e-completed,f-draft"},
		{experiment.Filter{Offset: 5}, "f-draft"},
		{experiment.Filter{Offset: 6}, ""},
		{experiment.Filter{Channel: experiment.ChannelEmail, Offset: 1, Limit: 1}, "c-running"},
		{experiment.Filter{Status: experiment.StatusRunning, Limit: 1}, "b-running"},
	} {
		got, err := s.List(ctx, tc.f)
		if err != nil {
			t.Errorf("List(%+v): %v", tc.f, err)
			continue
		}
		if keys(got) != tc.want {
			t.Errorf("List(%+v) = %q, want %q", tc.f, keys(got), tc.want)
		}
		for _, e := range got {
			if !tc.f.Match(e) {
				t.Errorf("List(%+v) returned %s (%s, %s), which the filter does not match", tc.f, e.Key, e.Status, e.Channel)
			}
		}
	}

	run, err := s.ListRunning(ctx)
	if err != nil || keys(run) != "b-running,c-running" {
		t.Errorf("ListRunning = %q, %v; want %q", keys(run), err, "b-running,c-running")
	}
	for _, e := range run {
		if e.Version != 2 {
			t.Errorf("ListRunning gave %s at version %d, want its current version 2", e.Key, e.Version)
		}
	}
}

func testConcurrentSave(t *testing.T, s experiment.Store) {
	ctx := context.Background()
	v1 := MustCreate(t, s, NewExperiment("welcome", experiment.ChannelEmail))

	// Writers that all start from version 1, each with its own version 2:
	// exactly one wins, and the store then holds the winner's.
	const writers = 8
	errs := make([]error, writers)
	names := make([]string, writers)
	var wg sync.WaitGroup
	for i := range writers {
		edited := v1.Definition.Clone()
		edited.Name = fmt.Sprintf("edit by writer %d", i)
		names[i] = edited.Name
		v2, err := experiment.EditDraft(v1.Definition, edited, fmt.Sprintf("writer-%d", i), "", suiteNow.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Save(ctx, v2)
		}()
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch experiment.ErrorCode(err) {
		case "":
			if winner >= 0 {
				t.Errorf("writers %d and %d both saved version 2", winner, i)
			}
			winner = i
		case experiment.ECONFLICT:
		default:
			t.Errorf("Save by writer %d = %v, want success or ECONFLICT", i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("no writer saved version 2: %v", errs)
	}
	got, err := s.Get(ctx, "welcome")
	if err != nil || got.Version != 2 || got.Name != names[winner] {
		t.Errorf("Get(welcome) = version %d %q, %v; want version 2 %q", got.Version, got.Name, err, names[winner])
	}
	h, err := s.History(ctx, "welcome")
	if err != nil || len(h) != 2 || h[1].Author != fmt.Sprintf("writer-%d", winner) {
		t.Errorf("History(welcome) = %d versions, %v; want 2, the last by writer-%d", len(h), err, winner)
	}
}

func testConcurrentCreate(t *testing.T, s experiment.Store) {
	ctx := context.Background()
	const writers = 4
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for i := range writers {
		v1, err := experiment.Create(NewExperiment("welcome", experiment.ChannelEmail), fmt.Sprintf("writer-%d", i), "", suiteNow)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Create(ctx, v1)
		}()
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch experiment.ErrorCode(err) {
		case "":
			won++
		case experiment.ECONFLICT:
		default:
			t.Errorf("Create by writer %d = %v, want success or ECONFLICT", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d concurrent creates of welcome succeeded, want 1", won)
	}
	if h, err := s.History(ctx, "welcome"); err != nil || len(h) != 1 {
		t.Errorf("History(welcome) = %d versions, %v; want 1", len(h), err)
	}
}
