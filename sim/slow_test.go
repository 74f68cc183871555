package sim

import "testing"

// TestSlowBatchesKeepExactlyOnce lets receivers stall now and then for up
// to twice the ack timeout, so the broker redelivers messages that are still
// being processed: the consumer engine must park the twin and settle it with
// the original, and nothing may be lost or processed twice.
//
// The prefetch bound is judged here too: the consumer engine tells a
// delivery whose ack timeout expired during processing (the broker freed
// its slot) from a broker that broke its promise
// (engine.ConsumerStats.PrefetchViolations). Swarm runs still leave
// SlowBatch off: long stalls slow the liveness phase down, and with a high
// stall rate a run can reach the liveness bound with acks still in flight
// (seed 808 with SlowBatch 0.2).
func TestSlowBatchesKeepExactlyOnce(t *testing.T) {
	var parked, expired uint64
	for seed := uint64(1); seed <= uint64(batch(80)); seed++ {
		res := Run(Config{Seed: seed, Swarm: true, Workload: Workload{SlowBatch: 0.05}})
		if !res.OK() {
			t.Errorf("%s", res.Describe())
		}
		parked += res.Coverage.ParkedTwin
		expired += res.Coverage.ExpiredHeld
	}
	if parked == 0 && !raceEnabled {
		t.Fatal("no redelivery ever met its twin in processing: the stalls did not race with ack timeouts")
	}
	if expired == 0 && !raceEnabled {
		t.Fatal("no receiver ever learned that an ack timeout expired on a delivery it held: the stalls did not test the prefetch accounting")
	}
	t.Logf("parked twins: %d, deliveries known expired while held: %d", parked, expired)
}
