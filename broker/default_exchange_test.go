package broker

import "testing"

// The nameless default exchange of AMQP: a publish to "" goes to the queue
// named by the routing key, without a binding, within the publisher's vhost.
func TestDefaultExchangeRoutesToTheQueueNamedByTheKey(t *testing.T) {
	h := newHarness(t, Config{})
	h.queue("orders", QueueOptions{})
	h.queue(Qualify("tenant-a", "orders"), QueueOptions{})
	h.open(1)

	h.mustConfirm(1, "", "orders", "m-1", "a")
	if got := h.readyIDs("orders"); len(got) != 1 || got[0] != "m-1" {
		t.Fatalf("queue orders holds %v, want [m-1]", got)
	}
	if got := h.readyIDs(Qualify("tenant-a", "orders")); len(got) != 0 {
		t.Fatalf("a publish in the default vhost reached tenant-a's queue: %v", got)
	}
	// The same id again is a duplicate, as for any exchange.
	effs := h.publish(1, "", "orders", "m-1", "a")
	if effs[0].Kind != EffectConfirm || !effs[0].Duplicate {
		t.Fatalf("second publish of m-1: %s, want a duplicate confirm", describe(effs[:1]))
	}

	// Within a vhost the session spells the default exchange as the vhost's
	// prefix alone: it reaches that vhost's queue and no other.
	h.mustConfirm(1, Qualify("tenant-a", ""), "orders", "m-2", "b")
	if got := h.readyIDs(Qualify("tenant-a", "orders")); len(got) != 1 || got[0] != "m-2" {
		t.Fatalf("tenant-a's orders holds %v, want [m-2]", got)
	}
	if got := h.readyIDs("orders"); len(got) != 1 {
		t.Fatalf("a publish in tenant-a reached the default vhost's queue: %v", got)
	}

	// No queue of that name, an empty key, or a key that tries to name
	// another vhost's queue: no route, nothing enqueued.
	h.mustRefuse(1, "", "missing", "m-3", "c", CodeNoRoute)
	h.mustRefuse(1, "", "", "m-4", "c", CodeNoRoute)
	h.mustRefuse(1, "", Qualify("tenant-a", "orders"), "m-5", "c", CodeNoRoute)
	h.mustRefuse(1, Qualify("tenant-a", ""), Qualify("tenant-b", "orders"), "m-6", "c", CodeNoRoute)
	if a, d := len(h.readyIDs(Qualify("tenant-a", "orders"))), len(h.readyIDs("orders")); a != 1 || d != 1 {
		t.Fatalf("refused publishes enqueued something: %d and %d held", a, d)
	}

	// A consumer of the queue gets the message with exchange "".
	_, ds := h.consume(1, ConsumeOptions{Queue: "orders", Prefetch: 10})
	if len(ds) != 1 || ds[0].MessageID != "m-1" || ds[0].Exchange != "" || ds[0].RoutingKey != "orders" {
		t.Fatalf("deliveries %+v, want m-1 from exchange \"\" with key orders", ds)
	}
}

// A durable queue reached through the default exchange persists the
// message like any other publish, and it survives a crash.
func TestDefaultExchangeToADurableQueueSurvivesACrash(t *testing.T) {
	r := newDurableRig(t, Config{})
	if err := r.c.DeclareQueue("jobs", QueueOptions{Durable: true}); err != nil {
		t.Fatal(err)
	}
	r.c.Open(1, t0)
	r.publish(1, 1, "", "jobs", "j-1")
	effs := r.sync()
	if len(effs) != 1 || effs[0].Kind != EffectConfirm || !effs[0].Durable {
		t.Fatalf("effects %s, want one durable confirm", kinds(effs))
	}
	r.crash()
	if got := heldIDs(r.c, "jobs"); len(got) != 1 || got[0] != "j-1" {
		t.Fatalf("after the crash jobs holds %v, want [j-1]", got)
	}
}
