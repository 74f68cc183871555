package sim

import (
	"testing"

	"github.com/ciphermq/ciphermq/faults"
	"pgregory.net/rapid"
)

// TestPropertyEveryGeneratedPlanKeepsTheInvariants draws fault plans with
// faults.Gen (every choice a rapid Draw) and a small workload. When it
// fails, rapid shrinks the plan towards fewer, weaker faults and prints
// the minimal one; the run itself is a pure function of the drawn seed and
// plan, so shrinking is reliable.
func TestPropertyEveryGeneratedPlanKeepsTheInvariants(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		pl := faults.Gen().Draw(rt, "plan")
		seed := rapid.Uint64().Draw(rt, "seed")
		work := Workload{
			Publishers: rapid.IntRange(1, 3).Draw(rt, "publishers"),
			Receivers:  rapid.IntRange(1, 3).Draw(rt, "receivers"),
			Messages:   rapid.IntRange(0, 60).Draw(rt, "messages"),
		}
		res := Run(Config{Seed: seed, Plan: &pl, Workload: work})
		if !res.OK() {
			rt.Fatalf("%s", res.Describe())
		}
		if first := Run(Config{Seed: seed, Plan: &pl, Workload: work}); first.TraceHash != res.TraceHash {
			rt.Fatalf("seed %d with the drawn plan is not deterministic", seed)
		}
	})
}
