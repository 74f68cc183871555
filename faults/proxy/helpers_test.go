package proxy

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// target is a loopback server the proxy forwards to. It echoes what it
// reads and records the size of every read and the error that ended each
// connection.
type target struct {
	ln    net.Listener
	mu    sync.Mutex
	reads []int
	got   bytes.Buffer
	errs  []error
	wg    sync.WaitGroup
	echo  bool
}

func startTarget(t *testing.T, echo bool) *target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{ln: ln, echo: echo}
	tg.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tg.wg.Go(func() { tg.serve(c) })
		}
	})
	t.Cleanup(func() { ln.Close(); tg.wg.Wait() })
	return tg
}

func (tg *target) serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			tg.mu.Lock()
			tg.reads = append(tg.reads, n)
			tg.got.Write(buf[:n])
			tg.mu.Unlock()
			if tg.echo {
				if _, werr := c.Write(buf[:n]); werr != nil {
					err = werr
				}
			}
		}
		if err != nil {
			tg.mu.Lock()
			tg.errs = append(tg.errs, err)
			tg.mu.Unlock()
			return
		}
	}
}

func (tg *target) received() (int, []int, []error) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.got.Len(), append([]int(nil), tg.reads...), append([]error(nil), tg.errs...)
}

func newProxy(t *testing.T, tg *target, opts ...Option) *Proxy {
	t.Helper()
	p, err := New(tg.ln.Addr().String(), append([]Option{WithSeed(1)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, p *Proxy) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// readFull reads n bytes or fails the test after a generous deadline.
func readFull(t *testing.T, c net.Conn, n int) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	defer c.SetReadDeadline(time.Time{})
	buf := make([]byte, n)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("read %d bytes through the proxy: %v", n, err)
	}
	return buf
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// settledGoroutines waits until the goroutine count drops to at most n.
func settledGoroutines(t *testing.T, n int) {
	t.Helper()
	eventually(t, "goroutines to exit", func() bool { return runtime.NumGoroutine() <= n })
}
