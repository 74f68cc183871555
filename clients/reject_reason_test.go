package clients

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// A reason given by RejectWithReason or PermanentReason reaches the
// dead-lettered copy: a consumer of the dead-letter queue sees it, and a
// plain Reject or Permanent leaves none.
func TestRejectReasonReachesTheDeadLetterQueue(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	ctx := testCtx(t)
	if err := c.DeclareQueue(ctx, "q.dlq", QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	setupQueue(t, c, "q", QueueOptions{DeadLetterQueue: "q.dlq"})
	pub := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q"})
	ids := []string{"explicit", "handler", "plain", "plain-permanent"}
	for _, id := range ids {
		if _, err := pub.Publish(ctx, id, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	cs, err := c.Consume(ctx, ConsumerOptions{Queue: "q", Prefetch: 10, Handler: func(_ context.Context, d *Delivery) error {
		switch d.MessageID {
		case "explicit":
			if err := d.RejectWithReason(wire.ReasonDeliveryLimit); !errors.Is(err, ErrInvalid) {
				t.Errorf("the broker's own reason: %v, want ErrInvalid", err)
			}
			if err := d.RejectWithReason(wire.ReasonNotRecipient); err != nil {
				t.Errorf("reject: %v", err)
			}
			return nil // settles nothing more
		case "handler":
			return PermanentReason(wire.ReasonUntrustedSender, errors.New("test: not trusted"))
		case "plain":
			return ErrSettleLater // settled below, with no reason
		}
		return Permanent(errors.New("test: no reason"))
	}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "three dead-lettered", func() bool { return b.queue("q.dlq").Ready == 3 })
	if err := cs.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	// "plain" is still unsettled (ErrSettleLater): closing the connection
	// requeues it; a second connection fetches and rejects it.
	c.Close()
	// The broker learns of the close asynchronously and requeues in
	// bounded steps: wait for it before fetching.
	eventually(t, "plain requeued", func() bool { return b.queue("q").Ready == 1 })
	c2 := dial(t, b.addr)
	d, ok, err := c2.Fetch(ctx, "q")
	if err != nil || !ok || d.MessageID != "plain" {
		t.Fatalf("fetch plain: %v %v %v", d, ok, err)
	}
	if err := d.Reject(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "four dead-lettered", func() bool { return b.queue("q.dlq").Ready == 4 })
	want := map[string]RejectReason{"explicit": wire.ReasonNotRecipient, "handler": wire.ReasonUntrustedSender,
		"plain": wire.ReasonNone, "plain-permanent": wire.ReasonNone}
	for range want {
		d, ok, err := c2.Fetch(ctx, "q.dlq")
		if err != nil || !ok {
			t.Fatalf("fetch q.dlq: %v %v", ok, err)
		}
		if w, known := want[d.MessageID]; !known || d.DeadLetterReason != w {
			t.Fatalf("%s: reason %v, want %v", d.MessageID, d.DeadLetterReason, w)
		}
		if err := d.Ack(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestPermanentReason(t *testing.T) {
	base := errors.New("boom")
	err := fmt.Errorf("wrapped: %w", PermanentReason(wire.ReasonTampered, base))
	if !IsPermanent(err) || RejectReasonOf(err) != wire.ReasonTampered || !errors.Is(err, base) {
		t.Fatalf("PermanentReason: permanent %v, reason %v", IsPermanent(err), RejectReasonOf(err))
	}
	if RejectReasonOf(Permanent(base)) != wire.ReasonNone || RejectReasonOf(base) != wire.ReasonNone {
		t.Fatal("a reason out of nowhere")
	}
	if PermanentReason(wire.ReasonTampered, nil) != nil {
		t.Fatal("PermanentReason(_, nil) must be nil")
	}
	if r := RejectReasonOf(PermanentReason(wire.ReasonDeliveryLimit, base)); r != wire.ReasonNone {
		t.Fatalf("the broker's own reason kept: %v", r)
	}
}

// A broker that did not grant FeatureRejectReasons gets the old Reject
// frame: without the reason, which it would refuse.
func TestRejectReasonDroppedForAnOlderBroker(t *testing.T) {
	rejects := make(chan []byte, 1)
	addr := startScriptedBroker(t, func(typ wire.FrameType, payload []byte) []byte {
		switch typ {
		case wire.FrameConsume:
			var f wire.Consume
			if err := wire.DecodeConsume(payload, &f); err != nil {
				t.Errorf("decode consume: %v", err)
				return nil
			}
			out := wire.AppendConsumeOK(nil, &wire.ConsumeOK{ReqID: f.ReqID, ConsumerTag: f.ConsumerTag})
			return wire.AppendDeliver(out, &wire.Deliver{ConsumerTag: []byte(f.ConsumerTag), DeliveryTag: 1, DeliveryCount: 1,
				Queue: []byte("q"), MessageID: []byte("m1"), Body: []byte("x")})
		case wire.FrameReject:
			rejects <- append([]byte(nil), payload...)
		}
		return nil
	})
	c := dial(t, addr)
	ctx := testCtx(t)
	if _, err := c.Consume(ctx, ConsumerOptions{Queue: "q", Handler: func(context.Context, *Delivery) error {
		return PermanentReason(wire.ReasonNotRecipient, errors.New("test"))
	}}); err != nil {
		t.Fatal(err)
	}
	select {
	case p := <-rejects:
		var f wire.Reject
		if err := wire.DecodeReject(p, &f); err != nil || f.DeliveryTag != 1 || f.Reason != wire.ReasonNone || len(p) != 1 {
			t.Fatalf("reject to an older broker: %x (%+v, %v), want the tag alone", p, f, err)
		}
	case <-ctx.Done():
		t.Fatal("no Reject frame")
	}
}
