package imports

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/splitcast/splitcast/experiment"
)

// Run imports a file of experiment key's events from in, as Import does,
// and then marks the experiment imported by author (a new version, unless
// the same file was its last import): its report then judges the sample
// ratio against the definition's weights and says that the assignment was
// not Splitcast's. The experiment must exist (ENOTFOUND).
func Run(ctx context.Context, store experiment.Store, key string, in io.Reader, f Format, w Writer, author string, o Options) (Summary, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	cur, err := store.Get(ctx, key)
	if err != nil {
		return Summary{}, err
	}
	sum, err := Import(ctx, cur, in, f, w, o)
	if err != nil {
		return sum, err
	}
	info := experiment.Imported{Rows: sum.Rows, Exposures: sum.Exposures, SHA256: sum.SHA256}
	reason := fmt.Sprintf("imported %d rows (%d exposures) of %s, sha256 %s", sum.Rows, sum.Exposures, f, sum.SHA256)
	// Someone may save a version between the read and the mark: read again
	// and retry, a few times.
	for range 3 {
		v, ok, err := experiment.MarkImported(cur, info, author, reason, o.Now().UTC())
		if err != nil || !ok {
			return sum, err
		}
		err = store.Save(ctx, v)
		if experiment.ErrorCode(err) != experiment.ECONFLICT {
			return sum, err
		}
		if cur, err = store.Get(ctx, key); err != nil {
			return sum, err
		}
	}
	return sum, experiment.Errorf(experiment.ECONFLICT, "experiment %s kept changing: its events are imported, but it is not marked imported; import again", key)
}
