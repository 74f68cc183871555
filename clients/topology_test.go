package clients

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDeclareBindAndStats(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	ctx := testCtx(t)
	if err := c.DeclareExchange(ctx, "orders", Topic); err != nil {
		t.Fatalf("DeclareExchange: %v", err)
	}
	if err := c.DeclareExchange(ctx, "orders", Topic); err != nil {
		t.Fatalf("DeclareExchange again (idempotent): %v", err)
	}
	if err := c.DeclareQueue(ctx, "eu", QueueOptions{MaxLength: 10, AckTimeout: time.Minute}); err != nil {
		t.Fatalf("DeclareQueue: %v", err)
	}
	if err := c.Bind(ctx, "orders", "eu", "eu.#"); err != nil {
		t.Fatalf("Bind: %v", err)
	}
	raw, err := c.Stats(ctx)
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	var st struct {
		Queues []struct {
			Name string `json:"name"`
		} `json:"queues"`
		Exchanges []struct {
			Name     string `json:"name"`
			Type     string `json:"type"`
			Bindings int    `json:"bindings"`
		} `json:"exchanges"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatalf("stats JSON %s: %v", raw, err)
	}
	found := false
	for _, e := range st.Exchanges {
		if e.Name == "orders" {
			found = e.Type == "topic" && e.Bindings == 1
		}
	}
	if !found {
		t.Fatalf("stats %s do not show exchange orders (topic, 1 binding)", raw)
	}
	if err := c.Unbind(ctx, "orders", "eu", "eu.#"); err != nil {
		t.Fatalf("Unbind: %v", err)
	}
	n, err := c.DeleteQueue(ctx, "eu")
	if err != nil || n != 0 {
		t.Fatalf("DeleteQueue: %d, %v", n, err)
	}
	if err := c.DeleteExchange(ctx, "orders"); err != nil {
		t.Fatalf("DeleteExchange: %v", err)
	}
	if len(c.topo.queues)+len(c.topo.exchanges)+len(c.topo.bindings) != 0 {
		t.Fatalf("deleted topology still recorded for replay: %+v", c.topo)
	}
}

func TestTopologyRefusalsAreTypedBrokerErrors(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	ctx := testCtx(t)
	if err := c.DeclareQueue(ctx, "q", QueueOptions{MaxLength: 5}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		call  func() error
		check func(error) bool
		code  uint16
	}{
		{"bind to a missing exchange", func() error { return c.Bind(ctx, "nope", "q", "k") }, IsNotFound, CodeExchangeNotFound},
		{"bind a missing queue", func() error { return c.Bind(ctx, "default_exchange", "nope", "k") }, IsNotFound, CodeQueueNotFound},
		{"redeclare with other options", func() error { return c.DeclareQueue(ctx, "q", QueueOptions{MaxLength: 6}) }, IsMismatch, CodeMismatch},
		{"redeclare exchange with another type", func() error { return c.DeclareExchange(ctx, "default_exchange", Fanout) }, IsMismatch, CodeMismatch},
		{"delete a missing queue", func() error { _, err := c.DeleteQueue(ctx, "nope"); return err }, IsNotFound, CodeQueueNotFound},
		{"delete the default exchange", func() error { return c.DeleteExchange(ctx, "default_exchange") }, func(err error) bool { return !IsNotFound(err) }, CodeReserved},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var be *BrokerError
			if !errors.As(err, &be) {
				t.Fatalf("error %v (%T) is not a *BrokerError", err, err)
			}
			if be.Code != tc.code || !tc.check(err) {
				t.Fatalf("code %d (%v), want %d", be.Code, err, tc.code)
			}
			if be.Reason == "" || be.Op == "" || !strings.Contains(err.Error(), be.Reason) {
				t.Fatalf("error %q lacks the operation or the broker's reason", err)
			}
		})
	}
	// The connection is unharmed by refusals.
	if err := c.DeclareQueue(ctx, "q2", QueueOptions{}); err != nil {
		t.Fatalf("request after refusals: %v", err)
	}
}

func TestInvalidTopologyArgumentsAreRefusedLocally(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	ctx := testCtx(t)
	long := strings.Repeat("x", 256)
	tests := []struct {
		name string
		call func() error
	}{
		{"empty queue name", func() error { return c.DeclareQueue(ctx, "", QueueOptions{}) }},
		{"long queue name", func() error { return c.DeclareQueue(ctx, long, QueueOptions{}) }},
		{"negative max length", func() error { return c.DeclareQueue(ctx, "q", QueueOptions{MaxLength: -1}) }},
		{"unknown exchange type", func() error { return c.DeclareExchange(ctx, "e", "headers") }},
		{"long binding key", func() error { return c.Bind(ctx, "e", "q", long) }},
		{"empty exchange to delete", func() error { return c.DeleteExchange(ctx, "") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("error %v, want ErrInvalid", err)
			}
		})
	}
	if c.ClientStats().Reconnects != 0 {
		t.Fatal("invalid arguments broke the connection")
	}
}

func TestTopologyIsDeclaredAgainAfterABrokerRestart(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	ctx := testCtx(t)
	if err := c.DeclareQueue(ctx, "dlq", QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeclareQueue(ctx, "work", QueueOptions{MaxLength: 100, DeadLetterQueue: "dlq"}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeclareExchange(ctx, "jobs", Direct); err != nil {
		t.Fatal(err)
	}
	if err := c.Bind(ctx, "jobs", "work", "run"); err != nil {
		t.Fatal(err)
	}
	b.restart() // an in-memory broker forgets everything
	eventually(t, "the reconnect", func() bool { return c.ClientStats().Reconnects >= 1 && c.Connected() })
	eventually(t, "the topology to be declared again", func() bool {
		st := b.stats()
		for _, e := range st.Exchanges {
			if e.Name == "jobs" && e.Bindings == 1 {
				return true
			}
		}
		return false
	})
	pub, err := c.NewPublisher(PublisherOptions{Exchange: "jobs", RoutingKey: "run"})
	if err != nil {
		t.Fatal(err)
	}
	f, err := pub.Publish(ctx, "after-restart", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Wait(ctx); err != nil {
		t.Fatalf("publish through the re-declared binding: %v", err)
	}
}

// lostRequest sends a request through a proxy that swallows it, then cuts
// the connection and lets the client reconnect; it returns the request's
// error.
func lostRequest(t *testing.T, c *Conn, p *cutProxy, call func() error) error {
	t.Helper()
	p.swallow.Store(true)
	res := make(chan error, 1)
	go func() { res <- call() }()
	eventually(t, "the request to be in flight", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.reqs) == 1
	})
	p.swallow.Store(false)
	cutLive(t, c, p)
	return <-res
}

func TestDeclarationsLostWithTheConnectionAreSentAgain(t *testing.T) {
	b := startBroker(t)
	p := startProxy(t, b.addr)
	c := dial(t, p.addr())
	ctx := testCtx(t)
	if err := lostRequest(t, c, p, func() error { return c.DeclareQueue(ctx, "q", QueueOptions{}) }); err != nil {
		t.Fatalf("declare across a reconnect: %v", err)
	}
	eventually(t, "the queue on the broker", func() bool { return b.queue("q").Name == "q" })
	err := lostRequest(t, c, p, func() error { _, err := c.DeleteQueue(ctx, "q"); return err })
	if !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("delete across a reconnect: %v, want ErrConnectionLost (its outcome is unknown)", err)
	}
}
