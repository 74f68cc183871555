package sim

import (
	"testing"
	"time"
)

// benchRuns runs one seed per iteration of cfg and reports seeds per
// minute of wall time and CPU milliseconds per seed (the latter does not
// depend on how busy the machine is).
func benchRuns(b *testing.B, cfg Config) {
	b.ReportAllocs()
	seed := uint64(0)
	cpu0, cpuOK := cpuTime()
	start := time.Now()
	for b.Loop() {
		seed++
		cfg.Seed = seed
		if res := Run(cfg); res.Err != nil {
			b.Fatal(res.Err)
		}
	}
	if el := time.Since(start); el > 0 {
		b.ReportMetric(float64(seed)/el.Minutes(), "seeds/min")
	}
	if cpu1, ok := cpuTime(); ok && cpuOK && seed > 0 {
		b.ReportMetric(float64(cpu1-cpu0)/float64(time.Millisecond)/float64(seed), "cpu-ms/seed")
	}
}

// BenchmarkSwarmSeed is the target workload: 3 publishers, 2 receivers,
// 200 messages, a swarm fault plan per seed (faults on).
func BenchmarkSwarmSeed(b *testing.B) { benchRuns(b, Config{Swarm: true}) }

// BenchmarkCalmSeed is the same workload with no faults: the floor cost of
// a run (keys, envelopes, codecs, store).
func BenchmarkCalmSeed(b *testing.B) { benchRuns(b, Config{}) }
