package sim

import (
	"testing"

	"github.com/ciphermq/ciphermq/faults"
)

// stormPlan turns every fault up to the top of the swarm's ranges at once.
func stormPlan(mode faults.LinkMode) faults.Plan {
	pl := Calm()
	pl.Name = "storm"
	link := faults.LinkFaults{Mode: mode, Delay: faults.Exponential(20, 300), Disconnect: 0.02}
	if mode == faults.LinkDatagram {
		link.Drop, link.Duplicate, link.Reorder, link.ReorderWindowMs = 0.3, 0.5, 0.3, 500
	}
	pl.Links.Default = link
	pl.RandomPartitions = faults.PartitionWeather{MeanGapMs: 500, Duration: faults.Uniform(50, 2_000), OneWayProb: 0.5}
	crash := faults.CrashRule{MeanUptimeMs: 1_000, Downtime: faults.Uniform(1, 2_000)}
	pl.Crashes = faults.Crashes{Publishers: crash, Receivers: crash, Broker: crash}
	pl.Disk = faults.Disk{FsyncCrash: 0.05, Downtime: faults.Uniform(1, 500)}
	pl.Phases.HealAtMs = 20_000
	return pl
}

// TestStormKeepsEveryInvariant runs every fault at full strength together,
// harder weather than most swarm seeds draw.
func TestStormKeepsEveryInvariant(t *testing.T) {
	for _, mode := range []faults.LinkMode{faults.LinkTCP, faults.LinkDatagram} {
		pl := stormPlan(mode)
		var total Stats
		for seed := uint64(1); seed <= uint64(batch(16)); seed++ {
			res := Run(Config{Seed: seed, Plan: &pl})
			if !res.OK() {
				t.Errorf("%s storm: %s", mode, res.Describe())
			}
			total.BrokerCrashes += res.Stats.BrokerCrashes
			total.PublisherCrashes += res.Stats.PublisherCrashes
			total.ReceiverCrashes += res.Stats.ReceiverCrashes
			total.Breaks += res.Stats.Breaks
			total.Dropped += res.Stats.Dropped
			total.PartitionChanges += res.Stats.PartitionChanges
		}
		// The storm must really have blown.
		if total.BrokerCrashes == 0 || total.PublisherCrashes == 0 || total.ReceiverCrashes == 0 ||
			total.Breaks == 0 || total.PartitionChanges == 0 || (mode == faults.LinkDatagram && total.Dropped == 0) {
			t.Errorf("%s storm was calm: %+v", mode, total)
		}
		t.Logf("%s storm: %+v", mode, total)
	}
}
