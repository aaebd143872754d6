package api

import "github.com/splitcast/splitcast/assign"

// AssignWithTraits exposes the /v1/assign handler's assignment step to
// benchmarks.
func (s *Server) AssignWithTraits(snap *assign.Snapshot, exp, unit string, attrs assign.Attributes) (assign.Assignment, error) {
	return snap.AssignWithTraits(exp, unit, attrs, s.cfg.Traits)
}
