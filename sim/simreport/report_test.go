package simreport

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/internal/check"
	"github.com/ciphermq/ciphermq/sim"
)

func TestSimSweepMissingSometimesEventIsAFailure(t *testing.T) {
	rep := Sweep{First: 1, Last: 100, Runs: 100, CoverageRequired: true, Missing: []string{"crash-during-fsync"},
		Coverage: map[string]uint64{"crash-during-fsync": 0, "redelivery": 9}}
	err := rep.Err()
	if err == nil || !strings.Contains(err.Error(), "crash-during-fsync") {
		t.Fatalf("a never-seen sometimes event must fail the sweep and be named: %v", err)
	}
	var out bytes.Buffer
	PrintSweep(&out, rep)
	if !strings.Contains(out.String(), "NEVER SEEN (a failure): crash-during-fsync") {
		t.Fatalf("the table does not name the missing event:\n%s", out.String())
	}
	rep.Missing = nil
	if err := rep.Err(); err != nil {
		t.Fatalf("a clean sweep failed: %v", err)
	}
}

func TestSimSweepTableShowsEveryFailingSeedSomeInShort(t *testing.T) {
	rep := Sweep{First: 1, Last: 30, Runs: 30, Failed: FullFailures + 2}
	for i := range rep.Failed {
		seed := uint64(i + 1)
		rep.Failures = append(rep.Failures, SweepFailure{Seed: seed, Summary: "SAFETY VIOLATED", Plan: "swarm",
			TraceHash: "h", Replay: fmt.Sprintf("ciphermq sim --seed %d --mutate receiver-no-dedup", seed)})
	}
	var out bytes.Buffer
	PrintSweep(&out, rep)
	text := out.String()
	if got := strings.Count(text, "FAILED seed "); got != rep.Failed {
		t.Fatalf("%d failing seeds shown, want all %d:\n%s", got, rep.Failed, text)
	}
	if got := strings.Count(text, "  plan: swarm"); got != FullFailures {
		t.Errorf("%d failures in full, want %d", got, FullFailures)
	}
	last := "FAILED seed 22; replay: ciphermq sim --seed 22 --mutate receiver-no-dedup"
	if !strings.Contains(text, "2 more failing seeds") || !strings.Contains(text, last) {
		t.Errorf("the short failures lack their count or replay commands:\n%s", text)
	}
	if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "22 of 30 seeds failed") ||
		!strings.Contains(err.Error(), "ciphermq sim --seed 1 --mutate receiver-no-dedup") {
		t.Errorf("exit error %v", err)
	}
}

// TestVerdictsNameTheInvariantEachFindingBreaks maps each kind of finding
// onto its invariant's line: only that line may say VIOLATED.
func TestVerdictsNameTheInvariantEachFindingBreaks(t *testing.T) {
	one := []check.Anomaly{{Kind: check.Lost, MessageID: "p0-1", Queue: "q0"}}
	ordered := check.Options{OrderedQueues: []string{"q0"}}
	cases := []struct {
		want string
		res  sim.Result
	}{
		{"I1 no loss", sim.Result{Report: check.Report{Lost: one}}},
		{"I2 exactly once", sim.Result{Report: check.Report{Duplicated: one}}},
		{"I2 exactly once", sim.Result{EnqueuedTwice: []string{"p0-1@q0"}}},
		{"I2 exactly once", sim.Result{EnqueuedAgain: []string{"p0-1@q0"}}},
		{"routing", sim.Result{Misrouted: []string{"p0-1 enqueued in [q1]"}}},
		{"I3 integrity", sim.Result{Report: check.Report{Corrupted: one}}},
		{"I3 integrity", sim.Result{Report: check.Report{Unexpected: one}}},
		{"I4 publisher liveness", sim.Result{Report: check.Report{Pending: one}}},
		{"I4 publisher liveness", sim.Result{Converged: false}},
		{"I5 order", sim.Result{Options: ordered, Report: check.Report{Nonmonotonic: one}}},
		{"I5 order", sim.Result{Options: ordered, Report: check.Report{Skipped: one}}},
		{"I6 bounds", sim.Result{PrefetchExceeded: []string{"r0: 3"}}},
		{"I6 bounds", sim.Result{OverLimit: []string{"q0 at t=5"}}},
		{"history", sim.Result{Report: check.Report{Malformed: one}}},
		{"run", sim.Result{Err: errors.New("step budget exhausted")}},
		{"access control", sim.Result{Auth: true, AccessViolations: []string{"h0: publish to direct confirmed"}}},
	}
	for i, tc := range cases {
		r := tc.res
		if tc.want != "I4 publisher liveness" {
			r.Converged = true
		}
		var Violated []string
		for _, v := range Verdicts(r) {
			if v.Violated() {
				Violated = append(Violated, v.Invariant)
			}
		}
		if len(Violated) != 1 || Violated[0] != tc.want {
			t.Errorf("case %d: Violated %v, want only %q", i, Violated, tc.want)
		}
	}
	clean := Verdicts(sim.Result{Converged: true})
	if len(clean) != 7 || clean[4].Status != "not checked" {
		t.Fatalf("a clean run without an order promise: %+v", clean)
	}
	for _, v := range Verdicts(sim.Result{Converged: true, Options: ordered}) {
		if v.Status != "ok" {
			t.Errorf("a clean ordered run: %+v", v)
		}
	}
}
