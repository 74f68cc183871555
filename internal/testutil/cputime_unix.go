//go:build unix

package testutil

import (
	"syscall"
	"time"
)

// ProcessCPUTime is the user + system CPU time the process has used so far,
// GC workers included. Benchmarks report it per op beside wall time, because
// wall time on a shared, oversubscribed machine mostly measures waiting for
// a CPU.
func ProcessCPUTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
