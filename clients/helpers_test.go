package clients

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// waitTimeout bounds every wait in these tests. Nothing sleeps for
// correctness: tests wait on conditions and fail when this passes.
const waitTimeout = 15 * time.Second

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func testLogger(t testing.TB) *slog.Logger {
	if tt, ok := t.(*testing.T); ok && testing.Verbose() {
		return slog.New(slog.NewTextHandler(tt.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// testBroker is an in-process broker on a fixed loopback address that a
// test can restart (losing its in-memory state, like a crashed broker).
type testBroker struct {
	t    testing.TB
	cfg  server.Config
	addr string
	mu   sync.Mutex
	srv  *server.Server
	done chan error
}

func testServerConfig() server.Config {
	cfg := server.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.HandshakeTimeout = 2 * time.Second
	return cfg
}

func startBroker(t testing.TB, mutate ...func(*server.Config)) *testBroker {
	t.Helper()
	cfg := testServerConfig()
	for _, m := range mutate {
		m(&cfg)
	}
	b := &testBroker{t: t, cfg: cfg}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	b.addr = l.Addr().String()
	b.serve(l)
	t.Cleanup(b.stop)
	return b
}

func (b *testBroker) serve(l net.Listener) {
	b.t.Helper()
	srv, err := server.New(b.cfg, testLogger(b.t))
	if err != nil {
		b.t.Fatalf("server.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	b.mu.Lock()
	b.srv, b.done = srv, done
	b.mu.Unlock()
}

// stop shuts the broker down (idempotent).
func (b *testBroker) stop() {
	b.mu.Lock()
	srv, done := b.srv, b.done
	b.srv = nil
	b.mu.Unlock()
	if srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		b.t.Errorf("Shutdown: %v", err)
	}
	if err := <-done; !errors.Is(err, server.ErrServerClosed) {
		b.t.Errorf("Serve returned %v, want ErrServerClosed", err)
	}
}

// restart stops the broker and starts an empty one on the same address.
func (b *testBroker) restart() {
	b.t.Helper()
	b.stop()
	var l net.Listener
	var err error
	deadline := time.Now().Add(waitTimeout)
	for {
		l, err = net.Listen("tcp", b.addr)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("listen again on %s: %v", b.addr, err)
		}
		time.Sleep(5 * time.Millisecond) // the port is released asynchronously; polling
	}
	b.serve(l)
}

func (b *testBroker) stats() broker.Stats {
	b.mu.Lock()
	srv := b.srv
	b.mu.Unlock()
	if srv == nil {
		return broker.Stats{}
	}
	return srv.Stats()
}

func (b *testBroker) queue(name string) broker.QueueStats {
	for _, q := range b.stats().Queues {
		if q.Name == name {
			return q
		}
	}
	return broker.QueueStats{}
}

// dial connects a client with test-friendly reconnect timings.
func dial(t testing.TB, addr string, mutate ...func(*Options)) *Conn {
	t.Helper()
	o := Options{
		ClientName:   t.Name(),
		ReconnectMin: 5 * time.Millisecond,
		ReconnectMax: 100 * time.Millisecond,
		Logger:       testLogger(t),
	}
	for _, m := range mutate {
		m(&o)
	}
	c, err := Dial(testCtx(t), addr, o)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// eventually polls cond until it holds or waitTimeout passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond) // polling interval, not a correctness sleep
	}
}

// cutProxy forwards TCP connections to a target and can cut them all at
// once, like a network failure; it keeps accepting new ones.
type cutProxy struct {
	l      net.Listener
	target string
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	cuts   int
	wg     sync.WaitGroup
	// tapClient parses the client-to-broker bytes and counts heartbeat
	// frames.
	tapClient bool
	hbCount   atomic.Int64
	// swallow drops client-to-broker bytes while set: a request goes out
	// and never arrives, like a frame lost just before the link fails.
	swallow atomic.Bool
	// mute drops broker-to-client bytes while set: an answer (a confirm,
	// say) is sent and never arrives.
	mute atomic.Bool
}

func startProxy(t testing.TB, target string) *cutProxy {
	t.Helper()
	return startProxyTap(t, target, false)
}

// startProxyTap is startProxy; with tap it counts the heartbeat frames the
// clients send.
func startProxyTap(t testing.TB, target string, tap bool) *cutProxy {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy listen: %v", err)
	}
	p := &cutProxy{l: l, target: target, conns: map[net.Conn]struct{}{}, tapClient: tap}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(func() {
		_ = l.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) addr() string { return p.l.Addr().String() }

func (p *cutProxy) accept() {
	defer p.wg.Done()
	for {
		in, err := p.l.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = in.Close()
			continue
		}
		p.mu.Lock()
		p.conns[in], p.conns[out] = struct{}{}, struct{}{}
		p.mu.Unlock()
		p.wg.Add(2)
		if p.tapClient {
			go p.tappedPipe(out, in)
		} else {
			go p.dropPipe(out, in, &p.swallow)
		}
		go p.dropPipe(in, out, &p.mute)
	}
}

// dropPipe forwards src to dst, dropping what it reads while drop is set.
func (p *cutProxy) dropPipe(dst, src net.Conn, drop *atomic.Bool) {
	defer p.wg.Done()
	buf := make([]byte, 64<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !drop.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_ = dst.Close()
	_ = src.Close()
}

// tappedPipe forwards client bytes while parsing them as native frames.
func (p *cutProxy) tappedPipe(dst, src net.Conn) {
	defer p.wg.Done()
	pr, pw := io.Pipe()
	parsed := make(chan struct{})
	go func() {
		defer close(parsed)
		if wire.ReadPreamble(pr) != nil {
			_, _ = io.Copy(io.Discard, pr)
			return
		}
		r := wire.NewReader(pr, 0)
		for {
			typ, _, err := r.ReadFrame()
			if err != nil {
				_, _ = io.Copy(io.Discard, pr)
				return
			}
			if typ == wire.FrameHeartbeat {
				p.hbCount.Add(1)
			}
		}
	}()
	_, _ = io.Copy(io.MultiWriter(dst, pw), src)
	_ = pw.Close()
	<-parsed
	_ = dst.Close()
	_ = src.Close()
}

func (p *cutProxy) heartbeats() int64 { return p.hbCount.Load() }

// cut closes every connection through the proxy.
func (p *cutProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
	p.cuts++
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

type serverConfig = server.Config

// garbageServer accepts connections and answers each with bytes that are
// not a native frame.
func garbageServer(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			_, _ = nc.Write([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
			_ = nc.Close()
		}
	}()
	return l.Addr().String()
}

// silentBroker completes the native handshake announcing a heartbeat, then
// never writes again: a hung broker.
type silentBroker struct {
	l     net.Listener
	count atomic.Int64
}

func startSilentBroker(t testing.TB, heartbeatMs uint64) *silentBroker {
	t.Helper()
	return startFakeBroker(t, wire.HelloOK{ServerName: "silent", HeartbeatMs: heartbeatMs, MaxMessageSize: 1 << 20})
}

// startFakeBroker answers every handshake with hello and then reads and
// discards whatever the client sends, never answering.
func startFakeBroker(t testing.TB, hello wire.HelloOK) *silentBroker {
	t.Helper()
	sb := &silentBroker{}
	sb.l = serveFake(t, func(nc net.Conn) {
		sb.count.Add(1)
		if answerHello(nc, &hello) == nil {
			return
		}
		_, _ = io.Copy(io.Discard, nc)
	})
	return sb
}

// serveFake listens on loopback and runs handle on its own goroutine for
// every connection, closing the connection when handle returns. Cleanup
// closes the listener and waits for the handlers.
func serveFake(t testing.TB, handle func(nc net.Conn)) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { _ = l.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				handle(nc)
			}()
		}
	}()
	return l
}

// answerHello reads a client's preamble and Hello from nc and answers with
// hello. It returns the reader of the frames that follow, nil if the
// handshake failed.
func answerHello(nc net.Conn, hello *wire.HelloOK) *wire.Reader {
	if wire.ReadPreamble(nc) != nil {
		return nil
	}
	r := wire.NewReader(nc, 0)
	if _, _, err := r.ReadFrame(); err != nil {
		return nil
	}
	if _, err := nc.Write(wire.AppendHelloOK(nil, hello)); err != nil {
		return nil
	}
	return r
}

func (sb *silentBroker) addr() string    { return sb.l.Addr().String() }
func (sb *silentBroker) accepted() int64 { return sb.count.Load() }

// scriptedBroker completes the handshake and then hands every frame a
// client sends to answer, writing back whatever it returns: a broker whose
// behaviour a test writes frame by frame.
func startScriptedBroker(t testing.TB, answer func(typ wire.FrameType, payload []byte) []byte) string {
	t.Helper()
	return startScriptedBrokerHello(t, wire.HelloOK{ServerName: "scripted", MaxFrameSize: 1 << 20, MaxMessageSize: 1 << 19}, answer)
}

// startScriptedBrokerHello is startScriptedBroker answering Hello with hello.
func startScriptedBrokerHello(t testing.TB, hello wire.HelloOK, answer func(typ wire.FrameType, payload []byte) []byte) string {
	t.Helper()
	l := serveFake(t, func(nc net.Conn) {
		r := answerHello(nc, &hello)
		if r == nil {
			return
		}
		for {
			typ, payload, err := r.ReadFrame()
			if err != nil {
				return
			}
			if out := answer(typ, payload); len(out) > 0 {
				if _, err := nc.Write(out); err != nil {
					return
				}
			}
		}
	})
	return l.Addr().String()
}
