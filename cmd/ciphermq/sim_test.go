package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/ciphermq/ciphermq/sim"
	"github.com/ciphermq/ciphermq/sim/simreport"
)

// failingSeed is the first swarm seed that fails with the receiver's dedup
// switched off (its weather redelivers a message the receiver already
// stored), found through the simulator's API so the test does not depend on
// which weather each seed draws today.
func failingSeed(t *testing.T) string {
	t.Helper()
	for seed := uint64(1); seed <= 60; seed++ {
		r := sim.Run(sim.Config{Seed: seed, Swarm: true, Mutations: sim.Mutations{ReceiverNoDedup: true}})
		if len(r.Report.Duplicated) > 0 {
			return strconv.FormatUint(seed, 10)
		}
	}
	t.Fatal("no seed of 1..60 fails with receiver dedup off: the simulator's mutation test should fail too")
	return ""
}

var (
	hashLine   = regexp.MustCompile(`(?m)^trace hash ([0-9a-f]{64}) \((\d+) lines\)$`)
	replayLine = regexp.MustCompile(`(?m)replay: (ciphermq sim .*)$`)
)

// runSimCmd runs "ciphermq sim args..." in-process.
func runSimCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runCobra(t, newSimCmd(), args...)
}

func traceHash(t *testing.T, out string) string {
	t.Helper()
	m := hashLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no trace hash line in the output:\n%s", out)
	}
	return m[1]
}

func TestSimSeedPrintsVerdictsHashAndSpeed(t *testing.T) {
	out, _, err := runSimCmd(t, "--seed", "3")
	if err != nil {
		t.Fatalf("seed 3 must pass: %v\n%s", err, out)
	}
	traceHash(t, out)
	for _, want := range []string{
		"seed 3: OK",
		"I1 no loss             ok          lost=0",
		"I2 exactly once        ok          duplicated=0",
		"I3 integrity           ok          corrupted=0",
		"I4 publisher liveness  ok          pending=0",
		"I5 order",
		"I6 bounds              ok          prefetch-exceeded=0 over-limit=0",
		"plan: swarm",
		"faults on: ",
		"coverage: redelivery=",
		"messages published",
		"simulated msgs per wall second",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "VIOLATED") || strings.Contains(out, "replay:") {
		t.Errorf("a passing run shows a violation or a replay command:\n%s", out)
	}
}

func TestSimSameSeedSameHashOtherSeedOtherHash(t *testing.T) {
	a, _, err := runSimCmd(t, "--seed", "5")
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := runSimCmd(t, "--seed", "5")
	if err != nil {
		t.Fatal(err)
	}
	if ha, hb := traceHash(t, a), traceHash(t, b); ha != hb {
		t.Fatalf("seed 5 twice gave two trace hashes: %s and %s", ha, hb)
	}
	c, _, err := runSimCmd(t, "--seed", "6")
	if err != nil {
		t.Fatal(err)
	}
	if traceHash(t, a) == traceHash(t, c) {
		t.Fatal("seeds 5 and 6 gave the same trace hash: the seed does not reach the run")
	}
}

func TestSimJSONIsOneObjectWithVerdicts(t *testing.T) {
	out, _, err := runSimCmd(t, "--seed", "3", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep simreport.Seed
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("--json output is not one JSON object: %v\n%s", err, out)
	}
	// Seed 3 draws an authenticated run, which adds the access-control
	// verdict after I1..I6 and routing.
	if !rep.OK || rep.Seed != 3 || len(rep.TraceHash) != 64 || len(rep.Verdicts) != 8 || !rep.Auth || rep.Hostile == nil ||
		rep.Stats.MessagesPublished == 0 {
		t.Fatalf("unexpected JSON report: %+v", rep)
	}
	if last := rep.Verdicts[7]; last.Invariant != "access control" || last.Status != "ok" {
		t.Errorf("the seventh verdict is %+v, want access control ok", last)
	}
	for i, v := range rep.Verdicts[:6] {
		if want := "I" + string(rune('1'+i)); !strings.HasPrefix(v.Invariant, want) {
			t.Errorf("verdict %d is %q, want %s first", i, v.Invariant, want)
		}
	}
}

func TestSimTracePrintsEveryTraceLine(t *testing.T) {
	out, _, err := runSimCmd(t, "--seed", "3", "--trace")
	if err != nil {
		t.Fatal(err)
	}
	m := hashLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no trace hash line:\n%s", out)
	}
	traceText, _, ok := strings.Cut(out, "seed 3: ")
	if !ok {
		t.Fatalf("no summary after the trace:\n%s", out)
	}
	lines := strings.Split(strings.TrimSuffix(traceText, "\n"), "\n")
	if got := len(lines); strings.TrimSpace(traceText) == "" || got != mustAtoi(t, m[2]) {
		t.Fatalf("printed %d trace lines, the run reports %s", got, m[2])
	}
	for _, l := range lines[:5] {
		if !strings.HasPrefix(l, "t=") {
			t.Fatalf("trace line without its virtual time: %q", l)
		}
	}
	plain, _, err := runSimCmd(t, "--seed", "3")
	if err != nil {
		t.Fatal(err)
	}
	if traceHash(t, plain) != m[1] {
		t.Fatal("--trace changed the run's trace hash")
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestSimSweepPrintsTable(t *testing.T) {
	out, _, err := runSimCmd(t, "--seeds", "1..4", "--workers", "2")
	if err != nil {
		t.Fatalf("seeds 1..4 must pass: %v\n%s", err, out)
	}
	for _, want := range []string{
		"sweep of seeds 1..4 (2 workers)",
		"seeds run                      4\n",
		"failures                       0\n",
		"seeds per minute",
		"simulated msgs per wall second",
		"redelivery",
		"coverage not required",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	js, _, err := runSimCmd(t, "--seeds", "1..4", "--workers", "2", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep simreport.Sweep
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatalf("--json sweep output: %v\n%s", err, js)
	}
	// Messages is what the runs published, not an estimate from the workload.
	var published uint64
	for seed := uint64(1); seed <= 4; seed++ {
		published += sim.Run(sim.Config{Seed: seed, Swarm: true}).Stats.MessagesPublished
	}
	if rep.Runs != 4 || rep.Failed != 0 || rep.SeedsPerMin <= 0 || rep.Messages != published || published == 0 {
		t.Fatalf("unexpected sweep report (want %d messages): %+v", published, rep)
	}
}

func TestSimSweepProgressGoesToStderr(t *testing.T) {
	out, errOut, err := runSimCmd(t, "--seeds", "1..2", "--workers", "1", "--progress")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut, "2/2 seeds, 0 failed") {
		t.Errorf("no progress bar on stderr: %q", errOut)
	}
	if strings.Contains(out, "seeds, 0 failed") {
		t.Errorf("progress bar on stdout:\n%s", out)
	}
}

// replayArgs turns a printed replay command into the arguments of sim.
func replayArgs(t *testing.T, line string) []string {
	t.Helper()
	fields := strings.Fields(line)
	if len(fields) < 4 || fields[0] != "ciphermq" || fields[1] != "sim" {
		t.Fatalf("not a sim replay command: %q", line)
	}
	for _, f := range fields {
		if strings.ContainsAny(f, `'"`) {
			t.Fatalf("replay command needs shell quoting this test does not parse: %q", line)
		}
	}
	return fields[2:]
}

func TestSimFailureExitsNonZeroAndItsReplayFailsTheSameWay(t *testing.T) {
	failingSeed := failingSeed(t)
	// The workload flags equal the defaults, so the seed still fails; the
	// replay must carry them (and the mutation) all the same.
	out, _, err := runSimCmd(t, "--seed", failingSeed, "--mutate", "receiver-no-dedup", "--prefetch", "16", "--ack-timeout", "5s")
	if err == nil {
		t.Fatalf("seed %s with receiver dedup off passed:\n%s", failingSeed, out)
	}
	if !strings.Contains(out, "I2 exactly once        VIOLATED") {
		t.Fatalf("I2 not reported violated:\n%s", out)
	}
	m := replayLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no replay command printed:\n%s", out)
	}
	want := "ciphermq sim --seed " + failingSeed + " --ack-timeout 5s --mutate receiver-no-dedup --prefetch 16"
	if m[1] != want {
		t.Fatalf("replay command %q, want %q", m[1], want)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("the error does not carry the replay command: %v", err)
	}
	again, _, err2 := runSimCmd(t, replayArgs(t, m[1])...)
	if err2 == nil {
		t.Fatalf("the replay passed:\n%s", again)
	}
	if traceHash(t, again) != traceHash(t, out) {
		t.Fatalf("the replay took another path: hash %s, first run %s", traceHash(t, again), traceHash(t, out))
	}
	first, _, _ := strings.Cut(out, "\n")
	firstAgain, _, _ := strings.Cut(again, "\n")
	if first != firstAgain {
		t.Fatalf("the replay failed differently:\n%s\n%s", first, firstAgain)
	}
	// Without the mutation the same seed passes: the failure is the
	// mutation's, found by the checker.
	if clean, _, err := runSimCmd(t, "--seed", failingSeed); err != nil {
		t.Fatalf("seed %s fails without the mutation: %v\n%s", failingSeed, err, clean)
	}
}

func TestSimSweepFailureListsEachFailingSeedWithItsReplay(t *testing.T) {
	failingSeed := failingSeed(t)
	out, _, err := runSimCmd(t, "--seeds", failingSeed+".."+failingSeed, "--mutate", "receiver-no-dedup", "--workers", "1")
	if err == nil {
		t.Fatalf("a sweep with a failing seed passed:\n%s", out)
	}
	if !strings.Contains(out, "failures                       1\n") || !strings.Contains(out, "FAILED seed "+failingSeed+":") {
		t.Fatalf("the table does not show the failure:\n%s", out)
	}
	m := replayLine.FindStringSubmatch(out)
	if m == nil || m[1] != "ciphermq sim --seed "+failingSeed+" --mutate receiver-no-dedup" {
		t.Fatalf("replay command %v in:\n%s", m, out)
	}
	single, _, err := runSimCmd(t, replayArgs(t, m[1])...)
	if err == nil {
		t.Fatalf("replaying the sweep's failure passed:\n%s", single)
	}
	if hash := traceHash(t, single); !strings.Contains(out, "trace hash "+hash+"\n") {
		t.Fatalf("the sweep and the replay disagree on the trace hash %s:\n%s", hash, out)
	}
}

func TestSimSweepListsEveryFailureInSeedOrderWhateverTheWorkers(t *testing.T) {
	js, _, err := runSimCmd(t, "--seeds", "1..24", "--mutate", "receiver-no-dedup", "--workers", "4", "--json")
	if err == nil {
		t.Fatalf("a sweep with receiver dedup off passed:\n%s", js)
	}
	var rep simreport.Sweep
	if err := json.Unmarshal([]byte(js), &rep); err != nil {
		t.Fatalf("--json sweep output: %v\n%s", err, js)
	}
	if rep.Failed < 2 || len(rep.Failures) != rep.Failed {
		t.Fatalf("%d failed, %d listed: want every failure listed (and at least 2 for this test)", rep.Failed, len(rep.Failures))
	}
	for i, f := range rep.Failures {
		if i > 0 && f.Seed <= rep.Failures[i-1].Seed {
			t.Fatalf("failures not in seed order: %d after %d", f.Seed, rep.Failures[i-1].Seed)
		}
		if !strings.Contains(f.Summary, "duplicated") || f.Replay != simreport.ReplayCommand(f.Seed, []string{"--mutate receiver-no-dedup"}) {
			t.Errorf("failure of seed %d: summary %q, replay %q", f.Seed, f.Summary, f.Replay)
		}
	}
}

func TestSimPlanFileRunsAndReplaysWithIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "calm.json")
	if err := sim.Calm().Save(path); err != nil {
		t.Fatal(err)
	}
	out, _, err := runSimCmd(t, "--seed", "2", "--plan", path, "--max-length=-1")
	if err != nil {
		t.Fatalf("calm plan failed: %v\n%s", err, out)
	}
	for _, want := range []string{"faults on: none", "plan: calm", "I5 order               ok"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if got := simreport.ReplayCommand(2, replayFlags(mustParse(t, "--seed", "2", "--plan", path, "--max-length=-1").Flags())); got !=
		"ciphermq sim --seed 2 --max-length -1 --plan "+path {
		t.Errorf("replay command %q", got)
	}
}

// mustParse parses sim's flags without running it.
func mustParse(t *testing.T, args ...string) *cobra.Command {
	t.Helper()
	cmd := newSimCmd()
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	return cmd
}

func TestSimBadPlanFileGivesClearError(t *testing.T) {
	dir := t.TempDir()
	notJSON := filepath.Join(dir, "broken.json")
	badVersion := filepath.Join(dir, "version.json")
	if err := os.WriteFile(notJSON, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(badVersion, []byte(`{"version": 99, "links": {}, "phases": {"heal_at_ms": 1000}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{filepath.Join(dir, "missing.json"), notJSON, badVersion} {
		out, _, err := runSimCmd(t, "--seed", "1", "--plan", path)
		if err == nil {
			t.Errorf("--plan %s was accepted:\n%s", path, out)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, "--plan") || !strings.Contains(msg, "docs/faults.md") ||
			!strings.Contains(msg, filepath.Base(path)) {
			t.Errorf("--plan %s: error does not say which file and what to do: %v", filepath.Base(path), err)
		}
		if strings.Contains(out, "trace hash") {
			t.Errorf("--plan %s: a run happened anyway:\n%s", filepath.Base(path), out)
		}
	}
}

func TestSimBadFlagsSayWhatToDo(t *testing.T) {
	cases := []struct {
		args []string
		want string
	}{
		{nil, "give --seed N"},
		{[]string{"--seed", "1", "--seeds", "1..3"}, "use --seed N for one run or --seeds A..B"},
		{[]string{"--seeds", "5..1"}, "need A <= B"},
		{[]string{"--seeds", "7"}, "write a range A..B"},
		{[]string{"--seeds", "a..b"}, "whole numbers"},
		{[]string{"--seeds", "0..18446744073709551615"}, "more than 2^31 seeds"},
		{[]string{"--seed", "0", "--seeds", "1..3"}, "use --seed N for one run or --seeds A..B"},
		{[]string{"--seeds", "1..3", "--trace"}, "--seed N --trace"},
		{[]string{"--seed", "1", "--trace", "--json"}, "use one of them"},
		{[]string{"--seed", "1", "--calm", "--plan", "x.json"}, "--plan and --calm"},
		{[]string{"--seeds", "1..3", "--workers", "0"}, "--workers 0"},
		{[]string{"--seed", "1", "--mutate", "bogus"}, "unknown mutation: use one of"},
		{[]string{"--seed", "1", "--receivers", "99"}, "99 receivers: use 1..64"},
		{[]string{"--seeds", "1..3", "--min-body", "9", "--max-body", "2"}, "body sizes 9..2"},
	}
	for _, tc := range cases {
		out, _, err := runSimCmd(t, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("sim %v: error %v, want one containing %q\n%s", tc.args, err, tc.want, out)
		}
	}
}

func TestSimSeedZeroIsASeed(t *testing.T) {
	out, _, err := runSimCmd(t, "--seed", "0")
	if err != nil {
		t.Fatalf("--seed 0: %v\n%s", err, out)
	}
	if !strings.HasPrefix(out, "seed 0: ") {
		t.Fatalf("--seed 0 ran something else:\n%s", out)
	}
}

func TestReplayKeepsWhatShapesTheRunDropsHowItIsShown(t *testing.T) {
	cmd := mustParse(t, "--seeds", "1..9", "--workers", "2", "--json", "--progress", "--durable", "--calm",
		"--messages", "50", "--mutate", "ack-before-fsync,prefetch-ignored", "--publish-span", "2s")
	got := simreport.ReplayCommand(7, replayFlags(cmd.Flags()))
	want := "ciphermq sim --seed 7 --calm --durable --messages 50 --mutate ack-before-fsync,prefetch-ignored --publish-span 2s"
	if got != want {
		t.Fatalf("replay command\n got %q\nwant %q", got, want)
	}
	// The rendered command parses back to the same run configuration.
	again := mustParse(t, replayArgs(t, got)...)
	if r := simreport.ReplayCommand(7, replayFlags(again.Flags())); r != want {
		t.Fatalf("the replay command does not round-trip: %q", r)
	}
}

// TestSimAuthPrintsTheHostileTenantsRefusals: --auth makes the run
// authenticated; its report has the access-control verdict and the hostile
// tenant's refusals by code.
func TestSimAuthPrintsTheHostileTenantsRefusals(t *testing.T) {
	out, _, err := runSimCmd(t, "--seed", "5", "--auth")
	if err != nil {
		t.Fatalf("ciphermq sim --seed 5 --auth: %v\n%s", err, out)
	}
	for _, want := range []string{"access control         ok", "authenticated: hostile tenant denied ops tried", "601=", "auth-plain="} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	sweep, _, err := runSimCmd(t, "--seeds", "1..4", "--auth", "--workers", "2")
	if err != nil || !regexp.MustCompile(`authenticated seeds +4\n`).MatchString(sweep) || !strings.Contains(sweep, "hostile tenant") {
		t.Fatalf("sweep with --auth: %v\n%s", err, sweep)
	}
}

// TestSimSweepCatchesSkippedPublishPermission: the mutation that lets a
// publish skip its permission check fails an --auth sweep within a few
// seeds, as an access-control violation, and its replay fails the same way.
func TestSimSweepCatchesSkippedPublishPermission(t *testing.T) {
	out, _, err := runSimCmd(t, "--seeds", "1..10", "--auth", "--workers", "2", "--mutate", "skip-publish-permission")
	if err == nil {
		t.Fatalf("the sweep passed with the publish permission check skipped:\n%s", out)
	}
	if !strings.Contains(out, "ACCESS CONTROL VIOLATED") {
		t.Fatalf("the failure is not reported as an access-control violation:\n%s", out)
	}
	m := replayLine.FindStringSubmatch(out)
	if m == nil || !strings.Contains(m[1], "--auth") || !strings.Contains(m[1], "--mutate skip-publish-permission") {
		t.Fatalf("no replay with --auth and the mutation:\n%s", out)
	}
	again, _, err := runSimCmd(t, replayArgs(t, m[1])...)
	if err == nil || !strings.Contains(again, "access control         VIOLATED") {
		t.Fatalf("the replay %q did not fail the same way: %v\n%s", m[1], err, again)
	}
}
