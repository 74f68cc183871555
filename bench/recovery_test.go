package bench

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/clients"
)

// TestDurableRecoveryTime fills a durable queue with N unacked 512-byte
// messages (published with confirms, fsync always), shuts the broker down,
// and times server.New on the same data directory: replay of the log and
// restore of the core, everything before the broker could listen again. It
// asserts that all N come back; the time is logged, not asserted (speed is
// not a test's business). N is 2,000 by default so the test stays quick;
// docs/performance.md's figure is from
//
//	CIPHERMQ_RECOVERY_MESSAGES=1000000 go test -run DurableRecoveryTime -v -timeout 30m ./bench/
func TestDurableRecoveryTime(t *testing.T) {
	n := 2000
	if s := os.Getenv("CIPHERMQ_RECOVERY_MESSAGES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			t.Fatalf("CIPHERMQ_RECOVERY_MESSAGES=%q: want a positive count", s)
		}
		n = v
	}
	const size = 512
	dir := t.TempDir()
	cfg := server.DefaultConfig()
	cfg.DataDir = dir

	srv, addr, done := serveForRecovery(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c, err := clients.Dial(ctx, addr, clients.Options{ClientName: "recovery", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeclareQueue(ctx, "recovery", clients.QueueOptions{Durable: true}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeclareExchange(ctx, "recovery-x", clients.Direct); err != nil {
		t.Fatal(err)
	}
	if err := c.Bind(ctx, "recovery-x", "recovery", "r"); err != nil {
		t.Fatal(err)
	}
	pub, err := c.NewPublisher(clients.PublisherOptions{Exchange: "recovery-x", RoutingKey: "r", Window: 1024})
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, size)
	start := time.Now()
	pending := make([]*clients.Confirm, 0, 1024)
	wait := func() {
		for _, f := range pending {
			if err := f.Wait(ctx); err != nil {
				t.Fatalf("confirm of %s: %v", f.ID(), err)
			}
		}
		pending = pending[:0]
	}
	for i := range n {
		f, err := pub.Publish(ctx, "r-"+strconv.Itoa(i), body)
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		if pending = append(pending, f); len(pending) == cap(pending) {
			wait()
		}
	}
	wait()
	published := time.Since(start)
	if err := c.Close(); err != nil {
		t.Logf("closing the client: %v", err)
	}
	stopRecoveryServer(t, srv, done)
	logBytes := segmentBytes(t, dir)

	start = time.Now()
	srv2, err := server.New(cfg, nil)
	recovered := time.Since(start)
	if err != nil {
		t.Fatalf("restart on %s: %v", dir, err)
	}
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		_ = srv2.Shutdown(sctx)
	}()
	ready := -1
	for _, q := range srv2.Stats().Queues {
		if q.Name == "recovery" {
			ready = q.Ready
		}
	}
	if ready != n {
		t.Fatalf("after the restart the queue holds %d ready, want all %d confirmed messages", ready, n)
	}
	t.Logf("%d unacked %d-byte messages: published with confirms in %v (%.0f msgs/s); log %.0f MB; recovery (server.New: replay + restore) %v (%.0f msgs/s)",
		n, size, published.Round(time.Millisecond), float64(n)/published.Seconds(), float64(logBytes)/1e6,
		recovered.Round(time.Millisecond), float64(n)/recovered.Seconds())
}

func serveForRecovery(t *testing.T, cfg server.Config) (*server.Server, string, chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(cfg, nil)
	if err != nil {
		_ = ln.Close()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	return srv, ln.Addr().String(), done
}

func stopRecoveryServer(t *testing.T, srv *server.Server, done chan error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := <-done; err != nil && !errors.Is(err, server.ErrServerClosed) {
		t.Fatalf("serve: %v", err)
	}
}
