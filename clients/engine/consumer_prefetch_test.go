package engine

import (
	"fmt"
	"testing"

	"github.com/ciphermq/ciphermq/broker/wire"
)

func wantPrefetch(t *testing.T, c *Consumer, exceeded, excused uint64) {
	t.Helper()
	s := c.Stats()
	if s.PrefetchExceeded != exceeded || s.PrefetchExcused != excused || s.PrefetchViolations() != exceeded-excused {
		t.Fatalf("prefetch exceeded %d excused %d violations %d, want %d, %d, %d",
			s.PrefetchExceeded, s.PrefetchExcused, s.PrefetchViolations(), exceeded, excused, exceeded-excused)
	}
}

// A redelivery of a message still being processed proves that the first
// delivery's ack timeout expired: the broker freed its slot, so it no
// longer counts against the prefetch.
func TestConsumerRedeliveredTwinFreesTheExpiredSlot(t *testing.T) {
	c := newCons(ConsumerConfig{Prefetch: 2})
	a := handle(t, c, 1, "a", Process)
	handle(t, c, 2, "b", Process)
	// a's ack timeout expires; the broker redelivers it here.
	if _, dec := c.Handle(&wire.Deliver{DeliveryTag: 3, MessageID: []byte("a"), DeliveryCount: 2,
		Flags: wire.FlagRedelivered}); dec != Parked {
		t.Fatalf("redelivered twin: %v, want parked", dec)
	}
	wantPrefetch(t, c, 0, 0)
	if n := c.Stats().Expired; n != 1 {
		t.Fatalf("expired %d, want 1", n)
	}
	// Three outstanding here, two held by the broker (b and the twin):
	// one more would be too many.
	handle(t, c, 4, "d", Process)
	wantPrefetch(t, c, 1, 0)
	// Once a and its twin are settled, the count is right again.
	settle(t, c, a, Stored)
	wantSettlements(t, c, ack(1), ack(3))
	handle(t, c, 5, "e", Process)
	wantPrefetch(t, c, 2, 0)
}

// A twin that is not flagged as a redelivery (the broker enqueued the id
// twice) says nothing about the first delivery's slot.
func TestConsumerUnflaggedTwinStillCounts(t *testing.T) {
	c := newCons(ConsumerConfig{Prefetch: 2})
	handle(t, c, 1, "a", Process)
	handle(t, c, 2, "a", Parked)
	handle(t, c, 3, "b", Process)
	wantPrefetch(t, c, 1, 0)
}

// An excess counted while an expired delivery was still outstanding here is
// excused when the broker refuses that delivery's late settlement.
func TestConsumerAckRefusedOfAnOutstandingDeliveryExcusesTheExcess(t *testing.T) {
	c := newCons(ConsumerConfig{Prefetch: 2})
	a := handle(t, c, 1, "a", Process)
	handle(t, c, 2, "b", Process)
	// a's ack timeout expired and the broker sent the next message.
	handle(t, c, 3, "c", Process)
	wantPrefetch(t, c, 1, 0)
	settle(t, c, a, Stored)
	wantSettlements(t, c, ack(1))
	c.HandleAckRefused(wire.AckRefused{DeliveryTag: 1, Code: 406})
	wantPrefetch(t, c, 1, 1)
	// A repeated refusal of the same tag explains nothing more.
	handle(t, c, 4, "d", Process)
	wantPrefetch(t, c, 2, 1)
	c.HandleAckRefused(wire.AckRefused{DeliveryTag: 1, Code: 406})
	wantPrefetch(t, c, 2, 1)
}

// A refusal of a tag that was not outstanding when the excess arrived (it
// was settled before) does not excuse it: the broker broke its promise.
func TestConsumerUnrelatedAckRefusedDoesNotExcuse(t *testing.T) {
	c := newCons(ConsumerConfig{Prefetch: 1})
	a := handle(t, c, 1, "a", Process)
	settle(t, c, a, Stored)
	wantSettlements(t, c, ack(1))
	handle(t, c, 2, "b", Process)
	handle(t, c, 3, "c", Process) // one too many, nothing expired
	wantPrefetch(t, c, 1, 0)
	c.HandleAckRefused(wire.AckRefused{DeliveryTag: 1, Code: 406})
	c.HandleAckRefused(wire.AckRefused{DeliveryTag: 99, Code: 406}) // never delivered
	wantPrefetch(t, c, 1, 0)
}

// On a link that reorders, the delivery that looks like one too many may be
// an old one whose ack timeout expired before it arrived: its own refusal
// explains it.
func TestConsumerLateDeliveryIsExcusedByItsOwnRefusal(t *testing.T) {
	c := newCons(ConsumerConfig{Prefetch: 1})
	handle(t, c, 2, "b", Process)
	late := handle(t, c, 1, "a", Process) // sent first, timed out on the way
	wantPrefetch(t, c, 1, 0)
	settle(t, c, late, Stored)
	wantSettlements(t, c, ack(1))
	c.HandleAckRefused(wire.AckRefused{DeliveryTag: 1})
	wantPrefetch(t, c, 1, 1)
}

// A redelivery of a message this connection has settled but not yet
// acknowledged on the wire also proves the first delivery expired.
func TestConsumerRedeliveryOfASettledDeliveryFreesItsSlot(t *testing.T) {
	seen := seenSet{}
	c := newCons(ConsumerConfig{Prefetch: 1, Seen: seen})
	a := handle(t, c, 1, "a", Process)
	seen["a"] = true
	settle(t, c, a, Stored) // the ack waits for the next Poll
	if _, dec := c.Handle(&wire.Deliver{DeliveryTag: 2, MessageID: []byte("a"), DeliveryCount: 2,
		Flags: wire.FlagRedelivered}); dec != AckDuplicate {
		t.Fatalf("redelivery of a stored id: %v, want ack-duplicate", dec)
	}
	wantPrefetch(t, c, 0, 0)
}

// Two deliveries too many at once need two refused tags.
func TestConsumerExcessOfTwoNeedsTwoRefusals(t *testing.T) {
	c := newCons(ConsumerConfig{Prefetch: 2})
	a := handle(t, c, 1, "a", Process)
	b := handle(t, c, 2, "b", Process)
	handle(t, c, 3, "c", Process)
	handle(t, c, 4, "d", Process) // two beyond: both a and b expired
	wantPrefetch(t, c, 2, 0)
	settle(t, c, a, Stored)
	settle(t, c, b, Stored)
	c.Poll()
	c.HandleAckRefused(wire.AckRefused{DeliveryTag: 1})
	// Tag 1 explains the first excess (one too many) fully and the second
	// (two too many) only half.
	wantPrefetch(t, c, 2, 1)
	c.HandleAckRefused(wire.AckRefused{DeliveryTag: 2})
	wantPrefetch(t, c, 2, 2)
}

// An excess whose explanation never came before the connection broke stays
// counted.
func TestConsumerDisconnectKeepsUnexplainedExcess(t *testing.T) {
	c := newCons(ConsumerConfig{Prefetch: 1})
	handle(t, c, 1, "a", Process)
	handle(t, c, 2, "b", Process)
	c.Disconnected()
	c.Connected()
	c.HandleAckRefused(wire.AckRefused{DeliveryTag: 1})
	wantPrefetch(t, c, 1, 0)
}

// The unexplained excesses remembered per connection are bounded; the
// oldest beyond the bound stays counted.
func TestConsumerBoundsUnexplainedExcesses(t *testing.T) {
	c := newCons(ConsumerConfig{Prefetch: 1})
	handle(t, c, 1, "first", Process)
	n := uint64(maxPrefetchSuspects + 5)
	for tag := uint64(2); tag <= n+1; tag++ {
		handle(t, c, tag, fmt.Sprint("m", tag), Process)
	}
	if len(c.suspects) != maxPrefetchSuspects {
		t.Fatalf("remembering %d excesses, bound %d", len(c.suspects), maxPrefetchSuspects)
	}
	wantPrefetch(t, c, n, 0)
}

// The honest-broker property's verdict can fail: the same world with a
// broker that gives out one delivery more than the engine's prefetch
// (and no ack timeout to excuse it) is blamed.
func TestConsumerPrefetchPropertyBlamesADishonestBroker(t *testing.T) {
	var got failures
	w := &consWorld{
		failed: got.record, prefetch: 2, refuse: true,
		outstanding: map[uint64]brokerMsg{}, stored: map[string]bool{}, permanent: map[string]bool{},
		tagsSeen: map[uint64]bool{},
		ready:    []brokerMsg{{seq: 0, id: "a"}, {seq: 1, id: "b"}, {seq: 2, id: "c"}},
	}
	w.c = NewConsumer(ConsumerConfig{Prefetch: 1, Seen: w}) // the broker was promised 1
	w.c.Connected()
	w.heal(3)
	if len(got) != 0 {
		t.Fatalf("world checks failed: %v", got)
	}
	if v := w.c.Stats().PrefetchViolations(); v == 0 {
		t.Fatalf("a broker delivering 2 against a prefetch of 1 was not blamed: %+v", w.c.Stats())
	}
}
