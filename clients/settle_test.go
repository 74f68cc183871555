package clients

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// A handler that returns ErrSettleLater leaves its deliveries unsettled;
// Ack, Nack and Reject from another goroutine settle them, once.
func TestDeliveriesSettledLaterByAckNackReject(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	ctx := testCtx(t)
	pub := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q"})
	const n = 30
	for i := range n {
		if _, err := pub.Publish(ctx, fmt.Sprintf("m-%02d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	later := make(chan *Delivery, 2*n)
	cs, err := c.Consume(ctx, ConsumerOptions{Queue: "q", Prefetch: 2 * n, Handler: func(_ context.Context, d *Delivery) error {
		later <- d
		return ErrSettleLater
	}})
	if err != nil {
		t.Fatal(err)
	}
	var first []*Delivery
	for range n {
		first = append(first, <-later)
	}
	// Nothing is settled yet: every message is unacked at the broker.
	eventually(t, "all deliveries unacked", func() bool { return b.queue("q").Unacked == n })
	if b.queue("q").Acked != 0 {
		t.Fatalf("%d acked before any Ack", b.queue("q").Acked)
	}
	go func() { // settled on another goroutine, as an asynchronous handler would
		for i, d := range first {
			var err error
			switch i % 3 {
			case 0:
				err = d.Ack()
			case 1:
				err = d.Nack()
			default:
				err = d.Reject()
			}
			if err != nil {
				t.Errorf("settle %s: %v", d.MessageID, err)
			}
		}
	}()
	// The nacked third comes back, redelivered; ack those at once.
	for range n / 3 {
		d := <-later
		if !d.Redelivered {
			t.Fatalf("%s delivered again without the redelivered flag", d.MessageID)
		}
		if err := d.Ack(); err != nil {
			t.Fatal(err)
		}
		if err := d.Reject(); !errors.Is(err, ErrAlreadySettled) {
			t.Fatalf("second settlement: %v, want ErrAlreadySettled", err)
		}
	}
	eventually(t, "every message settled", func() bool {
		q := b.queue("q")
		return q.Unacked == 0 && q.Ready == 0
	})
	if got := b.queue("q").Acked; got != 2*n/3 {
		t.Fatalf("%d acked, want %d", got, 2*n/3)
	}
	if err := first[0].Ack(); !errors.Is(err, ErrAlreadySettled) {
		t.Fatalf("Ack after Ack: %v, want ErrAlreadySettled", err)
	}
	if st := cs.Stats(); st.Requeued != n/3 || st.Rejected != n/3 || st.Handled != n+n/3 {
		t.Fatalf("consumer stats %+v, want %d requeued, %d rejected, %d handled", st, n/3, n/3, n+n/3)
	}
}

// A handler may settle its delivery itself before returning; the return
// value then settles nothing.
func TestAckInsideTheHandlerWins(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	ctx := testCtx(t)
	pub := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q"})
	if _, err := pub.Publish(ctx, "m", []byte("x")); err != nil {
		t.Fatal(err)
	}
	ackErr := make(chan error, 1)
	if _, err := c.Consume(ctx, ConsumerOptions{Queue: "q", Handler: func(_ context.Context, d *Delivery) error {
		ackErr <- d.Ack()
		return errors.New("ignored: the delivery is acked already")
	}}); err != nil {
		t.Fatal(err)
	}
	if err := <-ackErr; err != nil {
		t.Fatal(err)
	}
	eventually(t, "the ack", func() bool { return b.queue("q").Acked == 1 })
	if q := b.queue("q"); q.Ready != 0 || q.Unacked != 0 {
		t.Fatalf("after an ack in the handler: %+v (the error return requeued it?)", q)
	}
}

// After the connection broke, a late Ack either acks the redelivery that
// waits for it (nil) or, if the redelivery has not arrived yet, reports the
// delivery stale; then the handler gets the redelivery. Either way the
// message ends acked once.
func TestLateAckAfterAReconnect(t *testing.T) {
	b := startBroker(t)
	p := startProxy(t, b.addr)
	c := dial(t, p.addr())
	setupQueue(t, c, "q", QueueOptions{})
	ctx := testCtx(t)
	pub := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q"})
	if _, err := pub.Publish(ctx, "m", []byte("x")); err != nil {
		t.Fatal(err)
	}
	got := make(chan *Delivery, 4)
	cs, err := c.Consume(ctx, ConsumerOptions{Queue: "q", Handler: func(_ context.Context, d *Delivery) error {
		got <- d
		return ErrSettleLater
	}})
	if err != nil {
		t.Fatal(err)
	}
	d := <-got
	cutLive(t, c, p)
	eventually(t, "the reconnect", func() bool { return c.ClientStats().Reconnects >= 1 && c.Connected() })
	switch err := d.Ack(); {
	case err == nil:
		eventually(t, "the redelivery acked in its place", func() bool { return b.queue("q").Acked == 1 })
		if st := cs.Stats(); st.Duplicates != 1 {
			t.Fatalf("stats %+v: the redelivery was not acked as a duplicate", st)
		}
	case errors.Is(err, ErrDeliveryStale):
		again := <-got
		if err := again.Ack(); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the ack", func() bool { return b.queue("q").Acked == 1 })
	default:
		t.Fatalf("late Ack: %v", err)
	}
	if q := b.queue("q"); q.Ready != 0 || q.Unacked != 0 || q.Acked != 1 {
		t.Fatalf("queue %+v, want the message acked once", q)
	}
}

// SettleBatch 1 sends each handler verdict at once; negative is refused.
func TestSettleBatchOption(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	ctx := testCtx(t)
	if _, err := c.Consume(ctx, ConsumerOptions{Queue: "q", SettleBatch: -1, Handler: func(context.Context, *Delivery) error { return nil }}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative SettleBatch: %v, want ErrInvalid", err)
	}
	pub := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q"})
	for i := range 10 {
		if _, err := pub.Publish(ctx, fmt.Sprintf("m-%d", i), []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	// The handler of the second delivery waits until the broker has the
	// first ack: with SettleBatch 1 it is sent before the next handler call.
	handled := 0
	if _, err := c.Consume(ctx, ConsumerOptions{Queue: "q", Prefetch: 10, SettleBatch: 1, Handler: func(context.Context, *Delivery) error {
		if handled > 0 {
			eventually(t, "the previous verdict at the broker", func() bool { return b.queue("q").Acked == uint64(handled) })
		}
		handled++
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "all acked", func() bool { return b.queue("q").Acked == 10 })
}
