package sim

import "testing"

// TestOrderHoldsWhereItIsPromised sweeps swarm seeds with unbounded queues,
// so that the runs whose weather keeps I5's promise (TCP-like links, no
// crashes) are order-checked, and requires that some were.
func TestOrderHoldsWhereItIsPromised(t *testing.T) {
	checked := 0
	for seed := uint64(1); seed <= uint64(batch(150)); seed++ {
		res := Run(Config{Seed: seed, Swarm: true, Workload: Workload{MaxLength: -1}})
		if !res.OK() {
			t.Errorf("%s", res.Describe())
		}
		if len(res.Options.OrderedQueues) > 0 {
			checked++
		}
	}
	if checked == 0 {
		t.Fatal("no seed had weather that promises order: I5 was never checked")
	}
	t.Logf("order checked on %d seeds", checked)
}
