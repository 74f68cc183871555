package sim

import (
	"slices"
	"testing"
)

func TestSweepProgressSeesEverySeedOnceInCompletionOrder(t *testing.T) {
	n := batch(16)
	var dones []int
	var seeds []uint64
	var published uint64
	sw := Sweep(SweepConfig{Template: Config{Swarm: true}, First: 7, Seeds: n, Workers: 3,
		Progress: func(done int, r Result) {
			dones = append(dones, done)
			seeds = append(seeds, r.Seed)
			published += r.Stats.MessagesPublished
			if r.OK() && len(r.History.Events) != 0 {
				t.Errorf("seed %d passed but its history was kept", r.Seed)
			}
		}})
	if len(dones) != n {
		t.Fatalf("progress called %d times for %d seeds", len(dones), n)
	}
	for i, d := range dones {
		if d != i+1 {
			t.Fatalf("progress counts %v: want 1..%d in order", dones, n)
		}
	}
	slices.Sort(seeds)
	for i, s := range seeds {
		if s != 7+uint64(i) {
			t.Fatalf("progress saw seeds %v: want each of 7..%d once", seeds, 6+n)
		}
	}
	if sw.Messages == 0 || sw.Messages != published {
		t.Fatalf("SweepResult.Messages %d, progress results sum to %d", sw.Messages, published)
	}
}

func TestSweepKeepsTheLowestFailingSeeds(t *testing.T) {
	// With receiver dedup off, redelivered copies are processed again:
	// several of the first 24 swarm seeds fail, in whatever order the
	// workers finish them.
	var failing []uint64
	const keep = 2
	sw := Sweep(SweepConfig{Template: Config{Swarm: true, Mutations: Mutations{ReceiverNoDedup: true}},
		First: 1, Seeds: 24, Workers: 4, KeepFailures: keep,
		Progress: func(_ int, r Result) {
			if !r.OK() {
				failing = append(failing, r.Seed)
			}
		}})
	if len(failing) <= keep {
		t.Fatalf("only %d seeds failed under the mutation: the test needs more than %d", len(failing), keep)
	}
	slices.Sort(failing)
	var got []uint64
	for _, f := range sw.Failures {
		got = append(got, f.Seed)
		if len(f.History.Events) == 0 {
			t.Errorf("failing seed %d kept without its history", f.Seed)
		}
	}
	if !slices.Equal(got, failing[:keep]) || sw.Failed != len(failing) {
		t.Fatalf("kept failures %v (failed %d), want the lowest %d of %v", got, sw.Failed, keep, failing)
	}
}

func TestKeepFirstFailuresWhateverTheArrivalOrder(t *testing.T) {
	var fs []Result
	for _, s := range []uint64{9, 4, 12, 1, 7, 3} {
		fs = keepFirstFailures(fs, Result{Seed: s}, 3)
	}
	var got []uint64
	for _, f := range fs {
		got = append(got, f.Seed)
	}
	if !slices.Equal(got, []uint64{1, 3, 4}) {
		t.Fatalf("kept %v, want [1 3 4]", got)
	}
}
