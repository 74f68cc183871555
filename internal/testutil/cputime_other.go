//go:build !unix

package testutil

import "time"

// ProcessCPUTime is not measured on this platform.
func ProcessCPUTime() (time.Duration, bool) { return 0, false }
