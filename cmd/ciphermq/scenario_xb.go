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
	"time"

	"github.com/spf13/cobra"

	"github.com/ciphermq/ciphermq/scenarios/crossbroker"
)

// runCrossBroker runs the cross-broker scenarios against the targets with
// this binary as the CipherMQ broker (crossbroker.RunMatrix).
func runCrossBroker(ctx context.Context, out io.Writer, scenarios, targets []string, seed uint64, keep bool, timeout time.Duration) error {
	bin, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the ciphermq binary to start as the broker: %w", err)
	}
	return crossbroker.RunMatrix(ctx, out, scenarios, targets, crossbroker.Options{CipherBinary: bin}, crossbroker.Config{Seed: seed, Keep: keep, Timeout: timeout})
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
