package broker

import "testing"

func TestDeadLetter(t *testing.T) {
	tests := []struct {
		name             string
		dlq              *QueueOptions // nil: q has no dead-letter queue
		op               string        // reject, nack, nack-multiple
		wantDLQ          []string
		wantDeadLettered uint64
		wantDiscarded    uint64
	}{
		{"reject to dlq", &QueueOptions{}, "reject", []string{"m1"}, 1, 0},
		{"nack without requeue to dlq", &QueueOptions{}, "nack", []string{"m1"}, 1, 0},
		{"nack multiple keeps order", &QueueOptions{}, "nack-multiple", []string{"m1", "m2"}, 2, 0},
		{"no dlq: discarded", nil, "reject", nil, 0, 1},
		{"no dlq: nack multiple discarded", nil, "nack-multiple", nil, 0, 2},
		{"dlq full by length", &QueueOptions{MaxLength: 1}, "nack-multiple", []string{"m1"}, 1, 1},
		{"dlq full by bytes", &QueueOptions{MaxBytes: 1}, "nack-multiple", []string{"m1"}, 1, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.exchange("x", Direct)
			opts := QueueOptions{}
			if tc.dlq != nil {
				h.queue("dlq", *tc.dlq)
				opts.DeadLetterQueue = "dlq"
			}
			h.queue("q", opts)
			h.bind("x", "q", "q")
			h.open(1)
			seedQueue(h, "q", "m1", "m2")
			d1, _ := h.fetch(1, "q")
			d2, _ := h.fetch(1, "q")
			switch tc.op {
			case "reject":
				if err := h.c.Reject(1, d1.Tag, h.now); err != nil {
					t.Fatal(err)
				}
				h.check()
			case "nack":
				h.nack(1, d1.Tag, false, false)
			case "nack-multiple":
				h.nack(1, d2.Tag, true, false)
			}
			if tc.dlq != nil {
				if got := h.readyIDs("dlq"); !equalStrings(got, tc.wantDLQ) {
					t.Fatalf("dlq holds %v, want %v", got, tc.wantDLQ)
				}
				if s := h.stats("dlq"); s.DeadLetterIn != uint64(len(tc.wantDLQ)) {
					t.Fatalf("dlq dead_letter_in %d", s.DeadLetterIn)
				}
			}
			s := h.stats("q")
			if s.DeadLettered != tc.wantDeadLettered || s.Discarded != tc.wantDiscarded {
				t.Fatalf("q dead_lettered %d discarded %d, want %d %d", s.DeadLettered, s.Discarded, tc.wantDeadLettered, tc.wantDiscarded)
			}
			if len(h.readyIDs("q")) != 0 {
				t.Fatalf("dead-lettered message still ready in q: %v", h.readyIDs("q"))
			}
			// The dead-lettered delivery's tag is settled.
			wantCode(t, h.c.Ack(1, d1.Tag, false, h.now), CodeUnknownDeliveryTag)
		})
	}
}

func TestDeadLetterPushedToDLQConsumer(t *testing.T) {
	h := newHarness(t, Config{})
	h.exchange("x", Direct)
	h.queue("dlq2", QueueOptions{})
	h.queue("dlq", QueueOptions{DeadLetterQueue: "dlq2"})
	h.queue("q", QueueOptions{DeadLetterQueue: "dlq"})
	h.bind("x", "q", "q")
	h.open(1)
	h.open(2)
	h.consume(2, ConsumeOptions{Queue: "dlq", Tag: "dead"})
	seedQueue(h, "q", "m1")
	d, _ := h.fetch(1, "q")
	if err := h.c.Reject(1, d.Tag, h.now); err != nil {
		t.Fatal(err)
	}
	ds := h.drainDeliveries()
	if len(ds) != 1 || ds[0].ConsumerTag != "dead" || ds[0].MessageID != "m1" || ds[0].Queue != "dlq" || ds[0].Exchange != "x" || ds[0].RoutingKey != "q" {
		t.Fatalf("dlq consumer got %+v", ds)
	}
	// Rejected again, it moves one step down the chain.
	if err := h.c.Reject(2, ds[0].Tag, h.now); err != nil {
		t.Fatal(err)
	}
	h.check()
	if got := h.readyIDs("dlq2"); !equalStrings(got, []string{"m1"}) {
		t.Fatalf("dlq2 holds %v", got)
	}
}

// Regression (found by the model check): settling a delivery by
// dead-lettering or discarding it frees room under the consumer's prefetch,
// so the queue's next message must be pushed at once.
func TestRejectFreesConsumerRoom(t *testing.T) {
	for _, withDLQ := range []bool{false, true} {
		h := newHarness(t, Config{})
		h.exchange("x", Direct)
		opts := QueueOptions{}
		if withDLQ {
			h.queue("dlq", QueueOptions{})
			opts.DeadLetterQueue = "dlq"
		}
		h.queue("q", opts)
		h.bind("x", "q", "q")
		h.open(1)
		h.consume(1, ConsumeOptions{Queue: "q", Prefetch: 1})
		d := h.mustConfirm(1, "x", "q", "m1", "")[0]
		h.mustConfirm(1, "x", "q", "m2", "")
		if err := h.c.Reject(1, d.Tag, h.now); err != nil {
			t.Fatal(err)
		}
		h.check()
		if ds := h.drainDeliveries(); !equalStrings(ids(ds), []string{"m2"}) {
			t.Fatalf("dlq=%v: after reject got %v, want m2 pushed", withDLQ, ids(ds))
		}
	}
}

// Regression: when a connection closes holding both a dead-letter queue's
// own message and a message that is past its delivery limit, the DLQ's
// returning message counts against its MaxLength before the other is
// dead-lettered into it.
func TestRequeueCountsReturningMessagesBeforeDeadLettering(t *testing.T) {
	h := newHarness(t, Config{})
	h.exchange("x", Direct)
	h.queue("dlq", QueueOptions{MaxLength: 1})
	h.queue("q", QueueOptions{DeliveryLimit: 1, DeadLetterQueue: "dlq"})
	h.bind("x", "q", "q")
	h.bind("x", "dlq", "dlq")
	h.open(1)
	h.mustConfirm(1, "x", "dlq", "in-dlq", "")
	h.mustConfirm(1, "x", "q", "limited", "")
	h.fetch(1, "dlq")
	h.fetch(1, "q")
	h.close(1) // check() inside verifies dlq holds at most 1
	if got := h.readyIDs("dlq"); !equalStrings(got, []string{"in-dlq"}) {
		t.Fatalf("dlq holds %v, want only its own message back", got)
	}
	if s := h.stats("q"); s.Discarded != 1 || s.DeadLettered != 0 {
		t.Fatalf("q stats %+v, want the limited message discarded (DLQ full)", s)
	}
}
