package server

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// waitTimeout bounds every wait in these tests. Nothing here sleeps for
// correctness: tests wait on a condition and fail when this passes.
const waitTimeout = 10 * time.Second

// testConfig is a config on a random loopback port with short timeouts.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.HandshakeTimeout = 2 * time.Second
	return cfg
}

// startServer serves cfg on a fresh loopback listener until the test ends.
func startServer(t testing.TB, cfg Config) (*Server, string) {
	t.Helper()
	var logger *slog.Logger
	if tt, ok := t.(*testing.T); ok {
		logger = slog.New(slog.NewTextHandler(tt.Output(), &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	srv, err := New(cfg, logger)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return srv, serveUntilCleanup(t, srv, srv.Serve)
}

// serveUntilCleanup runs serve (srv.Serve or srv.ServeTLS) on a fresh
// loopback listener until the test ends, then shuts srv down and checks
// that serve returned ErrServerClosed. It returns the listener's address.
func serveUntilCleanup(t testing.TB, srv *Server, serve func(net.Listener) error) string {
	t.Helper()
	l := mustListen(t)
	served := make(chan error, 1)
	go func() { served <- serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, ErrServerClosed) {
			t.Errorf("serve returned %v, want ErrServerClosed", err)
		}
	})
	return l.Addr().String()
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

// queueOf returns one queue's statistics.
func queueOf(srv *Server, name string) broker.QueueStats {
	for _, q := range srv.Stats().Queues {
		if q.Name == name {
			return q
		}
	}
	return broker.QueueStats{Name: name}
}

func envelope(id string) string {
	return fmt.Sprintf(`{"message_id": "%s", "enc_session_key": "a2V5", "nonce": "bm9uY2U=", "tag": "dGFn", "ciphertext": "Y3Q="}`, id)
}

// textClient is a line-oriented client for general text-protocol tests.
type textClient struct {
	t  testing.TB
	nc net.Conn
	r  *bufio.Reader
}

func dialText(t testing.TB, addr string) *textClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	return &textClient{t: t, nc: nc, r: bufio.NewReader(nc)}
}

func (c *textClient) send(line string) {
	c.t.Helper()
	if _, err := c.nc.Write([]byte(line + "\n")); err != nil {
		c.t.Fatalf("write %q: %v", line, err)
	}
}

func (c *textClient) line() string {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(waitTimeout))
	l, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read line: %v (got %q)", err, l)
	}
	return strings.TrimSuffix(l, "\n")
}

// call sends one command and returns its reply line.
func (c *textClient) call(line string) string {
	c.t.Helper()
	c.send(line)
	return c.line()
}

// expectClosed waits for the server to close the connection, returning what
// it sent before.
func expectClosed(t testing.TB, nc net.Conn) []byte {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(waitTimeout))
	data, err := io.ReadAll(nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v (got %q)", waitTimeout, data)
	}
	return data
}

// nativeClient speaks the native protocol frame by frame.
type nativeClient struct {
	t       testing.TB
	nc      net.Conn
	r       *wire.Reader
	hello   wire.HelloOK
	lastSeq uint64
}

// seq returns the next publish sequence number.
func (c *nativeClient) seq() uint64 { c.lastSeq++; return c.lastSeq }

func dialNative(t testing.TB, addr string, hello wire.Hello) *nativeClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &nativeClient{t: t, nc: nc, r: wire.NewReader(nc, 0)}
	hello.Version = wire.ProtocolVersion
	c.send(wire.AppendHello(wire.AppendPreamble(nil), &hello))
	f := c.next()
	ok, isOK := f.(*wire.HelloOK)
	if !isOK {
		t.Fatalf("hello answered with %#v", f)
	}
	c.hello = *ok
	return c
}

func (c *nativeClient) send(b []byte) {
	c.t.Helper()
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next returns the next frame that is not a heartbeat.
func (c *nativeClient) next() wire.Frame {
	c.t.Helper()
	for {
		c.nc.SetReadDeadline(time.Now().Add(waitTimeout))
		typ, payload, err := c.r.ReadFrame()
		if err != nil {
			c.t.Fatalf("read frame: %v", err)
		}
		f, err := wire.DecodeFrame(typ, payload)
		if err != nil {
			c.t.Fatalf("decode %s: %v", typ, err)
		}
		if typ == wire.FrameHeartbeat {
			continue
		}
		return cloneFrame(f)
	}
}

// cloneFrame copies the byte fields of the frames that alias the reader's
// buffer (Deliver, DeliverRef, FetchOK, Prefix, StatsOK).
func cloneFrame(f wire.Frame) wire.Frame {
	cp := func(b []byte) []byte { return append([]byte(nil), b...) }
	cpDeliver := func(v *wire.Deliver) wire.Deliver {
		d := *v
		d.ConsumerTag, d.Queue, d.Exchange, d.RoutingKey, d.MessageID, d.Body =
			cp(v.ConsumerTag), cp(v.Queue), cp(v.Exchange), cp(v.RoutingKey), cp(v.MessageID), cp(v.Body)
		return d
	}
	switch v := f.(type) {
	case *wire.Deliver:
		d := cpDeliver(v)
		return &d
	case *wire.DeliverRef:
		return &wire.DeliverRef{PrefixID: v.PrefixID, Deliver: cpDeliver(&v.Deliver)}
	case *wire.FetchOK:
		return &wire.FetchOK{ReqID: v.ReqID, Deliver: cpDeliver(&v.Deliver)}
	case *wire.Prefix:
		return &wire.Prefix{ID: v.ID, Bytes: cp(v.Bytes)}
	case *wire.StatsOK:
		s := *v
		s.JSON = cp(v.JSON)
		return &s
	}
	return f
}

func publishFrame(seq uint64, exchange, key, id string, body []byte) []byte {
	return wire.AppendPublish(nil, &wire.Publish{Seq: seq, Exchange: []byte(exchange), RoutingKey: []byte(key), MessageID: []byte(id), Body: body})
}

func mustListen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}
