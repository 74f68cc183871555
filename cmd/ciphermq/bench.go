package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/ciphermq/ciphermq/bench"
	"github.com/ciphermq/ciphermq/clients"
)

func init() { register(newBenchCmd) }

type benchFlags struct {
	target       string
	cfg          bench.Config
	jsonOut      bool
	progress     bool
	addr         string
	brokerPID    int
	serverBinary string
	summarize    string
	base         string
	only         []string
	cpuProfile   string
}

func newBenchCmd() *cobra.Command {
	o := &benchFlags{}
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load-generate against CipherMQ, RabbitMQ or NATS JetStream and report throughput, latency, CPU and memory",
		Long: `bench runs one reliable workload against a target and reports end-to-end msgs/s and MB/s,
publish-confirm msgs/s, latency percentiles, lost and duplicated ids (both must be 0), broker CPU
and peak RSS (from /proc of the broker's pid), and the load generator's CPU.

Targets: ` + strings.Join(bench.Targets(), ", ") + `.
ciphermq-inproc starts a broker inside this process; ciphermq starts "ciphermq server" from this
binary (or uses --broker); the -durable variants give that broker a temporary --data-dir (fsync
always) and declare the run's queue durable; the -tls variants start the broker with only a TLS
listener (mutual TLS, certificates made for the run) and connect every client over TLS
(--tls-* reach a broker given with --broker over TLS); rabbitmq-* and nats-* need a running broker
(bench/compare starts them).

--summarize FILE reads JSON lines of earlier runs and prints the comparison table (medians, each
target's ratio to --base). See docs/performance.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.summarize != "" {
				return bench.SummarizeFile(cmd.OutOrStdout(), o.summarize, o.base, o.only)
			}
			return runBench(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.target, "target", bench.DefaultTarget, "target: "+strings.Join(bench.Targets(), ", "))
	f.IntVarP(&o.cfg.Publishers, "publishers", "P", bench.DefaultPublishers, "publishers, each on its own connection")
	f.IntVarP(&o.cfg.Consumers, "consumers", "C", bench.DefaultConsumers, "consumers, each on its own connection")
	f.IntVar(&o.cfg.Size, "size", bench.DefaultSize, "message size in bytes (plaintext; the envelope adds to it)")
	f.IntVar(&o.cfg.Window, "window", bench.DefaultWindow, "unconfirmed messages per publisher")
	f.IntVar(&o.cfg.Prefetch, "prefetch", bench.DefaultPrefetch, "unacked messages per consumer")
	f.Int64Var(&o.cfg.Count, "count", 0, "total messages to publish (0: run for --duration)")
	f.DurationVar(&o.cfg.Duration, "duration", bench.DefaultDuration, "how long to publish when --count is 0")
	f.Float64Var(&o.cfg.Rate, "rate", 0, "open-loop total publish rate in msgs/s, latency from the intended send time (0: as fast as the window allows)")
	f.StringVar(&o.cfg.ExchangeType, "exchange-type", "direct", "exchange type: direct, fanout or topic")
	f.StringVar(&o.cfg.Encryption, "format", bench.EncryptionOff, "envelope format: off (no end-to-end encryption), seed or modern")
	deprecatedAlias(f, "encryption", "format")
	f.StringVar(&o.cfg.Protocol, "protocol", "native", "CipherMQ protocol: native or text")
	f.DurationVar(&o.cfg.DrainTimeout, "drain-timeout", bench.DefaultDrainTimeout, "after publishing, how long to wait for every confirmed message to arrive")
	f.BoolVar(&o.jsonOut, "json", false, "print the result as one JSON line instead of a table")
	f.BoolVar(&o.progress, "progress", isTerminal(os.Stderr), "show a progress bar on stderr")
	f.StringVar(&o.addr, "broker", "", "broker address (host:port, or an amqp:// or nats:// URL); default: the target's")
	deprecatedAlias(f, "addr", "broker")
	f.IntVar(&o.brokerPID, "broker-pid", 0, "pid of a broker this command did not start, for its CPU and memory figures")
	f.StringVar(&o.serverBinary, "server-binary", "", "ciphermq binary the ciphermq target starts (default: this one)")
	f.StringVar(&o.summarize, "summarize", "", "print the comparison table of the JSON lines in this file and exit")
	f.StringVar(&o.base, "base", "ciphermq", "with --summarize: the target every ratio is relative to")
	f.StringSliceVar(&o.only, "only", nil, "with --summarize: only these targets (comma-separated; default all)")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of this process to the file (the broker too with ciphermq-inproc)")
	addTLSFlags(cmd)
	return cmd
}

func runBench(cmd *cobra.Command, o *benchFlags) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if o.cfg.Count > 0 && cmd.Flags().Changed("duration") {
		return errors.New("give --count or --duration, not both")
	}
	if o.cfg.Count > 0 {
		o.cfg.Duration = 0
	}
	if o.progress {
		o.cfg.Progress = bench.ProgressLine(cmd.ErrOrStderr())
	}
	cc, err := loadClientConfig(cmd)
	if err != nil {
		return err
	}
	tlsCfg, err := cc.tlsConfig()
	if err != nil {
		return err
	}
	// Credentials are for a CipherMQ broker given with --broker; a broker
	// bench starts has no users, so there they are refused when given as
	// flags (and $CIPHERMQ_USER and the like, meant for other commands,
	// are not read).
	var auth clients.Options
	if o.addr != "" && strings.HasPrefix(o.target, "ciphermq") && !strings.Contains(o.target, "inproc") {
		if err := cc.credentials(&auth); err != nil {
			return err
		}
	} else {
		for _, s := range []setting{setUser, setPasswordFile, setVhost, setAuth} {
			if cmd.Flags().Changed(s.flag) {
				return fmt.Errorf("--%s authenticates to a CipherMQ broker given with --broker; a broker bench starts has no users", s.flag)
			}
		}
	}
	t, err := bench.Open(ctx, o.target, bench.TargetOptions{Addr: o.addr, BrokerPID: o.brokerPID, ServerBinary: o.serverBinary, TLS: tlsCfg,
		User: auth.User, Password: auth.Password, Mechanism: auth.Mechanism, Vhost: auth.Vhost})
	if err != nil {
		return err
	}
	defer t.Close()
	if o.cpuProfile != "" {
		pf, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer pf.Close()
		if err := pprof.StartCPUProfile(pf); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	res, err := bench.Run(ctx, t, o.cfg)
	if o.progress {
		fmt.Fprint(cmd.ErrOrStderr(), "\r\033[K")
	}
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	if o.jsonOut {
		err = bench.WriteJSON(out, res)
	} else {
		err = bench.WriteTable(out, []bench.Result{res})
	}
	if err != nil {
		return err
	}
	return res.Err()
}
