package sim

import (
	"fmt"
	"sync"

	"github.com/ciphermq/ciphermq/scenarios/check"
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
}

// Sweep runs cfg.Seeds seeds from cfg.First and collects the verdicts.
func Sweep(cfg SweepConfig) SweepResult {
	if cfg.Seeds < 0 {
		cfg.Seeds = 0
	}
	workers := max(cfg.Workers, 1)
	keep := cfg.KeepFailures
	if keep <= 0 {
		keep = 10
	}
	results := make([]Result, cfg.Seeds)
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c := cfg.Template
				c.Seed = cfg.First + uint64(i)
				c.Trace = nil
				res := Run(c)
				// Drop the bulky parts; failures are replayed from the seed.
				if res.OK() {
					res.History = check.History{}
				}
				results[i] = res
			}
		}()
	}
	for i := 0; i < cfg.Seeds; i++ {
		next <- i
	}
	close(next)
	wg.Wait()

	out := SweepResult{Runs: cfg.Seeds, Coverage: check.NewCoverage(check.StandardSometimes()...),
		Hashes: make([]string, cfg.Seeds)}
	for i, r := range results {
		r.Coverage.AddTo(out.Coverage)
		out.Hashes[i] = r.TraceHash
		if !r.OK() {
			out.Failed++
			if len(out.Failures) < keep {
				out.Failures = append(out.Failures, r)
			}
		}
	}
	return out
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
