package testutil

import (
	"runtime"
	"testing"
)

func TestCPUMeterSeesWork(t *testing.T) {
	if _, ok := ProcessCPUTime(); !ok {
		t.Skip("process CPU time is not measured on " + runtime.GOOS)
	}
	m := StartCPUMeter()
	x := 0
	for i := 0; i < 50_000_000; i++ {
		x += i ^ (x >> 3)
	}
	d, ok := m.Elapsed()
	if !ok || d <= 0 {
		t.Fatalf("Elapsed = %v, %v after a busy loop (x=%d), want > 0", d, ok, x)
	}
	var got []string
	m.Report(metricFunc(func(v float64, unit string) {
		if v <= 0 {
			t.Errorf("reported %v %s", v, unit)
		}
		got = append(got, unit)
	}), 10)
	if len(got) != 1 || got[0] != "cpu-ns/op" {
		t.Fatalf("reported %v, want one cpu-ns/op metric", got)
	}
}

type metricFunc func(float64, string)

func (f metricFunc) ReportMetric(v float64, unit string) { f(v, unit) }
