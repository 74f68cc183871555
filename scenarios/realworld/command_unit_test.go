package realworld

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestChooseScenario(t *testing.T) {
	sc, err := ChooseScenario([]string{"baseline"}, "")
	if err != nil || sc.Name != "baseline" {
		t.Fatalf("baseline: %+v, %v", sc, err)
	}
	sc, err = ChooseScenario(nil, "testdata/flaky-links.json")
	if err != nil || sc.Name != "plan:flaky-links" {
		t.Fatalf("plan file: %+v, %v", sc, err)
	}
	for _, c := range []struct {
		args []string
		plan string
		want string
	}{
		{[]string{"baseline"}, "testdata/flaky-links.json", "give a scenario name or --plan FILE, not both"},
		{nil, "", "which scenario? `ciphermq scenario list` shows them; or give --plan FILE"},
		{[]string{"no-such"}, "", `unknown scenario "no-such": ` + "`ciphermq scenario list` shows the catalogue"},
		{nil, "testdata/missing.json", "missing.json"},
	} {
		if _, err := ChooseScenario(c.args, c.plan); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ChooseScenario(%v, %q) = %v, want %q", c.args, c.plan, err, c.want)
		}
	}
	if _, err := ChooseScenario([]string{"no-such"}, ""); !errors.Is(err, ErrUnknownScenario) {
		t.Errorf("an unknown name is not ErrUnknownScenario: %v", err)
	}
}

func TestSelectAttacks(t *testing.T) {
	cat := HostileCatalogue()
	if len(cat) < 2 {
		t.Fatalf("catalogue of %d attacks: the test needs two", len(cat))
	}
	all, err := SelectAttacks(nil, true)
	if err != nil || len(all) != len(cat) {
		t.Fatalf("--all: %d attacks, %v", len(all), err)
	}
	two, err := SelectAttacks([]string{cat[1].Name, cat[0].Name}, false)
	if err != nil || len(two) != 2 || two[0].Name != cat[1].Name || two[1].Name != cat[0].Name {
		t.Fatalf("named attacks not in the order given: %v", err)
	}
	for _, c := range []struct {
		names []string
		all   bool
		want  string
	}{
		{[]string{cat[0].Name}, true, "give attack names or --all, not both"},
		{nil, false, "which attack? `ciphermq scenario hostile list` shows them; or --all"},
		{[]string{cat[0].Name, "no-such"}, false, `unknown scenario "no-such": ` + "`ciphermq scenario hostile list` shows the catalogue"},
	} {
		if _, err := SelectAttacks(c.names, c.all); err == nil || err.Error() != c.want {
			t.Errorf("SelectAttacks(%v, %v) = %v, want %q", c.names, c.all, err, c.want)
		}
	}
}

func TestRunAttacksInterruptedRunsNothing(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dir := t.TempDir()
	var out bytes.Buffer
	err := RunAttacks(ctx, &out, HostileCatalogue()[:2], AttacksConfig{Binary: "/nonexistent", Dir: dir, Timeout: time.Second})
	want := "hostile attacks failed: [" + HostileCatalogue()[0].Name + " (not run: interrupted) " + HostileCatalogue()[1].Name + " (not run: interrupted)]"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	if out.Len() != 0 {
		t.Fatalf("an interrupted run printed %q", out.String())
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*")); len(m) != 0 {
		t.Fatalf("an interrupted run made %v", m)
	}
}

func TestRunAttacksReportsAFailureAndKeepsItsFiles(t *testing.T) {
	dir := t.TempDir()
	a := HostileCatalogue()[0]
	var out bytes.Buffer
	err := RunAttacks(context.Background(), &out, []Attack{a}, AttacksConfig{Binary: filepath.Join(dir, "no-such-binary"), Dir: dir, Timeout: 30 * time.Second})
	if err == nil || err.Error() != "hostile attacks failed: ["+a.Name+"]" {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(out.String(), "hostile "+a.Name+" (short)") || !strings.Contains(out.String(), "FAIL "+a.Name+": ") {
		t.Fatalf("output:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "files in "+filepath.Join(dir, a.Name)) {
		t.Fatalf("the failing attack's directory is not named:\n%s", out.String())
	}
}

func TestRunAndReportSaysTheRunDidNotComplete(t *testing.T) {
	sc, _ := Lookup("baseline")
	dir := t.TempDir()
	var out bytes.Buffer
	err := RunAndReport(context.Background(), &out, sc, Config{Binary: filepath.Join(dir, "no-such-binary"), Seed: 42, Dir: filepath.Join(dir, "run"), Timeout: 30 * time.Second})
	if err == nil || !strings.HasPrefix(err.Error(), "scenario baseline did not complete: ") || !strings.HasSuffix(err.Error(), "(replay with --seed 42)") {
		t.Fatalf("err = %v", err)
	}
	if !strings.HasPrefix(out.String(), "scenario baseline seed 42\n  RUN INCOMPLETE: ") || strings.Contains(out.String(), "PASS") {
		t.Fatalf("output:\n%s", out.String())
	}
}
