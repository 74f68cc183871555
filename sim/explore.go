package sim

import (
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ciphermq/ciphermq/internal/check"
)

// ExploreConfig runs swarm seeds until a count or a time is reached
// (`ciphermq sim --duration`), optionally steered by what earlier runs
// reached (`--guided`). The CI sweep is Sweep, not this: Explore's
// seeds-per-batch barrier and its stop on wall time are for long and
// exploratory runs.
type ExploreConfig struct {
	// Template is copied for every run; its Seed, DrawSeed and Trace are
	// ignored.
	Template Config
	// First is the first seed; run i has seed First+i.
	First uint64
	// Runs, when positive, stops after this many runs; Duration, when
	// positive, stops starting batches once it has passed (the batch
	// running then finishes). At least one of them must be set.
	Runs     int
	Duration time.Duration
	// Workers run seeds in parallel (default 1).
	Workers int
	// Guided reuses the draws of runs that reached new behaviour (see
	// Explore); off, every run draws from its own seed, as in a sweep.
	Guided bool
	// KeepFailures bounds the failing results kept whole (default 10).
	KeepFailures int
	// Progress, when set, is called after each batch, from the goroutine
	// that called Explore, with the results so far.
	Progress func(r *ExploreResult)
	// now is the clock (time.Now when nil); tests replace it.
	now func() time.Time
}

// Candidate is one run's choice: its seed and the seed its plan and
// configuration were drawn from (zero: its own).
type Candidate struct {
	Seed, DrawSeed uint64
	// New is the number of features the run reached first.
	New int
}

// ExploreResult is what Explore found.
type ExploreResult struct {
	SweepResult
	Elapsed time.Duration
	// Features is the number of distinct behaviour features reached (see
	// Features); FreshRuns the runs that drew from their own seed.
	Features  int
	FreshRuns int
	// Corpus are the runs that reached a feature first, in the order
	// found; Reused counts the runs that reused a corpus entry's draws.
	Corpus []Candidate
	Reused int
	// FailedRuns lists every failing run (seed and draw seed) in run
	// order, also those beyond KeepFailures.
	FailedRuns []Candidate
	seen       map[string]bool
}

// exploreBatch is the number of runs one batch starts. Runs of a batch
// choose their draws from the corpus as it stood when the batch began, and
// its results are merged in run order; the size does not depend on the
// workers, so a guided exploration of a given number of runs is
// deterministic whatever the number of workers and their timing.
const exploreBatch = 16

// Explore runs seeds First, First+1, ... in batches until Runs runs or
// Duration has passed. Unguided, run i is swarm seed First+i exactly as
// Sweep runs it. Guided, each run has a fresh seed (First+i) but, with
// probability one half once the corpus is not empty, the draws (fault
// plan, configuration, authentication, hostile load: Config.DrawSeed) of a
// corpus entry: a run that reached a behaviour feature (Features) no
// earlier run had reached. Entries that found more new features are
// chosen more often. A failure's replay is its seed plus its draw seed.
func Explore(cfg ExploreConfig) ExploreResult {
	workers := max(cfg.Workers, 1)
	keep := cfg.KeepFailures
	if keep <= 0 {
		keep = 10
	}
	now := cfg.now
	if now == nil {
		now = time.Now
	}
	out := ExploreResult{seen: map[string]bool{}}
	out.Coverage = check.NewCoverage()
	start := now()
	choose := rand.New(rand.NewPCG(cfg.First, 0x6E1DED))
	for {
		if cfg.Runs > 0 && out.Runs >= cfg.Runs {
			break
		}
		if cfg.Duration > 0 && now().Sub(start) >= cfg.Duration {
			break
		}
		if cfg.Runs <= 0 && cfg.Duration <= 0 {
			break
		}
		n := exploreBatch
		if cfg.Runs > 0 {
			n = min(n, cfg.Runs-out.Runs)
		}
		cands := make([]Candidate, n)
		for i := range cands {
			cands[i].Seed = cfg.First + uint64(out.Runs+i)
			if cfg.Guided && len(out.Corpus) > 0 && choose.IntN(2) == 0 {
				cands[i].DrawSeed = pickCorpus(choose, out.Corpus)
			}
		}
		results := runBatch(cfg.Template, cands, workers)
		for i, r := range results {
			out.add(r, cands[i], keep)
		}
		out.Elapsed = now().Sub(start)
		if cfg.Progress != nil {
			cfg.Progress(&out)
		}
	}
	out.Elapsed = now().Sub(start)
	// Only fresh draws are swarm seeds in the sense of the budget rule.
	req := RequiredSometimes(out.FreshRuns, cfg.Template)
	cov := check.NewCoverage(req...)
	cov.Merge(out.Coverage)
	out.Coverage = cov
	return out
}

// pickCorpus draws a corpus entry's draw seed, an entry with k new
// features weighted 1+k.
func pickCorpus(g *rand.Rand, corpus []Candidate) uint64 {
	total := 0
	for _, c := range corpus {
		total += 1 + c.New
	}
	x := g.IntN(total)
	for _, c := range corpus {
		x -= 1 + c.New
		if x < 0 {
			return c.effectiveDraw()
		}
	}
	return corpus[len(corpus)-1].effectiveDraw()
}

func (c Candidate) effectiveDraw() uint64 {
	if c.DrawSeed != 0 {
		return c.DrawSeed
	}
	return c.Seed
}

func runBatch(tmpl Config, cands []Candidate, workers int) []Result {
	results := make([]Result, len(cands))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, len(cands)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				c := tmpl
				c.Seed, c.DrawSeed, c.Trace = cands[i].Seed, cands[i].DrawSeed, nil
				r := Run(c)
				if r.OK() {
					r.History = check.History{}
				}
				results[i] = r
			}
		}()
	}
	for i := range cands {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

func (out *ExploreResult) add(r Result, c Candidate, keep int) {
	out.Runs++
	if c.DrawSeed == 0 {
		out.FreshRuns++
	} else {
		out.Reused++
	}
	out.Hashes = append(out.Hashes, r.TraceHash)
	if out.SweepResult.add(r, keep) {
		out.FailedRuns = append(out.FailedRuns, c)
	}
	for _, f := range Features(r) {
		if !out.seen[f] {
			out.seen[f] = true
			c.New++
		}
	}
	out.Features = len(out.seen)
	if c.New > 0 {
		out.Corpus = append(out.Corpus, c)
	}
}

// Features is the simulator's own cheap coverage signal of one run, the
// one the guided explorer steers by: every "sometimes" counter, the run's
// faults and crashes, and the checker's informational categories, each as
// name and the power-of-two bucket of its count (1, 2-3, 4-7, ...; zero is
// no feature), AFL style; plus the set of faults the plan switched on. It
// is deterministic (a function of the run's result), unlike Go's coverage
// counters, and costs nothing to collect.
func Features(r Result) []string {
	var fs []string
	add := func(name string, n uint64) {
		if n > 0 {
			fs = append(fs, fmt.Sprintf("%s:%d", name, bits.Len64(n)))
		}
	}
	cv := check.NewCoverage()
	r.Coverage.AddTo(cv)
	for _, field := range strings.Fields(cv.String()) {
		name, _, ok := strings.Cut(field, "=")
		if ok {
			add(name, cv.Count(name))
		}
	}
	s := r.Stats
	add("broker-crashes", s.BrokerCrashes)
	add("publisher-crashes", s.PublisherCrashes)
	add("receiver-crashes", s.ReceiverCrashes)
	add("resends", s.PublisherResends)
	add("reconnects", s.ClientReconnects)
	add("partition-changes", s.PartitionChanges)
	add("dropped", s.Dropped)
	add("duplicated-frames", s.Duplicated)
	add("breaks", s.Breaks)
	add("re-enqueued-after-forgetting", r.Oracle.Resent)
	rep := r.Report
	add("recovered", uint64(len(rep.Recovered)))
	add("legitimately-lost", uint64(len(rep.LegitimatelyLost)))
	add("stranded", uint64(len(rep.Stranded)))
	add("abandoned", uint64(len(rep.Abandoned)))
	add("dead-lettered", uint64(len(rep.DeadLettered)))
	add("indeterminate", uint64(len(rep.Indeterminate)))
	for code, n := range rep.RefusedByCode {
		add(fmt.Sprintf("refused-%d", code), uint64(n))
	}
	if on := r.Plan.Enabled(); len(on) > 0 {
		fs = append(fs, "faults:"+strings.Join(on, "+"))
	}
	slices.Sort(fs)
	return fs
}

// Print writes the exploration's table: runs, failures, speed, features
// and the corpus, the "sometimes" counts, and one replay line per failing
// run (replay renders a run's replay command).
func (out *ExploreResult) Print(w io.Writer, guided bool, replay func(Candidate) string) {
	row := func(k, v string) { fmt.Fprintf(w, "  %-30s %s\n", k, v) }
	mode := "unguided (every run draws from its own seed)"
	if guided {
		mode = "guided (half the runs reuse the draws of runs that reached new features)"
	}
	fmt.Fprintf(w, "exploration: %s\n", mode)
	row("seeds run", fmt.Sprint(out.Runs))
	row("failures", fmt.Sprint(out.Failed))
	row("wall time", out.Elapsed.Round(time.Millisecond).String())
	row("seeds per minute", fmt.Sprintf("%.0f", float64(out.Runs)/max(out.Elapsed.Minutes(), 1e-9)))
	row("simulated msgs per wall second", fmt.Sprintf("%.0f (%d messages published)",
		float64(out.Messages)/max(out.Elapsed.Seconds(), 1e-9), out.Messages))
	row("behaviour features reached", fmt.Sprint(out.Features))
	row("corpus (new-feature runs)", fmt.Sprint(len(out.Corpus)))
	if guided {
		row("runs on reused draws", fmt.Sprint(out.Reused))
	}
	fmt.Fprintln(w, "coverage (\"sometimes\" events over all runs):")
	fmt.Fprintf(w, "  %s\n", out.Coverage.String())
	if m := out.Coverage.Missing(); len(m) > 0 {
		fmt.Fprintf(w, "NEVER SEEN (a failure): %s\n", strings.Join(m, ", "))
	}
	for i, c := range out.FailedRuns {
		if i == fullFailureLines {
			fmt.Fprintf(w, "%d more failing runs\n", len(out.FailedRuns)-fullFailureLines)
			break
		}
		fmt.Fprintf(w, "FAILED seed %d; replay: %s\n", c.Seed, replay(c))
	}
}

// fullFailureLines bounds the failing runs Print lists.
const fullFailureLines = 50

// Err is the exploration's verdict: a failing run, or a required
// "sometimes" event its fresh runs should have reached.
func (out *ExploreResult) Err(replay func(Candidate) string) error {
	switch {
	case out.Failed > 0:
		return fmt.Errorf("%d of %d runs failed; replay the first with: %s", out.Failed, out.Runs, replay(out.FailedRuns[0]))
	case len(out.Coverage.Missing()) > 0:
		return fmt.Errorf("every run passed, but these \"sometimes\" events never happened in %d fresh runs: %s",
			out.FreshRuns, strings.Join(out.Coverage.Missing(), ", "))
	}
	return nil
}
