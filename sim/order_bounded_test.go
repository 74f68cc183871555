package sim

import (
	"slices"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/internal/check"
)

// TestBoundedQueuesCannotPromiseOrder keeps the reason order is not checked
// on runs with bounded queues (see orderPromised): seed 168 with queues of
// 20 keeps every other premise of I5 (TCP-like links, no crashes), yet a
// message whose first attempt was refused (queue full) is accepted on its
// resend after a later message of the same publisher was, although the
// publisher resends in publish order. If this test fails, bounded queues
// may have become order-preserving: sweep with order checked on them and
// consider turning the check on.
func TestBoundedQueuesCannotPromiseOrder(t *testing.T) {
	res := Run(Config{Seed: 168, Swarm: true, FixedWorkload: true, Workload: Workload{MaxLength: 20}})
	if !res.OK() {
		t.Fatalf("the run fails even without the order check: %s", res.Describe())
	}
	if len(res.Options.OrderedQueues) != 0 {
		t.Fatal("order checked on a run with bounded queues")
	}
	s := res.Stats
	if slices.Contains(res.Plan.Enabled(), "datagram") || s.BrokerCrashes+s.PublisherCrashes+s.ReceiverCrashes > 0 {
		t.Fatalf("seed 168 no longer keeps I5's other premises (plan %s, stats %+v): pick another seed", res.Plan.String(), s)
	}
	var queues []string
	for _, e := range res.History.Events {
		for _, q := range e.Queues {
			if !slices.Contains(queues, q) {
				queues = append(queues, q)
			}
		}
	}
	opts := res.Options
	opts.OrderedQueues = queues
	rep := check.Check(res.History, opts)
	if len(rep.Nonmonotonic) == 0 {
		t.Fatalf("order held with bounded queues: %s", rep.Summary())
	}
	// The message processed late is one the publisher had to send again.
	late := rep.Nonmonotonic[0].MessageID
	resent := false
	for _, a := range rep.Recovered {
		resent = resent || (a.MessageID == late && strings.Contains(a.Detail, "more than one send"))
	}
	if !resent {
		t.Errorf("%s was processed late but was not refused after a resend: %s", late, rep.Summary())
	}
	t.Logf("with order checked: %s", rep.Summary())
}
