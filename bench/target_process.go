package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/ciphermq/ciphermq/clients"
)

// openCipherProcess connects to a CipherMQ broker in its own process: the one
// at o.Addr (its pid from o.BrokerPID), or a "ciphermq server" it starts from
// o.ServerBinary (default: this executable) on a free loopback port. With
// durable the run's queue is declared durable, and a broker it starts gets
// a temporary --data-dir (removed by Close) with --fsync always; a broker at
// o.Addr must have been started with --data-dir.
//
// With useTLS it starts the broker with only a TLS listener (mutual TLS,
// certificates made in a temporary directory) and connects every client
// over TLS; a broker at o.Addr is reached over TLS with o.TLS.
func openCipherProcess(ctx context.Context, o TargetOptions, durable, useTLS bool) (Target, error) {
	name := "ciphermq"
	if durable {
		name = "ciphermq-durable"
	}
	if useTLS {
		name += "-tls"
	}
	if o.Addr != "" {
		if useTLS && o.TLS == nil {
			return nil, fmt.Errorf("bench: %s with --broker needs the TLS settings of that broker (--tls-ca, --tls-cert, --tls-key)", name)
		}
		t := &cipherTarget{name: name, addr: o.Addr, pid: o.BrokerPID, durable: durable, tls: o.TLS,
			auth: clients.Options{User: o.User, Password: o.Password, Mechanism: o.Mechanism, Vhost: o.Vhost}}
		if err := t.connectAdmin(ctx); err != nil {
			return nil, err
		}
		return t, nil
	}
	bin := o.ServerBinary
	if bin == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("bench: finding this executable to start the broker: %w (give the ciphermq binary explicitly)", err)
		}
		bin = exe
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"server", "--listen", addr, "--log-level", "warn"}
	var clientTLS *tls.Config
	certDir := ""
	if useTLS {
		m, err := makeBenchTLS()
		if err != nil {
			return nil, err
		}
		certDir, clientTLS = m.dir, m.client
		args = []string{"server", "--listen", "off", "--tls-listen", addr, "--log-level", "warn",
			"--tls-cert", m.server.Cert, "--tls-key", m.server.Key, "--tls-ca", m.server.CA, "--tls-client-auth", "require"}
	}
	dataDir := ""
	if durable {
		if dataDir, err = tempDataDir(); err != nil {
			return nil, err
		}
		args = append(args, "--data-dir", dataDir, "--fsync", durableFsync)
	}
	if !durable && supportsInMemory(bin) {
		// A broker is durable by default: the in-memory target says so
		// (a binary that predates --in-memory is in memory anyway).
		args = append(args, "--in-memory")
	}
	removeDir := func() error {
		var err error
		if certDir != "" {
			err = os.RemoveAll(certDir)
		}
		if dataDir == "" {
			return err
		}
		return errors.Join(err, os.RemoveAll(dataDir))
	}
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("bench: starting %s server: %w", bin, err), removeDir())
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() error { return errors.Join(stopProcess(cmd.Process, exited), removeDir()) }
	if err := waitListening(ctx, addr, exited, 15*time.Second); err != nil {
		return nil, errors.Join(fmt.Errorf("bench: %s server: %w", bin, err), stop())
	}
	t := &cipherTarget{name: name, addr: addr, pid: cmd.Process.Pid, stop: stop, durable: durable, dataDir: dataDir, tls: clientTLS, certDir: certDir}
	if err := t.connectAdmin(ctx); err != nil {
		return nil, errors.Join(err, stop())
	}
	return t, nil
}

// freeLoopbackAddr asks the kernel for a free port. Another process could
// take it before the broker binds it; the broker then fails to start and
// says so.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("bench: finding a free port: %w", err)
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// waitListening waits until addr accepts a TCP connection, the process
// exits, or the deadline passes.
func waitListening(ctx context.Context, addr string, exited <-chan error, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not accepting connections on %s after %v: %w", addr, limit, err)
		}
		select {
		case err := <-exited:
			return fmt.Errorf("exited before accepting connections: %v", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stopProcess sends SIGTERM and waits; after 10 s it kills.
func stopProcess(p *os.Process, exited <-chan error) error {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return nil // already gone
	}
	select {
	case <-exited:
		return nil
	case <-time.After(10 * time.Second):
		_ = p.Kill()
		<-exited
		return fmt.Errorf("bench: broker pid %d ignored SIGTERM for 10s and was killed", p.Pid)
	}
}

// supportsInMemory reports whether the ciphermq binary bin knows
// `server --in-memory` (brokers durable by default); older binaries are
// always in memory without a --data-dir.
func supportsInMemory(bin string) bool {
	out, err := exec.Command(bin, "server", "--help").CombinedOutput()
	return err == nil && strings.Contains(string(out), "--in-memory")
}
