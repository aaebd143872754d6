package experiment

import "context"

// Apply runs one versioned action on the stored current definition of key
// and saves the version it makes. The store refuses the save if someone
// else saved first (ECONFLICT: reload and retry), so an action never
// overwrites a change it did not see. The API and the console both act
// through it.
func Apply(ctx context.Context, s Store, key string, act func(cur Experiment) (Version, error)) (Version, error) {
	cur, err := s.Get(ctx, key)
	if err != nil {
		return Version{}, err
	}
	v, err := act(cur)
	if err != nil {
		return Version{}, err
	}
	if err := s.Save(ctx, v); err != nil {
		return Version{}, err
	}
	return v, nil
}
