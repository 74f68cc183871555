package main

import (
	"regexp"
	"strings"
	"testing"
)

var drawReplay = regexp.MustCompile(`(?m)replay: ciphermq sim (--seed \d+ .*--draw-seed \d+)$`)

// TestSimGuidedReportsAndItsReplaysFail: a guided exploration prints its
// table, and a failing run that reused another seed's draws replays with
// --draw-seed and fails again on its own.
func TestSimGuidedReportsAndItsReplaysFail(t *testing.T) {
	out, _, err := runSimCmd(t, "--guided", "--seeds", "1..40", "--workers", "2", "--messages", "30", "--mutate", "receiver-no-dedup")
	if err == nil {
		t.Fatalf("receiver dedup off, yet 40 guided runs passed:\n%s", out)
	}
	for _, want := range []string{"exploration: guided", "seeds run                      40\n", "runs on reused draws", "behaviour features reached"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	m := drawReplay.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no failing run on reused draws listed with --draw-seed:\n%s", out)
	}
	args := strings.Fields(m[1])
	if _, _, err := runSimCmd(t, args...); err == nil {
		t.Fatalf("replay %q passed", m[1])
	}
}

func TestSimDurationAndGuidedFlagsSayWhatToDo(t *testing.T) {
	for _, args := range [][]string{
		{"--guided"},
		{"--guided", "--seed", "3"},
		{"--duration", "1s", "--json"},
		{"--guided", "--seeds", "1..4", "--draw-seed", "5"},
	} {
		if _, _, err := runSimCmd(t, args...); err == nil || !strings.Contains(err.Error(), "--") {
			t.Errorf("%v: want an error naming the flags, got %v", args, err)
		}
	}
}
