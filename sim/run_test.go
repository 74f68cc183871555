package sim

import (
	"slices"
	"testing"

	"github.com/ciphermq/ciphermq/internal/check"
)

func TestCalmRunDeliversEverythingExactlyOnce(t *testing.T) {
	res := Run(Config{Seed: 1, Workload: Workload{PoisonRate: -1}})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if !res.OK() {
		t.Fatalf("calm run failed: %s", res.Summary())
	}
	c := res.Report.Counts
	if c.Attempted != 200 || c.Confirmed+c.Refused != 200 || c.Unknown != 0 {
		t.Fatalf("counts: %+v", c)
	}
	if c.OK != c.ConfirmedCopies || c.Processed != c.ConfirmedCopies {
		t.Fatalf("every confirmed copy must be processed exactly once: %+v", c)
	}
	if c.Refused > 0 && res.Report.RefusedByCode[300] != c.Refused {
		t.Fatalf("the only refusals of a calm run are unroutable publishes (code 300): %v", res.Report.RefusedByCode)
	}
	if !res.Converged || res.Stats.Breaks != 0 || res.Stats.Dropped != 0 {
		t.Fatalf("a calm run must converge without faults: converged %v, stats %+v", res.Converged, res.Stats)
	}
	t.Logf("%s; steps %d, virtual %v, hash %s", res.Summary(), res.Stats.Steps, res.Stats.VirtualTime, res.TraceHash[:16])
}

func TestPoisonMessagesAreDeadLetteredNeverStored(t *testing.T) {
	res := Run(Config{Seed: 3, Workload: Workload{PoisonRate: 0.2}})
	if !res.OK() {
		t.Fatalf("run failed: %s", res.Summary())
	}
	var poison, deadLettered []string
	processed := map[string]bool{}
	for _, e := range res.History.Events {
		switch e.Kind {
		case check.KindProcessed:
			processed[e.MessageID] = true
		case check.KindDeadLettered:
			deadLettered = append(deadLettered, e.MessageID)
		}
	}
	if len(deadLettered) == 0 || len(res.Rejected) == 0 || len(res.Report.DeadLettered) == 0 {
		t.Fatalf("20%% poison but nothing dead-lettered (%d events, %d copies in the report) or rejected (%d)",
			len(deadLettered), len(res.Report.DeadLettered), len(res.Rejected))
	}
	for _, id := range deadLettered {
		if processed[id] {
			poison = append(poison, id)
		}
	}
	if len(poison) > 0 {
		t.Fatalf("tampered messages were stored as valid: %v", poison)
	}
	if res.Coverage.DeadLetter == 0 || !slices.IsSorted([]int{0}) {
		t.Fatal("dead-letter coverage not counted")
	}
}
