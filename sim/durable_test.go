package sim

import (
	"testing"

	"github.com/ciphermq/ciphermq/faults"
)

// TestDurableQueuesLoseNothingToBrokerCrashes: with durable queues the
// broker confirms only after its log's fsync and restores its queues after
// a crash (power loss, torn log tail included), so a broker crash may lose
// nothing it confirmed: no copy is excused as legitimately lost.
func TestDurableQueuesLoseNothingToBrokerCrashes(t *testing.T) {
	pl := Calm()
	pl.Name = "durable-broker-crashes"
	pl.Links.Default.Delay = faults.Uniform(0, 5)
	pl.Crashes.Broker = faults.CrashRule{MeanUptimeMs: 700, Downtime: faults.Uniform(1, 300)}
	pl.Crashes.Receivers = faults.CrashRule{MeanUptimeMs: 1_500, Downtime: faults.Uniform(1, 300)}
	pl.Phases.HealAtMs = 8_000
	var crashes uint64
	for seed := uint64(1); seed <= uint64(batch(24)); seed++ {
		res := Run(Config{Seed: seed, Plan: &pl, Workload: Workload{Durable: true}})
		if !res.OK() {
			t.Fatalf("%s", res.Describe())
		}
		if len(res.Report.LegitimatelyLost) != 0 {
			t.Fatalf("seed %d: durable copies excused as lost: %v", seed, res.Report.LegitimatelyLost[:1])
		}
		crashes += res.Stats.BrokerCrashes
	}
	if crashes == 0 {
		t.Fatal("the broker never crashed")
	}
}

// TestDurableSwarm runs swarm weather with durable queues.
func TestDurableSwarm(t *testing.T) {
	for seed := uint64(1); seed <= uint64(batch(100)); seed++ {
		res := Run(Config{Seed: seed, Swarm: true, Workload: Workload{Durable: true}})
		if !res.OK() {
			t.Errorf("%s", res.Describe())
		}
	}
}
