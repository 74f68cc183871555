package broker

import (
	"testing"
	"time"
)

func TestSmoke(t *testing.T) {
	now := time.Unix(1000, 0)
	c := New(Config{})
	c.Open(1, now)
	c.Publish(1, &Publish{Seq: 1, Exchange: []byte("default_exchange"), RoutingKey: []byte("default_key"), MessageID: []byte("m1"), Body: []byte("hi")}, now)
	tag, err := c.Consume(1, ConsumeOptions{Queue: "default_queue"}, now)
	if err != nil {
		t.Fatal(err)
	}
	effs := c.Drain()
	if len(effs) != 2 || effs[0].Kind != EffectConfirm || effs[1].Kind != EffectDeliver || effs[1].Delivery.ConsumerTag != tag {
		t.Fatalf("effects %+v", effs)
	}
	if err := c.Ack(1, effs[1].Delivery.Tag, false, now); err != nil {
		t.Fatal(err)
	}
	if q, _ := c.Queue("default_queue"); q.Acked != 1 || q.Ready != 0 {
		t.Fatalf("%+v", q)
	}
}
