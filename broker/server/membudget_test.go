package server

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// TestMemoryBudgetBlocksPublishersWhileConsumersDrain floods a broker with
// a 16 MiB budget with 64 MiB of 512 KiB publishes on one connection. The
// publisher must get Blocked; the broker must never hold more than the
// budget plus one read batch; a consumer on another connection, started
// only once the publisher is blocked, keeps receiving while the publisher
// is blocked; Unblocked follows the drain; every confirmed message is
// delivered exactly once and every publish is confirmed in the end.
func TestMemoryBudgetBlocksPublishersWhileConsumersDrain(t *testing.T) {
	const (
		budget = 16 << 20
		size   = 512 << 10
		total  = 128 // 64 MiB
		// One read batch: the read buffer grows to hold one whole frame
		// (max frame size + the default read buffer), counted at the
		// core's estimate (bytes + a quarter), plus connection buffers.
		batch = 4 << 20
	)
	cfg := testConfig()
	cfg.MemoryHighWatermark = budget
	srv, addr := startServer(t, cfg)
	body := make([]byte, size)

	pub := dialNative(t, addr, wire.Hello{ClientName: "flood"})
	go func() {
		// The writes stall while the server does not read: that is the
		// blocking under test. The test's cleanup closes the socket.
		for i := range total {
			b := publishFrame(uint64(i+1), broker.DefaultExchange, broker.DefaultRoutingKey, fmt.Sprintf("m-%03d", i), body)
			if _, err := pub.nc.Write(b); err != nil {
				return
			}
		}
	}()

	var blocked atomic.Bool
	var (
		mu                  sync.Mutex
		confirmed           = map[uint64]bool{}
		blocks, unblocks    int
		deliveredWhileBlock int
	)
	gotBlocked := make(chan struct{})
	pubDone := make(chan error, 1)
	go func() {
		for {
			f, err := readFrame(pub)
			if err != nil {
				pubDone <- err
				return
			}
			mu.Lock()
			switch f := f.(type) {
			case *wire.Confirm:
				for s := f.First; s <= f.Last; s++ {
					confirmed[s] = true
				}
			case *wire.Blocked:
				if blocked.Load() {
					mu.Unlock()
					pubDone <- fmt.Errorf("Blocked twice without Unblocked")
					return
				}
				blocked.Store(true)
				if blocks == 0 {
					close(gotBlocked)
				}
				blocks++
			case *wire.Unblocked:
				if !blocked.Load() {
					mu.Unlock()
					pubDone <- fmt.Errorf("Unblocked without Blocked")
					return
				}
				blocked.Store(false)
				unblocks++
			case *wire.Nack:
				mu.Unlock()
				pubDone <- fmt.Errorf("publish %d refused: %s", f.Seq, f.Reason)
				return
			default:
				mu.Unlock()
				pubDone <- fmt.Errorf("publisher got %#v", f)
				return
			}
			n := len(confirmed)
			mu.Unlock()
			if n == total {
				pubDone <- nil
				return
			}
		}
	}()

	select {
	case <-gotBlocked:
	case err := <-pubDone:
		t.Fatalf("publisher ended before it was blocked: %v", err)
	}
	if on, _ := srv.MemoryAlarm(); !on {
		t.Fatal("Blocked arrived but the server reports no alarm")
	}

	cons := dialNative(t, addr, wire.Hello{ClientName: "drain"})
	cons.send(wire.AppendConsume(nil, &wire.Consume{ReqID: 1, Queue: broker.DefaultQueue, Prefetch: 2}))
	if f, ok := nextNotAlarm(cons).(*wire.ConsumeOK); !ok {
		t.Fatalf("consume answered %#v", f)
	}
	delivered := map[string]int{}
	for len(delivered) < total {
		f := cons.next()
		switch f.(type) {
		case *wire.Blocked, *wire.Unblocked:
			continue // every native connection hears of the alarm
		}
		d, ok := f.(*wire.Deliver)
		if !ok {
			t.Fatalf("consumer got %#v", f)
		}
		if len(d.Body) != size {
			t.Fatalf("delivery %s has %d bytes", d.MessageID, len(d.Body))
		}
		delivered[string(d.MessageID)]++
		if blocked.Load() {
			mu.Lock()
			deliveredWhileBlock++
			mu.Unlock()
		}
		cons.send(wire.AppendAck(nil, &wire.Ack{DeliveryTag: d.DeliveryTag}))
	}
	if err := <-pubDone; err != nil {
		t.Fatalf("publisher: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	for i := range total {
		id := fmt.Sprintf("m-%03d", i)
		if !confirmed[uint64(i+1)] {
			t.Errorf("publish %s never confirmed", id)
		}
		if delivered[id] != 1 {
			t.Errorf("message %s delivered %d times, want exactly once", id, delivered[id])
		}
	}
	if deliveredWhileBlock == 0 {
		t.Error("the consumer received nothing while the publisher was blocked")
	}
	if unblocks == 0 {
		t.Error("no Unblocked after the consumer drained the broker")
	}
	_, peak := srv.MemoryAlarm()
	t.Logf("budget %d MiB: peak usage %.1f MiB, %d Blocked / %d Unblocked, %d deliveries while blocked",
		budget>>20, float64(peak)/(1<<20), blocks, unblocks, deliveredWhileBlock)
	if peak > budget+batch {
		t.Errorf("peak usage %d bytes above the budget %d plus one batch %d", peak, budget, batch)
	}
	eventually(t, "the alarm to clear and usage to fall", func() bool {
		on, _ := srv.MemoryAlarm()
		return !on && srv.MemoryUsage() < budget/2
	})
}

// readFrame reads one non-heartbeat frame without failing the test (for
// reader goroutines). Each read gets its own deadline: the one dialNative
// left behind would otherwise bound the whole reader, and on a loaded
// machine a long flood outlives it. A minute without any frame (not even a
// heartbeat) is a stall.
func readFrame(c *nativeClient) (wire.Frame, error) {
	for {
		c.nc.SetReadDeadline(time.Now().Add(6 * waitTimeout))
		typ, payload, err := c.r.ReadFrame()
		if err != nil {
			return nil, err
		}
		if typ == wire.FrameHeartbeat {
			continue
		}
		f, err := wire.DecodeFrame(typ, payload)
		if err != nil {
			return nil, err
		}
		return cloneFrame(f), nil
	}
}

// TestMemoryBudgetRefusesTextPublishes: during the alarm a text publish is
// answered with the alarm's error; a native consumer on another connection
// keeps being served and clears the alarm.
func TestMemoryBudgetRefusesTextPublishes(t *testing.T) {
	cfg := testConfig()
	cfg.MemoryHighWatermark = 4 << 20
	srv, addr := startServer(t, cfg)
	pub := dialNative(t, addr, wire.Hello{ClientName: "fill"})
	body := make([]byte, 512<<10)
	for i := 0; ; i++ {
		if on, _ := srv.MemoryAlarm(); on {
			break
		}
		pub.send(publishFrame(pub.seq(), broker.DefaultExchange, broker.DefaultRoutingKey, fmt.Sprintf("f-%d", i), body))
		for {
			f := pub.next()
			if _, ok := f.(*wire.Blocked); ok {
				break
			}
			if _, ok := f.(*wire.Confirm); ok {
				break
			}
			t.Fatalf("publisher got %#v", f)
		}
		if i > 64 {
			t.Fatal("64 publishes of 512 KiB did not raise the alarm of a 4 MiB budget")
		}
	}
	txt := dialText(t, addr)
	if got := txt.call("publish default_exchange default_key " + envelope("t1")); !strings.HasPrefix(got, "Error: broker memory alarm") {
		t.Fatalf("text publish during the alarm answered %q", got)
	}
	held := queueOf(srv, broker.DefaultQueue).Ready
	cons := dialNative(t, addr, wire.Hello{ClientName: "drain"})
	cons.send(wire.AppendConsume(nil, &wire.Consume{ReqID: 1, Queue: broker.DefaultQueue, Prefetch: 1}))
	if _, ok := nextNotAlarm(cons).(*wire.ConsumeOK); !ok {
		t.Fatal("consume refused")
	}
	for got := 0; got < held; {
		d, ok := nextNotAlarm(cons).(*wire.Deliver)
		if !ok {
			t.Fatal("expected a delivery")
		}
		got++
		cons.send(wire.AppendAck(nil, &wire.Ack{DeliveryTag: d.DeliveryTag}))
	}
	eventually(t, "the alarm to clear", func() bool { on, _ := srv.MemoryAlarm(); return !on })
	if got := txt.call("publish default_exchange default_key " + envelope("t2")); got != "ACK t2" {
		t.Fatalf("text publish after the alarm answered %q", got)
	}
}

// nextNotAlarm is next, skipping Blocked and Unblocked, which every native
// connection hears (one opened during the alarm right after HelloOK).
func nextNotAlarm(c *nativeClient) wire.Frame {
	c.t.Helper()
	for {
		switch f := c.next().(type) {
		case *wire.Blocked, *wire.Unblocked:
		default:
			return f
		}
	}
}
