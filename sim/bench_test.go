package sim

import (
	"testing"
	"time"
)

// BenchmarkSwarmSeed runs one swarm seed per iteration with the benchmark
// workload (3 publishers, 2 receivers, 200 messages, faults on) and reports
// seeds per minute on one core.
func BenchmarkSwarmSeed(b *testing.B) {
	b.ReportAllocs()
	seed := uint64(0)
	start := time.Now()
	for b.Loop() {
		seed++
		res := Run(Config{Seed: seed, Swarm: true})
		if res.Err != nil {
			b.Fatal(res.Err)
		}
	}
	if el := time.Since(start); el > 0 {
		b.ReportMetric(float64(seed)/el.Minutes(), "seeds/min")
	}
}

// BenchmarkCalmSeed is the same workload with no faults: the floor cost of
// a run (keys, envelopes, codecs, store).
func BenchmarkCalmSeed(b *testing.B) {
	b.ReportAllocs()
	seed := uint64(0)
	start := time.Now()
	for b.Loop() {
		seed++
		Run(Config{Seed: seed})
	}
	if el := time.Since(start); el > 0 {
		b.ReportMetric(float64(seed)/el.Minutes(), "seeds/min")
	}
}
