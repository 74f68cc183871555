package clients

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// bodyOf is the body of publisher p's message i: its size varies from a
// few bytes to 200 KiB, so that some writes fill the socket and are only
// partly taken by the kernel, leaving the rest to the writer goroutine
// while other publishers queue more behind it.
func bodyOf(p, i int) []byte {
	size := 16 + (i*7919+p*104729)%(200<<10)
	if i%3 != 0 {
		size = 16 + i%64
	}
	b := bytes.Repeat([]byte{byte('a' + p)}, size)
	copy(b, fmt.Sprintf("%d/%d/", p, i))
	return b
}

// Publishers on one connection write from their own goroutines when the
// socket is idle and through the writer otherwise: frames must stay whole
// (the broker would close the connection on a torn frame, and the
// connection would have reconnected) and each publisher's messages must
// arrive in publish order, with their bodies intact.
func TestConcurrentPublishesKeepFramesWholeAndInOrder(t *testing.T) {
	b := startBroker(t)
	pc := dial(t, b.addr)
	setupQueue(t, pc, "q", QueueOptions{})
	const pubs, each = 4, 150

	var mu sync.Mutex
	next := make([]int, pubs)
	var bad []string
	cc := dial(t, b.addr)
	consume(t, cc, ConsumerOptions{Queue: "q", Prefetch: 64, Handler: func(_ context.Context, d *Delivery) error {
		var p, i int
		if _, err := fmt.Sscanf(d.MessageID, "p%d-%d", &p, &i); err != nil {
			return Permanent(err)
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case i != next[p]:
			bad = append(bad, fmt.Sprintf("%s arrived when message %d was next", d.MessageID, next[p]))
		case !bytes.Equal(d.Body, bodyOf(p, i)):
			bad = append(bad, fmt.Sprintf("%s has a corrupted body", d.MessageID))
		}
		next[p] = i + 1
		return nil
	}})

	var wg sync.WaitGroup
	errs := make(chan error, pubs)
	for p := range pubs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pub, err := pc.NewPublisher(PublisherOptions{Exchange: "ex", RoutingKey: "q", Window: 32})
			if err != nil {
				errs <- err
				return
			}
			ctx := testCtx(t)
			for i := range each {
				if _, err := pub.Publish(ctx, fmt.Sprintf("p%d-%d", p, i), bodyOf(p, i)); err != nil {
					errs <- err
					return
				}
			}
			errs <- pub.Close(ctx)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "every message delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, n := range next {
			if n < each {
				return false
			}
		}
		return true
	})
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("%d deliveries out of order or corrupted, first: %s", len(bad), bad[0])
	}
	if st := pc.ClientStats(); st.Reconnects != 0 {
		t.Fatalf("the publishing connection reconnected %d times: a frame was torn", st.Reconnects)
	}
}

// holdingBroker completes the native handshake and then neither reads nor
// closes until the test ends: the client's socket stays open, so only a
// failed write can end the session.
func holdingBroker(t *testing.T) (addr string, accepted <-chan net.Conn) {
	t.Helper()
	ch := make(chan net.Conn, 4)
	end := make(chan struct{})
	l := serveFake(t, func(nc net.Conn) {
		if answerHello(nc, &wire.HelloOK{ServerName: "holding", MaxFrameSize: 1 << 20, MaxMessageSize: 1 << 19}) != nil {
			select {
			case ch <- nc:
			case <-end: // more reconnects than the test takes: do not block its cleanup
				return
			}
			<-end
		}
	})
	t.Cleanup(func() { close(end) }) // runs before serveFake's cleanup waits for the handlers
	return l.Addr().String(), ch
}

// holdingSession dials a holdingBroker without heartbeats and returns the
// connection, its session (which must have a try-writer) and the broker's
// accepted connections, the first one already taken.
func holdingSession(t *testing.T) (*Conn, *session, <-chan net.Conn) {
	t.Helper()
	addr, accepted := holdingBroker(t)
	c := dial(t, addr, func(o *Options) { o.Heartbeat = -1 })
	recvWithin(t, accepted, "the broker to accept the connection")
	s := triableSession(t, c)
	return c, s, accepted
}

// triableSession is c's live session, which must have a try-writer.
func triableSession(t *testing.T, c *Conn) *session {
	t.Helper()
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s == nil || s.tw == nil {
		t.Fatal("no TCP session with a try-writer: the inline write path is not in use")
	}
	return s
}

// A publish written from the caller's goroutine that fails ends the session
// exactly as a failed write of the writer goroutine does: the session's
// error says "write to broker", the connection reconnects, and the message
// is sent again on the new session.
func TestFailedWriteFromThePublisherEndsTheSessionLikeTheWriters(t *testing.T) {
	c, s, accepted := holdingSession(t)
	// The client can no longer send; reads still work, so the reader does
	// not end the session first.
	if err := s.nc.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	p := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q"})
	if _, err := p.Publish(testCtx(t), "m-1", []byte("hello")); err != nil {
		t.Fatal(err)
	}
	recvWithin(t, s.done, "the session to end")
	if s.err == nil || !strings.Contains(s.err.Error(), "write to broker") || errors.Is(s.err, ErrClosed) {
		t.Fatalf("session ended with %v; want a write error", s.err)
	}
	recvWithin(t, accepted, "the reconnect")
	eventually(t, "the message sent again on the new session", func() bool {
		return p.Stats().Resent >= 1
	})
}

// A caller's write the kernel takes only in part leaves its rest to the
// writer goroutine, and the buffer that collected the frames queued
// meanwhile becomes the spare. A spare larger than maxKeptBuffer would pin
// one burst's memory for the connection's life, which the writer goroutine
// never allows.
//
// The window between the caller's claim and its write is held open
// deterministically: another write holding the socket's write lock (a
// blocking write to a peer that does not read) makes the try-write wait
// for that lock, and the burst is queued meanwhile.
func TestPartialWriteFromTheCallerKeepsNoOversizedSpare(t *testing.T) {
	c, s, _ := holdingSession(t)
	blocking := make(chan error, 1)
	go func() {
		_, err := s.nc.Write(make([]byte, 64<<20)) // fills the socket and waits, holding its write lock
		blocking <- err
	}()
	eventually(t, "the blocking write waiting on a full socket", func() bool {
		return goroutineWaiting("TestPartialWriteFromTheCallerKeepsNoOversizedSpare", "waitWrite")
	})

	c.mu.Lock()
	if !c.claimLocked(s) {
		c.mu.Unlock()
		t.Fatal("the idle socket could not be claimed")
	}
	c.eng.Queue(wire.AppendHeartbeat)
	claimed := make(chan struct{})
	go func() {
		c.mu.Lock()
		c.writeClaimedUnlock(s, true)
		close(claimed)
	}()
	c.mu.Unlock()
	eventually(t, "the caller's write started", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.eng.Output()) == 0 // taken by writeClaimedUnlock, which now waits for the socket's lock
	})
	c.mu.Lock()
	burst := maxKeptBuffer + 1<<20
	c.eng.Queue(func(dst []byte) []byte { return append(dst, make([]byte, burst)...) })
	c.mu.Unlock()

	// End the blocking write: its deadline passes, it releases the lock,
	// and the try-write, past the deadline too, takes nothing.
	_ = s.nc.SetWriteDeadline(time.Unix(1, 0))
	if err := recvWithin(t, blocking, "the blocking write to end"); err == nil {
		t.Fatal("the blocking write to a peer that does not read succeeded")
	}
	recvWithin(t, claimed, "the caller's write to end")
	c.mu.Lock()
	// The writer goroutine may already have taken the rest (it then waits
	// on the full socket); the spare is then its queue's buffer.
	kept := cap(s.spare)
	if s.writing {
		kept = max(kept, cap(c.eng.Output()))
	}
	c.mu.Unlock()
	s.fail(errors.New("test over")) // the writer goroutine would wait on the full socket
	if kept > maxKeptBuffer {
		t.Fatalf("the spare buffer keeps %d bytes; maxKeptBuffer is %d", kept, maxKeptBuffer)
	}
}

// Close while a caller's write is in progress: the writer goroutine, woken
// for the Close frame, finds the socket claimed and leaves it; the caller,
// done, must wake it again, so that the Close frame follows the caller's
// frames and ends the session. A lost wake-up would leave Close to its
// one-second fallback, which closes the socket without sending the Close
// frame.
//
// The caller's write is held in progress by a blocking write of valid
// frames that owns the socket's write lock while the broker does
// not read; the broker reads once Close is queued.
func TestCloseDuringACallersWriteSendsTheCloseFrameLast(t *testing.T) {
	gate := make(chan struct{})
	var mu sync.Mutex
	var got []wire.FrameType
	addr := startScriptedBroker(t, func(typ wire.FrameType, _ []byte) []byte {
		<-gate
		mu.Lock()
		got = append(got, typ)
		mu.Unlock()
		return nil
	})
	openGate := sync.OnceFunc(func() { close(gate) })
	t.Cleanup(openGate) // a failed test must not leave the broker's handler waiting
	c := dial(t, addr, func(o *Options) { o.Heartbeat = -1 })
	s := triableSession(t, c)
	// Large frames, so that the broker reads them quickly once it reads.
	var filler []byte
	fillers := 0
	for ; len(filler) < 16<<20; fillers++ {
		filler = wire.AppendPublish(filler, &wire.Publish{Seq: 1, MessageID: []byte("filler"), Body: make([]byte, 512<<10)})
	}
	blocking := make(chan error, 1)
	go func() {
		_, err := s.nc.Write(filler)
		blocking <- err
	}()
	eventually(t, "the blocking write waiting on a full socket", func() bool {
		return goroutineWaiting("TestCloseDuringACallersWriteSendsTheCloseFrameLast", "waitWrite")
	})
	eventually(t, "the socket claimed", func() bool {
		c.mu.Lock()
		if !c.claimLocked(s) {
			c.mu.Unlock()
			return false
		}
		c.eng.Queue(wire.AppendHeartbeat)
		go c.writeClaimedUnlock(s, true) // its try-write waits for the blocking write
		return true
	})
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	eventually(t, "Close queued during the caller's write", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return s.final
	})
	openGate()
	if err := recvWithin(t, blocking, "the blocking write to end"); err != nil {
		t.Fatal(err)
	}
	if err := recvWithin(t, closed, "Close to return"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the broker to read every frame", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= fillers+2
	})
	mu.Lock()
	defer mu.Unlock()
	want := append(slices.Repeat([]wire.FrameType{wire.FramePublish}, fillers), wire.FrameHeartbeat, wire.FrameClose)
	if !slices.Equal(got, want) {
		t.Fatalf("the broker received %d frames %v...; want %d fillers, the caller's Heartbeat, then Close", len(got), got[max(0, len(got)-3):], fillers)
	}
}

// recvWithin receives from ch, failing the test if nothing comes within
// waitTimeout.
func recvWithin[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	timeout := time.NewTimer(waitTimeout)
	defer timeout.Stop()
	select {
	case v := <-ch:
		return v
	case <-timeout.C:
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// goroutineWaiting reports whether a goroutine started by test is parked in
// a function whose name contains where (waitWrite: a write waiting for the
// socket to become writable, holding the socket's write lock).
func goroutineWaiting(test, where string) bool {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	for g := range strings.SplitSeq(string(buf), "\n\n") {
		if strings.Contains(g, test) && strings.Contains(g, where) {
			return true
		}
	}
	return false
}
