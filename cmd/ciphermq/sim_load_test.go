package main

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

// TestSimHostileLoadFlag: --hostile-load forces the hostile-load node, the
// report shows its "command cost" verdict and counts, and the sweep counts
// its seeds.
func TestSimHostileLoadFlag(t *testing.T) {
	out, _, err := runSimCmd(t, "--seed", "1", "--hostile-load")
	if err != nil {
		t.Fatalf("ciphermq sim --seed 1 --hostile-load: %v\n%s", err, out)
	}
	for _, want := range []string{"command cost           ok", "over-bound=0 (hostile load: attacks:", "commands metered"} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q:\n%s", want, out)
		}
	}
	// Which attacks a seed draws changes with the trace; some attack's
	// coverage counter must be there.
	if !regexp.MustCompile(`coverage: .*load-[a-z-]+=[1-9]`).MatchString(out) {
		t.Errorf("the report's coverage line counts no hostile-load attack:\n%s", out)
	}
	js, _, err := runSimCmd(t, "--seed", "1", "--hostile-load", "--json")
	var rep struct {
		Load  bool `json:"hostile_load"`
		Stats *struct {
			Metered uint64 `json:"metered"`
		} `json:"hostile_load_stats"`
	}
	if err != nil || json.Unmarshal([]byte(js), &rep) != nil || !rep.Load || rep.Stats == nil || rep.Stats.Metered == 0 {
		t.Fatalf("--json: %v %+v\n%s", err, rep, js)
	}
	sweep, _, err := runSimCmd(t, "--seeds", "1..4", "--hostile-load", "--workers", "2")
	if err != nil || !regexp.MustCompile(`hostile-load seeds +4\n`).MatchString(sweep) || !strings.Contains(sweep, "hostile load ") {
		t.Fatalf("sweep with --hostile-load: %v\n%s", err, sweep)
	}
	// Without the flag a swarm seed that does not draw the node has no
	// such verdict.
	plain, _, err := runSimCmd(t, "--seed", "3")
	if err != nil || strings.Contains(plain, "command cost") {
		t.Fatalf("seed 3 without the flag: %v\n%s", err, plain)
	}
}
