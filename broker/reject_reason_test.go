package broker

import (
	"testing"
	"unsafe"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// The dead-letter reason lives in what was padding after message.state:
// the record must stay 176 bytes on 64-bit platforms, a size class of its
// own (the next is 192), so recording reasons costs no memory.
func TestMessageRecordSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("the size is pinned for 64-bit platforms; 32-bit ones are not measured")
	}
	if got := unsafe.Sizeof(message{}); got != 176 {
		t.Fatalf("message record is %d bytes, want 176: a new field moved it to a larger size class", got)
	}
}

// peekReasons lists the reasons of queue's ready messages by id.
func peekReasons(c *Core, queue string) map[string]wire.RejectReason {
	out := map[string]wire.RejectReason{}
	c.PeekReady(queue, 0, 100, 0, func(m ReadyMessage) { out[m.MessageID] = m.Reason })
	return out
}

// deliverDurable publishes ids to durableTopology's queue d (durable,
// dead-letter queue dlq, delivery limit 2) on connection 1, consumes them
// there and returns each delivery's tag by id.
func deliverDurable(t *testing.T, ids ...string) (*durableRig, map[string]uint64) {
	t.Helper()
	r := newDurableRig(t, Config{})
	durableTopology(t, r.c)
	r.c.Open(1, t0)
	for i, id := range ids {
		r.publish(1, uint64(i+1), "ex", "dk", id)
	}
	r.sync()
	if _, err := r.c.Consume(1, ConsumeOptions{Queue: "d", Tag: "c", Prefetch: 10}, t0); err != nil {
		t.Fatal(err)
	}
	tags := map[string]uint64{}
	for _, e := range r.pump() {
		if e.Kind == EffectDeliver {
			tags[e.Delivery.MessageID] = e.Delivery.Tag
		}
	}
	if len(tags) != len(ids) {
		t.Fatalf("deliveries %v", tags)
	}
	return r, tags
}

// checkDLQReasons fails unless dlq holds exactly want's ids, each with its
// reason.
func checkDLQReasons(t *testing.T, c *Core, when string, want map[string]wire.RejectReason) {
	t.Helper()
	got := peekReasons(c, "dlq")
	if len(got) != len(want) {
		t.Fatalf("%s: dlq holds %v, want %v", when, got, want)
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: %s has reason %v, want %v", when, id, got[id], w)
		}
	}
}

func TestRejectReasonReachesTheDeadLetterListingAndSurvivesARestart(t *testing.T) {
	r, tags := deliverDurable(t, "plain", "why", "nacked", "limit")
	mustOK := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	mustOK(r.c.Reject(1, tags["plain"], t0))
	mustOK(r.c.RejectReason(1, tags["why"], wire.ReasonNotRecipient, t0))
	mustOK(r.c.NackReason(1, tags["nacked"], false, false, wire.ReasonUntrustedSender, t0))
	// Refused: a reason with requeue, the broker's own reason, an unknown one.
	for _, err := range []error{
		r.c.NackReason(1, tags["limit"], false, true, wire.ReasonTampered, t0),
		r.c.RejectReason(1, tags["limit"], wire.ReasonDeliveryLimit, t0),
		r.c.RejectReason(1, tags["limit"], wire.RejectReason(200), t0),
	} {
		wantCode(t, err, CodeInvalidArgument)
	}
	// limit: delivered twice (the delivery limit), then requeued.
	mustOK(r.c.Nack(1, tags["limit"], false, true, t0))
	for _, e := range r.pump() {
		if e.Kind == EffectDeliver && e.Delivery.MessageID == "limit" {
			mustOK(r.c.Nack(1, e.Delivery.Tag, false, true, t0))
		}
	}
	r.sync()
	want := map[string]wire.RejectReason{"plain": wire.ReasonNone, "why": wire.ReasonNotRecipient,
		"nacked": wire.ReasonUntrustedSender, "limit": wire.ReasonDeliveryLimit}
	checkDLQReasons(t, r.c, "before the restart", want)
	r.crash()
	checkDLQReasons(t, r.c, "after the restart", want)
	// A delivery of the dead-lettered copy carries the reason too.
	r.c.Open(2, t0)
	seen := map[string]wire.RejectReason{}
	for range want {
		d, ok, err := r.c.Fetch(2, "dlq", t0)
		if err != nil || !ok {
			t.Fatalf("fetch: %v %v", ok, err)
		}
		seen[d.MessageID] = d.DeadLetterReason
	}
	for id, w := range want {
		if seen[id] != w {
			t.Fatalf("fetched %s with reason %v, want %v", id, seen[id], w)
		}
	}
}

// A message moved back to its queue is no longer dead-lettered: its
// reason goes.
func TestMoveReadyClearsTheReason(t *testing.T) {
	h := newHarness(t, Config{})
	h.exchange("x", Direct)
	h.queue("dlq", QueueOptions{})
	h.queue("q", QueueOptions{DeadLetterQueue: "dlq"})
	h.bind("x", "q", "q")
	h.open(1)
	seedQueue(h, "q", "m1")
	d, _ := h.fetch(1, "q")
	if err := h.c.RejectReason(1, d.Tag, wire.ReasonWrongKey, h.now); err != nil {
		t.Fatal(err)
	}
	if got := peekReasons(h.c, "dlq"); got["m1"] != wire.ReasonWrongKey {
		t.Fatalf("dlq reasons %v", got)
	}
	if n, err := h.c.MoveReady("dlq", "q", 10, h.now); err != nil || n != 1 {
		t.Fatalf("move: %d %v", n, err)
	}
	if got := peekReasons(h.c, "q"); len(got) != 1 || got["m1"] != wire.ReasonNone {
		t.Fatalf("moved message keeps a reason: %v", got)
	}
	h.check()
}

// A delivery past its queue's delivery limit whose connection closes is
// dead-lettered by the broker with reason delivery-limit.
func TestConnectionCloseDeadLettersWithDeliveryLimit(t *testing.T) {
	h := newHarness(t, Config{})
	h.exchange("x", Direct)
	h.queue("dlq", QueueOptions{})
	h.queue("q", QueueOptions{DeadLetterQueue: "dlq", DeliveryLimit: 1})
	h.bind("x", "q", "q")
	h.open(1)
	seedQueue(h, "q", "m1")
	if _, ok := h.fetch(1, "q"); !ok {
		t.Fatal("nothing to fetch")
	}
	h.close(1)
	if got := peekReasons(h.c, "dlq"); len(got) != 1 || got["m1"] != wire.ReasonDeliveryLimit {
		t.Fatalf("dlq reasons after the close %v, want m1 delivery-limit", got)
	}
	h.check()
}

// A NackDelivery with multiple and a reason gives that one reason to every
// delivery it settles: a frame says one thing, as AMQP's multiple nack
// applies one requeue flag to all. A client with different reasons sends
// one Reject per delivery (the Go library always does), and each keeps its
// own.
func TestMultipleNackGivesItsOneReasonToEveryDelivery(t *testing.T) {
	r, tags := deliverDurable(t, "a", "b", "c", "d", "e")
	// d and e: one Reject each, with reasons of their own; then a multiple
	// nack up to c covers a, b and c (d and e are settled already).
	if err := r.c.RejectReason(1, tags["d"], wire.ReasonWrongKey, t0); err != nil {
		t.Fatal(err)
	}
	if err := r.c.RejectReason(1, tags["e"], wire.ReasonNotRecipient, t0); err != nil {
		t.Fatal(err)
	}
	if err := r.c.NackReason(1, tags["e"], true, false, wire.ReasonUntrustedSender, t0); err != nil {
		t.Fatal(err)
	}
	r.sync()
	want := map[string]wire.RejectReason{"a": wire.ReasonUntrustedSender, "b": wire.ReasonUntrustedSender,
		"c": wire.ReasonUntrustedSender, "d": wire.ReasonWrongKey, "e": wire.ReasonNotRecipient}
	checkDLQReasons(t, r.c, "before the restart", want)
	r.crash()
	checkDLQReasons(t, r.c, "after the restart", want)
}
