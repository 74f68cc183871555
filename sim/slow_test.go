package sim

import "testing"

// TestSlowBatchesKeepExactlyOnce lets receivers stall now and then for up
// to twice the ack timeout, so the broker redelivers messages that are still
// being processed: the consumer engine must park the twin and settle it with
// the original, and nothing may be lost or processed twice.
//
// The run's prefetch finding is not judged here: the engine's own
// PrefetchExceeded counter still counts a delivery whose ack timeout
// expired during processing, while the broker has legitimately freed its
// slot and delivered the next message. Until the engine can tell (reported
// to its owners), stalls and the prefetch check do not mix, which is also
// why swarm runs leave SlowBatch off.
func TestSlowBatchesKeepExactlyOnce(t *testing.T) {
	var parked uint64
	for seed := uint64(1); seed <= uint64(batch(80)); seed++ {
		res := Run(Config{Seed: seed, Swarm: true, Workload: Workload{SlowBatch: 0.05}})
		res.PrefetchExceeded = nil // see above
		if !res.OK() {
			t.Errorf("%s", res.Describe())
		}
		parked += res.Coverage.ParkedTwin
	}
	if parked == 0 && !raceEnabled {
		t.Fatal("no redelivery ever met its twin in processing: the stalls did not race with ack timeouts")
	}
	t.Logf("parked twins: %d", parked)
}
