package broker

import (
	"fmt"
	"slices"
	"testing"
)

func TestPurgeQueueDropsReadyKeepsUnacked(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q")
	h.open(1)
	seedQueue(h, "q", "m1", "m2", "m3")
	d, _ := h.fetch(1, "q") // m1 unacked
	n, err := h.c.PurgeQueue("q", h.now)
	if err != nil || n != 2 {
		t.Fatalf("purge: %d, %v; want 2", n, err)
	}
	h.check()
	s := h.stats("q")
	if s.Ready != 0 || s.Unacked != 1 || s.Discarded != 2 || s.Bytes != 1 {
		t.Fatalf("after purge %+v", s)
	}
	if err := h.c.Ack(1, d.Tag, false, h.now); err != nil {
		t.Fatal(err)
	}
	h.check()
	if _, err := h.c.PurgeQueue("nope", h.now); err == nil {
		t.Fatal("purging a missing queue succeeded")
	}
}

func TestMoveReadyIsDeadLetteringInReverse(t *testing.T) {
	h := newHarness(t, Config{})
	h.exchange("x", Direct)
	h.queue("dlq", QueueOptions{})
	h.queue("q", QueueOptions{DeadLetterQueue: "dlq", MaxLength: 2})
	h.bind("x", "q", "q")
	h.open(1)
	seedQueue(h, "q", "m1", "m2")
	for range 2 {
		d, _ := h.fetch(1, "q")
		if err := h.c.Reject(1, d.Tag, h.now); err != nil {
			t.Fatal(err)
		}
	}
	seedQueue(h, "q", "m3")
	h.check()
	// q has room for one more (MaxLength 2): the move stops there.
	n, err := h.c.MoveReady("dlq", "q", 10, h.now)
	if err != nil || n != 1 {
		t.Fatalf("move: %d, %v; want 1 (q full)", n, err)
	}
	h.check()
	if got := h.readyIDs("q"); !slices.Equal(got, []string{"m3", "m1"}) {
		t.Fatalf("q holds %v", got)
	}
	if got := h.readyIDs("dlq"); !slices.Equal(got, []string{"m2"}) {
		t.Fatalf("dlq holds %v", got)
	}
	// A consumer on q gets the moved message.
	_, ds := h.consume(1, ConsumeOptions{Queue: "q", Prefetch: 10})
	if len(ds) != 2 || ds[1].MessageID != "m1" || ds[1].Redelivered {
		t.Fatalf("deliveries after the move %+v", ds)
	}
	if _, err := h.c.MoveReady("q", "q", 1, h.now); err == nil {
		t.Fatal("moving a queue into itself succeeded")
	}
	if _, err := h.c.MoveReady("dlq", "nope", 1, h.now); err == nil {
		t.Fatal("moving into a missing queue succeeded")
	}
}

func TestPeekReadyAndListings(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("a", "b")
	h.bind("x", "a", "k2")
	h.open(1)
	seedQueue(h, "a", "m1", "m2", "m3")
	var got []string
	if !h.c.PeekReady("a", 1, 5, 1, func(m ReadyMessage) { got = append(got, m.MessageID+":"+string(m.Head)) }) {
		t.Fatal("queue a not found")
	}
	if !slices.Equal(got, []string{"m2:b", "m3:b"}) {
		t.Fatalf("peek %v", got)
	}
	if h.c.PeekReady("nope", 0, 1, 1, func(ReadyMessage) {}) {
		t.Fatal("peek of a missing queue")
	}
	var bs []BindingInfo
	h.c.EachBinding("", "", "", func(b BindingInfo) bool { bs = append(bs, b); return true })
	want := []BindingInfo{{"x", "a", "a"}, {"x", "a", "k2"}, {"x", "b", "b"}}
	if !slices.Equal(bs, want) {
		t.Fatalf("bindings %v", bs)
	}
	// From a cursor in the middle of an exchange's bindings.
	bs = bs[:0]
	h.c.EachBinding("x", "a", "a", func(b BindingInfo) bool { bs = append(bs, b); return true })
	if !slices.Equal(bs, want[1:]) {
		t.Fatalf("bindings after the cursor %v", bs)
	}
	h.consume(1, ConsumeOptions{Queue: "b", Prefetch: 3})
	var cs []ConsumerInfo
	h.c.ConnConsumers(1, func(c ConsumerInfo) { cs = append(cs, c) })
	if len(cs) != 1 || cs[0].Queue != "b" || cs[0].Prefetch != 3 {
		t.Fatalf("consumers %+v", cs)
	}
	if dlq, ok := h.c.QueueDeadLetter("a"); !ok || dlq != "" {
		t.Fatalf("dead-letter queue of a: %q %v", dlq, ok)
	}
}

// Purge and MoveReady on durable queues survive a crash: the log says
// what left and what moved.
func TestDurablePurgeAndMoveSurviveRestart(t *testing.T) {
	r := newDurableRig(t, Config{})
	durableTopology(t, r.c)
	r.c.Open(1, t0)
	for i := 1; i <= 4; i++ {
		r.publish(1, uint64(i), "ex", "dk", fmt.Sprintf("m%d", i))
	}
	r.sync()
	// m1 and m2 go to dlq by rejection.
	for tag := uint64(1); tag <= 2; tag++ {
		if _, _, err := r.c.Fetch(1, "d", t0); err != nil {
			t.Fatal(err)
		}
		if err := r.c.Reject(1, tag, t0); err != nil {
			t.Fatal(err)
		}
	}
	r.sync()
	if n, err := r.c.MoveReady("dlq", "d", 1, t0); err != nil || n != 1 {
		t.Fatalf("move: %d %v", n, err)
	}
	r.sync()
	r.crash()
	if got := heldIDs(r.c, "d"); !slices.Equal(got, []string{"m3", "m4", "m1"}) {
		t.Fatalf("d after restart: %v", got)
	}
	if got := heldIDs(r.c, "dlq"); !slices.Equal(got, []string{"m2"}) {
		t.Fatalf("dlq after restart: %v", got)
	}
	if n, err := r.c.PurgeQueue("d", t0); err != nil || n != 3 {
		t.Fatalf("purge: %d %v", n, err)
	}
	r.sync()
	r.crash()
	if got := heldIDs(r.c, "d"); len(got) != 0 {
		t.Fatalf("purged messages came back: %v", got)
	}
	if err := r.c.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}
