//go:build unix

package userfile

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// lock takes an exclusive flock on path (created 0600 if missing), waiting
// for it; the returned function releases it.
func lock(path string) (func(), error) {
	lf, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, Perm)
	if err != nil {
		return nil, fmt.Errorf("users file lock: %w", err)
	}
	for {
		err = unix.Flock(int(lf.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		lf.Close()
		return nil, fmt.Errorf("users file lock %s: %w", path, err)
	}
	return func() {
		// Closing the descriptor releases the lock.
		lf.Close()
	}, nil
}
