//go:build !unix

package clients

// cpuMeter does not measure on this platform.
type cpuMeter struct{}

func startCPUMeter() cpuMeter { return cpuMeter{} }

func (cpuMeter) report(interface{ ReportMetric(float64, string) }, int) {}
