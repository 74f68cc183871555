package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns a pseudo-terminal's controller and its terminal end.
func openPTY(t *testing.T) (controller, tty *os.File) {
	t.Helper()
	controller, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal can be opened here (%v), so the no-echo prompt cannot be driven; the --password-stdin path is tested regardless", err)
	}
	t.Cleanup(func() { controller.Close() })
	if err := unix.IoctlSetPointerInt(int(controller.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(controller.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile(filepath.Join("/dev/pts", strconv.Itoa(n)), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tty.Close() })
	return controller, tty
}

// runOnTTY runs "ciphermq user --file FILE ARGS..." with a terminal as
// stdin, typed lines already waiting in it.
func runOnTTY(t *testing.T, file, typed string, args ...string) (string, error) {
	t.Helper()
	controller, tty := openPTY(t)
	if _, err := controller.WriteString(typed); err != nil {
		t.Fatal(err)
	}
	cmd := newUserCmd()
	var out, prompts bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&prompts)
	cmd.SetIn(tty)
	cmd.SetArgs(append([]string{"--file", file}, args...))
	err := cmd.Execute()
	return prompts.String() + out.String(), err
}

func TestUserAddPromptsTwiceOnATerminal(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users.json")
	out, err := runOnTTY(t, file, "tty-secret\ntty-secret\n", "add", "alice")
	if err != nil {
		t.Fatalf("add on a terminal: %v\n%s", err, out)
	}
	if !strings.Contains(out, "password for alice: ") || !strings.Contains(out, "again: ") {
		t.Errorf("prompts missing:\n%s", out)
	}
	if u := userNamed(t, file, "alice"); !verifies(t, u, "tty-secret") {
		t.Error("the typed password does not verify")
	}

	out, err = runOnTTY(t, file, "one\ntwo\n", "passwd", "alice")
	if err == nil || !strings.Contains(err.Error(), "the two passwords differ") {
		t.Fatalf("passwd with two different entries: %v\n%s", err, out)
	}
	if u := userNamed(t, file, "alice"); !verifies(t, u, "tty-secret") {
		t.Error("a refused passwd changed the password")
	}
}
