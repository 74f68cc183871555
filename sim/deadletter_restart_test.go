package sim

import (
	"slices"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/internal/check"
)

// TestDeadLettersLostWithTheBrokerAreLegitimatelyLost: p1-8 reaches its
// delivery limit in q0; the broker moves it to the (non-durable)
// dead-letter queue and then crashes holding it there. The copy the
// checker owes is the q0 one, so the broker restart must list it as held
// in q0 too, or it would be reported lost. (Found by swarm seed 1384 with
// --slow-batch 0.2; since each seed draws its grammar topology that seed no
// longer reaches the scenario, so the recorder is driven directly.)
func TestDeadLettersLostWithTheBrokerAreLegitimatelyLost(t *testing.T) {
	r := newRecorder()
	m := &plannedMessage{id: "p1-8", queues: []string{"q0"}, plaintext: []byte("x")}
	r.publish(VTime(time.Millisecond), "p1", m)
	r.h.Add(check.Confirmed(2*time.Millisecond, "p1", "p1-8"))
	r.lastDelivery("q0", "p1-8")
	r.brokerLost(VTime(3*time.Millisecond), []broker.HeldMessage{{Queue: deadLetterQueue, MessageID: "p1-8"}})
	want := check.QueueMessage{Queue: "q0", MessageID: "p1-8"}
	rep := check.Check(r.h, check.Options{})
	if len(rep.Lost) != 0 || !slices.ContainsFunc(rep.LegitimatelyLost, func(a check.Anomaly) bool {
		return a.Queue == want.Queue && a.MessageID == want.MessageID
	}) {
		t.Fatalf("a dead letter lost with the broker is not legitimately lost: %s", rep.Summary())
	}
	// Without the origin queue in the restart's held list, the checker
	// would call it lost: the entry is what excuses it.
	var h check.History
	for _, e := range r.h.Events {
		if e.Kind == check.KindBrokerRestart {
			e.Held = slices.DeleteFunc(slices.Clone(e.Held), func(q check.QueueMessage) bool { return q == want })
		}
		h.Add(e)
	}
	if rep := check.Check(h, check.Options{}); !slices.ContainsFunc(rep.Lost, func(a check.Anomaly) bool {
		return a.Queue == want.Queue && a.MessageID == want.MessageID
	}) {
		t.Fatalf("without the held entry p1-8@q0 is not lost: %s", rep.Summary())
	}
}
