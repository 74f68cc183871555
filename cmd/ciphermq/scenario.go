package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

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
	cmd.AddCommand(newScenarioListCmd(), newScenarioRunCmd(), newScenarioSenderCmd())
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
		seed    uint64
		keep    bool
		dir     string
		timeout time.Duration
		verbose bool
	)
	cmd := &cobra.Command{
		Use:   "run NAME",
		Short: "Run one scenario and print the checker's report (exit code 1 if it failed)",
		Example: `  ciphermq scenario run resets
  ciphermq scenario run receiver-kill --seed 7 --keep`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
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
			res, runErr := realworld.RunNamed(ctx, args[0], realworld.Config{
				Binary: bin, Seed: seed, Dir: dir, Keep: keep, Timeout: timeout, Logger: logger,
			})
			if errors.Is(runErr, realworld.ErrUnknownScenario) {
				return runErr
			}
			fmt.Fprint(cmd.OutOrStdout(), res.Describe())
			switch {
			case runErr != nil:
				return fmt.Errorf("scenario %s did not complete: %w (replay with --seed %d)", args[0], runErr, seed)
			case !res.Passed():
				return fmt.Errorf("scenario %s failed the checker: %w (replay with --seed %d)", args[0], res.Report.Err(), seed)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "PASS %s\n", args[0])
			return nil
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&seed, "seed", 0, "seed for plaintexts, fault choices and kill points (default: from the clock, printed)")
	f.BoolVar(&keep, "keep", false, "keep the run's directory (logs, reports, outputs, history.json) even when it passes")
	f.StringVar(&dir, "dir", "", "new or empty directory for the run's files, kept afterwards (default: a temporary directory, removed if the run passes)")
	f.DurationVar(&timeout, "timeout", 90*time.Second, "deadline for the whole run")
	f.BoolVar(&verbose, "verbose", false, "log the fault proxies' connection events on standard error")
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
