package clients

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/server"
)

// TestConnBlockedByTheMemoryAlarm: a publisher that fills a broker past its
// memory budget sees Conn.Blocked, its publishes wait instead of failing,
// and once a consumer on another connection drains the queue the
// connection is unblocked and every publish is confirmed and delivered
// once.
func TestConnBlockedByTheMemoryAlarm(t *testing.T) {
	b := startBroker(t, func(c *server.Config) { c.MemoryHighWatermark = 4 << 20 })
	ctx := testCtx(t)
	c := dial(t, b.addr)
	p := newPublisher(t, c, PublisherOptions{})
	body := make([]byte, 256<<10)
	const n = 40 // 10 MiB: more than twice the budget
	confirms := make([]*Confirm, 0, n)
	for i := range n {
		f, err := p.PublishTo(ctx, broker.DefaultExchange, broker.DefaultRoutingKey, fmt.Sprintf("m-%d", i), body)
		if err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
		confirms = append(confirms, f)
	}
	eventually(t, "the connection to be blocked", c.Blocked)

	var mu sync.Mutex
	got := map[string]int{}
	cons := dial(t, b.addr)
	_, err := cons.Consume(ctx, ConsumerOptions{Queue: broker.DefaultQueue, Prefetch: 2,
		Handler: func(_ context.Context, d *Delivery) error {
			mu.Lock()
			got[d.MessageID]++
			mu.Unlock()
			return nil
		}})
	if err != nil {
		t.Fatalf("consume: %v", err)
	}
	for _, f := range confirms {
		if err := f.Wait(ctx); err != nil || f.Err() != nil {
			t.Fatalf("%s: %v / %v", f.ID(), err, f.Err())
		}
	}
	eventually(t, "every message delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == n
	})
	eventually(t, "the connection to be unblocked", func() bool { return !c.Blocked() })
	mu.Lock()
	defer mu.Unlock()
	for id, k := range got {
		if k != 1 {
			t.Errorf("%s delivered %d times", id, k)
		}
	}
}
