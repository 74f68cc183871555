package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/faults"
)

func TestForwardsBothWays(t *testing.T) {
	tg := startTarget(t, true)
	p := newProxy(t, tg)
	c := dial(t, p)
	msg := bytes.Repeat([]byte("ciphermq "), 10_000)
	go c.Write(msg)
	if got := readFull(t, c, len(msg)); !bytes.Equal(got, msg) {
		t.Fatal("echo through the proxy differs from what was sent")
	}
	eventually(t, "stats", func() bool {
		s := p.Stats()
		return s.Accepted == 1 && s.BytesUp == uint64(len(msg)) && s.BytesDown == uint64(len(msg))
	})
	if p.Target() != tg.ln.Addr().String() {
		t.Errorf("Target() = %s", p.Target())
	}
}

func TestHalfCloseIsForwarded(t *testing.T) {
	tg := startTarget(t, true)
	p := newProxy(t, tg)
	c := dial(t, p)
	c.Write([]byte("bye"))
	c.CloseWrite()
	readFull(t, c, 3)
	// The target saw EOF and closed; the client sees EOF too.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("after the target closed: n=%d err=%v, want EOF", n, err)
	}
	eventually(t, "the link to be forgotten", func() bool { return p.Conns() == 0 })
}

func TestLatencyHoldsBytesBack(t *testing.T) {
	tg := startTarget(t, true)
	const lat = 80 * time.Millisecond
	p := newProxy(t, tg, WithFaults(Faults{Up: DirFaults{Latency: lat}, Down: DirFaults{Latency: lat}}))
	c := dial(t, p)
	start := time.Now()
	c.Write([]byte("ping"))
	readFull(t, c, 4)
	// A lower bound the proxy guarantees by construction (it can only fail
	// if bytes are forwarded early), not a speed measurement.
	if el := time.Since(start); el < 2*lat {
		t.Fatalf("round trip took %v, less than the 2×%v latency", el, lat)
	}
}

func TestJitterKeepsStreamOrder(t *testing.T) {
	tg := startTarget(t, true)
	p := newProxy(t, tg, WithFaults(Faults{Up: DirFaults{Latency: 3 * time.Millisecond, Jitter: 3 * time.Millisecond}}))
	c := dial(t, p)
	var want bytes.Buffer
	go func() {
		for i := range 200 {
			fmt.Fprintf(c, "%05d;", i)
		}
	}()
	for i := range 200 {
		fmt.Fprintf(&want, "%05d;", i)
	}
	if got := readFull(t, c, want.Len()); !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("jitter reordered the stream:\n%s", got)
	}
}

func TestSlicingYieldsManySmallReads(t *testing.T) {
	tg := startTarget(t, false)
	p := newProxy(t, tg, WithFaults(Faults{Up: DirFaults{SliceSize: 7, SliceVariation: 3, SliceDelay: time.Millisecond}}))
	c := dial(t, p)
	msg := bytes.Repeat([]byte("0123456789"), 70)
	c.Write(msg)
	eventually(t, "all bytes at the target", func() bool { n, _, _ := tg.received(); return n == len(msg) })
	_, reads, _ := tg.received()
	// 700 bytes in pieces of 4..10 with a pause between them arrive in far
	// more than a handful of reads even if a slow reader coalesces some.
	if len(reads) < 20 {
		t.Fatalf("target saw %d reads %v, want many small ones", len(reads), reads)
	}
	tg.mu.Lock()
	same := bytes.Equal(tg.got.Bytes(), msg)
	tg.mu.Unlock()
	if !same {
		t.Fatal("sliced stream differs from what was sent")
	}
}

func TestBandwidthLimitPacesWrites(t *testing.T) {
	tg := startTarget(t, false)
	// 50 kB/s is written in pieces of 1 kB, about 50 a second.
	p := newProxy(t, tg, WithFaults(Faults{Up: DirFaults{BandwidthBps: 50_000}}))
	c := dial(t, p)
	msg := make([]byte, 10_000)
	c.Write(msg)
	eventually(t, "all bytes at the target", func() bool { n, _, _ := tg.received(); return n == len(msg) })
	_, reads, _ := tg.received()
	if len(reads) < 5 {
		t.Fatalf("target saw %d reads %v: the transfer was not paced", len(reads), reads)
	}
	for _, n := range reads {
		if n > 10_000 {
			t.Fatalf("read of %d bytes", n)
		}
	}
}

func TestBlackHoleSwallowsBytesButKeepsTheConnection(t *testing.T) {
	tg := startTarget(t, true)
	p := newProxy(t, tg)
	c := dial(t, p)
	c.Write([]byte("warm"))
	readFull(t, c, 4)

	p.BlackHole(Downstream, true)
	c.Write([]byte("lost"))
	eventually(t, "the echo to be swallowed", func() bool { return p.Stats().Discarded == 4 })
	c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	var ne net.Error
	if n, err := c.Read(make([]byte, 8)); n != 0 || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read during black hole: n=%d err=%v, want a timeout", n, err)
	}
	if p.Conns() != 1 {
		t.Fatalf("black hole closed the connection")
	}

	p.BlackHole(Downstream, false)
	c.Write([]byte("kept"))
	if got := readFull(t, c, 4); string(got) != "kept" {
		t.Fatalf("after the black hole got %q, want \"kept\" (swallowed bytes must never arrive)", got)
	}
}

func TestStallHoldsAndThenDeliversEverything(t *testing.T) {
	tg := startTarget(t, false)
	p := newProxy(t, tg)
	p.Stall(Upstream, true)
	c := dial(t, p)
	c.Write([]byte("held"))
	// Bytes cannot pass a stalled direction; give them every chance to.
	eventually(t, "the proxy to accept", func() bool { return p.Conns() == 1 })
	time.Sleep(30 * time.Millisecond)
	if n, _, _ := tg.received(); n != 0 {
		t.Fatalf("%d bytes crossed a stalled direction", n)
	}
	p.Stall(Upstream, false)
	eventually(t, "the held bytes", func() bool { n, _, _ := tg.received(); return n == 4 })
	if !p.Faults().Down.Stall && p.Faults().Up.Stall {
		t.Fatal("Stall changed the wrong direction")
	}
}

func TestResetFaultSendsRST(t *testing.T) {
	tg := startTarget(t, true)
	p := newProxy(t, tg)
	c := dial(t, p)
	c.Write([]byte("hi"))
	readFull(t, c, 2)
	if err := p.Set(Faults{Up: DirFaults{ResetProb: 1}}); err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("boom"))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 8))
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("client read after reset: %v, want ECONNRESET", err)
	}
	eventually(t, "the target to see the reset", func() bool {
		_, _, errs := tg.received()
		return len(errs) == 1 && errors.Is(errs[0], syscall.ECONNRESET)
	})
	if p.Stats().Resets != 1 {
		t.Errorf("resets = %d", p.Stats().Resets)
	}
}

func TestCutAllResetsEveryConnection(t *testing.T) {
	tg := startTarget(t, true)
	p := newProxy(t, tg)
	conns := []*net.TCPConn{dial(t, p), dial(t, p), dial(t, p)}
	for _, c := range conns {
		c.Write([]byte("x"))
		readFull(t, c, 1)
	}
	p.CutAll()
	for i, c := range conns {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("conn %d after CutAll: %v, want ECONNRESET", i, err)
		}
	}
	eventually(t, "links to be forgotten", func() bool { return p.Conns() == 0 })
	// New connections still work.
	c := dial(t, p)
	c.Write([]byte("again"))
	readFull(t, c, 5)
}

func TestInvalidFaultsAreRefused(t *testing.T) {
	tg := startTarget(t, true)
	for _, f := range []Faults{
		{Up: DirFaults{Latency: -1}},
		{Down: DirFaults{BandwidthBps: -5}},
		{Up: DirFaults{SliceSize: -1}},
		{Down: DirFaults{ResetProb: 1.5}},
		{Up: DirFaults{Delay: faults.Uniform(9, 1)}},
	} {
		if _, err := New(tg.ln.Addr().String(), WithFaults(f)); err == nil {
			t.Errorf("New accepted %+v", f)
		}
		p := newProxy(t, tg)
		if err := p.Set(f); err == nil {
			t.Errorf("Set accepted %+v", f)
		}
	}
}

func TestUnreachableTargetClosesTheClient(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	p, err := New(dead)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("read from a proxy with a dead target: n=%d err=%v", n, err)
	}
}

func TestCloseLeaksNoGoroutines(t *testing.T) {
	tg := startTarget(t, true)
	before := runtime.NumGoroutine()
	p, err := New(tg.ln.Addr().String(), WithFaults(Faults{
		Up:   DirFaults{Latency: time.Millisecond, SliceSize: 3, SliceDelay: time.Millisecond},
		Down: DirFaults{BandwidthBps: 1000},
	}))
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for range 5 {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		c.Write(bytes.Repeat([]byte("z"), 5000)) // still in flight when we close
	}
	p.Stall(Upstream, true) // and a goroutine parked on a stall
	eventually(t, "all connections", func() bool { return p.Conns() == 5 })
	if err := p.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	for _, c := range conns {
		c.Close()
	}
	settledGoroutines(t, before)
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Fatal("closed proxy still accepts")
	}
}
