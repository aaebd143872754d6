//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package ingest

import (
	"io"
	"os"
)

// lockDir creates the lock file but cannot lock it on this platform: the
// caller must ensure that one process at a time uses a spool directory.
func lockDir(path string) (io.Closer, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
