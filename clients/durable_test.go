package clients

import (
	"context"
	"fmt"
	"testing"

	"github.com/ciphermq/ciphermq/broker/server"
)

// publishConfirmed publishes n messages with ids prefix-0.. and waits for
// every confirm.
func publishConfirmed(t *testing.T, c *Conn, queue, prefix string, n int) {
	t.Helper()
	ctx := testCtx(t)
	pub := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: queue, Window: 64})
	fs := make([]*Confirm, 0, n)
	for i := range n {
		f, err := pub.Publish(ctx, fmt.Sprintf("%s-%d", prefix, i), []byte(fmt.Sprintf("body %s-%d", prefix, i)))
		if err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
		fs = append(fs, f)
	}
	for _, f := range fs {
		if err := f.Wait(ctx); err != nil {
			t.Fatalf("confirm of %s: %v", f.ID(), err)
		}
	}
}

// drain consumes queue on a new connection until want distinct ids arrived
// and the broker reports them all acked, and returns what it received.
func drain(t *testing.T, b *testBroker, queue string, want int) *recorder {
	t.Helper()
	c := dial(t, b.addr)
	rec := newRecorder()
	bodies := map[string]string{}
	var bad []string
	consume(t, c, ConsumerOptions{Queue: queue, Prefetch: 64, Handler: func(_ context.Context, d *Delivery) error {
		rec.mu.Lock()
		bodies[d.MessageID] = string(d.Body)
		if string(d.Body) != "body "+d.MessageID {
			bad = append(bad, d.MessageID)
		}
		rec.mu.Unlock()
		rec.add(d)
		return nil
	}})
	eventually(t, fmt.Sprintf("%d distinct deliveries from %s", want, queue), func() bool { return rec.distinct() >= want })
	eventually(t, "the queue to be empty and acked", func() bool {
		q := b.queue(queue)
		return q.Ready == 0 && q.Unacked == 0 && q.Acked >= uint64(want)
	})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("%d deliveries came back with a wrong body, first %q: %q", len(bad), bad[0], bodies[bad[0]])
	}
	return rec
}

// TestDurableQueueSurvivesBrokerRestart declares a durable queue on a broker
// with a data directory, publishes with confirms, restarts the broker on the
// same directory with no client connected (so nothing is replayed from the
// client side) and consumes every confirmed message back.
func TestDurableQueueSurvivesBrokerRestart(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, func(cfg *server.Config) { cfg.DataDir = dir })
	c := dial(t, b.addr)
	setupQueue(t, c, "orders", QueueOptions{Durable: true})
	const n = 500
	publishConfirmed(t, c, "orders", "m", n)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	b.restart()
	if q := b.queue("orders"); q.Ready != n {
		t.Fatalf("after the restart the durable queue holds %+v, want %d ready", q, n)
	}
	rec := drain(t, b, "orders", n)
	for i := range n {
		if id := fmt.Sprintf("m-%d", i); rec.count[id] == 0 {
			t.Fatalf("confirmed message %s was not delivered after the restart", id)
		}
	}
	if len(rec.count) != n {
		t.Fatalf("got %d distinct ids, want %d", len(rec.count), n)
	}
}

// TestInMemoryQueueDoesNotSurviveRestart is the control for the test above:
// the same steps without Durable leave nothing behind, so the durable test
// really measures the option.
func TestInMemoryQueueDoesNotSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, func(cfg *server.Config) { cfg.DataDir = dir })
	c := dial(t, b.addr)
	setupQueue(t, c, "scratch", QueueOptions{})
	publishConfirmed(t, c, "scratch", "m", 50)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	b.restart()
	if q := b.queue("scratch"); q.Ready != 0 || q.Name != "" {
		t.Fatalf("an in-memory queue survived the restart: %+v", q)
	}
}

// TestDurableDeclarationIsReplayedDurable restarts the broker on an empty
// data directory while the client stays connected: the client's replayed
// declaration must still say durable, which the test proves by publishing
// after the reconnect and finding the messages after one more restart with
// no client connected.
func TestDurableDeclarationIsReplayedDurable(t *testing.T) {
	b := startBroker(t, func(cfg *server.Config) { cfg.DataDir = t.TempDir() })
	c := dial(t, b.addr)
	setupQueue(t, c, "orders", QueueOptions{Durable: true})

	b.cfg.DataDir = t.TempDir() // a broker that lost its disk: only the client's replay declares the queue
	b.restart()
	eventually(t, "the client to reconnect and declare the queue again", func() bool {
		return c.ClientStats().Reconnects >= 1 && b.queue("orders").Name == "orders"
	})
	const n = 100
	publishConfirmed(t, c, "orders", "after", n)
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	b.restart()
	if q := b.queue("orders"); q.Ready != n {
		t.Fatalf("the replayed declaration was not durable: after a restart the queue holds %+v, want %d ready", q, n)
	}
	drain(t, b, "orders", n)
}

// TestDurableQueueWithoutDataDirIsRefused: a broker without a data
// directory refuses a durable declaration with an error the caller sees.
func TestDurableQueueWithoutDataDirIsRefused(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	err := c.DeclareQueue(testCtx(t), "orders", QueueOptions{Durable: true})
	if err == nil {
		t.Fatal("a durable declaration on a broker without a data directory was accepted")
	}
	t.Logf("refused as expected: %v", err)
	if q := b.queue("orders"); q.Name != "" {
		t.Fatalf("the refused queue exists: %+v", q)
	}
}

// TestDurableQueueAcrossARestartWithClientsConnected restarts the broker
// on the same data directory while a publisher and a consumer stay
// connected and the consumer holds unacked deliveries: the client's
// replayed (durable) declaration matches the restored queue, the unacked
// messages come back marked redelivered, publishing goes on, and every
// message is consumed.
func TestDurableQueueAcrossARestartWithClientsConnected(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, func(cfg *server.Config) { cfg.DataDir = dir })
	c := dial(t, b.addr)
	setupQueue(t, c, "orders", QueueOptions{Durable: true})
	publishConfirmed(t, c, "orders", "before", 100)

	gate := make(chan struct{})
	rec := newRecorder()
	redelivered := make(chan string, 1000)
	cc := dial(t, b.addr)
	consume(t, cc, ConsumerOptions{Queue: "orders", Prefetch: 16, Handler: func(ctx context.Context, d *Delivery) error {
		rec.add(d)
		if d.Redelivered {
			redelivered <- d.MessageID
		}
		select { // hold the first deliveries unacked until the broker restarted
		case <-gate:
		case <-ctx.Done():
		}
		return nil
	}})
	eventually(t, "unacked deliveries before the restart", func() bool { return b.queue("orders").Unacked > 0 })

	b.restart()
	close(gate)
	eventually(t, "both clients to reconnect", func() bool {
		return c.ClientStats().Reconnects >= 1 && cc.ClientStats().Reconnects >= 1
	})
	publishConfirmed(t, c, "orders", "after", 50)
	eventually(t, "all 150 messages consumed", func() bool { return rec.distinct() >= 150 })
	eventually(t, "the queue to be empty", func() bool {
		q := b.queue("orders")
		return q.Ready == 0 && q.Unacked == 0
	})
	select {
	case id := <-redelivered:
		t.Logf("%s came back redelivered after the restart", id)
	default:
		t.Fatal("no delivery was marked redelivered, though deliveries were unacked when the broker restarted")
	}
	if rec.distinct() != 150 {
		t.Fatalf("%d distinct ids consumed, want 150", rec.distinct())
	}
}

// TestConfirmDurableSaysWhereTheMessageIs: a publish to a durable queue
// resolves Durable, one to an in-memory queue of the same broker does not.
func TestConfirmDurableSaysWhereTheMessageIs(t *testing.T) {
	b := startBroker(t, func(cfg *server.Config) { cfg.DataDir = t.TempDir() })
	c := dial(t, b.addr)
	setupQueue(t, c, "disk", QueueOptions{Durable: true})
	setupQueue(t, c, "mem", QueueOptions{})
	ctx := testCtx(t)
	for _, q := range []struct {
		name    string
		durable bool
	}{{"disk", true}, {"mem", false}} {
		pub := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: q.name})
		for i := range 3 {
			f, err := pub.Publish(ctx, fmt.Sprintf("%s-%d", q.name, i), []byte("x"))
			if err != nil {
				t.Fatal(err)
			}
			if err := f.Wait(ctx); err != nil {
				t.Fatalf("confirm of %s: %v", f.ID(), err)
			}
			if f.Durable() != q.durable {
				t.Fatalf("confirm of %s: Durable() = %v, want %v", f.ID(), f.Durable(), q.durable)
			}
		}
	}
}
