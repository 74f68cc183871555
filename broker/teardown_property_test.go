package broker

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestTeardownConservesMessages drives a core with a tiny teardown budget
// (so that almost every close is cut into steps) through random traffic:
// publishes, consumers with small prefetch, acks and nacks, fetches,
// closes and reconnects under the same IDs, ticks, outbound limits
// crossing both ways, queue deletions and redeclarations. After every
// command the invariants hold and every queue accounts for each copy it
// was given exactly once: published + dead-lettered in = acked +
// dead-lettered out + discarded + ready + unacked. Once the driver ticks
// until NextDeadline stops saying "now", no teardown, parked consumer or
// dispatch is left over: every ready message with a consumer that has room
// has gone out.
func TestTeardownConservesMessages(t *testing.T) {
	chunked := 0 // closes that left work for later calls
	rapid.Check(t, func(t *rapid.T) {
		budget := rapid.IntRange(1, 6).Draw(t, "budget")
		c := New(Config{NoDefaults: true, TeardownStep: budget})
		now := t0
		must := func(err error) {
			if err != nil {
				t.Fatal(err)
			}
		}
		must(c.DeclareExchange("x", Direct))
		declare := func(q string) {
			opts := QueueOptions{DeadLetterQueue: "dlq", DeliveryLimit: 3}
			if q == "dlq" {
				opts = QueueOptions{}
			}
			must(c.DeclareQueue(q, opts))
			must(c.Bind("x", q, q))
		}
		for _, q := range []string{"dlq", "a", "b"} {
			declare(q)
		}
		conns := []ConnID{1, 2, 3, 4}
		for _, id := range conns {
			c.Open(id, now)
		}
		tags := map[ConnID][]uint64{}
		seq := uint64(0)
		check := func(what string) {
			if err := c.CheckInvariants(); err != nil {
				t.Fatalf("after %s: %v", what, err)
			}
			for _, e := range c.Drain() {
				if e.Kind == EffectDeliver {
					tags[e.Conn] = append(tags[e.Conn], e.Delivery.Tag)
				}
			}
			for _, qs := range c.Stats().Queues {
				in := qs.Published + qs.DeadLetterIn
				out := qs.Acked + qs.DeadLettered + qs.Discarded + uint64(qs.Ready) + uint64(qs.Unacked)
				if in != out {
					t.Fatalf("after %s: queue %s took %d copies and accounts for %d: %+v", what, qs.Name, in, out, qs)
				}
			}
		}
		queue := rapid.SampledFrom([]string{"a", "b", "dlq"})
		conn := rapid.SampledFrom(conns)
		steps := rapid.IntRange(20, 150).Draw(t, "steps")
		for i := 0; i < steps; i++ {
			op := rapid.IntRange(0, 11).Draw(t, "op")
			id := conn.Draw(t, "conn")
			var what string
			switch op {
			case 0, 1, 2:
				q := queue.Draw(t, "queue")
				seq++
				c.Publish(id, &Publish{Seq: seq, Exchange: []byte("x"), RoutingKey: []byte(q),
					MessageID: fmt.Appendf(nil, "m%d", rapid.IntRange(0, 40).Draw(t, "id")), Body: []byte("b")}, now)
				what = "publish"
			case 3:
				q := queue.Draw(t, "queue")
				_, _ = c.Consume(id, ConsumeOptions{Queue: q, Prefetch: rapid.IntRange(1, 3).Draw(t, "prefetch")}, now)
				what = "consume"
			case 4, 5:
				if ts := tags[id]; len(ts) > 0 {
					tag := rapid.SampledFrom(ts).Draw(t, "tag")
					switch rapid.IntRange(0, 2).Draw(t, "settle") {
					case 0:
						_ = c.Ack(id, tag, rapid.Bool().Draw(t, "multiple"), now)
					case 1:
						_ = c.Nack(id, tag, false, true, now)
					default:
						_ = c.Reject(id, tag, now)
					}
				}
				what = "settle"
			case 6:
				_, _, _ = c.Fetch(id, queue.Draw(t, "queue"), now)
				what = "fetch"
			case 7:
				c.Close(id, now)
				if c.Closing() > 0 {
					chunked++
				}
				tags[id] = nil
				c.Open(id, now) // the same ID again, at once
				what = "close and reopen"
			case 8:
				now = now.Add(time.Millisecond)
				c.Tick(now)
				what = "tick"
			case 9:
				c.SetOutboundLimit(id, int64(rapid.IntRange(0, 300).Draw(t, "limit")))
				c.Writable(id, int64(rapid.IntRange(0, 300).Draw(t, "pending")), now)
				what = "outbound"
			case 10:
				q := rapid.SampledFrom([]string{"a", "b"}).Draw(t, "deleted")
				if _, err := c.DeleteQueue(q, now); err == nil {
					declare(q)
				}
				what = "delete and redeclare"
			case 11:
				c.Writable(id, 0, now)
				what = "writable"
			}
			check(what)
		}
		// Let every pending step run, as a driver does.
		for i := 0; ; i++ {
			at, ok := c.NextDeadline()
			if !ok || at.After(now) {
				break
			}
			if i > 100_000 {
				t.Fatal("NextDeadline keeps saying now")
			}
			c.Tick(now)
			check("catch-up tick")
		}
		if c.Closing() != 0 || len(c.behind) != 0 || len(c.unparking) != 0 {
			t.Fatalf("left over: %d teardowns, %d queues behind, %d unpark jobs", c.Closing(), len(c.behind), len(c.unparking))
		}
		for _, q := range c.queues {
			for cs := q.consumers.head; cs != nil; cs = cs.next {
				if q.ready.len() > 0 && cs.hasRoom() {
					t.Fatalf("queue %s: %d ready while consumer %s has room after catching up", q.name, q.ready.len(), cs.tag)
				}
			}
		}
	})
	if chunked == 0 {
		t.Fatal("no close was cut into steps: the property did not exercise chunked teardown")
	}
	t.Logf("%d closes cut into steps", chunked)
}
