//go:build !unix

package userfile

import "errors"

// lock is not implemented off Unix: Update refuses rather than risk a lost
// update.
func lock(string) (func(), error) {
	return nil, errors.New("users file lock: advisory file locks are only implemented on Unix")
}
