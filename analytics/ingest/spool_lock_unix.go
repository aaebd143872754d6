//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package ingest

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// lockDir takes an exclusive advisory lock on path so that two processes
// never replay and delete the same spool. The kernel drops it if the
// process dies, so a crash leaves no stale lock.
func lockDir(path string) (io.Closer, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("spool %s is in use by another process: %w", path, err)
	}
	return f, nil
}
