package durable

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// ProcessBroker runs `ciphermq server` as a subprocess on a fixed loopback
// port and data directory, so a restart finds the log the killed one left.
type ProcessBroker struct {
	Bin     string // the ciphermq binary
	DataDir string
	LogPath string // the broker's stderr, appended across restarts
	Fsync   string // "always" (default) or "interval"

	addr string
	cmd  *exec.Cmd
	exit chan error
}

// Addr implements Broker.
func (b *ProcessBroker) Addr() string { return b.addr }

// Start implements Broker: it launches the broker and waits until it
// accepts connections (or exits, or 20s pass).
func (b *ProcessBroker) Start(ctx context.Context) error {
	if b.addr == "" {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		b.addr = l.Addr().String()
		l.Close()
	}
	logf, err := os.OpenFile(b.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	fsync := b.Fsync
	if fsync == "" {
		fsync = "always"
	}
	cmd := exec.Command(b.Bin, "server", "--listen", b.addr, "--data-dir", b.DataDir, "--fsync", fsync, "--heartbeat", "1s", "--log-level", "warn", "--http-listen", "off")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	b.cmd, b.exit = cmd, make(chan error, 1)
	go func() { b.exit <- cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(20 * time.Second)
	for {
		nc, err := net.DialTimeout("tcp", b.addr, time.Second)
		if err == nil {
			nc.Close()
			return nil
		}
		select {
		case err := <-b.exit:
			b.exit <- err
			log, _ := os.ReadFile(b.LogPath)
			return fmt.Errorf("broker exited at start (%v); its log:\n%s", err, log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("broker did not accept connections within 20s")
		}
	}
}

// Kill implements Broker with SIGKILL and waits for the process to be gone.
func (b *ProcessBroker) Kill(ctx context.Context) error {
	if b.cmd == nil {
		return errors.New("broker not started")
	}
	if err := b.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	select {
	case <-b.exit:
		b.cmd = nil
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stop ends the broker (SIGKILL too: nothing in the loop depends on a
// graceful shutdown) if it runs.
func (b *ProcessBroker) Stop(ctx context.Context) error {
	if b.cmd == nil {
		return nil
	}
	return b.Kill(ctx)
}

// BuildBinary builds cmd/ciphermq into dir (CGO off: a static binary that
// a FROM scratch container image can run too).
func BuildBinary(ctx context.Context, moduleRoot, dir string) (string, error) {
	bin := filepath.Join(dir, "ciphermq")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/ciphermq")
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}
