package wal

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestDataDirectoryIsLocked(t *testing.T) {
	fsys, err := NewOSFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, _ := mustOpen(t, fsys, testOpts())
	if _, _, err := Open(fsys, testOpts()); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, _ = mustOpen(t, fsys, testOpts())
	s.Close()

	m := NewMemFS()
	ms, _ := mustOpen(t, m, testOpts())
	if _, _, err := Open(m, testOpts()); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open of a MemFS: %v", err)
	}
	ms.Close()
}

// TestLockHeldAgainstAnotherProcess runs this test binary again as a
// second "broker" on the same directory.
func TestLockHeldAgainstAnotherProcess(t *testing.T) {
	if dir := os.Getenv("CIPHERMQ_STORE_LOCK_CHILD"); dir != "" {
		fsys, err := NewOSFS(dir)
		if err == nil {
			var s *Store
			if s, _, err = Open(fsys, testOpts()); err == nil {
				s.Close()
			}
		}
		if errors.Is(err, ErrLocked) {
			os.Stdout.WriteString("child: locked: " + err.Error() + "\n")
			os.Exit(3)
		}
		os.Stdout.WriteString("child: opened\n")
		os.Exit(0)
	}
	dir := t.TempDir()
	fsys, err := NewOSFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := mustOpen(t, fsys, testOpts())
	child := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestLockHeldAgainstAnotherProcess$")
		cmd.Env = append(os.Environ(), "CIPHERMQ_STORE_LOCK_CHILD="+dir)
		return cmd
	}
	out, err := child().Output()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(string(out), "another broker process") {
		t.Fatalf("child while locked: err %v output %q", err, out)
	}
	s.Close()
	if out, err := child().Output(); err != nil || !strings.Contains(string(out), "child: opened") {
		t.Fatalf("child after unlock: err %v output %q", err, out)
	}
}
