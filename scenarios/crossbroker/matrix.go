package crossbroker

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// This file is what `ciphermq scenario matrix` (and `scenario run
// --target`) run and print.

// RunMatrix runs every scenario of scenarios (names) against every target
// of targets (target names, ExpandTargets), printing each run's report
// (Result.Describe) as it ends and then the table (WriteTable) on out. It
// fails when a scenario name is unknown (before running anything), when
// ctx ends, or when a run did not complete; a run the checker failed is in
// the table, not an error.
func RunMatrix(ctx context.Context, out io.Writer, scenarios, targets []string, o Options, cfg Config) error {
	var scs []Scenario
	for _, name := range scenarios {
		sc, ok := Lookup(name)
		if !ok {
			return fmt.Errorf("unknown cross-broker scenario %q: use one of %s", name, strings.Join(ScenarioNames(), ", "))
		}
		scs = append(scs, sc)
	}
	var results []Result
	var incomplete []string
	for _, tg := range targets {
		for _, sc := range scs {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			res := Run(ctx, tg, sc, o, cfg)
			fmt.Fprint(out, res.Describe())
			if res.Err != nil {
				incomplete = append(incomplete, tg+"/"+sc.Name)
			}
			results = append(results, res)
		}
	}
	fmt.Fprintln(out)
	WriteTable(out, results)
	if len(incomplete) > 0 {
		return fmt.Errorf("runs did not complete: %s (replay with --seed %d)", strings.Join(incomplete, ", "), cfg.Seed)
	}
	return nil
}

// Describe is the report of one run: target, scenario, settings, the
// checker's summary and counts, and the notes.
func (r Result) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "target %s, scenario %s\n  settings: %s\n", r.Target, r.Scenario, r.Settings)
	if r.Err != nil {
		fmt.Fprintf(&b, "  RUN INCOMPLETE: %v (files in %s)\n", r.Err, r.Dir)
	}
	fmt.Fprintf(&b, "  %s\n", r.Report.Summary())
	fmt.Fprintf(&b, "  lost %d, duplicated %d (redelivered %d), unexpected %d, corrupted %d, pending %d; indeterminate attempts %d, abandoned %d\n",
		len(r.Report.Lost), len(r.Report.Duplicated), r.Redelivered, len(r.Report.Unexpected), len(r.Report.Corrupted), len(r.Report.Pending),
		r.Indeterminate, r.Abandoned)
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	return b.String()
}

// WriteTable prints the target × scenario table, in the Markdown form
// docs/testing.md holds.
func WriteTable(out io.Writer, results []Result) {
	w := tabwriter.NewWriter(out, 0, 4, 1, ' ', 0)
	fmt.Fprintln(w, "| target\t| scenario\t| confirmed\t| lost\t| duplicated (redelivered / republished)\t| unexpected\t| indeterminate\t| checker (exactly once)\t|")
	fmt.Fprintln(w, "|---\t|---\t|---\t|---\t|---\t|---\t|---\t|---\t|")
	for _, r := range results {
		verdict := "ok"
		switch {
		case r.Err != nil:
			verdict = "incomplete"
		case !r.Report.OK():
			verdict = "FAIL"
		}
		c := r.Report.Counts
		fmt.Fprintf(w, "| %s\t| %s\t| %d\t| %d\t| %d (%d / %d)\t| %d\t| %d\t| %s\t|\n", r.Target, r.Scenario,
			c.Confirmed+c.ConfirmedDuplicate, len(r.Report.Lost), len(r.Report.Duplicated), r.Redelivered,
			len(r.Report.Duplicated)-r.Redelivered, len(r.Report.Unexpected),
			r.Indeterminate+r.Abandoned, verdict)
	}
	w.Flush()
}
