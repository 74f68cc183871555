package crossbroker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// proc is one broker process this package started: the pid it signals
// (for RabbitMQ the Erlang VM, not its launcher script) and the command it
// waits on.
type proc struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{}
	pid    int // the process to signal; cmd's by default
	log    *os.File
}

// startProc starts bin with args and env, its output in logPath.
func startProc(name, logPath string, env []string, bin string, args ...string) (*proc, error) {
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("crossbroker: %s log: %w", name, err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	// Its own process group, so a Ctrl-C of the runner does not reach it
	// before the runner stops it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("crossbroker: start %s (%s): %w", name, bin, err)
	}
	p := &proc{name: name, cmd: cmd, exited: make(chan struct{}), pid: cmd.Process.Pid, log: f}
	go func() { _ = cmd.Wait(); f.Close(); close(p.exited) }()
	return p, nil
}

func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// signal sends sig to the broker's pid.
func (p *proc) signal(sig syscall.Signal) error {
	if err := syscall.Kill(p.pid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("crossbroker: %s to %s (pid %d): %w", sig, p.name, p.pid, err)
	}
	return nil
}

// kill SIGKILLs the broker and waits for the launched command to exit.
func (p *proc) kill(ctx context.Context) error {
	_ = p.signal(syscall.SIGCONT) // a paused broker must be able to die
	if err := p.signal(syscall.SIGKILL); err != nil {
		return err
	}
	if p.pid != p.cmd.Process.Pid {
		// The whole process group: the launcher and the VM's helpers
		// (erl_child_setup, inet_gethost), which could hold its sockets.
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	}
	select {
	case <-p.exited:
	case <-ctx.Done():
		return fmt.Errorf("crossbroker: %s (pid %d) did not exit after SIGKILL: %w", p.name, p.pid, ctx.Err())
	}
	// The signalled process may not be the one waited for (RabbitMQ's VM
	// under its launcher): until it is gone its listening socket still
	// accepts, and a restart would be taken as up before it is.
	for alive(p.pid) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("crossbroker: %s (pid %d) did not exit after SIGKILL: %w", p.name, p.pid, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// waitRefused waits until nothing accepts connections on addr: a killed
// broker's socket is gone before its successor starts.
func waitRefused(ctx context.Context, addr string) error {
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return nil
		}
		c.Close()
		select {
		case <-ctx.Done():
			return fmt.Errorf("crossbroker: %s still accepts connections after the broker was killed: %w", addr, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the command name in parentheses.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// stop asks the broker to stop (SIGTERM), then kills it after grace.
func (p *proc) stop(grace time.Duration) {
	if !p.running() {
		return
	}
	_ = p.signal(syscall.SIGCONT)
	_ = p.signal(syscall.SIGTERM)
	if p.pid != p.cmd.Process.Pid {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-p.exited:
	case <-time.After(grace):
		_ = p.signal(syscall.SIGKILL)
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before the broker binds it; the broker then fails to start and
// says so in its log.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("crossbroker: free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// waitListening waits until addr accepts connections, p exits, or ctx ends.
func waitListening(ctx context.Context, addr string, p *proc, logPath string) error {
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			// A dial to a free port of the ephemeral range can connect to
			// itself (TCP simultaneous open): that is not the broker.
			self := c.LocalAddr().String() == c.RemoteAddr().String()
			c.Close()
			if !self {
				return nil
			}
		}
		if p != nil && !p.running() {
			return fmt.Errorf("crossbroker: %s exited before listening on %s; see %s", p.name, addr, logPath)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("crossbroker: %s not listening on %s: %w; see %s", p.name, addr, ctx.Err(), logPath)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// lookPath finds a broker binary, or says how to install it.
func lookPath(bin, pkg string) (string, error) {
	if filepath.IsAbs(bin) {
		if _, err := os.Stat(bin); err != nil {
			return "", fmt.Errorf("%s not found (apt-get install -y %s, as bench/compare does)", bin, pkg)
		}
		return bin, nil
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		return "", fmt.Errorf("%s not found in PATH (apt-get install -y %s, as bench/compare does)", bin, pkg)
	}
	return p, nil
}

// execOutput runs a short command and returns its trimmed output.
func execOutput(bin string, args ...string) (string, error) {
	out, err := exec.Command(bin, args...).Output()
	return strings.TrimSpace(string(out)), err
}

// brokerProc is the part of a Target common to every broker: one server
// process listening on a loopback address, killed, paused and resumed by
// signals.
type brokerProc struct {
	addr string
	p    *proc
}

func (b *brokerProc) Addr() string { return b.addr }

// Kill sends SIGKILL to the broker's process group and waits until its
// port refuses connections, so a restart cannot be mistaken for the old
// process still answering.
func (b *brokerProc) Kill(ctx context.Context) error {
	if err := b.p.kill(ctx); err != nil {
		return err
	}
	return waitRefused(ctx, b.addr)
}

func (b *brokerProc) Pause() error  { return b.p.signal(syscall.SIGSTOP) }
func (b *brokerProc) Resume() error { return b.p.signal(syscall.SIGCONT) }
