package clients

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
)

// publishAll publishes n messages m-0..m-(n-1) to ex/key and waits for
// every confirm.
func publishAll(t *testing.T, c *Conn, key string, n int) {
	t.Helper()
	ctx := testCtx(t)
	p := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: key})
	for i := range n {
		if _, err := p.Publish(ctx, fmt.Sprintf("m-%d", i), []byte(fmt.Sprintf("body-%d", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

// recorder collects what handlers saw.
type recorder struct {
	mu    sync.Mutex
	ids   []string
	count map[string]int
	ds    []*Delivery
}

func newRecorder() *recorder { return &recorder{count: map[string]int{}} }

func (r *recorder) add(d *Delivery) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, d.MessageID)
	r.ds = append(r.ds, d)
	r.count[d.MessageID]++
	return r.count[d.MessageID]
}

func (r *recorder) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.count)
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

func consume(t *testing.T, c *Conn, o ConsumerOptions) *Consumer {
	t.Helper()
	cs, err := c.Consume(testCtx(t), o)
	if err != nil {
		t.Fatalf("Consume: %v", err)
	}
	return cs
}

func TestConsumeAcksInOrderAndEmptiesTheQueue(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	publishAll(t, c, "q", 300)
	rec := newRecorder()
	cs := consume(t, c, ConsumerOptions{Queue: "q", Prefetch: 32, Handler: func(_ context.Context, d *Delivery) error {
		rec.add(d)
		return nil
	}})
	eventually(t, "300 deliveries", func() bool { return rec.total() >= 300 })
	eventually(t, "the queue to be empty and acked", func() bool {
		q := b.queue("q")
		return q.Ready == 0 && q.Unacked == 0 && q.Acked == 300
	})
	rec.mu.Lock()
	for i, id := range rec.ids {
		if want := fmt.Sprintf("m-%d", i); id != want {
			t.Fatalf("delivery %d is %s, want %s (publish order)", i, id, want)
		}
	}
	d := rec.ds[7]
	rec.mu.Unlock()
	if string(d.Body) != "body-7" || d.Queue != "q" || d.Exchange != "ex" || d.RoutingKey != "q" || d.Redelivered || d.DeliveryCount != 1 || d.ConsumerTag != cs.Tag() {
		t.Fatalf("delivery fields %+v", d)
	}
	if s := cs.Stats(); s.Handled != 300 || s.Requeued != 0 {
		t.Fatalf("consumer stats %+v", s)
	}
	if rec.total() != 300 {
		t.Fatalf("%d handler calls for 300 messages", rec.total())
	}
}

func TestHandlerErrorRequeuesAndTheMessageComesBack(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	publishAll(t, c, "q", 1)
	rec := newRecorder()
	cs := consume(t, c, ConsumerOptions{Queue: "q", Handler: func(_ context.Context, d *Delivery) error {
		if rec.add(d) == 1 {
			return errors.New("disk busy")
		}
		return nil
	}})
	eventually(t, "the redelivery to be acked", func() bool { return b.queue("q").Acked == 1 })
	rec.mu.Lock()
	second := rec.ds[1]
	rec.mu.Unlock()
	if !second.Redelivered || second.DeliveryCount != 2 {
		t.Fatalf("second delivery: Redelivered %v count %d", second.Redelivered, second.DeliveryCount)
	}
	if s := cs.Stats(); s.Requeued != 1 || s.Handled != 2 {
		t.Fatalf("consumer stats %+v", s)
	}
}

func TestPermanentErrorRejectsToTheDeadLetterQueue(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	ctx := testCtx(t)
	if err := c.DeclareQueue(ctx, "dlq", QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	setupQueue(t, c, "q", QueueOptions{DeadLetterQueue: "dlq"})
	publishAll(t, c, "q", 3)
	cs := consume(t, c, ConsumerOptions{Queue: "q", Handler: func(_ context.Context, d *Delivery) error {
		if d.MessageID == "m-1" {
			return Permanent(errors.New("does not decrypt"))
		}
		return nil
	}})
	eventually(t, "m-1 in the dead-letter queue", func() bool {
		return b.queue("dlq").Ready == 1 && b.queue("q").Acked == 2 && b.queue("q").DeadLettered == 1
	})
	if s := cs.Stats(); s.Rejected != 1 {
		t.Fatalf("consumer stats %+v", s)
	}
	got := make(chan string, 1)
	consume(t, c, ConsumerOptions{Queue: "dlq", Handler: func(_ context.Context, d *Delivery) error {
		got <- d.MessageID
		return nil
	}})
	if id := <-got; id != "m-1" {
		t.Fatalf("dead-lettered %s, want m-1", id)
	}
}

func TestSeenIDsAreAckedWithoutCallingTheHandler(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	publishAll(t, c, "q", 10)
	rec := newRecorder()
	cs := consume(t, c, ConsumerOptions{
		Queue: "q",
		Seen:  func(id string) bool { return id == "m-3" || id == "m-4" },
		Handler: func(_ context.Context, d *Delivery) error {
			rec.add(d)
			return nil
		},
	})
	eventually(t, "all 10 acked", func() bool { return b.queue("q").Acked == 10 })
	if rec.total() != 8 || rec.count["m-3"] != 0 || rec.count["m-4"] != 0 {
		t.Fatalf("handler saw %v", rec.ids)
	}
	if s := cs.Stats(); s.Duplicates != 2 {
		t.Fatalf("consumer stats %+v", s)
	}
}

func TestBatchHandlerGetsBufferedDeliveriesAndAcksThemTogether(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	publishAll(t, c, "q", 200)
	var mu sync.Mutex
	var sizes []int
	seen := map[string]bool{}
	consume(t, c, ConsumerOptions{Queue: "q", Prefetch: 50, BatchHandler: func(_ context.Context, ds []*Delivery) []error {
		mu.Lock()
		defer mu.Unlock()
		sizes = append(sizes, len(ds))
		errs := make([]error, len(ds))
		for i, d := range ds {
			seen[d.MessageID] = true
			if d.MessageID == "m-5" && d.DeliveryCount == 1 {
				errs[i] = errors.New("try again")
			}
		}
		return errs
	}})
	eventually(t, "all 200 acked", func() bool { return b.queue("q").Acked == 200 })
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 200 {
		t.Fatalf("batch handler saw %d distinct ids", len(seen))
	}
	for _, n := range sizes {
		if n > 50 {
			t.Fatalf("batch of %d above the prefetch of 50", n)
		}
	}
	if len(sizes) >= 200 {
		t.Fatalf("%d batches for 200 messages: deliveries were not batched", len(sizes))
	}
	if st := c.cons.Stats(); st.MultipleAcks == 0 {
		t.Fatalf("no Multiple ack was used: %+v", st)
	}
}

func TestShortBatchVerdictsRequeueTheRest(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	publishAll(t, c, "q", 4)
	var mu sync.Mutex
	calls := 0
	consume(t, c, ConsumerOptions{Queue: "q", BatchHandler: func(_ context.Context, ds []*Delivery) []error {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return nil // no verdicts: everything goes back
		}
		return make([]error, len(ds))
	}})
	eventually(t, "all 4 acked after the requeue", func() bool { return b.queue("q").Acked == 4 })
	if q := b.queue("q"); q.Redelivered == 0 {
		t.Fatalf("nothing was redelivered: %+v", q)
	}
}

func TestConsumeRefusalsAndInvalidOptions(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	ctx := testCtx(t)
	h := func(context.Context, *Delivery) error { return nil }
	if _, err := c.Consume(ctx, ConsumerOptions{Queue: "missing", Handler: h}); !IsNotFound(err) {
		t.Fatalf("consume a missing queue: %v, want IsNotFound", err)
	}
	if _, err := c.Consume(ctx, ConsumerOptions{Queue: "q"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no handler: %v", err)
	}
	batch := func(context.Context, []*Delivery) []error { return nil }
	if _, err := c.Consume(ctx, ConsumerOptions{Queue: "q", Handler: h, BatchHandler: batch}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("two handlers: %v", err)
	}
	if len(c.consumers) != 0 {
		t.Fatalf("refused consumers stay registered: %v", c.consumers)
	}
	setupQueue(t, c, "q", QueueOptions{})
	consume(t, c, ConsumerOptions{Queue: "q", Tag: "t1", Handler: h})
	if _, err := c.Consume(ctx, ConsumerOptions{Queue: "q", Tag: "t1", Handler: h}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("duplicate tag: %v", err)
	}
}

func TestCancelStopsDeliveriesAndRequeuesTheRest(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	publishAll(t, c, "q", 20)
	release := make(chan struct{})
	started := make(chan struct{}, 20)
	cs := consume(t, c, ConsumerOptions{Queue: "q", Prefetch: 5, Handler: func(ctx context.Context, d *Delivery) error {
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return errors.New("cancelled before storing")
	}})
	<-started
	done := make(chan error, 1)
	go func() { done <- cs.Cancel(testCtx(t)) }()
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("Cancel: %v", err)
	}
	if !errors.Is(cs.Err(), ErrConsumerEnded) {
		t.Fatalf("Err after Cancel: %v", cs.Err())
	}
	eventually(t, "every message back in the queue", func() bool {
		q := b.queue("q")
		return q.Ready == 20 && q.Unacked == 0 && q.Consumers == 0
	})
}

func TestDeletingTheQueueEndsTheConsumer(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	cs := consume(t, c, ConsumerOptions{Queue: "q", Handler: func(context.Context, *Delivery) error { return nil }})
	if _, err := c.DeleteQueue(testCtx(t), "q"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-cs.Done():
	case <-testCtx(t).Done():
		t.Fatal("consumer still running after its queue was deleted")
	}
	if !errors.Is(cs.Err(), ErrConsumerEnded) {
		t.Fatalf("Err: %v", cs.Err())
	}
}

func TestConnCloseCancelsHandlersAndWaitsForThem(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	publishAll(t, c, "q", 1)
	started := make(chan struct{})
	returned := make(chan struct{})
	cs := consume(t, c, ConsumerOptions{Queue: "q", Handler: func(ctx context.Context, d *Delivery) error {
		close(started)
		<-ctx.Done()
		close(returned)
		return ctx.Err()
	}})
	<-started
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-returned:
	default:
		t.Fatal("Close returned before the handler did")
	}
	<-cs.Done()
	if !errors.Is(cs.Err(), ErrClosed) {
		t.Fatalf("consumer Err %v, want ErrClosed", cs.Err())
	}
	eventually(t, "the unacked message back in the queue", func() bool { return b.queue("q").Ready == 1 })
}

// TestConsumersSharingAConnectionNeverAckEachOther runs a fast consumer and
// a stuck one on one connection. A Multiple ack covers every tag of the
// connection, so batching the fast one's acks must never settle the stuck
// one's deliveries.
func TestConsumersSharingAConnectionNeverAckEachOther(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "slow", QueueOptions{})
	setupQueue(t, c, "fast", QueueOptions{})
	publishFast := func(from, to int) {
		p := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "fast"})
		for i := from; i < to; i++ {
			if _, err := p.Publish(testCtx(t), fmt.Sprintf("f-%d", i), []byte("x")); err != nil {
				t.Fatal(err)
			}
		}
		if err := p.Close(testCtx(t)); err != nil {
			t.Fatal(err)
		}
	}
	// Phase 1: the fast consumer alone, with a backlog, so its acks batch.
	publishFast(0, 300)
	consume(t, c, ConsumerOptions{Queue: "fast", Prefetch: 50, Handler: func(context.Context, *Delivery) error { return nil }})
	eventually(t, "the backlog acked", func() bool { return b.queue("fast").Acked == 300 })
	before := c.cons.Stats().MultipleAcks
	// Phase 2: a consumer that holds its deliveries joins the connection.
	publishAll(t, c, "slow", 5)
	release := make(chan struct{})
	consume(t, c, ConsumerOptions{Queue: "slow", Prefetch: 5, BatchHandler: func(ctx context.Context, ds []*Delivery) []error {
		<-release
		errs := make([]error, len(ds))
		for i := range errs {
			errs[i] = errors.New("not stored")
		}
		return errs
	}})
	eventually(t, "the slow consumer to hold its deliveries", func() bool { return b.queue("slow").Unacked == 5 })
	publishFast(300, 600)
	eventually(t, "every fast message acked", func() bool { return b.queue("fast").Acked == 600 })
	if q := b.queue("slow"); q.Acked != 0 || q.Unacked != 5 {
		t.Fatalf("the slow queue %+v: the fast consumer's acks settled its deliveries", q)
	}
	if after := c.cons.Stats().MultipleAcks; after != before {
		t.Fatalf("%d Multiple acks while the slow deliveries were outstanding below them", after-before)
	}
	t.Logf("Multiple acks in phase 1: %d", before)
	close(release)
	eventually(t, "the slow deliveries requeued", func() bool {
		q := b.queue("slow")
		return q.Acked == 0 && q.Redelivered >= 5
	})
}
