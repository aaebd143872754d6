package bandit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/splitcast/splitcast/analytics/results"
	"github.com/splitcast/splitcast/experiment"
)

// Loop applies Compute to every bandit segment of every running
// experiment. Each update becomes a new version through experiment.Reweight
// and Store.Save, whose optimistic concurrency refuses an update computed on
// a stale version (ECONFLICT, say when another server's loop or the
// retirement loop saved first): the loop then leaves the experiment until
// its next look. Servers serve the weights of the versions they read from
// the store, so they agree once each has refreshed its snapshot.
type Loop struct {
	Store  experiment.Store
	Reader results.AggregateReader
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Author signs the versions (default "bandit-loop").
	Author string
	// Draws is the number of posterior draws (default DefaultDraws).
	Draws  int
	Logger *slog.Logger
}

// Applied is an update the loop saved, with the version it made.
type Applied struct {
	Experiment string `json:"experiment"`
	Version    uint32 `json:"version"`
	Update
}

// RunOnce looks at every running experiment with a bandit segment once and
// returns the updates it saved. An error with one experiment does not stop
// the others; the errors are joined. A conflict is not an error.
func (l *Loop) RunOnce(ctx context.Context) ([]Applied, error) {
	running, err := l.Store.ListRunning(ctx)
	if err != nil {
		return nil, fmt.Errorf("bandit: list running: %w", err)
	}
	var applied []Applied
	var errs []error
	for _, e := range running {
		if !hasBandit(e) {
			continue
		}
		a, err := l.runExperiment(ctx, e.Key)
		applied = append(applied, a...)
		if err != nil {
			l.log(slog.LevelError, "bandit update failed", "experiment", e.Key, "err", err)
			errs = append(errs, fmt.Errorf("bandit update of %s: %w", e.Key, err))
		}
	}
	return applied, errors.Join(errs...)
}

func hasBandit(e experiment.Experiment) bool {
	for _, s := range e.Segments {
		if s.IsBandit() && !s.Concluded() {
			return true
		}
	}
	return false
}

func (l *Loop) runExperiment(ctx context.Context, key string) ([]Applied, error) {
	history, err := l.Store.History(ctx, key)
	if err != nil || len(history) == 0 {
		return nil, err
	}
	cur := history[len(history)-1].Definition
	if cur.Status != experiment.StatusRunning {
		return nil, nil
	}
	agg, err := l.Reader.Aggregates(ctx, key)
	if err != nil {
		return nil, err
	}
	now := l.now()
	var applied []Applied
	for _, s := range cur.Segments {
		if !s.IsBandit() {
			continue
		}
		u := Compute(cur, history, s.Key, agg, now, l.Draws)
		if u.Weights == nil {
			continue
		}
		v, err := experiment.Reweight(cur, s.Key, u.Weights, l.author(), u.Reason(), now)
		if err == nil {
			err = l.Store.Save(ctx, v)
		}
		if experiment.ErrorCode(err) == experiment.ECONFLICT {
			l.log(slog.LevelInfo, "bandit conflict: update again next time", "experiment", key, "err", err)
			return applied, nil
		}
		if err != nil {
			return applied, err
		}
		history = append(history, v)
		cur = v.Definition
		applied = append(applied, Applied{Experiment: key, Version: v.Version, Update: u})
		l.log(slog.LevelInfo, "bandit update", "experiment", key, "version", v.Version, "segment", s.Key, "weights", u.Weights)
	}
	return applied, nil
}

// Run calls RunOnce every interval until ctx is done, and returns ctx's
// error. The interval is how often the loop looks; each segment's own
// update interval says when a look updates it.
func (l *Loop) Run(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		l.RunOnce(ctx) //nolint:errcheck // logged by RunOnce
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
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
	return "bandit-loop"
}

func (l *Loop) log(level slog.Level, msg string, args ...any) {
	if l.Logger != nil {
		l.Logger.Log(context.Background(), level, msg, args...)
	}
}
