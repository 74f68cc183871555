package engine

import (
	"errors"
	"slices"
	"testing"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// seenSet is a SeenSet the test fills as the "application" stores ids.
type seenSet map[string]bool

func (s seenSet) Seen(id string) bool { return s[id] }

func deliver(tag uint64, id string) *wire.Deliver {
	return &wire.Deliver{DeliveryTag: tag, MessageID: []byte(id), Body: []byte("x")}
}

func newCons(cfg ConsumerConfig) *Consumer {
	c := NewConsumer(cfg)
	c.Connected()
	return c
}

// handle delivers and checks the decision.
func handle(t *testing.T, c *Consumer, tag uint64, id string, want Decision) Ref {
	t.Helper()
	ref, dec := c.Handle(deliver(tag, id))
	if dec != want {
		t.Fatalf("tag %d id %q: decision %v, want %v", tag, id, dec, want)
	}
	return ref
}

func settle(t *testing.T, c *Consumer, r Ref, res Result) {
	t.Helper()
	if err := c.Settle(r, res); err != nil {
		t.Fatalf("settle %+v: %v", r, err)
	}
}

func ack(tag uint64) Settlement { return Settlement{Kind: SettleAck, DeliveryTag: tag} }
func ackMulti(tag uint64) Settlement {
	return Settlement{Kind: SettleAck, DeliveryTag: tag, Multiple: true}
}
func nack(tag uint64) Settlement   { return Settlement{Kind: SettleNack, DeliveryTag: tag} }
func reject(tag uint64) Settlement { return Settlement{Kind: SettleReject, DeliveryTag: tag} }

func wantSettlements(t *testing.T, c *Consumer, want ...Settlement) {
	t.Helper()
	if got := c.Poll(); !slices.Equal(got, want) {
		t.Fatalf("settlements %+v, want %+v", got, want)
	}
}

func TestConsumerSingleDeliveryStoredIsAcked(t *testing.T) {
	c := newCons(ConsumerConfig{})
	r := handle(t, c, 1, "a", Process)
	wantSettlements(t, c)
	settle(t, c, r, Stored)
	wantSettlements(t, c, ack(1))
	if c.Outstanding() != 0 {
		t.Fatalf("outstanding %d after ack", c.Outstanding())
	}
}

func TestConsumerBatchOfStoredIsOneMultipleAck(t *testing.T) {
	c := newCons(ConsumerConfig{})
	var refs []Ref
	for i := uint64(1); i <= 5; i++ {
		refs = append(refs, handle(t, c, i, string(rune('a'+i)), Process))
	}
	for _, r := range refs {
		settle(t, c, r, Stored)
	}
	wantSettlements(t, c, ackMulti(5))
	s := c.Stats()
	if s.Acked != 5 || s.AckFrames != 1 || s.MultipleAcks != 1 {
		t.Fatalf("stats %+v", s)
	}
	// The next batch continues from there.
	r6 := handle(t, c, 6, "g", Process)
	r7 := handle(t, c, 7, "h", Process)
	settle(t, c, r7, Stored)
	settle(t, c, r6, Stored)
	wantSettlements(t, c, ackMulti(7))
}

func TestConsumerAcksOutOfOrderWithoutCoveringUnsettled(t *testing.T) {
	c := newCons(ConsumerConfig{})
	r1 := handle(t, c, 1, "a", Process)
	r2 := handle(t, c, 2, "b", Process)
	r3 := handle(t, c, 3, "c", Process)
	settle(t, c, r2, Stored)
	wantSettlements(t, c, ack(2)) // 1 is still being processed
	settle(t, c, r1, Stored)
	wantSettlements(t, c, ack(1))
	settle(t, c, r3, Stored)
	wantSettlements(t, c, ack(3))
}

func TestConsumerNackAndRejectAreSingleAndStopBatchingBelowThem(t *testing.T) {
	c := newCons(ConsumerConfig{})
	r1 := handle(t, c, 1, "a", Process)
	r2 := handle(t, c, 2, "b", Process)
	r3 := handle(t, c, 3, "c", Process)
	r4 := handle(t, c, 4, "d", Process)
	settle(t, c, r1, Transient)
	settle(t, c, r2, Permanent)
	settle(t, c, r3, Stored)
	settle(t, c, r4, Stored)
	// A Multiple ack of 4 would also ack 1 and 2 if their frames were lost.
	wantSettlements(t, c, nack(1), reject(2), ack(3), ack(4))
	if len(c.ackedAbove) != 0 {
		t.Fatalf("remembering %d acks above a nack that can never be batched over", len(c.ackedAbove))
	}
	r5 := handle(t, c, 5, "e", Process)
	r6 := handle(t, c, 6, "f", Process)
	settle(t, c, r5, Stored)
	settle(t, c, r6, Stored)
	wantSettlements(t, c, ack(5), ack(6))
	s := c.Stats()
	if s.Nacked != 1 || s.Rejected != 1 || s.Acked != 4 || s.MultipleAcks != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestConsumerNeverBatchesOverALostDelivery(t *testing.T) {
	c := newCons(ConsumerConfig{})
	r1 := handle(t, c, 1, "a", Process)
	r3 := handle(t, c, 3, "c", Process) // tag 2's frame was lost
	r4 := handle(t, c, 4, "d", Process)
	settle(t, c, r1, Stored)
	settle(t, c, r3, Stored)
	settle(t, c, r4, Stored)
	wantSettlements(t, c, ack(1), ack(3), ack(4))
}

func TestConsumerLateReorderedDeliveryClosesTheGap(t *testing.T) {
	c := newCons(ConsumerConfig{})
	r1 := handle(t, c, 1, "a", Process)
	r3 := handle(t, c, 3, "c", Process)
	settle(t, c, r3, Stored)
	wantSettlements(t, c, ack(3))
	r2 := handle(t, c, 2, "b", Process) // arrives late
	settle(t, c, r1, Stored)
	settle(t, c, r2, Stored)
	// 3 was acked singly; 1 and 2 are a safe run above nothing.
	wantSettlements(t, c, ackMulti(2))
	r4 := handle(t, c, 4, "d", Process)
	r5 := handle(t, c, 5, "e", Process)
	settle(t, c, r4, Stored)
	settle(t, c, r5, Stored)
	wantSettlements(t, c, ackMulti(5))
}

func TestConsumerSeenIDIsAckedWithoutTheApplication(t *testing.T) {
	seen := seenSet{"a": true}
	c := newCons(ConsumerConfig{Seen: seen})
	r := handle(t, c, 1, "a", AckDuplicate)
	if err := c.Settle(r, Stored); !errors.Is(err, ErrStaleDelivery) && !errors.Is(err, ErrNotProcessing) {
		t.Fatalf("settling a duplicate: %v, want an error", err)
	}
	r2 := handle(t, c, 2, "b", Process)
	seen["b"] = true
	settle(t, c, r2, Stored)
	wantSettlements(t, c, ackMulti(2))
	if s := c.Stats(); s.Duplicates != 1 || s.Delivered != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestConsumerSeenFuncAdapter(t *testing.T) {
	c := newCons(ConsumerConfig{Seen: SeenFunc(func(id string) bool { return id == "old" })})
	handle(t, c, 1, "old", AckDuplicate)
	handle(t, c, 2, "new", Process)
}

func TestConsumerTwinOfInProgressDeliveryFollowsIt(t *testing.T) {
	tests := []struct {
		name string
		res  Result
		want []Settlement
	}{
		{"stored: both acked", Stored, []Settlement{ackMulti(2)}},
		{"transient: both requeued", Transient, []Settlement{nack(1), nack(2)}},
		{"permanent: original rejected, twin requeued", Permanent, []Settlement{reject(1), nack(2)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newCons(ConsumerConfig{})
			r1 := handle(t, c, 1, "a", Process)
			r2 := handle(t, c, 2, "a", Parked)
			if err := c.Settle(r2, Stored); !errors.Is(err, ErrNotProcessing) {
				t.Fatalf("settling the parked twin: %v, want ErrNotProcessing", err)
			}
			settle(t, c, r1, tc.res)
			wantSettlements(t, c, tc.want...)
		})
	}
}

func TestConsumerAfterTwinSettlesIDCanBeProcessedAgain(t *testing.T) {
	c := newCons(ConsumerConfig{})
	r1 := handle(t, c, 1, "a", Process)
	settle(t, c, r1, Transient)
	r2 := handle(t, c, 2, "a", Process) // the requeued message comes back
	settle(t, c, r2, Stored)
	wantSettlements(t, c, nack(1), ack(2))
}

func TestConsumerIgnoresRepeatedFramesAndTagZero(t *testing.T) {
	c := newCons(ConsumerConfig{})
	r := handle(t, c, 1, "a", Process)
	handle(t, c, 1, "a", Ignored)
	handle(t, c, 0, "z", Ignored)
	settle(t, c, r, Stored)
	wantSettlements(t, c, ack(1))
	handle(t, c, 1, "a", Ignored) // repeated after its ack
	handle(t, c, 3, "c", Process)
	handle(t, c, 3, "c", Ignored) // repeated above a gap
	if s := c.Stats(); s.Ignored != 4 || s.Received != 6 {
		t.Fatalf("stats %+v", s)
	}
}

func TestConsumerDisconnectForgetsDeliveriesAndTheirSettlements(t *testing.T) {
	c := newCons(ConsumerConfig{})
	r1 := handle(t, c, 1, "a", Process)
	r2 := handle(t, c, 2, "b", Process)
	settle(t, c, r1, Stored) // settled but never polled
	c.Disconnected()
	if _, dec := c.Handle(deliver(3, "c")); dec != Ignored {
		t.Fatalf("delivery while disconnected: %v, want Ignored", dec)
	}
	c.Connected()
	if err := c.Settle(r2, Stored); !errors.Is(err, ErrStaleDelivery) {
		t.Fatalf("settling an old connection's delivery: %v, want ErrStaleDelivery", err)
	}
	wantSettlements(t, c) // the ack of tag 1 must not reach the new connection
	// Tag 1 on the new connection is a different delivery.
	n1 := handle(t, c, 1, "b", Process)
	if n1.Epoch == r1.Epoch {
		t.Fatalf("new connection reused epoch %d", n1.Epoch)
	}
	settle(t, c, n1, Stored)
	wantSettlements(t, c, ack(1))
	if s := c.Stats(); s.Forgotten != 2 || s.Stale != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestConsumerSettleErrors(t *testing.T) {
	c := newCons(ConsumerConfig{})
	r := handle(t, c, 1, "a", Process)
	if err := c.Settle(r, Result(9)); !errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("bad result: %v", err)
	}
	settle(t, c, r, Stored)
	if err := c.Settle(r, Stored); !errors.Is(err, ErrStaleDelivery) {
		t.Fatalf("double settle before poll: %v", err)
	}
	c.Poll()
	if err := c.Settle(r, Stored); !errors.Is(err, ErrStaleDelivery) {
		t.Fatalf("double settle after poll: %v", err)
	}
	if err := c.Settle(Ref{Epoch: c.Epoch(), Tag: 99}, Stored); !errors.Is(err, ErrStaleDelivery) {
		t.Fatalf("unknown tag: %v", err)
	}
}

func TestConsumerCountsDeliveriesBeyondPrefetch(t *testing.T) {
	c := newCons(ConsumerConfig{Prefetch: 2})
	handle(t, c, 1, "a", Process)
	handle(t, c, 2, "b", Process)
	if c.Stats().PrefetchExceeded != 0 {
		t.Fatal("counted within prefetch")
	}
	handle(t, c, 3, "c", Process)
	if c.Stats().PrefetchExceeded != 1 {
		t.Fatalf("prefetch exceeded %d, want 1", c.Stats().PrefetchExceeded)
	}
	c.SetPrefetch(10) // a second consumer joined the connection
	handle(t, c, 4, "d", Process)
	if c.Stats().PrefetchExceeded != 1 {
		t.Fatalf("prefetch exceeded %d after raising the prefetch, want still 1", c.Stats().PrefetchExceeded)
	}
}

func TestConsumerBoundsTagBookkeepingAcrossAPermanentGap(t *testing.T) {
	c := newCons(ConsumerConfig{MaxTrackedTags: 4})
	refs := []Ref{handle(t, c, 1, "a", Process)}
	// Tag 2 never arrives; tags above it pile up until the bound.
	for tag := uint64(3); tag <= 8; tag++ {
		refs = append(refs, handle(t, c, tag, string(rune('a'+tag)), Process))
		if n := len(c.seenAbove); n > 4 {
			t.Fatalf("tracking %d tags above the gap, bound is 4", n)
		}
	}
	handle(t, c, 8, "h", Ignored) // still recognised as a repeat
	// Settling everything still never produces a Multiple over tag 2.
	for _, r := range refs {
		settle(t, c, r, Stored)
	}
	wantSettlements(t, c, ack(1), ack(3), ack(4), ack(5), ack(6), ack(7), ack(8))
}

func TestConsumerAckRefusedIsCounted(t *testing.T) {
	c := newCons(ConsumerConfig{})
	c.HandleAckRefused(wire.AckRefused{DeliveryTag: 3, Code: 400})
	if c.Stats().AckRefused != 1 {
		t.Fatal("ack refused not counted")
	}
}

func TestSettlementFrames(t *testing.T) {
	tests := []struct {
		s    Settlement
		want wire.Frame
	}{
		{ack(3), &wire.Ack{DeliveryTag: 3}},
		{ackMulti(9), &wire.Ack{DeliveryTag: 9, Multiple: true}},
		{nack(4), &wire.NackDelivery{DeliveryTag: 4, Requeue: true}},
		{reject(5), &wire.Reject{DeliveryTag: 5}},
	}
	for _, tc := range tests {
		got := tc.s.Frame()
		if got.FrameType() != tc.want.FrameType() {
			t.Fatalf("%+v: frame type %v, want %v", tc.s, got.FrameType(), tc.want.FrameType())
		}
		if a, b := string(got.AppendTo(nil)), string(tc.want.AppendTo(nil)); a != b {
			t.Fatalf("%+v: Frame encodes %x, want %x", tc.s, a, b)
		}
		if a, b := string(tc.s.AppendTo(nil)), string(tc.want.AppendTo(nil)); a != b {
			t.Fatalf("%+v: AppendTo %x, want %x", tc.s, a, b)
		}
	}
}
