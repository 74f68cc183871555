package realworld

import (
	"errors"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/faults"
)

func TestPlanScenarioFromTheTestdataPlan(t *testing.T) {
	pl, err := faults.Load("testdata/flaky-links.json")
	if err != nil {
		t.Fatal(err)
	}
	sc, notes, err := PlanScenario(pl)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Name != "plan:flaky-links" || sc.Senders != 2 || sc.Receivers != 2 || sc.Messages != 7*planRate || sc.Faults == nil {
		t.Fatalf("scenario = %+v", sc)
	}
	if len(notes) != 0 {
		t.Fatalf("a TCP-only plan without crashes needs no notes: %v", notes)
	}
}

func TestPlanScenarioRefusesWhatRealRunsCannotJudge(t *testing.T) {
	forever := faults.Calm(5000, 10000)
	forever.Partitions = []faults.Partition{{Name: "gone", Mode: faults.Symmetric, From: []string{"broker"}, To: []string{"r1"}, StartMs: 100, Forever: true}}
	if _, _, err := PlanScenario(forever); !errors.Is(err, ErrPlanUnsupported) || !strings.Contains(err.Error(), "gone") {
		t.Fatalf("a forever partition must be refused by name, got %v", err)
	}
	long := faults.Calm(faults.Millis(maxPlanHeal.Milliseconds()+1), 1000)
	if _, _, err := PlanScenario(long); !errors.Is(err, ErrPlanUnsupported) {
		t.Fatalf("a safety phase above %v must be refused, got %v", maxPlanHeal, err)
	}
	bad := faults.Calm(1000, 1000)
	bad.Links.Default.Drop = 2
	if _, _, err := PlanScenario(bad); err == nil {
		t.Fatal("an invalid plan must be refused")
	}
}

func TestPlanScenarioNotesWhatItDoesNotApply(t *testing.T) {
	pl, err := faults.Load("../../faults/testdata/example.json")
	if err != nil {
		t.Skipf("the faults package's example plan is not readable here: %v", err)
	}
	pl.Partitions = pl.Partitions[:1] // drop its forever partition
	_, notes, err := PlanScenario(pl)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(notes, "\n")
	for _, want := range []string{"drop", "duplicate", "crashes not applied", "disk faults not applied"} {
		if !strings.Contains(joined, want) {
			t.Errorf("notes lack %q:\n%s", want, joined)
		}
	}
}
