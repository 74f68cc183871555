package clients

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// TestPublisherSurvivesConnectionCuts publishes through a proxy that is cut
// again and again: every message must be confirmed, and the queue must hold
// each id once (resends are dropped by the broker's dedup window).
func TestPublisherSurvivesConnectionCuts(t *testing.T) {
	b := startBroker(t)
	p := startProxy(t, b.addr)
	c := dial(t, p.addr())
	setupQueue(t, c, "q", QueueOptions{})
	pub := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q", Window: 64})
	ctx := testCtx(t)
	const n = 3000
	fs := make([]*Confirm, 0, n)
	for i := range n {
		if i > 0 && i%500 == 0 {
			cutLive(t, c, p)
		}
		f, err := pub.Publish(ctx, fmt.Sprintf("m-%d", i), []byte("payload"))
		if err != nil {
			t.Fatalf("Publish %d: %v", i, err)
		}
		fs = append(fs, f)
	}
	dups := 0
	for _, f := range fs {
		if err := f.Wait(ctx); err != nil {
			t.Fatalf("confirm of %s: %v", f.ID(), err)
		}
		if f.Duplicate() {
			dups++
		}
	}
	if got := b.queue("q").Ready; got != n {
		t.Fatalf("queue holds %d, want exactly %d", got, n)
	}
	if c.ClientStats().Reconnects < 5 {
		t.Fatalf("only %d reconnects for 5 cuts", c.ClientStats().Reconnects)
	}
	st := pub.Stats()
	t.Logf("publisher after 5 cuts: %+v (%d confirmed as duplicates)", st, dups)
	if st.Confirmed+st.Duplicates != n {
		t.Fatalf("resolved %d+%d, want %d", st.Confirmed, st.Duplicates, n)
	}
}

// cutLive waits until the client has a session up that was not cut yet,
// then cuts it, so every cut really breaks a connection.
func cutLive(t *testing.T, c *Conn, p *cutProxy) {
	t.Helper()
	eventually(t, "a live session to cut", func() bool {
		return c.Connected() && c.ClientStats().Connects > uint64(p.cuts)
	})
	p.cut()
}

// TestPublisherSurvivesABrokerRestart restarts the (in-memory) broker in the
// middle: the topology is declared again and every unconfirmed message is
// resent, so every publish ends confirmed.
func TestPublisherSurvivesABrokerRestart(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	pub := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q", Window: 64})
	ctx := testCtx(t)
	const n = 1000
	fs := make([]*Confirm, 0, n)
	for i := range n {
		if i == n/2 {
			b.restart()
		}
		f, err := pub.Publish(ctx, fmt.Sprintf("m-%d", i), []byte("payload"))
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
	// Messages confirmed before the restart died with the in-memory
	// broker (I1 allows it); every later one is in the new broker.
	if got := b.queue("q").Ready; got < n/2 {
		t.Fatalf("new broker holds %d, want at least %d", got, n/2)
	}
}

// storeSim is a receiver's durable dedup record, reduced to a map: the
// handler records the id, then returns nil.
type storeSim struct {
	mu     sync.Mutex
	stored map[string]int
	calls  int
}

func (s *storeSim) seen(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stored[id] > 0
}

func (s *storeSim) handle(_ context.Context, d *Delivery) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	s.stored[d.MessageID]++
	return nil
}

func (s *storeSim) counts() (distinct, calls int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.stored), s.calls
}

// TestConsumerSurvivesConnectionCuts consumes through a proxy cut several
// times: the consumer resubscribes, nothing is lost, and thanks to the Seen
// hook no id reaches the handler twice (redeliveries of stored ids are
// acked as duplicates and counted).
func TestConsumerSurvivesConnectionCuts(t *testing.T) {
	b := startBroker(t)
	setup := dial(t, b.addr)
	setupQueue(t, setup, "q", QueueOptions{})
	const n = 3000
	publishAll(t, setup, "q", n)

	p := startProxy(t, b.addr)
	c := dial(t, p.addr())
	st := &storeSim{stored: map[string]int{}}
	cs := consume(t, c, ConsumerOptions{Queue: "q", Prefetch: 50, Seen: st.seen, Handler: st.handle})
	for cut := 1; cut <= 5; cut++ {
		eventually(t, fmt.Sprintf("progress on session %d", cut), func() bool {
			d, _ := st.counts()
			return d >= cut*n/6 && c.ClientStats().Connects >= uint64(cut) && c.Connected()
		})
		p.cut()
	}
	eventually(t, "every message stored and acked", func() bool {
		d, _ := st.counts()
		q := b.queue("q")
		return d == n && q.Ready == 0 && q.Unacked == 0
	})
	distinct, calls := st.counts()
	st.mu.Lock()
	for id, k := range st.stored {
		if k != 1 {
			t.Errorf("%s handled %d times", id, k)
		}
	}
	st.mu.Unlock()
	if calls != distinct {
		t.Fatalf("%d handler calls for %d messages", calls, distinct)
	}
	eventually(t, "a reconnect after each of the 5 cuts", func() bool { return c.ClientStats().Reconnects >= 5 })
	t.Logf("consumer after 5 cuts: %+v, broker queue %+v", cs.Stats(), b.queue("q"))
}

// TestPublishAndConsumeThroughCutsLoseNothing runs both directions on one
// connection through the proxy while it is cut.
func TestPublishAndConsumeThroughCutsLoseNothing(t *testing.T) {
	b := startBroker(t)
	p := startProxy(t, b.addr)
	c := dial(t, p.addr())
	setupQueue(t, c, "q", QueueOptions{})
	st := &storeSim{stored: map[string]int{}}
	consume(t, c, ConsumerOptions{Queue: "q", Prefetch: 20, Seen: st.seen, Handler: st.handle})
	pub := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q", Window: 32})
	ctx := testCtx(t)
	const n = 2000
	for i := range n {
		if i > 0 && i%400 == 0 {
			cutLive(t, c, p)
		}
		if _, err := pub.Publish(ctx, fmt.Sprintf("m-%d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Close(ctx); err != nil {
		t.Fatalf("publisher Close: %v", err)
	}
	eventually(t, "every message stored once", func() bool {
		d, _ := st.counts()
		return d == n
	})
	if _, calls := st.counts(); calls != n {
		t.Fatalf("%d handler calls for %d messages", calls, n)
	}
}

// TestRedeliveryDuringASlowHandlerWaitsForItsVerdict cuts the connection
// while the handler still works on a message: the broker redelivers it on
// the new connection, and the library must not run the handler on it a
// second time but ack it once the first run stored it.
func TestRedeliveryDuringASlowHandlerWaitsForItsVerdict(t *testing.T) {
	b := startBroker(t)
	setup := dial(t, b.addr)
	setupQueue(t, setup, "q", QueueOptions{})
	publishAll(t, setup, "q", 1)

	p := startProxy(t, b.addr)
	c := dial(t, p.addr())
	st := &storeSim{stored: map[string]int{}}
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	cs := consume(t, c, ConsumerOptions{Queue: "q", Seen: st.seen, Handler: func(ctx context.Context, d *Delivery) error {
		once.Do(func() {
			close(started)
			<-release
		})
		return st.handle(ctx, d)
	}})
	<-started
	cutLive(t, c, p)
	eventually(t, "the broker to redeliver on the new connection", func() bool {
		return b.queue("q").Redelivered >= 1 && b.queue("q").Unacked == 1
	})
	close(release)
	eventually(t, "the message acked", func() bool { return b.queue("q").Acked == 1 })
	if _, calls := st.counts(); calls != 1 {
		t.Fatalf("handler ran %d times for one message", calls)
	}
	if s := cs.Stats(); s.Duplicates != 1 || s.Handled != 1 {
		t.Fatalf("consumer stats %+v, want 1 handled and the redelivery acked as a duplicate", s)
	}
}

// TestReconnectKeepsTryingWhileTheBrokerIsDown stops the broker for a while:
// reconnect attempts fail (counted, with backoff), publishes made meanwhile
// wait, and everything goes through once a broker is back.
func TestReconnectKeepsTryingWhileTheBrokerIsDown(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	pub := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q"})
	b.stop()
	eventually(t, "several failed reconnect attempts", func() bool { return c.ClientStats().Failures >= 3 })
	ctx := testCtx(t)
	f, err := pub.Publish(ctx, "while-down", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Err() != ErrUnresolved {
		t.Fatalf("confirm while the broker is down: %v", f.Err())
	}
	b.restart()
	if err := f.Wait(ctx); err != nil {
		t.Fatalf("confirm after the broker came back: %v", err)
	}
	if got := b.queue("q").Ready; got != 1 {
		t.Fatalf("new broker holds %d messages, want 1 (topology declared again, message resent)", got)
	}
}

// TestRefusalAfterAResendIsIndeterminate: the first attempt is stored but
// its confirm is lost with the connection; the broker does not remember the
// id (deduplication off, as when its window has forgotten it), so the resend
// is refused as queue full. The refusal says the message went out twice and
// is indeterminate, and indeed the message is in the queue. A refusal of a
// message sent once is definite.
func TestRefusalAfterAResendIsIndeterminate(t *testing.T) {
	b := startBroker(t, func(cfg *serverConfig) { cfg.DedupWindow = -1 })
	p := startProxy(t, b.addr)
	c := dial(t, p.addr())
	setupQueue(t, c, "q", QueueOptions{MaxLength: 1})
	pub := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q"})
	ctx := testCtx(t)
	p.mute.Store(true)
	f, err := pub.Publish(ctx, "m-1", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the first attempt to be stored", func() bool { return b.queue("q").Ready == 1 })
	p.cut() // closes both sides first: the muted confirm can no longer arrive
	p.mute.Store(false)
	if err := f.Wait(ctx); !IsQueueFull(err) || !IsIndeterminate(err) {
		t.Fatalf("resend into the full queue: %v, want a queue-full refusal that IsIndeterminate", err)
	}
	var be *BrokerError
	if !errors.As(f.Err(), &be) || be.Sends != 2 || f.Sends() != 2 {
		t.Fatalf("refusal after one reconnect: BrokerError %+v, Confirm.Sends %d; want 2 sends in both", be, f.Sends())
	}
	if got := b.queue("q").Ready; got != 1 {
		t.Fatalf("queue holds %d, want the refused message's first attempt", got)
	}
	g, err := pub.Publish(ctx, "m-2", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Wait(ctx); !IsQueueFull(err) || IsIndeterminate(err) || g.Sends() != 1 {
		t.Fatalf("refusal of a message sent once: %v (sends %d), want a definite queue-full refusal", err, g.Sends())
	}
}
