package sim

import "testing"

// TestChunkedTeardownInSweep: with the simulator's small teardown budget,
// some closes are cut into steps (the requeues go on in later Ticks while
// other clients keep working), and the checkers still find nothing lost,
// duplicated or out of its promised order.
func TestChunkedTeardownInSweep(t *testing.T) {
	var chunked uint64
	for seed := uint64(1); seed <= uint64(batch(40)); seed++ {
		res := Run(Config{Seed: seed, Swarm: true})
		if !res.OK() {
			t.Errorf("%s", res.Describe())
		}
		chunked += res.Coverage.ChunkedTeardown
	}
	if chunked == 0 {
		t.Fatal("no close was cut into steps: the sweep does not exercise chunked teardown")
	}
	t.Logf("%d closes cut into steps", chunked)
}

// TestChunkedTeardownMutationCaught: the lost-on-close mutation, through
// the chunked path, is still found by the checkers.
func TestChunkedTeardownMutationCaught(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		res := Run(Config{Seed: seed, Swarm: true, Mutations: Mutations{NoRequeueOnDisconnect: true}})
		if res.Coverage.ChunkedTeardown > 0 && !res.OK() {
			return
		}
	}
	t.Fatal("no seed with a chunked teardown caught the requeue-on-close mutation")
}
