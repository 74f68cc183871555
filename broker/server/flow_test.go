package server

import (
	"fmt"
	"testing"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// pendingOutput returns the largest unwritten output of any connection.
func pendingOutput(srv *Server) int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	most := 0
	for _, c := range srv.conns {
		if c.sess != nil {
			most = max(most, len(c.sess.Output()))
		}
	}
	return most
}

// TestFlowControlBoundsOutputOfAPeerThatDoesNotRead: a client publishes
// refused messages (one Nack each) without reading. The server must stop
// reading from it once its unwritten output passes the bound, and still
// resolve every publish once the client reads.
func TestFlowControlBoundsOutputOfAPeerThatDoesNotRead(t *testing.T) {
	cfg := testConfig()
	cfg.OutboundBufferBytes = 64 << 10
	srv, addr := startServer(t, cfg)
	c := dialNative(t, addr, wire.Hello{})
	other := dialNative(t, addr, wire.Hello{})

	const n = 200_000
	writeErr := make(chan error, 1)
	go func() {
		var buf []byte
		for seq := uint64(1); seq <= n; seq++ {
			buf = wire.AppendPublish(buf, &wire.Publish{Seq: seq, Exchange: []byte("no-such-exchange"), MessageID: []byte("m")})
			if len(buf) > 32<<10 || seq == n {
				if _, err := c.nc.Write(buf); err != nil {
					writeErr <- err
					return
				}
				buf = buf[:0]
			}
		}
		writeErr <- nil
	}()

	most := 0
	eventually(t, "the connection's output to pass the bound", func() bool {
		most = max(most, pendingOutput(srv))
		return most > cfg.OutboundBufferBytes
	})
	// While that client does not read, another connection is served.
	other.send(publishFrame(1, "default_exchange", "default_key", "x", nil))
	if _, ok := other.next().(*wire.Confirm); !ok {
		t.Fatal("another connection stalled")
	}
	most = max(most, pendingOutput(srv))

	// Now read: every publish is resolved by exactly one Nack.
	nacks := 0
	for nacks < n {
		most = max(most, pendingOutput(srv))
		if f, ok := c.next().(*wire.Nack); !ok || f.Seq != uint64(nacks+1) {
			t.Fatalf("frame %d: %#v, want Nack for seq %d", nacks, f, nacks+1)
		}
		nacks++
	}
	if err := <-writeErr; err != nil {
		t.Fatalf("client write: %v", err)
	}
	// One read batch (64 KiB of ~30-byte publishes, each answered by a
	// ~100-byte Nack) can add ~200 KiB beyond the bound before the reader
	// checks again; without flow control the output would reach megabytes.
	if limit := cfg.OutboundBufferBytes + 1<<20; most > limit {
		t.Fatalf("unwritten output reached %d bytes, want at most %d (bound + one read batch)", most, limit)
	}
	t.Logf("peak unwritten output %d bytes (bound %d)", most, cfg.OutboundBufferBytes)
}

// TestDeliveriesStopAtTheOutboundBufferWhateverThePrefetch: a consumer with
// a huge prefetch that never reads holds at most its outbound buffer (plus
// what the socket took); the queue's other consumer gets the rest, and
// nothing is lost.
func TestDeliveriesStopAtTheOutboundBufferWhateverThePrefetch(t *testing.T) {
	cfg := testConfig()
	cfg.OutboundBufferBytes = 256 << 10
	srv, addr := startServer(t, cfg)
	slow := dialNative(t, addr, wire.Hello{})
	slow.send(wire.AppendConsume(nil, &wire.Consume{ReqID: 1, Queue: "default_queue", Prefetch: 1 << 30}))
	if f := slow.next(); f.FrameType() != wire.FrameConsumeOK {
		t.Fatalf("consume answered %#v", f)
	}
	// From here on the slow consumer reads nothing.
	pub := dialNative(t, addr, wire.Hello{})
	const n, size = 4000, 8 << 10 // 32 MiB offered
	body := make([]byte, size)
	go func() {
		var buf []byte
		for seq := uint64(1); seq <= n; seq++ {
			buf = wire.AppendPublish(buf, &wire.Publish{Seq: seq, Exchange: []byte("default_exchange"), RoutingKey: []byte("default_key"),
				MessageID: fmt.Appendf(nil, "m-%d", seq), Body: body})
			if len(buf) > 256<<10 || seq == n {
				if _, err := pub.nc.Write(buf); err != nil {
					return
				}
				buf = buf[:0]
			}
		}
	}()
	eventually(t, "every publish to reach the queue", func() bool {
		q := queueOf(srv, "default_queue")
		return q.Ready+q.Unacked+int(q.Acked) == n
	})
	bound := cfg.OutboundBufferBytes + size + 1024
	if got := pendingOutput(srv); got > bound {
		t.Fatalf("unwritten output %d bytes for a consumer that does not read, bound %d", got, bound)
	}
	if q := queueOf(srv, "default_queue"); q.Ready < n/2 {
		t.Fatalf("only %d of %d messages were held back from the consumer that does not read (unacked %d)", q.Ready, n, q.Unacked)
	}
	// A second consumer drains the rest: work goes to whoever can take it.
	fast := dialNative(t, addr, wire.Hello{})
	fast.send(wire.AppendConsume(nil, &wire.Consume{ReqID: 1, Queue: "default_queue", Prefetch: 64}))
	got := 0
	for got < n/2 {
		switch f := fast.next().(type) {
		case *wire.Deliver:
			got++
			fast.send(wire.AppendAck(nil, &wire.Ack{DeliveryTag: f.DeliveryTag}))
		case *wire.ConsumeOK:
		default:
			t.Fatalf("fast consumer got %#v", f)
		}
	}
}
