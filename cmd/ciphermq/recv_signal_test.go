//go:build unix

package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/internal/testutil"
)

// envRecvHelper holds the JSON argument list when the test binary is
// re-executed as the ciphermq command.
const envRecvHelper = "CIPHERMQ_TEST_RECV_HELPER_ARGS"

// TestRecvHelperProcess is not a test: it is the ciphermq process that
// TestRecvExitsZeroOnSIGINT starts (the test binary re-executed).
func TestRecvHelperProcess(t *testing.T) {
	raw := os.Getenv(envRecvHelper)
	if raw == "" {
		t.Skip("helper process of TestRecvExitsZeroOnSIGINT; runs only when re-executed by it")
	}
	var args []string
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		os.Exit(3)
	}
	root := newRootCmd()
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		os.Exit(exitCode(err))
	}
	os.Exit(0)
}

func TestRecvExitsZeroOnSIGINT(t *testing.T) {
	isolate(t)
	_, addr := startBroker(t)
	keys := t.TempDir()
	if _, err := keygen(t, "--dir", keys); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "received.jsonl")
	args, _ := json.Marshal([]string{"recv", "--broker", addr, "--key", filepath.Join(keys, "receiver.key"),
		"--trust", filepath.Join(keys, "sender.pub"), "--out", out})
	cmd := exec.Command(os.Args[0], "-test.run=^TestRecvHelperProcess$")
	cmd.Env = append(os.Environ(), envRecvHelper+"="+string(args))
	var stdout, stderr testutil.SyncBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	waitUntil(t, "recv to start", func() bool { return strings.Contains(stderr.String(), "Ctrl-C to stop") })
	if _, _, err := runSendCmd(t, "", "--broker", addr, "--to-key", filepath.Join(keys, "receiver.pub"),
		"--sign-key", filepath.Join(keys, "sender.key"), "--count", "5"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "5 records", func() bool { return len(recordsIn(out)) == 5 })
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("recv after SIGINT: %v (want exit 0)\nstderr: %s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("recv did not exit after SIGINT")
	}
	if o := stdout.String(); !strings.Contains(o, "received 5, stored 5") || !bytes.Contains([]byte(o), []byte(out)) {
		t.Fatalf("summary after SIGINT:\n%s", o)
	}
}
