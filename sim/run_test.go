package sim

import (
	"testing"
)

func TestCalmRunDeliversEverythingExactlyOnce(t *testing.T) {
	res := Run(Config{Seed: 1})
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if !res.OK() {
		t.Fatalf("calm run failed: %s", res.Report.Summary())
	}
	c := res.Report.Counts
	if c.Attempted != 200 || c.Confirmed+c.Refused != 200 || c.Unknown != 0 {
		t.Fatalf("counts: %+v", c)
	}
	if c.OK != c.ConfirmedCopies || c.Processed != c.ConfirmedCopies {
		t.Fatalf("every confirmed copy must be processed exactly once: %+v", c)
	}
	if !res.Converged {
		t.Fatal("a calm run did not converge")
	}
	t.Logf("%s; steps %d, virtual %v, hash %s", res.Report.Summary(), res.Stats.Steps, res.Stats.VirtualTime, res.TraceHash[:16])
}
