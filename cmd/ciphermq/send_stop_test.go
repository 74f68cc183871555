//go:build unix

package main

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/internal/testutil"
)

// silentListener accepts connections and never answers: a broker that hangs.
func silentListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// freezingProxy forwards to addr until freeze is called; from then on it
// forwards nothing more in either direction and keeps the sockets open: a
// broker that stopped answering in the middle of a run.
type freezingProxy struct {
	addr    string
	frozen  chan struct{}
	once    sync.Once
	dropped atomic.Int64 // bytes read after the freeze
}

func (p *freezingProxy) freeze() { p.once.Do(func() { close(p.frozen) }) }

func startFreezingProxy(t *testing.T, target string) *freezingProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &freezingProxy{addr: l.Addr().String(), frozen: make(chan struct{})}
	var mu sync.Mutex
	var open []net.Conn
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			select {
			case <-p.frozen:
				p.dropped.Add(int64(n)) // read and dropped: never answered
				if err != nil {
					return
				}
				continue
			default:
			}
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			b, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			open = append(open, c, b)
			mu.Unlock()
			go pipe(b, c)
			go pipe(c, b)
		}
	}()
	t.Cleanup(func() {
		p.freeze()
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range open {
			c.Close()
		}
	})
	return p
}

func TestSendAgainstNoBrokerEndsWithinItsTimeout(t *testing.T) {
	isolate(t)
	keys := t.TempDir()
	if _, err := keygen(t, "--dir", keys); err != nil {
		t.Fatal(err)
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()
	for _, tc := range []struct {
		name, addr string
		code       int
	}{
		{"nothing listening", closedAddr, 1},
		{"a listener that never answers", silentListener(t), exitTimedOut},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A real process: the exit code is the one a shell sees.
			p := startCiphermq(t, "send", "--broker", tc.addr, "--timeout", "2s", "--count", "10",
				"--to-key", filepath.Join(keys, "receiver.pub"), "--sign-key", filepath.Join(keys, "sender.key"))
			if got := p.wait(t, 30*time.Second); got != tc.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", got, tc.code, p.stdout.String(), p.stderr.String())
			}
			if out := p.stdout.String(); !strings.Contains(out, "sent 0, confirmed 0") || !strings.Contains(out, "10 never sent") {
				t.Errorf("the report must say nothing was sent:\n%s", out)
			}
		})
	}
}

// ciphermqProcess runs the ciphermq command in a child process (the test
// binary re-executed, see TestRecvHelperProcess).
type ciphermqProcess struct {
	cmd            *exec.Cmd
	stdout, stderr testutil.SyncBuffer
	done           chan error
}

func startCiphermq(t *testing.T, args ...string) *ciphermqProcess {
	t.Helper()
	raw, _ := json.Marshal(args)
	p := &ciphermqProcess{cmd: exec.Command(os.Args[0], "-test.run=^TestRecvHelperProcess$"), done: make(chan error, 1)}
	p.cmd.Env = append(os.Environ(), envRecvHelper+"="+string(raw))
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() { _ = p.cmd.Process.Kill() })
	return p
}

func (p *ciphermqProcess) signal(t *testing.T, s os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(s); err != nil {
		t.Fatal(err)
	}
}

// wait returns the exit code, failing the test if the process does not end
// within the generous deadline.
func (p *ciphermqProcess) wait(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case err := <-p.done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("still running after %s\nstdout: %s\nstderr: %s", within, p.stdout.String(), p.stderr.String())
		return -1
	}
}

var (
	summaryRe   = regexp.MustCompile(`sent (\d+), confirmed (\d+) \(duplicates \d+\), refused (\d+), unconfirmed (\d+)`)
	neverSentRe = regexp.MustCompile(`(?m)^  (\d+) never sent`)
)

// sendCounts parses send's summary: sent, confirmed, refused, unconfirmed,
// never sent.
func sendCounts(t *testing.T, out string) (sent, confirmed, refused, unconfirmed, never int) {
	t.Helper()
	m := summaryRe.FindStringSubmatch(out)
	n := neverSentRe.FindStringSubmatch(out)
	if m == nil || n == nil {
		t.Fatalf("no summary with a never-sent count:\n%s", out)
	}
	atoi := func(s string) int { v, _ := strconv.Atoi(s); return v }
	return atoi(m[1]), atoi(m[2]), atoi(m[3]), atoi(m[4]), atoi(n[1])
}

func TestSendSIGINTTwiceEndsAtOnceWithAnHonestReport(t *testing.T) {
	isolate(t)
	_, addr := startBroker(t)
	proxy := startFreezingProxy(t, addr)
	keys := t.TempDir()
	if _, err := keygen(t, "--dir", keys); err != nil {
		t.Fatal(err)
	}
	const total = 1_000_000
	// A grace of 10 minutes: ending within the test's deadline can only be
	// the second SIGINT's doing.
	p := startCiphermq(t, "send", "--broker", proxy.addr, "--count", strconv.Itoa(total), "--grace", "10m", "--progress",
		"--to-key", filepath.Join(keys, "receiver.pub"), "--sign-key", filepath.Join(keys, "sender.key"))
	waitUntil(t, "send to be sending", func() bool { return strings.Contains(p.stderr.String(), "confirmed ") })
	proxy.freeze()
	// Messages published after the freeze are never answered: outstanding.
	waitUntil(t, "a publish after the freeze", func() bool { return proxy.dropped.Load() > 0 })
	p.signal(t, syscall.SIGINT)
	waitUntil(t, "the first SIGINT to be reported", func() bool {
		return strings.Contains(p.stderr.String(), "waiting up to 10m0s for")
	})
	p.signal(t, syscall.SIGINT)
	if code := p.wait(t, 60*time.Second); code != exitInterrupted {
		t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, exitInterrupted, p.stdout.String(), p.stderr.String())
	}
	out := p.stdout.String()
	sent, confirmed, refused, unconfirmed, never := sendCounts(t, out)
	if sent+never != total || confirmed+refused+unconfirmed != sent {
		t.Fatalf("counts do not add up: sent %d + never sent %d != %d or confirmed %d + refused %d + unconfirmed %d != sent\n%s",
			sent, never, total, confirmed, refused, unconfirmed, out)
	}
	if unconfirmed == 0 || never == 0 {
		t.Fatalf("the broker was frozen and the run cut short: want unconfirmed and never-sent messages\n%s", out)
	}
	if !strings.Contains(out, "interrupted twice") || !strings.Contains(p.stderr.String(), "quitting without waiting") {
		t.Fatalf("the report must say the run was interrupted twice\nstdout: %s\nstderr: %s", out, p.stderr.String())
	}
}

func TestSendOneSIGINTWaitsForConfirmsAndReportsExactCounts(t *testing.T) {
	isolate(t)
	srv, addr := startBroker(t)
	keys := t.TempDir()
	if _, err := keygen(t, "--dir", keys); err != nil {
		t.Fatal(err)
	}
	const total = 1_000_000
	p := startCiphermq(t, "send", "--broker", addr, "--count", strconv.Itoa(total), "--progress",
		"--to-key", filepath.Join(keys, "receiver.pub"), "--sign-key", filepath.Join(keys, "sender.key"))
	waitUntil(t, "send to be sending", func() bool { return strings.Contains(p.stderr.String(), "confirmed ") })
	p.signal(t, syscall.SIGINT)
	if code := p.wait(t, 60*time.Second); code != exitInterrupted {
		t.Fatalf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, exitInterrupted, p.stdout.String(), p.stderr.String())
	}
	out := p.stdout.String()
	sent, confirmed, refused, unconfirmed, never := sendCounts(t, out)
	if unconfirmed != 0 || refused != 0 || confirmed != sent || sent+never != total || never == 0 {
		t.Fatalf("a working broker confirms every sent message within the grace; counts sent %d confirmed %d refused %d unconfirmed %d never %d\n%s",
			sent, confirmed, refused, unconfirmed, never, out)
	}
	if got := queueReady(srv, "default_queue"); got != confirmed {
		t.Fatalf("the broker holds %d messages, send reported %d confirmed", got, confirmed)
	}
	errOut := p.stderr.String()
	if !strings.Contains(errOut, "interrupted: stopped sending; waiting up to 5s") {
		t.Fatalf("the grace must be stated on stderr:\n%s", errOut)
	}
	// The final progress line shows the final counts.
	if want := "confirmed " + strconv.Itoa(confirmed) + " "; !strings.Contains(lastLine(errOut), want) {
		t.Errorf("final progress line %q lacks %q", lastLine(errOut), want)
	}
}

// lastLine is the last progress bar drawn on a terminal-style stream.
func lastLine(s string) string {
	segs := strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' })
	for i := len(segs) - 1; i >= 0; i-- {
		if strings.Contains(segs[i], "msg/s") {
			return segs[i]
		}
	}
	return ""
}
