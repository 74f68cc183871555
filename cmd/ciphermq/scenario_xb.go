package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ciphermq/ciphermq/scenarios/crossbroker"
)

// runCrossBroker runs the cross-broker scenario name against every target
// of targets (names or families: ciphermq, rabbitmq, nats) and prints a
// report per run and the table; it fails when a run did not complete.
func runCrossBroker(ctx context.Context, out io.Writer, scenarios, targets []string, seed uint64, keep bool, timeout time.Duration) error {
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the ciphermq binary to start as the broker: %w", err)
	}
	var scs []crossbroker.Scenario
	for _, name := range scenarios {
		sc, ok := crossbroker.Lookup(name)
		if !ok {
			return fmt.Errorf("unknown cross-broker scenario %q: use one of %s", name, strings.Join(crossbroker.ScenarioNames(), ", "))
		}
		scs = append(scs, sc)
	}
	var results []crossbroker.Result
	var incomplete []string
	for _, tg := range targets {
		for _, sc := range scs {
			name := sc.Name
			if ctx.Err() != nil {
				return ctx.Err()
			}
			res := crossbroker.Run(ctx, tg, sc, crossbroker.Options{CipherBinary: bin}, crossbroker.Config{Seed: seed, Keep: keep, Timeout: timeout})
			fmt.Fprint(out, describeXB(res))
			if res.Err != nil {
				incomplete = append(incomplete, tg+"/"+name)
			}
			results = append(results, res)
		}
	}
	fmt.Fprintln(out)
	writeXBTable(out, results)
	if len(incomplete) > 0 {
		return fmt.Errorf("runs did not complete: %s (replay with --seed %d)", strings.Join(incomplete, ", "), seed)
	}
	return nil
}

func describeXB(r crossbroker.Result) string {
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

// writeXBTable prints the target × scenario table, in the Markdown form
// docs/testing.md holds.
func writeXBTable(out io.Writer, results []crossbroker.Result) {
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

func newScenarioMatrixCmd() *cobra.Command {
	var (
		targets, scenarios string
		seed               uint64
		keep               bool
		timeout            time.Duration
	)
	cmd := &cobra.Command{
		Use:   "matrix",
		Short: "Run the cross-broker scenarios against CipherMQ, RabbitMQ and NATS JetStream and print the table",
		Long: `matrix runs each cross-broker scenario (` + strings.Join(crossbroker.ScenarioNames(), ", ") + `) against each
target: the broker is started as a process here (this binary as "ciphermq server"; rabbitmq-server and
nats-server as installed by apt-get, as bench/compare installs them), with the fault proxy in front
of it, and the checker judges what the client saw. Targets: ciphermq, rabbitmq, nats (each both of its
configurations) or ` + strings.Join(crossbroker.TargetNames(), ", ") + `. See docs/testing.md, "Other brokers".`,
		Example: "  ciphermq scenario matrix --targets ciphermq,rabbitmq,nats\n  ciphermq scenario matrix --targets nats-file --scenarios broker-kill",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ts, err := crossbroker.ExpandTargets(targets)
			if err != nil {
				return err
			}
			var scs []string
			for _, s := range strings.Split(scenarios, ",") {
				if s = strings.TrimSpace(s); s != "" {
					scs = append(scs, s)
				}
			}
			if len(scs) == 0 {
				return errors.New("no scenario given")
			}
			if !cmd.Flags().Changed("seed") {
				seed = uint64(time.Now().UnixNano())
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runCrossBroker(ctx, cmd.OutOrStdout(), scs, ts, seed, keep, timeout)
		},
	}
	f := cmd.Flags()
	f.StringVar(&targets, "targets", "ciphermq,rabbitmq,nats", "comma-separated targets or families")
	f.StringVar(&scenarios, "scenarios", strings.Join(crossbroker.ScenarioNames(), ","), "comma-separated cross-broker scenarios")
	f.Uint64Var(&seed, "seed", 0, "seed for message ids, bodies and the proxies' random faults (default: from the clock, printed)")
	f.BoolVar(&keep, "keep", false, "keep every run's directory (broker logs, history.json)")
	f.DurationVar(&timeout, "timeout", 3*time.Minute, "deadline for each run")
	return cmd
}
