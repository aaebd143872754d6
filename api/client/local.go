package client

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/splitcast/splitcast/assign"
	"github.com/splitcast/splitcast/experiment"
)

// snapshotResponse is the body of GET /v1/snapshot.
type snapshotResponse struct {
	GeneratedAt time.Time               `json:"generated_at"`
	Experiments []experiment.Experiment `json:"experiments"`
}

// ListRunning fetches the definitions of the running experiments
// (GET /v1/snapshot). With it a Client is an assign.Source.
func (c *Client) ListRunning(ctx context.Context) ([]experiment.Experiment, error) {
	var s snapshotResponse
	if err := c.doJSON(ctx, http.MethodGet, "/v1/snapshot", nil, &s); err != nil {
		return nil, err
	}
	return s.Experiments, nil
}

var _ assign.Source = (*Client)(nil)

// Local answers assignments in memory from the running experiments it
// fetched, compiled by the same assign code as the server's, so that its
// answers are the server's answers (for the same experiment version).
// A background goroutine fetches them again every RefreshInterval; a failed
// fetch keeps the previous snapshot and is logged. Local is safe for
// concurrent use; Close stops the goroutine.
//
// Local evaluation logs no exposure and signs no tracking token: assign a
// unit remotely (Client.Assign or Client.AssignBulk) when its message is
// actually sent, and the server records it.
type Local struct {
	ref    *assign.Refresher
	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// NewLocal fetches the running experiments and starts refreshing them. It
// fails if the first fetch does: a Local never starts empty by accident.
func (c *Client) NewLocal(ctx context.Context) (*Local, error) {
	ref := assign.NewRefresher(c, c.cfg.Logger)
	if err := ref.Refresh(ctx); err != nil {
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	l := &Local{ref: ref, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		ref.Run(bg, c.cfg.RefreshInterval)
	}()
	return l, nil
}

// Assign decides for one unit from the current snapshot, without a round
// trip and without logging an exposure. It returns an ENOTFOUND
// *experiment.Error when the experiment is not running (as of the last
// refresh). attrs may be nil; assign.Attributes is a Lookup.
func (l *Local) Assign(experimentKey, unitID string, attrs assign.Lookup) (assign.Assignment, error) {
	return l.ref.Snapshot().Assign(experimentKey, unitID, attrs)
}

// Refresh fetches the running experiments now, e.g. after the caller has
// started one; on error the previous snapshot stays.
func (l *Local) Refresh(ctx context.Context) error { return l.ref.Refresh(ctx) }

// Snapshot returns the current compiled snapshot; it is never nil.
func (l *Local) Snapshot() *assign.Snapshot { return l.ref.Snapshot() }

// Close stops the background refresh and waits for it. It is safe to call
// more than once; Assign keeps answering from the last snapshot.
func (l *Local) Close() error {
	l.once.Do(func() {
		l.cancel()
		<-l.done
	})
	return nil
}
