package broker

import (
	"slices"
	"testing"
	"time"
)

func TestDeclareQueue(t *testing.T) {
	tests := []struct {
		name  string
		queue string
		opts  QueueOptions
		code  Code
	}{
		{"plain", "q", QueueOptions{}, 0},
		{"limits", "q", QueueOptions{MaxLength: 10, MaxBytes: 100, AckTimeout: time.Second, DeliveryLimit: 3}, 0},
		{"with dead-letter queue", "q", QueueOptions{DeadLetterQueue: "dlq"}, 0},
		{"same options again", "existing", QueueOptions{MaxLength: 5}, 0},
		{"other options", "existing", QueueOptions{MaxLength: 6}, CodeMismatch},
		{"other options: dead-letter queue", "existing", QueueOptions{MaxLength: 5, DeadLetterQueue: "dlq"}, CodeMismatch},
		{"missing dead-letter queue", "q", QueueOptions{DeadLetterQueue: "nope"}, CodeQueueNotFound},
		{"bad dead-letter queue name", "q", QueueOptions{DeadLetterQueue: "a b"}, CodeInvalidArgument},
		{"negative max length", "q", QueueOptions{MaxLength: -1}, CodeInvalidArgument},
		{"negative max bytes", "q", QueueOptions{MaxBytes: -1}, CodeInvalidArgument},
		{"negative ack timeout", "q", QueueOptions{AckTimeout: -time.Second}, CodeInvalidArgument},
		{"negative delivery limit", "q", QueueOptions{DeliveryLimit: -1}, CodeInvalidArgument},
		{"empty name", "", QueueOptions{}, CodeInvalidArgument},
		{"name with space", "a q", QueueOptions{}, CodeInvalidArgument},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.queue("dlq", QueueOptions{})
			h.queue("existing", QueueOptions{MaxLength: 5})
			err := h.c.DeclareQueue(tc.queue, tc.opts)
			h.check()
			if tc.code == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if !h.c.QueueExists(tc.queue) {
					t.Fatal("queue missing after declare")
				}
				return
			}
			wantCode(t, err, tc.code)
			if tc.queue == "q" && h.c.QueueExists("q") {
				t.Fatal("refused declare created the queue")
			}
		})
	}
}

func TestDeleteQueue(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q", "other")
	h.open(1)
	h.open(2)
	for _, id := range []string{"m1", "m2", "m3"} {
		h.mustConfirm(1, "x", "q", id, "body")
	}
	d, _ := h.fetch(2, "q") // one unacked via fetch
	tag, ds := h.consume(1, ConsumeOptions{Queue: "q", Prefetch: 1})
	if !equalStrings(ids(ds), []string{"m2"}) {
		t.Fatalf("consumer got %v, want [m2]", ids(ds))
	}

	n, err := h.c.DeleteQueue("q", h.now)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3 {
		t.Fatalf("discarded %d, want 3 (1 ready + 2 unacked)", n)
	}
	effs := h.c.Drain()
	if len(effs) != 1 || effs[0].Kind != EffectCancelled || effs[0].Conn != 1 ||
		effs[0].Delivery.ConsumerTag != tag || effs[0].Delivery.Queue != "q" || effs[0].Err == nil {
		t.Fatalf("effects after delete: %s, want one cancelled for %s", describe(effs), tag)
	}
	h.check()
	if h.c.QueueExists("q") {
		t.Fatal("queue still exists")
	}
	// Its deliveries are gone: acks are refused, the consumer tag is unknown.
	wantCode(t, h.c.Ack(2, d.Tag, false, h.now), CodeUnknownDeliveryTag)
	wantCode(t, h.c.Ack(1, ds[0].Tag, false, h.now), CodeUnknownDeliveryTag)
	wantCode(t, h.c.Cancel(1, tag, h.now), CodeConsumerNotFound)
	// Bindings went with it; the other queue is untouched.
	h.mustRefuse(1, "x", "q", "m4", "", CodeNoRoute)
	h.mustConfirm(1, "x", "other", "m5", "")
	if got := h.c.Stats(); got.Bindings != 1 || got.Consumers != 0 {
		t.Fatalf("stats after delete: %+v", got)
	}
	_, err = h.c.DeleteQueue("q", h.now)
	wantCode(t, err, CodeQueueNotFound)
	// Redeclaring gives a fresh, empty queue.
	h.queue("q", QueueOptions{})
	if s := h.stats("q"); s.Ready != 0 || s.Published != 0 {
		t.Fatalf("redeclared queue not fresh: %+v", s)
	}
}

func TestDeleteQueueUsedAsDeadLetterQueue(t *testing.T) {
	h := newHarness(t, Config{})
	h.queue("dlq", QueueOptions{})
	h.queue("q", QueueOptions{DeadLetterQueue: "dlq"})
	_, err := h.c.DeleteQueue("dlq", h.now)
	wantCode(t, err, CodeInUse)
	if !h.c.QueueExists("dlq") {
		t.Fatal("refused delete removed the queue")
	}
	if _, err := h.c.DeleteQueue("q", h.now); err != nil {
		t.Fatal(err)
	}
	if _, err := h.c.DeleteQueue("dlq", h.now); err != nil {
		t.Fatalf("dead-letter queue no longer used but delete failed: %v", err)
	}
	h.check()
}

func TestRingGrowsAndWraps(t *testing.T) {
	var r ring
	var want []*message
	ms := make([]*message, 40)
	for i := range ms {
		ms[i] = &message{seq: uint64(i)}
	}
	// Mix front and back pushes and pops so the head wraps around.
	for i := 0; i < 20; i++ {
		r.pushBack(ms[i])
		want = append(want, ms[i])
		if i%3 == 0 {
			if got := r.popFront(); got != want[0] {
				t.Fatalf("pop %d: got seq %d want %d", i, got.seq, want[0].seq)
			}
			want = want[1:]
		}
	}
	for i := 20; i < 40; i++ {
		r.pushFront(ms[i])
		want = append([]*message{ms[i]}, want...)
	}
	if r.len() != len(want) {
		t.Fatalf("len %d want %d", r.len(), len(want))
	}
	for i := range want {
		if r.at(i) != want[i] {
			t.Fatalf("at(%d) = seq %d want %d", i, r.at(i).seq, want[i].seq)
		}
	}
	var got []*message
	r.clearAll(func(m *message) { got = append(got, m) })
	if !slices.Equal(got, want) || r.len() != 0 || r.popFront() != nil {
		t.Fatal("clearAll did not empty the ring in order")
	}
}
