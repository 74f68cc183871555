package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/bench"
)

// bench --summarize --only prints one row group with its own base, as
// bench/compare does for the durable targets.
func TestBenchSummarizeOnlyARowGroup(t *testing.T) {
	var lines bytes.Buffer
	for target, rate := range map[string]float64{"ciphermq": 400, "ciphermq-durable": 100, "rabbitmq-persistent": 25, "nats-file": 50} {
		r := bench.Result{Target: target, Publishers: 1, Consumers: 1, Size: 512, Encryption: "off", MsgsPerSec: rate}
		if err := bench.WriteJSON(&lines, r); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "results.jsonl")
	if err := os.WriteFile(path, lines.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		cmd := newBenchCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(args)
		cmd.SilenceUsage = true
		err := cmd.Execute()
		return out.String(), err
	}
	out, err := run("--summarize", path, "--base", "ciphermq-durable", "--only", "ciphermq-durable,rabbitmq-persistent,nats-file")
	if err != nil {
		t.Fatalf("summarize: %v\n%s", err, out)
	}
	for _, want := range []string{"vs ciphermq-durable", "| rabbitmq-persistent | 1 | 25 | 0.25× |", "| nats-file | 1 | 50 | 0.50× |", "| ciphermq-durable | 1 | 100 | 1.00× |"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "| ciphermq |") {
		t.Errorf("the in-memory target is in the durable group:\n%s", out)
	}
	if _, err := run("--summarize", path, "--only", "nats-memory"); err == nil || !strings.Contains(err.Error(), "--only") {
		t.Errorf("--only with no matching results: %v, want an error naming --only", err)
	}
}
