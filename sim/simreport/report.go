// Package simreport is what 'ciphermq sim' runs and prints: one verdict
// per invariant (docs/architecture.md, "Invariants"), the report of one
// seed and of a sweep, as text or JSON, the sweep's progress line, the
// mutation catalogue (--mutate, --mutants) and the runs behind them
// (RunSeed, RunSweep, RunExplore, RunMutants; run.go). It decides nothing
// about a run: the simulator and internal/check do; this package runs the
// simulator as the command asks, then sorts and shows.
package simreport

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ciphermq/ciphermq/internal/check"
	"github.com/ciphermq/ciphermq/sim"
)

// CoverageBatch is the smallest swarm sweep that must reach every
// "sometimes" event (the batch size sim's own sweep test promises them for).
const CoverageBatch = sim.SometimesBudget

// Verdict is one invariant's outcome in one run.
type Verdict struct {
	Invariant string `json:"invariant"`
	// Status is "ok", "VIOLATED" or "not checked".
	Status string `json:"status"`
	Detail string `json:"detail"`
}

// Violated reports whether the run broke the invariant.
func (v Verdict) Violated() bool { return v.Status == "VIOLATED" }

func status(ok bool) string {
	if ok {
		return "ok"
	}
	return "VIOLATED"
}

// Verdicts sorts a run's findings by invariant (docs/architecture.md,
// "Invariants").
func Verdicts(r sim.Result) []Verdict {
	rep := r.Report
	vs := []Verdict{
		{"I1 no loss", status(len(rep.Lost) == 0),
			fmt.Sprintf("lost=%d (excused: legitimately lost %d, stranded %d, dead-lettered %d)",
				len(rep.Lost), len(rep.LegitimatelyLost), len(rep.Stranded), len(rep.DeadLettered))},
		{"I2 exactly once", status(len(rep.Duplicated) == 0 && len(r.EnqueuedTwice) == 0 && len(r.EnqueuedAgain) == 0),
			fmt.Sprintf("duplicated=%d enqueued-twice=%d enqueued-again=%d (receiver dedup hits %d, broker dedup hits %d, re-enqueued after a restart that forgot %d)",
				len(rep.Duplicated), len(r.EnqueuedTwice), len(r.EnqueuedAgain), r.Coverage.DedupHitReceiver, r.Coverage.DedupHitBroker, r.Oracle.Resent)},
		{"I3 integrity", status(len(rep.Corrupted) == 0 && len(rep.Unexpected) == 0),
			fmt.Sprintf("corrupted=%d unexpected=%d (tampered copies rejected: %d)",
				len(rep.Corrupted), len(rep.Unexpected), len(r.Rejected))},
		{"I4 publisher liveness", status(len(rep.Pending) == 0 && r.Converged),
			fmt.Sprintf("pending=%d converged=%t (abandoned %d, indeterminate %d)",
				len(rep.Pending), r.Converged, len(rep.Abandoned), len(rep.Indeterminate))},
	}
	if len(r.Options.OrderedQueues) == 0 {
		vs = append(vs, Verdict{"I5 order", "not checked", "not promised for this weather (order is checked only where the weather keeps I5's premise: TCP-like links, no crashes, unbounded queues)"})
	} else {
		vs = append(vs, Verdict{"I5 order", status(len(rep.Nonmonotonic) == 0 && len(rep.Skipped) == 0),
			fmt.Sprintf("nonmonotonic=%d skipped=%d over %d ordered queues",
				len(rep.Nonmonotonic), len(rep.Skipped), len(r.Options.OrderedQueues))})
	}
	vs = append(vs, Verdict{"I6 bounds", status(len(r.PrefetchExceeded) == 0 && len(r.OverLimit) == 0),
		fmt.Sprintf("prefetch-exceeded=%d over-limit=%d", len(r.PrefetchExceeded), len(r.OverLimit))})
	vs = append(vs, Verdict{"routing", status(len(r.Misrouted) == 0),
		fmt.Sprintf("misrouted=%d (the core's queues against the reference model: %d enqueues over %d compared steps)",
			len(r.Misrouted), r.Oracle.Enqueues, r.Oracle.Steps)})
	if r.Auth || len(r.AccessViolations) > 0 {
		// Authenticated runs only (30% of swarm seeds, every seed with --auth).
		vs = append(vs, Verdict{"access control", status(len(r.AccessViolations) == 0),
			fmt.Sprintf("violations=%d (hostile tenant: %s)", len(r.AccessViolations), r.Hostile)})
	}
	if r.Load || len(r.LoadViolations) > 0 {
		// Runs with the hostile-load node only.
		first := ""
		if len(r.LoadViolations) > 0 {
			first = "; first: " + r.LoadViolations[0]
		}
		vs = append(vs, Verdict{"command cost", status(len(r.LoadViolations) == 0),
			fmt.Sprintf("over-bound=%d (hostile load: %s)%s", len(r.LoadViolations), r.LoadStats, first)})
	}
	if len(rep.Malformed) > 0 {
		vs = append(vs, Verdict{"history", "VIOLATED", fmt.Sprintf("malformed=%d (a recorder's mistake)", len(rep.Malformed))})
	}
	if r.Err != nil {
		vs = append(vs, Verdict{"run", "VIOLATED", r.Err.Error()})
	}
	return vs
}

// Seed is one run as --json prints it.
type Seed struct {
	Seed       uint64       `json:"seed"`
	OK         bool         `json:"ok"`
	Summary    string       `json:"summary"`
	Plan       string       `json:"plan"`
	FaultsOn   []string     `json:"faults_on"`
	TraceHash  string       `json:"trace_hash"`
	TraceLines uint64       `json:"trace_lines"`
	Verdicts   []Verdict    `json:"Verdicts"`
	Coverage   sim.Coverage `json:"coverage"`
	Stats      sim.Stats    `json:"stats"`
	Report     check.Report `json:"report"`
	WallMs     float64      `json:"wall_ms"`
	MsgsPerSec float64      `json:"simulated_msgs_per_wall_sec"`
	Mutations  []string     `json:"mutations,omitempty"`
	Replay     string       `json:"replay"`
	// Auth: the run was authenticated; Hostile is its hostile tenant's
	// counts (refusals by code).
	Auth    bool              `json:"auth"`
	Hostile *sim.HostileStats `json:"hostile,omitempty"`
	// Load: the run had a hostile-load node; LoadStats its counts.
	Load      bool           `json:"hostile_load"`
	LoadStats *sim.LoadStats `json:"hostile_load_stats,omitempty"`
}

// PrintSeed prints one run as text.
func PrintSeed(w io.Writer, r Seed) {
	fmt.Fprintf(w, "seed %d: %s\n", r.Seed, r.Summary)
	if len(r.Mutations) > 0 {
		fmt.Fprintf(w, "TEST ONLY mutations on: %s (a failure is expected)\n", strings.Join(r.Mutations, ", "))
	}
	fmt.Fprintf(w, "trace hash %s (%d lines)\n", r.TraceHash, r.TraceLines)
	for _, v := range r.Verdicts {
		fmt.Fprintf(w, "  %-22s %-11s %s\n", v.Invariant, v.Status, v.Detail)
	}
	fmt.Fprintf(w, "plan: %s\n", r.Plan)
	on := "none"
	if len(r.FaultsOn) > 0 {
		on = strings.Join(r.FaultsOn, ", ")
	}
	fmt.Fprintf(w, "faults on: %s\n", on)
	if r.Hostile != nil {
		fmt.Fprintf(w, "authenticated: hostile tenant %s\n", r.Hostile)
	}
	cv := check.NewCoverage()
	r.Coverage.AddTo(cv)
	fmt.Fprintf(w, "coverage: %s\n", cv.String())
	s := r.Stats
	fmt.Fprintf(w, "stats: %d steps, virtual %v (healed at %v, converged at %v), %d messages published, %d resends, %d reconnects\n",
		s.Steps, s.VirtualTime, s.HealedAt, s.ConvergedAt, s.MessagesPublished, s.PublisherResends, s.ClientReconnects)
	fmt.Fprintf(w, "  network: %d sent, %d dropped, %d duplicated, %d breaks, %d partition changes\n",
		s.Sent, s.Dropped, s.Duplicated, s.Breaks, s.PartitionChanges)
	fmt.Fprintf(w, "  crashes: broker %d, publishers %d, receivers %d; %d disk syncs\n",
		s.BrokerCrashes, s.PublisherCrashes, s.ReceiverCrashes, s.DiskSyncs)
	fmt.Fprintf(w, "speed: %.1f ms wall, %.0f simulated msgs per wall second\n", r.WallMs, r.MsgsPerSec)
	if !r.OK {
		fmt.Fprintf(w, "FAILED; replay: %s\n", r.Replay)
	}
}

// SweepFailure is one failing seed of a sweep.
type SweepFailure struct {
	Seed      uint64 `json:"seed"`
	Summary   string `json:"summary"`
	Plan      string `json:"plan"`
	TraceHash string `json:"trace_hash"`
	Replay    string `json:"replay"`
}

// Sweep is a sweep as --json prints it.
type Sweep struct {
	First       uint64  `json:"first"`
	Last        uint64  `json:"last"`
	Runs        int     `json:"runs"`
	Failed      int     `json:"failed"`
	Workers     int     `json:"workers"`
	WallSec     float64 `json:"wall_sec"`
	SeedsPerMin float64 `json:"seeds_per_min"`
	// Messages is the sum of the messages every run published (a publisher
	// that crashes for good publishes fewer than the workload plans).
	Messages   uint64            `json:"msgs_published"`
	MsgsPerSec float64           `json:"simulated_msgs_per_wall_sec"`
	Coverage   map[string]uint64 `json:"coverage"`
	// CoverageRequired: a swarm sweep of at least CoverageBatch seeds must
	// see every standard "sometimes" event; Missing lists those it did not.
	CoverageRequired bool           `json:"coverage_required"`
	Missing          []string       `json:"missing_sometimes"`
	Failures         []SweepFailure `json:"failures"`
	Mutations        []string       `json:"mutations,omitempty"`
	// AuthRuns counts the authenticated seeds; Hostile sums their hostile
	// tenants' counts (refusals by code).
	AuthRuns uint64           `json:"auth_runs"`
	Hostile  sim.HostileStats `json:"hostile"`
	// LoadRuns counts the seeds with a hostile-load node; Load sums their
	// counts.
	LoadRuns uint64        `json:"hostile_load_runs"`
	Load     sim.LoadStats `json:"hostile_load"`
}

// err is the sweep's exit Verdict: a failing seed, or a required
// "sometimes" event that never happened.
func (r Sweep) Err() error {
	switch {
	case r.Failed > 0:
		return fmt.Errorf("%d of %d seeds failed; replay the first with: %s", r.Failed, r.Runs, r.Failures[0].Replay)
	case len(r.Missing) > 0:
		return fmt.Errorf("every seed passed, but these \"sometimes\" events never happened in %d seeds: %s: "+
			"the sweep did not exercise the code behind them (widen the range or the weather)", r.Runs, strings.Join(r.Missing, ", "))
	}
	return nil
}

// CoverageCounts lists every counter of cv by name.
func CoverageCounts(cv *check.Coverage) map[string]uint64 {
	out := map[string]uint64{}
	for _, field := range strings.Fields(cv.String()) {
		name, _, ok := strings.Cut(field, "=")
		if ok {
			out[name] = cv.Count(name)
		}
	}
	return out
}

// PrintSweep prints a sweep as text.
func PrintSweep(w io.Writer, r Sweep) {
	fmt.Fprintf(w, "sweep of seeds %d..%d (%d workers)\n", r.First, r.Last, r.Workers)
	if len(r.Mutations) > 0 {
		fmt.Fprintf(w, "TEST ONLY mutations on: %s (failures are expected)\n", strings.Join(r.Mutations, ", "))
	}
	row := func(k, v string) { fmt.Fprintf(w, "  %-30s %s\n", k, v) }
	row("seeds run", strconv.Itoa(r.Runs))
	row("failures", strconv.Itoa(r.Failed))
	row("wall time", (time.Duration(r.WallSec * float64(time.Second))).Round(time.Millisecond).String())
	row("seeds per minute", fmt.Sprintf("%.0f", r.SeedsPerMin))
	row("simulated msgs per wall second", fmt.Sprintf("%.0f (%d messages published)", r.MsgsPerSec, r.Messages))
	row("authenticated seeds", strconv.FormatUint(r.AuthRuns, 10))
	if r.AuthRuns > 0 {
		row("hostile tenant", r.Hostile.String())
	}
	row("hostile-load seeds", strconv.FormatUint(r.LoadRuns, 10))
	if r.LoadRuns > 0 {
		row("hostile load", r.Load.String())
	}
	fmt.Fprintln(w, "coverage (\"sometimes\" events over all seeds):")
	names := make([]string, 0, len(r.Coverage))
	for name := range r.Coverage {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fmt.Fprintf(w, "  %-30s %d\n", name, r.Coverage[name])
	}
	switch {
	case !r.CoverageRequired:
		fmt.Fprintf(w, "coverage not required: only swarm sweeps of %d seeds or more must reach every event\n", CoverageBatch)
	case len(r.Missing) > 0:
		fmt.Fprintf(w, "NEVER SEEN (a failure): %s\n", strings.Join(r.Missing, ", "))
	default:
		fmt.Fprintln(w, "every required \"sometimes\" event was seen")
	}
	for i, f := range r.Failures {
		if i == FullFailures {
			fmt.Fprintf(w, "%d more failing seeds (summaries in --json):\n", len(r.Failures)-FullFailures)
		}
		if i >= FullFailures {
			fmt.Fprintf(w, "FAILED seed %d; replay: %s\n", f.Seed, f.Replay)
			continue
		}
		fmt.Fprintf(w, "FAILED seed %d: %s\n  plan: %s\n  trace hash %s\n  replay: %s\n", f.Seed, f.Summary, f.Plan, f.TraceHash, f.Replay)
	}
}

// FullFailures bounds the failing seeds a sweep's table shows in full; the
// others get one line with their replay command.
const FullFailures = 20

// Bar redraws one progress line on a terminal (or when forced).
type Bar struct {
	w     io.Writer
	total int
	on    bool
}

// NewBar returns the progress line of a sweep of total seeds; it draws
// nothing unless on.
func NewBar(w io.Writer, total int, on bool) *Bar {
	return &Bar{w: w, total: total, on: on}
}

// Update redraws the line.
func (b *Bar) Update(done, failed int, elapsed time.Duration) {
	if !b.on || b.total == 0 {
		return
	}
	const width = 30
	fill := done * width / b.total
	fmt.Fprintf(b.w, "\r\033[K[%s%s] %d/%d seeds, %d failed, %.0f seeds/min", strings.Repeat("#", fill),
		strings.Repeat(" ", width-fill), done, b.total, failed, float64(done)/max(elapsed.Minutes(), 1e-9))
}

// Finish ends the line.
func (b *Bar) Finish() {
	if b.on && b.total > 0 {
		fmt.Fprintln(b.w)
	}
}

// PerSecond is n per second of d.
func PerSecond(n uint64, d time.Duration) float64 {
	return float64(n) / max(d.Seconds(), 1e-9)
}

// WriteJSON writes v as indented JSON.
func WriteJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
