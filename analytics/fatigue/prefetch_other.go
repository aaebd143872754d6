//go:build !amd64

package fatigue

// prefetch does nothing here: see prefetch_amd64.go.
func prefetch(uintptr) {}
