package realworld

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ciphermq/ciphermq/faults/proxy"
	"github.com/ciphermq/ciphermq/internal/check"
)

// Scenario is one named entry of the catalogue.
type Scenario struct {
	Name        string
	Description string // one line
	// Receivers is how many receivers consume (each its own queue, every
	// message routed to all of them); Senders how many senders (p1, p2, ...;
	// default 1) start with the flow, each publishing Messages at Rate per
	// second (0: as fast as the window allows).
	Receivers int
	Senders   int
	Messages  int
	Rate      float64
	// Ordered asks the checker to check publish order (I5): only for
	// scenarios where no connection breaks, so nothing is redelivered.
	Ordered bool
	// Network is the faults every proxy applies from the start of the flow
	// until the liveness phase (zero: a perfect network).
	Network proxy.Faults
	// Faults is the safety phase: it runs while the sender publishes,
	// injects the scenario's faults and removes them (the liveness phase
	// clears the proxies anyway). It returns an error when the scenario could
	// not do what it promised, including a fault that never bit.
	Faults func(ctx context.Context, e *Env) error
}

// Config configures Run.
type Config struct {
	// Binary is the ciphermq binary to run (required: BuildBinary makes one
	// from source, `ciphermq scenario run` uses itself).
	Binary string
	// Seed fixes plaintexts, fault choices and kill points.
	Seed uint64
	// Dir is where the run's files go; it must be new or empty, and it is
	// never removed. Default: a new temporary directory.
	Dir string
	// Keep keeps the temporary directory after a passing run; a failing
	// run's directory is always kept.
	Keep bool
	// Timeout bounds the whole run (default 90s); the liveness phase gets
	// what is left.
	Timeout time.Duration
	// LivenessTimeout bounds the liveness phase (default 45s): after it,
	// unresolved publishes and unprocessed copies are judged as they are.
	LivenessTimeout time.Duration
	// Logger also receives the harness's and proxies' events, which always
	// go to harness.log in the run's directory.
	Logger *slog.Logger
}

// Result is what a run produced.
type Result struct {
	Scenario string
	Seed     uint64
	// Dir holds the logs, reports, receiver outputs and history.json; it is
	// removed after a passing run unless Config.Keep.
	Dir     string
	Kept    bool
	Report  check.Report
	Options check.Options
	History check.History
	// Notes are facts about what the faults did (resets, reconnects, kills).
	Notes []string
	// Logs holds the last lines of every process log when the run failed.
	Logs map[string]string
	// Incomplete says why the run itself failed (Run's error), if it did:
	// then the report judges only what the run got to record.
	Incomplete string
}

// Passed reports whether the checker's verdict is clean.
func (r Result) Passed() bool { return r.Report.OK() }

// Describe is the human report of a run: verdict, counts, notes, and where
// the files are.
func (r Result) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "scenario %s seed %d\n", r.Scenario, r.Seed)
	if r.Incomplete != "" {
		fmt.Fprintf(&b, "  RUN INCOMPLETE: %s\n", r.Incomplete)
	}
	fmt.Fprintf(&b, "  %s\n", r.Report.Summary())
	c := r.Report.Counts
	fmt.Fprintf(&b, "  lost %d, unexpected %d, duplicated %d, corrupted %d, out of order %d, pending %d; recovered %d, legitimately lost %d, abandoned %d\n",
		len(r.Report.Lost), len(r.Report.Unexpected), len(r.Report.Duplicated), len(r.Report.Corrupted),
		len(r.Report.Nonmonotonic)+len(r.Report.Skipped), len(r.Report.Pending), len(r.Report.Recovered),
		len(r.Report.LegitimatelyLost), c.Abandoned)
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "  note: %s\n", n)
	}
	if r.Kept {
		fmt.Fprintf(&b, "  files kept in %s (logs, sender reports, receiver outputs, history.json)\n", r.Dir)
	}
	for _, name := range sortedKeys(r.Logs) {
		fmt.Fprintf(&b, "--- last lines of %s.log\n%s\n", name, r.Logs[name])
	}
	return b.String()
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// emptyDir creates dir or accepts it empty: a run appends to its logs and
// reports, so files left by another run would corrupt its history.
func emptyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("realworld: work directory: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("realworld: work directory: %w", err)
	}
	if len(entries) > 0 {
		return fmt.Errorf("realworld: work directory %s is not empty: give a new or empty directory (a run appends to its files)", dir)
	}
	return nil
}

// ErrUnknownScenario is returned for a name not in the catalogue.
var ErrUnknownScenario = errors.New("unknown scenario")

// RunNamed runs the catalogue scenario called name.
func RunNamed(ctx context.Context, name string, cfg Config) (Result, error) {
	sc, ok := Lookup(name)
	if !ok {
		return Result{Scenario: name, Seed: cfg.Seed}, fmt.Errorf("%w %q: `ciphermq scenario list` shows the catalogue", ErrUnknownScenario, name)
	}
	return Run(ctx, sc, cfg)
}

// Run runs one scenario against real processes. The error says the run
// itself failed (a process would not start, a fault never bit, the liveness
// deadline passed); the checker's verdict is in Result.Report either way,
// whenever a history could be read.
func Run(ctx context.Context, sc Scenario, cfg Config) (res Result, err error) {
	res = Result{Scenario: sc.Name, Seed: cfg.Seed}
	if cfg.Binary == "" {
		return res, errors.New("realworld: no ciphermq binary: build one with BuildBinary")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 90 * time.Second
	}
	if cfg.LivenessTimeout <= 0 {
		cfg.LivenessTimeout = 45 * time.Second
	}
	dir := cfg.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "ciphermq-scenario-"+sc.Name+"-"); err != nil {
			return res, fmt.Errorf("realworld: work directory: %w", err)
		}
	} else if err = emptyDir(dir); err != nil {
		res.Kept = true // the caller's directory: never removed
		return res, err
	}
	res.Dir = dir
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	// The harness's own log (faults on and off, kills, restarts, proxy
	// connection events) goes to harness.log beside the processes' logs.
	hlog, err := os.OpenFile(filepath.Join(dir, "harness.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		res.Kept = true
		return res, fmt.Errorf("realworld: harness log: %w", err)
	}
	defer hlog.Close()
	var handler slog.Handler = slog.NewTextHandler(hlog, &slog.HandlerOptions{Level: slog.LevelInfo})
	if cfg.Logger != nil {
		handler = slog.NewMultiHandler(handler, cfg.Logger.Handler())
	}
	cfg.Logger = slog.New(handler).With("scenario", sc.Name)
	cfg.Logger.Info("run starts", "seed", cfg.Seed, "dir", dir)

	e, err := newEnv(ctx, cfg, dir)
	defer func() {
		if e != nil {
			e.close()
			res.Notes = append(res.Notes, e.notes...)
			if err != nil || !res.Passed() {
				res.Logs = e.logTails(15)
				res.Logs["harness"] = fileTail(filepath.Join(dir, "harness.log"), 15)
			}
		}
		cfg.Logger.Info("run ends", "passed", res.Passed(), "err", err)
		if err != nil {
			res.Incomplete = err.Error()
		}
		res.Kept = cfg.Keep || cfg.Dir != "" || err != nil || !res.Passed()
		if !res.Kept {
			os.RemoveAll(dir)
		}
	}()
	if err != nil {
		return res, err
	}
	runErr := runFlow(ctx, sc, e, cfg.LivenessTimeout)
	h, herr := e.history()
	if herr != nil {
		return res, errors.Join(runErr, herr)
	}
	res.History = h
	res.Options = check.Options{}
	if sc.Ordered {
		if broken := e.reconnects(); broken > 0 {
			// I5 promises order only without redelivery, and the receivers'
			// files cannot say which deliveries were redeliveries.
			e.Note("order not checked: %d connections were re-established (a loaded machine can miss heartbeats), so redeliveries may reorder", broken)
		} else {
			for _, r := range e.receivers {
				res.Options.OrderedQueues = append(res.Options.OrderedQueues, r.Queue)
			}
		}
	}
	res.Report = check.Check(h, res.Options)
	if serr := h.Save(dir + "/history.json"); serr != nil {
		runErr = errors.Join(runErr, serr)
	}
	return res, runErr
}

// runFlow is the common shape: receivers, one sender, the scenario's
// faults, then the liveness phase.
func runFlow(ctx context.Context, sc Scenario, e *Env, livenessTimeout time.Duration) error {
	e.network = sc.Network
	for i := range max(sc.Receivers, 1) {
		if _, err := e.AddReceiver(ctx, fmt.Sprintf("r%d", i+1)); err != nil {
			return err
		}
	}
	for i := range max(sc.Senders, 1) {
		if _, err := e.StartSender(fmt.Sprintf("p%d", i+1), sc.Messages, sc.Rate); err != nil {
			return err
		}
	}
	if sc.Faults != nil {
		if err := sc.Faults(ctx, e); err != nil {
			return fmt.Errorf("scenario %s: %w", sc.Name, err)
		}
	}
	lctx, cancel := context.WithTimeout(ctx, livenessTimeout)
	defer cancel()
	return e.liveness(lctx)
}
