package sim

import (
	"cmp"
	"fmt"
	"slices"
	"sync"

	"github.com/ciphermq/ciphermq/internal/check"
)

// SweepConfig runs many seeds of one configuration.
type SweepConfig struct {
	// Template is copied for every seed; its Seed and Trace are ignored.
	Template Config
	// First is the first seed; Seeds how many consecutive seeds run.
	First uint64
	Seeds int
	// Workers run seeds in parallel (default 1). Each run is single
	// threaded and shares nothing, so the results do not depend on it.
	Workers int
	// KeepFailures bounds the failing results kept in full (default 10).
	KeepFailures int
	// Progress, when set, is called once per finished seed with the number
	// of seeds finished so far and that seed's result (its History dropped
	// when it passed). Calls come from the goroutine that called Sweep, one
	// at a time, in completion order (not seed order: workers finish out of
	// order); a slow Progress slows the sweep down, never races it.
	Progress func(done int, r Result)
}

// SweepResult summarises a sweep.
type SweepResult struct {
	Runs, Failed int
	// Failures are the first failing results, in seed order.
	Failures []Result
	// Coverage counts the sometimes-events over the whole sweep.
	Coverage *check.Coverage
	// Hashes maps each seed's position (seed-First) to its trace hash, so
	// two sweeps can be compared for determinism.
	Hashes []string
	// Messages is the sum of every run's Stats.MessagesPublished.
	Messages uint64
	// AuthRuns counts the authenticated runs; Hostile sums their hostile
	// tenants' counts.
	AuthRuns uint64
	Hostile  HostileStats
	// LoadRuns counts the runs with a hostile-load node; Load sums what
	// their nodes did.
	LoadRuns uint64
	Load     LoadStats
}

// finished is one seed's result on its way from a worker to the collector.
type finished struct {
	pos int
	res Result
}

// Sweep runs cfg.Seeds seeds from cfg.First and collects the verdicts. Only
// failing results (at most KeepFailures) are kept whole, so the memory a
// sweep needs does not grow with passing seeds.
func Sweep(cfg SweepConfig) SweepResult {
	if cfg.Seeds < 0 {
		cfg.Seeds = 0
	}
	workers := max(cfg.Workers, 1)
	keep := cfg.KeepFailures
	if keep <= 0 {
		keep = 10
	}
	next := make(chan int)
	results := make(chan finished, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c := cfg.Template
				c.Seed = cfg.First + uint64(i)
				c.Trace = nil
				res := Run(c)
				// Drop the bulky part; failures are replayed from the seed.
				if res.OK() {
					res.History = check.History{}
				}
				results <- finished{pos: i, res: res}
			}
		}()
	}
	go func() {
		for i := range cfg.Seeds {
			next <- i
		}
		close(next)
		wg.Wait()
		close(results)
	}()

	expected := RequiredSometimes(cfg.Seeds, cfg.Template)
	out := SweepResult{Runs: cfg.Seeds, Coverage: check.NewCoverage(expected...),
		Hashes: make([]string, cfg.Seeds)}
	done := 0
	for f := range results {
		r := f.res
		done++
		out.Hashes[f.pos] = r.TraceHash
		out.add(r, keep)
		if cfg.Progress != nil {
			cfg.Progress(done, r)
		}
	}
	return out
}

// add folds one run's result into the totals (not its trace hash, whose
// position the caller knows); it reports whether the run failed.
func (out *SweepResult) add(r Result, keep int) (failed bool) {
	r.Coverage.AddTo(out.Coverage)
	out.Messages += r.Stats.MessagesPublished
	if r.Auth {
		out.AuthRuns++
		out.Hostile.Add(r.Hostile)
	}
	if r.Load {
		out.LoadRuns++
		out.Load.Add(r.LoadStats)
	}
	if r.OK() {
		return false
	}
	out.Failed++
	out.Failures = keepFirstFailures(out.Failures, r, keep)
	return true
}

// keepFirstFailures inserts r into fs (sorted by seed) and drops the
// highest seed beyond keep, so that whatever order the results arrive in,
// fs ends as the keep lowest failing seeds.
func keepFirstFailures(fs []Result, r Result, keep int) []Result {
	i, _ := slices.BinarySearchFunc(fs, r.Seed, func(x Result, seed uint64) int { return cmp.Compare(x.Seed, seed) })
	if i >= keep {
		return fs
	}
	fs = slices.Insert(fs, i, r)
	if len(fs) > keep {
		fs = fs[:keep]
	}
	return fs
}

// Describe is a failing result in the form a sweep prints: what failed, the
// weather, and how to replay it.
func (r Result) Describe() string {
	replay := fmt.Sprintf("go test ./sim -run TestSwarmSweep -sim.seed=%d -sim.trace=/tmp", r.Seed)
	if r.Plan.Name != "swarm" {
		replay = fmt.Sprintf("save the plan (Result.Plan.Save(FILE)), then go test ./sim -run TestSwarmSweep -sim.plan=FILE -sim.seed=%d -sim.trace=/tmp", r.Seed)
	}
	return fmt.Sprintf("seed %d: %s\n  plan: %s\n  trace hash %s, %d events, virtual %v\n  replay: %s",
		r.Seed, r.Summary(), r.Plan.String(), short(r.TraceHash), r.Stats.Steps, r.Stats.VirtualTime, replay)
}

func short(h string) string {
	if len(h) > 16 {
		return h[:16]
	}
	return h
}
