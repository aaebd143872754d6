package retire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/experiment"
)

// Loop applies Decide to every running experiment whose
// policy is automatic. Every decision becomes a new version through
// experiment.Retire or experiment.Conclude and Store.Save, whose optimistic
// concurrency refuses a decision made on a stale version (ECONFLICT): the
// loop then leaves the experiment alone until its next look, which decides
// again on fresh data. It never brings a retired variant back, because a
// decision is only ever about the active variants of the current version.
type Loop struct {
	Store  experiment.Store
	Reader results.AggregateReader
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Author signs the versions (default "retirement-loop").
	Author string
	// Logger logs each applied decision and each failure (default: none).
	Logger *slog.Logger
}

// Applied is a decision the loop saved, with the version it made.
type Applied struct {
	Experiment string `json:"experiment"`
	Version    uint32 `json:"version"`
	results.Decision
}

// RunOnce looks at every running experiment once and returns the decisions
// it saved. An error with one experiment does not stop the others; the
// errors are joined. A conflict (someone saved first) is not an error.
func (l *Loop) RunOnce(ctx context.Context) ([]Applied, error) {
	running, err := l.Store.ListRunning(ctx)
	if err != nil {
		return nil, fmt.Errorf("retirement: list running: %w", err)
	}
	var applied []Applied
	var errs []error
	for _, e := range running {
		if !e.Retirement.Auto {
			continue
		}
		a, err := l.runExperiment(ctx, e.Key)
		applied = append(applied, a...)
		if err != nil {
			l.log(slog.LevelError, "retirement failed", "experiment", e.Key, "err", err)
			errs = append(errs, fmt.Errorf("retirement of %s: %w", e.Key, err))
		}
	}
	return applied, errors.Join(errs...)
}

func (l *Loop) runExperiment(ctx context.Context, key string) ([]Applied, error) {
	history, err := l.Store.History(ctx, key)
	if err != nil {
		return nil, err
	}
	if len(history) == 0 {
		return nil, nil
	}
	cur := history[len(history)-1].Definition
	if cur.Status != experiment.StatusRunning || !cur.Retirement.Auto {
		return nil, nil
	}
	agg, err := l.Reader.Aggregates(ctx, key)
	if err != nil {
		return nil, err
	}
	now := l.now()
	var applied []Applied
	for _, d := range Decide(cur, history, agg, now) {
		var v experiment.Version
		switch si := cur.Segment(d.Segment); {
		case si >= 0 && cur.Segments[si].Concluded():
			continue // the retirement before concluded it
		case d.Kind == results.DecisionRetire:
			v, err = experiment.Retire(cur, d.Segment, d.Variant, l.author(), d.Reason, now)
		default:
			v, err = experiment.Conclude(cur, d.Segment, d.Variant, l.author(), d.Reason, now)
		}
		if err == nil {
			err = l.Store.Save(ctx, v)
		}
		if experiment.ErrorCode(err) == experiment.ECONFLICT {
			l.log(slog.LevelInfo, "retirement conflict: decide again next time", "experiment", key, "err", err)
			return applied, nil
		}
		if err != nil {
			return applied, err
		}
		cur = v.Definition
		applied = append(applied, Applied{Experiment: key, Version: v.Version, Decision: d})
		l.log(slog.LevelInfo, "retirement", "experiment", key, "version", v.Version, "kind", d.Kind,
			"segment", d.Segment, "variant", d.Variant, "reason", d.Reason)
	}
	return applied, nil
}

// Run calls RunOnce now and then every interval until ctx is done, and
// returns ctx's error. Errors of a look are logged, and the next look tries
// again.
func (l *Loop) Run(ctx context.Context, interval time.Duration) error {
	look := func(ctx context.Context) error { _, err := l.RunOnce(ctx); return err }
	look(ctx) //nolint:errcheck // logged by RunOnce
	experiment.Every(ctx, interval, look, func(error) {})
	return ctx.Err()
}

func (l *Loop) now() time.Time {
	if l.Now != nil {
		return l.Now()
	}
	return time.Now()
}

func (l *Loop) author() string {
	if l.Author != "" {
		return l.Author
	}
	return "retirement-loop"
}

func (l *Loop) log(level slog.Level, msg string, args ...any) {
	if l.Logger != nil {
		l.Logger.Log(context.Background(), level, msg, args...)
	}
}
