package protocol_test

import (
	"testing"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// With feature bit 4 a Reject's reason reaches the dead-lettered copy, and
// a Fetch of it on a connection that negotiated the bit says why; one that
// did not gets the old frame, without the reason.
func TestRejectReasonThroughTheNativeSession(t *testing.T) {
	w := newWorld(t, broker.Config{})
	s, granted := openWithFeatures(t, w, wire.FeatureRejectReasons)
	if granted&wire.FeatureRejectReasons == 0 {
		t.Fatalf("features granted %b, want bit 4", granted)
	}
	w.feed(s, publishFrame(1, "m1"))
	w.take(s)
	w.feed(s, wire.AppendConsume(nil, &wire.Consume{ReqID: 1, Queue: broker.DefaultQueue, ConsumerTag: "c"}))
	var tag uint64
	for _, f := range frames(t, w.take(s)) {
		if d, ok := f.(*wire.Deliver); ok && string(d.MessageID) == "m1" {
			tag = d.DeliveryTag
		}
	}
	if tag == 0 {
		t.Fatal("no delivery of m1")
	}
	w.feed(s, wire.AppendReject(nil, &wire.Reject{DeliveryTag: tag, Reason: wire.ReasonNotRecipient}))
	if out := frames(t, w.take(s)); len(out) != 0 {
		t.Fatalf("reject answered %#v", out)
	}
	fetch := func(features uint64) *wire.FetchOK {
		t.Helper()
		other, _ := openWithFeatures(t, w, features)
		w.feed(other, wire.AppendFetch(nil, &wire.Fetch{ReqID: 7, Queue: broker.DefaultDeadLetterQueue}))
		fs := frames(t, w.take(other))
		if len(fs) != 1 {
			t.Fatalf("fetch answered %#v", fs)
		}
		ok, isOK := fs[0].(*wire.FetchOK)
		if !isOK {
			t.Fatalf("fetch answered %#v", fs[0])
		}
		w.feed(other, wire.AppendNackDelivery(nil, &wire.NackDelivery{DeliveryTag: ok.Deliver.DeliveryTag, Requeue: true}))
		return ok
	}
	if f := fetch(wire.FeatureRejectReasons); string(f.Deliver.MessageID) != "m1" || f.Deliver.Reason != wire.ReasonNotRecipient {
		t.Fatalf("fetch with the feature: %s reason %v", f.Deliver.MessageID, f.Deliver.Reason)
	}
	if f := fetch(0); string(f.Deliver.MessageID) != "m1" || f.Deliver.Reason != wire.ReasonNone {
		t.Fatalf("fetch without the feature: %s reason %v", f.Deliver.MessageID, f.Deliver.Reason)
	}
}
