package assign

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/splitcast/splitcast/experiment"
)

// Source lists the running experiments a snapshot is built from:
// experiment.Store satisfies it, and so does the Go SDK's remote fetcher.
type Source interface {
	ListRunning(ctx context.Context) ([]experiment.Experiment, error)
}

// Refresher holds the current Snapshot and rebuilds it from a Source. Every
// API server has one, so that assignment is served from memory: servers
// agree within one refresh interval, and an outage of the Source only stops
// the snapshot from changing, never assignment.
type Refresher struct {
	src    Source
	logger *slog.Logger
	cur    atomic.Pointer[Snapshot]
	// LastRefresh and LastError describe the last attempt, for /readyz.
	last atomic.Pointer[refreshState]
}

type refreshState struct {
	at  time.Time
	err error
}

// NewRefresher returns a Refresher over src with an empty snapshot; call
// Refresh before serving.
func NewRefresher(src Source, logger *slog.Logger) *Refresher {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Refresher{src: src, logger: logger}
	r.cur.Store(&Snapshot{})
	return r
}

// Snapshot returns the current snapshot; it is never nil.
func (r *Refresher) Snapshot() *Snapshot { return r.cur.Load() }

// Refresh rebuilds the snapshot from the source. On a source error it keeps
// the previous snapshot. Experiments that fail to compile are left out and
// logged; the rest are served.
func (r *Refresher) Refresh(ctx context.Context) error {
	exps, err := r.src.ListRunning(ctx)
	if err != nil {
		r.last.Store(&refreshState{at: time.Now(), err: err})
		return err
	}
	snap, err := NewSnapshot(exps)
	if err != nil {
		r.logger.Error("experiments left out of the snapshot", "err", err)
	}
	r.cur.Store(snap)
	r.last.Store(&refreshState{at: time.Now()})
	return nil
}

// Run refreshes every interval until ctx ends.
func (r *Refresher) Run(ctx context.Context, interval time.Duration) {
	experiment.Every(ctx, interval, r.Refresh, func(err error) {
		r.logger.Warn("snapshot refresh failed; serving the previous one", "err", err)
	})
}

// LastError returns the error of the last refresh, nil if it succeeded.
func (r *Refresher) LastError() error {
	if s := r.last.Load(); s != nil {
		return s.err
	}
	return nil
}
