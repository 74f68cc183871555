package broker

import (
	"strconv"
	"testing"
)

// TestHotPathAllocations pins the allocation budget of the steady state
// (publish → deliver → ack through one queue and one consumer): exactly one
// allocation per message, the buffer that holds its id, routing key and
// body. Allocation counts do not depend on timing, so this is an ordinary
// test; speed lives in the benchmarks.
func TestHotPathAllocations(t *testing.T) {
	for _, tc := range []struct {
		dedup  bool
		prefix *Prefix
	}{{true, nil}, {false, nil}, {true, NewPrefix(make([]byte, 1200))}} {
		dedup := tc.dedup
		cfg := Config{}
		if !dedup {
			cfg.DedupWindow = -1
		}
		c := New(cfg)
		c.Open(1, t0)
		if _, err := c.Consume(1, ConsumeOptions{Queue: DefaultQueue, Prefetch: 1}, t0); err != nil {
			t.Fatal(err)
		}
		// A shared prefix costs nothing per message: messages point to it.
		p := &Publish{Exchange: []byte(DefaultExchange), RoutingKey: []byte(DefaultRoutingKey), Prefix: tc.prefix, Body: make([]byte, 512)}
		id := make([]byte, 0, 32)
		n := 0
		step := func() {
			n++
			id = strconv.AppendUint(id[:0], uint64(n), 10)
			p.MessageID = id
			c.Publish(1, p, t0)
			effs := c.Drain()
			if len(effs) != 2 {
				t.Fatalf("effects %s", describe(effs))
			}
			if err := c.Ack(1, effs[1].Delivery.Tag, false, t0); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 10_000; i++ { // warm up: slices and the id set reach their size
			step()
		}
		if got := testing.AllocsPerRun(1000, step); got > 1 {
			t.Errorf("dedup=%v prefix=%v: %.2f allocations per message, want at most 1", dedup, tc.prefix != nil, got)
		}
	}
}
