package experiment

import (
	"context"
	"time"
)

// Every calls fn every interval until ctx ends, the loop of every refresher
// that keeps a server's copy of shared state current (the experiment
// snapshot, API keys, traits). An error of fn goes to failed, unless ctx
// ended meanwhile, and the previous state stays in place until the next
// call succeeds.
func Every(ctx context.Context, interval time.Duration, fn func(context.Context) error, failed func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := fn(ctx); err != nil && ctx.Err() == nil {
				failed(err)
			}
		}
	}
}
