package testutil

import "time"

// CPUMeter measures the process's CPU time between StartCPUMeter and Report.
type CPUMeter struct {
	start time.Duration
	ok    bool
}

// StartCPUMeter starts measuring.
func StartCPUMeter() CPUMeter {
	t, ok := ProcessCPUTime()
	return CPUMeter{start: t, ok: ok}
}

// Elapsed is the CPU time used since the meter started (false where the
// platform does not measure it).
func (m CPUMeter) Elapsed() (time.Duration, bool) {
	end, ok := ProcessCPUTime()
	if !m.ok || !ok {
		return 0, false
	}
	return end - m.start, true
}

// Report adds the CPU time per op over n ops to b as "cpu-ns/op".
func (m CPUMeter) Report(b interface{ ReportMetric(float64, string) }, n int) {
	if d, ok := m.Elapsed(); ok && n > 0 {
		b.ReportMetric(float64(d)/float64(n), "cpu-ns/op")
	}
}
