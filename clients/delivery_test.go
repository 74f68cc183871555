package clients

import (
	"testing"
	"unsafe"

	"github.com/ciphermq/ciphermq/broker/wire"
)

func TestDeliveryCopiesEverythingOutOfTheFrame(t *testing.T) {
	frame := []byte("bodyidqueueexkeytag")
	d := &wire.Deliver{
		Body: frame[0:4], MessageID: frame[4:6], Queue: frame[6:11],
		Exchange: frame[11:13], RoutingKey: frame[13:16], ConsumerTag: frame[16:19],
		Flags: wire.FlagRedelivered, DeliveryCount: 3,
	}
	var fc fieldCache
	dl := fc.delivery(d, nil, false)
	for i := range frame {
		frame[i] = 'X' // the reader reuses its buffer for the next frame
	}
	if dl.MessageID != "id" || string(dl.Body) != "body" || dl.Queue != "queue" || dl.Exchange != "ex" ||
		dl.RoutingKey != "key" || dl.ConsumerTag != "tag" || !dl.Redelivered || dl.DeliveryCount != 3 {
		t.Fatalf("delivery = %+v, want the frame's values before its buffer was reused", dl)
	}
	// A handler appending to Body must not overwrite the id stored after it.
	dl.Body = append(dl.Body, "more"...)
	if dl.MessageID != "id" {
		t.Fatalf("appending to Body changed MessageID to %q", dl.MessageID)
	}
}

func TestDeliveryReusesRepeatedNamesAndChangesWithThem(t *testing.T) {
	var fc fieldCache
	mk := func(q string) *Delivery {
		return fc.delivery(&wire.Deliver{Queue: []byte(q), MessageID: []byte("m"), Body: []byte("b")}, nil, false)
	}
	a, b := mk("orders"), mk("orders")
	if unsafe.StringData(a.Queue) != unsafe.StringData(b.Queue) {
		t.Fatal("the same queue name was allocated twice")
	}
	if c := mk("audit"); c.Queue != "audit" || a.Queue != "orders" {
		t.Fatalf("after a new queue name: %q and %q", c.Queue, a.Queue)
	}
	if e := fc.delivery(&wire.Deliver{}, nil, false); e.MessageID != "" || len(e.Body) != 0 || e.Queue != "" {
		t.Fatalf("empty frame gave %+v", e)
	}
}
