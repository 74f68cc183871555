package realworld

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ciphermq/ciphermq/faults"
)

// This file is what `ciphermq scenario run` and `ciphermq scenario hostile
// run` do between parsing their flags and exiting; the error messages name
// the commands' arguments and flags.

// ChooseScenario picks the catalogue entry named in args (at most one), or
// the scenario of the fault plan file at planPath.
func ChooseScenario(args []string, planPath string) (Scenario, error) {
	switch {
	case planPath != "" && len(args) > 0:
		return Scenario{}, errors.New("give a scenario name or --plan FILE, not both")
	case planPath != "":
		pl, err := faults.Load(planPath)
		if err != nil {
			return Scenario{}, err
		}
		sc, _, err := PlanScenario(pl) // the notes appear in the report
		return sc, err
	case len(args) == 0:
		return Scenario{}, errors.New("which scenario? `ciphermq scenario list` shows them; or give --plan FILE")
	}
	sc, ok := Lookup(args[0])
	if !ok {
		return sc, fmt.Errorf("%w %q: `ciphermq scenario list` shows the catalogue", ErrUnknownScenario, args[0])
	}
	return sc, nil
}

// RunAndReport runs sc (Run), prints its report (Result.Describe) on out
// and "PASS name" when the checker passed it; the error says whether the
// run did not complete or failed the checker, with the seed to replay it.
func RunAndReport(ctx context.Context, out io.Writer, sc Scenario, cfg Config) error {
	res, runErr := Run(ctx, sc, cfg)
	fmt.Fprint(out, res.Describe())
	switch {
	case runErr != nil:
		return fmt.Errorf("scenario %s did not complete: %w (replay with --seed %d)", sc.Name, runErr, cfg.Seed)
	case !res.Passed():
		return fmt.Errorf("scenario %s failed the checker: %w (replay with --seed %d)", sc.Name, res.Report.Err(), cfg.Seed)
	}
	fmt.Fprintf(out, "PASS %s\n", sc.Name)
	return nil
}

// SelectAttacks picks the hostile catalogue's entries named in names, in
// that order, or every entry with all.
func SelectAttacks(names []string, all bool) ([]Attack, error) {
	var attacks []Attack
	switch {
	case all && len(names) > 0:
		return nil, errors.New("give attack names or --all, not both")
	case all:
		attacks = HostileCatalogue()
	case len(names) == 0:
		return nil, errors.New("which attack? `ciphermq scenario hostile list` shows them; or --all")
	}
	for _, name := range names {
		a, ok := LookupAttack(name)
		if !ok {
			return nil, fmt.Errorf("%w %q: `ciphermq scenario hostile list` shows the catalogue", ErrUnknownScenario, name)
		}
		attacks = append(attacks, a)
	}
	return attacks, nil
}

// AttacksConfig configures RunAttacks.
type AttacksConfig struct {
	Binary string // the ciphermq binary started as the broker
	// Dir keeps every attack's files in Dir/NAME; "" puts each in a new
	// temporary directory, removed when the attack passes.
	Dir     string
	Long    bool          // the long variants
	Timeout time.Duration // deadline of each attack's run
}

// RunAttacks runs the attacks one after the other (RunHostile, judged by
// Attack.Check), printing each one's report and "PASS name" or "FAIL
// name: why" with the broker log's tail on out. Once ctx ends the rest are
// not run. It fails naming every attack that failed or did not run.
func RunAttacks(ctx context.Context, out io.Writer, attacks []Attack, cfg AttacksConfig) error {
	var failed []string
	for _, a := range attacks {
		if ctx.Err() != nil {
			failed = append(failed, a.Name+" (not run: interrupted)")
			continue
		}
		runDir := cfg.Dir
		var err error
		if runDir == "" {
			if runDir, err = os.MkdirTemp("", "ciphermq-hostile-"+a.Name+"-"); err != nil {
				return err
			}
		} else {
			runDir = filepath.Join(cfg.Dir, a.Name)
			if err := os.MkdirAll(runDir, 0o755); err != nil {
				return err
			}
		}
		actx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		res, err := RunHostile(actx, a, HostileConfig{Binary: cfg.Binary, Dir: runDir, Long: cfg.Long})
		cancel()
		if err == nil {
			err = a.Check(res)
		}
		if err == nil && cfg.Dir == "" {
			res.Dir = "" // removed below
		}
		fmt.Fprint(out, res.Describe())
		if err != nil {
			fmt.Fprintf(out, "FAIL %s: %v\n%s", a.Name, err, res.BrokerLog)
			failed = append(failed, a.Name)
			continue
		}
		fmt.Fprintf(out, "PASS %s\n", a.Name)
		if cfg.Dir == "" {
			os.RemoveAll(runDir)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("hostile attacks failed: %v", failed)
	}
	return nil
}
