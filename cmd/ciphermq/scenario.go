package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ciphermq/ciphermq/scenarios/crossbroker"
	"github.com/ciphermq/ciphermq/scenarios/realworld"
)

func init() { register(newScenarioCmd) }

func newScenarioCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scenario",
		Short: "Run named fault scenarios against real processes (broker, senders, receivers, fault proxies)",
		Long: `scenario runs the catalogue of real-process fault scenarios: this very binary is started as
the broker, the receivers and the senders, with a TCP fault proxy between every client and the
broker; afterwards the senders' reports and the receivers' files are checked for lost,
duplicated, unexpected, corrupted and unresolved messages. See docs/testing.md.`,
	}
	cmd.AddCommand(newScenarioListCmd(), newScenarioRunCmd(), newScenarioSenderCmd(), newScenarioHostileCmd(), newScenarioMatrixCmd())
	return cmd
}

func newScenarioListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the named scenarios with a line of description each",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			for _, sc := range realworld.Catalogue() {
				fmt.Fprintf(w, "%s\t%s\n", sc.Name, sc.Description)
			}
			return w.Flush()
		},
	}
}

func newScenarioRunCmd() *cobra.Command {
	var (
		seed     uint64
		planPath string
		keep     bool
		dir      string
		timeout  time.Duration
		verbose  bool
		target   string
	)
	cmd := &cobra.Command{
		Use:   "run NAME | run --plan FILE",
		Short: "Run one scenario and print the checker's report (exit code 1 if it failed)",
		Long: `run runs one catalogue scenario (see "scenario list"), or, with --plan, a fault plan file
(the format of docs/faults.md, the same plans the simulator runs): two senders and two receivers
publish until the plan heals while every client link follows the plan's link faults, cuts and
partitions. Crashes, disk faults and single-frame drops in a plan are listed as not applied.

With --target, NAME is a cross-broker scenario (` + strings.Join(crossbroker.ScenarioNames(), ", ") + `) run against
that broker instead: ciphermq, rabbitmq or nats (both configurations of each) or one configuration
(` + strings.Join(crossbroker.TargetNames(), ", ") + `); "scenario matrix" runs them all.`,
		Example: `  ciphermq scenario run resets
  ciphermq scenario run receiver-kill --seed 7 --keep
  ciphermq scenario run --plan scenarios/realworld/testdata/flaky-links.json
  ciphermq scenario run broker-kill --target rabbitmq`,
		Args: cobra.RangeArgs(0, 1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if target != "" {
				if planPath != "" || len(args) != 1 {
					return errors.New("with --target give one cross-broker scenario name (no --plan): " + strings.Join(crossbroker.ScenarioNames(), ", "))
				}
				ts, err := crossbroker.ExpandTargets(target)
				if err != nil {
					return err
				}
				if !cmd.Flags().Changed("seed") {
					seed = uint64(time.Now().UnixNano())
				}
				if !cmd.Flags().Changed("timeout") {
					timeout = 3 * time.Minute // a RabbitMQ node alone takes up to 30 s to boot, twice
				}
				ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
				defer stop()
				return runCrossBroker(ctx, cmd.OutOrStdout(), args, ts, seed, keep, timeout)
			}
			sc, err := realworld.ChooseScenario(args, planPath)
			if err != nil {
				return err
			}
			bin, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find the ciphermq binary to start as broker and clients: %w", err)
			}
			if !cmd.Flags().Changed("seed") {
				seed = uint64(time.Now().UnixNano())
			}
			logger := slog.New(slog.DiscardHandler)
			if verbose {
				logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return realworld.RunAndReport(ctx, cmd.OutOrStdout(), sc, realworld.Config{
				Binary: bin, Seed: seed, Dir: dir, Keep: keep, Timeout: timeout, Logger: logger,
			})
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&seed, "seed", 0, "seed for plaintexts, fault choices and kill points (default: from the clock, printed)")
	f.BoolVar(&keep, "keep", false, "keep the run's directory (logs, reports, outputs, history.json) even when it passes")
	f.StringVar(&dir, "dir", "", "new or empty directory for the run's files, kept afterwards (default: a temporary directory, removed if the run passes)")
	f.DurationVar(&timeout, "timeout", 90*time.Second, "deadline for the whole run")
	f.BoolVar(&verbose, "verbose", false, "log the fault proxies' connection events on standard error")
	f.StringVar(&planPath, "plan", "", "run this fault plan file instead of a named scenario")
	f.StringVar(&target, "target", "", "run the cross-broker scenario NAME against this broker: ciphermq, rabbitmq, nats or one configuration (see scenario matrix)")
	return cmd
}

// newScenarioSenderCmd is the sender process the scenarios start; it is an
// internal tool, hidden from help.
func newScenarioSenderCmd() *cobra.Command {
	var configPath string
	cmd := &cobra.Command{
		Use:    "sender --config FILE",
		Short:  "Publish a scenario's messages, recording every attempt and outcome (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := os.ReadFile(configPath)
			if err != nil {
				return fmt.Errorf("sender config: %w", err)
			}
			var cfg realworld.SenderConfig
			if err := json.Unmarshal(data, &cfg); err != nil {
				return fmt.Errorf("sender config %s: %w", configPath, err)
			}
			cfg.Logger = slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: slog.LevelInfo}))
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			sum, err := realworld.RunSender(ctx, cfg)
			fmt.Fprintf(cmd.OutOrStdout(), "attempted %d, confirmed %d (duplicates %d), refused %d, unresolved %d\n",
				sum.Attempted, sum.Confirmed, sum.Duplicates, sum.Refused, sum.Unresolved)
			return err
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "", "sender configuration (JSON, written by the scenario harness)")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

// newScenarioHostileCmd runs the hostile-client catalogue (issue 11): an
// attack on a real broker process with a canary publisher and consumer
// beside it.
func newScenarioHostileCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hostile",
		Short: "Run the hostile-client catalogue: one attack on a real broker with a canary beside it",
		Long: `hostile runs the entries of the hostile-client catalogue: this binary is started as the broker
(--memory-high-watermark 64MiB), a canary publishes 1,000 msg/s on its own queue and consumes it,
and the attack runs from 127.0.0.1 (the canary connects from 127.0.0.2). A run passes when the
canary lost nothing, its p99 latency and longest delivery gap stayed under the catalogue's bounds
during and after the attack, the broker's RSS stayed under the budget plus a constant, and the
broker is alive. The short variants are what go test runs; --long runs bigger, longer attacks.
See docs/testing.md, "Hostile-client catalogue".`,
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the catalogue's attacks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			for _, a := range realworld.HostileCatalogue() {
				fmt.Fprintf(w, "%s\t%s\n", a.Name, a.Description)
			}
			return w.Flush()
		},
	}
	var (
		long    bool
		dir     string
		timeout time.Duration
	)
	run := &cobra.Command{
		Use:     "run NAME... | run --all",
		Short:   "Run attacks (all with --all) and print what the canary saw; exit code 1 if any failed",
		Example: "  ciphermq scenario hostile run memory-flood --long\n  ciphermq scenario hostile run --all",
		RunE: func(cmd *cobra.Command, args []string) error {
			all, _ := cmd.Flags().GetBool("all")
			attacks, err := realworld.SelectAttacks(args, all)
			if err != nil {
				return err
			}
			bin, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find the ciphermq binary to start as the broker: %w", err)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return realworld.RunAttacks(ctx, cmd.OutOrStdout(), attacks, realworld.AttacksConfig{Binary: bin, Dir: dir, Long: long, Timeout: timeout})
		},
	}
	f := run.Flags()
	f.Bool("all", false, "run every attack of the catalogue, one after the other")
	f.BoolVar(&long, "long", false, "the long variant: bigger attacks, 10 s of canary after each")
	f.StringVar(&dir, "dir", "", "directory for the runs' files (one subdirectory per attack), kept (default: temporary, removed when the attack passes)")
	f.DurationVar(&timeout, "timeout", 5*time.Minute, "deadline for each attack's run")
	cmd.AddCommand(list, run)
	return cmd
}
