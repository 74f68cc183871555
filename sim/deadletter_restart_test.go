package sim

import (
	"slices"
	"testing"

	"github.com/ciphermq/ciphermq/internal/check"
)

// TestDeadLettersLostWithTheBrokerAreLegitimatelyLost: seed 1384 with long
// receiver stalls drives p1-8 to its delivery limit in q0; the broker moves
// it to the (non-durable) dead-letter queue and then crashes holding it
// there. The copy the checker owes is the q0 one, so the broker restart
// must list it as held in q0 too, or it would be reported lost.
func TestDeadLettersLostWithTheBrokerAreLegitimatelyLost(t *testing.T) {
	res := Run(Config{Seed: 1384, Swarm: true, Workload: Workload{SlowBatch: 0.2}})
	if len(res.Report.Lost) != 0 {
		t.Fatalf("dead letter lost with the broker reported lost: %s", res.Describe())
	}
	want := check.QueueMessage{Queue: "q0", MessageID: "p1-8"}
	if !slices.ContainsFunc(res.Report.LegitimatelyLost, func(a check.Anomaly) bool {
		return a.Queue == want.Queue && a.MessageID == want.MessageID
	}) {
		t.Fatalf("p1-8@q0 not legitimately lost (the scenario changed? pick another seed): %s", res.Summary())
	}
	// Without the origin queue in the restart's held list, the checker
	// would call it lost: the entry is what excuses it.
	var h check.History
	for _, e := range res.History.Events {
		if e.Kind == check.KindBrokerRestart {
			e.Held = slices.DeleteFunc(slices.Clone(e.Held), func(q check.QueueMessage) bool { return q == want })
		}
		h.Add(e)
	}
	if rep := check.Check(h, res.Options); !slices.ContainsFunc(rep.Lost, func(a check.Anomaly) bool {
		return a.Queue == want.Queue && a.MessageID == want.MessageID
	}) {
		t.Fatalf("without the held entry p1-8@q0 is not lost: %s", rep.Summary())
	}
}
