package broker

import (
	"errors"
	"testing"
)

func TestDefaultTopologyHasADeadLetterQueue(t *testing.T) {
	c := New(Config{})
	q, ok := c.Queue(DefaultQueue)
	if !ok {
		t.Fatal("no default queue")
	}
	if c.queues[DefaultQueue].opts.DeadLetterQueue != DefaultDeadLetterQueue || q.Name != DefaultQueue {
		t.Fatalf("default queue %+v, want dead-letter queue %s", c.queues[DefaultQueue].opts, DefaultDeadLetterQueue)
	}
	if _, ok := c.Queue(DefaultDeadLetterQueue); !ok {
		t.Fatalf("%s not declared", DefaultDeadLetterQueue)
	}
	if DeadLetterQueueName("orders") != "orders.dlq" {
		t.Fatal(DeadLetterQueueName("orders"))
	}
}

func TestDiscardIsExplicitAndExclusive(t *testing.T) {
	h := newHarness(t, Config{})
	h.queue("dlq", QueueOptions{})
	var e *Error
	if err := h.c.DeclareQueue("q", QueueOptions{Discard: true, DeadLetterQueue: "dlq"}); !errors.As(err, &e) || e.Code != CodeInvalidArgument {
		t.Fatalf("discard with a dead-letter queue: %v", err)
	}
	h.queue("q", QueueOptions{Discard: true})
	// Redeclaring without Discard is another queue's options.
	if err := h.c.DeclareQueue("q", QueueOptions{}); !errors.As(err, &e) || e.Code != CodeMismatch {
		t.Fatalf("redeclare without discard: %v", err)
	}
	h.exchange("x", Direct)
	h.bind("x", "q", "q")
	h.open(1)
	seedQueue(h, "q", "m1")
	d, _ := h.fetch(1, "q")
	if err := h.c.Reject(1, d.Tag, h.now); err != nil {
		t.Fatal(err)
	}
	h.check()
	if s := h.stats("q"); s.Discarded != 1 || s.DeadLettered != 0 {
		t.Fatalf("discarded %d dead-lettered %d, want 1 0", s.Discarded, s.DeadLettered)
	}
}

// A durable queue's Discard option survives a crash: redeclaring it the
// same way after the restart is not a mismatch, and without it is.
func TestDurableDiscardSurvivesRestart(t *testing.T) {
	r := newDurableRig(t, Config{})
	if err := r.c.DeclareQueue("q", QueueOptions{Durable: true, Discard: true}); err != nil {
		t.Fatal(err)
	}
	r.sync()
	r.crash()
	if err := r.c.DeclareQueue("q", QueueOptions{Durable: true, Discard: true}); err != nil {
		t.Fatalf("redeclare after restart: %v", err)
	}
	wantCode(t, r.c.DeclareQueue("q", QueueOptions{Durable: true}), CodeMismatch)
}
