//go:build unix

package inbox

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecondOpenIsRefusedWhileLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	s := openT(t, path, Options{})
	_, err := Open(path, Options{})
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "another output file") {
		t.Errorf("lock error must name the file and say what to do: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open after the holder closed: %v", err)
	}
	_ = s2.Close()
}

// holdLockEnv makes the test binary a helper process that opens the store
// named by the variable, says "locked", and holds it until stdin closes or
// it is killed.
const holdLockEnv = "CIPHERMQ_STORE_TEST_HOLD_LOCK"

func TestMain(m *testing.M) {
	if path := os.Getenv(holdLockEnv); path != "" {
		s, err := Open(path, Options{})
		if err != nil {
			os.Stdout.WriteString("error: " + err.Error() + "\n")
			os.Exit(2)
		}
		os.Stdout.WriteString("locked\n")
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
		_ = s.Close()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestLockConflictsAcrossProcessesAndDiesWithTheHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), holdLockEnv+"="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper said %q (%v), want locked", line, err)
	}
	if _, err := Open(path, Options{}); !errors.Is(err, ErrLocked) {
		t.Errorf("Open while another process holds the file: %v, want ErrLocked", err)
	}
	// A SIGKILLed receiver must not leave a stale lock behind.
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatalf("Open after the holder was killed: %v", err)
	}
	_ = s.Close()
}
