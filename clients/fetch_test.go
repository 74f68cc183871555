package clients

import (
	"errors"
	"fmt"
	"testing"
)

// Fetch pulls one message at a time; the caller settles each, and an
// empty queue answers ok == false.
func TestFetchPullsAndSettles(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	setupQueue(t, c, "q", QueueOptions{})
	ctx := testCtx(t)
	if _, ok, err := c.Fetch(ctx, "q"); ok || err != nil {
		t.Fatalf("fetch from an empty queue: ok %v err %v", ok, err)
	}
	pub := newPublisher(t, c, PublisherOptions{Exchange: "ex", RoutingKey: "q"})
	for i := range 3 {
		if _, err := pub.Publish(ctx, fmt.Sprintf("m-%d", i), []byte(fmt.Sprint("body ", i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := pub.Close(ctx); err != nil {
		t.Fatal(err)
	}
	d, ok, err := c.Fetch(ctx, "q")
	if err != nil || !ok || d.MessageID != "m-0" || string(d.Body) != "body 0" || d.Queue != "q" {
		t.Fatalf("first fetch: %+v ok %v err %v", d, ok, err)
	}
	if q := b.queue("q"); q.Unacked != 1 || q.Ready != 2 {
		t.Fatalf("after a fetch the broker holds %+v, want 1 unacked and 2 ready", q)
	}
	if err := d.Nack(); err != nil { // requeued at the head
		t.Fatal(err)
	}
	d, ok, err = c.Fetch(ctx, "q")
	if err != nil || !ok || d.MessageID != "m-0" || !d.Redelivered {
		t.Fatalf("fetch after a nack: %+v ok %v err %v, want m-0 redelivered", d, ok, err)
	}
	if err := d.Ack(); err != nil {
		t.Fatal(err)
	}
	if err := d.Ack(); !errors.Is(err, ErrAlreadySettled) {
		t.Fatalf("second Ack: %v", err)
	}
	for _, want := range []string{"m-1", "m-2"} {
		d, ok, err := c.Fetch(ctx, "q")
		if err != nil || !ok || d.MessageID != want {
			t.Fatalf("fetch: %+v ok %v err %v, want %s", d, ok, err, want)
		}
		if err := d.Ack(); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "every message acked", func() bool { return b.queue("q").Acked == 3 })
	if _, ok, err := c.Fetch(ctx, "q"); ok || err != nil {
		t.Fatalf("fetch from the drained queue: ok %v err %v", ok, err)
	}
	if _, _, err := c.Fetch(ctx, "missing"); !IsNotFound(err) {
		t.Fatalf("fetch from a missing queue: %v, want not found", err)
	}
}
