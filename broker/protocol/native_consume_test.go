package protocol_test

import (
	"testing"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/protocol"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// consumeOne registers a consumer on queue and returns the first delivery
// of a message published to the default route.
func consumeOne(t *testing.T, w *world, queue string) (*protocol.Native, *wire.Deliver, func() []wire.Frame) {
	t.Helper()
	_, s := openNative(t, w)
	w.feed(s, wire.AppendConsume(nil, &wire.Consume{ReqID: 1, Queue: queue, ConsumerTag: "c1"}))
	if fs := frames(t, w.take(s)); len(fs) != 1 || fs[0].FrameType() != wire.FrameConsumeOK {
		t.Fatalf("consume: %#v", fs)
	}
	_, pub := w.text()
	w.feed(pub, []byte("publish default_exchange default_key "+envelope("n1")+"\n"))
	fs := frames(t, w.take(s))
	d, ok := fs[0].(*wire.Deliver)
	if !ok || string(d.ConsumerTag) != "c1" {
		t.Fatalf("delivery: %#v", fs)
	}
	return s, d, func() []wire.Frame { return frames(t, w.take(s)) }
}

func TestNativeNackRequeueRedelivers(t *testing.T) {
	w := newWorld(t, broker.Config{})
	s, d, next := consumeOne(t, w, broker.DefaultQueue)
	w.feed(s, wire.AppendNackDelivery(nil, &wire.NackDelivery{DeliveryTag: d.DeliveryTag, Requeue: true}))
	fs := next()
	r, ok := fs[0].(*wire.Deliver)
	if !ok || string(r.MessageID) != "n1" || r.Flags&wire.FlagRedelivered == 0 || r.DeliveryTag == d.DeliveryTag {
		t.Fatalf("after nack with requeue: %#v", fs)
	}
	// Nacking the old tag again is refused and changes nothing.
	w.feed(s, wire.AppendNackDelivery(nil, &wire.NackDelivery{DeliveryTag: d.DeliveryTag, Requeue: true}))
	if fs := next(); len(fs) != 1 || fs[0].FrameType() != wire.FrameAckRefused {
		t.Fatalf("stale nack: %#v", fs)
	}
}

func TestNativeRejectDeadLettersAndStaleRejectIsRefused(t *testing.T) {
	w := newWorld(t, broker.Config{})
	s, d, next := consumeOne(t, w, broker.DefaultQueue)
	w.feed(s, wire.AppendReject(nil, &wire.Reject{DeliveryTag: d.DeliveryTag}))
	if fs := next(); len(fs) != 0 {
		t.Fatalf("a good reject is silent, got %#v", fs)
	}
	q := queueStats(w, broker.DefaultQueue)
	if q.Ready+q.Unacked != 0 || q.DeadLettered+q.Discarded != 1 {
		t.Fatalf("after reject: %+v", q)
	}
	w.feed(s, wire.AppendReject(nil, &wire.Reject{DeliveryTag: d.DeliveryTag}))
	fs := next()
	if r, ok := fs[0].(*wire.AckRefused); !ok || r.Code != uint16(broker.CodeUnknownDeliveryTag) {
		t.Fatalf("second reject: %#v", fs)
	}
}

func TestNativeDeleteQueueCancelsItsConsumer(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, admin := openNative(t, w)
	w.feed(admin, wire.AppendDeclareQueue(nil, &wire.DeclareQueue{ReqID: 1, Name: "tmp"}))
	w.take(admin)
	_, s := openNative(t, w)
	w.feed(s, wire.AppendConsume(nil, &wire.Consume{ReqID: 2, Queue: "tmp", ConsumerTag: "gone-soon"}))
	w.take(s)
	w.feed(admin, wire.AppendDeleteQueue(nil, &wire.DeleteQueue{ReqID: 3, Name: "tmp"}))
	if fs := frames(t, w.take(admin)); len(fs) != 1 || fs[0].FrameType() != wire.FrameOK {
		t.Fatalf("delete: %#v", fs)
	}
	fs := frames(t, w.take(s))
	if c, ok := fs[0].(*wire.Cancelled); !ok || c.ConsumerTag != "gone-soon" || c.Reason == "" {
		t.Fatalf("consumer of a deleted queue got %#v, want Cancelled", fs)
	}
	w.feed(s, wire.AppendCancel(nil, &wire.Cancel{ReqID: 4, ConsumerTag: "gone-soon"}))
	fs = frames(t, w.take(s))
	if e, ok := fs[0].(*wire.Error); !ok || e.ReqID != 4 || e.Code != uint16(broker.CodeConsumerNotFound) {
		t.Fatalf("cancel of a cancelled consumer: %#v", fs)
	}
}
