package sim

import (
	"slices"
	"testing"
	"time"
)

// TestExploreUnguidedIsTheSweep: without guidance, Explore runs the same
// seeds as Sweep, with the same hashes.
func TestExploreUnguidedIsTheSweep(t *testing.T) {
	tmpl := Config{Swarm: true, Workload: Workload{Messages: 30}}
	n := batch(6)
	sw := Sweep(SweepConfig{Template: tmpl, First: 11, Seeds: n, Workers: 2})
	ex := Explore(ExploreConfig{Template: tmpl, First: 11, Runs: n, Workers: 2})
	if ex.Runs != n || !slices.Equal(ex.Hashes, sw.Hashes) {
		t.Fatalf("explore ran %d seeds with hashes %v; sweep %v", ex.Runs, ex.Hashes, sw.Hashes)
	}
	if ex.FreshRuns != n || ex.Reused != 0 {
		t.Fatalf("unguided exploration reused draws: fresh %d, reused %d", ex.FreshRuns, ex.Reused)
	}
}

// TestExploreGuidedIsDeterministic: a guided exploration of a given number
// of runs chooses the same draws and gets the same hashes whatever the
// workers, reuses corpus draws, and its corpus holds only runs that found
// a feature first.
func TestExploreGuidedIsDeterministic(t *testing.T) {
	tmpl := Config{Swarm: true, Workload: Workload{Messages: 30}}
	n := 2*exploreBatch + 4 // a second batch can reuse what the first found
	a := Explore(ExploreConfig{Template: tmpl, First: 1, Runs: n, Workers: 1, Guided: true})
	b := Explore(ExploreConfig{Template: tmpl, First: 1, Runs: n, Workers: 3, Guided: true})
	if !slices.Equal(a.Hashes, b.Hashes) || !slices.Equal(a.Corpus, b.Corpus) {
		t.Fatalf("guided runs differ with the number of workers:\n%v\n%v", a.Corpus, b.Corpus)
	}
	if a.Reused == 0 {
		t.Fatal("a guided exploration never reused a corpus entry's draws")
	}
	if len(a.Corpus) == 0 || a.Corpus[0].New == 0 {
		t.Fatalf("corpus %v: the first run always reaches new features", a.Corpus)
	}
	for _, c := range a.Corpus {
		if c.New == 0 {
			t.Fatalf("corpus entry %+v found nothing new", c)
		}
	}
	if a.Failed > 0 {
		t.Fatalf("%d guided runs failed: %s", a.Failed, a.Failures[0].Describe())
	}
}

// TestExploreStopsWhenTimeIsUp: with a duration and a clock that passes
// it after the first batch, exactly one batch runs.
func TestExploreStopsWhenTimeIsUp(t *testing.T) {
	start := time.Unix(0, 0)
	calls := 0
	clock := func() time.Time {
		calls++
		if calls <= 2 {
			return start
		}
		return start.Add(time.Hour)
	}
	ex := Explore(ExploreConfig{Template: Config{Swarm: true, Workload: Workload{Messages: 10}}, First: 1,
		Duration: time.Minute, Workers: 1, now: clock})
	if ex.Runs != exploreBatch {
		t.Fatalf("ran %d seeds, want one batch of %d", ex.Runs, exploreBatch)
	}
}

// TestDrawSeedTakesAnotherSeedsDraws: a run with DrawSeed d has d's plan
// and configuration but its own trace.
func TestDrawSeedTakesAnotherSeedsDraws(t *testing.T) {
	tmpl := Config{Swarm: true, Workload: Workload{Messages: 20}}
	d, s := tmpl, tmpl
	d.Seed, s.Seed = 7, 8
	own := Run(d)
	x := s
	x.DrawSeed = 7
	got := Run(x)
	if got.Plan.String() != own.Plan.String() || got.Workload != own.Workload || got.Auth != own.Auth {
		t.Fatalf("seed 8 drawn from 7: plan %s, workload %s; seed 7: %s, %s", got.Plan.String(), got.Workload.describe(),
			own.Plan.String(), own.Workload.describe())
	}
	if got.TraceHash == own.TraceHash {
		t.Fatal("seed 8 drawn from seed 7 replayed seed 7 exactly")
	}
	if again := Run(x); again.TraceHash != got.TraceHash {
		t.Fatal("a run with a draw seed does not replay")
	}
}

// TestFeaturesBucketCounts: features are name and power-of-two bucket,
// and a run with more of something reaches a different feature.
func TestFeaturesBucketCounts(t *testing.T) {
	var a, b Result
	a.Coverage.Redelivery, b.Coverage.Redelivery = 1, 5
	fa, fb := Features(a), Features(b)
	if !slices.Contains(fa, "redelivery:1") || !slices.Contains(fb, "redelivery:3") {
		t.Fatalf("features %v and %v", fa, fb)
	}
	if len(Features(Result{})) != 0 {
		t.Fatalf("an empty result has features %v", Features(Result{}))
	}
}
