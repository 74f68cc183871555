package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ciphermq/ciphermq/demo"
)

func init() { register(newDemoCmd) }

func newDemoCmd() *cobra.Command {
	o := demo.Options{}
	var progress bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a broker, a durable receiver and a sender in one process and move N encrypted messages",
		Long: `demo starts a broker on a free port of 127.0.0.1, generates keys (in a new temporary directory,
or in --dir, reusing keys already there), starts a durable receiver and a sender, moves --count end
to end encrypted messages, and prints what happened: sent, confirmed, received, duplicates, lost
(always 0), the throughput, and where the receiver's output file is. The broker is durable, as
'ciphermq server' is by default: it keeps its data directory in DIR/broker-data (the temporary
directory unless --dir; fsync always), default_queue is durable, and every confirm means the
message was on the broker's disk. --in-memory runs the broker without one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			o.Out, o.Err = cmd.OutOrStdout(), cmd.ErrOrStderr()
			o.Bar = progress || isTerminal(o.Err)
			res, err := demo.Run(ctx, o)
			if err != nil {
				return err
			}
			return res.Failure()
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Count, "count", 10_000, "messages to move")
	f.IntVar(&o.Size, "size", 100, "plaintext size of each message in bytes")
	f.StringVar(&o.Format, "format", defaultFormat, "envelope format: modern or seed")
	f.StringVar(&o.Dir, "dir", "", "directory for keys and the output file (default: a new temporary directory)")
	f.IntVar(&o.Window, "window", 1024, "publisher window: most messages awaiting a confirm")
	f.BoolVar(&progress, "progress", false, "draw the progress bar even when standard error is not a terminal")
	f.BoolVar(&o.InMemory, "in-memory", false, "run the broker without a data directory: messages in memory only")
	f.BoolVar(&o.Durable, "durable", false, "durable is the default now; kept for old scripts")
	_ = f.MarkHidden("durable")
	return cmd
}
