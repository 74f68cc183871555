package simreport

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/sim"
)

// small is a calm, small run template: quick, and it passes.
func small() sim.Config {
	pl := sim.Calm()
	w := sim.DefaultWorkload()
	w.Messages = 40
	return sim.Config{Plan: &pl, Workload: w}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"plain/path.json": "plain/path.json",
		"with space":      "'with space'",
		"it's":            `'it'\''s'`,
		"":                "''",
		"-1":              "-1",
	} {
		if got := ShellQuote(in); got != want {
			t.Errorf("ShellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReplayCommand(t *testing.T) {
	if got, want := ReplayCommand(7, []string{"--calm", "--messages 5"}), "ciphermq sim --seed 7 --calm --messages 5"; got != want {
		t.Fatalf("ReplayCommand = %q, want %q", got, want)
	}
	if got, want := ReplayCommand(0, nil), "ciphermq sim --seed 0"; got != want {
		t.Fatalf("ReplayCommand = %q, want %q", got, want)
	}
}

func TestParseSeedRange(t *testing.T) {
	for in, want := range map[string][2]uint64{"1..2000": {1, 2000}, " 5 .. 5 ": {5, 1}, "0..9": {0, 10}} {
		first, n, err := ParseSeedRange(in)
		if err != nil || first != want[0] || uint64(n) != want[1] {
			t.Errorf("ParseSeedRange(%q) = %d, %d, %v; want %d, %d", in, first, n, err, want[0], want[1])
		}
	}
	for in, want := range map[string]string{
		"12":             "write a range A..B",
		"a..9":           "both ends must be whole numbers",
		"9..1":           "need A <= B",
		"0..4294967296":  "more than 2^31 seeds",
		"1..-1":          "both ends must be whole numbers",
		"..":             "both ends must be whole numbers",
		"1..99999999999": "more than 2^31 seeds",
	} {
		if _, _, err := ParseSeedRange(in); err == nil || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "--seeds ") {
			t.Errorf("ParseSeedRange(%q): err %v, want one naming --seeds and %q", in, err, want)
		}
	}
}

func TestMutantCatalogueIsComplete(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range MutantCatalogue {
		if _, ok := mutationSwitches[m.Name]; !ok {
			t.Errorf("catalogue entry %q is no --mutate switch", m.Name)
		}
		seen[m.Name] = true
	}
	for _, name := range MutationNames() {
		if !seen[name] {
			t.Errorf("--mutate %q is missing from the mutant catalogue", name)
		}
	}
}

func TestSetMutation(t *testing.T) {
	var m sim.Mutations
	if err := SetMutation(&m, " receiver-no-dedup "); err != nil || !m.ReceiverNoDedup {
		t.Fatalf("SetMutation: %v, %+v", err, m)
	}
	err := SetMutation(&m, "no-such")
	if err == nil || !strings.Contains(err.Error(), `--mutate "no-such": unknown mutation: use one of `) || !strings.Contains(err.Error(), "topic-hash-one-word") {
		t.Fatalf("unknown mutation: %v", err)
	}
	names := MutationNames()
	for i := 1; i < len(names); i++ {
		if names[i-1] >= names[i] {
			t.Fatalf("MutationNames not sorted: %v", names)
		}
	}
}

func TestFirstFinding(t *testing.T) {
	for in, want := range map[string]string{
		"ROUTING ORACLE VIOLATED: misrouted=1":                "routing oracle violated",
		"SAFETY VIOLATED: lost 0; duplicated 3 (first: m-1)":  "duplicated",
		"SAFETY VIOLATED: corrupted 0; lost 2 (first: m-9)":   "lost",
		"SAFETY VIOLATED: something else":                     "safety violated",
		"NOT CONVERGED after 20000000 steps":                  "not converged",
		"no colon at all":                                     "no colon at all",
		"SAFETY VIOLATED: x; QUEUE BOUND EXCEEDED (q over 5)": "queue bound exceeded",
	} {
		if got := FirstFinding(in); got != want {
			t.Errorf("FirstFinding(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRunSeedPrintsTheReportAndPasses(t *testing.T) {
	cfg := small()
	cfg.Seed = 3
	var out bytes.Buffer
	if err := RunSeed(&out, SeedRun{Config: cfg, Replay: []string{"--calm"}}); err != nil {
		t.Fatalf("a calm run failed: %v\n%s", err, out.String())
	}
	for _, want := range []string{"seed 3: ", "trace hash ", "I1 no loss", "speed: "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	if err := RunSeed(&out, SeedRun{Config: cfg, JSON: true, Mutations: []string{}, Replay: []string{"--calm"}}); err != nil {
		t.Fatal(err)
	}
	var rep Seed
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("--json: %v\n%s", err, out.String())
	}
	if rep.Seed != 3 || !rep.OK || rep.Replay != "ciphermq sim --seed 3 --calm" || len(rep.Verdicts) == 0 || rep.FaultsOn == nil {
		t.Fatalf("JSON report = %+v", rep)
	}
}

func TestRunSeedRefusesAnInvalidConfig(t *testing.T) {
	cfg := small()
	cfg.Workload.Publishers = 1000
	err := RunSeed(new(bytes.Buffer), SeedRun{Config: cfg})
	if err == nil || !strings.Contains(err.Error(), "fix the flags (ciphermq sim --help)") {
		t.Fatalf("err = %v", err)
	}
	err = RunSweep(new(bytes.Buffer), new(bytes.Buffer), SweepRun{Config: cfg, First: 1, Seeds: 2, Workers: 1})
	if err == nil || !strings.Contains(err.Error(), "fix the flags (ciphermq sim --help)") {
		t.Fatalf("sweep: err = %v", err)
	}
}

func TestRunSweepReportsEachFailureWithItsReplay(t *testing.T) {
	cfg := sim.Config{Swarm: true, Mutations: sim.Mutations{ReceiverNoDedup: true}}
	// The first swarm seed whose weather catches the mutation, found
	// through the simulator so the test does not depend on today's draws.
	failing := uint64(0)
	for seed := uint64(1); seed <= 60 && failing == 0; seed++ {
		c := cfg
		c.Seed = seed
		if r := sim.Run(c); len(r.Report.Duplicated) > 0 {
			failing = seed
		}
	}
	if failing == 0 {
		t.Fatal("no seed of 1..60 fails with receiver dedup off: the simulator's mutation test should fail too")
	}
	var out bytes.Buffer
	err := RunSweep(&out, new(bytes.Buffer), SweepRun{Config: cfg, First: failing, Seeds: 3, Workers: 2, JSON: true, Replay: []string{"--mutate receiver-no-dedup"}})
	if err == nil {
		t.Fatalf("a sweep with receiver dedup off passed:\n%s", out.String())
	}
	var rep Sweep
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if rep.Runs != 3 || rep.Failed == 0 || len(rep.Failures) != rep.Failed || rep.First != failing || rep.Last != failing+2 {
		t.Fatalf("sweep report: runs %d failed %d listed %d, %d..%d", rep.Runs, rep.Failed, len(rep.Failures), rep.First, rep.Last)
	}
	if rep.Failures[0].Seed != failing {
		t.Fatalf("first failure is seed %d, want %d", rep.Failures[0].Seed, failing)
	}
	for i, f := range rep.Failures {
		if i > 0 && f.Seed <= rep.Failures[i-1].Seed {
			t.Fatalf("failures not in seed order")
		}
		if f.Replay != ReplayCommand(f.Seed, []string{"--mutate receiver-no-dedup"}) || !strings.Contains(f.Summary, "duplicated") {
			t.Errorf("failure %+v", f)
		}
	}
	if !strings.Contains(err.Error(), rep.Failures[0].Replay) {
		t.Errorf("the error %q does not name the first failure's replay", err)
	}
}

func TestRunSweepPassesAndDrawsItsBar(t *testing.T) {
	var out, errOut bytes.Buffer
	if err := RunSweep(&out, &errOut, SweepRun{Config: small(), First: 1, Seeds: 3, Workers: 1, Progress: true}); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "failures                       0\n") {
		t.Errorf("sweep table:\n%s", out.String())
	}
	if !strings.Contains(errOut.String(), "3/3") {
		t.Errorf("progress line: %q", errOut.String())
	}
}

func TestRunMutantsCatchesAndMisses(t *testing.T) {
	// receiver-no-dedup is caught within the swarm seeds 1..60 (the
	// catalogue's promise); broker-confirm-before-fsync cannot be caught
	// without durable queues and crashes, so in one calm in-memory seed it
	// survives, and the run must fail saying so.
	caught := []Mutant{{Name: "receiver-no-dedup", Guarantee: "g", Test: "t"}}
	var out bytes.Buffer
	if err := RunMutants(&out, MutantsRun{Config: sim.Config{Swarm: true}, First: 1, Seeds: 60, Workers: 2}, caught); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "mutant") || !strings.Contains(out.String(), "receiver-no-dedup") ||
		!strings.Contains(out.String(), "duplicated") || strings.Contains(out.String(), "not caught") {
		t.Fatalf("table:\n%s", out.String())
	}
	out.Reset()
	missed := []Mutant{{Name: "broker-confirm-before-fsync", Guarantee: "broker persistence", Test: "t"}}
	err := RunMutants(&out, MutantsRun{Config: small(), First: 1, Seeds: 1, Workers: 1}, missed)
	if err == nil || err.Error() != "1 of 1 mutants survived seeds 1..1: widen the range or the weather" {
		t.Fatalf("err = %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "not caught") {
		t.Fatalf("table:\n%s", out.String())
	}
	if err := RunMutants(&out, MutantsRun{Config: small(), First: 1, Seeds: 1, Workers: 1}, []Mutant{{Name: "bogus"}}); err == nil {
		t.Fatal("a catalogue entry with no switch ran")
	}
}
