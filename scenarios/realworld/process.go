package realworld

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is one child process of a run: its command line, its log file
// (standard output and error together) and its life cycle. A Process can be
// started again after it ended, appending to the same log.
type Process struct {
	Name    string
	Path    string   // executable
	Args    []string // without the executable
	LogPath string
	Env     []string // added to the (cleaned) parent environment

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{} // closed when the current incarnation exited
	err    error         // its exit status
	starts int
}

// newProcess describes a child whose log goes to dir/<name>.log.
func newProcess(name, dir, path string, args ...string) *Process {
	return &Process{Name: name, Path: path, Args: args, LogPath: filepath.Join(dir, name+".log")}
}

// Start starts a new incarnation. The environment is the parent's minus the
// CIPHERMQ_* variables, so a developer's settings cannot leak into a run.
func (p *Process) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		select {
		case <-p.done:
		default:
			return fmt.Errorf("start %s: already running (pid %d)", p.Name, p.cmd.Process.Pid)
		}
	}
	logf, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("start %s: open log: %w", p.Name, err)
	}
	p.starts++
	fmt.Fprintf(logf, "=== %s start %d: %s %s\n", p.Name, p.starts, filepath.Base(p.Path), strings.Join(p.Args, " "))
	cmd := exec.Command(p.Path, p.Args...)
	cmd.Env = append(cleanEnv(), p.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.err = cmd, done, nil
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(done)
	}()
	return nil
}

func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CIPHERMQ_") {
			env = append(env, kv)
		}
	}
	return env
}

// Running reports whether the current incarnation is alive.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Done is closed when the current incarnation exits (nil before Start).
func (p *Process) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// ExitErr is the exit status of the last incarnation once it ended (nil for
// exit code 0).
func (p *Process) ExitErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// Kill sends SIGKILL and waits until the process is gone: a crash, with no
// chance to flush or clean up.
func (p *Process) Kill(ctx context.Context) error { return p.signalAndWait(ctx, syscall.SIGKILL) }

// Terminate sends SIGTERM and waits for the exit, escalating to SIGKILL if
// ctx ends first (and then reporting that).
func (p *Process) Terminate(ctx context.Context) error {
	err := p.signalAndWait(ctx, syscall.SIGTERM)
	if err != nil && p.Running() {
		kctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = p.Kill(kctx)
		return fmt.Errorf("%s ignored SIGTERM (%w); killed it", p.Name, err)
	}
	return err
}

func (p *Process) signalAndWait(ctx context.Context, sig syscall.Signal) error {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return nil
	}
	select {
	case <-done:
		return nil // already gone
	default:
	}
	if err := cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %s to %s: %w", sig, p.Name, err)
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for %s to exit after %s: %w", p.Name, sig, ctx.Err())
	}
}

// Wait waits for the current incarnation to exit and returns its status.
func (p *Process) Wait(ctx context.Context) error {
	done := p.Done()
	if done == nil {
		return fmt.Errorf("%s was never started", p.Name)
	}
	select {
	case <-done:
		return p.ExitErr()
	case <-ctx.Done():
		return fmt.Errorf("waiting for %s to exit: %w", p.Name, ctx.Err())
	}
}

// LogTail returns the last n lines of the process's log, for failure
// messages.
func (p *Process) LogTail(n int) string { return fileTail(p.LogPath, n) }

// fileTail returns the last n lines of a file, or a note saying why not.
func fileTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	data = bytes.TrimRight(data, "\n")
	lines := bytes.Split(data, []byte{'\n'})
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte{'\n'}))
}

// countMatches counts the lines of path that contain substr (0 if the file
// does not exist yet).
func countMatches(path, substr string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return bytes.Count(data, []byte(substr))
}
