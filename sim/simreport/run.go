package simreport

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ciphermq/ciphermq/sim"
)

// This file runs the simulator the way `ciphermq sim` asks for it (one
// seed, a sweep, an exploration) and prints each run's report; the command
// only turns its flags into a sim.Config and the replay flags. Error
// messages name the command's flags.

// errInvalid wraps a configuration the simulator refused.
func errInvalid(err error) error { return fmt.Errorf("%w: fix the flags (ciphermq sim --help)", err) }

// ReplayCommand is the exact command that runs seed again with flags (the
// flags that define the run, already rendered for a shell: ShellQuote).
func ReplayCommand(seed uint64, flags []string) string {
	return strings.Join(append([]string{"ciphermq sim --seed " + strconv.FormatUint(seed, 10)}, flags...), " ")
}

// ShellQuote quotes s for a POSIX shell when it holds anything but safe
// characters.
func ShellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ParseSeedRange reads --seeds "A..B" (both included, A <= B): the first
// seed and how many.
func ParseSeedRange(s string) (first uint64, n int, err error) {
	a, b, ok := strings.Cut(s, "..")
	if !ok {
		return 0, 0, fmt.Errorf("--seeds %q: write a range A..B, e.g. 1..2000", s)
	}
	lo, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 64)
	hi, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 64)
	switch {
	case err1 != nil || err2 != nil:
		return 0, 0, fmt.Errorf("--seeds %q: both ends must be whole numbers, e.g. 1..2000", s)
	case hi < lo:
		return 0, 0, fmt.Errorf("--seeds %q: need A <= B", s)
	case hi-lo >= 1<<31:
		return 0, 0, fmt.Errorf("--seeds %q: more than 2^31 seeds: sweep a smaller range", s)
	}
	return lo, int(hi-lo) + 1, nil
}

// SeedRun is one seed to run and how to show it.
type SeedRun struct {
	Config    sim.Config // with its Seed (and Trace, to print the trace first)
	JSON      bool       // print one JSON object instead of text
	Mutations []string   // the --mutate names, shown in the report
	Replay    []string   // the replay command's flags
}

// RunSeed runs one seed, prints its report (PrintSeed or WriteJSON) and
// returns an error naming the replay command when the run failed.
func RunSeed(w io.Writer, o SeedRun) error {
	start := time.Now()
	r := sim.Run(o.Config)
	wall := time.Since(start)
	if errors.Is(r.Err, sim.ErrInvalidConfig) {
		return errInvalid(r.Err)
	}
	rep := SeedReport(r, wall, o.Mutations, ReplayCommand(r.Seed, o.Replay))
	if o.JSON {
		if err := WriteJSON(w, rep); err != nil {
			return err
		}
	} else {
		PrintSeed(w, rep)
	}
	if !rep.OK {
		return fmt.Errorf("seed %d failed: %s\nreplay: %s", r.Seed, r.Summary(), rep.Replay)
	}
	return nil
}

// SeedReport is the report of run r, which took wall.
func SeedReport(r sim.Result, wall time.Duration, mutations []string, replay string) Seed {
	rep := Seed{
		Seed: r.Seed, OK: r.OK(), Summary: r.Summary(), Plan: r.Plan.String(), FaultsOn: r.Plan.Enabled(),
		TraceHash: r.TraceHash, TraceLines: r.TraceLines, Verdicts: Verdicts(r), Coverage: r.Coverage,
		Stats: r.Stats, Report: r.Report, WallMs: float64(wall.Microseconds()) / 1000,
		MsgsPerSec: PerSecond(r.Stats.MessagesPublished, wall), Mutations: mutations,
		Replay: replay, Auth: r.Auth,
	}
	if r.Auth {
		rep.Hostile = &r.Hostile
	}
	if r.Load {
		rep.Load, rep.LoadStats = true, &r.LoadStats
	}
	if rep.FaultsOn == nil {
		rep.FaultsOn = []string{}
	}
	return rep
}

// SweepRun is a sweep to run and how to show it.
type SweepRun struct {
	Config    sim.Config // the template; each run sets its Seed
	First     uint64
	Seeds     int
	Workers   int
	Progress  bool // draw the progress line on the errors writer
	JSON      bool
	Mutations []string
	Replay    []string
}

// RunSweep runs the seeds, prints the sweep's report (PrintSweep or
// WriteJSON) and returns its verdict (Sweep.Err).
func RunSweep(w, errW io.Writer, o SweepRun) error {
	cfg, first, n := o.Config, o.First, o.Seeds
	rep := Sweep{First: first, Last: first + uint64(n) - 1, Workers: o.Workers, Mutations: o.Mutations,
		CoverageRequired: cfg.Swarm && n >= CoverageBatch, Failures: []SweepFailure{}, Missing: []string{}}
	bar := NewBar(errW, n, o.Progress)
	start := time.Now()
	// Failures are summarised as they arrive, so no failing run is kept
	// whole (its history can be large); they are sorted by seed below.
	res := sim.Sweep(sim.SweepConfig{Template: cfg, First: first, Seeds: n, Workers: o.Workers, KeepFailures: 1,
		Progress: func(done int, r sim.Result) {
			if !r.OK() {
				rep.Failures = append(rep.Failures, SweepFailure{Seed: r.Seed, Summary: r.Summary(), Plan: r.Plan.String(),
					TraceHash: r.TraceHash, Replay: ReplayCommand(r.Seed, o.Replay)})
			}
			bar.Update(done, len(rep.Failures), time.Since(start))
		}})
	bar.Finish()
	wall := time.Since(start)
	if len(res.Failures) > 0 && errors.Is(res.Failures[0].Err, sim.ErrInvalidConfig) {
		return errInvalid(res.Failures[0].Err)
	}
	sort.Slice(rep.Failures, func(i, j int) bool { return rep.Failures[i].Seed < rep.Failures[j].Seed })
	rep.Runs, rep.Failed, rep.Messages = res.Runs, res.Failed, res.Messages
	rep.AuthRuns, rep.Hostile = res.AuthRuns, res.Hostile
	rep.LoadRuns, rep.Load = res.LoadRuns, res.Load
	cov := res.Coverage
	rep.WallSec = wall.Seconds()
	rep.SeedsPerMin = float64(rep.Runs) / max(wall.Minutes(), 1e-9)
	rep.MsgsPerSec = PerSecond(rep.Messages, wall)
	rep.Coverage = CoverageCounts(cov)
	if rep.CoverageRequired {
		rep.Missing = append(rep.Missing, cov.Missing()...)
	}
	if o.JSON {
		if err := WriteJSON(w, rep); err != nil {
			return err
		}
	} else {
		PrintSweep(w, rep)
	}
	return rep.Err()
}

// RunExplore runs sim.Explore (--duration, --guided), prints what it found
// and returns its verdict; a failure's replay command names its draw seed
// when it reused another run's draws.
func RunExplore(w io.Writer, ec sim.ExploreConfig, replay []string) error {
	res := sim.Explore(ec)
	if len(res.Failures) > 0 && errors.Is(res.Failures[0].Err, sim.ErrInvalidConfig) {
		return errInvalid(res.Failures[0].Err)
	}
	rp := func(c sim.Candidate) string {
		fl := replay
		if c.DrawSeed != 0 {
			fl = append(slices.Clone(replay), "--draw-seed "+strconv.FormatUint(c.DrawSeed, 10))
		}
		return ReplayCommand(c.Seed, fl)
	}
	res.Print(w, ec.Guided, rp)
	return res.Err(rp)
}
