//go:build unix

package broker

import (
	"syscall"
	"time"
)

// processCPUTime is the user + system CPU time the test process has used,
// GC workers included. Benchmarks report it per op next to wall time
// because wall time on a shared, oversubscribed machine mostly measures
// waiting for a CPU.
func processCPUTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
