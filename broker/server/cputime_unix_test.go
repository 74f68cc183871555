//go:build unix

package server

import (
	"syscall"
	"time"
)

// processCPUTime is the user + system CPU time the test process has used,
// GC workers included. Benchmarks report it per message beside wall time,
// because wall time on a shared, oversubscribed machine mostly measures
// waiting for a CPU.
func processCPUTime() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}

// cpuMeter reports the process's CPU time per op as "cpu-ns/op" when the
// benchmark ends.
type cpuMeter struct {
	start time.Duration
	ok    bool
}

func startCPUMeter() cpuMeter {
	t, ok := processCPUTime()
	return cpuMeter{start: t, ok: ok}
}

func (m cpuMeter) report(b interface {
	ReportMetric(float64, string)
}, n int) {
	end, ok := processCPUTime()
	if m.ok && ok && n > 0 {
		b.ReportMetric(float64(end-m.start)/float64(n), "cpu-ns/op")
	}
}
