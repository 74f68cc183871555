package broker

import (
	"fmt"
	"testing"
)

// fullConsumers builds a queue "q" behind direct exchange "x" with n
// consumers on connection 1 (prefetch 1), each holding one delivery, so
// that every one of them is full; delivery tag i+1 went to consumer i.
func fullConsumers(t testing.TB, n int) (*Core, []string) {
	t.Helper()
	c := New(Config{NoDefaults: true, MaxConsumers: n + 10})
	if err := c.DeclareExchange("x", Direct); err != nil {
		t.Fatal(err)
	}
	if err := c.DeclareQueue("q", QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Bind("x", "q", "q"); err != nil {
		t.Fatal(err)
	}
	c.Open(1, t0)
	c.Open(2, t0)
	tags := manyConsumers(t, c, 1, n, "q")
	for i := 0; i < n; i++ {
		publishOne(t, c, 2, uint64(i+1))
	}
	effs := c.Drain()
	got := 0
	for _, e := range effs {
		if e.Kind == EffectDeliver {
			if e.Delivery.ConsumerTag != tags[got] || e.Delivery.Tag != uint64(got+1) {
				t.Fatalf("delivery %d went to %s tag %d", got, e.Delivery.ConsumerTag, e.Delivery.Tag)
			}
			got++
		}
	}
	if got != n {
		t.Fatalf("%d deliveries, want %d", got, n)
	}
	return c, tags
}

func publishOne(t testing.TB, c *Core, conn ConnID, seq uint64) {
	t.Helper()
	p := &Publish{Seq: seq, Exchange: []byte("x"), RoutingKey: []byte("q"),
		MessageID: fmt.Appendf(nil, "m%d", seq), Body: []byte("b")}
	c.Publish(conn, p, t0)
}

// TestDispatchSkipsFullConsumersInLogTime: with 100,000 consumers of one
// queue all at their prefetch, a publish (nobody has room: the message
// stays ready) and an ack (that consumer gets it) each cost O(log n)
// counted steps, where the scan this replaced visited every full consumer
// (100,000 for the publish, up to 100,000 for the ack). The round-robin
// order is checked on the way: the message goes to the consumer that acked.
func TestDispatchSkipsFullConsumersInLogTime(t *testing.T) {
	const n = 100_000
	c, tags := fullConsumers(t, n)
	bound := 8 * avlDepth(n) // a few tree paths per command
	seq := uint64(n)
	var most uint64
	defer func() { t.Logf("most steps in one publish or ack: %d (bound %d)", most, bound) }()
	for round, i := range []int{n / 2, 0, n - 1, 1, n/2 + 1, 77_777} {
		seq++
		before := c.roomWork
		publishOne(t, c, 2, seq)
		most = max(most, c.roomWork-before)
		if got := c.roomWork - before; got > bound {
			t.Fatalf("round %d: publish with every consumer full did %d steps, bound %d", round, got, bound)
		}
		for _, e := range c.Drain() {
			if e.Kind == EffectDeliver {
				t.Fatalf("round %d: delivered to %s, a full consumer", round, e.Delivery.ConsumerTag)
			}
		}
		tag := uint64(i + 1) // consumer i's delivery
		before = c.roomWork
		if err := c.Ack(1, tag, false, t0); err != nil {
			t.Fatalf("round %d: ack %d: %v", round, tag, err)
		}
		most = max(most, c.roomWork-before)
		if got := c.roomWork - before; got > bound {
			t.Fatalf("round %d: ack with %d full consumers did %d steps, bound %d", round, n, got, bound)
		}
		var to []string
		for _, e := range c.Drain() {
			if e.Kind == EffectDeliver {
				to = append(to, e.Delivery.ConsumerTag)
			}
		}
		if len(to) != 1 || to[0] != tags[i] {
			t.Fatalf("round %d: ack freed consumer %s, deliveries went to %v", round, tags[i], to)
		}
	}
	if err := c.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

// TestDispatchSkipsFullConnectionsInLogTime: the same with consumers
// held back by their connection's outbound bound rather than their
// prefetch. Connection 3 holds 100,000 consumers with a large prefetch
// and is at its outbound bound; connection 4's single consumer (prefetch
// 1) is full too. Publish and ack cost O(log n) steps and the message
// goes to connection 4's consumer, never to the full connection.
func TestDispatchSkipsFullConnectionsInLogTime(t *testing.T) {
	const n = 100_000
	c := New(Config{NoDefaults: true, MaxConsumers: n + 10})
	for _, err := range []error{c.DeclareExchange("x", Direct), c.DeclareQueue("q", QueueOptions{}), c.Bind("x", "q", "q")} {
		if err != nil {
			t.Fatal(err)
		}
	}
	c.Open(2, t0)
	c.Open(3, t0)
	c.Open(4, t0)
	c.SetOutboundLimit(3, 1)
	for i := 0; i < n; i++ {
		if _, err := c.Consume(3, ConsumeOptions{Queue: "q", Prefetch: 1000}, t0); err != nil {
			t.Fatal(err)
		}
	}
	publishOne(t, c, 2, 1) // fills connection 3's outbound bound
	if _, err := c.Consume(4, ConsumeOptions{Queue: "q", Tag: "c4", Prefetch: 1}, t0); err != nil {
		t.Fatal(err)
	}
	bound := 8 * avlDepth(n)
	// Connection 3 crossed its bound at no cost; its consumers are parked
	// when dispatch meets them, at most one budget per call (outbound.go),
	// the calls that follow continuing from Tick. Once they are parked,
	// publish and ack cost O(log n).
	perCall := uint64(DefaultTeardownStep+1)*2*avlDepth(n) + bound
	calls := 0
	before := c.roomWork
	publishOne(t, c, 2, 2) // for c4, once the round robin gets past connection 3
	if got := c.roomWork - before; got > perCall {
		t.Fatalf("publish did %d steps, bound %d", got, perCall)
	}
	for len(c.behind) > 0 {
		before = c.roomWork
		c.Tick(t0)
		calls++
		if got := c.roomWork - before; got > perCall {
			t.Fatalf("tick did %d steps, bound %d", got, perCall)
		}
	}
	if effs := c.Drain(); len(effs) != 4 || effs[3].Conn != 4 || effs[3].Delivery.MessageID != "m2" {
		t.Fatalf("after the parking: %+v, want m1 to connection 3 and m2 to 4", effs)
	}
	for round := uint64(1); round <= 5; round++ {
		before := c.roomWork
		publishOne(t, c, 2, 2+round)
		if got := c.roomWork - before; got > bound {
			t.Fatalf("round %d: publish did %d steps, bound %d", round, got, bound)
		}
		before = c.roomWork
		if err := c.Ack(4, round, false, t0); err != nil {
			t.Fatal(err)
		}
		if got := c.roomWork - before; got > bound {
			t.Fatalf("round %d: ack did %d steps, bound %d", round, got, bound)
		}
		effs := c.Drain()
		var to []string
		for _, e := range effs {
			if e.Kind == EffectDeliver {
				to = append(to, fmt.Sprint(e.Conn, "/", e.Delivery.ConsumerTag))
			}
		}
		if len(to) != 1 || to[0] != "4/c4" {
			t.Fatalf("round %d: deliveries %v, want one to 4/c4", round, to)
		}
	}
	if err := c.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
	if calls < n/DefaultTeardownStep {
		t.Fatalf("%d consumers parked within %d calls: more than a budget per call", n, calls)
	}
	// Once connection 3 drains, its consumers have room again (an unpark
	// job, one budget per call) and take the next message in round-robin
	// order.
	before = c.roomWork
	c.Writable(3, 0, t0)
	if got := c.roomWork - before; got > perCall {
		t.Fatalf("writable did %d steps, bound %d", got, perCall)
	}
	c.Drain()
	publishOne(t, c, 2, 100)
	effs := c.Drain()
	if len(effs) < 2 || effs[1].Kind != EffectDeliver || effs[1].Conn != 3 {
		t.Fatalf("after Writable: %+v", effs)
	}
	if err := c.CheckInvariants(); err != nil {
		t.Fatal(err)
	}
}

// TestSortQueuesByName checks both sorts (insertion up to 8, then the
// library's) against a reference, on lists in every shape the seed gives.
func TestSortQueuesByName(t *testing.T) {
	for n := 0; n <= 40; n++ {
		for seed := 0; seed < 5; seed++ {
			qs := make([]*queue, n)
			for i := range qs {
				// A permutation of 0..n-1 (7919 is prime, > 40).
				qs[i] = &queue{name: fmt.Sprintf("q%03d", (i*7919+seed*13)%n)}
			}
			sortQueuesByName(qs)
			for i, q := range qs {
				if want := fmt.Sprintf("q%03d", i); q.name != want {
					t.Fatalf("n=%d seed=%d: position %d holds %s, want %s", n, seed, i, q.name, want)
				}
			}
		}
	}
}
