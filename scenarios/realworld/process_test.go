//go:build unix

package realworld

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func shPath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh on PATH: the process tests start shell children")
	}
	return p
}

func TestProcessKillAndRestartAppendToOneLog(t *testing.T) {
	p := newProcess("child", t.TempDir(), shPath(t), "-c", "echo he''llo; exec sleep 60")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range 2 {
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		if err := p.Start(); err == nil {
			t.Fatal("a second Start while running must fail")
		}
		if err := waitUntil(ctx, "the child's greeting", func() (bool, error) {
			return countMatches(p.LogPath, "hello") == i+1, nil
		}); err != nil {
			t.Fatal(err)
		}
		if err := p.Kill(ctx); err != nil {
			t.Fatal(err)
		}
		if p.Running() {
			t.Fatal("still running after Kill returned")
		}
		if err := p.ExitErr(); err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("exit status after SIGKILL = %v", err)
		}
	}
	if n := countMatches(p.LogPath, "=== child start"); n != 2 {
		t.Fatalf("log shows %d starts, want 2:\n%s", n, p.LogTail(10))
	}
}

func TestProcessTerminateEscalatesToKill(t *testing.T) {
	p := newProcess("stubborn", t.TempDir(), shPath(t), "-c", "trap '' TERM; echo rea''dy; while :; do sleep 1; done")
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := waitUntil(ctx, "the trap to be set", func() (bool, error) { return countMatches(p.LogPath, "ready") == 1, nil }); err != nil {
		t.Fatal(err)
	}
	tctx, tcancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer tcancel()
	err := p.Terminate(tctx)
	if err == nil || !strings.Contains(err.Error(), "ignored SIGTERM") {
		t.Fatalf("want an error saying SIGTERM was ignored, got %v", err)
	}
	if p.Running() {
		t.Fatal("a process that ignores SIGTERM must be killed")
	}
}

func TestProcessWaitReportsExitStatus(t *testing.T) {
	p := newProcess("fails", t.TempDir(), shPath(t), "-c", "exit 3")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Wait(ctx); err == nil {
		t.Fatal("Wait before Start must fail")
	}
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	var ee *exec.ExitError
	if err := p.Wait(ctx); !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("want exit code 3, got %v", err)
	}
}

func TestWaitUntilStopsOnErrorAndDeadline(t *testing.T) {
	boom := errors.New("boom")
	err := waitUntil(context.Background(), "x", func() (bool, error) { return false, boom })
	if !errors.Is(err, boom) {
		t.Fatalf("want the condition's error, got %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = waitUntil(ctx, "never", func() (bool, error) { return false, nil })
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "never") {
		t.Fatalf("want a deadline error naming the condition, got %v", err)
	}
}

func TestFileTail(t *testing.T) {
	p := newProcess("lines", t.TempDir(), shPath(t), "-c", "for i in 1 2 3 4 5; do echo line$i; done")
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if got := p.LogTail(2); got != "line4\nline5" {
		t.Fatalf("tail = %q", got)
	}
	if got := fileTail("/nonexistent/file", 2); !strings.Contains(got, "cannot read") {
		t.Fatalf("a missing log must say so: %q", got)
	}
}
