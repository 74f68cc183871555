package broker

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"
)

// seedQueue publishes ids into queue q (bound on exchange x) from conn 1.
func seedQueue(h *harness, q string, ids ...string) {
	h.t.Helper()
	for _, id := range ids {
		h.mustConfirm(1, "x", q, id, "b")
	}
}

func TestNackRequeueGoesToHead(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q")
	h.open(1)
	seedQueue(h, "q", "m1", "m2", "m3")
	d1, _ := h.fetch(1, "q")
	d2, _ := h.fetch(1, "q")
	h.nack(1, d2.Tag, true, true) // multiple: m1 and m2
	if got := h.readyIDs("q"); !equalStrings(got, []string{"m1", "m2", "m3"}) {
		t.Fatalf("ready after nack %v, want original order at the head", got)
	}
	wantCode(t, h.c.Ack(1, d1.Tag, false, h.now), CodeUnknownDeliveryTag)
	d, _ := h.fetch(1, "q")
	if d.MessageID != "m1" || !d.Redelivered || d.DeliveryCount != 2 || d.Tag != 3 {
		t.Fatalf("redelivery %+v, want m1 redelivered, count 2, new tag 3", d)
	}
	s := h.stats("q")
	if s.Delivered != 3 || s.Redelivered != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestNackRequeueSingleKeepsOthersOutstanding(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q")
	h.open(1)
	seedQueue(h, "q", "m1", "m2")
	h.fetch(1, "q")
	d2, _ := h.fetch(1, "q")
	h.nack(1, d2.Tag, false, true)
	if got := h.readyIDs("q"); !equalStrings(got, []string{"m2"}) {
		t.Fatalf("ready %v", got)
	}
	if s := h.stats("q"); s.Unacked != 1 {
		t.Fatalf("unacked %d, want m1 still out", s.Unacked)
	}
}

func TestCloseRequeuesInOriginalOrderToOtherConsumer(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q")
	h.open(1)
	h.open(2)
	h.consume(1, ConsumeOptions{Queue: "q", Tag: "a", Prefetch: 3})
	seedQueue(h, "q", "m1", "m2", "m3", "m4", "m5")
	// m2 done, which makes room for m4: m1, m3, m4 outstanding, m5 ready.
	if ds := h.ack(1, 2, false); !equalStrings(ids(ds), []string{"m4"}) {
		t.Fatalf("after ack got %v, want [m4]", ids(ds))
	}
	if got := h.close(1); len(got) != 0 {
		t.Fatalf("deliveries on close without consumers %v", ids(got))
	}
	if got := h.readyIDs("q"); !equalStrings(got, []string{"m1", "m3", "m4", "m5"}) {
		t.Fatalf("ready after close %v", got)
	}
	_, ds := h.consume(2, ConsumeOptions{Queue: "q", Prefetch: 10})
	if !equalStrings(ids(ds), []string{"m1", "m3", "m4", "m5"}) {
		t.Fatalf("second consumer got %v", ids(ds))
	}
	for i, d := range ds {
		wantRe := i < 3
		wantCount := uint32(1)
		if wantRe {
			wantCount = 2
		}
		if d.Redelivered != wantRe || d.DeliveryCount != wantCount {
			t.Fatalf("delivery %d: %+v, want redelivered=%v count=%d", i, d, wantRe, wantCount)
		}
	}
	if h.c.Stats().Connections != 1 {
		t.Fatal("closed connection still counted")
	}
}

func TestCloseRequeueDeliversToRemainingConsumer(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q")
	h.open(1)
	h.open(2)
	h.consume(1, ConsumeOptions{Queue: "q", Tag: "a", Prefetch: 1})
	h.consume(2, ConsumeOptions{Queue: "q", Tag: "b", Prefetch: 1})
	seedQueue(h, "q", "m1", "m2", "m3")
	ds := h.close(1)
	// b holds m2; m1 comes back at the head and waits for room on b.
	if len(ds) != 0 {
		t.Fatalf("got %v", ids(ds))
	}
	ds = h.ack(2, 1, false)
	if len(ds) != 1 || ds[0].MessageID != "m1" || !ds[0].Redelivered {
		t.Fatalf("after ack b got %+v, want redelivered m1", ds)
	}
}

func TestAckTimeout(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		queue     QueueOptions
		consumer  time.Duration
		want      time.Duration // 0: never times out
		useFetch  bool
		multiples bool
	}{
		{"queue timeout", Config{}, QueueOptions{AckTimeout: 10 * time.Second}, 0, 10 * time.Second, false, false},
		{"consumer override", Config{}, QueueOptions{AckTimeout: 10 * time.Second}, 3 * time.Second, 3 * time.Second, false, false},
		{"core default", Config{DefaultAckTimeout: 7 * time.Second}, QueueOptions{}, 0, 7 * time.Second, false, false},
		{"queue beats default", Config{DefaultAckTimeout: 7 * time.Second}, QueueOptions{AckTimeout: time.Second}, 0, time.Second, false, false},
		{"fetch uses queue timeout", Config{}, QueueOptions{AckTimeout: 4 * time.Second}, 0, 4 * time.Second, true, false},
		{"no timeout", Config{}, QueueOptions{}, 0, 0, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.cfg)
			h.exchange("x", Direct)
			h.queue("q", tc.queue)
			h.bind("x", "q", "q")
			h.open(1)
			var d Delivery
			if tc.useFetch {
				seedQueue(h, "q", "m1")
				d, _ = h.fetch(1, "q")
			} else {
				h.consume(1, ConsumeOptions{Queue: "q", Tag: "c", AckTimeout: tc.consumer, Prefetch: 1})
				d = h.mustConfirm(1, "x", "q", "m1", "b")[0]
			}
			at, ok := h.c.NextDeadline()
			dedupAt := t0.Add(DefaultDedupWindow)
			if tc.want == 0 {
				if !ok || !at.Equal(dedupAt) {
					t.Fatalf("NextDeadline %v %v, want only the dedup expiry", at, ok)
				}
				h.advance(time.Hour)
				h.tick()
				if s := h.stats("q"); s.Unacked != 1 {
					t.Fatalf("delivery without timeout was requeued: %+v", s)
				}
				return
			}
			if !ok || !at.Equal(t0.Add(tc.want)) {
				t.Fatalf("NextDeadline = %v, %v; want %v", at, ok, t0.Add(tc.want))
			}
			h.advance(tc.want - time.Nanosecond)
			if ds := h.tick(); len(ds) != 0 || h.stats("q").Unacked != 1 {
				t.Fatal("requeued before the deadline")
			}
			h.advance(time.Nanosecond)
			ds := h.tick()
			if tc.useFetch {
				if len(ds) != 0 || !equalStrings(h.readyIDs("q"), []string{"m1"}) {
					t.Fatalf("fetched message not requeued: %v", h.readyIDs("q"))
				}
			} else if len(ds) != 1 || ds[0].MessageID != "m1" || !ds[0].Redelivered || ds[0].DeliveryCount != 2 || ds[0].Tag == d.Tag {
				// The consumer had room again at once: redelivered to it.
				t.Fatalf("after the deadline got %+v, want m1 redelivered with a new tag", ds)
			}
			// The old tag is stale: an ack for it is refused.
			wantCode(t, h.c.Ack(1, d.Tag, false, h.now), CodeUnknownDeliveryTag)
		})
	}
}

func TestAckTimeoutOrderAcrossDurations(t *testing.T) {
	h := newHarness(t, Config{DedupWindow: -1})
	h.exchange("x", Direct)
	h.queue("q", QueueOptions{})
	h.bind("x", "q", "q")
	h.open(1)
	h.open(2)
	h.open(3)
	seedQueue(h, "q", "m1", "m2", "m3")
	h.consume(1, ConsumeOptions{Queue: "q", Prefetch: 1, AckTimeout: 5 * time.Second})
	h.consume(2, ConsumeOptions{Queue: "q", Prefetch: 1, AckTimeout: 2 * time.Second})
	h.consume(3, ConsumeOptions{Queue: "q", Prefetch: 1, AckTimeout: 9 * time.Second})
	for _, step := range []struct {
		at   time.Duration
		want []string // ready ids after the tick, with the consumers cancelled
	}{
		// Each expiry puts its message back at the head of the queue.
		{2 * time.Second, []string{"m2"}},
		{5 * time.Second, []string{"m1", "m2"}},
		{9 * time.Second, []string{"m3", "m1", "m2"}},
	} {
		if at, ok := h.c.NextDeadline(); !ok || !at.Equal(t0.Add(step.at)) {
			t.Fatalf("NextDeadline %v %v, want %v", at, ok, t0.Add(step.at))
		}
		h.now = t0.Add(step.at)
		// Cancel all consumers first so requeued messages stay ready.
		for conn := ConnID(1); conn <= 3; conn++ {
			tags := slices.Sorted(maps.Keys(h.c.conns[conn].consumers))
			for _, tag := range tags {
				h.c.Cancel(conn, tag, h.now)
			}
		}
		h.tick()
		if got := h.readyIDs("q"); !equalStrings(got, step.want) {
			t.Fatalf("at %v ready %v, want %v", step.at, got, step.want)
		}
	}
	if _, ok := h.c.NextDeadline(); ok {
		t.Fatal("deadline left after all timeouts fired")
	}
}

func TestAckedDeliveriesLeaveTheDeadlineQueue(t *testing.T) {
	h := newHarness(t, Config{DedupWindow: -1})
	h.exchange("x", Direct)
	h.queue("q", QueueOptions{AckTimeout: time.Minute})
	h.bind("x", "q", "q")
	h.open(1)
	h.consume(1, ConsumeOptions{Queue: "q", Prefetch: 1})
	for i := 0; i < 1000; i++ {
		d := h.mustConfirm(1, "x", "q", fmt.Sprint(i), "")[0]
		h.ack(1, d.Tag, false)
	}
	if _, ok := h.c.NextDeadline(); ok {
		t.Fatal("acked deliveries still produce a deadline")
	}
	for _, dq := range h.c.deadlines {
		if len(dq.refs)-dq.head > 64 {
			t.Fatalf("deadline FIFO holds %d stale entries", len(dq.refs)-dq.head)
		}
	}
	cn := h.c.conns[1]
	if len(cn.outstanding)-cn.outHead != 0 {
		t.Fatalf("connection keeps %d stale outstanding entries", len(cn.outstanding)-cn.outHead)
	}
}

// TestDeadlineListsStayBounded: a driver that never calls NextDeadline or
// Tick must not make the deadline FIFO grow with every acked delivery, and
// timeout values no longer in use must not be remembered.
func TestDeadlineListsStayBounded(t *testing.T) {
	h := newHarness(t, Config{DedupWindow: -1})
	h.exchange("x", Direct)
	h.queue("q", QueueOptions{})
	h.bind("x", "q", "q")
	h.open(1)
	for i := 0; i < 200; i++ {
		// A new consumer with a new timeout value each time.
		tag, _ := h.consume(1, ConsumeOptions{Queue: "q", AckTimeout: time.Duration(i+1) * time.Second})
		for j := 0; j < 20; j++ {
			d := h.mustConfirm(1, "x", "q", fmt.Sprint(i, "-", j), "")[0]
			h.ack(1, d.Tag, false)
		}
		if err := h.c.Cancel(1, tag, h.now); err != nil {
			t.Fatal(err)
		}
	}
	for _, dq := range h.c.deadlines {
		if len(dq.refs)-dq.head > 64+1 {
			t.Fatalf("deadline FIFO for %v holds %d entries with nothing outstanding", dq.timeout, len(dq.refs)-dq.head)
		}
	}
	if _, ok := h.c.NextDeadline(); ok {
		t.Fatal("deadline pending with nothing outstanding")
	}
	if len(h.c.deadlines) != 0 {
		t.Fatalf("%d deadline lists kept for timeout values no longer in use", len(h.c.deadlines))
	}
}

func TestClockNeverGoesBack(t *testing.T) {
	h := newHarness(t, Config{DedupWindow: -1})
	h.exchange("x", Direct)
	h.queue("q", QueueOptions{AckTimeout: 10 * time.Second})
	h.bind("x", "q", "q")
	h.open(1)
	seedQueue(h, "q", "m1")
	h.fetch(1, "q")
	h.now = t0.Add(-time.Hour) // a driver clock stepping back
	seedQueue(h, "q", "m2")
	h.fetch(1, "q")
	// The second deadline is computed from the core's clock (t0), not from
	// the earlier time, so it is not before the first.
	at, _ := h.c.NextDeadline()
	if !at.Equal(t0.Add(10 * time.Second)) {
		t.Fatalf("NextDeadline %v", at)
	}
	h.now = t0.Add(10 * time.Second)
	h.tick()
	if got := h.readyIDs("q"); !equalStrings(got, []string{"m1", "m2"}) {
		t.Fatalf("ready %v", got)
	}
}

func TestDeliveryLimit(t *testing.T) {
	for _, how := range []string{"nack", "close", "timeout"} {
		t.Run(how, func(t *testing.T) {
			h := newHarness(t, Config{})
			h.exchange("x", Direct)
			h.queue("dlq", QueueOptions{})
			h.queue("q", QueueOptions{DeliveryLimit: 2, DeadLetterQueue: "dlq", AckTimeout: time.Second})
			h.bind("x", "q", "q")
			h.open(1)
			seedQueue(h, "q", "m1")
			conn := ConnID(1)
			for attempt := 1; attempt <= 2; attempt++ {
				d, ok := h.fetch(conn, "q")
				if !ok || d.DeliveryCount != uint32(attempt) {
					t.Fatalf("attempt %d: %+v %v", attempt, d, ok)
				}
				switch how {
				case "nack":
					h.nack(conn, d.Tag, false, true)
				case "close":
					h.close(conn)
					conn++
					h.open(conn)
				case "timeout":
					h.advance(time.Second)
					h.tick()
				}
			}
			if got := h.readyIDs("q"); len(got) != 0 {
				t.Fatalf("q still holds %v after the delivery limit", got)
			}
			if got := h.readyIDs("dlq"); !equalStrings(got, []string{"m1"}) {
				t.Fatalf("dlq holds %v, want [m1]", got)
			}
			if s := h.stats("q"); s.DeadLettered != 1 || s.Discarded != 0 {
				t.Fatalf("q stats %+v", s)
			}
			d, _ := h.fetch(conn, "dlq")
			if d.DeliveryCount != 1 || d.Redelivered {
				t.Fatalf("dead-lettered message starts over in its new queue: %+v", d)
			}
		})
	}
}
