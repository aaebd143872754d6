package console

import (
	"context"
	"strings"
	"time"

	"github.com/splitcast/splitcast/analytics/traits"
	"github.com/splitcast/splitcast/experiment"
)

// createDraft saves the form as version 1 of a new draft. Its trait
// conditions are checked against cat (nil: the behavioural traits only), as
// the API checks them.
func createDraft(ctx context.Context, s experiment.Store, cat *traits.Catalogue, f *draftForm, by string, now time.Time) (experiment.Version, error) {
	e, err := f.experiment()
	if err != nil {
		return experiment.Version{}, err
	}
	if err := cat.CheckRules(&e); err != nil {
		return experiment.Version{}, err
	}
	v, err := experiment.Create(e, by, reasonOr(f.Reason, "created in the console"), now)
	if err != nil {
		return experiment.Version{}, err
	}
	return v, s.Create(ctx, v)
}

// editDraft saves the form as the next version of its draft, checked as
// createDraft checks it.
func editDraft(ctx context.Context, s experiment.Store, cat *traits.Catalogue, f *draftForm, by string, now time.Time) (experiment.Version, error) {
	e, err := f.experiment()
	if err != nil {
		return experiment.Version{}, err
	}
	if err := cat.CheckRules(&e); err != nil {
		return experiment.Version{}, err
	}
	return experiment.Apply(ctx, s, f.Key, func(cur experiment.Experiment) (experiment.Version, error) {
		return experiment.EditDraft(cur, e, by, reasonOr(f.Reason, "edited in the console"), now)
	})
}

func reasonOr(r, def string) string {
	if r = strings.TrimSpace(r); r != "" {
		return r
	}
	return def
}

// actionForm is one action's form: which, why, and its arguments.
type actionForm struct {
	Act, Reason, Segment, Variant, Allocation string
}

// lifecycle are the lifecycle actions by their form names.
var lifecycle = map[string]func(experiment.Experiment, string, string, time.Time) (experiment.Version, error){
	"start": experiment.Start, "pause": experiment.Pause, "resume": experiment.Resume,
	"complete": experiment.Complete, "archive": experiment.Archive,
}

// runAction applies an action of the detail page through experiment.Apply.
// Every action asks for a reason: it is what the history says of it.
func runAction(ctx context.Context, s experiment.Store, key string, a actionForm, by string, now time.Time) (experiment.Version, error) {
	if strings.TrimSpace(a.Reason) == "" {
		return experiment.Version{}, experiment.Invalid("reason", "say why: the reason goes into the version history")
	}
	var act func(experiment.Experiment) (experiment.Version, error)
	switch a.Act {
	case "retire":
		act = func(cur experiment.Experiment) (experiment.Version, error) {
			return experiment.Retire(cur, a.Segment, a.Variant, by, a.Reason, now)
		}
	case "allocation":
		b, err := percent("allocation", a.Allocation, -1)
		if err != nil {
			return experiment.Version{}, err
		}
		act = func(cur experiment.Experiment) (experiment.Version, error) {
			return experiment.SetAllocation(cur, b, by, a.Reason, now)
		}
	default:
		fn, ok := lifecycle[a.Act]
		if !ok {
			return experiment.Version{}, experiment.Invalid("act", "unknown action %q", a.Act)
		}
		act = func(cur experiment.Experiment) (experiment.Version, error) { return fn(cur, by, a.Reason, now) }
	}
	return experiment.Apply(ctx, s, key, act)
}

// actions are the lifecycle actions the experiment's status allows, with
// the retirement and allocation forms when it is running.
type actions struct {
	Lifecycle  []string
	Retire     []retireOption
	Allocation bool
	Edit       bool
}

type retireOption struct{ Segment, Variant string }

func actionsOf(e experiment.Experiment) actions {
	var a actions
	for _, name := range []string{"start", "pause", "resume", "complete", "archive"} {
		if e.Status.CanBecome(targetOf[name]) && fromOK(name, e.Status) {
			a.Lifecycle = append(a.Lifecycle, name)
		}
	}
	a.Edit = e.Status == experiment.StatusDraft
	if e.Status == experiment.StatusRunning || e.Status == experiment.StatusPaused {
		a.Allocation = true
		for _, s := range e.Segments {
			if s.Concluded() {
				continue
			}
			for _, v := range s.Variants {
				if !v.Retired && !v.Control {
					a.Retire = append(a.Retire, retireOption{s.Key, v.Key})
				}
			}
		}
	}
	return a
}

var targetOf = map[string]experiment.Status{"start": experiment.StatusRunning, "pause": experiment.StatusPaused,
	"resume": experiment.StatusRunning, "complete": experiment.StatusCompleted, "archive": experiment.StatusArchived}

// fromOK tells start (from a draft) from resume (from paused), which go
// to the same status.
func fromOK(name string, from experiment.Status) bool {
	switch name {
	case "start":
		return from == experiment.StatusDraft
	case "resume":
		return from == experiment.StatusPaused
	}
	return true
}
