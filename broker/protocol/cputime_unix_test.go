//go:build unix

package protocol_test

import (
	"syscall"
	"time"
)

// processCPU is the CPU time this process has used (user + system), for
// benchmarks on a shared machine where wall time mostly measures the
// other processes.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
