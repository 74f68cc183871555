package broker

import (
	"fmt"
	"math/bits"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// teardownScene builds a connection (2) that holds consumers and unacked
// deliveries of two queues, in a tag order that differs from the enqueue
// order (nacked messages come back and are fetched again), with some past
// queue a's delivery limit (they must be dead-lettered at close). Conn 1
// publishes. Nobody else consumes, so nothing is dispatched during the
// teardown and its end state is comparable with a one-shot close.
func teardownScene(t *testing.T, budget int) *harness {
	t.Helper()
	h := newHarness(t, Config{TeardownStep: budget})
	h.exchange("x", Direct)
	h.queue("dlq", QueueOptions{})
	h.queue("a", QueueOptions{DeadLetterQueue: "dlq", DeliveryLimit: 3})
	h.queue("b", QueueOptions{})
	h.bind("x", "a", "a")
	h.bind("x", "b", "b")
	h.open(1)
	h.open(2)
	for i := range 40 {
		h.mustConfirm(1, "x", "a", fmt.Sprintf("a%02d", i), "body-a")
		h.mustConfirm(1, "x", "b", fmt.Sprintf("b%02d", i), "body-b")
	}
	var tags []uint64
	for i := range 30 {
		q := "a"
		if i%3 == 0 {
			q = "b"
		}
		d, ok := h.fetch(2, q)
		if !ok {
			t.Fatalf("fetch %d from %s: empty", i, q)
		}
		tags = append(tags, d.Tag)
	}
	// Nack every fourth back to the head; fetch them again (later tags,
	// early seqs), and nack-and-fetch a few of a twice more so that they
	// reach the delivery limit.
	for i := 0; i < len(tags); i += 4 {
		h.nack(2, tags[i], false, true)
	}
	for range 3 {
		for _, q := range []string{"a", "b"} {
			if _, ok := h.fetch(2, q); !ok {
				t.Fatalf("refetch from %s: empty", q)
			}
		}
	}
	for range 2 {
		d, _ := h.fetch(2, "a")
		h.nack(2, d.Tag, false, true)
	}
	h.fetch(2, "a") // its third delivery: past the limit at close
	for i := range 25 {
		q := []string{"a", "b"}[i%2]
		h.consume(2, ConsumeOptions{Queue: q, Tag: fmt.Sprintf("c%d", i), Prefetch: 1})
	}
	return h
}

// closeInSteps closes conn and ticks until its teardown is done, checking
// the invariants and the per-call bound after every call. It returns the
// number of calls.
func closeInSteps(t *testing.T, h *harness, conn ConnID, bound uint64, between func(call int)) int {
	t.Helper()
	calls := 0
	for call := func() { h.c.Close(conn, h.now) }; ; call = func() { h.c.Tick(h.now) } {
		w := h.c.work
		call()
		calls++
		h.check()
		if got := h.c.work - w; got > bound {
			t.Fatalf("call %d did %d teardown steps, above %d", calls, got, bound)
		}
		if h.c.Closing() == 0 {
			return calls
		}
		if calls > 100_000 {
			t.Fatal("teardown does not end")
		}
		if between != nil {
			between(calls)
		}
	}
}

// siftBound is a call's bound: the budget plus one sift path.
func siftBound(budget, n int) uint64 {
	return uint64(budget + bits.Len(uint(n)) + 1)
}

// TestChunkedTeardownKeepsOrder: torn down three steps at a time, the
// connection leaves exactly the state a one-shot close leaves: every queue
// holds its returned messages at its head in enqueue order, redelivered,
// and the dead-letter queue got the ones past the limit in order.
func TestChunkedTeardownKeepsOrder(t *testing.T) {
	one := teardownScene(t, 1<<30)
	oneCalls := closeInSteps(t, one, 2, 1<<30, nil)
	if oneCalls != 1 {
		t.Fatalf("an unbounded budget took %d calls", oneCalls)
	}
	const budget = 3
	ch := teardownScene(t, budget)
	calls := closeInSteps(t, ch, 2, siftBound(budget, 64), nil)
	if calls < 20 {
		t.Fatalf("a budget of %d steps tore the connection down in %d calls: it was not cut", budget, calls)
	}
	got, want := ch.c.Held(), one.c.Held()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("held after a chunked close:\n%+v\nafter a one-shot close:\n%+v", got, want)
	}
	if gs, ws := ch.c.Stats(), one.c.Stats(); !reflect.DeepEqual(gs, ws) {
		t.Fatalf("stats after a chunked close %+v, one-shot %+v", gs, ws)
	}
	// The one-shot order itself: returned a's first, ascending, then the
	// never-delivered rest.
	ids := ch.readyIDs("a")
	if len(ids) == 0 || !slices.IsSorted(ids) {
		t.Fatalf("queue a after close: %v, want every message back in enqueue order", ids)
	}
	if dl := ch.readyIDs("dlq"); len(dl) != 1 {
		t.Fatalf("dead-letter queue holds %v, want the one message past the limit", dl)
	}
	if st := ch.stats("b"); st.Ready != 40 || st.Unacked != 0 {
		t.Fatalf("queue b: %+v, want all 40 ready", st)
	}
}

// TestChunkedTeardownRedeliversAtOnce: with another consumer waiting, each
// chunk's messages go to it in the call that requeued them; every message
// arrives exactly once, and the first ones before the teardown ends.
func TestChunkedTeardownRedeliversAtOnce(t *testing.T) {
	const budget = 8
	h := teardownScene(t, budget)
	h.open(3)
	seen := map[string]int{}
	for _, q := range []string{"a", "b"} {
		_, ds := h.consume(3, ConsumeOptions{Queue: q, Prefetch: 1000})
		for _, d := range ds { // the never-delivered ones
			seen[d.Queue+"/"+d.MessageID]++
		}
	}
	early := 0
	calls := closeInSteps(t, h, 2, siftBound(budget, 64), func(int) {
		for _, d := range h.drainDeliveries() {
			seen[d.Queue+"/"+d.MessageID]++
			early++
		}
	})
	for _, d := range h.drainDeliveries() {
		seen[d.Queue+"/"+d.MessageID]++
	}
	if early == 0 || calls < 3 {
		t.Fatalf("%d deliveries before the teardown ended (%d calls): requeued messages waited", early, calls)
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("%s delivered %d times", k, n)
		}
	}
	// 80 published, one dead-lettered (not consumed here), none lost.
	if len(seen) != 79 {
		t.Fatalf("%d distinct messages delivered to the survivor, want 79", len(seen))
	}
}

// TestTeardownInterleaved runs other commands between the teardown's
// calls: the closed connection's frames are refused, its ID can be opened
// again, another connection acks and publishes (a duplicate id is still a
// duplicate), and queue a is deleted halfway. Nothing is lost twice or
// delivered twice; the invariants hold after every call.
func TestTeardownInterleaved(t *testing.T) {
	const budget = 4
	h := teardownScene(t, budget)
	h.open(3)
	h.consume(3, ConsumeOptions{Queue: "b", Prefetch: 5})
	var got []Delivery
	deleted := false
	closeInSteps(t, h, 2, siftBound(budget, 64), func(call int) {
		got = append(got, h.drainDeliveries()...)
		switch {
		case call == 1:
			wantCode(t, h.c.Ack(2, 1, false, h.now), CodeProtocol)
			if _, err := h.c.Consume(2, ConsumeOptions{Queue: "b"}, h.now); err == nil {
				t.Fatal("a closed connection consumed")
			}
			h.open(2) // the same client again, under the same ID
			h.consume(2, ConsumeOptions{Queue: "b", Tag: "again", Prefetch: 2})
		case call%3 == 0 && len(got) > 0:
			d := got[0]
			got = got[1:]
			if d.Queue == "b" {
				h.ack(3, d.Tag, false)
			}
		case call == 10:
			effs := h.publish(1, "x", "b", "b00", "dup")
			if effs[0].Kind != EffectConfirm || !effs[0].Duplicate {
				t.Fatalf("republishing b00 mid-teardown: %s, want a duplicate confirm", describe(effs[:1]))
			}
			h.mustConfirm(1, "x", "b", "fresh", "f")
		case call == 30 && !deleted:
			if _, err := h.c.DeleteQueue("a", h.now); err != nil {
				t.Fatal(err)
			}
			deleted = true
			h.c.Drain()
		}
	})
	if !deleted {
		t.Fatal("the teardown ended before queue a was deleted: make the scene larger")
	}
	if h.c.QueueExists("a") {
		t.Fatal("queue a is back")
	}
	// Every b message is accounted for: ready, unacked to 2 or 3, or acked.
	st := h.stats("b")
	if n := st.Ready + st.Unacked + int(st.Acked); n != 41 {
		t.Fatalf("queue b accounts for %d messages (%+v), want 41", n, st)
	}
}

// TestClosingConsumersSkippedWithinBudget: a queue whose round robin runs
// through 1,000 consumers of a closing connection before a live one.
// A publish mid-teardown removes at most one budget of them and leaves the
// queue behind; the next Tick delivers the message to the live consumer.
func TestClosingConsumersSkippedWithinBudget(t *testing.T) {
	const budget = 16
	h := newHarness(t, Config{TeardownStep: budget})
	h.topology("q", "other")
	h.open(1)
	h.open(2)
	h.open(3)
	for i := range 1000 {
		h.c.Consume(2, ConsumeOptions{Queue: "q", Tag: fmt.Sprint("c", i)}, h.now)
	}
	h.consume(3, ConsumeOptions{Queue: "q"})
	h.c.Close(2, h.now)
	h.check()
	if h.c.Closing() != 1 {
		t.Fatal("the teardown of 1,000 consumers finished in one call")
	}
	before := h.c.Stats().Consumers
	ds := h.mustConfirm(1, "x", "q", "m1", "b")
	if removed := before - h.c.Stats().Consumers; removed > budget {
		t.Fatalf("one publish removed %d closing consumers, above the budget %d", removed, budget)
	}
	if len(ds) != 0 {
		t.Fatalf("delivered %v within the publish although the skip budget ran out first", ids(ds))
	}
	if at, ok := h.c.NextDeadline(); !ok || at.After(h.now) {
		t.Fatalf("NextDeadline %v %v: the queue left behind would wait", at, ok)
	}
	var got []Delivery
	for i := 0; h.c.Closing() > 0 || len(got) == 0; i++ {
		got = append(got, h.tick()...)
		if i > 1000 {
			t.Fatal("no progress")
		}
	}
	if len(got) != 1 || got[0].MessageID != "m1" || got[0].ConsumerTag == "" {
		t.Fatalf("got %v, want m1 delivered to the live consumer", got)
	}
	if n := h.c.Stats().Consumers; n != 1 {
		t.Fatalf("%d consumers left, want 1", n)
	}
}

// TestTeardownNoRequeueMutationLoses: the mutation still loses the closed
// connection's deliveries through the chunked path, so checkers that
// prove they notice it keep proving something.
func TestTeardownNoRequeueMutationLoses(t *testing.T) {
	h := newHarness(t, Config{TeardownStep: 2, Mutations: Mutations{NoRequeueOnClose: true}})
	h.topology("q")
	h.open(1)
	seedQueue(h, "q", "m1", "m2", "m3")
	for range 3 {
		h.fetch(1, "q")
	}
	closeInSteps(t, h, 1, siftBound(2, 4), nil)
	if st := h.stats("q"); st.Ready+st.Unacked != 0 {
		t.Fatalf("queue holds %+v: the mutation did not drop the deliveries", st)
	}
}

// TestCheckInvariantsSeesClosingConnections: the invariant checks count a
// closing connection's deliveries and consumers, and notice when its
// bookkeeping is off.
func TestCheckInvariantsSeesClosingConnections(t *testing.T) {
	for _, tc := range []struct {
		name    string
		corrupt func(c *Core)
		want    string
	}{
		{"live count", func(c *Core) { c.closing[0].cn.live++ }, "closing connection 2: live count"},
		{"still open", func(c *Core) { c.conns[2] = c.closing[0].cn }, "connection 2"},
		{"consumer links", func(c *Core) { c.closing[0].cn.chead = nil }, "consumers linked"},
		{"behind mark", func(c *Core) { c.behind = append(c.behind, c.queues["a"]) }, "behind"},
		{"lost delivery", func(c *Core) { c.closing[0].src = c.closing[0].src[1:] }, "live count"},
		{"parked unlisted", func(c *Core) { c.closing[0].cn.chead.parked = true }, "parked but not listed"},
		{"unparking mark", func(c *Core) { c.unparking = append(c.unparking, c.conns[1]) }, "unparking without its mark"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := teardownScene(t, 3)
			h.c.Close(2, h.now)
			if h.c.Closing() != 1 {
				t.Fatal("the teardown ended in one call")
			}
			h.check()
			tc.corrupt(h.c)
			if err := h.c.CheckInvariants(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error about %q", err, tc.want)
			}
		})
	}
}

// TestOutboundCrossingBounded: a connection with 5,000 consumers of one
// queue crosses its outbound bound both ways. No call does more than one
// step budget of parking or unparking (each an O(log n) room-set change),
// and the messages still flow: to another connection while it is full,
// to its own consumers once it is writable again.
func TestOutboundCrossingBounded(t *testing.T) {
	const n, budget = 5000, 64
	h := newHarness(t, Config{TeardownStep: budget, MaxConsumers: 2 * n})
	h.topology("q")
	h.open(1)
	h.open(2)
	for i := range n {
		if _, err := h.c.Consume(2, ConsumeOptions{Queue: "q", Tag: fmt.Sprint("c", i), Prefetch: 1}, h.now); err != nil {
			t.Fatal(err)
		}
	}
	h.c.SetOutboundLimit(2, 500)
	depth := avlDepth(n)
	bounded := func(what string, f func()) []Delivery {
		t.Helper()
		w, rw := h.c.work, h.c.roomWork
		f()
		h.check()
		if dw, drw := h.c.work-w, h.c.roomWork-rw; dw > budget || drw > (budget+1)*2*depth+2*depth {
			t.Fatalf("%s: %d steps, %d room steps: above the budget %d", what, dw, drw, budget)
		}
		return h.drainDeliveries()
	}
	// Fill it: 64+ bytes per delivery, so a handful of messages.
	for i := 0; !h.c.conns[2].outFull(); i++ {
		if ds := h.mustConfirm(1, "x", "q", fmt.Sprint("fill", i), "body"); len(ds) != 1 || i > 100 {
			t.Fatalf("filling: %v", ds)
		}
	}
	// The next message meets full consumers; another connection's
	// consumer joins the round robin at its end.
	h.open(3)
	h.consume(3, ConsumeOptions{Queue: "q", Prefetch: 1})
	var ds []Delivery
	ds = append(ds, bounded("publish to a full connection's consumers", func() {
		h.publish(1, "x", "q", "m1", "body")
	})...)
	for i := 0; len(ds) == 0; i++ {
		ds = append(ds, bounded("tick", func() { h.c.Tick(h.now) })...)
		if i > n {
			t.Fatal("m1 never delivered")
		}
	}
	if len(ds) != 1 || ds[0].MessageID != "m1" || h.c.closing != nil {
		t.Fatalf("got %v, want m1 for connection 3", ds)
	}
	parked := len(h.c.conns[2].parked)
	if parked == 0 {
		t.Fatal("no consumer was parked")
	}
	// Writable again: the parked ones come back a budget at a time.
	ds = bounded("writable", func() { h.c.Writable(2, 0, h.now) })
	calls := 1
	for h.c.unparking != nil {
		bounded("tick", func() { h.c.Tick(h.now) })
		calls++
	}
	if want := parked / budget; calls < want {
		t.Fatalf("%d parked consumers unparked in %d calls", parked, calls)
	}
	if len(h.c.conns[2].parked) != 0 {
		t.Fatal("consumers still parked after the job")
	}
	for i := range 3 {
		ds = h.mustConfirm(1, "x", "q", fmt.Sprint("after", i), "body")
		if len(ds) != 1 || ds[0].ConsumerTag == "" {
			t.Fatalf("after writable: %v", ds)
		}
	}
}

// TestTeardownCountsEveryHeapNode: entries already in max-heap order make
// heapify move nothing; each node visited must still cost a step, or one
// call could visit half the heap for free.
func TestTeardownCountsEveryHeapNode(t *testing.T) {
	const n, budget = 600, 8
	c := New(Config{NoDefaults: true})
	td := &teardown{cn: &connection{closing: true}, phase: tdHeapify}
	for i := n - 1; i >= 0; i-- { // descending keys: a valid max-heap
		td.heap = append(td.heap, teardownRef{qname: "q", seq: uint64(i)})
	}
	td.sift = n/2 - 1
	start, w := td.sift, c.work
	if left := c.teardownSteps(td, budget); left != 0 {
		t.Fatalf("%d of the budget left with %d nodes to heapify", left, td.sift+1)
	}
	if visited := start - td.sift; visited != budget || c.work-w != budget {
		t.Fatalf("one budget of %d steps visited %d heap nodes and counted %d steps", budget, visited, c.work-w)
	}
}
