//go:build !unix

package inbox

import "os"

// lockFile is a no-op where flock does not exist: there, running two
// receivers on one file is not detected, and the documentation says so.
func lockFile(*os.File) error { return nil }
