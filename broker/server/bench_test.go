package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"testing"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/internal/testutil"
)

// Loopback benchmarks of the native protocol through the whole server:
// codec, session, core, mutex, goroutines and TCP. Bodies are 512 bytes.
// Results: docs/performance.md, "Server over loopback".

const (
	benchBody   = 512
	benchBatch  = 256  // publishes per write
	benchWindow = 8192 // unconfirmed publishes allowed in flight
	benchReset  = 1 << 16
)

// benchConn is a raw native connection for benchmarks (no testing.T calls,
// so it can run in any goroutine).
type benchConn struct {
	nc net.Conn
	r  *wire.Reader
}

func dialBench(addr string) (*benchConn, error) { return dialBenchTLS(addr, nil) }

// dialBenchTLS dials with TLS when cfg is set.
func dialBenchTLS(addr string, cfg *tls.Config) (*benchConn, error) {
	var nc net.Conn
	var err error
	if cfg != nil {
		nc, err = tls.Dial("tcp", addr, cfg)
	} else {
		nc, err = net.Dial("tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	c := &benchConn{nc: nc, r: wire.NewReader(nc, 4<<20)}
	if _, err := nc.Write(wire.AppendHello(wire.AppendPreamble(nil), &wire.Hello{Version: wire.ProtocolVersion})); err != nil {
		return nil, err
	}
	if typ, _, err := c.r.ReadFrame(); err != nil || typ != wire.FrameHelloOK {
		return nil, fmt.Errorf("hello: %v %v", typ, err)
	}
	return c, nil
}

// request sends frames and waits for n OK answers.
func (c *benchConn) request(frames []byte, n int) error {
	if _, err := c.nc.Write(frames); err != nil {
		return err
	}
	for n > 0 {
		typ, p, err := c.r.ReadFrame()
		if err != nil {
			return err
		}
		switch typ {
		case wire.FrameOK, wire.FrameConsumeOK:
			n--
		case wire.FrameHeartbeat:
		default:
			var e wire.Error
			wire.DecodeErrorFrame(p, &e)
			return fmt.Errorf("request answered %s: %+v", typ, e)
		}
	}
	return nil
}

// benchTopology (re)creates queue q bound to the default exchange with key q.
func benchTopology(c *benchConn, q string, recreate bool) error {
	var f []byte
	n := 2
	if recreate {
		f = wire.AppendDeleteQueue(f, &wire.DeleteQueue{ReqID: 1, Name: q})
		n++
	}
	f = wire.AppendDeclareQueue(f, &wire.DeclareQueue{ReqID: 2, Name: q})
	f = wire.AppendBind(f, &wire.Bind{ReqID: 3, Exchange: broker.DefaultExchange, Queue: q, Key: q})
	return c.request(f, n)
}

// publisher pipelines publishes and counts confirms.
type publisher struct {
	c         *benchConn
	q         string
	prefix    string
	body      []byte
	buf       []byte
	sent      uint64
	confirmed uint64
	pub       wire.Publish
	key, id   []byte
}

// publishBatch sends up to benchBatch publishes in one write.
func (p *publisher) publishBatch(limit uint64) error {
	p.buf = p.buf[:0]
	if p.key == nil {
		p.key = []byte(p.q)
	}
	id := p.id
	for i := 0; i < benchBatch && p.sent < limit; i++ {
		p.sent++
		id = strconv.AppendUint(append(id[:0], p.prefix...), p.sent, 10)
		p.pub = wire.Publish{Seq: p.sent, Exchange: benchExchange, RoutingKey: p.key, MessageID: id, Body: p.body}
		p.buf = wire.AppendPublish(p.buf, &p.pub)
	}
	p.id = id
	_, err := p.c.nc.Write(p.buf)
	return err
}

var benchExchange = []byte(broker.DefaultExchange)

// awaitConfirms reads confirms until at most window publishes are pending.
func (p *publisher) awaitConfirms(window uint64) error {
	for p.sent-p.confirmed > window {
		typ, payload, err := p.c.r.ReadFrame()
		if err != nil {
			return err
		}
		switch typ {
		case wire.FrameConfirm:
			var f wire.Confirm
			if err := wire.DecodeConfirm(payload, &f); err != nil {
				return err
			}
			p.confirmed = f.Last
		case wire.FrameHeartbeat:
		default:
			return fmt.Errorf("publisher got %s", typ)
		}
	}
	return nil
}

func BenchmarkNativePublishConfirm(b *testing.B) {
	cfg := testConfig()
	_, addr := startServer(b, cfg)
	c, err := dialBench(addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.nc.Close()
	if err := benchTopology(c, "bench", false); err != nil {
		b.Fatal(err)
	}
	p := &publisher{c: c, q: "bench", prefix: "pc-", body: make([]byte, benchBody)}
	b.SetBytes(benchBody)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := testutil.StartCPUMeter()
	target := uint64(b.N)
	var lastReset uint64
	for p.confirmed < target {
		if p.sent < target {
			if err := p.publishBatch(target); err != nil {
				b.Fatal(err)
			}
		}
		window := uint64(benchWindow)
		if p.sent == target {
			window = 0
		}
		if err := p.awaitConfirms(window); err != nil {
			b.Fatal(err)
		}
		if p.sent-lastReset >= benchReset && p.sent < target {
			// Keep memory bounded: empty the queue now and then (the pause
			// to drain confirms is part of the measured time).
			if err := p.awaitConfirms(0); err != nil {
				b.Fatal(err)
			}
			if err := benchTopology(c, "bench", true); err != nil {
				b.Fatal(err)
			}
			lastReset = p.sent
		}
	}
	b.StopTimer()
	cpu.Report(b, b.N)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

func BenchmarkNativePublishDeliverAck(b *testing.B) {
	_, addr := startServer(b, testConfig())
	benchPublishDeliverAck(b, addr, nil)
}

// The same over TLS 1.3 (both connections), for the cost of TLS.
func BenchmarkNativePublishDeliverAckTLS(b *testing.B) {
	f := newTLSFixture(b)
	srv, err := New(f.config(ClientAuthNone), nil)
	if err != nil {
		b.Fatal(err)
	}
	l := mustListen(b)
	go srv.ServeTLS(l)
	b.Cleanup(func() { srv.Shutdown(context.Background()) })
	benchPublishDeliverAck(b, l.Addr().String(), f.clientConfig(nil))
}

func benchPublishDeliverAck(b *testing.B, addr string, tlsCfg *tls.Config) {
	pc, err := dialBenchTLS(addr, tlsCfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pc.nc.Close()
	cc, err := dialBenchTLS(addr, tlsCfg)
	if err != nil {
		b.Fatal(err)
	}
	defer cc.nc.Close()
	if err := benchTopology(pc, "flow", false); err != nil {
		b.Fatal(err)
	}
	if err := cc.request(wire.AppendConsume(nil, &wire.Consume{ReqID: 1, Queue: "flow", Prefetch: 2048}), 1); err != nil {
		b.Fatal(err)
	}
	target := uint64(b.N)
	consumed := make(chan error, 1)
	b.SetBytes(benchBody)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := testutil.StartCPUMeter()
	go func() {
		var got uint64
		var acks []byte
		var d wire.Deliver
		for got < target {
			typ, payload, err := cc.r.ReadFrame()
			if err != nil {
				consumed <- err
				return
			}
			if typ != wire.FrameDeliver {
				continue
			}
			if err := wire.DecodeDeliver(payload, &d); err != nil {
				consumed <- err
				return
			}
			got++
			// Ack once per batch the reader already holds: one multiple
			// ack covers everything delivered so far.
			if cc.r.Buffered() == 0 || got == target {
				acks = wire.AppendAck(acks[:0], &wire.Ack{DeliveryTag: d.DeliveryTag, Multiple: true})
				if _, err := cc.nc.Write(acks); err != nil {
					consumed <- err
					return
				}
			}
		}
		consumed <- nil
	}()
	p := &publisher{c: pc, q: "flow", prefix: "pda-", body: make([]byte, benchBody)}
	for p.sent < target {
		if err := p.publishBatch(target); err != nil {
			b.Fatal(err)
		}
		if err := p.awaitConfirms(benchWindow); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-consumed; err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	cpu.Report(b, b.N)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
