package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// The demo itself is tested in package demo; these tests cover the
// command's wiring: flags, output and exit code.

func TestDemoCommandReusesKeysInDir(t *testing.T) {
	dir := t.TempDir()
	for run := 1; run <= 2; run++ {
		cmd := newDemoCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(io.Discard)
		cmd.SetArgs([]string{"--count", "20", "--dir", dir})
		if err := cmd.Execute(); err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, out.String())
		}
	}
	// Both runs appended to the same store with the same keys.
	if got := len(recordsIn(filepath.Join(dir, "received.jsonl"))); got != 40 {
		t.Fatalf("output holds %d records after two runs of 20", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "keys", "receiver.key")); err != nil {
		t.Fatal(err)
	}
}

// runCobra runs cmd with args in-process and returns what it wrote.
func runCobra(t *testing.T, cmd *cobra.Command, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err = cmd.Execute()
	return out.String(), errOut.String(), err
}

func runDemoCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return runCobra(t, newDemoCmd(), args...)
}

func TestDemoCommandFlagErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--count", "0"}, "--count and --window must be >= 1, --size >= 0"},
		{[]string{"--format", "rot13", "--count", "1"}, "--format: "},
		{[]string{"--durable", "--in-memory", "--count", "1", "--dir", t.TempDir()}, "--durable and --in-memory exclude each other"},
	} {
		_, _, err := runDemoCmd(t, c.args...)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) || exitCode(err) != 1 {
			t.Errorf("demo %v: err %v (exit %d), want %q and exit 1", c.args, err, exitCode(err), c.want)
		}
	}
}

func TestDemoCommandFlagsReachTheDemo(t *testing.T) {
	dir := t.TempDir()
	out, errOut, err := runDemoCmd(t, "--count", "30", "--size", "7", "--format", "seed", "--dir", dir, "--window", "4", "--in-memory", "--progress")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"moving 30 seed (reference RSA) messages of 7 bytes", "in-memory broker (--in-memory)",
		"  sent         30\n", "  output       " + filepath.Join(dir, "received.jsonl")} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(errOut, "sent 30/30") {
		t.Errorf("--progress drew no bar on stderr: %q", errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "keys", "receiver_private.pem")); err != nil {
		t.Fatal(err)
	}
}
