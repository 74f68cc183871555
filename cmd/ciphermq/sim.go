package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/ciphermq/ciphermq/faults"
	"github.com/ciphermq/ciphermq/sim"
	"github.com/ciphermq/ciphermq/sim/simreport"
)

func init() { register(newSimCmd) }

// simFlags are sim's flags. Workload fields left at zero take the
// simulator's defaults (sim.DefaultWorkload).
type simFlags struct {
	seed     uint64
	seedSet  bool // --seed was given (0 is a seed like any other)
	seeds    string
	plan     string
	calm     bool
	workers  int
	trace    bool
	jsonOut  bool
	progress bool
	maxSteps uint64
	auth     bool
	load     bool
	mutate   []string
	mutants  bool
	// fsyncErrors is Config.BrokerFsyncErrors.
	fsyncErrors bool
	work        sim.Workload
	// duration, guided: run sim.Explore instead of a sweep; drawSeed is
	// Config.DrawSeed (a guided run's replay names it).
	duration time.Duration
	guided   bool
	drawSeed uint64
}

// replayExcluded are the flags a replay command never repeats: they choose
// what to run and how to show it, not what the run is.
var replayExcluded = map[string]bool{"seed": true, "seeds": true, "workers": true, "trace": true, "json": true, "progress": true,
	"duration": true, "guided": true}

func newSimCmd() *cobra.Command {
	o := &simFlags{}
	d := sim.DefaultWorkload()
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run the deterministic simulator: one seed with its verdicts, or a sweep of many seeds",
		Long: `sim runs the deterministic simulator (package sim): the real broker core, protocol
sessions, client engines, envelopes and receiver store, wired by simulated links, disks and
crashes, all driven by one seed. The same seed, plan and workload replay the run bit for bit; the
trace hash is its fingerprint.

  ciphermq sim --seed 42                 one run under the swarm plan drawn from the seed
  ciphermq sim --seed 42 --plan FILE     one run under a fault plan file (docs/faults.md)
  ciphermq sim --seed 42 --trace         the same, with every trace line first
  ciphermq sim --seeds 1..2000           a sweep, in parallel, with a table at the end
  ciphermq sim --seed 42 --auth          authenticated: users, PLAIN logins and a hostile tenant
  ciphermq sim --seed 42 --hostile-load  with a hostile-load node whose every command's cost is bounded
  ciphermq sim --duration 1h             swarm seeds from 1 until an hour has passed, seeds/min and failures
  ciphermq sim --guided --seeds 1..2000  coverage-guided: reuse the draws of runs that reached new behaviour

One run prints its summary, the trace hash, each invariant's verdict (I1 no loss, I2 exactly
once, I3 integrity, I4 publisher liveness, I5 order, I6 bounds), the faults that were on, the
"sometimes" coverage, its stats and the simulated messages per wall second. A sweep prints
seeds per minute, simulated messages per wall second and the coverage over all seeds; a swarm
sweep of at least 100 seeds also fails if a "sometimes" event never happened.

Any failure exits with status 1 and prints the command that replays it. See docs/testing.md.`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.seedSet = cmd.Flags().Changed("seed")
			// Workload settings a swarm seed draws for itself (sim's
			// drawWorkload) stay unset unless given, so the seed's draw
			// applies; the simulator's defaults apply otherwise.
			for name, field := range map[string]*int{"prefetch": &o.work.Prefetch, "max-length": &o.work.MaxLength,
				"min-body": &o.work.MinBody, "max-body": &o.work.MaxBody} {
				if !cmd.Flags().Changed(name) {
					*field = 0
				}
			}
			if o.mutants && o.seeds == "" && !o.seedSet {
				o.seeds = "1..60"
			}
			if o.duration > 0 || o.guided {
				return runSimExplore(cmd.OutOrStdout(), o, replayFlags(cmd.Flags()))
			}
			cfg, err := o.config()
			if err != nil {
				return err
			}
			if o.mutants {
				if o.seeds == "" || len(o.mutate) > 0 {
					return errors.New("--mutants runs every mutant over --seeds A..B (default 1..60): leave out --seed and --mutate")
				}
				return runMutants(cmd.OutOrStdout(), o, cfg)
			}
			replay := replayFlags(cmd.Flags())
			if o.seeds != "" {
				return runSimSweep(cmd.OutOrStdout(), cmd.ErrOrStderr(), o, cfg, replay)
			}
			return runSimSeed(cmd.OutOrStdout(), o, cfg, replay)
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&o.seed, "seed", 0, "run this one seed")
	f.StringVar(&o.seeds, "seeds", "", "sweep the seeds A..B (both included), e.g. 1..2000")
	f.StringVar(&o.plan, "plan", "", "fault plan file (docs/faults.md) instead of the swarm plan drawn from each seed")
	f.BoolVar(&o.calm, "calm", false, "no faults at all (the sim.Calm plan) instead of the swarm plan")
	f.IntVar(&o.workers, "workers", runtime.NumCPU(), "seeds run in parallel in a sweep (results do not depend on it)")
	f.BoolVar(&o.trace, "trace", false, "print every trace line of the run before its report (one seed only)")
	f.BoolVar(&o.jsonOut, "json", false, "print the result as one JSON object instead of text")
	f.BoolVar(&o.progress, "progress", isTerminal(os.Stderr), "show a progress bar on stderr during a sweep")
	f.BoolVar(&o.load, "hostile-load", false, fmt.Sprintf("run every seed with a hostile-load node: issue #11's attacks on its own objects, each command's cost in the core bounded (swarm runs draw it for %.0f%% of seeds)", sim.LoadFraction*100))
	f.Uint64Var(&o.maxSteps, "max-steps", 0, "event budget of one run (0: the simulator's default, 20 million)")
	f.BoolVar(&o.auth, "auth", false, "run every seed authenticated: users with permissions, PLAIN logins and a hostile tenant (swarm runs draw it for 30% of seeds)")

	f.IntVar(&o.work.Publishers, "publishers", d.Publishers, "publishers (1..64)")
	f.IntVar(&o.work.Receivers, "receivers", d.Receivers, "receivers, one queue each (1..64)")
	f.IntVar(&o.work.Messages, "messages", d.Messages, "messages over all publishers")
	f.IntVar(&o.work.MinBody, "min-body", d.MinBody, "smallest plaintext in bytes")
	f.IntVar(&o.work.MaxBody, "max-body", d.MaxBody, "largest plaintext in bytes")
	f.IntVar(&o.work.Prefetch, "prefetch", d.Prefetch, "unacked deliveries per consumer")
	f.IntVar(&o.work.Window, "window", d.Window, "unconfirmed publishes per publisher")
	f.DurationVar(&o.work.ConfirmTimeout, "confirm-timeout", d.ConfirmTimeout, "publisher's first resend timeout (virtual time)")
	f.DurationVar(&o.work.AckTimeout, "ack-timeout", d.AckTimeout, "every queue's ack timeout (virtual time)")
	f.IntVar(&o.work.DeliveryLimit, "delivery-limit", d.DeliveryLimit, "dead-letter a message delivered this often")
	f.IntVar(&o.work.MaxLength, "max-length", d.MaxLength, "bound of every queue but the dead-letter queue (negative: none)")
	f.Int64Var(&o.work.MaxBytes, "max-bytes", d.MaxBytes, "bound in body bytes of every queue but the dead-letter queue (0: swarm seeds draw it; negative: none)")
	f.BoolVar(&o.work.Durable, "durable", d.Durable, "declare every queue durable: the broker logs to a simulated disk, confirms after fsync, restores after a crash")
	f.BoolVar(&o.fsyncErrors, "broker-fsync-errors", false, "with --durable: half of the plan's disk faults on the broker's log are failed fsyncs (EIO) instead of crashes, on every seed (swarm seeds draw it for half of them; docs/testing.md)")
	f.Float64Var(&o.work.SlowBatch, "slow-batch", d.SlowBatch, "probability that a receiver's batch stalls (0..1)")
	f.Float64Var(&o.work.PoisonRate, "poison-rate", d.PoisonRate, "fraction of tampered messages, to be dead-lettered (negative: none)")
	f.DurationVar(&o.work.Heartbeat, "heartbeat", d.Heartbeat, "heartbeat interval clients propose (virtual time)")
	f.DurationVar(&o.work.PublishSpan, "publish-span", d.PublishSpan, "spread the publishes over this much virtual time (0: 80% of the safety phase)")

	// Test-only switches that break one guarantee each, so anyone can watch
	// a checker fail (and its replay fail the same way). Hidden from help.
	f.StringSliceVar(&o.mutate, "mutate", nil, "TEST ONLY: break a guarantee: "+strings.Join(simreport.MutationNames(), ", "))
	_ = f.MarkHidden("mutate")
	f.DurationVar(&o.duration, "duration", 0, "run swarm seeds from the start of --seeds (default 1) until this much wall time has passed, e.g. 1h; reports seeds/min and every failure's replay")
	f.BoolVar(&o.guided, "guided", false, "coverage-guided: half the runs reuse the draws (plan, configuration) of runs that reached new behaviour (with --duration or --seeds; docs/testing.md)")
	f.Uint64Var(&o.drawSeed, "draw-seed", 0, "draw the plan and configuration from this seed instead of --seed (guided runs' replays name it; 0: the run's own seed)")
	f.BoolVar(&o.mutants, "mutants", false, "print the mutation catalogue: each TEST ONLY mutant, the first seed of --seeds (default 1..60) that catches it, and the go test that does")
	return cmd
}

// config turns the flags into the run's template (its Seed is set later).
func (o *simFlags) config() (sim.Config, error) {
	cfg := sim.Config{Workload: o.work, MaxSteps: o.maxSteps, Auth: o.auth, HostileLoad: sim.LoadSwarm, DrawSeed: o.drawSeed,
		BrokerFsyncErrors: o.fsyncErrors}
	if o.load {
		cfg.HostileLoad = sim.LoadOn
	}
	switch {
	case o.seeds != "" && o.seedSet:
		return cfg, errors.New("--seed and --seeds both given: use --seed N for one run or --seeds A..B for a sweep")
	case o.seeds == "" && !o.seedSet:
		return cfg, errors.New("no seed: give --seed N for one run or --seeds A..B for a sweep")
	case o.seeds != "" && o.trace:
		return cfg, errors.New("--trace prints one run: replay a single seed with --seed N --trace")
	case o.trace && o.jsonOut:
		return cfg, errors.New("--trace and --json both write to stdout: use one of them")
	case o.plan != "" && o.calm:
		return cfg, errors.New("--plan and --calm both choose the faults: use one of them")
	case o.workers < 1:
		return cfg, fmt.Errorf("--workers %d: use 1 or more", o.workers)
	}
	switch {
	case o.plan != "":
		pl, err := faults.Load(o.plan)
		if err != nil {
			return cfg, fmt.Errorf("--plan: %w: fix the file (format in docs/faults.md) or leave --plan out for swarm plans", err)
		}
		cfg.Plan = &pl
	case o.calm:
		pl := sim.Calm()
		cfg.Plan = &pl
	default:
		cfg.Swarm = true
	}
	for _, name := range o.mutate {
		if err := simreport.SetMutation(&cfg.Mutations, name); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// runSimExplore runs sim.Explore (--duration, --guided): seeds from the
// start of --seeds (default 1), until the end of --seeds or --duration.
func runSimExplore(w io.Writer, o *simFlags, replay []string) error {
	ec := sim.ExploreConfig{First: 1, Duration: o.duration, Workers: o.workers, Guided: o.guided}
	switch {
	case o.seedSet || o.trace || o.jsonOut || o.mutants:
		return errors.New("--duration and --guided run many seeds: give --seeds A..B (or none, with --duration) and leave out --seed, --trace, --json and --mutants")
	case o.drawSeed != 0:
		return errors.New("--draw-seed replays one run: use it with --seed N")
	case o.seeds != "":
		first, n, err := simreport.ParseSeedRange(o.seeds)
		if err != nil {
			return err
		}
		ec.First, ec.Runs = first, n
	case o.duration <= 0:
		return errors.New("--guided needs --seeds A..B or --duration D")
	}
	o.seeds = "1..1" // config() wants a seed choice; Explore sets every seed
	cfg, err := o.config()
	if err != nil {
		return err
	}
	ec.Template = cfg
	return simreport.RunExplore(w, ec, replay)
}

// replayFlags are the flags the user set that define a run (plan, workload,
// mutations), rendered for a shell, in name order.
func replayFlags(fs *pflag.FlagSet) []string {
	var out []string
	fs.Visit(func(fl *pflag.Flag) {
		if replayExcluded[fl.Name] {
			return
		}
		v := fl.Value.String()
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			v = strings.Join(sv.GetSlice(), ",")
		}
		if fl.Value.Type() == "bool" {
			if v == "true" {
				out = append(out, "--"+fl.Name)
			} else {
				out = append(out, "--"+fl.Name+"=false")
			}
			return
		}
		out = append(out, "--"+fl.Name+" "+simreport.ShellQuote(v))
	})
	return out
}

func runSimSeed(w io.Writer, o *simFlags, cfg sim.Config, replay []string) error {
	cfg.Seed = o.seed
	if o.trace {
		cfg.Trace = w
	}
	return simreport.RunSeed(w, simreport.SeedRun{Config: cfg, JSON: o.jsonOut, Mutations: o.mutate, Replay: replay})
}

func runSimSweep(w, errW io.Writer, o *simFlags, cfg sim.Config, replay []string) error {
	first, n, err := simreport.ParseSeedRange(o.seeds)
	if err != nil {
		return err
	}
	return simreport.RunSweep(w, errW, simreport.SweepRun{Config: cfg, First: first, Seeds: n, Workers: o.workers,
		Progress: o.progress, JSON: o.jsonOut, Mutations: o.mutate, Replay: replay})
}

// runMutants prints the mutation catalogue's table (--mutants).
func runMutants(w io.Writer, o *simFlags, cfg sim.Config) error {
	first, n, err := simreport.ParseSeedRange(o.seeds)
	if err != nil {
		return err
	}
	return simreport.RunMutants(w, simreport.MutantsRun{Config: cfg, First: first, Seeds: n, Workers: o.workers}, simreport.MutantCatalogue)
}
