package server

import (
	"fmt"
	"sync"
	"testing"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// TestConcurrentPublishersAndConsumers runs several native publishers and
// competing consumers at once (under -race this exercises the mutex, the
// effect routing and the writers): every message is confirmed, delivered
// exactly once (no faults, so no redelivery) and acked.
func TestConcurrentPublishersAndConsumers(t *testing.T) {
	srv, addr := startServer(t, testConfig())
	const publishers, perPublisher, consumers = 4, 300, 3
	total := publishers * perPublisher

	var mu sync.Mutex
	seen := map[string]int{}
	errs := make(chan error, publishers+consumers)
	var consumersReady, wg sync.WaitGroup
	stop := make(chan struct{})
	consumersReady.Add(consumers)
	for i := 0; i < consumers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := dialBench(addr)
			if err != nil {
				errs <- err
				consumersReady.Done()
				return
			}
			defer c.nc.Close()
			err = c.request(wire.AppendConsume(nil, &wire.Consume{ReqID: 1, Queue: broker.DefaultQueue, Prefetch: 50}), 1)
			consumersReady.Done()
			if err != nil {
				errs <- err
				return
			}
			go func() { <-stop; c.nc.Close() }()
			var d wire.Deliver
			for {
				typ, p, err := c.r.ReadFrame()
				if err != nil {
					return // closed by stop
				}
				if typ != wire.FrameDeliver {
					continue
				}
				if err := wire.DecodeDeliver(p, &d); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				seen[string(d.MessageID)]++
				mu.Unlock()
				if _, err := c.nc.Write(wire.AppendAck(nil, &wire.Ack{DeliveryTag: d.DeliveryTag})); err != nil {
					return
				}
			}
		}()
	}
	consumersReady.Wait()

	var pubs sync.WaitGroup
	for i := 0; i < publishers; i++ {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			c, err := dialBench(addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.nc.Close()
			p := &publisher{c: c, q: broker.DefaultRoutingKey, prefix: fmt.Sprintf("p%d-", i), body: []byte("x")}
			for p.sent < perPublisher {
				if err := p.publishBatch(perPublisher); err != nil {
					errs <- err
					return
				}
				if err := p.awaitConfirms(64); err != nil {
					errs <- err
					return
				}
			}
			if err := p.awaitConfirms(0); err != nil {
				errs <- err
			}
		}()
	}
	pubs.Wait()
	eventually(t, "every message acked", func() bool {
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
		return queueOf(srv, broker.DefaultQueue).Acked == uint64(total)
	})
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != total {
		t.Fatalf("%d distinct messages delivered, want %d", len(seen), total)
	}
	for id, n := range seen {
		if n != 1 {
			t.Fatalf("message %s delivered %d times without any fault", id, n)
		}
	}
	if q := queueOf(srv, broker.DefaultQueue); q.Redelivered != 0 || q.Ready+q.Unacked != 0 {
		t.Fatalf("queue after the run: %+v", q)
	}
}
