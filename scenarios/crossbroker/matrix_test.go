package crossbroker

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/internal/check"
)

func results() []Result {
	ok := Result{Target: "ciphermq-durable", Scenario: "resets", Settings: "durable queue",
		Report: check.Report{Counts: check.Counts{Confirmed: 90, ConfirmedDuplicate: 10}}}
	dup := Result{Target: "rabbitmq-quorum", Scenario: "resets", Settings: "quorum queue", Redelivered: 1, Indeterminate: 2, Abandoned: 1,
		Report: check.Report{Counts: check.Counts{Confirmed: 100}, Duplicated: []check.Anomaly{{}, {}, {}}}, Notes: []string{"no publish dedup"}}
	broken := Result{Target: "nats-file", Scenario: "broker-kill", Settings: "file stream", Err: errors.New("nats-server would not start"), Dir: "/tmp/run"}
	return []Result{ok, dup, broken}
}

func TestDescribe(t *testing.T) {
	rs := results()
	got := rs[1].Describe()
	want := "target rabbitmq-quorum, scenario resets\n  settings: quorum queue\n  " + rs[1].Report.Summary() + "\n" +
		"  lost 0, duplicated 3 (redelivered 1), unexpected 0, corrupted 0, pending 0; indeterminate attempts 2, abandoned 1\n" +
		"  note: no publish dedup\n"
	if got != want {
		t.Fatalf("Describe:\n%s\nwant:\n%s", got, want)
	}
	if got := rs[2].Describe(); !strings.Contains(got, "  RUN INCOMPLETE: nats-server would not start (files in /tmp/run)\n") {
		t.Fatalf("an incomplete run does not say so:\n%s", got)
	}
	if got := rs[0].Describe(); strings.Contains(got, "INCOMPLETE") || strings.Contains(got, "note:") {
		t.Fatalf("a clean run:\n%s", got)
	}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	WriteTable(&b, results())
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 5 {
		t.Fatalf("%d lines, want header, rule and 3 rows:\n%s", len(lines), b.String())
	}
	fields := func(l string) []string {
		var out []string
		for _, f := range strings.Split(strings.Trim(l, "| "), "|") {
			out = append(out, strings.TrimSpace(f))
		}
		return out
	}
	if h := fields(lines[0]); len(h) != 8 || h[0] != "target" || h[7] != "checker (exactly once)" {
		t.Fatalf("header %q", h)
	}
	for i, want := range [][]string{
		{"ciphermq-durable", "resets", "100", "0", "0 (0 / 0)", "0", "0", "ok"},
		{"rabbitmq-quorum", "resets", "100", "0", "3 (1 / 2)", "0", "3", "FAIL"},
		{"nats-file", "broker-kill", "0", "0", "0 (0 / 0)", "0", "0", "incomplete"},
	} {
		if got := fields(lines[2+i]); strings.Join(got, ";") != strings.Join(want, ";") {
			t.Errorf("row %d = %q, want %q", i, got, want)
		}
	}
	// The columns line up: every line is as wide as the header.
	for _, l := range lines {
		if len(l) != len(lines[0]) {
			t.Errorf("ragged table:\n%s", b.String())
			break
		}
	}
}

func TestRunMatrixRefusesAnUnknownScenarioBeforeRunning(t *testing.T) {
	var out bytes.Buffer
	err := RunMatrix(context.Background(), &out, []string{"resets", "no-such"}, []string{"ciphermq-durable"}, Options{}, Config{Seed: 1})
	if err == nil || !strings.Contains(err.Error(), `unknown cross-broker scenario "no-such": use one of `) {
		t.Fatalf("err = %v", err)
	}
	if out.Len() != 0 {
		t.Fatalf("something ran: %q", out.String())
	}
}

func TestRunMatrixStopsWhenCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	if err := RunMatrix(ctx, &out, []string{"resets"}, []string{"ciphermq-durable"}, Options{}, Config{Seed: 1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if out.Len() != 0 {
		t.Fatalf("a cancelled matrix printed %q", out.String())
	}
}
