package broker

import (
	"fmt"
	"testing"
)

// The tests in this file prove the cost of teardown and listing
// operations with the core's work counter (Core.work): each counts what it
// visits, and the counts must not grow with state the command does not
// own. They never time anything.

// manyConsumers registers n consumers on conn, alternating between the
// given queues, and returns their tags in registration order.
func manyConsumers(t testing.TB, c *Core, conn ConnID, n int, queues ...string) []string {
	t.Helper()
	tags := make([]string, n)
	for i := range tags {
		tag, err := c.Consume(conn, ConsumeOptions{Queue: queues[i%len(queues)], Prefetch: 1}, t0)
		if err != nil {
			t.Fatalf("consumer %d: %v", i, err)
		}
		tags[i] = tag
	}
	return tags
}

// TestManyConsumersOnOneConnection registers 100,000 consumers on one
// connection, cancels a third of them from the middle outwards (the worst
// order for a list scanned from either end) and closes the connection.
// With the linear scans this replaced it was 10^10 steps, far beyond any
// test timeout; indexed, it is a fraction of a second.
func TestManyConsumersOnOneConnection(t *testing.T) {
	const n = 100_000
	c := New(Config{NoDefaults: true, MaxConsumers: 2 * n})
	for _, q := range []string{"a", "b"} {
		if err := c.DeclareQueue(q, QueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c.Open(1, t0)
	c.Open(2, t0)
	tags := manyConsumers(t, c, 1, n, "a", "b")
	manyConsumers(t, c, 2, 10, "a") // another connection's consumers survive
	if _, err := c.Consume(1, ConsumeOptions{Queue: "a", Tag: tags[n/2]}, t0); err == nil {
		t.Fatal("a duplicate tag was accepted")
	}
	for i := 0; i < n/3; i++ {
		idx := n/2 + i/2
		if i%2 == 1 {
			idx = n/2 - 1 - i/2
		}
		if err := c.Cancel(1, tags[idx], t0); err != nil {
			t.Fatalf("cancel %s: %v", tags[idx], err)
		}
	}
	if err := c.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	left := n - n/3
	before, roomBefore := c.work, c.roomWork
	// Close and the Ticks after it remove the consumers, at most one step
	// budget per call.
	calls := 0
	for call := func() { c.Close(1, t0) }; ; call = func() { c.Tick(t0) } {
		w := c.work
		call()
		calls++
		if got := c.work - w; got > DefaultTeardownStep {
			t.Fatalf("call %d did %d teardown steps, above the budget %d", calls, got, DefaultTeardownStep)
		}
		if c.Closing() == 0 {
			break
		}
		if at, ok := c.NextDeadline(); !ok || !at.Equal(t0) {
			t.Fatalf("a teardown is pending but NextDeadline is %v, %v: the driver would not come back", at, ok)
		}
	}
	// One step per consumer, plus its removal from its queue's room set:
	// an AVL path, at most 1.45 log2(n) nodes deep, twice (the node and
	// its successor).
	if got := c.work - before; got != uint64(left) {
		t.Fatalf("closing a connection with %d consumers did %d steps, want %d", left, got, left)
	}
	if got, bound := c.roomWork-roomBefore, uint64(left)*2*avlDepth(n); got > bound {
		t.Fatalf("closing a connection with %d consumers did %d room steps, want at most %d", left, got, bound)
	}
	if want := (left + DefaultTeardownStep - 1) / DefaultTeardownStep; calls < want {
		t.Fatalf("teardown done in %d calls, fewer than %d: a call did more than its budget", calls, want)
	}
	if got := c.Stats().Consumers; got != 10 {
		t.Fatalf("%d consumers left, want the other connection's 10", got)
	}
	if err := c.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

// TestRoundRobinSurvivesRemovals pins the round-robin order across
// removals of the consumer under the cursor, before it, after it, and of
// the tail: the same order a slice plus an index gives.
func TestRoundRobinSurvivesRemovals(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q")
	h.open(1)
	for _, tag := range []string{"A", "B", "C", "D", "E"} {
		h.consume(1, ConsumeOptions{Queue: "q", Tag: tag, Prefetch: 100})
	}
	deliverTo := func(n int) []string {
		t.Helper()
		var got []string
		for i := 0; i < n; i++ {
			h.seq++
			for _, d := range h.mustConfirm(1, "x", "q", fmt.Sprint("m", h.seq), "b") {
				got = append(got, d.ConsumerTag)
			}
		}
		h.check()
		return got
	}
	cancel := func(tag string) {
		t.Helper()
		if err := h.c.Cancel(1, tag, h.now); err != nil {
			t.Fatal(err)
		}
		h.check()
	}
	steps := []struct {
		cancel string
		n      int
		want   string
	}{
		{"", 2, "AB"},   // cursor on C
		{"C", 2, "DE"},  // removing the cursor moves it to the successor
		{"A", 2, "BD"},  // removing before the cursor (cursor on B) keeps it
		{"E", 3, "BDB"}, // cursor on E (after D) wraps to the head when E leaves
		{"", 1, "D"},
		{"B", 2, "DD"}, // cursor on B: the only survivor follows
	}
	for i, s := range steps {
		if s.cancel != "" {
			cancel(s.cancel)
		}
		got := ""
		for _, tag := range deliverTo(s.n) {
			got += tag
		}
		if got != s.want {
			t.Fatalf("step %d (cancel %q): deliveries went to %s, want %s", i, s.cancel, got, s.want)
		}
	}
	h.consume(1, ConsumeOptions{Queue: "q", Tag: "F", Prefetch: 100})
	if got := deliverTo(3); fmt.Sprint(got) != "[D F D]" {
		t.Fatalf("after F joined: %v", got)
	}
}

// TestDeleteQueueVisitsOnlyItsCopies deletes a queue with unacked copies
// while 1,000 other connections hold deliveries of another queue: the
// deletion visits the queue's own copies only.
func TestDeleteQueueVisitsOnlyItsCopies(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q", "other")
	const others = 1000
	for conn := ConnID(1); conn <= others+1; conn++ {
		h.open(conn)
	}
	for conn := ConnID(2); conn <= others+1; conn++ {
		h.consume(conn, ConsumeOptions{Queue: "other", Prefetch: 2})
	}
	for i := 0; i < 2*others; i++ { // without a check after each
		h.c.Publish(1, &Publish{Seq: uint64(i + 1), Exchange: []byte("x"), RoutingKey: []byte("other"), MessageID: fmt.Append(nil, "o", i), Body: []byte("b")}, h.now)
	}
	h.c.Drain()
	if got := h.c.Stats().Queues[0]; got.Name != "other" || got.Unacked != 2*others {
		t.Fatalf("other queue: %+v", got)
	}
	h.consume(1, ConsumeOptions{Queue: "q", Prefetch: 7})
	for i := 0; i < 10; i++ {
		h.mustConfirm(1, "x", "q", fmt.Sprint("m", i), "b")
	}
	if _, ok, _ := h.c.Fetch(1, "q", h.now); !ok {
		// 7 pushed, 1 fetched: 8 unacked, 2 ready
		t.Fatal("nothing to fetch")
	}
	h.check()
	before := h.c.work
	n, err := h.c.DeleteQueue("q", h.now)
	if err != nil || n != 10 {
		t.Fatalf("DeleteQueue = %d, %v; want 10 discarded", n, err)
	}
	// One step per unacked copy and one for the consumer: none per
	// connection.
	if got := h.c.work - before; got != 8+1 {
		t.Fatalf("DeleteQueue did %d steps, want 9", got)
	}
	h.check()
	if err := h.c.Ack(1, 1, false, h.now); err == nil {
		t.Fatal("an ack for a deleted queue's delivery was accepted")
	}
}

// TestStatsPageCost lists 10,000 queues page by page: each page visits
// its own entries plus one (to know whether more follow), the summary
// visits none, and the pages together give exactly Stats' list.
func TestStatsPageCost(t *testing.T) {
	c := New(Config{NoDefaults: true})
	const n, limit = 10_000, 300
	for i := n - 1; i >= 0; i-- { // descending: the index must sort
		if err := c.DeclareQueue(fmt.Sprintf("q%05d", i), QueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.DeclareExchange("x", Direct); err != nil {
		t.Fatal(err)
	}
	before := c.work
	if s := c.StatsSummary(); s.QueueCount != n || s.ExchangeCount != 1 || s.Queues != nil || c.work != before {
		t.Fatalf("summary: %d queues, %d exchanges, %d listed, %d steps", s.QueueCount, s.ExchangeCount, len(s.Queues), c.work-before)
	}
	var all []QueueStats
	after := ""
	for pages := 0; ; pages++ {
		if pages > n/limit+1 {
			t.Fatal("paging does not end")
		}
		before := c.work
		s := c.StatsPage(after, "", limit)
		if steps := c.work - before; steps > limit+1+2 {
			t.Fatalf("a page of %d visited %d entries", limit, steps)
		}
		all = append(all, s.Queues...)
		if s.NextQueue == "" {
			break
		}
		if !s.Truncated || s.NextQueue != s.Queues[len(s.Queues)-1].Name {
			t.Fatalf("page after %q: truncated %v, next %q", after, s.Truncated, s.NextQueue)
		}
		after = s.NextQueue
	}
	want := c.Stats().Queues
	if len(all) != len(want) {
		t.Fatalf("pages gave %d queues, want %d", len(all), len(want))
	}
	for i := range all {
		if all[i] != want[i] {
			t.Fatalf("entry %d: %+v, want %+v", i, all[i], want[i])
		}
	}
	if _, err := c.DeleteQueue("q05000", t0); err != nil {
		t.Fatal(err)
	}
	if s := c.StatsPage("q04999", "", 1); s.Queues[0].Name != "q05001" {
		t.Fatalf("after a delete the page starts at %s", s.Queues[0].Name)
	}
}

// avlDepth bounds the depth of an AVL tree of n nodes (1.45 log2(n+2)).
func avlDepth(n int) uint64 {
	d := 0
	for x := n + 2; x > 1; x >>= 1 {
		d++
	}
	return uint64(d*145/100 + 1)
}
